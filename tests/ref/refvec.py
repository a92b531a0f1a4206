"""refvec.py - writer for vidgen's reference-vector files (read by tests/ref.c).
Format (little endian): magic b'VGRF', u32 version=1, u32 count, then per tensor:
u32 name_len, name bytes, u32 ndim, ndim x i64 shape, f32 data (row-major)."""
import struct
import numpy as np


def write(path, tensors):
    with open(path, "wb") as f:
        f.write(b"VGRF")
        f.write(struct.pack("<II", 1, len(tensors)))
        for name, t in tensors.items():
            a = np.ascontiguousarray(np.asarray(t, dtype=np.float32))
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)))
            f.write(nb)
            f.write(struct.pack("<I", a.ndim))
            f.write(struct.pack("<%dq" % a.ndim, *a.shape))
            f.write(a.tobytes())
