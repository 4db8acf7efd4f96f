/*
 * msl.c: the Metal Shading Language dialect, as data.
 *
 * The emitter core (emit.c) spells types, qualifiers, built-in inputs and the
 * prelude through this table; another C-like GPU dialect is another table.
 *
 * The prelude defines:
 *   TM_LD/TM_ST  wrap every device-memory access with its Python line. On a GPU
 *                they are the plain pointer; the CPU emulator's shim defines them
 *                first, as bounds-checked accesses that report the kernel's line.
 *                TM_LDA/TM_STA (p, line, arg) do the same for a pointer derived
 *                from one argument: the emulator checks it against that
 *                argument's memory, so a write landing in another is caught.
 *   tm_sdiv/tm_udiv/tm_srem/tm_urem  integer `//` and `%` with C truncation and a
 *                defined result where C has none: x // 0 == -1 (all ones), x % 0 == x,
 *                MIN // -1 == MIN, MIN % -1 == 0. A GPU does not trap, and neither
 *                does the emulator; both give these same values. (int and long
 *                negate through their unsigned type: -MIN is undefined in MSL.)
 *                A helper of mathfns.c ("tm_idiv"), written only into the
 *                kernels that divide integers.
 *   TM_TG_BASE/TM_TG_ARRAY/TM_TGM  declare threadgroup memory (the block's
 *                bytes; then per array its type, name, elements, byte offset in
 *                the block: arrays the compiler never uses at once overlap) and
 *                reach it with the Python line of the access. On a GPU one
 *                16-byte aligned `threadgroup float4` block with each array a
 *                typed pointer into it; the emulator's shim places the arrays in
 *                per-threadgroup memory and bounds-checks every index.
 *                TM_TG_VSTORE(V, a, i, x) stores vector x (a uint, uint2 or uint4
 *                of packed elements) at a[i] (i aligned to the vector: the
 *                emitter's check); the shim stores it element by element through
 *                the checked path. TM_TG_VLOAD(V, a, i) reads such a vector (the
 *                portable dot's B row; the shim checks its index range once).
 *   TM_UNROLL    before a per-element loop the compiler wants unrolled whole
 *                (an in-thread reduction's, a dot operand's staging): its slots
 *                then index the thread's arrays with constants (registers on a
 *                GPU, no branch on the slot's position). Metal's compiler is
 *                clang's: `clang loop unroll(full)`, as MLX's kernels spell it;
 *                the CUDA prelude's is `unroll`.
 *   TM_FENCE     the device-scope fence atomics with sem=acquire/release/acq_rel
 *                place around themselves (MSL 3.2; the emulator's shim defines it).
 *   TM_POLL      first in the body of every Triton loop (for, while; not the
 *                compiler's own per-element loops): nothing on a GPU; on the
 *                emulator where a spinning kernel can be stopped (Ctrl-C,
 *                tm_interrupt, TRITON_METAL_TIMEOUT).
 *   tm_shfl_xor  simd_shuffle_xor for every dtype reductions use (bool through
 *                ushort, 64-bit integers as two 32-bit halves). A helper of
 *                mathfns.c, written only into the kernels that shuffle.
 *   TM_SGM_ROW   the row, in an 8x8 simdgroup_matrix, of the two elements a lane
 *                holds (thread_elements(): the row and two neighbouring columns).
 *                Apple leaves the mapping unspecified; this is the one MLX relies
 *                on and the emulator implements; the CUDA prelude gives its own.
 *   TM_SGM_PULL  x from the lane whose thread_elements() hold what lane `lane`
 *                holds in layout_frag's tile (row lane / 4, columns 2 * (lane %
 *                4) and + 1): a tile's elements to that layout; TM_SGM_PUSH the
 *                way back (each lane takes the layout's elements of its own
 *                row and columns). Shuffles here; nothing in the CUDA prelude,
 *                whose tiles are in that layout already.
 *   tm_shfl_xor2 two vectors shuffled by the same xor mask (two shuffles on a
 *                GPU); the emulator's shim defines it first, as one exchange
 *                of both (a SIMD-group rendezvous less).
 *   tm_bfly      a reduction's xor butterfly over lanes m0, 2 m0, ... < m1
 *                of a thread's N values, G to a vector shuffle (two vectors a
 *                tm_shfl_xor2 where N allows; G = 1: tm_shfl_xor, any
 *                dtype), combining by the functor f
 *                (f(a[k], other lane's a[k]), the reduction's combine as
 *                emit.c writes it); tm_bfly_prelude, written only into the
 *                kernels that use it. The emulator's shim defines it first:
 *                one exchange of the SIMD-group per 32 bytes of values, whose
 *                steps the last lane to arrive computes for every lane.
 *   tm_dot_fma   a portable dot's FMA loop over one staged chunk of K
 *                (tm_dot_fma_v: B's G neighbouring elements as one vector
 *                read): for kk = 0 .. KC - 1, for each G slots k of the
 *                thread's PT, f(tid, k) = (batch, row, column) and
 *                d[k + g] = fma(A[batch][row][kk], B[batch][kk][column + g],
 *                d[k + g]), A row-major at sm[0 ..), B at sm[BOFF ..);
 *                tm_dot_prelude, written only into the kernels that use it.
 *                The emulator's shim defines it first: the first thread past
 *                the staging barrier computes the whole tile's sums (the same
 *                order, the same bits) and every thread takes its slots.
 */
