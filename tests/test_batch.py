"""The batch script and the CLI, run as separate processes exactly as a server would run them: bad command
lines, bad footage, signals and cut files, each with real worker processes and real signals."""
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from addon.common.hand_model import OPEN_HAND_FILES, load_hand_model
from addon.common.motion_sequence import load_motion_sequence
from helpers import ROOT, assert_close, cut_faststart_mp4, write_official_format

SCRIPT = ROOT / "scripts" / "hand_mocap_batch.py"
SAMPLE = ROOT / "samples" / "open_hand_motion.npz"
CLIP = ROOT / "samples" / "sample_clip.mp4"
NOISE = ("W0000", "I0000", "WARNING: All log messages", "INFO: Created TensorFlow")  # MediaPipe's C++ log


def env_with_tmp(tmp_path, **extra):
    """The child's temp folder (and so its job folders) inside this test's own folder."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp_path / "tmp"), **extra}


def run(*args, env=None):
    return subprocess.run([sys.executable, str(SCRIPT), "--", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env)


def our_lines(stderr: str):
    """stderr without the C++ libraries' own log lines."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(NOISE)]


def job_folders(tmp_path):
    root = tmp_path / "tmp" / "hand_mocap_jobs"
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def keyed_frames(bpy, path, bone="wrist.R"):
    from addon.blender.keyframes import ensure_fcurve

    bpy.ops.wm.open_mainfile(filepath=str(path))
    arm = bpy.data.objects[f"Hand.{bone[-1]}_armature"]
    curve = ensure_fcurve(arm, f'pose.bones["{bone}"].rotation_quaternion', 0)
    return np.array([k.co[0] for k in curve.keyframe_points])


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


def test_batch_mano_folder_with_the_official_structure_is_used(tmp_path, blank_blend):
    official = load_hand_model(OPEN_HAND_FILES["right"])
    official.v_template = official.v_template * 1.1  # a visibly different hand
    (tmp_path / "mano").mkdir()
    write_official_format(official, tmp_path / "mano" / "MANO_RIGHT.pkl")
    out = tmp_path / "official.blend"
    result = run("--sequence", SAMPLE, "--out", out, "--mano", tmp_path / "mano")
    assert result.returncode == 0, result.stderr
    bpy = blank_blend
    bpy.ops.wm.open_mainfile(filepath=str(out))
    basis = np.empty(778 * 3, dtype=np.float32)
    bpy.data.objects["Hand.R_mesh"].data.shape_keys.key_blocks["Basis"].data.foreach_get("co", basis)
    assert_close(basis.reshape(-1, 3), official.v_template, 1e-6, "official template")


@pytest.mark.parametrize("args, message", [
    (["--sequence", "/nonexistent/seq.npz", "--out", "{tmp}/o.blend"], "no such file"),
    (["--sequence", str(SAMPLE), "--out", "{tmp}/o.txt"], "--out must name a .blend file, not 'o.txt'"),
    (["--sequence", str(SAMPLE), "--out", "{tmp}/o.blend", "--mano", "{tmp}/none"], "--mano: "),
    (["--out", "{tmp}/o.blend"], "one of the arguments --video --sequence is required"),
    (["--video", str(CLIP), "--out", "{tmp}/o.blend", "--start", "80", "--end", "10"], "--end 10 comes before --start 80"),
    (["--video", str(CLIP), "--out", "{tmp}/o.blend", "--start", "-5"], "--start must be 0 or more"),
    (["--video", str(CLIP), "--out", "{tmp}/o.blend", "--end", "-3"], "--end must be a footage frame or -1"),
    (["--video", str(CLIP), "--out", "{tmp}/o.blend", "--fov", "0"], "--fov must be"),
    (["--video", str(CLIP), "--out", "{tmp}/o.blend", "--exposure", "1.5"], "--exposure must be in [0, 1)"),
    (["--video", str(CLIP), "--out", "{tmp}/o.blend", "--region", "10,20"], "--region must be three numbers"),
    (["--video", str(CLIP), "--out", "{tmp}/o.blend", "--hands", "up"], "--hands must be right, left"),
    (["--video", str(CLIP), "--out", "{tmp}/o.blend", "--device", "gpu7"], "--device must be"),
    (["--video", str(CLIP), "--out", "{tmp}/o.blend", "--window", "40"], "--window must be 0"),
    (["--video", str(CLIP), "--out", "{tmp}/o.blend", "--fit-window", "5"], "--fit-window must be 0 (the default) or 12"),
    (["--video", str(CLIP), "--out", "{tmp}/o.blend", "--keypoints", "guess"], "--keypoints: invalid choice"),
    (["--video", str(CLIP), "--out", "{tmp}/o.blend", "--window", "4", "--window-stride", "6"], "--window-stride must be"),
    (["--video", "{tmp}/nope.mp4", "--out", "{tmp}/o.blend"], "--video: {tmp}/nope.mp4: no such file"),
    (["--video", str(CLIP), "--out", "{tmp}/o.blend", "--python", "/no/python"], "--python: /no/python"),
    (["--video", str(CLIP), "--out", "{tmp}/afile/o.blend"], "--out: {tmp}/afile is a file, not a folder"),
    (["--video", str(CLIP), "--out", "{tmp}/afile/deeper/o.blend"], "--out: {tmp}/afile is a file, not a folder"),
])
def test_a_bad_command_line_exits_2_with_one_line_before_any_work(tmp_path, args, message):
    (tmp_path / "afile").write_text("a file where the output folder should be")
    result = run(*[a.format(tmp=tmp_path) for a in args], env=env_with_tmp(tmp_path))
    assert result.returncode == 2, result.stderr
    lines = our_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("hand-mocap: error: "), lines
    assert message.format(tmp=tmp_path) in lines[0]
    assert not re.search(r"hands \d+/\d+", result.stdout) and not job_folders(tmp_path)  # no worker ever started
    assert not (tmp_path / "o.blend").exists()


