import math

import pytest
import torch
import torch.nn.functional as F

from vdeblur_mm.models.editors.bsstnet.bsstnet_sparse_attention import SparseWindowAttention
from vdeblur_mm.models.editors.bsstnet.bsstnet_sparse_transformer import (
    BlurAwareSparseTransformer,
    FusionFeedForward,
    SoftComp,
    SoftSplit,
    TemporalSparseTransformerBlock,
)
from vdeblur_mm.models.editors.bsstnet.bsstnet_token_selection import (
    select_sparse_tokens,
    window_blur_scores,
)

# ---------------------------------------------------------------------------------------------
# references written out with explicit loops (official semantics)


def roll_zero(a, dy, dx, fill=0):
    """torch.roll over dims (2, 3) with the wrapped part set to ``fill`` (official
    roll_with_zero_padding)."""
    out = torch.roll(a, (dy, dx), (2, 3)).clone()
    if dy > 0:
        out[:, :, :dy] = fill
    elif dy < 0:
        out[:, :, dy:] = fill
    if dx > 0:
        out[:, :, :, :dx] = fill
    elif dx < 0:
        out[:, :, :, dx:] = fill
    return out


def keep_masks(wh, ww, e0, e1):
    """Official rolled-key masks (tl, tr, bl, br): 1 where the rolled token is kept."""
    masks = []
    for rows, cols in ((slice(None, -e0), slice(None, -e1)), (slice(None, -e0), slice(e1, None)),
                       (slice(e0, None), slice(None, -e1)), (slice(e0, None), slice(e1, None))):
        m = torch.ones(wh, ww, dtype=torch.bool)
        m[rows, cols] = False
        masks.append(m)
    return masks


def attend(q, k, v, heads):
    """q (lq, c), k/v (lk, c): multi-head softmax attention."""
    out = []
    ch = q.size(1) // heads
    for hd in range(heads):
        sl = slice(hd * ch, (hd + 1) * ch)
        att = torch.softmax(q[:, sl] @ k[:, sl].T / math.sqrt(ch), -1)
        out.append(att @ v[:, sl])
    return torch.cat(out, 1)


