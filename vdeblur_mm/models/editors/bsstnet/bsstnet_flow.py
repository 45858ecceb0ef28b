# Adapted from huicongzhang/BSSTNet (BSST_arch.py) and pytorch/vision (RAFT, BSD-3); THIRD_PARTY.md
"""Frozen optical-flow estimators: RAFT (torchvision's implementation, weights from a local file)
and a dependency-free classical fallback (OpenCV's DIS).

Convention (RAFT's): ``flow = estimator(image1, image2)`` is the displacement from ``image1`` to
``image2``, i.e. ``image1(x) ~ image2(x + flow(x))``; channel 0 is horizontal (x), channel 1
vertical (y). Images are (n, 3, h, w) RGB in [0, 1]; flows are (n, 2, h, w) in pixels.
"""
import os.path as osp

import cv2
import numpy as np
import torch
from mmagic.registry import MODELS
from torch import nn

from ....utils.checkpoint import load_checkpoint_file
from ...layers.checks import check_tensor, check_video
from ...layers.video import pad_to_multiple
from .raft_convert import load_raft_state_dict


class FrozenFlowEstimator(nn.Module):
    """Base class: no gradients, always in eval mode (``train()`` keeps it frozen).

    A model holds its estimator as an ordinary submodule, so ``.to(device)`` / ``.cuda()`` move
    it, while :meth:`freeze` turns its weights into non-persistent buffers: they are not
    parameters (no optimizer, no DDP gradient buckets, no ``named_parameters``) and not in the
    model's state dict (the estimator has its own weight file).
    """

    def train(self, mode=True):
        return super().train(False)

    def freeze(self):
        """Make every parameter and buffer of this estimator a non-persistent buffer."""
        for module in self.modules():
            for name, param in list(module._parameters.items()):
                if param is None:
                    continue
                del module._parameters[name]
                module.register_buffer(name, param.detach(), persistent=False)
            for name in list(module._buffers):
                module._non_persistent_buffers_set.add(name)
        return self.train(False)

    def _check(self, image1, image2):
        for name, image in (('image1', image1), ('image2', image2)):
            check_tensor(image, name, 4, '(n, 3, h, w)', (None, 3, None, None))
        if image1.shape != image2.shape:
            raise ValueError('flow estimators take two RGB batches of the same shape '
                             f'(n, 3, h, w), got {tuple(image1.shape)} and {tuple(image2.shape)}')


@MODELS.register_module()
class DISFlowEstimator(FrozenFlowEstimator):
    """OpenCV's DIS optical flow (Kroeger et al., ECCV 2016): no learned weights, CPU only.

    Args:
        preset (str): 'ultrafast', 'fast' or 'medium'. Default: 'medium'.
    """

    PRESETS = {'ultrafast': cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
               'fast': cv2.DISOPTICAL_FLOW_PRESET_FAST,
               'medium': cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}

    def __init__(self, preset='medium'):
        super().__init__()
        if preset not in self.PRESETS:
            raise ValueError(f'DIS preset must be one of {sorted(self.PRESETS)}, got {preset!r}')
        self.preset = preset

    @staticmethod
    def _gray(images):
        rgb = (images.detach().float().clamp(0, 1) * 255 + 0.5).to(torch.uint8)
        rgb = rgb.permute(0, 2, 3, 1).cpu().numpy()
        return [cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY) for img in rgb]

    @torch.no_grad()
    def forward(self, image1, image2):
        """Flow from image1 to image2, (n, 2, h, w)."""
        self._check(image1, image2)
        dis = cv2.DISOpticalFlow_create(self.PRESETS[self.preset])
        flows = [dis.calc(a, b, None) for a, b in zip(self._gray(image1), self._gray(image2))]
        flow = torch.from_numpy(np.stack(flows)).permute(0, 3, 1, 2).contiguous()
        return flow.to(device=image1.device, dtype=image1.dtype)


