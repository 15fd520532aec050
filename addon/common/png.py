"""A small PNG codec in numpy + zlib (8-bit grey, RGB and RGBA; non-interlaced), so the dataset writer
inside Blender and the readers in training need neither Pillow nor OpenCV."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS_TO_TYPE = {1: 0, 3: 2, 4: 6}
_TYPE_TO_CHANNELS = {0: 1, 2: 3, 6: 4, 4: 2}


class PNGError(ValueError):
    """Not a PNG this codec reads."""


def encode_png(image: np.ndarray, level: int = 6) -> bytes:
    """(H, W), (H, W, 1|3|4) uint8 -> PNG bytes."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise PNGError(f"expected uint8 pixels, got {img.dtype}")
    if img.ndim == 2:
        img = img[:, :, None]
    h, w, c = img.shape
    if c not in _CHANNELS_TO_TYPE:
        raise PNGError(f"cannot write {c} channels")
    raw = np.zeros((h, 1 + w * c), dtype=np.uint8)  # filter byte 0 (None) per row
    raw[:, 1:] = img.reshape(h, w * c)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, _CHANNELS_TO_TYPE[c], 0, 0, 0)
    return _SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw.tobytes(), level)) \
        + chunk(b"IEND", b"")


def write_png(path: str | Path, image: np.ndarray, level: int = 6) -> None:
    Path(path).write_bytes(encode_png(image, level))


def _unfilter(data: np.ndarray, h: int, stride: int, bpp: int) -> np.ndarray:
    rows = data.reshape(h, 1 + stride)
    out = np.zeros((h, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(h):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 2:
            cur = (line + prev) & 0xFF
        else:  # Sub, Average and Paeth depend on the reconstructed left neighbour: go pixel by pixel
            cur = np.zeros(stride, dtype=np.int32)
            for x in range(stride):
                a = cur[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                if kind == 1:
                    pred = a
                elif kind == 3:
                    pred = (a + b) // 2
                elif kind == 4:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                else:
                    raise PNGError(f"unknown PNG filter type {kind}")
                cur[x] = (line[x] + pred) & 0xFF
        out[y] = cur
        prev = cur
    return out


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes -> (H, W, C) uint8 (8-bit, non-interlaced, no palette)."""
    if data[:8] != _SIGNATURE:
        raise PNGError("not a PNG file")
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if tag == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat.append(body)
        elif tag == b"IEND":
            break
        pos += 12 + length
    if header is None:
        raise PNGError("PNG without a header")
    w, h, depth, ctype, _, _, interlace = header
    if depth != 8 or interlace or ctype not in _TYPE_TO_CHANNELS:
        raise PNGError(f"unsupported PNG (bit depth {depth}, colour type {ctype}, interlace {interlace})")
    c = _TYPE_TO_CHANNELS[ctype]
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    return _unfilter(raw, h, w * c, c).reshape(h, w, c)


def read_png(path: str | Path) -> np.ndarray:
    return decode_png(Path(path).read_bytes())
