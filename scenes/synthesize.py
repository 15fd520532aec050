"""One synthetic sequence: a pose flow rendered frame by frame, optionally blurred the BlurHand way.

Blur (paper 000, section 3) spans an exposure of ``exposure`` frames (BlurHand: 5 sharp frames, i.e. 4
frame intervals), in linear light, two ways:

- ``motion`` (default): one Cycles render with motion blur. The rig (and any occluder) is keyed at
  ``subframes`` instants over the exposure and Cycles blurs the skinned mesh's deformation over its shutter,
  so a blurred frame costs about one render, not ``subframes``.
- ``average``: the paper's own recipe, ``subframes`` separate renders averaged.

The initial, middle and final instants' labels are the ground truth; the sharp frame at the middle instant
is rendered and written too.
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from addon.common.hand_model import HandModel
from addon.common.joints import TIP_NAMES, TIP_VERTEX_IDS
from addon.common.lbs import lbs
from addon.common.png import write_png
from addon.common.rotations import (
    axis_angle_to_quaternion,
    matrix_to_axis_angle,
    mirror_axis_angle,
    quaternion_to_matrix,
)

from .backgrounds import BackgroundSource, crop_resize, crop_window, linear_to_srgb
from .pose_bank import PoseBank
from .pose_flow import FlowParams, PoseFlow, sample_flow

TIPS = [TIP_VERTEX_IDS[t] for t in TIP_NAMES]
BLUR_METHODS = ("motion", "average")


@dataclass
class SynthSettings:
    frames: int = 10
    blur: bool = False
    subframes: int = 33
    exposure: float = 4.0  # frames spanned by one exposure (BlurHand: 5 sharp frames = 4 intervals)
    blur_method: str = "motion"  # "motion": one Cycles pass with motion blur; "average": sub-frame renders
    blur_samples: int = 0  # Cycles samples of a one-pass blurred frame (0: the sharp frames' count)
    occluders: bool = False
    second_hand: bool = False
    forearm: bool = False  # MakeHuman's forearm (and a random sleeve) behind each hand
    flow: FlowParams = field(default_factory=FlowParams)

    def __post_init__(self) -> None:
        if self.blur and (self.subframes < 3 or self.subframes % 2 == 0):
            raise ValueError("--subframes must be odd and at least 3, so one sub-frame falls on the frame itself")
        if self.blur_method not in BLUR_METHODS:
            raise ValueError(f"--blur-method must be one of {', '.join(BLUR_METHODS)}, not {self.blur_method!r}")

    @property
    def margin(self) -> int:
        """Flow samples needed before the first and after the last frame."""
        return int(math.ceil(self.exposure / 2)) if self.blur else 0

    def times(self) -> np.ndarray:
        """Sub-frame offsets (in frames) around each frame's time."""
        if not self.blur:
            return np.zeros(1)
        return np.linspace(-self.exposure / 2, self.exposure / 2, self.subframes)

    def label_times(self) -> np.ndarray:
        return np.array([-self.exposure / 2, 0.0, self.exposure / 2]) if self.blur else np.zeros(1)


def _slerp(q0: np.ndarray, q1: np.ndarray, f: np.ndarray) -> np.ndarray:
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    small = theta < 1e-6
    s = np.sin(np.where(small, 1.0, theta))
    w0 = np.where(small, 1 - f, np.sin((1 - f) * theta) / s)
    w1 = np.where(small, f, np.sin(f * theta) / s)
    q = w0 * q0 + w1 * q1
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def flow_at(flow: PoseFlow, t: float):
    """Full pose (48,) and transl (3,) at fractional flow time t (per-joint slerp between samples)."""
    n = len(flow.hand_pose)
    t = float(np.clip(t, 0.0, n - 1))
    i = min(int(np.floor(t)), n - 2)
    f = np.array([[t - i]])
    poses = np.concatenate([flow.global_orient, flow.hand_pose], axis=1).reshape(n, 16, 3)
    q = _slerp(axis_angle_to_quaternion(poses[i]), axis_angle_to_quaternion(poses[i + 1]), f)
    full = matrix_to_axis_angle(quaternion_to_matrix(q)).reshape(48)
    transl = flow.transl[i] + (t - i) * (flow.transl[i + 1] - flow.transl[i])
    return full, transl


def mano_labels(model: HandModel, betas: np.ndarray, full: np.ndarray, transl: np.ndarray) -> Dict[str, np.ndarray]:
    """Exact MANO vertices and MANO-21 joints (camera coordinates) for poses (K, 48)."""
    k = len(full)
    out = lbs(np.repeat(betas[None], k, 0), full, model.v_template, model.shapedirs, model.posedirs,
              model.J_regressor, model.parents, model.weights, transl)
    joints = np.concatenate([out.joints, out.vertices[:, TIPS]], axis=1)
    return {"vertices": out.vertices, "joints3d": joints}


