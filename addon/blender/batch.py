"""Batch conversion without the UI::

    blender -b -P scripts/hand_mocap_batch.py -- --video in.mp4 --out out.blend [--model NAME] [--hands ...]
    blender -b -P scripts/hand_mocap_batch.py -- --sequence s.npz --out out.blend

``--video`` runs the inference worker (a separate Python, ``--python``) and keys the hands as its results
arrive, exactly as the modal operator does, but synchronously.

The same script runs as ``python scripts/hand_mocap_batch.py ...`` with the ``bpy`` module. Modal operators do
not run in background mode, so everything here is synchronous. Exit code 0 on success; otherwise 1 (bad
input) or 2 (bad arguments) with a one-line reason on stderr.
"""
from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path
from typing import List, Optional

import bpy

from ..common import protocol as P
from ..common.hand_model import HandModelError
from ..common.job_options import add_job_arguments, job_fields
from ..common.motion_sequence import MotionSequenceError
from ..common.worker_client import WorkerError, default_python, default_worker_root
from .importer import import_sequence_file
from .video_job import VideoImport, new_job, run_sync

EXPORTERS = {"fbx": "io_scene_fbx", "glb": "io_scene_gltf2"}


def script_args(argv: Optional[List[str]] = None) -> List[str]:
    """Arguments after ``--`` (Blender passes its own before it); all of them when there is no ``--``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return argv[argv.index("--") + 1 :] if "--" in argv else argv


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="hand_mocap_batch", description="Convert hand motion to a .blend file.")
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--video", help="footage to track (video file or image-sequence folder)")
    source.add_argument("--sequence", help="motion-sequence .npz to import")
    ap.add_argument("--out", required=True, help="the .blend file to write")
    add_job_arguments(ap)
    ap.add_argument("--python", default="", help="the worker's Python (default: the checkout's .venv)")
    ap.add_argument("--worker-root", default="", help="the Hand Mocap checkout holding inference/")
    ap.add_argument("--heartbeat-timeout", type=float, default=15.0, help=argparse.SUPPRESS)
    ap.add_argument("--export", choices=sorted(EXPORTERS), action="append", default=[],
                    help="also export next to --out (repeatable)")
    ap.add_argument("--no-camera", action="store_true", help="do not add a camera matching the footage")
    return ap


def export(path: Path, kind: str) -> Path:
    import addon_utils

    addon_utils.enable(EXPORTERS[kind], default_set=False)
    target = path.with_suffix(f".{kind}")
    if kind == "fbx":
        bpy.ops.export_scene.fbx(filepath=str(target), bake_anim=True, add_leaf_bones=False,
                                 use_mesh_modifiers=False, object_types={"ARMATURE", "MESH", "EMPTY", "CAMERA"})
    else:
        bpy.ops.export_scene.gltf(filepath=str(target), export_format="GLB", export_animations=True,
                                  export_morph=True)
    return target


def run(args: argparse.Namespace) -> List[Path]:
    out = Path(args.out).resolve()
    if out.suffix != ".blend":
        raise ValueError(f"--out must name a .blend file, not {out.name!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if not bpy.data.filepath:  # started without a .blend: begin from an empty scene
        bpy.ops.wm.read_factory_settings(use_empty=True)
    job = None
    if args.sequence:
        import_sequence_file(args.sequence, mano_dir=args.mano or None, with_camera=not args.no_camera)
    else:
        job = convert_video(args)
    if job is not None and job.error and not job.hands:
        raise JobFailed(job.error)
    bpy.ops.wm.save_as_mainfile(filepath=str(out), compress=True)
    if job is not None and job.error:  # the keys received are saved; the run still fails
        raise JobFailed(f"{job.error} (saved what was received to {out}: {job.summary()})")
    written = [out]
    for kind in args.export:
        written.append(export(out, kind))
    return written


def convert_video(args: argparse.Namespace) -> VideoImport:
    root = args.worker_root or default_worker_root()
    python = args.python or default_python(Path(root) if root else None)
    start = new_job(args.video, **job_fields(args))

    def report(job: VideoImport, event) -> None:
        if isinstance(event, P.Progress) and (event.done == event.total or event.done % 30 < 8):
            print(f"hand-mocap: {event.stage} {event.done}/{event.total}", flush=True)
        elif isinstance(event, P.Log):
            print(f"hand-mocap: {event.message}", flush=True)

    job = run_sync(start, python, str(root) if root else None, args.mano or None,
                   heartbeat_timeout=args.heartbeat_timeout, on_event=report)
    if job.error and job.error_log:
        print(job.error_log, file=sys.stderr)
    if not job.error:
        print(f"hand-mocap: {job.summary()}; worker seconds {job.seconds}", flush=True)
    return job


class JobFailed(RuntimeError):
    pass


def main(argv: Optional[List[str]] = None) -> int:
    try:
        args = parser().parse_args(script_args(argv))
    except SystemExit as exc:  # argparse already printed the usage line
        return int(exc.code or 0)
    try:
        for path in run(args):
            print(f"hand-mocap: wrote {path}")
        return 0
    except (MotionSequenceError, HandModelError, ValueError, OSError, WorkerError, JobFailed) as exc:
        print(f"hand-mocap: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a batch job must end with a reason, never a hang
        traceback.print_exc()
        print(f"hand-mocap: error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
