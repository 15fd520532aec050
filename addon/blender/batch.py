"""Batch conversion without the UI::

    blender -b -P scripts/hand_mocap_batch.py -- --video in.mp4 --out out.blend [--model NAME] [--hands ...]
    blender -b -P scripts/hand_mocap_batch.py -- --sequence s.npz --out out.blend
    blender -b -P scripts/hand_mocap_batch.py -- --video in.mp4 --out out.blend \
        --retarget-to character.blend:Armature [--bone-map auto|rigify|rigify_metarig|mixamo|map.json] --export fbx

``--retarget-to`` appends the armature (and the meshes under it) from a .blend and keys its hand bones from the
imported hands (fingers; the hand bone too with ``--retarget-wrist``); ``--export`` then writes the character
alone, with its keys.

``--video`` runs the inference worker (a separate Python, ``--python``) and keys the hands as its results
arrive, exactly as the modal operator does, but synchronously.

The same script runs as ``python scripts/hand_mocap_batch.py ...`` with the ``bpy`` module. Modal operators do
not run in background mode, so everything here is synchronous.

Every argument and the output's folder are checked before any work. Exit status: 0 on success; 2 for a bad
command line (an option out of range, a missing input path, an output that cannot be written); 1 when the
job fails on its input or in the worker (corrupt footage, no hand, a crash); 130 / 143 after SIGINT /
SIGTERM. A failure is one line on stderr; the worker's traceback and log go to ``OUT.log`` (named in that
line), or to stderr with ``--verbose``. Whatever the worker sent before a failure or a signal is saved.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path
from typing import List, Optional

import bpy

from ..common import protocol as P
from ..common.bone_maps import BoneMapError, load_bone_map
from ..common.hand_model import HandModelError, find_hand_model, official_model_path
from ..common.interrupts import Interrupted, StopSignals
from ..common.job_options import (
    JobOptionError,
    JobOptions,
    OneLineParser,
    add_job_arguments,
    check_output_folder,
    options_from_args,
)
from ..common.motion_sequence import MotionSequenceError
from ..common.retarget import RetargetError
from ..common.worker_client import WorkerError, default_python, default_worker_root
from .importer import import_sequence_file
from .retarget import append_character, check_target, parse_target_spec, retarget_hands
from .video_job import VideoImport, new_job, run_sync

EXPORTERS = {"fbx": "io_scene_fbx", "glb": "io_scene_gltf2"}
PROG = "hand-mocap"


class UsageError(ValueError):
    """A command line no job can run with (exit status 2)."""


class JobFailed(RuntimeError):
    """The job ran and failed (exit status 1); what was received is saved."""


class JobInterrupted(Interrupted):
    """A signal stopped the job; ``kept`` says what was saved."""

    def __init__(self, signum: int, kept: str):
        super().__init__(signum)
        self.kept = kept


def script_args(argv: Optional[List[str]] = None) -> List[str]:
    """Arguments after ``--`` (Blender passes its own before it); all of them when there is no ``--``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return argv[argv.index("--") + 1 :] if "--" in argv else argv


def parser() -> argparse.ArgumentParser:
    ap = OneLineParser(prog=PROG, description="Convert hand motion to a .blend file.")
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--video", help="footage to track (video file, image-sequence folder or photo)")
    source.add_argument("--sequence", help="motion-sequence .npz to import")
    ap.add_argument("--out", required=True, help="the .blend file to write")
    add_job_arguments(ap)
    ap.add_argument("--python", default="", help="the worker's Python (default: the checkout's .venv)")
    ap.add_argument("--worker-root", default="", help="the Hand Mocap checkout holding inference/")
    ap.add_argument("--heartbeat-timeout", type=float, default=15.0, help=argparse.SUPPRESS)
    ap.add_argument("--export", choices=sorted(EXPORTERS), action="append", default=[],
                    help="also export next to --out (repeatable)")
    ap.add_argument("--no-camera", action="store_true", help="do not add a camera matching the footage")
    ap.add_argument("--show-confidence", action="store_true",
                    help="colour the hand by the model's per-joint confidence (models that give one: amvur)")
    ap.add_argument("--retarget-to", default="", metavar="FILE.blend:ARMATURE",
                    help="also key this character's hand bones (appended from FILE.blend) from the hands")
    ap.add_argument("--bone-map", default="auto",
                    help="auto (default: from the bone names), rigify, rigify_metarig, mixamo, or a .json map")
    ap.add_argument("--retarget-wrist", action="store_true",
                    help="also turn the character's hand bones (default: fingers only)")
    ap.add_argument("--verbose", action="store_true", help="print the worker's traceback and log on failure")
    ap.add_argument("--keep-job", action="store_true",
                    help="keep the worker's job folder (its chunk files) when the job fails")
    return ap


