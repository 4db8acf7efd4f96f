"""Atomics: add/max/min/and/or/xor/xchg/cas on int32, uint32 and float32, block
and scalar forms, masks, returned old values, contention across programs, and
a spin lock built from atomic_cas/atomic_xchg (the layer-norm backward pattern)."""
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from exec_data import kernel_body

# Every test runs under both emulator schedules (conftest.py): the interleaved
# one catches an atomic done as a plain load and store (a lost update shows in
# test_histogram_contention, test_scalar_atomic_once_per_program, ...), which the
# default schedule lets pass.
pytestmark = pytest.mark.usefixtures("cpu_schedule")


@triton.jit
def histogram_kernel(x_ptr, hist_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m, other=0)
    tl.atomic_add(hist_ptr + x, 1, mask=m)


def test_histogram_contention(rng):
    n = 10_000
    x = rng.integers(0, 16, n).astype(np.int32)
    hist = np.zeros(16, np.int32)
    histogram_kernel[(triton.cdiv(n, 256),)](x, hist, n, BLOCK=256)
    np.testing.assert_array_equal(hist, np.bincount(x, minlength=16))


@triton.jit
def rmw_kernel(p_ptr, v_ptr, old_ptr, OP: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    v = tl.load(v_ptr + offs)
    if OP == "add":
        old = tl.atomic_add(p_ptr + offs, v)
    elif OP == "max":
        old = tl.atomic_max(p_ptr + offs, v)
    elif OP == "min":
        old = tl.atomic_min(p_ptr + offs, v, sem="relaxed")
    elif OP == "and":
        old = tl.atomic_and(p_ptr + offs, v)
    elif OP == "or":
        old = tl.atomic_or(p_ptr + offs, v, sem="release", scope="gpu")
    elif OP == "xor":
        old = tl.atomic_xor(p_ptr + offs, v)
    else:
        old = tl.atomic_xchg(p_ptr + offs, v)
    tl.store(old_ptr + offs, old)


OPS = {"add": np.add, "max": np.maximum, "min": np.minimum, "and": np.bitwise_and, "or": np.bitwise_or,
       "xor": np.bitwise_xor, "xchg": lambda a, b: b}


@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("dtype", [np.int32, np.uint32, np.float32])
def test_rmw_returns_old(op, dtype, rng):
    if dtype == np.float32 and op in ("and", "or", "xor"):
        pytest.skip("bitwise atomics are integer-only")
    n = 64
    if dtype == np.float32:
        p = (rng.standard_normal(n) * 10).astype(dtype)
        v = (rng.standard_normal(n) * 10).astype(dtype)
    else:
        info = np.iinfo(dtype)
        p = rng.integers(info.min, info.max, n, endpoint=True, dtype=np.int64).astype(dtype)
        v = rng.integers(info.min, info.max, n, endpoint=True, dtype=np.int64).astype(dtype)
    p0 = p.copy()
    old = np.zeros(n, dtype)
    rmw_kernel[(1,)](p, v, old, OP=op, BLOCK=n)
    np.testing.assert_array_equal(old, p0)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(p, OPS[op](p0, v).astype(dtype))


@triton.jit
def float_minmax_nan_kernel(p_ptr, v_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.atomic_max(p_ptr + offs, tl.load(v_ptr + offs))
    tl.atomic_min(p_ptr + BLOCK + offs, tl.load(v_ptr + offs))


# Upstream's float atomic_max/min work on the bits (semantic.py): a value
# whose sign bit is clear takes the signed integer max (min) with the stored
# bits, one whose sign bit is set the unsigned min (max). That is a max (min)
# under one total order: -NaN < -inf < ... < -0.0 < +0.0 < ... < +inf < +NaN,
# so the final value does not depend on the order of the updates. The old
# compare-and-swap lowering (a NaN operand never replaced the stored value,
# -0.0 and +0.0 compared equal) fails this test.

def _bits(a):
    return np.ascontiguousarray(a, np.float32).view(np.uint32)


def _upstream_order(a):
    b = _bits(a).astype(np.int64)
    return np.where(b >> 31, -(b & 0x7FFFFFFF) - 1, b)


SPECIALS = np.array([0x7FC00000, 0xFFC00000, 0x80000000, 0, 0x7F800000, 0xFF800000, 0x3F800000, 0xBF800000],
                    np.uint32).view(np.float32)  # +NaN -NaN -0 +0 +inf -inf 1 -1


@triton.jit
def float_minmax_grid_kernel(p_ptr, v_ptr, NP: tl.constexpr, MAX: tl.constexpr):
    offs = tl.arange(0, NP)
    v = tl.load(v_ptr + tl.program_id(0) * NP + offs)
    if MAX:
        tl.atomic_max(p_ptr + offs, v)
    else:
        tl.atomic_min(p_ptr + offs, v)


@pytest.mark.parametrize("is_max", [True, False])
def test_float_max_min_follow_upstream_bits(rng, is_max):
    NP, G = 64, 40
    p0 = np.concatenate([SPECIALS, rng.standard_normal(NP - len(SPECIALS)).astype(np.float32)])
    v = rng.standard_normal((G, NP)).astype(np.float32)
    special = rng.random((G, NP)) < 0.3
    v[special] = rng.choice(SPECIALS, size=int(special.sum()))
    for i in range(G):  # every special against every stored special, in some program
        v[i, :len(SPECIALS)] = np.roll(SPECIALS, i)
    p = p0.copy()
    float_minmax_grid_kernel[(G,)](p, v, NP=NP, MAX=is_max)
    every = np.concatenate([p0[None], v])
    pick = (np.argmax if is_max else np.argmin)(_upstream_order(every), axis=0)
    np.testing.assert_array_equal(_bits(p), _bits(every[pick, np.arange(NP)]))


@triton.jit
def float_minmax_old_kernel(p_ptr, v_ptr, o_ptr, NP: tl.constexpr):
    offs = tl.arange(0, NP)
    v = tl.load(v_ptr + offs)
    tl.store(o_ptr + offs, tl.atomic_max(p_ptr + offs, v))
    tl.store(o_ptr + NP + offs, tl.atomic_min(p_ptr + NP + offs, v))


def test_float_max_min_pairs_and_old_values():
    n = len(SPECIALS)
    v = np.repeat(SPECIALS, n)  # every value against every stored value
    p0 = np.tile(SPECIALS, n)
    p = np.concatenate([p0, p0])
    o = np.zeros(2 * n * n, np.float32)
    float_minmax_old_kernel[(1,)](p, v, o, NP=n * n)
    key_v, key_p = _upstream_order(v), _upstream_order(p0)
    np.testing.assert_array_equal(_bits(p[:n * n]), _bits(np.where(key_v > key_p, v, p0)))
    np.testing.assert_array_equal(_bits(p[n * n:]), _bits(np.where(key_v < key_p, v, p0)))
    np.testing.assert_array_equal(_bits(o), _bits(np.concatenate([p0, p0])))  # the old values


@triton.jit
def counter_kernel(count_ptr, order_ptr):
    # a scalar atomic happens once per program, whatever num_warps is
    ticket = tl.atomic_add(count_ptr, 1)
    tl.store(order_ptr + ticket, tl.program_id(0))


@pytest.mark.parametrize("num_warps", [1, 4])
def test_scalar_atomic_once_per_program(num_warps):
    n = 200
    count = np.zeros(1, np.int32)
    order = np.full(n, -1, np.int32)
    counter_kernel[(n,)](count, order, num_warps=num_warps)
    assert count[0] == n
    assert sorted(order.tolist()) == list(range(n))


@triton.jit
def cas_kernel(p_ptr, out_ptr):
    old1 = tl.atomic_cas(p_ptr, 5, 7)    # matches: 5 -> 7
    old2 = tl.atomic_cas(p_ptr, 5, 9)    # does not match: stays 7
    tl.store(out_ptr, old1)
    tl.store(out_ptr + 1, old2)


def test_cas_semantics():
    p = np.array([5], np.int32)
    out = np.zeros(2, np.int32)
    cas_kernel[(1,)](p, out)
    assert p[0] == 7 and list(out) == [5, 7]


@triton.jit
def locked_sum_kernel(x_ptr, acc_ptr, lock_ptr, count_ptr, BLOCK: tl.constexpr):
    # every program adds its block into one shared accumulator under a spin lock
    pid = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + pid * BLOCK + offs)
    while tl.atomic_cas(lock_ptr, 0, 1) == 1:
        pass
    count = tl.load(count_ptr)
    if count == 0:
        tl.atomic_xchg(count_ptr, 1)
    else:
        x += tl.load(acc_ptr + offs)
    tl.store(acc_ptr + offs, x)
    tl.atomic_xchg(lock_ptr, 0)


def test_spin_lock_across_programs(rng):
    programs, block = 64, 128
    x = rng.integers(-1000, 1000, programs * block).astype(np.int64)
    acc = np.full(block, 123456, np.int64)  # overwritten by the first program
    lock = np.zeros(1, np.int32)
    count = np.zeros(1, np.int32)
    locked_sum_kernel[(programs,)](x, acc, lock, count, BLOCK=block)
    np.testing.assert_array_equal(acc, x.reshape(programs, block).sum(0))
    assert lock[0] == 0


def _barriers(body):
    """The kernel's barrier statements, and whether two ever follow each other."""
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    bars = [i for i, line in enumerate(lines) if line.startswith("threadgroup_barrier(")]
    return len(bars), any(b - a == 1 for a, b in zip(bars, bars[1:]))


@pytest.mark.parametrize("num_warps", [1, 4, 8])
def test_spin_lock_barriers(rng, num_warps):
    """The lock's scalar atomics: the old values nobody reads (the two
    atomic_xchg) are not shared through threadgroup memory, and no barrier
    follows another; the CAS's old value and the count still reach every
    thread (the sum is right for every warp count, under both schedules)."""
    programs, block = 48, 64 * num_warps
    x = rng.integers(-1000, 1000, programs * block).astype(np.int64)
    acc = np.zeros(block, np.int64)
    lock = np.zeros(1, np.int32)
    count = np.zeros(1, np.int32)
    k = locked_sum_kernel[(programs,)](x, acc, lock, count, BLOCK=block, num_warps=num_warps)
    np.testing.assert_array_equal(acc, x.reshape(programs, block).sum(0))
    assert lock[0] == 0 and count[0] == 1
    body = kernel_body(k)
    n, adjacent = _barriers(body)
    assert not adjacent, body
    # the CAS in the spin loop (before it and after sharing its old value: 2 a
    # turn, the next turn's first barrier frees the slot; 3 before), the
    # count's load (before, value shared, slot free again: 3), the two
    # atomic_xchg (one before each, their old values unread; 3 each before)
    assert n == 2 + 3 + 1 + 1, body
    loop = body[body.index("while (true) {"):body.index("if (!")]
    assert loop.count("threadgroup_barrier(") == 2, loop
    assert body.count("old;") == 1, body  # only the CAS's old value is stored for the others


@triton.jit
def ticket_after_barrier_kernel(count_ptr, order_ptr, seen_ptr, BLOCK: tl.constexpr):
    # a scalar atomic right after a debug_barrier (its fence and barrier serve
    # the atomic's own), its old value read by every thread
    offs = tl.arange(0, BLOCK)
    tl.store(seen_ptr + tl.program_id(0) * BLOCK + offs, offs)
    tl.debug_barrier()
    ticket = tl.atomic_add(count_ptr, 1)
    tl.store(order_ptr + ticket * BLOCK + offs, tl.program_id(0) + offs * 0)


@pytest.mark.parametrize("num_warps", [1, 4])
def test_scalar_atomic_after_debug_barrier(num_warps):
    n, block = 100, 32 * num_warps
    count = np.zeros(1, np.int32)
    order = np.full((n, block), -1, np.int32)
    seen = np.zeros((n, block), np.int32)
    k = ticket_after_barrier_kernel[(n,)](count, order, seen, BLOCK=block, num_warps=num_warps)
    assert count[0] == n
    # every thread of a program got the same ticket: each row holds one program id
    assert (order == order[:, :1]).all()
    assert sorted(order[:, 0].tolist()) == list(range(n))
    np.testing.assert_array_equal(seen, np.tile(np.arange(block, dtype=np.int32), (n, 1)))
    assert not _barriers(kernel_body(k))[1]


@triton.jit
def half_add_kernel(p_ptr, idx_ptr, v_ptr, old_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    m = offs < n
    idx = tl.load(idx_ptr + offs, mask=m, other=0)
    v = tl.load(v_ptr + offs, mask=m, other=0)
    old = tl.atomic_add(p_ptr + idx, v, mask=m)
    tl.store(old_ptr + offs, old, mask=m)


def test_fp16_atomic_add_through_word_cas(rng):
    n = 200
    p = np.zeros(16, np.float16)                      # neighbours share 32-bit words
    idx = rng.integers(0, 16, n).astype(np.int32)
    v = rng.integers(1, 5, n).astype(np.float16)      # exact in fp16, any order; positive
    old = np.zeros(n, np.float16)
    half_add_kernel[(1,)](p, idx, v, old, n, BLOCK=256)
    exp = np.zeros(16, np.float64)
    np.add.at(exp, idx, v.astype(np.float64))
    np.testing.assert_array_equal(p, exp.astype(np.float16))
    # each addition saw a different partial sum of its element: distinct, from 0, below the total
    for i in range(16):
        seen = old[idx == i].astype(np.float64)
        if len(seen):
            assert len(set(seen)) == len(seen) and seen.min() == 0 and seen.max() < exp[i]


@triton.jit
def half_scatter_rows_kernel(grad_ptr, rows_ptr, g_ptr, N: tl.constexpr, BLOCK: tl.constexpr):
    # FlagGems' embedding backward: the pointer moves to a row first, then adds the columns
    pid = tl.program_id(0)
    row = tl.load(rows_ptr + pid)
    cols = tl.arange(0, BLOCK)
    m = cols < N
    g_ptr += pid * N
    grad_ptr += row * N
    tl.atomic_add(grad_ptr + cols, tl.load(g_ptr + cols, mask=m, other=0.0), mask=m)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("N", [7, 33])   # odd: rows start on either half of a 32-bit word
def test_16bit_atomic_add_through_a_chain_of_offsets(rng, dtype, N):
    torch = pytest.importorskip("torch")
    rows_n, uses = 9, 40
    rows = torch.from_numpy(rng.integers(0, rows_n, uses).astype(np.int32))
    g = torch.from_numpy(rng.integers(-4, 5, (uses, N)).astype(np.float32)).to(getattr(torch, dtype))
    grad = torch.zeros(rows_n, N, dtype=getattr(torch, dtype))
    half_scatter_rows_kernel[(uses,)](grad, rows, g, N=N, BLOCK=64)
    exp = np.zeros((rows_n, N))
    np.add.at(exp, rows.numpy(), g.float().numpy())  # small integers: exact in any order
    np.testing.assert_array_equal(grad.float().numpy(), exp)


@triton.jit
def cas16_kernel(p_ptr, cmp_ptr, val_ptr, old_ptr, N: tl.constexpr):
    # neighbouring lanes swap the two halves of one 32-bit word at once
    offs = tl.arange(0, N)
    old = tl.atomic_cas(p_ptr + offs, tl.load(cmp_ptr + offs), tl.load(val_ptr + offs))
    tl.store(old_ptr + offs, old)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "int16", "uint16"])
