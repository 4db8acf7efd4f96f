# language/core.py: the Python-side objects of the kernel language: dtypes,
# constexpr, the tensor placeholder, and the factory for function stubs.
# Kernels are compiled by the C compiler from their source; these objects only
# name things (the jit resolves globals to canonical upstream paths) and raise a
# clear error when a language function is called outside a kernel.

import operator
from enum import Enum

from .. import _tm


def _unwrap(v):
    return v.value if isinstance(v, constexpr) else v


def _binop(f, reflected=False):
    def method(self, other):
        a, b = self.value, _unwrap(other)
        return constexpr(f(b, a) if reflected else f(a, b))
    return method


def _unop(f):
    return lambda self: constexpr(f(self.value))


class constexpr:
    """A compile-time value. As an annotation (`BLOCK: tl.constexpr`) it marks a
    parameter as compile-time; called (`tl.constexpr(5)`) it wraps a value.
    Arithmetic between constexprs (and plain values) gives constexprs, as upstream."""

    def __init__(self, value):
        self.value = _unwrap(value)

    def __repr__(self):
        return f"constexpr[{self.value!r}]"

    def __hash__(self):
        return hash(self.value)

    def __bool__(self):
        return bool(self.value)

    def __index__(self):
        return operator.index(self.value)

    def __int__(self):
        return int(self.value)

    def __float__(self):
        return float(self.value)

    def __iter__(self):
        return iter(self.value)

    def __call__(self, *args, **kwargs):
        return self.value(*args, **kwargs)

    __add__, __radd__ = _binop(operator.add), _binop(operator.add, True)
    __sub__, __rsub__ = _binop(operator.sub), _binop(operator.sub, True)
    __mul__, __rmul__ = _binop(operator.mul), _binop(operator.mul, True)
    __truediv__, __rtruediv__ = _binop(operator.truediv), _binop(operator.truediv, True)
    __floordiv__, __rfloordiv__ = _binop(operator.floordiv), _binop(operator.floordiv, True)
    __mod__, __rmod__ = _binop(operator.mod), _binop(operator.mod, True)
    __pow__, __rpow__ = _binop(operator.pow), _binop(operator.pow, True)
    __and__, __rand__ = _binop(operator.and_), _binop(operator.and_, True)
    __or__, __ror__ = _binop(operator.or_), _binop(operator.or_, True)
    __xor__, __rxor__ = _binop(operator.xor), _binop(operator.xor, True)
    __lshift__, __rshift__ = _binop(operator.lshift), _binop(operator.rshift)
    __gt__, __ge__ = _binop(operator.gt), _binop(operator.ge)
    __lt__, __le__ = _binop(operator.lt), _binop(operator.le)
    __neg__, __pos__, __invert__ = _unop(operator.neg), _unop(operator.pos), _unop(operator.invert)

    def __eq__(self, other):
        return constexpr(self.value == _unwrap(other))

    def __ne__(self, other):
        return constexpr(self.value != _unwrap(other))

    def logical_and(self, other):
        return constexpr(self.value and _unwrap(other))

    def logical_or(self, other):
        return constexpr(self.value or _unwrap(other))


CONSTEXPR_0 = constexpr(0)
CONSTEXPR_1 = constexpr(1)


def _unwrap_if_constexpr(o):
    return _unwrap(o)


