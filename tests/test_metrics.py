"""Metrics against cases worked out by hand."""
import numpy as np
import pytest

from addon.common.rotations import axis_angle_to_matrix
from training import metrics as M


def test_mpjpe_root_aligned_ignores_translation_and_counts_the_rest():
    gt = np.zeros((1, 3, 3))
    gt[0, 1] = [0.01, 0, 0]
    gt[0, 2] = [0, 0.02, 0]
    pred = gt + np.array([0.5, -0.2, 0.1])  # shifted: no error after root alignment
    assert M.mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-9)
    pred[0, 2, 2] += 0.003  # 3 mm on one of three joints
    assert M.mpjpe(pred, gt) == pytest.approx(1.0)
    assert M.mpjpe(pred, gt, align="none") > 100


def test_procrustes_removes_scale_rotation_and_translation():
    rng = np.random.default_rng(0)
    gt = rng.normal(0, 0.05, (2, 21, 3))
    r = axis_angle_to_matrix(np.array([0.3, -1.0, 2.0]))
    pred = 1.7 * gt @ r.T + np.array([1.0, 2.0, 3.0])
    assert M.mpjpe(pred, gt, align="procrustes") == pytest.approx(0.0, abs=1e-9)
    mirrored = gt * np.array([-1, 1, 1])  # a reflection is not a rotation: it must not be aligned away
    assert M.mpjpe(mirrored, gt, align="procrustes") > 1.0


def test_pck_auc_of_known_errors():
    errors = np.array([0.0, 10.0, 30.0, 60.0])
    pck, auc = M.pck_auc(errors, 0.0, 50.0, steps=6)  # thresholds 0, 10, ..., 50
    assert pck.tolist() == [0.25, 0.5, 0.5, 0.75, 0.75, 0.75]
    # trapezoid over [0, 50] / 50
    expected = np.trapz([0.25, 0.5, 0.5, 0.75, 0.75, 0.75], np.linspace(0, 50, 6)) / 50
    assert auc == pytest.approx(expected)


def test_f_score_counts_points_within_the_threshold_both_ways():
    gt = np.array([[0.0, 0, 0], [0.1, 0, 0], [0.2, 0, 0], [0.3, 0, 0]])
    pred = gt.copy()
    pred[3] = [1.0, 0, 0]  # one far point: precision 3/4, recall 3/4
    assert M.f_score(pred, gt, 5.0) == pytest.approx(0.75)
    assert M.f_score(gt, gt, 5.0) == pytest.approx(1.0)


def test_acceleration_error_is_zero_for_constant_velocity_and_measures_a_jolt():
    t = np.arange(5)[:, None, None]
    gt = np.concatenate([np.zeros((5, 1, 3)), 0.01 * t * np.ones((1, 1, 3))], axis=1)  # root still, tip moves
    assert M.acceleration_error(gt, gt) == pytest.approx(0.0)
    pred = gt.copy()
    pred[2, 1, 0] += 0.002  # a 2 mm jolt at the middle frame: accelerations +2, -4, +2 mm on x (frames 1..3)
    assert M.acceleration_error(pred, gt) == pytest.approx((2 + 4 + 2) / 6)  # averaged over both joints


def test_end_hands_are_scored_under_the_better_pairing_per_sample():
    gi = np.zeros((2, 2, 3))
    gf = np.zeros((2, 2, 3))
    gf[:, 1] = [0.01, 0, 0]
    e1 = np.stack([gi[0], gf[1]])  # sample 0 in order, sample 1 swapped
    e2 = np.stack([gf[0], gi[1]])
    out = M.order_invariant_ends(e1, e2, gi, gf)
    assert out["forward"].tolist() == [True, False]
    assert np.allclose(out["initial"], 0) and np.allclose(out["final"], 0)


def test_paired_bootstrap_centres_on_the_difference_and_resamples_whole_sequences():
    from training.metrics import paired_bootstrap

    a = np.arange(40, dtype=float)
    groups = np.arange(40) // 8
    assert paired_bootstrap(a, a, groups) == (0.0, 0.0, 0.0)
    mean, low, high = paired_bootstrap(a, a + 2.0 + 0.1 * np.sin(a), groups)
    assert abs(mean - (2.0 + 0.1 * np.sin(a).mean())) < 1e-12 and 1.8 < low < mean < high < 2.2
    noisy = a + np.where(groups % 2 == 0, 5.0, -5.0)  # better on some sequences, worse on others
    mean, low, high = paired_bootstrap(a, noisy, groups)
    assert low < 0 < high