def test_16bit_atomic_cas_semantics(rng, dtype):
    torch = pytest.importorskip("torch")
    tdt = getattr(torch, dtype)
    n = 64
    bits = torch.from_numpy(rng.integers(0, 1 << 16, n).astype(np.uint16).view(np.int16))
    p = bits.view(tdt).clone()
    if dtype in ("float16", "bfloat16"):
        p[p != p] = 1.0                          # no NaNs: equal compare is bitwise here, == in torch
    hit = torch.from_numpy(rng.random(n) < 0.5)
    cmp = torch.where(hit, p, p + 1).to(tdt) if dtype not in ("uint16",) else torch.where(hit, p, p ^ 1).to(tdt)
    hit = (cmp.view(torch.int16) == p.view(torch.int16))
    val = torch.from_numpy(rng.integers(0, 1 << 16, n).astype(np.uint16).view(np.int16)).view(tdt)
    before = p.clone()
    old = torch.zeros_like(p)
    cas16_kernel[(1,)](p, cmp, val, old, N=n)
    assert torch.equal(old.view(torch.int16), before.view(torch.int16))
    want = torch.where(hit, val.view(torch.int16), before.view(torch.int16))
    assert torch.equal(p.view(torch.int16), want)


@triton.jit
def cas16_count_kernel(c_ptr, ROUNDS: tl.constexpr):
    # every program adds 1 to each of 4 int16 counters (two words) ROUNDS times with CAS loops
    for r in range(ROUNDS):
        for j in tl.static_range(4):
            cur = tl.load(c_ptr + j, volatile=True)
            while tl.atomic_cas(c_ptr + j, cur, cur + 1) != cur:
                cur = tl.load(c_ptr + j, volatile=True)


