"""MANO-format hand model files: the shipped open hand and official ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl``.

Official files are Python-2 pickles holding chumpy arrays (whose pickled state also holds a ``set`` and
``None``) and a scipy-sparse ``J_regressor``. A pickle can run arbitrary code, so they are read with
:class:`SafeManoUnpickler`, whose allow-list admits only the numpy, chumpy and scipy classes and the
container builtins such files contain, and turns chumpy / sparse objects into plain arrays (neither chumpy
nor scipy is needed, and neither is imported).
"""
from __future__ import annotations

import io
import os
import pickle
import pickletools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from .joints import MANO_PARENTS, TIP_VERTEX_IDS

N_VERTS, N_FACES, N_JOINTS, N_BETAS, N_POSE_BASIS = 778, 1538, 16, 10, 135

# Keys every MANO-format file must hold, with the shape each must have.
REQUIRED_SHAPES: Dict[str, tuple] = {
    "v_template": (N_VERTS, 3),
    "f": (N_FACES, 3),
    "shapedirs": (N_VERTS, 3, N_BETAS),
    "posedirs": (N_VERTS, 3, N_POSE_BASIS),
    "J_regressor": (N_JOINTS, N_VERTS),
    "weights": (N_VERTS, N_JOINTS),
    "kintree_table": (2, N_JOINTS),
    "hands_components": (45, 45),
    "hands_mean": (45,),
}
OPTIONAL_SHAPES: Dict[str, tuple] = {"vt": (None, 2), "ft": (N_FACES, 3)}
OPEN_HAND_MARKER = "open_hand_version"

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
OPEN_HAND_FILES = {"right": DATA_DIR / "mano_open_RIGHT.pkl", "left": DATA_DIR / "mano_open_LEFT.pkl"}
# The built-in hands, by name: the procedural open hand, and MakeHuman's sculpted hand registered onto its
# topology (tools/assets/make_makehuman_hand.py). Both are in MANO's exact format and share the UV layout; each has
# its skin texture, and a nail mask the synthetic scenes paint with a random nail colour.
BUILTIN_HANDS = {
    "open": OPEN_HAND_FILES,
    "makehuman": {"right": DATA_DIR / "mano_makehuman_RIGHT.pkl", "left": DATA_DIR / "mano_makehuman_LEFT.pkl"},
}
DEFAULT_HAND = "open"
OPEN_HAND_TEXTURE = DATA_DIR / "open_hand_skin.png"
BUILTIN_TEXTURES = {
    "open": {"skin": OPEN_HAND_TEXTURE, "nails": DATA_DIR / "open_hand_nails.png"},
    "makehuman": {"skin": DATA_DIR / "makehuman_hand_skin.png", "nails": DATA_DIR / "makehuman_hand_nails.png"},
}


def builtin_texture(model: "HandModel", kind: str = "skin") -> Optional[Path]:
    """The shipped ``skin`` texture or ``nails`` mask of a built-in hand; None for any other hand model."""
    if not model.is_open_hand:
        return None
    path = BUILTIN_TEXTURES.get(model.extras.get("hand_name", "open"), {}).get(kind)
    return path if path is not None and path.is_file() else None


class HandModelError(ValueError):
    """A hand model file that cannot be used; the message names the file and the problem."""


