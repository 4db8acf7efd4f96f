"""A loop's tl.dot accumulator rescaled by rows every iteration (the
flash-attention update, acc * r[:, None] + p @ v) stays in the loop's
simdgroup matrices: each lane scales its elements by their row's r in place
(src/emit_dot.c row_scaled) instead of taking the accumulator to the blocked
layout and back through threadgroup memory every iteration.

The results run in the M3-Max / M5 subprocesses of
test_dot_simdgroup.py::test_dot_suites_on_simdgroup_path (the emulator's own
target has no simdgroup_matrix); the path checks read the CLI's output."""
import os
import pathlib
import subprocess

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
CLI = ROOT / "build" / "triton-metal"
HW = os.environ.get("TRITON_METAL_HW", "")
INNER = HW in ("M3-Max", "M5") or HW.startswith("cuda")  # cuda: the GPU proxy's runs (bench/proxy_gpu.sh)
inner = pytest.mark.skipif(not INNER, reason="runs in the M3-Max subprocess of test_dot_suites_on_simdgroup_path")


@triton.jit
def row_scaled_loop(a_ptr, b_ptr, r_ptr, init_ptr, out_ptr, side_ptr, STEPS: tl.constexpr, M: tl.constexpr,
                    N: tl.constexpr, K: tl.constexpr, FORM: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    acc = tl.load(init_ptr + rm[:, None] * N + rn[None, :])
    side = tl.zeros((M,), dtype=tl.float32)
    for s in range(STEPS):
        a = tl.load(a_ptr + s * M * K + rm[:, None] * K + rk[None, :])
        b = tl.load(b_ptr + s * K * N + rk[:, None] * N + rn[None, :])
        r = tl.load(r_ptr + s * M + rm)
        if FORM == 0:  # acc * r[:, None] + a @ b
            acc = acc * r[:, None] + tl.dot(a, b)
        elif FORM == 1:  # the scaled acc as the dot's own acc
            acc = tl.dot(a, b, acc * r[:, None])
        elif FORM == 2:  # the multiply's operands the other way round, the dot first in the sum
            rs = r[:, None]
            acc = tl.dot(a, b) + rs * acc
        elif FORM == 3:  # r[:, None] made after the dot: the blocked layout (the dot cannot wait for it)
            acc = tl.dot(a, b) + r[:, None] * acc
        else:  # acc also read elsewhere: the accumulator goes through the blocked layout
            side += tl.sum(acc, axis=1)
            acc = acc * r[:, None] + tl.dot(a, b)
    tl.store(out_ptr + rm[:, None] * N + rn[None, :], acc)
    tl.store(side_ptr + rm, side)


def reference(a, b, r, init):
    acc = init.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        for s in range(a.shape[0]):
            acc = acc * r[s].astype(np.float64)[:, None] + a[s].astype(np.float64) @ b[s].astype(np.float64)
    return acc


def exact_inputs(steps, M, N, K, dtype, rng):
    """Small integers and powers of two: every product and sum is exact in
    float32 in any order, so both paths must give the reference's bits."""
    a = rng.integers(-4, 5, (steps, M, K)).astype(dtype)
    b = rng.integers(-4, 5, (steps, K, N)).astype(dtype)
    r = rng.choice(np.array([0.5, 1.0, 2.0, -1.0, 0.25, -2.0], np.float32), (steps, M))
    init = rng.integers(-8, 9, (M, N)).astype(np.float32)
    return a, b, r, init


def run(a, b, r, init, form, nw):
    steps, M, K = a.shape
    N = b.shape[2]
    out = np.zeros((M, N), np.float32)
    side = np.zeros(M, np.float32)
    row_scaled_loop[(1,)](a, b, r, init, out, side, STEPS=steps, M=M, N=N, K=K, FORM=form, num_warps=nw)
    return out, side


SHAPES = [(32, 32, 16, 4), (64, 32, 32, 4), (128, 64, 64, 8), (64, 128, 32, 8), (16, 8, 8, 1)]


@inner
@pytest.mark.parametrize("M,N,K,nw", SHAPES)
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("form", [0, 1, 2, 3, 4])
def test_row_scaled_exact(M, N, K, nw, dtype, form, rng):
    a, b, r, init = exact_inputs(3, M, N, K, dtype, rng)
    out, side = run(a, b, r, init, form, nw)
    np.testing.assert_array_equal(out, reference(a, b, r, init).astype(np.float32))
    if form == 4:
        want = np.zeros(M)
        acc = init.astype(np.float64)
        for s in range(3):
            want += acc.sum(1)
            acc = acc * r[s][:, None] + a[s].astype(np.float64) @ b[s].astype(np.float64)
        np.testing.assert_array_equal(side, want.astype(np.float32))


@inner
@pytest.mark.parametrize("M,N,K,nw", SHAPES[:3])
def test_row_scaled_random(M, N, K, nw, rng):
    """Random floats (negatives, scales above and below one) against float64."""
    steps = 4
    a = rng.standard_normal((steps, M, K)).astype(np.float16)
    b = rng.standard_normal((steps, K, N)).astype(np.float16)
    r = (rng.uniform(0.1, 1.5, (steps, M)) * rng.choice([-1.0, 1.0], (steps, M))).astype(np.float32)
    init = rng.standard_normal((M, N)).astype(np.float32)
    want = reference(a, b, r, init)
    for form in (0, 1, 2):
        out, _ = run(a, b, r, init, form, nw)
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4 * K)


@inner
@pytest.mark.parametrize("form", [0, 1, 2])
def test_row_scaled_nan_and_inf_stay_in_their_row(form, rng):
    """A row scaled by inf (its accumulator 0 there: NaN; elsewhere +-inf) or by
    NaN: only that row changes. A diagonal-matrix product in place of the
    row scale would spread 0 * inf = NaN to the tile's other rows."""
    M, N, K = 32, 32, 16
    a, b, r, init = exact_inputs(2, M, N, K, np.float16, rng)
    init[3, :5] = 0.0
    r[1, 3] = np.inf
    r[0, 9] = np.nan
    r[1, 17] = -np.inf
    out, _ = run(a, b, r, init, form, 4)
    want = reference(a, b, r, init).astype(np.float32)
    np.testing.assert_array_equal(out, want)  # NaN where the reference has NaN, the same infinities
    bad = {3, 9, 17}
    assert np.isfinite(np.delete(out, sorted(bad), axis=0)).all()
    assert np.isnan(out[9]).all() and np.isinf(out[17]).any()


# ------------------------------------------------------------------ which path

def explain(form, target, dtype="*fp16"):
    args = [str(CLI), "explain", __file__, "--kernel", "row_scaled_loop", "--signature",
            f"{dtype},{dtype},*fp32,*fp32,*fp32,*fp32", "-D", "STEPS=3", "-D", "M=64", "-D", "N=64", "-D", "K=32",
            "-D", f"FORM={form}", "--num-warps", "4", "--target", target]
    r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("target", ["M3-Max", "cuda-sm90"])
def test_row_scale_keeps_the_accumulator_in_matrices(target):
    for form in (0, 1, 2):
        ex = explain(form, target)
        assert "rows scaled in place by r (acc * r[:, None]); to the blocked layout once, after the loop" in ex, ex
    for form in (3, 4):  # r[:, None] after the dot; the carried value read twice: the blocked layout every iteration
        ex = explain(form, target)
        assert "rows scaled in place" not in ex and "where acc is added" in ex, ex
    # the generic target has no simdgroup_matrix: the portable dot, the same results (test_row_scaled_*)
    assert "rows scaled in place" not in explain(0, "generic")
