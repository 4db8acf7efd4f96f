"""Device-side control flow: for loops with runtime bounds and loop-carried
scalars and blocks, if/else on runtime scalars with merged results, while loops,
early return, nested loops; compared with plain Python/NumPy loops."""
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def row_sums_kernel(x_ptr, out_ptr, cnt_ptr, n, BLOCK: tl.constexpr):
    # sums x in chunks of BLOCK into a block accumulator, counting chunks
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    chunks = 0
    for start in range(0, n, BLOCK):
        offs = start + tl.arange(0, BLOCK)
        acc += tl.load(x_ptr + offs, mask=offs < n, other=0.0)
        chunks += 1
    tl.store(out_ptr + tl.arange(0, BLOCK), acc)
    tl.store(cnt_ptr, chunks)


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 1000])
def test_for_loop_carried_block_and_scalar(n, rng):
    block = 64
    x = rng.integers(-100, 100, max(n, 1)).astype(np.float32)[:n]
    out = np.zeros(block, np.float32)
    cnt = np.zeros(1, np.int32)
    row_sums_kernel[(1,)](np.concatenate([x, [0]]).astype(np.float32), out, cnt, n, BLOCK=block)
    padded = np.zeros(-(-n // block) * block, np.float32)
    padded[:n] = x
    exp = padded.reshape(-1, block).sum(0) if n else np.zeros(block, np.float32)
    np.testing.assert_array_equal(out, exp)
    assert cnt[0] == -(-n // block)


@triton.jit
def branch_kernel(x_ptr, out_ptr, n, threshold, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    first = tl.load(x_ptr + pid * BLOCK)
    if first > threshold:
        y = x * 2
        tag = 1
    elif first < -threshold:
        y = x - 100
        tag = 2
    else:
        y = x
        tag = 3
    tl.store(out_ptr + offs, y + tag, mask=m)


def test_if_elif_else_results(rng):
    n, block = 1000, 32
    x = rng.integers(-20, 20, n).astype(np.int32)
    out = np.zeros(n, np.int32)
    branch_kernel[(triton.cdiv(n, block),)](x, out, n, 5, BLOCK=block)
    exp = np.empty_like(x)
    for p in range(0, n, block):
        seg = x[p:p + block]
        f = x[p]
        exp[p:p + block] = seg * 2 + 1 if f > 5 else (seg - 100 + 2 if f < -5 else seg + 3)
    np.testing.assert_array_equal(out, exp)


@triton.jit
def early_return_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    if pid * BLOCK >= n:
        return
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=offs < n) + 1, mask=offs < n)


def test_early_return():
    n, block = 100, 16
    x = np.arange(n, dtype=np.int64)
    out = np.full(n, -5, np.int64)
    early_return_kernel[(20,)](x, out, n, BLOCK=block)  # more programs than needed
    np.testing.assert_array_equal(out, x + 1)


@triton.jit
def collatz_kernel(x_ptr, out_ptr, i):
    v = tl.load(x_ptr + i)
    steps = 0
    while v != 1:
        if v % 2 == 0:
            v = v // 2
        else:
            v = 3 * v + 1
        steps += 1
    tl.store(out_ptr + i, steps)


def test_while_loop():
    xs = np.array([1, 2, 3, 6, 7, 27, 97], np.int64)
    out = np.zeros_like(xs)
    for i in range(len(xs)):
        collatz_kernel[(1,)](xs, out, i)

    def steps(v):
        s = 0
        while v != 1:
            v = v // 2 if v % 2 == 0 else 3 * v + 1
            s += 1
        return s
    np.testing.assert_array_equal(out, [steps(int(v)) for v in xs])


@triton.jit
def nested_kernel(out_ptr, a, b, step):
    total = 0
    for i in range(a, b, step):
        for j in range(0, i):
            total += i * j
    for i in range(b, a, -step):  # negative step
        total -= i
    tl.store(out_ptr, total)


@pytest.mark.parametrize("a,b,step", [(0, 10, 1), (3, 20, 4), (5, 5, 1), (-4, 7, 3)])
def test_nested_loops_and_negative_step(a, b, step):
    out = np.zeros(1, np.int64)
    nested_kernel[(1,)](out, a, b, step)
    total = sum(i * j for i in range(a, b, step) for j in range(0, i)) - sum(range(b, a, -step))
    assert out[0] == total


@triton.jit
def swap_kernel(out_ptr, n):
    a = 1
    b = 2
    for _ in range(n):
        a, b = b, a + b
    tl.store(out_ptr, a)
    tl.store(out_ptr + 1, b)


def test_yield_is_simultaneous():
    out = np.zeros(2, np.int32)
    swap_kernel[(1,)](out, 10)
    a, b = 1, 2
    for _ in range(10):
        a, b = b, a + b
    assert list(out) == [a, b]
