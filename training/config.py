"""Training configs: TOML files with [model], [data], [loss], [train] tables; unknown keys are errors.

The [model] table is the network's own config dataclass, so it travels into the checkpoint unchanged.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List

from addon.common.typed_values import checked_dataclass


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the key."""


@dataclass
class DataConfig:
    train: str | List[str] = "data/synth_blur/train"  # one folder or a list of folders
    format: str = "synthetic"  # synthetic | blurhand | interhand (the published layouts: training/real_data.py)
    split: str = "train"  # the split folder of a real dataset
    mano_dir: str = ""  # official MANO files (the real datasets' MANO labels need them)
    val: str = ""  # a synthetic folder scored (middle MPJPE, first val_frames frames) at each checkpoint
    val_frames: int = 64
    crop_scale: float = 1.3
    workers: int = 0
    augment: bool = True
    aug_scale: float = 0.25
    aug_shift: float = 0.15
    aug_rotate_deg: float = 45.0
    aug_color: float = 0.2
    sharp_share: float = 0.0  # single-frame models: this share of a blurred set's frames is its sharp render


@dataclass
class TrainConfig:
    model: str = "blurhandnet"
    steps: int = 2000
    batch_size: int = 16
    lr: float = 1e-4
    lr_decay_steps: List[int] = field(default_factory=lambda: [])  # multiply lr by ``lr_decay`` at each
    lr_decay: float = 0.1
    weight_decay: float = 0.0
    precision: str = "fp32"  # fp32 | bf16 (CPU autocast) | fp16 (CUDA AMP)
    seed: int = 4543
    log_every: int = 10
    checkpoint_every: int = 200
    out: str = "runs/blurhandnet"
    init: str = ""  # a checkpoint whose weights start a fresh run (fine-tuning); its model config must match
    backbone_init: str = ""  # a checkpoint of any model whose backbone (same depth and width) starts this one's
    clip_frames: int = 8  # video models: consecutive frames per training sample (1: single frames)
    freeze: List[str] = field(default_factory=lambda: [])  # parameter-name prefixes kept fixed (SeqHAND: "recurrent")


@dataclass
class Config:
    model: Any  # the task's model config (BlurHandNetConfig, DeformerConfig, SeqHandConfig)
    data: DataConfig
    loss: Any  # the task's loss weights
    switches: Any  # the task's loss switches
    train: TrainConfig
    source: str = ""


def _build(cls, values: Dict[str, Any], where: str):
    return checked_dataclass(cls, values, where, ConfigError)


def load_config(path: str | Path) -> Config:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    tables = {"model", "data", "loss", "switches", "train"}
    unknown = sorted(set(raw) - tables)
    if unknown:
        raise ConfigError(f"{path}: unknown table(s) {', '.join(unknown)}; known: {', '.join(sorted(tables))}")
    from .tasks import TASKS

    data = _build(DataConfig, raw.get("data", {}), f"{path} [data]")
    if data.format not in ("synthetic", "blurhand", "interhand"):
        raise ConfigError(f"{path} [data]: format must be synthetic, blurhand or interhand, not {data.format!r}")
    train = _build(TrainConfig, raw.get("train", {}), f"{path} [train]")
    if train.model not in TASKS:
        raise ConfigError(f"{path} [train]: model must be one of {', '.join(TASKS)}, not {train.model!r}")
    task = TASKS[train.model]
    if task.clips and data.format != "synthetic":
        raise ConfigError(f"{path}: {train.model} trains on clips of the synthetic format only")
    return Config(
        model=_build(task.config_class, raw.get("model", {}), f"{path} [model]"),
        data=data,
        loss=_build(task.weights_class, raw.get("loss", {}), f"{path} [loss]"),
        switches=_build(task.switches_class, raw.get("switches", {}), f"{path} [switches]"),
        train=train,
        source=str(path),
    )