def test_bad_footage_is_one_line_naming_the_log_with_the_worker_traceback(tmp_path):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(CLIP.read_bytes()[:5000])
    out = tmp_path / "o.blend"
    result = run("--video", corrupt, "--out", out, env=env_with_tmp(tmp_path))
    assert result.returncode == 1
    lines = our_lines(result.stderr)
    assert len(lines) == 1 and "Traceback" not in result.stderr, lines
    assert lines[0] == (f"hand-mocap: error: {corrupt}: not a video OpenCV can open (corrupt, or an unknown "
                        f"format); nothing was received to save; worker log: {out.with_suffix('.log')}")
    assert "Traceback" in out.with_suffix(".log").read_text() and not out.exists()
    assert not job_folders(tmp_path)  # removed after a failure too, unless --keep-job
    verbose = run("--video", corrupt, "--out", out, "--verbose", "--keep-job", env=env_with_tmp(tmp_path))
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr
    assert len(job_folders(tmp_path)) == 1 and "kept the job folder" in verbose.stdout


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_worker_and_saves_the_keys_received(tmp_path, blank_blend, sig, status):
    out = tmp_path / "o.blend"
    # 12-frame fitting windows: keys stream from the first frames, so the signal comes long before the end
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--", "--video", str(CLIP), "--out", str(out), "--hands",
                             "right", "--fov", "70.8", "--fit-window", "12"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=env_with_tmp(tmp_path, HAND_MOCAP_WORKER_FAULT="slow"))
    seen = ""
    for line in proc.stdout:  # wait until keys are streaming in
        seen += line
        if "hand-mocap: keyed the right hand" in line:
            break
    time.sleep(0.5)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == status, stderr
    lines = our_lines(stderr)
    assert len(lines) == 1 and "Traceback" not in stderr, lines
    assert lines[0].startswith(f"hand-mocap: error: interrupted by {sig.name}; saved right hand ")
    assert lines[0].endswith(f"samples to {out}")
    saved = int(lines[0].split("right hand ")[1].split(" samples")[0])
    keys = keyed_frames(blank_blend, out)
    assert 0 < len(keys) == saved < 3 * 120  # what was received, not the whole clip
    assert not job_folders(tmp_path)
    workers = subprocess.run(["pgrep", "-f", "inference.worker"], capture_output=True, text=True).stdout.split()
    children = [p for p in workers if os.path.exists(f"/proc/{p}") and
                str(tmp_path) in open(f"/proc/{p}/environ", "rb").read().decode("latin1")]
    assert not children, "the worker outlived the batch script"


def test_footage_that_ends_before_its_header_says_is_reported_with_the_frame(tmp_path, blank_blend):
    cut = cut_faststart_mp4(CLIP, tmp_path / "cut.mp4", keep=0.12)  # the index says 120 frames; 13 decode
    out = tmp_path / "cut.blend"
    result = run("--video", cut, "--out", out, "--hands", "right", env=env_with_tmp(tmp_path))
    assert result.returncode == 0, result.stderr
    assert ("hand-mocap: warning: the footage ended at frame 12, before the 120 frames its header gives "
            "(a cut or damaged file?); frames after 12 get no key") in result.stdout
    keys = keyed_frames(blank_blend, out)
    assert keys.max() <= 13.5 and len(keys) > 0
    assert not job_folders(tmp_path)


