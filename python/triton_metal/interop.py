"""Interop adapters: what a kernel argument object is, in the runtime's terms.

``describe(obj, name)`` looks at a NumPy array, a torch tensor (CPU or MPS), an
MLX array or a DLPack capsule and returns an ``ArgView`` without copying:

=============  ==========================================  ======================
kind           memory                                      launch binds it as
=============  ==========================================  ======================
numpy          host pointer (``__array_interface__``)      tm_launch_arg.data
torch_cpu      host pointer (``data_ptr()``)                tm_launch_arg.data
dlpack_cpu     host pointer (DLPack kDLCPU)                 tm_launch_arg.data
torch_mps      id<MTLBuffer> + byte offset (storage)        tm_device_arg
mlx            id<MTLBuffer> + byte offset (DLPack Metal)   tm_device_arg
mlx_cpu        host pointer (DLPack kDLCPU: MLX's CPU      tm_launch_arg.data
               arrays, as ``mlx[cpu]`` on Linux)
dlpack_metal   id<MTLBuffer> + byte offset (kDLMetal = 8)   tm_device_arg
torch_cuda     CUDA device pointer of the storage + byte    tm_device_arg (the cuda
               offset                                       device only)
=============  ==========================================  ======================

Every view goes to the runtime as upstream passes it: its data pointer (host
``ptr``, or ``buffer`` + ``offset``), whatever its strides; the kernel uses the
strides it is given. ``before`` and ``after`` give the allocation the view
lives in around that pointer, which the kernel may address (a transposed or
sliced view, negative strides): the emulator checks accesses against it and
the metal device wraps or stages all of it. Host memory is wrapped without
copying when the allocation is page-aligned (16 KB pages on Apple silicon)
and staged (copy in, copy back if written) otherwise. ``prepare(obj, name)``
instead makes non-contiguous host arrays contiguous and returns a view whose
``finish()`` copies results back (for callers that index densely).

float64 is refused with an ``InteropError`` naming the argument: Apple GPUs
have no double, and narrowing silently would give wrong answers.

A torch CUDA tensor (``torch_cuda``) is for the cuda device, the GPU proxy
(docs/cuda-proxy.md): its launches are queued on CUDA's legacy default
stream, which torch's default stream is ordered with, so such a view is
``stream_ordered``: the launch path does not wait for it (torch's CUDA events
time the kernel). The launch path refuses it on any other device.

This module only describes; docs/metal.md ("Integration") says what the launch
path calls with the description.
"""
import ctypes
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

#: newBufferWithBytesNoCopy needs page-aligned memory; Apple silicon pages are
#: 16 KB (metal-sim simulates the same).
PAGE_SIZE = 16384

KDL_CPU = 1
KDL_METAL = 8
DLPACK_FLAG_READ_ONLY = 1


class InteropError(TypeError):
    """An argument object the runtime cannot take (the message names it)."""


@dataclass
class ArgView:
    kind: str
    nbytes: int
    dtype: str               # Triton's name: "float32", "int1", "bfloat16", ...
    readonly: bool
    contiguous: bool
    ptr: int = 0             # host kinds: the view's data pointer
    buffer: int = 0          # device kinds: the id<MTLBuffer>
    offset: int = 0          # device kinds: byte offset of the data pointer into buffer
    before: int = 0          # bytes of the allocation below the data pointer
    after: Optional[int] = None  # bytes from the data pointer to the allocation's end
                                 # (None: nbytes; 0 on a device kind: the buffer's end)
    keepalive: Any = None    # keep referenced until the launch has completed
    stream_ordered: bool = False  # device kinds: ordered with the launch by the CUDA
                                  # stream, no synchronize after it (torch_cuda)
    sync_before: Optional[Callable[[], None]] = None  # order after the producer's GPU work
    _finish: Optional[Callable[[], None]] = field(default=None, repr=False)

    @property
    def on_device(self) -> bool:
        return self.buffer != 0

    @property
    def page_aligned(self) -> bool:
        return self.ptr != 0 and self.ptr % PAGE_SIZE == 0

    def finish(self) -> None:
        """After the launch (and its synchronization): copies staged results back."""
        if self._finish is not None:
            f, self._finish = self._finish, None
            f()