@dataclass
class HandModel:
    """The arrays of a MANO-format model as float64/int64 numpy arrays, plus where they came from."""

    v_template: np.ndarray
    f: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray
    J_regressor: np.ndarray
    weights: np.ndarray
    kintree_table: np.ndarray
    hands_components: np.ndarray
    hands_mean: np.ndarray
    side: str  # "right" or "left"
    source: str = ""
    is_open_hand: bool = False
    vt: Optional[np.ndarray] = None  # UV coordinates (only the open hand ships them)
    ft: Optional[np.ndarray] = None  # UV index per face corner
    extras: Dict[str, Any] = field(default_factory=dict)

    @property
    def parents(self) -> np.ndarray:
        p = self.kintree_table[0].astype(np.int64).copy()
        p[0] = -1
        return p

    def rest_vertices(self, betas: Optional[np.ndarray] = None) -> np.ndarray:
        """Template at the given shape (10,) -> (778, 3)."""
        if betas is None:
            return self.v_template.copy()
        b = np.asarray(betas, dtype=np.float64).reshape(-1)[:N_BETAS]
        return self.v_template + self.shapedirs[..., : b.shape[0]] @ b

    def rest_joints(self, betas: Optional[np.ndarray] = None) -> np.ndarray:
        return self.J_regressor @ self.rest_vertices(betas)

    def as_smplx_dict(self) -> Dict[str, np.ndarray]:
        """The arrays under the key names smplx's MANO layer reads (for ``data_struct=``)."""
        return {k: getattr(self, k) for k in REQUIRED_SHAPES}


# --------------------------------------------------------------------------------------------- unpickling


class _ChumpyStandIn:
    """Takes the place of any chumpy class; keeps the pickled state, from which the array is read."""

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def to_array(self) -> np.ndarray:
        state = self.state if isinstance(self.state, dict) else {}
        if "x" in state:
            return np.asarray(state["x"])
        raise HandModelError(
            "the file holds a chumpy expression, not a plain chumpy array; convert it with a clean-up tool first"
        )


class _SparseStandIn:
    """Takes the place of a scipy.sparse CSC/CSR matrix; becomes a dense array."""

    fmt = "csc"

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def to_array(self) -> np.ndarray:
        s = self.state
        try:
            shape = tuple(int(v) for v in s.get("_shape", s.get("shape")))
            data, indices, indptr = (np.asarray(s[k]) for k in ("data", "indices", "indptr"))
            fmt = self.fmt
        except (KeyError, TypeError, AttributeError) as exc:
            raise HandModelError(f"malformed sparse matrix in the file ({exc})") from None
        if len(shape) != 2 or min(shape) < 0 or shape[0] * shape[1] > MAX_SPARSE_VALUES:
            raise HandModelError(f"a sparse matrix in the file claims shape {shape}, larger than any of MANO's")
        dense = np.zeros(shape, dtype=np.float64)
        major = shape[1] if fmt == "csc" else shape[0]
        if len(indptr) != major + 1:
            raise HandModelError("malformed sparse matrix in the file (index pointer length)")
        for m in range(major):
            rows = indices[indptr[m] : indptr[m + 1]]
            vals = data[indptr[m] : indptr[m + 1]]
            if fmt == "csc":
                dense[rows, m] = vals
            else:
                dense[m, rows] = vals
        return dense


class _CsrStandIn(_SparseStandIn):
    fmt = "csr"


_STAND_INS = (_ChumpyStandIn, _SparseStandIn, _CsrStandIn)


def _reconstructor(cls, base, state):
    # copyreg._reconstructor, restricted: it may only create our stand-ins.
    if cls not in _STAND_INS or base is not object:
        raise HandModelError("the file asks to rebuild an object that is not allowed")
    return object.__new__(cls)


_PLAIN_KINDS = "biufcUS"  # the dtypes MANO files hold: numbers and text


class _DtypeStandIn:
    """Takes the place of ``numpy.dtype(spec, align, copy)``: its pickled state is checked, and only a plain
    numeric or text dtype is made from it. (numpy's own ``dtype.__setstate__`` trusts its flags: a forged state
    makes a float dtype that numpy treats as holding object references.)"""

    def __init__(self, spec: Any = "f8", align: Any = False, copy: Any = True):
        if not isinstance(spec, str) or len(spec) > 8:
            raise HandModelError("the file describes an array type MANO files never hold")
        self.spec, self.state = spec, None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def to_dtype(self) -> np.dtype:
        try:
            dtype = np.dtype(self.spec)
        except TypeError:
            raise HandModelError(f"the file describes an unknown array type {self.spec!r}") from None
        state = self.state
        if isinstance(state, tuple) and len(state) >= 8:  # (version, endian, subarray, names, fields, size, ...)
            endian, subarray, names, fields_, size = state[1], state[2], state[3], state[4], state[5]
            if subarray is not None or names is not None or fields_ is not None or endian not in "<>|=":
                raise HandModelError("the file describes a structured array type MANO files never hold")
            if dtype.kind in "US":
                if not isinstance(size, int) or not 0 < size <= 4096:
                    raise HandModelError("the file describes a text type of an impossible size")
                dtype = np.dtype(f"{dtype.kind}{size // 4 if dtype.kind == 'U' else size}")
            dtype = dtype.newbyteorder(endian) if endian in "<>" else dtype
        elif state is not None:
            raise HandModelError("the file describes an array type in a way numpy never pickles one")
        if dtype.kind not in _PLAIN_KINDS:
            raise HandModelError(f"the file holds {dtype} arrays; MANO files hold numbers and text")
        return dtype


