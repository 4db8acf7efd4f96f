# test_exec.py: kernels compiled and run end to end on the process's device (the
# CPU emulator on Linux), checked against NumPy. Skipped when _C is not built.
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

pytest.importorskip("triton_metal._C", reason="triton_metal._C is not built")


@triton.jit
def add_kernel(x_ptr, y_ptr, output_ptr, n_elements, BLOCK_SIZE: tl.constexpr):
    pid = tl.program_id(axis=0)
    block_start = pid * BLOCK_SIZE
    offsets = block_start + tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_elements
    x = tl.load(x_ptr + offsets, mask=mask)
    y = tl.load(y_ptr + offsets, mask=mask)
    output = x + y
    tl.store(output_ptr + offsets, output, mask=mask)


def special_values(rng, n):
    """Normal data with negatives, NaN, +-inf, zeros of both signs and huge values."""
    x = rng.standard_normal(n).astype(np.float32) * 100
    idx = rng.choice(n, size=min(n, 64), replace=False)
    x[idx] = np.resize(np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 3e38, -3e38, 1e-40],
                                np.float32), idx.size)
    return x


def add(x, y, out, n, block=1024, **kw):
    return add_kernel[lambda meta: (triton.cdiv(n, meta["BLOCK_SIZE"]),)](
        x, y, out, n, BLOCK_SIZE=block, **kw)


def test_vector_add_numpy():
    rng = np.random.default_rng(0)
    n = 1_000_003
    x, y = special_values(rng, n), special_values(rng, n)
    out = np.full(n, 7.0, np.float32)
    handle = add(x, y, out, n)
    with np.errstate(invalid="ignore", over="ignore"):
        np.testing.assert_array_equal(out, x + y)
    assert "kernel" in handle.asm["msl"]
    assert handle.metadata.num_warps == 4 and 24 <= handle.n_regs <= 255 and handle.n_spills == 0


def test_vector_add_small_sizes_and_cache():
    rng = np.random.default_rng(1)
    for n in (1, 5, 16, 127, 1024, 1025):
        x, y = special_values(rng, n), special_values(rng, n)
        out = np.zeros(n, np.float32)
        add(x, y, out, n, block=128, num_warps=2)
        with np.errstate(invalid="ignore", over="ignore"):
            np.testing.assert_array_equal(out, x + y)
    # n == 1 (constexpr), n % 16 == 0 (DIV16) and other n: three integer variants
    keys = {k for k in add_kernel.cache if k[1] == 2}
    assert len(keys) >= 3


def test_readonly_inputs():
    n = 1000
    x = np.arange(n, dtype=np.float32)
    y = np.ones(n, np.float32)
    x.flags.writeable = False
    y.flags.writeable = False
    out = np.zeros(n, np.float32)
    add(x, y, out, n)
    np.testing.assert_array_equal(out, x + y)


def test_empty_grid_launches_nothing():
    out = np.zeros(4, np.float32)
    add_kernel[(0,)](out, out, out, 4, BLOCK_SIZE=4)
    assert not out.any()


def test_warmup_then_launch_compiled():
    n = 300
    x, y, out = np.ones(n, np.float32), np.ones(n, np.float32), np.zeros(n, np.float32)
    k = add_kernel.warmup(x, y, out, n, BLOCK_SIZE=128, grid=(1,))
    k._init_handles()
    assert k.metadata.shared >= 0 and k.metadata.name
    k[(triton.cdiv(n, 128), 1, 1)](x, y, out, n, 128)
    np.testing.assert_array_equal(out, 2)


def test_vector_add_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    n = 1_000_003
    x = torch.randn(n) * 100
    y = torch.randn(n)
    x[::9973] = float("nan")
    y[::7919] = float("inf")
    out = torch.empty_like(x)
    add(x, y, out, n)
    assert torch.equal(torch.nan_to_num(out, nan=1.5), torch.nan_to_num(x + y, nan=1.5))


def test_torch_float64_refused():
    torch = pytest.importorskip("torch")
    x = torch.zeros(8, dtype=torch.float64)
    # taken as float64 memory, refused where the kernel reads it (Metal has no double)
    with pytest.raises(triton.CompilationError, match="'x_ptr', a float64 array: float64 is not supported"):
        add(x, x, x, 8)


@triton.jit
def bad_kernel(x_ptr):
    tl.store(x_ptr, not_defined_anywhere)


def test_compilation_error_has_location():
    with pytest.raises(triton.CompilationError) as e:
        bad_kernel[(1,)](np.zeros(1, np.float32))
    line = bad_kernel.first_line + 1  # first_line is the def's
    assert f"{line}:" in str(e.value) and "not_defined_anywhere" in str(e.value)


@triton.jit
def incr_unmasked(x_ptr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, tl.load(x_ptr + offs) + 1.0)


def test_out_of_bounds_is_launch_error():
    x = np.zeros(100, np.float32)
    with pytest.raises(triton.LaunchError, match="x_ptr") as e:
        incr_unmasked[(1,)](x, BLOCK=128)
    assert isinstance(e.value, RuntimeError)


@triton.jit
def store_scalars(f_ptr, i_ptr, a, b, c, big):
    tl.store(f_ptr, a + b + c)
    tl.store(i_ptr, big)


def test_scalar_arguments():
    f = np.zeros(1, np.float32)
    i = np.zeros(1, np.int64)
    store_scalars[(1,)](f, i, 1.5, 2, np.float32(0.25), 2**40 + 3)
    assert f[0] == 3.75 and i[0] == 2**40 + 3
    store_scalars[(1,)](f, i, -1.0, 1, np.float32(0.5), -2**40)  # b == 1: a constexpr
    assert f[0] == 0.5 and i[0] == -2**40


def test_options_select_variants():
    n = 64
    x, out = np.ones(n, np.float32), np.zeros(n, np.float32)
    a = add(x, x, out, n, block=64, num_warps=1)
    b = add(x, x, out, n, block=64, num_warps=1, debug=True, num_stages=2, num_ctas=1,
            maxnreg=64, enable_fp_fusion=True, matrix_instr_nonkdim=0)
    c = add(x, x, out, n, block=64, num_warps=8)
    assert a is not b and a is not c and b is not c
    assert a.metadata.num_warps == 1 and a.metadata.threads_per_threadgroup == 32
    assert c.metadata.threads_per_threadgroup == 256
    assert add(x, x, out, n, block=64, num_warps=1) is a
    np.testing.assert_array_equal(out, 2)
