"""Every reader of outside data, fed generated files: each file either loads or is refused with the reader's own
named error. Never another exception, never unbounded memory.

    .venv/bin/python tests/fuzz_readers.py [--cases 10000] [--formats motion,mano,...]     # make fuzz

prints one row per format: cases, accepted, refused by name, anything else (with the first few examples), and
the process's peak memory. ``tests/test_fuzz_readers.py`` runs the same generators, fewer cases, in ``make test``.

Each generator starts from a valid file of its format and breaks it in one way: a field dropped, added, of the
wrong type or shape, non-finite, a huge claimed size, a forbidden pickle class; or the file's bytes truncated,
flipped or replaced. Some cases stay valid, so the accepting path is exercised too.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import pickle
import resource
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent

# -------------------------------------------------------------------------------------------- shared pieces

class OneShot:
    """A generated file, handed over once. Hypothesis keeps every generated value until the run ends; a MANO
    pickle is 3 MB, so the value it keeps is this box, emptied by ``take``."""

    __slots__ = ("data",)

    def __init__(self, data: bytes):
        self.data = data

    def take(self) -> bytes:
        data, self.data = self.data, b""
        return data


def files(generate: Callable) -> Callable[[], st.SearchStrategy]:
    """``generate(draw) -> bytes`` as a strategy of :class:`OneShot` files."""
    return st.composite(lambda draw: OneShot(generate(draw)))


JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                 st.dictionaries(st.text(max_size=8), inner,
                                                                                 max_size=4)), max_leaves=12)
ODD_VALUES = st.one_of(JSON_VALUES, st.just(float("nan")), st.just(-1), st.just(10 ** 12), st.just(""),
                       st.just([]), st.just({}))


def broken_bytes(draw, data: bytes) -> bytes:
    """``data`` truncated, with bytes flipped, or with a slice replaced by noise. (A plain function, not a
    strategy: Hypothesis would keep every value a nested strategy returns.)"""
    kind = draw(st.sampled_from(["truncate", "flip", "noise", "empty"]))
    if kind == "empty" or not data:
        return b""
    at = draw(st.integers(0, len(data) - 1))
    if kind == "truncate":
        return data[:at]
    if kind == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            out[i] ^= draw(st.integers(1, 255))
        return bytes(out)
    noise = draw(st.binary(min_size=1, max_size=64))
    return data[:at] + noise + data[at + len(noise):]


def maybe_broken(draw, data: bytes) -> bytes:
    return broken_bytes(draw, data) if draw(st.integers(0, 3)) == 0 else data


def _astype(arr: np.ndarray, dtype: str) -> np.ndarray:
    try:
        return arr.astype(dtype)
    except (ValueError, TypeError):  # text that is not a number: as text
        return arr.astype("<U3")


def forged_npy(shape: tuple, descr: str = "<f8", payload: int = 64) -> bytes:
    """A ``.npy`` member whose header claims ``shape`` but which holds only ``payload`` bytes."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + b"\0" * payload


# -------------------------------------------------------------------------------------------- motion sequence

def _valid_motion(t: int, rng: np.random.Generator) -> Dict[str, np.ndarray]:
    from addon.common.motion_sequence import FORMAT_NAME, FORMAT_VERSION

    return {"format": np.array(FORMAT_NAME), "version": np.array(FORMAT_VERSION),
            "frames": np.arange(t, dtype=np.float64) + 1.0, "global_orient": rng.normal(0, 1, (t, 3)),
            "hand_pose": rng.normal(0, 0.3, (t, 45)), "betas": rng.normal(0, 1, (t, 10)),
            "transl": rng.normal(0, 0.1, (t, 3)) + [0, 0, 0.5], "handedness": np.array("right"),
            "fps": np.array(30.0), "model": np.array("fuzz"), "confidence": rng.uniform(0, 1, t),
            "joint_confidence": rng.uniform(0, 1, (t, 21)), "vertex_colors": rng.uniform(0, 1, (778, 3)),
            "camera_matrix": np.array([[500.0, 0, 320], [0, 500, 180], [0, 0, 1]]), "image_size": np.array([640, 360])}


