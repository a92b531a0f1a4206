#!/usr/bin/python3
"""torch_model.py - the PyTorch yardstick for `make bench` (bench/bench_train.c): vidgen's model
(Wan2.1 DiT with the temporal window + the small umT5-style text encoder) and ONE training step of
vidgen's trainer, written the way one would in PyTorch 1.13 (CPU, fp32), then timed.
Follows src/model/dit.c (wan/modules/model.py), src/text/t5.c (wan/modules/t5.py) and
src/train/trainer.c (flow matching, x0 prediction, loss on v, AdamW, clipping, EMA).
Not part of the product. Legend: B batch, C channels, F frames, H W pixels, p patch, S = (H/p)(W/p)
tokens per frame, L = F*S tokens, D dim, T text_len, N text tokens, h heads, hd head dim.

  /usr/bin/python3 tests/ref/torch_model.py --config models/configs/default.train.json --steps 6 --threads 2
prints one JSON line: {"clips_per_s": .., "step_s": .., "params": .., ...} (median of the steps after
--warmup). Data: random clips in [-1,1] and random captions of the shape world's length (10 to 13
tokens, 1 when the caption is dropped); vidgen renders real shape clips (see the README (Performance)).
"""
import argparse
import json
import math
import statistics
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as Fn


# ------------------------------------------------------------------ text encoder (umT5-like)

class T5RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rel_bucket(rel, buckets, max_dist):
    """T5RelativeEmbedding._relative_position_bucket, bidirectional (vg_t5_rel_bucket)."""
    nb = buckets // 2
    base = (rel > 0).long() * nb
    a = rel.abs()
    max_exact = nb // 2
    large = max_exact + (torch.log(a.float().clamp(min=1) / max_exact) / math.log(max_dist / max_exact)
                         * (nb - max_exact)).long()
    large = large.clamp(max=nb - 1)
    return base + torch.where(a < max_exact, a, large)


class T5RelativeEmbedding(nn.Module):
    def __init__(self, buckets, heads, max_dist=128):
        super().__init__()
        self.buckets, self.max_dist = buckets, max_dist
        self.embedding = nn.Embedding(buckets, heads)

    def forward(self, n):
        pos = torch.arange(n)
        b = rel_bucket(pos[None, :] - pos[:, None], self.buckets, self.max_dist)  # [N(query), N(key)]
        return self.embedding(b).permute(2, 0, 1).unsqueeze(0)                   # [1, h, N, N]


class T5Attention(nn.Module):
    def __init__(self, dim, dim_attn, heads):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim_attn, bias=False)
        self.k = nn.Linear(dim, dim_attn, bias=False)
        self.v = nn.Linear(dim, dim_attn, bias=False)
        self.o = nn.Linear(dim_attn, dim, bias=False)

    def forward(self, x, bias):
        # x [B,N,D], bias [B or 1, h, N, N] (position bias + key padding mask); T5: no 1/sqrt(hd)
        B, N, _ = x.shape
        q, k, v = (f(x).view(B, N, self.heads, -1).transpose(1, 2) for f in (self.q, self.k, self.v))
        a = torch.softmax(q @ k.transpose(-1, -2) + bias, dim=-1)
        return self.o((a @ v).transpose(1, 2).reshape(B, N, -1))


class T5FeedForward(nn.Module):
    def __init__(self, dim, dim_ffn):
        super().__init__()
        self.gate = nn.Sequential(nn.Linear(dim, dim_ffn, bias=False), nn.GELU(approximate="tanh"))
        self.fc1 = nn.Linear(dim, dim_ffn, bias=False)
        self.fc2 = nn.Linear(dim_ffn, dim, bias=False)

    def forward(self, x):
        return self.fc2(self.fc1(x) * self.gate(x))


class T5Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm1 = T5RMSNorm(c["dim"])
        self.attn = T5Attention(c["dim"], c["dim_attn"], c["num_heads"])
        self.norm2 = T5RMSNorm(c["dim"])
        self.ffn = T5FeedForward(c["dim"], c["dim_ffn"])
        self.pos_embedding = T5RelativeEmbedding(c.get("num_buckets", 32), c["num_heads"])  # umT5: per layer

    def forward(self, x, mask_bias):
        x = x + self.attn(self.norm1(x), self.pos_embedding(x.shape[1]) + mask_bias)
        return x + self.ffn(self.norm2(x))


