"""Train the 2D-to-3D lifting network (``inference/lifting.py``) on poses drawn from the anatomical prior.

    .venv/bin/python -m training.lifter [--steps 6000] [--out runs/lifter.pt] [--seed 0]
    .venv/bin/python -m training.lifter --eval runs/lifter.pt [--footage data/lifter_footage/pairs.npz]
    .venv/bin/python -m training.lifter --footage data/lifter_footage/pairs.npz --init runs/lifter.pt \
        --steps 2000 --lr 3e-4 --out runs/lifter_footage.pt

No renders are needed: every batch is drawn afresh. A pose is one of two kinds, half each: the prior's grasp
synergy (``PosePrior.sample``), or every digit closed on its own (Beta(0.4, 0.4) closures: counting, pointing,
V signs); any orientation (uniform on SO(3)), a random shape (betas N(0, 1) within 2.5), the wrist 0.25-1.2 m
away and up to 27 degrees off the optical axis. Its 21 joints are projected and corrupted the way a detector
corrupts them: half of the samples get MediaPipe's habit of placing landmarks back along each bone
(``inference/keypoint_offsets.json``, scaled 0.7-1.3; an input tells the network which half), every
keypoint Gaussian noise of 0-6% of the hand's size and 3% of them an outlier (10-40% of the size);
``--noise-max`` and ``--outliers`` change the two.

``--footage`` mixes in the detector's real keypoints on rendered clips (``tools/lifter_footage.py``): that share
of every batch (``--footage-share``) is frames of those clips, MediaPipe's keypoints with the truth's joints,
so the network sees the detector's real errors (mirror-labelled hands, blurred frames), not
only a noise model of them. Every tenth clip is held out and scored by ``--eval``.

Loss: the mean per-joint distance of root-relative 3D joints, in the virtual camera, of the best of the K
hypotheses plus 0.05 of their mean (a relaxed winner-takes-all, so that no hypothesis is left untrained),
and a cross-entropy that teaches the score head which hypothesis was best.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from addon.common.hand_model import find_hand_model
from addon.common.pose_prior import PosePrior
from inference.fitting import AnatomicalFrame, limit_arrays
from inference.handmodel.kinematics import HandKinematics
from inference.keypoint_convention import PARENTS_21, detector_offsets
from inference.lifting import KeypointLifter, LifterConfig, angles_from_logits, load_lifter, normalise, save_lifter
from inference.models.blocks import axis_angle_to_matrix, rotmul

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "runs" / "lifter.pt"  # an experiment: no checkpoint ships (README)
CAMERA = torch.tensor([[1000.0, 0.0, 640.0], [0.0, 1000.0, 360.0], [0.0, 0.0, 1.0]])


class Poses:
    """Draws training samples: (features, habit, target root-relative joints in the view frame, betas)."""

    def __init__(self, hand: str = "open", noise_max: float = 0.06, outlier_share: float = 0.03):
        self.noise_max, self.outlier_share = noise_max, outlier_share  # of the hand's size; of the keypoints
        model = find_hand_model("right", hand=hand)
        self.prior = PosePrior(model.rest_joints())
        self.kin = HandKinematics(model)
        self.frame = AnatomicalFrame(model)
        self.lo, self.hi = limit_arrays()
        self.along = torch.tensor(detector_offsets())

    def angles(self, n: int, rng: np.random.Generator) -> np.ndarray:
        half = n // 2
        grasp = rng.beta(0.7, 0.9, half)
        synergy = np.clip(grasp[:, None] + rng.normal(0.0, 0.22, (half, 5)), 0.0, 1.0)
        digits = rng.beta(0.4, 0.4, (n - half, 5))
        closure = np.concatenate([synergy, digits])
        return self.prior.angles_from_closure(closure, rng.uniform(-0.3, 1.0, n), rng)

    def sample(self, n: int, rng: np.random.Generator):
        t = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
        fingers = self.frame.to_pose(t(self.angles(n, rng)))
        q = rng.normal(size=(n, 4))
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        root = t(quaternion_to_axis_angle(q))
        betas = t(np.clip(rng.normal(size=(n, 10)), -2.5, 2.5))
        joints = self.kin(torch.cat([root, fingers], 1), betas)
        depth = t(rng.uniform(0.25, 1.2, n))
        ray = t(rng.uniform(-0.5, 0.5, (n, 2)))
        wrist = torch.cat([ray * depth[:, None], depth[:, None]], 1)
        cam_joints = joints - joints[:, :1] + wrist[:, None]
        if (cam_joints[..., 2] < 0.05).any():  # a hand through the lens: push it back
            cam_joints = cam_joints + (0.05 - cam_joints[..., 2].min(1).values).clamp_min(0)[:, None, None] * \
                torch.tensor([0.0, 0.0, 1.0])
        # the input says whether the keypoints have the habit (1) or not (0); its strength varies around that
        habit = t((rng.random(n) < 0.5).astype(float))
        along = (habit * t(rng.uniform(0.7, 1.3, n)))[:, None] * self.along
        seen = cam_joints + along[..., None] * (cam_joints - cam_joints[:, PARENTS_21])  # as detector_points
        uvw = seen @ CAMERA.T
        uv = uvw[..., :2] / uvw[..., 2:]
        size = (uv.max(1).values - uv.min(1).values).max(1).values  # (n,) pixels
        noise = t(rng.normal(size=(n, 21, 2))) * (t(rng.uniform(0.0, self.noise_max, n)) * size)[:, None, None]
        outlier = t(rng.random((n, 21)) < self.outlier_share)[..., None] * t(rng.normal(size=(n, 21, 2)))
        outlier = outlier / outlier.norm(dim=-1, keepdim=True).clamp_min(1e-6) * \
            (t(rng.uniform(0.1, 0.4, (n, 21))) * size[:, None])[..., None]
        features, view = normalise(uv + noise + outlier, CAMERA)
        target = torch.einsum("nab,njb->nja", view, cam_joints - cam_joints[:, :1])
        return features, habit, target, betas

    def predicted_joints(self, orient: torch.Tensor, logits: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        """Hypotheses (N, K) -> root-relative joints (N, K, 21, 3) in the view frame."""
        n, k = orient.shape[:2]
        fingers = self.frame.to_pose(angles_from_logits(logits, self.lo, self.hi).reshape(-1, 15, 3))
        rot = torch.cat([orient.reshape(n * k, 1, 3, 3),
                         axis_angle_to_matrix(fingers.reshape(n * k, 15, 3))], 1)
        joints = self.kin.from_rotations(rot, betas.repeat_interleave(k, 0))
        return (joints - joints[:, :1]).reshape(n, k, 21, 3)


class FootagePairs:
    """The detector's keypoints on rendered clips beside the truth (``tools/lifter_footage.py detect``), as
    training samples like ``Poses.sample``'s; clips whose index ends in 9 are held out."""

    HELD_OUT_EVERY = 10

    def __init__(self, path: str | Path, held_out: bool = False):
        data = np.load(path)
        keep = (data["clip"] % self.HELD_OUT_EVERY == self.HELD_OUT_EVERY - 1) == held_out
        t = lambda a: torch.as_tensor(np.asarray(a)[keep], dtype=torch.float32)  # noqa: E731
        self.keypoints, self.camera = t(data["keypoints"]), t(data["camera"])
        self.joints, self.betas = t(data["joints"]), t(data["betas"])
        self.clips = int(np.unique(data["clip"][keep]).size)

    def __len__(self) -> int:
        return len(self.keypoints)

    def sample(self, n: int, rng: Optional[np.random.Generator] = None):
        """``n`` frames drawn with ``rng``; without one, every frame in order (``n`` is then ignored)."""
        pick = torch.as_tensor(rng.integers(0, len(self), n)) if rng is not None else torch.arange(len(self))
        features, view = normalise(self.keypoints[pick], self.camera[pick])
        target = torch.einsum("nab,njb->nja", view, self.joints[pick] - self.joints[pick][:, :1])
        return features, torch.ones(len(pick)), target, self.betas[pick]


