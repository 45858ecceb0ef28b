# Adapted from huicongzhang/BSSTNet (Video_BSST_model.py), MIT per its README; THIRD_PARTY.md
"""BSSTNet model wrapper: frozen optical flow, L1 training, the paper's chunked and tiled test."""
import torch
from mmagic.registry import MODELS

from ...base_models import VideoDeblurEditor
from .bsstnet_flow import neighbour_flows


@MODELS.register_module()
class BSSTNetDeblur(VideoDeblurEditor):
    """BSSTNet for video deblurring: all T frames in, all T frames out.

    Paper: Blur-aware Spatio-temporal Sparse Transformer for Video Deblurring (CVPR 2024).

    The neighbour flows come from a frozen estimator (RAFT, or OpenCV's DIS where no RAFT
    weights exist) run as the official code does: frames at 1/2 resolution, flows resized to
    1/4. The estimator is a submodule (``.to(device)`` moves it) whose weights are
    non-persistent buffers: not in the state dict (it has its own weight file), never trained.

    Testing follows the paper, as settings of the package's one stitcher
    (:class:`VideoDeblurEditor`): each video is cut into ``chunk_frames``-frame chunks sharing
    ``chunk_overlap`` frames (the last chunk aligned to the end); flows are computed once per
    chunk on whole frames, then the network runs on ``tile``-px tiles overlapping by
    ``tile_overlap`` px ('trim' blending: every pixel from one tile, the boundary in the middle
    of each overlap), under fp16 autocast on CUDA when ``amp``. Frame sizes are padded to
    multiples of 16 and cropped back.

    Args:
        generator (dict): Config of the network (``BSSTNet``).
        flow_estimator (dict): Config of the frozen flow estimator, e.g.
            ``dict(type='RAFTFlowEstimator', checkpoint='checkpoints/raft-things.pth')`` or
            ``dict(type='DISFlowEstimator')``.
        pixel_loss (dict): Config of the pixel loss (the paper: L1).
        flow_scales (tuple[float]): Resize factors of the frames before the estimator and of
            the flows after it. Default: (0.5, 0.5) (flows at 1/4 resolution, as official).
        train_cfg (dict, optional): Unused. Default: None.
        test_cfg (dict, optional): stitching settings; the paper's are the defaults:
            ``chunk_frames`` 48, ``chunk_overlap`` 4, ``tile`` 256 (None: whole frames),
            ``tile_overlap`` 64, ``amp`` True. Default: None.
        init_cfg (dict, optional): Initialisation config. Default: None.
        data_preprocessor (dict, optional): Data preprocessor config; the network expects
            frames in [0, 1] (mean 0, std 255). Default: None.
    """

    # the paper's test procedure, unless the config's test_cfg says otherwise
    default_stitch_settings = dict(chunk_frames=48, chunk_overlap=4, tile=256, tile_overlap=64,
                                   amp=True)

    def __init__(self, generator, flow_estimator, pixel_loss, flow_scales=(0.5, 0.5),
                 train_cfg=None, test_cfg=None, init_cfg=None, data_preprocessor=None):
        super().__init__(generator=generator, pixel_loss=pixel_loss, train_cfg=train_cfg,
                         test_cfg=test_cfg, init_cfg=init_cfg,
                         data_preprocessor=data_preprocessor)
        self.flow_estimator = MODELS.build(flow_estimator)
        self.flow_scales = tuple(flow_scales)
        s = self.stitch_settings
        if s.chunk_frames < 2:
            raise ValueError(f'BSSTNet needs chunks of at least 2 frames, got chunk_frames='
                             f'{s.chunk_frames}')


    # ------------------------------------------------------------------ flows
    def compute_flows(self, lqs):
        """Frozen neighbour flows of a clip (n, t, 3, h, w) in [0, 1], fp32, no gradient."""
        with torch.autocast(lqs.device.type, enabled=False), torch.no_grad():
            return neighbour_flows(self.flow_estimator, lqs.float(), *self.flow_scales)

    def forward_tensor(self, inputs, data_samples=None, **kwargs):
        """Restored clip (n, t, 3, h, w) from blurry frames (n, t, 3, h, w) in [0, 1]."""
        flows_forward, flows_backward = self.compute_flows(inputs)
        return self.generator(inputs, flows_forward, flows_backward)

    # ------------------------------------------------------------------ stitcher hooks
    def prepare_chunk(self, x):
        """Flows once per chunk, on whole (padded) frames, as the paper's test."""
        return self.compute_flows(x)

    def crop_context(self, flows, y0, x0, th, tw):
        """The flows (at 1/4 resolution) of one tile; tiles start at multiples of 16."""
        box = (..., slice(y0 // 4, (y0 + th) // 4), slice(x0 // 4, (x0 + tw) // 4))
        return tuple(f[box] for f in flows)

    def run_network(self, x, flows):
        return self.generator(x, *flows)