@MODELS.register_module()
class RAFTFlowEstimator(FrozenFlowEstimator):
    """RAFT (Teed and Deng, ECCV 2020), torchvision's implementation, frozen.

    Weights are never downloaded: ``checkpoint`` is a local file, either in torchvision's layout
    (e.g. ``raft_large_C_T_V2-1bb1363a.pth``, or a state dict saved from
    ``torchvision.models.optical_flow.raft_large``) or, for RAFT-large, the official
    princeton-vl layout (``raft-things.pth``, as BSSTNet uses), converted on load. Frames are
    padded to multiples of 8 and to at least 128 px (RAFT's correlation pyramid needs 16 px at
    1/8 size), and the flow is cropped back.

    Args:
        checkpoint (str): Local weights file (torchvision layout).
        variant (str): 'large' (RAFT, as BSSTNet) or 'small'. Default: 'large'.
        num_flow_updates (int): Refinement iterations. Default: 20 (BSSTNet's test setting).
    """

    def __init__(self, checkpoint, variant='large', num_flow_updates=20):
        super().__init__()
        from torchvision.models.optical_flow import raft_large, raft_small
        if variant not in ('large', 'small'):
            raise ValueError(f"RAFT variant must be 'large' or 'small', got {variant!r}")
        if checkpoint is None or not osp.isfile(checkpoint):
            raise FileNotFoundError(f'RAFT weights {checkpoint!r} do not exist: pass a local '
                                    'torchvision-layout RAFT checkpoint (nothing is downloaded)')
        self.raft = (raft_large if variant == 'large' else raft_small)(weights=None)
        # either layout: torchvision's, or the official princeton-vl one (raft-things.pth)
        state = load_raft_state_dict(checkpoint) if variant == 'large' else \
            load_checkpoint_file(checkpoint)
        state = state.get('state_dict', state)
        self.raft.load_state_dict(state, strict=True)
        self.freeze()
        self.num_flow_updates = num_flow_updates
        self.train(False)

    @torch.no_grad()
    def forward(self, image1, image2):
        """Flow from image1 to image2, (n, 2, h, w)."""
        self._check(image1, image2)
        h, w = image1.shape[-2:]
        x1, x2 = (pad_to_multiple(x * 2 - 1, 8, min_size=128) for x in (image1, image2))
        flow = self.raft(x1, x2, num_flow_updates=self.num_flow_updates)[-1]
        return flow[..., :h, :w]


def neighbour_flows(estimator, lqs, input_scale=0.5, output_scale=0.5):
    """Flows between neighbouring frames of a clip, as BSSTNet computes them.

    Frames are resized by ``input_scale`` before the estimator, and the flows by
    ``output_scale`` after it (magnitudes rescaled too); BSSTNet uses 0.5 and 0.5, which gives
    flows at 1/4 of the input resolution.

    Args:
        estimator (nn.Module): ``flow = estimator(image1, image2)``, image1 → image2.
        lqs (Tensor): Clip (n, t, 3, h, w) in [0, 1], t >= 2.
        input_scale (float): Resize factor of the frames. Default: 0.5.
        output_scale (float): Resize factor of the flows. Default: 0.5.

    Returns:
        tuple(Tensor, Tensor): ``flows_forward`` (entry i: frame i+1 → frame i) and
        ``flows_backward`` (entry i: frame i → frame i+1), each (n, t-1, 2, h', w').
    """
    check_video(lqs, 'lqs', channels=3, min_frames=2)
    n, t, c, h, w = lqs.shape
    prev = lqs[:, :-1].reshape(-1, c, h, w).float()
    nxt = lqs[:, 1:].reshape(-1, c, h, w).float()
    if input_scale != 1:
        prev, nxt = (nn.functional.interpolate(x, scale_factor=input_scale, mode='bilinear',
                                               align_corners=False) for x in (prev, nxt))
    flows = []
    with torch.no_grad():
        for image1, image2 in ((nxt, prev), (prev, nxt)):
            flow = estimator(image1, image2)
            if output_scale != 1:
                flow = nn.functional.interpolate(flow, scale_factor=output_scale,
                                                 mode='bilinear', align_corners=False)
                flow = flow * output_scale
            flows.append(flow.view(n, t - 1, 2, *flow.shape[-2:]))
    return flows[0], flows[1]
