"""The hand's own colours from the footage: per-vertex RGB for the rig, aggregated over the clip.

On a spread of frames with a sample, the result's hand (the final, fitted one) is projected into the frame
and rasterised (``inference/mesh_render.py``); a vertex is seen where the front-most surface at its pixel
lies at its own depth (within 4 mm). Each vertex's colour is the per-channel median of the footage's pixels over the
frames that see it, so an occluder or a shadow in a minority of frames does not stain the skin. Vertices
no frame sees (the far side of the hand) take the average of their seen neighbours, spread over the mesh.
Colours are linear RGB in [0, 1], as Blender's colour attributes store them.

``--skin network`` takes the colours the network itself predicts per frame (S2HAND(V)'s texture head, AMVUR's
occlusion-aware texture branch) through the same aggregation: :class:`NetworkColours` keeps an even spread
of frames, each vertex counted only in the frames where the network saw it (AMVUR's rasterised visibility;
S2HAND predicts the whole hand's texture, so every frame counts).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Iterable, Tuple

import numpy as np
import torch

from addon.common.hand_model import HandModel
from addon.common.lbs import lbs
from addon.common.motion_sequence import MotionSequence

from .mesh_render import project, rasterize

SAMPLE_FRAMES = 24  # frames sampled over the clip
DEPTH_TOLERANCE_M = 0.004  # a vertex this close behind the front surface at its pixel is seen


@dataclass
class FootageColours:
    colours: np.ndarray  # (778, 3) linear RGB
    seen: np.ndarray  # (778,) frames that saw each vertex
    frames: int  # frames used


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def pick_frames(seq: MotionSequence, count: int = SAMPLE_FRAMES) -> np.ndarray:
    """Indices of up to ``count`` samples at whole footage frames, spread evenly, detector-confirmed first."""
    whole = np.nonzero(np.isclose(seq.frames, np.round(seq.frames)))[0]
    if seq.confidence is not None:
        confirmed = whole[seq.confidence[whole] > 0]
        whole = confirmed if len(confirmed) else whole
    if len(whole) <= count:
        return whole
    return whole[np.round(np.linspace(0, len(whole) - 1, count)).astype(int)]


def visible_colours(image: np.ndarray, vertices: np.ndarray, faces: np.ndarray, k: np.ndarray):
    """One frame: (colours (V, 3) linear, seen (V,) bool) of ``vertices`` (V, 3, camera space) in ``image``
    (H, W, 3) uint8 sRGB."""
    h, w = image.shape[:2]
    v = torch.from_numpy(vertices[None].astype(np.float64))
    kt = torch.from_numpy(k.astype(np.float64))
    px = project(v, kt)[0].numpy()
    lo = np.floor(px[:, :2].min(0)).astype(int) - 2
    hi = np.ceil(px[:, :2].max(0)).astype(int) + 2
    x0, y0 = max(lo[0], 0), max(lo[1], 0)
    x1, y1 = min(hi[0], w), min(hi[1], h)
    seen = np.zeros(len(vertices), bool)
    colours = np.zeros((len(vertices), 3))
    if x1 <= x0 or y1 <= y0:
        return colours, seen
    shift = kt.clone()
    shift[0, 2] -= x0  # rasterise only the hand's box
    shift[1, 2] -= y0
    raster = rasterize(v, torch.from_numpy(faces.astype(np.int64)), shift, (y1 - y0, x1 - x0))
    depth = raster.depth[0].numpy()
    col = np.floor(px[:, 0]).astype(int) - x0
    row = np.floor(px[:, 1]).astype(int) - y0
    inside = (col >= 0) & (col < x1 - x0) & (row >= 0) & (row < y1 - y0) & (px[:, 2] > 0)
    c, r = col[inside], row[inside]
    front = depth[r, c]
    # at its own depth: not behind the surface there, nor in front of it (an outline vertex whose pixel shows
    # whatever lies behind the hand)
    ok = (front > 0) & (np.abs(px[inside, 2] - front) <= DEPTH_TOLERANCE_M)
    idx = np.nonzero(inside)[0][ok]
    seen[idx] = True
    colours[idx] = srgb_to_linear(image[row[idx] + y0, col[idx] + x0] / 255.0)
    return colours, seen


def fill_unseen(colours: np.ndarray, seen: np.ndarray, faces: np.ndarray, rounds: int = 200) -> np.ndarray:
    """Unseen vertices get the mean of their neighbours, spread from the seen ones outwards."""
    out = colours.copy()
    known = seen.copy()
    if not known.any():
        return out
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.concatenate([edges, edges[:, ::-1]])
    for _ in range(rounds):
        if known.all():
            break
        src = known[edges[:, 0]] & ~known[edges[:, 1]]
        total = np.zeros_like(out)
        count = np.zeros(len(out))
        np.add.at(total, edges[src, 1], out[edges[src, 0]])
        np.add.at(count, edges[src, 1], 1)
        new = count > 0
        out[new] = total[new] / count[new, None]
        known |= new
    out[~known] = np.median(colours[seen], axis=0)
    return out


def aggregate(per_frame: Iterable[Tuple[np.ndarray, np.ndarray]], faces: np.ndarray) -> FootageColours:
    """Per-vertex medians over the frames that saw each vertex (``per_frame``: (colours, seen) pairs)."""
    stacks = list(per_frame)
    cols = np.stack([c for c, _ in stacks])  # (N, V, 3)
    seen = np.stack([s for _, s in stacks])  # (N, V)
    masked = np.where(seen[..., None], cols, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: the unseen vertices
        median = np.nanmedian(masked, axis=0)
    any_seen = seen.any(0)
    median = np.where(any_seen[:, None], median, 0.0)
    return FootageColours(fill_unseen(median, any_seen, faces), seen.sum(0), len(stacks))


class NetworkColours:
    """The network's per-frame vertex colours over one track, kept for at most ``count`` frames spread over
    the clip (every ``stride``-th frame with a hand), then aggregated like the footage's."""

    def __init__(self, faces: np.ndarray, total_frames: int, count: int = SAMPLE_FRAMES):
        self.faces = faces
        self.stride = max(1, -(-total_frames // count))
        self.offered = 0
        self.kept: list = []

    def add(self, colours_srgb: np.ndarray, visible: np.ndarray | None = None) -> None:
        """One frame: (778, 3) colours in the crop's sRGB [0, 1]; ``visible`` (778,) bool, None: all."""
        self.offered += 1
        if (self.offered - 1) % self.stride:
            return
        seen = np.ones(len(colours_srgb), bool) if visible is None else np.asarray(visible, bool)
        self.kept.append((srgb_to_linear(np.clip(colours_srgb, 0.0, 1.0)).astype(np.float32), seen))

    def result(self) -> FootageColours:
        if not self.kept:
            raise ValueError("the network gave no colours for this hand")
        return aggregate(self.kept, self.faces)


def footage_colours(frames: Iterable[Tuple[int, np.ndarray]], seq: MotionSequence, model: HandModel,
                    first_blender_frame: int = 1) -> FootageColours:
    """Colours of ``seq``'s hand from the footage's ``frames`` ((index, RGB uint8), in order); sample i of
    ``seq`` is at footage index ``round(seq.frames[i]) - first_blender_frame``."""
    wanted = {int(round(seq.frames[i])) - first_blender_frame: i for i in pick_frames(seq)}
    per_frame = []
    for index, rgb in frames:
        i = wanted.get(index)
        if i is None:
            continue
        posed = lbs(seq.betas[i:i + 1], seq.full_pose[i:i + 1], model.v_template, model.shapedirs, model.posedirs,
                    model.J_regressor, model.parents, model.weights, seq.transl[i:i + 1]).vertices[0]
        per_frame.append(visible_colours(rgb, posed, model.f, seq.camera_matrix))
    if not per_frame:
        raise ValueError("no frame of the footage matches the sequence's samples")
    return aggregate(per_frame, model.f)
