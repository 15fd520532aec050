"""The synthetic dataset's on-disk format, and a reader for it that needs neither bpy nor torch.

Layout::

    DIR/manifest.json                 what was generated, with which settings; list of shards
    DIR/shard_000000/labels.npz       labels of every frame of the shard's sequences (see below)
    DIR/shard_000000/images/*.png     the frames (blurred when the set has blur), sRGB 8-bit
    DIR/shard_000000/sharp/*.png      blurred sets only: the sharp frame at the middle time
    DIR/shard_000000/masks/*.png      hand mask at the middle time (occluders cut it), 0/255

``labels.npz`` holds, for M frames and L label times (1, or 3 with blur: initial, middle, final):
``sequence (M,)``, ``frame (M,)``, ``image/mask/sharp (M,)`` paths relative to the shard,
``global_orient (M, L, 3)``, ``hand_pose (M, L, 45)`` (right MANO, ``flat_hand_mean=True``),
``betas (M, 10)``, ``transl (M, L, 3)`` (metres, OpenCV camera axes), ``joints3d (M, L, 21, 3)``
(MANO-21 order, camera coordinates), ``joints2d (M, L, 21, 2)`` (pixels), ``vertices (M, L, 778, 3)``,
``K (M, 3, 3)``, ``bbox (M, 4)`` (x0, y0, x1, y1 of the mask), ``visible (M, 21)`` (joint seen, not
occluded, at the middle time), ``time_offset (M, L)`` (frames from the frame's own time), ``skin (M,)``.

A shard is written to ``shard_XXXXXX.partial`` and renamed when complete, so an interrupted run leaves no
half shard under its real name.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import numpy as np

from addon.common.png import read_png

FORMAT_NAME = "hand_mocap.synthetic"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


class DatasetError(ValueError):
    """A folder that is not a (complete, readable) synthetic dataset."""


def shard_name(index: int) -> str:
    return f"shard_{index:06d}"


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(f"{path.suffix}.{os.getpid()}.tmp")  # writers never share a temporary file
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def read_manifest(root: str | os.PathLike) -> dict:
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise DatasetError(f"{root}: not a synthetic dataset (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: unreadable ({exc})") from None
    if manifest.get("format") != FORMAT_NAME:
        raise DatasetError(f"{path}: format is {manifest.get('format')!r}, expected {FORMAT_NAME!r}")
    if int(manifest.get("version", 0)) > FORMAT_VERSION:
        raise DatasetError(f"{path}: version {manifest['version']} is newer than this reader ({FORMAT_VERSION})")
    return manifest


def complete_shards(root: Path, manifest: dict) -> List[str]:
    return [shard_name(i) for i in range(manifest["shards"]) if (root / shard_name(i) / "labels.npz").is_file()]


@dataclass
class _Shard:
    path: Path
    labels: Dict[str, np.ndarray]


class SyntheticDataset:
    """Random access to the frames of a synthetic dataset: ``ds[i]`` -> dict of images and labels."""

    def __init__(self, root: str | os.PathLike, require_complete: bool = True):
        self.root = Path(root)
        self.manifest = read_manifest(self.root)
        names = complete_shards(self.root, self.manifest)
        if require_complete and len(names) != self.manifest["shards"]:
            raise DatasetError(f"{self.root}: {len(names)} of {self.manifest['shards']} shards are complete; "
                               "finish the run (the generator resumes) or pass require_complete=False")
        self.shards = []
        for name in names:
            with np.load(self.root / name / "labels.npz", allow_pickle=False) as data:
                self.shards.append(_Shard(self.root / name, {k: data[k] for k in data.files}))
        self.index = [(s, row) for s, shard in enumerate(self.shards) for row in range(len(shard.labels["frame"]))]

    def __len__(self) -> int:
        return len(self.index)

    @property
    def label_times(self) -> np.ndarray:
        return np.asarray(self.manifest["label_times"])

    def labels(self, i: int) -> Dict[str, np.ndarray]:
        s, row = self.index[i]
        return {k: v[row] for k, v in self.shards[s].labels.items()}

    def __getitem__(self, i: int) -> Dict[str, np.ndarray]:
        if not 0 <= i < len(self):
            raise IndexError(i)
        s, _ = self.index[i]
        out = self.labels(i)
        base = self.shards[s].path
        out["image"] = read_png(base / str(out.pop("image")))
        out["mask"] = read_png(base / str(out.pop("mask")))[..., 0] > 127
        sharp = str(out.pop("sharp"))
        if sharp:
            out["sharp"] = read_png(base / sharp)
        return out
