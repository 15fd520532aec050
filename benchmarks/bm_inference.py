"""Benchmark: BlurHandNet inference on this CPU, `tiny` vs `paper` config, fp32 vs bf16, batch 1 and 16; and a
`tiny` training step (batch 16, forward and backward) in fp32 and bf16, as the trainer runs it.

    python benchmarks/bm_inference.py [--repeats 3]

Frames per second include the MANO layer (three hands per frame). Random weights: speed does not depend on
them. bf16 inference runs under CPU autocast with channels-last tensors. Whether this CPU has native bf16
decides whether the trainer uses a config's bf16 (``training.trainer.effective_precision``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from inference.models.blurhandnet import BlurHandNet
from training.config import load_config
from training.trainer import autocast_for, cpu_has_native_bf16

ROOT = Path(__file__).resolve().parent.parent


def fps(model, size: int, batch: int, precision: str, repeats: int) -> float:
    x = torch.rand(batch, 3, size, size)
    if precision == "bf16":
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else torch.autocast("cpu", enabled=False)
    with torch.no_grad(), ctx:
        model(x)  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            model(x)
    return batch * repeats / (time.perf_counter() - start)


def step_seconds(model, size: int, batch: int, precision: str, repeats: int) -> float:
    """Seconds a training step takes: forward under the trainer's autocast, backward through every output."""
    model.train()
    x = torch.rand(batch, 3, size, size)
    for i in range(repeats + 1):  # the first is a warm-up
        if i == 1:
            start = time.perf_counter()
        with autocast_for(precision, torch.device("cpu")):
            out = model(x)
        loss = sum(t.float().mean() for t in (out.global_orient, out.hand_pose, out.betas, out.joints))
        model.zero_grad(set_to_none=True)
        loss.backward()
    return (time.perf_counter() - start) / repeats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'config':8s} {'params':>8s} {'input':>6s} {'batch':>5s} {'fp32 fps':>9s} {'bf16 fps':>9s} {'bf16/fp32':>9s}")
    for name in ("tiny", "paper"):
        cfg = load_config(ROOT / "training" / "configs" / f"{name}.toml").model
        model = BlurHandNet(cfg).eval()
        params = sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6
        for batch in (1, 16):
            a = fps(model, cfg.image_size, batch, "fp32", args.repeats)
            b = fps(model, cfg.image_size, batch, "bf16", args.repeats)
            print(f"{name:8s} {params:7.1f}M {cfg.image_size:6d} {batch:5d} {a:9.2f} {b:9.2f} {b / a:8.2f}x")
    cfg = load_config(ROOT / "training" / "configs" / "tiny.toml").model
    model = BlurHandNet(cfg)
    a, b = (step_seconds(model, cfg.image_size, 16, p, args.repeats) for p in ("fp32", "bf16"))
    print(f"training step, tiny, batch 16: fp32 {a:.2f} s, bf16 {b:.2f} s ({b / a:.2f}x the fp32 time); "
          f"native bf16 on this CPU: {'yes' if cpu_has_native_bf16() else 'no (the trainer runs bf16 as fp32)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
