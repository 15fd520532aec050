"""python -m inference run VIDEO -o SEQ.npz [options]: footage -> motion-sequence file(s), without Blender.

With hands of both sides found, ``-o seq.npz`` becomes ``seq_right.npz`` and ``seq_left.npz``.
Exit status 0 on success, 1 with a one-line reason on failure, 130 when interrupted.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

from addon.common.job_options import add_job_arguments, job_fields

from .catalog import MODELS


def settings_from(args: argparse.Namespace, video: str):
    from .pipeline import JobSettings
    return JobSettings(video=video, **job_fields(args))


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m inference", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="footage -> motion-sequence .npz")
    run.add_argument("video", help="video file (mp4/mov/avi/mkv) or image-sequence folder")
    run.add_argument("-o", "--out", required=True, help="output .npz")
    run.add_argument("--quiet", action="store_true")
    add_job_arguments(run)
    sub.add_parser("models", help="list the models and whether each has a trained checkpoint")
    args = ap.parse_args(argv)
    if args.command == "models":
        from .catalog import available
        for name, ok in available().items():
            print(f"{name:12s} {'ready' if ok else 'no trained checkpoint'}  ({MODELS[name].paper})")
        return 0
    from scenes.progress import Progress
    from .pipeline import run_job

    bars = {}

    def emit(kind, fields):
        if kind == "progress" and not args.quiet:
            bar = bars.get(fields["stage"]) or bars.setdefault(fields["stage"], Progress(fields["total"], "frames"))
            bar.update(fields["done"])
        elif kind == "log":
            print(fields["message"], file=sys.stderr)

    out = Path(args.out)
    work = Path(tempfile.mkdtemp(prefix="hand_mocap_job_"))
    try:
        result = run_job(settings_from(args, args.video), work, emit)
        for bar in bars.values():
            bar.close()
        out.parent.mkdir(parents=True, exist_ok=True)
        for side, path in result.paths.items():
            target = out if len(result.paths) == 1 else out.with_name(f"{out.stem}_{side}{out.suffix}")
            shutil.copyfile(path, target)
            print(f"{side} hand: {target}")
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line for the user; the CLI is the last stop
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
