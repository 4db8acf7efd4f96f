# jit.py: @jit and the launch path.
#
#   kernel[grid](*args, **kw)
#     C (launcher.c)  binding, specialization key, lookup of the launch cache,
#                     launch: no Python code runs for a cached kernel
#     miss            JITFunction._slow_run: the reference rules in Python --
#       bind     a generated def with the kernel's own signature binds the call
#                (Python's own TypeErrors, defaults honoured); extra keywords are
#                launch options (options.py validates them)
#       spec     one (kind, dtype, flags, vkind, payload) tuple per parameter,
#                upstream's specialization rules (int 1 -> constexpr, %16 -> DIV16,
#                float -> fp32, ...), plus the launch values handed to C
#       compile  in-memory cache (self.cache), then the disk cache (cache.py),
#                then _C.compile; the module is loaded on the process's device
#       register the C launch key -> (CompiledKernel, Module), then launch
#
# TRITON_METAL_DEBUG=1 (read when a kernel is decorated) turns the C path off
# for that kernel and logs every compile and launch to stderr.

import builtins
import inspect
import linecache
import operator
import os
import re
import sys
import textwrap
import threading
import time
import types

from . import _tm
from . import cache as _cache
from . import visible as _visible
from . import options as _options
from .language import core as _core

_I32 = (-2**31, 2**31)
_I64 = (-2**63, 2**63)
_U64 = (0, 2**64)

_SCALAR = _tm.PARAM_SCALAR
_POINTER = _tm.PARAM_POINTER
_CONSTEXPR = _tm.PARAM_CONSTEXPR
_TUPLE = _tm.PARAM_TUPLE
_NO_VALUE = (_tm.V_NONE, None)
_CONST_ONE = (_CONSTEXPR, _tm.VOID, 0, _tm.V_INT, 1)

# ------------------------------------------------------------------ the device

_device = None
_device_lock = threading.Lock()
_c_module = None


def _C():
    """The extension module, imported on first use (pure-Python parts work without it)."""
    global _c_module
    if _c_module is None:
        from . import _C as c
        _c_module = c
    return _c_module


def get_device():
    """The process's device, opened on first use (TRITON_METAL_DEVICE=cpu|metal|metal-sim|cuda)."""
    global _device
    if _device is None:
        with _device_lock:
            if _device is None:
                _device = _C().Device(None)
    return _device


# ------------------------------------------------------------------ dtypes

# Element dtype names (numpy's str(dtype), torch's without "torch.", ours) -> tm_dtype.
_DTYPE_NAMES = {
    "bool": _tm.I1, "int1": _tm.I1,
    "int8": _tm.I8, "int16": _tm.I16, "int32": _tm.I32, "int64": _tm.I64,
    "uint8": _tm.U8, "uint16": _tm.U16, "uint32": _tm.U32, "uint64": _tm.U64,
    "float16": _tm.F16, "fp16": _tm.F16, "bfloat16": _tm.BF16, "bf16": _tm.BF16,
    "float32": _tm.F32, "fp32": _tm.F32, "float64": _tm.F64, "fp64": _tm.F64,
}
_dtype_cache = {}  # dtype object -> tm_dtype or None (unsupported)


def dtype_code(dt):
    """tm_dtype of a NumPy/torch/triton_metal dtype object, or None if unsupported."""
    try:
        return _dtype_cache[dt]
    except (KeyError, TypeError):
        pass
    if isinstance(dt, _core.dtype):
        code = dt.tm
    else:
        name = str(dt)
        code = _DTYPE_NAMES.get(name[6:] if name.startswith("torch.") else name)
    try:
        _dtype_cache[dt] = code
    except TypeError:
        pass
    return code


# ------------------------------------------------------------------ values

def _is_upstream(obj, typename):
    t = type(obj)
    return t.__name__ == typename and t.__module__.startswith("triton.language")


def to_value(v):
    """(vkind, payload) of a compile-time value, or raise TypeError."""
    if v is None:
        return _NO_VALUE
    t = type(v)
    if t is bool:
        return (_tm.V_BOOL, v)
    if t is int:
        if not _I64[0] <= v < _I64[1]:
            raise TypeError(f"constexpr value {v} does not fit in 64 bits")
        return (_tm.V_INT, v)
    if t is float:
        return (_tm.V_FLOAT, v)
    if t is str:
        return (_tm.V_STR, v)
    if isinstance(v, _core.constexpr) or _is_upstream(v, "constexpr"):
        return to_value(v.value)
    if isinstance(v, _core.pointer_type):  # tl.pointer_type(tl.int32): a pointer dtype
        code = _DTYPE_NAMES.get(v.element_ty.name)
        if code is None:
            raise TypeError(f"dtype {v.name} is not supported by triton-metal")
        return (_tm.V_DTYPE, code | _tm.DTYPE_PTR)
    if isinstance(v, _core.dtype) or _is_upstream(v, "dtype"):
        code = _DTYPE_NAMES.get(v.name) or _tm.FP8_CODES.get(v.name)  # fp8: a value to compare with
        if code is None:
            raise TypeError(f"dtype {v.name} is not supported by triton-metal")
        return (_tm.V_DTYPE, code)
    if isinstance(v, (bool, int, float, str)):  # subclasses, e.g. IntEnum
        return to_value((bool if isinstance(v, bool) else int if isinstance(v, int)
                         else float if isinstance(v, float) else str)(v))
    np = sys.modules.get("numpy")
    if np is not None and isinstance(v, np.generic):
        return to_value(v.item())
    if isinstance(v, (tuple, list)):  # shapes and other tuples of compile-time values
        return (_tm.V_TUPLE, tuple(to_value(x) for x in v))
    raise TypeError(f"{type(v).__name__} is not a supported constexpr value "
                    "(int, float, bool, None, str, dtype, or a tuple of them)")


# ------------------------------------------------------------------ pointers

def _c_or_none():
    try:
        return _C()
    except ImportError:
        return None


_tensor_types_set = False


def _register_tensor_types():
    """Tells the C pointer conversion about torch once torch is imported."""
    global _tensor_types_set
    torch = sys.modules.get("torch")
    c = _c_or_none()
    if _tensor_types_set or torch is None or c is None or not hasattr(torch, "Tensor"):
        return
    codes = {}
    for name, code in _DTYPE_NAMES.items():
        dt = getattr(torch, name, None)
        if dt is not None and code != _tm.F64:
            codes[dt] = code
    c.set_pointer_types(torch.Tensor, codes)
    _tensor_types_set = True


def _static_prints(msl):
    """tl.static_print output: the compiler leaves it in the MSL; shown when compiling."""
    from ._debug import unescape
    for line in msl.splitlines():
        if line.startswith("// tm-static-print "):  # the text has its `end` (sep= and end= honoured)
            print(unescape(line[len("// tm-static-print "):]), end="")
        elif line.startswith("// tm-warning "):  # the compiler's warnings (upstream's warnings.warn)
            import warnings
            warnings.warn(unescape(line[len("// tm-warning "):]), UserWarning, stacklevel=4)


def pointer_arg(kname, aname, v):
    """(tm_dtype, ptr, nbytes, readonly, before, view) of a pointer argument (an
    array or a tensor), None when v is not one, or raise explaining why v cannot
    be used. ptr is the view's data pointer, as upstream passes it (a strided
    view is an ordinary argument: the kernel uses the strides it is given), and
    [ptr - before, ptr + nbytes) the allocation the view lives in, which the
    kernel may address (checked on the emulator). view is None for host memory
    converted here, else interop's ArgView (keep it referenced until the launch
    has completed; a device kind binds view.buffer at view.offset, and ptr is 0).

    _C.pointer_arg (tmpy_pointer_arg in launcher.c, also the fast launch path)
    converts the kinds it knows: buffer-protocol objects such as NumPy arrays,
    and torch CPU tensors. Here are the refusals' explanations, the duck-typed
    data_ptr() objects, and through interop.py the kinds that live in Metal
    memory (torch MPS tensors, MLX arrays, kDLMetal capsules) and DLPack
    capsules / __dlpack__ producers."""
    if isinstance(v, MockTensor):  # warmup's stand-in: a pointer of that dtype, nothing to address
        code = dtype_code(v.dtype)
        if code is None:
            raise TypeError(f"{kname}: argument '{aname}' has unsupported dtype {v.dtype}")
        return code, 0, 0, False, 0, None
    if isinstance(v, TensorWrapper):
        p = pointer_arg(kname, aname, v.base)
        if p is None:
            return None
        code = dtype_code(v.dtype)
        if code is None or code == _tm.F64:
            raise TypeError(f"{kname}: argument '{aname}' is reinterpreted as {v.dtype}, which "
                            "is not supported on the device")
        return (code,) + tuple(p[1:])
    c = _c_or_none()
    if c is not None:
        try:
            r = c.pointer_arg(v)
        except ValueError as e:
            raise ValueError(f"{kname}: argument '{aname}': {e}") from None
        if r is not None:
            return r[0], r[1], r[2], bool(r[3]), r[4], None
    if _interop_kind(v):
        return _interop_arg(kname, aname, v)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(v, np.ndarray):
        code, fix = dtype_code(v.dtype), ".astype(np.float32)"
        ptr, ro = v.__array_interface__["data"][0], not v.flags.writeable
        from .interop import _extent  # its own extent: nothing owns a larger one
        before, nbytes = _extent(v.shape, v.strides, v.itemsize)
    elif hasattr(v, "data_ptr"):  # torch tensors and duck-typed objects
        dev = getattr(v, "device", None)
        if dev is not None and getattr(dev, "type", "cpu") != "cpu":
            raise TypeError(f"{kname}: argument '{aname}' is on device '{dev}'; "
                            "only CPU tensors, MPS tensors and MLX arrays are supported")
        code, fix = dtype_code(v.dtype), ".to(torch.float32)"
        ptr, ro = v.data_ptr(), False
        before, nbytes = _duck_extent(kname, aname, v, ptr)
    else:
        return None
    # a float64 array is passed as it is: the compiler refuses reading or writing
    # it (Metal has no double), with the kernel line that does
    if code is None:
        raise TypeError(f"{kname}: argument '{aname}' has unsupported dtype {v.dtype}")
    return code, ptr, nbytes, bool(ro), before, None


