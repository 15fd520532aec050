"""What differs between the models the trainer trains: the network, its config and loss tables, its samples
(single frames or clips), its losses, and the joints that validation scores. The loop is one (trainer.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import torch
from torch import nn

from inference.models.amvur import Amvur, AmvurConfig
from inference.models.blurhandnet import BlurHandNet, BlurHandNetConfig
from inference.models.deformer import Deformer, DeformerConfig
from inference.models.keypoints import STRIDE, KeypointNet, KeypointNetConfig, KeypointPrediction
from inference.models.output import HandPrediction
from inference.models.s2hand import S2Hand, S2HandConfig
from inference.models.seqhand import SeqHand, SeqHandConfig

from .amvur_losses import AmvurWeights, amvur_losses
from .data import Augment, BlurHandSamples, ClipSamples, CropSpec, DetectedClipSamples
from .keypoint_losses import KeypointWeights, keypoint_losses, keypoint_targets
from .losses import LossSwitches, LossWeights, blurhand_losses
from .selfsup_losses import SelfSupSwitches, SelfSupWeights, selfsup_losses
from .video_losses import (
    DeformerSwitches,
    DeformerWeights,
    MotionDiscriminator,
    SeqHandWeights,
    deformer_losses,
    lsgan_discriminator,
    lsgan_generator,
    seqhand_losses,
)


@dataclass
class NoSwitches:
    """A model whose losses have no switches."""


@dataclass(frozen=True)
class Task:
    name: str
    model_class: type
    config_class: type
    weights_class: type
    switches_class: type
    clips: bool  # samples are clips of consecutive frames (video models)
    heatmap_stride: Callable[[object], int]  # model config -> crop pixels per 2D-target pixel


TASKS: Dict[str, Task] = {t.name: t for t in (
    Task("blurhandnet", BlurHandNet, BlurHandNetConfig, LossWeights, LossSwitches, False, lambda m: 8),
    Task("deformer", Deformer, DeformerConfig, DeformerWeights, DeformerSwitches, True, lambda m: m.feature_stride),
    Task("seqhand", SeqHand, SeqHandConfig, SeqHandWeights, NoSwitches, True, lambda m: 8),
    # S2HAND(V) runs one frame at a time; it trains on clips of detected frames (the video terms)
    Task("s2hand", S2Hand, S2HandConfig, SelfSupWeights, SelfSupSwitches, True, lambda m: 8),
    Task("amvur", Amvur, AmvurConfig, AmvurWeights, NoSwitches, False, lambda m: 8),
    # the fitting stage's 2D keypoints (not a hand-mesh model: no MANO output)
    Task("keypoints", KeypointNet, KeypointNetConfig, KeypointWeights, NoSwitches, False, lambda m: STRIDE),
)}


def crop_spec(task: Task, model_cfg, crop_scale: float) -> CropSpec:
    size = model_cfg.image_size
    return CropSpec(image_size=size, heatmap_size=size // task.heatmap_stride(model_cfg),
                    depth_bins=getattr(model_cfg, "heatmap_depth", 32),
                    depth_range_m=getattr(model_cfg, "depth_range_m", 0.3), scale=crop_scale)


def samples(task: Task, roots, spec: CropSpec, clip_frames: int, augment: Optional[Augment] = None, seed: int = 0,
            sharp_share: float = 0.0):
    if task.name == "s2hand":
        return DetectedClipSamples(roots, clip_frames, spec, augment, seed)
    if task.clips:
        return ClipSamples(roots, clip_frames, spec, augment, seed)
    return BlurHandSamples(roots, spec, augment, seed, extra=task.name == "amvur", sharp_share=sharp_share)


class LossStep:
    """The per-step losses of one task; for Deformer with the adversarial switch it also owns the motion
    discriminator and updates it after each generator step (alternating, lr 1e-3 as in the paper)."""

    def __init__(self, task: Task, model: nn.Module, weights, switches, device: torch.device):
        self.task, self.model, self.weights, self.switches = task, model, weights, switches
        self.discriminator = None
        if task.name == "deformer" and switches.adversarial:
            self.discriminator = MotionDiscriminator().to(device)
            self.d_optim = torch.optim.Adam(self.discriminator.parameters(), lr=1e-3)
        if task.name == "s2hand":
            self._selfsup_setup(device)

    def _selfsup_setup(self, device: torch.device) -> None:
        from addon.common.hand_model import find_hand_model
        from inference.fit import AnatomicalFrame, limit_arrays
        from inference.mesh_render import face_normals

        hand = find_hand_model("right")
        self.frame = AnatomicalFrame(hand, device=device)
        self.limits = limit_arrays(device=device)
        rest = torch.as_tensor(hand.v_template, dtype=torch.float32, device=device)[None]
        faces = torch.as_tensor(hand.f.astype("int64"), device=device)
        normals = torch.zeros_like(rest).index_add_(1, faces.reshape(-1), face_normals(rest, faces).repeat_interleave(3, 1))
        self.rest_normals = torch.nn.functional.normalize(normals[0], dim=-1)

    def forward(self, net: nn.Module, batch: Dict[str, torch.Tensor]) -> HandPrediction:
        if self.task.name == "s2hand":  # a one-frame network over every frame of the clips
            return net(batch["image"].flatten(0, 1))
        return net(batch["image"])

    def __call__(self, pred: HandPrediction, batch: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        name = self.task.name
        if name == "blurhandnet":
            return blurhand_losses(pred, batch, self.weights, self.switches)  # with its own total
        if name == "deformer":
            losses = deformer_losses(pred, batch, self.weights, self.switches)
            if self.discriminator is not None:
                fake = torch.cat([pred.global_orient, pred.hand_pose], -1)
                losses["adversarial"] = self.weights.adversarial * lsgan_generator(self.discriminator(fake))
                self._fake = fake.detach()
        elif name == "amvur":
            losses = amvur_losses(pred, batch, self.model, self.weights)
        elif name == "keypoints":
            losses = keypoint_losses(pred, batch, self.weights, self.model.config.image_size, STRIDE)
        elif name == "s2hand":
            losses = selfsup_losses(pred, batch, self.model, self.weights, self.switches, self.frame, self.limits,
                                    self.rest_normals)
        else:
            losses = seqhand_losses(pred, batch, self.model, self.weights)
        losses["total"] = sum(losses.values())
        return losses

    def after_step(self, batch: Dict[str, torch.Tensor]) -> None:
        if self.discriminator is None:
            return
        real = batch["pose"][:, :, 1]
        real = real[torch.randperm(len(real), device=real.device)]  # randomly sampled true sequences
        loss = lsgan_discriminator(self.discriminator(real), self.discriminator(self._fake))
        self.d_optim.zero_grad(set_to_none=True)
        loss.backward()
        self.d_optim.step()


def validation_joints(pred: HandPrediction, batch: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
    """(predicted, true) joints of the frames validation scores: the middle hand of each frame, (N, 21, 3);
    for the keypoint network its 2D keypoints, (N, 21, 2) crop pixels."""
    if isinstance(pred, KeypointPrediction):
        return pred.keypoints, keypoint_targets(batch, STRIDE)
    truth = batch["joints_cam"]
    if pred.joints.shape[0] != truth.shape[0]:  # clips for a one-frame network (S2HAND): (B x T, 1, 21, 3)
        return pred.joints[:, 0], truth.flatten(0, 1)
    if truth.dim() == 5:  # clips: (B, T, 3, 21, 3), every frame's middle time
        return pred.joints.flatten(0, 1), truth[:, :, 1].flatten(0, 1)
    return pred.joints[:, pred.joints.shape[1] // 2], truth[:, 1]