def project(points: np.ndarray, k: np.ndarray) -> np.ndarray:
    uvw = points @ k.T
    return uvw[..., :2] / uvw[..., 2:3]


NAIL_STREAM = 1  # nail colours come from their own random stream: the scene's other draws stay as they were


def nail_colour(rng: np.random.Generator) -> np.ndarray:
    """Linear RGB nails: bare (pale pink to ivory, around the textures' own nail colour) on three hands in
    four, polish of any hue on the rest."""
    if rng.random() < 0.25:
        hue, sat, val = rng.random(), rng.uniform(0.4, 0.9), rng.uniform(0.15, 0.8)
        return np.array(colorsys.hsv_to_rgb(hue, sat, val)) ** 2.2
    bare = np.array([0.84, 0.55, 0.51]) * rng.uniform(0.85, 1.1) + rng.uniform(-0.04, 0.04, 3)
    return np.clip(bare, 0.0, 1.0)


@dataclass
class _Occluder:
    obj: object
    start: np.ndarray
    end: np.ndarray


def synthesize_sequence(renderer, bank: PoseBank, models: Dict[str, HandModel], backgrounds: BackgroundSource,
                        settings: SynthSettings, seed: int, index: int, out_dir: Path,
                        name_prefix: str = "") -> Dict[str, np.ndarray]:
    """Render sequence ``index`` into ``out_dir`` (images/, masks/, sharp/) and return its labels."""
    rng = np.random.default_rng([seed, index])
    size = renderer.settings.size
    k = renderer.settings.intrinsics
    flow_params = FlowParams(**{**settings.flow.__dict__, "frames": settings.frames, "extra": settings.margin})
    model = models["right"]
    flow = sample_flow(bank, model, k, (size, size), flow_params, rng)
    renderer.clear()
    nails = np.random.default_rng([seed, index, NAIL_STREAM])
    rig = renderer.add_hand(model, flow.betas, flow.skin, "hand", camera=True, nail_rgb=nail_colour(nails))
    if settings.forearm:
        renderer.add_forearm(rig, model, flow.betas, flow.skin, rng)
    second: Optional[tuple] = None
    if settings.second_hand and "left" in models:
        other = sample_flow(bank, models["right"], k, (size, size), flow_params, rng)
        other_rig = renderer.add_hand(models["left"], other.betas, other.skin, "second_hand", camera=False,
                                      nail_rgb=nail_colour(nails))
        if settings.forearm:
            renderer.add_forearm(other_rig, models["left"], other.betas, other.skin, rng)
        shift = models["right"].rest_joints(other.betas)[0] - models["left"].rest_joints(other.betas)[0]
        second = (other, other_rig, shift)
    occluders: List[_Occluder] = []
    if settings.occluders:
        for _ in range(int(rng.integers(1, 3))):
            obj = renderer.add_occluder(rng)
            obj.parent = rig.root  # place in camera coordinates
            # between the camera and the hand, drifting across it
            a, b = flow.wrist[0], flow.wrist[-1]
            depth = rng.uniform(0.4, 0.8)
            start = a * depth + rng.normal(0.0, 0.03, 3)
            end = b * depth + rng.normal(0.0, 0.03, 3)
            occluders.append(_Occluder(obj, start, end))
    renderer.randomize_lights(rng)
    bg_image = backgrounds.image(rng)
    windows = crop_window(rng, bg_image.shape), crop_window(rng, bg_image.shape)
    n_flow = len(flow.hand_pose)

    def place(t: float) -> None:
        full, transl = flow_at(flow, t)
        renderer.pose(rig, full, transl)
        if second is not None:
            other, other_rig, wrist_shift = second
            f2, t2 = flow_at(other, t)
            # the mirrored flow drives the left model, its wrist kept where the flow puts it
            renderer.pose(other_rig, mirror_axis_angle(f2), t2 + wrist_shift)
        u = t / max(n_flow - 1, 1)
        for occ in occluders:
            occ.obj.location = tuple(occ.start + u * (occ.end - occ.start))

    def background(t: float) -> np.ndarray:
        u = t / max(n_flow - 1, 1)
        return crop_resize(bg_image, windows[0] + u * (windows[1] - windows[0]), size)

    for sub in ("images", "masks", "sharp") if settings.blur else ("images", "masks"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    offsets = settings.times()
    label_offsets = settings.label_times()
    records: Dict[str, list] = {key: [] for key in (
        "sequence", "frame", "image", "mask", "sharp", "global_orient", "hand_pose", "transl", "joints3d",
        "joints2d", "vertices", "visible", "bbox", "time_offset")}

    def key_exposure(times: np.ndarray) -> None:
        """Key everything that moves at the exposure's instants, for one-pass motion blur."""
        poses = [flow_at(flow, t) for t in times]
        renderer.key_exposure(rig, np.array([p[0] for p in poses]), np.array([p[1] for p in poses]))
        if second is not None:
            other, other_rig, wrist_shift = second
            others = [flow_at(other, t) for t in times]
            renderer.key_exposure(other_rig, mirror_axis_angle(np.array([p[0] for p in others])),
                                  np.array([p[1] for p in others]) + wrist_shift)
        for occ in occluders:
            u = (times / max(n_flow - 1, 1))[:, None]
            renderer.key_object_path(occ.obj, occ.start + u * (occ.end - occ.start))

    one_pass = settings.blur and settings.blur_method == "motion"
    for f in range(settings.frames):
        centre = settings.margin + f
        if one_pass:
            times = centre + offsets
            key_exposure(times)
            rgba = renderer.render_blurred(samples=settings.blur_samples)
            renderer.clear_exposure_keys()
            backdrop = np.mean([background(t) for t in times], axis=0)  # the crop drifts during the exposure
            blurred = rgba[..., :3] + (1.0 - rgba[..., 3:]) * backdrop
            place(float(centre))
            rgba = renderer.render()
            sharp, alpha_mid = rgba[..., :3] + (1.0 - rgba[..., 3:]) * background(float(centre)), rgba[..., 3]
        else:
            acc = np.zeros((size, size, 3), dtype=np.float64)
            sharp = None
            for o in offsets:
                place(centre + o)
                rgba = renderer.render()
                composite = rgba[..., :3] + (1.0 - rgba[..., 3:]) * background(centre + o)
                acc += composite
                if o == 0.0:
                    sharp, alpha_mid = composite, rgba[..., 3]
            blurred = acc / len(offsets)
        if settings.occluders or second is not None or settings.forearm:
            place(float(centre))
            mask = renderer.hand_mask(rig)
        else:
            mask = alpha_mid > 0.5
        stem = f"{name_prefix}s{index:06d}_f{f:03d}"
        write_png(out_dir / "images" / f"{stem}.png", _to_u8(blurred))
        write_png(out_dir / "masks" / f"{stem}.png", (mask * 255).astype(np.uint8))
        if settings.blur:
            write_png(out_dir / "sharp" / f"{stem}.png", _to_u8(sharp))
        poses = [flow_at(flow, centre + o) for o in label_offsets]
        full = np.array([p[0] for p in poses])
        transl = np.array([p[1] for p in poses])
        lab = mano_labels(model, flow.betas, full, transl)
        j2d = project(lab["joints3d"], k)
        mid = len(label_offsets) // 2
        px = np.round(j2d[mid]).astype(int)
        inside = (px[:, 0] >= 0) & (px[:, 0] < size) & (px[:, 1] >= 0) & (px[:, 1] < size)
        visible = np.zeros(21, dtype=bool)
        visible[inside] = mask[px[inside, 1], px[inside, 0]]
        ys, xs = np.nonzero(mask)
        bbox = (np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float32) if len(xs)
                else np.concatenate([j2d[mid].min(0), j2d[mid].max(0)]).astype(np.float32))
        rel = lambda sub: f"{sub}/{stem}.png"  # noqa: E731
        for key, value in (("sequence", index), ("frame", f), ("image", rel("images")), ("mask", rel("masks")),
                           ("sharp", rel("sharp") if settings.blur else ""), ("global_orient", full[:, :3]),
                           ("hand_pose", full[:, 3:]), ("transl", transl),
                           ("joints3d", lab["joints3d"].astype(np.float32)), ("joints2d", j2d.astype(np.float32)),
                           ("vertices", lab["vertices"].astype(np.float32)), ("visible", visible), ("bbox", bbox),
                           ("time_offset", label_offsets)):
            records[key].append(value)
    out = {key: np.array(v) for key, v in records.items()}
    out["betas"] = np.repeat(flow.betas[None], settings.frames, 0)
    out["skin"] = np.full(settings.frames, flow.skin)
    out["K"] = np.repeat(k[None], settings.frames, 0)
    return out


def _to_u8(linear: np.ndarray) -> np.ndarray:
    return np.round(linear_to_srgb(linear) * 255.0).astype(np.uint8)
