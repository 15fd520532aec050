"""Batch conversion: ``blender -b -P scripts/hand_mocap_batch.py -- --sequence s.npz --out o.blend [--export fbx]``
or ``python scripts/hand_mocap_batch.py --sequence s.npz --out o.blend`` (with the bpy module).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from addon.blender.batch import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
