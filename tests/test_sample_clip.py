"""The shipped sample clip and its ground truth agree with each other."""
import cv2
import numpy as np

from addon.common.motion_sequence import load_motion_sequence
from helpers import ROOT

CLIP = ROOT / "samples" / "sample_clip.mp4"
TRUTH = ROOT / "samples" / "sample_clip_truth.npz"


def read_frames():
    cap = cv2.VideoCapture(str(CLIP))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            return frames
        frames.append(frame)


def test_clip_decodes_to_the_truths_frames_and_the_hand_is_where_the_truth_says():
    truth = load_motion_sequence(TRUTH)
    frames = read_frames()
    assert len(frames) == len(truth) == 120 and truth.fps == 30.0
    assert frames[0].shape[:2] == (truth.image_size[1], truth.image_size[0])
    # the pixels that change over the clip (the moving hand) surround the projected wrist positions
    stack = np.stack(frames).astype(np.float32)
    moving = np.abs(stack - np.median(stack, axis=0)).max(axis=(0, 3)) > 40
    from addon.common.hand_model import find_hand_model

    wrist = truth.transl + find_hand_model("right").rest_joints()[0]
    uv = wrist @ truth.camera_matrix.T
    uv = uv[:, :2] / uv[:, 2:]
    ys, xs = np.nonzero(moving)
    assert xs.min() - 20 <= uv[:, 0].min() and uv[:, 0].max() <= xs.max() + 20
    assert ys.min() - 20 <= uv[:, 1].min() and uv[:, 1].max() <= ys.max() + 20


def test_fast_motion_blurs():
    sharpness = [cv2.Laplacian(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var() for f in read_frames()]
    truth = load_motion_sequence(TRUTH)
    speed = np.linalg.norm(np.diff(truth.global_orient, axis=0), axis=1)
    # frames where the hand turns fastest are blurrier (less high-frequency energy) than the slowest ones
    fast, slow = np.argsort(speed)[-15:], np.argsort(speed)[:15]
    assert np.mean(np.array(sharpness)[fast]) < np.mean(np.array(sharpness)[slow])
