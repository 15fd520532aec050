"""Closeness helpers and fixtures in the official MANO file format (which cannot be shipped)."""
from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path
from typing import Optional

import numpy as np

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


def _fake_module(name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name)
    for k, v in attrs.items():
        v.__module__ = name
        setattr(mod, k, v)
    return mod


class Ch:  # a chumpy leaf array, as pickled by chumpy (state holds the array under 'x')
    def __init__(self, x):
        self.x = np.asarray(x)
        self._cache = {}


def write_official_format(model: HandModel, path: Path, left_sign_bug: bool = False,
                          extra: Optional[dict] = None) -> Path:
    """Write ``model`` the way official MANO pickles are laid out: chumpy arrays for the blend shapes,
    a scipy CSC ``J_regressor``, protocol 2 with Python-2 module names. ``left_sign_bug`` reproduces the
    official left file's flipped ``shapedirs[:, 0, :]``."""
    import scipy.sparse

    arrays = {k: getattr(model, k) for k in REQUIRED_SHAPES}
    shapedirs = arrays["shapedirs"].copy()
    if left_sign_bug:
        shapedirs[:, 0, :] *= -1.0
    data = dict(arrays)
    data["shapedirs"] = Ch(shapedirs)
    data["posedirs"] = Ch(arrays["posedirs"])
    data["J_regressor"] = scipy.sparse.csc_matrix(arrays["J_regressor"])
    data["bs_style"] = "lbs"
    data["bs_type"] = "lrotmin"
    data.update(extra or {})
    saved = {k: sys.modules.get(k) for k in ("chumpy", "chumpy.ch")}
    sys.modules["chumpy"] = _fake_module("chumpy")
    sys.modules["chumpy.ch"] = _fake_module("chumpy.ch", Ch=Ch)
    try:
        with open(path, "wb") as fh:
            pickle.dump(data, fh, protocol=2)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return path
