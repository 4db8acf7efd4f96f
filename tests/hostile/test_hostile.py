"""Hostile launch inputs: every one gets a Python exception naming the kernel
(and the argument, where there is one), and corrupts nothing: the output
arrays keep their contents and the next valid launch gives the right answer.

Issue 8's list, one test (or parametrized group) per item: wrong argument
count or type, None pointers, float64 arrays, read-only arrays written by the
kernel, non-contiguous arrays, empty arrays, grids of zero, negative or
oversized dimensions, constexpr values of the wrong type, block sizes that are
not powers of two or exceed limits, kernels that read out of bounds.
"""
import re

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

N = 100
BLOCK = 128
SENTINEL = -12345.0


@triton.jit
def scale_kernel(x_ptr, out_ptr, n, s, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=m) * s, mask=m)


@triton.jit
def oob_kernel(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs))


def arrays():
    x = np.arange(N, dtype=np.float32) - 50
    out = np.full(N, SENTINEL, np.float32)
    return x, out


def still_works():
    """The process and the kernel are intact: a valid launch is right."""
    x, out = arrays()
    scale_kernel[(triton.cdiv(N, BLOCK),)](x, out, N, 2.0, BLOCK=BLOCK)
    np.testing.assert_array_equal(out, x * 2)


def names_kernel(msg, kernel):
    """The message names the kernel: by name, or (a located compile error) by a
    FILE:LINE inside the kernel's def."""
    if kernel.__name__ in msg:
        return True
    first = kernel.fn.__code__.co_firstlineno
    nlines = len(kernel.src.splitlines())
    return any(f"test_hostile.py:{line}:" in msg for line in range(first, first + nlines + 1))


def refused(exc, launch, *names, out=None, kernel=scale_kernel):
    """launch() raises exc whose message names the kernel and every one of
    names; out (if given) is untouched; then a valid launch works."""
    before = None if out is None else out.copy()
    with pytest.raises(exc) as e:
        launch()
    msg = str(e.value)
    if kernel is not None:
        assert names_kernel(msg, kernel), f"{kernel.__name__} not named in {msg!r}"
    for n in names:
        assert n in msg, f"{n!r} not in {msg!r}"
    if out is not None:
        np.testing.assert_array_equal(out, before)
    still_works()
    return msg


# ------------------------------------------------------------ arguments

def test_too_few_arguments():
    x, out = arrays()
    refused(TypeError, lambda: scale_kernel[(1,)](x, out, N, BLOCK=BLOCK), "s", out=out)


def test_too_many_arguments():
    x, out = arrays()
    refused(TypeError, lambda: scale_kernel[(1,)](x, out, N, 2.0, 7, BLOCK=BLOCK), out=out)


def test_unknown_keyword():
    x, out = arrays()
    # upstream raises KeyError("Keyword argument BLOK was specified but unrecognised")
    refused((TypeError, KeyError), lambda: scale_kernel[(1,)](x, out, N, 2.0, BLOCK=BLOCK, BLOK=3), "BLOK", out=out,
            kernel=None)


def test_unknown_keyword_names_the_kernel():
    x, out = arrays()
    refused((TypeError, KeyError), lambda: scale_kernel[(1,)](x, out, N, 2.0, BLOCK=BLOCK, BLOK=3), "BLOK")


def test_missing_constexpr():
    x, out = arrays()
    refused(TypeError, lambda: scale_kernel[(1,)](x, out, N, 2.0), "BLOCK", out=out)


@pytest.mark.parametrize("bad", ["a string", object(), [1.0, 2.0], {"a": 1}, 1 + 2j, b"bytes"],
                         ids=["str", "object", "list", "dict", "complex", "bytes"])
def test_wrong_type_for_pointer(bad):
    _, out = arrays()
    if isinstance(bad, bytes):
        out = None  # in-bounds lanes of the failed launch were written
    # bytes is a buffer (read-only uint8): 5 bytes read 100 elements deep is out of bounds
    refused((TypeError, triton.CompilationError, triton.LaunchError),
            lambda: scale_kernel[(1,)](bad, out, N, 2.0, BLOCK=BLOCK),
            "x_ptr", out=out)


@pytest.mark.parametrize("bad", [np.zeros(3, np.float32), "3", 2**70, None], ids=["array", "str", "huge", "None"])
def test_wrong_type_for_scalar(bad):
    x, out = arrays()
    refused((TypeError, OverflowError, triton.CompilationError),
            lambda: scale_kernel[(1,)](x, out, bad, 2.0, BLOCK=BLOCK), out=out)


