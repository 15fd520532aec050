"""The trainer of every model: Adam, step-decay schedule, mixed precision where it helps, checkpoint + resume,
a CSV log, and DistributedDataParallel when started by ``torchrun`` (one process per GPU, or several CPU
processes). What differs by model (network, samples, losses) comes from ``training/tasks.py``."""
from __future__ import annotations

import csv
import os
import time
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from addon.common.progress import Progress
from inference.models.output import load_model, save_checkpoint

from .config import Config
from .data import Augment
from .tasks import TASKS, LossStep, crop_spec, samples, validation_joints


def _distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX). Elsewhere oneDNN emulates it and a
    bf16-autocast training step is many times slower than fp32 (benchmarks/bm_inference.py times one)."""
    probe = getattr(getattr(torch.ops, "mkldnn", None), "_is_mkldnn_bf16_supported", None)
    try:
        return bool(probe()) if probe is not None else True
    except RuntimeError:  # no oneDNN in this build: autocast runs its own kernels
        return True


def effective_precision(precision: str, device: torch.device) -> str:
    """The precision a run actually uses: a config's bf16 runs as fp32 on a CPU without native bf16, with
    one line saying so, because the config was written for the machines that have it."""
    if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        print("train: this CPU has no native bf16 (AVX512-BF16 or AMX); running the config's bf16 as fp32")
        return "fp32"
    return precision


def autocast_for(precision: str, device: torch.device):
    """The autocast context of a precision (bf16 on the CPU or CUDA, fp16 on CUDA, else none)."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if precision == "fp16" and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast(device.type, enabled=False)


@torch.no_grad()
def validate(model: nn.Module, samples, frames: int, device: torch.device) -> float:
    """Middle-hand MPJPE (mm, wrist-aligned) on the first ``frames`` validation samples (the keypoint network:
    its mean 2D error in crop pixels)."""
    from . import metrics

    was_training = model.training
    model.eval()
    n = min(frames, len(samples))
    pred, truth = [], []
    for start in range(0, n, 16):
        batch = torch.utils.data.default_collate([samples[i] for i in range(start, min(start + 16, n))])
        images = batch["image"].to(device)
        if model.temporal_mode == "frame" and images.dim() == 5:  # clips for a one-frame network (S2HAND)
            images = images.flatten(0, 1)
        p, t = validation_joints(model(images), batch)
        pred.append(p.float().cpu().numpy())
        truth.append(t.numpy())
    model.train(was_training)
    pred, truth = np.concatenate(pred), np.concatenate(truth)
    if pred.shape[-1] == 2:  # the keypoint network: crop pixels, not aligned
        return float(np.linalg.norm(pred - truth, axis=-1).mean())
    return metrics.mpjpe(pred, truth)


def start_from(model: nn.Module, path: str) -> None:
    """Fine-tuning: the weights of checkpoint ``path``, whose model config must be this run's."""
    from dataclasses import asdict

    source = load_model(path, expect=model.model_name)
    if asdict(source.config) != asdict(model.config):
        raise ValueError(f"[train] init = {path}: its model config differs from this run's [model]")
    model.load_state_dict({k: v for k, v in source.state_dict().items() if not k.startswith("mano.")},
                          strict=False)


def backbone_from(model: nn.Module, path: str) -> None:
    """The backbone of checkpoint ``path`` (any model) starts this model's: the pretrained-backbone start the
    papers take from ImageNet, here from a network trained on our renders."""
    source = load_model(path)
    ours, theirs = model.backbone.state_dict(), source.backbone.state_dict()
    if {k: v.shape for k, v in ours.items()} != {k: v.shape for k, v in theirs.items()}:
        raise ValueError(f"[train] backbone_init = {path}: its backbone differs in depth or width from this model's")
    model.backbone.load_state_dict(theirs)


