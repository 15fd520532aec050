"""Every model of the project by name, with its shipped checkpoint (or the honest reason it has none)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

from addon.common.models import MODEL_NAMES

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
CHECKPOINT_DIR_VARIABLE = "HAND_MOCAP_CHECKPOINTS"  # a folder of checkpoints to use instead of the shipped ones


def checkpoint_dir() -> Path:
    return Path(os.environ.get(CHECKPOINT_DIR_VARIABLE) or CHECKPOINT_DIR)


def is_shipped(path: Path) -> bool:
    """A checkpoint that ships inside the package, beside its code (trusted as the code is)."""
    return Path(path).resolve().parent == CHECKPOINT_DIR.resolve()


class ModelUnavailable(RuntimeError):
    """The chosen model cannot run: no trained checkpoint (never falls back to random weights)."""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    paper: str
    checkpoint: str  # file name in inference/checkpoints/

    def checkpoint_path(self) -> Path:
        return checkpoint_dir() / self.checkpoint


MODELS: Dict[str, ModelEntry] = {e.name: e for e in (
    # blurhandnet_tiny.pt, the from-scratch base, stays as every tiny model's starting backbone (configs).
    ModelEntry("blurhandnet", "Oh et al., CVPR 2023 (BlurHandNet)", "blurhandnet_tiny_mixed.pt"),
    ModelEntry("deformer", "Fu et al., ICCV 2023 (Deformer)", "deformer_tiny.pt"),
    ModelEntry("seqhand", "Yang et al., ECCV 2020 (SeqHAND)", "seqhand_tiny.pt"),
    ModelEntry("s2hand", "Chen et al., CVPR 2021 / TPAMI (S2HAND(V))", "s2hand_tiny.pt"),
    ModelEntry("amvur", "Jiang et al., CVPR 2023 (AMVUR)", "amvur_tiny.pt"),
)}
DEFAULT_MODEL = "blurhandnet"
# The fitting stage's 2D keypoint network (inference/models/keypoints.py): not a hand model of the catalogue,
# it serves every one of them.
KEYPOINT_CHECKPOINT = "keypoints_tiny.pt"
assert tuple(MODELS) == MODEL_NAMES, "addon/common/models.py and the catalogue must list the same models"


def available() -> Dict[str, bool]:
    """Model name -> whether a trained checkpoint is there to run."""
    return {name: entry.checkpoint_path().is_file() for name, entry in MODELS.items()}


def resolve_checkpoint(name: str, checkpoint: Optional[str] = None) -> Path:
    """The checkpoint to run ``name`` with, or a :class:`ModelUnavailable` that says what to do."""
    if name not in MODELS:
        raise ModelUnavailable(f"unknown model {name!r}; the models are {', '.join(MODELS)}")
    path = Path(checkpoint) if checkpoint else MODELS[name].checkpoint_path()
    if not path.is_file():
        hint = ("pass a trained checkpoint with --checkpoint, or train one (python -m training train "
                "--config ...)" if checkpoint is None else "check the path")
        raise ModelUnavailable(f"{name}: no trained checkpoint at {path}; it will not run on untrained weights; "
                               f"{hint}")
    return path
