"""Pointers loaded from memory (issue 13): a tensor holding the addresses of
other tensors, as grouped GEMM kernels use. A loaded pointer may reach the
allocations of the launch's pointer arguments and the memory registered with
triton_metal.kernel_visible (include/triton_metal.h, tm_visible_add); anything
else is a located error. On cpu and on metal-sim (which makes registered memory
resident with useResource and checks bound and resident ranges), against NumPy
references on random data with negatives, NaN and masked lanes, sizes that are
not multiples of the block."""
import importlib

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from triton_metal import _C

tmjit = importlib.import_module("triton_metal.jit")
PAGE = 16384


@triton.jit
def gather_scale(ptrs, outs, sizes, s, BLOCK: tl.constexpr):
    """outs[g][i] = ptrs[g][i] * s for i < sizes[g]: both pointers loaded."""
    g = tl.program_id(0)
    n = tl.load(sizes + g)
    src = tl.load(ptrs + g).to(tl.pointer_type(tl.float32))
    dst = tl.load(outs + g).to(tl.pointer_type(tl.float32))
    for start in range(0, n, BLOCK):
        i = start + tl.arange(0, BLOCK)
        m = i < n
        tl.store(dst + i, tl.load(src + i, mask=m) * s, mask=m)


@triton.jit
def grouped_mm(a_ptrs, b_ptrs, c_ptrs, dims, BM: tl.constexpr, BN: tl.constexpr,
               BK: tl.constexpr):
    """C[g] = A[g] @ B[g] (fp16 in, fp32 out, row-major) for the group g of
    program_id(1); program_id(0) is the output tile."""
    g = tl.program_id(1)
    M = tl.load(dims + 3 * g)
    N = tl.load(dims + 3 * g + 1)
    K = tl.load(dims + 3 * g + 2)
    tiles_n = tl.cdiv(N, BN)
    tm = tl.program_id(0) // tiles_n
    tn = tl.program_id(0) % tiles_n
    if tm * BM < M:
        a = tl.load(a_ptrs + g).to(tl.pointer_type(tl.float16))
        b = tl.load(b_ptrs + g).to(tl.pointer_type(tl.float16))
        c = tl.load(c_ptrs + g).to(tl.pointer_type(tl.float32))
        rm = tm * BM + tl.arange(0, BM)
        rn = tn * BN + tl.arange(0, BN)
        rk = tl.arange(0, BK)
        acc = tl.zeros((BM, BN), dtype=tl.float32)
        for k0 in range(0, K, BK):
            ka = k0 + rk
            x = tl.load(a + rm[:, None] * K + ka[None, :],
                        mask=(rm[:, None] < M) & (ka[None, :] < K), other=0.0)
            y = tl.load(b + ka[:, None] * N + rn[None, :],
                        mask=(ka[:, None] < K) & (rn[None, :] < N), other=0.0)
            acc += tl.dot(x, y)
        tl.store(c + rm[:, None] * N + rn[None, :], acc, mask=(rm[:, None] < M) & (rn[None, :] < N))


@triton.jit
def read_through(ptrs, out, n, BLOCK: tl.constexpr):
    """out[i] = (*ptrs[0])[i] + 1 for i < n."""
    i = tl.arange(0, BLOCK)
    m = i < n
    src = tl.load(ptrs).to(tl.pointer_type(tl.float32))
    tl.store(out + i, tl.load(src + i, mask=m) + 1.0, mask=m)


@triton.jit
def write_through(ptrs, n, BLOCK: tl.constexpr):
    """(*ptrs[0])[i] = i for i < n."""
    i = tl.arange(0, BLOCK)
    dst = tl.load(ptrs).to(tl.pointer_type(tl.float32))
    tl.store(dst + i, i.to(tl.float32), mask=i < n)


KERNELS = (gather_scale, grouped_mm, read_through, write_through)


def _use(name):
    saved = tmjit._device
    dev = _C.Device(name)
    tmjit._device = dev

    def reset():
        for k in KERNELS:
            for c in k.cache.values():
                c.module = None
            k.fast_cache.clear()

    reset()
    return dev, saved, reset


@pytest.fixture(params=["cpu", "metal-sim"])
def device(request):
    dev, saved, reset = _use(request.param)
    yield dev
    dev.synchronize()
    tmjit._device = saved
    reset()


@pytest.fixture
def sim():
    dev, saved, reset = _use("metal-sim")
    yield dev
    dev.synchronize()
    tmjit._device = saved
    reset()


