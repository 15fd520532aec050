"""Frame packs: the keypoint network's training frames in one small file, to carry renders to a GPU machine.

A synthetic set (``scenes.dataset``) keeps two PNGs, a mask and 778 vertices per frame, about 60 kB; the
keypoint network needs one image and its joints. A pack keeps, per frame, one JPEG (the blurred exposure or
the sharp middle-time render, drawn per frame) and the labels the keypoint network trains on, about 5 kB.
With ``crop`` it keeps a square around the hand instead of the whole render (``crop_box`` of its joints over
the exposure, ``scale`` times their extent, resampled to ``size`` pixels), with the 2D joints in that square's
pixels: larger renders of the hand, in the same few kilobytes.

Layout of ``PACK.npz`` (``numpy.savez``, no pickled objects)::

    format, version      "hand_mocap.frame_pack", 1
    jpeg (B,) uint8      every frame's JPEG file, back to back
    offsets (N+1,) int64 frame i is jpeg[offsets[i]:offsets[i + 1]]
    sharp (N,) bool      the image is a sharp render at the middle time (else a blurred exposure)
    joints2d (N, 3, 21, 2) float32  image pixels at the initial, middle and final time (a sharp image: the
                         middle time three times), MANO-21 order
    joints3d (N, 21, 3) float32     the middle time's joints, camera coordinates, metres
    visible (N, 21) bool the joint is seen at the middle time
    source (N,) int16    index into ``sources``, the set each frame came from
    sources (S,) str     the sets' folders as given
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from inference.crop import crop_affine, crop_box, crop_image

FORMAT_NAME = "hand_mocap.frame_pack"
FORMAT_VERSION = 1


class PackError(ValueError):
    """A file that is not a readable frame pack."""


@dataclass
class FramePack:
    jpeg: np.ndarray
    offsets: np.ndarray
    sharp: np.ndarray
    joints2d: np.ndarray
    joints3d: np.ndarray
    visible: np.ndarray
    source: np.ndarray
    sources: List[str]

    def __len__(self) -> int:
        return len(self.sharp)

    def image(self, i: int) -> np.ndarray:
        """Frame ``i`` as uint8 RGB (H, W, 3)."""
        data = self.jpeg[self.offsets[i]:self.offsets[i + 1]]
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
        if bgr is None:
            raise PackError(f"frame {i}: undecodable JPEG")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def images(self) -> Iterator[np.ndarray]:
        return (self.image(i) for i in range(len(self)))


def encode_frame(image: np.ndarray, times: np.ndarray, crop: Optional[Tuple[float, int]], quality: int,
                 name: str) -> Tuple[np.ndarray, np.ndarray]:
    """One frame as a pack keeps it: (its JPEG bytes, its (3, 21, 2) joints in the kept image's pixels), the
    image cropped to a square of ``crop[0]`` times the joints' extent at ``crop[1]`` pixels when ``crop``."""
    if crop is not None:
        box = crop_box(times, crop[0])
        image = crop_image(image, box, crop[1])
        affine = crop_affine(box, crop[1])
        times = times @ affine[:, :2].T + affine[:, 2]
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise PackError(f"{name}: JPEG encoding failed")
    return data.ravel(), times


def pack_frames(roots: Sequence[str], sharp_share: float = 0.6, quality: int = 90, seed: int = 0,
                every: int = 1, min_inside: int = 18, crop: Optional[Tuple[float, int]] = None) -> FramePack:
    """Every ``every``-th frame of the sets ``roots`` that shows at least ``min_inside`` of the 21 joints inside
    the image (a pose flow can carry the hand out of the frame; a joint outside it is a guess, not a reading):
    each one's sharp render with probability ``sharp_share`` (drawn from the stream (seed, set, frame), so a
    pack is reproducible), else its blurred exposure (sets without blur: their one image)."""
    from scenes.dataset import SyntheticDataset

    chunks, offsets, sharp, j2d, j3d, visible, source = [], [0], [], [], [], [], []
    for s, root in enumerate(roots):
        ds = SyntheticDataset(root)
        size = int(ds.manifest["image_size"])  # square renders
        for i in range(0, len(ds), every):
            labels = ds.labels(i)
            mid = len(labels["joints2d"]) // 2
            inside = ((labels["joints2d"][mid] >= 0) & (labels["joints2d"][mid] < size)).all(-1)
            if inside.sum() < min_inside:
                continue
            frame = ds[i]
            if "sharp" in frame:  # a blurred set: its sharp render or its exposure
                use_sharp = np.random.default_rng([seed, s, i]).random() < sharp_share
            else:  # a set without blur: its one image is sharp
                use_sharp = True
            image = frame["sharp"] if "sharp" in frame and use_sharp else frame["image"]
            times = frame["joints2d"]
            times = np.repeat(times[mid:mid + 1], 3, 0) if use_sharp or len(times) == 1 else times
            data, times = encode_frame(image, times, crop, quality, f"{root} frame {i}")
            chunks.append(data)
            offsets.append(offsets[-1] + len(data))
            sharp.append(use_sharp)
            j2d.append(times)
            j3d.append(frame["joints3d"][mid])
            visible.append(frame["visible"])
            source.append(s)
    if not sharp:
        raise PackError("no frames to pack")
    return FramePack(np.concatenate(chunks).astype(np.uint8), np.asarray(offsets, np.int64), np.asarray(sharp),
                     np.asarray(j2d, np.float32), np.asarray(j3d, np.float32), np.asarray(visible, bool),
                     np.asarray(source, np.int16), [str(r) for r in roots])


def pack_clips(truths: Sequence[str], quality: int = 90, every: int = 2, min_inside: int = 18,
               crop: Optional[Tuple[float, int]] = None) -> FramePack:
    """Every ``every``-th frame of rendered clips with a motion truth (``NAME_truth.npz`` beside ``NAME.mp4``, as
    ``tools/lifter_footage.py make`` writes them): the frame as the video holds it (its own exposure blur and
    compression), packed as sharp with the truth's joints at the frame's time (the truth has no sub-frame
    times), every joint marked visible (the clips carry no visibility)."""
    from addon.common.hand_model import find_hand_model
    from addon.common.motion_sequence import load_motion_sequence
    from inference.video import Footage
    from training.video_scores import project, sequence_joints

    chunks, offsets, j2d, j3d, source = [], [0], [], [], []
    for s, truth_path in enumerate(truths):
        truth_path = Path(truth_path)
        video = truth_path.with_name(truth_path.name.replace("_truth.npz", ".mp4"))
        if not video.is_file():
            raise PackError(f"{truth_path}: no clip {video.name} beside it")
        seq = load_motion_sequence(truth_path)
        joints = sequence_joints(seq, find_hand_model(seq.handedness, hand="open"))
        pixels = project(joints, seq.camera_matrix)
        for i, rgb in Footage(str(video)).frames():
            if i % every or i >= len(pixels):
                continue
            height, width = rgb.shape[:2]
            inside = ((pixels[i] >= 0) & (pixels[i] < [width, height])).all(-1)
            if inside.sum() < min_inside:
                continue
            times = np.repeat(pixels[i][None], 3, 0)
            data, times = encode_frame(rgb, times, crop, quality, f"{video} frame {i}")
            chunks.append(data)
            offsets.append(offsets[-1] + len(data))
            j2d.append(times)
            j3d.append(joints[i])
            source.append(s)
    if not j2d:
        raise PackError("no frames to pack")
    n = len(j2d)
    return FramePack(np.concatenate(chunks).astype(np.uint8), np.asarray(offsets, np.int64), np.ones(n, bool),
                     np.asarray(j2d, np.float32), np.asarray(j3d, np.float32), np.ones((n, 21), bool),
                     np.asarray(source, np.int16), [str(t) for t in truths])


def save_pack(pack: FramePack, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial.npz")
    np.savez(tmp, format=np.array(FORMAT_NAME), version=np.array(FORMAT_VERSION), jpeg=pack.jpeg,
             offsets=pack.offsets, sharp=pack.sharp, joints2d=pack.joints2d, joints3d=pack.joints3d,
             visible=pack.visible, source=pack.source, sources=np.array(pack.sources, dtype=str))
    tmp.replace(path)
    return path


def load_pack(path: str | Path) -> FramePack:
    path = Path(path)
    if not path.is_file():
        raise PackError(f"{path}: no such frame pack")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise PackError(f"{path}: not a readable frame pack ({exc})") from None
    if str(arrays.get("format", "")) != FORMAT_NAME:
        raise PackError(f"{path}: not a frame pack")
    if int(arrays["version"]) > FORMAT_VERSION:
        raise PackError(f"{path}: version {int(arrays['version'])} is newer than this reader ({FORMAT_VERSION})")
    n = len(arrays["sharp"])
    if len(arrays["offsets"]) != n + 1 or arrays["offsets"][-1] != len(arrays["jpeg"]) or \
            arrays["joints2d"].shape != (n, 3, 21, 2) or arrays["joints3d"].shape != (n, 21, 3):
        raise PackError(f"{path}: arrays of inconsistent sizes")
    return FramePack(arrays["jpeg"], arrays["offsets"], arrays["sharp"], arrays["joints2d"], arrays["joints3d"],
                     arrays["visible"], arrays["source"], [str(s) for s in arrays["sources"]])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.frame_pack", description=__doc__.split("\n\n")[0])
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", nargs="+", help="synthetic set folders")
    source.add_argument("--clips", nargs="+", help="rendered clips' truth files (NAME_truth.npz beside NAME.mp4)")
    ap.add_argument("--out", required=True, help="the pack (.npz)")
    ap.add_argument("--sharp-share", type=float, default=0.6, help="share of blurred sets' frames packed sharp")
    ap.add_argument("--quality", type=int, default=90, help="JPEG quality")
    ap.add_argument("--every", type=int, default=1, help="pack every n-th frame")
    ap.add_argument("--min-inside", type=int, default=18, help="joints (of 21) a packed frame shows in its image")
    ap.add_argument("--crop", default="", metavar="SCALE:SIZE",
                    help="keep a square of SCALE times the hand's extent, at SIZE pixels (default: the whole render)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        crop = (float(args.crop.split(":")[0]), int(args.crop.split(":")[1])) if args.crop else None
        if args.clips:
            pack = pack_clips(args.clips, args.quality, args.every, args.min_inside, crop)
        else:
            pack = pack_frames(args.data, args.sharp_share, args.quality, args.seed, args.every, args.min_inside, crop)
    except Exception as exc:  # noqa: BLE001 - a missing or broken set: one line, not a traceback
        print(f"frame_pack: error: {exc}", file=sys.stderr)
        return 1
    path = save_pack(pack, args.out)
    print(f"{len(pack)} frames ({pack.sharp.mean():.0%} sharp) from {len(args.clips or args.data)} set(s): {path}, "
          f"{path.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