class T5Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.token_embedding = nn.Embedding(c["vocab"], c["dim"])
        self.blocks = nn.ModuleList(T5Block(c) for _ in range(c["num_layers"]))
        self.norm = T5RMSNorm(c["dim"])

    def forward(self, ids, mask):
        # ids, mask [B,T]; padded keys masked out; padded rows zeroed at the end as Wan pads
        mask_bias = ((1.0 - mask[:, None, None, :].float()) * -1e9)
        x = self.token_embedding(ids)
        for b in self.blocks:
            x = b(x, mask_bias)
        return self.norm(x) * mask[..., None]


# ------------------------------------------------------------------ DiT (Wan2.1 + temporal window)

def sinusoid(t, dim):
    """Wan's sinusoidal_embedding_1d (in float64): [cos(t w), sin(t w)], w_j = 10000^(-j/half)."""
    half = dim // 2
    a = t.double()[:, None] * torch.pow(10000.0, -torch.arange(half, dtype=torch.float64) / half)
    return torch.cat([torch.cos(a), torch.sin(a)], dim=1).float()


def rope_tables(F, Hg, Wg, hd, theta):
    """cos/sin [L, hd/2] of Wan's 3D RoPE: pairs [0,ct) time, then height, then width (src/ops/rope.c)."""
    c = hd // 2
    ch = c // 3
    ct = c - 2 * ch
    def freqs(n):
        return theta ** (-2.0 * torch.arange(n, dtype=torch.float64) / (2 * n))
    f, y, x = torch.meshgrid(torch.arange(F), torch.arange(Hg), torch.arange(Wg), indexing="ij")
    ang = torch.cat([f.reshape(-1, 1) * freqs(ct), y.reshape(-1, 1) * freqs(ch), x.reshape(-1, 1) * freqs(ch)], 1)
    return torch.cos(ang).float(), torch.sin(ang).float()


def rope_apply(x, cos, sin):
    """x [B,L,h,hd] with interleaved (re, im) pairs; cos/sin [L, hd/2]."""
    B, L, h, hd = x.shape
    x = x.reshape(B, L, h, hd // 2, 2)
    x0, x1 = x[..., 0], x[..., 1]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1).reshape(B, L, h, hd)


def window_attention(q, k, v, F, window):
    """q,k,v [B,h,L,hd], tokens frame-major. Each frame attends to frames within +-window:
    the key/value windows are gathered (pad frames, unfold), not a dense [L,L] mask."""
    B, h, L, hd = q.shape
    scale = 1.0 / math.sqrt(hd)
    if window < 0 or window >= F - 1:  # all frames (Wan's full attention)
        return torch.softmax(q @ k.transpose(-1, -2) * scale, dim=-1) @ v
    S, W = L // F, 2 * window + 1
    def gather(t):  # [B,h,F,S,hd] -> [B,h,F,W*S,hd]: frames f-window .. f+window (zeros outside)
        t = Fn.pad(t.reshape(B, h, F, S, hd), (0, 0, 0, 0, window, window))
        return t.unfold(2, W, 1).permute(0, 1, 2, 5, 3, 4).reshape(B, h, F, W * S, hd)
    fr = torch.arange(F)[:, None] - window + torch.arange(W)[None, :]               # [F, W] key frame
    bias = torch.where((fr >= 0) & (fr < F), 0.0, float("-inf"))
    bias = bias[:, None, :, None].expand(F, 1, W, S).reshape(F, 1, W * S)          # [F, 1, W*S]
    s = q.reshape(B, h, F, S, hd) @ gather(k).transpose(-1, -2) * scale + bias      # [B,h,F,S,W*S]
    return (torch.softmax(s, dim=-1) @ gather(v)).reshape(B, h, L, hd)


class WanRMSNorm(nn.Module):  # over all D channels (Wan's norm_q / norm_k)
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class SelfAttention(nn.Module):
    def __init__(self, dim, heads, eps):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.norm_q, self.norm_k = WanRMSNorm(dim, eps), WanRMSNorm(dim, eps)

    def forward(self, x, rope, F, window):
        B, L, D = x.shape
        h = self.heads
        q = rope_apply(self.norm_q(self.q(x)).view(B, L, h, -1), *rope).transpose(1, 2)
        k = rope_apply(self.norm_k(self.k(x)).view(B, L, h, -1), *rope).transpose(1, 2)
        v = self.v(x).view(B, L, h, -1).transpose(1, 2)
        return self.o(window_attention(q, k, v, F, window).transpose(1, 2).reshape(B, L, D))


