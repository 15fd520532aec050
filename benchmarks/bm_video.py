"""Benchmark: what a user waits for, footage to keys, against MediaPipe Hands alone on the same clip.

    .venv/bin/python -m benchmarks.bm_video [--repeat 3] [--clips sample,real,two_hands]

Per clip, each round runs, one after the other, the whole processes a user starts (start-up, imports and model
loading included):

- **MediaPipe alone** (the baseline): ``python -m benchmarks.mediapipe_alone CLIP``, MediaPipe's hand landmarker in
  video mode with up to two hands, as a MediaPipe-to-Blender add-on runs it;
- **the job**: ``python -m inference run CLIP -o OUT --quiet``, default options;
- **the Blender import** (``--blender``): ``python scripts/hand_mocap_batch.py --video CLIP --out OUT.blend``, the
  batch script with the bpy module: the worker's start, the job, the rig, its keys, saving.

Taking turns, a slow spell of the machine slows each alike; the ratio is each round's job over its baseline, and
the table gives the median round. A second table gives each process's CPU seconds and the lowest ratio the job's
CPU allows on this machine's cores. Then, with a worker kept as the extension keeps it between imports (started,
one import of the clip done), the next import's seconds from its start to its first keys and to its end, and
its stages (seconds per stage from its ``done`` message, summed over the threads that ran them). Clips: the
shipped sample clip (a render, one hand, 640x360), the shipped real clip (one hand, 1280x720), and that clip
beside its mirror image (two hands, 1280x720: a person's right hand on the image's left, the left on the right).
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CLIPS = {"sample": ROOT / "samples" / "sample_clip.mp4", "real": ROOT / "samples" / "real_hand.mp4"}


def two_hands(path: Path) -> Path:
    """The real clip's hand beside its mirror image: a 1280x720 clip with two real hands."""
    from inference.video import Footage

    footage = Footage(CLIPS["real"])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), footage.info.fps, (1280, 720))
    for _, rgb in footage.frames():
        half = rgb[:, 440:1080]  # 640 px around the hand
        writer.write(cv2.cvtColor(np.concatenate([half, half[:, ::-1]], 1), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def wall(cmd: List[str], cpu: Optional[List[float]] = None) -> float:
    """The process's wall seconds; its CPU seconds (user + system, its threads and children) appended to ``cpu``."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr[-800:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime)
    return seconds


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def kept_worker(video: Path) -> Dict[str, object]:
    """A worker as the extension keeps it between imports: started, one import done; then the next import of
    the same clip: seconds to its first keys and to its end, and its stages."""
    from addon.common import protocol as P
    from addon.common.job_options import JobOptions
    from addon.common.worker_client import WorkerClient

    client = WorkerClient(sys.executable, ROOT)
    client.start()
    try:
        for job in ("earlier", "timed"):
            with tempfile.TemporaryDirectory() as work:
                sent, first = time.perf_counter(), None
                client.send(P.Start(job_id=job, video=str(video), job_dir=work, options=JobOptions()))
                done = None
                while done is None:
                    for event in client.wait_event(0.5):
                        if isinstance(event, P.Partial) and first is None:
                            first = time.perf_counter() - sent
                        if isinstance(event, P.Done):
                            done = {"first": first, "total": time.perf_counter() - sent, "stages": event.seconds}
                        if isinstance(event, P.Error):
                            raise RuntimeError(event.message)
        return done
    finally:
        client.stop(1.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="rounds per clip (the median round is reported)")
    ap.add_argument("--clips", default="sample,real,two_hands")
    ap.add_argument("--blender", action="store_true", help="also time the Blender import (the batch script)")
    args = ap.parse_args(argv)
    rows, n_cores = [], cores()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        clips = dict(CLIPS, two_hands=two_hands(work / "two_hands.mp4"))
        for name in args.clips.split(","):
            clip = clips[name]
            mp, job, blend, mp_cpu, job_cpu = [], [], [], [], []
            for r in range(args.repeat):
                mp.append(wall([sys.executable, "-m", "benchmarks.mediapipe_alone", str(clip)], mp_cpu))
                job.append(wall([sys.executable, "-m", "inference", "run", str(clip), "-o", str(work / "o.npz"),
                                 "--quiet"], job_cpu))
                if args.blender:
                    blend.append(wall([sys.executable, str(ROOT / "scripts" / "hand_mocap_batch.py"), "--video",
                                       str(clip), "--out", str(work / "o.blend")]))
            warm = kept_worker(clip)
            frames = cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FRAME_COUNT)
            rows.append((name, frames, statistics.median(mp), statistics.median(job),
                         statistics.median(j / m for j, m in zip(job, mp)),
                         statistics.median(b / m for b, m in zip(blend, mp)) if blend else None, warm,
                         statistics.median(mp_cpu), statistics.median(job_cpu),
                         statistics.median(c / n_cores / m for c, m in zip(job_cpu, mp))))
            print(f"{name}: MediaPipe alone {[round(v, 2) for v in mp]} s, job {[round(v, 2) for v in job]} s"
                  + (f", Blender import {[round(v, 2) for v in blend]} s" if blend else "")
                  + f"; CPU: MediaPipe alone {[round(v, 2) for v in mp_cpu]} s, job {[round(v, 2) for v in job_cpu]} s",
                  flush=True)
    print("\n| clip | frames | MediaPipe alone, s | the job, s | job / MediaPipe (median round) | Blender import / "
          "MediaPipe | kept worker: first keys, s | kept worker: whole job, s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, frames, mp, job, ratio, blend, warm, *_ in rows:
        print(f"| {name} | {frames:.0f} | {mp:.2f} | {job:.2f} | **{ratio:.2f}x** | "
              f"{'' if blend is None else f'{blend:.2f}x'} | {warm['first']:.2f} | {warm['total']:.2f} |")
    print(f"\nCPU seconds (user + system) of each process, and the lowest ratio the job's CPU allows on this machine's "
          f"{n_cores} cores (its CPU seconds spread over every core all the time, over MediaPipe alone's wall time):")
    print("\n| clip | MediaPipe alone, CPU s | the job, CPU s | lowest ratio its CPU allows |")
    print("|---|---|---|---|")
    for name, _, _, _, _, _, _, mp_cpu, job_cpu, floor in rows:
        print(f"| {name} | {mp_cpu:.2f} | {job_cpu:.2f} | {floor:.2f}x |")
    for name, _, _, _, _, _, warm, *_ in rows:
        stages = ", ".join(f"{k} {v:.2f}" for k, v in warm["stages"].items())
        print(f"{name}: stages of the kept worker's job (s): {stages}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
