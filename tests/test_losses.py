"""BlurHandNet losses: order invariance, Unfolder-driven ordering, and the single-frame baseline."""
import torch

from inference.models.output import HandPrediction
from training.losses import LossSwitches, blurhand_losses


def fake_prediction(b=3, t=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return HandPrediction(global_orient=r(b, t, 3), hand_pose=r(b, t, 45), betas=r(b, t, 10), camera=r(b, t, 3),
                          vertices=r(b, t, 778, 3), joints=r(b, t, 21, 3), extras={"unfolder_joints": r(b, t, 21, 3)})


def fake_target(b=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return {"joints_img": r(b, 3, 21, 3), "joints_cam": r(b, 3, 21, 3), "pose": r(b, 3, 48), "betas": r(b, 10)}


def swap_ends(target):
    return {k: v[:, [2, 1, 0]] if v.dim() > 2 and v.shape[1] == 3 else v for k, v in target.items()}


def test_order_invariant_loss_is_unchanged_when_the_end_labels_swap():
    pred, target = fake_prediction(), fake_target()
    a = blurhand_losses(pred, target)
    b = blurhand_losses(pred, swap_ends(target))
    for key in ("unfolder_ends", "regressor_ends", "total"):
        assert torch.allclose(a[key], b[key]), key
    # ...but supervising in the ground-truth order is not invariant
    strict = LossSwitches(order_invariant=False)
    assert not torch.allclose(blurhand_losses(pred, target, switches=strict)["total"],
                              blurhand_losses(pred, swap_ends(target), switches=strict)["total"])


def test_the_regressor_follows_the_unfolders_order_not_its_own():
    pred, target = fake_prediction(b=1), fake_target(b=1)
    # make the Unfolder's ends match the ground truth in forward order exactly
    pred.extras["unfolder_joints"] = target["joints_img"].clone()
    # and the Regressor's ends match it backwards
    pred.global_orient[:, 0], pred.hand_pose[:, 0] = target["pose"][:, 2, :3], target["pose"][:, 2, 3:]
    pred.global_orient[:, 2], pred.hand_pose[:, 2] = target["pose"][:, 0, :3], target["pose"][:, 0, 3:]
    driven = blurhand_losses(pred, target)
    own = blurhand_losses(pred, target, switches=LossSwitches(unfolder_ordering=False))
    assert driven["forward_share"].item() == 1.0
    assert driven["regressor_ends"] > own["regressor_ends"], "forward order imposed on a backward regressor"


def test_single_frame_baseline_is_supervised_by_the_middle_truth_only():
    pred, target = fake_prediction(t=1), fake_target()
    losses = blurhand_losses(pred, target)
    assert set(losses) == {"unfolder_middle", "regressor_middle", "total"}
    assert torch.isfinite(losses["total"])
