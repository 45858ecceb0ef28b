"""BSSTNet's sparse transformer against the same transformer with sparsity switched off (dense
spatio-temporal window attention), over clip lengths: the paper's Table 4.

    python tools/benchmark_bsst_sparsity.py --frames 12 24 36 48 60 [--device cuda] \
        [--json work_dirs/bsst_sparsity.json]

The transformer has the GoPro configuration (192 → 512 channels, 4 heads, 8×8 windows, 4×4
pooled tokens, depth 4, θ = 0.3, K = T/4) and runs on the 1/4-resolution features of 256×256
frames (64×64), forward only, no gradients. Its blur maps come from real motion: a synthetic
blurry clip (the package's generator) whose neighbour flows are estimated with OpenCV's DIS,
as the network computes them. Reported per length: FLOPs (mmengine's counter, attention
included), median forward latency, peak memory (CUDA: max allocated; CPU: peak
resident-memory increase of the first forward, measured in a fresh process).
"""
import argparse
import json
import subprocess
import sys

import _common  # noqa: F401  (puts the clone on sys.path, applies the compat fixes)

# isort: split
import numpy as np
import torch


def synthetic_blur_maps(frames, size=256, seed=0):
    """Blur maps (1, T, 1, size/4, size/4) of a synthetic camera-shake clip."""
    from vdeblur_mm.datasets.synthetic import load_source_images, synthesize_clip
    from vdeblur_mm.models.editors.bsstnet.bsstnet_blur_map import blur_map_from_flows
    from vdeblur_mm.models.editors.bsstnet.bsstnet_flow import DISFlowEstimator, neighbour_flows
    images = load_source_images()
    blurry, _ = synthesize_clip(images['astronaut'], np.random.default_rng(seed), frames,
                                (size, size))
    clip = torch.from_numpy(blurry).float().div(255).permute(0, 3, 1, 2)[None]
    fw, bw = neighbour_flows(DISFlowEstimator('medium'), clip)
    return blur_map_from_flows(fw, bw, eps=1e-6)


def inputs(frames, size, device):
    torch.manual_seed(0)
    blur = synthetic_blur_maps(frames, size).to(device)
    feats = torch.rand(1, frames, 192, size // 4, size // 4, device=device)
    return feats, blur


def cpu_peak_memory_mb(frames, size, sparse):
    """Peak resident-memory increase of one forward, measured in a fresh process: in this one,
    memory freed by earlier runs is reused and would hide the peak."""
    proc = subprocess.run([sys.executable, __file__, '--frames', str(frames), '--size', str(size),
                           '--memory-probe', 'sparse' if sparse else 'dense'],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f'memory probe failed: {proc.stderr[-2000:]}')
    return float(proc.stdout.strip().splitlines()[-1])


def memory_probe(frames, size, variant):
    """Child process: print the peak RSS increase (MB) of the first forward."""
    import resource

    import psutil

    from vdeblur_mm.models.editors.bsstnet.bsstnet_sparse_transformer import (
        BlurAwareSparseTransformer,
    )
    net = BlurAwareSparseTransformer(sparse=variant == 'sparse').eval()
    feats, blur = inputs(frames, size, 'cpu')
    before = psutil.Process().memory_info().rss
    with torch.no_grad():
        net(feats, blur)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print((peak - before) / 2**20)


def measure(module, feats, blur, device, runs):
    from vdeblur_mm.utils.benchmark import count_flops, cuda_peak_memory_mb, latency_ms
    flops, unsupported = count_flops(module, (feats, blur), tensor_mode=False)
    cuda = device.startswith('cuda')

    def forward():
        module(feats, blur)
        if cuda:
            torch.cuda.synchronize()

    with torch.no_grad():
        # (the traced forward of the FLOP count was the warm-up)
        latency, _ = latency_ms(forward, runs)
        peak = cuda_peak_memory_mb(forward) if cuda else None
    return dict(flops=flops, latency_ms=latency, peak_memory_mb=peak,
                unsupported_ops=unsupported)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, nargs='+', default=[12, 24, 36, 48, 60])
    parser.add_argument('--size', type=int, default=256, help='frame size (features: /4)')
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--runs', type=int, default=1)
    parser.add_argument('--json', help='also write the results to this file')
    parser.add_argument('--memory-probe', choices=['sparse', 'dense'], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_probe:
        memory_probe(args.frames[0], args.size, args.memory_probe)
        return 0
    if args.device == 'cuda' and not torch.cuda.is_available():
        print('error: --device cuda but CUDA is not available', file=sys.stderr)
        return 1
    from vdeblur_mm.models.editors.bsstnet.bsstnet_sparse_transformer import (
        BlurAwareSparseTransformer,
    )
    from vdeblur_mm.models.editors.bsstnet.bsstnet_token_selection import (
        select_sparse_tokens,
        window_blur_scores,
    )
    rows = []
    print(f'{"T":>3} | {"variant":7} | {"GFLOPs":>8} | {"latency s":>9} | {"peak MB":>8} | '
          'active windows | query frames/window')
    for t in args.frames:
        feats, blur = inputs(t, args.size, args.device)
        scores = window_blur_scores(blur)
        qmasks, _ = select_sparse_tokens(scores, depth=4)
        active = float(np.mean([q.any(1).float().mean().item() for q in qmasks]))
        for sparse in (True, False):
            net = BlurAwareSparseTransformer(sparse=sparse).to(args.device).eval()
            res = measure(net, feats, blur, args.device, args.runs)
            if res['peak_memory_mb'] is None:
                res['peak_memory_mb'] = cpu_peak_memory_mb(t, args.size, sparse)
            res.update(frames=t, variant='sparse' if sparse else 'dense',
                       active_window_fraction=active if sparse else 1.0)
            rows.append(res)
            print(f'{t:>3} | {res["variant"]:7} | {res["flops"] / 1e9:8.1f} | '
                  f'{res["latency_ms"] / 1000:9.2f} | {res["peak_memory_mb"]:8.0f} | '
                  f'{res["active_window_fraction"]:14.2f} | '
                  f'{(t // 2) // 2 if sparse else t:>3}', flush=True)
            del net
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(device=args.device, size=args.size, rows=rows), f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
