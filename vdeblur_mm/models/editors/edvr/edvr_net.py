# Ported from XPixelGroup/BasicSR (basicsr/archs/edvr_arch.py), Apache-2.0; see THIRD_PARTY.md.
"""EDVR network with BasicSR's pre-deblurring and high-resolution-input (deblurring) path."""
import torch
import torch.nn.functional as F
from mmagic.models.archs import PixelShufflePack, ResidualBlockNoBN
from mmagic.models.utils import make_layer
from mmagic.registry import MODELS
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import nn

from ...layers import ModulatedDCNPack

LRELU = dict(type='LeakyReLU', negative_slope=0.1)


class PCDAlignment(nn.Module):
    """Pyramid, Cascading and Deformable (PCD) alignment of a neighbouring frame to the centre.

    Paper: EDVR: Video Restoration with Enhanced Deformable Convolutional Networks.

    Three pyramid levels (L3 = 1/4 size first, then L2, L1), each with a modulated DCN whose
    offsets come from the concatenated neighbour/reference features (and the upsampled, x2
    offsets of the coarser level), then a cascading DCN at L1. Activations are those of BasicSR
    (LeakyReLU 0.1 after every offset conv, after the L3 and L2 aligned features and after the
    cascading DCN, none after the L1 feature conv); mmagic's ``PCDAlignment`` places them
    identically through ``ConvModule``, whose key names (``<name>.conv.weight``) we share.

    Args:
        mid_channels (int): Feature channels. Default: 64.
        deform_groups (int): Deformable groups. Default: 8.
    """

    def __init__(self, mid_channels=64, deform_groups=8):
        super().__init__()
        c = mid_channels
        self.offset_conv1 = nn.ModuleDict()
        self.offset_conv2 = nn.ModuleDict()
        self.offset_conv3 = nn.ModuleDict()
        self.dcn_pack = nn.ModuleDict()
        self.feat_conv = nn.ModuleDict()
        for i in (3, 2, 1):
            level = f'l{i}'
            self.offset_conv1[level] = ConvModule(2 * c, c, 3, padding=1, act_cfg=LRELU)
            if i == 3:
                self.offset_conv2[level] = ConvModule(c, c, 3, padding=1, act_cfg=LRELU)
            else:
                self.offset_conv2[level] = ConvModule(2 * c, c, 3, padding=1, act_cfg=LRELU)
                self.offset_conv3[level] = ConvModule(c, c, 3, padding=1, act_cfg=LRELU)
                self.feat_conv[level] = ConvModule(
                    2 * c, c, 3, padding=1, act_cfg=LRELU if i == 2 else None)
            self.dcn_pack[level] = ModulatedDCNPack(c, c, 3, padding=1,
                                                    deform_groups=deform_groups)
        self.cas_offset_conv1 = ConvModule(2 * c, c, 3, padding=1, act_cfg=LRELU)
        self.cas_offset_conv2 = ConvModule(c, c, 3, padding=1, act_cfg=LRELU)
        self.cas_dcnpack = ModulatedDCNPack(c, c, 3, padding=1, deform_groups=deform_groups)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

    @staticmethod
    def _up(x):
        return F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)

    def forward(self, neighbor_feats, ref_feats):
        """Align neighbour features to reference features.

        Args:
            neighbor_feats (list[Tensor]): L1, L2, L3 features of the neighbouring frame(s),
                shapes (n, c, h, w), (n, c, h/2, w/2), (n, c, h/4, w/4).
            ref_feats (list[Tensor]): The same for the reference (centre) frame.

        Returns:
            Tensor: Aligned L1 feature of shape (n, c, h, w).
        """
        up_offset = up_feat = None
        for i in (3, 2, 1):
            level = f'l{i}'
            nbr, ref = neighbor_feats[i - 1], ref_feats[i - 1]
            offset = self.offset_conv1[level](torch.cat([nbr, ref], dim=1))
            if i == 3:
                offset = self.offset_conv2[level](offset)
            else:
                offset = self.offset_conv2[level](torch.cat([offset, up_offset], dim=1))
                offset = self.offset_conv3[level](offset)
            feat = self.dcn_pack[level](nbr, offset)
            if i == 3:
                feat = self.lrelu(feat)
            else:  # L2 with activation, L1 without
                feat = self.feat_conv[level](torch.cat([feat, up_feat], dim=1))
            if i > 1:
                # offsets are in pixels: twice the size, twice the displacement
                up_offset = self._up(offset) * 2
                up_feat = self._up(feat)
        offset = self.cas_offset_conv2(self.cas_offset_conv1(torch.cat([feat, ref_feats[0]], 1)))
        return self.lrelu(self.cas_dcnpack(feat, offset))