class dtype:
    """A Triton element type, shaped as upstream's `triton.language.dtype`:
    `dtype("fp32")`, `name` in upstream's spelling ("fp32", "int32", "bf16", ...),
    its width, signedness and floating-point layout as attributes. `tm` is the
    tm_dtype code, or None for the fp8 types: they exist as compile-time values
    (kernels compare with them) but no data of theirs can be computed here."""

    SINT_TYPES = ["int8", "int16", "int32", "int64"]
    UINT_TYPES = ["int1", "uint8", "uint16", "uint32", "uint64"]
    FP_TYPES = ["fp8e4b15", "fp8e4nv", "fp8e4b8", "fp8e5", "fp8e5b16", "fp16", "bf16", "fp32",
                "fp64"]
    STANDARD_FP_TYPES = ["fp16", "bf16", "fp32", "fp64"]
    OTHER_TYPES = ["void"]
    SINT, UINT, FP = tuple(SINT_TYPES), tuple(UINT_TYPES), tuple(FP_TYPES)

    class SIGNEDNESS(Enum):
        SIGNED = 0
        UNSIGNED = 1

    class KIND(Enum):
        BOOLEAN = 0
        INTEGRAL = 1
        FLOATING = 2

    # name -> (total bits, mantissa bits, exponent bias) of the floating-point types
    _FP_LAYOUT = {"fp8e4b15": (8, 3, 15), "fp8e4nv": (8, 3, 7), "fp8e4b8": (8, 3, 8),
                  "fp8e5": (8, 2, 15), "fp8e5b16": (8, 2, 16), "fp16": (16, 10, 15),
                  "bf16": (16, 7, 127), "fp32": (32, 23, 127), "fp64": (64, 52, 1023)}
    _TM = {"void": _tm.VOID, "int1": _tm.I1, "int8": _tm.I8, "int16": _tm.I16,
           "int32": _tm.I32, "int64": _tm.I64, "uint8": _tm.U8, "uint16": _tm.U16,
           "uint32": _tm.U32, "uint64": _tm.U64, "fp16": _tm.F16, "bf16": _tm.BF16,
           "fp32": _tm.F32, "fp64": _tm.F64}

    def __init__(self, name):
        name = _unwrap(name)
        if not dtype.is_dtype(name):
            raise ValueError(f"unknown dtype name {name!r}")
        self.name = name
        self.tm = dtype._TM.get(name)
        if name in dtype.SINT or name in dtype.UINT:
            self.int_signedness = (dtype.SIGNEDNESS.SIGNED if name in dtype.SINT
                                   else dtype.SIGNEDNESS.UNSIGNED)
            self.int_bitwidth = int(name.split("int")[-1])
            self.primitive_bitwidth = self.int_bitwidth
        elif name in dtype.FP:
            bits, mant, bias = dtype._FP_LAYOUT[name]
            self.primitive_bitwidth, self.fp_mantissa_width, self.exponent_bias = bits, mant, bias
        else:
            self.primitive_bitwidth = 0

    @staticmethod
    def is_dtype(type_str):
        return type_str in dtype.SINT + dtype.UINT + dtype.FP + ("void",)

    def is_fp8(self):
        return self.name.startswith("fp8")

    def is_fp8e4nv(self):
        return self.name == "fp8e4nv"

    def is_fp8e4b8(self):
        return self.name == "fp8e4b8"

    def is_fp8e4b15(self):
        return self.name == "fp8e4b15"

    def is_fp8e5(self):
        return self.name == "fp8e5"

    def is_fp8e5b16(self):
        return self.name == "fp8e5b16"

    def is_fp16(self):
        return self.name == "fp16"

    def is_bf16(self):
        return self.name == "bf16"

    def is_fp32(self):
        return self.name == "fp32"

    def is_fp64(self):
        return self.name == "fp64"

    def is_int1(self):
        return self.name == "int1"

    def is_int8(self):
        return self.name == "int8"

    def is_int16(self):
        return self.name == "int16"

    def is_int32(self):
        return self.name == "int32"

    def is_int64(self):
        return self.name == "int64"

    def is_uint8(self):
        return self.name == "uint8"

    def is_uint16(self):
        return self.name == "uint16"

    def is_uint32(self):
        return self.name == "uint32"

    def is_uint64(self):
        return self.name == "uint64"

    def is_floating(self):
        return self.name in dtype.FP

    def is_standard_floating(self):
        return self.name in dtype.STANDARD_FP_TYPES

    def is_int_signed(self):
        return self.name in dtype.SINT

    def is_int_unsigned(self):
        return self.name in dtype.UINT

    def is_int(self):
        return self.name in dtype.SINT or self.name in dtype.UINT

    def is_bool(self):
        return self.name == "int1"

    def is_void(self):
        return self.name == "void"

    def is_block(self):
        return False

    def is_ptr(self):
        return False

    def is_const(self):
        return False

    def kind(self):
        if self.is_bool():
            return dtype.KIND.BOOLEAN
        return dtype.KIND.INTEGRAL if self.is_int() else dtype.KIND.FLOATING

    def get_int_max_value(self):
        if self.is_int_signed():
            return 2 ** (self.int_bitwidth - 1) - 1
        if self.is_int_unsigned():
            return 2 ** self.int_bitwidth - 1
        raise RuntimeError(f"{self} is not an integer type")

    def get_int_min_value(self):
        if self.is_int_signed():
            return -2 ** (self.int_bitwidth - 1)
        if self.is_int_unsigned():
            return 0
        raise RuntimeError(f"{self} is not an integer type")

    @property
    def scalar(self):
        return self

    @property
    def cache_key_part(self):
        return self.name

    def __eq__(self, other):
        other = _unwrap(other)
        return type(other) is type(self) and other.name == self.name

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self.name)

    def __str__(self):
        return self.name

    def codegen_name(self):
        """float16, bfloat16, int32, ...: the name the language module exports."""
        if self.name.startswith("fp"):
            return "float" + self.name[2:]
        if self.name.startswith("bf"):
            return "bfloat" + self.name[2:]
        return self.name

    def mangle(self):
        if self.is_int():
            return ("u" if self.is_int_unsigned() and not self.is_bool() else "i") + \
                str(self.int_bitwidth)
        return self.name

    def __repr__(self):
        return f"triton.language.{self.codegen_name()}"


