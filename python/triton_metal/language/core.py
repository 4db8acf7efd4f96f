# language/core.py: the Python-side objects of the kernel language: dtypes,
# constexpr, the tensor placeholder, and the factory for function stubs.
# Kernels are compiled by the C compiler from their source; these objects only
# name things (the jit resolves globals to canonical upstream paths) and raise a
# clear error when a language function is called outside a kernel.

from .. import _tm


class dtype:
    """A Triton element type. `name` is upstream's spelling ("fp32", "int32", ...);
    `tm` is the tm_dtype code, or None for types the compiler refuses (fp8)."""

    SINT = ("int8", "int16", "int32", "int64")
    UINT = ("int1", "uint8", "uint16", "uint32", "uint64")
    FP = ("fp8e4b15", "fp8e4nv", "fp8e4b8", "fp8e5", "fp8e5b16", "fp16", "bf16", "fp32", "fp64")

    def __init__(self, name, tm, bits):
        self.name = name
        self.tm = tm
        self.primitive_bitwidth = bits

    def is_floating(self):
        return self.name in dtype.FP

    def is_int(self):
        return self.name in dtype.SINT or self.name in dtype.UINT

    def is_int_signed(self):
        return self.name in dtype.SINT

    def is_int_unsigned(self):
        return self.name in dtype.UINT

    def is_bool(self):
        return self.name == "int1"

    def is_void(self):
        return self.name == "void"

    def __eq__(self, other):
        return isinstance(other, dtype) and other.name == self.name

    def __hash__(self):
        return hash(self.name)

    def __str__(self):
        return self.name

    def __repr__(self):
        return f"triton.language.{self.name}"


def _dt(name, tm, bits):
    return dtype(name, tm, bits)


void = _dt("void", _tm.VOID, 0)
int1 = _dt("int1", _tm.I1, 1)
int8 = _dt("int8", _tm.I8, 8)
int16 = _dt("int16", _tm.I16, 16)
int32 = _dt("int32", _tm.I32, 32)
int64 = _dt("int64", _tm.I64, 64)
uint8 = _dt("uint8", _tm.U8, 8)
uint16 = _dt("uint16", _tm.U16, 16)
uint32 = _dt("uint32", _tm.U32, 32)
uint64 = _dt("uint64", _tm.U64, 64)
float16 = _dt("fp16", _tm.F16, 16)
bfloat16 = _dt("bf16", _tm.BF16, 16)
float32 = _dt("fp32", _tm.F32, 32)
float64 = _dt("fp64", _tm.F64, 64)
# fp8 names exist so kernels import; the compiler refuses them (no tm code).
float8e5 = _dt("fp8e5", None, 8)
float8e5b16 = _dt("fp8e5b16", None, 8)
float8e4nv = _dt("fp8e4nv", None, 8)
float8e4b8 = _dt("fp8e4b8", None, 8)
float8e4b15 = _dt("fp8e4b15", None, 8)

DTYPES = (void, int1, int8, int16, int32, int64, uint8, uint16, uint32, uint64,
          float16, bfloat16, float32, float64,
          float8e5, float8e5b16, float8e4nv, float8e4b8, float8e4b15)


class pointer_type:
    """Placeholder for upstream's pointer type (annotations, isinstance checks)."""

    def __init__(self, element_ty, address_space=1, const=False):
        self.element_ty = element_ty
        self.address_space = address_space
        self.const = const

    def __repr__(self):
        return f"pointer<{self.element_ty}>"


class block_type:
    """Placeholder for upstream's block type."""

    def __init__(self, element_ty, shape):
        self.element_ty = element_ty
        self.shape = list(shape)


class constexpr:
    """A compile-time value. As an annotation (`BLOCK: tl.constexpr`) it marks a
    parameter as compile-time; called (`tl.constexpr(5)`) it wraps a value."""

    def __init__(self, value):
        self.value = value.value if isinstance(value, constexpr) else value

    def __repr__(self):
        return f"constexpr[{self.value!r}]"

    def __eq__(self, other):
        return self.value == (other.value if isinstance(other, constexpr) else other)

    def __hash__(self):
        return hash(self.value)

    def __bool__(self):
        return bool(self.value)

    def __index__(self):
        return self.value.__index__()

    def __int__(self):
        return int(self.value)

    def __float__(self):
        return float(self.value)


class tensor:
    """Placeholder for a block value inside a kernel. Kernels are compiled from
    source, so no tensor object exists at run time in Python."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError("triton_metal.language.tensor values exist only inside a @jit kernel")


def _stub(path):
    name = path.rsplit(".", 1)[1]

    def fn(*args, **kwargs):
        raise RuntimeError(
            f"{path} was called outside a kernel: language functions can only be "
            "used inside a function decorated with @triton_metal.jit")

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Stub for {path}; compiled by the triton-metal compiler inside kernels."
    fn._tm_path = path
    return fn


def make_stubs(namespace, module_path, names):
    """Defines one stub per name of `names` (whitespace separated) in `namespace`,
    each carrying its canonical path `module_path + "." + name` in `_tm_path`."""
    for name in names.split():
        namespace[name] = _stub(f"{module_path}.{name}")