@files
def motion_files(draw) -> bytes:
    arrays = _valid_motion(draw(st.integers(1, 6)), np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1))))
    key = draw(st.sampled_from(sorted(arrays)))
    kind = draw(st.sampled_from(["valid", "drop", "dtype", "shape", "nonfinite", "value", "object", "extra",
                                 "huge", "huge_text", "order"]))
    forged: Dict[str, bytes] = {}
    if kind == "drop":
        del arrays[key]
    elif kind == "dtype":
        arrays[key] = _astype(arrays[key], draw(st.sampled_from(["<i2", "<u1", "<c16", "<U3", "?", "<f2"])))
    elif kind == "shape":
        arrays[key] = np.resize(arrays[key], draw(st.lists(st.integers(0, 50), max_size=3)))
    elif kind == "nonfinite" and arrays[key].dtype.kind == "f":
        flat = arrays[key].reshape(-1)
        flat[draw(st.integers(0, flat.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e308]))
    elif kind == "value":
        arrays[key] = np.array(draw(st.one_of(st.text(max_size=30), st.integers(-2 ** 62, 2 ** 62),
                                              st.floats(allow_nan=True))))
    elif kind == "object":
        arrays[key] = np.array([{"x": 1}, None], dtype=object)
    elif kind == "extra":
        arrays[draw(st.text(alphabet="abcdefgh_", min_size=1, max_size=10))] = np.zeros(3)
    elif kind == "order":
        arrays["frames"] = arrays["frames"][::-1].copy()
    elif kind in ("huge", "huge_text"):
        dims = draw(st.sampled_from([(2 ** 31, 45), (10 ** 9,), (2 ** 20, 2 ** 20), (3_000_000, 45), (2 ** 62, 1)]))
        forged[key] = forged_npy(dims, "<U100" if kind == "huge_text" else "<f8")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))) as z:
        for name, arr in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asanyarray(arr), allow_pickle=True)
            z.writestr(name + ".npy", forged.get(name, member.getvalue()))
    return maybe_broken(draw, buf.getvalue())


def read_motion(path: Path) -> None:
    from addon.common.motion_sequence import load_motion_sequence

    load_motion_sequence(path)


# -------------------------------------------------------------------------------------------- MANO pickle

_MANO: Dict[str, Any] = {}


def _open_hand() -> Dict[str, Any]:
    if not _MANO:
        from addon.common.hand_model import OPEN_HAND_FILES, read_mano_pickle

        _MANO.update(read_mano_pickle(OPEN_HAND_FILES["right"].read_bytes()))
    return dict(_MANO)


class _Evil:
    """Pickles as a call to ``os.system``: what a malicious MANO file would hold."""

    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


@files
def mano_files(draw) -> bytes:
    raw = _open_hand()
    key = draw(st.sampled_from(sorted(raw)))
    kind = draw(st.sampled_from(["valid", "drop", "shape", "dtype", "nonfinite", "value", "evil", "evil_nested",
                                 "huge_reconstruct", "not_dict", "faces"]))
    if kind == "drop":
        del raw[key]
    elif kind == "shape" and isinstance(raw[key], np.ndarray):
        raw[key] = np.resize(raw[key], draw(st.lists(st.integers(0, 40), max_size=3)))
    elif kind == "dtype" and isinstance(raw[key], np.ndarray):
        raw[key] = _astype(raw[key], draw(st.sampled_from(["<U4", "?", "<c8", "O"])))
    elif kind == "nonfinite" and isinstance(raw[key], np.ndarray) and raw[key].dtype.kind == "f":
        arr = raw[key].copy()
        arr.reshape(-1)[draw(st.integers(0, arr.size - 1))] = draw(st.sampled_from([np.nan, np.inf]))
        raw[key] = arr
    elif kind == "value":
        raw[key] = draw(ODD_VALUES)
    elif kind == "evil":
        raw[key] = _Evil()
    elif kind == "evil_nested":
        raw[key] = [1, {"a": _Evil()}]
    elif kind == "not_dict":
        raw = [raw[key]]
    elif kind == "faces":
        f = raw["f"].copy()
        f.reshape(-1)[draw(st.integers(0, f.size - 1))] = draw(st.sampled_from([-1, 778, 2 ** 40]))
        raw["f"] = f
    data = pickle.dumps(raw, protocol=draw(st.sampled_from([2, 4, 5])))
    if kind == "huge_reconstruct":  # numpy's pickles rebuild an empty array: claim a huge one instead
        data = data.replace(pickle.dumps((0,), protocol=2)[2:-1], pickle.dumps((2 ** 40,), protocol=2)[2:-1], 1)
    return maybe_broken(draw, data)


def read_mano(path: Path) -> None:
    from addon.common.hand_model import load_hand_model

    load_hand_model(path, side="right")


# -------------------------------------------------------------------------------------------- checkpoint

