"""The shipped open hand: MANO's exact format, a hand's anatomy, and regeneration (by value across CPUs)."""
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import smplx
import torch

from addon.common.hand_model import (
    BUILTIN_HANDS,
    BUILTIN_TEXTURES,
    OPEN_HAND_FILES,
    OPEN_HAND_TEXTURE,
    REQUIRED_SHAPES,
    load_hand_model,
    read_mano_pickle,
    save_hand_model_dict,
)
from addon.common.joints import MANO_16, TIP_NAMES, TIP_VERTEX_IDS
from addon.common.pose_prior import LIMITS, PosePrior, anatomical_axes, joint_kind
from addon.common.rotations import mirror_axis_angle
from helpers import ROOT, assert_close, assert_same_hand_file, assert_same_texture, pose


@pytest.mark.parametrize("hand", sorted(BUILTIN_HANDS))
@pytest.mark.parametrize("side", ["right", "left"])
def test_smplx_loads_the_files_unchanged(side, hand):
    """Every built-in hand (the open hand, the MakeHuman hand) is a MANO file smplx reads as it is."""
    layer = smplx.create(str(BUILTIN_HANDS[hand][side]), model_type="mano", use_pca=False, flat_hand_mean=True)
    assert layer.is_rhand == (side == "right")
    out = layer(global_orient=torch.zeros(1, 3), hand_pose=torch.zeros(1, 45), betas=torch.zeros(1, 10))
    assert out.vertices.shape == (1, 778, 3) and out.joints.shape == (1, 16, 3)
    model = load_hand_model(BUILTIN_HANDS[hand][side])
    assert model.is_open_hand and model.extras.get("hand_name", "open") == hand
    assert_close(out.vertices[0].detach().numpy(), model.v_template, 1e-6, "smplx rest vertices")
    for key, shape in REQUIRED_SHAPES.items():
        assert getattr(model, key).shape == shape, key


def test_surface_is_a_closed_skin_with_a_16_edge_wrist_opening(open_right):
    directed = Counter((a, b) for f in open_right.f for a, b in ((f[0], f[1]), (f[1], f[2]), (f[2], f[0])))
    assert max(directed.values()) == 1, "an edge is used twice in the same direction (non-manifold/flipped)"
    boundary = [e for e in directed if (e[1], e[0]) not in directed]
    assert len(boundary) == 16
    loop_vertices = {v for e in boundary for v in e}
    assert len(loop_vertices) == 16  # one simple loop
    v = open_right.v_template
    volume = np.einsum("ij,ij->i", v[open_right.f[:, 0]], np.cross(v[open_right.f[:, 1]], v[open_right.f[:, 2]])).sum() / 6
    assert volume > 0, "faces wind inward"
    wrist_x = v[list(loop_vertices)][:, 0]
    assert wrist_x.min() > v[:, 0].max() - 0.01, "the opening is not at the wrist end"


def _winding_numbers(v, f, points):
    a, b, c = (v[f[:, k]][None] - points[:, None] for k in range(3))
    la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
    num = np.einsum("pfi,pfi->pf", a, np.cross(b, c))
    den = la * lb * lc + np.einsum("pfi,pfi->pf", a, b) * lc + np.einsum("pfi,pfi->pf", b, c) * la \
        + np.einsum("pfi,pfi->pf", c, a) * lb
    return (2 * np.arctan2(num, den)).sum(axis=1) / (4 * np.pi)


def test_every_joint_lies_inside_the_skin(open_right):
    directed = {(a, b) for f in open_right.f for a, b in ((f[0], f[1]), (f[1], f[2]), (f[2], f[0]))}
    boundary = [e for e in directed if (e[1], e[0]) not in directed]
    centre = len(open_right.v_template)
    verts = np.vstack([open_right.v_template, open_right.v_template[[e[0] for e in boundary]].mean(axis=0)])
    cap = np.array([(b, a, centre) for a, b in boundary])  # close the wrist for the inside test
    w = _winding_numbers(verts, np.vstack([open_right.f, cap]), open_right.rest_joints())
    assert np.all(w > 0.99), dict(zip(MANO_16, w.round(2)))


