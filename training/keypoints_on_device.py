"""Train the keypoint network with its whole training set in the device's memory (a GPU run).

``python -m training train`` reads PNGs and crops them in data-loader processes: right for a 2-core CPU, where
the network is the bottleneck, but a GPU then waits for the CPU. Here the frames of one or more frame packs
(``training.frame_pack``) are decoded once into device memory, and every batch is cut, augmented and scored
there: the crop box jittered in scale and position and turned in the image plane (the same map as
``inference.crop.crop_affine``, sampled like ``cv2.warpAffine``), motion streaks along a random direction
on some sharp frames, colour gains, brightness, contrast, grey frames and sensor noise. The losses are the
keypoint network's own (``training.keypoint_losses``); the run is bounded by wall-clock minutes, with the
learning rate warmed up and then cosine-decayed over them, and the checkpoint is the project's format with
this run's settings in its metadata.

    python -m training.keypoints_on_device --pack A.npz [B.npz ...] --val V.npz --minutes 6 --out runs/kp
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from inference.crop import IMAGENET_MEAN, IMAGENET_STD
from inference.models.keypoints import STRIDE, KeypointNet, KeypointNetConfig
from inference.models.output import save_checkpoint

from .frame_pack import FramePack, load_pack
from .keypoint_losses import KeypointWeights, keypoint_losses_from_targets


@dataclass
class DeviceAugment:
    """Per-sample draws; ``DeviceAugment.none()`` gives the plain crop (validation)."""

    crop_scale: float = 1.3  # crop side / the hand's extent over the exposure (as training.data.CropSpec)
    scale: float = 0.25  # crop side x U[1 - s, 1 + s]
    shift: float = 0.15  # crop centre moved by U[-s, s] x side
    rotate_deg: float = 90.0  # in-plane rotation U[-r, r]
    gain: float = 0.2  # per-channel gain U[1 - g, 1 + g]
    brightness: float = 0.3  # U[1 - b, 1 + b]
    contrast: float = 0.3  # about the crop's mean, U[1 - c, 1 + c]
    grey: float = 0.1  # probability of a grey frame
    noise: float = 0.03  # Gaussian noise sigma U[0, n] (of 1.0 white)
    streak: float = 0.3  # probability that a sharp frame gets a motion streak ...
    streak_px: float = 10.0  # ... of length U[0, l] crop pixels

    @staticmethod
    def none() -> "DeviceAugment":
        return DeviceAugment(scale=0.0, shift=0.0, rotate_deg=0.0, gain=0.0, brightness=0.0, contrast=0.0,
                             grey=0.0, noise=0.0, streak=0.0)


def crop_boxes(joints2d: torch.Tensor, scale: float) -> torch.Tensor:
    """(N, L, 21, 2) -> (N, 3) square (x0, y0, side) boxes, ``scale`` times each frame's extent over all its
    times (``inference.crop.crop_box`` for many frames at once)."""
    pts = joints2d.flatten(1, 2)
    lo, hi = pts.min(1).values, pts.max(1).values
    centre, side = (lo + hi) / 2, ((hi - lo).max(1).values * scale).clamp_min(8.0)
    return torch.cat([centre - side[:, None] / 2, side[:, None]], 1)


def crop_affines(boxes: torch.Tensor, size: int, angles: torch.Tensor) -> torch.Tensor:
    """(B, 3) boxes and (B,) angles -> (B, 2, 3) maps from image to crop pixels, as ``crop_affine`` (no mirror)."""
    x0, y0, side = boxes.unbind(1)
    s = size / side
    c, n, h = torch.cos(angles), torch.sin(angles), size / 2
    # rot @ scale, written out: scale maps p to s * (p - (x0, y0)); rot turns about the crop centre
    a = torch.stack([c * s, -n * s, n * s, c * s], 1).reshape(-1, 2, 2)
    t = -(a @ torch.stack([x0, y0], 1)[..., None])[..., 0] + torch.stack([h - c * h + n * h, h - n * h - c * h], 1)
    return torch.cat([a, t[..., None]], 2)


def apply_affines(points: torch.Tensor, affines: torch.Tensor) -> torch.Tensor:
    """(B, J, 2) points through (B, 2, 3) maps."""
    return points @ affines[:, :, :2].transpose(1, 2) + affines[:, None, :, 2]


def sample_crops(images: torch.Tensor, index: torch.Tensor, affines: torch.Tensor, size: int,
                 streaks: Optional[torch.Tensor] = None, taps: int = 7) -> torch.Tensor:
    """Crops (B, 3, size, size) in [0, 1] of uint8 frames ``images`` (N, H, W, 3) at ``index``: crop pixel
    (x, y) takes the bilinear value at the image point the inverse of its affine sends it to (pixel centres
    at integer coordinates, zero outside: ``cv2.warpAffine`` with a constant border). ``streaks`` (B, 2), in
    image pixels: each crop is the mean of ``taps`` samples along that segment (a motion streak)."""
    frames = images[index].permute(0, 3, 1, 2).float() / 255.0  # (B, 3, H, W)
    b, _, h, w = frames.shape
    full = torch.cat([affines, affines.new_tensor([0.0, 0.0, 1.0]).expand(b, 1, 3)], 1)
    inv = torch.linalg.inv(full)[:, :2]  # crop -> image
    ys, xs = torch.meshgrid(torch.arange(size, device=images.device, dtype=affines.dtype),
                            torch.arange(size, device=images.device, dtype=affines.dtype), indexing="ij")
    grid = torch.stack([xs, ys], -1).reshape(1, -1, 2)  # (1, S*S, 2)
    src = grid @ inv[:, :, :2].transpose(1, 2) + inv[:, None, :, 2]  # (B, S*S, 2) image pixels
    to_unit = src.new_tensor([2.0 / w, 2.0 / h])  # pixel centre u -> (2u + 1) / w - 1 (align_corners=False)
    offsets = [0.0] if streaks is None else torch.linspace(-0.5, 0.5, taps).tolist()
    out = 0
    for t in offsets:
        moved = src if streaks is None else src + t * streaks[:, None]
        unit = (moved * to_unit + to_unit / 2 - 1).reshape(b, size, size, 2)
        out = out + F.grid_sample(frames, unit.to(frames.dtype), mode="bilinear", padding_mode="zeros",
                                  align_corners=False)
    return out / len(offsets)


def colour_jitter(crops: torch.Tensor, aug: DeviceAugment, gen: torch.Generator) -> torch.Tensor:
    """Photometric draws per crop, on (B, 3, S, S) in [0, 1]."""
    b, dev = len(crops), crops.device

    def u(*shape, r):
        return 1 + (torch.rand(*shape, device=dev, generator=gen) * 2 - 1) * r

    x = crops * u(b, 3, 1, 1, r=aug.gain) * u(b, 1, 1, 1, r=aug.brightness)
    mean = x.mean((1, 2, 3), keepdim=True)
    x = (x - mean) * u(b, 1, 1, 1, r=aug.contrast) + mean
    grey = torch.rand(b, 1, 1, 1, device=dev, generator=gen) < aug.grey
    x = torch.where(grey, x.mean(1, keepdim=True).expand_as(x), x)
    sigma = torch.rand(b, 1, 1, 1, device=dev, generator=gen) * aug.noise
    x = x + torch.randn(x.shape, device=dev, generator=gen) * sigma
    return x.clamp(0.0, 1.0)


class DeviceFrames:
    """A pack's frames and labels in device memory, and batches cut from them."""

    def __init__(self, packs: Sequence[FramePack], size: int, device: torch.device):
        self.size, self.device = size, device
        stacks = [np.stack(list(p.images())) for p in packs]
        h, w = max(s.shape[1] for s in stacks), max(s.shape[2] for s in stacks)
        # packs of other image sizes: padded below and to the right (black, as outside an image), so every
        # pack's pixel coordinates stay its own
        self.images = torch.from_numpy(np.concatenate([np.pad(s, ((0, 0), (0, h - s.shape[1]), (0, w - s.shape[2]),
                                                                  (0, 0))) for s in stacks])).to(device)
        cat = lambda key: torch.from_numpy(np.concatenate([getattr(p, key) for p in packs])).to(device)  # noqa: E731
        self.joints2d = cat("joints2d")  # (N, 3, 21, 2)
        self.joints3d = cat("joints3d")  # (N, 21, 3)
        self.sharp = cat("sharp")

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, index: torch.Tensor, aug: DeviceAugment, gen: torch.Generator) -> Dict[str, torch.Tensor]:
        """Normalised crops (B, 3, S, S), the middle time's joints in crop pixels (B, 21, 2) and their depths
        relative to the wrist (B, 21), metres."""
        dev, b = self.device, len(index)

        def u(*shape):
            return torch.rand(*shape, device=dev, generator=gen) * 2 - 1

        boxes = crop_boxes(self.joints2d[index], aug.crop_scale)
        side = boxes[:, 2] * (1 + u(b) * aug.scale)
        centre = boxes[:, :2] + boxes[:, 2:] / 2 + u(b, 2) * aug.shift * boxes[:, 2:]
        boxes = torch.cat([centre - side[:, None] / 2, side[:, None]], 1)
        angles = u(b) * math.radians(aug.rotate_deg)
        affines = crop_affines(boxes, self.size, angles)
        streaks = None
        if aug.streak > 0:
            on = self.sharp[index] & (torch.rand(b, device=dev, generator=gen) < aug.streak)
            direction = torch.rand(b, device=dev, generator=gen) * (2 * math.pi)
            length = torch.rand(b, device=dev, generator=gen) * aug.streak_px * on * side / self.size
            streaks = torch.stack([torch.cos(direction), torch.sin(direction)], 1) * length[:, None]
        crops = sample_crops(self.images, index, affines, self.size, streaks)
        crops = colour_jitter(crops, aug, gen)
        mean = crops.new_tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)
        std = crops.new_tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
        joints = self.joints3d[index]
        return {"image": (crops - mean) / std, "points": apply_affines(self.joints2d[index, 1], affines),
                "depths": joints[..., 2] - joints[:, :1, 2], "side_px": side}