class _ArrayStandIn:
    """Takes the place of a pickled ``numpy.ndarray``; becomes a real array only once its shape, type and data
    agree (numpy's ``__setstate__`` is not given the file's state)."""

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def to_array(self) -> np.ndarray:
        state = getattr(self, "state", None)
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise HandModelError("malformed array in the file")
        shape, dtype, fortran, data = state[-4:]
        if not isinstance(dtype, _DtypeStandIn) or not isinstance(shape, tuple) or \
                not all(isinstance(n, int) and 0 <= n < 2 ** 31 for n in shape):
            raise HandModelError("malformed array in the file")
        dtype = dtype.to_dtype()
        if isinstance(data, str):  # Python 2 pickles hold the bytes as text (read as latin-1)
            data = data.encode("latin1")
        if not isinstance(data, bytes):
            raise HandModelError("malformed array in the file (its data are not bytes)")
        count = int(np.prod(shape, dtype=object))
        if count * dtype.itemsize != len(data):
            raise HandModelError(f"an array in the file claims shape {shape} of {dtype} but holds {len(data)} bytes")
        return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()


def _numpy_reconstruct(cls: Any, shape: Any, dtype: Any) -> _ArrayStandIn:
    # numpy pickles an array as ``_reconstruct(ndarray, (0,), b'b')`` filled by ``__setstate__``.
    if cls is not np.ndarray or shape != (0,):
        raise HandModelError("the file rebuilds a numpy array in a way numpy never pickles one")
    return _ArrayStandIn()


def _numpy_scalar(dtype: Any, data: Any = b"") -> Any:
    if not isinstance(dtype, _DtypeStandIn):
        raise HandModelError("malformed number in the file")
    dtype = dtype.to_dtype()
    data = data.encode("latin1") if isinstance(data, str) else data
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise HandModelError("malformed number in the file")
    return np.frombuffer(data, dtype=dtype)[0]


