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
        lo_b = tl.mul(c2, round_b, sanitize_overflow=False)  # the low halves: they wrap by design
        lo_a = tl.mul(c0, round_a, sanitize_overflow=False)
        c0 = hi_b ^ c1 ^ k0
        c1 = lo_b
        c2 = hi_a ^ c3 ^ k1
        c3 = lo_a
        k0 = tl.add(k0, key_a, sanitize_overflow=False)
        k1 = tl.add(k1, key_b, sanitize_overflow=False)
    return c0, c1, c2, c3


def philox(seed, c0, c1, c2, c3, n_rounds: tl.constexpr = N_ROUNDS_DEFAULT):
    # The seed becomes a uint64 (an int32 seed sign-extends first; tl.cast
    # also takes a seed that arrived as a compile-time int, as a launch
    # argument equal to 1 does). With 32-bit counters it is split into the
    # key words k0 = low half, k1 = high half; with 64-bit counters it is k0
    # whole and k1 = 0. The counters are reinterpreted as unsigned.
    tl.static_assert(tl.to_tensor(seed).dtype.is_int(), "philox: the seed must be an integer")
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
    # Counter = (offset, 0, 0, 0) in the offset's width: 32-bit offsets take
    # Philox-4x32 and give uint32 words, 64-bit offsets Philox-4x64 and give
    # uint64 words (as upstream; NumPy's Philox is the 4x64 one).
    zero = offset * 0
    return philox(seed, offset, zero, zero, zero, n_rounds)


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

# ---------------------------------------------------------------- histogram
#
# Upstream lowers tl.histogram to its own op; here it is a one-hot count:
# compare every element with every bin (an n x num_bins block of booleans)
# and sum the columns. That costs n * num_bins compares and a reduction over
# n, and holds an n x num_bins int32 block, which is fine for the block sizes
# kernels use (a 1024-element block into 64 bins is 64K lanes of work); a
# kernel that needs thousands of bins should count with atomics instead.


def histogram(input, num_bins, mask=None):
    # Bins of width 1 starting at 0: out[b] = number of unmasked lanes equal
    # to b. Values outside [0, num_bins) (negative ones included) match no bin
    # and are not counted. The result is int32 of shape [num_bins].
    tl.static_assert(len(input.shape) == 1, "histogram: input must be 1-D")
    tl.static_assert(input.dtype.is_int(), "histogram: input must be integers")
    hit = input[:, None] == tl.arange(0, num_bins)[None, :]
    # (`mask is not None` is refused on a device value here; comparing a
    # block with None by == is decided at compile time.)
    if mask != None:  # noqa: E711
        m = tl.broadcast_to(mask, input.shape)
        tl.static_assert(m.dtype == tl.int1, "histogram: mask must have boolean scalar type")
        hit = hit & m[:, None]
    return tl.sum(hit.to(tl.int32), 0)


# ---------------------------------------------------------------- sort, topk
#
# Bitonic networks along the last dimension, whose size must be a power of
# two; every row of a 2-D (or higher) block is sorted on its own. A
# compare-and-swap step pairs the elements whose column indices differ in
# bit j only. Upstream reshapes the block into a hypercube of 2s to reach
# bit j; our blocks have rank <= 4, and views of other shapes (a rank-3
# (outer, 2, 2**j) view per step) would make the layout pass choose a parent
# layout for them that leaves the block's own rank-1/2 values replicated in
# every thread. So every step stays in x's own shape and fetches each
# element's partner with tl.gather at column c ^ 2**j:
#
#   c      = column index          y = x[..., c ^ 2**j]       (bit-exact move)
#   right  = bit j of c            (0: lower element of the pair, 1: upper)
#   desc   = 1 where this pair is ordered descending
#   x'     = where((x > y) != (desc ^ right), y, x)
#
# which is upstream's comparator exactly: both elements of a pair evaluate
# the same `>` and each keeps its side. Because it is built from one `>`
# only, a NaN (for which x > y is false both ways) is never moved past: the
# lower element keeps itself and the upper one copies the lower, so a pair
# holding a NaN ends up as two copies of its lower element, and sorting a
# row with NaNs gives upstream's result, which is not a permutation of the
# input. Likewise 0.0 and -0.0 compare equal and the upper one becomes a
# copy of the lower. Without NaNs the result is the sorted row.
#
# Cost: a sort of n is log2(n) * (log2(n) + 1) / 2 steps, each one gather
# through threadgroup memory (a store, a barrier, a load) and a select.


def _log2(n):
    # floor(log2(n)) of a compile-time n >= 1 (a while loop would run on the
    # device; an unrolled static_range keeps r a compile-time int).
    r = 0
    for i in tl.static_range(1, 32):
        if (1 << i) <= n:
            r = i
    return r


def _sort_dim(x, dim):
    # The sorted dim (the last; None or -1 name it) and a check of its size.
    rank = len(x.shape)
    tl.static_assert(rank >= 1, "sort: needs a block")
    if dim is None:
        d = rank - 1
    elif dim < 0:
        d = dim + rank
    else:
        d = dim
    tl.static_assert(d == rank - 1, "sort: only the last (minor) dimension is supported")
    n = x.shape[d]
    tl.static_assert(n & (n - 1) == 0, "sort: the sorted dimension must be a power of two")
    return d


