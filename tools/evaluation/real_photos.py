"""The job on real photos with annotated keypoints, scored the way the project is held to, beside MediaPipe's own
landmarks on the same hands in the same run.

    .venv/bin/python -m tools.evaluation.real_photos ROOT [--as still,photo] [--also "--keypoints mediapipe"]
                                                     [--frames 8] [--per-hand] [--json OUT.json]

``ROOT`` is a folder laid out like the shared evaluation set (``training/real_photos.py``); its files are only
read. Each photo is run as a still clip (the photo repeated ``--frames`` times, default options) and as a
single image (a folder holding the photo alone); ``--also`` adds rows with other job options. The reference
row is MediaPipe's hand landmarker in static-image mode with up to two hands, its handedness label read as for
ordinary (not mirrored) footage. Prints one Markdown table: PCK@0.1 and @0.2 of the hand box (a missed hand
counts 0), hands found, the written hands whose side is right (of those lying on a hand whose side the set
names), and PA-MPJPE on InterHand's hands (mm, from their 3D truth, over the hands found).
"""
from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np

from addon.common.hand_model import find_hand_model
from addon.common.job_options import JobOptions, OneLineParser, add_job_arguments, options_from_args
from addon.common.joints import remap
from addon.common.motion_sequence import load_motion_sequence
from training.real_photos import TABLE_HEADER, AnnotatedHand, WrittenHand, load_real_photos, score_photo, summarise
from training.video_scores import project, sequence_joints


def mediapipe_hands(image: Path) -> List[WrittenHand]:
    """MediaPipe's own landmarks, static-image mode, up to two hands (the reference)."""
    from mediapipe.python.solutions import hands

    rgb = cv2.cvtColor(cv2.imread(str(image)), cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    with hands.Hands(static_image_mode=True, max_num_hands=2, model_complexity=1) as detector:
        result = detector.process(rgb)
    out = []
    for marks, handed in zip(result.multi_hand_landmarks or [], result.multi_handedness or []):
        points = np.array([[m.x * w, m.y * h] for m in marks.landmark])
        side = "left" if handed.classification[0].label == "Right" else "right"  # MediaPipe labels a mirror image
        out.append(WrittenHand(remap(points, "mediapipe21", "mano21"), side))
    return out


def still_clip(image: Path, folder: Path, frames: int) -> Path:
    """The photo repeated ``frames`` times, as an image sequence (no compression)."""
    folder.mkdir(parents=True)
    for i in range(frames):
        shutil.copyfile(image, folder / f"frame_{i:04d}{image.suffix}")
    return folder


def job_hands(video: Path, options: JobOptions, work: Path) -> List[WrittenHand]:
    """The hands a job writes for the footage's first frame (nothing when it finds no hand)."""
    from inference.pipeline import run_job

    try:
        result = run_job(str(video), options, work)
    except (RuntimeError, ValueError) as exc:
        print(f"  {video.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return []
    out = []
    for side, path in result.paths.items():
        seq = load_motion_sequence(path)
        first = np.nonzero(np.isclose(seq.frames, options.first_blender_frame))[0]
        if not len(first):
            continue
        joints = sequence_joints(seq, find_hand_model(side, options.mano_dir or None, options.hand_model))[first[0]]
        out.append(WrittenHand(project(joints, seq.camera_matrix), side, joints))
    return out


def evaluate(hands: List[AnnotatedHand], rows: Dict[str, object], frames: int, work: Path) -> Dict[str, list]:
    """Scores per row: ``rows`` maps a name to ``"mediapipe"`` or ``(JobOptions, "still" | "photo")``."""
    images = sorted({h.image for h in hands})
    scores: Dict[str, list] = {name: [] for name in rows}
    for n, image in enumerate(images):
        print(f"[{n + 1}/{len(images)}] {image.parent.name}/{image.name}", file=sys.stderr, flush=True)
        mine = [h for h in hands if h.image == image]
        for r, (name, how) in enumerate(rows.items()):
            if how == "mediapipe":
                written = mediapipe_hands(image)
            else:
                options, form = how
                folder = work / f"{n}_{r}"
                footage = still_clip(image, folder / "clip", frames) if form == "still" else \
                    still_clip(image, folder / "photo", 1)
                written = job_hands(footage, options, folder / "job")
            scores[name] += score_photo(mine, written)
    return scores


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="a folder laid out like the shared real set (read only)")
    ap.add_argument("--as", dest="forms", default="still,photo",
                    help="how each photo is run: still (a still clip), photo (one image); comma-separated")
    ap.add_argument("--also", action="append", default=[], metavar="FLAGS",
                    help='another row: the job with these options, e.g. "--keypoints mediapipe" (repeatable)')
    ap.add_argument("--frames", type=int, default=8, help="frames of each still clip")
    ap.add_argument("--per-hand", action="store_true", help="also print each hand's scores")
    ap.add_argument("--json", help="write the per-hand scores here")
    args = ap.parse_args(argv)
    hands = load_real_photos(args.root)
    forms = [f for f in args.forms.split(",") if f]
    rows: Dict[str, object] = {"MediaPipe's own landmarks (static image, reference)": "mediapipe"}
    for flags in [""] + args.also:
        parser = OneLineParser(prog="--also")
        add_job_arguments(parser)
        options = options_from_args(parser.parse_args(shlex.split(flags)))
        for form in forms:
            label = {"still": "still clip", "photo": "single photo"}[form]
            rows[f"{flags or 'default options'}, {label}"] = (options, form)
    with tempfile.TemporaryDirectory(prefix="hand_mocap_real_") as work:
        scores = evaluate(hands, rows, args.frames, Path(work))
    print(f"{len(hands)} annotated hands in {len({h.image for h in hands})} photos under {args.root}")
    print(TABLE_HEADER)
    for name, rows_scores in scores.items():
        print(summarise(rows_scores).row(name))
    if args.per_hand:
        for name, rows_scores in scores.items():
            print(f"\n{name}")
            for s in rows_scores:
                pa = f", PA-MPJPE {s.pa_mpjpe_mm:.1f} mm" if s.pa_mpjpe_mm is not None else ""
                print(f"  {s.hand.name}: PCK@0.1 {s.pck(0.1):.2f}, @0.2 {s.pck(0.2):.2f}, "
                      f"{'found, written ' + ' and '.join(s.sides) if s.found else 'missed'}{pa}")
    if args.json:
        Path(args.json).write_text(json.dumps({name: [
            {"hand": s.hand.name, "pck01": s.pck(0.1), "pck02": s.pck(0.2), "found": s.found, "sides": s.sides,
             "pa_mpjpe_mm": s.pa_mpjpe_mm} for s in rows_scores] for name, rows_scores in scores.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