def check_args(args: argparse.Namespace) -> JobOptions:
    """Everything the command line alone can tell, before any work; the job's options for ``--video``."""
    out = Path(args.out).resolve()
    if out.suffix != ".blend":
        raise UsageError(f"--out must name a .blend file, not {out.name!r}")
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder, not a .blend file")
    source = args.video or args.sequence
    if not Path(source).exists():
        raise UsageError(f"--{'video' if args.video else 'sequence'}: {source}: no such file or folder")
    try:
        options = options_from_args(args)
        check_output_folder(out)
    except JobOptionError as exc:
        raise UsageError(str(exc)) from None
    if args.mano_dir and not Path(args.mano_dir).is_dir():
        raise UsageError(f"--mano: {args.mano_dir} is not a folder")
    if args.python and not os.access(args.python, os.X_OK):
        raise UsageError(f"--python: {args.python} is not an executable Python")
    if args.worker_root and not (Path(args.worker_root) / "inference" / "worker.py").is_file():
        raise UsageError(f"--worker-root: {args.worker_root} does not contain inference/worker.py")
    check_retarget_args(args)
    return options


def check_retarget_args(args: argparse.Namespace) -> None:
    if not args.retarget_to:
        if args.bone_map != "auto" or args.retarget_wrist:
            raise UsageError("--bone-map and --retarget-wrist need --retarget-to FILE.blend:ARMATURE")
        return
    try:
        path, _ = parse_target_spec(args.retarget_to)
        if not Path(path).is_file():
            raise UsageError(f"--retarget-to: {path}: no such .blend file")
        if args.bone_map.endswith(".json"):
            load_bone_map(args.bone_map)
    except (RetargetError, BoneMapError) as exc:
        raise UsageError(str(exc)) from None


def load_character(args: argparse.Namespace, sides: List[str]):
    """The retarget target, appended and checked against its bone map before any work (exit 2 if unusable)."""
    path, name = parse_target_spec(args.retarget_to)
    try:
        target = append_character(path, name)
        check_target(target, args.bone_map, sides)
    except (RetargetError, BoneMapError, OSError) as exc:
        raise UsageError(f"--retarget-to: {exc}") from None
    return target


def check_mano_folder(folder: str, sides: List[str]) -> None:
    """Load every requested side's file the folder has (a side it lacks fails only if the footage needs it)."""
    present = [side for side in sides if official_model_path(side, folder) is not None]
    for side in present or sides[:1]:  # none there: find_hand_model says which file is missing
        find_hand_model(side, folder)


def export(path: Path, kind: str, character=None) -> Path:
    """Export the scene, or only ``character`` (an armature and its meshes, with the armature's own action)."""
    import addon_utils

    addon_utils.enable(EXPORTERS[kind], default_set=False)
    target = path.with_suffix(f".{kind}")
    only = bool(character)
    if only:
        for obj in bpy.context.view_layer.objects:
            obj.select_set(obj == character or obj in character.children_recursive)
        bpy.context.view_layer.objects.active = character
    if kind == "fbx":
        bpy.ops.export_scene.fbx(filepath=str(target), use_selection=only, bake_anim=True, add_leaf_bones=False,
                                 bake_anim_use_all_actions=not only, bake_anim_use_nla_strips=not only,
                                 use_mesh_modifiers=False, object_types={"ARMATURE", "MESH", "EMPTY", "CAMERA"})
    else:
        bpy.ops.export_scene.gltf(filepath=str(target), export_format="GLB", export_animations=True,
                                  export_morph=True, use_selection=only,
                                  export_animation_mode="ACTIVE_ACTIONS" if only else "ACTIONS")
    return target


def say(message: str, error: bool = False) -> None:
    print(f"{PROG}: {'error: ' if error else ''}{message}", file=sys.stderr if error else sys.stdout, flush=True)