def _columns(shape, n):
    # An int32 block of `shape` holding each element's column index, for
    # columns 0..n-1 (n = the last entry of shape).
    c = tl.arange(0, n)
    for i in tl.static_range(len(shape) - 1):
        c = tl.expand_dims(c, 0)
    return tl.broadcast_to(c, shape)


def _with_last(shape, m):
    # shape[:-1] + (m,) (tuple slices are not in the kernel subset here).
    r = ()
    for i in tl.static_range(len(shape) - 1):
        r = r + (shape[i],)
    return r + (m,)


def _bitonic_step(x, col, j, stage, desc):
    # One compare-and-swap on bit j of the column. stage None: every pair is
    # ordered by desc (0 ascending, 1 descending); else bit `stage` of the
    # column (stage > j) gives the direction, so runs of 2**stage go up,
    # down, up, ...
    y = tl.gather(x, col ^ (1 << j), len(x.shape) - 1)
    right = (col >> j) & 1
    if stage is None:
        d = right ^ desc
    else:
        d = right ^ ((col >> stage) & 1)
    return tl.where((x > y) != (d == 1), y, x)


def _bitonic_pass(x, col, stage, desc):
    # Merges the bitonic runs of 2**stage: steps on bits stage-1 .. 0.
    # desc = 2 alternates the direction from run to run, else 0 ascending or
    # 1 descending throughout.
    for i in tl.static_range(stage):
        if desc == 2:
            x = _bitonic_step(x, col, stage - 1 - i, stage, 0)
        else:
            x = _bitonic_step(x, col, stage - 1 - i, None, desc)
    return x


def _bitonic_sort_runs(x, col, log_run, log_n, final):
    # Sorts the runs of 2**log_run along the row of 2**log_n: alternately up
    # and down, except that a run as long as the row ends in direction final.
    for s in tl.static_range(1, log_run + 1):
        if s < log_n:
            x = _bitonic_pass(x, col, s, 2)
        else:
            x = _bitonic_pass(x, col, s, final)
    return x


def sort(x, dim=None, descending: tl.constexpr = 0):
    # Sorts each row (the last dimension) ascending, or descending.
    d = _sort_dim(x, dim)
    n = x.shape[d]
    log_n = _log2(n)
    if descending:
        final = 1
    else:
        final = 0
    return _bitonic_sort_runs(x, _columns(x.shape, n), log_n, log_n, final)


def bitonic_merge(x, dim=None, descending: tl.constexpr = 0):
    # One bitonic merge of whole rows (log2(n) compare-and-swap steps): a row
    # that is bitonic (rises then falls, or falls then rises, or a rotation
    # of such) comes out sorted ascending, or descending.
    d = _sort_dim(x, dim)
    n = x.shape[d]
    if descending:
        final = 1
    else:
        final = 0
    return _bitonic_pass(x, _columns(x.shape, n), _log2(n), final)


def topk(x, k: tl.constexpr, dim=None, descending: tl.constexpr = True):
    # The k largest (descending) or smallest elements of each row, in sorted
    # order (largest first, or smallest first); shape x.shape[:-1] + (k,).
    # k must be a power of two <= the row length. As upstream (bitonic top-k,
    # Shanbhag, Pirk and Madden, "Efficient Top-K Query Processing on
    # Massively Parallel Hardware", SIGMOD 2018): sort runs of k alternately
    # up and down, then repeatedly keep the elementwise max (min) of each
    # neighbouring up/down pair of runs -- a bitonic run holding the top k of
    # the 2k -- and merge it back into a sorted run, halving the row. That
    # max/min is upstream's tl.max/tl.min over the pair, so NaNs lose there,
    # and, when k < the row length, a dtype narrower than 32 bits comes back
    # as int32 (integers) or float32 (floats), as tl.max returns them.
    d = _sort_dim(x, dim)
    n = x.shape[d]
    tl.static_assert(k > 0, "topk: k must be greater than 0")
    tl.static_assert(k & (k - 1) == 0, "topk: k must be a power of two")
    tl.static_assert(k <= n, "topk: k must not exceed the size of the selected dimension")
    log_n = _log2(n)
    log_k = _log2(k)
    if descending:
        final = 1
    else:
        final = 0
    if log_k == 0:
        if descending:
            x = tl.max(x, d, keep_dims=True)
        else:
            x = tl.min(x, d, keep_dims=True)
    else:
        x = _bitonic_sort_runs(x, _columns(x.shape, n), log_k, log_n, final)
        if log_k < log_n and x.dtype.primitive_bitwidth < 32:
            if x.dtype.is_floating():
                x = x.to(tl.float32)
            else:
                x = x.to(tl.int32)
        m = n
        for s in tl.static_range(log_k + 1, log_n + 1):
            # row of m = pairs of runs (up, down) of k -> one run of k each:
            # new column c reads old columns a and a + k of run pair c // k
            m = m // 2
            c = _columns(_with_last(x.shape, m), m)
            a = ((c >> log_k) << (log_k + 1)) | (c & (k - 1))
            lo = tl.gather(x, a, d)
            hi = tl.gather(x, a + k, d)
            if descending:
                x = tl.maximum(lo, hi)
            else:
                x = tl.minimum(lo, hi)
            if s < log_n:
                x = _bitonic_pass(x, c, log_k, 2)
            else:
                x = _bitonic_pass(x, c, log_k, final)
    return x