# ---------------------------------------------------------------- dtypes

_NP_NAMES = {
    "bool": "int1", "int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64",
    "uint8": "uint8", "uint16": "uint16", "uint32": "uint32", "uint64": "uint64",
    "float16": "float16", "float32": "float32", "float64": "float64",
}
_TORCH_NAMES = dict(_NP_NAMES, bfloat16="bfloat16")
# DLPack type codes: 0 int, 1 uint, 2 float, 4 bfloat, 6 bool
_DL_NAMES = {(0, 8): "int8", (0, 16): "int16", (0, 32): "int32", (0, 64): "int64",
             (1, 8): "uint8", (1, 16): "uint16", (1, 32): "uint32", (1, 64): "uint64",
             (2, 16): "float16", (2, 32): "float32", (2, 64): "float64",
             (4, 16): "bfloat16", (6, 8): "int1", (1, 1): "int1"}
_ITEMSIZE = {"int1": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "float16": 2,
             "bfloat16": 2, "int32": 4, "uint32": 4, "float32": 4, "int64": 8, "uint64": 8,
             "float64": 8}


def _refuse_f64(name: str, dtype: str, kind: str) -> None:
    """float64 memory in GPU memory cannot exist (MPS and MLX have none on the
    GPU); in host memory it is passed as it is, and the compiler refuses
    reading or writing it where the kernel does (Metal has no double)."""
    if dtype == "float64" and kind in ("torch_mps", "mlx", "dlpack_metal"):
        raise InteropError(
            f"argument '{name}': float64 ({kind}) cannot be used on the GPU: Apple GPUs have no "
            f"double precision; convert it to float32 first")


# ---------------------------------------------------------------- NumPy, torch

def _extent(shape, strides, itemsize):
    """(before, after): the bytes a view with these byte strides addresses
    below its data pointer and from it (0, 0 when it is empty)."""
    below = above = 0
    for n, st in zip(shape, strides):
        if n == 0:
            return 0, 0
        reach = (n - 1) * st
        if reach < 0:
            below -= reach
        else:
            above += reach
    return below, above + itemsize


def _numpy(a, name):
    dtype = _NP_NAMES.get(a.dtype.name)
    if dtype is None:
        raise InteropError(f"argument '{name}': NumPy dtype {a.dtype} is not supported")
    _refuse_f64(name, dtype, "numpy")
    ptr, ro = a.__array_interface__["data"]
    before, after = _extent(a.shape, a.strides, a.itemsize)
    return ArgView("numpy", a.nbytes, dtype, bool(ro), bool(a.flags.c_contiguous), ptr=ptr,
                   before=before, after=after, keepalive=a)


