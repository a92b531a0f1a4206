"""gen_attn.py - PyTorch reference vectors for vidgen's attention (tests/test_attn.c).
Run with Debian's python3-torch:  /usr/bin/python3 tests/ref/gen_attn.py  -> tests/ref/attn.bin
(format: tests/ref/refvec.py). Two cases, computed in float64 from float32 inputs:
  win:   self-attention over F=4 frames of S=6 tokens, window 1, the mask built here
         from frame indices (|f_q - f_k| <= window), H=2 heads of hd=16;
  cross: cross-attention Lq=10 queries, Lk=13 keys, H=2, hd=32, no mask.
Per case: <c>.shape = [Lq, Lk, H, hd, S, window, scale], q, k, v [L, H*hd], out, lse [H, Lq],
dout (a random upstream gradient) and dq, dk, dv = gradients of sum(dout * out)."""
import math
import os
import torch
import refvec

torch.manual_seed(20240611)
T = {}


def case(name, Lq, Lk, H, hd, S, window):
    scale = 1.0 / math.sqrt(hd)
    q = torch.randn(Lq, H * hd)
    k = torch.randn(Lk, H * hd)
    v = torch.randn(Lk, H * hd)
    dout = torch.randn(Lq, H * hd)
    qd, kd, vd = (t.double().requires_grad_(True) for t in (q, k, v))
    # [L, H*hd] -> [H, L, hd]
    qh = qd.view(Lq, H, hd).transpose(0, 1)
    kh = kd.view(Lk, H, hd).transpose(0, 1)
    vh = vd.view(Lk, H, hd).transpose(0, 1)
    sc = torch.matmul(qh, kh.transpose(1, 2)) * scale          # [H, Lq, Lk]
    if window >= 0:
        fq = torch.arange(Lq) // S
        fk = torch.arange(Lk) // S
        mask = (fq[:, None] - fk[None, :]).abs() <= window       # [Lq, Lk]
        sc = sc.masked_fill(~mask, float("-inf"))
    lse = torch.logsumexp(sc, dim=-1)                            # [H, Lq]
    out = torch.matmul(torch.softmax(sc, dim=-1), vh)            # [H, Lq, hd]
    out = out.transpose(0, 1).reshape(Lq, H * hd)
    (out * dout.double()).sum().backward()
    T[f"{name}.shape"] = torch.tensor([Lq, Lk, H, hd, S, window, scale])
    for n, t in (("q", q), ("k", k), ("v", v), ("out", out), ("lse", lse), ("dout", dout),
                 ("dq", qd.grad), ("dk", kd.grad), ("dv", vd.grad)):
        T[f"{name}.{n}"] = t.detach().float()


case("win", 24, 24, 2, 16, 6, 1)
case("cross", 10, 13, 2, 32, 1, -1)
refvec.write(os.path.join(os.path.dirname(os.path.abspath(__file__)), "attn.bin"), T)