class pointer_type(dtype):
    """Upstream's pointer type: `tl.pointer_type(tl.float32)`, the dtype of a
    pointer argument (`x_ptr.dtype.element_ty`), and a cast target (`p.to(...)`)."""

    def __init__(self, element_ty, address_space=1, const=False):
        element_ty = _unwrap(element_ty)
        if not isinstance(element_ty, dtype):
            raise TypeError(f"pointer_type's element_ty must be a dtype, got {element_ty!r}")
        self.element_ty = element_ty
        self.address_space = address_space
        self.const = const
        self.name = f"pointer<{element_ty}>" if not const else f"const_pointer<{element_ty}>"
        self.tm = None
        self.primitive_bitwidth = 64

    def is_ptr(self):
        return True

    def is_const(self):
        return self.const

    def is_floating(self):
        return False

    def is_standard_floating(self):
        return False

    def is_int(self):
        return False

    def is_int_signed(self):
        return False

    def is_int_unsigned(self):
        return False

    def is_bool(self):
        return False

    def __eq__(self, other):
        other = _unwrap(other)
        return isinstance(other, pointer_type) and other.element_ty == self.element_ty \
            and other.address_space == self.address_space and other.const == self.const

    def __hash__(self):
        return hash(("pointer", self.element_ty, self.address_space, self.const))

    def mangle(self):
        return f"P{self.element_ty.mangle()}"

    def __repr__(self):
        return self.name

    codegen_name = __repr__


class const_pointer_type(pointer_type):
    def __init__(self, element_ty, address_space=1):
        super().__init__(element_ty, address_space, const=True)


class block_type(dtype):
    """Upstream's block type: an element type and a shape."""

    def __init__(self, element_ty, shape):
        self.element_ty = _unwrap(element_ty)
        self.shape = tuple(int(_unwrap(s)) for s in shape)
        self.numel = 1
        for s in self.shape:
            self.numel *= s
        self.name = f"<{list(self.shape)}, {self.element_ty}>"
        self.tm = None
        self.primitive_bitwidth = self.element_ty.primitive_bitwidth

    def is_block(self):
        return True

    def get_block_shapes(self):
        return self.shape

    @property
    def scalar(self):
        return self.element_ty

    def __eq__(self, other):
        return isinstance(other, block_type) and other.element_ty == self.element_ty \
            and other.shape == self.shape

    def __hash__(self):
        return hash(("block", self.element_ty, self.shape))

    def __repr__(self):
        return self.name

    codegen_name = __repr__


