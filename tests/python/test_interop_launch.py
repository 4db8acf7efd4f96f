"""Interop objects through the launch path (docs/metal.md, "Integration").

Objects that live in Metal memory (torch MPS tensors, MLX arrays, kDLMetal
DLPack capsules) cannot exist here, so fakes with exactly the attributes
interop.py reads stand in for them, over real MTLBuffers of metal-sim
(Device.buffer_new). metal-sim runs command buffers only when someone waits,
so a result read right after kernel[grid](...) returns is correct only if the
launch path synchronized: these tests fail if it does not.

The process's device is swapped for a metal-sim (or cpu) device per test, so
the file runs the same under any TRITON_METAL_DEVICE."""
import ctypes
import types

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
import importlib

from triton_metal import _C, _tm, interop


@triton.jit
def axpy(x_ptr, y_ptr, out_ptr, n, a, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    y = tl.load(y_ptr + offs, mask=m)
    tl.store(out_ptr + offs, a * x + y, mask=m)


tmjit = importlib.import_module("triton_metal.jit")  # the module (triton_metal.jit is the decorator)
N, BLOCK = 100, 64
GRID = (triton.cdiv(N, BLOCK),)


def on_device(name):
    """A fixture body: the process's device is `name` during the test."""
    saved = tmjit._device
    dev = _C.Device(name)
    tmjit._device = dev
    # compiled kernels keep the module of the device they were loaded on
    for c in axpy.cache.values():
        c.module = None
    axpy.fast_cache.clear()
    yield dev
    dev.synchronize()
    tmjit._device = saved
    for c in axpy.cache.values():
        c.module = None
    axpy.fast_cache.clear()


@pytest.fixture
def sim():
    yield from on_device("metal-sim")


@pytest.fixture
def cpu():
    yield from on_device("cpu")


class DeviceArray:
    """elements of dtype in a metal-sim MTLBuffer, starting `offset` elements in
    (as a tensor that is a view into its storage); .host reads the contents."""

    def __init__(self, dev, values, offset=0, dtype=np.float32):
        values = np.asarray(values, dtype)
        self.dev, self.n, self.offset, self.np_dtype = dev, values.size, offset, values.dtype
        size = (self.n + offset) * values.itemsize
        self.buffer, contents = dev.buffer_new(size)
        raw = (ctypes.c_char * size).from_address(contents)
        self.all = np.frombuffer(raw, dtype=values.dtype)
        self.all[:] = -7
        self.host[:] = values

    @property
    def host(self):
        return self.all[self.offset:]

    def free(self):
        self.dev.buffer_free(self.buffer)


class _Dtype:
    def __init__(self, name):
        self.name = name

    def __str__(self):
        return f"torch.{self.name}"


class FakeMPSTensor:
    """What interop._torch reads of a torch tensor on 'mps'."""

    def __init__(self, arr, contiguous=True, dtype_name=None):
        self.arr, self.contiguous = arr, contiguous
        self.dtype = _Dtype(dtype_name or arr.np_dtype.name)
        self.device = types.SimpleNamespace(type="mps")

    def numel(self):
        return self.arr.n

    def element_size(self):
        return self.arr.np_dtype.itemsize

    def is_contiguous(self):
        return self.contiguous

    def untyped_storage(self):
        return types.SimpleNamespace(data_ptr=lambda: self.arr.buffer)

    def storage_offset(self):
        return self.arr.offset

    def data_ptr(self):
        return self.arr.buffer + self.arr.offset * self.element_size()


FakeMPSTensor.__module__ = "torch"

_DL_CODES = {"float32": (2, 32), "float16": (2, 16), "int32": (0, 32), "float64": (2, 64)}
_DELETER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def metal_capsule(arr, deleted=None, versioned_readonly=False):
    """A DLPack capsule of device kDLMetal over arr's MTLBuffer (as MLX exports
    on a Mac); deleted (a list) records the deleter's call. Returns (capsule,
    what must outlive it)."""
    shape = (ctypes.c_int64 * 1)(arr.n)
    m = interop._DLManagedTensorVersioned() if versioned_readonly else interop._DLManagedTensor()
    t = m.dl_tensor
    t.data = arr.buffer
    t.device.device_type = interop.KDL_METAL
    t.ndim = 1
    t.dtype.code, t.dtype.bits = _DL_CODES[arr.np_dtype.name]
    t.dtype.lanes = 1
    t.shape = shape
    t.byte_offset = arr.offset * arr.np_dtype.itemsize
    if versioned_readonly:
        m.version.major, m.flags = 1, interop.DLPACK_FLAG_READ_ONLY
    deleter = _DELETER(lambda addr: deleted.append(addr)) if deleted is not None else None
    if deleter is not None:
        m.deleter = ctypes.cast(deleter, ctypes.c_void_p)
    new = ctypes.pythonapi.PyCapsule_New
    new.restype = ctypes.py_object
    new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    name = b"dltensor_versioned" if versioned_readonly else b"dltensor"
    return new(ctypes.addressof(m), name, None), (m, shape, deleter)


class FakeMLXArray:
    """What interop reads of an MLX array: its module, and __dlpack__()."""

    def __init__(self, arr, deleted=None):
        self.arr, self.deleted, self.alive = arr, deleted, []

    def __dlpack__(self, **kw):
        cap, keep = metal_capsule(self.arr, self.deleted)
        self.alive.append(keep)
        return cap


FakeMLXArray.__module__ = "mlx.core"


def inputs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(N).astype(np.float32)
    y = rng.standard_normal(N).astype(np.float32)
    return x, y, 2 * x + y


@pytest.fixture
def mps_sync(monkeypatch):
    """torch.mps.synchronize, recorded (interop's sync_before for MPS tensors)."""
    torch = pytest.importorskip("torch")
    calls = []
    monkeypatch.setattr(torch.mps, "synchronize", lambda: calls.append(1))
    return calls


# ------------------------------------------------------------ routing on metal-sim

def test_mps_tensors_bind_their_buffers_and_synchronize(sim, mps_sync):
    x, y, want = inputs()
    xa, outa = DeviceArray(sim, x, offset=4), DeviceArray(sim, np.zeros(N), offset=3)
    before = sim.stats()
    axpy[GRID](FakeMPSTensor(xa), y, FakeMPSTensor(outa), N, 2.0, BLOCK=BLOCK)
    # no explicit synchronize: the launch path waited (metal-sim runs nothing until then)
    np.testing.assert_allclose(outa.host, want, rtol=1e-6)
    assert (outa.all[:3] == -7).all()  # the offset was honoured: nothing before it written
    after = sim.stats()
    assert after["dispatches"] == before["dispatches"] + 1
    # only y (NumPy) went through host binding; the two MPS tensors were bound as buffers
    assert (after["zero_copy_args"] + after["staged_args"]
            - before["zero_copy_args"] - before["staged_args"]) == 1
    assert len(mps_sync) == 2  # sync_before per MPS argument, before the launch
    # the specialization sees the storage offset's alignment: 16 bytes yes, 12 no
    specs = axpy._specialize(FakeMPSTensor(xa), y, FakeMPSTensor(outa), N, 2.0, BLOCK=BLOCK)
    assert specs[0][2] & _tm.PF_DIV16 and not specs[2][2] & _tm.PF_DIV16
    xa.free(), outa.free()


def test_mps_repeated_launches_stay_correct(sim, mps_sync):
    x, y, want = inputs()
    xa, ya, outa = DeviceArray(sim, x), DeviceArray(sim, y), DeviceArray(sim, np.zeros(N))
    for i in range(3):
        ya.host[:] = y + i
        axpy[GRID](FakeMPSTensor(xa), FakeMPSTensor(ya), FakeMPSTensor(outa), N, 2.0,
                   BLOCK=BLOCK)
        np.testing.assert_allclose(outa.host, 2 * x + (y + i), rtol=1e-6, atol=1e-6)
    for a in (xa, ya, outa):
        a.free()


def test_mlx_arrays_and_metal_capsules(sim):
    x, y, want = inputs()
    xa, ya, outa = DeviceArray(sim, x, offset=8), DeviceArray(sim, y), DeviceArray(sim, np.zeros(N))
    deleted = []
    axpy[GRID](FakeMLXArray(xa, deleted), FakeMLXArray(ya, deleted), FakeMLXArray(outa, deleted),
               N, 2.0, BLOCK=BLOCK)
    np.testing.assert_allclose(outa.host, want, rtol=1e-6)
    assert len(deleted) == 3  # the consumed capsules were released after the launch
    outa.host[:] = 0
    cap, keep = metal_capsule(outa)
    axpy[GRID](x, y, cap, N, 2.0, BLOCK=BLOCK)  # a bare kDLMetal capsule
    np.testing.assert_allclose(outa.host, want, rtol=1e-6)
    with pytest.raises(TypeError, match="axpy: argument 'out_ptr': not an unconsumed DLPack"):
        axpy[GRID](x, y, cap, N, 2.0, BLOCK=BLOCK)
    for a in (xa, ya, outa):
        a.free()


def test_read_only_metal_capsule_written_is_refused(sim):
    """A read-only (versioned DLPack flag) argument the kernel stores to is a
    compile error at the store, naming the argument; nothing is written."""
    x, y, _ = inputs()
    outa = DeviceArray(sim, np.zeros(N))
    cap, keep = metal_capsule(outa, versioned_readonly=True)
    with pytest.raises(triton.CompilationError,
                       match="test_interop_launch.py:31:.*store through 'out_ptr', which was "
                             "passed as a read-only array"):
        axpy[GRID](x, y, cap, N, 2.0, BLOCK=BLOCK)
    assert (outa.host == 0).all()
    cap, keep = metal_capsule(outa, versioned_readonly=True)  # read-only and only read: fine
    out = np.zeros(N, np.float32)
    axpy[GRID](cap, y, out, N, 2.0, BLOCK=BLOCK)
    np.testing.assert_allclose(out, y, rtol=1e-6)
    outa.free()


def test_device_buffer_errors_name_kernel_and_argument(sim, mps_sync):
    x, y, _ = inputs()
    xa = DeviceArray(sim, x)
    with pytest.raises(interop.InteropError,
                       match=r"axpy: argument 'x_ptr': float64 \(torch_mps\) cannot be used on the GPU"):
        axpy[GRID](FakeMPSTensor(xa, dtype_name="float64"), y, y.copy(), N, 2.0, BLOCK=BLOCK)
    big = FakeMPSTensor(xa)
    big.untyped_storage = lambda: types.SimpleNamespace(  # claims more than its MTLBuffer holds
        data_ptr=lambda: xa.buffer, nbytes=lambda: 400000)
    with pytest.raises(triton.LaunchError, match="kernel 'axpy': argument 0 'x_ptr'.*pass the end"):
        axpy[GRID](big, y, y.copy(), N, 2.0, BLOCK=BLOCK)
    out = np.zeros(N, np.float32)
    axpy[GRID](FakeMPSTensor(xa), y, out, N, 2.0, BLOCK=BLOCK)  # still works
    np.testing.assert_allclose(out, 2 * x + y, rtol=1e-6)
    xa.free()


# ------------------------------------------------------------ host kinds, any device

@pytest.mark.parametrize("device", ["cpu", "metal-sim"])
def test_cpu_dlpack_capsules(device):
    gen = on_device(device)
    next(gen)
    try:
        x, y, want = inputs()
        out = np.zeros(N, np.float32)
        axpy[GRID](x.__dlpack__(), y, out.__dlpack__(), N, 2.0, BLOCK=BLOCK)
        np.testing.assert_allclose(out, want, rtol=1e-6)
        torch = pytest.importorskip("torch")
        tout = torch.zeros(N)
        axpy[GRID](torch.utils.dlpack.to_dlpack(torch.from_numpy(x)), y,
                   torch.utils.dlpack.to_dlpack(tout), N, 2.0, BLOCK=BLOCK)
        np.testing.assert_allclose(tout.numpy(), want, rtol=1e-6)
    finally:
        next(gen, None)


def test_read_only_cpu_capsule_written_is_refused(cpu):
    x, y, _ = inputs()
    out = np.zeros(N, np.float32)
    out.flags.writeable = False
    try:
        cap = out.__dlpack__(max_version=(1, 0))
    except (TypeError, BufferError):
        pytest.skip("this NumPy has no versioned DLPack export")
    with pytest.raises(triton.CompilationError, match="store through 'out_ptr', which was "
                                                      "passed as a read-only array"):
        axpy[GRID](x, y, cap, N, 2.0, BLOCK=BLOCK)
    assert (out == 0).all()


def test_metal_objects_on_the_cpu_device_are_refused(cpu, mps_sync):
    x, y, _ = inputs()
    fake = FakeMPSTensor(types.SimpleNamespace(n=N, np_dtype=np.dtype(np.float32), buffer=0x4000,
                                               offset=0))
    with pytest.raises(TypeError, match="axpy: argument 'out_ptr' is a torch_mps array in Metal "
                                        "memory, but the device is 'cpu'"):
        axpy[GRID](x, y, fake, N, 2.0, BLOCK=BLOCK)
    fake_arr = types.SimpleNamespace(n=N, np_dtype=np.dtype(np.float32), buffer=0x4000, offset=0)
    with pytest.raises(TypeError, match="axpy: argument 'x_ptr' is a mlx array .*'cpu'"):
        axpy[GRID](FakeMLXArray(fake_arr), y, y.copy(), N, 2.0, BLOCK=BLOCK)
    assert mps_sync == []  # refused before any synchronization


def test_float64_dlpack_refused(cpu):
    with pytest.raises(triton.CompilationError, match="load through 'y_ptr', a float64 array"):
        axpy[GRID](np.zeros(N, np.float32), np.zeros(N).__dlpack__(), np.zeros(N, np.float32),
                   N, 2.0, BLOCK=BLOCK)


def test_non_contiguous_host_arrays_pass_their_data_pointer(cpu):
    """Triton passes a view's data pointer and the kernel indexes with the
    caller's strides (axpy indexes densely: it sees the memory from there on);
    no staging copy, which would be indexed wrongly."""
    x, y, want = inputs()
    wide = np.zeros(2 * N, np.float32)
    axpy[GRID](x, y, wide[::2], N, 2.0, BLOCK=BLOCK)
    np.testing.assert_allclose(wide[:N], want, rtol=1e-6)
    assert (wide[N:] == 0).all()
    out = np.zeros(N, np.float32)
    src = np.concatenate([x, x])
    axpy[GRID](src[::2].__dlpack__(), y, out, N, 2.0, BLOCK=BLOCK)
    np.testing.assert_allclose(out, 2 * src[:N] + y, rtol=1e-6)


# ------------------------------------------------------------ Device API

def test_device_stats_buffers_and_info(sim):
    st = sim.stats()
    assert set(st) >= {"pipeline_compiles", "dispatches", "waits", "zero_copy_args",
                       "staged_args", "bytes_limit", "command_buffers"}
    assert st["bytes_limit"] > 0
    cpu = _C.Device("cpu")
    assert all(v == 0 for v in cpu.stats().values())
    with pytest.raises(RuntimeError, match="the cpu device has no device buffers"):
        cpu.buffer_new(64)
    with pytest.raises(ValueError):
        sim.buffer_new(-1)
    x, y, want = inputs()
    out = np.zeros(N, np.float32)
    compiled = axpy[GRID](x, y, out, N, 2.0, BLOCK=BLOCK)
    assert compiled.n_max_threads == 1024
    info = compiled.module.info()
    assert info["thread_execution_width"] == 32 and info["max_threads_per_threadgroup"] == 1024


def test_module_info_reports_the_pipeline_limit(monkeypatch):
    monkeypatch.setenv("TRITON_METAL_SIM_MAX_THREADS", "256")
    dev = _C.Device("metal-sim")
    x, y, _ = inputs()
    c = axpy.warmup(x, y, y.copy(), N, 2.0, BLOCK=BLOCK, grid=GRID)
    assert dev.load(c.kernel).info()["max_threads_per_threadgroup"] == 256
    assert _C.Device("cpu").load(c.kernel).info()["max_threads_per_threadgroup"] == 1024


@pytest.mark.parametrize("device", ["cpu", "metal-sim"])
def test_timed_launches(device):
    gen = on_device(device)
    dev = next(gen)
    try:
        x, y, want = inputs()
        out = np.zeros(N, np.float32)
        axpy[GRID](x, y, out, N, 2.0, BLOCK=BLOCK)
        assert dev.take_timing() == (0, 0, None)  # off by default
        assert dev.set_timing(True) is False
        for _ in range(3):
            axpy[GRID](x, y, out, N, 2.0, BLOCK=BLOCK)
        axpy[(0,)](x, y, out, N, 2.0, BLOCK=BLOCK)  # runs nothing, times nothing
        ns, launches, source = dev.take_timing()
        assert launches == 3 and ns > 0 and source == "host"  # no GPU here
        assert dev.take_timing() == (0, 0, None)
        assert dev.set_timing(False) is True
        np.testing.assert_allclose(out, want, rtol=1e-6)
        # do_bench reports the launches' own time, and leaves timing as it was
        ms = triton.testing.do_bench(lambda: axpy[GRID](x, y, out, N, 2.0, BLOCK=BLOCK),
                                     warmup=1, rep=5)
        assert 0 < ms < 1000 and dev.set_timing(False) is False
    finally:
        next(gen, None)


def test_timed_launch_of_device_buffers(sim, mps_sync):
    x, y, want = inputs()
    xa, outa = DeviceArray(sim, x), DeviceArray(sim, np.zeros(N))
    sim.set_timing(True)
    try:
        axpy[GRID](FakeMPSTensor(xa), y, FakeMPSTensor(outa), N, 2.0, BLOCK=BLOCK)
    finally:
        sim.set_timing(False)
    ns, launches, source = sim.take_timing()
    assert launches == 1 and ns > 0 and source == "host"
    np.testing.assert_allclose(outa.host, want, rtol=1e-6)
    xa.free(), outa.free()


# ------------------------------------------------------------ grid errors (H1)

@pytest.mark.parametrize("grid,exc", [((-1,), ValueError), ((2**32,), ValueError),
                                      ((1, 1, 1, 1), ValueError), ((), ValueError),
                                      ((1.5,), TypeError), (("2",), TypeError),
                                      (None, TypeError), ((1, -2), ValueError)])
def test_grid_errors_name_the_kernel_on_both_paths(grid, exc):
    @triton.jit
    def fresh(x_ptr, BLOCK: tl.constexpr):
        tl.store(x_ptr + tl.arange(0, BLOCK), tl.arange(0, BLOCK).to(tl.float32))
    x = np.zeros(16, np.float32)
    with pytest.raises(exc, match="fresh: grid"):  # first launch: the Python path
        fresh[grid](x, BLOCK=16)
    fresh[(1,)](x, BLOCK=16)
    assert fresh.fast_cache  # now cached: the C path
    with pytest.raises(exc, match="fresh: grid"):
        fresh[grid](x, BLOCK=16)
    with pytest.raises(exc, match="fresh: grid"):  # a callable's result, too
        fresh[lambda meta: grid](x, BLOCK=16)
