"""BSSTNet model wrapper: frozen optical flow, L1 training, the paper's chunked and tiled test."""
import torch
from mmagic.models import BaseEditModel
from mmagic.registry import MODELS
from mmagic.structures import DataSample

from ...layers import neighbour_flows, pad_to_multiple, tile_starts


def chunk_spans(length, chunk, overlap):
    """``(start, keep_from, keep_to)`` per temporal chunk: chunks of ``chunk`` frames with
    ``overlap`` frames shared by neighbours, the last one aligned to the end; each chunk keeps
    its frames away from the shared borders (half the overlap on each inner side), so every
    frame comes from exactly one chunk."""
    starts = tile_starts(length, chunk, overlap)  # the same cover as spatial tiles
    spans, done = [], 0
    for k, s in enumerate(starts):
        end = length if k == len(starts) - 1 else s + chunk - overlap // 2
        spans.append((s, done - s, end - s))
        done = end
    return spans


@MODELS.register_module()
class BSSTNetDeblur(BaseEditModel):
    """BSSTNet for video deblurring: all T frames in, all T frames out.

    Paper: Blur-aware Spatio-temporal Sparse Transformer for Video Deblurring (CVPR 2024).

    The neighbour flows come from a frozen estimator (RAFT, or OpenCV's DIS where no RAFT
    weights exist) run as the official code does: frames at 1/2 resolution, flows resized to
    1/4. The estimator is not part of the state dict (it has its own weight file) and never
    receives gradients.

    Testing follows the paper: each video is cut into ``chunk_frames``-frame chunks sharing
    ``chunk_overlap`` frames (the last chunk aligned to the end); flows are computed on whole
    frames, then the network runs on ``tile``-px tiles overlapping by ``tile_overlap`` px (half
    of each inner overlap discarded, the rest averaged), under fp16 autocast on CUDA when
    ``amp``. Frame sizes are padded to multiples of 8 and cropped back.

    Args:
        generator (dict): Config of the network (``BSSTNet``).
        flow_estimator (dict): Config of the frozen flow estimator, e.g.
            ``dict(type='RAFTFlowEstimator', checkpoint='checkpoints/raft-things.pth')`` or
            ``dict(type='DISFlowEstimator')``.
        pixel_loss (dict): Config of the pixel loss (the paper: L1).
        flow_scales (tuple[float]): Resize factors of the frames before the estimator and of
            the flows after it. Default: (0.5, 0.5) (flows at 1/4 resolution, as official).
        train_cfg (dict, optional): Unused. Default: None.
        test_cfg (dict, optional): ``chunk_frames`` (default 48), ``chunk_overlap`` (4),
            ``tile`` (256; None for whole frames), ``tile_overlap`` (64), ``amp`` (True),
            ``inference_spec`` (overrides for ``vdeblur_mm.inference``). Default: None.
        init_cfg (dict, optional): Initialisation config. Default: None.
        data_preprocessor (dict, optional): Data preprocessor config; the network expects
            frames in [0, 1] (mean 0, std 255). Default: None.
    """

    def __init__(self, generator, flow_estimator, pixel_loss, flow_scales=(0.5, 0.5),
                 train_cfg=None, test_cfg=None, init_cfg=None, data_preprocessor=None):
        super().__init__(generator=generator, pixel_loss=pixel_loss, train_cfg=train_cfg,
                         test_cfg=test_cfg, init_cfg=init_cfg,
                         data_preprocessor=data_preprocessor)
        # kept out of the module tree: no state-dict entries, no optimiser, no DDP buckets
        self.__dict__['flow_estimator'] = MODELS.build(flow_estimator)
        self.flow_scales = tuple(flow_scales)
        cfg = dict(chunk_frames=48, chunk_overlap=4, tile=256, tile_overlap=64, amp=True)
        cfg.update({k: v for k, v in (self.test_cfg or {}).items() if k in cfg})
        if cfg['chunk_frames'] < 2 or not 0 <= cfg['chunk_overlap'] < cfg['chunk_frames']:
            raise ValueError('test_cfg needs chunk_frames >= 2 and 0 <= chunk_overlap < '
                             f"chunk_frames, got {cfg['chunk_frames']}, {cfg['chunk_overlap']}")
        if cfg['tile'] is not None and (cfg['tile'] % 8 or
                                        not 0 <= cfg['tile_overlap'] < cfg['tile'] or
                                        cfg['tile_overlap'] % 8):
            raise ValueError('test_cfg tile and tile_overlap must be multiples of 8 with '
                             f"0 <= tile_overlap < tile, got {cfg['tile']}, {cfg['tile_overlap']}")
        self.test_settings = cfg

    # ------------------------------------------------------------------ flows
    def compute_flows(self, lqs):
        """Frozen neighbour flows of a clip (n, t, 3, h, w) in [0, 1], fp32, no gradient."""
        est = self.flow_estimator
        if next(est.parameters(), lqs).device != lqs.device:
            est.to(lqs.device)
        with torch.autocast(lqs.device.type, enabled=False):
            return neighbour_flows(est, lqs.float(), *self.flow_scales)

    def forward_tensor(self, inputs, data_samples=None, **kwargs):
        """Restored clip (n, t, 3, h, w) from blurry frames (n, t, 3, h, w) in [0, 1]."""
        flows_forward, flows_backward = self.compute_flows(inputs)
        return self.generator(inputs, flows_forward, flows_backward)

    # ------------------------------------------------------------------ testing
    def restore_clip(self, lqs):
        """One chunk: whole-frame flows, then the network on overlapping tiles."""
        cfg = self.test_settings
        flows_fw, flows_bw = self.compute_flows(lqs)
        h, w = lqs.shape[-2:]
        tile, overlap = cfg['tile'], cfg['tile_overlap']
        amp = dict(device_type='cuda', dtype=torch.float16, enabled=cfg['amp'] and lqs.is_cuda)
        if tile is None or (h <= tile and w <= tile):
            with torch.autocast(**amp):
                return self.generator(lqs, flows_fw, flows_bw).float()
        ys, xs = tile_starts(h, tile, overlap), tile_starts(w, tile, overlap)
        out = lqs.new_zeros(lqs.shape)
        weight = lqs.new_zeros(1, 1, 1, h, w)
        half = overlap // 2
        for y0 in ys:
            for x0 in xs:
                th, tw = min(tile, h), min(tile, w)
                sl = (..., slice(y0, y0 + th), slice(x0, x0 + tw))
                fl = (..., slice(y0 // 4, (y0 + th) // 4), slice(x0 // 4, (x0 + tw) // 4))
                with torch.autocast(**amp):
                    patch = self.generator(lqs[sl], flows_fw[fl], flows_bw[fl]).float()
                # drop half of every inner overlap, average what is left
                mask = patch.new_ones(1, 1, 1, th, tw)
                if y0 > ys[0]:
                    mask[..., :half, :] = 0
                if y0 < ys[-1]:
                    mask[..., th - half:, :] = 0
                if x0 > xs[0]:
                    mask[..., :, :half] = 0
                if x0 < xs[-1]:
                    mask[..., :, tw - half:] = 0
                out[sl] += patch * mask
                weight[sl] += mask
        return out / weight

    def restore_video(self, inputs):
        """Whole sequences (n, T, 3, h, w) → (n, T, 3, h, w), chunk by chunk."""
        h, w = inputs.shape[-2:]
        x = pad_to_multiple(inputs, 8)
        cfg = self.test_settings
        out = []
        for start, keep_from, keep_to in chunk_spans(x.shape[1], cfg['chunk_frames'],
                                                     cfg['chunk_overlap']):
            chunk = x[:, start:start + cfg['chunk_frames']]
            out.append(self.restore_clip(chunk)[:, keep_from:keep_to])
        return torch.cat(out, dim=1)[..., :h, :w]

    def forward_inference(self, inputs, data_samples=None, **kwargs):
        """Predictions for validation/testing: ``pred_img`` (n, T, 3, h, w) in [0, 255]."""
        with torch.no_grad():
            out = self.restore_video(inputs)
        out = self.data_preprocessor.destruct(out, data_samples)
        return DataSample(pred_img=out.cpu())
