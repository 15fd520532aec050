"""Batch conversion: ``blender -b -P scripts/hand_mocap_batch.py -- --video in.mp4 --out out.blend [options]``,
or ``.venv/bin/python scripts/hand_mocap_batch.py --video in.mp4 --out out.blend`` with the bpy module.

In the project's environment (``make setup`` installs the project) the add-on package is imported as
installed. Blender's own Python does not have it, so there it is loaded from this checkout by file location.
"""
import importlib.util
import sys
from pathlib import Path


def add_on_package():
    try:
        import addon
    except ImportError:
        init = Path(__file__).resolve().parent.parent / "addon" / "__init__.py"
        spec = importlib.util.spec_from_file_location("addon", init)
        addon = importlib.util.module_from_spec(spec)
        sys.modules["addon"] = addon
        spec.loader.exec_module(addon)
    return addon


if __name__ == "__main__":
    add_on_package()
    from addon.blender.batch import main

    sys.exit(main())
