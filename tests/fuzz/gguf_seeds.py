#!/usr/bin/env python3
"""gguf_seeds.py - writes the seed corpus of fuzz_gguf (tests/fuzz/corpus/gguf/): tiny valid GGUF
files, versions 2 and 3, every metadata value type (nested arrays too), the tensor types vidgen
reads, the layouts wan_gguf.c maps (ComfyUI orig_shape, sd.cpp folds, llama.cpp umT5 names) and
general.alignment 1 (unaligned tensors copied to the side buffer). Deterministic; run from the
repository root: python3 tests/fuzz/gguf_seeds.py"""
import os, random, struct

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f", BOOL: "<?",
          U64: "<Q", I64: "<q", F64: "<d"}
# ggml type id: (elements per block, bytes per block)
TYPES = {"F32": (0, 1, 4), "F16": (1, 1, 2), "BF16": (30, 1, 2), "Q4_0": (2, 32, 18), "Q4_1": (3, 32, 20),
         "Q5_0": (6, 32, 22), "Q5_1": (7, 32, 24), "Q8_0": (8, 32, 34), "Q2_K": (10, 256, 84),
         "Q3_K": (11, 256, 110), "Q4_K": (12, 256, 144), "Q5_K": (13, 256, 176), "Q6_K": (14, 256, 210)}


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def value(t, v):
    """v for ARR is (elem_type, [values])."""
    if t == STR:
        return gstr(v)
    if t == ARR:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(value(et, x) for x in items)
    return struct.pack(SCALAR[t], v)


def data_of(typ, numel, rng):
    tid, blk, bb = TYPES[typ]
    if typ == "F32":
        return b"".join(struct.pack("<f", rng.uniform(-2, 2)) for _ in range(numel))
    if typ == "F16":
        return b"".join(struct.pack("<e", rng.uniform(-2, 2)) for _ in range(numel))
    if typ == "BF16":
        return b"".join(struct.pack("<f", rng.uniform(-2, 2))[2:] for _ in range(numel))
    out = bytearray()
    for _ in range(numel // blk):
        b = bytearray(rng.getrandbits(8) for _ in range(bb))
        # keep the f16 scales finite and small: d (and dmin) sit first in the 32-blocks, last for Q6_K / Q3_K
        if blk == 32:
            b[0:2] = struct.pack("<e", 0.01)
            if typ in ("Q4_1", "Q5_1"):
                b[2:4] = struct.pack("<e", -0.02)
        elif typ in ("Q3_K", "Q6_K"):
            b[-2:] = struct.pack("<e", 0.01)
        else:  # Q2_K, Q4_K, Q5_K: d, dmin (Q2_K after the 16+64 bytes of scales and quants)
            at = 80 if typ == "Q2_K" else 0
            b[at:at + 4] = struct.pack("<ee", 0.01, 0.005)
        out += b
    return bytes(out)


def gguf(version, kvs, tensors, align=32, rng=None):
    """kvs: [(key, type, value)], tensors: [(name, type, torch shape)]."""
    rng = rng or random.Random(1)
    if align != 32:
        kvs = kvs + [("general.alignment", U32, align)]
    h = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k, t, v in kvs:
        h += gstr(k) + struct.pack("<I", t) + value(t, v)
    blobs, off = [], 0
    for name, typ, shape in tensors:
        numel = 1
        for d in shape:
            numel *= d
        blob = data_of(typ, numel, rng)
        h += gstr(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in reversed(shape))
        h += struct.pack("<IQ", TYPES[typ][0], off)
        blobs.append(blob)
        off += (len(blob) + align - 1) // align * align
    h += b"\0" * ((-len(h)) % align)
    body = b""
    for b in blobs:
        body += b + b"\0" * ((-len(b)) % align)
    return h + body


def main():
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "gguf")
    os.makedirs(d, exist_ok=True)
    every = [("general.architecture", STR, "wan"), ("u8", U8, 7), ("i8", I8, -7), ("u16", U16, 65000),
             ("i16", I16, -300), ("u32", U32, 4000000000), ("i32", I32, -5), ("f32", F32, 0.5),
             ("bool", BOOL, True), ("u64", U64, 2**63 + 5), ("i64", I64, -2**40), ("f64", F64, -1.25),
             ("ints", ARR, (I32, [1, -2, 3])), ("names", ARR, (STR, ["a", "bc", ""])),
             ("nested", ARR, (ARR, [(U8, [1, 2]), (STR, ["x"]), (ARR, [(F32, [1.0])])])),
             ("empty", ARR, (U64, []))]
    seeds = {
        "v3_meta_plain": gguf(3, every, [("w", "F32", [2, 3]), ("h", "F16", [4]), ("b", "BF16", [1, 2, 2])]),
        "v2_quant32": gguf(2, [("general.name", STR, "q")],
                           [("a.weight", "Q8_0", [2, 32]), ("b.weight", "Q4_0", [1, 32]), ("c.weight", "Q4_1", [32]),
                            ("d.weight", "Q5_0", [1, 1, 32]), ("e.weight", "Q5_1", [2, 32])], align=16),
        "v3_kquant": gguf(3, [], [("k2", "Q2_K", [256]), ("k3", "Q3_K", [1, 256]), ("k4", "Q4_K", [256]),
                                  ("k5", "Q5_K", [256]), ("k6", "Q6_K", [1, 256])]),
        "v3_comfy": gguf(3, [("comfy.gguf.orig_shape.blocks.0.self_attn.q.weight", ARR, (I32, [2, 16])),
                             ("comfy.gguf.orig_shape.head.modulation", ARR, (I32, [1, 2, 16]))],
                         [("blocks.0.self_attn.q.weight", "Q8_0", [32]), ("head.modulation", "F32", [32]),
                          ("blocks.0.modulation", "Q8_0", [6, 32]), ("blocks.0.norm3.bias", "Q8_0", [32])]),
        "v3_sdcpp": gguf(3, [], [("model.diffusion_model.patch_embedding.weight", "F16", [4, 1, 2, 2]),
                                 ("model.diffusion_model.patch_embedding.bias", "F32", [2]),
                                 ("model.diffusion_model.head.modulation", "F32", [2, 8])]),
        "v3_llama_t5": gguf(3, [("general.architecture", STR, "t5encoder")],
                            [("token_embd.weight", "Q8_0", [3, 32]), ("enc.blk.0.attn_q.weight", "F16", [2, 2]),
                             ("enc.blk.0.attn_rel_b.weight", "Q8_0", [1, 32]), ("enc.output_norm.weight", "F32", [2])]),
        "v2_align1": gguf(2, [], [("x", "F16", [3]), ("y", "F32", [3]), ("z", "Q8_0", [32])], align=1),
        "v3_empty": gguf(3, [("only.meta", STR, "no tensors")], []),
    }
    for name, b in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(b)
        print(f"{name}: {len(b)} bytes")


if __name__ == "__main__":
    main()