class TSAFusion(nn.Module):
    """Temporal and Spatial Attention (TSA) fusion of aligned features.

    Paper: EDVR: Video Restoration with Enhanced Deformable Convolutional Networks.

    Temporal attention weights each aligned frame per pixel by ``sigmoid(<emb_i, emb_ref>)``;
    a 1x1 conv fuses the frames; a two-level spatial attention pyramid modulates the result as
    ``feat * sigmoid(attn) * 2 + attn_add``. Activations as BasicSR (through ``ConvModule``).

    Args:
        mid_channels (int): Feature channels. Default: 64.
        num_frames (int): Frames fused. Default: 5.
        center_frame_idx (int): Index of the reference frame. Default: 2.
    """

    def __init__(self, mid_channels=64, num_frames=5, center_frame_idx=2):
        super().__init__()
        c = mid_channels
        self.center_frame_idx = center_frame_idx
        self.temporal_attn1 = nn.Conv2d(c, c, 3, padding=1)
        self.temporal_attn2 = nn.Conv2d(c, c, 3, padding=1)
        self.feat_fusion = ConvModule(num_frames * c, c, 1, act_cfg=LRELU)
        self.max_pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.avg_pool = nn.AvgPool2d(3, stride=2, padding=1)
        self.spatial_attn1 = ConvModule(num_frames * c, c, 1, act_cfg=LRELU)
        self.spatial_attn2 = ConvModule(2 * c, c, 1, act_cfg=LRELU)
        self.spatial_attn3 = ConvModule(c, c, 3, padding=1, act_cfg=LRELU)
        self.spatial_attn4 = ConvModule(c, c, 1, act_cfg=LRELU)
        self.spatial_attn5 = nn.Conv2d(c, c, 3, padding=1)
        self.spatial_attn_l1 = ConvModule(c, c, 1, act_cfg=LRELU)
        self.spatial_attn_l2 = ConvModule(2 * c, c, 3, padding=1, act_cfg=LRELU)
        self.spatial_attn_l3 = ConvModule(c, c, 3, padding=1, act_cfg=LRELU)
        self.spatial_attn_add1 = ConvModule(c, c, 1, act_cfg=LRELU)
        self.spatial_attn_add2 = nn.Conv2d(c, c, 1)

    def _pool(self, x):
        return torch.cat([self.max_pool(x), self.avg_pool(x)], dim=1)

    def forward(self, aligned_feat):
        """Fuse aligned features.

        Args:
            aligned_feat (Tensor): Aligned features of shape (n, t, c, h, w).

        Returns:
            Tensor: Fused feature of shape (n, c, h, w).
        """
        n, t, c, h, w = aligned_feat.shape
        emb_ref = self.temporal_attn1(aligned_feat[:, self.center_frame_idx])
        emb = self.temporal_attn2(aligned_feat.reshape(-1, c, h, w)).view(n, t, -1, h, w)
        corr_prob = torch.sigmoid((emb * emb_ref.unsqueeze(1)).sum(2, keepdim=True))
        aligned_feat = (aligned_feat * corr_prob).view(n, t * c, h, w)

        feat = self.feat_fusion(aligned_feat)

        attn = self.spatial_attn1(aligned_feat)
        attn = self.spatial_attn2(self._pool(attn))
        attn_level = self.spatial_attn_l1(attn)
        attn_level = self.spatial_attn_l3(self.spatial_attn_l2(self._pool(attn_level)))
        attn_level = PCDAlignment._up(attn_level)
        attn = self.spatial_attn4(self.spatial_attn3(attn) + attn_level)
        attn = self.spatial_attn5(PCDAlignment._up(attn))
        attn_add = self.spatial_attn_add2(self.spatial_attn_add1(attn))
        # sigmoid(attn) * 2 is about 1 after initialisation
        return feat * torch.sigmoid(attn) * 2 + attn_add


