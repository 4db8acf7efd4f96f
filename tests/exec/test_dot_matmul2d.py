"""tl.dot's Metal 4 matmul2d variant (src/emit_dot.c) on the emulator and metal-sim.

On a target with tensor ops (M5 on macOS 26: MSL 4.0) a simdgroup-eligible dot
is emitted twice, chosen by the preprocessor: Metal Performance Primitives'
matmul2d with a cooperative-tensor accumulator, or the simdgroup_matrix code.
The emulator implements the matmul2d subset (runtime/cpu/metal_stdlib), so the
cpu device runs the tensor variant; metal-sim compiles it only for MSL 4.0
and, with TRITON_METAL_SIM_REJECT_TENSOR_OPS=1, plays a Metal compiler that
rejects it, which the runtime answers by rebuilding with the other variant.
Every dot test runs again on an M5 target from test_dot_simdgroup.py."""
import hashlib
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
CLI = ROOT / "build" / "triton-metal"
INNER = os.environ.get("TRITON_METAL_HW") == "M5"


def compile_cli(target, m=32, n=32, k=16, sig="*fp16,*fp16,*fp16,i32", verb="compile"):
    args = [str(CLI), verb, str(ROOT / "tests" / "golden" / "matmul_simdgroup.py"), "--kernel", "matmul",
            "--signature", sig, "-D", f"BLOCK_M={m}", "-D", f"BLOCK_N={n}", "-D", f"BLOCK_K={k}", "--target", target]
    r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_variants_by_target():
    msl = compile_cli("M5")
    head = msl[:msl.index("using namespace metal;")]
    # the tensor headers only where the compiler offers them; the runtime's way out
    assert "#if !defined(TM_NO_TENSOR_OPS) && (__METAL_VERSION__ >= 400" in head
    assert "#include <MetalPerformancePrimitives/MetalPerformancePrimitives.h>" in head
    assert "mpp::tensor_ops::matmul2d<tm_desc" in msl and "metal::execution_simdgroups<4>" in msl
    assert "matmul2d_descriptor(32, 32, 16, false, false, false, mpp::tensor_ops::matmul2d_descriptor::mode::multiply_accumulate)" in msl
    assert "get_destination_cooperative_tensor<" in msl
    # both variants, the accumulator carried across the K loop in each
    assert msl.count("#if TM_TENSOR_OPS") == 3 and "tm_sgm_mac<" in msl
    body = msl[msl.index("for (int r"):]
    assert ".run(tm_ta" in body
    explain = compile_cli("M5", verb="explain")
    assert "matmul2d (Metal 4 tensor ops), accumulator in a cooperative tensor across the loop" in explain
    for target in ("M3-Max", "M1"):
        assert "tensor_ops" not in compile_cli(target) and "TM_TENSOR_OPS" not in compile_cli(target)
    # a destination too large to pass through threadgroup memory whole: simdgroup_matrix only
    big = compile_cli("M5", m=128, n=64, k=16, sig="*fp32,*fp32,*fp32,i32")
    assert "TM_TENSOR_OPS" not in big and "tm_sgm_mac<" in big


SCRIPT = r"""
import hashlib, json, sys
import numpy as np
sys.path.insert(0, "tests/exec")
import importlib
from test_dot_simdgroup import kloop_kernel
rng = np.random.default_rng(7)
M, N, K = 70, 45, 75
a = rng.standard_normal((M, K)).astype(np.float16)
b = rng.standard_normal((K, N)).astype(np.float16)
bias = rng.standard_normal((M, N)).astype(np.float32)
c16 = np.zeros((M, N), np.float16)
kloop_kernel[(3, 2)](a, b, c16, c16, M, N, K, BM=32, BN=32, BK=16, INIT=0, FORM=0, OUT16=True, EPI=False)
c32 = np.zeros((M, N), np.float32)
kloop_kernel[(3, 2)](a, b, c32, bias, M, N, K, BM=32, BN=32, BK=16, INIT=1, FORM=1, OUT16=False, EPI=True)
ref = a.astype(np.float64) @ b.astype(np.float64)
r32 = ref + bias
r32 = np.where(r32 > 0, r32, r32 * 0.01)
dev = importlib.import_module("triton_metal.jit")._device
st = dev.stats() if hasattr(dev, "stats") else {}
print(json.dumps({"h16": hashlib.sha256(c16.tobytes()).hexdigest(), "h32": hashlib.sha256(c32.tobytes()).hexdigest(),
                  "e16": float(np.abs(c16.astype(np.float64) - ref).max()), "e32": float(np.abs(c32 - r32).max()),
                  "fallbacks": st.get("tensor_ops_fallbacks", 0), "compiles": st.get("pipeline_compiles", 0)}))
"""


def run_case(**env):
    e = dict(os.environ, PYTHONPATH=str(ROOT / "python"), TRITON_METAL_CACHE_DIR=env.pop("cache"), **env)
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=e, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["e16"] < 0.2 and out["e32"] < 1e-3, out  # fp16 accumulation over K=75; fp32
    return out


@pytest.mark.skipif(INNER, reason="already in the subprocess")
def test_metal_sim_compiles_tensor_ops_for_msl4_and_falls_back(tmp_path):
    tensor = run_case(TRITON_METAL_HW="M5", TRITON_METAL_DEVICE="cpu", cache=str(tmp_path / "a"))
    simd = run_case(TRITON_METAL_HW="M3-Max", TRITON_METAL_DEVICE="cpu", cache=str(tmp_path / "b"))
    # fp16 accumulation rounds per K chunk of the variant (16 vs 8): the variants are told apart
    assert tensor["h16"] != simd["h16"]
    assert tensor["h32"] == simd["h32"]  # fp32: the same fma chain, k in order, in both
    sim4 = run_case(TRITON_METAL_HW="M5", TRITON_METAL_DEVICE="metal-sim", cache=str(tmp_path / "c"))
    assert sim4["h16"] == tensor["h16"] and sim4["fallbacks"] == 0 and sim4["compiles"] == 2
    sim31 = run_case(TRITON_METAL_HW="M5", TRITON_METAL_DEVICE="metal-sim", TRITON_METAL_MSL_VERSION="3.1",
                     cache=str(tmp_path / "d"))
    assert sim31["h16"] == simd["h16"] and sim31["fallbacks"] == 0
    rejected = run_case(TRITON_METAL_HW="M5", TRITON_METAL_DEVICE="metal-sim", TRITON_METAL_SIM_REJECT_TENSOR_OPS="1",
                        cache=str(tmp_path / "e"))
    assert rejected["h16"] == simd["h16"] and rejected["fallbacks"] == 2 and rejected["compiles"] == 2