def concat_batches(*batches):
    return tuple(torch.cat(parts) for parts in zip(*batches))


def quaternion_to_axis_angle(q: np.ndarray) -> np.ndarray:
    """(N, 4) unit quaternions (w, x, y, z) -> (N, 3)."""
    q = q * np.where(q[:, :1] < 0, -1.0, 1.0)
    s = np.linalg.norm(q[:, 1:], axis=1, keepdims=True)
    angle = 2 * np.arctan2(s, q[:, :1])
    return q[:, 1:] * np.where(s > 1e-9, angle / np.maximum(s, 1e-12), 2.0)


def losses(poses: Poses, lifter: KeypointLifter, batch) -> dict:
    features, habit, target, betas = batch
    orient, logits, score = lifter(features, habit)
    pred = poses.predicted_joints(orient, logits, betas)
    err = (pred - target[:, None]).norm(dim=-1).mean(-1)  # (N, K) metres
    best = err.argmin(1)
    return {"best": err.gather(1, best[:, None]).mean(), "mean": err.mean(),
            "score": torch.nn.functional.cross_entropy(score, best), "err": err, "chosen": score.argmax(1)}


def train(steps: int, out: Path, seed: int = 0, batch: int = 1024, lr: float = 1e-3,
          config: LifterConfig = LifterConfig(), noise_max: float = 0.06,
          outlier_share: float = 0.03, footage: Optional[str] = None, footage_share: float = 0.5,
          init: Optional[str] = None) -> KeypointLifter:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    poses = Poses(noise_max=noise_max, outlier_share=outlier_share)
    lifter = load_lifter(init).train() if init else KeypointLifter(config)
    pairs = FootagePairs(footage) if footage else None
    real = int(round(batch * footage_share)) if pairs is not None else 0
    if pairs is not None:
        print(f"footage: {len(pairs)} frames of {pairs.clips} clips, {real} of every {batch} samples")
    opt = torch.optim.AdamW(lifter.parameters(), lr=lr, weight_decay=1e-4)
    tick = time.perf_counter()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
        drawn = poses.sample(batch - real, rng)
        parts = losses(poses, lifter, concat_batches(drawn, pairs.sample(real, rng)) if real else drawn)
        loss = parts["best"] + 0.05 * parts["mean"] + 0.01 * parts["score"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 200 == 0 or step == steps - 1:
            print(f"step {step}: best {parts['best'] * 1000:.1f} mm, mean {parts['mean'] * 1000:.1f} mm, "
                  f"score {parts['score'].item():.3f} ({time.perf_counter() - tick:.0f} s)", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_lifter(lifter, out, {"steps": steps, "seed": seed, "batch": batch, "lr": lr, "noise_max": noise_max,
                              "outlier_share": outlier_share,
                              "footage": footage, "footage_share": footage_share if footage else 0.0,
                              "init": init, "seconds": round(time.perf_counter() - tick)})
    return lifter


@torch.no_grad()
def evaluate(lifter: KeypointLifter, n: int = 4096, seed: int = 12345, pairs: Optional["FootagePairs"] = None) -> dict:
    """Root-relative MPJPE (mm) on fresh samples (or on ``pairs``, every frame): the best hypothesis, the
    top-scored one, and the mean."""
    poses = Poses()
    batch = pairs.sample(len(pairs)) if pairs is not None else poses.sample(n, np.random.default_rng(seed))
    parts = losses(poses, lifter, batch)
    err = parts["err"]
    return {"best_mm": float(err.min(1).values.mean() * 1000),
            "top_scored_mm": float(err.gather(1, parts["chosen"][:, None]).mean() * 1000),
            "mean_mm": float(err.mean() * 1000)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--noise-max", type=float, default=0.06,
                    help="keypoint noise: standard deviation per axis up to this share of the hand's size")
    ap.add_argument("--outliers", type=float, default=0.03, help="share of keypoints thrown 10-40%% of the size")
    ap.add_argument("--footage", help="pairs.npz of tools/lifter_footage.py: the detector's keypoints on clips")
    ap.add_argument("--footage-share", type=float, default=0.5, help="share of each batch drawn from --footage")
    ap.add_argument("--init", help="start from this checkpoint (fine-tuning)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--eval", help="only evaluate this checkpoint (on the default noise, and on --footage's "
                                   "held-out clips)")
    args = ap.parse_args(argv)
    lifter = load_lifter(args.eval) if args.eval else train(
        args.steps, Path(args.out), args.seed, lr=args.lr, noise_max=args.noise_max, outlier_share=args.outliers,
        footage=args.footage, footage_share=args.footage_share, init=args.init)
    print("drawn poses:", {k: round(v, 1) for k, v in evaluate(lifter).items()})
    if args.footage:
        held = FootagePairs(args.footage, held_out=True)
        print(f"held-out footage ({len(held)} frames of {held.clips} clips):",
              {k: round(v, 1) for k, v in evaluate(lifter, pairs=held).items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
