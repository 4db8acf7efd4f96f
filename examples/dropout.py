"""Low-memory dropout: the fourth Triton tutorial's idea, run on triton-metal.

Dropout zeroes each element with probability p and scales the survivors by
1 / (1 - p). Instead of storing the random keep-mask for the backward pass,
the kernel regenerates it from a seed: tl.rand(seed, offsets) is a pure
function of (seed, offset) (Philox), so the same seed gives the same mask on
any launch, block size or device.

    python examples/dropout.py
"""
import numpy as np

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def seeded_dropout_kernel(x_ptr, out_ptr, n_elements, p, seed, BLOCK_SIZE: tl.constexpr):
    pid = tl.program_id(axis=0)
    offsets = pid * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_elements
    x = tl.load(x_ptr + offsets, mask=mask)
    keep = tl.rand(seed, offsets) > p
    out = tl.where(keep, x / (1 - p), 0.0)
    tl.store(out_ptr + offsets, out, mask=mask)


def seeded_dropout(x: np.ndarray, p: float, seed: int, block: int = 1024) -> np.ndarray:
    out = np.empty_like(x)
    n = x.size
    grid = (triton.cdiv(n, block),)
    seeded_dropout_kernel[grid](x, out, n, p, seed, BLOCK_SIZE=block)
    return out


# ---------------------------------------------------------------- NumPy check


def philox_first_word(seed: int, offsets: np.ndarray) -> np.ndarray:
    """First output word of Philox-4x32-10 for counter (offset, 0, 0, 0) and
    key (low, high word of the seed): what tl.randint returns."""
    m32, s32 = np.uint64(0xFFFFFFFF), np.uint64(32)
    seed &= (1 << 64) - 1
    k0, k1 = seed & 0xFFFFFFFF, seed >> 32
    c0 = offsets.astype(np.uint32).astype(np.uint64)
    c1 = c2 = c3 = np.zeros_like(c0)
    for _ in range(10):
        pa = np.uint64(0xD2511F53) * c0
        pb = np.uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = (pb >> s32) ^ c1 ^ np.uint64(k0), pb & m32, (pa >> s32) ^ c3 ^ np.uint64(k1), pa & m32
        k0, k1 = (k0 + 0x9E3779B9) & 0xFFFFFFFF, (k1 + 0xBB67AE85) & 0xFFFFFFFF
    return c0.astype(np.uint32)


def rand_reference(seed: int, n: int) -> np.ndarray:
    """tl.rand: the bits read as int32, negatives folded with -x - 1, scaled into [0, 1)."""
    s = philox_first_word(seed, np.arange(n)).view(np.int32).astype(np.int64)
    s = np.where(s < 0, -s - 1, s)
    return s.astype(np.float32) * np.float32(4.6566127342e-10)


def dropout_reference(x: np.ndarray, p: float, seed: int) -> np.ndarray:
    p32 = np.float32(p)
    keep = rand_reference(seed, x.size) > p32
    return np.where(keep, x / (np.float32(1) - p32), np.float32(0)).astype(np.float32)


def main(n: int = 1_000_003) -> bool:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(n, dtype=np.float32)
    p = 0.3
    out = seeded_dropout(x, p, seed=123)
    ok = np.array_equal(out, dropout_reference(x, p, seed=123))
    # the mask is a function of the seed alone: another block size gives the
    # same result, another seed a different one
    ok &= np.array_equal(out, seeded_dropout(x, p, seed=123, block=256))
    other = seeded_dropout(x, p, seed=512)
    ok &= not np.array_equal(out == 0, other == 0)
    kept = np.count_nonzero(out) / n
    ok &= abs(kept - (1 - p)) < 0.005
    print(f"seeded dropout of {n} float32 (p={p}, kept {kept:.4f}): "
          f"{'matches' if ok else 'DOES NOT MATCH'} NumPy")
    return bool(ok)


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
