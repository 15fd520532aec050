"""Contact sheet: a few sequences of a synthetic dataset with joints, skeleton and mask drawn over the
frames, so labels can be checked by eye. Pure numpy (no OpenCV, no Blender).

    python scenes/contact_sheet.py DATASET [--out sheet.png] [--sequences 4] [--frames 6]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from addon.common.joints import MANO_21, SKELETON_EDGES
from addon.common.png import write_png
from scenes.dataset import SyntheticDataset

ROOT = Path(__file__).resolve().parent.parent

FINGER_COLOURS = {"thumb": (255, 80, 80), "index": (255, 200, 40), "middle": (80, 220, 80),
                  "ring": (60, 170, 255), "pinky": (200, 90, 255), "wrist": (255, 255, 255)}


def _finger(name: str) -> str:
    return "wrist" if name == "wrist" else name[:-1]


def draw_line(img: np.ndarray, a, b, colour, width: int = 1) -> None:
    n = int(min(max(abs(b[0] - a[0]), abs(b[1] - a[1]), 1), 4 * max(img.shape)) * 2)
    for t in np.linspace(0.0, 1.0, n):
        x, y = a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
        draw_dot(img, (x, y), colour, width - 1)


def draw_dot(img: np.ndarray, p, colour, radius: int = 1) -> None:
    h, w = img.shape[:2]
    if not (np.isfinite(p[0]) and np.isfinite(p[1]) and 0 <= p[0] < w and 0 <= p[1] < h):
        return  # outside the frame (or behind the camera)
    x, y = int(round(p[0])), int(round(p[1]))
    img[max(y - radius, 0) : min(y + radius + 1, h), max(x - radius, 0) : min(x + radius + 1, w)] = colour


def annotate(frame: dict, scale: int = 2) -> np.ndarray:
    """Frame image (upscaled) with the mask tinted and outlined, skeleton and joints (hollow = occluded)."""
    img = np.repeat(np.repeat(frame["image"][..., :3], scale, 0), scale, 1).astype(np.float32)
    mask = np.repeat(np.repeat(frame["mask"], scale, 0), scale, 1)
    edge = mask & ~(np.roll(mask, 1, 0) & np.roll(mask, -1, 0) & np.roll(mask, 1, 1) & np.roll(mask, -1, 1))
    img[mask] = 0.8 * img[mask] + 0.2 * np.array([80, 255, 120])
    img[edge] = (80, 255, 120)
    img = img.astype(np.uint8)
    mid = len(frame["time_offset"]) // 2
    joints = frame["joints2d"][mid] * scale
    position = {n: i for i, n in enumerate(MANO_21)}
    for a, b in SKELETON_EDGES:
        draw_line(img, joints[position[a]], joints[position[b]], FINGER_COLOURS[_finger(b)], 1)
    for name, i in position.items():
        colour = FINGER_COLOURS[_finger(name)]
        draw_dot(img, joints[i], colour if frame["visible"][i] else (0, 0, 0), 2)
    return img


def contact_sheet(dataset: SyntheticDataset, sequences: int = 4, frames: int = 6, scale: int = 2) -> np.ndarray:
    seq_ids = sorted({int(dataset.labels(i)["sequence"]) for i in range(len(dataset))})[:sequences]
    rows = []
    for s in seq_ids:
        idx = [i for i in range(len(dataset)) if int(dataset.labels(i)["sequence"]) == s][:frames]
        tiles = [annotate(dataset[i], scale) for i in idx]
        blank = np.zeros_like(tiles[0])
        tiles += [blank] * (frames - len(tiles))
        rows.append(np.concatenate([np.pad(t, ((2, 2), (2, 2), (0, 0))) for t in tiles], axis=1))
    return np.concatenate(rows, axis=0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("--out", default=None, help="PNG to write (default: DATASET/contact_sheet.png)")
    ap.add_argument("--sequences", type=int, default=4)
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--scale", type=int, default=2)
    args = ap.parse_args(argv)
    ds = SyntheticDataset(args.dataset, require_complete=False)
    out = Path(args.out or Path(args.dataset) / "contact_sheet.png")
    write_png(out, contact_sheet(ds, args.sequences, args.frames, args.scale))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
