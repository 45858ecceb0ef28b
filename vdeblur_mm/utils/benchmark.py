"""Parameters, FLOPs, latency and peak memory of a model's forward pass."""
import statistics
import threading
import time

import torch


def count_parameters(module):
    """(all parameters, trainable parameters)."""
    total = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    return total, trainable


class _TensorForward(torch.nn.Module):
    """Expose ``model(*inputs, mode='tensor')`` (or ``model(*inputs)`` for plain networks) as a
    plain forward for the FLOP counter."""

    def __init__(self, model, tensor_mode=True):
        super().__init__()
        self.model = model
        self.tensor_mode = tensor_mode

    def forward(self, *inputs):
        if self.tensor_mode:
            return self.model(*inputs, mode='tensor')
        return self.model(*inputs)


class _PeakRSS:
    """Peak resident memory of this process while the context is open (CPU runs)."""

    def __init__(self, interval=0.002):
        import psutil
        self.process = psutil.Process()
        self.interval = interval

    def __enter__(self):
        self.base = self.peak = self.process.memory_info().rss
        self.running = True
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()
        return self

    def _poll(self):
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def increase(self):
        return self.peak - self.base


def _deform_conv_flop_handle(inputs, outputs):
    """mmcv (modulated) deformable convolution: multiply-adds of the equivalent convolution,
    ``out elements x in_channels/groups x kh x kw`` (bilinear sampling not counted)."""
    from mmengine.analysis.jit_handles import get_shape
    out_shape = get_shape(outputs[0])
    weight_shape = get_shape(inputs[3])  # (input, offset, mask, weight, ...) for DCNv2
    if len(weight_shape) != 4:  # DeformConv2dFunction: (input, offset, weight, ...)
        weight_shape = get_shape(inputs[2])
    count = 1
    for d in out_shape:
        count *= d
    return count * weight_shape[1] * weight_shape[2] * weight_shape[3]


DEFORM_CONV_OPS = ('prim::PythonOp.ModulatedDeformConv2dFunction',
                   'prim::PythonOp.DeformConv2dFunction')


def _sdpa_flop_handle(inputs, outputs):
    """``scaled_dot_product_attention``: multiply-adds of q·kᵀ and of the attention times v,
    ``batch x Lq x Lk x (E + Ev)`` (softmax and masking not counted)."""
    from mmengine.analysis.jit_handles import get_shape
    q, k, v = (get_shape(t) for t in inputs[:3])
    batch = 1
    for d in q[:-2]:
        batch *= d
    return batch * q[-2] * k[-2] * (q[-1] + v[-1])


def count_flops(model, x, tensor_mode=True, by_module=False):
    """FLOPs of one forward with mmengine's analysis (one multiply-add counts as one FLOP,
    as in mmengine/fvcore), plus mmcv's deformable convolutions and PyTorch's fused attention,
    which mmengine does not know. ``x`` is one input tensor or a tuple of them; ``tensor_mode``
    calls ``model(..., mode='tensor')`` (mmagic models), else ``model(...)``.
    Returns ``(flops, unsupported op names)``, plus ``{child module name: flops}`` for the
    model's direct children when ``by_module`` (what runs outside them, e.g. a flow estimator
    kept out of the module tree, is only in the total)."""
    from mmengine.analysis import FlopAnalyzer
    inputs = tuple(x) if isinstance(x, (tuple, list)) else (x, )
    analyzer = FlopAnalyzer(_TensorForward(model, tensor_mode).eval(), inputs)
    analyzer.set_op_handle(**{op: _deform_conv_flop_handle for op in DEFORM_CONV_OPS})
    analyzer.set_op_handle(**{'aten::scaled_dot_product_attention': _sdpa_flop_handle})
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    flops = analyzer.total()
    unsupported = sorted(analyzer.unsupported_ops().keys())
    if not by_module:
        return flops, unsupported
    # names are 'model.<child>' under the wrapper
    children = {name[len('model.'):]: value for name, value in analyzer.by_module().items()
                if name.startswith('model.') and name.count('.') == 1}
    return flops, unsupported, children


def latency_ms(forward, runs, warmup=0):
    """Median and all wall-clock times (ms) of ``runs`` calls of ``forward`` after ``warmup``
    untimed ones (``forward`` must synchronise CUDA itself)."""
    for _ in range(warmup):
        forward()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        forward()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), times


def cuda_peak_memory_mb(forward):
    """Peak CUDA memory allocated by one call of ``forward`` beyond what was allocated before."""
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    forward()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


@torch.no_grad()
def benchmark_model(model, input_shape, device='cpu', runs=5, warmup=2, flops=True):
    """Measure a model on a random input of ``input_shape`` (e.g. (1, T, 3, H, W)).

    Returns:
        dict: params, trainable_params, flops (or None), unsupported_ops, latency_ms (median of
        ``runs`` after ``warmup``), latency_all_ms, peak_memory_mb (CUDA: max allocated; CPU:
        peak resident-memory increase during the first forward, so call this in a fresh
        process for a meaningful CPU number).
    """
    model = model.to(device).eval()
    x = torch.rand(*input_shape, device=device)
    total, trainable = count_parameters(model)
    result = dict(params=total, trainable_params=trainable, input_shape=list(input_shape),
                  device=str(device))
    cuda = str(device).startswith('cuda')

    def forward():
        model(x, mode='tensor')
        if cuda:
            torch.cuda.synchronize()

    # memory first: on the CPU, memory freed by an earlier forward is reused by the next one
    # and would hide the peak, so the first forward of the process is the one measured
    if cuda:
        result['peak_memory_mb'] = cuda_peak_memory_mb(forward)
    else:
        with _PeakRSS() as mem:
            forward()
        result['peak_memory_mb'] = mem.increase / 2**20
    if flops:
        result['flops'], result['unsupported_ops'], result['flops_by_module'] = count_flops(
            model, x, by_module=True)
    result['latency_ms'], result['latency_all_ms'] = latency_ms(forward, runs, warmup)
    return result