_CHECKPOINT: Dict[str, Any] = {}


def _small_checkpoint() -> Dict[str, Any]:
    """A valid checkpoint of a small keypoint network (the format is the same for every model)."""
    if not _CHECKPOINT:
        import torch

        from inference.models.keypoints import KeypointNet, KeypointNetConfig
        from inference.models.output import save_checkpoint

        with tempfile.TemporaryDirectory() as tmp:
            net = KeypointNet(KeypointNetConfig(backbone_depth=10, backbone_width=4, image_size=32, decoder_channels=4))
            _CHECKPOINT.update(torch.load(save_checkpoint(net, Path(tmp) / "small.pt"), weights_only=True))
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in _CHECKPOINT.items()}


@files
def checkpoint_files(draw) -> bytes:
    import torch

    data = _small_checkpoint()
    kind = draw(st.sampled_from(["valid", "drop", "top_value", "config_value", "config_extra", "config_huge",
                                 "weight_shape", "weight_drop", "weight_type", "model_name", "evil", "not_dict"]))
    config, state = data["config"], data["state_dict"]
    if kind == "drop":
        del data[draw(st.sampled_from(sorted(data)))]
    elif kind == "top_value":
        data[draw(st.sampled_from(sorted(data)))] = draw(ODD_VALUES)
    elif kind == "config_value":
        config[draw(st.sampled_from(sorted(config)))] = draw(ODD_VALUES)
    elif kind == "config_extra":
        config[draw(st.text(max_size=10))] = draw(JSON_SCALARS)
    elif kind == "config_huge":
        config[draw(st.sampled_from(["backbone_width", "decoder_channels", "joints", "image_size"]))] = \
            draw(st.sampled_from([10 ** 5, 10 ** 9, 2 ** 40, 0, -4]))
    elif kind == "weight_shape":
        name = draw(st.sampled_from(sorted(state)))
        state[name] = torch.zeros(draw(st.lists(st.integers(0, 6), max_size=3)))
    elif kind == "weight_drop":
        del state[draw(st.sampled_from(sorted(state)))]
    elif kind == "weight_type":
        state[draw(st.sampled_from(sorted(state)))] = draw(ODD_VALUES)
    elif kind == "model_name":
        data["model"] = draw(st.sampled_from(["blurhandnet", "deformer", "amvur", "nope", ""]))
    elif kind == "not_dict":
        data = [data["model"]]
    buf = io.BytesIO()
    if kind == "evil":
        pickle.dump({"format": data["format"], "model": _Evil()}, buf)  # a legacy (non-zip) torch file with a call
    else:
        torch.save(data, buf)
    return maybe_broken(draw, buf.getvalue())


def read_checkpoint(path: Path) -> None:
    from inference.models.output import load_model

    load_model(path)


# -------------------------------------------------------------------------------------------- bone map

@files
def bone_map_files(draw) -> bytes:
    from addon.common.bone_maps import FORMAT

    data: Any = {"format": FORMAT, "version": 1, "name": "fuzz",
                 "right": {"wrist": "hand_R", "index1": "index_01_R", "middle1": "middle_01_R"},
                 "left": {"wrist": "hand_L", "index1": "index_01_L"},
                 "measure": {"right": {"wrist": "DEF-hand_R"}}}
    kind = draw(st.sampled_from(["valid", "drop", "value", "joint", "bone", "anything", "text"]))
    if kind == "drop":
        del data[draw(st.sampled_from(sorted(data)))]
    elif kind == "value":
        data[draw(st.sampled_from(sorted(data)))] = draw(JSON_VALUES)
    elif kind == "joint":
        data[draw(st.sampled_from(["right", "left", "measure"]))][draw(st.text(max_size=10))] = "bone"
    elif kind == "bone":
        data["right"][draw(st.sampled_from(["wrist", "index1"]))] = draw(JSON_VALUES)
    elif kind == "anything":
        data = draw(JSON_VALUES)
    if kind == "text":
        return draw(st.binary(max_size=200))
    return maybe_broken(draw, json.dumps(data, allow_nan=True).encode())


def read_bone_map(path: Path) -> None:
    from addon.common.bone_maps import load_bone_map

    load_bone_map(path)


# -------------------------------------------------------------------------------------------- protocol lines

