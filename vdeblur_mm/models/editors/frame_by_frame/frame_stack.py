"""Any image restoration network of mmagic (NAFNet, ...) over a window of frames stacked as
channels (early fusion): the cheapest way to let a single-image network see the motion."""
import torch
from mmagic.registry import MODELS
from mmengine.model import BaseModule

from ...base_models import VideoDeblurEditor
from ...layers.checks import check_video


@MODELS.register_module()
class FrameStackNet(BaseModule):
    """Windows (n, N, c, h, w) -> the restored centre frame (n, c, h, w) through an image
    network that takes the N frames as N·c channels (frame-major: channel ``t * c + k``).

    The image network must map N·c channels to N·c (e.g. mmagic's NAFNet with
    ``img_channels=N * c``, whose global residual adds its input); the centre frame's c output
    channels are the result, so NAFNet's residual adds the blurry centre frame. A frame-by-frame
    model (window of one) is the special case N = 1 and :meth:`inflate_single_frame_state`
    turns its weights into this network's, giving the same output before any training: the
    neighbours' input weights start at zero. Next to a one-frame model, the neighbours show
    whether anything moved: a single frame cannot tell motion blur from soft content.

    Args:
        image_net (dict): Config of a registered image network (n, N·c, h, w) -> same.
        num_frames (int): Frames per window N (odd). Default: 3.
        channels (int): Channels per frame c. Default: 3.
        size_multiple (int): What the image network needs H and W to be a multiple of (NAFNet:
            2 ** number of encoder stages); whole videos are padded to it and cropped back.
            Default: 16.
        init_cfg (dict, optional): Initialisation config. Default: None.
    """

    def __init__(self, image_net, num_frames=3, channels=3, size_multiple=16, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if num_frames < 1 or num_frames % 2 == 0:
            raise ValueError(f'FrameStackNet: num_frames must be odd (a centre frame), got '
                             f'{num_frames}')
        self.num_frames, self.channels = num_frames, channels
        for key in ('img_channels', 'in_channels'):  # NAFNet's and most others' name
            if key in image_net and image_net[key] != num_frames * channels:
                raise ValueError(f'FrameStackNet: the image network takes the {num_frames} '
                                 f'frames as {num_frames * channels} channels: build it with '
                                 f'{key}={num_frames * channels}, got {image_net[key]}')
        self.net = MODELS.build(image_net)
        self.inference_spec = dict(mode='window', window_frames=num_frames,
                                   size_multiple=size_multiple, min_size=size_multiple)

    def forward(self, x):
        check_video(x, 'FrameStackNet input')
        n, t, c, h, w = x.shape
        if t != self.num_frames or c != self.channels:
            raise ValueError(f'FrameStackNet takes windows of {self.num_frames} frames of '
                             f'{self.channels} channels (n, {self.num_frames}, '
                             f'{self.channels}, h, w), got {tuple(x.shape)} (whole videos go '
                             f'through the FrameStackRestorer model, which slides over them)')
        out = self.net(x.reshape(n, t * c, h, w))
        if out.shape[1] != t * c:
            raise ValueError(f'FrameStackNet: the image network must return {t * c} channels '
                             f'(num_frames * channels), got {out.shape[1]}: build it with '
                             f'img_channels={t * c}')
        centre = t // 2
        return out[:, centre * c:(centre + 1) * c]

    def inflate_single_frame_state(self, state, prefix='generator.net.'):
        """Map the state dict of a one-frame model of the same image network (keys under
        ``prefix``) onto this one: each weight whose frame-channel dimension is c becomes N·c
        with the one-frame weights at the centre frame and zeros elsewhere (first layer: the
        neighbours' inputs; last layer: the unused neighbours' outputs). Returns the new state
        (same keys); the network then computes exactly what the one-frame model did."""
        own = {prefix + k: v for k, v in self.net.state_dict().items()}
        c, centre = self.channels, self.num_frames // 2
        inflated = {}
        for key, value in state.items():
            target = own.get(key)
            if target is None or target.shape == value.shape:
                inflated[key] = value
                continue
            dims = [d for d in range(value.dim()) if value.shape[d] == c
                    and target.shape[d] == c * self.num_frames]
            if len(dims) != 1 or any(value.shape[d] != target.shape[d]
                                     for d in range(value.dim()) if d != dims[0]):
                raise ValueError(f'inflate_single_frame_state: {key} has shape '
                                 f'{tuple(value.shape)}, cannot become {tuple(target.shape)}')
            new = torch.zeros(target.shape, dtype=value.dtype)
            new.narrow(dims[0], centre * c, c).copy_(value)
            inflated[key] = new
        missing = sorted(set(own) - set(inflated))
        if missing:
            raise ValueError(f'inflate_single_frame_state: the one-frame state lacks {missing}')
        return inflated


@MODELS.register_module()
class FrameStackRestorer(VideoDeblurEditor):
    """Video model of a :class:`FrameStackNet`: trains on (n, N, c, h, w) windows with the
    sharp centre frame ``gt_img`` (n, c, h, w); tests whole sequences by the base's sliding
    window (borders padded by replicating the first/last frame, ``window_batch`` windows per
    call, padding to ``size_multiple``, tiles).

    Args: as mmagic's ``BaseEditModel`` (generator, pixel_loss, train_cfg, test_cfg,
    init_cfg, data_preprocessor).
    """

    def declare_inference(self):
        return self.window_generator_spec('sliding-window generator (FrameStackNet)')


__all__ = ['FrameStackNet', 'FrameStackRestorer']