def test_fingertip_vertex_ids_are_the_tips_smplx_expects(open_right):
    j = open_right.rest_joints()
    for tip in TIP_NAMES:
        finger = tip[:-1]
        dip = j[MANO_16.index(f"{finger}3")]
        pip = j[MANO_16.index(f"{finger}2")]
        axis = (dip - pip) / np.linalg.norm(dip - pip)
        on_finger = open_right.weights[:, MANO_16.index(f"{finger}3")] > 0.5
        reach = np.where(on_finger, (open_right.v_template - dip) @ axis, -np.inf)
        assert int(np.argmax(reach)) == TIP_VERTEX_IDS[tip], tip


def test_skinning_weights_are_convex_and_smooth_at_90_degrees(open_right):
    assert np.all(open_right.weights >= 0) and np.allclose(open_right.weights.sum(axis=1), 1.0)
    axes = anatomical_axes(open_right.rest_joints())
    edges = np.concatenate([open_right.f[:, [0, 1]], open_right.f[:, [1, 2]], open_right.f[:, [2, 0]]])
    rest_len = np.linalg.norm(np.diff(open_right.v_template[edges], axis=1)[:, 0], axis=1)
    for j in range(1, 16):
        if MANO_16[j] == "thumb1":
            continue  # the CMC's range stops at 0.9 rad; checked at its limit below
        full = np.zeros(48)
        full[3 * j : 3 * j + 3] = axes.flex[j - 1] * np.pi / 2
        posed = pose(open_right, full).vertices[0]
        stretch = np.linalg.norm(np.diff(posed[edges], axis=1)[:, 0], axis=1) / rest_len
        assert stretch.max() < 3.0, f"{MANO_16[j]} at 90 degrees tears the skin: an edge grows x{stretch.max():.1f}"
        assert stretch.min() > 0.15, f"{MANO_16[j]} at 90 degrees collapses an edge to x{stretch.min():.2f}"
    full = np.zeros(48)
    t1 = MANO_16.index("thumb1")
    full[3 * t1 : 3 * t1 + 3] = axes.flex[t1 - 1] * LIMITS["thumb_cmc"][0][1]
    posed = pose(open_right, full).vertices[0]
    stretch = np.linalg.norm(np.diff(posed[edges], axis=1)[:, 0], axis=1) / rest_len
    assert stretch.max() < 3.0


def test_flexion_curls_fingers_toward_the_palm(open_right):
    axes = anatomical_axes(open_right.rest_joints())
    fist = PosePrior(open_right.rest_joints()).fist()
    tips = pose(open_right, np.concatenate([np.zeros(3), fist])).vertices[0][[TIP_VERTEX_IDS[t] for t in TIP_NAMES]]
    palm_normal = -np.cross(open_right.rest_joints()[7] - open_right.rest_joints()[0], open_right.rest_joints()[1] - open_right.rest_joints()[0])
    palm_normal /= np.linalg.norm(palm_normal)
    centre = open_right.rest_joints()[[0, 1, 4, 7, 10]].mean(axis=0)
    # in a fist, the four fingertips sit on the palm side, close to the palm centre
    for name, tip in zip(TIP_NAMES[1:], tips[1:]):
        assert (tip - centre) @ palm_normal > 0, name
        assert np.linalg.norm(tip - centre) < 0.07, name
    assert axes.flex.shape == (15, 3)


def test_shape_directions_mean_what_their_names_say(open_right):
    names = open_right.extras["shape_names"]
    j0 = open_right.rest_joints()

    def measure(k, amount=2.0):
        b = np.zeros(10)
        b[names.index(k)] = amount
        return open_right.rest_joints(b), open_right.rest_vertices(b)

    def length(j, finger):
        return np.linalg.norm(j[MANO_16.index(f"{finger}1")] - j[MANO_16.index(f"{finger}3")])

    def palm_width(j):
        return np.linalg.norm(j[MANO_16.index("index1")] - j[MANO_16.index("pinky1")])

    j, _ = measure("size")
    assert length(j, "middle") > 1.1 * length(j0, "middle") and palm_width(j) > 1.1 * palm_width(j0)
    j, _ = measure("finger_length")
    assert length(j, "middle") > 1.1 * length(j0, "middle")
    assert abs(palm_width(j) - palm_width(j0)) < 1e-4
    j, _ = measure("palm_width")
    assert palm_width(j) > 1.1 * palm_width(j0) and abs(length(j, "ring") - length(j0, "ring")) < 1e-4
    def girth(j, v):  # mean distance of the middle finger's skin from its bone
        pip, dip = j[MANO_16.index("middle2")], j[MANO_16.index("middle3")]
        axis = (dip - pip) / np.linalg.norm(dip - pip)
        skin = v[open_right.weights[:, MANO_16.index("middle2")] > 0.9] - pip
        return np.linalg.norm(skin - np.outer(skin @ axis, axis), axis=1).mean()

    j, v = measure("thickness")
    assert girth(j, v) > 1.1 * girth(j0, open_right.v_template)
    assert abs(length(j, "index") - length(j0, "index")) < 1e-4
    j, _ = measure("index_vs_ring")
    assert length(j, "index") > length(j0, "index") and length(j, "ring") < length(j0, "ring")