#include "tm.h"

/* The helpers every dialect's kernels use, in Metal's vocabulary (the CUDA
 * dialect's head gives that vocabulary its meaning there). */
const char tm_common_prelude[] =
        "#ifndef TM_LD\n"
        "#define TM_LD(p, line) (p)\n"
        "#define TM_ST(p, line) (p)\n"
        "#define TM_LDA(p, line, arg) (p)\n"
        "#define TM_STA(p, line, arg) (p)\n"
        "#endif\n"
        "#ifndef TM_TGM\n"
        "#define TM_TG_BASE(bytes) threadgroup float4 tm_smem_base[((bytes) + 15) / 16]\n"
        "#define TM_TG_ARRAY(T, name, n, off) threadgroup T *name = reinterpret_cast<threadgroup T *>(reinterpret_cast<threadgroup uchar *>(tm_smem_base) + (off))\n"
        "#define TM_TGM(a, line) a\n"
        "#define TM_TG_VSTORE(V, a, i, x) (*reinterpret_cast<threadgroup V *>(&(a)[i]) = (x))\n"
        "#define TM_TG_VLOAD(V, a, i) (*reinterpret_cast<threadgroup V *>(&(a)[i]))\n"
        "#endif\n"
        "#ifndef TM_SHFL_XOR2\n"
        "template <typename V> inline void tm_shfl_xor2(thread V &a, thread V &b, ushort m) { a = simd_shuffle_xor(a, m); b = simd_shuffle_xor(b, m); }\n"
        "#endif\n"
        "#ifndef TM_SGM_ROW\n"
        "#define TM_SGM_ROW(lane) (4u * ((lane) >> 4 & 1u) + 2u * ((lane) >> 2 & 1u) + ((lane) >> 1 & 1u))\n"
        "#endif\n"
        "#ifndef TM_SGM_PULL\n"
        "#define TM_SGM_PULL(x, lane) simd_shuffle((x), ushort(((lane) & 17u) | ((lane) >> 1 & 1u) << 3 | ((lane) >> 3 & 1u) << 2 | ((lane) >> 2 & 1u) << 1))\n"
        "#define TM_SGM_PUSH(x, lane) simd_shuffle((x), ushort(((lane) & 17u) | ((lane) >> 2 & 1u) << 3 | ((lane) >> 1 & 1u) << 2 | ((lane) >> 3 & 1u) << 1))\n"
        "#endif\n"
        "#ifndef TM_POLL\n"
        "#define TM_POLL(line)\n"
        "#endif\n"
        "#ifndef TM_UNROLL\n"
        "#define TM_UNROLL _Pragma(\"clang loop unroll(full)\")\n"
        "#endif\n"
        "#ifndef TM_FENCE\n"
        "#if __METAL_VERSION__ >= 320\n"
        "#define TM_FENCE() atomic_thread_fence(mem_flags::mem_device, memory_order_seq_cst, thread_scope_device)\n"
        "#else\n"
        "#define TM_FENCE() /* no device-scope fence before MSL 3.2: atomics stay relaxed */\n"
        "#endif\n"
        "#endif\n";


/* tm_bfly (above), written after the prelude into kernels that use it. */
const char tm_bfly_prelude[] =
        "#ifndef TM_BFLY\n"
        "template <int G> struct tm_bfly_g;\n"
        "template <> struct tm_bfly_g<4> {\n"
        "  template <typename V, int N, typename T, typename F> static inline void step(thread T *a, ushort m, F f) {\n"
        "    if (N % 8 == 0) {\n"
        "      for (int k = 0; k < N; k += 8) {\n"
        "        V o, ob;\n"
        "        for (int j = 0; j < 4; ++j) o[j] = a[k + j], ob[j] = a[k + 4 + j];\n"
        "        tm_shfl_xor2(o, ob, m);\n"
        "        for (int j = 0; j < 4; ++j) f(a[k + j], o[j]);\n"
        "        for (int j = 0; j < 4; ++j) f(a[k + 4 + j], ob[j]);\n"
        "      }\n"
        "    } else {\n"
        "      for (int k = 0; k < N; k += 4) {\n"
        "        V o;\n"
        "        for (int j = 0; j < 4; ++j) o[j] = a[k + j];\n"
        "        o = simd_shuffle_xor(o, m);\n"
        "        for (int j = 0; j < 4; ++j) f(a[k + j], o[j]);\n"
        "      }\n"
        "    }\n"
        "  }\n"
        "};\n"
        "template <> struct tm_bfly_g<2> {\n"
        "  template <typename V, int N, typename T, typename F> static inline void step(thread T *a, ushort m, F f) {\n"
        "    for (int k = 0; k < N; k += 2) {\n"
        "      V o;\n"
        "      for (int j = 0; j < 2; ++j) o[j] = a[k + j];\n"
        "      o = simd_shuffle_xor(o, m);\n"
        "      for (int j = 0; j < 2; ++j) f(a[k + j], o[j]);\n"
        "    }\n"
        "  }\n"
        "};\n"
        "template <> struct tm_bfly_g<1> {\n"
        "  template <typename V, int N, typename T, typename F> static inline void step(thread T *a, ushort m, F f) {\n"
        "    for (int k = 0; k < N; ++k) f(a[k], tm_shfl_xor(a[k], m));\n"
        "  }\n"
        "};\n"
        "template <int G, typename V, int N, typename T, typename F> inline void tm_bfly(thread T *a, ushort m0, ushort m1, F f) {\n"
        "  for (ushort m = m0; m < m1; m <<= 1) tm_bfly_g<G>::template step<V, N>(a, m, f);\n"
        "}\n"
        "#endif\n";

