"""Benchmark: synthetic-data throughput (frames per second) at 256 px: sharp, blurred in one Cycles pass
(``--blur-method motion``, the default) and blurred by the sub-frame average (``--blur-method average``),
one worker versus two, measured in the same run with the same seed. Blurred frames also write the sharp
frame at their middle instant (one more render each).

    python benchmarks/bm_synthetic.py [--size 256] [--engine cycles] [--samples 16]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(out: Path, args, blur: str, workers: int, sequences: int, frames: int) -> float:
    cmd = [sys.executable, "-m", "scenes.generate", "--out", str(out), "--quiet",
           "--sequences", str(sequences), "--frames", str(frames), "--size", str(args.size),
           "--engine", args.engine, "--samples", str(args.samples), "--shard-size", "1",
           "--workers", str(workers), "--seed", "1"]
    if blur:
        cmd += ["--blur", "--blur-method", blur, "--subframes", str(args.subframes)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--engine", default="cycles", choices=["cycles", "workbench", "eevee"])
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--subframes", type=int, default=33)
    args = ap.parse_args(argv)
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="bm-synthetic-"))
    try:
        for blur, sequences, frames in (("", 4, 5), ("motion", 4, 5), ("average", 2, 2)):
            for workers in (1, 2):
                out = tmp / f"{blur or 'sharp'}-{workers}"
                seconds = run(out, args, blur, workers, sequences, frames)
                rows.append((blur, workers, sequences * frames, seconds))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{args.size} px, {args.engine}, {args.samples} samples; blur over {args.subframes} instants per frame")
    print(f"{'frames':>6s} {'blur':>8s} {'workers':>7s} {'seconds':>8s} {'frames/s':>9s} {'vs 1 worker':>11s} "
          f"{'vs sharp':>9s}")
    for blur, workers, n, seconds in rows:
        base = next(r for r in rows if r[0] == blur and r[1] == 1)
        sharp = next(r for r in rows if r[0] == "" and r[1] == workers)
        print(f"{n:6d} {blur or 'none':>8s} {workers:7d} {seconds:8.1f} {n / seconds:9.3f} "
              f"{(n / seconds) / (base[2] / base[3]):10.2f}x {(sharp[2] / sharp[3]) / (n / seconds):8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
