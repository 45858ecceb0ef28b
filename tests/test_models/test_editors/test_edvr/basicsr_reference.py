"""A functional re-statement of BasicSR's ``EDVR.forward`` (basicsr/archs/edvr_arch.py) over a
state dict with BasicSR's key names, using torchvision's ``deform_conv2d`` as BasicSR's
``DCNv2Pack`` does. It is independent of ``EDVRDeblurNet`` (other names, other DCN kernel,
frame loop instead of batched alignment) and serves as the reference in the tests."""
import torch
import torch.nn.functional as F
from torchvision.ops import deform_conv2d

from vdeblur_mm.models.editors.edvr.convert import basicsr_edvr_param_shapes


def random_basicsr_state(seed=0, std=0.05, **hparams):
    """Random weights with BasicSR's key names and shapes."""
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(s, generator=gen) * std
            for k, s in basicsr_edvr_param_shapes(**hparams).items()}


def _conv(p, name, x, stride=1):
    w = p[f'{name}.weight']
    return F.conv2d(x, w, p[f'{name}.bias'], stride=stride, padding=w.shape[-1] // 2)


def _lrelu(x):
    return F.leaky_relu(x, 0.1)


def _up(x):
    return F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)


def _res(p, name, x):
    return x + _conv(p, f'{name}.conv2', F.relu(_conv(p, f'{name}.conv1', x)))


def _dcn(p, name, x, feat):
    o1, o2, mask = torch.chunk(_conv(p, f'{name}.conv_offset', feat), 3, dim=1)
    return deform_conv2d(x, torch.cat((o1, o2), dim=1), p[f'{name}.weight'], p[f'{name}.bias'],
                         padding=(1, 1), mask=torch.sigmoid(mask))


def _pools(x):
    return torch.cat([F.max_pool2d(x, 3, 2, 1), F.avg_pool2d(x, 3, 2, 1)], dim=1)


def _predeblur(p, x, hr_in):
    l1 = _lrelu(_conv(p, 'predeblur.conv_first', x))
    if hr_in:
        l1 = _lrelu(_conv(p, 'predeblur.stride_conv_hr1', l1, 2))
        l1 = _lrelu(_conv(p, 'predeblur.stride_conv_hr2', l1, 2))
    l2 = _lrelu(_conv(p, 'predeblur.stride_conv_l2', l1, 2))
    l3 = _lrelu(_conv(p, 'predeblur.stride_conv_l3', l2, 2))
    l3 = _up(_res(p, 'predeblur.resblock_l3', l3))
    l2 = _res(p, 'predeblur.resblock_l2_1', l2) + l3
    l2 = _up(_res(p, 'predeblur.resblock_l2_2', l2))
    for i in range(2):
        l1 = _res(p, f'predeblur.resblock_l1.{i}', l1)
    l1 = l1 + l2
    for i in range(2, 5):
        l1 = _res(p, f'predeblur.resblock_l1.{i}', l1)
    return l1


def _pcd(p, nbr, ref):
    up_offset = up_feat = None
    for i in (3, 2, 1):
        lv = f'l{i}'
        offset = _lrelu(_conv(p, f'pcd_align.offset_conv1.{lv}', torch.cat([nbr[i - 1],
                                                                            ref[i - 1]], 1)))
        if i == 3:
            offset = _lrelu(_conv(p, f'pcd_align.offset_conv2.{lv}', offset))
        else:
            offset = _lrelu(_conv(p, f'pcd_align.offset_conv2.{lv}',
                                  torch.cat([offset, up_offset], 1)))
            offset = _lrelu(_conv(p, f'pcd_align.offset_conv3.{lv}', offset))
        feat = _dcn(p, f'pcd_align.dcn_pack.{lv}', nbr[i - 1], offset)
        if i < 3:
            feat = _conv(p, f'pcd_align.feat_conv.{lv}', torch.cat([feat, up_feat], 1))
        if i > 1:
            feat = _lrelu(feat)
            up_offset = _up(offset) * 2
            up_feat = _up(feat)
    offset = _lrelu(_conv(p, 'pcd_align.cas_offset_conv1', torch.cat([feat, ref[0]], 1)))
    offset = _lrelu(_conv(p, 'pcd_align.cas_offset_conv2', offset))
    return _lrelu(_dcn(p, 'pcd_align.cas_dcnpack', feat, offset))