/* tm_dot_fma (above), written after the prelude into kernels that use it.
 * `fresh` (the chunk is K's first: every d is zero) is for the emulator's
 * whole-tile path; a GPU's loop has no use for it. */
const char tm_dot_prelude[] =
        "#ifndef TM_DOT_FMA\n"
        "#ifndef TM_TG\n"
        "#define TM_TG(T) threadgroup T\n"
        "#endif\n"
        "template <int PT, int G, int BT, int M, int N, int KC, int BOFF, typename T, typename F>\n"
        "inline void tm_dot_fma(TM_TG(T) *sm, bool fresh, thread float *d, F f, uint tid) {\n"
        "  (void)fresh;\n"
        "  for (int kk = 0; kk < KC; ++kk) {\n"
        "    for (uint k = 0; k < uint(PT); k += uint(G)) {\n"
        "      int3 c = f(tid, k);\n"
        "      float a = float(sm[(c.x * M + c.y) * KC + kk]);\n"
        "      for (int g = 0; g < G; ++g) d[k + g] = fma(a, float(sm[BOFF + (c.x * KC + kk) * N + c.z + g]), d[k + g]);\n"
        "    }\n"
        "  }\n"
        "}\n"
        "template <int PT, int G, int BT, int M, int N, int KC, int BOFF, typename V, typename T, typename F>\n"
        "inline void tm_dot_fma_v(TM_TG(T) *sm, bool fresh, thread float *d, F f, uint tid) {\n"
        "  (void)fresh;\n"
        "  for (int kk = 0; kk < KC; ++kk) {\n"
        "    for (uint k = 0; k < uint(PT); k += uint(G)) {\n"
        "      int3 c = f(tid, k);\n"
        "      float a = float(sm[(c.x * M + c.y) * KC + kk]);\n"
        "      V b = TM_TG_VLOAD(V, sm, BOFF + (c.x * KC + kk) * N + c.z);\n"
        "      for (int g = 0; g < G; ++g) d[k + g] = fma(a, float(b[g]), d[k + g]);\n"
        "    }\n"
        "  }\n"
        "}\n"
        "#endif\n";

/* tm_sgm_mac: one step of a simdgroup-matrix dot (tile rows i of A times tile
 * columns j of B into the TM x TN accumulator tiles), written into the
 * kernels whose dots take that path. The emulator defines its own (the same
 * products, each lane's sums computed together instead of one multiply at a
 * time). */
const char tm_sgm_prelude[] =
        "#ifndef TM_SGM_MAC\n"
        "template <uint TM, uint TN, typename TA, typename TI>\n"
        "inline void tm_sgm_mac(thread simdgroup_matrix<TA, 8, 8> *acc, thread simdgroup_matrix<TI, 8, 8> *a,\n"
        "                       thread simdgroup_matrix<TI, 8, 8> *b) {\n"
        "  for (uint i = 0; i < TM; ++i)\n"
        "    for (uint j = 0; j < TN; ++j) simdgroup_multiply_accumulate(acc[i * TN + j], a[i], b[j], acc[i * TN + j]);\n"
        "}\n"
        "#endif\n";

const Dialect dialect_msl = {
    .name = "msl",
    .prelude = tm_common_prelude,
    .type_names =
 TM_METAL_TYPE_NAMES,
    .kernel_kw = "kernel void",
    .buffer_qual = "device",
    .const_buffer_qual = "device const",
    .bytes_qual = "constant",
    .builtin_decl =
        {
            [TM_BI_THREADGROUP_POSITION] = "uint3 tm_pid [[threadgroup_position_in_grid]]",
            [TM_BI_THREADGROUPS_PER_GRID] = "uint3 tm_npid [[threadgroups_per_grid]]",
            [TM_BI_THREAD_INDEX] = "uint tm_tid [[thread_index_in_threadgroup]]",
            [TM_BI_SIMDLANE] = "uint tm_lane [[thread_index_in_simdgroup]]",
            [TM_BI_SIMDGROUP] = "uint tm_sg [[simdgroup_index_in_threadgroup]]",
        },
    .has_bfloat = true,
    .buffer_attr = " [[buffer(%d)]]",
    .coherent_qual = "coherent(device) device",
};

const Dialect *dialect_for(const tm_target *t) { return t->dialect == TM_DIALECT_CUDA ? &dialect_cuda : &dialect_msl; }