def test_16bit_atomic_cas_under_contention():
    c = np.zeros(8, np.int16)
    cas16_count_kernel[(40,)](c[:4], ROUNDS=5)
    np.testing.assert_array_equal(c, [200, 200, 200, 200, 0, 0, 0, 0])


@triton.jit
def lookback_scan_kernel(x_ptr, out_ptr, status_ptr, BLOCK: tl.constexpr):
    # a decoupled look-back (FlagGems' radix sort): each program publishes its
    # block's sum, then waits on its predecessors' with volatile scalar loads;
    # status: 0 not ready, sum * 4 + 1 the block's own sum, sum * 4 + 2 inclusive
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    local = tl.sum(x, 0)
    tl.store(status_ptr + pid, local * 4 + 1)
    excl = local * 0
    i = pid - 1
    while i >= 0:
        s = tl.load(status_ptr + i, volatile=True)
        while s == 0:
            s = tl.load(status_ptr + i, volatile=True)
        excl += s >> 2
        if (s & 3) == 2:
            i = -1
        else:
            i -= 1
    tl.store(status_ptr + pid, (excl + local) * 4 + 2)
    tl.store(out_ptr + offs, tl.cumsum(x, 0) + excl)


@pytest.mark.parametrize("num_warps", [1, 4])
def test_decoupled_lookback_with_volatile_scalar_loads(rng, num_warps):
    # every thread of a program must see one value of a volatile scalar (one
    # value per program, as the language has it): per-thread reads of a flag
    # other programs are changing took different paths through the loop
    programs, block = 48, 256
    x = rng.integers(-50, 50, programs * block).astype(np.int32)
    out = np.zeros_like(x)
    status = np.zeros(programs, np.int32)
    lookback_scan_kernel[(programs,)](x, out, status, BLOCK=block, num_warps=num_warps)
    np.testing.assert_array_equal(out, np.cumsum(x))
    assert ((status & 3) == 2).all()