def test_none_pointer():
    _, out = arrays()
    refused((TypeError, ValueError, triton.CompilationError),
            lambda: scale_kernel[(1,)](None, out, N, 2.0, BLOCK=BLOCK), out=out)


def test_float64_array():
    x, out = arrays()
    # float64 arrays are taken as float64 memory; reading or writing them is a
    # located compile error (Metal has no double), and nothing runs
    refused(triton.CompilationError,
            lambda: scale_kernel[(1,)](x.astype(np.float64), out, N, 2.0, BLOCK=BLOCK),
            "x_ptr", "float64", out=out)
    # a float64 output is written exactly (as a double's bits)
    out64 = np.zeros(N)
    scale_kernel[(1,)](x, out64, N, 2.0, BLOCK=BLOCK)
    np.testing.assert_array_equal(out64, x.astype(np.float64) * 2.0)


@pytest.mark.parametrize("dtype", [np.complex64, np.object_, "U3", "datetime64[s]"])
def test_unsupported_dtype_array(dtype):
    _, out = arrays()
    bad = np.zeros(N, dtype=dtype)
    refused(TypeError, lambda: scale_kernel[(1,)](bad, out, N, 2.0, BLOCK=BLOCK), "x_ptr", out=out)


def test_read_only_array_written():
    x, out = arrays()
    out.setflags(write=False)
    msg = refused((TypeError, ValueError, triton.CompilationError, triton.LaunchError),
                  lambda: scale_kernel[(1,)](x, out, N, 2.0, BLOCK=BLOCK), "out_ptr", out=out)
    assert "read-only" in msg or "readonly" in msg or "not writable" in msg, msg
    # the read-only input is fine when only read
    x.setflags(write=False)
    out2 = np.zeros(N, np.float32)
    scale_kernel[(1,)](x, out2, N, 2.0, BLOCK=BLOCK)
    np.testing.assert_array_equal(out2, x * 2)


