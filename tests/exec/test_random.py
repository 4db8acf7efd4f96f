"""Executable tests of tl.random (src/stdlib.py): Philox, randint, rand, randn.

The reference is our own NumPy implementation of Philox-4xW-R (Salmon, Moraes,
Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011), itself
checked against the published known-answer vectors of Random123, plus the
conversions upstream Triton applies on top of it (uint -> [0, 1) float,
Box-Muller). Integer and uniform float results must match bit for bit;
normals go through log/cos/sin, where only the rounding of those functions
may differ (see test_randn_matches_reference)."""
import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from exec_data import ON_CUDA_DEVICE

# ---------------------------------------------------------------- reference

# (bits, round multipliers A, B, key increments A, B)
PHILOX = {
    32: (0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85),
    64: (0xD2E7470EE14C6C93, 0xCA5A826395121157, 0x9E3779B97F4A7C15, 0xBB67AE8584CAA73B),
}


def _mulhilo(a, x, bits):
    """(high, low) words of a * x, x an array of uint64 holding `bits`-bit words."""
    if bits == 32:
        p = np.uint64(a) * x  # exact: both factors < 2**32
        return p >> np.uint64(32), p & np.uint64(0xFFFFFFFF)
    # 64x64 -> 128 from 32-bit limbs, all partial products exact in uint64
    m32 = np.uint64(0xFFFFFFFF)
    s32 = np.uint64(32)
    a_lo, a_hi = np.uint64(a & 0xFFFFFFFF), np.uint64(a >> 32)
    x_lo, x_hi = x & m32, x >> s32
    ll, lh, hl, hh = a_lo * x_lo, a_lo * x_hi, a_hi * x_lo, a_hi * x_hi
    mid = (ll >> s32) + (lh & m32) + (hl & m32)
    lo = (ll & m32) | ((mid & m32) << s32)
    hi = hh + (lh >> s32) + (hl >> s32) + (mid >> s32)
    return hi, lo


def philox_ref(c, k, bits=32, rounds=10):
    """Philox-4x`bits`-`rounds` of counters c = (c0, c1, c2, c3) (arrays)
    under key k = (k0, k1); returns four uint32 or uint64 arrays."""
    mask = (1 << bits) - 1
    mul_a, mul_b, key_a, key_b = PHILOX[bits]
    c = [np.asarray(np.asarray(w, dtype=object) & mask, dtype=np.uint64) for w in c]
    c = np.broadcast_arrays(*c)
    k0, k1 = k[0] & mask, k[1] & mask
    with np.errstate(over="ignore"):
        for _ in range(rounds):
            hi_a, lo_a = _mulhilo(mul_a, c[0], bits)
            hi_b, lo_b = _mulhilo(mul_b, c[2], bits)
            c = [hi_b ^ c[1] ^ np.uint64(k0), lo_b, hi_a ^ c[3] ^ np.uint64(k1), lo_a]
            k0, k1 = (k0 + key_a) & mask, (k1 + key_b) & mask
    dt = np.uint32 if bits == 32 else np.uint64
    return [w.astype(dt) for w in c]


def randint4x_ref(seed, offsets, rounds=10):
    """Upstream's counter and key layout: counter (offset, 0, 0, 0) in the
    offset's width. 32-bit offsets: Philox-4x32 with key (seed low word, seed
    high word); 64-bit offsets: Philox-4x64 with key (seed, 0). The seed is
    taken as a two's-complement 64-bit integer."""
    seed &= (1 << 64) - 1
    offsets = np.asarray(offsets)
    if offsets.dtype.itemsize <= 4:
        off = offsets.astype(np.int64).view(np.uint64) & np.uint64(0xFFFFFFFF)
        return philox_ref((off, 0, 0, 0), (seed & 0xFFFFFFFF, seed >> 32), 32, rounds)
    off = offsets.astype(np.int64).view(np.uint64)
    return philox_ref((off, 0, 0, 0), (seed, 0), 64, rounds)