def _torch(t, name):
    dtype = _TORCH_NAMES.get(str(t.dtype).replace("torch.", ""))
    if dtype is None:
        raise InteropError(f"argument '{name}': torch dtype {t.dtype} is not supported")
    kind = {"mps": "torch_mps", "cuda": "torch_cuda"}.get(t.device.type, "torch_cpu")
    if t.device.type not in ("cpu", "mps", "cuda"):
        raise InteropError(f"argument '{name}': a torch tensor on '{t.device}' (need cpu, mps or "
                           f"cuda)")
    if kind == "torch_cuda" and getattr(t.device, "index", None) not in (None, 0):
        raise InteropError(f"argument '{name}': a torch tensor on '{t.device}': the cuda device "
                           f"runs on cuda:0 (CUDA_VISIBLE_DEVICES chooses which GPU that is)")
    _refuse_f64(name, dtype, kind)
    nbytes = t.numel() * t.element_size()
    contiguous = t.is_contiguous()
    storage = t.untyped_storage()
    snbytes = getattr(storage, "nbytes", None)
    # the tensor's allocation is its storage; the view starts storage_offset
    # elements in and may address all of it
    offset = t.storage_offset() * t.element_size()
    after = snbytes() - offset if snbytes is not None else 0
    if kind == "torch_cpu":
        return ArgView(kind, nbytes, dtype, False, contiguous, ptr=t.data_ptr(), before=offset,
                       after=after, keepalive=t)
    if kind == "torch_cuda":
        # the storage's data pointer is a CUDA device address (torch's
        # allocations live in the primary context, which the cuda device uses)
        return ArgView(kind, nbytes, dtype, False, contiguous, buffer=storage.data_ptr(),
                       offset=offset, before=offset, after=after, keepalive=t,
                       stream_ordered=True)
    # On MPS the storage's data pointer is the id<MTLBuffer> (ATen's
    # getMTLBufferStorage), bound at the view's offset.
    import torch
    return ArgView(kind, nbytes, dtype, False, contiguous, buffer=storage.data_ptr(),
                   offset=offset, before=offset, after=after, keepalive=t,
                   sync_before=torch.mps.synchronize)


# ---------------------------------------------------------------- DLPack

class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p)]


class _DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class _DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [("version", _DLPackVersion), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p), ("flags", ctypes.c_uint64),
                ("dl_tensor", _DLTensor)]


_api = ctypes.pythonapi
_api.PyCapsule_IsValid.restype = ctypes.c_int
_api.PyCapsule_IsValid.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_GetPointer.restype = ctypes.c_void_p
_api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_SetName.restype = ctypes.c_int
_api.PyCapsule_SetName.argtypes = [ctypes.py_object, ctypes.c_char_p]
_DELETER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class _DLOwner:
    """Owns a consumed DLPack tensor: calls its deleter when dropped."""

    def __init__(self, addr, deleter):
        self.addr, self.deleter = addr, deleter

    def __del__(self):
        if self.deleter:
            _DELETER(self.deleter)(self.addr)
            self.deleter = None


def _is_capsule(obj):
    return type(obj).__name__ == "PyCapsule"


def _dlpack(capsule, name, kind_hint=None):
    if _api.PyCapsule_IsValid(capsule, b"dltensor_versioned"):
        addr = _api.PyCapsule_GetPointer(capsule, b"dltensor_versioned")
        m = _DLManagedTensorVersioned.from_address(addr)
        t, ro, used = m.dl_tensor, bool(m.flags & DLPACK_FLAG_READ_ONLY), b"used_dltensor_versioned"
    elif _api.PyCapsule_IsValid(capsule, b"dltensor"):
        addr = _api.PyCapsule_GetPointer(capsule, b"dltensor")
        m = _DLManagedTensor.from_address(addr)
        t, ro, used = m.dl_tensor, False, b"used_dltensor"
    else:
        raise InteropError(f"argument '{name}': not an unconsumed DLPack capsule")
    if t.dtype.lanes != 1:
        raise InteropError(f"argument '{name}': DLPack vector dtype (lanes={t.dtype.lanes})")
    dtype = _DL_NAMES.get((t.dtype.code, t.dtype.bits))
    if dtype is None:
        raise InteropError(f"argument '{name}': DLPack dtype code {t.dtype.code} with "
                           f"{t.dtype.bits} bits is not supported")
    dev = t.device.device_type
    if dev not in (KDL_CPU, KDL_METAL):
        raise InteropError(f"argument '{name}': DLPack device type {dev} (need CPU=1 or Metal=8)")
    if kind_hint:
        kind = kind_hint if dev == KDL_METAL else kind_hint + "_cpu"
    else:
        kind = "dlpack_metal" if dev == KDL_METAL else "dlpack_cpu"
    _refuse_f64(name, dtype, kind)
    shape = [t.shape[i] for i in range(t.ndim)]
    numel = 1
    for s in shape:
        numel *= s
    contiguous = True
    if t.strides:
        expect = 1
        for i in reversed(range(t.ndim)):
            if shape[i] != 1 and t.strides[i] != expect:
                contiguous = False
            expect *= shape[i]
    nbytes = numel * _ITEMSIZE[dtype]
    size = _ITEMSIZE[dtype]
    if t.strides:
        before, after = _extent(shape, [t.strides[i] * size for i in range(t.ndim)], size)
    else:
        before, after = 0, nbytes
    # consume: rename the capsule so its producer does not delete the tensor;
    # we own it now and call its deleter when the view is dropped
    _api.PyCapsule_SetName(capsule, used)
    owner = _DLOwner(addr, m.deleter)
    if dev == KDL_METAL:
        # the MTLBuffer is the array's allocation: a view (an MLX slice) may
        # address all of it, from its first byte to its end
        return ArgView(kind, nbytes, dtype, ro, contiguous, buffer=t.data or 0,
                       offset=t.byte_offset, before=t.byte_offset, after=0, keepalive=owner)
    return ArgView(kind, nbytes, dtype, ro, contiguous, ptr=(t.data or 0) + t.byte_offset,
                   before=before, after=after, keepalive=owner)