def _duck_extent(kname, aname, v, ptr):
    """(before, nbytes) of a duck-typed data_ptr() object: its storage when it
    has one (torch's untyped_storage()), else what its strides address, else
    numel() * element_size() or nbytes from the data pointer."""
    storage = getattr(v, "untyped_storage", None)
    if storage is not None:
        s = storage()
        if callable(getattr(s, "data_ptr", None)) and callable(getattr(s, "nbytes", None)):
            sp, sn = s.data_ptr(), s.nbytes()
            if sp <= ptr <= sp + sn:
                return ptr - sp, sp + sn - ptr
    if hasattr(v, "stride") and hasattr(v, "shape") and hasattr(v, "element_size"):
        from .interop import _extent
        size = v.element_size()
        return _extent(tuple(v.shape), tuple(x * size for x in v.stride()), size)
    if hasattr(v, "numel") and hasattr(v, "element_size"):
        return 0, v.numel() * v.element_size()
    if hasattr(v, "nbytes"):
        return 0, v.nbytes
    raise TypeError(f"{kname}: argument '{aname}' has data_ptr() but no size "
                    "(numel()/element_size() or nbytes)")


def _interop_kind(v):
    """v is for interop.py: a torch tensor on 'mps', an MLX array, a DLPack
    capsule, or another object exporting __dlpack__ (NumPy arrays and torch
    CPU tensors stay on the paths above, which explain their refusals)."""
    t = type(v)
    mod = t.__module__ or ""
    if mod.startswith("mlx") or t.__name__ == "PyCapsule":
        return True
    if hasattr(v, "data_ptr"):
        return mod.startswith("torch") and \
            getattr(getattr(v, "device", None), "type", "") in ("mps", "cuda")
    np = sys.modules.get("numpy")
    return hasattr(v, "__dlpack__") and not (np is not None and isinstance(v, np.ndarray))


_DEVICE_KINDS = ("torch_mps", "mlx", "dlpack_metal", "torch_cuda")


def _interop_arg(kname, aname, v):
    """pointer_arg for interop's kinds (docs/metal.md, "Integration")."""
    from . import interop
    try:
        view = interop.describe(v, aname)
    except interop.InteropError as e:
        raise interop.InteropError(f"{kname}: {e}") from None
    if view.kind in _DEVICE_KINDS:
        if not view.on_device:
            raise TypeError(f"{kname}: argument '{aname}' ({view.kind}) has no Metal buffer "
                            "(NULL data)")
        dev = get_device().name
        if view.kind == "torch_cuda" and dev != "cuda":
            raise TypeError(f"{kname}: argument '{aname}' is a torch CUDA tensor, but the device "
                            f"is '{dev}', which cannot reach CUDA memory; run on the cuda device "
                            "(TRITON_METAL_DEVICE=cuda with TRITON_METAL_HW=cuda-sm90) or copy "
                            "it to the host first (.cpu())")
        if view.kind != "torch_cuda" and dev == "cuda":
            raise TypeError(f"{kname}: argument '{aname}' is a {view.kind} array in Metal "
                            "memory, but the device is 'cuda'; copy it to the host first")
        if dev == "cpu":
            raise TypeError(f"{kname}: argument '{aname}' is a {view.kind} array in Metal "
                            "memory, but the device is 'cpu', which takes host memory only; "
                            "run on the metal device (TRITON_METAL_DEVICE=metal) or copy it "
                            "to the host first")
    after = view.nbytes if view.after is None else view.after
    return _DTYPE_NAMES[view.dtype], view.ptr, after, view.readonly, view.before, view


def _launch(module, grid3, launch_values, views):
    """module.launch, with interop's protocol around it when views is not
    empty: sync_before() of Metal-memory producers, then after the launch
    tm_device_synchronize (our command queue is not torch's or MLX's: their
    next operation must not start before ours ends, and a consumed DLPack
    capsule's memory may be freed once its view is dropped). The views, and
    the objects they keep alive, stay referenced until then. Registered
    kernel-visible memory in Metal memory (visible.py) is synchronized the
    same way. Views ordered by the stream the launch is queued on (torch CUDA
    tensors on the cuda device) need no wait: the launch stays asynchronous."""
    if _visible._device_views:
        views = list(views) + _visible.device_views()
    if not views:
        module.launch(grid3, launch_values)
        return
    on_device = [v for v in views if v.on_device]
    for v in on_device:
        if v.sync_before is not None:
            v.sync_before()
    wait = any(not v.stream_ordered for v in on_device)
    try:
        module.launch(grid3, launch_values)
    except BaseException:
        if wait:
            try:
                get_device().synchronize()
            except Exception:  # the launch's own error is the one to report
                pass
        raise
    if wait:
        get_device().synchronize()
    for v in views:
        v.finish()


# ------------------------------------------------------------------ globals

# Module names as the kernel's file imported them -> canonical upstream path.
_MODULES = {
    "triton_metal": "triton",
    "triton_metal.language": "triton.language",
    "triton_metal.language.core": "triton.language",
    "triton_metal.language.math": "triton.language.math",
    "triton_metal.language.extra": "triton.language.extra",
    "triton_metal.language.extra.libdevice": "triton.language.extra.libdevice",
    # upstream triton, when that is what the kernel imported
    "triton": "triton",
    "triton.language": "triton.language",
    "triton.language.core": "triton.language",
    "triton.language.standard": "triton.language",
    "triton.language.math": "triton.language.math",
    "triton.language.extra": "triton.language.extra",
    "triton.language.extra.libdevice": "triton.language.extra.libdevice",
    "triton.language.extra.cuda": "triton.language.extra.cuda",
    "triton.language.extra.hip": "triton.language.extra.hip",
    "triton.language.extra.cuda.libdevice": "triton.language.extra.libdevice",
    "triton.language.extra.hip.libdevice": "triton.language.extra.libdevice",
    "triton.language.random": "triton.language",
}

# Modules of upstream functions -> the namespace they are exported from.
_UPSTREAM_FUNCS = {
    "triton": "triton",
    "triton.language.core": "triton.language",
    "triton.language.standard": "triton.language",
    "triton.language.random": "triton.language",
    "triton.language.math": "triton.language.math",
    "triton.language.extra.libdevice": "triton.language.extra.libdevice",
    "triton.language.extra.cuda.libdevice": "triton.language.extra.libdevice",
    "triton.language.extra.hip.libdevice": "triton.language.extra.libdevice",
}

_MISSING = object()


def _func_path(obj):
    """Canonical path of a library function object, or None."""
    path = getattr(obj, "_tm_path", None)
    if isinstance(path, str):
        return path
    inner = getattr(obj, "fn", obj) if type(obj).__name__ == "JITFunction" else obj
    mod = getattr(inner, "__module__", None)
    name = getattr(inner, "__name__", None)
    if isinstance(mod, str) and isinstance(name, str) and mod in _UPSTREAM_FUNCS:
        return f"{_UPSTREAM_FUNCS[mod]}.{name}"
    return None


