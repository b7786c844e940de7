"""`safetensors.torch.load_file` for the stand-in: the format is 8 bytes of
header length, a JSON header of dtype, shape and offsets, then the data."""
import json
import struct

import numpy as np

from torch import tensor


def load_file(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", info
        start, end = info["data_offsets"]
        values = np.frombuffer(data[start:end], dtype="<f4").reshape(info["shape"])
        out[name] = tensor(values)
    return out
