import numpy as np
import pytest

from addon.common import joints as J


def test_mano21_to_openpose_matches_the_published_index_list():
    # The mapping used across HaMeR/AMVUR/Deformer-style code for MANO+tips -> OpenPose.
    expected = [0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20]
    assert J.remap_indices("mano21", "openpose21").tolist() == expected


def test_every_21_joint_order_round_trips_through_every_other():
    x = np.random.default_rng(0).normal(size=(4, 21, 3))
    names = ["mano21", "openpose21", "freihand21", "mediapipe21", "interhand21"]
    for a in names:
        for b in names:
            back = J.remap(J.remap(x, a, b), b, a)
            np.testing.assert_array_equal(back, x)


def test_interhand_puts_tips_first_and_the_wrist_last():
    order = J.order("interhand21")
    assert order[0] == "thumb4" and order[3] == "thumb1" and order[20] == "wrist"
    ih = J.remap(np.arange(21)[:, None], "openpose21", "interhand21")[:, 0]
    assert ih[20] == 0 and ih[0] == 4  # wrist and thumb tip of OpenPose


def test_mediapipe_and_freihand_share_the_openpose_layout():
    assert J.order("mediapipe21") == J.order("openpose21") == J.order("freihand21")
    assert J.order("mediapipe21")[8] == "index4"  # INDEX_FINGER_TIP is landmark 8


def test_mano16_is_the_kinematic_prefix_of_mano21_and_cannot_fill_tips():
    x = np.arange(16 * 3).reshape(16, 3)
    assert J.remap(x, "mano16", "mano16").tolist() == x.tolist()
    with pytest.raises(J.JointOrderError, match="thumb4"):
        J.remap(x, "mano16", "openpose21")


def test_wrong_joint_count_and_unknown_order_are_named():
    with pytest.raises(J.JointOrderError, match="expected 21 joints"):
        J.remap(np.zeros((20, 3)), "openpose21", "mano21")
    with pytest.raises(J.JointOrderError, match="unknown joint order 'coco'"):
        J.order("coco")


def test_parents_follow_each_finger_from_the_wrist():
    names = J.order("openpose21")
    p = J.parents(names)
    assert p[0] == -1 and p[names.index("index1")] == 0
    assert p[names.index("ring3")] == names.index("ring2")
    mano = J.parents(J.MANO_16)
    assert mano == J.MANO_PARENTS