def run(args: argparse.Namespace, stop: StopSignals) -> List[Path]:
    options = check_args(args)
    out = Path(args.out).resolve()
    if args.video and args.mano_dir:  # a MANO file that cannot be used fails here, before the worker runs
        check_mano_folder(args.mano_dir, options.hands)
    if not bpy.data.filepath:  # started without a .blend: begin from an empty scene
        bpy.ops.wm.read_factory_settings(use_empty=True)
    character = load_character(args, options.hands if args.video else ["right", "left"]) \
        if args.retarget_to else None
    if args.sequence:
        import_sequence_file(args.sequence, mano_dir=args.mano_dir or None, with_camera=not args.no_camera,
                             hand=args.hand_model, show_confidence=args.show_confidence)
        return finish(out, args, character)
    with stop.deferred():  # a signal stops the worker between events; keys already received stay whole
        job = convert_video(args, options, stop)
    try:
        if not job.error:
            return finish(out, args, character)
        kept = f"saved {job.summary()} to {out}" if job.hands else "nothing was received to save"
        if job.hands:
            problem = retarget(character, args)  # the character gets what was received too
            if problem:
                say(f"warning: {problem}")
            save(out, [])
        if stop.received:
            raise JobInterrupted(stop.received, kept)
        log = out.with_suffix(".log")
        log.write_text(job.log_report())
        if args.verbose:
            sys.stderr.write(job.log_report())
        raise JobFailed(f"{job.error}; {kept}; worker log: {log}")
    finally:
        if not (job.error and args.keep_job):
            job.discard_files()
        elif args.keep_job:
            say(f"kept the job folder {job.start.job_dir}")


def retarget(character, args: argparse.Namespace) -> str:
    """Key the character from the imported hands; '' on success, else why not (the hands are kept)."""
    if character is None:
        return ""
    try:
        reports = retarget_hands(character, args.bone_map, drive_wrist=args.retarget_wrist)
    except (RetargetError, BoneMapError) as exc:
        return f"not retargeted: {exc}"
    for report in reports:
        say(f"retargeted the {report}")
    return ""


def finish(out: Path, args: argparse.Namespace, character) -> List[Path]:
    """Retarget, then save and export; a retarget that fails still saves the imported hands (exit 1)."""
    problem = retarget(character, args)
    if problem:
        save(out, [])
        raise JobFailed(f"{problem}; the imported hands are saved in {out}")
    return save(out, args.export, character)


def save(out: Path, exports: List[str], character=None) -> List[Path]:
    bpy.ops.wm.save_as_mainfile(filepath=str(out), compress=True)
    return [out] + [export(out, kind, character) for kind in exports]


def convert_video(args: argparse.Namespace, options: JobOptions, stop: StopSignals) -> VideoImport:
    root = args.worker_root or default_worker_root()
    python = args.python or default_python(Path(root) if root else None)
    start = new_job(args.video, options)

    def report(job: VideoImport, event) -> None:
        if isinstance(event, P.Progress) and (event.done == event.total or event.done % 30 < 8):
            say(f"{event.stage} {event.done}/{event.total}")
        elif isinstance(event, P.Partial) and event.frames:
            say(f"keyed the {event.hand} hand up to frame {max(event.frames):.0f}")
        elif isinstance(event, P.Log):
            say(("warning: " if event.level == "warning" else "") + event.message)

    job = run_sync(start, python, str(root) if root else None, heartbeat_timeout=args.heartbeat_timeout, on_event=report,
                   stop_reason=lambda: f"interrupted by {stop.name}" if stop.received else "",
                   show_confidence=args.show_confidence)
    if not job.error:
        say(f"{job.summary()}; worker seconds {job.seconds}")
    return job


def main(argv: Optional[List[str]] = None) -> int:
    try:
        args = parser().parse_args(script_args(argv))
    except SystemExit as exc:  # argparse already printed its one line (or the help)
        return int(exc.code or 0)
    with StopSignals() as stop:
        try:
            for path in run(args, stop):
                say(f"wrote {path}")
            return 0
        except UsageError as exc:
            say(str(exc), error=True)
            return 2
        except Interrupted as exc:
            say(f"{exc}; {getattr(exc, 'kept', 'nothing saved')}", error=True)
            return exc.exit_status
        except (MotionSequenceError, HandModelError, ValueError, OSError, WorkerError, JobFailed) as exc:
            say(str(exc), error=True)
            return 1
        except Exception as exc:  # noqa: BLE001 - a batch job must end with a reason, never a hang
            log = Path(args.out).resolve().with_suffix(".log")
            try:
                log.write_text(traceback.format_exc())
                where = f"traceback in {log}"
            except OSError:
                where = "no log written"
            if args.verbose:
                traceback.print_exc()
            say(f"unexpected {type(exc).__name__}: {exc} ({where})", error=True)
            return 1
