"""The one output type every network returns, and the one checkpoint format every network uses."""
from __future__ import annotations

import importlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, Optional, Type

import torch
from torch import nn

from addon.common.typed_values import checked_dataclass

from ..catalog import is_shipped

CHECKPOINT_FORMAT = "hand_mocap.checkpoint"
CHECKPOINT_VERSION = 1


@dataclass
class HandPrediction:
    """Per-sample MANO hands over T time steps (BlurHandNet: T = 3, initial/middle/final; video models: frames).

    Poses are right-hand MANO axis-angle with ``flat_hand_mean=True``; ``joints`` are MANO-21, root-relative
    to nothing (MANO's own frame), metres. Every model puts ``extras["joints2d"]`` (B, T, 21, 2): its own 2D
    joints in crop pixels (the pipeline places the hand with them where the detector gave no keypoints).
    """

    global_orient: torch.Tensor  # (B, T, 3)
    hand_pose: torch.Tensor  # (B, T, 45)
    betas: torch.Tensor  # (B, T, 10)
    camera: Optional[torch.Tensor]  # (B, T, 3): (tx, ty, tz) of the crop camera; None when a model has none
    vertices: torch.Tensor  # (B, T, 778, 3)
    joints: torch.Tensor  # (B, T, 21, 3)
    extras: Dict[str, torch.Tensor] = field(default_factory=dict)


class CheckpointError(ValueError):
    """A checkpoint that cannot rebuild the requested model; the message says why."""


_REGISTRY: Dict[str, Callable] = {}
# Where each registered network is defined, so a checkpoint loads without its module imported first.
MODEL_MODULES = {"blurhandnet": "inference.models.blurhandnet", "deformer": "inference.models.deformer",
                 "seqhand": "inference.models.seqhand", "s2hand": "inference.models.s2hand",
                 "amvur": "inference.models.amvur", "keypoints": "inference.models.keypoints"}


def register_model(name: str):
    """Class decorator: the model can be rebuilt from a checkpoint by name."""

    def wrap(cls):
        cls.model_name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def _state_without_hand_model(model: nn.Module) -> Dict[str, torch.Tensor]:
    # The MANO arrays are the user's hand model (possibly licensed): never stored in a checkpoint.
    return {k: v for k, v in model.state_dict().items() if not k.startswith("mano.")}


def save_checkpoint(model: nn.Module, path: str | os.PathLike, half: bool = False, **metadata) -> Path:
    """Weights + the config that rebuilds the model, in one file (fp16 storage with ``half``)."""
    state = _state_without_hand_model(model)
    if half:
        state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "model": model.model_name,
                "config": asdict(model.config), "state_dict": state, "metadata": metadata}, path)
    return path


def load_model(path: str | os.PathLike, expect: Optional[str] = None, hand_model=None,
               map_location: str = "cpu") -> nn.Module:
    """Rebuild a model from its checkpoint alone (plus the hand model to run MANO with). Any checkpoint but the
    package's own is first checked on the meta device, so that a forged config allocates nothing."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a Hand Mocap checkpoint")
    name, state, config_values = data.get("model"), data.get("state_dict"), data.get("config")
    if not isinstance(name, str):
        raise CheckpointError(f"{path}: names no model")
    if expect is not None and name != expect:
        raise CheckpointError(f"{path}: is a {name} checkpoint, not {expect}")
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise CheckpointError(f"{path}: its weights are not a table of named tensors")
    if name not in _REGISTRY and name in MODEL_MODULES:
        importlib.import_module(MODEL_MODULES[name])
    if name not in _REGISTRY:
        raise CheckpointError(f"{path}: unknown model {name!r}; known: {', '.join(sorted(_REGISTRY))}"[:300])
    cls = _REGISTRY[name]
    config = config_from_dict(cls.config_class, config_values, str(path))
    if not is_shipped(path):  # building on the meta device costs seconds (torch imports its compiler for it)
        check_shapes(cls, config, state, path)
    try:
        model = cls(config, hand_model=hand_model)
    except (ValueError, TypeError, RuntimeError) as exc:  # values of the right type the network cannot take
        raise CheckpointError(f"{path}: its config does not build a {name} ({exc})"[:300]) from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(state, strict=False)
    metadata = data.get("metadata", {})
    model.checkpoint_metadata = metadata if isinstance(metadata, dict) else {}
    return model.eval()


def check_shapes(cls, config, state: Dict[str, torch.Tensor], path: Path) -> None:
    """The network the config describes, built on the meta device (nothing allocated), against the checkpoint's
    weights: every weight present with its shape. A forged config cannot make the loader allocate more than the
    weights the file holds."""
    try:
        with torch.device("meta"):
            shapes = {k: tuple(v.shape) for k, v in _state_without_hand_model(cls(config, hand_model=None)).items()}
    except Exception as exc:  # noqa: BLE001 - any value the constructor cannot take
        raise CheckpointError(f"{path}: its config does not build a {cls.model_name} ({type(exc).__name__}: "
                              f"{exc})"[:300]) from None
    missing = [k for k in shapes if k not in state]
    unexpected = [k for k in state if k not in shapes and not k.startswith("mano.")]
    wrong = [k for k in shapes if k in state and tuple(state[k].shape) != shapes[k]]
    if missing or unexpected or wrong:
        raise CheckpointError(f"{path}: weights do not fit the model (missing {missing[:3]}, unexpected "
                              f"{unexpected[:3]}, wrong shape {wrong[:3]})")


def config_from_dict(cls: Type, values: dict, where: str = "config"):
    """A config dataclass from a dict: its own keys only, each of its annotated type."""
    return checked_dataclass(cls, values, where, CheckpointError)