class CrossAttention(nn.Module):
    def __init__(self, dim, heads, eps):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim) for _ in range(4))
        self.norm_q, self.norm_k = WanRMSNorm(dim, eps), WanRMSNorm(dim, eps)

    def forward(self, x, ctx):
        B, L, D = x.shape
        h = self.heads
        q = self.norm_q(self.q(x)).view(B, L, h, -1).transpose(1, 2)
        k = self.norm_k(self.k(ctx)).view(B, -1, h, D // h).transpose(1, 2)
        v = self.v(ctx).view(B, -1, h, D // h).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D // h), dim=-1)  # all T rows, as Wan
        return self.o((a @ v).transpose(1, 2).reshape(B, L, D))


class DiTBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, eps = c["dim"], c["eps"]
        self.norm1 = nn.LayerNorm(D, eps, elementwise_affine=False)
        self.self_attn = SelfAttention(D, c["num_heads"], eps)
        self.norm3 = nn.LayerNorm(D, eps, elementwise_affine=True)
        self.cross_attn = CrossAttention(D, c["num_heads"], eps)
        self.norm2 = nn.LayerNorm(D, eps, elementwise_affine=False)
        self.ffn = nn.Sequential(nn.Linear(D, c["ffn_dim"]), nn.GELU(approximate="tanh"), nn.Linear(c["ffn_dim"], D))
        self.modulation = nn.Parameter(torch.randn(1, 6, D) / D ** 0.5)

    def forward(self, x, e0, ctx, rope, F, window):
        e = (self.modulation + e0).chunk(6, dim=1)  # shift/scale/gate (attn), shift/scale/gate (ffn)
        x = x + self.self_attn(self.norm1(x) * (1 + e[1]) + e[0], rope, F, window) * e[2]
        x = x + self.cross_attn(self.norm3(x), ctx)
        return x + self.ffn(self.norm2(x) * (1 + e[4]) + e[3]) * e[5]


class Head(nn.Module):
    def __init__(self, D, out, eps):
        super().__init__()
        self.norm = nn.LayerNorm(D, eps, elementwise_affine=False)
        self.head = nn.Linear(D, out)
        self.modulation = nn.Parameter(torch.randn(1, 2, D) / D ** 0.5)

    def forward(self, x, e):
        e = (self.modulation + e[:, None, :]).chunk(2, dim=1)  # from e, not e0
        return self.head(self.norm(x) * (1 + e[1]) + e[0])


class DiT(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, p = c["dim"], c["patch_size"]
        self.c = c
        self.patch_embedding = nn.Conv3d(c["in_dim"], D, kernel_size=tuple(p), stride=tuple(p))
        self.text_embedding = nn.Sequential(nn.Linear(c["text_dim"], D), nn.GELU(approximate="tanh"), nn.Linear(D, D))
        self.time_embedding = nn.Sequential(nn.Linear(c["freq_dim"], D), nn.SiLU(), nn.Linear(D, D))
        self.time_projection = nn.Sequential(nn.SiLU(), nn.Linear(D, 6 * D))
        self.blocks = nn.ModuleList(DiTBlock(c) for _ in range(c["num_layers"]))
        self.head = Head(D, c["out_dim"] * p[1] * p[2], c["eps"])
        nn.init.zeros_(self.head.head.weight)  # Wan zero-inits the head
        self.rope = None

    def forward(self, x, t, ctx, window):
        # x [B,C,F,H,W], t [B] in 0..1000, ctx [B,T,text_dim] -> [B,C_out,F,H,W]
        B, C, F, H, W = x.shape
        p = self.c["patch_size"][1]
        Hg, Wg = H // p, W // p
        if self.rope is None or self.rope[0] != (F, Hg, Wg):
            hd = self.c["dim"] // self.c["num_heads"]
            self.rope = ((F, Hg, Wg), rope_tables(F, Hg, Wg, hd, self.c.get("rope_theta", 10000.0)))
        x = self.patch_embedding(x).flatten(2).transpose(1, 2)  # [B,L,D], tokens frame-major
        e = self.time_embedding(sinusoid(t, self.c["freq_dim"]))
        e0 = self.time_projection(e).unflatten(1, (6, -1))      # [B,6,D]
        ctx = self.text_embedding(ctx)
        for b in self.blocks:
            x = b(x, e0, ctx, self.rope[1], F, window)
        x = self.head(x, e)                                      # [B,L,p*p*C_out], c innermost
        Co = self.c["out_dim"]
        x = x.view(B, F, Hg, Wg, p, p, Co).permute(0, 6, 1, 2, 4, 3, 5)
        return x.reshape(B, Co, F, H, W)


class Model(nn.Module):
    def __init__(self, mc):
        super().__init__()
        self.dit = DiT(mc["dit"])
        self.text_encoder = T5Encoder(mc["text_encoder"])


def load_vidgen(model, path):
    """Weights of a vidgen model folder's model.safetensors (F32): DiT keys are Wan's names, text
    encoder keys carry "text_encoder.". Used once to check this model against vg_dit_forward."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    sd = {}
    for k, v in json.loads(raw[8:8 + n]).items():
        if k == "__metadata__":
            continue
        if v["dtype"] != "F32":
            raise SystemExit("torch_model.py: %s: '%s' is %s (only F32)" % (path, k, v["dtype"]))
        a, b = v["data_offsets"]
        t = torch.frombuffer(bytearray(raw[8 + n + a:8 + n + b]), dtype=torch.float32).view(v["shape"])
        sd[k if k.startswith("text_encoder.") else "dit." + k] = t
    model.load_state_dict(sd, strict=True)


# ------------------------------------------------------------------ one training step (src/train/trainer.c)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True, help="vidgen train config (its \"model\" object is the model)")
    ap.add_argument("--steps", type=int, default=6, help="timed steps after the warm-up")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--window", type=int, default=None, help="temporal window (default: the model's)")
    ap.add_argument("--weights", help="start from a vidgen model.safetensors (F32) instead of random weights")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = json.load(open(a.config))
    mc = cfg["model"]
    B, Fr, size = cfg.get("batch", 8), cfg.get("frames", 8), cfg.get("size", 32)
    shift, text_drop = cfg.get("flow_shift", 2.0), cfg.get("text_drop", 0.1)
    lr, warm = cfg.get("lr", 1e-3), cfg.get("warmup", 100)
    window = mc["dit"].get("window", 2) if a.window is None else a.window
    T, V = mc["dit"]["text_len"], mc["text_encoder"]["vocab"]

    model = Model(mc)
    if a.weights:
        load_vidgen(model, a.weights)
    params = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "modulation" not in n and "pos_embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "modulation" not in n and "pos_embedding" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.get("weight_decay", 0.01)},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.99), eps=1e-8)
    plist = list(model.parameters())
    ema = [p.detach().clone() for p in plist]

    times = []
    for step in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        # data: clips in [-1,1]; captions of 10..13 tokens (1 = "</s>" when dropped)
        x0 = torch.rand(B, 3, Fr, size, size) * 2 - 1
        n = torch.where(torch.rand(B) < text_drop, 1, torch.randint(10, 14, (B,)))
        mask = (torch.arange(T)[None, :] < n[:, None]).long()
        ids = torch.randint(3, V, (B, T)) * mask
        # flow matching: s = shift(sigmoid(N(0,1))), x_s = (1-s) x0 + s eps
        s = torch.sigmoid(torch.randn(B))
        s = shift * s / (1 + (shift - 1) * s)
        sv = s.view(B, 1, 1, 1, 1)
        eps = torch.randn_like(x0)
        xt = (1 - sv) * x0 + sv * eps
        ctx = model.text_encoder(ids, mask)
        pred = model.dit(xt, 1000 * s, ctx, window)                    # x0 prediction
        v_pred = (xt - pred) / sv.clamp(min=0.05)
        loss = Fn.mse_loss(v_pred, eps - x0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(plist, cfg.get("grad_clip", 1.0))
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / max(warm, 1))
        opt.step()
        with torch.no_grad():
            d = min(cfg.get("ema", 0.995), (1.0 + step) / (10.0 + step))
            torch._foreach_mul_(ema, d)
            torch._foreach_add_(ema, plist, alpha=1 - d)
        if not math.isfinite(loss.item()):
            raise SystemExit("torch_model.py: loss is not finite")
        if step >= a.warmup:
            times.append(time.perf_counter() - t0)

    step_s = statistics.median(times)
    print(json.dumps({"clips_per_s": B / step_s, "step_s": step_s, "params": params, "batch": B,
                      "frames": Fr, "size": size, "window": window, "threads": a.threads,
                      "steps": len(times), "mean_step_s": sum(times) / len(times), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
