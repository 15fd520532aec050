"""One shard of a synthetic dataset: what every rendering process loads once, and how it renders a shard
(``scenes.generate`` runs shards in this process, in worker processes or as Ray tasks: ``scenes.ray_render``).
"""
from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

import numpy as np

from addon.common.hand_model import find_hand_model
from scenes.backgrounds import BackgroundSource
from scenes.dataset import shard_name
from scenes.pose_bank import PoseBank
from scenes.pose_flow import FlowParams


class GenerateError(ValueError):
    """Bad arguments or inputs, reported before any rendering starts."""


def load_inputs(args: argparse.Namespace):
    """Backgrounds, both hand models and the pose bank: what every rendering process loads once."""
    from scenes.renderer import load_image_linear

    backgrounds = BackgroundSource.from_folder(args.backgrounds, loader=load_image_linear, exclude=args.exclude_photos)
    models = {side: find_hand_model(side, args.mano, args.hand) for side in ("right", "left")}
    return backgrounds, models, PoseBank.load(args.pose_bank, models["right"])


def render_settings(args):
    from scenes.renderer import RenderSettings

    # worker processes share the cores instead of each spawning a thread per core
    threads = max(1, (os.cpu_count() or 1) // args.worker_count) if args.worker_count > 1 else 0
    return RenderSettings(size=args.size, fov_deg=args.fov, engine=args.engine, samples=args.samples,
                          device=args.device.upper(), threads=threads)


def synth_settings(args):
    from scenes.synthesize import SynthSettings

    return SynthSettings(frames=args.frames, blur=args.blur, subframes=args.subframes, exposure=args.exposure,
                         blur_method=args.blur_method, blur_samples=args.blur_samples, forearm=args.forearm,
                         occluders=args.occluders, second_hand=args.second_hand,
                         flow=FlowParams(alpha=args.alpha))


def render_shard(renderer, bank, models, backgrounds, args, shard: int, out: Path) -> None:
    """Render one shard into ``shard_XXXXXX.partial`` and rename it when complete."""
    from scenes.synthesize import synthesize_sequence

    final = out / shard_name(shard)
    partial = out / (shard_name(shard) + ".partial")
    shutil.rmtree(partial, ignore_errors=True)  # an interrupted attempt starts over
    partial.mkdir(parents=True)
    first = shard * args.shard_size
    labels = []
    for index in range(first, min(first + args.shard_size, args.sequences)):
        labels.append(synthesize_sequence(renderer, bank, models, backgrounds, synth_settings(args), args.seed,
                                          index, partial))
    merged = {k: np.concatenate([lab[k] for lab in labels]) for k in labels[0]}
    np.savez(partial / "labels.npz", **merged)
    shutil.rmtree(final, ignore_errors=True)  # a shard folder left without its labels is redone, not kept
    os.replace(partial, final)
