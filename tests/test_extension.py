"""The built extension zip installs into a clean Blender user folder, enables, and runs its operator."""
import os
import subprocess
import sys
import textwrap

from helpers import ROOT

INSTALL_AND_RUN = textwrap.dedent("""
    import sys, bpy
    zip_path, sample, root, python, clip = sys.argv[1:6]
    assert bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="user_default", enable_on_install=True) == {"FINISHED"}
    assert "bl_ext.user_default.hand_mocap" in bpy.context.preferences.addons
    prefs = bpy.context.preferences.addons["bl_ext.user_default.hand_mocap"].preferences
    assert prefs.mano_dir == ""
    assert bpy.ops.hand_mocap.import_sequence(filepath=sample) == {"FINISHED"}
    arm = bpy.data.objects["Hand.R_armature"]
    assert len(arm.data.bones) == 21
    # installed from a zip, the add-on cannot guess where the worker lives: Check says so, then works
    try:
        bpy.ops.hand_mocap.check_worker()
        raise AssertionError("Check passed without a worker folder")
    except RuntimeError as exc:  # an operator's ERROR report is an exception in background mode
        assert "no Hand Mocap folder is set" in str(exc) and "no Hand Mocap folder" in prefs.check_result
    prefs.worker_root, prefs.worker_python = root, python
    assert bpy.ops.hand_mocap.check_worker() == {"FINISHED"}
    assert "models ready: blurhandnet, deformer, seqhand, s2hand, amvur" in prefs.check_result, prefs.check_result
    props = bpy.ops.hand_mocap.import_video.get_rna_type().properties
    assert {"deformer", "seqhand"} <= {item.identifier for item in props["model"].enum_items}
    assert "window" in props and "window_stride" in props
    # the installed extension drives the worker through one of the video models, end to end
    assert bpy.ops.hand_mocap.import_video(filepath=clip, model="seqhand", hands="right", frame_end=5) == {"FINISHED"}
    assert bpy.data.objects["Hand.R_armature"].animation_data is not None
    # ... and through both appearance models: S2HAND(V), and AMVUR with its own colours and confidence
    assert bpy.ops.hand_mocap.import_video(filepath=clip, model="s2hand", hands="right", frame_end=5) == {"FINISHED"}
    assert bpy.ops.hand_mocap.import_video(filepath=clip, model="amvur", hands="right", frame_end=5, skin="network",
                                           show_confidence=True) == {"FINISHED"}
    amvur = [o for o in bpy.data.objects if o.type == "MESH" and "Hand Mocap confidence" in o.modifiers]
    assert len(amvur) == 1 and "skin" in amvur[0].data.color_attributes
    assert amvur[0]["hand_mocap_confidence_overlay"] == 1.0
    print("INSTALLED-AND-RAN", bpy.utils.extension_path_user("bl_ext.user_default.hand_mocap", create=False))
""")


def test_built_zip_validates_installs_and_runs(tmp_path):
    build = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_extension.py"), "--out", str(tmp_path)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    zips = list(tmp_path.glob("hand_mocap-*.zip"))
    assert len(zips) == 1
    user = tmp_path / "blender-user"
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(user), BLENDER_USER_EXTENSIONS=str(user / "extensions"),
               BLENDER_USER_CONFIG=str(user / "config"), BLENDER_USER_SCRIPTS=str(user / "scripts"))
    script = tmp_path / "install.py"
    script.write_text(INSTALL_AND_RUN)
    result = subprocess.run([sys.executable, str(script), str(zips[0]), str(ROOT / "samples" / "open_hand_motion.npz"),
                             str(ROOT), sys.executable, str(ROOT / "samples" / "sample_clip.mp4")],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "INSTALLED-AND-RAN" in result.stdout
    assert (user / "extensions" / "user_default" / "hand_mocap" / "blender_manifest.toml").is_file()
