"""Batch conversion without the UI: ``blender -b -P scripts/hand_mocap_batch.py -- --sequence s.npz --out o.blend``.

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

from ..common.hand_model import HandModelError
from ..common.motion_sequence import MotionSequenceError
from .importer import import_sequence_file

EXPORTERS = {"fbx": "io_scene_fbx", "glb": "io_scene_gltf2"}


def script_args(argv: Optional[List[str]] = None) -> List[str]:
    """Arguments after ``--`` (Blender passes its own before it); all of them when there is no ``--``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return argv[argv.index("--") + 1 :] if "--" in argv else argv


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="hand_mocap_batch", description="Convert hand motion to a .blend file.")
    ap.add_argument("--sequence", required=True, help="motion-sequence .npz to import")
    ap.add_argument("--out", required=True, help="the .blend file to write")
    ap.add_argument("--mano", default=None, help="folder with official MANO_RIGHT.pkl / MANO_LEFT.pkl")
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
    import_sequence_file(args.sequence, mano_dir=args.mano, with_camera=not args.no_camera)
    bpy.ops.wm.save_as_mainfile(filepath=str(out), compress=True)
    written = [out]
    for kind in args.export:
        written.append(export(out, kind))
    return written


def main(argv: Optional[List[str]] = None) -> int:
    try:
        args = parser().parse_args(script_args(argv))
    except SystemExit as exc:  # argparse already printed the usage line
        return int(exc.code or 0)
    try:
        for path in run(args):
            print(f"hand-mocap: wrote {path}")
        return 0
    except (MotionSequenceError, HandModelError, ValueError, OSError) as exc:
        print(f"hand-mocap: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a batch job must end with a reason, never a hang
        traceback.print_exc()
        print(f"hand-mocap: error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