def ref_attention(attn, x, qmask, kvmask, group_size):
    """Official sparse window attention with explicit loops; padded tokens excluded from keys."""
    b, t, h, w, c = x.shape
    wh, ww = attn.window_size
    e0, e1 = attn.expand_size
    ph, pw = attn.pool_size
    nwh, nww = math.ceil(h / wh), math.ceil(w / ww)
    H, W = nwh * wh, nww * ww
    xp = x.new_zeros(b, t, H, W, c)
    xp[:, :, :h, :w] = x
    valid = torch.zeros(1, 1, H, W, dtype=torch.bool)
    valid[..., :h, :w] = True
    q, k, v = attn.query(xp), attn.key(xp), attn.value(xp)
    pooled = attn.pool_layer(xp.permute(0, 1, 4, 2, 3).reshape(b * t, c, H, W))
    pooled = pooled.reshape(b, t, c, H // ph, W // pw).permute(0, 1, 3, 4, 2)
    pk, pv = attn.key(pooled), attn.value(pooled)
    shifts = [(-e0, -e1), (-e0, e1), (e0, -e1), (e0, e1)]
    rolled = [(roll_zero(k, dy, dx), roll_zero(v, dy, dx),
               roll_zero(valid, dy, dx, fill=True)[0, 0]) for dy, dx in shifts]
    keeps = keep_masks(wh, ww, e0, e1)
    cache = {}

    def own(a, bb, f, i, j):
        return a[bb, f, i * wh:(i + 1) * wh, j * ww:(j + 1) * ww].reshape(wh * ww, c)

    def own_valid(i, j):
        return valid[0, 0, i * wh:(i + 1) * wh, j * ww:(j + 1) * ww].reshape(-1)

    def frame_keys(bb, f, i, j):
        if (bb, f, i, j) not in cache:
            ks, vs = [], []
            for y in range(wh):
                for xx in range(ww):
                    if valid[0, 0, i * wh + y, j * ww + xx]:
                        ks.append(k[bb, f, i * wh + y, j * ww + xx])
                        vs.append(v[bb, f, i * wh + y, j * ww + xx])
            for (rk, rv, rvalid), keep in zip(rolled, keeps):
                for y in range(wh):
                    for xx in range(ww):
                        Y, X = i * wh + y, j * ww + xx
                        if keep[y, xx] and rvalid[Y, X]:
                            ks.append(rk[bb, f, Y, X])
                            vs.append(rv[bb, f, Y, X])
            for pi in range(H // ph):
                for pj in range(W // pw):
                    if valid[0, 0, pi * ph:(pi + 1) * ph, pj * pw:(pj + 1) * pw].any():
                        ks.append(pk[bb, f, pi, pj])
                        vs.append(pv[bb, f, pi, pj])
            cache[bb, f, i, j] = torch.stack(ks), torch.stack(vs)
        return cache[bb, f, i, j]

    out = xp.new_zeros(b, t, H, W, c)

    def write(bb, frames, i, j, y):
        for n, f in enumerate(frames):
            out[bb, f, i * wh:(i + 1) * wh, j * ww:(j + 1) * ww] = \
                y[n * wh * ww:(n + 1) * wh * ww].reshape(wh, ww, c)

    for bb in range(b):
        for i in range(nwh):
            for j in range(nww):
                sel = [f for f in range(t) if qmask[bb, f, i, j]]
                if sel:
                    kv = [f for f in range(t) if kvmask[bb, f, i, j]]
                    qs = torch.cat([own(q, bb, f, i, j) for f in sel])
                    ks = torch.cat([frame_keys(bb, f, i, j)[0] for f in kv])
                    vs = torch.cat([frame_keys(bb, f, i, j)[1] for f in kv])
                    write(bb, sel, i, j, attend(qs, ks, vs, attn.num_heads))
                rest = [f for f in range(t) if f not in sel]
                for g in range(0, len(rest), group_size):
                    grp = rest[g:g + group_size]
                    m = own_valid(i, j)
                    qs = torch.cat([own(q, bb, f, i, j) for f in grp])
                    ks = torch.cat([own(k, bb, f, i, j)[m] for f in grp])
                    vs = torch.cat([own(v, bb, f, i, j)[m] for f in grp])
                    write(bb, grp, i, j, attend(qs, ks, vs, attn.num_heads))
    return attn.proj(out[:, :, :h, :w])


def ref_ffn(mlp, x, size, kernel=(5, 5), stride=(2, 2), padding=(2, 2)):
    """Fusion feed-forward: patch overlap-add, divide by the overlap count, re-extract."""
    h, w = size
    (kh, kw), (s0, s1), (p0, p1) = kernel, stride, padding
    fh, fw = (h + 2 * p0 - kh) // s0 + 1, (w + 2 * p1 - kw) // s1 + 1
    y = mlp.fc1[0](x)
    b, n, hc = y.shape
    c = hc // (kh * kw)
    y = y.reshape(-1, fh, fw, c, kh, kw)
    canvas = y.new_zeros(y.size(0), c, h + 2 * p0, w + 2 * p1)
    count = y.new_zeros(h + 2 * p0, w + 2 * p1)
    for ki in range(kh):
        for kj in range(kw):
            rows, cols = slice(ki, ki + s0 * fh, s0), slice(kj, kj + s1 * fw, s1)
            canvas[:, :, rows, cols] += y[..., ki, kj].permute(0, 3, 1, 2)
            count[rows, cols] += 1
    inner = canvas.new_zeros(canvas.shape)
    inner[:, :, p0:p0 + h, p1:p1 + w] = (canvas / count.clamp(min=1))[:, :, p0:p0 + h, p1:p1 + w]
    z = torch.empty_like(y)
    for ki in range(kh):
        for kj in range(kw):
            z[..., ki, kj] = inner[:, :, ki:ki + s0 * fh:s0, kj:kj + s1 * fw:s1].permute(0, 2, 3, 1)
    return mlp.fc2(z.reshape(b, n, hc))


def ref_model(model, feats, qmasks, kvmasks, group_size):
    n, t, c, h, w = feats.shape
    x = model.softsplit(feats.reshape(n * t, c, h, w), n)
    for layer, qm, kvm in zip(model.transformer.transformer, qmasks, kvmasks):
        x = x + ref_attention(layer.attention, layer.norm1(x), qm, kvm, group_size)
        x = x + ref_ffn(layer.mlp, layer.norm2(x).reshape(n, -1, x.size(-1)),
                        (h, w)).reshape(x.shape)
    return model.softcomp(x, (h, w)).reshape(n, t, c, h, w)


def randomise(module):
    """Larger random weights than the official 0.01 init, so every path matters."""
    torch.manual_seed(1)
    for p in module.parameters():
        torch.nn.init.normal_(p, 0.0, 0.3)
    return module


def small_model(**kwargs):
    cfg = dict(in_channels=4, embed_dim=16, num_heads=2, window_size=(4, 4), pool_size=(2, 2),
               depth=2, ffn_hidden=50)
    cfg.update(kwargs)
    return BlurAwareSparseTransformer(**cfg)


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize('t,h,w', [(8, 16, 16), (3, 24, 40), (1, 16, 16), (5, 24, 40)])
def test_shapes_and_gradients(t, h, w):
    torch.manual_seed(0)
    model = small_model()
    feats = torch.randn(2, t, 4, h, w, requires_grad=True)
    blur = torch.rand(2, t, 1, h, w)
    out = model(feats, blur)
    assert out.shape == (2, t, 4, h, w)
    out.square().sum().backward()
    assert feats.grad is not None and feats.grad.abs().sum() > 0
    if t >= 4:  # active sparse windows: the pooled-token path (pool_layer) is used
        for name, p in model.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_state_dict_names_and_no_size_buffers():
    model = small_model(depth=1)
    keys = set(model.state_dict())
    att = 'transformer.transformer.0.attention.'
    expected = {'softsplit.embedding.weight', 'softcomp.embedding.weight',
                'softcomp.bias_conv.weight', att + 'query.weight', att + 'key.bias',
                att + 'value.weight', att + 'proj.weight', att + 'pool_layer.weight',
                'transformer.transformer.0.norm1.weight', 'transformer.transformer.0.norm2.bias',
                'transformer.transformer.0.mlp.fc1.0.weight',
                'transformer.transformer.0.mlp.fc2.1.weight'}
    assert expected <= keys
    assert not any('mask_padding' in k or 'valid_ind_rolled' in k for k in keys)
    model(torch.randn(1, 4, 4, 16, 24), torch.rand(1, 4, 1, 16, 24))  # fills the caches
    assert set(model.state_dict()) == keys


def test_pool_layer_init_and_official_init():
    attn = SparseWindowAttention(8, 2, (4, 4), (2, 2))
    assert torch.all(attn.pool_layer.weight == 0.25) and torch.all(attn.pool_layer.bias == 0)
    model = BlurAwareSparseTransformer()
    w = model.transformer.transformer[0].attention.query.weight
    assert abs(w.std().item() - 0.01) < 1e-3 and model.softcomp.bias_conv.bias.abs().sum() == 0
    assert torch.all(model.transformer.transformer[0].norm1.weight == 1)


def test_official_parameter_count():
    model = BlurAwareSparseTransformer(192, 512, 4, (8, 8), (4, 4), 4, ffn_hidden=1000)
    softsplit = 25 * 192 * 512 + 512
    softcomp = 512 * 25 * 192 + 25 * 192 + 192 * 192 * 9 + 192
    layer = (4 * (512 * 512 + 512) + (512 * 4 * 4 + 512) + 2 * (2 * 512) +
             (512 * 1000 + 1000) + (1000 * 512 + 512))
    assert sum(p.numel() for p in model.parameters()) == softsplit + softcomp + 4 * layer


def test_softsplit_softcomp_ffn():
    torch.manual_seed(0)
    ss, sc = SoftSplit(3, 10), SoftComp(3, 10, (5, 5), (2, 2), (2, 2))
    x = torch.randn(2 * 3, 3, 12, 20)
    tok = ss(x, 2)
    assert tok.shape == (2, 3, 6, 10, 10)
    assert sc(tok, (12, 20)).shape == (6, 3, 12, 20)
    ffn = randomise(FusionFeedForward(10, hidden_dim=50))
    y = torch.randn(2, 3 * 6 * 10, 10)
    assert torch.allclose(ffn(y, (12, 20)), ref_ffn(ffn, y, (12, 20)), atol=1e-5)
    with pytest.raises(ValueError, match='multiple'):
        FusionFeedForward(10, hidden_dim=49)


@pytest.mark.parametrize('size,kernel,stride,padding', [
    ((12, 20), (5, 5), (2, 2), (2, 2)),  # BSSTNet's patches
    ((13, 9), (3, 5), (2, 1), (1, 2)),  # odd size: the fold output needs output padding
    ((16, 16), (4, 4), (4, 4), (0, 0)),
])
def test_softsplit_softcomp_equal_unfold_and_fold(size, kernel, stride, padding):
    """The convolution forms equal the official unfold + linear and linear + fold."""
    torch.manual_seed(0)
    c, hidden = 3, 10
    ss = SoftSplit(c, hidden, kernel, stride, padding).double()
    sc = SoftComp(c, hidden, kernel, stride, padding).double()
    for p in list(ss.parameters()) + list(sc.parameters()):
        torch.nn.init.normal_(p)
    x = torch.randn(2 * 3, c, *size, dtype=torch.float64)
    tok = ss(x, 2)
    fh, fw = tok.shape[2:4]
    ref = ss.embedding(F.unfold(x, kernel, padding=padding, stride=stride).transpose(1, 2))
    assert torch.allclose(tok, ref.reshape(2, 3, fh, fw, hidden), atol=1e-12)
    folded = F.fold(sc.embedding(tok.reshape(6, fh * fw, hidden)).transpose(1, 2), size,
                    kernel, padding=padding, stride=stride)
    assert torch.allclose(sc(tok, size), sc.bias_conv(folded), atol=1e-11)


def test_window_blur_scores_matches_official_pooling_and_partial_windows():
    torch.manual_seed(0)
    blur = torch.rand(2, 3, 1, 32, 32)
    official = F.avg_pool2d(F.avg_pool2d(blur.view(6, 1, 32, 32), 5, 2, 2), 8, 8)
    scores = window_blur_scores(blur)
    assert scores.shape == (2, 3, 2, 2)
    assert torch.allclose(scores, official.view(2, 3, 2, 2), atol=1e-6)
    blur = torch.rand(1, 2, 1, 24, 40)  # 12 x 20 tokens -> 2 x 3 windows, partial ones
    tok = F.avg_pool2d(blur.view(2, 1, 24, 40), 5, 2, 2)[:, 0]
    scores = window_blur_scores(blur)
    assert scores.shape == (1, 2, 2, 3)
    for i in range(2):
        for j in range(3):
            expected = tok[:, i * 8:(i + 1) * 8, j * 8:(j + 1) * 8].mean((1, 2))
            assert torch.allclose(scores[0, :, i, j], expected, atol=1e-6)


def make_scores():
    """t = 8 frames, 1 x 3 windows. Window 0: sharp everywhere (inactive); window 1: blurry
    (> 0.3) only in odd frames; window 2: blurry in even frames only."""
    s = torch.full((1, 8, 1, 3), 0.1)
    s[0, 1::2, 0, 1] = torch.tensor([0.9, 0.2, 0.5, 0.35])  # frames 1, 3, 5, 7
    s[0, 0::2, 0, 2] = torch.tensor([0.4, 0.8, 0.05, 0.6])  # frames 0, 2, 4, 6
    s[0, 1::2, 0, 2] = 0.2
    return s


def frames_of(mask, j):
    return mask[0, :, 0, j].nonzero().view(-1).tolist()


def test_select_sparse_tokens_threshold_topk_alternation():
    s = make_scores()
    qm, kvm = select_sparse_tokens(s, depth=4)
    for layer in (0, 2):  # even frames: window 2 active only
        assert frames_of(qm[layer], 0) == [] and frames_of(qm[layer], 1) == []
        assert frames_of(qm[layer], 2) == [2, 6]  # blurriest even frames
        assert frames_of(kvm[layer], 2) == [0, 4]  # sharpest even frames
    for layer in (1, 3):  # odd frames: window 1 active only
        assert frames_of(qm[layer], 2) == [] and frames_of(qm[layer], 0) == []
        assert frames_of(qm[layer], 1) == [1, 5]
        assert frames_of(kvm[layer], 1) == [3, 7]
    qm, kvm = select_sparse_tokens(s, depth=2, threshold=None, num_selected='all',
                                   alternate=False)
    assert all(m.all() for m in qm + kvm)
    qm, kvm = select_sparse_tokens(s, depth=1, num_selected=1, alternate=False)
    assert frames_of(qm[0], 1) == [1] and frames_of(kvm[0], 1) == [0]
    assert frames_of(qm[0], 2) == [2] and frames_of(qm[0], 0) == []
    qm, _ = select_sparse_tokens(s[:, :1], depth=2)  # t = 1: K = 0, nothing selected
    assert not qm[0].any() and not qm[1].any()
    with pytest.raises(ValueError, match='num_selected'):
        select_sparse_tokens(s, depth=1, num_selected='most')


def official_selection(scores, depth):
    """The official loop (BSST.forward), in-place aliasing included."""
    win = scores.clone().unsqueeze(2)
    t = win.size(1)
    hard = torch.where(win > 0.3, torch.ones_like(win), torch.zeros_like(win))
    t_ind = [torch.arange(i, t, 2) for i in range(2)] * (depth // 2)
    qmasks, kvmasks = [], []
    for idx, idx_zero in zip(t_ind, t_ind[::-1]):
        mask = hard[:, idx].sum(1, keepdim=True).clip(0, 1)
        q_soft = win
        q_soft[:, idx_zero] = q_soft[:, idx_zero] * 0.
        q_idx = torch.argsort(q_soft, 1, True)
        kv_soft = 1 - win
        kv_soft[:, idx_zero] = kv_soft[:, idx_zero] * 0.
        kv_idx = torch.argsort(kv_soft, 1, True)
        qmasks.append((torch.zeros_like(win).scatter_(1, q_idx[:, :len(idx) // 2], 1) *
                       mask)[:, :, 0].bool())
        kvmasks.append((torch.zeros_like(win).scatter_(1, kv_idx[:, :len(idx) // 2], 1) *
                        mask)[:, :, 0].bool())
    return qmasks, kvmasks


def test_select_sparse_tokens_official_aliasing():
    s = make_scores()
    s[0, 1::2, 0, 1] = torch.tensor([0.9, 0.95, 0.5, 0.35])  # sharpest odd frames: 5, 7
    qa, kva = select_sparse_tokens(s, depth=4, official_aliasing=True)
    qo, kvo = official_selection(s, depth=4)
    assert all(torch.equal(a, b) for a, b in zip(qa + kva, qo + kvo))
    qc, kvc = select_sparse_tokens(s, depth=4)
    for layer in range(4):  # spatial masks unaffected
        assert torch.equal(qa[layer].any(1), qc[layer].any(1))
        assert torch.equal(kva[layer].any(1), kvc[layer].any(1))
    assert torch.equal(qa[0], qc[0]) and torch.equal(kva[0], kvc[0])  # first layer correct
    assert frames_of(kvc[1], 1) == [5, 7]
    assert not torch.equal(kva[1], kvc[1])  # second layer selects by ties, not sharpness
    assert not torch.equal(qa[1], qc[1])
    assert torch.equal(s, make_scores().index_put_(
        (torch.tensor([0]), torch.arange(1, 8, 2), torch.tensor([0]), torch.tensor([1])),
        torch.tensor([0.9, 0.95, 0.5, 0.35])))  # the caller's scores are not modified


def test_rolled_tokens_border_zero_padding():
    attn = SparseWindowAttention(4, 1, (4, 4), (2, 2))
    H, W = 8, 12  # 2 x 3 windows
    x = torch.arange(1, H * W + 1, dtype=torch.float).view(1, 1, H, W, 1).expand(1, 2, H, W, 4)
    rolled = attn.rolled_tokens(x)
    assert rolled.shape == (1, 2, 6, 4 * (16 - 4), 4)
    # official: roll with zero padding, partition into windows, keep valid_ind_rolled
    keeps = torch.stack(keep_masks(4, 4, 2, 2)).flatten()
    xk = x.permute(0, 1, 4, 2, 3)
    ref = []
    for dy, dx in [(-2, -2), (-2, 2), (2, -2), (2, 2)]:
        r = roll_zero(xk.permute(0, 1, 3, 4, 2), dy, dx)
        ref.append(r.view(1, 2, 2, 4, 3, 4, 4).permute(0, 1, 2, 4, 3, 5, 6).reshape(1, 2, 6, 16, 4))
    ref = torch.cat(ref, 3)[:, :, :, keeps]
    assert torch.equal(rolled, ref)
    zeros = (rolled[0, 0, :, :, 0] == 0).view(6, 4, 12).sum(-1)  # per window and direction
    assert zeros[0].tolist() == [0, 8, 8, 12]  # top-left corner: nothing above / left
    assert zeros[1].tolist() == [0, 0, 8, 8]  # top-middle: nothing above
    assert zeros[5].tolist() == [12, 8, 8, 0]  # bottom-right corner: nothing below / right
    assert zeros[4].tolist() == [8, 8, 0, 0]  # bottom-middle: nothing below


def run_attention(t, h, w, qmask, kvmask, group_size, seed=0):
    torch.manual_seed(seed)
    attn = randomise(SparseWindowAttention(8, 2, (4, 4), (2, 2))).double()
    x = torch.randn(2, t, h, w, 8, dtype=torch.double)
    out = attn(x, qmask, kvmask, group_size)
    ref = ref_attention(attn, x, qmask, kvmask, group_size)
    return out, ref


def test_dense_attention_equals_reference():
    t, h, w = 3, 8, 12
    scores = torch.rand(2, t, 2, 3)
    qm, kvm = select_sparse_tokens(scores, 1, threshold=None, num_selected='all',
                                   alternate=False)
    assert qm[0].all()
    out, ref = run_attention(t, h, w, qm[0], kvm[0], 1)
    assert torch.allclose(out, ref, atol=1e-5)


@pytest.mark.parametrize('official_aliasing', [False, True])
def test_sparse_attention_equals_official_semantics(official_aliasing):
    torch.manual_seed(3)
    t = 8
    scores = torch.rand(2, t, 2, 3) * 0.6
    scores[0, :, 0, 0] = 0.1  # an inactive window
    qms, kvms = select_sparse_tokens(scores, 2, official_aliasing=official_aliasing)
    for qm in qms:
        assert qm.any() and not qm.any(1).all()
    for qm, kvm in zip(qms, kvms):
        out, ref = run_attention(t, 8, 12, qm, kvm, t // 4)
        assert torch.allclose(out, ref, atol=1e-5)
    # ragged groups (6 or 8 unselected frames per window, groups of 3)
    out, ref = run_attention(t, 8, 12, qms[0], kvms[0], 3)
    assert torch.allclose(out, ref, atol=1e-5)


def test_non_multiple_grid_masks_padded_keys():
    torch.manual_seed(4)
    t, h, w = 4, 6, 10  # window 4: padded to 8 x 12
    scores = torch.rand(2, t, 2, 3)
    qms, kvms = select_sparse_tokens(scores, 2, threshold=0.5, num_selected=1)
    for qm, kvm in zip(qms, kvms):
        out, ref = run_attention(t, h, w, qm, kvm, 2)
        assert out.shape == (2, t, h, w, 8)
        assert torch.allclose(out, ref, atol=1e-5)
    # attending the padded (bias-only) keys, as the official does, gives something else
    torch.manual_seed(0)
    attn = randomise(SparseWindowAttention(8, 2, (4, 4), (2, 2))).double()
    x = torch.randn(2, t, h, w, 8, dtype=torch.double)
    xp = F.pad(x, (0, 0, 0, 2, 0, 2))
    out = attn(x, qms[0], kvms[0], 2)
    padded_attended = attn(xp, qms[0], kvms[0], 2)[:, :, :h, :w]
    assert not torch.allclose(out, padded_attended, atol=1e-3)


def test_model_sparse_and_dense_equal_reference():
    torch.manual_seed(5)
    n, t, c, h, w = 1, 3, 4, 16, 24  # 8 x 12 tokens, 2 x 3 windows
    feats = torch.randn(n, t, c, h, w, dtype=torch.double)
    blur = torch.rand(n, t, 1, h, w, dtype=torch.double)
    full = [torch.ones(n, t, 2, 3, dtype=torch.bool)] * 2
    ref = None
    for kwargs in (dict(sparse=False),
                   dict(threshold=None, num_selected='all', alternate=False)):
        model = randomise(small_model(**kwargs)).double()
        if ref is None:
            with torch.no_grad():
                ref = ref_model(model, feats, full, full, 1)
        with torch.no_grad():
            out = model(feats, None if kwargs.get('sparse') is False else blur)
        assert torch.allclose(out, ref, atol=1e-5)
    # the blur-selected configuration against the loop reference
    model = randomise(small_model(depth=2)).double()
    torch.manual_seed(6)
    t = 8
    feats = torch.randn(n, t, c, h, w, dtype=torch.double)
    blur = torch.rand(n, t, 1, h, w, dtype=torch.double) * 0.7
    qms, kvms = select_sparse_tokens(window_blur_scores(blur, window_size=(4, 4)), 2)
    with torch.no_grad():
        assert torch.allclose(model(feats, blur), ref_model(model, feats, qms, kvms, 2),
                              atol=1e-5)


def test_inconsistent_masks_raise():
    attn = SparseWindowAttention(8, 2, (4, 4), (2, 2))
    x = torch.randn(1, 4, 8, 8, 8)
    qm = torch.zeros(1, 4, 2, 2, dtype=torch.bool)
    kvm = torch.zeros_like(qm)
    qm[0, 0, 0, 0] = qm[0, 1, 0, 0] = True  # window 0: 2 query frames
    qm[0, 2, 1, 1] = True  # window 3: 1 query frame
    kvm[0, 3, 0, 0] = kvm[0, 3, 1, 1] = True
    with pytest.raises(ValueError, match='same number'):  # 2 vs 1 query frames
        attn(x, qm, kvm)
    qm[0, 3, 1, 1] = True  # both windows: 2 query frames
    kvm[0, 0, 0, 0] = True  # window 0: 2 KV frames, window 3: 1
    with pytest.raises(ValueError, match='same number'):
        attn(x, qm, kvm)
    kvm[:, :, 1, 1] = False  # window 3: no KV frame at all
    with pytest.raises(ValueError, match='non-zero'):
        attn(x, qm, kvm)
    kvm[0, 0, 1, 1] = kvm[0, 1, 1, 1] = True
    assert attn(x, qm, kvm).shape == x.shape
    with pytest.raises(ValueError, match='shape'):
        attn(x, qm[:, :, :1], kvm)


def test_input_validation():
    model = small_model()
    feats = torch.randn(1, 4, 4, 16, 16)
    blur = torch.rand(1, 4, 1, 16, 16)
    with pytest.raises(ValueError, match=r'\(n, t, 4, h, w\)'):
        model(feats[0], blur)
    with pytest.raises(ValueError, match='blur_map must have shape'):
        model(feats, blur[:, :3])
    with pytest.raises(ValueError, match='blur_map must have shape'):
        model(feats, torch.rand(1, 4, 2, 16, 16))
    with pytest.raises(ValueError, match='divisible by the soft-split stride'):
        model(torch.randn(1, 4, 4, 15, 16), torch.rand(1, 4, 1, 15, 16))
    with pytest.raises(ValueError, match='size 4 in dim 2'):
        model(torch.randn(1, 4, 3, 16, 16), blur)
    with pytest.raises(ValueError, match='at least 1 frame'):
        model(torch.randn(1, 0, 4, 16, 16), torch.rand(1, 0, 1, 16, 16))
    with pytest.raises(ValueError, match='blur_map is required'):
        model(feats, None)
    block = TemporalSparseTransformerBlock(16, 2, (4, 4), (2, 2), 2, ffn_hidden=50)
    with pytest.raises(ValueError, match='need 2 qmasks'):
        block(torch.randn(1, 4, 8, 8, 16), (16, 16), [None], [None])
