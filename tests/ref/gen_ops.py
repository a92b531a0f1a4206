"""gen_ops.py - PyTorch reference vectors for vidgen's elementwise/row kernels (tests/test_ops.c).
Run with Debian's python3-torch:  /usr/bin/python3 tests/ref/gen_ops.py  -> tests/ref/ops.bin
Each op: inputs, output, and gradients of L = sum(r * y) for a fixed random r."""
import os
import torch
import refvec

torch.manual_seed(1234)
T = {}


def grads(name, fn, inputs, params=()):
    xs = [x.clone().requires_grad_(True) for x in inputs]
    ps = [p.clone().requires_grad_(True) for p in params]
    y = fn(*xs, *ps)
    r = torch.randn_like(y)
    (y * r).sum().backward()
    for i, x in enumerate(inputs):
        T[f"{name}.in{i}"] = x
        T[f"{name}.din{i}"] = xs[i].grad
    for i, p in enumerate(params):
        T[f"{name}.p{i}"] = p
        T[f"{name}.dp{i}"] = ps[i].grad
    T[f"{name}.out"] = y.detach()
    T[f"{name}.r"] = r


N, D = 7, 33
x = torch.randn(N, D) * 2 + 0.5
w = torch.randn(D)
b = torch.randn(D)
grads("layernorm_affine", lambda x, w, b: torch.nn.functional.layer_norm(x, (D,), w, b, 1e-6), [x], [w, b])
grads("layernorm", lambda x: torch.nn.functional.layer_norm(x, (D,), None, None, 1e-6), [x])
grads("rmsnorm", lambda x, w: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w, [x], [w])
grads("gelu_tanh", lambda x: torch.nn.functional.gelu(x, approximate="tanh"), [x])
grads("silu", lambda x: torch.nn.functional.silu(x), [x])
grads("softmax", lambda x: torch.softmax(x, -1), [x])
sh, sc = torch.randn(D), torch.randn(D) * 0.3
grads("modulate", lambda x, sh, sc: x * (1 + sc) + sh, [x], [sh, sc])

# Wan rope_apply on a grid (F,Hg,Wg)=(3,2,4), H=2 heads of hd=32 (pairs 6/5/5), theta 1e4.
F, Hg, Wg, H, hd = 3, 2, 4, 2, 32
c = hd // 2
ch = c // 3
ct = c - 2 * ch


def rope_params(n, dim, theta=10000.0):
    f = torch.outer(torch.arange(n), 1.0 / torch.pow(theta, torch.arange(0, dim, 2).to(torch.float64).div(dim)))
    return torch.polar(torch.ones_like(f), f)


freqs = torch.cat([rope_params(64, 2 * ct), rope_params(64, 2 * ch), rope_params(64, 2 * ch)], dim=1)


def rope(x):
    L = F * Hg * Wg
    xc = torch.view_as_complex(x.to(torch.float64).reshape(L, H, c, 2))
    ft, fh, fw = freqs.split([ct, ch, ch], dim=1)
    fr = torch.cat([ft[:F].view(F, 1, 1, -1).expand(F, Hg, Wg, -1),
                    fh[:Hg].view(1, Hg, 1, -1).expand(F, Hg, Wg, -1),
                    fw[:Wg].view(1, 1, Wg, -1).expand(F, Hg, Wg, -1)], dim=-1).reshape(L, 1, -1)
    return torch.view_as_real(xc * fr).flatten(1).float()


xr = torch.randn(F * Hg * Wg, H * hd)
grads("rope3d", rope, [xr])

# Linear y = x W^T + b (vg_matmul_nt) and its grads (vg_matmul_nn for dx, vg_matmul_tn for dW)
xm = torch.randn(7, 33)
Wm = torch.randn(5, 33)
bm = torch.randn(5)
grads("linear", lambda x, W, b: torch.nn.functional.linear(x, W, b), [xm], [Wm, bm])

# patchify: clip [C,F,H,W] -> tokens [F*Hg*Wg, C*ph*pw]; feature order (c,q,r) as the flattened
# Conv3d weight, and (q,r,c) as Wan's unpatchify
C, Fr, Hh, Ww, ph, pw = 3, 2, 6, 10, 2, 2
xc = torch.randn(C, Fr, Hh, Ww)
t6 = xc.reshape(C, Fr, Hh // ph, ph, Ww // pw, pw)           # c f hi q wi r
T["patchify.in"] = xc
T["patchify.cqr"] = t6.permute(1, 2, 4, 0, 3, 5).reshape(Fr * (Hh // ph) * (Ww // pw), C * ph * pw)
T["patchify.qrc"] = t6.permute(1, 2, 4, 3, 5, 0).reshape(Fr * (Hh // ph) * (Ww // pw), C * ph * pw)
# the Conv3d (kernel = stride = patch) equals the GEMM on cqr tokens
wconv = torch.randn(4, C, 1, ph, pw)
T["patchify.conv_w"] = wconv
T["patchify.conv_out"] = torch.nn.functional.conv3d(xc[None], wconv, stride=(1, ph, pw))[0].permute(1, 2, 3, 0).reshape(-1, 4)

refvec.write(os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops.bin"), T)
print("wrote ops.bin with", len(T), "tensors")
