# test_binding.py: argument binding and specialization rules (no compiler needed):
# kernel._specialize(*args, **kw) returns the per-parameter specs jit.py would
# hand to tm_compile: (kind, dtype, flags, value kind, value).
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from triton_metal import _tm

SCALAR, POINTER, CONSTEXPR = _tm.PARAM_SCALAR, _tm.PARAM_POINTER, _tm.PARAM_CONSTEXPR


@triton.jit
def kern(x_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    tl.store(x_ptr + pid, n)


@triton.jit(do_not_specialize=["n"])
def kern_dns(x_ptr, n, BLOCK: tl.constexpr = 128):
    tl.store(x_ptr, n)


@triton.jit(do_not_specialize_on_alignment=[1])
def kern_dnsa(x_ptr, n):
    tl.store(x_ptr, n)


@triton.jit
def kern_str_annot(x_ptr, B: "tl.constexpr", C: "constexpr"):
    pass


def aligned(n, dtype=np.float32):
    """An array whose data pointer is 16-byte aligned (and one that is not)."""
    buf = np.zeros(n * np.dtype(dtype).itemsize + 64, np.uint8)
    off = (-buf.ctypes.data) % 16
    return buf[off:off + n * np.dtype(dtype).itemsize].view(dtype)


def spec_of(kernel, i, *args, **kw):
    return kernel._specialize(*args, **kw)[i]


def test_int_one_is_constexpr():
    x = aligned(8)
    assert spec_of(kern, 1, x, 1, 64) == (CONSTEXPR, _tm.VOID, 0, _tm.V_INT, 1)


def test_int_one_not_specialized_with_do_not_specialize():
    x = aligned(8)
    assert spec_of(kern_dns, 1, x, 1) == (SCALAR, _tm.I32, 0, _tm.V_NONE, None)
    assert spec_of(kern_dns, 1, x, 32) == (SCALAR, _tm.I32, 0, _tm.V_NONE, None)


def test_int_div16():
    x = aligned(8)
    assert spec_of(kern, 1, x, 32, 64)[2] == _tm.PF_DIV16
    assert spec_of(kern, 1, x, 0, 64)[2] == _tm.PF_DIV16
    assert spec_of(kern, 1, x, -48, 64)[2] == _tm.PF_DIV16
    assert spec_of(kern, 1, x, 33, 64)[2] == 0
    assert spec_of(kern_dnsa, 1, x, 32)[2] == 0


def test_int_ranges():
    x = aligned(8)
    assert spec_of(kern, 1, x, 2**31 - 1, 64)[1] == _tm.I32
    assert spec_of(kern, 1, x, -2**31, 64)[1] == _tm.I32
    assert spec_of(kern, 1, x, 2**31, 64)[1] == _tm.I64
    assert spec_of(kern, 1, x, -2**31 - 1, 64)[1] == _tm.I64
    assert spec_of(kern, 1, x, 2**63, 64)[1] == _tm.U64
    with pytest.raises(OverflowError, match="'n'"):
        kern._specialize(x, 2**64, 64)
    with pytest.raises(OverflowError):
        kern._specialize(x, -2**63 - 1, 64)


def test_float_bool_scalars():
    x = aligned(8)
    assert spec_of(kern, 1, x, 1.5, 64) == (SCALAR, _tm.F32, 0, _tm.V_NONE, None)
    assert spec_of(kern, 1, x, 1.0, 64) == (SCALAR, _tm.F32, 0, _tm.V_NONE, None)
    assert spec_of(kern, 1, x, True, 64) == (SCALAR, _tm.I1, 0, _tm.V_NONE, None)
    assert spec_of(kern, 1, x, False, 64) == (SCALAR, _tm.I1, 0, _tm.V_NONE, None)


def test_numpy_scalars():
    x = aligned(8)
    assert spec_of(kern, 1, x, np.int64(5), 64)[:2] == (SCALAR, _tm.I64)
    assert spec_of(kern, 1, x, np.uint8(5), 64)[:2] == (SCALAR, _tm.U8)
    assert spec_of(kern, 1, x, np.float32(5), 64)[:2] == (SCALAR, _tm.F32)
    assert spec_of(kern, 1, x, np.float16(5), 64)[:2] == (SCALAR, _tm.F16)
    assert spec_of(kern, 1, x, np.float64(5), 64)[:2] == (SCALAR, _tm.F32)
    assert spec_of(kern, 1, x, np.bool_(True), 64)[:2] == (SCALAR, _tm.I1)


def test_constexpr_values():
    x = aligned(8)
    assert spec_of(kern, 2, x, 3, 64) == (CONSTEXPR, _tm.VOID, 0, _tm.V_INT, 64)
    assert spec_of(kern, 2, x, 3, 1.5)[3:] == (_tm.V_FLOAT, 1.5)
    assert spec_of(kern, 2, x, 3, True)[3:] == (_tm.V_BOOL, True)
    assert spec_of(kern, 2, x, 3, None)[3:] == (_tm.V_NONE, None)
    assert spec_of(kern, 2, x, 3, "ieee")[3:] == (_tm.V_STR, "ieee")
    assert spec_of(kern, 2, x, 3, tl.float16)[3:] == (_tm.V_DTYPE, _tm.F16)
    assert spec_of(kern, 2, x, 3, tl.constexpr(7))[3:] == (_tm.V_INT, 7)
    assert spec_of(kern, 2, x, 3, BLOCK=32)[3:] == (_tm.V_INT, 32)
    # tuples (and lists) of compile-time values are compile-time values (shapes)
    assert kern._specialize(x, 3, [1, 2])[2][3:] == (_tm.V_TUPLE, ((_tm.V_INT, 1), (_tm.V_INT, 2)))
    with pytest.raises(TypeError, match="BLOCK"):
        kern._specialize(x, 3, {1: 2})
    # an fp8 dtype is a compile-time value like any dtype (kernels compare with
    # it); data of it is refused by the compiler
    assert kern._specialize(x, 3, tl.float8e5)[2][3:] == (_tm.V_DTYPE, _tm.FP8E5)


def test_string_annotations_are_constexpr():
    x = aligned(8)
    specs = kern_str_annot._specialize(x, 5, 6)
    assert [s[0] for s in specs] == [POINTER, CONSTEXPR, CONSTEXPR]


def test_defaults_honoured():
    x = aligned(8)
    assert spec_of(kern_dns, 2, x, 3)[3:] == (_tm.V_INT, 128)


def test_none_and_dtype_args_are_constexpr():
    assert spec_of(kern_dns, 0, None, 3) == (CONSTEXPR, _tm.VOID, 0, _tm.V_NONE, None)
    assert spec_of(kern_dns, 1, aligned(8), tl.int8)[3:] == (_tm.V_DTYPE, _tm.I8)


@pytest.mark.parametrize("dtype,code", [
    (np.bool_, _tm.I1), (np.int8, _tm.I8), (np.int16, _tm.I16), (np.int32, _tm.I32),
    (np.int64, _tm.I64), (np.uint8, _tm.U8), (np.uint16, _tm.U16), (np.uint32, _tm.U32),
    (np.uint64, _tm.U64), (np.float16, _tm.F16), (np.float32, _tm.F32)])
def test_numpy_dtype_mapping(dtype, code):
    x = aligned(8, dtype)
    assert spec_of(kern, 0, x, 3, 64) == (POINTER, code, _tm.PF_DIV16, _tm.V_NONE, None)


def test_pointer_alignment_flag():
    x = aligned(16)
    assert spec_of(kern, 0, x, 3, 64)[2] == _tm.PF_DIV16
    assert spec_of(kern, 0, x[1:], 3, 64)[2] == 0


def test_readonly_array():
    x = aligned(8)
    x.flags.writeable = False
    assert spec_of(kern, 0, x, 3, 64)[2] == _tm.PF_DIV16 | _tm.PF_READONLY


def test_float64_arrays_are_float64_pointers():
    # passed as they are (as upstream); the compiler refuses reading or writing
    # them, at the line that does (tests/python/test_exec.py)
    assert spec_of(kern, 0, np.zeros(8, np.float64), 3, 64)[:2] == (POINTER, _tm.F64)


def test_unsupported_dtype_refused():
    with pytest.raises(TypeError, match="x_ptr.*complex64"):
        kern._specialize(np.zeros(8, np.complex64), 3, 64)


def test_non_contiguous_is_a_pointer():
    """A strided view is a pointer argument like any other (its strides are the
    kernel's business); a view reaching outside its array is refused."""
    x = np.zeros((8, 8), np.float32)
    assert spec_of(kern, 0, x[:, ::2], 3, 64)[:2] == (POINTER, _tm.F32)
    assert spec_of(kern, 0, x.T, 3, 64)[:2] == (POINTER, _tm.F32)
    with pytest.raises(ValueError, match="'x_ptr': its shape and strides reach"):
        kern._specialize(np.lib.stride_tricks.as_strided(x, (8, 9), (32, 32)), 3, 64)


def test_wrong_argument_count():
    x = aligned(8)
    with pytest.raises(TypeError, match=r"kern\(\) missing 1 required positional argument: 'BLOCK'"):
        kern._specialize(x, 3)
    with pytest.raises(TypeError, match=r"kern\(\) takes 3 positional arguments but 4 were given"):
        kern._specialize(x, 3, 64, 5)
    with pytest.raises(TypeError, match="multiple values"):
        kern._specialize(x, 3, 64, n=4)


def test_unknown_keyword():
    x = aligned(8)
    with pytest.raises(KeyError, match="Keyword argument foo was specified but unrecognised"):
        kern[(1,)](x, 3, 64, foo=1)


def test_launch_options_accepted():
    x = aligned(8)
    specs = kern._specialize(x, 3, 64, num_warps=8, num_stages=3, num_ctas=1, maxnreg=128,
                             enable_fp_fusion=False, matrix_instr_nonkdim=16, debug=True)
    assert len(specs) == 3
    with pytest.raises(ValueError, match="power of 2"):
        kern._specialize(x, 3, 64, num_warps=3)


def test_unsupported_argument_type():
    with pytest.raises(TypeError, match="'n' of type list"):
        kern._specialize(aligned(8), [1], 64)


def test_duck_typed_data_ptr():
    class Duck:
        def __init__(self, a):
            self.a, self.dtype = a, a.dtype

        def data_ptr(self):
            return self.a.ctypes.data

        def numel(self):
            return self.a.size

        def element_size(self):
            return self.a.itemsize

    x = aligned(8, np.int16)
    assert spec_of(kern, 0, Duck(x), 3, 64)[:2] == (POINTER, _tm.I16)


def test_grid_forms():
    g = kern._grid3
    vals = (None, 3, 64)
    assert g((5,), vals) == (5, 1, 1)
    assert g([5, 6], vals) == (5, 6, 1)
    assert g((5, 6, 7), vals) == (5, 6, 7)
    seen = {}

    def grid(meta):
        seen.update(meta)
        return (triton.cdiv(100, meta["BLOCK"]),)

    assert g(grid, vals) == (2, 1, 1)
    assert seen == {"x_ptr": None, "n": 3, "BLOCK": 64}
    with pytest.raises(ValueError, match="1 to 3"):
        g((1, 2, 3, 4), vals)


def test_cdiv_next_power_of_2():
    assert triton.cdiv(10, 4) == 3 and triton.cdiv(8, 4) == 2
    assert [triton.next_power_of_2(n) for n in (0, 1, 2, 3, 5, 64, 65)] == [0, 1, 2, 4, 8, 64, 128]


def test_jit_function_not_callable():
    with pytest.raises(RuntimeError, match="launch it as"):
        kern(1, 2, 3)


def test_torch_dtype_mapping():
    torch = pytest.importorskip("torch")
    for tdt, code in [(torch.bool, _tm.I1), (torch.int8, _tm.I8), (torch.int16, _tm.I16),
                      (torch.int32, _tm.I32), (torch.int64, _tm.I64), (torch.uint8, _tm.U8),
                      (torch.float16, _tm.F16), (torch.bfloat16, _tm.BF16),
                      (torch.float32, _tm.F32)]:
        assert spec_of(kern, 0, torch.zeros(8, dtype=tdt), 3, 64)[:2] == (POINTER, code)
    assert spec_of(kern, 0, torch.zeros(4, 4)[:, ::2], 3, 64)[:2] == (POINTER, _tm.F32)
    assert spec_of(kern, 0, torch.zeros(4, dtype=torch.float64), 3, 64)[:2] == (POINTER, _tm.F64)


def test_sizeless_typed_pointer_is_refused_clearly():
    # FlagGems' TypedPtr: data_ptr() and dtype, its untyped_storage() itself, no size:
    # the emulator cannot bound (nor Metal bind) memory of unknown extent
    class TypedPtr:
        def __init__(self, a):
            self.a, self.dtype = a, a.dtype

        def data_ptr(self):
            return self.a.ctypes.data

        def untyped_storage(self):
            return self

    with pytest.raises(TypeError, match="'x_ptr' has data_ptr\\(\\) but no size"):
        kern[(1,)](TypedPtr(aligned(8)), 3, 64)