def test_non_contiguous_array():
    """A strided view is passed as upstream passes it (its data pointer); the
    kernel indexes it densely here, so it reads the view's memory from there,
    inside the array it views. A view whose strides leave its array's memory
    is refused, and a kernel reading past the array is a located error."""
    x, out = arrays()
    wide = np.arange(2 * N, dtype=np.float32)
    scale_kernel[(1,)](wide[::2], out, N, 2.0, BLOCK=BLOCK)
    np.testing.assert_array_equal(out, wide[:N] * 2)
    two_d = np.full((N, 2), SENTINEL, np.float32)
    scale_kernel[(1,)](x, two_d[:, 0], N, 2.0, BLOCK=BLOCK)
    np.testing.assert_array_equal(two_d.reshape(-1)[:N], x * 2)
    assert (two_d.reshape(-1)[N:] == SENTINEL).all()
    _, out = arrays()
    refused(triton.LaunchError, lambda: scale_kernel[(1,)](two_d[N // 2:, 1], out, N, 2.0, BLOCK=BLOCK),
            "x_ptr", "past the allocation of argument 'x_ptr'")
    _, out = arrays()
    refused(ValueError, lambda: scale_kernel[(1,)](
        np.lib.stride_tricks.as_strided(x, (N,), (8,)), out, N, 2.0, BLOCK=BLOCK),
        "x_ptr", "past the end of the memory of the array it views", out=out)


def test_empty_arrays_with_masked_kernel():
    """Zero elements, every lane masked off: runs and touches nothing."""
    x = np.zeros(0, np.float32)
    out = np.zeros(0, np.float32)
    scale_kernel[(1,)](x, out, 0, 2.0, BLOCK=BLOCK)
    still_works()


def test_empty_array_read_unmasked_is_out_of_bounds():
    x = np.zeros(0, np.float32)
    big = np.full(32, SENTINEL, np.float32)
    refused(triton.LaunchError, lambda: oob_kernel[(1,)](x, big[:16], BLOCK=16), "x_ptr", kernel=oob_kernel)
    assert (big[16:] == SENTINEL).all()


# ------------------------------------------------------------ grids

@pytest.mark.parametrize("grid", [(0,), (0, 1), (1, 0, 1), (5, 0)])
def test_grid_of_zero_launches_nothing(grid):
    x, out = arrays()
    scale_kernel[grid](x, out, N, 2.0, BLOCK=BLOCK)
    assert (out == SENTINEL).all()
    still_works()


BAD_GRIDS = {
    "negative": ((-1,), ValueError), "negative-y": ((1, -2), ValueError), "negative-z": ((1, 1, -3), ValueError),
    "very-negative": ((-(2**40),), ValueError), "2**32": ((2**32,), ValueError), "2**64": ((2**64,), ValueError),
    "y-2**32": ((1, 2**32), ValueError), "too-many-groups": ((2**31, 2**31, 2**31), triton.LaunchError),
    "4-dims": ((1, 1, 1, 1), ValueError), "0-dims": ((), ValueError),
    "float": ((1.5,), TypeError), "str": (("2",), TypeError), "None": ((None,), TypeError),
}


@pytest.mark.parametrize("name", BAD_GRIDS)
def test_bad_grid_is_refused(name):
    grid, exc = BAD_GRIDS[name]
    x, out = arrays()
    refused(exc, lambda: scale_kernel[grid](x, out, N, 2.0, BLOCK=BLOCK), out=out, kernel=None)


@pytest.mark.parametrize("name", ["negative", "2**32", "4-dims", "float"])
def test_bad_grid_error_names_the_kernel(name):
    grid, exc = BAD_GRIDS[name]
    x, out = arrays()
    refused(exc, lambda: scale_kernel[grid](x, out, N, 2.0, BLOCK=BLOCK), out=out)


def test_grid_callable_raising():
    x, out = arrays()

    def grid(meta):
        raise KeyError("no such meta")
    with pytest.raises(KeyError):
        scale_kernel[grid](x, out, N, 2.0, BLOCK=BLOCK)
    assert (out == SENTINEL).all()
    still_works()


# ------------------------------------------------------------ constexprs and block sizes

@pytest.mark.parametrize("bad", ["128", 128.0, None, [128], object()], ids=["str", "float", "None", "list", "object"])
def test_constexpr_of_wrong_type(bad):
    x, out = arrays()
    refused((TypeError, triton.CompilationError), lambda: scale_kernel[(1,)](x, out, N, 2.0, BLOCK=bad),
            out=out)


@pytest.mark.parametrize("block", [3, 100, 0, -128])
def test_block_not_power_of_two(block):
    x, out = arrays()
    msg = refused(triton.CompilationError, lambda: scale_kernel[(1,)](x, out, N, 2.0, BLOCK=block),
                  out=out)
    assert "test_hostile.py:" in msg and "error:" in msg, msg  # located in the kernel's file


@pytest.mark.parametrize("block", [2**21, 2**31, 2**62])
def test_block_too_large(block):
    x, out = arrays()
    msg = refused((triton.CompilationError, OverflowError, ValueError, TypeError),
                  lambda: scale_kernel[(1,)](x, out, N, 2.0, BLOCK=block), out=out)
    assert "error" in msg.lower() or "limit" in msg.lower() or "large" in msg.lower(), msg


@pytest.mark.parametrize("num_warps", [0, 3, 64, -1])
def test_bad_num_warps(num_warps):
    x, out = arrays()
    refused((ValueError, TypeError, triton.CompilationError),
            lambda: scale_kernel[(1,)](x, out, N, 2.0, BLOCK=BLOCK, num_warps=num_warps), "num_warps", out=out)


# ------------------------------------------------------------ out of bounds

def test_out_of_bounds_read():
    x = np.arange(10, dtype=np.float32)
    out = np.full(64, SENTINEL, np.float32)
    refused(triton.LaunchError, lambda: oob_kernel[(1,)](x, out, BLOCK=64), "out-of-bounds", "x_ptr",
            kernel=oob_kernel)


@pytest.mark.parametrize("dtype,n", [(np.float32, 1022), (np.float16, 1020)])
def test_out_of_bounds_vector_read_partly_past_the_end(dtype, n):
    """Unmasked loads of 1024 elements over 128 threads move vectors (16 bytes:
    4 floats, 8 halves): the array's last vector begins inside it and ends 8
    bytes past it. The check counts the vector's bytes, not its first
    element's."""
    x = np.arange(n, dtype=dtype)
    assert x.ctypes.data % 16 == 0  # NumPy's allocations: the vectors are aligned
    out = np.full(1024, SENTINEL, dtype)
    msg = refused(triton.LaunchError, lambda: oob_kernel[(1,)](x, out, BLOCK=1024), "out-of-bounds", "x_ptr",
                  kernel=oob_kernel)
    assert "past the end of argument 'x_ptr'" in msg, msg
    h = oob_kernel[(1,)](np.arange(1024, dtype=dtype), out, BLOCK=1024)
    assert re.search(r"\*TM_LDA\(\(device const (float4|uint4)\*\)", h.asm["msl"]), h.asm["msl"]
    np.testing.assert_array_equal(out, np.arange(1024, dtype=dtype))


def test_out_of_bounds_write_stays_inside_the_argument():
    """A view may be addressed anywhere inside the array it views (upstream
    passes a data pointer); a store past that array is refused before it
    lands. (The in-bounds lanes of a failed launch may have been written, as on
    a GPU.)"""
    x = np.arange(64, dtype=np.float32)
    big = np.full(64, SENTINEL, np.float32)
    oob_kernel[(1,)](x, big[:10], BLOCK=64)  # past the view, inside its array
    np.testing.assert_array_equal(big, x)
    big = np.full(80, SENTINEL, np.float32)
    refused(triton.LaunchError, lambda: oob_kernel[(1,)](x, big[20:], BLOCK=64), "out-of-bounds",
            "past the allocation of argument 'out_ptr'", kernel=oob_kernel)
    assert (big[:20] == SENTINEL).all()


def test_out_of_bounds_read_of_a_view():
    """A view into a larger array: the bound is the base array's memory."""
    base = np.arange(128, dtype=np.float32)
    out = np.full(64, SENTINEL, np.float32)
    refused(triton.LaunchError, lambda: oob_kernel[(1,)](base[100:], out, BLOCK=64), "x_ptr", kernel=oob_kernel)


def test_out_of_bounds_negative_offset():
    base = np.arange(128, dtype=np.float32)
    out = np.full(64, SENTINEL, np.float32)
    neg_kernel[(1,)](base[64:], out, BLOCK=64)  # below the view, inside its array
    np.testing.assert_array_equal(out, base[61:125])
    out = np.full(64, SENTINEL, np.float32)
    refused(triton.LaunchError, lambda: neg_kernel[(1,)](base[2:], out, BLOCK=64), "x_ptr",
            "before the allocation of argument 'x_ptr'", kernel=neg_kernel)


@triton.jit
def neg_kernel(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs - 3))


# ---- round two (issue 16)

@triton.jit
def _rec(x):
    return _rec(x + 1)


@triton.jit
def _mutual_a(x):
    return _mutual_b(x)


@triton.jit
def _mutual_b(x):
    return _mutual_a(x)


@triton.jit
def _calls_rec(p):
    tl.store(p, _rec(tl.load(p)))


@triton.jit
def _calls_mutual(p):
    tl.store(p, _mutual_a(tl.load(p)))


@pytest.mark.parametrize("kernel,name", [(_calls_rec, "_rec"), (_calls_mutual, "_mutual_a")])
def test_recursion_through_the_python_path_is_refused(kernel, name):
    # each helper came through the globals table as a fresh copy, so the
    # compiler's recursion guard never saw itself: a stack overflow (segfault)
    out = np.zeros(1, np.float32)
    msg = refused(triton.CompilationError, lambda: kernel[(1,)](out), "recursive call", name,
                  out=out, kernel=None)
    assert "test_hostile.py:" in msg


GLIST = [1, 2]
GTUPLE = (3, 4)


@triton.jit
def _uses_list(p):
    tl.store(p, GLIST[0])


@triton.jit
def _uses_tuple(p):
    tl.store(p, GTUPLE[1])


def test_unusable_global_says_why():
    # issue 16 item 12: "name 'GLIST' is not defined", though it is defined
    out = np.zeros(1, np.int32)
    refused(triton.CompilationError, lambda: _uses_list[(1,)](out), "global 'GLIST' is a list",
            "kernels cannot use", out=out, kernel=None)
    _uses_tuple[(1,)](out)   # a tuple of numbers is a compile-time value
    assert out[0] == 4


@triton.jit
def _unicode_names(ñ, größe, BLOCK: tl.constexpr):
    δ = tl.arange(0, BLOCK)
    tl.store(ñ + δ, δ * 2, mask=δ < größe)


def test_non_ascii_identifiers():
    # issue 16 item 13: valid Python, once "unexpected character"
    out = np.full(16, -1, np.int32)
    _unicode_names[(1,)](out, 11, BLOCK=16)
    np.testing.assert_array_equal(out, np.where(np.arange(16) < 11, np.arange(16) * 2, -1))
