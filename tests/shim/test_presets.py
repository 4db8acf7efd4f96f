"""Every golden kernel and every kernel of the examples compiles under the
emulator's strict checks (`_C.msl_check`: the MSL lint, then a syntax-only
compile against the shim with the emulator's compiler and flags, warnings
included) for every target preset, and for the presets pinned to each older
macOS (one per MSL version: 3.0, 3.1, 3.2 without tensor ops). The MSL differs
by target (bfloat, tensor ops, atomics, MSL version): the goldens are compiled
by the CLI with --target, the examples' kernels by running the examples in a
process per target with launches replaced by no-ops (capture_examples.py);
equal texts are checked once."""
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from triton_metal import _C

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = ROOT / "build" / "triton-metal"
PINNED = ["M2@13.5", "M3@14.0", "M5@15.0"]


def presets():
    """The preset names, as the runtime lists them for an unknown one."""
    r = subprocess.run([str(CLI), "check"], env={**os.environ, "TRITON_METAL_HW": "no-such-preset"},
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"presets: (.*?) \(append @VERSION", r.stderr)
    assert m, r.stderr
    return m.group(1).split(", ")


# Targets whose MSL (< 3.2) has no coherent device memory: kernels that pass
# data between threadgroups under ordered atomics are refused there
# (src/emit.c plan_coherence), the lock golden and layer norm's backward.
NO_COHERENCE = {"M2@13.5", "M3@14.0"}
COHERENCE_REFUSAL = "MSL 3.2 (macOS 15)"


def goldens(target):
    out = {}
    for py in sorted((ROOT / "tests" / "golden").glob("*.py")):
        args = py.read_text().splitlines()[0].removeprefix("# golden: ")
        args = re.sub(r"--target \S+", "", args)
        r = subprocess.run([str(CLI), "compile", str(py), *shlex.split(args), "--target", target],
                           capture_output=True, text=True, timeout=60)
        if target in NO_COHERENCE and py.stem == "lock_coherent":
            assert r.returncode == 1 and COHERENCE_REFUSAL in r.stderr, r.stderr
            continue
        assert r.returncode == 0, f"{py.name} for {target}: {r.stderr}"
        out.setdefault(r.stdout, f"golden {py.stem}")
    return out


def examples(target):
    env = {**os.environ, "TRITON_METAL_HW": target, "TRITON_METAL_DISABLE_CACHE": "1",
           "PYTHONPATH": str(ROOT / "python") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, str(pathlib.Path(__file__).parent / "capture_examples.py")],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"examples for {target}: {r.stderr[-3000:]}"
    got = json.loads(r.stdout)
    refused = sorted({name for name, _ in got["refused"]})
    assert refused == (["layer_norm"] if target in NO_COHERENCE else []), (target, got["refused"])
    return {k["msl"]: f"example {k['kernel']}" for k in got["kernels"]}


def test_every_kernel_compiles_for_every_target():
    targets = presets() + PINNED
    assert "M5" in targets and "M1" in targets, targets
    texts = {}  # MSL -> where it came from (the first target that emitted it)
    with ThreadPoolExecutor(2) as pool:
        for target, g, e in pool.map(lambda t: (t, goldens(t), examples(t)), targets):
            for msl, what in {**g, **e}.items():
                texts.setdefault(msl, f"{what} for {target}")
    assert len(texts) > 20, len(texts)
    tensor_ops = sum("#define TM_TENSOR_OPS 1" in m for m in texts)
    assert tensor_ops, "no target emitted the Metal 4 tensor-ops variant"
    failed = []
    with ThreadPoolExecutor(2) as pool:
        for (msl, what), out in zip(texts.items(), pool.map(_C.msl_check, texts)):
            if out is not None:
                failed.append(f"{what}:\n{out[-2000:]}")
    assert not failed, f"{len(failed)} of {len(texts)} texts refused:\n" + "\n".join(failed[:5])
