/* test_emu_collectives.c: SIMD-group collectives computed once per SIMD-group
 * (the default: the lane that completes the rendezvous computes the result for
 * all, runtime/cpu/metal_stdlib "SIMD-group collectives") give bit for bit what
 * every lane computing its own gives (TRITON_METAL_CPU_COLLECTIVES=per-lane):
 * folds, prefix sums, shuffles, votes and simdgroup_matrix multiplies, on
 * data with NaN, infinities, negative zeros, denormals and values whose sums
 * depend on the order, in full and partial SIMD-groups and with lanes masked
 * off by a select. The float folds and prefix sums are also checked against a
 * left-to-right fold in lane order done here, so a fast path that summed in
 * another order fails even if both paths changed alike. */
#include <math.h>
#include <stdint.h>

#include "test_emu.h"

static const char coll_msl[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void coll(device const float* x [[buffer(0)]], device float* out [[buffer(1)]],\n"
    "    device int* iout [[buffer(2)]],\n"
    "    uint3 tm_pid [[threadgroup_position_in_grid]], uint tm_tid [[thread_index_in_threadgroup]],\n"
    "    uint lane [[thread_index_in_simdgroup]])\n"
    "{\n"
    "  uint i = tm_pid.x * 80u + tm_tid;\n"
    "  float v = *TM_LD(x + i, 7);\n"
    "  float m = lane % 3u == 1u ? v : 0.0f;\n" /* masked lanes give the identity */
    "  *TM_ST(out + 12u * i + 0u, 8) = simd_sum(v);\n"
    "  *TM_ST(out + 12u * i + 1u, 9) = simd_product(v);\n"
    "  *TM_ST(out + 12u * i + 2u, 10) = simd_max(v);\n"
    "  *TM_ST(out + 12u * i + 3u, 11) = simd_min(v);\n"
    "  *TM_ST(out + 12u * i + 4u, 12) = simd_prefix_inclusive_sum(v);\n"
    "  *TM_ST(out + 12u * i + 5u, 13) = simd_prefix_exclusive_sum(v);\n"
    "  *TM_ST(out + 12u * i + 6u, 14) = simd_sum(m);\n"
    "  *TM_ST(out + 12u * i + 7u, 15) = simd_prefix_inclusive_sum(m);\n"
    "  *TM_ST(out + 12u * i + 8u, 16) = simd_shuffle_xor(v, 5);\n"
    "  *TM_ST(out + 12u * i + 9u, 17) = simd_shuffle_down(v, 7u) + simd_shuffle_up(v, 3u);\n"
    "  *TM_ST(out + 12u * i + 10u, 18) = simd_broadcast(v, 9) + simd_broadcast_first(m);\n"
    "  *TM_ST(out + 12u * i + 11u, 19) = simd_max(m) - simd_min(m);\n"
    "  int b = as_type<int>(v);\n"
    "  *TM_ST(iout + 6u * i + 0u, 21) = simd_and(b);\n"
    "  *TM_ST(iout + 6u * i + 1u, 22) = simd_or(b);\n"
    "  *TM_ST(iout + 6u * i + 2u, 23) = simd_xor(b);\n"
    "  *TM_ST(iout + 6u * i + 3u, 24) = simd_all(isnan(v)) + 2 * simd_any(isinf(v)) + 4 * simd_any(v > 1e30f);\n"
    "  *TM_ST(iout + 6u * i + 4u, 25) = simd_prefix_exclusive_sum(int(lane) - 7) * simd_sum(b & 15);\n"
    "  *TM_ST(iout + 6u * i + 5u, 26) = simd_product(int(lane % 4u) + 1) + simd_min(b) + simd_max(b);\n"
    "}\n";

enum { TG = 80, G = 3, N = TG * G }; /* SIMD-groups of 32, 32 and 16 lanes */

static uint32_t bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static tm_status run_coll(tm_module *m, const float *x, float *out, int *iout, const char *mode, char **err) {
  if (mode) setenv("TRITON_METAL_CPU_COLLECTIVES", mode, 1);
  else unsetenv("TRITON_METAL_CPU_COLLECTIVES");
  memset(out, 0xcd, 12 * N * sizeof *out);
  memset(iout, 0xcd, 6 * N * sizeof *iout);
  tm_launch_arg la[] = {emu_buf((void *)x, N * sizeof *x), emu_buf(out, 12 * N * sizeof *out),
                        emu_buf(iout, 6 * N * sizeof *iout)};
  uint32_t grid[3] = {G, 1, 1};
  tm_status st = tm_launch(m, grid, la, 3, err);
  unsetenv("TRITON_METAL_CPU_COLLECTIVES");
  return st;
}

/* The float sum of x[b .. b+n) left to right, as the shim folds (bitwise
 * comparable: both are IEEE single additions in the same order). */
static float fold_sum(const float *x, int b, int n) {
  volatile float r = x[b];
  for (int l = 1; l < n; l++) r = r + x[b + l];
  return r;
}

static const tm_kernel_arg coll_args[] = {{"x", 0, TM_ARG_BUFFER, TM_F32, 0},
                                          {"out", 1, TM_ARG_BUFFER, TM_F32, 1},
                                          {"iout", 2, TM_ARG_BUFFER, TM_I32, 1}};
static const tm_kernel_info coll_info = {.name = "coll", .source_file = "coll.py", .nargs = 3, .args = coll_args,
                                         .nbuiltins = 3,
                                         .builtins = {TM_BI_THREADGROUP_POSITION, TM_BI_THREAD_INDEX, TM_BI_SIMDLANE},
                                         .threads_per_threadgroup = TG, .uses_barriers = 1};

/* Launches m's three buffers on `groups` threadgroups, expecting success,
 * and clears TRITON_METAL_CPU_COLLECTIVES (which the caller may have set). */
static void launch_checked(tm_module *m, uint32_t groups, tm_launch_arg *la) {
  uint32_t grid[3] = {groups, 1, 1};
  char *err = NULL;
  tm_status st = tm_launch(m, grid, la, 3, &err);
  unsetenv("TRITON_METAL_CPU_COLLECTIVES");
  CHECK(st == TM_OK);
  if (st) fprintf(stderr, "%s\n", err);
  tm_free(err);
}

static void test_collectives(tm_device *d, int special) {
  tm_module *m = emu_load(d, coll_msl, &coll_info);
  if (!m) return;
  static float x[N], out[2][12 * N];
  static int iout[2][6 * N];
  unsigned s = 7;
  /* magnitudes from 1e-3 to 1e7: sums that depend on their order */
  for (int i = 0; i < N; i++) x[i] = emu_randf(&s) * powf(10.0f, (float)(i * 7 % 11) - 3.0f);
  if (special) {
    static const float sp[] = {NAN, INFINITY, -INFINITY, -0.0f, 1e-45f, -1e-40f, 3.4e38f, -3.4e38f};
    for (int i = 0; i < N; i += 5) x[i] = sp[(i / 5) % 8];
  }
  char *err = NULL;
  tm_status st = run_coll(m, x, out[0], iout[0], NULL, &err);
  CHECK(st == TM_OK);
  if (st) fprintf(stderr, "%s\n", err), tm_free(err), err = NULL;
  st = run_coll(m, x, out[1], iout[1], "per-lane", &err);
  CHECK(st == TM_OK);
  if (st) fprintf(stderr, "%s\n", err), tm_free(err), err = NULL;
  int diff = 0;
  for (int i = 0; i < 12 * N; i++)
    if (bits(out[0][i]) != bits(out[1][i]) && diff++ < 4)
      fprintf(stderr, "collectives (special %d): out[%d] once %08x, per-lane %08x\n", special, i,
              (unsigned)bits(out[0][i]), (unsigned)bits(out[1][i]));
  for (int i = 0; i < 6 * N; i++)
    if (iout[0][i] != iout[1][i] && diff++ < 4)
      fprintf(stderr, "collectives (special %d): iout[%d] once %d, per-lane %d\n", special, i, iout[0][i], iout[1][i]);
  CHECK(diff == 0);
  /* the fold order, independently of either path */
  int bad = 0;
  for (int i = 0; i < N; i++) {
    int t = i % TG, b = i - t % 32, n = t >= 64 ? 16 : 32, lane = t % 32;
    float sum = fold_sum(x, b, n), pre = fold_sum(x, b, lane + 1);
    bad += bits(out[0][12 * i]) != bits(sum) && !(isnan(sum) && isnan(out[0][12 * i]));
    bad += bits(out[0][12 * i + 4]) != bits(pre) && !(isnan(pre) && isnan(out[0][12 * i + 4]));
  }
  CHECK(bad == 0);
  tm_module_free(m);
}

/* simdgroup_matrix multiplies: the whole 8x8 tile by one lane against each
 * lane's own two results, float and half, with accumulation and aliasing. */
static const char mm_msl[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void mm(device const %1$s* a [[buffer(0)]], device const %1$s* b [[buffer(1)]],\n"
    "    device float* out [[buffer(2)]], uint tid [[thread_index_in_threadgroup]])\n"
    "{\n"
    "  simdgroup_matrix<%1$s, 8, 8> ma, mb, mt;\n"
    "  simdgroup_float8x8 mc, md;\n"
    "  uint s = tid / 32u;\n"
    "  simdgroup_load(ma, a + 64u * s);\n"
    "  simdgroup_load(mb, b + 64u * s);\n"
    "  simdgroup_load(mt, a + 64u * s, 8, ulong2(0, 0), true);\n"
    "  simdgroup_multiply(mc, ma, mb);\n"
    "  simdgroup_multiply_accumulate(md, mt, mb, mc);\n"
    "  simdgroup_multiply_accumulate(mc, ma, mt, mc);\n"
    "  simdgroup_store(md, out + 128u * s);\n"
    "  simdgroup_store(mc, out + 128u * s + 64u);\n"
    "}\n";

static void test_mm(tm_device *d, const char *T) {
  enum { S = 2 };
  char msl[2048];
  snprintf(msl, sizeof msl, mm_msl, T);
  int half = !strcmp(T, "half");
  tm_kernel_arg args[] = {{"a", 0, TM_ARG_BUFFER, half ? TM_F16 : TM_F32, 0},
                          {"b", 1, TM_ARG_BUFFER, half ? TM_F16 : TM_F32, 0},
                          {"out", 2, TM_ARG_BUFFER, TM_F32, 1}};
  tm_kernel_info k = {.name = "mm", .source_file = "mm.py", .nargs = 3, .args = args, .nbuiltins = 1,
                      .builtins = {TM_BI_THREAD_INDEX}, .threads_per_threadgroup = 32 * S, .uses_barriers = 1};
  tm_module *m = emu_load(d, msl, &k);
  if (!m) return;
  static float af[64 * S], bf[64 * S], out[2][128 * S];
  static _Float16 ah[64 * S], bh[64 * S];
  unsigned s = 3;
  for (int i = 0; i < 64 * S; i++) {
    af[i] = emu_randf(&s) * (i % 5 ? 1.0f : 1000.0f);
    bf[i] = emu_randf(&s) / (i % 3 ? 1.0f : 300.0f);
  }
  af[9] = NAN, bf[70] = INFINITY, af[100] = -0.0f, bf[33] = -INFINITY;
  for (int i = 0; i < 64 * S; i++) ah[i] = (_Float16)af[i], bh[i] = (_Float16)bf[i];
  void *pa = half ? (void *)ah : (void *)af, *pb = half ? (void *)bh : (void *)bf;
  size_t es = half ? 2 : 4;
  for (int p = 0; p < 2; p++) {
    if (p) setenv("TRITON_METAL_CPU_COLLECTIVES", "per-lane", 1);
    memset(out[p], 0xcd, sizeof out[p]);
    tm_launch_arg la[] = {emu_buf(pa, 64 * S * es), emu_buf(pb, 64 * S * es), emu_buf(out[p], sizeof out[p])};
    launch_checked(m, 1, la);
  }
  int diff = 0, nan = 0;
  for (int i = 0; i < 128 * S; i++) {
    diff += bits(out[0][i]) != bits(out[1][i]);
    nan += isnan(out[0][i]);
  }
  CHECK(diff == 0);
  CHECK(nan > 0 && nan < 128 * S); /* the NaN spread through its rows and columns only */
  tm_module_free(m);
}

/* The prelude's tm_bfly as the shim runs it (one exchange per 32 bytes of a
 * thread's values, every lane's steps computed by one lane) against the same
 * butterfly one simd_shuffle_xor at a time, bit for bit, with a combine that
 * is neither commutative nor associative (a wrong partner, step order or
 * operand order changes the bits): 12 floats a thread (two exchanges: 8 + 4),
 * the whole SIMD-group (masks 1..16) and lanes 2 apart (masks 2..8), 8 ints;
 * full and partial (16-lane) SIMD-groups; the default and per-lane paths. */
static const char bfly_msl[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "struct comb_f { inline void operator()(thread float &a, float o) const { a = a * 1.5f + o; } };\n"
    "struct comb_i { inline void operator()(thread int &a, int o) const { a = a * 3 - o; } };\n"
    "kernel void bf(device const float* x [[buffer(0)]], device float* out [[buffer(1)]],\n"
    "    device int* iout [[buffer(2)]],\n"
    "    uint3 tm_pid [[threadgroup_position_in_grid]], uint tm_tid [[thread_index_in_threadgroup]])\n"
    "{\n"
    "  uint i = tm_pid.x * 80u + tm_tid;\n"
    "  float a[12], b[12], c[12], d[12];\n"
    "  int p[8], q[8];\n"
    "  for (uint k = 0; k < 12u; ++k) a[k] = b[k] = c[k] = d[k] = *TM_LD(x + 12u * i + k, 14);\n"
    "  for (uint k = 0; k < 8u; ++k) p[k] = q[k] = as_type<int>(a[k]) >> 9;\n"
    "  tm_bfly<4, float4, 12>(a, ushort(1u), ushort(32u), comb_f());\n"
    "  tm_bfly<4, float4, 12>(c, ushort(2u), ushort(16u), comb_f());\n"
    "  tm_bfly<4, int4, 8>(p, ushort(1u), ushort(32u), comb_i());\n"
    "  for (ushort m = 1u; m < 32u; m <<= 1)\n"
    "    for (uint k = 0; k < 12u; ++k) { float o = simd_shuffle_xor(b[k], m); b[k] = b[k] * 1.5f + o; }\n"
    "  for (ushort m = 2u; m < 16u; m <<= 1)\n"
    "    for (uint k = 0; k < 12u; ++k) { float o = simd_shuffle_xor(d[k], m); d[k] = d[k] * 1.5f + o; }\n"
    "  for (ushort m = 1u; m < 32u; m <<= 1)\n"
    "    for (uint k = 0; k < 8u; ++k) { int o = simd_shuffle_xor(q[k], m); q[k] = q[k] * 3 - o; }\n"
    "  for (uint k = 0; k < 12u; ++k) {\n"
    "    *TM_ST(out + 48u * i + k, 27) = a[k];\n"
    "    *TM_ST(out + 48u * i + 12u + k, 28) = b[k];\n"
    "    *TM_ST(out + 48u * i + 24u + k, 29) = c[k];\n"
    "    *TM_ST(out + 48u * i + 36u + k, 30) = d[k];\n"
    "  }\n"
    "  for (uint k = 0; k < 8u; ++k) *TM_ST(iout + 16u * i + k, 32) = p[k], *TM_ST(iout + 16u * i + 8u + k, 32) = q[k];\n"
    "}\n";

static const tm_kernel_info bfly_info = {.name = "bf", .source_file = "bf.py", .nargs = 3, .args = coll_args,
                                         .nbuiltins = 2,
                                         .builtins = {TM_BI_THREADGROUP_POSITION, TM_BI_THREAD_INDEX},
                                         .threads_per_threadgroup = TG, .uses_barriers = 1};

static void test_bfly(tm_device *d, const char *mode) {
  tm_module *m = emu_load(d, bfly_msl, &bfly_info);
  if (!m) return;
  static float x[12 * N], out[48 * N];
  static int iout[16 * N];
  unsigned s = 11;
  for (int i = 0; i < 12 * N; i++) x[i] = emu_randf(&s) * powf(10.0f, (float)(i * 5 % 9) - 4.0f);
  x[17] = NAN, x[40] = INFINITY, x[41] = -0.0f;
  if (mode) setenv("TRITON_METAL_CPU_COLLECTIVES", mode, 1);
  memset(out, 0xcd, sizeof out);
  memset(iout, 0xcd, sizeof iout);
  tm_launch_arg la[] = {emu_buf(x, sizeof x), emu_buf(out, sizeof out), emu_buf(iout, sizeof iout)};
  launch_checked(m, G, la);
  int diff = 0, moved = 0;
  for (int i = 0; i < N; i++)
    for (int k = 0; k < 12; k++)
      for (int h = 0; h < 2; h++) {
        float got = out[48 * i + 24 * h + k], want = out[48 * i + 24 * h + 12 + k];
        moved += bits(got) != bits(x[12 * i + k]);
        if (bits(got) != bits(want) && diff++ < 4)
          fprintf(stderr, "tm_bfly (%s) thread %d value %d masks %s: %08x, one shuffle at a time %08x\n",
                  mode ? mode : "default", i, k, h ? "2..8" : "1..16", (unsigned)bits(got), (unsigned)bits(want));
      }
  for (int i = 0; i < N; i++)
    for (int k = 0; k < 8; k++)
      if (iout[16 * i + k] != iout[16 * i + 8 + k] && diff++ < 4)
        fprintf(stderr, "tm_bfly (%s) int: thread %d value %d: %d, one shuffle at a time %d\n", mode ? mode : "default",
                i, k, iout[16 * i + k], iout[16 * i + 8 + k]);
  CHECK(diff == 0);
  CHECK(moved > 20 * N); /* the butterflies changed the values */
  tm_module_free(m);
}

/* The prelude's tm_dot_fma (portable dot, one staged chunk of K a call) as
 * the shim runs it by default (the first thread past the staging barrier
 * computes the whole tile, 8 columns to a vector instruction; every thread
 * copies its slots) and per thread (TRITON_METAL_CPU_COLLECTIVES=per-lane:
 * each thread's own loop), bit for bit, and both against the fused sums done
 * here over kk in order: 2 batches of 14x20 over K = 14 in two chunks of 7
 * (the second continues the first's sums), so the tile's 16-column blocks,
 * its last 4 columns and its last 2 rows each take their own loop; float
 * operands with B's vector reads, half ones (converted) with scalar reads;
 * NaN, infinities, -0 and sums whose bits depend on the order. */
static const char dot_msl[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "struct crd { inline int3 operator()(uint t, uint k) const {\n"
    "  return int3(int(t / 70u), int(t %% 70u / 5u), int(t %% 5u * 4u + k)); } };\n"
    "kernel void dt(device const %s* a [[buffer(0)]], device const %s* b [[buffer(1)]],\n"
    "    device float* out [[buffer(2)]], uint tm_tid [[thread_index_in_threadgroup]])\n"
    "{\n"
    "  TM_TG_BASE(476 * 4);\n"
    "  TM_TG_ARRAY(%s, sm, 476, 0);\n"
    "  float d[4] = {0.0f, 0.0f, 0.0f, 0.0f};\n"
    "  for (int k0 = 0; k0 < 14; k0 += 7) {\n"
    "    for (uint i = tm_tid; i < 196u; i += 140u)\n"
    "      TM_TGM(sm, 11)[i] = *TM_LD(a + (i / 98u * 14u + i %% 98u / 7u) * 14u + uint(k0) + i %% 7u, 12);\n"
    "    for (uint i = tm_tid; i < 280u; i += 140u)\n"
    "      TM_TGM(sm, 14)[196u + i] = *TM_LD(b + (i / 140u * 14u + uint(k0) + i %% 140u / 20u) * 20u + i %% 20u, 15);\n"
    "    threadgroup_barrier(mem_flags::mem_threadgroup);\n"
    "    %s(TM_TGM(sm, 17), k0 == 0, d, crd(), tm_tid);\n"
    "    threadgroup_barrier(mem_flags::mem_threadgroup);\n"
    "  }\n"
    "  int3 c = crd()(tm_tid, 0u);\n"
    "  for (uint g = 0; g < 4u; ++g) *TM_ST(out + (c.x * 14 + c.y) * 20 + c.z + int(g), 22) = d[g];\n"
    "}\n";

static void test_dot_tile(tm_device *d, int half) {
  enum { BT = 2, M = 14, NC = 20, K = 14 };
  char msl[4096];
  const char *T = half ? "half" : "float";
  snprintf(msl, sizeof msl, dot_msl, T, T, T,
           half ? "tm_dot_fma<4, 4, 2, 14, 20, 7, 196>" : "tm_dot_fma_v<4, 4, 2, 14, 20, 7, 196, float4>");
  tm_kernel_arg args[] = {{"a", 0, TM_ARG_BUFFER, half ? TM_F16 : TM_F32, 0},
                          {"b", 1, TM_ARG_BUFFER, half ? TM_F16 : TM_F32, 0},
                          {"out", 2, TM_ARG_BUFFER, TM_F32, 1}};
  tm_kernel_info k = {.name = "dt", .source_file = "dt.py", .nargs = 3, .args = args, .nbuiltins = 1,
                      .builtins = {TM_BI_THREAD_INDEX}, .threads_per_threadgroup = 140, .uses_barriers = 1,
                      .threadgroup_mem_bytes = 476 * 4};
  tm_module *m = emu_load(d, msl, &k);
  if (!m) return;
  static float af[BT * M * K], bf[BT * K * NC], want[BT * M * NC], out[2][BT * M * NC];
  static _Float16 ah[BT * M * K], bh[BT * K * NC];
  unsigned s = 5;
  for (int i = 0; i < BT * M * K; i++) af[i] = emu_randf(&s) * (i % 7 ? 1.0f : 3000.0f);
  for (int i = 0; i < BT * K * NC; i++) bf[i] = emu_randf(&s) / (i % 3 ? 1.0f : 700.0f);
  af[5] = NAN, bf[43] = INFINITY, af[200] = -0.0f, bf[301] = -INFINITY;
  for (int i = 0; i < BT * M * K; i++) ah[i] = (_Float16)af[i], af[i] = half ? (float)ah[i] : af[i];
  for (int i = 0; i < BT * K * NC; i++) bh[i] = (_Float16)bf[i], bf[i] = half ? (float)bh[i] : bf[i];
  for (int b = 0; b < BT; b++)
    for (int r = 0; r < M; r++)
      for (int c = 0; c < NC; c++) {
        float acc = 0.0f;
        for (int kk = 0; kk < K; kk++) acc = fmaf(af[(b * M + r) * K + kk], bf[(b * K + kk) * NC + c], acc);
        want[(b * M + r) * NC + c] = acc;
      }
  void *pa = half ? (void *)ah : (void *)af, *pb = half ? (void *)bh : (void *)bf;
  size_t es = half ? 2 : 4;
  for (int p = 0; p < 2; p++) {
    if (p) setenv("TRITON_METAL_CPU_COLLECTIVES", "per-lane", 1);
    memset(out[p], 0xcd, sizeof out[p]);
    tm_launch_arg la[] = {emu_buf(pa, BT * M * K * es), emu_buf(pb, BT * K * NC * es), emu_buf(out[p], sizeof out[p])};
    launch_checked(m, 1, la);
  }
  int diff = 0, off = 0, nan = 0;
  for (int i = 0; i < BT * M * NC; i++) {
    diff += bits(out[0][i]) != bits(out[1][i]);
    nan += isnan(want[i]);
    if (isnan(want[i]) ? !isnan(out[0][i]) : bits(out[0][i]) != bits(want[i])) {
      if (off++ < 4) fprintf(stderr, "tm_dot_fma (%s) element %d: %a, fused sums here %a\n", T, i, out[0][i], want[i]);
    }
  }
  CHECK(diff == 0);
  CHECK(off == 0);
  CHECK(nan > 0 && nan < BT * M * NC);
  tm_module_free(m);
}

/* The runtime's pass counts of a dot call site start again with each
 * threadgroup, whatever ran in between: on one worker, the dot kernel (140
 * threads), then a kernel of 80 threads with collectives, then the dot
 * kernel again must give the first launch's bits (a reset that cleared only
 * the smaller job's threads left the larger one's counts behind: the second
 * launch failed, thread 0 a pass behind its threadgroup). */
static void test_dot_tile_after_smaller_job(void) {
  setenv("TRITON_METAL_CPU_THREADS", "1", 1);
  tm_device *d = emu_open();
  unsetenv("TRITON_METAL_CPU_THREADS");
  char msl[4096];
  snprintf(msl, sizeof msl, dot_msl, "float", "float", "float", "tm_dot_fma_v<4, 4, 2, 14, 20, 7, 196, float4>");
  tm_kernel_arg args[] = {{"a", 0, TM_ARG_BUFFER, TM_F32, 0}, {"b", 1, TM_ARG_BUFFER, TM_F32, 0},
                          {"out", 2, TM_ARG_BUFFER, TM_F32, 1}};
  tm_kernel_info k = {.name = "dt", .source_file = "dt.py", .nargs = 3, .args = args, .nbuiltins = 1,
                      .builtins = {TM_BI_THREAD_INDEX}, .threads_per_threadgroup = 140, .uses_barriers = 1,
                      .threadgroup_mem_bytes = 476 * 4};
  tm_module *m = emu_load(d, msl, &k), *b = emu_load(d, bfly_msl, &bfly_info);
  if (m && b) {
    static float a[2 * 14 * 14], bb[2 * 14 * 20], out[2][2 * 14 * 20], x[12 * N], bout[48 * N];
    static int biout[16 * N];
    unsigned s = 9;
    for (int i = 0; i < 2 * 14 * 14; i++) a[i] = emu_randf(&s);
    for (int i = 0; i < 2 * 14 * 20; i++) bb[i] = emu_randf(&s);
    for (int i = 0; i < 12 * N; i++) x[i] = emu_randf(&s);
    for (int p = 0; p < 2; p++) {
      tm_launch_arg la[] = {emu_buf(a, sizeof a), emu_buf(bb, sizeof bb), emu_buf(out[p], sizeof out[p])};
      launch_checked(m, 1, la);
      tm_launch_arg lb[] = {emu_buf(x, sizeof x), emu_buf(bout, sizeof bout), emu_buf(biout, sizeof biout)};
      if (!p) launch_checked(b, G, lb);
    }
    CHECK(memcmp(out[0], out[1], sizeof out[0]) == 0);
  }
  if (m) tm_module_free(m);
  if (b) tm_module_free(b);
  tm_device_close(d);
}

static void test_bad_setting(tm_device *d) {
  tm_module *m = emu_load(d, coll_msl, &coll_info);
  if (!m) return;
  static float x[N], out[12 * N];
  static int iout[6 * N];
  char *err = NULL;
  CHECK(run_coll(m, x, out, iout, "sometimes", &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "TRITON_METAL_CPU_COLLECTIVES=sometimes: expected once or per-lane");
  tm_free(err);
  err = NULL;
  CHECK(run_coll(m, x, out, iout, "once", &err) == TM_OK);
  tm_free(err);
  tm_module_free(m);
}

int main(void) {
  emu_fresh_cache();
  tm_device *d = emu_open();
  if (!d) return check_report("test_emu_collectives");
  test_collectives(d, 0);
  test_collectives(d, 1);
  test_mm(d, "float");
  test_mm(d, "half");
  test_bfly(d, NULL);
  test_bfly(d, "per-lane");
  test_dot_tile(d, 0);
  test_dot_tile(d, 1);
  test_dot_tile_after_smaller_job();
  test_bad_setting(d);
  tm_device_close(d);
  emu_rm_cache();
  return check_report("test_emu_collectives");
}
