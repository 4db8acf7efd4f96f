"""Kernel-visible memory: what a pointer loaded from memory may reach.

A kernel may load an address and dereference it, as grouped GEMM kernels do::

    a_ptr = tl.load(a_ptrs + g).to(tl.pointer_type(tl.float16))
    a = tl.load(a_ptr + offs)

Such a pointer may reach exactly (tm_visible_add in include/triton_metal.h):

* the allocation of any pointer argument of the launch, and
* the memory registered here, while it is registered.

The cpu emulator and metal-sim check every access against that set (outside
it: an error naming the kernel's line); a metal device makes registered memory
resident (``useResource``) for each dispatch. Register the tensors a pointer
table refers to, and build the table from the addresses the registration
gives (on the cpu device they are the data pointers, ``x.data_ptr()``; on a
metal device the GPU addresses of their buffers)::

    with triton_metal.kernel_visible(*group_a, *group_b, *group_c) as vis:
        ptrs = torch.tensor(vis.addresses, dtype=torch.int64)
        grouped_kernel[grid](ptrs, ...)

The registration keeps the objects alive until it is released (``release()``,
the end of the ``with`` block, or dropping it). On a metal device host memory
is wrapped once, without copying (the pages it lies on); a torch MPS tensor or
an MLX array is registered by its buffer. Registering a view registers the
allocation it lives in, as a launch argument's is.
"""
import importlib
import threading

_lock = threading.Lock()
_device_views = {}  # id(registration) -> interop views in Metal memory, synchronized around launches


class KernelVisible:
    """Registered kernel-visible memory (see the module's documentation)."""

    def __init__(self, objs):
        jit = importlib.import_module(__package__ + ".jit")  # the module, not the decorator
        dev = jit.get_device()
        self._objs = tuple(objs)
        self._regs = []
        self._views = []
        self.addresses = []
        try:
            for i, o in enumerate(self._objs):
                p = jit.pointer_arg("kernel_visible", f"#{i} ({type(o).__name__})", o)
                if p is None:
                    raise TypeError(f"kernel_visible: argument #{i} of type {type(o).__name__} "
                                    "is not an array or tensor")
                _code, ptr, nbytes, ro, before, view = p
                if before + nbytes == 0 and not (view is not None and view.on_device):
                    self.addresses.append(ptr)  # empty: nothing to reach
                    continue
                if view is not None and view.on_device:
                    if view.sync_before is not None:
                        view.sync_before()
                    value = (0, nbytes, ro, view.buffer, view.offset, before)
                    self._views.append(view)
                else:
                    value = (ptr, nbytes, ro, before)
                reg = dev.visible_add(value)
                self._regs.append(reg)
                self.addresses.append(reg.address)
        except BaseException:
            self.release()
            raise
        if self._views:
            with _lock:
                _device_views[id(self)] = self._views
            _sync_fast_path()

    @property
    def registered(self):
        return any(r.registered for r in self._regs)

    def release(self):
        """Unregisters everything (waiting for launches that may reach it)."""
        for r in self._regs:
            r.release()
        with _lock:
            had = _device_views.pop(id(self), None) is not None
        if had:
            _sync_fast_path()
        self._objs = ()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def __del__(self):
        try:
            self.release()
        except Exception:  # interpreter shutdown
            pass


def kernel_visible(*objs):
    """Registers the memory of arrays/tensors as kernel-visible; returns a
    KernelVisible with .addresses (one per object, for pointer tables),
    usable as a context manager."""
    return KernelVisible(objs)


def device_views():
    """The Metal-memory views of live registrations (the launch path
    synchronizes them as it does its arguments' views)."""
    with _lock:
        return [v for vs in _device_views.values() for v in vs]


def _sync_fast_path():
    """While Metal-memory objects are registered every launch takes the Python
    path, which synchronizes them with their producer (launcher.c)."""
    from . import _C
    with _lock:
        n = len(_device_views)
    _C.set_visible_device_views(n)
