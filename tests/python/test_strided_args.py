"""Strided and non-contiguous tensor arguments (issue 13).

A view is passed as upstream passes it: its data pointer, whatever its strides;
the kernel addresses elements through the strides it is given. The kernel may
address the whole allocation the view lives in (before its data pointer too);
past the allocation is a located error naming the argument. Every case runs on
the cpu emulator and on metal-sim (whose metal device stages or wraps the whole
allocation and binds the view at its data pointer), against NumPy/torch
references on random data with negatives, NaN and inf, sizes that are not
multiples of the block, and masked lanes."""
import importlib

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from triton_metal import _C

torch = pytest.importorskip("torch")
tmjit = importlib.import_module("triton_metal.jit")


@triton.jit
def scale2d(x_ptr, sx0, sx1, out_ptr, so0, so1, M, N, BM: tl.constexpr, BN: tl.constexpr):
    rm = tl.program_id(0) * BM + tl.arange(0, BM)
    rn = tl.program_id(1) * BN + tl.arange(0, BN)
    m = (rm[:, None] < M) & (rn[None, :] < N)
    v = tl.load(x_ptr + rm[:, None] * sx0 + rn[None, :] * sx1, mask=m, other=0.0)
    tl.store(out_ptr + rm[:, None] * so0 + rn[None, :] * so1, v * 2.0 - 1.0, mask=m)


