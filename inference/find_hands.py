"""The first pass: hands found in every frame of the range, and a few crops of each kept for the side
decision. Decodes one frame at a time, so memory does not grow with the footage's length."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from addon.common.job_options import JobOptions

from .crop import crop_image
from .detect import Detection, make_detector, source_counts
from .job_context import JobContext
from .video import Footage, FootageError

SIDE_SAMPLE_FRAMES = 24  # frames whose crops are kept for the side decision


@dataclass
class SideCrop:
    detection: Detection
    crop: np.ndarray  # the hand network's crop, read as a right hand
    mirrored: np.ndarray  # the same crop mirrored, read as a left hand


@dataclass
class FoundHands:
    start: int  # the footage frame of ``frames[0]``
    frames: List[List[Detection]]  # per footage frame of the range
    side_crops: Dict[int, List[SideCrop]] = field(default_factory=dict)  # frame -> its hands' crops

    @property
    def end(self) -> int:
        return self.start + len(self.frames) - 1


def find_hands(footage: Footage, start: int, end: int, options: JobOptions, region: Optional[np.ndarray],
               crop_size: int, ctx: JobContext) -> FoundHands:
    """The detector over frames ``start..end``; a footage that ends early is cut (with a warning) and one
    that gives no frame at all is a :class:`FootageError`."""
    total = end - start + 1
    detector = make_detector(region, side=options.hands[0], search=options.search, scales=options.search_scales,
                             max_hands=2 if len(options.hands) != 1 else 1)
    found = FoundHands(start, [])
    step = max(1, total // SIDE_SAMPLE_FRAMES)
    try:
        for n, (index, rgb) in enumerate(ctx.timer.iterate("decode", footage.frames(start, end))):
            with ctx.timer("detect"):
                hands = detector(rgb)
            found.frames.append(hands)
            if n % step == 0 and hands and hands[0].has_keypoints:
                found.side_crops[index] = [SideCrop(d, crop_image(rgb, d.box, crop_size),
                                                    crop_image(rgb, d.box, crop_size, mirror=True)) for d in hands]
            if len(found.side_crops) > 2 * SIDE_SAMPLE_FRAMES:  # a header that under-reports: thin them out
                found.side_crops = dict(list(found.side_crops.items())[::2])
            if n % 5 == 0 or n == total - 1:
                ctx.progress("detect", n + 1, total)
    finally:
        detector.close()
    if footage.ended_early_at is not None:
        if not found.frames:
            raise FootageError(f"{footage.info.path}: no frame could be decoded from frame {start} on, although the "
                               f"header gives {footage.info.frame_count} frames (a cut or damaged file?)")
        ctx.log(f"the footage ended at frame {found.end}, before the {footage.info.frame_count} frames its header "
                f"gives (a cut or damaged file?); frames after {found.end} get no key", "warning")
    if options.search and region is None:
        counts = source_counts(found.frames)
        ctx.log(f"hands found in {sum(bool(f) for f in found.frames)} of {len(found.frames)} frames: by the palm "
                f"detector in {counts['palm']}, by tracking a lost hand's crop in {counts['track']}, by the tiled "
                f"search in {counts['search']}")
    return found
