"""Any image restoration network of mmagic (NAFNet, Restormer, ...) as a video model that
restores every frame on its own, through this package's one video test/inference path."""
from mmagic.registry import MODELS
from mmengine.model import BaseModule

from ...base_models import VideoDeblurEditor
from ...layers.checks import check_video


@MODELS.register_module()
class FrameByFrameNet(BaseModule):
    """Wraps an image network: windows of one frame (n, 1, c, h, w), or frames
    (n, c, h, w), -> (n, c, h, w).

    A single-image baseline next to the video models (no temporal information is used), and
    the cheapest model per training step on a CPU, which is why the demo model is one.

    Args:
        image_net (dict): Config of a registered image network taking (n, c, h, w).
        size_multiple (int): What the image network needs H and W to be a multiple of (NAFNet:
            2 ** number of encoder stages); whole videos are padded to it and cropped back.
            Default: 16.
        init_cfg (dict, optional): Initialisation config. Default: None.
    """

    def __init__(self, image_net, size_multiple=16, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.net = MODELS.build(image_net)
        self.inference_spec = dict(mode='window', window_frames=1, size_multiple=size_multiple,
                                   min_size=size_multiple)

    def forward(self, x):
        if x.dim() == 4:  # one frame (n, c, h, w), as mmagic packs one-frame training clips
            return self.net(x)
        check_video(x, 'FrameByFrameNet input')
        if x.shape[1] != 1:
            raise ValueError(f'FrameByFrameNet restores one frame at a time: windows of shape '
                             f'(n, 1, c, h, w), got {tuple(x.shape)} (whole videos go through '
                             f'the FrameByFrameRestorer model, which slides over the frames)')
        return self.net(x[:, 0])


@MODELS.register_module()
class FrameByFrameRestorer(VideoDeblurEditor):
    """Video model of a :class:`FrameByFrameNet`: trains on (n, 1, c, h, w) windows with the
    sharp frame ``gt_img`` (n, c, h, w) and tests whole sequences frame by frame (the base's
    stitcher: ``window_batch`` frames per call, padding to ``size_multiple``, tiles).

    Args: as mmagic's ``BaseEditModel`` (generator, pixel_loss, train_cfg, test_cfg,
    init_cfg, data_preprocessor).
    """

    def declare_inference(self):
        return self.window_generator_spec('one-frame window generator (FrameByFrameNet)',
                                          window_frames=1)

    def forward_tensor(self, inputs, data_samples=None, **kwargs):
        """(n, 1, c, h, w) -> (n, c, h, w); longer clips (n, T, c, h, w) -> (n, T, c, h, w)."""
        if inputs.dim() == 5 and inputs.shape[1] != 1:
            n, t = inputs.shape[:2]
            out = self.generator(inputs.flatten(0, 1)[:, None])
            return out.view(n, t, *out.shape[1:])
        return self.generator(inputs, **kwargs)


__all__ = ['FrameByFrameNet', 'FrameByFrameRestorer']
