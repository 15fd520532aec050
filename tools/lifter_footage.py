"""Training footage for the lifting network: random clips rendered like the sample clip, with MediaPipe's keypoints
beside the truth, so the lifter can learn the detector's real habits instead of a noise model of them.

    .venv/bin/python tools/lifter_footage.py make [--clips 40] [--seed 100] [--out data/lifter_footage]
    .venv/bin/python tools/lifter_footage.py detect [--out data/lifter_footage]

``make`` renders ``--clips`` clips of the open hand (3 s, 30 fps, 640x360, each frame the average of 5
sub-frame renders over a half-frame exposure, as the sample clip is made) with random motion (digit closures
at random key times, waving), view (any turn, tilt and roll), shape, skin tone, lens, distance and place in
the frame, over photographs and procedural textures. The photos the evaluation clips and the sample clip
show (``EVAL_PHOTOS``) are never used, and the clips' seeds are their own: the evaluation clips
(``tools/eval_clips.py``) play no part. A rendered clip is skipped when run again, so an interrupted run
resumes; ``--part I/N`` renders every N-th clip from the I-th, for parallel processes.

``detect`` runs the detector over every clip, as a job runs it (the crop search included; each clip's result
is kept as ``NAME_detected.npz``, so a second run only detects new clips), and writes ``pairs.npz`` beside
them: per frame where a hand was found, ``keypoints`` (21, 2) pixels, ``camera`` (3, 3),
the truth's camera-space ``joints`` (21, 3) and ``betas`` (10,), the detector's side label ``side_right``,
and ``clip`` and ``frame`` indices. Detections of something else (keypoints on average more than half the
hand's extent from its joints: the background mistaken for a hand) are left out; every other error the
detector makes, a mirror-labelled hand included, stays in. ``python -m training.lifter --footage
.../pairs.npz`` trains on them (``make lifter-footage`` runs it all).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import numpy as np  # noqa: E402

from addon.common.hand_model import find_hand_model  # noqa: E402
from addon.common.motion_sequence import MotionSequence, load_motion_sequence  # noqa: E402
from addon.common.rotations import axis_angle_to_matrix  # noqa: E402
from eval_clips import DETECTION, HELD_OUT, background_image  # noqa: E402

DEFAULT_OUT = ROOT / "data" / "lifter_footage"
# Shown by the sample clip (and its copies) or by an evaluation clip: never rendered here.
EVAL_PHOTOS = {"coffee"} | {spec.background for spec in HELD_OUT + DETECTION
                            if not spec.background.startswith("texture:")}
WIDTH, HEIGHT, FPS, SECONDS, SUBFRAMES = 640, 360, 30.0, 3.0, 5
NOT_THE_HAND = 0.5  # a detection whose keypoints lie this share of the hand's extent from its joints, on average
TEXTURE_SEEDS = 1000  # procedural backgrounds from seed 1000 on (the evaluation clips use single digits)


def random_keys(rng: np.random.Generator) -> list:
    """Digit closures (index, middle, pinky, ring, thumb) at 5-8 key times over the clip: half the keys a grasp
    synergy (all digits near one closure), half each digit on its own (pointing, counting, V signs)."""
    times = np.concatenate([[0.0], np.sort(rng.uniform(0.2, SECONDS - 0.2, rng.integers(3, 7))), [SECONDS]])
    keys = []
    for t in times:
        if rng.random() < 0.5:
            closure = np.clip(rng.beta(0.7, 0.9) + rng.normal(0.0, 0.15, 5), 0.0, 1.0)
        else:
            closure = rng.beta(0.4, 0.4, 5)
        keys.append((float(t), [round(float(c), 3) for c in closure]))
    return keys


def random_orientation(rng: np.random.Generator) -> np.ndarray:
    """The hand's base orientation: the sample clip's (palm to the camera, fingers up) turned about the
    forearm's axis by any angle, tilted up to 40 degrees and rolled in the image up to 80 degrees."""
    from make_sample_sequence import BASE_ORIENT

    turn = axis_angle_to_matrix(np.array([0.0, np.radians(rng.uniform(-180, 180)), 0.0]))
    tilt = axis_angle_to_matrix(np.array([np.radians(rng.uniform(-40, 40)), 0.0, 0.0]))
    roll = axis_angle_to_matrix(np.array([0.0, 0.0, np.radians(rng.uniform(-80, 80))]))
    return roll @ tilt @ turn @ BASE_ORIENT


def random_tint(rng: np.random.Generator) -> tuple:
    """A skin tone (multiplies the texture): light to dark, reddish to yellowish; one clip in six grey."""
    if rng.random() < 1 / 6:
        return (1.0, 1.0, 1.0)
    base = rng.uniform(0.45, 1.12)
    return (round(base, 3), round(base * rng.uniform(0.72, 0.95), 3), round(base * rng.uniform(0.58, 0.88), 3))


def random_background(rng: np.random.Generator, clip: int) -> str:
    from scenes.backgrounds import registry_sample_images

    photos = sorted(p.stem for p in registry_sample_images() if p.stem not in EVAL_PHOTOS)
    if rng.random() < 0.35 or not photos:
        return f"texture:{TEXTURE_SEEDS + clip}"
    return str(rng.choice(photos))


@dataclass
class ClipPlan:
    """Everything random about one clip, drawn before anything is rendered."""
    seq: MotionSequence  # the truth: a right hand, with the clip's camera
    background: str  # a scikit-image sample photo, or "texture:SEED"
    gain: float  # the backdrop's brightness
    tint: tuple  # skin tone
    light_seed: int


