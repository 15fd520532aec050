"""Backgrounds: images from a folder the user names (VOC2012 or any), or built-in procedural textures.

A sequence gets one source image and two square windows in it (start and end); each frame crops the window
interpolated between them, so the background moves across the frame as in SeqHAND. Everything is linear
light, float32, (H, W, 3).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".exr"}


class BackgroundError(ValueError):
    """A background source that cannot be used (named before any rendering starts)."""


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def _fractal_noise(rng: np.random.Generator, size: int, octaves: int = 5) -> np.ndarray:
    out = np.zeros((size, size), dtype=np.float32)
    amp = 1.0
    for o in range(octaves):
        cells = 2 ** (o + 2)
        grid = rng.random((cells + 1, cells + 1)).astype(np.float32)
        idx = np.linspace(0, cells, size, endpoint=False)
        i0 = idx.astype(int)
        f = (idx - i0)[:, None]
        fy, fx = f, f.T
        g = grid
        top = g[i0][:, i0] * (1 - fx) + g[i0][:, i0 + 1] * fx
        bottom = g[i0 + 1][:, i0] * (1 - fx) + g[i0 + 1][:, i0 + 1] * fx
        out += amp * (top * (1 - fy) + bottom * fy)
        amp *= 0.5
    out -= out.min()
    return out / max(out.max(), 1e-6)


def procedural_texture(rng: np.random.Generator, size: int = 512) -> np.ndarray:
    """One of several kinds of built-in backgrounds (cloudy colour, stripes, checker, wood-like rings,
    gradients with blobs), linear RGB."""
    kind = int(rng.integers(5))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    palette = rng.random((3, 3)).astype(np.float32)
    noise = _fractal_noise(rng, size)
    if kind == 0:  # cloudy colour
        t = noise[..., None]
        img = palette[0] * (1 - t) + palette[1] * t
    elif kind == 1:  # stripes at a random angle, warped by noise
        a = rng.uniform(0, np.pi)
        s = np.sin((xx * np.cos(a) + yy * np.sin(a)) * rng.uniform(10, 40) + 3 * noise)
        t = (0.5 + 0.5 * s)[..., None]
        img = palette[0] * (1 - t) + palette[2] * t
    elif kind == 2:  # checker
        n = int(rng.integers(4, 16))
        t = ((np.floor(xx * n) + np.floor(yy * n)) % 2)[..., None]
        img = palette[1] * (1 - t) + palette[2] * t
        img *= (0.8 + 0.4 * noise)[..., None]
    elif kind == 3:  # rings
        cx, cy = rng.random(2)
        r = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
        t = (0.5 + 0.5 * np.sin(r * rng.uniform(30, 80) + 4 * noise))[..., None]
        img = palette[0] * (1 - t) + palette[1] * t
    else:  # gradient with soft blobs
        t = (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1))[..., None]
        img = palette[0] + (palette[1] - palette[0]) * (t - t.min()) / max(np.ptp(t), 1e-6)
        for _ in range(6):
            cx, cy, r = rng.random(3)
            blob = np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (0.02 + 0.05 * r)))[..., None]
            img = img * (1 - blob) + rng.random(3).astype(np.float32) * blob
    return srgb_to_linear(np.clip(img, 0.0, 1.0))


def registry_sample_images() -> List[Path]:
    """The sample photographs bundled in scikit-image's wheel (found without importing it), if installed."""
    import importlib.util

    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(spec.submodule_search_locations[0]) / "data"
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in (".png", ".jpg") and p.stat().st_size > 30_000)


@dataclass
class BackgroundSource:
    """Where backgrounds come from: image files (read with ``loader``), mixed with procedural textures."""

    files: List[Path]
    loader: Optional[Callable[[Path], np.ndarray]] = None  # path -> linear (H, W, 3) float32
    procedural_share: float = 0.0  # chance of a procedural texture even when there are files

    @classmethod
    def default(cls, loader=None, exclude: Sequence[str] = ()) -> "BackgroundSource":
        """Built-in: procedural textures, and the sample photos of a registry package when it is installed,
        but for those named in ``exclude`` (file stems: keeps evaluation footage's photos out of training)."""
        photos = registry_sample_images() if loader is not None else []
        unknown = sorted(set(exclude) - {p.stem for p in photos})
        if unknown and photos:
            raise BackgroundError(f"no built-in photo named {', '.join(unknown)}; they are "
                                  f"{', '.join(p.stem for p in photos)}")
        files = [p for p in photos if p.stem not in set(exclude)]
        return cls(files=files, loader=loader, procedural_share=0.5 if files else 1.0)

    @classmethod
    def from_folder(cls, folder: Optional[str | os.PathLike], loader=None,
                    exclude: Sequence[str] = ()) -> "BackgroundSource":
        """``folder=None``: the built-in default (less the photos in ``exclude``). A named folder must exist and
        hold images."""
        if folder is None:
            return cls.default(loader, exclude)
        if exclude:
            raise BackgroundError("excluding built-in photos applies to the built-in backgrounds, not to a folder")
        root = Path(folder)
        if not root.is_dir():
            raise BackgroundError(f"background folder {root} does not exist")
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise BackgroundError(f"background folder {root} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return cls(files=files, loader=loader)

    def image(self, rng: np.random.Generator) -> np.ndarray:
        if self.files and self.loader is not None and rng.random() >= self.procedural_share:
            return self.loader(self.files[int(rng.integers(len(self.files)))])
        return procedural_texture(rng)


def crop_window(rng: np.random.Generator, shape: tuple, min_fraction: float = 0.4) -> np.ndarray:
    """A random square window (x0, y0, side) inside an image of ``shape`` (H, W, ...)."""
    h, w = shape[:2]
    side = rng.uniform(min_fraction, 1.0) * min(h, w)
    return np.array([rng.uniform(0, w - side), rng.uniform(0, h - side), side])


def crop_resize(image: np.ndarray, window: np.ndarray, size: int, height: Optional[int] = None) -> np.ndarray:
    """Bilinear crop of ``window`` (x0, y0, side) to (height or size, size, C); with ``height`` the window
    keeps the output's aspect ratio (side is its width)."""
    x0, y0, side = window
    height = height or size
    xs = np.clip(x0 + (np.arange(size) + 0.5) / size * side - 0.5, 0, image.shape[1] - 1)
    ys = np.clip(y0 + (np.arange(height) + 0.5) / height * side * height / size - 0.5, 0, image.shape[0] - 1)
    xi, yi = np.floor(xs).astype(int), np.floor(ys).astype(int)
    xj, yj = np.minimum(xi + 1, image.shape[1] - 1), np.minimum(yi + 1, image.shape[0] - 1)
    fx, fy = (xs - xi)[None, :, None], (ys - yi)[:, None, None]
    top = image[yi][:, xi] * (1 - fx) + image[yi][:, xj] * fx
    bottom = image[yj][:, xi] * (1 - fx) + image[yj][:, xj] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)
