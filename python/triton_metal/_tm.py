# _tm.py: the enum values of include/triton_metal.h, mirrored in Python so the
# pure-Python modules (language, binding) work before the extension is built.
# tests/python/test_consts.py checks them against the compiled _C module.

# tm_dtype
VOID, I1, I8, I16, I32, I64, U8, U16, U32, U64, F16, BF16, F32, F64 = range(14)

# the compile-time-only fp8 dtypes (data of them is refused)
FP8E5, FP8E5B16, FP8E4NV, FP8E4B8, FP8E4B15 = range(32, 37)
FP8_CODES = {"fp8e5": FP8E5, "fp8e5b16": FP8E5B16, "fp8e4nv": FP8E4NV, "fp8e4b8": FP8E4B8,
             "fp8e4b15": FP8E4B15}

# TM_DTYPE_PTR: a V_DTYPE payload with this bit is a pointer to the dtype in the low bits
DTYPE_PTR = 0x100

# tm_value_kind
V_NONE, V_BOOL, V_INT, V_FLOAT, V_DTYPE, V_STR, V_TUPLE, V_GLOBAL = range(8)

# tm_param_kind
PARAM_POINTER, PARAM_SCALAR, PARAM_CONSTEXPR, PARAM_TUPLE = 1, 2, 3, 4

# TM_PF_* flags
PF_DIV16, PF_READONLY = 1, 2

# tm_global_kind
G_MODULE, G_FUNC, G_VALUE, G_JITFN, G_HOSTFN, G_UNUSABLE, G_TUPLETYPE = 1, 2, 3, 4, 5, 6, 7

# tm_arg_role
ARG_BUFFER, ARG_BYTES = 1, 2

DTYPE_BYTES = {I1: 1, I8: 1, I16: 2, I32: 4, I64: 8, U8: 1, U16: 2, U32: 4, U64: 8,
               F16: 2, BF16: 2, F32: 4, F64: 8}
