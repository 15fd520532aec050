"""The motion-sequence file: the one ``.npz`` exchanged by the worker, the CLI, the tests and Blender.

Layout (``T`` samples; every array float unless noted; read with ``allow_pickle=False``):

=====================  ============  ===============================================================
key                    shape         meaning
=====================  ============  ===============================================================
``format``             ()  str       ``"hand_mocap.motion"``
``version``            ()  int       ``2`` (``1``: no ``joint_confidence``; still read)
``frames``             (T,)          Blender frame of each sample; strictly increasing; fractions allowed
``global_orient``      (T, 3)        root rotation, axis-angle (radians), in camera axes
``hand_pose``          (T, 45)       15 finger joints x axis-angle, MANO order, ``flat_hand_mean=True``
``betas``              (T, 10)       MANO shape coefficients
``transl``             (T, 3)        translation added to the MANO output, metres, OpenCV camera axes
                                     (x right, y down, z forward)
``handedness``         ()  str       ``"right"`` or ``"left"``
``fps``                ()            frames per second of the footage
``model``              ()  str       name of the model (or tool) that produced the sequence
``confidence``         (T,)          optional, per-sample confidence in [0, 1]
``joint_confidence``   (T, 21)       optional (version 2), the model's own confidence per sample and joint in
                                     [0, 1], MANO-21 order (AMVUR: ``1 / (1 + variance / 9 cm^2)``);
                                     0 on samples the model did not see (filled gaps)
``vertex_colors``      (778, 3)      optional, per-vertex linear RGB in [0, 1] (the footage's or the network's
                                     colours of the hand, aggregated over the frames that see each vertex)
``camera_matrix``      (3, 3)        optional, intrinsics K of the footage (pixels)
``image_size``         (2,)  int     optional, footage (width, height) in pixels
=====================  ============  ===============================================================

MANO output for sample t is ``MANO(global_orient[t], hand_pose[t], betas[t]) + transl[t]``, using the
right or left MANO model as ``handedness`` says.
"""
from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

FORMAT_NAME = "hand_mocap.motion"
FORMAT_VERSION = 2  # 2 added joint_confidence; version 1 files load unchanged

_PER_SAMPLE = {"global_orient": 3, "hand_pose": 45, "betas": 10, "transl": 3}
_OPTIONAL = ("confidence", "joint_confidence", "vertex_colors", "camera_matrix", "image_size")


# More samples than any footage gives (a day of 60 fps footage, three samples a frame): a header that claims more is
# refused before anything is allocated.
MAX_SAMPLES = 3 * 60 * 60 * 60 * 24
# Per key: the largest trailing shape the format has (a key's arrays are at most MAX_SAMPLES x this many values).
_WIDTHS = {"frames": 1, **_PER_SAMPLE, "confidence": 1, "joint_confidence": 21, "vertex_colors": 3,
           "camera_matrix": 3, "image_size": 2}


class MotionSequenceError(ValueError):
    """A motion-sequence file or array that does not follow the format; the message says what is wrong."""


