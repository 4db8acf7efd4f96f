# language/__init__.py: `triton_metal.language`, imported by kernels as `tl`.
# dtypes, constexpr and one table of function names. The functions are stubs:
# inside a @jit kernel the C compiler resolves them by their canonical path
# ("triton.language.<name>"); called from Python they raise a clear error.
# To add a language function, add its name to FUNCTIONS.

from .core import (dtype, pointer_type, const_pointer_type, block_type, constexpr, const,
                   tensor, tensor_descriptor, make_stubs, str_to_ty, pi32_t, builtin,
                   is_builtin, PropagateNan, constexpr_function,
                   void, int1, int8, int16, int32, int64, uint8, uint16, uint32, uint64,
                   float16, bfloat16, float32, float64,
                   float8e5, float8e5b16, float8e4nv, float8e4b8, float8e4b15)
from . import core
from . import math
from . import extra

TRITON_MAX_TENSOR_NUMEL = 1048576

FUNCTIONS = """
    abs add advance arange argmax argmin associative_scan assume atomic_add atomic_and
    atomic_cas atomic_max atomic_min atomic_or atomic_xchg atomic_xor bitonic_merge
    broadcast broadcast_to cast cat cdiv ceil clamp cos cumprod cumsum debug_barrier
    device_assert device_print div_rn dot dot_scaled erf exp exp2 expand_dims
    expect_zero fast_dividef fast_expf fdiv flip floor fma full gather histogram
    inline_asm_elementwise interleave join load load_tensor_descriptor log log2
    make_block_ptr make_tensor_descriptor map_elementwise max max_constancy
    max_contiguous maximum min minimum mul multiple_of num_programs
    pair_uniform_to_normal permute philox philox_impl program_id rand rand4x randint
    randint4x randn randn4x range ravel reduce reduce_or reshape rsqrt sigmoid sin
    softmax sort split sqrt sqrt_rn squeeze static_assert static_print static_range
    store store_tensor_descriptor sub sum swizzle2d to_tensor topk trans
    uint_to_uniform_float umulhi unsqueeze view where xor_sum zeros zeros_like
"""

make_stubs(globals(), "triton.language", FUNCTIONS)
from . import standard, random  # noqa: E402  (their stubs share the names above)

__all__ = FUNCTIONS.split() + [
    "dtype", "pointer_type", "const_pointer_type", "block_type", "constexpr", "const", "tensor",
    "tensor_descriptor", "str_to_ty", "pi32_t", "builtin", "is_builtin", "PropagateNan",
    "constexpr_function", "void", "int1", "int8", "int16", "int32", "int64", "uint8", "uint16",
    "uint32", "uint64", "float16", "bfloat16", "float32", "float64", "float8e5", "float8e5b16",
    "float8e4nv", "float8e4b8", "float8e4b15", "TRITON_MAX_TENSOR_NUMEL", "core", "math",
    "extra", "standard", "random"]

# Types a kernel may name (annotations, isinstance, tl.constexpr(...) calls).
for _cls in (dtype, pointer_type, const_pointer_type, block_type, constexpr, const, tensor,
             tensor_descriptor):
    _cls._tm_path = "triton.language." + _cls.__name__
del _cls