def train(cfg: Config, resume: bool = True, progress: bool = True, device: Optional[str] = None) -> Dict[str, float]:
    """Train ``cfg``; returns the last logged losses. Writes ``last.pt`` (resumable) and ``model.pt``."""
    rank = 0
    if _distributed():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        rank = dist.get_rank()
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if dev.type == "cuda" and _distributed():
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    torch.manual_seed(cfg.train.seed + rank)
    out = Path(cfg.train.out)
    out.mkdir(parents=True, exist_ok=True)
    d = cfg.data
    task = TASKS[cfg.train.model]
    spec = crop_spec(task, cfg.model, d.crop_scale)
    augment = Augment(d.aug_scale, d.aug_shift, d.aug_rotate_deg, d.aug_color) if d.augment else None
    if d.format == "synthetic":
        dataset = samples(task, d.train, spec, cfg.train.clip_frames, augment, seed=cfg.train.seed + rank,
                          sharp_share=d.sharp_share)
    else:  # real footage: the published labels as they are (no augmentation yet)
        from addon.common.hand_model import find_hand_model

        from .real_data import RealSamples
        dataset = RealSamples(d.train, d.split, d.format, find_hand_model("right", d.mano_dir or None), spec)
    sampler = torch.utils.data.DistributedSampler(dataset) if _distributed() else None
    loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.train.batch_size, shuffle=sampler is None,
                                         sampler=sampler, num_workers=cfg.data.workers, drop_last=len(dataset) >
                                         cfg.train.batch_size)
    model = task.model_class(cfg.model).to(dev)
    if cfg.train.backbone_init:
        backbone_from(model, cfg.train.backbone_init)
    frozen = tuple(cfg.train.freeze)
    for name, p in model.named_parameters():
        p.requires_grad_(not name.startswith(frozen) if frozen else True)
    optim = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.train.lr,
                             weight_decay=cfg.train.weight_decay)
    loss_step = LossStep(task, model, cfg.loss, cfg.switches, dev)
    step = 0
    last = out / "last.pt"
    if resume and last.is_file():
        state = torch.load(last, map_location=dev, weights_only=True)
        model.load_state_dict(state["model"], strict=False)
        optim.load_state_dict(state["optim"])
        step = int(state["step"])
    elif cfg.train.init:
        start_from(model, cfg.train.init)
    net = torch.nn.parallel.DistributedDataParallel(model) if _distributed() else model
    val = samples(task, d.val, spec, cfg.train.clip_frames) if d.val else None
    val_mpjpe = float("nan")
    log_path = out / "log.csv"
    new_log = not log_path.is_file() or step == 0
    if not new_log:  # resuming from last.pt: drop rows logged after it was saved
        lines = log_path.read_text().splitlines(keepends=True)
        log_path.write_text("".join(lines[:1] + [r for r in lines[1:] if int(r.split(",")[0]) <= step]))
    log = open(log_path, "w" if new_log else "a", newline="")
    writer = None
    bar = Progress(cfg.train.steps, "steps", enabled=progress and rank == 0)
    bar.update(step)
    started = time.perf_counter()
    latest: Dict[str, float] = {}
    precision = effective_precision(cfg.train.precision, dev)
    model.train()
    while step < cfg.train.steps:
        if sampler is not None:
            sampler.set_epoch(step)
        if hasattr(dataset, "epoch"):
            dataset.epoch = step  # new augmentation draws each pass (workers are re-created per pass)
        for batch in loader:
            if step >= cfg.train.steps:
                break
            lr = cfg.train.lr * cfg.train.lr_decay ** sum(step >= s for s in cfg.train.lr_decay_steps)
            for group in optim.param_groups:
                group["lr"] = lr
            batch = {k: v.to(dev) for k, v in batch.items()}
            with autocast_for(precision, dev):
                pred = loss_step.forward(net, batch)
            losses = loss_step(pred, batch)
            optim.zero_grad(set_to_none=True)
            losses["total"].backward()
            optim.step()
            loss_step.after_step(batch)
            step += 1
            at_checkpoint = step % cfg.train.checkpoint_every == 0 or step == cfg.train.steps
            if rank == 0 and val is not None and at_checkpoint:
                val_mpjpe = validate(model, val, d.val_frames, dev)
            if rank == 0 and (step % cfg.train.log_every == 0 or step == cfg.train.steps):
                latest = {k: float(v.detach()) for k, v in losses.items()}
                if val is not None:
                    latest["val_middle_mpjpe"] = val_mpjpe
                row = {"step": step, "lr": lr, "seconds": round(time.perf_counter() - started, 2), **latest}
                if writer is None:
                    writer = csv.DictWriter(log, fieldnames=list(row))
                    if new_log:
                        writer.writeheader()
                writer.writerow(row)
                log.flush()
            if rank == 0 and at_checkpoint:
                torch.save({"model": model.state_dict(), "optim": optim.state_dict(), "step": step}, last)
            bar.update(step)
    bar.close()
    log.close()
    if rank == 0:
        save_checkpoint(model, out / "model.pt", half=True, steps=step, config_file=cfg.source)
    if _distributed():
        dist.destroy_process_group()
    return latest


def load_trained(path: str, device: str = "cpu") -> nn.Module:
    return load_model(path).to(device)