@dataclass
class MotionSequence:
    frames: np.ndarray
    global_orient: np.ndarray
    hand_pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    handedness: str = "right"
    fps: float = 30.0
    model: str = "unknown"
    confidence: Optional[np.ndarray] = None
    joint_confidence: Optional[np.ndarray] = None
    vertex_colors: Optional[np.ndarray] = None
    camera_matrix: Optional[np.ndarray] = None
    image_size: Optional[np.ndarray] = None
    source: str = field(default="<memory>", compare=False)

    def __post_init__(self) -> None:
        self.validate()

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def full_pose(self) -> np.ndarray:
        """(T, 48): global orientation followed by the 45 finger values."""
        return np.concatenate([self.global_orient, self.hand_pose], axis=1)

    def validate(self) -> None:
        where = self.source
        self.frames = _float_array(self.frames, "frames", where)
        if self.frames.ndim != 1 or self.frames.shape[0] == 0:
            raise MotionSequenceError(f"{where}: frames must have shape (T,) with T >= 1, got {self.frames.shape}")
        n = self.frames.shape[0]
        for key, width in _PER_SAMPLE.items():
            arr = _float_array(getattr(self, key), key, where)
            if arr.shape != (n, width):
                raise MotionSequenceError(f"{where}: {key} must have shape ({n}, {width}), got {arr.shape}")
            setattr(self, key, arr)
        steps = np.diff(self.frames)
        if np.any(steps <= 0):
            i = int(np.argmax(steps <= 0))
            raise MotionSequenceError(
                f"{where}: frames must be strictly increasing; sample {i + 1} (frame {self.frames[i + 1]:g}) "
                f"does not come after sample {i} (frame {self.frames[i]:g})"
            )
        if self.handedness not in ("right", "left"):
            raise MotionSequenceError(f"{where}: handedness must be 'right' or 'left', got {self.handedness!r}")
        self.fps = float(self.fps)
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise MotionSequenceError(f"{where}: fps must be a positive number, got {self.fps}")
        self.model = str(self.model)
        if self.confidence is not None:
            self.confidence = _float_array(self.confidence, "confidence", where)
            if self.confidence.shape != (n,):
                raise MotionSequenceError(f"{where}: confidence must have shape ({n},), got {self.confidence.shape}")
            if np.any((self.confidence < 0) | (self.confidence > 1)):
                raise MotionSequenceError(f"{where}: confidence values must lie in [0, 1]")
        if self.joint_confidence is not None:
            self.joint_confidence = _float_array(self.joint_confidence, "joint_confidence", where)
            if self.joint_confidence.shape != (n, 21):
                raise MotionSequenceError(
                    f"{where}: joint_confidence must have shape ({n}, 21), got {self.joint_confidence.shape}")
            if np.any((self.joint_confidence < 0) | (self.joint_confidence > 1)):
                raise MotionSequenceError(f"{where}: joint_confidence values must lie in [0, 1]")
        if self.vertex_colors is not None:
            self.vertex_colors = _float_array(self.vertex_colors, "vertex_colors", where)
            if self.vertex_colors.shape != (778, 3):
                raise MotionSequenceError(
                    f"{where}: vertex_colors must have shape (778, 3), got {self.vertex_colors.shape}"
                )
        if self.camera_matrix is not None:
            self.camera_matrix = _float_array(self.camera_matrix, "camera_matrix", where)
            if self.camera_matrix.shape != (3, 3):
                raise MotionSequenceError(f"{where}: camera_matrix must have shape (3, 3)")
        if self.image_size is not None:
            self.image_size = np.asarray(self.image_size).astype(np.int64)
            if self.image_size.shape != (2,) or np.any(self.image_size <= 0):
                raise MotionSequenceError(f"{where}: image_size must be two positive integers (width, height)")

    def to_dict(self) -> Dict[str, np.ndarray]:
        out = {
            "format": np.array(FORMAT_NAME),
            "version": np.array(FORMAT_VERSION),
            "frames": self.frames,
            "global_orient": self.global_orient,
            "hand_pose": self.hand_pose,
            "betas": self.betas,
            "transl": self.transl,
            "handedness": np.array(self.handedness),
            "fps": np.array(self.fps),
            "model": np.array(self.model),
        }
        for key in _OPTIONAL:
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    def save(self, path: str | os.PathLike) -> Path:
        """Write the sequence (uncompressed ``.npz``; no pickles)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            np.savez(fh, **self.to_dict())
        return path


def concatenate(chunks: List[MotionSequence]) -> MotionSequence:
    """Consecutive chunks of one hand (as the worker streams them) -> one sequence; the last chunk's
    whole-sequence fields (colours, camera) win."""
    if not chunks:
        raise MotionSequenceError("no samples to join")
    last = chunks[-1]
    joined = {k: np.concatenate([getattr(c, k) for c in chunks]) for k in ("frames", *_PER_SAMPLE)}
    for key in ("confidence", "joint_confidence"):
        if all(getattr(c, key) is not None for c in chunks):
            joined[key] = np.concatenate([getattr(c, key) for c in chunks])
    return MotionSequence(handedness=last.handedness, fps=last.fps, model=last.model,
                          vertex_colors=last.vertex_colors, camera_matrix=last.camera_matrix,
                          image_size=last.image_size, source=last.source, **joined)


def _float_array(value, key: str, where: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - anything unconvertible is a format error
        raise MotionSequenceError(f"{where}: {key} is not an array") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise MotionSequenceError(f"{where}: {key} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if np.any(bad):
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise MotionSequenceError(f"{where}: {key} contains NaN or infinite values (first at index {first})")
    return arr


def _scalar(data, key: str, where: str, kind):
    arr = data[key]
    if arr.shape != ():
        raise MotionSequenceError(f"{where}: {key} must be a single value, got shape {arr.shape}")
    try:
        return kind(arr.item())
    except (TypeError, ValueError):
        raise MotionSequenceError(f"{where}: {key} has the wrong type ({arr.dtype})") from None


def check_headers(path: Path, where: str) -> None:
    """Each member's ``.npy`` header, read before its array: a numeric or short-text dtype, and no more values than
    the member holds (a small file cannot claim gigabytes) or than the format allows (``MAX_SAMPLES``)."""
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                with archive.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                        np.lib.format.read_array_header_2_0
                    shape, _, dtype = read(fh, max_header_size=10_000)
                key = info.filename.removesuffix(".npy")
                if dtype.hasobject:
                    raise MotionSequenceError(f"{where}: holds pickled objects, which are not allowed")
                if dtype.kind not in "biufU" or dtype.itemsize > 1024:
                    raise MotionSequenceError(f"{where}: {key} has dtype {dtype}, not numbers or short text")
                count = int(np.prod(shape, dtype=object))
                if count * dtype.itemsize > info.file_size:
                    raise MotionSequenceError(f"{where}: {key} claims shape {tuple(shape)}, more than its "
                                              f"{info.file_size} bytes hold (a damaged or forged file)")
                if count > MAX_SAMPLES * _WIDTHS.get(key, 1):
                    raise MotionSequenceError(f"{where}: {key} claims shape {tuple(shape)}, more than "
                                              f"{MAX_SAMPLES} samples")
    except MotionSequenceError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged archive or header: all mean "not an npz"
        raise MotionSequenceError(f"{where}: not a readable .npz file ({type(exc).__name__}: {exc})") from None


def load_motion_sequence(path: str | os.PathLike) -> MotionSequence:
    """Read and validate a motion-sequence ``.npz``; raises :class:`MotionSequenceError` naming the problem."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise MotionSequenceError(f"{where}: no such file")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != b"PK\x03\x04":  # every .npz is a zip archive
        what = "a pickle" if magic[:1] == b"\x80" else "not a zip archive"
        raise MotionSequenceError(f"{where}: not a readable .npz file ({what})")
    try:
        data = np.load(path, allow_pickle=False)
        keys = set(data.files)
    except Exception as exc:  # noqa: BLE001 - zipfile/OSError/...: all mean "not an npz"
        raise MotionSequenceError(f"{where}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    with data:
        check_headers(path, where)
        required = ["format", "version", "frames", *_PER_SAMPLE, "handedness", "fps", "model"]
        missing = [k for k in required if k not in keys]
        if missing:
            raise MotionSequenceError(f"{where}: missing key(s) {', '.join(missing)}")
        try:
            fmt = _scalar(data, "format", where, str)
            if fmt != FORMAT_NAME:
                raise MotionSequenceError(f"{where}: format is {fmt!r}, expected {FORMAT_NAME!r}")
            version = _scalar(data, "version", where, int)
            if version > FORMAT_VERSION:
                raise MotionSequenceError(
                    f"{where}: format version {version} is newer than this tool understands ({FORMAT_VERSION})"
                )
            fields = {k: data[k] for k in ["frames", *_PER_SAMPLE]}
            optional = {
                k: data[k] for k in _OPTIONAL if k in keys
            }
            return MotionSequence(
                handedness=_scalar(data, "handedness", where, str),
                fps=_scalar(data, "fps", where, float),
                model=_scalar(data, "model", where, str),
                source=where,
                **fields,
                **optional,
            )
        except MotionSequenceError:
            raise
        except Exception as exc:  # noqa: BLE001 - a damaged member (bad CRC, cut stream, bad header): unreadable
            if "allow_pickle" in str(exc):
                raise MotionSequenceError(f"{where}: holds pickled objects, which are not allowed") from None
            raise MotionSequenceError(f"{where}: unreadable array ({type(exc).__name__}: {exc})") from None
