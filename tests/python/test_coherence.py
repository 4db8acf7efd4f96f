"""Device memory shared between threadgroups (issue 15 item 4; src/emit.c
plan_coherence). The lock kernel's golden (tests/golden/lock_coherent.py) and
its refusal before MSL 3.2 (tests/errors/lock_before_msl32.py) are with the
other goldens; here: which kernels are left alone, through the CLI."""
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = ROOT / "build" / "triton-metal"

SRC = '''
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def accumulate(x_ptr, out_ptr, BLOCK: tl.constexpr):
    # acq_rel atomics (the default) that only add into memory the kernel never reads
    offs = tl.arange(0, BLOCK)
    tl.atomic_add(out_ptr + offs % 4, tl.load(x_ptr + tl.program_id(0) * BLOCK + offs))


@triton.jit
def relaxed_lock(x_ptr, acc_ptr, lock_ptr, BLOCK: tl.constexpr):
    # the user asked for no ordering: nothing is promised, nothing is refused
    offs = tl.arange(0, BLOCK)
    while tl.atomic_cas(lock_ptr, 0, 1, sem="relaxed") == 1:
        pass
    tl.store(acc_ptr + offs, tl.load(acc_ptr + offs) + tl.load(x_ptr + offs))
    tl.atomic_xchg(lock_ptr, 0, sem="relaxed")


@triton.jit
def in_place_after_atomic(x_ptr, n_ptr, BLOCK: tl.constexpr):
    # reads and writes x, and orders with an atomic on n: x may be shared
    offs = tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, tl.load(x_ptr + offs) * 2)
    tl.atomic_add(n_ptr, 1)


@triton.jit
def ordered_lock(x_ptr, acc_ptr, hist_ptr, lock_ptr, BLOCK: tl.constexpr):
    # acq_rel scalar atomics around a critical section, a debug_barrier, and a
    # block atomic (every thread's own)
    offs = tl.arange(0, BLOCK)
    while tl.atomic_cas(lock_ptr, 0, 1) == 1:
        pass
    tl.store(acc_ptr + offs, tl.load(acc_ptr + offs) + tl.load(x_ptr + offs))
    tl.debug_barrier()
    tl.atomic_xchg(lock_ptr, 0)
    tl.atomic_add(hist_ptr + offs % 4, 1)
'''


def compile_(tmp_path, kernel, sig, target):
    f = tmp_path / "k.py"
    f.write_text(SRC)
    return subprocess.run([str(CLI), "compile", str(f), "--kernel", kernel, "--signature", sig,
                           "-D", "BLOCK=64", "--target", target],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("kernel,sig", [("accumulate", "*fp32,*fp32"),
                                        ("relaxed_lock", "*fp32,*fp32,*i32")])
@pytest.mark.parametrize("target", ["M2@14.5", "M3-Max@15.0"])
def test_left_alone(tmp_path, kernel, sig, target):
    r = compile_(tmp_path, kernel, sig, target)
    assert r.returncode == 0, r.stderr
    assert "coherent" not in r.stdout


def test_shared_memory_is_coherent_or_refused(tmp_path):
    r = compile_(tmp_path, "in_place_after_atomic", "*fp32,*i32", "M3-Max@15.0")
    assert r.returncode == 0, r.stderr
    assert "coherent(device) device float* x_ptr" in r.stdout
    assert "coherent(device) device int* n_ptr" in r.stdout
    assert "(coherent(device) device atomic_int*)" in r.stdout
    r = compile_(tmp_path, "in_place_after_atomic", "*fp32,*i32", "M2@14.5")
    assert r.returncode == 1
    assert "reads 'x_ptr'" in r.stderr and "MSL 3.2 (macOS 15)" in r.stderr, r.stderr


def _fences(text):
    """(fences inside an `if (tm_tid == 0u)` block, fences outside one)."""
    inside = outside = 0
    depth = None  # the indentation of the open thread-0 block
    for line in text.splitlines():
        ind = len(line) - len(line.lstrip())
        if depth is not None and ind <= depth and line.strip() == "}":
            depth = None
        elif line.strip() == "if (tm_tid == 0u) {":
            depth = ind
        elif line.strip() == "TM_FENCE();":
            inside, outside = (inside + 1, outside) if depth is not None else (inside, outside + 1)
    return inside, outside


def test_scalar_atomic_fences(tmp_path):
    """Where fences are cumulative through a barrier (the CUDA dialect: PTX's
    causality order) thread 0 fences for the program around a scalar atomic
    and a debug_barrier is the barrier alone; a block atomic still fences in
    every thread. Metal keeps every thread's fences."""
    sig = "*fp32,*fp32,*i32,*i32"
    cu = compile_(tmp_path, "ordered_lock", sig, "cuda-sm90")
    assert cu.returncode == 0, cu.stderr
    body = cu.stdout[cu.stdout.index("ordered_lock("):]
    # the CAS (before and after), the xchg (before and after); the block
    # atomic_add's two by every thread
    assert _fences(body) == (4, 2), body
    assert "threadgroup_barrier(mem_flags::mem_device | mem_flags::mem_threadgroup);\n" in body
    msl = compile_(tmp_path, "ordered_lock", sig, "M3-Max@15.0")
    assert msl.returncode == 0, msl.stderr
    inside, outside = _fences(msl.stdout[msl.stdout.index("ordered_lock("):])
    assert inside == 0 and outside >= 5, msl.stdout