def _classify(name, obj):
    """The tm_global tuple for a name bound to obj, or None (not passed)."""
    if isinstance(obj, types.ModuleType):
        target = _MODULES.get(obj.__name__)
        if target is None and not obj.__name__.startswith(("triton", "numpy", "torch")):
            target = "pymod:" + obj.__name__  # a module of the program's: its attributes follow
        return target and (name, _tm.G_MODULE, target, _tm.V_NONE, None, None, None, 0)
    if isinstance(obj, JITFunction):
        return (name, _tm.G_JITFN, None, _tm.V_NONE, None, obj.src, obj.file, obj.first_line)
    if isinstance(obj, type) and issubclass(obj, tuple) and isinstance(getattr(obj, "_fields", None), tuple):
        # a NamedTuple class: kernels make named tuples of it (`Tensor(ptr=p, shape=s)`)
        return (name, _tm.G_TUPLETYPE, obj.__name__, _tm.V_TUPLE,
                tuple((_tm.V_STR, f) for f in obj._fields), None, None, 0)
    wrapped = getattr(obj, "value", None) if isinstance(obj, _core.constexpr) or _is_upstream(obj, "constexpr") else None
    plain = wrapped if isinstance(wrapped, types.FunctionType) else obj
    if isinstance(plain, types.FunctionType) and not getattr(plain, "_tm_constexpr_function", False) \
            and not _func_path(plain):
        # a plain Python function (or a tl.constexpr around one, `@tl.constexpr def f(n)`) called
        # by the kernel: upstream's code generator calls it at compile time with its arguments
        # as constexprs; so do we, on the host
        return (name, _tm.G_HOSTFN, None, _tm.V_NONE, _ConstexprArgs(plain), _source_ident(plain), None, 0)
    if obj is None or isinstance(obj, (bool, int, float, str, tuple, _core.constexpr, _core.dtype)) \
            or _is_upstream(obj, "constexpr") or _is_upstream(obj, "dtype"):
        try:
            vkind, payload = to_value(obj)
        except TypeError:
            return None
        return (name, _tm.G_VALUE, None, vkind, payload, None, None, 0)
    if isinstance(obj, types.BuiltinFunctionType) and getattr(obj, "__module__", None) in ("math", "cmath"):
        # `log2e: tl.constexpr = math.log2(math.e)`: upstream calls it at compile time
        return (name, _tm.G_HOSTFN, None, _tm.V_NONE, _ConstexprArgs(obj), f"builtin:math.{obj.__name__}",
                None, 0)
    path = _func_path(obj)
    if not path and getattr(obj, "_tm_constexpr_function", False) and callable(obj):
        # run on the host when the kernel calls it; its source identifies it in caches
        return (name, _tm.G_HOSTFN, None, _tm.V_NONE, obj, _source_ident(obj), None, 0)
    return path and (name, _tm.G_FUNC, path, _tm.V_NONE, None, None, None, 0)


def _source_ident(fn):
    """What identifies a host function in cache keys: its source."""
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        return repr(getattr(fn, "__code__", fn))


class _ConstexprArgs:
    """A plain Python function as the compiler calls it: arguments as constexprs."""
    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, *args):
        # upstream passes numbers and strings as constexprs, dtypes as themselves
        return self.fn(*(a if isinstance(a, _core.dtype) else _core.constexpr(a) for a in args))


def _module_attrs(mod, code, table, helpers, depth):
    """Globals `pymod:<module>.<attr>` for the attributes of a program module
    that code may use (its names), for kernels that call `h.f(x)`."""
    if depth > 3:
        return
    names = set(_code_names(code, []))
    for attr in names:
        obj = getattr(mod, attr, _MISSING)
        if obj is _MISSING:
            continue
        key = f"pymod:{mod.__name__}.{attr}"
        if key in table:
            continue
        g = _classify(key, obj)
        if not g:
            continue
        table[key] = g
        if isinstance(obj, JITFunction):
            helpers.append(obj)
        elif g[1] == _tm.G_MODULE and g[2].startswith("pymod:"):
            _module_attrs(obj, code, table, helpers, depth + 1)


def _overlapping(launch):
    """Whether two pointer arguments' allocations overlap (an in-place x, x)."""
    ranges = []
    for lv in launch:
        if not isinstance(lv, tuple):
            continue
        if len(lv) == 6:  # a device buffer: (0, nbytes, ro, buffer, offset, before)
            _, nbytes, _, buf, off, before = lv
            ranges.append((buf, off - before, off + nbytes))  # the handle's value: equal
            # ints need not be one object (two views of one storage give two)
        else:             # host memory: (ptr, nbytes, ro, before)
            ptr, nbytes, before = lv[0], lv[1], lv[3] if len(lv) > 3 else 0
            ranges.append((None, ptr - before, ptr + nbytes))
    for i, (s1, lo1, hi1) in enumerate(ranges):
        for s2, lo2, hi2 in ranges[i + 1:]:
            if s1 == s2 and lo1 < hi2 and lo2 < hi1:
                return True
    return False


def _key_globals(globs):
    """The globals as cache keys see them: a host function by its source, not its
    object (whose repr differs from process to process)."""
    return tuple(g[:4] + (None,) + g[5:] if g[1] == _tm.G_HOSTFN else g for g in globs)


def _host_call(fn, args):
    """Runs a @constexpr_function for the compiler: args are (kind, payload)
    pairs (dtypes as tm_dtype codes), and so is the result."""
    py = []
    for kind, payload in args:
        if kind == _tm.V_DTYPE:
            name = _CODE_NAMES.get(payload)
            py.append(getattr(_core, name) if name else payload)
        else:
            py.append(payload)
    result = fn(*py)
    return to_value(result)


_CODE_NAMES = {c.tm: c.codegen_name() for c in _core.DTYPES if c.tm is not None}
_CODE_NAMES.update({code: "float8" + name[3:] for name, code in _tm.FP8_CODES.items()})