def page_aligned(n, dtype=np.float32):
    """A zeroed NumPy array whose memory starts on a 16 KB page (the metal
    devices wrap registered host memory without copying)."""
    it = np.dtype(dtype).itemsize
    raw = np.zeros(n * it + PAGE, np.uint8)
    off = (-raw.ctypes.data) % PAGE
    return raw[off:off + n * it].view(dtype)


def rand(n, seed, dtype=np.float32):
    r = np.random.default_rng(seed)
    a = page_aligned(n, dtype)
    a[:] = (r.standard_normal(n) * 4).astype(dtype)
    if n > 3 and dtype == np.float32:
        a[r.integers(0, n, 2)] = np.nan
    return a


def table(addresses):
    t = np.array(addresses, dtype=np.int64)
    return t


# ------------------------------------------------------------ working cases

def test_gather_scale_through_loaded_pointers(device):
    sizes = [13, 64, 100, 1, 0]
    srcs = [rand(n, 10 + i) for i, n in enumerate(sizes)]
    outs = [page_aligned(n) - 99.0 for n in sizes]  # -99 sentinels
    with triton.kernel_visible(*srcs, *outs) as vis:
        k = len(sizes)
        ptrs, dsts = table(vis.addresses[:k]), table(vis.addresses[k:])
        gather_scale[(k,)](ptrs, dsts, np.array(sizes, np.int32), -1.5, BLOCK=32)
    for src, out in zip(srcs, outs):
        np.testing.assert_array_equal(out, src * np.float32(-1.5))


def test_grouped_gemm(device):
    dims = [(13, 20, 24), (32, 16, 40), (7, 9, 17)]
    r = np.random.default_rng(5)
    A = [page_aligned(m * k, np.float16) for m, n, k in dims]
    B = [page_aligned(k * n, np.float16) for m, n, k in dims]
    C = [page_aligned(m * n) for m, n, k in dims]
    for a, b in zip(A, B):
        a[:] = r.uniform(-2, 2, a.size).astype(np.float16)
        b[:] = r.uniform(-2, 2, b.size).astype(np.float16)
    with triton.kernel_visible(*A, *B, *C) as vis:
        g = len(dims)
        ad = vis.addresses
        BM = BN = BK = 16
        tiles = max(triton.cdiv(m, BM) * triton.cdiv(n, BN) for m, n, k in dims)
        grouped_mm[(tiles, g)](table(ad[:g]), table(ad[g:2 * g]), table(ad[2 * g:]),
                               np.array(dims, np.int32).reshape(-1), BM=BM, BN=BN, BK=BK)
    for (m, n, k), a, b, c in zip(dims, A, B, C):
        want = a.reshape(m, k).astype(np.float32) @ b.reshape(k, n).astype(np.float32)
        np.testing.assert_allclose(c.reshape(m, n), want, rtol=1e-3, atol=1e-3)


def test_pointer_into_an_argument(device):
    """A loaded pointer may reach the allocation of a pointer argument. On cpu
    the kernel sees arguments where they are, so their data pointers work as
    they are; a metal device binds an argument at an address of its own
    choosing (a wrap or a staged copy), so a table reaches it only through a
    registration, whose buffer the argument is then bound through."""
    base = rand(50, 3)
    want = base.copy()
    want[:40] += 1
    if device.name == "cpu":  # read through the table, written in place
        read_through[(1,)](table([base.ctypes.data]), base[:40], 40, BLOCK=64)
        np.testing.assert_array_equal(base, want)
        want[:40] += 1
    with triton.kernel_visible(base) as vis:
        read_through[(1,)](table(vis.addresses), base[:40], 40, BLOCK=64)
    np.testing.assert_array_equal(base, want)


def test_strided_view_registered(device):
    """Registering a view registers the allocation it lives in."""
    base = rand(64, 4)
    view = base[8:40:2]
    with triton.kernel_visible(view) as vis:
        assert vis.addresses[0] == view.ctypes.data or device.name != "cpu"
        out = np.zeros(56, np.float32)
        # from the view's data pointer, densely, to the end of its array
        read_through[(1,)](table(vis.addresses), out, 56, BLOCK=64)
    np.testing.assert_array_equal(out, base[8:] + 1)


# ------------------------------------------------------------ located errors

def test_unregistered_memory_is_a_located_error(device):
    src = rand(20, 6)
    out = np.full(20, -5.0, np.float32)
    line = read_through.fn.__code__.co_firstlineno + 6  # the decorator's line + 6
    with pytest.raises(triton.LaunchError,
                       match=rf"out-of-bounds load in kernel 'read_through' at .*"
                             rf"test_pointers_in_memory.py:{line}: address 0x[0-9a-f]+ is in no "
                             r"argument's allocation nor in memory registered as kernel-visible"):
        read_through[(1,)](table([src.ctypes.data]), out, 20, BLOCK=32)


