"""Keep glibc's heap from holding on to freed tensor memory during long CPU inference.

glibc serves allocations above its mmap threshold (128 KiB at start) with ``mmap`` and returns
them to the system when freed, but it raises that threshold to the size of every such block
freed (up to 32 MiB). After the first few frames, the 1-30 MB feature maps of a video network
therefore come from the heap, and the freed ones stay resident as fragments: in FMA-Net's
inference of one 180x320 LR window that was ~300 MB of the peak before its maps were computed
in row bands, 45-75 MB since. A fixed threshold turns that adjustment off, so large maps are
mapped and unmapped again.

It is a trade of time for memory: every large map then costs fresh, zeroed pages. Measured on
the 2-core CPU machine (FMA-Net, one 3x180x320 LR window, 2 threads, 2026-12-07): peak RSS
1,230-1,245 MB -> 1,171-1,186 MB, latency 40.3-43.8 s -> 79.4-89.1 s. The tools therefore call
it only when asked (``--low-memory``).
"""
import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def limit_heap_retention(mmap_threshold=1 << 20):
    """Fix glibc's mmap (and trim) threshold at ``mmap_threshold`` bytes for this process.

    A no-op (returns False) where the C library is not glibc; True when both settings took.
    Allocations above the threshold then cost an ``mmap`` (and zeroed pages) each, a few per
    cent of CPU time for large maps; call it in processes that run inference on long videos
    or large frames (``tools/deblur_video.py``, ``tools/benchmark.py`` do).
    """
    if not sys.platform.startswith('linux'):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_THRESHOLD, int(mmap_threshold))
                and mallopt(M_TRIM_THRESHOLD, int(mmap_threshold)))