@dataclass
class RunSettings:
    minutes: float = 6.0
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: float = 0.03  # share of the run
    precision: str = "bf16"  # bf16 autocast on CUDA; fp32 elsewhere
    seed: int = 7
    log_seconds: float = 20.0
    checkpoint_seconds: float = 60.0
    max_steps: int = 0  # 0: bounded by minutes only (tests bound it by steps)


@torch.no_grad()
def score(model: KeypointNet, frames: DeviceFrames, batch_size: int = 256) -> Dict[str, float]:
    """Mean 2D error on plain crops (crop pixels, and image pixels through each crop's scale), and mean depth
    error relative to the wrist (mm)."""
    was = model.training
    model.eval()
    gen = torch.Generator(device=frames.device).manual_seed(0)
    crop_px, image_px, depth = [], [], []
    for start in range(0, len(frames), batch_size):
        index = torch.arange(start, min(start + batch_size, len(frames)), device=frames.device)
        batch = frames.batch(index, DeviceAugment.none(), gen)
        pred = model(batch["image"])
        err = (pred.keypoints.float() - batch["points"]).norm(dim=-1)  # (B, 21)
        crop_px.append(err.mean(1))
        image_px.append(err.mean(1) * batch["side_px"] / frames.size)
        depth.append((pred.depth.float() - batch["depths"])[:, 1:].abs().mean(1) * 1000)
    model.train(was)
    return {k: float(torch.cat(v).mean()) for k, v in (("val_crop_px", crop_px), ("val_image_px", image_px),
                                                      ("val_depth_mm", depth))}