def test_released_memory_is_unreachable(device):
    src = rand(20, 7)
    vis = triton.kernel_visible(src)
    t = table(vis.addresses)
    out = np.zeros(20, np.float32)
    read_through[(1,)](t, out, 20, BLOCK=32)
    np.testing.assert_array_equal(out, src + 1)
    vis.release()
    assert not vis.registered
    with pytest.raises(triton.LaunchError, match="nor in memory registered as kernel-visible"):
        read_through[(1,)](t, out, 20, BLOCK=32)


def test_overrun_of_registered_memory(device):
    src = np.random.default_rng(8).standard_normal(20).astype(np.float32)  # owns 80 bytes
    with triton.kernel_visible(src[:16]) as vis:  # registers src's whole array
        out = np.zeros(32, np.float32)
        read_through[(1,)](table(vis.addresses), out, 20, BLOCK=32)
        np.testing.assert_array_equal(out[:20], src + 1)
        with pytest.raises(triton.LaunchError,
                           match=r"address is 4 bytes past the end of kernel-visible memory "
                                 r"registered at 0x[0-9a-f]+ \(80 bytes\)"):
            read_through[(1,)](table(vis.addresses), out, 21, BLOCK=32)
        before = table([vis.addresses[0] - 4])
        with pytest.raises(triton.LaunchError,
                           match=r"address is 4 bytes before the start of kernel-visible memory"):
            read_through[(1,)](before, out, 2, BLOCK=32)


def test_read_only_registration_refuses_stores(device):
    dst = page_aligned(16)
    dst.flags.writeable = False
    with triton.kernel_visible(dst) as vis:
        with pytest.raises(triton.LaunchError, match="store to read-only kernel-visible memory"):
            write_through[(1,)](table(vis.addresses), 16, BLOCK=16)
    assert (dst == 0).all()
    dst.flags.writeable = True
    with triton.kernel_visible(dst) as vis:
        write_through[(1,)](table(vis.addresses), 16, BLOCK=16)
    np.testing.assert_array_equal(dst, np.arange(16, dtype=np.float32))


def test_registration_refusals(device):
    with pytest.raises(TypeError, match="kernel_visible: argument #0 of type int is not an array"):
        triton.kernel_visible(5)
    # float64 memory may be registered (kernels may address it, e.g. as int64
    # words); reading it as float64 is what the compiler refuses
    with triton.kernel_visible(np.zeros(4)) as vis:
        assert len(vis.addresses) == 1


# ------------------------------------------------------------ metal-sim specifics

def test_host_memory_is_wrapped_not_copied_on_metal(sim):
    """Registered host memory (here not page-aligned) is wrapped once: a store
    through a loaded pointer lands in the caller's memory itself, with no
    staging copy, and checks hold to the registered bytes, not the pages."""
    dst = np.full(37, -1.0, np.float32)[1:]
    with triton.kernel_visible(dst) as vis:
        s0 = sim.stats()
        write_through[(1,)](table(vis.addresses), 36, BLOCK=64)
        s1 = sim.stats()
    np.testing.assert_array_equal(dst, np.arange(36, dtype=np.float32))
    assert s1["staged_args"] - s0["staged_args"] == 1  # the table argument only


def test_device_buffers_are_made_resident(sim, monkeypatch):
    """An MTLBuffer-backed tensor (a torch MPS stand-in over a metal-sim buffer)
    registered by its buffer: launches reach it through its GPU address, and
    while it is registered every launch takes the Python path, which
    synchronizes it with its producer."""
    torch = pytest.importorskip("torch")
    from test_interop_launch import DeviceArray, FakeMPSTensor
    syncs = []
    monkeypatch.setattr(torch.mps, "synchronize", lambda: syncs.append(1))
    vals = rand(30, 9)
    arr = DeviceArray(sim, vals, offset=4)
    t = FakeMPSTensor(arr)
    out = np.zeros(30, np.float32)
    read_through[(1,)](table([0]), out, 0, BLOCK=32)  # compiled, fast path filled
    with triton.kernel_visible(t) as vis:
        calls = []
        slow = read_through._slow_run
        monkeypatch.setattr(read_through, "_slow_run", lambda *a: calls.append(1) or slow(*a))
        n0 = len(syncs)
        read_through[(1,)](table(vis.addresses), out, 30, BLOCK=32)
        assert calls and len(syncs) > n0
    np.testing.assert_array_equal(out, vals + 1)
    arr.free()
