"""Command-line options of a video job, shared by ``python -m inference run`` and Blender's batch script."""
from __future__ import annotations

import argparse
from typing import List

from .models import MODEL_NAMES


def add_job_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--model", default="blurhandnet", choices=MODEL_NAMES)
    ap.add_argument("--checkpoint", default="", help="a trained checkpoint (default: the model's shipped one)")
    ap.add_argument("--hands", default="right,left",
                    help="right,left (every hand found, default), or right / left: the footage shows one such hand")
    ap.add_argument("--start", type=int, default=0, help="first footage frame (0-based)")
    ap.add_argument("--end", type=int, default=-1, help="last footage frame, inclusive (-1: the end)")
    ap.add_argument("--exposure", type=float, default=0.5, help="shutter in frames, for sub-frame keys (0..1)")
    ap.add_argument("--smoothing", type=float, default=0.0, help="jitter filter strength, 0 (off) .. 1")
    ap.add_argument("--fill-gaps", type=int, default=0, help="interpolate across up to N frames without a hand")
    ap.add_argument("--fov", type=float, default=60.0, help="horizontal field of view of the footage, degrees")
    ap.add_argument("--region", default="", help="x0,y0,side: a fixed hand region instead of detection")
    ap.add_argument("--mano", default="", help="folder with official MANO files (default: the open hand)")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")


def job_fields(args: argparse.Namespace) -> dict:
    """The parsed options as the fields of a job (``protocol.Start`` / ``JobSettings``)."""
    hands: List[str] = [h.strip() for h in args.hands.split(",") if h.strip()]
    return dict(model=args.model, checkpoint=args.checkpoint, hands=hands, frame_start=args.start,
                frame_end=args.end, exposure=args.exposure, smoothing=args.smoothing, fill_gaps=args.fill_gaps,
                fov_deg=args.fov, region=[float(v) for v in args.region.split(",")] if args.region else [],
                mano_dir=args.mano, device=args.device)