def _valid_messages() -> List[Dict[str, Any]]:
    from addon.common import protocol as P

    messages = [P.Hello("0.1.0", {"blurhandnet": True}, ["cpu"]), P.Start("j", "clip.mp4", "/tmp/j"), P.Cancel("j"),
                P.Ping(), P.Progress("j", 3, 10, "hands"), P.Partial("j", "c.npz", "right", [1.0, 1.25]),
                P.Done("j", ["r.npz"], [4], {"read": 0.5}), P.Error("j", "bad", "tb"), P.Log("hi", "warning"),
                P.Heartbeat(12.5)]
    return [json.loads(P.encode(m)) for m in messages]


@files
def protocol_lines(draw) -> bytes:
    message = draw(st.sampled_from(_valid_messages()))
    kind = draw(st.sampled_from(["valid", "drop", "value", "extra", "options", "anything", "text"]))
    if kind == "drop":
        del message[draw(st.sampled_from(sorted(message)))]
    elif kind == "value":
        message[draw(st.sampled_from(sorted(message)))] = draw(JSON_VALUES)
    elif kind == "extra":
        message[draw(st.text(max_size=8))] = draw(JSON_SCALARS)
    elif kind == "options":
        message = _valid_messages()[1]
        message["options"] = draw(st.dictionaries(st.sampled_from(_option_names() + ["x"]), ODD_VALUES, max_size=3))
    elif kind == "anything":
        message = draw(JSON_VALUES)
    if kind == "text":
        return draw(st.binary(max_size=300))
    return maybe_broken(draw, json.dumps(message, allow_nan=True).encode())


def read_protocol(path: Path) -> None:
    from addon.common.protocol import decode

    decode(path.read_bytes())


# -------------------------------------------------------------------------------------------- job options

def _option_names() -> List[str]:
    from addon.common.job_options import option_fields

    return [f.name for f in option_fields()]


@files
def job_option_files(draw) -> bytes:
    from addon.common.job_options import JobOptions

    values: Any = asdict(JobOptions())
    kind = draw(st.sampled_from(["valid", "value", "several", "extra", "drop", "anything"]))
    if kind == "value":
        values[draw(st.sampled_from(sorted(values)))] = draw(ODD_VALUES)
    elif kind == "several":
        for name in draw(st.lists(st.sampled_from(sorted(values)), max_size=4)):
            values[name] = draw(ODD_VALUES)
    elif kind == "extra":
        values[draw(st.text(max_size=8))] = draw(JSON_SCALARS)
    elif kind == "drop":
        del values[draw(st.sampled_from(sorted(values)))]
    elif kind == "anything":
        values = draw(JSON_VALUES)
    return json.dumps(values, allow_nan=True).encode()


def read_job_options(path: Path) -> None:
    from addon.common.job_options import JobOptions

    JobOptions.from_dict(json.loads(path.read_bytes()))


# -------------------------------------------------------------------------------------------- training config

def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value == math.inf else "-inf" if value == -math.inf
                                                else repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + "}"
    return '""'  # None: TOML has no null


def to_toml(tables: Dict[str, Dict[str, Any]]) -> str:
    return "".join(f"[{name}]\n" + "".join(f"{json.dumps(k)} = {_toml_value(v)}\n" for k, v in table.items())
                   for name, table in tables.items())


_CONFIGS = sorted((ROOT / "training" / "configs").glob("*.toml"))


@files
def config_files(draw) -> bytes:
    import tomllib

    tables = tomllib.loads(draw(st.sampled_from(_CONFIGS)).read_text())
    kind = draw(st.sampled_from(["valid", "value", "extra", "table", "drop", "text"]))
    name = draw(st.sampled_from(sorted(tables)))
    if kind == "value" and tables[name]:
        tables[name][draw(st.sampled_from(sorted(tables[name])))] = draw(ODD_VALUES)
    elif kind == "extra":
        tables[name][draw(st.text(alphabet="abcdefg_", min_size=1, max_size=8))] = draw(JSON_SCALARS)
    elif kind == "table":
        tables[draw(st.text(alphabet="abcdefg", min_size=1, max_size=6))] = {}
    elif kind == "drop":
        del tables[name]
    if kind == "text":
        return draw(st.binary(max_size=300))
    return maybe_broken(draw, to_toml(tables).encode())


def read_config(path: Path) -> None:
    from training.config import load_config

    load_config(path)


# -------------------------------------------------------------------------------------------- the table

@dataclass
class Format:
    files: Callable[[], st.SearchStrategy]
    read: Callable[[Path], None]
    error: str  # the reader's named error, "module:Class"
    suffix: str


