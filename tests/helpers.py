"""Closeness helpers and fixtures in the official MANO file format (which cannot be shipped)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from py2_pickle import chumpy_array, csc_matrix, py2_dumps

from addon.common.hand_model import REQUIRED_SHAPES, HandModel

ROOT = Path(__file__).resolve().parent.parent


def assert_close(actual, expected, atol: float, what: str = "arrays") -> None:
    """Fail with the worst entry's index and both values, not just 'not close'."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    err = np.abs(actual - expected)
    worst = np.unravel_index(np.argmax(err), err.shape) if err.size else ()
    assert err.size == 0 or err.max() <= atol, (
        f"{what}: max error {err.max():.3g} > {atol:.3g} at {worst}: {actual[worst]} vs {expected[worst]}"
    )


def pose(model: HandModel, full, betas=None):
    """numpy MANO skinning of ``model`` at poses (N, 48) (and betas (N, 10), zero by default)."""
    from addon.common.lbs import lbs

    full = np.atleast_2d(full)
    b = np.zeros((len(full), 10)) if betas is None else np.atleast_2d(betas)
    return lbs(b, full, model.v_template, model.shapedirs, model.posedirs, model.J_regressor, model.parents,
               model.weights)


def assert_same_hand_file(actual: Path, expected: Path, atol: float = 1e-9) -> None:
    """Two MANO-format files hold the same hand: every float array equal within ``atol`` (float results differ
    in the last bit between CPUs; 1e-9 m is a nanometre), integer arrays (faces, tree), strings and keys
    exactly."""
    from addon.common.hand_model import read_mano_pickle

    a, b = read_mano_pickle(Path(actual).read_bytes()), read_mano_pickle(Path(expected).read_bytes())
    assert sorted(a) == sorted(b), f"keys differ: {sorted(set(a) ^ set(b))}"
    for key in b:
        x, y = a[key], b[key]
        if isinstance(y, np.ndarray) and np.issubdtype(y.dtype, np.floating):
            assert_close(x, y, atol, key)
        elif isinstance(y, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), f"{key} differs"
        else:
            assert x == y, f"{key} differs: {x!r} vs {y!r}"


def assert_same_texture(actual: Path, expected: Path) -> None:
    """Same image: no texel more than one 8-bit level apart (a float rounding at .5), and at most 0.1% apart."""
    from addon.common.png import decode_png

    a, b = (decode_png(Path(p).read_bytes()).astype(np.int16) for p in (actual, expected))
    assert a.shape == b.shape, f"texture size {a.shape} != {b.shape}"
    diff = np.abs(a - b)
    assert diff.max() <= 1 and (diff > 0).mean() <= 1e-3, \
        f"texture differs: {(diff > 0).mean():.2%} of texels, by up to {diff.max()} levels"


def write_official_format(model: HandModel, path: Path, left_sign_bug: bool = False,
                          chumpy_keys: Sequence[str] = ("shapedirs",), extra: Optional[dict] = None) -> Path:
    """Write ``model`` with the structure of the official ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl``: a Python 2.7
    protocol-2 pickle (see ``py2_pickle``) of the official keys, ``chumpy.ch.Ch`` arrays for ``chumpy_keys``,
    ``J_regressor`` as a ``scipy.sparse.csc.csc_matrix``, faces as uint32 and MANO's unsigned root parent
    (4294967295) in ``kintree_table``. ``left_sign_bug`` reproduces the official left file's flipped
    ``shapedirs[:, 0, :]``."""
    arrays = {k: np.asarray(getattr(model, k)) for k in REQUIRED_SHAPES}
    if left_sign_bug:
        arrays["shapedirs"] = arrays["shapedirs"].copy()
        arrays["shapedirs"][:, 0, :] *= -1.0
    kintree = arrays["kintree_table"].astype(np.int64)
    kintree[0, 0] = 4294967295
    data = {
        "hands_components": arrays["hands_components"], "f": arrays["f"].astype(np.uint32),
        "J_regressor": csc_matrix(arrays["J_regressor"]), "kintree_table": kintree,
        "J": arrays["J_regressor"] @ arrays["v_template"], "bs_style": "lbs",
        "hands_coeffs": np.random.default_rng(0).normal(0.0, 0.5, (1554, 45)), "weights": arrays["weights"],
        "posedirs": arrays["posedirs"], "hands_mean": arrays["hands_mean"], "v_template": arrays["v_template"],
        "shapedirs": arrays["shapedirs"], "bs_type": "lrotmin",
    }
    for key in chumpy_keys:
        data[key] = chumpy_array(data[key])
    data.update(extra or {})
    Path(path).write_bytes(py2_dumps(data))
    return Path(path)


# ------------------------------------------------------------------------------------------- footage faults

_MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf"}


def _mp4_boxes(data: bytes, start: int, end: int):
    """(type, offset, size, header size) of the ISO-BMFF boxes in data[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, kind = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8]
        header = 8
        if size == 1:
            size, header = int.from_bytes(data[pos + 8:pos + 16], "big"), 16
        elif size == 0:
            size = end - pos
        yield kind, pos, size, header
        pos += size


def _shift_chunk_offsets(moov: bytearray, start: int, end: int, shift: int) -> None:
    for kind, pos, size, header in _mp4_boxes(bytes(moov), start, end):
        if kind in _MP4_CONTAINERS:
            _shift_chunk_offsets(moov, pos + header, pos + size, shift)
        elif kind in (b"stco", b"co64"):
            width = 4 if kind == b"stco" else 8
            count = int.from_bytes(moov[pos + header + 4:pos + header + 8], "big")
            for i in range(count):
                at = pos + header + 8 + i * width
                value = int.from_bytes(moov[at:at + width], "big") + shift
                moov[at:at + width] = value.to_bytes(width, "big")


def cut_faststart_mp4(source: Path, target: Path, keep: float) -> Path:
    """An MP4 cut short the way an interrupted download of a web ("fast start") file is: the index (moov)
    moved in front of the media data, as ``ffmpeg -movflags faststart`` writes it, then only the first
    ``keep`` fraction of the media data kept. Players still read the header's full frame count."""
    data = Path(source).read_bytes()
    boxes = list(_mp4_boxes(data, 0, len(data)))
    kinds = [b[0] for b in boxes]
    assert kinds[0] == b"ftyp" and b"moov" in kinds and b"mdat" in kinds, kinds
    _, mpos, msize, _ = boxes[kinds.index(b"moov")]
    moov = bytearray(data[mpos:mpos + msize])
    _shift_chunk_offsets(moov, 8, len(moov), msize)  # everything after ftyp moves back by the moov's size
    _, fpos, fsize, _ = boxes[0]
    rest = b"".join(data[p:p + s] for k, p, s, _ in boxes[1:] if k != b"moov")
    whole = data[fpos:fpos + fsize] + bytes(moov) + rest
    _, dpos, dsize, dheader = next(b for b in _mp4_boxes(whole, 0, len(whole)) if b[0] == b"mdat")
    Path(target).write_bytes(whole[:dpos + dheader + int((dsize - dheader) * keep)])
    return Path(target)
