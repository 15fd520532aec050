"""Memory over long and repeated work.

    .venv/bin/python -m benchmarks.bm_memory [--minutes 1,5,10] [--imports 20]

- **Clip length**: the sample clip looped to N minutes (30 fps, 640x360), run through the whole job
  (``python -m inference run``, default options); the job process's peak resident memory per length. Frames wait
  only until their hands are known and the fit works in windows, so the peak should not grow with the length;
  what does grow is the samples kept for the complete sequence (about 2 KB per footage frame).
- **Imports in a row**: one Blender session (the bpy module) imports the sample clip's first 30 frames N times
  through the batch path (a worker each time), deleting the imported objects and purging orphan data after each;
  the session's resident memory and open files after each import.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

import cv2

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "samples" / "sample_clip.mp4"
PY = ROOT / ".venv" / "bin" / "python"


def looped_clip(minutes: float, path: Path) -> Path:
    """The sample clip repeated (forwards, then backwards, so the motion stays continuous) for ``minutes``."""
    capture = cv2.VideoCapture(str(CLIP))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    loop = frames + frames[::-1]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (frames[0].shape[1], frames[0].shape[0]))
    for i in range(int(round(minutes * 60 * fps))):
        writer.write(loop[i % len(loop)])
    writer.release()
    return path


def peak_of(cmd: List[str]) -> tuple:
    """(peak resident memory in MB, seconds) of one child process run to its end."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-600:]}")
    return usage.ru_maxrss / 1024, seconds


def clip_lengths(minutes: List[float]) -> None:
    print("| footage | frames | peak memory of the job, MB | vs the shortest | job, s |")
    print("|---|---|---|---|---|")
    first = None
    with tempfile.TemporaryDirectory(prefix="hand_mocap_bm_memory_") as tmp:
        for m in minutes:
            clip = looped_clip(m, Path(tmp) / f"loop_{m:g}min.mp4")
            frames = int(cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FRAME_COUNT))
            peak, seconds = peak_of([str(PY), "-m", "inference", "run", str(clip), "-o", str(Path(tmp) / "seq.npz"),
                                     "--quiet"])
            first = first or peak
            print(f"| {m:g} min | {frames} | {peak:.0f} | {peak / first:.2f}x | {seconds:.0f} |", flush=True)
            clip.unlink()


IMPORTS = """
import gc, os, sys, tempfile
from pathlib import Path
import bpy
from addon.blender.video_job import new_job, run_sync
from addon.common.job_options import JobOptions
from addon.common.worker_client import default_python
count, clip, root = int(sys.argv[1]), sys.argv[2], sys.argv[3]
bpy.ops.wm.read_factory_settings(use_empty=True)
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
for i in range(count):
    job = run_sync(new_job(clip, JobOptions(hands=["right"], frame_end=29)), default_python(Path(root)), root)
    assert job.finished and not job.error, job.error
    job.discard_files()
    for ob in list(bpy.data.objects):
        bpy.data.objects.remove(ob, do_unlink=True)
    bpy.data.orphans_purge(do_recursive=True)
    gc.collect()
    print(f"IMPORT {i + 1} {rss():.1f} {len(os.listdir('/proc/self/fd'))}", flush=True)
"""


def imports_in_a_row(count: int) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(IMPORTS)
    try:
        done = subprocess.run([str(PY), script.name, str(count), str(CLIP), str(ROOT)], cwd=ROOT, capture_output=True,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        os.unlink(script.name)
    rows = [line.split()[1:] for line in done.stdout.splitlines() if line.startswith("IMPORT ")]
    if done.returncode != 0 or len(rows) != count:
        raise RuntimeError(f"imports failed: {done.stderr[-800:]}")
    print("| import | Blender's resident memory, MB | open files |")
    print("|---|---|---|")
    for n, mb, fds in rows:
        if int(n) in (1, 2, 5, 10, count):
            print(f"| {n} | {float(mb):.0f} | {fds} |")
    growth = float(rows[-1][1]) - float(rows[1][1])
    print(f"from import 2 to import {count}: {growth:+.1f} MB, open files {int(rows[-1][2]) - int(rows[1][2]):+d}")


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", default="1,5,10", help="clip lengths to run, minutes ('' to skip)")
    ap.add_argument("--imports", type=int, default=20, help="imports in a row (0 to skip)")
    args = ap.parse_args(argv)
    if args.minutes:
        clip_lengths([float(m) for m in args.minutes.split(",")])
    if args.imports:
        imports_in_a_row(args.imports)
    print(f"(this process's own peak: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
