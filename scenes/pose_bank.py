"""Pose banks: the real (or prior-drawn) hand poses that SeqHAND pose flows snap to.

A bank holds MANO right-hand poses (``flat_hand_mean=True`` axis-angle, (N, 45)) and, for the
nearest-neighbour snap, each pose's 21 root-relative joints at mean shape. Banks come from:

- the anatomical pose prior (``PoseBank.from_prior``), so everything works out of the box;
- FreiHAND's ``training_mano.json`` (``from_freihand``): per sample 61 numbers, 48 pose (axis-angle, MANO
  mean added, i.e. ``flat_hand_mean=False``), 10 shape, 3 translation;
- InterHand2.6M's ``*_MANO_NeuralAnnot.json`` (``from_interhand``): {capture: {frame: {"right"/"left":
  {"pose": 48, "shape": 10, "trans": 3}}}}, also with the MANO mean added; left hands are mirrored;
- any ``.npz``/``.npy`` of poses (N, 45) or (N, 48) (``from_array``).

Joint-only sources (BigHand-style 21-joint files) need an inverse-kinematics fit first; see
``training`` for that.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from addon.common.hand_model import HandModel, find_hand_model
from addon.common.joints import TIP_NAMES, TIP_VERTEX_IDS
from addon.common.lbs import forward_kinematics
from addon.common.pose_prior import PosePrior
from addon.common.rotations import axis_angle_to_matrix, mirror_axis_angle


class PoseBankError(ValueError):
    """A pose source that cannot be used; the message names the file and the problem."""


@dataclass
class PoseBank:
    poses: np.ndarray  # (N, 45) right-hand finger poses, flat_hand_mean=True
    joints: np.ndarray  # (N, 21, 3) MANO-21 joints relative to the wrist, mean shape, metres
    source: str = "prior"

    def __post_init__(self) -> None:
        self.poses = np.asarray(self.poses, dtype=np.float64)
        if self.poses.ndim != 2 or self.poses.shape[1] != 45 or len(self.poses) < 2:
            raise PoseBankError(f"{self.source}: a pose bank needs shape (N >= 2, 45), got {self.poses.shape}")
        if not np.all(np.isfinite(self.poses)):
            raise PoseBankError(f"{self.source}: poses contain NaN or infinite values")
        self._flat = self.joints.reshape(len(self.joints), -1)
        self._sq = np.einsum("ij,ij->i", self._flat, self._flat)

    def __len__(self) -> int:
        return len(self.poses)

    def nearest(self, joints: np.ndarray) -> int:
        """Index of the bank pose whose joints are closest (Euclidean, all 21 joints) to ``joints``."""
        q = joints.reshape(-1)
        return int(np.argmin(self._sq - 2.0 * self._flat @ q))

    # ------------------------------------------------------------------------------------------ sources

    @classmethod
    def from_poses(cls, poses: np.ndarray, source: str, model: Optional[HandModel] = None) -> "PoseBank":
        poses = np.asarray(poses, dtype=np.float64)
        if poses.ndim != 2 or poses.shape[1] != 45:
            raise PoseBankError(f"{source}: expected poses of shape (N, 45), got {poses.shape}")
        return cls(poses=poses, joints=bank_joints(poses, model or find_hand_model("right")), source=source)

    @classmethod
    def from_prior(cls, n: int = 20000, seed: int = 0, model: Optional[HandModel] = None) -> "PoseBank":
        model = model or find_hand_model("right")
        poses = PosePrior(model.rest_joints()).sample(n, np.random.default_rng(seed))
        return cls.from_poses(poses, f"pose prior ({n} poses, seed {seed})", model)

    @classmethod
    def from_array(cls, path: str | os.PathLike, model: Optional[HandModel] = None) -> "PoseBank":
        path = Path(path)
        try:
            data = np.load(path, allow_pickle=False)
            arr = data[data.files[0]] if hasattr(data, "files") else data
        except Exception as exc:  # noqa: BLE001
            raise PoseBankError(f"{path}: not a readable .npy/.npz ({exc})") from None
        arr = np.asarray(arr, dtype=np.float64)
        if arr.ndim == 2 and arr.shape[1] == 48:
            arr = arr[:, 3:]  # drop the global orientation
        return cls.from_poses(arr, str(path), model)

    @classmethod
    def from_freihand(cls, path: str | os.PathLike, model: Optional[HandModel] = None) -> "PoseBank":
        model = _official(model, path)
        rows = _read_json(path)
        try:
            arr = np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
        except ValueError:
            raise PoseBankError(f"{path}: expected a list of 61-number MANO rows") from None
        if arr.shape[1] != 61:
            raise PoseBankError(f"{path}: expected 61 numbers per row (48 pose, 10 shape, 3 trans), got {arr.shape[1]}")
        return cls.from_poses(arr[:, 3:48] + model.hands_mean, str(path), model)

    @classmethod
    def from_interhand(cls, path: str | os.PathLike, model: Optional[HandModel] = None) -> "PoseBank":
        model = _official(model, path)
        data = _read_json(path)
        poses = []
        try:
            for frames in data.values():
                for hands in frames.values():
                    for side, params in (hands or {}).items():
                        if not params:
                            continue
                        pose = np.asarray(params["pose"], dtype=np.float64)[3:48]
                        # Stored relative to MANO's mean pose; a left pose (left model) mirrors into the right.
                        poses.append(pose + model.hands_mean if side == "right"
                                     else mirror_axis_angle(pose) + model.hands_mean)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise PoseBankError(f"{path}: not InterHand2.6M MANO annotations ({type(exc).__name__}: {exc})") from None
        if not poses:
            raise PoseBankError(f"{path}: no MANO poses found")
        return cls.from_poses(np.array(poses), str(path), model)

    @classmethod
    def load(cls, spec: str, model: Optional[HandModel] = None) -> "PoseBank":
        """``prior`` / ``prior:N``, or a file: ``*.json`` (FreiHAND or InterHand2.6M), ``*.npy``/``*.npz``."""
        if spec == "prior" or spec.startswith("prior:"):
            return cls.from_prior(int(spec.split(":")[1]) if ":" in spec else 20000, model=model)
        path = Path(spec)
        if not path.is_file():
            raise PoseBankError(f"{spec}: no such pose-bank file")
        if path.suffix == ".json":
            head = path.read_text()[:1].strip()
            return cls.from_freihand(path, model) if head == "[" else cls.from_interhand(path, model)
        return cls.from_array(path, model)


def _official(model: Optional[HandModel], path) -> HandModel:
    """Datasets store poses relative to the official MANO mean pose, so they need the official model."""
    if model is None or model.is_open_hand:
        raise PoseBankError(f"{path}: these poses are relative to the official MANO mean pose; "
                            "give the official MANO folder (--mano DIR) to use them")
    return model


def _read_json(path: str | os.PathLike):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise PoseBankError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PoseBankError(f"{path}: not JSON ({exc})") from None


def bank_joints(poses: np.ndarray, model: HandModel, chunk: int = 4096) -> np.ndarray:
    """(N, 45) poses -> (N, 21, 3) MANO-21 joints relative to the wrist, at mean shape.

    Joints need only forward kinematics and the five fingertip vertices, not the whole mesh.
    """
    tips = [TIP_VERTEX_IDS[t] for t in TIP_NAMES]
    rest_joints = model.J_regressor @ model.v_template
    tip_rest = np.concatenate([model.v_template[tips], np.ones((5, 1))], axis=1)  # (5, 4) homogeneous
    out = np.empty((len(poses), 21, 3))
    for s in range(0, len(poses), chunk):
        p = poses[s : s + chunk]
        rot = axis_angle_to_matrix(np.concatenate([np.zeros((len(p), 1, 3)), p.reshape(len(p), 15, 3)], axis=1))
        joints, skin = forward_kinematics(rot, np.broadcast_to(rest_joints, (len(p), 16, 3)), model.parents)
        blended = np.einsum("vj,bjcd->bvcd", model.weights[tips], skin)
        tip_pos = np.einsum("bvcd,vd->bvc", blended[:, :, :3, :], tip_rest)
        j21 = np.concatenate([joints, tip_pos], axis=1)
        out[s : s + chunk] = j21 - j21[:, :1]
    return out
