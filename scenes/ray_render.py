"""Render a dataset's shards as Ray tasks, on a running cluster or on a local Ray instance.

Each task renders one shard, sequences ``i`` from the random streams ``(seed, i)``, exactly as a local run
does, into a temporary folder on whichever node runs it, and returns the shard's files as bytes. The
driver writes them under ``shard_X.partial`` and renames the folder when it is complete. The nodes need no
shared storage, and the dataset is byte-identical to a local run with the same seed. A resumed run skips
the shards that are already finished.

Every node needs this checkout with its environment (``make setup``, which installs the project); ``--backgrounds``
and ``--mano`` folders must exist on every node as well. Start a cluster with::

    ray start --head --port 6379                    # on the head node
    ray start --address HEAD_IP:6379                # on each other node
    .venv/bin/python -m scenes.generate --out data/big --sequences 100000 --ray auto ...
"""
from __future__ import annotations

import argparse
import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Dict, List

from scenes.dataset import shard_name
from scenes.shards import GenerateError

_LOADED: Dict[tuple, tuple] = {}  # per Ray worker process: the inputs and renderer, loaded once


def render_shard_files(settings: dict, shard: int, cpus: int) -> Dict[str, bytes]:
    """Render one shard on this node; its files (path inside the shard -> bytes)."""
    from scenes.renderer import HandRenderer
    from scenes.shards import load_inputs, render_settings, render_shard

    args = argparse.Namespace(**settings)
    key = tuple(sorted((k, str(v)) for k, v in settings.items()))
    if key not in _LOADED:
        render_settings = render_settings(args)
        render_settings.threads = cpus
        scratch = Path(tempfile.mkdtemp(prefix="hand-mocap-ray-"))
        atexit.register(shutil.rmtree, scratch, True)  # best effort: Ray may kill idle workers outright
        _LOADED[key] = (*load_inputs(args), HandRenderer(render_settings, scratch=scratch / "scratch"))
    backgrounds, models, bank, renderer = _LOADED[key]
    with tempfile.TemporaryDirectory(prefix="hand-mocap-shard-") as tmp:
        render_shard(renderer, bank, models, backgrounds, args, shard, Path(tmp))
        folder = Path(tmp) / shard_name(shard)
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_shard(out: Path, name: str, files: Dict[str, bytes]) -> None:
    """Write a shard's files under ``name.partial`` and rename it when complete (as a local run does)."""
    partial = out / f"{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    for rel, data in files.items():
        path = partial / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    shutil.rmtree(out / name, ignore_errors=True)
    os.replace(partial, out / name)


def run_on_ray(args: argparse.Namespace, out: Path, todo: List[int], progress) -> None:
    """Send every shard in ``todo`` to Ray (``args.ray``: ``local``, ``auto`` or a cluster address) and write
    the results as they arrive; ``progress`` counts finished sequences."""
    import ray


    settings = {k: v for k, v in vars(args).items() if k not in ("ray", "quiet")}
    settings.update(workers=1, worker_index=0, worker_count=1)
    started_here = not ray.is_initialized()
    if started_here:
        if args.ray == "local":
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        else:
            ray.init(address=args.ray, log_to_driver=False, logging_level="ERROR")
    try:
        task = ray.remote(num_cpus=args.ray_cpus)(render_shard_files)
        pending = {task.remote(settings, shard, args.ray_cpus): shard for shard in todo}
        done_sequences = 0
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            shard = pending.pop(ready[0])
            try:
                files = ray.get(ready[0])
            except Exception as exc:  # noqa: BLE001 - a task's error, reported with its shard
                for ref in pending:
                    ray.cancel(ref, force=True)
                cause = getattr(exc, "cause", None) or exc
                raise GenerateError(f"shard {shard} failed on Ray: {type(cause).__name__}: {cause}") from None
            write_shard(out, shard_name(shard), files)
            done_sequences += min(args.shard_size, args.sequences - shard * args.shard_size)
            progress.update(done_sequences)
    finally:
        if started_here:
            ray.shutdown()
