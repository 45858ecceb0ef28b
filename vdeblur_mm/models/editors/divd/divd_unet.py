"""DIVD's denoising network: a 2-D convolutional UNet over F frames at once, with a
window-based temporal self-attention (WTSA + MRPE) after every residual block.

Written from the paper (arXiv 2412.00773; no official code): the paper gives the ingredients
(2-D conv UNet of ResBlocks, F = 4 frames denoised in parallel, the noisy sharp frames
concatenated with the blurry ones, WTSA at each level with per-level window sizes); the layout
below is ours and follows the DDPM UNet (Ho et al. 2020, as in mmagic's ``DenoisingUnet``):
mmagic's ``DenoisingResBlock`` (timestep embedding by scale-shift GroupNorm),
``DenoisingDownsample``/``DenoisingUpsample`` and ``TimeEmbedding``, a skip connection per block,
``num_res_blocks`` blocks per encoder level and one more per decoder level, a middle of
ResBlock - WTSA - ResBlock. The F frames travel in the batch dimension through every
convolution (a frame sees the others only through WTSA), so the network is a 2-D UNet.
"""
import torch
import torch.nn as nn
from mmagic.models.editors.ddpm.denoising_unet import (
    DenoisingDownsample,
    DenoisingResBlock,
    DenoisingUpsample,
    TimeEmbedding,
)
from mmagic.registry import MODELS
from mmengine.model import BaseModule

from ...layers.checks import check_video
from .divd_wtsa import WindowTemporalSelfAttention


