"""Generate a synthetic hand dataset (SeqHAND pose flows, BlurHand blur) with Blender.

    .venv/bin/python -m scenes.generate --out DIR --sequences N --frames F --size S [--blur] [--occluders]
                                        [--blur-method motion|average] [--second-hand] [--seed K]
                                        [--workers W | --ray [ADDRESS]] [--backgrounds DIR]

Blender runs as the ``bpy`` module of the project's environment.

Deterministic for a seed (sequence i always uses the random stream (seed, i), whichever worker or Ray task
renders it), resumable (finished shards are kept and skipped), parallel over worker processes or over a Ray
cluster (``scenes/ray_render.py``).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import List, Optional

from addon.common.progress import Progress
from scenes.backgrounds import BackgroundError
from scenes.dataset import FORMAT_NAME, FORMAT_VERSION, MANIFEST, shard_name, write_json_atomic
from scenes.pose_bank import PoseBankError
from scenes.pose_flow import FlowParams
from scenes.renderer import NoGPUError
from scenes.shards import GenerateError, load_inputs, render_settings, render_shard

# Settings that change what is rendered; a resumed run must use the same ones.
CONTENT_KEYS = ("sequences", "frames", "size", "blur", "subframes", "exposure", "occluders", "second_hand",
                "seed", "engine", "samples", "fov", "shard_size", "pose_bank", "backgrounds", "mano", "alpha",
                "blur_method", "blur_samples", "forearm", "hand", "exclude_photos")
LEGACY_SETTINGS = {"blur_method": "average", "blur_samples": 0, "forearm": False, "hand": "open",
                   "exclude_photos": []}  # what manifests written before a key existed meant


def script_args(argv: Optional[List[str]] = None) -> List[str]:
    argv = list(sys.argv[1:] if argv is None else argv)
    return argv[argv.index("--") + 1 :] if "--" in argv else argv


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m scenes.generate", description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="dataset folder (created; resumed if it exists)")
    ap.add_argument("--sequences", type=int, default=100)
    ap.add_argument("--frames", type=int, default=10, help="frames per sequence (SeqHAND: 10)")
    ap.add_argument("--size", type=int, default=256, help="image side in pixels")
    ap.add_argument("--blur", action="store_true", help="BlurHand-style motion blur over --exposure frames")
    ap.add_argument("--blur-method", choices=["motion", "average"], default="motion",
                    help="motion (default): one Cycles render with motion blur; average: --subframes renders averaged")
    ap.add_argument("--blur-samples", type=int, default=0,
                    help="Cycles samples of a one-pass blurred frame (0: --samples; more: less noise, more time)")
    ap.add_argument("--subframes", type=int, default=33,
                    help="instants per blurred frame (odd; BlurHand: 33): renders averaged, or keys blurred over")
    ap.add_argument("--exposure", type=float, default=4.0, help="frames one exposure spans (BlurHand: 4)")
    ap.add_argument("--occluders", action="store_true", help="objects passing in front of the hand")
    ap.add_argument("--second-hand", action="store_true", help="a second (left) hand in the scene")
    ap.add_argument("--forearm", action="store_true",
                    help="MakeHuman's forearm behind each hand, with a random sleeve on most sequences")
    ap.add_argument("--hand", choices=["open", "makehuman"], default="open",
                    help="the built-in hand to render when --mano is not given")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1, help="parallel Blender processes")
    ap.add_argument("--backgrounds", default=None, help="folder of background images (default: built-in textures)")
    ap.add_argument("--exclude-photos", default="", type=lambda v: sorted(filter(None, v.split(","))),
                    help="built-in background photos to leave out, by name (comma-separated; e.g. the ones "
                         "evaluation footage shows)")
    ap.add_argument("--pose-bank", default="prior", help="'prior', 'prior:N', or a FreiHAND/InterHand .json, .npy/.npz")
    ap.add_argument("--mano", default=None, help="folder with official MANO files (default: the open hand)")
    ap.add_argument("--engine", choices=["cycles", "eevee", "workbench"], default="cycles")
    ap.add_argument("--samples", type=int, default=16, help="Cycles samples per (sub-)frame")
    ap.add_argument("--device", choices=["cpu", "gpu"], default="cpu", help="Cycles device")
    ap.add_argument("--fov", type=float, default=40.0, help="horizontal field of view, degrees")
    ap.add_argument("--alpha", type=float, default=FlowParams.alpha, help="pose-flow update size (SeqHAND alpha)")
    ap.add_argument("--shard-size", type=int, default=10, help="sequences per shard")
    ap.add_argument("--ray", nargs="?", const="local", default="", metavar="ADDRESS",
                    help="render shards as Ray tasks: on a local Ray instance (no ADDRESS), the running cluster "
                         "(auto) or the cluster at ADDRESS; the files are the same as a local run's")
    ap.add_argument("--ray-cpus", type=int, default=1, help="CPUs (render threads) per Ray task")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    ap.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--worker-count", type=int, default=1, help=argparse.SUPPRESS)
    return ap


def content_settings(args: argparse.Namespace) -> dict:
    out = {k: getattr(args, k) for k in CONTENT_KEYS}
    for k in ("backgrounds", "mano"):
        out[k] = str(Path(out[k]).resolve()) if out[k] else None
    return out


def validate(args: argparse.Namespace):
    """Every check that can fail, before a single frame is rendered."""
    for name, low in (("sequences", 1), ("frames", 1), ("size", 16), ("workers", 1), ("shard_size", 1),
                      ("samples", 1), ("ray_cpus", 1)):
        if getattr(args, name) < low:
            raise GenerateError(f"--{name.replace('_', '-')} must be at least {low}")
    if args.blur and (args.subframes < 3 or args.subframes % 2 == 0):
        raise GenerateError("--subframes must be odd and at least 3")
    if args.ray and importlib.util.find_spec("ray") is None:
        raise GenerateError("--ray needs Ray: pip install ray (make setup installs it)")
    if args.blur and args.blur_method == "motion" and args.engine != "cycles":
        raise GenerateError("--blur-method motion renders with Cycles' motion blur: use --engine cycles, or "
                            "--blur-method average")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"  # one per process: parallel workers check at once
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise GenerateError(f"cannot write to {out}: {exc.strerror or exc}") from None
    backgrounds, models, bank = load_inputs(args)
    settings = content_settings(args)
    manifest_path = out / MANIFEST
    if manifest_path.is_file():
        old = json.loads(manifest_path.read_text()).get("settings", {})
        changed = [k for k in CONTENT_KEYS if old.get(k, LEGACY_SETTINGS.get(k)) != settings.get(k)
                   and (k not in ("blur_method", "blur_samples") or settings["blur"])]  # only with blur
        if changed:
            raise GenerateError(f"{out} holds a dataset made with other settings ({', '.join(changed)}); "
                                "use a new folder, or the same settings to resume")
    return backgrounds, models, bank


def shards_to_do(args, out: Path) -> List[int]:
    total = math.ceil(args.sequences / args.shard_size)
    return [s for s in range(total) if not (out / shard_name(s) / "labels.npz").is_file()]


def write_manifest(args, out: Path, started: float) -> dict:
    from scenes.synthesize import SynthSettings

    total = math.ceil(args.sequences / args.shard_size)
    done = total - len(shards_to_do(args, out))
    synth = SynthSettings(frames=args.frames, blur=args.blur, subframes=args.subframes, exposure=args.exposure)
    manifest = {
        "format": FORMAT_NAME, "version": FORMAT_VERSION, "settings": content_settings(args),
        "shards": total, "complete_shards": done, "sequences": args.sequences, "frames_per_sequence": args.frames,
        "label_times": synth.label_times().tolist(), "image_size": args.size,
        "intrinsics": render_settings(args).intrinsics.tolist(), "joint_order": "mano21", "hand": "right",
        "flow": asdict(FlowParams(alpha=args.alpha)), "render_seconds": round(time.time() - started, 1),
    }
    write_json_atomic(out / MANIFEST, manifest)
    return manifest


def run_workers(args, out: Path, todo: List[int]) -> None:
    """Start ``--workers`` processes of this script, each on every W-th shard; show the joint progress."""
    base = [a for a in script_args() if a not in ("--quiet",)]
    procs = []
    for k in range(args.workers):
        cmd = [sys.executable, "-m", "scenes.generate", *base, "--quiet", "--workers", "1",
               "--worker-index", str(k), "--worker-count", str(args.workers)]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    progress = Progress(len(todo) * args.shard_size, "sequences", enabled=not args.quiet)
    total_before = len(todo)
    while any(p.poll() is None for p in procs):
        time.sleep(0.5)
        finished = (total_before - len(shards_to_do(args, out))) * args.shard_size
        # sequences inside shards still being rendered: their frames already written
        frames = sum(1 for _ in out.glob("shard_*.partial/images/*.png"))
        progress.update(finished + frames // args.frames)
    progress.close()
    failed = [(k, p) for k, p in enumerate(procs) if p.returncode != 0]
    if failed:
        k, p = failed[0]
        reason = (p.stderr.read() or "").strip().splitlines()
        raise GenerateError(f"worker {k} failed: {reason[-1] if reason else 'exit code ' + str(p.returncode)}")


def generate(args: argparse.Namespace) -> dict:
    backgrounds, models, bank = validate(args)
    out = Path(args.out)
    started = time.time()
    if args.worker_count == 1:  # worker processes leave the manifest to the process that started them
        write_manifest(args, out, started)
    todo = shards_to_do(args, out)
    if args.worker_count > 1:
        todo = [s for s in todo if s % args.worker_count == args.worker_index]
    if args.ray and todo:
        from scenes.ray_render import run_on_ray

        progress = Progress(sum(min(args.shard_size, args.sequences - s * args.shard_size) for s in todo),
                            "sequences", enabled=not args.quiet)
        try:
            run_on_ray(args, out, todo, progress)
        finally:
            progress.close()
    elif args.workers > 1 and todo:
        run_workers(args, out, todo)
        shutil.rmtree(out / ".scratch", ignore_errors=True)
    elif todo:
        from scenes.renderer import HandRenderer

        scratch = out / ".scratch" / f"worker{args.worker_index}"  # never shared between workers
        renderer = HandRenderer(render_settings(args), scratch=scratch)
        progress = Progress(sum(min(args.shard_size, args.sequences - s * args.shard_size) for s in todo),
                            "sequences", enabled=not args.quiet)
        count = 0
        for shard in todo:
            render_shard(renderer, bank, models, backgrounds, args, shard, out)
            count += min(args.shard_size, args.sequences - shard * args.shard_size)
            progress.update(count)
        progress.close()
        shutil.rmtree(scratch, ignore_errors=True)
        if not any((out / ".scratch").iterdir()):  # other workers' scratch folders may still be in use
            (out / ".scratch").rmdir()
    return write_manifest(args, out, started) if args.worker_count == 1 else {}


def main(argv: Optional[List[str]] = None) -> int:
    try:
        args = parser().parse_args(script_args(argv))
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        manifest = generate(args)
    except (GenerateError, BackgroundError, PoseBankError, NoGPUError, ValueError, OSError) as exc:
        print(f"generate: error: {exc}", file=sys.stderr)
        return 1
    if manifest and not args.quiet:
        print(f"generate: {manifest['complete_shards']}/{manifest['shards']} shards in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