def uniform_ref(x):
    """uint -> float32 in [0, 1): read as signed, fold negatives with -x - 1,
    convert (rounding to nearest) and scale by the largest float32 that keeps
    the maximum below 1."""
    if x.dtype.itemsize == 4:
        s, scale = x.view(np.int32), np.float32(4.6566127342e-10)
    else:
        s, scale = x.view(np.int64), np.float32(1.0842020432385337e-19)
    s = np.where(s < 0, -(s + 1), s)  # -x - 1 without overflow at the minimum
    return s.astype(np.float32) * scale


def normal_ref(u1, u2):
    """Box-Muller in float32 as upstream writes it; each float32 operation
    rounded once (log/sqrt/cos/sin evaluated in float64 and rounded)."""
    f32 = np.float32
    u1 = np.maximum(f32(1.0e-7), u1)
    th = f32(6.283185307179586) * u2
    r = np.sqrt((f32(-2.0) * np.log(u1.astype(np.float64)).astype(f32)).astype(np.float64)).astype(f32)
    c = np.cos(th.astype(np.float64)).astype(f32)
    s = np.sin(th.astype(np.float64)).astype(f32)
    return r * c, r * s, r


# Known-answer vectors from Random123 (kat_vectors): counter, key, output.
KAT = [
    (32, [0] * 4, [0] * 2, [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    (32, [0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    (32, [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
     [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
    (64, [0] * 4, [0] * 2, [0x16554D9ECA36314C, 0xDB20FE9D672D0FDC, 0xD7E772CEE186176B, 0x7E68B68AEC7BA23B]),
    (64, [(1 << 64) - 1] * 4, [(1 << 64) - 1] * 2,
     [0x87B092C3013FE90B, 0x438C3C67BE8D0224, 0x9CC7D7C69CD777B6, 0xA09CAEBF594F0BA0]),
    (64, [0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0, 0x082EFA98EC4E6C89],
     [0x452821E638D01377, 0xBE5466CF34E90C6C],
     [0xA528F45403E61D95, 0x38C72DBD566E9788, 0xA5A1610E72FD18B5, 0x57BD43B5E52B7FE6]),
]


@pytest.mark.parametrize("bits,ctr,key,want", KAT)
def test_reference_known_answers(bits, ctr, key, want):
    got = philox_ref([np.array([w], dtype=object) for w in ctr], key, bits)
    assert [int(w[0]) for w in got] == want


# ---------------------------------------------------------------- kernels


@triton.jit
def philox_impl_kernel(c_ptr, k_ptr, out_ptr, N_ROUNDS: tl.constexpr):
    i = tl.arange(0, 4)
    c0 = tl.load(c_ptr + i * 4 + 0)
    c1 = tl.load(c_ptr + i * 4 + 1)
    c2 = tl.load(c_ptr + i * 4 + 2)
    c3 = tl.load(c_ptr + i * 4 + 3)
    k0 = tl.load(k_ptr + i * 2 + 0)
    k1 = tl.load(k_ptr + i * 2 + 1)
    r0, r1, r2, r3 = tl.philox_impl(c0, c1, c2, c3, k0, k1, N_ROUNDS)
    tl.store(out_ptr + i * 4 + 0, r0)
    tl.store(out_ptr + i * 4 + 1, r1)
    tl.store(out_ptr + i * 4 + 2, r2)
    tl.store(out_ptr + i * 4 + 3, r3)


@pytest.mark.parametrize("bits", [32, 64])
def test_philox_impl_known_answers(bits):
    """The kernel language's Philox against the published vectors directly
    (all three vectors of a width in one launch, plus one repeated)."""
    kats = [k for k in KAT if k[0] == bits]
    kats.append(kats[-1])
    dt = np.uint32 if bits == 32 else np.uint64
    c = np.array([k[1] for k in kats], dtype=dt)
    key = np.array([k[2] for k in kats], dtype=dt)
    out = np.zeros((4, 4), dtype=dt)
    philox_impl_kernel[(1,)](c, key, out, N_ROUNDS=10)
    np.testing.assert_array_equal(out, np.array([k[3] for k in kats], dtype=dt))


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("rounds", [1, 7, 10])
def test_philox_impl_random(bits, rounds, rng):
    dt = np.uint32 if bits == 32 else np.uint64
    c = rng.integers(0, 1 << bits, size=(4, 4), dtype=np.uint64).astype(dt)
    key = rng.integers(0, 1 << bits, size=(4, 2), dtype=np.uint64).astype(dt)
    out = np.zeros((4, 4), dtype=dt)
    philox_impl_kernel[(1,)](c, key, out, N_ROUNDS=rounds)
    for i in range(4):
        ref = philox_ref([c[i, j:j + 1] for j in range(4)], (int(key[i, 0]), int(key[i, 1])), bits, rounds)
        np.testing.assert_array_equal(out[i], np.concatenate(ref))


@triton.jit
def philox_kernel(seed, c_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    c0 = tl.load(c_ptr + offs * 4 + 0, mask=m)
    c1 = tl.load(c_ptr + offs * 4 + 1, mask=m)
    c2 = tl.load(c_ptr + offs * 4 + 2, mask=m)
    c3 = tl.load(c_ptr + offs * 4 + 3, mask=m)
    r0, r1, r2, r3 = tl.philox(seed, c0, c1, c2, c3)
    tl.store(out_ptr + offs * 4 + 0, r0, mask=m)
    tl.store(out_ptr + offs * 4 + 1, r1, mask=m)
    tl.store(out_ptr + offs * 4 + 2, r2, mask=m)
    tl.store(out_ptr + offs * 4 + 3, r3, mask=m)


@pytest.mark.parametrize("dtype", [np.int32, np.uint32, np.int64, np.uint64])
@pytest.mark.parametrize("seed", [0, 7, -3, 0xCAFEF00D, 0x0000000FCAFEB0BA, -2**63])
def test_philox_seed_and_counter_width(dtype, seed, rng):
    """tl.philox: a 32-bit counter type keys Philox-4x32 with the seed's two
    words; a 64-bit one keys Philox-4x64 with (seed, 0). Signed counters are
    reinterpreted as unsigned."""
    n = 100
    info = np.iinfo(dtype)
    c = rng.integers(info.min, info.max, size=(n, 4), dtype=dtype, endpoint=True)
    out = np.zeros((n, 4), dtype=dtype)
    philox_kernel[(triton.cdiv(n, 64),)](seed, c, out, n, BLOCK=64)
    bits = 8 * np.dtype(dtype).itemsize
    u = c.view(np.uint32 if bits == 32 else np.uint64)
    s = seed & ((1 << 64) - 1)
    key = (s & 0xFFFFFFFF, s >> 32) if bits == 32 else (s, 0)
    ref = philox_ref([u[:, j] for j in range(4)], key, bits)
    np.testing.assert_array_equal(out.view(ref[0].dtype), np.stack(ref, axis=1))


@triton.jit
def randint_kernel(seed, out_ptr, n, base, BLOCK: tl.constexpr, N_ROUNDS: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    r = tl.randint(seed, base + offs, N_ROUNDS)
    tl.store(out_ptr + offs, r, mask=m)


@triton.jit
def randint4x_kernel(seed, out_ptr, n, base, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    r0, r1, r2, r3 = tl.randint4x(seed, base + offs)
    tl.store(out_ptr + offs, r0, mask=m)
    tl.store(out_ptr + n + offs, r1, mask=m)
    tl.store(out_ptr + 2 * n + offs, r2, mask=m)
    tl.store(out_ptr + 3 * n + offs, r3, mask=m)


# 1 is specialized to a compile-time int; 0xFFFFFFFF and larger are int64
# arguments; negative seeds sign-extend to the 64-bit key.
SEEDS = [0, 1, 42, 124, -1, -123456789, 0xFFFFFFFF, 0x0000000FCAFEB0BA, 2**63 - 1, -2**63]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [1, 7, 1000, 4099])
def test_randint_bits(seed, n):
    out = np.full(n + 3, 0xDEADBEEF, dtype=np.uint32)  # a tail the kernel must not touch
    randint_kernel[(triton.cdiv(n, 128),)](seed, out, n, 0, BLOCK=128, N_ROUNDS=10)
    ref = randint4x_ref(seed, np.arange(n, dtype=np.int32))[0]
    np.testing.assert_array_equal(out[:n], ref)
    assert (out[n:] == 0xDEADBEEF).all()


@pytest.mark.parametrize("base", [-2**31, -5000, 2**31 - 3000])
@pytest.mark.parametrize("rounds", [3, 10])
def test_randint_int32_offsets_and_rounds(base, rounds):
    """int32 offsets (negative ones reinterpret as uint32) and n_rounds."""
    n = 2000
    out = np.zeros(n, dtype=np.int32)
    randint_kernel[(triton.cdiv(n, 256),)](12345, out, n, base, BLOCK=256, N_ROUNDS=rounds)
    offs = (np.int64(base) + np.arange(n)).astype(np.int32)
    np.testing.assert_array_equal(out.view(np.uint32), randint4x_ref(12345, offs, rounds)[0])


@pytest.mark.parametrize("base", [2**32 - 700, 2**40 + 3, -2**35, 2**62])
def test_randint_int64_offsets(base):
    """int64 offsets run Philox-4x64 and give 64-bit words (upstream's
    test_random checks them against NumPy's Philox)."""
    n = 1500
    out = np.zeros(n, dtype=np.uint64)
    randint_kernel[(triton.cdiv(n, 128),)](-77, out, n, base, BLOCK=128, N_ROUNDS=10)
    offs = np.int64(base) + np.arange(n, dtype=np.int64)
    np.testing.assert_array_equal(out, randint4x_ref(-77, offs)[0])


@pytest.mark.parametrize("seed", [0, 1, -9, 0x0000000FCAFEB0BA])
@pytest.mark.parametrize("base", [0, 2**33 + 11])
def test_randint4x_bits(seed, base):
    n = 1025
    offs = np.int64(base) + np.arange(n, dtype=np.int64)
    if base < 2**31:
        offs = offs.astype(np.int32)
    out = np.zeros(4 * n, dtype=np.uint32 if offs.dtype == np.int32 else np.uint64)
    randint4x_kernel[(triton.cdiv(n, 128),)](seed, out, n, base, BLOCK=128)
    ref = randint4x_ref(seed, offs)
    np.testing.assert_array_equal(out.reshape(4, n), np.stack(ref))


@triton.jit
def const_seed_kernel(out_ptr, n, SEED: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.randint(SEED, offs), mask=offs < n)


@pytest.mark.parametrize("seed", [0, 5, -5, 0x0000000FCAFEB0BA])
def test_randint_constexpr_seed(seed):
    n = 300
    out = np.zeros(n, dtype=np.uint32)
    const_seed_kernel[(triton.cdiv(n, 128),)](out, n, SEED=seed, BLOCK=128)
    np.testing.assert_array_equal(out, randint4x_ref(seed, np.arange(n, dtype=np.int32))[0])


@triton.jit
def rand_kernel(seed, out_ptr, n, base, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.rand(seed, base + offs), mask=offs < n)


@triton.jit
def rand4x_kernel(seed, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    u0, u1, u2, u3 = tl.rand4x(seed, offs)
    tl.store(out_ptr + offs, u0, mask=m)
    tl.store(out_ptr + n + offs, u1, mask=m)
    tl.store(out_ptr + 2 * n + offs, u2, mask=m)
    tl.store(out_ptr + 3 * n + offs, u3, mask=m)


@pytest.mark.parametrize("seed", [0, 1, -1, 2024, 0x0000000FCAFEB0BA])
@pytest.mark.parametrize("n", [7, 1000, 4099])
def test_rand_bits(seed, n):
    out = np.full(n + 2, -1.0, dtype=np.float32)
    rand_kernel[(triton.cdiv(n, 256),)](seed, out, n, 0, BLOCK=256)
    ref = uniform_ref(randint4x_ref(seed, np.arange(n, dtype=np.int32))[0])
    np.testing.assert_array_equal(out[:n].view(np.uint32), ref.view(np.uint32))
    assert (out[:n] >= 0).all() and (out[:n] < 1).all()
    assert (out[n:] == -1.0).all()


def test_rand_int64_offsets():
    n = 777
    base = 3 * 2**32 - 100
    out = np.zeros(n, dtype=np.float32)
    rand_kernel[(triton.cdiv(n, 128),)](99, out, n, base, BLOCK=128)
    ref = uniform_ref(randint4x_ref(99, np.int64(base) + np.arange(n, dtype=np.int64))[0])
    np.testing.assert_array_equal(out.view(np.uint32), ref.view(np.uint32))


@pytest.mark.parametrize("seed", [3, -42])
def test_rand4x_bits(seed):
    n = 1031
    out = np.zeros(4 * n, dtype=np.float32)
    rand4x_kernel[(triton.cdiv(n, 128),)](seed, out, n, BLOCK=128)
    ref = np.stack([uniform_ref(w) for w in randint4x_ref(seed, np.arange(n, dtype=np.int32))])
    np.testing.assert_array_equal(out.reshape(4, n).view(np.uint32), ref.view(np.uint32))


@triton.jit
def uniform_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m)
    tl.store(out_ptr + offs, tl.uint_to_uniform_float(x), mask=m)


@pytest.mark.parametrize("dtype", [np.uint32, np.int32, np.uint64, np.int64])
def test_uint_to_uniform_float(dtype, rng):
    """The conversion on its own, including the extremes that decide whether
    1.0 can come out: 0, the signed maximum and minimum, all ones."""
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, size=3000, dtype=dtype, endpoint=True)
    bits = 8 * np.dtype(dtype).itemsize
    edges = [0, 1, 2**(bits - 1) - 1, 2**(bits - 1), 2**(bits - 1) + 1, 2**bits - 2, 2**bits - 1]
    u = np.array(edges, dtype=np.uint64 if bits == 64 else np.uint32)
    x[:len(edges)] = u.view(dtype)
    out = np.zeros(x.size, dtype=np.float32)
    uniform_kernel[(triton.cdiv(x.size, 256),)](x, out, x.size, BLOCK=256)
    ref = uniform_ref(x.view(u.dtype))
    np.testing.assert_array_equal(out.view(np.uint32), ref.view(np.uint32))
    assert out.max() < 1.0 and out.min() == 0.0


@triton.jit
def randn_kernel(seed, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.randn(seed, offs), mask=offs < n)


@triton.jit
def randn4x_kernel(seed, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    r0, r1, r2, r3 = tl.randn4x(seed, offs)
    tl.store(out_ptr + offs, r0, mask=m)
    tl.store(out_ptr + n + offs, r1, mask=m)
    tl.store(out_ptr + 2 * n + offs, r2, mask=m)
    tl.store(out_ptr + 3 * n + offs, r3, mask=m)


def _assert_normals_close(got, ref, r):
    """Tolerance for Box-Muller outputs. log, cos and sin are the device's
    precise:: functions: on the CPU emulator host libm (glibc: within 1 ulp,
    usually correctly rounded), on an Apple GPU Metal's own implementation,
    which may be an ulp or so further from the correctly rounded result than
    our float64 reference. Each output is r * cos(th) or r * sin(th) with r a
    few ulp-accurate function of log(u1), so we allow 4 ulp of the result
    plus 2 ulp of r (the absolute error that cos/sin near 0 contribute)."""
    tol = 4 * np.spacing(np.abs(ref)) + 2 * np.spacing(r)
    bad = np.abs(got.astype(np.float64) - ref) > tol
    assert not bad.any(), f"{bad.sum()} outside tolerance, e.g. got {got[bad][:4]} want {ref[bad][:4]}"
    return np.mean(got == ref)


@pytest.mark.parametrize("seed", [0, 1, -1, 0x0000000FCAFEB0BA])
@pytest.mark.parametrize("n", [7, 4099])
def test_randn_matches_reference(seed, n):
    out = np.full(n + 2, 1234.0, dtype=np.float32)
    randn_kernel[(triton.cdiv(n, 256),)](seed, out, n, BLOCK=256)
    i = randint4x_ref(seed, np.arange(n, dtype=np.int32))
    n1, _, r = normal_ref(uniform_ref(i[0]), uniform_ref(i[1]))
    exact = _assert_normals_close(out[:n], n1, r)
    if n > 1000 and not ON_CUDA_DEVICE:
        assert exact > 0.9  # host libm: nearly all correctly rounded (CUDA's logf / cosf: 79%, within the bound above)
    assert (out[n:] == 1234.0).all()


def test_randn4x_matches_reference():
    n = 2049
    out = np.zeros(4 * n, dtype=np.float32)
    randn4x_kernel[(triton.cdiv(n, 128),)](-31337, out, n, BLOCK=128)
    u = [uniform_ref(w) for w in randint4x_ref(-31337, np.arange(n, dtype=np.int32))]
    n1, n2, r12 = normal_ref(u[0], u[1])
    n3, n4, r34 = normal_ref(u[2], u[3])
    got = out.reshape(4, n)
    for g, want, r in [(got[0], n1, r12), (got[1], n2, r12), (got[2], n3, r34), (got[3], n4, r34)]:
        _assert_normals_close(g, want, r)


def test_statistics():
    """A second, reference-free check: moments of 2**20 draws, each bit of
    randint set half the time, and randn's pairs uncorrelated."""
    n = 1 << 20
    seed = 0x5EED
    bits = np.zeros(n, dtype=np.uint32)
    randint_kernel[(n // 1024,)](seed, bits, n, 0, BLOCK=1024, N_ROUNDS=10)
    freq = np.unpackbits(bits.view(np.uint8)).reshape(n, 32).mean(axis=0)
    assert np.all(np.abs(freq - 0.5) < 5 * 0.5 / np.sqrt(n))
    u = np.zeros(n, dtype=np.float32)
    rand_kernel[(n // 1024,)](seed, u, n, 0, BLOCK=1024)
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / n)
    assert np.histogram(u, bins=16, range=(0, 1))[0].min() > n / 16 * 0.98
    z = np.zeros(4 * (n // 4), dtype=np.float32)
    randn4x_kernel[(n // 4 // 1024,)](seed, z, n // 4, BLOCK=1024)
    assert abs(z.mean()) < 5 / np.sqrt(z.size)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / z.size)
    z = z.reshape(4, -1)
    assert abs(np.corrcoef(z[0], z[1])[0, 1]) < 5 / np.sqrt(z.shape[1])
    assert abs(np.mean(z ** 4) - 3) < 0.05  # kurtosis of a normal


@triton.jit
def two_seeds_kernel(seed_ptr, out_ptr, BLOCK: tl.constexpr):
    """The seed may also be a device value (loaded, not an argument)."""
    offs = tl.arange(0, BLOCK)
    seed = tl.load(seed_ptr + tl.program_id(0))
    tl.store(out_ptr + tl.program_id(0) * BLOCK + offs, tl.randint(seed, offs))


def test_loaded_seed_and_distinct_streams():
    seeds = np.array([0, 1, -1, 2**40 + 1], dtype=np.int64)
    out = np.zeros((4, 64), dtype=np.uint32)
    two_seeds_kernel[(4,)](seeds, out, BLOCK=64)
    for i, s in enumerate(seeds):
        np.testing.assert_array_equal(out[i], randint4x_ref(int(s), np.arange(64, dtype=np.int32))[0])
    assert len({bytes(r) for r in out}) == 4


def test_uint_to_uniform_float_rejects_floats():
    x = np.zeros(16, np.float32)
    with pytest.raises(triton.CompilationError, match="32- or 64-bit integer"):
        uniform_kernel[(1,)](x, x, 16, BLOCK=16)


@triton.jit
def seed_kernel(x_ptr, seed):
    offs = tl.arange(0, 16)
    tl.store(x_ptr + offs, tl.rand(seed, offs))


@pytest.mark.parametrize("seed", [2.5, np.zeros(1, np.int32)], ids=["float", "pointer"])
def test_seed_must_be_an_integer(seed):
    """As upstream: a float or pointer seed is a compile error, never a cast."""
    x = np.zeros(16, np.float32)
    with pytest.raises(triton.CompilationError, match="seed must be an integer"):
        seed_kernel[(1,)](x, seed)
    assert (x == 0).all()