class PredeblurModule(nn.Module):
    """Pre-deblurring feature extractor of EDVR (BasicSR ``PredeblurModule``).

    Paper: EDVR: Video Restoration with Enhanced Deformable Convolutional Networks.

    conv (+ two stride-2 convs with ``hr_in``: features at 1/4 size), a 3-level pyramid of
    stride-2 convs with residual blocks (1 at L3, 2 at L2, 5 at L1: 2 before adding the
    upsampled coarser levels, 3 after). LeakyReLU 0.1 after every plain conv.

    Args:
        in_channels (int): Input image channels. Default: 3.
        mid_channels (int): Feature channels. Default: 64.
        hr_in (bool): Input at full resolution (deblurring): downsample x4 first.
            Default: False.
    """

    def __init__(self, in_channels=3, mid_channels=64, hr_in=False):
        super().__init__()
        c = mid_channels
        self.hr_in = hr_in
        self.conv_first = nn.Conv2d(in_channels, c, 3, 1, 1)
        if hr_in:
            self.hr_down1 = nn.Conv2d(c, c, 3, 2, 1)
            self.hr_down2 = nn.Conv2d(c, c, 3, 2, 1)
        self.l2_down = nn.Conv2d(c, c, 3, 2, 1)
        self.l3_down = nn.Conv2d(c, c, 3, 2, 1)
        self.l3_block = ResidualBlockNoBN(c)
        self.l2_block1 = ResidualBlockNoBN(c)
        self.l2_block2 = ResidualBlockNoBN(c)
        self.l1_blocks = nn.ModuleList(ResidualBlockNoBN(c) for _ in range(5))
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

    def forward(self, x):
        """Features (n, c, h/4, w/4) with ``hr_in``, else (n, c, h, w), of frames (n, 3, h, w)."""
        feat_l1 = self.lrelu(self.conv_first(x))
        if self.hr_in:
            feat_l1 = self.lrelu(self.hr_down1(feat_l1))
            feat_l1 = self.lrelu(self.hr_down2(feat_l1))
        feat_l2 = self.lrelu(self.l2_down(feat_l1))
        feat_l3 = self.lrelu(self.l3_down(feat_l2))

        feat_l3 = PCDAlignment._up(self.l3_block(feat_l3))
        feat_l2 = PCDAlignment._up(self.l2_block2(self.l2_block1(feat_l2) + feat_l3))
        feat_l1 = self.l1_blocks[1](self.l1_blocks[0](feat_l1)) + feat_l2
        for block in self.l1_blocks[2:]:
            feat_l1 = block(feat_l1)
        return feat_l1


