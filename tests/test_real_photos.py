"""The real-photo evaluation: the reader on the shared evaluation set's own files (where this machine has them),
and the measure (nearest written hand, PCK against the hand box, found hands, sides) on hands of known
geometry."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers import ROOT
from training.real_photos import AnnotatedHand, RealPhotoError, WrittenHand, load_real_photos, score_photo, summarise

SHARED = ROOT.parent / "shared" / "real"


@pytest.mark.skipif(not SHARED.is_dir(), reason="the shared evaluation set is not on this machine")
def test_the_shared_set_reads_as_its_readme_describes():
    hands = load_real_photos(SHARED)
    assert len(hands) == 18 and len({h.image for h in hands}) == 16
    by = {s: [h for h in hands if h.source == s] for s in ("freihand", "panoptic", "interhand2.6m")}
    assert [len(v) for v in by.values()] == [8, 4, 6]
    assert all(h.side == "right" for h in by["freihand"])
    assert sorted(h.side for h in by["panoptic"]) == ["left", "left", "right", "right"]
    for h in hands:
        assert h.keypoints.shape == (21, 2) and h.visible.all() and np.isfinite(h.keypoints).all()
        extent = np.ptp(h.keypoints, axis=0).max()
        assert 0.5 * extent < h.box_side < 2.0 * extent  # the box is the hand's, in pixels
    for h in by["interhand2.6m"]:  # the 3D truth projects onto its 2D truth, wrist first (MANO-21)
        assert h.joints_mm.shape == (21, 3) and np.ptp(h.joints_mm[:, 2]) < 200
        assert np.linalg.norm(h.keypoints[0] - h.keypoints[1:5].mean(0)) < h.box_side


def test_a_folder_without_the_sets_is_named():
    with pytest.raises(RealPhotoError, match="no such folder"):
        load_real_photos("/nonexistent/real")


def _hand(x0: float, side: str) -> AnnotatedHand:
    keypoints = np.stack([np.linspace(x0, x0 + 100, 21), np.linspace(0, 100, 21)], 1)
    return AnnotatedHand(Path("photo.jpg"), "test", keypoints, np.ones(21, bool), 100.0, side)


def test_the_measure_takes_the_nearest_written_hand_and_counts_a_miss_as_zero():
    right, left = _hand(0.0, "right"), _hand(400.0, "left")
    near = WrittenHand(right.keypoints + [15.0, 0.0], "right")  # 0.15 of the box off
    scores = score_photo([right, left], [near])
    assert scores[0].pck(0.1) == 0.0 and scores[0].pck(0.2) == 1.0 and scores[0].found
    assert not scores[1].found and scores[1].pck(0.2) == 0.0  # the only written hand is the other one
    assert score_photo([right], [])[0].errors is None
    swapped = score_photo([right, left], [WrittenHand(right.keypoints, "left"), WrittenHand(left.keypoints, "left")])
    summary = summarise(swapped)
    assert summary.found == 2 and (summary.sides_right, summary.sides_known) == (1, 2)
    assert summary.pck[0.1] == 1.0
