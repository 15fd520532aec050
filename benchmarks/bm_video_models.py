"""Benchmark: the video models' inference on this CPU (tiny configs, fp32), against BlurHandNet tiny measured
in the same run.

    python benchmarks/bm_video_models.py [--repeats 3]

Batch = clips per call, each of 8 frames (the video models' window); BlurHandNet gets the same frames as
one batch of single crops (8 or 128 per call). Frames per second include the MANO layer (BlurHandNet: three
hands per frame). In the worker, Deformer's windows overlap (stride 4 of 8), so each frame is
run twice: its footage rate is half the figure here; SeqHAND runs each frame once. Random weights: speed does
not depend on them.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from training.config import load_config
from training.tasks import TASKS

ROOT = Path(__file__).resolve().parent.parent

CONFIGS = {"blurhandnet": "tiny.toml", "deformer": "deformer_tiny.toml", "seqhand": "seqhand_tiny.toml"}
FRAMES = 8


def fps(model, size: int, batch: int, repeats: int) -> float:
    clip = model.temporal_mode != "frame"
    x = torch.rand(batch, FRAMES, 3, size, size) if clip else torch.rand(batch * FRAMES, 3, size, size)
    with torch.no_grad():
        model(x)  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            model(x)
    return batch * FRAMES * repeats / (time.perf_counter() - start)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, fp32, CPU")
    print(f"{'model':12s} {'params':>7s} {'clips':>5s} {'frames/s':>9s} {'vs blurhandnet':>15s}")
    base = {}
    for name, config in CONFIGS.items():
        cfg = load_config(ROOT / "training" / "configs" / config)
        model = TASKS[name].model_class(cfg.model).eval()
        params = sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6
        for batch in (1, 16):
            rate = fps(model, cfg.model.image_size, batch, args.repeats)
            base.setdefault(batch, rate)
            print(f"{name:12s} {params:6.1f}M {batch:5d} {rate:9.1f} {rate / base[batch]:14.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