# ---------------------------------------------------------------- entry points

def describe(obj, name="arg") -> ArgView:
    """What obj is, without copying it. Raises InteropError for what the
    runtime cannot take (float64, unknown objects, foreign devices)."""
    mod = type(obj).__module__ or ""
    if mod.startswith("numpy") and hasattr(obj, "__array_interface__"):
        return _numpy(obj, name)
    if mod.startswith("torch") and hasattr(obj, "data_ptr"):
        return _torch(obj, name)
    if mod.startswith("mlx"):
        # DLPack export evaluates the array first (waits for MLX's stream); on
        # the GPU its data is the MTLBuffer with the array's offset ("mlx"), on
        # MLX's CPU device a host pointer ("mlx_cpu": bfloat16 arrays, which have
        # no buffer-protocol format, come this way).
        return _dlpack(obj.__dlpack__(), name, kind_hint="mlx")
    if _is_capsule(obj):
        return _dlpack(obj, name)
    if hasattr(obj, "__dlpack__"):
        return _dlpack(obj.__dlpack__(), name)
    raise InteropError(f"argument '{name}': {type(obj).__name__} is not an array the runtime "
                       f"can take (NumPy, torch, MLX, DLPack)")


def prepare(obj, name="arg", written=True) -> ArgView:
    """describe(), then a contiguous staging copy for non-contiguous host
    arrays; call finish() on the result after the launch to copy results back
    (only when `written` and the original is writable)."""
    v = describe(obj, name)
    if v.contiguous or v.on_device:
        if not v.contiguous:
            raise InteropError(f"argument '{name}': non-contiguous {v.kind} arrays on the GPU "
                               f"are not supported; make it contiguous first")
        return v
    mod = type(obj).__module__ or ""
    if mod.startswith("numpy"):
        import numpy as np
        staged = np.ascontiguousarray(obj)
        copy_back = (lambda: np.copyto(obj, staged)) if written and not v.readonly else None
    elif mod.startswith("torch"):
        staged = obj.contiguous()
        copy_back = (lambda: obj.copy_(staged)) if written else None
    else:
        raise InteropError(f"argument '{name}': a non-contiguous {v.kind} array cannot be "
                           f"staged; make it contiguous first")
    s = describe(staged, name)
    s.kind, s.readonly, s._finish = v.kind, v.readonly, copy_back
    s.keepalive = (staged, obj)
    return s


__all__ = ["ArgView", "InteropError", "describe", "prepare", "PAGE_SIZE"]
