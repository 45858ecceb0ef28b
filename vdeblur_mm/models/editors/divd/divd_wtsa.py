"""DIVD's window-based temporal self-attention (WTSA) with multi-frame relative positional
encoding (MRPE), written from the paper (no official code is public: arXiv 2412.00773).

The paper fixes the idea: the feature maps of the F frames a UNet level processes together are
cut into non-overlapping M x M windows, and self-attention runs over the F * M * M tokens of one
window across all frames, so that misaligned content within a window can be matched and fused;
MRPE gives those tokens a learnable frame encoding and a relative position bias inside the
window. Everything else is our choice, documented in ``configs/divd/README.md``:

- M counts feature pixels of the level the block sits at (the paper does not give the unit);
- the frame encoding is one learnable C-vector per frame position, added to the normalised
  features before the q/k/v projection; the relative position bias is one (2M-1)^2 table per
  head over the spatial offset of two tokens, **shared across frame pairs** (the frame encoding
  tells frames apart; a per-pair table would multiply the bias parameters by F^2);
- a LayerNorm over the channels of every token before the attention (as Swin's window
  attention; a GroupNorm over the frame, as DDPM UNets' attention blocks use, would let a
  pixel change the statistics, hence the output, of every window), a zero-initialised output
  projection and a residual, so that a new block starts as the identity;
- a frame whose size is not a multiple of M is zero-padded at the bottom/right, and the padded
  tokens are masked out as keys (they never reach a real token) and cropped from the output.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...layers.checks import check_video


def relative_position_index(window):
    """(M^2, M^2) index into the (2M-1)^2 bias table: for tokens p = (y1, x1) and q = (y2, x2)
    (row-major in the window), ``(y1 - y2 + M - 1) * (2M - 1) + (x1 - x2 + M - 1)``."""
    ys, xs = torch.meshgrid(torch.arange(window), torch.arange(window), indexing='ij')
    coords = torch.stack([ys.flatten(), xs.flatten()])  # (2, M^2)
    rel = coords[:, :, None] - coords[:, None, :] + window - 1  # (2, M^2, M^2)
    return rel[0] * (2 * window - 1) + rel[1]


class WindowTemporalSelfAttention(nn.Module):
    """WTSA with MRPE: self-attention over the tokens of one M x M window in all F frames.

    ``forward(x)``: ``x`` (n, F, C, h, w), any h and w (padded to M and masked); returns the
    same shape, ``x + proj(attention(norm(x) + frame encoding))``.

    Args:
        channels (int): C.
        num_frames (int): F, the frames processed together (the paper: 4).
        window_size (int): M, in feature pixels of this level.
        num_heads (int): Attention heads (dividing C). Default: 1.
        frame_encoding (bool): Learnable frame positional encoding (MRPE). Default: True.
        relative_bias (bool): Relative position bias inside windows (MRPE). Default: True.
    """

    def __init__(self, channels, num_frames, window_size, num_heads=1, frame_encoding=True,
                 relative_bias=True):
        super().__init__()
        if channels % num_heads:
            raise ValueError(f'channels ({channels}) must be divisible by num_heads '
                             f'({num_heads})')
        if window_size < 1 or num_frames < 1:
            raise ValueError(f'window_size and num_frames must be >= 1, got {window_size} and '
                             f'{num_frames}')
        self.channels, self.num_frames, self.window = channels, num_frames, window_size
        self.num_heads = num_heads
        self.norm = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)
        self.frame_encoding = nn.Parameter(torch.zeros(num_frames, channels)) \
            if frame_encoding else None
        if frame_encoding:
            nn.init.trunc_normal_(self.frame_encoding, std=0.02)
        if relative_bias:
            self.bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
            nn.init.trunc_normal_(self.bias_table, std=0.02)
            self.register_buffer('bias_index', relative_position_index(window_size),
                                 persistent=False)
        else:
            self.bias_table = None

    def attention_bias(self):
        """(heads, F M^2, F M^2) additive bias of the window tokens (frame-major order), or
        None: the spatial table, the same for every frame pair."""
        if self.bias_table is None:
            return None
        m2 = self.window * self.window
        bias = self.bias_table[self.bias_index.view(-1)].view(m2, m2, self.num_heads)
        bias = bias.permute(2, 0, 1)  # (heads, M^2, M^2)
        return bias.repeat(1, self.num_frames, self.num_frames)

    def forward(self, x):
        check_video(x, 'WTSA input', channels=self.channels)
        n, f, c, h, w = x.shape
        if f != self.num_frames:
            raise ValueError(f'WTSA was built for {self.num_frames} frames (its frame '
                             f'encoding), got {f}')
        m = self.window
        y = self.norm(x.permute(0, 1, 3, 4, 2)).permute(0, 1, 4, 2, 3)  # per token
        ph, pw = -h % m, -w % m
        y = F.pad(y, (0, pw, 0, ph))
        hp, wp = h + ph, w + pw
        nh, nw = hp // m, wp // m
        # (n, F, C, nh, M, nw, M) -> (n nh nw, F M M, C): tokens frame-major, then row-major
        tokens = y.view(n, f, c, nh, m, nw, m).permute(0, 3, 5, 1, 4, 6, 2).reshape(
            n * nh * nw, f * m * m, c)
        if self.frame_encoding is not None:
            tokens = tokens + self.frame_encoding.repeat_interleave(m * m, 0)
        d = c // self.num_heads
        q, k, v = self.qkv(tokens).view(tokens.shape[0], -1, 3, self.num_heads, d).permute(
            2, 0, 3, 1, 4)  # 3 x (windows, heads, tokens, d)
        bias = self.attention_bias()
        if ph or pw:
            valid = torch.zeros(hp, wp, dtype=torch.bool, device=x.device)
            valid[:h, :w] = True
            valid = valid.view(nh, m, nw, m).permute(0, 2, 1, 3).reshape(nh * nw, 1, m * m)
            valid = valid.repeat(n, f, 1).view(n * nh * nw, 1, 1, f * m * m)  # keys
            mask = torch.zeros(valid.shape, dtype=q.dtype, device=x.device).masked_fill(
                ~valid, float('-inf'))
            bias = mask if bias is None else bias.to(q.dtype) + mask
        elif bias is not None:
            bias = bias.to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        out = self.proj(out.transpose(1, 2).reshape(tokens.shape[0], -1, c))
        out = out.view(n, nh, nw, f, m, m, c).permute(0, 3, 6, 1, 4, 2, 5).reshape(
            n, f, c, hp, wp)
        return x + out[..., :h, :w]


__all__ = ['WindowTemporalSelfAttention', 'relative_position_index']
