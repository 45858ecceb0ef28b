"""Parameters, FLOPs, forward latency and peak memory of any registered model.

Example:
    python tools/benchmark.py configs/basicvsr_pp_deblur/<config>.py --frames 10 --size 256 256
FLOPs come from mmengine's model-complexity analysis (multiply-adds); ops it cannot count are
listed. Latency is the median of --runs forwards after --warmup; memory is the CUDA peak
allocation, or on CPU the peak resident-memory increase during the first forward (measured
before any other forward, which would leave freed memory for it to reuse).
"""
import argparse
import json
import sys

import _common  # noqa: F401  (puts the clone on sys.path, applies the compat fixes)

# isort: split
import torch
from mmengine.config import DictAction

from vdeblur_mm.inference import init_model, resolve_inference_spec
from vdeblur_mm.utils import benchmark_model, limit_heap_retention


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--frames', type=int, default=None,
                        help="input frames (default: the model's window, else 10)")
    parser.add_argument('--size', type=int, nargs=2, default=[256, 256], metavar=('H', 'W'))
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--no-flops', action='store_true')
    parser.add_argument('--sampling-steps', type=int, nargs='+', default=None, metavar='N',
                        help='diffusion models (num_inference_steps): latency per frame for '
                        'each number of sampling steps')
    parser.add_argument('--json', help='also write the results to this file')
    parser.add_argument('--low-memory', action='store_true',
                        help='CPU: glibc returns freed maps to the system, as '
                        'tools/deblur_video.py --low-memory (lower peak RSS, slower; '
                        'vdeblur_mm.utils.malloc)')
    parser.add_argument('--low-memory-threshold', type=float, default=1.0, metavar='MIB',
                        help='with --low-memory: maps above this size are returned when freed '
                        '(larger: faster, a higher peak; FMA-Net 180x320: 1 MiB 1,171-1,186 MB '
                        '79-89 s, 4 MiB 1,197 MB 65 s, 8 MiB 1,207 MB 53 s)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                        help='override config settings, e.g. '
                        'model.flow_estimator.type=DISFlowEstimator')
    args = parser.parse_args(argv)
    if args.low_memory:
        limit_heap_retention(int(args.low_memory_threshold * 2**20))
    if args.device == 'cuda' and not torch.cuda.is_available():
        print('error: --device cuda but CUDA is not available', file=sys.stderr)
        return 1
    model = init_model(args.config, device=args.device, cfg_options=args.cfg_options)
    spec = resolve_inference_spec(model)
    frames = args.frames or spec['window_frames'] or 10
    if args.sampling_steps and not hasattr(model, 'num_inference_steps'):
        print(f'error: --sampling-steps: {type(model).__name__} is not a diffusion model with '
              'num_inference_steps', file=sys.stderr)
        return 1
    steps = args.sampling_steps or [None]
    if steps[0] is not None:
        model.num_inference_steps = steps[0]
    res = benchmark_model(model, (1, frames, 3, *args.size), args.device, args.runs,
                          args.warmup, flops=not args.no_flops)
    gen_params = sum(p.numel() for p in getattr(model, 'generator', model).parameters())
    print(f'config:       {args.config}')
    print(f"input:        {res['input_shape']} on {res['device']}")
    print(f"parameters:   {res['params']:,} (generator {gen_params:,}, trainable "
          f"{res['trainable_params']:,})")
    official = getattr(getattr(model, 'generator', model), 'official_num_params', None)
    if official is not None:  # a port that leaves out frozen or never-used official modules
        print(f'parameters in the official layout: {official():,} (its frozen and never-used '
              f'modules included)')
    out_frames = 1 if spec.mode == "window" else frames
    if 'flops' in res:
        # a window model restores one (centre) frame per forward, a sequence model all frames
        per_frame = res['flops'] / out_frames
        print(f"FLOPs:        {res['flops'] / 1e9:.2f} G ({per_frame / 1e9:.2f} G per restored "
              'frame)')
        gen_flops = res.get('flops_by_module', {}).get('generator')
        if gen_flops is not None and abs(gen_flops - res['flops']) > 0.005 * res['flops']:
            print(f"              generator alone: {gen_flops / 1e9:.2f} G "
                  f"({gen_flops / out_frames / 1e9:.2f} G per restored frame; the rest runs "
                  'outside it, e.g. optical flow)')
        if res['unsupported_ops']:
            print(f"not counted:  {', '.join(res['unsupported_ops'])}")
    print(f"latency:      {res['latency_ms']:.1f} ms per forward (median of {args.runs}), "
          f"{res['latency_ms'] / out_frames:.1f} ms per restored frame")
    print(f"peak memory:  {res['peak_memory_mb']:.1f} MB")
    if steps[0] is not None:
        from vdeblur_mm.utils.benchmark import latency_ms
        x = torch.rand(1, frames, 3, *args.size, device=args.device)
        res['latency_by_steps_ms'] = {}
        print(f'sampling steps (FLOPs and memory above: {steps[0]} steps):')

        def forward():
            model(x, mode='tensor')
            if args.device == 'cuda':
                torch.cuda.synchronize()
        for n in steps:
            model.num_inference_steps = n
            # the first count was timed above (after the warm-up)
            ms = res['latency_ms'] if n == steps[0] else latency_ms(forward, args.runs)[0]
            res['latency_by_steps_ms'][n] = ms
            print(f'  {n:4d} steps: {ms:.1f} ms per forward, {ms / out_frames:.1f} ms per '
                  'frame')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