def _tsa(p, aligned, center):
    b, t, c, h, w = aligned.shape
    emb_ref = _conv(p, 'fusion.temporal_attn1', aligned[:, center])
    emb = _conv(p, 'fusion.temporal_attn2', aligned.reshape(-1, c, h, w)).view(b, t, -1, h, w)
    corr = torch.stack([(emb[:, i] * emb_ref).sum(1) for i in range(t)], dim=1)
    prob = torch.sigmoid(corr).unsqueeze(2).expand(b, t, c, h, w).reshape(b, -1, h, w)
    feats = aligned.reshape(b, -1, h, w) * prob
    feat = _lrelu(_conv(p, 'fusion.feat_fusion', feats))
    attn = _lrelu(_conv(p, 'fusion.spatial_attn1', feats))
    attn = _lrelu(_conv(p, 'fusion.spatial_attn2', _pools(attn)))
    level = _lrelu(_conv(p, 'fusion.spatial_attn_l1', attn))
    level = _lrelu(_conv(p, 'fusion.spatial_attn_l2', _pools(level)))
    level = _up(_lrelu(_conv(p, 'fusion.spatial_attn_l3', level)))
    attn = _lrelu(_conv(p, 'fusion.spatial_attn3', attn)) + level
    attn = _up(_lrelu(_conv(p, 'fusion.spatial_attn4', attn)))
    attn = _conv(p, 'fusion.spatial_attn5', attn)
    add = _conv(p, 'fusion.spatial_attn_add2', _lrelu(_conv(p, 'fusion.spatial_attn_add1', attn)))
    return feat * torch.sigmoid(attn) * 2 + add


def _count(p, prefix):
    return len({k.split('.')[1] for k in p if k.startswith(prefix + '.')})


@torch.no_grad()
def basicsr_edvr_forward(p, x, hr_in, with_predeblur, with_tsa, center_frame_idx=None):
    """BasicSR ``EDVR.forward`` for weights ``p`` (BasicSR names) and frames x (b, t, c, h, w)."""
    b, t, c, h, w = x.shape
    center = t // 2 if center_frame_idx is None else center_frame_idx
    x_center = x[:, center]
    frames = x.reshape(-1, c, h, w)
    if with_predeblur:
        l1 = _conv(p, 'conv_1x1', _predeblur(p, frames, hr_in))
        if hr_in:
            h, w = h // 4, w // 4
    else:
        l1 = _lrelu(_conv(p, 'conv_first', frames))
    for i in range(_count(p, 'feature_extraction')):
        l1 = _res(p, f'feature_extraction.{i}', l1)
    l2 = _lrelu(_conv(p, 'conv_l2_2', _lrelu(_conv(p, 'conv_l2_1', l1, 2))))
    l3 = _lrelu(_conv(p, 'conv_l3_2', _lrelu(_conv(p, 'conv_l3_1', l2, 2))))
    l1 = l1.view(b, t, -1, h, w)
    l2 = l2.view(b, t, -1, h // 2, w // 2)
    l3 = l3.view(b, t, -1, h // 4, w // 4)
    ref = [l1[:, center], l2[:, center], l3[:, center]]
    aligned = torch.stack([_pcd(p, [l1[:, i], l2[:, i], l3[:, i]], ref) for i in range(t)], 1)
    if with_tsa:
        feat = _tsa(p, aligned, center)
    else:
        feat = _conv(p, 'fusion', aligned.reshape(b, -1, h, w))
    out = feat
    for i in range(_count(p, 'reconstruction')):
        out = _res(p, f'reconstruction.{i}', out)
    out = _lrelu(F.pixel_shuffle(_conv(p, 'upconv1', out), 2))
    out = _lrelu(F.pixel_shuffle(_conv(p, 'upconv2', out), 2))
    out = _lrelu(_conv(p, 'conv_hr', out))
    out = _conv(p, 'conv_last', out)
    if hr_in:
        return out + x_center
    return out + F.interpolate(x_center, scale_factor=4, mode='bilinear', align_corners=False)
