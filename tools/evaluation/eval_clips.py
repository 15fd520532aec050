"""Evaluation footage with known truth, and the table of how a run does on it with default options.

    .venv/bin/python -m tools.evaluation.eval_clips make [--out data/eval_clips]     # renders the set (about 8 minutes)
    .venv/bin/python -m tools.evaluation.eval_clips run [--out data/eval_clips] [--scores S.json] [-- extra job options]
    .venv/bin/python -m tools.evaluation.eval_clips compare A.json B.json           # two runs' scores, clip by clip

``make`` writes, each with its truth as a motion-sequence file (``NAME_truth.npz``):

- altered copies of the sample clip: mirrored (a left hand), rotated 90 degrees, 320x180, 15 fps, and
  quartered over a photograph (a small hand MediaPipe's palm detector misses);
- held-out clips rendered by the project's engine that differ from the sample clip in motion, view,
  background, hand shape, skin tone and camera (``HELD_OUT`` below). They are not used to tune anything:
  they exist to check that a default holds on footage it was not tuned on;
- detection clips: the hand over a face or a busy photo, grey and skin-coloured (``DETECTION``);
- the held-out and detection clips again with the MakeHuman hand (``mh_`` names, ``--set makehuman``).

Each clip's ``NAME.json`` says which built-in hand it shows; its truth is scored on that hand. The run's
own hand is the one its options name (``-- --hand-model makehuman``), the open hand by default.

``run`` runs ``python -m inference run`` on the shipped sample clip and every clip ``make`` wrote, with
default options (plus any options after ``--``), and prints one row per clip: side, 2D joint error,
PA-MPJPE, finger curl and depth error (``training/video_scores.py``), and the seconds the job took.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np

from addon.common.hand_model import find_hand_model
from addon.common.motion_sequence import MotionSequence, load_motion_sequence
from addon.common.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from training.video_scores import mirror_truth, score_against_motion

ROOT = Path(__file__).resolve().parents[2]

SAMPLE = ROOT / "samples" / "sample_clip.mp4"
SAMPLE_TRUTH = ROOT / "samples" / "sample_clip_truth.npz"
DEFAULT_OUT = ROOT / "data" / "eval_clips"


@dataclass
class ClipSpec:
    name: str
    keys: list  # digit closures (index, middle, pinky, ring, thumb) at key times, seconds
    view: str  # "palm", "back" or "side": what the camera sees
    roll_deg: float  # in-plane rotation of the hand
    betas: dict  # named shape directions of the open hand (index into betas: value)
    hfov_deg: float
    centre: tuple  # wrist target, metres in camera axes
    tint: tuple  # skin tone (multiplies the texture)
    background: str  # a scikit-image sample photo, or "texture:SEED" for a procedural one
    fps: float = 30.0
    wave_deg: float = 15.0
    wave_hz: float = 0.8
    light_seed: int = 5
    window: tuple = ()  # (x0, y0, width) of the background photo to show, in its pixels (default: centred)
    hand: str = "open"  # the built-in hand shown


HELD_OUT = [
    ClipSpec("grasp_back", keys=[(0.0, [0, 0, 0, 0, 0]), (0.6, [0, 0, 0, 0, 0]), (1.4, [1, 1, 1, 1, 0.9]),
                                 (1.9, [1, 1, 1, 1, 0.9]), (2.5, [0, 0, 0, 0, 0]), (3.1, [0.8, 0.3, 0.2, 0.2, 0.8]),
                                 (3.6, [0.8, 0.3, 0.2, 0.2, 0.8]), (4.0, [0, 0, 0, 0, 0])],
             view="back", roll_deg=-15.0, betas={0: 1.5, 2: 1.0}, hfov_deg=50.0, centre=(-0.03, 0.05, 0.50),
             tint=(0.45, 0.32, 0.24), background="chelsea", wave_deg=10.0, wave_hz=0.7, light_seed=11),
    ClipSpec("point_side", keys=[(0.0, [0.3] * 5), (1.0, [0, 1, 1, 1, 0.3]), (1.6, [0, 1, 1, 1, 0.3]),
                                 (2.0, [0, 1, 1, 1, 0]), (3.0, [0.3] * 5), (3.6, [1, 1, 1, 1, 0.8]),
                                 (4.0, [0.3] * 5)],
             view="side", roll_deg=10.0, betas={0: -1.5, 1: -1.0}, hfov_deg=85.0, centre=(0.08, -0.03, 0.32),
             tint=(1.1, 1.0, 0.95), background="texture:7", wave_deg=20.0, wave_hz=1.1, light_seed=17),
    ClipSpec("count_roll", keys=[(0.0, [1, 1, 1, 1, 1]), (0.5, [1, 1, 0, 1, 1]), (1.0, [1, 1, 0, 0, 1]),
                                 (1.5, [1, 0, 0, 0, 1]), (2.0, [0, 0, 0, 0, 1]), (2.5, [0, 0, 0, 0, 0]),
                                 (3.2, [1, 1, 1, 1, 1]), (4.0, [1, 1, 1, 1, 1])],
             view="palm", roll_deg=50.0, betas={3: 1.5, 5: -1.0, 8: 1.0}, hfov_deg=65.0, centre=(0.0, 0.02, 0.45),
             tint=(0.85, 0.70, 0.58), background="brick", fps=24.0, wave_deg=12.0, wave_hz=1.5, light_seed=23),
]


# Hands over a face or a busy photo, grey (the texture as it is) and skin-coloured: footage where MediaPipe's
# palm detector misses hands that its landmark model finds in a crop (the crop-search measurements).
OPEN = [(0.0, [0, 0, 0, 0, 0]), (1.0, [0.2, 0.2, 0.2, 0.2, 0.2]), (2.0, [0, 0, 0, 0, 0]), (3.0, [0.3] * 5),
        (4.0, [0, 0, 0, 0, 0])]
DETECTION = [  # small hands (about 50-60 px: 1.8-2.1 m away) over a face or a busy photo
    ClipSpec("face_grey", keys=OPEN, view="palm", roll_deg=0.0, betas={}, hfov_deg=60.0, centre=(-0.03, -0.04, 2.0),
             tint=(1.0, 1.0, 1.0), background="astronaut", window=(0, 0, 512), wave_deg=12.0, wave_hz=0.6,
             light_seed=31),
    ClipSpec("face_skin", keys=OPEN, view="palm", roll_deg=-10.0, betas={0: 0.5}, hfov_deg=60.0,
             centre=(0.1, -0.02, 1.8), tint=(0.95, 0.72, 0.58), background="astronaut", window=(0, 0, 512),
             wave_deg=12.0, wave_hz=0.6, light_seed=37),
    ClipSpec("busy_grey", keys=OPEN, view="palm", roll_deg=15.0, betas={}, hfov_deg=60.0, centre=(0.3, 0.1, 2.1),
             tint=(1.0, 1.0, 1.0), background="motorcycle_left", wave_deg=15.0, wave_hz=0.8, light_seed=41),
    ClipSpec("busy_skin", keys=OPEN, view="palm", roll_deg=-15.0, betas={1: 1.0}, hfov_deg=60.0,
             centre=(-0.25, 0.05, 1.9), tint=(0.9, 0.68, 0.52), background="motorcycle_right", wave_deg=15.0,
             wave_hz=0.8, light_seed=43),
]


# The same clips with MakeHuman's sculpted hand (its own shape directions at zero: the betas above are the
# open hand's named directions).
MAKEHUMAN = [replace(spec, name=f"mh_{spec.name}", hand="makehuman", betas={}) for spec in HELD_OUT + DETECTION]


def base_orientation(view: str, roll_deg: float) -> np.ndarray:
    from tools.assets.make_sample_sequence import BASE_ORIENT

    turn = {"palm": 0.0, "side": np.radians(70.0), "back": np.pi}[view]
    spin = axis_angle_to_matrix(np.array([0.0, 0.0, np.radians(roll_deg)]))
    return spin @ axis_angle_to_matrix(np.array([0.0, turn, 0.0])) @ BASE_ORIENT


def background_image(name: str) -> np.ndarray:
    """A clip's backdrop (linear RGB) by its ``ClipSpec.background`` name: a scikit-image sample photo, or
    "texture:SEED" for a procedural one."""
    from scenes.backgrounds import procedural_texture, registry_sample_images
    from scenes.renderer import load_image_linear

    if name.startswith("texture:"):
        return procedural_texture(np.random.default_rng(int(name.split(":")[1])), 512)
    return load_image_linear(next(p for p in registry_sample_images() if p.stem == name))


def make_held_out(spec: ClipSpec, out: Path) -> None:
    from tools.assets.make_sample_clip import background_window, render_clip
    from tools.assets.make_sample_sequence import build
    width, height = 640, 360
    betas = np.zeros(10)
    for i, v in spec.betas.items():
        betas[i] = v
    focal = 0.5 * width / np.tan(np.radians(spec.hfov_deg) / 2)
    seq = build(wave_deg=spec.wave_deg, wave_hz=spec.wave_hz, sway_m=0.04, sway_hz=0.6, size=(width, height),
                focal=focal, keys=spec.keys, base_orient=base_orientation(spec.view, spec.roll_deg), betas=betas,
                fps=spec.fps, seconds=4.0, centre=spec.centre, hand=spec.hand)
    seq.model = f"ground truth ({spec.name})"
    seq.save(out / f"{spec.name}_truth.npz")
    (out / f"{spec.name}.json").write_text(json.dumps({"hand": spec.hand}))
    image = background_image(spec.background)
    if spec.window:
        from scenes.backgrounds import crop_resize
        x0, y0, w = spec.window
        backdrop = crop_resize(image, np.array([x0, y0, w]), width, height)
    else:
        backdrop = background_window(image, width, height)
    render_clip(seq, out / f"{spec.name}.mp4", backdrop * 0.8, tint=spec.tint, light_seed=spec.light_seed,
                hand=spec.hand)


def make_altered(out: Path) -> None:
    """The sample clip mirrored, rotated 90 degrees clockwise, halved, at half the frame rate, and quartered
    over a photograph."""
    import cv2

    from inference.video import Footage

    truth = load_motion_sequence(SAMPLE_TRUTH)
    frames = [np.ascontiguousarray(rgb[..., ::-1]) for _, rgb in Footage(SAMPLE).frames()]  # BGR, for OpenCV
    h, w = frames[0].shape[:2]
    variants = {
        "sample_small": ([small_over_photo(f) for f in frames], 30.0, scale_truth(truth, 0.25, SMALL_AT)),
        "sample_mirrored": ([f[:, ::-1].copy() for f in frames], 30.0, mirror_truth(truth)),
        "sample_rot90": ([cv2.rotate(f, cv2.ROTATE_90_CLOCKWISE) for f in frames], 30.0, rotate_truth_cw(truth)),
        "sample_320x180": ([cv2.resize(f, (w // 2, h // 2), interpolation=cv2.INTER_AREA) for f in frames], 30.0,
                           scale_truth(truth, 0.5)),
        "sample_15fps": (frames[::2], 15.0, every_other(truth)),
    }
    for name, (images, fps, seq) in variants.items():
        writer = cv2.VideoWriter(str(out / f"{name}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                 (images[0].shape[1], images[0].shape[0]))
        for image in images:
            writer.write(image)
        writer.release()
        seq.save(out / f"{name}_truth.npz")


def _with(truth: MotionSequence, **changes) -> MotionSequence:
    fields = dict(frames=truth.frames, global_orient=truth.global_orient, hand_pose=truth.hand_pose,
                  betas=truth.betas, transl=truth.transl, handedness=truth.handedness, fps=truth.fps,
                  model=truth.model, camera_matrix=truth.camera_matrix, image_size=truth.image_size)
    return MotionSequence(**{**fields, **changes})


def rotate_truth_cw(truth: MotionSequence) -> MotionSequence:
    """The image turned 90 degrees clockwise: u' = H - v, v' = u, i.e. camera axes x' = -y, y' = x."""
    r = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    w, h = (int(v) for v in truth.image_size)
    k = truth.camera_matrix
    wrist = find_hand_model(truth.handedness).rest_joints(truth.betas[0])[0]
    orient = matrix_to_axis_angle(r @ axis_angle_to_matrix(truth.global_orient))
    transl = (truth.transl + wrist) @ r.T - wrist
    camera = np.array([[k[1, 1], 0, h - k[1, 2]], [0, k[0, 0], k[0, 2]], [0, 0, 1.0]])
    return _with(truth, global_orient=orient, transl=transl, camera_matrix=camera, image_size=np.array([h, w]))


SMALL_AT = (300, 60)  # where the quartered sample clip sits in the coffee photo (pixels)


def small_over_photo(bgr: np.ndarray, photo: str = "coffee") -> np.ndarray:
    """A sample-clip frame shrunk to a quarter (the hand about 45 px) over a photograph: a small hand that
    MediaPipe's palm detector misses in most frames."""
    import cv2

    from scenes.backgrounds import registry_sample_images

    h, w = bgr.shape[:2]
    canvas = cv2.resize(cv2.imread(str(next(p for p in registry_sample_images() if p.stem == photo))), (w, h),
                        interpolation=cv2.INTER_AREA)
    small = cv2.resize(bgr, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    x0, y0 = SMALL_AT
    canvas[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    return canvas


def scale_truth(truth: MotionSequence, factor: float, offset=(0, 0)) -> MotionSequence:
    """The image scaled by ``factor`` (and pasted at ``offset`` pixels into a frame of the original size)."""
    k = truth.camera_matrix.copy()
    k[:2] *= factor
    k[:2, 2] += np.asarray(offset, dtype=np.float64)
    size = truth.image_size if any(offset) else np.round(truth.image_size * factor).astype(int)
    return _with(truth, camera_matrix=k, image_size=size)


def every_other(truth: MotionSequence) -> MotionSequence:
    keep = slice(0, None, 2)
    return _with(truth, frames=np.arange(len(truth.frames[keep])) + 1.0, global_orient=truth.global_orient[keep],
                 hand_pose=truth.hand_pose[keep], betas=truth.betas[keep], transl=truth.transl[keep],
                 fps=truth.fps / 2)


def clip_hand(out: Path, name: str) -> str:
    """The built-in hand a clip shows: its ``NAME.json`` says, else the open hand."""
    meta = out / f"{name}.json"
    return json.loads(meta.read_text())["hand"] if meta.is_file() else "open"


def clips(out: Path):
    """(name, video, truth): the shipped sample clip, then every clip ``make`` wrote."""
    made = [(p.stem, p, out / f"{p.stem}_truth.npz") for p in sorted(out.glob("*.mp4"))]
    return [("sample_clip", SAMPLE, SAMPLE_TRUTH)] + made


def run(out: Path, extra: list, only: str = "", scores: Optional[Path] = None) -> int:
    rows = []
    run_hand = extra[extra.index("--hand-model") + 1] if "--hand-model" in extra else "open"
    for name, clip, truth_path in clips(out):
        if only not in name:
            continue
        truth = load_motion_sequence(truth_path)
        truth_hand = clip_hand(out, name)
        result = out / "runs" / f"{name}.npz"
        result.parent.mkdir(parents=True, exist_ok=True)
        for old in result.parent.glob(f"{name}*.npz"):
            old.unlink()
        tick = time.perf_counter()
        job = subprocess.run([sys.executable, "-m", "inference", "run", str(clip), "-o", str(result), "--quiet",
                              *extra], cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - tick
        written = sorted(result.parent.glob(f"{name}*.npz"))
        if job.returncode != 0 or not written:
            rows.append((name, None, seconds, job.stderr.strip().splitlines()[-1:]))
            continue
        # the run's hand of the truth's side if it has one, else its only (wrong-side) hand
        runs = [load_motion_sequence(p) for p in written]
        pick = next((r for r in runs if r.handedness == truth.handedness), runs[0])
        score = score_against_motion(pick, find_hand_model(pick.handedness, hand=run_hand), truth,
                                     find_hand_model(truth.handedness, hand=truth_hand))
        rows.append((name, score, seconds, [pick.handedness, len(truth)]))
    print("| clip | side | frames with the hand | joints 2D (px) | PA-MPJPE (mm) | curl within 25 deg | depth (mm) "
          "| jitter / truth's | job (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, s, seconds, note in rows:
        if s is None:
            print(f"| {name} | failed: {' '.join(note)} | | | | | | | {seconds:.1f} |")
        else:
            jitter = "" if s.jitter_ratio is None else f"{s.jitter_ratio:.2f}"
            print(f"| {name} | {note[0]}{'' if s.side_ok else ' (WRONG)'} | {s.frames}/{note[1]} | "
                  f"{s.joint_px_mean:.1f} | {s.pa_mpjpe_mm:.1f} | {100 * s.curl_ok_share:.0f}% | {s.depth_mm:.0f} | "
                  f"{jitter} | {seconds:.1f} |")
    (scores or out / "runs" / "scores.json").write_text(json.dumps(
        {name: (s.as_dict() if s else None) for name, s, _, _ in rows}, indent=1))
    return 0


COMPARED = (("joint_px_mean", "2D error, px", 1, False), ("pa_mpjpe_mm", "PA-MPJPE, mm", 1, False),
            ("curl_ok_share", "curl within 25 deg, %", 100, True), ("curl_err_deg", "mean curl error, deg", 1, False))


def compare(first: Path, second: Path) -> int:
    """Two ``run --scores`` files: the mean over the clips both scored, and on how many the second is better;
    then the same for the sample clip with its altered copies (where settings may be tuned) and for the
    other clips (held out from tuning) apart."""
    a, b = (json.loads(Path(p).read_text()) for p in (first, second))
    both = [n for n in a if a[n] and b.get(n)]
    tuned = [n for n in both if n.startswith("sample")]
    groups = [("", both), ("the sample clip and its copies", tuned),
              ("the held-out clips", [n for n in both if n not in tuned])]
    for title, names in groups:
        if not names or (title and len(names) == len(both)):
            continue
        print(f"{len(names)} clips scored by both" + (f" ({title})" if title else "") +
              "; mean of the first -> the second (clips where the second is better)")
        for key, label, scale, higher in COMPARED:
            x, y = (np.array([s[n][key] for n in names]) * scale for s in (a, b))
            better = int(((y > x) if higher else (y < x)).sum())
            print(f"  {label}: {x.mean():.1f} -> {y.mean():.1f} ({better} of {len(names)})")
    return 0


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["make", "run", "compare"])
    ap.add_argument("files", nargs="*", help="compare: two score files written by run --scores")
    ap.add_argument("--scores", default="", help="run: write the scores here (default OUT/runs/scores.json)")
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--only", default="", help="only the clips whose name contains this")
    ap.add_argument("--set", choices=["all", "fitting", "detection", "makehuman"], default="all",
                    help="make: the held-out fitting clips, the detection clips, both (and the altered copies), "
                         "or both again with the MakeHuman hand")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.command == "run":
        return run(out, extra, args.only, Path(args.scores) if args.scores else None)
    if args.command == "compare":
        if len(args.files) != 2:
            ap.error("compare takes two score files")
        return compare(*args.files)
    if args.set in ("all", "fitting"):
        make_altered(out)
    specs = {"all": HELD_OUT + DETECTION + MAKEHUMAN, "fitting": HELD_OUT, "detection": DETECTION,
             "makehuman": MAKEHUMAN}[args.set]
    for spec in specs:
        if args.only in spec.name:
            print(f"rendering {spec.name}", file=sys.stderr)
            make_held_out(spec, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