def _realise(value: Any, depth: int = 0) -> Any:
    """Stand-ins, wherever they sit in the loaded containers, replaced by real arrays."""
    if depth > 20:
        raise HandModelError("the file nests containers deeper than any MANO file")
    if isinstance(value, _ArrayStandIn):
        return value.to_array()
    if isinstance(value, _DtypeStandIn):
        return value.to_dtype()
    if isinstance(value, dict):
        return {k: _realise(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(_realise(v, depth + 1) for v in value)
    if isinstance(value, _STAND_INS):
        value.state = _realise(getattr(value, "state", None), depth + 1)
    return value


def _codecs_encode(obj: Any, encoding: str = "utf-8") -> bytes:
    # Protocol-2 pickles store bytes as _codecs.encode(text, 'latin1').
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise HandModelError("the file uses _codecs.encode in a way MANO files never do")
    return obj.encode(encoding)


MAX_SPARSE_VALUES = 4 * N_VERTS * N_VERTS  # MANO's largest arrays are 778 x 16; this leaves room for any of theirs
_SPARSE_CLASSES = {"csc_matrix": _SparseStandIn, "csr_matrix": _CsrStandIn}
# Builtins the official files name: ``object`` (copy_reg) and ``set`` (a chumpy array's ``_dirty_vars``).
# Each only builds a container from already-unpickled items; none can call anything.
_BUILTINS = {"object": object, "set": set, "frozenset": frozenset}


class SafeManoUnpickler(pickle.Unpickler):
    """An unpickler that builds only numpy arrays, dicts, lists and strings (and chumpy/scipy stand-ins)."""

    def find_class(self, module: str, name: str):  # noqa: D102 - pickle API
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return _numpy_reconstruct
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "scalar":
            return _numpy_scalar
        if module == "numpy" and name == "ndarray":
            return np.ndarray  # only as _reconstruct's first argument
        if module == "numpy" and name == "dtype":
            return _DtypeStandIn
        if module in ("copy_reg", "copyreg") and name == "_reconstructor":
            return _reconstructor
        if module in ("__builtin__", "builtins") and name in _BUILTINS:
            return _BUILTINS[name]
        if module == "_codecs" and name == "encode":
            return _codecs_encode
        if module == "chumpy" or module.startswith("chumpy."):
            return _ChumpyStandIn
        if module.startswith("scipy.sparse") and name in _SPARSE_CLASSES:
            return _SPARSE_CLASSES[name]
        raise HandModelError(f"refusing to load class {module}.{name}: it is not on the MANO file allow-list")


def _plain(value: Any) -> Any:
    if isinstance(value, _STAND_INS):
        return value.to_array()
    return value


def check_pickle_stream(data: bytes) -> None:
    """Every opcode of the pickle read without running it (``pickletools``), so that nothing the file claims (a
    frame's length, a memo index) is larger than the file: the unpickler would allocate it first."""
    try:
        for op, arg, pos in pickletools.genops(data):
            if op.name == "FRAME" and arg > len(data) - pos:
                raise ValueError(f"a frame of {arg} bytes at byte {pos}, past the file's end")
            if op.name in ("PUT", "BINPUT", "LONG_BINPUT") and int(arg) > len(data):
                # the unpickler sizes its memo to the largest index: one index can ask for gigabytes
                raise ValueError(f"a memo index of {arg} at byte {pos}, more than the file has objects")
            if op.name == "STOP":
                return
    except (ValueError, KeyError, EOFError) as exc:
        raise HandModelError(f"not a MANO pickle ({exc})") from None
    raise HandModelError("not a MANO pickle (it never ends)")


def read_mano_pickle(data: bytes, source: str = "<bytes>") -> Dict[str, Any]:
    """Unpickle a MANO-format file safely into a dict of plain numpy arrays / strings."""
    try:
        check_pickle_stream(data)
        obj = SafeManoUnpickler(io.BytesIO(data), encoding="latin1").load()
    except HandModelError as exc:
        raise HandModelError(f"{source}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            OverflowError, RecursionError) as exc:
        raise HandModelError(f"{source}: not a MANO pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict):
        raise HandModelError(f"{source}: expected a dict of arrays, found {type(obj).__name__}")
    try:
        return {str(k): _plain(v) for k, v in _realise(obj).items()}
    except HandModelError as exc:
        raise HandModelError(f"{source}: {exc}") from None
    except (TypeError, ValueError) as exc:  # unhashable items of a set, a reshape that cannot be
        raise HandModelError(f"{source}: not a MANO pickle ({type(exc).__name__}: {exc})") from None


def _check_arrays(raw: Dict[str, Any], source: str) -> Dict[str, np.ndarray]:
    missing = [k for k in REQUIRED_SHAPES if k not in raw]
    if missing:
        raise HandModelError(f"{source}: missing key(s) {', '.join(missing)}")
    out: Dict[str, np.ndarray] = {}
    for key, shape in {**REQUIRED_SHAPES, **OPTIONAL_SHAPES}.items():
        if key not in raw:
            continue
        try:
            arr = np.asarray(raw[key])
            if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
                raise TypeError(arr.dtype)
        except (TypeError, ValueError):
            raise HandModelError(f"{source}: {key} is not a numeric array") from None
        if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            want = "x".join("N" if s is None else str(s) for s in shape)
            raise HandModelError(f"{source}: {key} has shape {arr.shape}, expected ({want})")
        if not np.all(np.isfinite(arr)):
            raise HandModelError(f"{source}: {key} contains NaN or infinite values")
        out[key] = arr
    for key in ("f", "kintree_table", "ft"):
        if key in out:
            out[key] = out[key].astype(np.int64)
    for key in out:
        if key not in ("f", "kintree_table", "ft"):
            out[key] = out[key].astype(np.float64)
    if out["f"].min() < 0 or out["f"].max() >= N_VERTS:
        raise HandModelError(f"{source}: face indices out of range")
    parents = out["kintree_table"][0].copy()
    parents[0] = -1
    if list(parents) != MANO_PARENTS:
        raise HandModelError(f"{source}: kintree_table is not MANO's 16-joint tree")
    return out


def _side_from_name(path: Path) -> Optional[str]:
    name = path.name.upper()
    if "RIGHT" in name:
        return "right"
    if "LEFT" in name:
        return "left"
    return None


def load_hand_model(path: str | os.PathLike, side: Optional[str] = None) -> HandModel:
    """Load a MANO-format ``.pkl`` (official or open hand) with full validation.

    ``side`` defaults to what the file name says (``*RIGHT*`` / ``*LEFT*``). The official left model's
    ``shapedirs[:, 0, :]`` has the wrong sign (smplx issue 48): it is fixed here for every left file that
    is not the open hand (whose mirror is exact).
    """
    path = Path(path)
    if not path.is_file():
        raise HandModelError(f"{path}: no such file")
    side = side or _side_from_name(path)
    if side not in ("right", "left"):
        raise HandModelError(f"{path}: cannot tell the hand side; name the file *RIGHT*/*LEFT* or pass side=")
    raw = read_mano_pickle(path.read_bytes(), source=str(path))
    arrays = _check_arrays(raw, str(path))
    is_open = OPEN_HAND_MARKER in raw
    if side == "left" and not is_open:
        arrays["shapedirs"][:, 0, :] *= -1.0
    extras = {k: v for k, v in raw.items() if k not in arrays}
    return HandModel(side=side, source=str(path), is_open_hand=is_open, extras=extras, **arrays)


def find_hand_model(side: str = "right", mano_dir: Optional[str | os.PathLike] = None,
                    hand: str = DEFAULT_HAND) -> HandModel:
    """The user's official model for ``side`` from ``mano_dir`` if given, else the built-in hand named
    ``hand`` (``open`` or ``makehuman``)."""
    if side not in ("right", "left"):
        raise HandModelError(f"hand side must be 'right' or 'left', not {side!r}")
    if hand not in BUILTIN_HANDS:
        raise HandModelError(f"unknown built-in hand {hand!r}; built in: {', '.join(BUILTIN_HANDS)}")
    if mano_dir:
        path = official_model_path(side, mano_dir)
        if path is None:
            root = Path(mano_dir)
            raise HandModelError(f"{root}: no MANO_{side.upper()}.pkl here (nor in {root / 'mano'})")
        return load_hand_model(path, side)
    return load_hand_model(BUILTIN_HANDS[hand][side], side)


def official_model_path(side: str, mano_dir: str | os.PathLike) -> Optional[Path]:
    """``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` in ``mano_dir`` or its ``mano/`` folder, if there."""
    name = f"MANO_{side.upper()}.pkl"
    root = Path(mano_dir)
    return next((c for c in (root / name, root / "mano" / name) if c.is_file()), None)


def save_hand_model_dict(arrays: Dict[str, Any], path: str | os.PathLike) -> None:
    """Write a MANO-format pickle of plain numpy arrays (protocol 2, readable by smplx and by this module)."""
    with open(path, "wb") as fh:
        pickle.dump(arrays, fh, protocol=2)


def fingertip_ids() -> Dict[str, int]:
    return dict(TIP_VERTEX_IDS)
