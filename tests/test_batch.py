"""The batch script, run as a separate process exactly as a server would run it."""
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT

SCRIPT = ROOT / "scripts" / "hand_mocap_batch.py"
SAMPLE = ROOT / "samples" / "open_hand_motion.npz"


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), "--", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_batch_writes_a_blend_and_exports(tmp_path, blank_blend):
    out = tmp_path / "nested" / "hand.blend"
    result = run("--sequence", SAMPLE, "--out", out, "--export", "fbx", "--export", "glb")
    assert result.returncode == 0, result.stderr
    for suffix in (".blend", ".fbx", ".glb"):
        assert out.with_suffix(suffix).stat().st_size > 10_000, suffix
    bpy = blank_blend
    bpy.ops.wm.open_mainfile(filepath=str(out))
    arm = bpy.data.objects["Hand.R_armature"]
    action = arm.animation_data.action
    assert action is not None and arm.animation_data.action_slot is not None
    assert bpy.context.scene.frame_end == 120
    # the keys survive the round trip through the file: the pose at frame 60 is not the rest pose
    bpy.context.scene.frame_set(60)
    q = np.array(arm.pose.bones["index_mcp.R"].rotation_quaternion)
    assert abs(q[0]) < 0.999


@pytest.mark.parametrize("args, code, message", [
    (["--sequence", "/nonexistent/seq.npz", "--out", "{tmp}/o.blend"], 1, "no such file"),
    (["--sequence", str(SAMPLE), "--out", "{tmp}/o.txt"], 1, "--out must name a .blend file"),
    (["--sequence", str(SAMPLE), "--out", "{tmp}/o.blend", "--mano", "{tmp}"], 1, "no MANO_RIGHT.pkl here"),
    (["--out", "{tmp}/o.blend"], 2, "one of the arguments --video --sequence is required"),
])
def test_batch_failures_exit_non_zero_with_a_one_line_reason(tmp_path, args, code, message):
    result = run(*[a.format(tmp=tmp_path) for a in args])
    assert result.returncode == code
    last = result.stderr.strip().splitlines()[-1]
    assert message in last
    assert not (tmp_path / "o.blend").exists()