@MODELS.register_module()
class EDVRDeblurNet(BaseModule):
    """EDVR network for video deblurring (and the x4 super-resolution path).

    Paper: EDVR: Video Restoration with Enhanced Deformable Convolutional Networks (CVPRW 2019).

    A faithful port of BasicSR's ``EDVR`` (``basicsr/archs/edvr_arch.py``) including the
    ``PredeblurModule`` and ``hr_in`` options that mmagic's ``EDVRNet`` lacks:

    - ``hr_in=True, with_predeblur=True`` (deblurring, EDVR-L deblur: ``mid_channels=128,
      num_reconstruct_block=40``): the pre-deblur module brings the frames to 1/4 size, PCD
      alignment (3 pyramid levels + cascading DCN) and TSA fusion work there, two x2
      pixel-shuffle steps return to full size, and the centre input frame is added (no
      upsampling). H and W must be multiples of 16.
    - ``hr_in=False``: x4 super-resolution, base = bilinear x4 upsampling of the centre frame;
      H and W must be multiples of 4. ``with_predeblur=False`` gives mmagic's ``EDVRNet``.
    - ``hr_in=True, with_predeblur=False`` is rejected: BasicSR has no full-resolution feature
      extractor without the pre-deblur module (its forward fails there).

    Parameter names follow mmagic's ``EDVRNet`` wherever it has the layer (``ConvModule`` keys
    ``<name>.conv.weight``, ``upsample1.upsample_conv``, ``pcd_alignment``...), so with
    ``with_predeblur=False, hr_in=False`` mmagic EDVRNet checkpoints load as they are; the
    pre-deblur layers have our own names. ``edvr/convert.py`` holds the exact mapping to and
    from BasicSR's key names (``BASICSR_KEY_MAP``) and converts checkpoints both ways.

    Sizes: the network raises ``ValueError`` for H/W that are not multiples of 16 (4 without
    ``hr_in``) instead of padding silently. Whole-video inference pads: ``inference_spec``
    declares ``size_multiple`` for ``VideoRestorer``, and ``EDVRDeblur.forward_inference`` pads
    (reflect) and crops back.

    Args:
        in_channels (int): Input channels. Default: 3.
        out_channels (int): Output channels. Default: 3.
        mid_channels (int): Feature channels. Default: 64.
        num_frames (int): Input frames (odd). Default: 5.
        deform_groups (int): Deformable groups of the DCNs. Default: 8.
        num_extract_block (int): Residual blocks of the feature extraction. Default: 5.
        num_reconstruct_block (int): Residual blocks of the reconstruction. Default: 10.
        center_frame_idx (int, optional): Reference frame; None means ``num_frames // 2``.
            Default: None.
        hr_in (bool): Full-resolution input and output (deblurring). Default: True.
        with_predeblur (bool): Use the pre-deblur feature extractor. Default: True.
        with_tsa (bool): TSA fusion; otherwise a 1x1 conv over the stacked frames.
            Default: True.
        init_cfg (dict, optional): Initialisation config. Default: None.
    """

    def __init__(self,
                 in_channels=3,
                 out_channels=3,
                 mid_channels=64,
                 num_frames=5,
                 deform_groups=8,
                 num_extract_block=5,
                 num_reconstruct_block=10,
                 center_frame_idx=None,
                 hr_in=True,
                 with_predeblur=True,
                 with_tsa=True,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if num_frames < 1 or num_frames % 2 == 0:
            raise ValueError(f'EDVRDeblurNet: num_frames must be a positive odd number (a '
                             f'centre frame and as many neighbours on each side), got '
                             f'{num_frames}')
        if center_frame_idx is None:
            center_frame_idx = num_frames // 2
        if not 0 <= center_frame_idx < num_frames:
            raise ValueError(f'EDVRDeblurNet: center_frame_idx {center_frame_idx} is outside '
                             f'[0, {num_frames})')
        if mid_channels % deform_groups:
            raise ValueError(f'EDVRDeblurNet: mid_channels ({mid_channels}) must be divisible '
                             f'by deform_groups ({deform_groups})')
        if hr_in and not with_predeblur:
            raise ValueError('EDVRDeblurNet: hr_in=True needs with_predeblur=True (the '
                             'pre-deblur module is what downsamples full-resolution input; '
                             'BasicSR EDVR has no other path for it)')
        self.in_channels = in_channels
        self.num_frames = num_frames
        self.center_frame_idx = center_frame_idx
        self.hr_in = hr_in
        self.with_predeblur = with_predeblur
        self.with_tsa = with_tsa
        self.size_multiple = 16 if hr_in else 4
        self.scale = 1 if hr_in else 4
        self.inference_spec = dict(mode='window', window_frames=num_frames,
                                   size_multiple=self.size_multiple,
                                   min_size=self.size_multiple, scale=self.scale)
        c = mid_channels

        if with_predeblur:
            self.predeblur = PredeblurModule(in_channels, c, hr_in=hr_in)
            self.predeblur_proj = nn.Conv2d(c, c, 1)
        else:
            self.conv_first = nn.Conv2d(in_channels, c, 3, 1, 1)
        self.feature_extraction = make_layer(ResidualBlockNoBN, num_extract_block,
                                             mid_channels=c)
        self.feat_l2_conv1 = ConvModule(c, c, 3, 2, 1, act_cfg=LRELU)
        self.feat_l2_conv2 = ConvModule(c, c, 3, 1, 1, act_cfg=LRELU)
        self.feat_l3_conv1 = ConvModule(c, c, 3, 2, 1, act_cfg=LRELU)
        self.feat_l3_conv2 = ConvModule(c, c, 3, 1, 1, act_cfg=LRELU)

        self.pcd_alignment = PCDAlignment(c, deform_groups)
        if with_tsa:
            self.fusion = TSAFusion(c, num_frames, center_frame_idx)
        else:
            self.fusion = nn.Conv2d(num_frames * c, c, 1)

        self.reconstruction = make_layer(ResidualBlockNoBN, num_reconstruct_block,
                                         mid_channels=c)
        # the last layers have 64 channels whatever mid_channels is (as BasicSR and mmagic)
        self.upsample1 = PixelShufflePack(c, c, 2, upsample_kernel=3)
        self.upsample2 = PixelShufflePack(c, 64, 2, upsample_kernel=3)
        self.conv_hr = nn.Conv2d(64, 64, 3, 1, 1)
        self.conv_last = nn.Conv2d(64, out_channels, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

    def check_input(self, x):
        """Raise ``ValueError`` unless x is (n, num_frames, in_channels, h, w) with valid h, w."""
        name = self.__class__.__name__
        if not isinstance(x, torch.Tensor) or x.dim() != 5:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f'{name} expects frames of shape (n, t, c, h, w), got {shape}')
        n, t, c, h, w = x.shape
        if t != self.num_frames:
            raise ValueError(f'{name} was built for num_frames={self.num_frames} and got '
                             f'{t} frames (input shape {tuple(x.shape)}); slide a window over '
                             f'longer clips (EDVRDeblur does for whole videos)')
        if c != self.in_channels:
            raise ValueError(f'{name} expects {self.in_channels} channels, got {c} '
                             f'(input shape {tuple(x.shape)})')
        m = self.size_multiple
        if h % m or w % m:
            raise ValueError(f'{name}: height and width must be multiples of {m}'
                             f'{" with hr_in=True" if self.hr_in else ""}, got {h}x{w}; pad '
                             f'the frames first (VideoRestorer and EDVRDeblur.forward_inference '
                             f'pad to inference_spec["size_multiple"] and crop back)')

    def forward(self, x):
        """Restore the centre frame.

        Args:
            x (Tensor): Frames of shape (n, t, c, h, w), t = ``num_frames``.

        Returns:
            Tensor: Restored centre frame, (n, c, h, w) with ``hr_in`` or (n, c, 4h, 4w).
        """
        self.check_input(x)
        n, t, c, h, w = x.shape
        x_center = x[:, self.center_frame_idx]
        frames = x.reshape(n * t, c, h, w)

        if self.with_predeblur:
            feat_l1 = self.predeblur_proj(self.predeblur(frames))
        else:
            feat_l1 = self.lrelu(self.conv_first(frames))
        feat_l1 = self.feature_extraction(feat_l1)
        feat_l2 = self.feat_l2_conv2(self.feat_l2_conv1(feat_l1))
        feat_l3 = self.feat_l3_conv2(self.feat_l3_conv1(feat_l2))

        # align every frame to the centre one (all frames in one batch)
        pyramid = [f.view(n, t, *f.shape[1:]) for f in (feat_l1, feat_l2, feat_l3)]
        ref = [f[:, self.center_frame_idx:self.center_frame_idx + 1].expand_as(f).reshape(
            n * t, *f.shape[2:]) for f in pyramid]
        aligned = self.pcd_alignment([feat_l1, feat_l2, feat_l3], ref)
        aligned = aligned.view(n, t, *aligned.shape[1:])

        if self.with_tsa:
            feat = self.fusion(aligned)
        else:
            feat = self.fusion(aligned.flatten(1, 2))

        out = self.reconstruction(feat)
        out = self.lrelu(self.upsample1(out))
        out = self.lrelu(self.upsample2(out))
        out = self.lrelu(self.conv_hr(out))
        out = self.conv_last(out)
        if self.hr_in:
            base = x_center
        else:
            base = F.interpolate(x_center, scale_factor=4, mode='bilinear', align_corners=False)
        return out + base
