import numpy as np

from addon.common import rotations as R
from helpers import assert_close


def test_conversions_agree_on_random_and_edge_case_rotations():
    rng = np.random.default_rng(0)
    aa = rng.normal(0.0, 1.5, (500, 3))
    aa[:4] = [[0, 0, 0], [np.pi, 0, 0], [0, np.pi - 1e-9, 0], [1e-12, 0, 0]]  # identity, half turns, tiny
    m = R.axis_angle_to_matrix(aa)
    assert_close(np.einsum("nij,nkj->nik", m, m), np.broadcast_to(np.eye(3), m.shape), 1e-12, "orthonormal")
    q = R.matrix_to_quaternion(m)
    assert np.all(q[:, 0] >= 0)
    assert_close(R.quaternion_to_matrix(q), m, 1e-10, "matrix -> quaternion -> matrix")
    q_direct = R.axis_angle_to_quaternion(aa)
    same = np.abs(np.sum(q_direct * q, axis=1))
    assert_close(same, np.ones(len(aa)), 1e-10, "axis-angle -> quaternion matches (up to sign)")
    assert_close(R.axis_angle_to_matrix(R.matrix_to_axis_angle(m)), m, 1e-9, "matrix -> axis-angle -> matrix")


def test_quaternion_continuity_removes_sign_flips():
    q = R.axis_angle_to_quaternion(np.array([[0.0, 0.0, a] for a in np.linspace(0, 6, 30)]))
    q[::2] *= -1
    fixed = R.make_quaternions_continuous(q)
    assert np.all(np.sum(fixed[1:] * fixed[:-1], axis=1) > 0)


def test_mirroring_reflects_rotations_across_x():
    aa = np.random.default_rng(1).normal(size=(10, 3))
    s = np.diag([-1.0, 1.0, 1.0])
    assert_close(R.axis_angle_to_matrix(R.mirror_axis_angle(aa)), s @ R.axis_angle_to_matrix(aa) @ s, 1e-12,
                 "S R S")
