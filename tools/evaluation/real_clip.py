"""The job on a real clip that has no truth, measured by what needs none: how many frames each hand is keyed in,
whether a hand's track jumps onto another hand, how closely the written hand's joints follow MediaPipe's own
landmarks where MediaPipe is sure, and how steady the written hand is beside MediaPipe's landmarks.

    .venv/bin/python -m tools.evaluation.real_clip VIDEO [--beside-mirror] [--sheet OUT.png] [-- job options]

``--beside-mirror`` runs the clip beside its own mirror image, shrunk to half size each: one person's right hand
(as the clip shows it) on the image's left and, mirrored, a left hand on the image's right, as a person facing
the camera holds them. That layout is the truth it is scored on: each hand must be keyed on its own half in
every frame it is keyed, with the right side. ``--sheet`` writes a contact sheet of frames with the written
hands' joints drawn over them.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np

from addon.common.hand_model import find_hand_model
from addon.common.job_options import OneLineParser, add_job_arguments, options_from_args
from addon.common.joints import MANO_21, SKELETON_EDGES
from addon.common.motion_sequence import load_motion_sequence
from inference.detect import HandDetector
from inference.pipeline import run_job
from inference.video import Footage
from training.video_scores import project, sequence_joints, whole_frames

SURE = 0.9  # MediaPipe's handedness score above which its landmarks are the reference


def beside_mirror(video: str, out: Path) -> Path:
    """The clip beside its mirror image, each half the clip's size: an image sequence in ``out``."""
    out.mkdir(parents=True)
    for i, rgb in Footage(video).frames():
        half = cv2.resize(rgb, (rgb.shape[1] // 2, rgb.shape[0] // 2), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(out / f"frame_{i:05d}.png"), cv2.cvtColor(np.concatenate([half, half[:, ::-1]], 1),
                                                                   cv2.COLOR_RGB2BGR))
    return out


def mediapipe_landmarks(video: str) -> Dict[int, list]:
    """Per frame, MediaPipe's own hands (video mode, up to two): [(side, score, keypoints (21, 2))]."""
    detector, out = HandDetector(max_hands=2), {}
    try:
        for i, rgb in Footage(video).frames():
            out[i] = [(d.side, d.score, d.keypoints) for d in detector(rgb)]
    finally:
        detector.close()
    return out


def written_pixels(paths: Dict[str, str], hand_model: str) -> Dict[str, Dict[int, np.ndarray]]:
    """Per side, per footage frame, the written hand's projected joints (21, 2) at whole frames."""
    out = {}
    for side, path in paths.items():
        seq = load_motion_sequence(path)
        keep = whole_frames(seq.frames)
        pixels = project(sequence_joints(seq, find_hand_model(side, hand=hand_model))[keep], seq.camera_matrix)
        out[side] = {int(round(f)) - 1: p for f, p in zip(seq.frames[keep], pixels)}
    return out


def acceleration_px(track: Dict[int, np.ndarray]) -> List[float]:
    """Mean 2D acceleration of the joints relative to the wrist (pixels per frame^2) at each frame whose two
    neighbours are in ``track``."""
    out = []
    for f in sorted(track):
        if f - 1 in track and f + 1 in track:
            rel = [track[g] - track[g][:1] for g in (f - 1, f, f + 1)]
            out.append(float(np.linalg.norm(rel[2] - 2 * rel[1] + rel[0], axis=-1).mean()))
    return out


def contact_sheet(video: str, written: Dict[str, Dict[int, np.ndarray]], path: str, count: int = 6) -> None:
    frames = list(Footage(video).frames())
    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    tiles = []
    for i in picks:
        img = cv2.cvtColor(frames[i][1], cv2.COLOR_RGB2BGR)
        for side, track in written.items():
            if i in track:
                colour = (60, 60, 255) if side == "right" else (255, 160, 40)
                for a, b in SKELETON_EDGES:
                    ends = [tuple(int(v) for v in track[i][MANO_21.index(n)]) for n in (a, b)]
                    cv2.line(img, ends[0], ends[1], colour, 2)
        scale = 480 / img.shape[1]
        tiles.append(cv2.resize(img, None, fx=scale, fy=scale))
    rows = [np.concatenate(tiles[k:k + 3], 1) for k in range(0, len(tiles), 3)]
    cv2.imwrite(path, np.concatenate(rows, 0))


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    job_argv = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video")
    ap.add_argument("--beside-mirror", action="store_true", help="the clip beside its mirror image: two hands")
    ap.add_argument("--sheet", help="a contact sheet of frames with the written hands drawn")
    args = ap.parse_args(argv)
    job = OneLineParser(prog="job options")
    add_job_arguments(job)
    options = options_from_args(job.parse_args(job_argv))
    with tempfile.TemporaryDirectory(prefix="hand_mocap_clip_") as work:
        video = str(beside_mirror(args.video, Path(work) / "two")) if args.beside_mirror else args.video
        footage = Footage(video)
        total, width = footage.info.frame_count, footage.info.width
        result = run_job(video, options, Path(work) / "job")
        written = written_pixels(result.paths, options.hand_model)
        reference = mediapipe_landmarks(video)
        if args.sheet:
            contact_sheet(video, written, args.sheet)
    print(f"{video if not args.beside_mirror else args.video + ' beside its mirror'}: {total} frames")
    for side, track in written.items():
        wrist_x = np.array([p[0, 0] for p in track.values()])
        line = f"{side} hand: keyed in {len(track)}/{total} frames ({len(track) / total:.1%})"
        if args.beside_mirror:
            own = wrist_x < width / 2 if side == "right" else wrist_x >= width / 2
            line += f"; on its own half of the image in {own.sum()}/{len(own)} keyed frames"
        steps = [np.linalg.norm(track[f][0] - track[f - 1][0]) / max(np.ptp(track[f], axis=0).max(), 1.0)
                 for f in sorted(track) if f - 1 in track]
        line += f"; wrist jumps over a hand's size between frames: {int(np.sum(np.array(steps) > 1.0))}"
        near, errors, theirs = [], [], {}
        for f, p in track.items():
            sure = [(s, sc, kp) for s, sc, kp in reference.get(f, []) if sc >= SURE]
            if not sure:
                continue
            kp = min(sure, key=lambda h: np.linalg.norm(h[2] - p, axis=-1).mean())[2]
            box = max(np.ptp(kp, axis=0).max(), 1.0)
            e = np.linalg.norm(p - kp, axis=-1) / box
            if e.mean() >= 0.5:  # MediaPipe is sure only of another hand in this frame
                continue
            errors.append(e.mean())
            near.append((e <= 0.2).mean())
            theirs[f] = kp
        if errors:
            mine_acc = acceleration_px({f: track[f] for f in theirs})
            their_acc = acceleration_px(theirs)
            line += (f"; beside MediaPipe's landmarks ({len(errors)} frames it is sure of): mean {np.mean(errors):.3f} "
                     f"of its box, PCK@0.2 {np.mean(near):.2f}")
            if their_acc:
                line += (f"; 2D jitter (joints relative to the wrist) {np.mean(mine_acc):.2f} px/frame^2, "
                         f"MediaPipe's {np.mean(their_acc):.2f} ({np.mean(mine_acc) / np.mean(their_acc):.2f}x)")
        print(line)
    if not written:
        print("no hand written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
