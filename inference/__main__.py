"""python -m inference run VIDEO -o SEQ.npz [options]: footage -> motion-sequence file(s), without Blender.

With hands of both sides found, ``-o seq.npz`` becomes ``seq_right.npz`` and ``seq_left.npz``.
Every argument and the output's folder are checked before any work. Exit status: 0 on success, 2 for a bad
command line, 1 when the job fails (one line on stderr; with an unexpected error the traceback goes to
``SEQ.log``, or to stderr with ``--verbose``), 130 / 143 after SIGINT / SIGTERM. On a failure or a signal,
the samples finished so far are still written to the output.
"""
from __future__ import annotations

import argparse
import gc
import shutil
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Dict, List, Optional

from addon.common.interrupts import Interrupted, StopSignals
from addon.common.job_options import (
    JobOptionError,
    OneLineParser,
    add_job_arguments,
    check_output_folder,
    options_from_args,
)
from addon.common.motion_sequence import concatenate, load_motion_sequence

from .catalog import MODELS
from .native_output import native_stderr_to

PROG = "python -m inference"


def parser() -> argparse.ArgumentParser:
    ap = OneLineParser(prog=PROG, description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    run = sub.add_parser("run", help="footage -> motion-sequence .npz")
    run.add_argument("video", help="video file (mp4/mov/avi/mkv), image-sequence folder or photo")
    run.add_argument("-o", "--out", required=True, help="output .npz")
    run.add_argument("--quiet", action="store_true", help="no progress bar or notes: only warnings and errors")
    run.add_argument("--verbose", action="store_true", help="print the traceback of an unexpected error")
    run.add_argument("--keep-job", action="store_true", help="keep the job folder (chunk files) on failure")
    add_job_arguments(run)
    sub.add_parser("models", help="list the models and whether each has a trained checkpoint")
    return ap


def output_paths(out: Path, sides: List[str]) -> Dict[str, Path]:
    """One hand: ``out`` itself; both: ``out_right.npz`` and ``out_left.npz``."""
    return {s: out if len(sides) == 1 else out.with_name(f"{out.stem}_{s}{out.suffix}") for s in sides}


def check_run_args(args: argparse.Namespace) -> None:
    """What the command line alone can tell, before any work (exit status 2)."""
    out = Path(args.out)
    if out.suffix != ".npz":
        raise JobOptionError(f"--out must name a .npz file, not {out.name!r}")
    if not Path(args.video).exists():
        raise JobOptionError(f"{args.video}: no such file or folder")
    options_from_args(args)
    check_output_folder(out)


def save_received(chunks: Dict[str, List[str]], out: Path) -> str:
    """Join the chunk files announced so far into the output file(s); what was saved, in words."""
    sides = [s for s in chunks if chunks[s]]
    if not sides:
        return "nothing was received to save"
    saved = []
    for side, target in output_paths(out, sides).items():
        seq = concatenate([load_motion_sequence(p) for p in chunks[side]])
        seq.save(target)
        saved.append(f"{side} hand {len(seq)} samples to {target}")
    return "saved " + ", ".join(saved)


def run_command(args: argparse.Namespace) -> int:
    from addon.common.progress import Progress

    from .pipeline import run_job

    try:
        check_run_args(args)
    except JobOptionError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    bars: Dict[str, Progress] = {}
    chunks: Dict[str, List[str]] = {}

    def end_bars() -> None:
        for bar in bars.values():
            bar.close()

    def emit(kind: str, fields: dict) -> None:
        if kind == "progress" and not args.quiet:
            bar = bars.get(fields["stage"]) or bars.setdefault(fields["stage"], Progress(fields["total"], "frames"))
            bar.update(fields["done"])
        elif kind == "partial":
            chunks.setdefault(fields["hand"], []).append(fields["path"])
        elif kind == "log":
            warning = fields.get("level") == "warning"
            if args.quiet and not warning:
                return
            text = ("warning: " if warning else "") + fields["message"]
            open_bars = [b for b in bars.values() if not b.closed]
            if open_bars:
                open_bars[-1].note(text)
            else:
                print(text, file=sys.stderr, flush=True)

    work = Path(tempfile.mkdtemp(prefix="hand_mocap_job_"))
    failed = True
    with StopSignals() as stop:

        def fail(message: str, status: int) -> int:
            with stop.deferred():  # a second Ctrl-C does not tear the save
                end_bars()
                print(f"{PROG}: {message}; {save_received(chunks, out)}", file=sys.stderr, flush=True)
            return status

        native_log = work / "native.log"  # MediaPipe's and TFLite's own chatter, kept for a failure's log
        try:
            with native_stderr_to(native_log):
                result = run_job(args.video, options_from_args(args), work, emit)
            end_bars()
            targets = output_paths(out, list(result.paths))
            for side, path in result.paths.items():
                shutil.copyfile(path, targets[side])
                print(f"{side} hand: {targets[side]}")
            failed = False
            return 0
        except Interrupted as exc:
            return fail(str(exc), exc.exit_status)
        except Exception as exc:  # noqa: BLE001 - one line for the user; the CLI is the last stop
            if names_its_problem(exc):
                return fail(f"error: {exc}", 1)
            log = out.with_suffix(".log")
            native = native_log.read_text(errors="replace") if native_log.is_file() else ""
            log.write_text(traceback.format_exc() + (f"\nnative libraries' output:\n{native}" if native else ""))
            if args.verbose:
                traceback.print_exc()
            return fail(f"error: unexpected {type(exc).__name__}: {exc} (traceback in {log})", 1)
        finally:
            if failed and args.keep_job:
                print(f"{PROG}: kept the job folder {work}", file=sys.stderr)
            else:
                shutil.rmtree(work, ignore_errors=True)


def names_its_problem(exc: BaseException) -> bool:
    """The project's own errors, and the system's file errors, say what is wrong in their message; anything
    else (a library's RuntimeError) is a bug whose traceback the user should be able to send."""
    return isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in ("inference", "addon")


def main(argv: Optional[List[str]] = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed its one line (or the help)
        return int(exc.code or 0)
    if args.command == "models":
        from .catalog import available
        for name, ok in available().items():
            print(f"{name:12s} {'ready' if ok else 'no trained checkpoint'}  ({MODELS[name].paper})")
        return 0
    return run_command(args)


if __name__ == "__main__":
    status = main()
    # Exit without the interpreter's final collections walking every object torch made: the user waits for them.
    gc.freeze()
    sys.exit(status)
