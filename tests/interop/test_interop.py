"""Interop adapters: NumPy (aligned, unaligned, non-contiguous, read-only),
torch CPU, DLPack capsules (legacy and versioned, CPU and a hand-made Metal
one), float64 refusal."""
import ctypes
import mmap

import numpy as np
import pytest

from triton_metal import interop
from triton_metal.interop import InteropError, describe, prepare


def page_aligned_array(n, dtype=np.float32):
    buf = mmap.mmap(-1, max(interop.PAGE_SIZE, n * np.dtype(dtype).itemsize) * 2)
    base = np.frombuffer(buf, dtype=np.uint8)
    addr = base.__array_interface__["data"][0]
    skip = (-addr) % interop.PAGE_SIZE
    return base[skip: skip + n * np.dtype(dtype).itemsize].view(dtype)


def test_numpy_aligned_and_unaligned():
    a = page_aligned_array(1000)
    v = describe(a, "x")
    assert v.kind == "numpy" and v.dtype == "float32" and v.nbytes == 4000
    assert v.contiguous and not v.readonly and v.page_aligned and not v.on_device
    assert v.ptr == a.ctypes.data
    u = a[1:]
    w = describe(u, "x")
    assert w.contiguous and not w.page_aligned and w.ptr == a.ctypes.data + 4


def test_numpy_non_contiguous_is_staged_and_copied_back():
    a = np.arange(20, dtype=np.int32).reshape(4, 5)
    col = a[:, 1]
    v = describe(col, "col")
    assert not v.contiguous
    p = prepare(col, "col")
    assert p.contiguous and p.kind == "numpy" and p.ptr != v.ptr and p.nbytes == 16
    staged = p.keepalive[0]
    staged[:] = -1  # what the kernel would write
    assert (a[:, 1] == [1, 6, 11, 16]).all()
    p.finish()
    assert (a[:, 1] == -1).all() and (a[:, 0] == [0, 5, 10, 15]).all()
    p.finish()  # once only


def test_numpy_read_only_is_honoured():
    a = np.ones(8, dtype=np.float16)
    a.flags.writeable = False
    v = describe(a, "x")
    assert v.readonly and v.dtype == "float16"
    b = np.ones((4, 4), dtype=np.float32)[:, ::2]
    b.flags.writeable = False
    p = prepare(b, "b")
    assert p.readonly
    p.keepalive[0][:] = 5
    p.finish()  # nothing is copied into read-only memory
    assert (b == 1).all()


def test_bool_and_dtypes():
    assert describe(np.zeros(3, dtype=bool), "m").dtype == "int1"
    assert describe(np.zeros(3, dtype=np.uint64), "m").dtype == "uint64"
    with pytest.raises(InteropError, match="argument 'c': NumPy dtype complex64"):
        describe(np.zeros(3, dtype=np.complex64), "c")


def test_float64_host_memory_is_described():
    # host float64 memory is passed as it is; the compiler refuses reading it
    assert describe(np.zeros(3), "weights").dtype == "float64"


def test_unknown_object():
    with pytest.raises(InteropError, match="argument 'n': list is not an array"):
        describe([1, 2], "n")


torch = pytest.importorskip("torch")


def test_torch_cpu():
    t = torch.arange(10, dtype=torch.float32)
    v = describe(t[2:], "t")
    assert v.kind == "torch_cpu" and v.ptr == t.data_ptr() + 8 and v.nbytes == 32
    assert v.contiguous and v.dtype == "float32"
    assert describe(torch.zeros(2, dtype=torch.bfloat16), "b").dtype == "bfloat16"
    m = torch.zeros(3, 4)
    p = prepare(m.t(), "mt")
    assert p.contiguous and p.kind == "torch_cpu"
    p.keepalive[0].fill_(2)
    p.finish()
    assert bool((m == 2).all())
    assert describe(torch.zeros(2, dtype=torch.float64), "d").dtype == "float64"


def test_dlpack_capsules_from_numpy_and_torch():
    a = np.arange(12, dtype=np.int16).reshape(3, 4)
    v = describe(a.__dlpack__(), "a")
    assert v.kind == "dlpack_cpu" and v.ptr == a.ctypes.data and v.nbytes == 24
    assert v.dtype == "int16" and v.contiguous
    v2 = describe(a[:, ::2].__dlpack__(), "a2")
    assert not v2.contiguous
    t = torch.arange(6, dtype=torch.int32)[1:]
    cap = torch.utils.dlpack.to_dlpack(t)
    w = describe(cap, "t")
    assert w.ptr == t.data_ptr() and w.nbytes == 20 and w.dtype == "int32"
    with pytest.raises(InteropError, match="not an unconsumed DLPack capsule"):
        describe(cap, "t")  # consumed once
    del w  # the deleter runs; torch's tensor stays valid
    assert int(t.sum()) == 15


def test_dlpack_versioned_read_only():
    a = np.arange(4, dtype=np.float32)
    a.flags.writeable = False
    try:
        cap = a.__dlpack__(max_version=(1, 0))
    except (TypeError, BufferError):
        pytest.skip("this NumPy has no versioned DLPack export")
    v = describe(cap, "a")
    assert v.readonly and v.ptr == a.ctypes.data


class _FakeMetalCapsule:
    """A DLPack capsule with device kDLMetal, as MLX exports on a Mac."""

    def __init__(self, code, bits, byte_offset):
        self.shape = (ctypes.c_int64 * 1)(10)
        m = interop._DLManagedTensor()
        m.dl_tensor.data = 0x1234000  # the id<MTLBuffer>
        m.dl_tensor.device.device_type = interop.KDL_METAL
        m.dl_tensor.ndim = 1
        m.dl_tensor.dtype.code, m.dl_tensor.dtype.bits, m.dl_tensor.dtype.lanes = code, bits, 1
        m.dl_tensor.shape = self.shape
        m.dl_tensor.byte_offset = byte_offset
        self.m = m
        new = ctypes.pythonapi.PyCapsule_New
        new.restype = ctypes.py_object
        new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
        self.capsule = new(ctypes.addressof(m), b"dltensor", None)


def test_dlpack_metal_device_buffer():
    f = _FakeMetalCapsule(2, 32, 256)
    v = describe(f.capsule, "x")
    assert v.kind == "dlpack_metal" and v.on_device and v.buffer == 0x1234000
    assert v.offset == 256 and v.nbytes == 40 and v.ptr == 0
    f64 = _FakeMetalCapsule(2, 64, 0)
    with pytest.raises(InteropError, match="argument 'y': float64 \\(dlpack_metal\\) cannot be "
                                           "used on the GPU"):
        describe(f64.capsule, "y")
