"""Faults injected into a real batch import, one row each: what the user sees, what is kept, what is left behind.

    .venv/bin/python -m benchmarks.fault_table [--video samples/sample_clip.mp4] [--rows NAME,...]

Each row runs ``scripts/hand_mocap_batch.py --video CLIP --out OUT.blend`` (the bpy module, a real worker process)
with one fault: the worker killed (SIGKILL) or an exception raised at a stage (``inference/failpoints.py``), the
worker hung (SIGSTOP, heartbeat included), a chunk file corrupted, the disk full (the worker's files limited to
100 KB by ``RLIMIT_FSIZE``, as a full disk would refuse them), or the batch process interrupted (SIGINT, SIGTERM).

Columns: the exit status, the first line the user sees, the samples saved to OUT.blend, and what is left behind:
worker processes still alive, and files in the run's own temporary folder (``TMPDIR``: the job folders live there).
A row passes when the exit is 1 (a failure) or 130/143 (a signal), the message is one line, every sample the worker
sent before the fault is in OUT.blend (at least one where the fault comes after the first keys), and nothing is left.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv" / "bin" / "python"


@dataclass
class Fault:
    stage: str  # where it strikes, in the table
    failpoint: str = ""  # HAND_MOCAP_FAILPOINT
    signal_after_keys: Optional[int] = None  # send this signal to the batch process once keys arrived
    file_limit: int = 0  # RLIMIT_FSIZE of the worker, bytes
    keys_expected: bool = True  # the fault strikes after the first keys were sent


FAULTS: Dict[str, Fault] = {
    "worker killed": Fault("detection", "detect:kill@20", keys_expected=False),
    "worker killed ": Fault("model", "model:kill@3", keys_expected=False),
    "worker killed  ": Fault("fit", "fit:kill@80"),
    "worker killed   ": Fault("streaming (a chunk written)", "chunk:kill@2"),
    "exception": Fault("fit", "fit:raise@80"),
    "worker hung (SIGSTOP)": Fault("streaming", "stream:hang@100"),
    "chunk file corrupted": Fault("streaming", "chunk:corrupt@2"),
    "disk full": Fault("saving", file_limit=100 * 1024),
    "SIGINT": Fault("after the first keys", signal_after_keys=signal.SIGINT),
    "SIGTERM": Fault("after the first keys", signal_after_keys=signal.SIGTERM),
}


def limited_python(folder: Path, limit: int) -> Path:
    """An interpreter wrapper whose files may not grow past ``limit`` bytes (writes past it fail with EFBIG)."""
    wrapper = folder / "python_limited"
    wrapper.write_text(f"#!{PY}\nimport os, resource, signal, sys\n"
                       f"signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
                       f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
                       f"os.execv({str(PY)!r}, [{str(PY)!r}] + sys.argv[1:])\n")
    wrapper.chmod(0o755)
    return wrapper


def processes_with(marker: str) -> List[int]:
    """Live processes whose environment holds ``marker`` (this run's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def run_fault(name: str, fault: Fault, video: Path, folder: Path, heartbeat_timeout: float = 5.0) -> dict:
    marker = f"HAND_MOCAP_FAULT_RUN={uuid.uuid4().hex}"
    tmp = folder / "tmp"
    tmp.mkdir()
    out = folder / "out.blend"
    env = {**os.environ, "TMPDIR": str(tmp), marker.split("=")[0]: marker.split("=")[1],
           "HAND_MOCAP_FAILPOINT": fault.failpoint}
    cmd = [str(PY), "scripts/hand_mocap_batch.py", "--video", str(video), "--out", str(out),
           "--heartbeat-timeout", str(heartbeat_timeout)]
    if fault.file_limit:
        cmd += ["--python", str(limited_python(folder, fault.file_limit))]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if fault.signal_after_keys is not None:
        while proc.poll() is None and not list(tmp.rglob("*_chunk*.npz")):
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(fault.signal_after_keys)
    stdout, stderr = proc.communicate(timeout=600)
    seconds = time.perf_counter() - start
    time.sleep(0.5)
    lines = [line for line in stderr.splitlines() if line.startswith("hand-mocap:")]
    saved = sum(int(n) for n in re.findall(r"(\d+) samples", lines[-1])) if lines else 0
    alive = processes_with(marker)
    for pid in alive:  # the table reports them; the machine should not keep them
        os.kill(pid, signal.SIGKILL)
    left = [p for p in tmp.rglob("*") if p.is_file()]
    ok = proc.returncode in (1, 130, 143) and len(lines) == 1 and not alive and not left and \
        (saved > 0) == fault.keys_expected and (saved == 0 or out.is_file())
    return {"fault": name.strip(), "stage": fault.stage, "exit": proc.returncode, "saved": saved,
            "message": lines[-1][:150] if lines else stderr.strip()[-150:], "alive": len(alive), "left": len(left),
            "seconds": seconds, "ok": ok}


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--video", default=str(ROOT / "samples" / "sample_clip.mp4"))
    ap.add_argument("--rows", default="", help="comma-separated fault names (default: all)")
    args = ap.parse_args(argv)
    names = [n for n in FAULTS if not args.rows or n.strip() in args.rows.split(",")]
    print("| fault | stage | exit | samples kept | worker processes left | temporary files left | passes | what the user "
          "sees |")
    print("|---|---|---|---|---|---|---|---|")
    failed = 0
    for name in names:
        with tempfile.TemporaryDirectory(prefix="hand_mocap_fault_") as folder:
            row = run_fault(name, FAULTS[name], Path(args.video), Path(folder))
        failed += not row["ok"]
        print(f"| {row['fault']} | {row['stage']} | {row['exit']} | {row['saved']} | {row['alive']} | {row['left']} | "
              f"{'yes' if row['ok'] else '**no**'} | `{row['message']}` |", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
