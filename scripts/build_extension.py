"""Build and validate the installable extension zip with Blender's own builder (shipped inside the bpy wheel).

    python scripts/build_extension.py [--out DIR]   ->  dist/hand_mocap-<version>.zip

The zip's root is the ``addon`` package plus ``blender_manifest.toml``; the builder's ``validate`` step must
accept it.
"""
from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def blender_ext_cli() -> Path:
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the bpy module is not installed (run `make setup`)")
    found = sorted(Path(spec.submodule_search_locations[0]).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        raise SystemExit("Blender's extension builder was not found inside the bpy package")
    return found[-1]


def stage(build_dir: Path) -> Path:
    """Copy the add-on and the manifest into a clean folder laid out as the zip must be."""
    src = build_dir / "hand_mocap"
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(ROOT / "addon", src, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(ROOT / "blender_manifest.toml", src / "blender_manifest.toml")
    return src


def build(out_dir: Path) -> Path:
    manifest = tomllib.loads((ROOT / "blender_manifest.toml").read_text())
    cli = blender_ext_cli()
    src = stage(ROOT / "build" / "extension")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    target.unlink(missing_ok=True)
    subprocess.run([sys.executable, str(cli), "build", "--source-dir", str(src), "--output-filepath", str(target)],
                   check=True)
    subprocess.run([sys.executable, str(cli), "validate", str(target)], check=True)
    return target


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "dist"))
    args = ap.parse_args(argv)
    print(build(Path(args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