def test_cli_bad_command_lines_exit_2_with_one_line(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    for args, message in [(["-o", tmp_path / "x.npz", "--start", "80", "--end", "10"], "--end 10 comes before --start 80"),
                          (["-o", tmp_path / "x.txt"], "--out must name a .npz file, not 'x.txt'"),
                          (["-o", tmp_path / "afile" / "x.npz"], f"--out: {tmp_path / 'afile'} is a file, not a folder"),
                          (["--start", "3"], "the following arguments are required: -o/--out (see --help)")]:
        result = subprocess.run([sys.executable, "-m", "inference", "run", str(CLIP), *map(str, args)], cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2
        lines = our_lines(result.stderr)
        assert len(lines) == 1 and lines[0].startswith("python -m inference") and lines[0].endswith(message), lines


def test_cli_interrupt_ends_the_progress_line_and_saves_the_samples_so_far(tmp_path):
    import cv2

    from inference.video import Footage

    long_clip = tmp_path / "long"  # an image sequence 4 times the sample clip: time to interrupt it
    long_clip.mkdir()
    frames = [rgb[..., ::-1] for _, rgb in Footage(CLIP).frames()]
    for n, frame in enumerate(frames * 4):
        cv2.imwrite(str(long_clip / f"f{n:04d}.jpg"), frame)
    out = tmp_path / "seq.npz"
    # --refine off: samples stream out with every batch of crops (the fit streams per window)
    proc = subprocess.Popen([sys.executable, "-m", "inference", "run", str(long_clip), "-o", str(out), "--hands",
                             "right", "--refine", "off"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = b""
    while True:  # until the progress bar is past 60 frames: samples have been written
        chunk = proc.stderr.read1(4096)
        assert chunk, err[-500:]
        err += chunk
        done = [int(m) for m in re.findall(rb"\] (\d+)/480 frames", err)]
        if done and max(done) >= 60:
            break
    proc.send_signal(signal.SIGINT)
    rest_out, rest_err = proc.communicate(timeout=60)
    stderr = (err + rest_err).decode()
    assert proc.returncode == 130, stderr[-1000:]
    last = stderr.rstrip("\n").split("\n")[-1]
    assert last.startswith("python -m inference: interrupted by SIGINT; saved right hand "), last
    assert "\r" not in last  # on a line of its own, not glued to the progress bar
    seq = load_motion_sequence(out)
    assert 0 < len(seq) < 3 * 480 and f"{len(seq)} samples to {out}" in last


def test_a_single_photo_poses_a_hand_from_the_cli_a_one_image_folder_and_the_batch_script(tmp_path, blank_blend):
    """A photo (an image file, or a folder holding one image) gives one posed hand: one key, of the right side."""
    import cv2

    from addon.common.motion_sequence import load_motion_sequence
    from inference.video import Footage

    frame = next(rgb for i, rgb in Footage(CLIP).frames(40, 40))  # the open hand, a right hand
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), frame[..., ::-1])
    folder = tmp_path / "one"
    folder.mkdir()
    cv2.imwrite(str(folder / "only.jpg"), frame[..., ::-1])
    for source in (photo, folder):
        out = tmp_path / f"{source.stem}.npz"
        done = subprocess.run([sys.executable, "-m", "inference", "run", str(source), "-o", str(out), "--quiet"],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        seq = load_motion_sequence(out)
        assert seq.handedness == "right" and list(seq.frames) == [1.0], (source, seq.frames)
    blend = tmp_path / "photo.blend"
    result = run("--video", photo, "--out", blend, env=env_with_tmp(tmp_path))
    assert result.returncode == 0, result.stderr
    assert list(keyed_frames(blank_blend, blend)) == [1.0]


def test_quiet_prints_only_the_result_and_no_library_chatter(tmp_path):
    """--quiet: no progress, no notes, nothing MediaPipe's or TFLite's native logging writes."""
    out = tmp_path / "q.npz"
    done = subprocess.run([sys.executable, "-m", "inference", "run", str(CLIP), "-o", str(out), "--quiet", "--end",
                           "4", "--hands", "right"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and done.stdout.strip() == f"right hand: {out}"


def test_only_the_projects_own_errors_go_without_a_traceback():
    from inference.__main__ import names_its_problem
    from inference.video import FootageError

    assert names_its_problem(FootageError("clip.mp4: no such file")) and names_its_problem(PermissionError("out"))
    assert not names_its_problem(RuntimeError("element 0 of tensors does not require grad"))  # a bug: traceback
