"""Benchmark: what a blurred synthetic frame costs, one-pass Cycles motion blur against the sub-frame average,
each against a sharp frame rendered in the same run, and how far apart the two blurred frames are.

    .venv/bin/python benchmarks/bm_blur.py [--size 128] [--samples 16] [--subframes 33] [--frames 4]

Every frame is rendered three ways on the same scene (same flow, lights, seed): sharp (one render at the
middle instant), ``motion`` (the rig keyed at ``--subframes`` instants over a 4-frame exposure, one Cycles
render with deformation motion blur, ``--blur-samples`` samples, default as many as the sharp frame) and
``average`` (``--subframes`` renders averaged, the paper's recipe). Differences are mean absolute
differences of the hand layer (premultiplied linear RGBA, 0..1) over the pixels either image covers. The
one-pass frame's own noise is the same difference between two one-pass renders that differ only in Cycles'
seed: when it is as large as the difference to the average, what separates the methods is sampling noise.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--subframes", type=int, default=33)
    ap.add_argument("--frames", type=int, default=4)
    ap.add_argument("--blur-samples", type=int, default=0, help="samples of the one-pass frame (0: --samples)")
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args(argv)

    from addon.common.hand_model import find_hand_model
    from scenes.pose_bank import PoseBank
    from scenes.pose_flow import FlowParams, sample_flow
    from scenes.renderer import HandRenderer, RenderSettings
    from scenes.synthesize import SynthSettings, flow_at

    settings = SynthSettings(frames=args.frames, blur=True, subframes=args.subframes)
    renderer = HandRenderer(RenderSettings(size=args.size, samples=args.samples))
    model = find_hand_model("right")
    rng = np.random.default_rng(args.seed)
    k = renderer.settings.intrinsics
    flow = sample_flow(PoseBank.load("prior:2000", model), model, k, (args.size, args.size),
                       FlowParams(frames=args.frames, extra=settings.margin), rng)
    rig = renderer.add_hand(model, flow.betas, flow.skin, "hand", camera=True)
    renderer.randomize_lights(rng)
    offsets = settings.times()

    def place(t: float) -> None:
        renderer.pose(rig, *flow_at(flow, t))

    def averaged(times) -> np.ndarray:
        acc = 0.0
        for t in times:
            place(t)
            acc = acc + renderer.render()
        return acc / len(times)

    def timed(fn):
        start = time.perf_counter()
        out = fn()
        return out, time.perf_counter() - start

    def one_pass(times) -> np.ndarray:
        poses = [flow_at(flow, t) for t in times]
        renderer.key_exposure(rig, np.array([p[0] for p in poses]), np.array([p[1] for p in poses]))
        try:
            return renderer.render_blurred(samples=args.blur_samples)
        finally:
            renderer.clear_exposure_keys()

    def mad(a: np.ndarray, b: np.ndarray) -> float:
        covered = (a[..., 3] > 1e-3) | (b[..., 3] > 1e-3)
        return float(np.abs(a - b)[covered].mean())

    place(float(settings.margin))
    renderer.render()  # warm-up: scene build and kernel load are not per-frame costs
    rows = []
    for f in range(args.frames):
        centre = settings.margin + f
        times = centre + offsets
        place(float(centre))
        _, sharp_s = timed(renderer.render)
        motion, motion_s = timed(lambda: one_pass(times))
        average, average_s = timed(lambda: averaged(times))
        renderer.scene.cycles.seed = 1
        other = one_pass(times)
        renderer.scene.cycles.seed = 0
        rows.append((sharp_s, motion_s, average_s, mad(motion, average), mad(motion, other)))
    r = np.array(rows)
    print(f"{args.size} px, Cycles {args.samples} samples (one-pass: {args.blur_samples or args.samples}), "
          f"{args.subframes} instants over a 4-frame exposure, {args.frames} frames")
    print(f"{'frame':>5s} {'sharp s':>8s} {'motion s':>9s} {'average s':>10s} {'motion/sharp':>13s} "
          f"{'average/sharp':>14s} {'MAD motion-average':>19s} {'MAD motion seed-only':>21s}")
    for i, (s, m, a, d, n) in enumerate(rows):
        print(f"{i:5d} {s:8.3f} {m:9.3f} {a:10.3f} {m / s:12.2f}x {a / s:13.2f}x {d:19.4f} {n:21.4f}")
    s, m, a, d, n = r.mean(axis=0)
    print(f"{'mean':>5s} {s:8.3f} {m:9.3f} {a:10.3f} {m / s:12.2f}x {a / s:13.2f}x {d:19.4f} {n:21.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
