#!/usr/bin/python3
# gen_t5.py - writes tests/ref/t5_small.bin: a tiny umT5 encoder (written here in plain
# torch from WAN.md section 2, float64), its output for one id sequence and the gradients of
# L = sum(r * out) for every weight. Run with Debian's /usr/bin/python3 (torch 1.13):
#   /usr/bin/python3 tests/ref/gen_t5.py
# Layout (little-endian): "VGT5" u32 version=1; i32 vocab, dim, dim_attn, ffn, heads, layers,
# buckets, max_dist, n_tok; f32 eps; f32 params[P] (vidgen's flat order = official state_dict
# order); i32 ids[n]; f32 r[n*dim]; f32 out[n*dim]; f32 grads[P].
import math, os, struct
import torch

torch.manual_seed(1234)
V, D, A, F, H, LAYERS, B, MAXD, N = 20, 16, 16, 24, 4, 2, 32, 128, 20
EPS = 1e-6
hd = A // H
dt = torch.float64

def bucket(rel):
    # bidirectional T5 bucket, log branch in float32 like the official code
    nb = B // 2
    max_exact = nb // 2
    out = (rel > 0).long() * nb
    a = rel.abs()
    large = max_exact + (torch.log(a.float() / max_exact) / math.log(MAXD / max_exact)
                         * (nb - max_exact)).long()
    large = torch.clamp(large, max=nb - 1)
    return out + torch.where(a < max_exact, a, large)

# parameters in official key order
names, params = [], []
def p(name, *shape, std=1.0, ones=False):
    t = torch.ones(*shape, dtype=dt) if ones else torch.randn(*shape, dtype=dt) * std
    # perturb norm weights away from 1 so their gradients are exercised
    if ones:
        t = t + 0.2 * torch.randn(*shape, dtype=dt)
    t = t.float().double()  # the stored f32 values are exactly what was computed with
    t.requires_grad_(True)
    names.append(name); params.append(t)
    return t

emb = p("token_embedding.weight", V, D)
blocks = []
for i in range(LAYERS):
    b = {}
    b["norm1"] = p(f"blocks.{i}.norm1.weight", D, ones=True)
    b["q"] = p(f"blocks.{i}.attn.q.weight", A, D, std=D ** -0.5)
    b["k"] = p(f"blocks.{i}.attn.k.weight", A, D, std=D ** -0.5)
    b["v"] = p(f"blocks.{i}.attn.v.weight", A, D, std=D ** -0.5)
    b["o"] = p(f"blocks.{i}.attn.o.weight", D, A, std=A ** -0.5)
    b["norm2"] = p(f"blocks.{i}.norm2.weight", D, ones=True)
    b["gate"] = p(f"blocks.{i}.ffn.gate.0.weight", F, D, std=D ** -0.5)
    b["fc1"] = p(f"blocks.{i}.ffn.fc1.weight", F, D, std=D ** -0.5)
    b["fc2"] = p(f"blocks.{i}.ffn.fc2.weight", D, F, std=F ** -0.5)
    b["pos"] = p(f"blocks.{i}.pos_embedding.embedding.weight", B, H, std=0.5)
    blocks.append(b)
norm = p("norm.weight", D, ones=True)

def rms(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * w

def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))

ids = torch.randint(0, V, (N,))
ids[5] = ids[2]  # a repeated id: its embedding gradient is a sum
pos = torch.arange(N)
bk = bucket(pos.unsqueeze(0) - pos.unsqueeze(1))  # [q, k]: rel = k - q

x = emb[ids]
for b in blocks:
    a = rms(x, b["norm1"])
    q = (a @ b["q"].t()).view(N, H, hd)
    k = (a @ b["k"].t()).view(N, H, hd)
    v = (a @ b["v"].t()).view(N, H, hd)
    logits = torch.einsum("inc,jnc->nij", q, k) + b["pos"][bk].permute(2, 0, 1)
    att = torch.softmax(logits, dim=-1)
    o = torch.einsum("nij,jnc->inc", att, v).reshape(N, A)
    x = x + o @ b["o"].t()
    a = rms(x, b["norm2"])
    x = x + (gelu_tanh(a @ b["gate"].t()) * (a @ b["fc1"].t())) @ b["fc2"].t()
out = rms(x, norm)
r = torch.randn(N, D, dtype=dt).float().double()
(out * r).sum().backward()

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "t5_small.bin")
with open(path, "wb") as f:
    f.write(b"VGT5" + struct.pack("<I", 1))
    f.write(struct.pack("<9i", V, D, A, F, H, LAYERS, B, MAXD, N))
    f.write(struct.pack("<f", EPS))
    def wf(t):
        f.write(t.detach().to(torch.float32).contiguous().numpy().tobytes())
    for t in params: wf(t.reshape(-1))
    f.write(ids.to(torch.int32).numpy().tobytes())
    wf(r.reshape(-1)); wf(out.reshape(-1))
    for t in params: wf(t.grad.reshape(-1))
print(path, os.path.getsize(path), "bytes;", sum(t.numel() for t in params), "params")
