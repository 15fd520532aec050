"""The demo: the shipped sample motion on the built-in open hand -> ``out/demo.blend`` and ``out/demo.mp4``.

    python scripts/demo.py [--sequence FILE] [--out DIR] [--engine workbench|cycles] [--percent 50]

Also runs as ``blender -b -P scripts/demo.py -- ...``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402

from addon.blender.batch import script_args  # noqa: E402
from addon.blender.importer import import_sequence_file  # noqa: E402
from addon.blender.render import render_animation, setup_preview_render  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequence", default=str(ROOT / "samples" / "open_hand_motion.npz"))
    ap.add_argument("--out", default=str(ROOT / "out"))
    ap.add_argument("--engine", choices=["workbench", "cycles"], default="workbench")
    ap.add_argument("--percent", type=int, default=50, help="render size, percent of the footage size")
    args = ap.parse_args(script_args(argv))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    rig = import_sequence_file(args.sequence)
    setup_preview_render(bpy.context.scene, engine=args.engine, percent=args.percent)
    bpy.ops.wm.save_as_mainfile(filepath=str(out / "demo.blend"), compress=True)
    print(f"demo: wrote {out / 'demo.blend'} ({rig.root.name}, frames "
          f"{bpy.context.scene.frame_start}-{bpy.context.scene.frame_end})")
    video = render_animation(bpy.context.scene, out / "demo.mp4")
    print(f"demo: wrote {video} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
