"""The cpu emulator's interleaved schedule (TRITON_METAL_CPU_SCHEDULE=interleave[:SEED],
runtime/cpu/cpu_exec.c) seen from Triton kernels: a read-modify-write that is not
atomic loses updates across programs for every seed (so the atomic tests, which
run under it, can see a lost update), atomics stay exact, a seed gives one
interleaving, and programs that run side by side keep their own threadgroup
memory, barriers and SIMD-group exchanges (reductions stay exact). The C side:
tests/unit/test_emu_sched.c."""
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from exec_data import emulator_only


@triton.jit
def bump_kernel(p_ptr, ATOMIC: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    if ATOMIC:
        tl.atomic_add(p_ptr + offs, 1)
    else:
        tl.store(p_ptr + offs, tl.load(p_ptr + offs) + 1)


def bump(atomic, programs=48, block=64):
    p = np.zeros(block, np.int32)
    bump_kernel[(programs,)](p, ATOMIC=atomic, BLOCK=block, num_warps=2)
    return p


@pytest.mark.parametrize("seed", [1, 2, 3, 17])
def test_plain_read_modify_write_loses_updates(seed, monkeypatch):
    monkeypatch.setenv("TRITON_METAL_CPU_SCHEDULE", f"interleave:{seed}")
    plain = bump(False)
    assert plain.min() >= 1 and plain.max() <= 48
    assert (plain < 48).sum() > 8, plain  # most counters lost some of their 48 updates
    np.testing.assert_array_equal(bump(True), 48)


@emulator_only
def test_a_seed_gives_one_interleaving(monkeypatch):
    runs = {}
    for seed in (5, 5, 6, 7):
        monkeypatch.setenv("TRITON_METAL_CPU_SCHEDULE", f"interleave:{seed}")
        runs.setdefault(seed, []).append(bump(False))
    np.testing.assert_array_equal(runs[5][0], runs[5][1])
    assert not (np.array_equal(runs[5][0], runs[6][0]) and np.array_equal(runs[6][0], runs[7][0]))


@triton.jit
def row_stats_kernel(x_ptr, out_ptr, n_cols, BLOCK: tl.constexpr):
    # a reduction across SIMD-groups goes through threadgroup memory with barriers
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    m = cols < n_cols
    x = tl.load(x_ptr + row * n_cols + cols, mask=m, other=0)
    tl.store(out_ptr + 3 * row, tl.sum(x, axis=0))
    tl.store(out_ptr + 3 * row + 1, tl.max(tl.where(m, x, -2**31), axis=0))
    tl.store(out_ptr + 3 * row + 2, tl.sum(tl.cumsum(x, axis=0) * (cols == n_cols - 1), axis=0))


@pytest.mark.parametrize("num_warps", [1, 4, 8])
def test_programs_side_by_side_keep_their_own_memory(num_warps, rng, monkeypatch):
    monkeypatch.setenv("TRITON_METAL_CPU_SCHEDULE", "interleave:11")
    rows, cols = 37, 1000
    x = rng.integers(-1000, 1000, (rows, cols)).astype(np.int32)
    out = np.zeros(3 * rows, np.int32)
    row_stats_kernel[(rows,)](x, out, cols, BLOCK=1024, num_warps=num_warps)
    out = out.reshape(rows, 3)
    np.testing.assert_array_equal(out[:, 0], x.sum(1))
    np.testing.assert_array_equal(out[:, 1], x.max(1))
    np.testing.assert_array_equal(out[:, 2], x.sum(1))


@emulator_only
def test_bad_setting_is_an_error(monkeypatch):
    monkeypatch.setenv("TRITON_METAL_CPU_SCHEDULE", "shuffle")
    with pytest.raises(triton.LaunchError, match="TRITON_METAL_CPU_SCHEDULE=shuffle: expected default, interleave or "
                                        "interleave:SEED"):
        bump(True)
