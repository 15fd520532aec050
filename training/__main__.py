"""python -m training train --config FILE [--fresh] | eval --ckpt FILE --data DIR [--baseline FILE]"""
from __future__ import annotations

import argparse
import sys

from inference.models.output import CheckpointError
from scenes.dataset import DatasetError

from .config import ConfigError, load_config


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training", description="Train and evaluate the models.")
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train from a TOML config (resumes from OUT/last.pt)")
    t.add_argument("--config", required=True)
    t.add_argument("--fresh", action="store_true", help="ignore an existing last.pt")
    e = sub.add_parser("eval", help="evaluate a checkpoint on a synthetic dataset")
    e.add_argument("--ckpt", required=True)
    e.add_argument("--data", required=True)
    e.add_argument("--baseline", help="a second checkpoint: both tables, and the difference with its interval")
    args = ap.parse_args(argv)
    try:
        if args.command == "train":
            from .trainer import train

            cfg = load_config(args.config)
            losses = train(cfg, resume=not args.fresh)
            print(f"trained {cfg.train.steps} steps; last total loss {losses.get('total', float('nan')):.4f}; "
                  f"checkpoint {cfg.train.out}/model.pt")
        else:
            from .evaluate import clip_table, compare, evaluate, keypoint_table, table

            result = evaluate(args.ckpt, args.data)
            show = clip_table if "video_model" in result else keypoint_table if "keypoint_model" in result else table
            print(show(result))
            if args.baseline and "keypoint_model" in result:
                raise ConfigError("--baseline compares hand models; the keypoint network has none to compare with")
            if args.baseline:
                base = evaluate(args.baseline, args.data)
                print(f"baseline {args.baseline}:\n{show(base)}\n{compare(result, base)}")
    except (ConfigError, CheckpointError, DatasetError, FileNotFoundError) as exc:
        print(f"training: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