def score_checkpoint(checkpoint: str | Path, pack: str | Path, device: Optional[str] = None) -> Dict[str, float]:
    """:func:`score` of a saved keypoint checkpoint on a frame pack (a baseline for a run's own scores)."""
    from inference.models.output import load_model

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = load_model(checkpoint, expect="keypoints").float().to(dev)
    frames = DeviceFrames([load_pack(pack)], model.config.image_size, dev)
    with torch.no_grad():
        return score(model, frames)


def lr_at(progress: float, settings: RunSettings) -> float:
    """Linear warm-up, then cosine decay to zero over the run (``progress`` in [0, 1])."""
    if progress < settings.warmup:
        return settings.lr * progress / settings.warmup
    p = (progress - settings.warmup) / max(1e-9, 1 - settings.warmup)
    return settings.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))


def train_on_device(packs: Sequence[str], out: str | Path, model_config: KeypointNetConfig,
                    settings: RunSettings = RunSettings(), aug: DeviceAugment = DeviceAugment(),
                    val: str = "", init: str = "", start: str = "", device: Optional[str] = None,
                    say=print) -> Dict[str, float]:
    """Train; writes OUT/model.pt (every ``checkpoint_seconds`` and at the end), OUT/best.pt (the lowest 2D
    error on ``val`` so far) and OUT/log.csv; returns the last losses and scores, and the run's speed."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(settings.seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    frames = DeviceFrames([load_pack(p) for p in packs], model_config.image_size, dev)
    val_frames = DeviceFrames([load_pack(val)], model_config.image_size, dev) if val else None
    say(f"[keypoints] {len(frames)} training frames on {dev} ({time.perf_counter() - started:.1f} s to decode)")
    model = KeypointNet(model_config).to(dev)
    if init:
        from .trainer import backbone_from

        backbone_from(model, init)
    if start:  # fine-tuning: every weight of a keypoint checkpoint of this config
        from .trainer import start_from

        start_from(model, start)
    if dev.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True  # one input shape all run long
    optim = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    weights = KeypointWeights()
    gen = torch.Generator(device=dev).manual_seed(settings.seed)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" and settings.precision == "bf16" \
        else torch.autocast(dev.type, enabled=False)
    budget = settings.minutes * 60.0
    meta = {"trainer": "training.keypoints_on_device", "packs": [str(p) for p in packs], "val": val, "init": init,
            "start": start,
            "run": asdict(settings), "augment": asdict(aug), "device": torch.cuda.get_device_name(dev)
            if dev.type == "cuda" else "cpu"}
    log = open(out / "log.csv", "w", newline="")
    writer = csv.writer(log)
    writer.writerow(["step", "seconds", "lr", "images_per_s", "total", "coords", "heatmap", "depth", "scale",
                     "val_crop_px", "val_image_px", "val_depth_mm"])
    step, seen, t0 = 0, 0, time.perf_counter()
    last_log = last_ckpt = t0
    latest: Dict[str, float] = {}
    model.train()

    best = [math.inf]

    def save(final: bool) -> None:
        scores = score(model, val_frames) if val_frames is not None else {}
        info = dict(steps=step, seconds=round(time.perf_counter() - t0, 1), final=final, **meta, **scores)
        save_checkpoint(model, out / "model.pt", half=True, **info)
        if scores and scores["val_crop_px"] < best[0]:  # the run's best on the held-out pack, in case it overfits
            best[0] = scores["val_crop_px"]
            save_checkpoint(model, out / "best.pt", half=True, **info)
        latest.update(scores)

    while True:
        elapsed = time.perf_counter() - t0
        if elapsed >= budget or (settings.max_steps and step >= settings.max_steps):
            break
        lr = lr_at(elapsed / budget if not settings.max_steps else step / settings.max_steps, settings)
        for group in optim.param_groups:
            group["lr"] = lr
        index = torch.randint(len(frames), (settings.batch_size,), device=dev, generator=gen)
        batch = frames.batch(index, aug, gen)
        images = batch["image"].contiguous(memory_format=torch.channels_last) if dev.type == "cuda" else batch["image"]
        with autocast:
            pred = model(images)
        losses = keypoint_losses_from_targets(pred, batch["points"], batch["depths"], weights,
                                              model_config.image_size, STRIDE)
        total = sum(losses.values())
        optim.zero_grad(set_to_none=True)
        total.backward()
        optim.step()
        step += 1
        seen += len(index)
        now = time.perf_counter()
        if now - last_ckpt >= settings.checkpoint_seconds:
            save(final=False)
            last_ckpt = time.perf_counter()
        if now - last_log >= settings.log_seconds:
            latest.update({k: float(v.detach()) for k, v in losses.items()}, total=float(total.detach()))
            rate = seen / (now - t0)
            writer.writerow([step, round(now - t0, 1), f"{lr:.3g}", round(rate)] +
                            [f"{latest.get(k, float('nan')):.5g}" for k in ("total", "coords", "heatmap", "depth",
                                                                          "scale", "val_crop_px", "val_image_px",
                                                                          "val_depth_mm")])
            log.flush()
            say(f"[keypoints] step {step} {now - t0:.0f} s {rate:.0f} img/s total {float(total.detach()):.4f} "
                f"val {latest.get('val_crop_px', float('nan')):.2f} crop px")
            last_log = now
    save(final=True)
    if step:
        latest.update({k: float(v.detach()) for k, v in losses.items()}, total=float(total.detach()))
    latest.update(steps=step, seconds=round(time.perf_counter() - t0, 1), images_per_s=seen / max(1e-9,
                  time.perf_counter() - t0))
    if dev.type == "cuda":
        latest["max_memory_gb"] = torch.cuda.max_memory_allocated(dev) / 1e9
    writer.writerow([step, round(time.perf_counter() - t0, 1), 0, round(latest["images_per_s"])] +
                    [f"{latest.get(k, float('nan')):.5g}" for k in ("total", "coords", "heatmap", "depth", "scale",
                                                                  "val_crop_px", "val_image_px", "val_depth_mm")])
    log.close()
    return latest


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.keypoints_on_device", description=__doc__.split("\n\n")[0])
    ap.add_argument("--pack", nargs="+", default=[], help="training frame packs (training.frame_pack)")
    ap.add_argument("--val", default="", help="a frame pack scored at each checkpoint")
    ap.add_argument("--out", default="", help="folder for model.pt, best.pt and log.csv")
    ap.add_argument("--minutes", type=float, default=RunSettings.minutes)
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=RunSettings.batch_size)
    ap.add_argument("--lr", type=float, default=RunSettings.lr)
    ap.add_argument("--checkpoint-seconds", type=float, default=RunSettings.checkpoint_seconds)
    ap.add_argument("--width", type=int, default=KeypointNetConfig.backbone_width)
    ap.add_argument("--depth", type=int, default=KeypointNetConfig.backbone_depth)
    ap.add_argument("--decoder", type=int, default=KeypointNetConfig.decoder_channels)
    ap.add_argument("--init", default="", help="a checkpoint whose backbone (same depth and width) starts this one")
    ap.add_argument("--start", default="", help="a keypoint checkpoint of the same config whose weights start this run")
    ap.add_argument("--save-init", default="", metavar="FILE",
                    help="only write a keypoint checkpoint holding --init's backbone (a small file to carry)")
    ap.add_argument("--score", default="", metavar="CKPT",
                    help="only score the keypoint checkpoint CKPT on --val (as a run scores its checkpoints)")
    ap.add_argument("--device", default=None)
    args = ap.parse_args(argv)
    if args.score:
        if not args.val:
            ap.error("--score needs --val")
        print(json.dumps(score_checkpoint(args.score, args.val, args.device)))
        return 0
    cfg = KeypointNetConfig(backbone_depth=args.depth, backbone_width=args.width, decoder_channels=args.decoder)
    if args.save_init:
        from .trainer import backbone_from

        model = KeypointNet(cfg)
        backbone_from(model, args.init)
        save_checkpoint(model, args.save_init, half=True, backbone_of=args.init)
        return 0
    if not args.pack or not args.out:
        ap.error("training needs --pack and --out")
    settings = RunSettings(minutes=args.minutes, batch_size=args.batch_size, lr=args.lr, max_steps=args.max_steps,
                           checkpoint_seconds=args.checkpoint_seconds)
    result = train_on_device(args.pack, args.out, cfg, settings, val=args.val, init=args.init, start=args.start,
                             device=args.device)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
