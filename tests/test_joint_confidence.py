"""Per-joint confidence (motion-sequence version 2): the file field, its bone mapping, the keyed bone
properties and the overlay in Blender, the fitting stage's weights, and version 1 files still importing."""
import numpy as np
import pytest

from addon.common.joints import BONE_ENDS_21, MANO_16, MANO_21, bone_confidence
from addon.common.motion_sequence import FORMAT_VERSION, MotionSequence, MotionSequenceError, load_motion_sequence
from helpers import ROOT, assert_close

SAMPLE = ROOT / "samples" / "open_hand_motion.npz"


def confident_sequence(n=6, seed=0):
    rng = np.random.default_rng(seed)
    conf = rng.uniform(0.05, 0.95, size=(n, 21))
    return MotionSequence(frames=np.arange(1.0, n + 1), global_orient=rng.normal(0, 0.3, (n, 3)),
                          hand_pose=rng.normal(0, 0.2, (n, 45)), betas=np.zeros((n, 10)),
                          transl=np.tile([0.0, 0.0, 0.5], (n, 1)), model="amvur", joint_confidence=conf)


def test_every_bone_spans_its_joint_and_the_next_point_it_moves():
    names = [(MANO_21[a], MANO_21[b]) for a, b in BONE_ENDS_21]
    assert names[0] == ("wrist", "middle1")
    assert names[MANO_16.index("index1")] == ("index1", "index2")
    assert names[MANO_16.index("thumb3")] == ("thumb3", "thumb4")
    conf = np.zeros(21)
    conf[MANO_21.index("pinky4")] = 1.0
    bones = bone_confidence(conf)
    assert bones[MANO_16.index("pinky3")] == 0.5 and bones.sum() == 0.5


def test_joint_confidence_round_trips_and_bad_values_are_named(tmp_path):
    seq = confident_sequence()
    back = load_motion_sequence(seq.save(tmp_path / "seq.npz"))
    assert FORMAT_VERSION == 2 and int(np.load(tmp_path / "seq.npz")["version"]) == 2
    assert_close(back.joint_confidence, seq.joint_confidence, 0.0, "joint confidence")
    with pytest.raises(MotionSequenceError, match=r"joint_confidence must have shape \(6, 21\)"):
        MotionSequence(**{**vars(seq), "joint_confidence": np.ones((6, 16))})
    with pytest.raises(MotionSequenceError, match="joint_confidence values must lie in"):
        MotionSequence(**{**vars(seq), "joint_confidence": np.full((6, 21), 1.5)})


def test_a_version_1_file_without_colours_or_confidences_still_imports(blank_blend, tmp_path):
    from addon.blender.confidence import MODIFIER
    from addon.blender.importer import import_sequence_file

    data = dict(np.load(SAMPLE))
    assert int(data["version"]) == 1 and "vertex_colors" not in data and "joint_confidence" not in data
    rig = import_sequence_file(SAMPLE, with_camera=False)
    assert MODIFIER not in rig.mesh.modifiers and "skin" not in rig.mesh.data.color_attributes
    assert rig.armature.animation_data.action is not None


def test_bones_key_the_confidence_and_the_overlay_follows_the_timeline(blank_blend):
    from addon.blender.confidence import ATTRIBUTE, PROPERTY, TOGGLE
    from addon.blender.importer import import_sequence

    bpy = blank_blend
    seq = confident_sequence()
    rig = import_sequence(seq, with_camera=False, show_confidence=True)
    bones = bone_confidence(seq.joint_confidence)
    weights = np.zeros((778, 16))
    for j, name in enumerate(rig.bones):
        group = rig.mesh.vertex_groups[name]
        for v in rig.mesh.data.vertices:
            for g in v.groups:
                if g.group == group.index:
                    weights[v.index, j] = g.weight
    scene = bpy.context.scene
    for t in (0, 3, 5):
        scene.frame_set(int(seq.frames[t]))
        keyed = [rig.armature.pose.bones[b][PROPERTY] for b in rig.bones]
        assert_close(np.array(keyed), bones[t], 1e-5, f"keyed bone confidence at sample {t}")
        evaluated = rig.mesh.evaluated_get(bpy.context.evaluated_depsgraph_get()).data
        values = np.empty(778, dtype=np.float32)
        evaluated.attributes[ATTRIBUTE].data.foreach_get("value", values)
        assert_close(values, weights @ bones[t], 1e-4, f"per-vertex confidence at sample {t}")
    assert rig.mesh[TOGGLE] == 1.0
    nodes = rig.mesh.data.materials[0].node_tree.nodes
    overlay = next(n for n in nodes if n.label == "confidence overlay")
    factor = overlay.inputs["Factor"].links[0].from_node
    assert (factor.attribute_type, factor.attribute_name) == ("OBJECT", TOGGLE)
    bsdf = next(n for n in nodes if n.type == "BSDF_PRINCIPLED")
    assert bsdf.inputs["Base Color"].links[0].from_node == overlay


def test_footage_colours_arriving_later_feed_the_skin_side_of_the_overlay(blank_blend):
    from addon.blender.importer import import_sequence
    from addon.blender.rig import colour_socket, set_vertex_colours

    rig = import_sequence(confident_sequence(), with_camera=False)
    set_vertex_colours(rig.mesh, np.full((778, 3), 0.3))
    nodes = rig.mesh.data.materials[0].node_tree.nodes
    overlay = next(n for n in nodes if n.label == "confidence overlay")
    assert colour_socket(overlay.inputs, "A").links[0].from_node.type == "VERTEX_COLOR"
    assert rig.mesh["hand_mocap_confidence_overlay"] == 0.0  # off unless asked for


def test_an_import_with_confidences_is_undone_whole_on_error(blank_blend, monkeypatch):
    from addon.blender import confidence, importer

    bpy = blank_blend
    before = {k: len(getattr(bpy.data, k)) for k in ("objects", "node_groups", "materials", "actions")}

    def broken(rig, show=False):
        confidence._confidence_nodes(rig)  # leaves a node group behind, then fails
        raise RuntimeError("overlay failed")

    monkeypatch.setattr(importer, "add_confidence_overlay", broken)
    with pytest.raises(RuntimeError, match="overlay failed"):
        importer.import_sequence(confident_sequence(), with_camera=False)
    assert {k: len(getattr(bpy.data, k)) for k in before} == before


def test_the_fit_weighs_the_network_prior_by_its_confidence():
    from inference.fit import prior_weights

    conf = np.full((2, 21), 0.5)
    assert_close(prior_weights(conf), np.ones((2, 15)), 1e-12, "equal confidences: the plain prior")
    conf[1, MANO_21.index("index2")] = 0.05  # unsure of the index finger's middle joint
    weights = prior_weights(conf)
    assert_close(weights.mean(1), np.ones(2), 1e-12, "the frame's total pull is kept")
    low = [MANO_16.index("index1") - 1, MANO_16.index("index2") - 1]  # the bones ending and starting there
    assert weights[1, low].max() < weights[1].min() + 1e-12 < 1.0