def plan_clip(clip: int, seed: int) -> ClipPlan:
    """Clip number ``clip`` of the set with base seed ``seed``, from its own random stream (seed, clip)."""
    from make_sample_sequence import build

    rng = np.random.default_rng([seed, clip])
    hfov = rng.uniform(45.0, 90.0)
    focal = 0.5 * WIDTH / np.tan(np.radians(hfov) / 2)
    size_px = rng.uniform(100.0, 260.0)  # the hand's length in the image
    z = float(np.clip(focal * 0.18 / size_px, 0.2, 1.5))
    centre = (rng.uniform(-0.3, 0.3) * z * WIDTH / 2 / focal, rng.uniform(-0.25, 0.25) * z * HEIGHT / 2 / focal, z)
    betas = np.clip(rng.normal(0.0, 1.0, 10), -2.0, 2.0)
    seq = build(wave_deg=rng.uniform(5.0, 35.0), wave_hz=rng.uniform(0.5, 2.0), sway_m=rng.uniform(0.0, 0.05),
                sway_hz=rng.uniform(0.3, 0.9), size=(WIDTH, HEIGHT), focal=focal, keys=random_keys(rng),
                base_orient=random_orientation(rng), betas=betas, fps=FPS, seconds=SECONDS, centre=centre,
                spread=rng.uniform(0.1, 0.35))
    seq.model = f"ground truth (lifter footage clip{clip:03d})"
    background = random_background(rng, clip)
    gain = float(rng.uniform(0.6, 0.9))
    return ClipPlan(seq, background, gain, random_tint(rng), int(rng.integers(1 << 30)))


def render_one(clip: int, seed: int, out: Path) -> None:
    """Render clip number ``clip`` and write its truth."""
    from make_sample_clip import background_window, render_clip

    plan = plan_clip(clip, seed)
    backdrop = background_window(background_image(plan.background), WIDTH, HEIGHT) * plan.gain
    render_clip(plan.seq, out / f"clip{clip:03d}.mp4", backdrop,
                tint=plan.tint, light_seed=plan.light_seed, subframes=SUBFRAMES, progress=False)
    plan.seq.save(out / f"clip{clip:03d}_truth.npz")  # last: a clip with its truth is a finished clip


def make(out: Path, clips: int, seed: int, part: str) -> int:
    index, count = (int(v) for v in part.split("/"))
    out.mkdir(parents=True, exist_ok=True)
    for clip in range(index, clips, count):
        if (out / f"clip{clip:03d}_truth.npz").is_file():
            continue
        render_one(clip, seed, out)
        print(f"clip {clip + 1}/{clips} rendered", file=sys.stderr, flush=True)
    return 0


FIELDS = ("keypoints", "camera", "joints", "betas", "side_right", "clip", "frame")


def detect_clip(truth_path: Path) -> dict:
    """One clip's pairs (the fields of ``pairs.npz``), cached beside it as ``NAME_detected.npz``."""
    from detector_keypoints import matched_hands
    from training.video_scores import project, sequence_joints

    cache = truth_path.with_name(truth_path.name.replace("_truth", "_detected"))
    if cache.is_file():
        with np.load(cache) as done:
            return {k: done[k] for k in FIELDS}
    truth = load_motion_sequence(truth_path)
    joints = sequence_joints(truth, find_hand_model("right"))
    true_px = project(joints, truth.camera_matrix)
    clip = int(truth_path.name[len("clip"):-len("_truth.npz")])
    rows = {k: [] for k in FIELDS}
    for i, _, hand in matched_hands(str(truth_path.with_name(truth_path.name.replace("_truth.npz", ".mp4"))),
                                    true_px):
        extent = (true_px[i].max(0) - true_px[i].min(0)).max()
        if np.linalg.norm(hand.keypoints - true_px[i], axis=-1).mean() > NOT_THE_HAND * extent:
            continue  # a detection of something else: no pose can be read from it
        for k, v in zip(FIELDS, (hand.keypoints, truth.camera_matrix, joints[i], truth.betas[i], hand.side == "right",
                                 clip, i)):
            rows[k].append(v)
    arrays = {k: np.asarray(v, dtype=None if k in ("side_right", "clip", "frame") else np.float32).reshape(
        (len(v),) + {"keypoints": (21, 2), "camera": (3, 3), "joints": (21, 3), "betas": (10,)}.get(k, ()))
        for k, v in rows.items()}
    np.savez_compressed(cache, **arrays)
    return arrays


def detect(out: Path) -> int:
    truths = sorted(out.glob("clip*_truth.npz"))
    if not truths:
        print(f"no rendered clips in {out}: run `tools/lifter_footage.py make --out {out}` first", file=sys.stderr)
        return 1
    parts = []
    for n, path in enumerate(truths):
        parts.append(detect_clip(path))
        print(f"{path.name}: a hand in {len(parts[-1]['clip'])} frames ({n + 1}/{len(truths)})", file=sys.stderr)
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in FIELDS}
    np.savez_compressed(out / "pairs.npz", **arrays)
    uvw = np.einsum("nab,njb->nja", arrays["camera"], arrays["joints"])
    err = np.linalg.norm(arrays["keypoints"] - uvw[..., :2] / uvw[..., 2:], axis=-1)
    print(f"wrote {out / 'pairs.npz'}: {len(err)} frames from {len(truths)} clips; the detector's keypoints "
          f"{err.mean():.1f} px from the true joints (median {np.median(err):.1f} px)")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["make", "detect"])
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--part", default="0/1", help="I/N: render every N-th clip from the I-th")
    args = ap.parse_args(argv)
    if args.command == "make":
        return make(Path(args.out), args.clips, args.seed, args.part)
    return detect(Path(args.out))


if __name__ == "__main__":
    sys.exit(main())
