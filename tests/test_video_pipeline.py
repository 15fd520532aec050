"""The worker's pieces on their own: footage decoding, tracking, camera maths, end-hand ordering, filters."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from addon.common.job_options import JobOptions
from addon.common.rotations import axis_angle_to_quaternion
from helpers import ROOT, assert_close
from inference.camera import intrinsics_from_fov, solve_translation
from inference.detect import Detection
from inference.filters import OneEuro, PoseSmoother, interpolate_pose
from inference.hand_stream import HandStream
from inference.pipeline import _ranges
from inference.records import FrameHands, Hand
from inference.tracking import OnlineTracker, Track
from inference.video import Footage, FootageError

CLIP = ROOT / "samples" / "sample_clip.mp4"


def test_footage_streams_a_range_and_names_bad_ranges(tmp_path):
    footage = Footage(CLIP)
    assert (footage.info.width, footage.info.height, footage.info.frame_count) == (640, 360, 120)
    frames = list(footage.frames(30, 33))
    assert [i for i, _ in frames] == [30, 31, 32, 33] and frames[0][1].shape == (360, 640, 3)
    with pytest.raises(FootageError, match="frame range 50..10 is empty"):
        footage.frame_range(50, 10)
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"img_{i:03d}.png"), np.full((20, 30, 3), 60 * i, np.uint8))
    seq = Footage(tmp_path)
    assert seq.info.frame_count == 3 and [i for i, _ in seq.frames()] == [0, 1, 2]
    photo = Footage(tmp_path / "img_001.png")  # one image file is a photo: that image alone
    assert photo.info.frame_count == 1 and [int(rgb.mean()) for _, rgb in photo.frames()] == [60]


def test_translation_is_recovered_exactly_from_noiseless_projections():
    k = intrinsics_from_fov(640, 360, 70.0)
    rng = np.random.default_rng(1)
    points = rng.normal(0, 0.04, (21, 3))
    truth = np.array([0.05, -0.03, 0.45])
    uvw = (points + truth) @ k.T
    assert_close(solve_translation(points, uvw[:, :2] / uvw[:, 2:], k), truth, atol=1e-9)
    # 2D that no hand in front of the camera can explain: depth from the size ratio instead
    t = solve_translation(points, np.tile([[320.0, 180.0]], (21, 1)) + rng.normal(0, 40, (21, 2)), k)
    assert 0.1 <= t[2] + points[0, 2] <= 20.0


def _det(side, score, x):
    keypoints = np.array([[x, 100.0]]) + np.random.default_rng(int(x)).normal(0, 20, (21, 2))
    return Detection.from_keypoints(side, score, keypoints)


def _hands(frames, one_hand=False):
    """The tracks that became hands after ``frames`` (each a list of detections)."""
    tracker = OnlineTracker(max_hands=1 if one_hand else 2, one_hand=one_hand)
    for i, found in enumerate(frames):
        tracker.update(i, found)
    return [t for t in tracker.tracks if tracker.is_hand(t)]


def test_a_hand_with_flickering_labels_is_one_track_and_two_hands_are_two():
    frames = [[_det("right" if i % 3 else "left", 0.9, 100 + 2 * i)] for i in range(12)]
    tracks = _hands(frames)
    assert len(tracks) == 1 and len(tracks[0].detections) == 12
    assert tracks[0].label_evidence() == pytest.approx((8 * 0.8 - 4 * 0.8) / 12)  # mostly right, unsure
    two = [[_det("right", 0.9, 100 + i), _det("left", 0.8, 500 - i)] for i in range(6)]
    tracks = _hands(two)
    assert [np.sign(t.label_evidence()) for t in tracks] == [1, -1]
    assert all(len(t.detections) == 6 for t in tracks)
    glitch = [list(f) for f in frames]
    glitch[5] = glitch[5] + [_det("left", 0.6, 400)]  # one stray detection elsewhere: not a second hand
    twice = glitch[6][0]
    glitch[6] = glitch[6] + [Detection("left", 0.5, twice.keypoints + 3.0, twice.box + [3.0, 3.0, 0.0])]  # same hand
    assert len(_hands(glitch)) == 1
    single = _hands(frames, one_hand=True)
    assert len(single) == 1 and len(single[0].detections) == 12
    assert {d.side for d in single[0].detections.values()} == {"right", "left"}  # each keeps the detector's label



def test_smoothed_boxes_follow_steady_motion_exactly_and_calm_jitter():
    boxes = {f: np.array([10.0 + 4 * f, 20.0, 50.0]) for f in range(12)}
    track = Track({f: Detection("right", 0.9, np.zeros((21, 2)), b) for f, b in boxes.items()})
    assert_close(track.smoothed_box(6), boxes[6], atol=1e-9)  # a Gaussian over a straight line: on the line
    shaky = Track({f: Detection("right", 0.9, np.zeros((21, 2)), b + [(-1) ** f * 3.0, 0, 0]) for f, b in boxes.items()})
    assert abs(shaky.smoothed_box(6)[0] - boxes[6][0]) < 1.0


def test_a_lost_hand_is_picked_up_within_the_gap_and_a_new_track_starts_after_it():
    tracker = OnlineTracker(max_gap=5)
    for f in list(range(4)) + [8, 9] + [20, 21]:
        tracker.update(f, [_det("right", 0.9, 100.0)])
    assert [sorted(t.detections) for t in tracker.tracks] == [[0, 1, 2, 3, 8, 9], [20, 21]]
    assert not tracker.is_hand(tracker.tracks[1])  # two frames: not yet a hand


def test_a_box_inside_another_is_the_same_hand_and_the_whole_hand_is_kept():
    """MediaPipe's palm detector also fires on the fingers of a side-on hand: a small box inside the hand's
    box, labelled either side. It must not become a second hand."""
    rng = np.random.default_rng(3)
    frames = []
    for i in range(20):
        whole = Detection.from_keypoints("right", 0.7, np.array([[300.0 + i, 200.0]]) + rng.normal(0, 40, (21, 2)))
        x0, y0, side = whole.box
        fingers = np.array([[x0 + 0.3 * side, y0 + 0.3 * side]]) + rng.uniform(0, 0.25 * side, (21, 2))
        part = Detection.from_keypoints("left" if i % 2 else "right", 0.99, fingers)
        frames.append([part, whole] if i % 3 else [whole, part])
    tracks = _hands(frames)
    assert len(tracks) == 1 and len(tracks[0].detections) == 20
    assert all(d.box[2] == max(d.box[2], f[0].box[2], f[1].box[2]) for d, f in zip(tracks[0].detections.values(), frames))
    # two hands side by side, touching: both stay
    beside = [[_det("right", 0.9, 100.0), _det("left", 0.9, 190.0)] for _ in range(4)]
    assert len(_hands(beside)) == 2


def _frame_result(frame, angles, swap):
    """Three hands rotating about z by the given angles (their joints tell the times apart)."""
    base = np.random.default_rng(0).normal(0, 0.05, (21, 3))
    times = []
    for a in angles:
        c, s = np.cos(a), np.sin(a)
        joints = base @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T
        times.append(Hand(np.r_[0, 0, a, np.zeros(45)], np.zeros(10), np.zeros(3), joints))
    if swap:
        times = [times[2], times[1], times[0]]
    return FrameHands(frame, times, np.zeros((21, 2)), np.ones(21), 0.9)


def test_end_hands_are_ordered_by_continuity_and_keyed_at_sub_frames():
    stream = HandStream(JobOptions(exposure=0.5), fps=30.0)
    out = []
    for f in range(8):  # steady rotation: frame f spans angles 0.3 f -+ 0.1; odd frames arrive swapped
        out += stream.push(_frame_result(f, [0.3 * f - 0.1, 0.3 * f, 0.3 * f + 0.1], swap=f % 2 == 1))
    out += stream.flush()
    frames = np.array([s.frame for s in out])
    assert_close(frames, np.concatenate([[f + 0.75, f + 1, f + 1.25] for f in range(8)]), atol=1e-12)
    angles = np.array([s.pose[2] for s in out])
    assert np.all(np.diff(angles) > 0), angles  # every swapped frame was put back in order


def test_gaps_are_left_unkeyed_or_filled_with_zero_confidence():
    def run(fill):
        stream = HandStream(JobOptions(exposure=0.0, fill_gaps=fill), fps=30.0)
        out = []
        for f in range(6):
            seen = None if f in (2, 3) else FrameHands(f, [Hand(np.r_[0, 0, 0.1 * f, np.zeros(45)], np.zeros(10),
                                                                np.full(3, f / 10), np.zeros((21, 3)))],
                                                       np.zeros((21, 2)), np.ones(21), 0.8)
            out += stream.push(seen)
        return out + stream.flush()

    assert [s.frame for s in run(0)] == [1, 2, 5, 6]
    filled = run(2)
    assert [s.frame for s in filled] == [1, 2, 3, 4, 5, 6]
    assert [s.confidence for s in filled] == [0.8, 0.8, 0.0, 0.0, 0.8, 0.8]
    assert_close(filled[2].pose[:3], [0, 0, 0.2], atol=1e-9)
    assert_close(filled[3].transl, np.full(3, 0.3), atol=1e-12)
    assert _ranges([2, 3, 4, 9, 11, 12]) == "2-4, 9, 11-12"


def test_one_euro_smooths_jitter_keeps_a_constant_and_ignores_quaternion_sign():
    f = OneEuro(min_cutoff=1.0, beta=0.0)
    assert_close([f(np.array([2.0]), 1 / 30)[0] for _ in range(5)], [2.0] * 5, atol=1e-12)
    rng = np.random.default_rng(0)
    noisy = 0.02 * rng.normal(size=300)
    g = OneEuro(min_cutoff=1.0, beta=0.0)
    smooth = np.array([g(np.array([x]), 1 / 30)[0] for x in noisy])
    # a first-order low-pass with alpha = 0.17 (1 Hz at 30 fps) keeps sqrt(alpha / (2 - alpha)) = 0.31 of white noise
    assert smooth[30:].std() < 0.4 * noisy[30:].std()
    # q and -q are one rotation: a sign flip in the input must not swing the filtered pose
    smoother = PoseSmoother(0.5)
    pose = np.tile([0.0, 0.0, 2.5], 16)
    a, _ = smoother(pose, np.zeros(3), 0.0)
    b, _ = smoother(np.tile([0.0, 0.0, 2.5 - 2 * np.pi], 16), np.zeros(3), 1 / 30)  # the same rotation
    qa, qb = axis_angle_to_quaternion(a.reshape(16, 3)), axis_angle_to_quaternion(b.reshape(16, 3))
    assert np.all(np.abs(np.sum(qa * qb, -1)) > 0.9999)


def test_pose_interpolation_takes_the_short_way():
    mid = interpolate_pose(np.tile([0, 0, 0.2], 16), np.tile([0, 0, 0.6], 16), 0.5)
    assert_close(mid.reshape(16, 3), np.tile([0, 0, 0.4], (16, 1)), atol=1e-9)
    across = interpolate_pose(np.tile([0, 0, 3.0], 16), np.tile([0, 0, -3.0], 16), 0.5)  # through pi, not 0
    assert np.all(np.linalg.norm(across.reshape(16, 3), axis=1) > 3.0)


def test_a_left_hand_is_mirrored_in_and_out_and_lands_on_the_footage(tmp_path):
    # The sample clip flipped left-right shows a left hand; its truth is the right hand's, mirrored in x.
    from addon.common.hand_model import find_hand_model
    from addon.common.motion_sequence import load_motion_sequence
    from inference.pipeline import run_job
    from inference.placement import mano_joints

    flipped = tmp_path / "left.mp4"
    writer = cv2.VideoWriter(str(flipped), cv2.VideoWriter_fourcc(*"mp4v"), 30, (640, 360))
    for _, rgb in Footage(CLIP).frames(0, 29):
        writer.write(cv2.cvtColor(rgb[:, ::-1], cv2.COLOR_RGB2BGR))
    writer.release()
    result = run_job(str(flipped), JobOptions(hands=["left"], fov_deg=70.8), tmp_path / "job")
    seq = load_motion_sequence(result.paths["left"])
    assert seq.handedness == "left"
    truth = load_motion_sequence(ROOT / "samples" / "sample_clip_truth.npz")
    whole = np.isclose(seq.frames, np.round(seq.frames))
    at = np.searchsorted(truth.frames, np.round(seq.frames[whole]))
    k = truth.camera_matrix
    gt = mano_joints(find_hand_model("right"), truth.full_pose[at], truth.betas[at])[:, 0] + truth.transl[at]
    pred = mano_joints(find_hand_model("left"), seq.full_pose[whole], seq.betas[whole])[:, 0] + seq.transl[whole]
    gt_px, pred_px = (gt @ k.T)[:, :2] / (gt @ k.T)[:, 2:], (pred @ k.T)[:, :2] / (pred @ k.T)[:, 2:]
    gt_px[:, 0] = 640 - gt_px[:, 0]
    # the right hand on these (fast-waving) frames: median 23 px; a mirroring mistake would be off by hundreds
    assert np.median(np.linalg.norm(pred_px - gt_px, axis=1)) < 35.0


def test_a_fixed_region_replaces_detection(tmp_path):
    from addon.common.motion_sequence import load_motion_sequence
    from inference.pipeline import run_job

    box = [150.0, 20.0, 300.0]  # the sample clip's hand stays inside this square in frames 0..9
    result = run_job(str(CLIP), JobOptions(hands=["right"], region=box, frame_end=9, fov_deg=70.8),
                     tmp_path / "job")
    seq = load_motion_sequence(result.paths["right"])
    assert result.frames_without_hand == [] and len(seq) == 30  # every frame, three samples each
    from addon.common.hand_model import find_hand_model
    from inference.placement import mano_joints

    joints = mano_joints(find_hand_model("right"), seq.full_pose, seq.betas) + seq.transl[:, None]
    uvw = joints @ seq.camera_matrix.T
    u, v = uvw[..., 0] / uvw[..., 2], uvw[..., 1] / uvw[..., 2]  # the model's own 2D joints place the hand
    inside = (u > box[0]) & (u < box[0] + box[2]) & (v > box[1]) & (v < box[1] + box[2])
    assert inside.mean() > 0.9, inside.mean()
