# language/__init__.py: `triton_metal.language`, imported by kernels as `tl`.
# dtypes, constexpr and one table of function names. The functions are stubs:
# inside a @jit kernel the C compiler resolves them by their canonical path
# ("triton.language.<name>"); called from Python they raise a clear error.
# To add a language function, add its name to FUNCTIONS.

from .core import (dtype, pointer_type, block_type, constexpr, tensor, make_stubs,
                   void, int1, int8, int16, int32, int64, uint8, uint16, uint32, uint64,
                   float16, bfloat16, float32, float64,
                   float8e5, float8e5b16, float8e4nv, float8e4b8, float8e4b15)
from . import math
from . import extra

TRITON_MAX_TENSOR_NUMEL = 1048576

FUNCTIONS = """
    program_id num_programs
    arange full zeros zeros_like cast cat to_tensor
    broadcast broadcast_to expand_dims reshape view ravel trans permute join split
    interleave squeeze unsqueeze
    load store make_block_ptr advance make_tensor_descriptor
    load_tensor_descriptor store_tensor_descriptor
    where flip swizzle2d gather
    abs add sub mul cdiv ceil clamp cos div_rn erf exp exp2 fdiv floor fma log log2
    maximum minimum rsqrt sigmoid sin softmax sqrt sqrt_rn umulhi
    reduce sum max min argmax argmin xor_sum reduce_or
    associative_scan cumsum cumprod histogram sort topk bitonic_merge
    dot dot_scaled
    atomic_add atomic_and atomic_cas atomic_max atomic_min atomic_or atomic_xchg atomic_xor
    rand rand4x randint randint4x randn randn4x philox philox_impl
    pair_uniform_to_normal uint_to_uniform_float
    range static_range
    assume debug_barrier max_constancy max_contiguous multiple_of expect_zero
    static_print static_assert device_print device_assert
    inline_asm_elementwise map_elementwise
"""

make_stubs(globals(), "triton.language", FUNCTIONS)

# Types a kernel may name (annotations, isinstance, tl.constexpr(...) calls).
for _cls in (dtype, pointer_type, block_type, constexpr, tensor):
    _cls._tm_path = "triton.language." + _cls.__name__
del _cls