def _code_names(code, out):
    out.extend(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            _code_names(c, out)
    return out


def collect_globals(fn, table=None, seen=None):
    """tm_global tuples for the names fn's code refers to. Helpers' (other @jit
    functions') names are added too, where the kernel does not bind the name."""
    table = {} if table is None else table
    seen = set() if seen is None else seen
    jf = fn if isinstance(fn, JITFunction) else None
    fn = jf.fn if jf is not None else fn
    if id(fn) in seen:
        return table
    seen.add(id(fn))
    code = fn.__code__
    names_code = jf._names_code if jf is not None and jf._names_code is not None else code
    env = {}
    if fn.__closure__:
        for name, cell in zip(code.co_freevars, fn.__closure__):
            try:
                env[name] = cell.cell_contents
            except ValueError:  # empty cell
                pass
    helpers = []
    for name in _code_names(names_code, list(code.co_freevars)):
        known = table.get(name)
        if known is not None:
            if known[1] == _tm.G_MODULE and known[2].startswith("pymod:"):
                # a module an earlier function also names: this function may use other attributes of it
                obj = env.get(name, fn.__globals__.get(name, _MISSING))
                if isinstance(obj, types.ModuleType) and known[2] == "pymod:" + obj.__name__:
                    _module_attrs(obj, names_code, table, helpers, 0)
            continue
        obj = env.get(name, _MISSING)
        if obj is _MISSING:
            obj = fn.__globals__.get(name, _MISSING)
        builtin = obj is _MISSING
        if builtin:
            obj = getattr(builtins, name, _MISSING)
        if obj is _MISSING:
            continue
        g = _classify(name, obj)
        if g is None and not builtin:  # the compiler says why, if the kernel uses it
            g = (name, _tm.G_UNUSABLE, type(obj).__name__, _tm.V_NONE, None, None, None, 0)
        if g:
            table[name] = g
            if isinstance(obj, JITFunction):
                helpers.append(obj)
            elif g[1] == _tm.G_MODULE and g[2].startswith("pymod:"):
                _module_attrs(obj, names_code, table, helpers, 0)
    for h in helpers:
        collect_globals(h, table, seen)
    return table


# ------------------------------------------------------------------ compiled kernels

class KernelMetadata(types.SimpleNamespace):
    """What upstream's CompiledKernel.metadata offers that applies here."""


def _target():
    """(name, key) of the compile target: key spells every field of it that can
    change the emitted code (for the cache keys). Without the extension:
    TRITON_METAL_HW or 'default'."""
    c = _c_or_none()
    if c is None:
        name = os.environ.get("TRITON_METAL_HW") or "default"
        return name, name
    return c.target()


def _target_name():
    return _target()[0]


class LazyDict:
    """Upstream's lazily completed metadata dict (a launch hook calls .get())."""

    def __init__(self, data):
        self.data = data
        self.extras = []

    def get(self):
        for func, args in self.extras:
            self.data = self.data | func(*args)
        self.extras.clear()
        return self.data

    def add(self, func, args):
        self.extras.append((func, args))


class _LaunchHooks(type):
    """Setting CompiledKernel.launch_enter_hook / launch_exit_hook (profilers do)
    also routes launches through Python, where they are called."""

    def __setattr__(cls, name, value):
        super().__setattr__(name, value)
        if name in ("launch_enter_hook", "launch_exit_hook"):
            c = _c_or_none()
            if c is not None:
                c.set_launch_hooks(cls.launch_enter_hook is not None or cls.launch_exit_hook is not None)


class CompiledKernel(metaclass=_LaunchHooks):
    """One specialization of a kernel: returned by kernel[grid](...) and warmup()."""

    launch_enter_hook = None  # hook(LazyDict) before / after every launch (upstream's)
    launch_exit_hook = None

    def launch_metadata(self, grid, stream, *args):
        """The LazyDict the launch hooks get: name, function and stream, and what
        @jit(launch_metadata=f) adds: f(grid, metadata, {parameter: argument})."""
        ret = LazyDict({"name": self.name, "function": self, "stream": stream})
        f = getattr(self.fn, "launch_metadata", None)
        if f is not None:
            ret.add(f, (grid, self.metadata, dict(zip(self.fn.arg_names, args))))
        return ret

    def __init__(self, jit, kernel, opts, hash_, target, key_specs=None):
        self.fn = jit
        self.kernel = kernel  # _C.Kernel
        self.name = jit._kernel_name(kernel, key_specs) if key_specs is not None else kernel.source_name
        self.hash = hash_
        self.asm = {"msl": kernel.msl}
        self.metadata = KernelMetadata(
            name=self.name, hash=hash_, target=target, num_warps=opts.num_warps,
            num_stages=opts.num_stages, num_ctas=opts.num_ctas, debug=opts.debug,
            opt_level=opts.opt_level, debug_info=opts.debug_info,
            enable_fp_fusion=opts.enable_fp_fusion, maxnreg=opts.maxnreg,
            memory_optimization=opts.memory_optimization,
            fusion_optimization=opts.fusion_optimization,
            threads_per_threadgroup=kernel.threads_per_threadgroup,
            shared=kernel.threadgroup_mem_bytes)
        # Metal reports no register counts; these are the compiler's estimate:
        # the 32-bit words of a thread's block values (an upper bound: every
        # array at once) plus a base for scalars and addresses, at most 255 (the
        # most a thread holds in registers); what exceeds that is what a GPU
        # would spill to memory. Occupancy formulas (max_num_regs // (n_regs *
        # 32 * num_warps)) then stay positive.
        words = (getattr(kernel, "private_bytes", 0) + 3) // 4 + 24
        self.n_regs = min(words, 255)
        self.n_spills = max(0, words - 255)
        self.module = None
        self._lock = threading.Lock()

    def __repr__(self):
        return f"CompiledKernel({self.name}, hash={self.hash[:12]})"

    @property
    def n_max_threads(self):
        """The most threads per threadgroup the device's pipeline for this
        kernel allows (tm_module_get_info; loads the kernel, as upstream's
        _init_handles does)."""
        return (self.module or self._init_handles()).info()["max_threads_per_threadgroup"]

    def _init_handles(self):
        """Builds the MSL on the device (upstream: loads the binary)."""
        if self.module is None:
            with self._lock:
                if self.module is None:
                    self.module = get_device().load(self.kernel)
        return self.module

    def __getitem__(self, grid):
        """Launch this compiled specialization: compiled[grid](*args) with every
        parameter of the kernel (constexprs included), as upstream."""
        def launch(*args, **kwargs):
            values, _ = self.fn._binder(*args, **kwargs)
            _, launch_values, _, views = self.fn._spec(values)
            _launch(self.module or self._init_handles(), self.fn._grid3(grid, values),
                    launch_values, views)
        return launch


# ------------------------------------------------------------------ upstream's helper types

_SIG = {_tm.I1: "i1", _tm.I8: "i8", _tm.I16: "i16", _tm.I32: "i32", _tm.I64: "i64", _tm.U8: "u8",
        _tm.U16: "u16", _tm.U32: "u32", _tm.U64: "u64", _tm.F16: "fp16", _tm.BF16: "bf16",
        _tm.F32: "fp32", _tm.F64: "fp64"}


def _sig_string(kind, code):
    """Upstream's signature spelling of a runtime parameter: "*fp32", "i32", ..."""
    return ("*" if kind == _POINTER else "") + _SIG.get(code, "?")


# dtype spellings -> upstream's canonical short names (signature strings)
type_canonicalisation_dict = {
    "bool": "u1", "int1": "u1", "uint1": "u1", "i1": "u1",
    "float8e4nv": "fp8e4nv", "float8e5": "fp8e5", "float8e4b15": "fp8e4b15",
    "float8_e4m3fn": "fp8e4nv", "float8e4b8": "fp8e4b8", "float8_e4m3fnuz": "fp8e4b8",
    "float8_e5m2": "fp8e5", "float8e5b16": "fp8e5b16", "float8_e5m2fnuz": "fp8e5b16",
    "half": "fp16", "float16": "fp16", "bfloat16": "bf16", "float": "fp32", "float32": "fp32",
    "double": "fp64", "float64": "fp64",
    "int8": "i8", "int16": "i16", "int": "i32", "int32": "i32", "int64": "i64",
    "uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64",
}
for _v in list(type_canonicalisation_dict.values()):
    type_canonicalisation_dict[_v] = _v
del _v


class KernelParam:
    """One parameter of a @jit function, as upstream's JITFunction.params lists them."""

    def __init__(self, num, param, do_not_specialize, do_not_specialize_on_alignment):
        self.num = num
        self._param = param
        self.do_not_specialize = do_not_specialize
        self.do_not_specialize_on_alignment = do_not_specialize_on_alignment

    @property
    def name(self):
        return self._param.name

    @property
    def annotation(self):
        a = self._param.annotation
        if a is inspect.Parameter.empty or not a:
            return ""
        if isinstance(a, str):
            return a
        if _is_constexpr_annotation(a):
            return "constexpr"
        if isinstance(a, _core.dtype):
            return type_canonicalisation_dict.get(a.name, a.name)
        return getattr(a, "__name__", str(a))

    @property
    def is_constexpr(self):
        return "constexpr" in self.annotation

    @property
    def is_const(self):
        a = self._param.annotation
        return a is _core.const or (isinstance(a, str) and a.endswith("const"))

    @property
    def default(self):
        return self._param.default

    @property
    def has_default(self):
        return self._param.default is not inspect.Parameter.empty

    def __repr__(self):
        return f"KernelParam({self.num}, {self.name!r})"


class TensorWrapper:
    """A tensor seen as another element type (upstream's triton.runtime.jit.TensorWrapper):
    reinterpret(x, tl.uint8) passes x's memory to a kernel as uint8 data."""

    def __init__(self, base, dtype):
        self.dtype = dtype
        self.base = base
        self.data = getattr(base, "data", None)
        self.device = getattr(base, "device", None)
        self.shape = base.shape

    def data_ptr(self):
        return self.base.data_ptr()

    def stride(self, *args):
        return self.base.stride(*args)

    def numel(self):
        return self.base.numel()

    def dim(self):
        return self.base.dim()

    def element_size(self):
        return self.base.element_size()

    def is_contiguous(self):
        return self.base.is_contiguous()

    def __str__(self):
        return f"TensorWrapper[{self.dtype}]({self.base})"

    def cpu(self):
        return TensorWrapper(self.base.cpu(), self.dtype)

    def copy_(self, other):
        self.base.copy_(other.base if isinstance(other, TensorWrapper) else other)

    def clone(self):
        return TensorWrapper(self.base.clone(), self.dtype)

    def to(self, device):
        return TensorWrapper(self.base.to(device), self.dtype)

    def new_empty(self, sizes):
        return TensorWrapper(self.base.new_empty(sizes), self.dtype)


def reinterpret(tensor, dtype):
    """tensor's memory as dtype (a triton dtype); reinterpreting back to the
    base tensor's own dtype gives the base tensor."""
    if isinstance(tensor, TensorWrapper):
        if str(tensor.base.dtype) in (f"torch.{dtype.codegen_name()}",) or dtype == tensor.base.dtype:
            return tensor.base
        return TensorWrapper(tensor.base, dtype)
    if hasattr(tensor, "data_ptr"):
        return TensorWrapper(tensor, dtype)
    raise TypeError(f"cannot reinterpret a {type(tensor).__name__}")


class MockTensor:
    """Stands in for a tensor of a dtype where only the dtype matters
    (`kernel.warmup(MockTensor(torch.float32), ...)`)."""

    @staticmethod
    def wrap_dtype(arg):
        if type(arg).__name__ == "dtype" and type(arg).__module__ == "torch":
            return MockTensor(arg)
        return arg

    def __init__(self, dtype):
        self.dtype = dtype

    @staticmethod
    def data_ptr():
        return 0

    @staticmethod
    def ptr_range():
        return 0


# ------------------------------------------------------------------ the jit

def _is_constexpr_annotation(ann):
    if ann is _core.constexpr:
        return True
    if isinstance(ann, str):
        return ann == "constexpr" or ann.endswith(".constexpr")
    return isinstance(ann, type) and ann.__name__ == "constexpr" \
        and ann.__module__.startswith("triton.language")


def _annotation_type(ann):
    """(pointer?, tm_dtype) of a parameter annotation that names a type, as
    upstream's KernelParam.annotation_type reads them: `tl.uint8`, "tl.uint8",
    "u8", `int` (i32), `float` (fp32), `bool` (i1), "*fp16" (a pointer whose
    elements are read as fp16); None for any other annotation (`torch.Tensor`,
    constexpr, none)."""
    if ann is inspect.Parameter.empty or ann is None or _is_constexpr_annotation(ann):
        return None
    ptr = False
    if isinstance(ann, _core.pointer_type):
        ptr, ann = True, ann.element_ty
    if isinstance(ann, str):
        a = ann.strip()
        if a.startswith("const "):
            a = a[6:].strip()
        if a.endswith("*"):
            ptr, a = True, a[:-1].strip()
        elif a.startswith("*k"):
            ptr, a = True, a[2:]
        elif a.startswith("*"):
            ptr, a = True, a[1:]
        if a.startswith("tl."):
            a = a[3:]
    elif isinstance(ann, _core.dtype):
        a = ann.name
    elif isinstance(ann, type):
        a = ann.__name__
    else:
        return None
    sig = type_canonicalisation_dict.get(a.replace("_t", ""))
    if sig is None:
        return None
    code = _tm.I1 if sig == "u1" else next((c for c, n in _SIG.items() if n == sig), None)
    if code is None:  # fp8 and other names no parameter here takes
        return None
    return ptr, code




def _param_indices(kname, names, items, what):
    """The parameter indices named by items (ints or names). As upstream, an entry
    that names no parameter is ignored (libraries list names shared by several
    kernels); an entry of another type is an error."""
    out = set()
    for it in items or ():
        if isinstance(it, bool) or not isinstance(it, (int, str)):
            raise TypeError(f"{kname}: {what} takes parameter names or indices, got {it!r}")
        if isinstance(it, int) and 0 <= it < len(names):
            out.add(it)
        elif isinstance(it, str) and it in names:
            out.add(names.index(it))
    return out


def _make_binder(fn, sig):
    """A def with fn's parameters that returns (values tuple, extra keywords): calling
    it gives exactly Python's errors for missing/surplus arguments."""
    pieces, ns, names = [], {}, []
    params = list(sig.parameters.values())
    for i, p in enumerate(params):
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"{fn.__name__}: *args / **kwargs parameters are not supported "
                            "in kernels")
        if p.kind is p.KEYWORD_ONLY and "*" not in pieces:
            pieces.append("*")
        text = p.name
        if p.default is not p.empty:
            ns[f"_tm_d{i}"] = p.default
            text += f"=_tm_d{i}"
        pieces.append(text)
        names.append(p.name)
        if p.kind is p.POSITIONAL_ONLY and (i + 1 == len(params)
                                            or params[i + 1].kind is not p.POSITIONAL_ONLY):
            pieces.append("/")
    pieces.append("**_tm_options")
    ret = "".join(n + ", " for n in names)
    src = f"def {fn.__name__}({', '.join(pieces)}):\n    return ({ret}), _tm_options\n"
    exec(src, ns)
    return ns[fn.__name__]


