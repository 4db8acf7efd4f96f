# test_c_module.py: the _C extension validates its input instead of crashing,
# and its enum values agree with _tm.py. Skipped when _C is not built.
import numpy as np
import pytest

from triton_metal import _tm

_C = pytest.importorskip("triton_metal._C", reason="triton_metal._C is not built")

SRC = "def f(a, b):\n    pass\n"


def test_constants_match_header():
    assert (_C.I1, _C.I64, _C.U64, _C.F16, _C.BF16, _C.F32, _C.F64, _C.NDTYPES) == \
        (_tm.I1, _tm.I64, _tm.U64, _tm.F16, _tm.BF16, _tm.F32, _tm.F64, _tm.F64 + 1)
    assert (_C.V_STR, _C.PARAM_CONSTEXPR, _C.PF_READONLY, _C.G_JITFN, _C.ARG_BYTES) == \
        (_tm.V_STR, _tm.PARAM_CONSTEXPR, _tm.PF_READONLY, _tm.G_JITFN, _tm.ARG_BYTES)
    for code, size in _tm.DTYPE_BYTES.items():
        assert _C.dtype_bytes(code) == size


@pytest.mark.parametrize("params,globs,exc", [
    ([1], (), TypeError),
    ([(1, 2)], (), TypeError),
    ([(9, 2, 0, 0, None)], (), ValueError),
    ([(1, 99, 0, 0, None)], (), ValueError),
    ([(3, 0, 0, _tm.V_INT, "x")], (), TypeError),
    ([(3, 0, 0, _tm.V_INT, 2**70)], (), OverflowError),
    ([(3, 0, 0, _tm.V_DTYPE, 99)], (), ValueError),
    ([(3, 0, 0, _tm.V_STR, 3)], (), TypeError),
    ([(3, 0, 0, 17, 3)], (), ValueError),
    ((), [("a", 1)], TypeError),
    ((), [("a", 9, None, 0, None, None, None, 0)], ValueError),
    ((), [(1, 1, None, 0, None, None, None, 0)], TypeError),
])
def test_compile_rejects_bad_requests(params, globs, exc):
    with pytest.raises(exc):
        _C.compile(SRC, "f.py", 1, "f", params, globs)


def test_buffer_info():
    a = np.zeros(10, np.float32)
    ptr, nbytes, ro, contiguous = _C.buffer_info(a)
    assert ptr == a.ctypes.data and nbytes == 40 and not ro and contiguous
    a.flags.writeable = False
    assert _C.buffer_info(a)[2]
    assert not _C.buffer_info(np.zeros((4, 4))[:, ::2])[3]
    with pytest.raises(TypeError):
        _C.buffer_info(5)


def test_device_errors():
    with pytest.raises(TypeError):
        _C.Device(5)
    with pytest.raises(RuntimeError):
        _C.Device("no-such-device")