FORMATS: Dict[str, Format] = {
    "motion sequence (.npz)": Format(motion_files, read_motion, "addon.common.motion_sequence:MotionSequenceError",
                                     ".npz"),
    "MANO pickle": Format(mano_files, read_mano, "addon.common.hand_model:HandModelError", ".pkl"),
    "checkpoint": Format(checkpoint_files, read_checkpoint, "inference.models.output:CheckpointError", ".pt"),
    "bone map (JSON)": Format(bone_map_files, read_bone_map, "addon.common.bone_maps:BoneMapError", ".json"),
    "protocol line": Format(protocol_lines, read_protocol, "addon.common.protocol:ProtocolError", ".jsonl"),
    "job options": Format(job_option_files, read_job_options, "addon.common.job_options:JobOptionError", ".json"),
    "training config (TOML)": Format(config_files, read_config, "training.config:ConfigError", ".toml"),
}


def named_error(fmt: Format) -> type:
    import importlib

    module, name = fmt.error.split(":")
    return getattr(importlib.import_module(module), name)


def _trim() -> Callable[[], None]:
    """glibc's ``malloc_trim``: hands freed heap back to the system, so the process's peak memory measures what a
    reader holds at once, not how the allocator's heap grew over thousands of multi-megabyte cases."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        return lambda: libc.malloc_trim(0)
    except (OSError, AttributeError):
        return lambda: None


release_memory = _trim()


def outcome(fmt: Format, data: bytes, folder: Path) -> str:
    """``accepted``, ``refused`` (the reader's named error) or the other exception's name."""
    release_memory()
    path = folder / f"case{fmt.suffix}"
    path.write_bytes(data)
    unraisable: List[str] = []  # errors Python could only print (in a destructor): a reader left broken objects
    hook, sys.unraisablehook = sys.unraisablehook, lambda u: unraisable.append(f"{type(u.exc_value).__name__}")
    try:
        fmt.read(path)
        result = "accepted"
    except named_error(fmt):
        result = "refused"
    except json.JSONDecodeError:  # the job-options reader's own JSON: the protocol's line parser refuses these
        result = "refused" if fmt.read is read_job_options else "JSONDecodeError"
    except Exception as exc:  # noqa: BLE001 - what the fuzzing is for
        result = f"{type(exc).__name__}: {str(exc)[:120]}"
    finally:
        sys.unraisablehook = hook
    return f"unraisable {unraisable[0]} after {result}" if unraisable else result


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(name: str, cases: int, folder: Path) -> Dict[str, Any]:
    fmt = FORMATS[name]
    counts: Counter = Counter()
    others: List[str] = []

    @settings(max_examples=cases, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(fmt.files())
    def case(file: OneShot) -> None:
        result = outcome(fmt, file.take(), folder)
        counts["accepted" if result == "accepted" else "refused" if result == "refused" else "other"] += 1
        if result not in ("accepted", "refused") and len(others) < 5:
            others.append(result)

    start = time.perf_counter()
    case()
    return {"format": name, "cases": sum(counts.values()), "accepted": counts["accepted"],
            "refused": counts["refused"], "other": counts["other"], "examples": others,
            "seconds": time.perf_counter() - start, "peak_mb": peak_memory_mb()}


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=10_000, help="generated files per format")
    ap.add_argument("--formats", default=",".join(FORMATS), help="comma-separated names from the table")
    ap.add_argument("--row", action="store_true", help=argparse.SUPPRESS)  # one format, its row as JSON
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")  # torch's notes on odd pickles: the outcome is what counts
    if args.row:
        with tempfile.TemporaryDirectory(prefix="hand_mocap_fuzz_") as tmp:
            print(json.dumps(run(args.formats, args.cases, Path(tmp))))
        return 0
    print("| format | cases | accepted | refused by name | anything else | seconds | peak memory, MB |")
    print("|---|---|---|---|---|---|---|")
    failed = False
    for name in args.formats.split(","):  # each in a process of its own: its peak memory is its own
        done = subprocess.run([sys.executable, __file__, "--row", "--cases", str(args.cases), "--formats", name],
                              capture_output=True, text=True)
        if done.returncode != 0:
            print(f"| {name} | the run itself failed: {done.stderr.strip()[-200:]} | | | | | |", flush=True)
            failed = True
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        failed |= row["other"] > 0
        print(f"| {name} | {row['cases']} | {row['accepted']} | {row['refused']} | {row['other']} | "
              f"{row['seconds']:.0f} | {row['peak_mb']:.0f} |", flush=True)
        for example in row["examples"]:
            print(f"{name}: {example}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
