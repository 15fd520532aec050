"""Footage in: a video file, an image sequence (a folder) or one photo, decoded one frame at a time (memory does not grow with
the length of the footage), over an inclusive frame range.

Frame numbers are 0-based indices into the footage; the add-on maps them to Blender frames.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import cv2
import numpy as np

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".m4v", ".webm"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".exr"}


class FootageError(ValueError):
    """Footage that cannot be read; the message says which file and why."""


@dataclass
class FootageInfo:
    path: str
    width: int
    height: int
    fps: float
    frame_count: int  # as the container reports it (may be an estimate for some codecs)


class Footage:
    """``for index, rgb in footage.frames(start, end)``: uint8 (H, W, 3) RGB frames.

    A video can end before the frame count its header gives (a cut or damaged file); ``frames`` then stops
    at the last frame it could decode and sets ``ended_early_at`` to that frame (or ``start - 1`` when none)."""

    def __init__(self, path: str | os.PathLike, fps: Optional[float] = None):
        self.path = Path(path)
        self.ended_early_at: Optional[int] = None
        if not self.path.exists():
            raise FootageError(f"{self.path}: no such file or folder")
        self._images: Optional[List[Path]] = None
        if self.path.is_dir() or self.path.suffix.lower() in IMAGE_SUFFIXES:
            self._images = _image_sequence(self.path)
            first = _read_image(self._images[0])
            h, w = first.shape[:2]
            self.info = FootageInfo(str(self.path), w, h, float(fps or 30.0), len(self._images))
            return
        cap = cv2.VideoCapture(str(self.path))
        try:
            if not cap.isOpened():
                raise FootageError(f"{self.path}: not a video OpenCV can open (corrupt, or an unknown format)")
            ok, frame = cap.read()
            if not ok or frame is None:
                raise FootageError(f"{self.path}: the video has no readable frames (corrupt or truncated?)")
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            rate = float(cap.get(cv2.CAP_PROP_FPS)) or 30.0
        finally:
            cap.release()
        h, w = frame.shape[:2]
        self.info = FootageInfo(str(self.path), w, h, float(fps or rate), max(count, 1))

    def frame_range(self, start: int = 0, end: int = -1) -> Tuple[int, int]:
        """The inclusive range clamped to the footage; ``end = -1`` means the last frame."""
        last = self.info.frame_count - 1
        end = last if end < 0 else min(end, last)
        if start < 0 or start > end:
            raise FootageError(f"{self.path}: frame range {start}..{end} is empty (the footage has "
                               f"{self.info.frame_count} frames)")
        return start, end

    def frames(self, start: int = 0, end: int = -1) -> Iterator[Tuple[int, np.ndarray]]:
        start, end = self.frame_range(start, end)
        if self._images is not None:
            for i in range(start, end + 1):
                yield i, _read_image(self._images[i])
            return
        cap = cv2.VideoCapture(str(self.path))
        try:
            if start:
                cap.set(cv2.CAP_PROP_POS_FRAMES, start)
            for i in range(start, end + 1):
                ok, bgr = cap.read()
                if not ok:
                    self.ended_early_at = i - 1
                    return
                yield i, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()


def _image_sequence(path: Path) -> List[Path]:
    """A folder's images in name order (an image sequence), or one image file alone (a photo)."""
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FootageError(f"{path}: the folder has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def _read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FootageError(f"{path}: not an image OpenCV can read")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
