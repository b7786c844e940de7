"""PNG images and image folders read without an image library, so that
no decoder is shared with cnnc: the oracles' own reading of the pixels."""

import struct
import zlib
from pathlib import Path

import numpy as np


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(path):
    """An 8-bit, non-interlaced PNG as an (H, W, C) uint8 array, decoded here
    (zlib and the five row filters) so that no image library is shared."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    width, height, depth, color, _, _, interlace = header
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(color)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"{path}: only 8-bit grey/RGB(A) non-interlaced PNGs are read here")
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], [0] * stride
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], list(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            predictor = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
            line[i] = (line[i] + predictor) & 0xFF
        rows.append(line)
        prev = line
    image = np.array(rows, dtype=np.uint8).reshape(height, width, channels)
    return image[:, :, : 3 if channels >= 3 else 1]


def read_split(test_dir, train_dir, channels):
    """Images (N, H, W, C) in [0, 1] and labels: a class is its index among
    the training folder's class folders, sorted by name."""
    names = sorted(p.name for p in Path(train_dir).iterdir() if p.is_dir())
    images, labels = [], []
    for folder in sorted(p for p in Path(test_dir).iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.png")):
            image = read_png(path)
            if image.shape[2] != channels:
                if image.shape[2] == 1 and channels == 3:
                    image = np.repeat(image, 3, axis=2)
                else:
                    raise ValueError(f"{path}: {image.shape[2]} channels; the oracle converts grey to RGB only")
            images.append(image)
            labels.append(names.index(folder.name))
    return np.stack(images).astype(np.float64) / 255.0, np.array(labels)
