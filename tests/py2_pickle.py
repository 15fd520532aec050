"""Official MANO files as Python 2.7 wrote them, byte for byte in structure: a protocol-2 pickle writer that
emits the opcodes cPickle emitted (SHORT_BINSTRING / BINSTRING for ``str``, Python 2 module names, BINPUT
after every memoised object, NEWOBJ + BUILD for new-style instances, REDUCE for numpy arrays, dtypes and
sets). Python 3's own pickler cannot write these files: it stores bytes through ``_codecs.encode`` and
never emits BINSTRING.

Only what MANO files hold is supported: dict, str, int, float, bool, None, tuple, list, set, numpy arrays,
and instances given as :class:`Py2Object` (a class name plus its ``__dict__`` state).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Dict

import numpy as np


@dataclass
class Py2Object:
    """A new-style Python 2 instance pickled through ``copy_reg.__newobj__``: ``module.name`` and its state."""

    module: str
    name: str
    state: Dict[str, Any]


class Py2Pickler:
    def __init__(self):
        self.out = bytearray(b"\x80\x02")  # PROTO 2
        self.memo = 0

    # -- primitives ------------------------------------------------------------------------------------
    def _put(self) -> None:
        self.memo += 1  # cPickle numbers memo entries from 1
        self.out += b"q" + bytes([self.memo]) if self.memo < 256 else b"r" + struct.pack("<I", self.memo)

    def _global(self, module: str, name: str) -> None:
        self.out += b"c" + module.encode() + b"\n" + name.encode() + b"\n"
        self._put()

    def _str(self, data: bytes) -> None:
        if len(data) < 256:
            self.out += b"U" + bytes([len(data)]) + data  # SHORT_BINSTRING
        else:
            self.out += b"T" + struct.pack("<i", len(data)) + data  # BINSTRING
        self._put()

    def _int(self, v: int) -> None:
        if 0 <= v <= 0xFF:
            self.out += b"K" + bytes([v])
        elif 0 <= v <= 0xFFFF:
            self.out += b"M" + struct.pack("<H", v)
        elif -(2 ** 31) <= v < 2 ** 31:
            self.out += b"J" + struct.pack("<i", v)
        else:  # LONG1
            n = (v.bit_length() + 8) // 8
            self.out += b"\x8a" + bytes([n]) + v.to_bytes(n, "little", signed=True)

    def _tuple(self, items) -> None:
        if not items:
            self.out += b")"
            return
        if len(items) <= 3:
            for x in items:
                self.save(x)
            self.out += {1: b"\x85", 2: b"\x86", 3: b"\x87"}[len(items)]
        else:
            self.out += b"("
            for x in items:
                self.save(x)
            self.out += b"t"
        self._put()

    # -- objects ---------------------------------------------------------------------------------------
    def save(self, obj: Any) -> None:
        if obj is None:
            self.out += b"N"
        elif obj is True or obj is False:
            self.out += b"\x88" if obj else b"\x89"
        elif isinstance(obj, (int, np.integer)):
            self._int(int(obj))
        elif isinstance(obj, (float, np.floating)):
            self.out += b"G" + struct.pack(">d", float(obj))
        elif isinstance(obj, str):
            self._str(obj.encode("latin1"))
        elif isinstance(obj, bytes):
            self._str(obj)
        elif isinstance(obj, tuple):
            self._tuple(obj)
        elif isinstance(obj, list):
            self.out += b"]"
            self._put()
            if obj:
                self.out += b"("
                for x in obj:
                    self.save(x)
                self.out += b"e"  # APPENDS
        elif isinstance(obj, dict):
            self.out += b"}"
            self._put()
            if obj:
                self.out += b"("
                for k, v in obj.items():
                    self.save(k)
                    self.save(v)
                self.out += b"u"  # SETITEMS
        elif isinstance(obj, (set, frozenset)):  # set.__reduce__: (set, (list(items),), None)
            self._global("__builtin__", type(obj).__name__)
            self._tuple((sorted(obj),))
            self.out += b"R"
            self._put()
        elif isinstance(obj, np.dtype):
            self._dtype(obj)
        elif isinstance(obj, np.ndarray):
            self._array(obj)
        elif isinstance(obj, Py2Object):
            self._global(obj.module, obj.name)
            self.out += b")\x81"  # EMPTY_TUPLE, NEWOBJ
            self._put()
            self.save(obj.state)
            self.out += b"b"  # BUILD
        else:
            raise TypeError(f"no Python 2 form for {type(obj).__name__}")

    def _dtype(self, dt: np.dtype) -> None:
        # numpy's dtype.__reduce__: (dtype, ('f8', 0, 1), (3, '<', None, None, None, -1, -1, 0))
        self._global("numpy", "dtype")
        self._tuple((f"{dt.kind}{dt.itemsize}", 0, 1))
        self.out += b"R"
        self._put()
        order = "|" if dt.itemsize == 1 else "<"
        self._tuple((3, order, None, None, None, -1, -1, 0))
        self.out += b"b"

    def _array(self, arr: np.ndarray) -> None:
        # ndarray.__reduce__: (_reconstruct, (ndarray, (0,), 'b'), (1, shape, dtype, is_fortran, raw str))
        arr = np.ascontiguousarray(arr)
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        self._global("numpy.core.multiarray", "_reconstruct")
        self.out += b"cnumpy\nndarray\n"
        self._put()
        self._tuple((0,))
        self._str(b"b")
        self.out += b"\x87"  # TUPLE3
        self._put()
        self.out += b"R"
        self._put()
        self.out += b"("
        self._int(1)
        self._tuple(tuple(int(s) for s in arr.shape))
        self._dtype(arr.dtype)
        self.out += b"\x89"  # is_fortran: False
        self._str(arr.tobytes())
        self.out += b"t"
        self._put()
        self.out += b"b"

    def dumps(self, obj: Any) -> bytes:
        self.save(obj)
        self.out += b"."
        return bytes(self.out)


def py2_dumps(obj: Any) -> bytes:
    """``cPickle.dumps(obj, 2)`` as Python 2.7 with numpy wrote it."""
    return Py2Pickler().dumps(obj)


def chumpy_array(x: np.ndarray) -> Py2Object:
    """A chumpy ``Ch`` leaf as pickled: ``Ch.__getstate__`` is its ``__dict__`` without ``_parents`` and
    ``_cache``; ``_dirty_vars`` is a set (empty once the value has been read), ``_itr`` None,
    ``_depends_on_deps`` a dict (empty for a plain ``Ch``), and the array itself under ``x``."""
    return Py2Object("chumpy.ch", "Ch", {"_dirty_vars": set(), "_itr": None, "_depends_on_deps": {},
                                         "_make_dense": False, "_make_sparse": False,
                                         "x": np.asarray(x, dtype=np.float64)})


def csc_matrix(dense: np.ndarray) -> Py2Object:
    """A scipy (0.x, as in 2017) ``scipy.sparse.csc.csc_matrix`` as pickled: its ``__dict__``."""
    dense = np.asarray(dense, dtype=np.float64)
    data, indices, indptr = [], [], [0]
    for col in range(dense.shape[1]):
        rows = np.nonzero(dense[:, col])[0]
        indices.extend(rows.tolist())
        data.extend(dense[rows, col].tolist())
        indptr.append(len(indices))
    return Py2Object("scipy.sparse.csc", "csc_matrix", {
        "_shape": tuple(int(s) for s in dense.shape), "maxprint": 50, "format": "csc",
        "_has_sorted_indices": True, "indices": np.array(indices, dtype=np.int32),
        "indptr": np.array(indptr, dtype=np.int32), "data": np.array(data, dtype=np.float64)})
