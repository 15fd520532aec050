"""A network's hands placed in the footage: right-hand MANO from a crop -> camera-space hands of the track's
side, each translation solved so that its joints project onto the detector's keypoints."""
from __future__ import annotations

from typing import List, Optional

import numpy as np

from addon.common.hand_model import HandModel
from addon.common.joints import TIP_VERTEX_IDS
from addon.common.lbs import lbs
from addon.common.rotations import mirror_axis_angle

from .camera import solve_translation
from .crop import crop_to_image
from .records import Hand

TIPS = list(TIP_VERTEX_IDS.values())
# Translation weights: the palm (wrist, MCPs, thumb CMC) is rigid, so an error in predicted finger bend
# should not drag the whole hand off its place in the image.
PALM = [0, 1, 4, 7, 10, 13]
TRANSLATION_WEIGHTS = np.where(np.isin(np.arange(21), PALM), 1.0, 0.2)
TRANSLATION_WEIGHTS[0] = 4.0  # the wrist anchors the rig: it should sit where the detector saw it
# A joint whose predicted variance (summed over x, y, z) is 9 cm^2, an expected error of 3 cm (about a finger
# segment), has confidence 0.5.
VARIANCE_AT_HALF_CM2 = 9.0


def joint_confidence(variance_cm2: np.ndarray) -> np.ndarray:
    """A model's per-joint variance (cm^2, summed over x, y, z) -> the motion sequence's confidence in [0, 1]."""
    return 1.0 / (1.0 + np.maximum(np.asarray(variance_cm2, dtype=np.float64), 0.0) / VARIANCE_AT_HALF_CM2)


def mano_joints(model: HandModel, pose: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """(N, 48), (N, 10) -> (N, 21, 3) MANO-21 joints, no translation."""
    out = lbs(betas, pose, model.v_template, model.shapedirs, model.posedirs, model.J_regressor, model.parents,
              model.weights, vertex_ids=TIPS)
    return np.concatenate([out.joints, out.vertices], axis=1)


def place_hands(pose: np.ndarray, betas: np.ndarray, joints_crop: np.ndarray, affine: np.ndarray, mirrored: bool,
                keypoints: Optional[np.ndarray], model: HandModel, k: np.ndarray,
                joint_variance: Optional[np.ndarray] = None) -> List[Hand]:
    """One crop's T hands -> camera-space hands of the footage's side.

    pose (T, 48) and betas (T, 10) are right-hand MANO from the network; joints_crop (T, 21, 2) its 2D joints
    in crop pixels. A mirrored crop's hands are mirrored back. Each hand's translation is solved so that its
    joints project onto ``keypoints`` (21, 2) (the middle hand) shifted by the network's own 2D motion (the end
    hands); without keypoints (a fixed region), onto the network's own 2D joints. ``joint_variance`` (T, 21)
    cm^2, where the model gives one, becomes each hand's ``joint_confidence``."""
    if mirrored:
        pose = mirror_axis_angle(pose)
    joints = mano_joints(model, pose, betas)
    pixels = np.stack([crop_to_image(j, affine) for j in joints_crop])
    if keypoints is not None:  # the detector sees the whole frame: it places the hand
        pixels = pixels + (keypoints - pixels[len(pose) // 2])
    out = []
    for t in range(len(pose)):
        transl = solve_translation(joints[t], pixels[t], k, TRANSLATION_WEIGHTS)
        out.append(Hand(pose[t], betas[t], transl, joints[t] + transl,
                        None if joint_variance is None else joint_confidence(joint_variance[t])))
    return out
