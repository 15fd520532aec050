"""The smoothing figure: one joint angle over the sample clip, raw and with the jitter filter and gap filling on,
against the clip's ground truth. Writes docs/smoothing.png and prints the jitter (mean absolute frame-to-frame
acceleration) and the error of each curve.

    python -m tools.figures.plot_smoothing [--smoothing 0.5] [--fill-gaps 4] [--joint index2]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from addon.common.job_options import JobOptions
from addon.common.joints import MANO_16
from addon.common.motion_sequence import load_motion_sequence
from inference.pipeline import run_job

ROOT = Path(__file__).resolve().parents[2]


def joint_angle(seq, joint: int):
    """Whole frames only (the middle hand): frames, rotation angle of ``joint`` in degrees."""
    whole = np.isclose(seq.frames, np.round(seq.frames))
    return seq.frames[whole], np.degrees(np.linalg.norm(seq.full_pose[whole].reshape(-1, 16, 3)[:, joint], axis=1))


def jitter(values: np.ndarray) -> float:
    return float(np.abs(np.diff(values, 2)).mean())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoothing", type=float, default=0.5)
    ap.add_argument("--fill-gaps", type=int, default=4)
    ap.add_argument("--joint", default="index2", choices=MANO_16)
    ap.add_argument("--out", default=str(ROOT / "docs" / "smoothing.png"))
    args = ap.parse_args(argv)
    clip = ROOT / "samples" / "sample_clip.mp4"
    truth = load_motion_sequence(ROOT / "samples" / "sample_clip_truth.npz")
    j = MANO_16.index(args.joint)
    curves = {}
    with tempfile.TemporaryDirectory() as work:
        for name, smoothing, fill in (("raw", 0.0, 0), ("filtered", args.smoothing, args.fill_gaps)):
            options = JobOptions(hands=["right"], fov_deg=70.8, smoothing=smoothing, fill_gaps=fill,
                                 refine="off")  # the filter on the network's raw output
            result = run_job(str(clip), options, Path(work) / name)
            curves[name] = joint_angle(load_motion_sequence(result.paths["right"]), j)
    tf, ta = joint_angle(truth, j)
    fig, ax = plt.subplots(figsize=(9, 3.4), dpi=110)
    ax.plot(tf, ta, color="black", lw=2, label="ground truth")
    ax.plot(*curves["raw"], color="tab:red", lw=1, marker=".", ms=3, label="raw (filter off, gaps unkeyed)")
    ax.plot(*curves["filtered"], color="tab:blue", lw=1.6,
            label=f"One Euro {args.smoothing:g} + gap filling ({args.fill_gaps} frames)")
    ax.set_xlabel("frame")
    ax.set_ylabel(f"{args.joint} rotation (degrees)")
    ax.set_title("Sample clip, default BlurHandNet checkpoint: jitter filter off and on")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out)
    for name, (frames, values) in curves.items():
        at = np.searchsorted(tf, frames)
        error = np.abs(values - ta[np.clip(at, 0, len(ta) - 1)]).mean()
        print(f"{name:9s} frames keyed {len(frames):4d}  jitter {jitter(values):6.2f} deg/frame^2  "
              f"mean |error| {error:6.2f} deg")
    print(f"truth     jitter {jitter(ta):6.2f} deg/frame^2; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
