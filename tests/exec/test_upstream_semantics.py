"""Semantics where upstream Triton's definition (its own language tests) showed
ours to differ: each case here once gave a wrong result or a refusal. Checked
against NumPy on random data (negatives, NaN, masked lanes, ragged sizes)."""
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

NUM_WARPS = [1, 4]


# ---------------------------------------------------------------- typed constants
# A Python number assigned to a name is upstream's 0-d tensor of to_tensor's
# dtype (int32, uint32, int64, uint64; fp32, fp64): it promotes and computes as one.

@triton.jit
def _typed_promotion(x_ptr, h_ptr, out_i_ptr, out_f_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)         # int8
    s = 3                                     # int32 0-d tensor upstream
    y = x * s                                 # int8 * int32 -> int32: no int8 wraparound
    tl.store(out_i_ptr + offs, y, mask=m)
    h = tl.load(h_ptr + offs, mask=m)         # fp16
    scale = 0.1                               # fp32 0-d tensor
    z = h * scale                             # fp16 * fp32 -> fp32
    tl.store(out_f_ptr + offs, z, mask=m)


@pytest.mark.parametrize("n", [1, 37, 128])
def test_assigned_numbers_promote_as_tensors(rng, n):
    x = rng.integers(-128, 128, n).astype(np.int8)
    h = rng.normal(0, 100, n).astype(np.float16)
    h[::7] = np.nan
    out_i = np.zeros(n, np.int32)
    out_f = np.zeros(n, np.float32)
    _typed_promotion[(1,)](x, h, out_i, out_f, n, BLOCK=128)
    np.testing.assert_array_equal(out_i, x.astype(np.int32) * 3)  # int8 would wrap at 127
    ref = h.astype(np.float32) * np.float32(0.1)                   # fp16 would round to 11 bits
    np.testing.assert_allclose(out_f, ref, rtol=1e-6, equal_nan=True)