class ResAttentionBlock(nn.Module):
    """One DenoisingResBlock on every frame, then WTSA over the frames of each clip."""

    def __init__(self, in_channels, out_channels, embedding_channels, num_frames, window_size,
                 head_channels, dropout, norm_groups, attention_cfg):
        super().__init__()
        self.res = DenoisingResBlock(in_channels, embedding_channels, use_scale_shift_norm=True,
                                     dropout=dropout, out_channels=out_channels,
                                     norm_cfg=dict(type='GN', num_groups=norm_groups))
        self.attn = WindowTemporalSelfAttention(
            out_channels, num_frames, window_size,
            num_heads=max(out_channels // head_channels, 1), **attention_cfg)
        self.num_frames = num_frames

    def forward(self, x, emb):
        x = self.res(x, emb)  # (n F, C, h, w)
        nf, c, h, w = x.shape
        x = self.attn(x.view(nf // self.num_frames, self.num_frames, c, h, w))
        return x.view(nf, c, h, w)


@MODELS.register_module()
class DIVDUNet(BaseModule):
    """The noise (or x0 / v) predictor of DIVD.

    ``forward(noisy, blurry, timesteps)``: ``noisy`` and ``blurry`` (n, F, 3, h, w) in
    [-1, 1], h and w multiples of ``size_multiple`` (2 ** (levels - 1)), ``timesteps`` (n,)
    (one per clip, shared by its frames); returns (n, F, out_channels, h, w).

    Args:
        in_channels (int): Channels of the noisy frames. Default: 3.
        cond_channels (int): Channels of the blurry frames concatenated to them. Default: 3.
        out_channels (int): Default: 3.
        num_frames (int): F, frames denoised together (the paper: 4).
        base_channels (int): Channels of the first level. Default: 64.
        channel_mults (tuple[int]): Per-level multipliers of ``base_channels``; their number
            is the number of levels. Default: (1, 2, 3, 4).
        num_res_blocks (int): ResBlocks per encoder level (decoder: one more). Default: 2.
        window_sizes (tuple[int]): WTSA window M per level, in feature pixels of that level
            (the paper's default [4, 3, 2, 1]); the middle uses the last. Default: (4, 3, 2, 1).
        head_channels (int): Channels per attention head. Default: 32.
        dropout (float): In the ResBlocks. Default: 0.
        norm_groups (int): GroupNorm groups (divide every level's channels). Default: 32.
        frame_encoding (bool): MRPE's learnable frame encoding. Default: True.
        relative_bias (bool): MRPE's relative position bias. Default: True.
        init_cfg (dict, optional): mmengine initialisation.
    """

    def __init__(self, in_channels=3, cond_channels=3, out_channels=3, num_frames=4,
                 base_channels=64, channel_mults=(1, 2, 3, 4), num_res_blocks=2,
                 window_sizes=(4, 3, 2, 1), head_channels=32, dropout=0., norm_groups=32,
                 frame_encoding=True, relative_bias=True, init_cfg=None):
        super().__init__(init_cfg)
        if len(window_sizes) != len(channel_mults):
            raise ValueError(f'window_sizes {tuple(window_sizes)} needs one size per UNet level '
                             f'({len(channel_mults)} levels: channel_mults '
                             f'{tuple(channel_mults)})')
        widths = [base_channels * m for m in channel_mults]
        bad = [c for c in widths if c % norm_groups or c % min(head_channels, c)]
        if bad:
            raise ValueError(f'every level width {widths} must be divisible by norm_groups '
                             f'({norm_groups}) and by head_channels ({head_channels}); '
                             f'{bad} are not')
        self.in_channels, self.cond_channels = in_channels, cond_channels
        self.num_frames = num_frames
        self.size_multiple = 2 ** (len(channel_mults) - 1)
        emb = 4 * base_channels
        attention = dict(frame_encoding=frame_encoding, relative_bias=relative_bias)

        def block(cin, cout, level):
            return ResAttentionBlock(cin, cout, emb, num_frames, window_sizes[level],
                                     head_channels, dropout, norm_groups, attention)

        self.time_embedding = TimeEmbedding(base_channels, emb)
        self.in_conv = nn.Conv2d(in_channels + cond_channels, base_channels, 3, padding=1)
        self.down_blocks = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        skips, ch = [base_channels], base_channels
        for level, width in enumerate(widths):
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks):
                blocks.append(block(ch, width, level))
                ch = width
                skips.append(ch)
            self.down_blocks.append(blocks)
            if level < len(widths) - 1:
                self.downsamples.append(DenoisingDownsample(ch, with_conv=True))
                skips.append(ch)
        self.mid_attn = block(ch, ch, len(widths) - 1)  # ResBlock - WTSA
        self.mid_res = DenoisingResBlock(ch, emb, True, dropout,
                                         norm_cfg=dict(type='GN', num_groups=norm_groups))
        self.up_blocks = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        for level in reversed(range(len(widths))):
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                blocks.append(block(ch + skips.pop(), widths[level], level))
                ch = widths[level]
            self.up_blocks.append(blocks)
            if level:
                self.upsamples.append(DenoisingUpsample(ch, with_conv=True))
        self.out = nn.Sequential(nn.GroupNorm(norm_groups, ch), nn.SiLU(),
                                 nn.Conv2d(ch, out_channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)  # starts predicting zero, as DDPM's UNet
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, noisy, blurry, timesteps):
        check_video(noisy, 'DIVD noisy frames', channels=self.in_channels)
        check_video(blurry, 'DIVD blurry frames', channels=self.cond_channels)
        n, f, _, h, w = noisy.shape
        if blurry.shape[:2] != noisy.shape[:2] or blurry.shape[-2:] != noisy.shape[-2:]:
            raise ValueError(f'DIVD: blurry frames {tuple(blurry.shape)} do not match the noisy '
                             f'frames {tuple(noisy.shape)}')
        if f != self.num_frames:
            raise ValueError(f'DIVD denoises {self.num_frames} frames at once, got {f}')
        m = self.size_multiple
        if h % m or w % m:
            raise ValueError(f'DIVD UNet: frame size {h}x{w} must be a multiple of {m} (its '
                             f'{m.bit_length()} levels); the model wrapper pads test frames, '
                             'training crops must be multiples')
        timesteps = torch.as_tensor(timesteps, device=noisy.device).reshape(-1)
        if timesteps.numel() == 1:
            timesteps = timesteps.expand(n)
        if timesteps.numel() != n:
            raise ValueError(f'DIVD: {timesteps.numel()} timesteps for {n} clips')
        emb = self.time_embedding(timesteps).repeat_interleave(f, 0)  # (n F, E)
        x = torch.cat([noisy, blurry], 2).flatten(0, 1)
        h = self.in_conv(x)
        skips = [h]
        for level, blocks in enumerate(self.down_blocks):
            for blk in blocks:
                h = blk(h, emb)
                skips.append(h)
            if level < len(self.downsamples):
                h = self.downsamples[level](h)
                skips.append(h)
        h = self.mid_res(self.mid_attn(h, emb), emb)
        for k, blocks in enumerate(self.up_blocks):
            for blk in blocks:
                h = blk(torch.cat([h, skips.pop()], 1), emb)
            if k < len(self.upsamples):
                h = self.upsamples[k](h)
        out = self.out(h)
        return out.view(n, f, *out.shape[1:])


__all__ = ['DIVDUNet', 'ResAttentionBlock']