@triton.jit
def copy2d_u32(x_ptr, sx0, sx1, out_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
    rm = tl.arange(0, BM)
    rn = tl.arange(0, BN)
    m = (rm[:, None] < M) & (rn[None, :] < N)
    v = tl.load(x_ptr + rm[:, None] * sx0 + rn[None, :] * sx1, mask=m)
    tl.store(out_ptr + rm[:, None] * N + rn[None, :], v ^ 0x80000001, mask=m)


@triton.jit
def shifted(x_ptr, out_ptr, shift, n, BLOCK: tl.constexpr):
    """out[i] = x[i - shift] + 1: reads below x's data pointer when shift > 0."""
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = i < n
    tl.store(out_ptr + i, tl.load(x_ptr + (i - shift), mask=m) + 1.0, mask=m)


KERNELS = (scale2d, copy2d_u32, shifted)
BM, BN = 16, 8
SENTINEL = -777.0


@pytest.fixture(params=["cpu", "metal-sim"])
def device(request):
    """The process's device is cpu or metal-sim during the test."""
    saved = tmjit._device
    dev = _C.Device(request.param)
    tmjit._device = dev

    def reset():
        for k in KERNELS:
            for c in k.cache.values():
                c.module = None  # a compiled kernel keeps the module of its device
            k.fast_cache.clear()

    reset()
    yield dev
    dev.synchronize()
    tmjit._device = saved
    reset()


def rand(shape, seed):
    """Random float32 with negatives, NaN and inf mixed in."""
    r = np.random.default_rng(seed)
    a = (r.standard_normal(shape) * 10).astype(np.float32)
    flat = a.reshape(-1)
    flat[r.integers(0, flat.size, 3)] = np.nan
    flat[r.integers(0, flat.size, 2)] = np.inf
    flat[r.integers(0, flat.size, 2)] = -np.inf
    return a


def launch_scale(x, out, xs, os_):
    M, N = x.shape
    grid = (triton.cdiv(M, BM), triton.cdiv(N, BN))
    scale2d[grid](x, xs[0], xs[1], out, os_[0], os_[1], M, N, BM=BM, BN=BN)


def np_strides(a):
    return tuple(s // a.itemsize for s in a.strides)


# ------------------------------------------------------------ reading views

def torch_views():
    base = torch.from_numpy(rand((41, 29), 1))
    col = torch.from_numpy(rand((23, 1), 2))
    return {
        "transposed": base.t(),
        "offset slice": base[5:, 3:],
        "step slice": base[1::3, ::2],
        "column": base[:, 7:8],
        "expanded rows": col.expand(23, 19),            # zero stride
        "expanded 3d, one plane": base[None].expand(4, 41, 29)[2, 2:, 1:],
    }


@pytest.mark.parametrize("case", list(torch_views()))
def test_torch_views_read(device, case):
    x = torch_views()[case]
    out = torch.full(x.shape, SENTINEL)
    launch_scale(x, out, x.stride(), out.stride())
    np.testing.assert_array_equal(out.numpy(), (x * 2 - 1).numpy())


def numpy_views():
    base = rand((37, 26), 3)
    return {
        "transposed": base.T,
        "negative rows": base[::-1],
        "negative both, steps": base[::-2, ::-3],
        "offset slice": base[4:, 5:],
        "broadcast (zero stride, read-only)": np.broadcast_to(base[3], (9, 26)),
        "frombuffer view": np.frombuffer(bytearray(base.tobytes()), np.float32)
                             .reshape(37, 26)[2:, 1:][::-1],
    }


@pytest.mark.parametrize("case", list(numpy_views()))
def test_numpy_views_read(device, case):
    x = numpy_views()[case]
    out = np.full(x.shape, SENTINEL, np.float32)
    launch_scale(x, out, np_strides(x), np_strides(out))
    np.testing.assert_array_equal(out, x * 2 - 1)


# ------------------------------------------------------------ writing through views

def test_torch_writes_through_transposed_and_stepped_views(device):
    x = torch.from_numpy(rand((19, 33), 4))
    big = torch.full((40, 50), SENTINEL)
    out = big[3::2, 5:24].t()  # a (19, 19) view: transposed, rows stepped, offset
    xv = x[:, :19]
    launch_scale(xv, out, xv.stride(), out.stride())
    want = np.full((40, 50), SENTINEL, np.float32)
    want[3::2, 5:24] = (xv * 2 - 1).numpy().T
    np.testing.assert_array_equal(big.numpy(), want)


def test_numpy_writes_through_negative_strides(device):
    x = rand((21, 13), 5)
    big = np.full((24, 30), SENTINEL, np.float32)
    out = big[22:1:-1, 28:2:-2]  # (21, 13), both strides negative
    launch_scale(x, out, np_strides(x), np_strides(out))
    want = np.full((24, 30), SENTINEL, np.float32)
    want[22:1:-1, 28:2:-2] = x * 2 - 1
    np.testing.assert_array_equal(big, want)


def test_two_views_of_one_allocation(device):
    """Read one column, write another of the same array: on metal-sim both
    arguments are bound through one buffer at their data pointers."""
    a = rand((25, 3), 6)
    before = a.copy()
    x, out = a[:, :1], a[:, 2:]
    launch_scale(x, out, np_strides(x), np_strides(out))
    np.testing.assert_array_equal(a[:, 2], before[:, 0] * 2 - 1)
    np.testing.assert_array_equal(a[:, :2], before[:, :2])


def test_reinterpreted_transposed_view(device):
    """A TensorWrapper (triton.runtime.jit.reinterpret) of a strided view: the
    same memory seen as uint32."""
    r = np.random.default_rng(7)
    base = torch.from_numpy(r.integers(-2**31, 2**31, (12, 10), dtype=np.int64).astype(np.int32))
    view = base.t()[1:, 2:]  # (9, 10)
    x = tmjit.reinterpret(view, tl.uint32)
    out = np.zeros(view.shape, np.uint32)
    copy2d_u32[(1,)](x, view.stride(0), view.stride(1), out, view.shape[0], view.shape[1],
                     BM=16, BN=16)
    np.testing.assert_array_equal(out, view.numpy().view(np.uint32) ^ np.uint32(0x80000001))


# ------------------------------------------------------------ memory around the data pointer

def test_reads_below_the_data_pointer_inside_the_allocation(device):
    for mk in (lambda a: a, torch.from_numpy):
        base = mk(rand(300, 8))
        out = mk(np.full(250, SENTINEL, np.float32))
        x = base[50:]
        shifted[(triton.cdiv(250, 64),)](x, out, 50, 250, BLOCK=64)  # reads base[0:250]
        np.testing.assert_array_equal(np.asarray(out), np.asarray(base[:250]) + 1)


def test_read_below_the_allocation_is_a_located_error(device):
    base = rand(300, 9)
    out = np.full(250, SENTINEL, np.float32)
    with pytest.raises(triton.LaunchError) as e:
        shifted[(4,)](base[50:], out, 51, 250, BLOCK=64)
    msg = str(e.value)
    assert "out-of-bounds load in kernel 'shifted'" in msg
    assert f"test_strided_args.py:{shifted.fn.__code__.co_firstlineno + 5}" in msg
    assert ("4 bytes before the allocation of argument 'x_ptr' (its allocation: 200 bytes "
            "before its data pointer and 1000 from it)") in msg


def test_read_past_the_allocation_is_a_located_error(device):
    base = torch.from_numpy(rand((60, 5), 10))
    out = torch.full((300,), SENTINEL)
    # column 3 read densely from its data pointer: 3 + 298 > 300 elements
    with pytest.raises(triton.LaunchError,
                       match=r"out-of-bounds load in kernel 'shifted' at .*test_strided_args.py:\d+: "
                             r"address is 4 bytes past the allocation of argument 'x_ptr' \(its "
                             r"allocation: 12 bytes before its data pointer and 1188 from it\)"):
        shifted[(2,)](base[:, 3], out, 0, 298, BLOCK=256)
    shifted[(2,)](base[:, 3], out, 0, 120, BLOCK=64)  # inside: fine
    np.testing.assert_array_equal(out.numpy()[:120], base.reshape(-1)[3:123].numpy() + 1)


def test_view_outside_its_array_is_refused(device):
    base = np.zeros(10, np.float32)
    view = np.lib.stride_tricks.as_strided(base[2:], (5,), (8,))  # reaches element 10
    out = np.full(5, SENTINEL, np.float32)
    with pytest.raises(ValueError, match="shifted: argument 'x_ptr': its shape and strides reach 4 "
                                         "bytes past the end of the memory of the array it views"):
        shifted[(1,)](view, out, 0, 5, BLOCK=64)
    assert (out == SENTINEL).all()


# ------------------------------------------------------------ the fast path

def test_strided_views_stay_on_the_fast_path(device, monkeypatch):
    x = torch.from_numpy(rand((30, 20), 11)).t()
    out = torch.zeros(x.shape)
    launch_scale(x, out, x.stride(), out.stride())  # compiles, fills the launch cache
    calls = []
    slow = scale2d._slow_run
    monkeypatch.setattr(scale2d, "_slow_run", lambda *a: calls.append(1) or slow(*a))
    y = torch.from_numpy(rand((40, 20), 12))[5:35].t()  # another view, same key
    out2 = torch.zeros(y.shape)
    launch_scale(y, out2, y.stride(), out2.stride())
    assert calls == []
    np.testing.assert_array_equal(out2.numpy(), (y * 2 - 1).numpy())


# ------------------------------------------------------------ device buffers (metal-sim)

def test_device_views_address_their_whole_buffer(monkeypatch):
    """torch MPS tensors and MLX arrays are an MTLBuffer at an offset: a view
    may read below its offset, down to the buffer's first byte, not below."""
    from test_interop_launch import DeviceArray, FakeMPSTensor
    monkeypatch.setattr(torch.mps, "synchronize", lambda: None)  # no MPS here
    saved = tmjit._device
    dev = _C.Device("metal-sim")
    tmjit._device = dev
    shifted.fast_cache.clear()
    for c in shifted.cache.values():
        c.module = None
    try:
        vals = rand(200, 13)
        xa = DeviceArray(dev, vals[40:], offset=40)  # the buffer's first 40 elements are -7
        xa.all[:40] = vals[:40]
        t = FakeMPSTensor(xa)
        out = np.full(150, SENTINEL, np.float32)
        shifted[(3,)](t, out, 40, 150, BLOCK=64)  # reads the buffer's elements 0..150
        np.testing.assert_array_equal(out, vals[:150] + 1)
        with pytest.raises(triton.LaunchError, match="4 bytes before the allocation of argument "
                                                     "'x_ptr' \\(its allocation: 160 bytes before"):
            shifted[(3,)](t, out, 41, 150, BLOCK=64)
        xa.free()
    finally:
        dev.synchronize()
        tmjit._device = saved
        shifted.fast_cache.clear()
        for c in shifted.cache.values():
            c.module = None


def test_metal_capsule_view_addresses_its_whole_buffer():
    """An MLX array (a kDLMetal DLPack capsule) is its MTLBuffer at an offset:
    the buffer is its allocation, down to the first byte."""
    from test_interop_launch import DeviceArray, metal_capsule
    saved = tmjit._device
    dev = _C.Device("metal-sim")
    tmjit._device = dev
    shifted.fast_cache.clear()
    for c in shifted.cache.values():
        c.module = None
    try:
        vals = rand(120, 14)
        arr = DeviceArray(dev, vals[24:], offset=24)
        arr.all[:24] = vals[:24]
        out = np.full(100, SENTINEL, np.float32)
        cap, keep = metal_capsule(arr)
        shifted[(2,)](cap, out, 24, 100, BLOCK=64)  # reads buffer elements 0..100
        np.testing.assert_array_equal(out, vals[:100] + 1)
        cap, keep = metal_capsule(arr)
        with pytest.raises(triton.LaunchError, match="before the allocation of argument 'x_ptr'"):
            shifted[(2,)](cap, out, 25, 100, BLOCK=64)
        del keep
        arr.free()
    finally:
        dev.synchronize()
        tmjit._device = saved
        shifted.fast_cache.clear()
        for c in shifted.cache.values():
            c.module = None


def test_c_pointer_arg_reports_the_allocation():
    a = np.zeros((6, 8), np.float32)
    lo = a.ctypes.data
    assert _C.pointer_arg(a[::-1, 2:]) == (12, lo + 5 * 32 + 8, 32 - 8, 0, 5 * 32 + 8)
    t = torch.zeros(6, 8)
    v = t.t()[3:]
    assert _C.pointer_arg(v) == (12, v.data_ptr(), 192 - 12, 0, 12)
    e = torch.zeros(3)[1:2].expand(5)
    assert _C.pointer_arg(e)[2:] == (8, 0, 4)
    assert _C.pointer_arg(np.zeros((0, 3), np.float32)[:, ::-1])[2:] == (0, 0, 0)
