# The part of triton.language written in the kernel language itself.
#
# The compiler embeds this file and compiles a function from it when a kernel
# calls tl.<name> and the compiler has no built-in lowering for <name>. It is
# compiled exactly like user @jit code, so everything here must stay inside
# the kernel subset. Names resolve only against this module (and Python
# builtins), never against the user's globals.
import triton.language as tl


def sigmoid(x):
    return 1 / (1 + tl.exp(-x))


def softmax(x, dim=None, keep_dims=False, ieee_rounding: tl.constexpr = False):
    if dim is None:
        d = 0
    else:
        d = dim
    z = x - tl.max(x, d, keep_dims=True)
    num = tl.exp(z)
    den = tl.sum(num, d, keep_dims=True)
    return num / den



def swizzle2d(i, j, size_i, size_j, size_g):
    # Renumbers a row-major size_i x size_j grid so that, within each band of
    # size_g rows, consecutive indices run down the columns (the grouped
    # launch order of a matmul: neighbouring programs share tiles of A and B).
    # The last band may have fewer rows. size_i = size_j = 4, size_g = 2:
    #
    #   0  1  2  3        0  2  4  6
    #   4  5  6  7   ->   1  3  5  7
    #   8  9 10 11        8 10 12 14
    #  12 13 14 15        9 11 13 15
    ij = i * size_j + j
    band = size_g * size_j
    off_i = (ij // band) * size_g
    rows = tl.minimum(size_i - off_i, size_g)
    ij = ij % band
    return off_i + ij % rows, ij // rows

# ---------------------------------------------------------------- random
#
# Counter-based random numbers: Philox-4x32 (Salmon, Moraes, Dror, Shaw,
# "Parallel random numbers: as easy as 1, 2, 3", SC 2011), bit-identical to
# upstream Triton's language/random.py for the same seed and offsets. Each
# round multiplies two of the four 32-bit counter words by fixed odd
# constants, keeps both halves of the 64-bit products and mixes them with the
# other two words and the key; the key is bumped by the Weyl constants
# (golden ratio and sqrt(3) - 1, in 32-bit fixed point) between rounds.

# Philox-4x32 constants: round multipliers and key increments.
PHILOX_ROUND_A = 0xD2511F53
PHILOX_ROUND_B = 0xCD9E8D57
PHILOX_KEY_A = 0x9E3779B9
PHILOX_KEY_B = 0xBB67AE85
N_ROUNDS_DEFAULT = 10


def _u64(hi, lo):
    # A uint64 constant from its two 32-bit halves (a literal of 2**63 or more
    # does not fit the kernel language's int).
    return (tl.cast(hi, tl.uint64) << 32) | lo


def philox_impl(c0, c1, c2, c3, k0, k1, n_rounds: tl.constexpr = N_ROUNDS_DEFAULT):
    # Counter words c0..c3 and key words k0, k1 are all uint32 (Philox-4x32)
    # or all uint64 (Philox-4x64); products and sums wrap.
    if c0.dtype == tl.uint32:
        round_a = PHILOX_ROUND_A
        round_b = PHILOX_ROUND_B
        key_a = PHILOX_KEY_A
        key_b = PHILOX_KEY_B
    else:
        tl.static_assert(c0.dtype == tl.uint64, "philox_impl: counters must be uint32 or uint64")
        round_a = _u64(0xD2E7470E, 0xE14C6C93)
        round_b = _u64(0xCA5A8263, 0x95121157)
        key_a = _u64(0x9E3779B9, 0x7F4A7C15)
        key_b = _u64(0xBB67AE85, 0x84CAA73B)
    for _ in tl.static_range(n_rounds):
        hi_b = tl.umulhi(round_b, c2)
        hi_a = tl.umulhi(round_a, c0)
        lo_b = c2 * round_b
        lo_a = c0 * round_a
        c0 = hi_b ^ c1 ^ k0
        c1 = lo_b
        c2 = hi_a ^ c3 ^ k1
        c3 = lo_a
        k0 = k0 + key_a
        k1 = k1 + key_b
    return c0, c1, c2, c3


def philox(seed, c0, c1, c2, c3, n_rounds: tl.constexpr = N_ROUNDS_DEFAULT):
    # The seed becomes a uint64 (an int32 seed sign-extends first; tl.cast
    # also takes a seed that arrived as a compile-time int, as a launch
    # argument equal to 1 does). With 32-bit counters it is split into the
    # key words k0 = low half, k1 = high half; with 64-bit counters it is k0
    # whole and k1 = 0. The counters are reinterpreted as unsigned.
    seed = tl.cast(seed, tl.uint64)
    if c0.dtype.primitive_bitwidth == 32:
        udt = tl.uint32
        seed_lo = (seed & 0xFFFFFFFF).to(tl.uint32)
        seed_hi = ((seed >> 32) & 0xFFFFFFFF).to(tl.uint32)
    else:
        tl.static_assert(c0.dtype.primitive_bitwidth == 64, "philox: counters must be 32- or 64-bit")
        udt = tl.uint64
        seed_lo = seed
        seed_hi = tl.cast(0, tl.uint64)
    c0 = c0.to(udt, bitcast=True)
    c1 = c1.to(udt, bitcast=True)
    c2 = c2.to(udt, bitcast=True)
    c3 = c3.to(udt, bitcast=True)
    return philox_impl(c0, c1, c2, c3, seed_lo, seed_hi, n_rounds)


def randint4x(seed, offset, n_rounds: tl.constexpr = N_ROUNDS_DEFAULT):
    # Counter = (offset low word, offset high word, 0, 0).
    lo = offset.to(tl.uint32)
    zero = lo * 0
    if offset.dtype.primitive_bitwidth > 32:
        hi = (offset >> 32).to(tl.uint32)
    else:
        hi = zero
    return philox(seed, lo, hi, zero, zero, n_rounds)


def randint(seed, offset, n_rounds: tl.constexpr = N_ROUNDS_DEFAULT):
    r, _, _, _ = randint4x(seed, offset, n_rounds)
    return r


def uint_to_uniform_float(x):
    # Read the bits as signed, fold the negative half onto the positive one
    # (-x - 1 maps [-2**(N-1), -1] onto [0, 2**(N-1) - 1]) and scale by the
    # largest float s with (2**(N-1) - 1) * s < 1 after float32 rounding, so
    # the result lies in [0, 1).
    if x.dtype == tl.uint32 or x.dtype == tl.int32:
        x = x.to(tl.int32, bitcast=True)
        scale = 4.6566127342e-10
    else:
        tl.static_assert(x.dtype == tl.uint64 or x.dtype == tl.int64,
                         "uint_to_uniform_float: needs a 32- or 64-bit integer")
        x = x.to(tl.int64, bitcast=True)
        scale = 1.0842020432385337e-19
    x = tl.where(x < 0, -x - 1, x)
    return x * scale


def rand(seed, offset, n_rounds: tl.constexpr = N_ROUNDS_DEFAULT):
    return uint_to_uniform_float(randint(seed, offset, n_rounds))


def rand4x(seed, offsets, n_rounds: tl.constexpr = N_ROUNDS_DEFAULT):
    i1, i2, i3, i4 = randint4x(seed, offsets, n_rounds)
    return (uint_to_uniform_float(i1), uint_to_uniform_float(i2), uint_to_uniform_float(i3),
            uint_to_uniform_float(i4))


def pair_uniform_to_normal(u1, u2):
    # Box-Muller: two independent U(0, 1) give two independent N(0, 1).
    # u1 is kept away from 0 so the log stays finite.
    u1 = tl.maximum(1.0e-7, u1)
    th = 6.283185307179586 * u2
    r = tl.sqrt(-2.0 * tl.log(u1))
    return r * tl.cos(th), r * tl.sin(th)


def randn(seed, offset, n_rounds: tl.constexpr = N_ROUNDS_DEFAULT):
    i1, i2, _, _ = randint4x(seed, offset, n_rounds)
    n1, _ = pair_uniform_to_normal(uint_to_uniform_float(i1), uint_to_uniform_float(i2))
    return n1


def randn4x(seed, offset, n_rounds: tl.constexpr = N_ROUNDS_DEFAULT):
    u1, u2, u3, u4 = rand4x(seed, offset, n_rounds)
    n1, n2 = pair_uniform_to_normal(u1, u2)
    n3, n4 = pair_uniform_to_normal(u3, u4)
    return n1, n2, n3, n4