@triton.jit
def _typed_arith(out_ptr, x):
    big = 2**30
    tl.store(out_ptr + 0, big * 4)           # int32 arithmetic wraps: 0
    neg = -1
    u = 4294967295                            # uint32
    tl.store(out_ptr + 1, (neg < u).to(tl.int32))  # -1 converts to uint32: 0xffffffff < 0xffffffff is false
    acc = 0
    for i in range(0, 10):                    # loop-carried from a literal
        acc += i
    tl.store(out_ptr + 2, acc)
    f = acc.to(tl.float32) / 4                # methods of the 0-d tensor
    tl.store(out_ptr + 3, f.to(tl.int32))
    seven = 7
    tl.store(out_ptr + 4, (x // seven))       # scalar argument // typed constant: C truncation
    tl.store(out_ptr + 5, (x % seven))


@pytest.mark.parametrize("x", [-23, 23, 0])
def test_assigned_numbers_compute_in_their_dtype(x):
    out = np.zeros(6, np.int32)
    _typed_arith[(1,)](out, x)
    q = int(np.trunc(x / 7))
    assert out.tolist() == [0, 0, 45, 11, q, x - 7 * q]


@triton.jit
def _annotated_constexpr(out_ptr, BLOCK: tl.constexpr):
    HALF: tl.constexpr = BLOCK // 2           # stays a compile-time value: usable as a shape
    offs = tl.arange(0, HALF)
    tl.store(out_ptr + offs, offs * 2)


def test_constexpr_annotation_keeps_python_value():
    out = np.zeros(32, np.int32)
    _annotated_constexpr[(1,)](out, 64)
    np.testing.assert_array_equal(out, np.arange(32) * 2)


# ---------------------------------------------------------------- loops

@triton.jit
def _ranges(out_ptr, N: tl.constexpr, n):
    a = 0
    for i in tl.static_range(3, N, step=7):
        a += i
    b = 0
    for i in range(n, step=3):
        b += i
    c = 0
    for i in tl.range(2, n, step=5):
        c += i
    tl.store(out_ptr + 0, a)
    tl.store(out_ptr + 1, b)
    tl.store(out_ptr + 2, c)


@pytest.mark.parametrize("N,n", [(100, 50), (8, 1), (64, 99)])
def test_range_step_keyword(N, n):
    out = np.zeros(3, np.int32)
    _ranges[(1,)](out, N, n)
    assert out.tolist() == [sum(range(3, N, 7)), sum(range(0, n, 3)), sum(range(2, n, 5))]


# ---------------------------------------------------------------- program order

@triton.jit
def _same_ptr(p):
    pid = tl.program_id(0)
    x = tl.load(p + pid)
    tl.store(p + pid, x * 2)


@pytest.mark.parametrize("num_warps", NUM_WARPS + [8])
def test_scalar_load_store_same_pointer(rng, num_warps):
    x = rng.normal(0, 10, 300).astype(np.float32)
    x[::5] = -x[::5]
    x[3] = np.nan
    ref = x * 2
    _same_ptr[(300,)](x, num_warps=num_warps)
    np.testing.assert_array_equal(x, ref)


@triton.jit
def _load_then_store_then_use(p, q, r, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(p)                  # every thread holds x
    tl.store(p, x + 1)              # one thread stores: must not be seen by the load above
    tl.store(q + offs, x + tl.zeros([BLOCK], tl.float32))
    y = tl.load(p)                  # after the store: must see it
    tl.store(r + offs, y + tl.zeros([BLOCK], tl.float32))


@pytest.mark.parametrize("num_warps", NUM_WARPS)
def test_replicated_value_keeps_program_order(rng, num_warps):
    v = np.float32(rng.normal())
    p = np.array([v], np.float32)
    q = np.zeros(256, np.float32)
    r = np.zeros(256, np.float32)
    _load_then_store_then_use[(1,)](p, q, r, BLOCK=256, num_warps=num_warps)
    w = v + np.float32(1)  # float32 on NumPy 1.x too (there a Python 1 made it float64)
    assert p[0] == w
    np.testing.assert_array_equal(q, np.full(256, v, np.float32))
    np.testing.assert_array_equal(r, np.full(256, w, np.float32))


@triton.jit
def _count_down(data, count_ptr):
    for i in range(6):
        count = tl.load(count_ptr)
        while count > 0:
            tl.store(data, tl.load(data) + 1.0)
            count = count - 3


@pytest.mark.parametrize("num_warps", NUM_WARPS)
@pytest.mark.parametrize("count", [1, 7, 9])
def test_loop_reads_its_own_stores(num_warps, count):
    data = np.zeros(1, np.float32)
    _count_down[(1,)](data, np.array([count], np.int32), num_warps=num_warps)
    assert data[0] == 6 * -(-count // 3)


# ---------------------------------------------------------------- rank 0, scalars

@triton.jit
def _full_shapes(out_ptr, v, BLOCK: tl.constexpr):
    a = tl.full((), 5, tl.int32)
    tl.static_assert(a.shape == [])
    b = tl.full([BLOCK], v, tl.int16)         # a runtime value, converted to int16
    tl.static_assert(b.shape == [BLOCK])
    z = tl.zeros([], tl.float32)
    offs = tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, a + b + z.to(tl.int32))


@pytest.mark.parametrize("v", [3, -70000, 40000])
def test_full_rank0_and_runtime_value(v):
    out = np.zeros(16, np.int32)
    _full_shapes[(1,)](out, v, BLOCK=16)
    np.testing.assert_array_equal(out, np.full(16, 5 + int(np.array(v).astype(np.int16)), np.int32))


@triton.jit
def _join_scalars(x_ptr, y_ptr, out_ptr, out2_ptr):
    x = tl.load(x_ptr)
    y = tl.load(y_ptr)
    z = tl.join(x, y)
    tl.static_assert(z.shape == [2])
    tl.store(out_ptr + tl.arange(0, 2), z)
    w = tl.interleave(y, x)
    tl.store(out2_ptr + tl.arange(0, 2), w)


def test_join_and_interleave_scalars(rng):
    x, y = rng.integers(-1000, 1000, 2).astype(np.int32)
    out, out2 = np.zeros(2, np.int32), np.zeros(2, np.int32)
    _join_scalars[(1,)](np.array([x]), np.array([y]), out, out2)
    assert out.tolist() == [x, y] and out2.tolist() == [y, x]


# ---------------------------------------------------------------- shifts

@triton.jit
def _shift(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    y = tl.load(y_ptr + offs, mask=m)
    tl.store(out_ptr + offs, x >> y, mask=m)


def _promote(dx, dy):
    """C's conversions on two integer dtypes (upstream's integer_promote_impl)."""
    a, b = np.iinfo(dx), np.iinfo(dy)
    sa, sb = a.min < 0, b.min < 0
    if sa == sb:
        return dx if a.bits >= b.bits else dy
    if not sa and a.bits >= b.bits:
        return dx
    if not sb and b.bits >= a.bits:
        return dy
    return dx if sa else dy


@pytest.mark.parametrize("dx,dy", [("int8", "uint8"), ("uint8", "int8"), ("int16", "uint32"),
                                   ("uint32", "int32"), ("int32", "uint16"), ("uint16", "int32")])
def test_right_shift_follows_the_shifted_operand(rng, dx, dy):
    # upstream: computed in the promoted dtype, arithmetic iff the shifted
    # tensor's own dtype is signed
    n = 77
    pt = _promote(dx, dy)
    bits = np.iinfo(pt).bits
    x = rng.integers(np.iinfo(dx).min, np.iinfo(dx).max, n, endpoint=True).astype(dx)
    y = rng.integers(0, bits, n).astype(dy)
    out = np.zeros(n, pt)
    _shift[(1,)](x, y, out, n, BLOCK=128)
    mask = (1 << bits) - 1
    ref = []
    for a, k in zip(x.tolist(), y.tolist()):
        v = a & mask                                   # a in the promoted dtype's bits
        if np.iinfo(dx).min < 0 and v >> (bits - 1):  # arithmetic: sign-extend first
            v -= 1 << bits
        ref.append((v >> k) & mask)
    got = [int(v) & mask for v in out.tolist()]
    assert got == ref


# ---------------------------------------------------------------- control flow

@triton.jit
def _pick(a, b, choose_b):
    if choose_b:
        return b
    else:
        return a


@triton.jit
def _early(x, FLAG: tl.constexpr):
    if FLAG:
        if x > 0:
            return x * 2
        y = x + 100
    else:
        y = x - 1
    return y


@triton.jit
def _returns(x_ptr, c_ptr, out_ptr):
    x = tl.load(x_ptr)
    c = tl.load(c_ptr)
    tl.store(out_ptr + 0, _pick(1.5, x, c))
    tl.store(out_ptr + 1, _early(x, True))
    tl.store(out_ptr + 2, _early(x, False))
    tl.store(out_ptr + 3, x if c > 0 else -x)


@pytest.mark.parametrize("x,c", [(5.0, 1), (-5.0, 0), (0.25, 0), (np.nan, 1)])
def test_returns_and_conditional_expressions_on_device_values(x, c):
    out = np.zeros(4, np.float32)
    _returns[(1,)](np.array([x], np.float32), np.array([c], np.int32), out)
    early = x * 2 if x > 0 else x + 100
    ref = [x if c else 1.5, early, x - 1, x if c > 0 else -x]
    np.testing.assert_array_equal(out, np.array(ref, np.float32))


@triton.jit
def _bad_return(x, c):
    if c:
        return x
    else:
        return x.to(tl.int8)


@triton.jit
def _inconsistent(out_ptr, c):
    tl.store(out_ptr, _bad_return(tl.load(out_ptr), c))


def test_inconsistent_returns_are_refused():
    with pytest.raises(triton.CompilationError, match="Inconsistent return types"):
        _inconsistent[(1,)](np.zeros(1, np.float32), 3)  # 3: a runtime value (1 would be specialized)


@triton.jit
def _const_store(src: tl.const, dst):
    tl.store(src, tl.load(dst))


def test_store_through_const_pointer_is_refused():
    with pytest.raises(triton.CompilationError, match="Cannot store to a constant pointer"):
        _const_store[(1,)](np.zeros(1, np.float32), np.zeros(1, np.float32))


@triton.jit
def _named(a_ptr, b_ptr, out_ptr, FUNC: tl.constexpr):
    tl.store(out_ptr, getattr(tl, FUNC)(tl.load(a_ptr), tl.load(b_ptr)))


@pytest.mark.parametrize("func", ["minimum", "maximum"])
def test_getattr_with_constexpr_name(func):
    out = np.zeros(1, np.float32)
    _named[(1,)](np.array([2.0], np.float32), np.array([-3.0], np.float32), out, func)
    assert out[0] == (-3.0 if func == "minimum" else 2.0)


@triton.jit
def _expand(out_ptr, N: tl.constexpr):
    x = tl.arange(0, N)
    y = tl.expand_dims(x, (0, -1))            # both counted in the result's rank: [1, N, 1]
    tl.static_assert(y.shape == [1, N, 1])
    tl.store(out_ptr + tl.reshape(y, [N]), tl.reshape(y, [N]) * 3)


def test_expand_dims_tuple_axes():
    out = np.zeros(8, np.int32)
    _expand[(1,)](out, 8)
    np.testing.assert_array_equal(out, np.arange(8) * 3)


@triton.jit
def _dup_axes(out_ptr, N: tl.constexpr):
    x = tl.arange(0, N)
    tl.store(out_ptr + x, tl.reshape(tl.expand_dims(x, (0, -3)), [N]))


def test_expand_dims_duplicate_axes_message():
    with pytest.raises(triton.TritonError) as e:
        _dup_axes[(1,)](np.zeros(8, np.int32), 8)
    assert "duplicate axes, normalized axes = [0, 0]" in str(e.value.__cause__)


def test_kernel_name_from_repr():
    def name(spec):
        ones = "_".join(k for k, v in spec.constants.items() if v == 1)
        return f"k_{spec.signature['a']}_{ones}"

    @triton.jit(repr=name)
    def k(a, one, x_ptr):
        tl.store(x_ptr, a + one)

    h = k[(1,)](2**40, 1, np.zeros(1, np.int64))
    assert h.name == "k_i64_one"


@triton.jit
def _threads(out_ptr):
    tl.store(out_ptr, tl.extra.cuda.num_threads())


@pytest.mark.parametrize("num_warps", [1, 2, 8])
def test_num_threads(num_warps):
    out = np.zeros(1, np.int32)
    _threads[(1,)](out, num_warps=num_warps)
    assert out[0] == 32 * num_warps


# ---------------------------------------------------------------- dtypes

@triton.jit
def _mixed_halves(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)   # fp16
    y = tl.load(y_ptr + offs, mask=m)   # bf16: fp16 op bf16 computes in fp16, as upstream
    tl.store(out_ptr + offs, x + y, mask=m)


def test_fp16_with_bf16_computes_in_fp16(rng):
    torch = pytest.importorskip("torch")
    n = 100
    x = torch.tensor(rng.normal(0, 3, n), dtype=torch.float16)
    y = torch.tensor(rng.normal(0, 3, n), dtype=torch.bfloat16)
    y[5] = float("nan")
    out = torch.zeros(n, dtype=torch.float32)
    _mixed_halves[(1,)](x, y, out, n, BLOCK=128)
    ref = (x.float() + y.float().half().float()).half().float()  # bf16 -> fp16 (one rounding), fp16 add
    torch.testing.assert_close(out, ref, equal_nan=True, rtol=0, atol=0)


@triton.jit
def _tanh_old_path(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.math.tanh(tl.load(x_ptr + offs)))  # Triton 2.x kept libdevice in tl.math


def test_math_module_has_libdevice_functions(rng):
    x = rng.normal(0, 2, 64).astype(np.float32)
    x[0] = np.nan
    out = np.zeros_like(x)
    _tanh_old_path[(1,)](x, out, BLOCK=64)
    np.testing.assert_allclose(out, np.tanh(x.astype(np.float64)), rtol=2e-6, atol=1e-7, equal_nan=True)


@triton.jit
def _dot_i8(a_ptr, b_ptr, c_ptr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    m = tl.arange(0, M)[:, None]
    n = tl.arange(0, N)[None, :]
    k = tl.arange(0, K)
    a = tl.load(a_ptr + m * K + k[None, :])
    b = tl.load(b_ptr + k[:, None] * N + n)
    c = tl.dot(a, b, out_dtype=tl.int8)   # integer operands accumulate in int32 whatever out_dtype says
    tl.static_assert(c.dtype == tl.int32)
    tl.store(c_ptr + m * N + n, c)


def test_int8_dot_with_int8_out_dtype(rng):
    a = rng.integers(-128, 128, (16, 32)).astype(np.int8)
    b = rng.integers(-128, 128, (32, 16)).astype(np.int8)
    c = np.zeros((16, 16), np.int32)
    _dot_i8[(1,)](a, b, c, 16, 16, 32)
    np.testing.assert_array_equal(c, a.astype(np.int32) @ b.astype(np.int32))


@triton.jit
def _fp8_compare(x_ptr, out_ptr):
    if x_ptr.dtype.element_ty == tl.float8e5:   # a compile-time question, even without fp8 data
        tl.store(out_ptr, 1)
    else:
        tl.store(out_ptr, 2)
    if tl.float8e4nv.is_fp8():
        tl.store(out_ptr + 1, tl.float8e4nv.primitive_bitwidth)


def test_fp8_dtypes_are_compile_time_values():
    out = np.zeros(2, np.int32)
    _fp8_compare[(1,)](np.zeros(4, np.float16), out)
    assert out.tolist() == [2, 8]


@triton.jit
def _fp8_data(x_ptr):
    tl.store(x_ptr, tl.load(x_ptr).to(tl.float8e5).to(tl.float32))


def test_fp8_data_is_refused():
    with pytest.raises(triton.CompilationError, match="fp8 data is not supported"):
        _fp8_data[(1,)](np.zeros(1, np.float32))


@triton.jit
def _semicolons(out_ptr):
    a = 1; b = 2; tl.store(out_ptr, a + b)  # noqa: E702


def test_semicolons_between_statements():
    out = np.zeros(1, np.int32)
    _semicolons[(1,)](out)
    assert out[0] == 3


# ---------------------------------------------------------------- helpers and host functions

import alias_helpers as h  # noqa: E402  (tests/exec is on sys.path under pytest)


@triton.jit
def _through_alias(out_ptr, C: tl.constexpr):
    pid = h.program_id64(0)
    tl.store(out_ptr + pid, h.scaled(pid) + h.SCALE + C.value)


@triton.jit
def _running_max(x, i):
    return tl.associative_scan((x, i), 0, h.max_tie_right)   # h's attribute used only here


@triton.jit
def _module_attr_of_a_helper(x_ptr, v_ptr, i_ptr, N: tl.constexpr):
    offs = h.program_id64(0) * N + tl.arange(0, N)           # the kernel names h too
    v, i = _running_max(tl.load(x_ptr + offs), tl.arange(0, N))
    tl.store(v_ptr + offs, v)
    tl.store(i_ptr + offs, i)


def test_a_helper_uses_other_attributes_of_a_module_the_kernel_names(rng):
    x = rng.integers(-3, 4, 64).astype(np.int32)   # ties: the later index wins
    v = np.zeros(64, np.int32)
    idx = np.zeros(64, np.int32)
    _module_attr_of_a_helper[(1,)](x, v, idx, N=64)
    np.testing.assert_array_equal(v, np.maximum.accumulate(x))
    want = [max(range(k + 1), key=lambda j: (x[j], j)) for k in range(64)]
    np.testing.assert_array_equal(idx, want)


def test_helpers_through_a_module_alias():
    out = np.zeros(5, np.int64)
    _through_alias[(5,)](out, 10)
    np.testing.assert_array_equal(out, np.arange(5) * 3 + 13)


@triton.constexpr_function
def _acc_type(dt):
    return tl.float32 if dt in (tl.float16, tl.bfloat16) else dt


@triton.constexpr_function
def _twice(n):
    return 2 * n


@triton.jit
def _host_fn_kernel(x_ptr, out_ptr, B: tl.constexpr):
    T: tl.constexpr = _acc_type(x_ptr.dtype.element_ty)
    offs = tl.arange(0, _twice(B))
    x = tl.load(x_ptr + offs).to(T)
    tl.static_assert(x.dtype == T)
    tl.store(out_ptr + offs, x * 2)


@pytest.mark.parametrize("dt,want", [(np.float16, np.float32), (np.int32, np.int32)])
def test_constexpr_function_runs_at_compile_time(rng, dt, want):
    x = (rng.normal(0, 100, 16)).astype(dt)
    out = np.zeros(16, want)
    _host_fn_kernel[(1,)](x, out, 8)
    np.testing.assert_array_equal(out, x.astype(want) * 2)


@triton.constexpr_function
def _fails(n):
    raise ValueError(f"no block for {n}")


@triton.jit
def _host_fn_error(out_ptr):
    tl.store(out_ptr + tl.arange(0, _fails(3)), 1)


def test_constexpr_function_error_is_located():
    with pytest.raises(triton.CompilationError, match="_fails.. failed at compile time: ValueError: no block for 3"):
        _host_fn_error[(1,)](np.zeros(4, np.int32))


def _unwrap(o):
    return o.value if isinstance(o, tl.constexpr) else o


@tl.constexpr
def _acc_of(dt):
    # a dtype arrives as itself (FlagGems' cumsum: get_scan_accum_type(x.type.element_ty))
    return tl.float32 if dt.is_fp16() or dt.is_bf16() else dt


@tl.constexpr
def _uint_of(num_bits):
    # the idiom of FlagGems' copysign: a tl.constexpr around a plain function
    return tl.core.get_int_dtype(_unwrap(num_bits), False)


def _sign_mask(num_bits):
    # a plain Python function: called with constexprs, as upstream's code generator does
    assert isinstance(num_bits, tl.constexpr)
    return 1 << (num_bits.value - 1)


@triton.jit
def _plain_fn_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    y = tl.load(y_ptr + offs, mask=m)
    bits: tl.constexpr = x.dtype.primitive_bitwidth
    u = y.to(_uint_of(bits), bitcast=True)
    tl.static_assert(_acc_of(x.dtype) == tl.float32)
    mask: tl.constexpr = _sign_mask(bits)
    tl.store(out_ptr + offs, tl.where((u & mask) != 0, -tl.abs(x), tl.abs(x)), mask=m)


@pytest.mark.parametrize("dt", [np.float16, np.float32])
def test_plain_python_functions_run_at_compile_time(rng, dt):
    n = 301
    x = rng.normal(0, 10, n).astype(dt)
    y = rng.normal(0, 10, n).astype(dt)
    x[:4] = [np.inf, -np.inf, 0.0, -0.0]
    y[:6] = [-0.0, 0.0, -1.0, -np.inf, np.nan, -np.nan]
    out = np.zeros(n + 7, dt)
    _plain_fn_kernel[(triton.cdiv(n, 64),)](x, y, out[:n], n, BLOCK=64)
    np.testing.assert_array_equal(out[:n].view(np.uint8), np.copysign(x, y).view(np.uint8))
    assert not out[n:].any()


def _not_on_device(v):
    return v + 1


@triton.jit
def _plain_fn_on_tensor(out_ptr):
    tl.store(out_ptr, _not_on_device(tl.load(out_ptr)))


def test_plain_function_on_a_device_value_is_refused():
    with pytest.raises(triton.CompilationError, match="_not_on_device.. runs at compile time"):
        _plain_fn_on_tensor[(1,)](np.zeros(1, np.int32))


# ---------------------------------------------------------------- big blocks

@triton.jit
def _rank5(x_ptr, out_ptr, D0: tl.constexpr, D1: tl.constexpr, D2: tl.constexpr, D3: tl.constexpr,
           D4: tl.constexpr):
    idx = tl.arange(0, D0 * D1 * D2 * D3 * D4).reshape(D0, D1, D2, D3, D4)
    v = tl.load(x_ptr + idx)
    v = tl.permute(v, [2, 1, 0, 3, 4])           # 5-D blocks (upstream has no rank limit)
    r = tl.sum(tl.sum(v, 3), 0)                   # [D1, D0, D4]
    o = tl.arange(0, D1 * D0 * D4).reshape(D1, D0, D4)
    tl.store(out_ptr + o, r)


@pytest.mark.parametrize("shape", [(2, 4, 8, 2, 2), (4, 8, 32, 4, 2)])  # the second stages 128 KiB
def test_rank5_blocks_and_chunked_staging(rng, shape):
    x = rng.integers(-1000, 1000, shape).astype(np.int32)
    out = np.zeros((shape[1], shape[0], shape[4]), np.int32)
    _rank5[(1,)](x, out, *shape)
    ref = np.transpose(x, (2, 1, 0, 3, 4)).sum(axis=3).sum(axis=0)
    np.testing.assert_array_equal(out, ref)


@triton.jit
def _big_transpose(x_ptr, out_ptr, M: tl.constexpr, N: tl.constexpr):
    m = tl.arange(0, M)[:, None]
    n = tl.arange(0, N)[None, :]
    x = tl.load(x_ptr + m * N + n)
    r = tl.arange(0, N)[:, None]
    c = tl.arange(0, M)[None, :]
    tl.store(out_ptr + r * M + c, tl.trans(x))   # 64 KiB and more: staged in chunks of threadgroup memory


@pytest.mark.parametrize("num_warps", [1, 4])
@pytest.mark.parametrize("M,N", [(128, 128), (256, 64), (64, 32)])
def test_permute_larger_than_threadgroup_memory(rng, num_warps, M, N):
    x = rng.normal(size=(M, N)).astype(np.float32)
    x[3, 5] = np.nan
    x[7, 1] = -np.inf
    out = np.zeros((N, M), np.float32)
    _big_transpose[(1,)](x, out, M, N, num_warps=num_warps)
    np.testing.assert_array_equal(out.view(np.uint32), x.T.view(np.uint32))


@triton.jit
def _tuple_arg(z_ptr, x_ptr, SHAPE: tl.constexpr, N: tl.constexpr):
    x = tl.load(x_ptr + tl.arange(0, N))
    z = tl.reshape(x, SHAPE)
    tl.static_assert(z.shape == SHAPE)
    tl.store(z_ptr + tl.arange(0, N), tl.reshape(tl.flip(z, len(SHAPE) - 1), [N]))


@pytest.mark.parametrize("shape", [(4, 4, 4), [8, 8], (2, 32)])
def test_tuple_constexpr_arguments(rng, shape):
    x = rng.integers(-100, 100, 64).astype(np.int32)
    z = np.zeros(64, np.int32)
    _tuple_arg[(1,)](z, x, shape, 64)
    np.testing.assert_array_equal(z, np.flip(x.reshape(shape), -1).reshape(-1))


@triton.jit
def _mul_broadcast_dot(z_ptr, x_ptr, y_ptr, K: tl.constexpr, N: tl.constexpr, BM: tl.constexpr,
                       BN: tl.constexpr, BK: tl.constexpr):
    om = tl.arange(0, BM)[:, None]
    on = tl.arange(0, BN)[None, :]
    ak = tl.arange(0, BK)[None, :]
    bk = tl.arange(0, BK)[:, None]
    acc = tl.zeros((BM, BN), tl.float32)
    for k in range(0, K // BK):
        x = tl.expand_dims(tl.load(x_ptr + om * K + k * BK + ak), 2)
        y = tl.expand_dims(tl.load(y_ptr + bk * N + k * BK * N + on), 0)
        acc += tl.sum(x * y, axis=1)      # a [BM, BK, BN] product: partials staged in chunks
    tl.store(z_ptr + om * N + on, acc)


@pytest.mark.parametrize("num_warps", [4, 8])
def test_reduction_larger_than_threadgroup_memory(rng, num_warps):
    x = rng.normal(0, 0.1, (128, 64)).astype(np.float32)
    y = rng.normal(0, 0.1, (64, 32)).astype(np.float32)
    z = np.zeros((128, 32), np.float32)
    _mul_broadcast_dot[(1,)](z, x, y, 64, 32, 128, 32, 32, num_warps=num_warps)
    np.testing.assert_allclose(z, x.astype(np.float64) @ y.astype(np.float64), rtol=1e-4, atol=1e-5)


def test_register_estimates_are_meaningful():
    @triton.jit
    def small(x_ptr, BLOCK: tl.constexpr):
        offs = tl.arange(0, BLOCK)
        tl.store(x_ptr + offs, tl.load(x_ptr + offs) + 1)

    x = np.zeros(4096, np.float32)
    a = small.warmup(x, 128, grid=(1,), num_warps=4)
    b = small.warmup(x, 4096, grid=(1,), num_warps=4)
    assert 24 <= a.n_regs < b.n_regs <= 255          # more elements per thread: more registers
    assert a.n_spills == 0 and a.metadata.shared >= 0
    occupancy = 65536 // (b.n_regs * 32 * 4)          # what libraries compute: stays positive
    assert occupancy >= 1


@triton.jit
def _aliased(p, q, B: tl.constexpr):
    x = tl.load(p)                                         # every thread holds x
    tl.store(q + tl.arange(0, B), x + 1 + tl.arange(0, B).to(tl.float32))  # q[0] is p[0]
    y = tl.load(p)                                         # after that store: sees it
    tl.store(q + B + tl.arange(0, B), y + tl.zeros([B], tl.float32))


@pytest.mark.parametrize("num_warps", NUM_WARPS)
def test_program_order_across_aliasing_arguments(rng, num_warps):
    for _ in range(2):  # the second launch takes the C fast path (its key tells aliasing apart)
        v = np.float32(rng.normal())
        a = np.zeros(256, np.float32)
        a[0] = v
        _aliased[(1,)](a, a, 128, num_warps=num_warps)
        np.testing.assert_array_equal(a[:128], v + 1 + np.arange(128, dtype=np.float32))
        np.testing.assert_array_equal(a[128:], np.full(128, v + 1, np.float32))
    b = np.zeros(256, np.float32)   # distinct memory: the variant without barriers
    _aliased[(1,)](np.array([v], np.float32), b, 128, num_warps=num_warps)
    np.testing.assert_array_equal(b[128:], np.full(128, v, np.float32))


@triton.jit
def _scan2d(x_ptr, y_ptr, N: tl.constexpr, AX: tl.constexpr, REV: tl.constexpr):
    offs = tl.arange(0, N)
    x = tl.load(x_ptr + offs[:, None] * N + offs[None, :])
    tl.store(y_ptr + offs[:, None] * N + offs[None, :], tl.cumsum(x, AX, reverse=REV))


@pytest.mark.parametrize("N", [128, 256])    # 64 KiB and 256 KiB blocks: scanned in chunks
@pytest.mark.parametrize("ax", [0, 1])
@pytest.mark.parametrize("rev", [False, True])
def test_scan_larger_than_threadgroup_memory(rng, N, ax, rev):
    x = rng.integers(-1000, 1000, (N, N)).astype(np.int32)
    y = np.zeros_like(x)
    _scan2d[(1,)](x, y, N, ax, rev)
    ref = np.flip(np.cumsum(np.flip(x, ax), ax), ax) if rev else np.cumsum(x, ax)
    np.testing.assert_array_equal(y, ref)


@triton.jit
def _carried_block_ptr(x_ptr, y_ptr, out_ptr, n, flag, B: tl.constexpr):
    bp = tl.make_block_ptr(x_ptr, (n,), (1,), (0,), (B,), (0,))
    acc = tl.zeros([B], tl.float32)
    for i in range(0, tl.cdiv(n, B)):
        v = tl.load(bp, boundary_check=(0,))
        if flag > 0:            # a runtime if that does not touch bp
            acc += v
        else:
            acc -= v
        bp = tl.advance(bp, (B,))
    p = tl.where(flag > 0, x_ptr, y_ptr)   # a choice between pointers
    tl.store(out_ptr + tl.arange(0, B), acc + tl.load(p + tl.arange(0, B)))


@pytest.mark.parametrize("flag", [1, -1])
def test_block_pointer_through_loop_with_runtime_if_and_where_on_pointers(rng, flag):
    n = 70
    x = rng.normal(size=n).astype(np.float32)
    y = rng.normal(size=16).astype(np.float32)
    out = np.zeros(16, np.float32)
    _carried_block_ptr[(1,)](x, y, out, n, flag, 16)
    padded = np.zeros(80, np.float32)
    padded[:n] = x
    s = padded.reshape(5, 16).sum(0)
    ref = (s + x[:16]) if flag > 0 else (-s + y)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- float64 memory

@triton.jit
def _to_f64(x_ptr, z_ptr, n, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    m = o < n
    tl.store(z_ptr + o, tl.load(x_ptr + o, mask=m), mask=m)   # converted to float64 as it is stored


@pytest.mark.parametrize("dt", ["float32", "float16", "int8", "int32", "int64", "uint32", "uint64", "bool"])
def test_stores_into_float64_arrays_are_exact(rng, dt):
    n = 200
    if dt == "float32":
        x = rng.normal(0, 1e3, n).astype(np.float32)
        x[:8] = [np.nan, np.inf, -np.inf, -0.0, 1e-40, -3e-45, np.finfo(np.float32).max, 1.17549435e-38]
    elif dt == "float16":
        x = rng.normal(0, 10, n).astype(np.float16)
        x[:3] = [np.nan, 6e-8, -65504]
    elif dt == "bool":
        x = rng.random(n) > 0.5
    else:
        info = np.iinfo(dt)
        x = rng.integers(info.min, info.max, n, endpoint=True, dtype=dt)
        x[:2] = [info.min, info.max]
        if info.bits == 64:
            x[2] = (1 << 53) + 1 if info.min == 0 else -((1 << 53) + 1)  # rounds to nearest even
    z = np.full(256, 7.0)
    _to_f64[(1,)](x, z, n, BLOCK=256)
    ref = x.astype(np.float64)
    np.testing.assert_array_equal(z[:n].view(np.uint64)[~np.isnan(ref)], ref.view(np.uint64)[~np.isnan(ref)])
    assert np.isnan(z[:n][np.isnan(ref)]).all()
    assert (z[n:] == 7.0).all()                       # masked lanes untouched


@triton.jit
def _f64_constants(z_ptr):
    tl.store(z_ptr, 0.1)          # a Python float: its double, exactly
    c = 0.1                       # upstream's 0-d fp32 tensor: 0.1 rounded to fp32, then widened
    tl.store(z_ptr + 1, c)
    tl.store(z_ptr + 2, 2**60 + 1)


def test_float64_store_of_constants():
    z = np.zeros(3)
    _f64_constants[(1,)](z)
    assert z[0] == 0.1 and z[1] == np.float64(np.float32(0.1)) and z[2] == float(2**60 + 1)


@triton.jit
def _f64_load(z_ptr, out_ptr):
    tl.store(out_ptr, tl.load(z_ptr).to(tl.float32))


def test_float64_loads_are_refused():
    with pytest.raises(triton.CompilationError, match="load through 'z_ptr', a float64 array"):
        _f64_load[(1,)](np.zeros(1), np.zeros(1, np.float32))


@triton.jit
def _xor_bool(x_ptr, z_ptr, M: tl.constexpr, N: tl.constexpr, AX: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    x = tl.load(x_ptr + rm[:, None] * N + rn[None, :]).to(tl.int1)
    z = tl.xor_sum(x, axis=AX)       # bool values across SIMD-groups: their own stripe, apart from the valid flags
    if AX == 0:
        tl.store(z_ptr + rn, z)
    else:
        tl.store(z_ptr + rm, z)


@pytest.mark.parametrize("shape", [(2, 32), (128, 8), (32, 64)])
@pytest.mark.parametrize("ax", [0, 1])
def test_xor_sum_of_bools_across_simdgroups(rng, shape, ax):
    x = rng.random(shape) > 0.5
    z = np.zeros(shape[1 - ax], np.int8)
    _xor_bool[(1,)](x, z, *shape, ax)
    np.testing.assert_array_equal(z, np.bitwise_xor.reduce(x, axis=ax).astype(np.int8))


# ---------------------------------------------------------------- scan and reduction dtypes
# Upstream scans bfloat16 (cumsum, cumprod) in float32 and returns float32; max
# and min turn bfloat16 into float32, and without indices narrower floats into
# float32 and narrower integers into int32.

@triton.jit
def _bf16_scans(x_ptr, s_ptr, p_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n, other=0.0)
    s = tl.cumsum(x, axis=0)
    p = tl.cumprod(tl.where(offs < n, x, 1.0), axis=0)
    tl.static_assert(s.dtype == tl.float32)
    tl.static_assert(p.dtype == tl.float32)
    tl.store(s_ptr + offs, s, mask=offs < n)
    tl.store(p_ptr + offs, p, mask=offs < n)


@pytest.mark.parametrize("n", [5, 300, 1024])
def test_bf16_scans_accumulate_in_float32(n):
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(n)
    x = (torch.randn(n, generator=g) + 0.5).to(torch.bfloat16)
    px = (1 + torch.randn(n, generator=g) * 0.01).to(torch.bfloat16)
    s = torch.empty(n, dtype=torch.float32)
    p = torch.empty(n, dtype=torch.float32)
    _bf16_scans[(1,)](x, s, torch.empty(n, dtype=torch.float32), n, BLOCK=1024)
    ref = np.cumsum(x.float().numpy().astype(np.float64))
    # a bfloat16 running sum keeps 8 bits: at n=1024 its error is in the units
    np.testing.assert_allclose(s.numpy(), ref, rtol=1e-4, atol=1e-3)
    _bf16_scans[(1,)](px, torch.empty(n, dtype=torch.float32), p, n, BLOCK=1024)
    pref = np.cumprod(px.float().numpy().astype(np.float64))
    np.testing.assert_allclose(p.numpy(), pref, rtol=1e-4)


@triton.jit
def _reduction_dtypes(b_ptr, h_ptr, i_ptr, u_ptr, out_f_ptr, out_i_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    b = tl.load(b_ptr + offs)
    h = tl.load(h_ptr + offs)
    i = tl.load(i_ptr + offs)
    u = tl.load(u_ptr + offs)
    bm = tl.max(b, axis=0)
    bv, bi = tl.min(b, axis=0, return_indices=True)
    hm = tl.max(h, axis=0)
    im = tl.min(i, axis=0)
    um = tl.max(u, axis=0)
    hs = tl.sum(h, axis=0)
    tl.static_assert(bm.dtype == tl.float32)
    tl.static_assert(bv.dtype == tl.float32)
    tl.static_assert(hm.dtype == tl.float32)
    tl.static_assert(im.dtype == tl.int32)
    tl.static_assert(um.dtype == tl.int32)
    tl.static_assert(hs.dtype == tl.float16)
    tl.store(out_f_ptr + 0, bm)
    tl.store(out_f_ptr + 1, bv)
    tl.store(out_f_ptr + 2, hm)
    tl.store(out_i_ptr + 0, im)
    tl.store(out_i_ptr + 1, um)
    tl.store(out_i_ptr + 2, bi)


def test_reduction_result_dtypes_follow_upstream(rng):
    torch = pytest.importorskip("torch")
    B = 64
    b = torch.from_numpy(rng.normal(0, 10, B).astype(np.float32)).to(torch.bfloat16)
    h = rng.normal(0, 10, B).astype(np.float16)
    i = rng.integers(-128, 128, B).astype(np.int8)
    u = rng.integers(0, 256, B).astype(np.uint8)
    out_f = np.zeros(3, np.float32)
    out_i = np.zeros(3, np.int32)
    _reduction_dtypes[(1,)](b, h, i, u, out_f, out_i, BLOCK=B)
    bf = b.float().numpy()
    np.testing.assert_array_equal(out_f, [bf.max(), bf.min(), h.astype(np.float32).max()])
    np.testing.assert_array_equal(out_i, [i.min(), u.max(), int(np.argmin(bf))])


# ---------------------------------------------------------------- pointers as values
# int64 -> pointer -> stored back into int64 memory keeps every bit (upstream's
# int_to_ptr / ptr_to_int); a pointer cannot be stored into narrower memory.

@triton.jit
def _pointer_roundtrip(c_ptr, a_ptr, b_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    m = offs < n
    a = tl.load(a_ptr + offs, mask=m).to(tl.pi32_t)
    b = tl.load(b_ptr + offs, mask=m).to(tl.pi32_t)
    c = tl.load(c_ptr + offs, mask=m)
    tl.store(out_ptr + offs, tl.where(c, a, b), mask=m)


@pytest.mark.parametrize("out_dt", [np.int64, np.uint64])
def test_pointers_stored_as_64bit_integers(rng, out_dt):
    n = 300
    a = rng.integers(-2**63, 2**63 - 1, n, dtype=np.int64)
    b = rng.integers(-2**63, 2**63 - 1, n, dtype=np.int64)
    c = rng.random(n) > 0.5
    out = np.full(n + 5, 7, out_dt)
    _pointer_roundtrip[(1,)](c, a, b, out, n, BLOCK=512)
    np.testing.assert_array_equal(out[:n], np.where(c, a, b).astype(out_dt))
    assert (out[n:] == 7).all()


def test_pointer_into_narrow_memory_is_refused(rng):
    a = np.zeros(4, np.int64)
    c = np.ones(4, bool)
    with pytest.raises(triton.CompilationError, match="only into int64 or uint64 memory, not int32"):
        _pointer_roundtrip[(1,)](c, a, a, np.zeros(4, np.int32), 4, BLOCK=4)