void = dtype("void")
int1 = dtype("int1")
int8 = dtype("int8")
int16 = dtype("int16")
int32 = dtype("int32")
int64 = dtype("int64")
uint8 = dtype("uint8")
uint16 = dtype("uint16")
uint32 = dtype("uint32")
uint64 = dtype("uint64")
float16 = dtype("fp16")
bfloat16 = dtype("bf16")
float32 = dtype("fp32")
float64 = dtype("fp64")
# The fp8 types exist as compile-time values (kernels compare dtypes with them);
# data of these types is refused by the compiler (tm is None).
float8e5 = dtype("fp8e5")
float8e5b16 = dtype("fp8e5b16")
float8e4nv = dtype("fp8e4nv")
float8e4b8 = dtype("fp8e4b8")
float8e4b15 = dtype("fp8e4b15")
pi32_t = pointer_type(int32)

DTYPES = (void, int1, int8, int16, int32, int64, uint8, uint16, uint32, uint64,
          float16, bfloat16, float32, float64,
          float8e5, float8e5b16, float8e4nv, float8e4b8, float8e4b15)

# upstream's short names (type_canonicalisation_dict's values) and pointer spellings
_SHORT = {"i1": "int1", "i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64",
          "u1": "int1", "u8": "uint8", "u16": "uint16", "u32": "uint32", "u64": "uint64",
          "B": "int1"}


def str_to_ty(name, c=None):
    """The dtype a signature string names: "fp32", "i32", "u8", "*fp16", "*k..."
    (upstream's triton.language.str_to_ty). A tuple of names gives the tuple
    of their types. `c` is upstream's later second argument, the value of a
    "constexpr" entry: the constexpr type here carries no value, so it is
    accepted and not needed (upstream's own test helpers pass None)."""
    if isinstance(name, tuple):
        return tuple(str_to_ty(x, c) for x in name)
    name = _unwrap(name)
    if name.startswith("*"):
        const = name.startswith("*k")
        return pointer_type(str_to_ty(name[2 if const else 1:], c), const=const)
    if name in ("constexpr",):
        return constexpr
    name = _SHORT.get(name, name)
    return dtype(name)


class const:
    """Annotation of a pointer parameter whose data the kernel only reads
    (`in_ptr: tl.const`): storing through it is a compile error."""


class PropagateNan:
    """tl.minimum/tl.maximum's propagate_nan argument (upstream's enum values)."""
    NONE = 0x00000
    ALL = 0xFFFF


class tensor_descriptor:
    """Placeholder for upstream's device-side tensor descriptor type."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError("tl.tensor_descriptor values exist only inside a @jit kernel; "
                           "create one with tl.make_tensor_descriptor there")


def builtin(fn):
    """Upstream marks its language functions with @builtin; here every language
    function is resolved by the compiler, so the mark only records itself."""
    fn.__triton_builtin__ = True
    return fn


def is_builtin(fn):
    return getattr(fn, "__triton_builtin__", False) or isinstance(getattr(fn, "_tm_path", None), str)


def constexpr_function(fn):
    """Marks a host function whose result is a compile-time value: called inside
    a kernel with compile-time arguments, it runs in Python at compile time
    (upstream's triton.constexpr_function)."""
    fn._tm_constexpr_function = True
    return fn


@constexpr_function
def get_int_dtype(bitwidth, signed):
    """The integer dtype of a width and signedness (upstream's core.get_int_dtype)."""
    bitwidth = _unwrap(bitwidth)
    if bitwidth == 1:
        return int1
    names = {8: "int8", 16: "int16", 32: "int32", 64: "int64"}
    if bitwidth not in names:
        raise ValueError(f"Unsupported bitwidth {bitwidth} and signedness {_unwrap(signed)}")
    return globals()[("" if _unwrap(signed) else "u") + names[bitwidth]]


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