def test_pose_pca_comes_from_a_limited_prior(open_right):
    comps = open_right.hands_components
    assert_close(comps @ comps.T, np.eye(45), 1e-9, "orthonormal components")
    prior = PosePrior(open_right.rest_joints())
    mean_angles = np.einsum("jk,jk->j", open_right.hands_mean.reshape(15, 3), prior.axes.flex)
    for k in range(15):
        lo, hi = LIMITS[joint_kind(k + 1)][0]
        assert lo <= mean_angles[k] <= hi
    assert mean_angles[[1, 4, 7, 10]].mean() > 0.3, "the mean hand is a relaxed, half-curled hand"
    first = comps[0].reshape(15, 3)
    flex_share = np.abs(np.einsum("jk,jk->j", first, prior.axes.flex)).sum() / np.abs(first).sum()
    assert flex_share > 0.5, "the first component should mostly open/close the hand"


@pytest.mark.parametrize("hand", sorted(BUILTIN_HANDS))
def test_left_hand_is_the_exact_mirror_of_the_right(hand):
    right, left = (load_hand_model(BUILTIN_HANDS[hand][side]) for side in ("right", "left"))
    rng = np.random.default_rng(1)
    full = rng.normal(0, 0.6, (3, 48))
    betas = rng.normal(0, 1, (3, 10))
    r = pose(right, full, betas).vertices
    lft = pose(left, mirror_axis_angle(full), betas).vertices
    assert_close(lft, r * np.array([-1.0, 1.0, 1.0]), 1e-9, "mirrored vertices")


def test_uvs_cover_every_face_inside_the_texture(open_right):
    assert open_right.vt is not None and open_right.ft.shape == (1538, 3)
    assert open_right.vt.min() >= 0.0 and open_right.vt.max() <= 1.0
    uv = open_right.vt[open_right.ft]
    area = 0.5 * np.abs(np.cross(uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0]))
    assert np.all(area > 0), "a face has a degenerate UV triangle"
    assert OPEN_HAND_TEXTURE.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_generator_reproduces_the_shipped_files(tmp_path):
    """Floats by value (CPUs differ in the last bit), topology, names and texels exactly."""
    subprocess.run([sys.executable, "-m", "tools.assets.make_open_hand", "--out", str(tmp_path)],
                   check=True, capture_output=True, cwd=ROOT)
    for shipped in OPEN_HAND_FILES.values():
        assert_same_hand_file(tmp_path / shipped.name, shipped)
    assert_same_texture(tmp_path / OPEN_HAND_TEXTURE.name, OPEN_HAND_TEXTURE)
    nails = BUILTIN_TEXTURES["open"]["nails"]
    assert_same_texture(tmp_path / nails.name, nails)


def test_the_regeneration_check_passes_round_off_and_fails_a_real_change(tmp_path):
    raw = read_mano_pickle(OPEN_HAND_FILES["right"].read_bytes())

    def variant(name, **changes):
        path = tmp_path / name
        save_hand_model_dict({**raw, **changes}, path)
        return path

    one_ulp = np.nextafter(raw["posedirs"], np.inf)
    assert_same_hand_file(variant("ulp_RIGHT.pkl", posedirs=one_ulp), OPEN_HAND_FILES["right"])
    moved = raw["v_template"].copy()
    moved[100] += 1e-6  # one vertex moved by a micrometre
    with pytest.raises(AssertionError, match="v_template"):
        assert_same_hand_file(variant("moved_RIGHT.pkl", v_template=moved), OPEN_HAND_FILES["right"])
    flipped = raw["f"].copy()
    flipped[5] = flipped[5][::-1]
    with pytest.raises(AssertionError, match="f differs"):
        assert_same_hand_file(variant("flipped_RIGHT.pkl", f=flipped), OPEN_HAND_FILES["right"])