def _unwrap_upstream(fn):
    """The Python function of an upstream @triton.jit object (triton.runtime.jit
    JITFunction), so triton_metal.jit accepts kernels decorated for upstream."""
    t = type(fn)
    if t.__module__.startswith("triton.runtime") and hasattr(fn, "fn") \
            and callable(getattr(fn, "fn")):
        return fn.fn
    return fn


try:
    from ._C import Dispatcher as _Base
except ImportError:  # extension not built: binding and specialization still work
    class _Base:
        fast_cache = None

        def _configure(self, *args):
            pass

        def __getitem__(self, grid):
            return lambda *args, **kwargs: self._slow_run(grid, args, kwargs, None)

        def _dispatch(self, grid, args, kwargs):
            return self._slow_run(grid, args, kwargs, None)

_DEBUG = os.environ.get("TRITON_METAL_DEBUG") == "1"

_opaque = {}


def _under_dynamo(fn):
    """None, or fn made opaque to torch.compile. Dynamo (torch._dynamo,
    loaded once torch.compile is used) sees our kernels as Python, not as
    Triton kernels it could capture (torch's has_triton() is False: it does
    not generate kernels for devices we serve), and would trace the launch
    path, graph-breaking with a warning at each C call in it. Disabled, the
    launch is one graph break and runs as in eager mode. Only the Python paths
    (a compile, an autotuner's launch) come here; the C fast path is opaque
    to Dynamo already. Once Dynamo is loaded these paths always go through
    the disabled wrapper (a few microseconds): whether Dynamo is tracing
    cannot be asked from code it may be running eagerly between graphs."""
    dynamo = sys.modules.get("torch._dynamo")
    if dynamo is None:
        return None
    w = _opaque.get(fn)
    if w is None:
        w = _opaque[fn] = dynamo.disable(fn, recursive=True)
    return w


_FIRST_LINE = re.compile(r"\s*(@|def\s|async\s+def\s)|.*(?<!\w)lambda(:|\s)")


def _source_block(fn, file):
    """(the lines of fn's file as the line cache holds them now, the index of
    its first line: its first decorator's, or its def's), what
    inspect.getsourcelines starts from; OSError where there is no source."""
    code = fn.__code__
    linecache.checkcache(file)
    lines = linecache.getlines(file, fn.__globals__)
    if not lines:
        raise OSError("could not get source code")
    i = code.co_firstlineno - 1
    if not 0 <= i < len(lines):
        raise OSError("line number out of the file")
    while i > 0 and not _FIRST_LINE.match(lines[i]):
        i -= 1
    return lines, i


