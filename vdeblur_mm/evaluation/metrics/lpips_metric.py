"""LPIPS for video restoration, with backbone weights from a local file (no download)."""
import os.path as osp
from typing import Optional, Sequence

import numpy as np
import torch
from mmagic.evaluation.metrics.base_sample_wise_metric import BaseSampleWiseMetric
from mmagic.registry import METRICS

from ...utils.checkpoint import load_checkpoint_file
from .video_metrics import VideoProtocolMixin

# torchvision's ImageNet checkpoints that the lpips package would otherwise download
BACKBONE_FILES = {
    'alex': 'alexnet-owt-7be5be79.pth',
    'vgg': 'vgg16-397923af.pth',
    'squeeze': 'squeezenet1_1-b8a52dc0.pth',
}


def build_lpips(net='alex', backbone_path=None, device='cpu'):
    """``lpips.LPIPS`` whose backbone is loaded from ``backbone_path`` (a torchvision checkpoint
    such as ``alexnet-owt-7be5be79.pth``). The linear heads ship with the lpips package."""
    import lpips
    if net not in BACKBONE_FILES:
        raise ValueError(f'LPIPS net must be one of {sorted(BACKBONE_FILES)}, got {net!r}')
    if backbone_path is None or not osp.isfile(backbone_path):
        raise FileNotFoundError(
            f'LPIPS ({net}) needs the ImageNet weights of its backbone from a local file, but '
            f'{backbone_path!r} does not exist. Download torchvision\'s '
            f'{BACKBONE_FILES[net]} once and pass its path as backbone_path.')
    model = lpips.LPIPS(pretrained=True, net=net, pnet_rand=True, verbose=False)
    state = load_checkpoint_file(backbone_path)
    if 'state_dict' in state:
        state = state['state_dict']
    # lpips slices torchvision's ``features`` into slice1..sliceN, keeping the layer indices:
    # 'slice2.3.weight' is torchvision's 'features.3.weight'.
    target = {}
    for name in model.net.state_dict():
        source = 'features.' + name.split('.', 1)[1]
        if source not in state:
            raise KeyError(f'{backbone_path} is not a torchvision {net} checkpoint: '
                           f'missing {source!r}')
        target[name] = state[source]
    model.net.load_state_dict(target, strict=True)
    return model.eval().requires_grad_(False).to(device)


@METRICS.register_module()
class VideoLPIPS(VideoProtocolMixin, BaseSampleWiseMetric):
    """LPIPS (Zhang et al., CVPR 2018) averaged over the frames of each clip. Lower is better.

    Args:
        backbone_path (str): Local torchvision checkpoint of the backbone
            (``alexnet-owt-7be5be79.pth`` for 'alex'). Required: nothing is downloaded.
        net (str): 'alex' (default, as in the papers), 'vgg' or 'squeeze'.
        exclude_frames (int): Frames not scored at each end of every clip. Default: 0.
        crop_border (int): Pixels cropped at each image edge. Default: 0.
        device (str): Where the network runs; default 'cuda' if available, else 'cpu'.
    """
    metric = 'LPIPS'

    def __init__(self, backbone_path: str, net: str = 'alex', exclude_frames: int = 0,
                 crop_border: int = 0, device: Optional[str] = None, gt_key='gt_img',
                 pred_key='pred_img', collect_device='cpu', prefix: Optional[str] = None):
        super().__init__(gt_key=gt_key, pred_key=pred_key, mask_key=None,
                         collect_device=collect_device, prefix=prefix)
        self.exclude_frames = exclude_frames
        self.crop_border = crop_border
        self.net_device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
        self.model = build_lpips(net, backbone_path, self.net_device)

    @torch.no_grad()
    def score_frames(self, gt, pred):
        """Mean LPIPS of (T, C, H, W) frames in [0, 255]."""
        gt, pred = (torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
                    for x in (gt, pred))
        c = self.crop_border
        if c:
            gt, pred = gt[..., c:-c, c:-c], pred[..., c:-c, c:-c]
        gt = gt.float().to(self.net_device) / 127.5 - 1
        pred = pred.float().to(self.net_device) / 127.5 - 1
        return float(self.model(pred, gt).mean())

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for data in data_samples:
            gt, pred = self._frame_pairs(data)
            self.add_result(data, self.score_frames(gt, pred))