class JITFunction(_Base):
    """A @jit kernel. Launch with kernel[grid](*args, **kwargs)."""

    def __init__(self, fn, debug=None, do_not_specialize=None,
                 do_not_specialize_on_alignment=None, noinline=None, repr=None,
                 launch_metadata=None, version=None, options=None):
        super().__init__()
        fn = _unwrap_upstream(fn)
        self.fn = fn
        self.__name__ = fn.__name__
        self.__qualname__ = getattr(fn, "__qualname__", fn.__name__)
        self.__module__ = fn.__module__
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        try:
            self.file = inspect.getsourcefile(fn) or fn.__code__.co_filename
            self._block = _source_block(fn, self.file)
        except (OSError, TypeError, AttributeError) as e:
            raise OSError(f"@jit: cannot read the source of {fn.__name__} (from "
                          f"{fn.__code__.co_filename}): kernels are compiled from their "
                          f"source, so define them in a file ({e})") from None
        self._src = self._first_line = None  # cut from _block on first use (_cut_source)
        self._names_code = None  # set by _unsafe_update_src: the code the globals come from
        self.signature = inspect.signature(fn)
        self.arg_names = list(self.signature.parameters)
        self.__globals__ = fn.__globals__
        self.noinline = noinline
        self.repr = repr
        self.launch_metadata = launch_metadata
        self.pre_run_hooks = []
        self._constexpr = [_is_constexpr_annotation(p.annotation)
                           for p in self.signature.parameters.values()]
        self.constexprs = [i for i, c in enumerate(self._constexpr) if c]  # upstream: indices
        dns = _param_indices(fn.__name__, self.arg_names, do_not_specialize,
                             "do_not_specialize")
        dnsa = _param_indices(fn.__name__, self.arg_names, do_not_specialize_on_alignment,
                              "do_not_specialize_on_alignment")
        self.do_not_specialize = sorted(dns)
        self.do_not_specialize_on_alignment = sorted(dnsa)
        self.params = [KernelParam(i, p, i in dns, i in dnsa)
                       for i, p in enumerate(self.signature.parameters.values())]
        # upstream: a parameter annotated with a type takes that type (`v: tl.uint8`,
        # `scale: float`, `X: "*fp16"`); an annotated int is never the constant 1
        # and an annotated float or bool has no alignment specialization
        self._ann = [None if self._constexpr[i] else _annotation_type(p.annotation)
                     for i, p in enumerate(self.signature.parameters.values())]
        _fp_or_bool = (_tm.F16, _tm.BF16, _tm.F32, _tm.F64, _tm.I1)
        self._spec_value = [i not in dns and not (a and not a[0])
                            for i, a in enumerate(self._ann)]
        self._spec_align = [i not in dns and i not in dnsa
                            and not (a and not a[0] and a[1] in _fp_or_bool)
                            for i, a in enumerate(self._ann)]
        self._ptr_align = [i not in dnsa for i in range(len(self.arg_names))]
        self.debug = bool(debug)  # TRITON_DEBUG=1 is read at each launch (options.resolve), as upstream
        self.default_options = dict(options or {})
        _options.check_defaults(self.__name__, self.default_options)
        self.cache = {}  # (specs, num_warps, debug, extra, opt_level, debug_info, other options)
        #                -> CompiledKernel
        self._cache_lock = threading.Lock()
        self._binder = _make_binder(fn, self.signature)
        self._arg_fns = {}  # the @jit functions passed as arguments, by their global's name
        self._log = _cache.debug_log if _DEBUG else None
        self._configure_fast_path()

    def _configure_fast_path(self):
        params = list(self.signature.parameters.values())
        flags = bytearray()
        defaults = []
        for i, p in enumerate(params):
            f = (1 if self._constexpr[i] else 0) | (2 if self._spec_value[i] else 0) \
                | (4 if self._spec_align[i] else 0) | (8 if self._ptr_align[i] else 0) \
                | (16 if p.default is not p.empty else 0)
            flags.append(f)
            defaults.append(None if p.default is p.empty else p.default)
        plain = all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params)
        self._configure(tuple(self.arg_names), bytes(flags), tuple(defaults),
                        plain and not _DEBUG and not self.pre_run_hooks)

    def _cut_source(self):
        """The function's text from its `def` on (as upstream gives the compiler:
        decorators above it may hold any Python, heuristics' lambdas, dicts) and
        that line's number, cut from the file's lines taken at decoration. Done
        on first use, not at decoration: finding a block's end tokenizes it
        (a few ms a function), and a library's modules define many kernels and
        helpers a program never launches (fla.ops: 371). The block's length
        is kept in the disk cache (cache.block_length), so a later process
        cuts the same text without tokenizing."""
        lines, i = self._block
        n = _cache.block_length(lines, i, inspect.getblock)
        text = textwrap.dedent("".join(lines[i:i + n]))
        first = i + 1
        m = re.search(r"^(async\s+)?def\s", text, re.MULTILINE)
        if m and m.start():
            first += text.count("\n", 0, m.start())
            text = text[m.start():]
        self._src, self._first_line = text, first

    @property
    def src(self):
        if self._src is None:
            self._cut_source()
        return self._src

    @src.setter
    def src(self, text):
        if self._src is None:
            self._cut_source()  # first_line stays the function's
        self._src = text

    @property
    def first_line(self):
        if self._first_line is None:
            self._cut_source()
        return self._first_line

    @property
    def starting_line_number(self):  # upstream's name
        return self.first_line

    def _unsafe_update_src(self, new_src):
        """Replaces the kernel's source text (upstream's hook for templated kernels:
        `k._unsafe_update_src(k.src.replace("EXPR", "x + y"))`). Compiled
        specializations are dropped; global names are taken from the new text."""
        self.src = new_src
        try:
            self._names_code = compile(new_src, self.file, "exec")
        except SyntaxError:
            self._names_code = None  # the compiler reports it, located
        with self._cache_lock:
            self.cache = {}
        if self.fast_cache is not None:
            self.fast_cache.clear()

    @property
    def cache_key(self):
        """A hash of what the kernel's code depends on: its source and first line
        (errors and debug info name lines), the sources and values of the globals
        it uses (helpers included) and the compiler."""
        globs = tuple(collect_globals(self).values())
        return _cache.make_key("jit-cache-key", self.src, self.first_line, self.fn.__name__,
                               _key_globals(globs), _cache.compiler_version(_c_or_none()))

    @property
    def type(self):
        return None

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"{self.__name__} is a @jit kernel: launch it as "
                           f"{self.__name__}[grid](...) or call it from another kernel")

    def __repr__(self):
        return f"JITFunction({self.__module__}:{self.__qualname__})"

    def warmup(self, *args, grid, **kwargs):
        """Compiles for these arguments without launching; returns the CompiledKernel.
        A torch dtype stands for a tensor of that dtype (upstream's MockTensor)."""
        args = tuple(MockTensor.wrap_dtype(a) for a in args)
        kwargs = {k: MockTensor.wrap_dtype(v) for k, v in kwargs.items()}
        return self._run(grid, args, kwargs, warmup=True)

    def explain(self, *args, **kwargs):
        """What the compiler decides for these arguments, as text: threads per
        threadgroup, the layout of each block value, the vector width of each
        memory access, reductions, dot paths, threadgroup memory and barriers."""
        values, opts = self._binder(*args, **kwargs)
        o = _options.resolve(self.__name__, opts, self.default_options, self.debug)
        specs = self._spec(values)[0]
        globs = tuple(collect_globals(self).values())
        kernel = _C().compile(self.src, self.file, self.first_line, self.fn.__name__, specs, globs,
                              o.num_warps, o.debug, "explain", o.opt_level, o.debug_info)
        return kernel.dump

    def run(self, *args, grid, warmup=False, **kwargs):
        """kernel.run(*args, grid=grid, warmup=False, **kwargs), as upstream."""
        if warmup:
            return self._run(grid, args, kwargs, warmup=True)
        return self._dispatch(grid, args, kwargs)

    def _slow_run(self, grid, args, kwargs, key):
        """The launch path in Python (launcher.c calls it on a miss): bind,
        specialize, compile, launch; then remember key for the C path."""
        opaque = _under_dynamo(JITFunction._slow_run_body)
        if opaque is not None:  # torch.compile may be tracing: the launch is opaque to it
            return opaque(self, grid, args, kwargs, key)
        return self._slow_run_body(grid, args, kwargs, key)

    def _slow_run_body(self, grid, args, kwargs, key):
        _register_tensor_types()
        compiled = self._run(grid, args, kwargs, warmup=False)
        if key is not None and compiled is not None and compiled.module is not None:
            self.fast_cache[key] = (compiled, compiled.module)
        return compiled

    def _run(self, grid, args, kwargs, warmup):
        for hook in self.pre_run_hooks:  # upstream: before anything else, with the call's arguments
            hook(*args, **kwargs)
        values, opts = self._binder(*args, **kwargs)
        o = _options.resolve(self.__name__, opts, self.default_options, self.debug)
        # the grid first, as upstream: a grid callable may resize or replace an
        # argument's memory, so no argument is read before it has run
        grid3 = None if warmup else self._grid3(grid, values)
        specs, launch_values, extra, views = self._spec(values)
        key = (specs, o.num_warps, o.debug, extra, o.opt_level, o.debug_info, o[4:])
        compiled = self.cache.get(key)
        if compiled is None:
            compiled = self._compile(key, specs, o, warmup)
            if compiled is None:  # JITFunction.cache_hook returned True: not compiled, not launched
                return None
        if not warmup:
            if self._log:
                self._log(f"launch {self.__name__} grid={grid3} hash={compiled.hash[:12]}")
            module = compiled.module or compiled._init_handles()
            enter, leave = CompiledKernel.launch_enter_hook, CompiledKernel.launch_exit_hook
            if enter is None and leave is None:
                _launch(module, grid3, launch_values, views)
            else:  # profilers' hooks (upstream's), around the launch, with launch_metadata
                meta = compiled.launch_metadata(grid3, None, *values)
                if enter is not None:
                    enter(meta)
                _launch(module, grid3, launch_values, views)
                if leave is not None:
                    leave(meta)
        return compiled

    # ---- pieces of run()

    def _options(self, opts):
        o = _options.resolve(self.__name__, opts, self.default_options, self.debug)
        return o.num_warps, o.debug

    def _grid3(self, grid, values):
        """The launch grid as 3 ints in [0, 2**32); errors name the kernel (the
        grid callable's own exceptions pass through)."""
        if callable(grid) and not isinstance(grid, (tuple, list)):
            grid = grid(dict(zip(self.arg_names, values)))
        try:
            dims = tuple(grid)
        except TypeError:
            raise TypeError(f"{self.__name__}: grid must be a tuple of 1 to 3 ints or a "
                            f"callable, got {grid!r}") from None
        if not 1 <= len(dims) <= 3:
            raise ValueError(f"{self.__name__}: grid must have 1 to 3 dimensions, got {grid!r}")
        out = []
        for x in dims:
            try:
                x = operator.index(x)
            except TypeError:
                raise TypeError(f"{self.__name__}: grid dimensions must be integers, "
                                f"got {grid!r}") from None
            if not 0 <= x < 2**32:
                raise ValueError(f"{self.__name__}: grid dimensions must be integers in "
                                 f"[0, 2**32), got {grid!r}")
            out.append(x)
        return tuple(out) + (1,) * (3 - len(out))

    def _spec(self, values):
        """Per-parameter specs (the compile-cache key), launch values for C, the
        hex spelling of float constexprs (0.0 vs -0.0, NaN) for the key, and
        the interop views to keep and honour around the launch (_launch)."""
        specs, launch, extra, views = [], [], (), []
        for i, v in enumerate(values):
            t = type(v)
            if self._constexpr[i] and isinstance(v, JITFunction):
                spec, lv = self._jit_arg(self.arg_names[i], v), None
            elif self._constexpr[i]:
                try:
                    vk, payload = to_value(v)
                except TypeError as e:
                    raise TypeError(f"{self.__name__}: constexpr argument "
                                    f"'{self.arg_names[i]}': {e}") from None
                if vk == _tm.V_FLOAT:
                    extra += (i, payload.hex())
                spec, lv = (_CONSTEXPR, _tm.VOID, 0, vk, payload), None
            elif t is int or t is float or t is bool:
                spec, lv = self._scalar(i, v)
            elif isinstance(v, tuple):
                leaves = []
                self._tuple_arg(self.arg_names[i], v, views, leaves)
                specs.extend(x[0] for x in leaves)
                launch.extend(x[1] for x in leaves)
                continue
            else:
                spec, lv = self._other_arg(i, v, views)
            specs.append(spec)
            launch.append(lv)
        if _overlapping(launch):
            extra += ("alias",)  # order.c orders memory across the parameters: a variant of its own
        return tuple(specs), tuple(launch), extra, views

    # A parameter is a def parameter's index, or (inside a tuple argument) the
    # leaf's spelling ("Ptrs[1]"), which takes upstream's defaults: specialized
    # on 1 and on divisibility by 16, no annotation.
    def _name_of(self, i):
        return i if isinstance(i, str) else self.arg_names[i]

    def _ann_of(self, i):
        return None if isinstance(i, str) else self._ann[i]

    def _spec_value_of(self, i):
        return True if isinstance(i, str) else self._spec_value[i]

    def _spec_align_of(self, i):
        return True if isinstance(i, str) else self._spec_align[i]

    def _ptr_align_of(self, i):
        return True if isinstance(i, str) else self._ptr_align[i]

    def _jit_arg(self, name, fn):
        """A @jit function passed as an argument is a compile-time value, as
        upstream: the compiler gets it as a global of its own, named after the
        parameter and the function's cache key (so a different function is a
        different specialization); _compile adds it and its globals."""
        gname = f"@{name}:{fn.cache_key[:16]}"
        self._arg_fns[gname] = fn
        return (_CONSTEXPR, _tm.VOID, 0, _tm.V_GLOBAL, gname)

    def _tuple_arg(self, name, v, views, out):
        """Appends the specs and launch values of tuple argument v to out, in
        preorder: the tuple's own entry (PARAM_TUPLE, its length), then each
        item's (a tuple's recursively). The compiler binds the parameter to a
        tuple of the leaves; its runtime arguments' indices are positions in
        this flattened list, as the launch values are."""
        fields = getattr(type(v), "_fields", None)
        if isinstance(fields, tuple) and len(fields) == len(v):  # a named tuple: its field names
            out.append(((_TUPLE, _tm.VOID, 0, _tm.V_TUPLE, tuple((_tm.V_STR, f) for f in fields)), None))
        else:
            out.append(((_TUPLE, _tm.VOID, 0, _tm.V_INT, len(v)), None))
        for k, x in enumerate(v):
            leaf = f"{name}[{k}]"
            t = type(x)
            if isinstance(x, tuple) and not _is_upstream(x, "dtype"):
                self._tuple_arg(leaf, x, views, out)
            elif t is int or t is float or t is bool:
                out.append(self._scalar(leaf, x))
            else:
                out.append(self._other_arg(leaf, x, views))

    def _scalar(self, i, v):
        """Spec and launch value of a Python int, float or bool (exact types)."""
        if self._ann_of(i) is not None:
            return self._annotated_scalar(i, v)
        t = type(v)
        if t is int:
            if v == 1 and self._spec_value_of(i):
                return _CONST_ONE, None
            if _I32[0] <= v < _I32[1]:
                dt = _tm.I32
            elif _I64[0] <= v < _I64[1]:
                dt = _tm.I64
            elif _U64[0] <= v < _U64[1]:
                dt = _tm.U64
            else:
                raise OverflowError(f"{self.__name__}: argument '{self._name_of(i)}' = "
                                    f"{v} does not fit in 64 bits")
            flags = _tm.PF_DIV16 if self._spec_align_of(i) and v % 16 == 0 else 0
            return (_SCALAR, dt, flags, _tm.V_NONE, None), v
        if t is float:
            return (_SCALAR, _tm.F32, 0, _tm.V_NONE, None), v
        return (_SCALAR, _tm.I1, 0, _tm.V_NONE, None), v

    def _annotated_scalar(self, i, v):
        """Spec and launch value of a number passed to a parameter annotated with
        a scalar type: the annotation's type, the value converted to it (an
        integer that does not fit is an OverflowError, as upstream's launcher
        raises for signed types; a float for an integer type a TypeError)."""
        ptr, code = self._ann_of(i)
        where = f"{self.__name__}: argument '{self._name_of(i)}'"
        if ptr:
            raise TypeError(f"{where} is annotated {_sig_string(_POINTER, code)} (a pointer) "
                            f"but got {type(v).__name__} {v!r}")
        if code == _tm.F64:
            raise TypeError(f"{where} is annotated float64, which Apple GPUs do not compute "
                            "(annotate float32, or pass a float: it is fp32)")
        if code in (_tm.F16, _tm.BF16, _tm.F32):
            return (_SCALAR, code, 0, _tm.V_NONE, None), float(v)
        if code == _tm.I1:
            return (_SCALAR, code, 0, _tm.V_NONE, None), bool(v)
        if isinstance(v, float):
            raise TypeError(f"{where} is annotated {_SIG[code]} and takes an integer, got "
                            f"float {v!r}")
        v = int(v)
        bits = 8 * _tm.DTYPE_BYTES[code]
        lo, hi = (0, 2**bits) if code in (_tm.U8, _tm.U16, _tm.U32, _tm.U64) \
            else (-2**(bits - 1), 2**(bits - 1))
        if not lo <= v < hi:
            raise OverflowError(f"{where} = {v} does not fit its annotated type {_SIG[code]}")
        flags = _tm.PF_DIV16 if self._spec_align_of(i) and v % 16 == 0 else 0
        return (_SCALAR, code, flags, _tm.V_NONE, None), v

    def _other_arg(self, i, v, views):
        """Spec and launch value of an argument that is not a plain int/float/bool;
        an interop view is appended to views."""
        aname = self._name_of(i)
        np = sys.modules.get("numpy")
        if np is not None and isinstance(v, np.generic):  # NumPy scalars, by dtype
            code = dtype_code(v.dtype)
            if code == _tm.F64:  # np.float64 is a Python float: fp32, as upstream
                code = _tm.F32
            if code is None:
                raise TypeError(f"{self.__name__}: argument '{aname}' has unsupported "
                                f"scalar dtype {v.dtype}")
            if self._ann_of(i) is not None:
                return self._annotated_scalar(i, v.item())
            return (_SCALAR, code, 0, _tm.V_NONE, None), v.item()
        p = pointer_arg(self.__name__, aname, v)
        if p is not None:
            code, ptr, nbytes, ro, before, view = p
            ann = self._ann_of(i)
            if ann is not None:
                if not ann[0]:
                    raise TypeError(f"{self.__name__}: argument '{aname}' is annotated "
                                    f"{_SIG[ann[1]]} (a scalar) but got a "
                                    f"{type(v).__name__}")
                code = ann[1]  # upstream: the annotation's element type, as reinterpret()
            on_device = view is not None and view.on_device
            # an MTLBuffer starts on a page; a CUDA device buffer is an address
            addr = (view.buffer + view.offset if view.kind == "torch_cuda" else view.offset) \
                if on_device else ptr
            flags = (_tm.PF_DIV16 if self._ptr_align_of(i) and addr % 16 == 0 else 0) \
                | (_tm.PF_READONLY if ro else 0)
            if view is not None:
                views.append(view)
            lv = (0, nbytes, ro, view.buffer, view.offset, before) if on_device \
                else (ptr, nbytes, ro, before)
            return (_POINTER, code, flags, _tm.V_NONE, None), lv
        if isinstance(v, (bool, int, float)):  # subclasses (IntEnum, np.float64, ...)
            base = bool if isinstance(v, bool) else int if isinstance(v, int) else float
            return self._scalar(i, base(v))
        if v is None or isinstance(v, (str, _core.constexpr, _core.dtype)) \
                or _is_upstream(v, "constexpr") or _is_upstream(v, "dtype"):
            # upstream: None, dtypes and constexpr objects are compile-time values
            return (_CONSTEXPR, _tm.VOID, 0) + to_value(v), None
        if isinstance(v, JITFunction):
            return self._jit_arg(aname, v), None
        raise TypeError(f"{self.__name__}: argument '{aname}' of type {type(v).__name__} is "
                        "not supported (expected an array/tensor, int, float or bool)")

    def _compile(self, key, specs, o, warmup=False, hooks=True):
        """The CompiledKernel for key: from the disk cache, or compiled (and stored).
        JITFunction.cache_hook is called before (None when it returns True: the
        caller compiles nothing) and compiled_hook after, as upstream does on a
        miss of the in-memory cache."""
        with self._cache_lock:
            compiled = self.cache.get(key)
            if compiled is not None:
                return compiled
            if hooks and JITFunction.cache_hook is not None and self._call_hook(key, specs, o, warmup, True):
                return None
            c = _C()
            t0 = time.perf_counter()
            table = collect_globals(self)
            for spec in specs:
                if spec[0] == _CONSTEXPR and spec[3] == _tm.V_GLOBAL:
                    fn = self._arg_fns[spec[4]]
                    table[spec[4]] = _classify(spec[4], fn)
                    collect_globals(fn, table)
            globs = tuple(table.values())
            target, target_key = _target()
            disk_key = _cache.make_key(
                "kernel", self.src, self.file, self.first_line, self.fn.__name__, _key_globals(globs), specs,
                (o.num_warps, o.debug, o.opt_level, o.debug_info, "alias" in key[3]), target_key,
                _cache.compiler_version(c))
            kernel, source = None, "disk cache"
            body = None if _cache.disabled() else _cache.load(disk_key, self._log or _cache.debug_log)
            if body is not None:
                try:
                    kernel = _cache.kernel_from_body(c, body)
                except (TypeError, ValueError, KeyError) as e:
                    (self._log or _cache.debug_log)(
                        f"cache: unusable entry {disk_key[:12]} ({e}); discarded, rebuilding")
                    _cache.discard(disk_key)
            if kernel is None:
                source = "compiled"
                kernel = c.compile(self.src, self.file, self.first_line, self.fn.__name__,
                                   specs, globs, o.num_warps, o.debug, None, o.opt_level,
                                   o.debug_info, "alias" in key[3])
                _static_prints(kernel.msl)
                _cache.store(disk_key, _cache.kernel_body(kernel, {
                    "kernel": self.__name__, "num_warps": o.num_warps, "debug": o.debug,
                    "opt_level": o.opt_level, "debug_info": o.debug_info, "target": target}))
            compiled = CompiledKernel(self, kernel, o, disk_key, target, specs)
            self.cache[key] = compiled
            if hooks and JITFunction.compiled_hook is not None:
                self._call_hook(key, specs, o, warmup, False)
            if self._log:
                self._log(f"compile {self.__name__} {source} in "
                          f"{(time.perf_counter() - t0) * 1e3:.1f} ms hash={disk_key[:12]} "
                          f"num_warps={o.num_warps} opt_level={o.opt_level} "
                          f"debug={o.debug} debug_info={o.debug_info} target={target}")
            return compiled

    cache_hook = None     # upstream's hooks: called on a compile (before; True skips it) ...
    compiled_hook = None  # ... and after it

    def _signature(self, specs):
        """({param: type string}, {param: value}) of specs, as upstream's hooks show
        them (a tuple parameter's type is a tuple of its items' types)."""
        sig, consts, at = {}, {}, 0

        def entry():
            nonlocal at
            kind, code, flags, vk, payload = specs[at]
            at += 1
            if kind == _TUPLE:
                n = len(payload) if vk == _tm.V_TUPLE else payload
                return tuple(entry() for _ in range(n))
            return "constexpr" if kind == _CONSTEXPR else _sig_string(kind, code)

        for name in self.arg_names:
            kind, payload = specs[at][0], specs[at][4]
            t = entry()
            sig[name] = t
            if kind == _CONSTEXPR:
                consts[name] = payload
        return sig, consts

    def _specialization_data(self, key, specs, o):
        """What preload() needs to rebuild this specialization (JSON)."""
        import json
        return json.dumps({"name": self.fn.__name__, "specs": specs, "options": o._asdict(),
                           "extra": key[3]})

    def _call_hook(self, key, specs, o, warmup, before):
        hook = JITFunction.cache_hook if before else JITFunction.compiled_hook
        sig, consts = self._signature(specs)
        args = ", ".join(f"{n}: {t}" for n, t in sig.items())
        repr_ = (f"{self.fn.__name__}[num_warps={o.num_warps}, num_ctas={o.num_ctas}, "
                 f"num_stages={o.num_stages}, enable_fp_fusion={o.enable_fp_fusion}]({args})")
        info = types.SimpleNamespace(module=self.fn.__module__, name=self.fn.__name__, jit_function=self)
        compile_ = {"key": key, "signature": sig, "device": 0, "constants": consts, "num_warps": o.num_warps,
                    "num_ctas": o.num_ctas, "num_stages": o.num_stages, "enable_fp_fusion": o.enable_fp_fusion,
                    "launch_cooperative_grid": False, "extern_libs": None, "configs": [],
                    "specialization_data": self._specialization_data(key, specs, o), "is_warmup": warmup}
        return hook(key=key, repr=repr_, fn=info, compile=compile_, is_manual_warmup=warmup,
                    already_compiled=False)

    def preload(self, specialization_data):
        """The CompiledKernel of a specialization a hook saw (compile["specialization_data"]):
        compiled, or read from the disk cache, and kept so launches and warmups
        with those arguments find it, as upstream's preload."""
        import json
        d = json.loads(specialization_data)
        if d.get("name") != self.fn.__name__:
            raise RuntimeError(f"Specialization data is for {d.get('name')} but trying to preload for "
                               f"{self.fn.__name__}")

        def tup(x):
            return tuple(tup(i) for i in x) if isinstance(x, list) else x

        specs, extra = tup(d["specs"]), tup(d["extra"])
        if any(s[0] == _CONSTEXPR and s[3] == _tm.V_GLOBAL for s in specs):
            raise ValueError("preload: a specialization with @jit function arguments cannot be rebuilt "
                             "from its data (launch the kernel instead)")
        o = _options.Options(**{k: tup(v) for k, v in d["options"].items()})
        key = (specs, o.num_warps, o.debug, extra, o.opt_level, o.debug_info, o[4:])
        return self.cache.get(key) or self._compile(key, specs, o, warmup=True, hooks=False)

    def add_pre_run_hook(self, hook):
        """hook(*args, **kwargs) runs before every launch and warmup of this kernel
        (upstream's API); launches then take the Python path."""
        assert callable(hook)
        self.pre_run_hooks.append(hook)
        self._configure_fast_path()

    @property
    def device_caches(self):
        """Upstream's per-device caches: device -> (compiled kernels by key, target,
        backend, binder). One device here: every key maps to the same cache."""
        jf = self

        class _Caches(dict):
            def __missing__(self, device):
                return (jf.cache, _target_name(), None, jf._binder)
        return _Caches()

    def _kernel_name(self, kernel, specs):
        """The compiled kernel's name: repr(specialization) when @jit(repr=...) was
        given (upstream's hook: .signature maps runtime parameters to their type
        strings, .constants the compile-time ones, specialized 1s included), else
        the function's name."""
        if self.repr is None:
            return self.__name__
        sig, consts = self._signature(specs)
        sig = {k: t for k, t in sig.items() if k not in consts}
        spec_obj = types.SimpleNamespace(signature=sig, constants=consts, name=self.__name__)
        return self.repr(spec_obj)

    # ---- debug hooks for tests and tools

    def _specialize(self, *args, **kwargs):
        """The per-parameter specs the compiler would get (no compilation)."""
        values, opts = self._binder(*args, **kwargs)
        _options.resolve(self.__name__, opts, self.default_options, self.debug)
        return self._spec(values)[0]

    def _globals(self):
        """The resolved globals table (a dict name -> tm_global tuple)."""
        return collect_globals(self)


def jit(fn=None, *, version=None, repr=None, launch_metadata=None, do_not_specialize=None,
        do_not_specialize_on_alignment=None, debug=None, noinline=None, **options):
    """@jit or @jit(debug=..., do_not_specialize=[...], num_warps=..., ...): compile fn
    as a kernel. Extra keywords are default launch options (see options.py). fn may
    be a plain function or an upstream @triton.jit kernel."""
    _options.check_names(options)

    def decorator(f):
        if isinstance(f, JITFunction) and not options and debug is None:
            return f
        return JITFunction(getattr(f, "fn", f) if isinstance(f, JITFunction) else f,
                           debug=debug, do_not_specialize=do_not_specialize,
                           do_not_specialize_on_alignment=do_not_specialize_on_alignment,
                           noinline=noinline, repr=repr, launch_metadata=launch_metadata,
                           version=version, options=options)
    return decorator(fn) if fn is not None else decorator


jit._tm_path = "triton.jit"
