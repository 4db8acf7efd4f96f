/* test_emu_simdgroup.c: the shim's simdgroup_matrix (runtime/cpu/metal_stdlib) runs
 * hand-written MSL on the cpu emulator: an 8x8 multiply(-accumulate) straight
 * from device memory with transposed loads, strided and transposed stores and a
 * diagonal matrix; a 32x32 matmul over four SIMD-groups staged through
 * threadgroup memory; float, half, half x half -> float. Inputs are small
 * integers, so every result is exact in every type and compared for equality
 * with a C reference (plus one float run on random values, with a tolerance).
 * Misuse fails loudly: at compile time (shape, element type, pointer type), by
 * the launch (no fibers, a lane returned) or with NaN (lanes disagreeing, a
 * matrix never written). The Metal 4 matmul2d subset (tensor_inline operands in
 * threadgroup memory, a cooperative-tensor accumulator) likewise, exact on
 * small integers, NaN on a wrong scope or extents. */
#include <math.h>

#include "test_emu.h"

/* IEEE half <-> float for normal numbers and zero (all these tests produce). */
static uint16_t f2h(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  uint32_t s = (u >> 16) & 0x8000u;
  if ((u & 0x7fffffffu) == 0) return (uint16_t)s;
  uint32_t e = ((u >> 23) & 0xffu) - 127u + 15u, m = u & 0x7fffffu, r = m >> 13, rem = m & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) r++;
  if (r == 0x400u) r = 0, e++;
  return (uint16_t)(s | e << 10 | r);
}
static float h2f(uint16_t h) {
  uint32_t s = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, u;
  if (e == 0 && m == 0) u = s;
  else if (e == 31) u = s | 0x7f800000u | m << 13;
  else u = s | (e - 15u + 127u) << 23 | m << 13;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* A buffer of n values of MSL type `t` ("float" or "half"). */
typedef struct {
  const char *t;
  void *p;
  size_t n;
} Buf;
static Buf buf_new(const char *t, size_t n) {
  size_t es = strcmp(t, "half") ? 4 : 2;
  return (Buf){t, calloc(n, es), n};
}
static void buf_set(Buf b, size_t i, float v) {
  if (strcmp(b.t, "half")) ((float *)b.p)[i] = v;
  else ((uint16_t *)b.p)[i] = f2h(v);
}
static float buf_get(Buf b, size_t i) { return strcmp(b.t, "half") ? ((float *)b.p)[i] : h2f(((uint16_t *)b.p)[i]); }
static tm_launch_arg buf_arg(Buf b) { return emu_buf(b.p, b.n * (strcmp(b.t, "half") ? 4 : 2)); }
static tm_dtype buf_dt(const char *t) { return strcmp(t, "half") ? TM_F32 : TM_F16; }

/* ------------------------------------------------------------ 8x8, one SIMD-group */

static const char mm8_fmt[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void mm8(device const %1$s* a [[buffer(0)]], device const %1$s* b [[buffer(1)]],\n"
    "    device const %2$s* c [[buffer(2)]], device %2$s* out [[buffer(3)]],\n"
    "    uint tid [[thread_index_in_threadgroup]])\n"
    "{\n"
    "  simdgroup_matrix<%1$s, 8, 8> ma, mb, mt;\n"
    "  simdgroup_matrix<%2$s, 8, 8> mc, md;\n"
    "  simdgroup_load(ma, a);\n"
    "  simdgroup_load(mb, b, 8);\n"
    "  simdgroup_load(mc, c, 8, ulong2(0, 0), false);\n"
    "  simdgroup_multiply_accumulate(md, ma, mb, mc);\n"
    "  simdgroup_store(md, out);\n"                          /* [0, 64): a*b + c */
    "  simdgroup_multiply(md, ma, mb);\n"
    "  simdgroup_store(md, out + 64, 8);\n"                  /* [64, 128): a*b */
    "  simdgroup_load(mt, a, 8, ulong2(0, 0), true);\n"
    "  simdgroup_multiply(md, mt, mb);\n"
    "  simdgroup_store(md, out + 128, 8);\n"                 /* [128, 192): a^T*b */
    "  simdgroup_matrix<%2$s, 8, 8> di(%2$s(3));\n"
    "  simdgroup_store(di, out + 192, 16, ulong2(8, 4));\n"  /* [192, 448): 16-wide, diag at row 4, col 8 */
    "  simdgroup_multiply_accumulate(mc, ma, mb, mc);\n"     /* d aliasing c */
    "  simdgroup_store(mc, out + 448, 8, 0, true);\n"        /* [448, 512): (a*b + c)^T */
    "}\n";

static void test_mm8(tm_device *d, const char *T, const char *A, int random) {
  char msl[4096];
  snprintf(msl, sizeof msl, mm8_fmt, T, A);
  tm_kernel_arg args[] = {{"a", 0, TM_ARG_BUFFER, buf_dt(T), 0},
                          {"b", 1, TM_ARG_BUFFER, buf_dt(T), 0},
                          {"c", 2, TM_ARG_BUFFER, buf_dt(A), 0},
                          {"out", 3, TM_ARG_BUFFER, buf_dt(A), 1}};
  tm_kernel_info k = {.name = "mm8", .source_file = "mm8.py", .nargs = 4, .args = args, .nbuiltins = 1,
                      .builtins = {TM_BI_THREAD_INDEX}, .threads_per_threadgroup = 32, .uses_barriers = 1};
  tm_module *m = emu_load(d, msl, &k);
  if (!m) return;
  Buf a = buf_new(T, 64), b = buf_new(T, 64), c = buf_new(A, 64), out = buf_new(A, 512);
  unsigned seed = 99;
  for (int i = 0; i < 64; i++) {
    float r[3];
    for (int j = 0; j < 3; j++) r[j] = emu_randf(&seed);
    if (!random)
      for (int j = 0; j < 3; j++) r[j] = floorf(r[j] / 2); /* integers in [-4, 4) */
    buf_set(a, i, r[0]), buf_set(b, i, r[1]), buf_set(c, i, r[2]);
  }
  for (int i = 0; i < 512; i++) buf_set(out, i, -100);
  for (int i = 192; i < 448; i++) buf_set(out, i, 0);
  tm_launch_arg la[] = {buf_arg(a), buf_arg(b), buf_arg(c), buf_arg(out)};
  uint32_t grid[3] = {1, 1, 1};
  char *err = NULL;
  tm_status st = tm_launch(m, grid, la, 4, &err);
  CHECK(st == TM_OK);
  if (st) fprintf(stderr, "%s\n", err);
  tm_free(err);
  double tol = random ? 1e-4 : 0;
  int bad = 0;
  for (int r = 0; r < 8; r++)
    for (int col = 0; col < 8; col++) {
      double ab = 0, atb = 0;
      for (int kk = 0; kk < 8; kk++) {
        ab += (double)buf_get(a, r * 8 + kk) * buf_get(b, kk * 8 + col);
        atb += (double)buf_get(a, kk * 8 + r) * buf_get(b, kk * 8 + col);
      }
      double abc = ab + buf_get(c, r * 8 + col);
      double got[4] = {buf_get(out, r * 8 + col), buf_get(out, 64 + r * 8 + col), buf_get(out, 128 + r * 8 + col),
                       buf_get(out, 448 + col * 8 + r)};
      double want[4] = {abc, ab, atb, abc};
      for (int i = 0; i < 4; i++)
        if (!(fabs(got[i] - want[i]) <= tol * (1 + fabs(want[i])))) {
          if (bad++ < 4) fprintf(stderr, "mm8 %s->%s result %d (%d,%d): got %g want %g\n", T, A, i, r, col, got[i], want[i]);
        }
    }
  for (int r = 0; r < 16; r++)
    for (int col = 0; col < 16; col++) {
      float want = r >= 4 && r < 12 && col >= 8 && r - 4 == col - 8 ? 3.0f : 0.0f;
      bad += buf_get(out, 192 + r * 16 + col) != want;
    }
  CHECK(bad == 0);
  tm_module_free(m);
  free(a.p), free(b.p), free(c.p), free(out.p);
}

/* ------------------------------------------------------------ 32x32, four SIMD-groups */

/* SIMD-group s computes output rows [8s, 8s+8): four 8x8 tiles accumulated over
 * K in steps of 8, A and B staged in threadgroup memory, the result stored to
 * threadgroup memory with an origin and copied out by all threads. */
static const char mm32_fmt[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void mm32(device const %1$s* a [[buffer(0)]], device const %1$s* b [[buffer(1)]],\n"
    "    device %2$s* out [[buffer(2)]],\n"
    "    uint tid [[thread_index_in_threadgroup]], uint sg [[simdgroup_index_in_threadgroup]])\n"
    "{\n"
    "  threadgroup %1$s sa[1024];\n"
    "  threadgroup %1$s sb[1024];\n"
    "  threadgroup %2$s sc[1024];\n"
    "  for (uint i = tid; i < 1024u; i += 128u) { sa[i] = a[i]; sb[i] = b[i]; }\n"
    "  threadgroup_barrier(mem_flags::mem_threadgroup);\n"
    "  simdgroup_matrix<%2$s, 8, 8> acc[4];\n"
    "  for (uint j = 0; j < 4u; ++j) acc[j] = make_filled_simdgroup_matrix<%2$s, 8, 8>(%2$s(0));\n"
    "  for (uint k = 0; k < 32u; k += 8u) {\n"
    "    simdgroup_matrix<%1$s, 8, 8> ma;\n"
    "    simdgroup_load(ma, &sa[sg * 8u * 32u + k], 32);\n"
    "    for (uint j = 0; j < 4u; ++j) {\n"
    "      simdgroup_matrix<%1$s, 8, 8> mb;\n"
    "      simdgroup_load(mb, sb, 32, ulong2(j * 8u, k));\n"
    "      simdgroup_multiply_accumulate(acc[j], ma, mb, acc[j]);\n"
    "    }\n"
    "  }\n"
    "  for (uint j = 0; j < 4u; ++j) simdgroup_store(acc[j], sc, 32, ulong2(j * 8u, sg * 8u));\n"
    "  threadgroup_barrier(mem_flags::mem_threadgroup);\n"
    "  for (uint i = tid; i < 1024u; i += 128u) out[i] = sc[i];\n"
    "}\n";

static void test_mm32(tm_device *d, const char *T, const char *A) {
  char msl[4096];
  snprintf(msl, sizeof msl, mm32_fmt, T, A);
  tm_kernel_arg args[] = {{"a", 0, TM_ARG_BUFFER, buf_dt(T), 0},
                          {"b", 1, TM_ARG_BUFFER, buf_dt(T), 0},
                          {"out", 2, TM_ARG_BUFFER, buf_dt(A), 1}};
  tm_kernel_info k = {.name = "mm32", .source_file = "mm32.py", .nargs = 3, .args = args, .nbuiltins = 2,
                      .builtins = {TM_BI_THREAD_INDEX, TM_BI_SIMDGROUP}, .threads_per_threadgroup = 128,
                      .uses_barriers = 1};
  tm_module *m = emu_load(d, msl, &k);
  if (!m) return;
  enum { G = 3 }; /* threadgroups: the same matrices, each writes all of out */
  Buf a = buf_new(T, 1024), b = buf_new(T, 1024), out = buf_new(A, 1024);
  unsigned seed = 7;
  for (int i = 0; i < 1024; i++) buf_set(a, i, floorf(emu_randf(&seed) / 2)), buf_set(b, i, floorf(emu_randf(&seed) / 2));
  tm_launch_arg la[] = {buf_arg(a), buf_arg(b), buf_arg(out)};
  uint32_t grid[3] = {G, 1, 1};
  char *err = NULL;
  double t0 = emu_now();
  tm_status st = tm_launch(m, grid, la, 3, &err);
  double t1 = emu_now();
  CHECK(st == TM_OK);
  if (st) fprintf(stderr, "%s\n", err);
  tm_free(err);
  int bad = 0;
  for (int r = 0; r < 32; r++)
    for (int col = 0; col < 32; col++) {
      double s = 0;
      for (int kk = 0; kk < 32; kk++) s += (double)buf_get(a, r * 32 + kk) * buf_get(b, kk * 32 + col);
      if (buf_get(out, r * 32 + col) != s && bad++ < 4)
        fprintf(stderr, "mm32 %s->%s (%d,%d): got %g want %g\n", T, A, r, col, buf_get(out, r * 32 + col), s);
    }
  CHECK(bad == 0);
  printf("simdgroup 32x32 %s->%s: %d threadgroups in %.2f ms\n", T, A, G, 1e3 * (t1 - t0));
  tm_module_free(m);
  free(a.p), free(b.p), free(out.p);
}

/* ------------------------------------------------------------ misuse */

/* x: 72 floats, i by default (run1_x set: those) */
static const float *run1_x;

static tm_status run1(tm_device *d, const char *body, int uses_barriers, float *out, char **err) {
  char msl[2048];
  snprintf(msl, sizeof msl,
           "#include <metal_stdlib>\nusing namespace metal;\n"
           "kernel void bad_sgm(device const float* x [[buffer(0)]], device float* out [[buffer(1)]],\n"
           "    uint lane [[thread_index_in_simdgroup]]) {\n%s}\n",
           body);
  static const tm_kernel_arg args[] = {{"x", 0, TM_ARG_BUFFER, TM_F32, 0}, {"out", 1, TM_ARG_BUFFER, TM_F32, 1}};
  tm_kernel_info k = {.name = "bad_sgm", .source_file = "bad.py", .nargs = 2, .args = args, .nbuiltins = 1,
                      .builtins = {TM_BI_SIMDLANE}, .threads_per_threadgroup = 32, .uses_barriers = uses_barriers};
  tm_module *m = NULL;
  tm_status st = tm_module_load(d, msl, &k, &m, err);
  if (st) return st;
  static float x[72];
  for (int i = 0; i < 72; i++) x[i] = run1_x ? run1_x[i] : (float)i;
  for (int i = 0; i < 64; i++) out[i] = -1;
  tm_launch_arg la[] = {emu_buf(x, sizeof x), emu_buf(out, 64 * sizeof *out)};
  uint32_t grid[3] = {1, 1, 1};
  st = tm_launch(m, grid, la, 2, err);
  tm_module_free(m);
  return st;
}

static int all_nan(const float *v, int n) {
  for (int i = 0; i < n; i++)
    if (!isnan(v[i])) return 0;
  return 1;
}

static void test_misuse(tm_device *d) {
  float out[64];
  char *err = NULL;
  /* Lanes disagreeing on the source pointer, the stride or the transposition:
   * the launch fails, naming the operation, on the fast path (the first lane's
   * record) and on the rendezvous path (per-lane collectives) alike. */
  static const char *const disagree[][2] = {
      {"  simdgroup_float8x8 m;\n  simdgroup_load(m, lane < 16u ? x : x + 1, 8);\n  simdgroup_store(m, out);\n",
       "simdgroup_load (line 6%s): lanes of SIMD-group 0 disagree"},
      {"  simdgroup_float8x8 m;\n  simdgroup_load(m, x, lane == 3u ? 9 : 8);\n  simdgroup_store(m, out);\n",
       "simdgroup_load (line 6%s): lanes of SIMD-group 0 disagree"},
      {"  simdgroup_float8x8 m;\n  simdgroup_load(m, x);\n  simdgroup_store(m, out, 8, 0, lane == 0u);\n",
       "simdgroup_store (line 7%s): lanes of SIMD-group 0 disagree"},
  };
  /* the column where the compiler says it (clang's __builtin_COLUMN; g++ 12
   * has none, and the message then names the line alone) */
  const char *cxx = getenv("TRITON_METAL_CXX");
  const char *col = cxx && *cxx && !strstr(cxx, "clang") ? "" : ", column 3";
  for (int per_lane = 0; per_lane < 2; per_lane++) {
    setenv("TRITON_METAL_CPU_COLLECTIVES", per_lane ? "per-lane" : "once", 1);
    for (size_t i = 0; i < sizeof disagree / sizeof disagree[0]; i++) {
      char want[160];
      snprintf(want, sizeof want, disagree[i][1], col);
      CHECK(run1(d, disagree[i][0], 1, out, &err) == TM_ERR_RUNTIME);
      CHECK_CONTAINS(err, want);
      tm_free(err), err = NULL;
    }
    /* Lanes at different loads (control flow that diverges). */
    CHECK(run1(d, "  simdgroup_float8x8 m;\n  if (lane < 8u)\n    simdgroup_load(m, x);\n  else\n"
                  "    simdgroup_load(m, x);\n  simdgroup_store(m, out);\n",
               1, out, &err) == TM_ERR_RUNTIME);
    CHECK_CONTAINS(err, "divergent control flow: lane 8 of SIMD-group 0 is at simdgroup_load");
    tm_free(err), err = NULL;
  }
  unsetenv("TRITON_METAL_CPU_COLLECTIVES");
  /* The correct form of the same: the matrix as stored. */
  CHECK(run1(d, "  simdgroup_float8x8 m;\n  simdgroup_load(m, x);\n  simdgroup_store(m, out, 8, 0, false);\n", 1, out, &err) == TM_OK);
  CHECK(out[0] == 0 && out[9] == 9 && out[63] == 63);
  /* A matrix that was never written reads as NaN. */
  CHECK(run1(d, "  simdgroup_float8x8 m, r;\n  simdgroup_load(r, x);\n  simdgroup_multiply(r, m, r);\n  simdgroup_store(r, out);\n", 1, out, &err) == TM_OK);
  CHECK(all_nan(out, 64));
  /* Collectives need the fiber scheduler: a kernel that says it has none fails. */
  CHECK(run1(d, "  simdgroup_float8x8 m;\n  simdgroup_load(m, x);\n  simdgroup_store(m, out);\n", 0, out, &err) == TM_ERR_RUNTIME);
  CHECK_CONTAINS(err, "uses_barriers = 0");
  tm_free(err), err = NULL;
  /* A lane that returned before the collective. */
  CHECK(run1(d, "  if (lane == 5u) return;\n  simdgroup_float8x8 m;\n  simdgroup_load(m, x);\n  simdgroup_store(m, out);\n", 1, out, &err) == TM_ERR_RUNTIME);
  CHECK_CONTAINS(err, "lane 5 of SIMD-group 0 returned");
  tm_free(err), err = NULL;
  /* What Metal rejects does not compile here either (the C++ compile fails: TM_ERR_DEVICE). */
  static const char *const refused[][2] = {
      {"  simdgroup_matrix<float, 16, 16> m;\n", "only 8x8"},
      {"  simdgroup_matrix<int, 8, 8> m;\n", "must be half, float or bfloat"},
      {"  simdgroup_half8x8 m;\n  simdgroup_load(m, x);\n", "simdgroup_load"},
      {"  simdgroup_float8x8 m(1.0f);\n  simdgroup_store(m, x);\n", "simdgroup_store"}, /* x is const */
  };
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    tm_status st = run1(d, refused[i][0], 1, out, &err);
    CHECK(st == TM_ERR_DEVICE);
    CHECK_CONTAINS(err, refused[i][1]);
    tm_free(err), err = NULL;
  }
}

/* ------------------------------------------------------------ loaded matrices and their records */

/* d = a*b + c as the shim defines it: float fma, k in order, from c. */
static void ref_mma(float d[64], const float a[64], const float b[64], const float *c) {
  float s[64];
  for (int r = 0; r < 8; r++)
    for (int col = 0; col < 8; col++) {
      float v = c ? c[r * 8 + col] : 0.0f;
      for (int k = 0; k < 8; k++) v = fmaf(a[r * 8 + k], b[k * 8 + col], v);
      s[r * 8 + col] = v;
    }
  memcpy(d, s, sizeof s);
}

/* On the fast path a loaded matrix refers to its load's record; whatever writes
 * a matrix afterwards (a product into it, a load into it, a lane's own elements
 * through thread_elements(), assignment) must leave it the new value, and a
 * copy must keep the old one. Each chain below runs on the fast path and on the
 * rendezvous path (per-lane collectives) against the same float reference. */
static void test_records(tm_device *d) {
  static const char body[] =
      "  simdgroup_float8x8 a, b, c, k;\n"
      "  simdgroup_load(a, x);\n"                          /* A: x[0..63] */
      "  simdgroup_load(b, x + 8, 8, ulong2(0, 0), true);\n" /* B: x[8..71] transposed */
      "  k = a;\n"                                         /* k: A, by copy */
      "  simdgroup_multiply(b, a, b);\n"                   /* b = A*B (a product: no record) */
      "  simdgroup_load(a, x + 4, 8);\n"                   /* a = A2: x[4..67]; k still A */
      "  simdgroup_multiply_accumulate(c, k, b, k);\n"      /* c = A*(A*B) + A */
      "  a.thread_elements()[0] *= 2.0f;\n"                /* a = A2 with each lane's first element doubled */
      "  simdgroup_multiply_accumulate(c, a, k, c);\n"      /* c = A2' * A + c */
      "  simdgroup_float8x8 e = k;\n"
      "  simdgroup_load(k, x + 1, 8);\n"                   /* k = A3: x[1..64]; e still A */
      "  simdgroup_multiply_accumulate(c, k, e, c);\n"      /* c = A3 * A + c: both loaded */
      "  simdgroup_store(c, out);\n";
  /* values whose sums round differently in another order (1 + 2^-12 k
   * against products near 1e4): a k order or a rounding that differs shows */
  static float x[72];
  float A[64], B[64], A2[64], A3[64], t[64], c[64];
  for (int i = 0; i < 72; i++) x[i] = (i % 3 ? -1.0f : 1.0f) * (1.0f + (float)(i * 37 % 64) / 4096.0f) * (i % 5 ? 1.0f : 97.0f);
  run1_x = x;
  for (int r = 0; r < 8; r++)
    for (int col = 0; col < 8; col++) {
      A[r * 8 + col] = x[r * 8 + col];
      B[r * 8 + col] = x[8 + col * 8 + r];
      A2[r * 8 + col] = x[4 + r * 8 + col];
      A3[r * 8 + col] = x[1 + r * 8 + col];
    }
  ref_mma(t, A, B, NULL);
  ref_mma(c, A, t, A);
  for (int r = 0; r < 8; r++)
    for (int col = 0; col < 8; col += 2) A2[r * 8 + col] *= 2.0f; /* each lane's first of two */
  ref_mma(c, A2, A, c);
  ref_mma(c, A3, A, c);
  for (int per_lane = 0; per_lane < 2; per_lane++) {
    setenv("TRITON_METAL_CPU_COLLECTIVES", per_lane ? "per-lane" : "once", 1);
    float out[64];
    char *err = NULL;
    CHECK(run1(d, body, 1, out, &err) == TM_OK);
    if (err) fprintf(stderr, "records: %s\n", err);
    tm_free(err);
    int bad = 0;
    for (int i = 0; i < 64; i++)
      if (memcmp(&out[i], &c[i], sizeof(float)) && bad++ < 4)
        fprintf(stderr, "records (%s) element %d: got %.9g want %.9g\n", per_lane ? "per-lane" : "fast", i, out[i], c[i]);
    CHECK(bad == 0);
  }
  unsetenv("TRITON_METAL_CPU_COLLECTIVES");
  run1_x = NULL;
}

/* ------------------------------------------------------------ a dot's step (tm_sgm_mac) */

/* The prelude's tm_sgm_mac<TM, TN>(acc, a, b) (a dot's step: acc[i * TN + j]
 * += a[i] * b[j]), which the shim defines as every lane's sums of all the
 * tiles computed together, against ref_mma tile by tile, bit for bit: operands
 * that were loaded (records; from device and threadgroup memory, transposed
 * too), one a lane changed through thread_elements() and one a product (both
 * gathered first), accumulators filled, loaded (float) or a product; two steps, so the second starts from the first's sums. Fast path,
 * per-lane collectives (the multiplies one by one) and race-check objects
 * (each load's elements checked and recorded one by one). */
static const char mac_fmt[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void mac(device const %1$s* x [[buffer(0)]], device float* out [[buffer(1)]],\n"
    "    uint lane [[thread_index_in_simdgroup]])\n"
    "{\n"
    "  threadgroup %1$s sx[72];\n"
    "  for (uint i = lane; i < 72u; i += 32u) sx[i] = x[i];\n"
    "  threadgroup_barrier(mem_flags::mem_threadgroup);\n"
    "  simdgroup_matrix<%1$s, 8, 8> a[2], b[3];\n"
    "  simdgroup_matrix<float, 8, 8> acc[6];\n"
    "  simdgroup_load(a[0], sx);\n"
    "  simdgroup_load(a[1], x + 3, 8);\n"
    "  a[1].thread_elements()[1] *= %1$s(2);\n"
    "  simdgroup_load(b[0], sx + 8, 8, ulong2(0, 0), true);\n"
    "  simdgroup_load(b[1], x + 5, 8);\n"
    "  simdgroup_multiply(b[2], a[0], b[1]);\n"
    "  for (uint j = 0; j < 6u; ++j) acc[j] = make_filled_simdgroup_matrix<float, 8, 8>(float(j) * 0.375f - 1.0f);\n"
    "  simdgroup_multiply(acc[5], a[0], b[0]);\n"
    "  %2$s\n"
    "  tm_sgm_mac<2u, 3u>(acc, a, b);\n"
    "  tm_sgm_mac<2u, 3u>(acc, a, b);\n"
    "  for (uint j = 0; j < 6u; ++j) simdgroup_store(acc[j], out + 64u * j);\n"
    "}\n";

static void test_mac(tm_device *d, const char *T) {
  int fl = !strcmp(T, "float");
  char msl[4096];
  snprintf(msl, sizeof msl, mac_fmt, T, fl ? "simdgroup_load(acc[4], x + 2, 8);" : "");
  tm_kernel_arg args[] = {{"x", 0, TM_ARG_BUFFER, buf_dt(T), 0}, {"out", 1, TM_ARG_BUFFER, TM_F32, 1}};
  tm_kernel_info k = {.name = "mac", .source_file = "mac.py", .nargs = 2, .args = args, .nbuiltins = 1,
                      .builtins = {TM_BI_SIMDLANE}, .threads_per_threadgroup = 32, .uses_barriers = 1};
  /* float: sums that round differently in another order or unfused (as in
   * test_records); half: values half holds exactly */
  Buf x = buf_new(T, 72);
  for (int i = 0; i < 72; i++) {
    float sign = i % 3 ? -1.0f : 1.0f, frac = (float)(i * 37 % 64) / (fl ? 4096.0f : 1024.0f);
    buf_set(x, i, sign * (1.0f + frac) * (i % 5 ? 1.0f : fl ? 97.0f : 8.0f));
  }
  float A[2][64], B[3][64], acc[6][64];
  for (int r = 0; r < 8; r++)
    for (int col = 0; col < 8; col++) {
      A[0][r * 8 + col] = buf_get(x, r * 8 + col);
      A[1][r * 8 + col] = buf_get(x, 3 + r * 8 + col) * (col % 2 ? 2.0f : 1.0f); /* each lane's second element */
      B[0][r * 8 + col] = buf_get(x, 8 + col * 8 + r);
      B[1][r * 8 + col] = buf_get(x, 5 + r * 8 + col);
    }
  ref_mma(B[2], A[0], B[1], NULL);
  if (!fl)
    for (int i = 0; i < 64; i++) B[2][i] = h2f(f2h(B[2][i])); /* the product is a half matrix */
  for (int j = 0; j < 6; j++)
    for (int i = 0; i < 64; i++) acc[j][i] = (float)j * 0.375f - 1.0f;
  ref_mma(acc[5], A[0], B[0], NULL);
  if (fl)
    for (int i = 0; i < 64; i++) acc[4][i] = buf_get(x, 2 + i / 8 * 8 + i % 8);
  for (int step = 0; step < 2; step++)
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 3; j++) ref_mma(acc[i * 3 + j], A[i], B[j], acc[i * 3 + j]);
  static const char *const modes[][2] = {{"once", NULL}, {"per-lane", NULL}, {"once", "1"}};
  for (int mode = 0; mode < 3; mode++) {
    setenv("TRITON_METAL_CPU_COLLECTIVES", modes[mode][0], 1);
    if (modes[mode][1]) setenv("TRITON_METAL_RACECHECK", modes[mode][1], 1);
    tm_module *m = emu_load(d, msl, &k);
    unsetenv("TRITON_METAL_RACECHECK");
    if (!m) continue;
    float out[6 * 64];
    for (int i = 0; i < 6 * 64; i++) out[i] = -100.0f;
    tm_launch_arg la[] = {buf_arg(x), emu_buf(out, sizeof out)};
    uint32_t grid[3] = {1, 1, 1};
    char *err = NULL;
    tm_status st = tm_launch(m, grid, la, 2, &err);
    CHECK(st == TM_OK);
    if (st) fprintf(stderr, "mac %s: %s\n", T, err);
    tm_free(err);
    int bad = 0;
    for (int i = 0; i < 6 * 64; i++)
      if (memcmp(&out[i], &acc[i / 64][i % 64], sizeof(float)) && bad++ < 4)
        fprintf(stderr, "mac %s (%s%s) tile %d element %d: got %.9g want %.9g\n", T, modes[mode][0],
                modes[mode][1] ? ", race check" : "", i / 64, i % 64, out[i], acc[i / 64][i % 64]);
    CHECK(bad == 0);
    tm_module_free(m);
  }
  unsetenv("TRITON_METAL_CPU_COLLECTIVES");
  free(x.p);
}

/* ------------------------------------------------------------ matmul2d (Metal 4 tensor ops) */

/* out = c + a @ b, 32x32x32 fp32 over %1$d SIMD-groups' scope (4 dispatched):
 * a staged as two packed 32x16 column chunks, b as two 16x32 row chunks, the
 * cooperative destination loaded from c, two runs, stored back. %2$d: the
 * first A chunk's x extent (16 when right). */
static const char mm2d_fmt[] =
    "#include <metal_stdlib>\n"
    "#include <metal_tensor>\n"
    "#include <MetalPerformancePrimitives/MetalPerformancePrimitives.h>\n"
    "using namespace metal;\n"
    "kernel void mm2d(device const float* a [[buffer(0)]], device const float* b [[buffer(1)]],\n"
    "    device const float* c [[buffer(2)]], device float* out [[buffer(3)]],\n"
    "    uint tid [[thread_index_in_threadgroup]])\n"
    "{\n"
    "  threadgroup float sa[1024];\n"
    "  threadgroup float sb[1024];\n"
    "  threadgroup float sc[1024];\n"
    "  for (uint i = tid; i < 1024u; i += 128u) {\n"
    "    uint r = i / 32u, k = i %% 32u;\n"
    "    sa[(k / 16u) * 512u + r * 16u + k %% 16u] = a[i];\n"
    "    sb[i] = b[i];\n"
    "    sc[i] = c[i];\n"
    "  }\n"
    "  threadgroup_barrier(mem_flags::mem_threadgroup);\n"
    "  constexpr auto desc = mpp::tensor_ops::matmul2d_descriptor(32, 32, 16, false, false, false,\n"
    "      mpp::tensor_ops::matmul2d_descriptor::mode::multiply_accumulate);\n"
    "  mpp::tensor_ops::matmul2d<desc, metal::execution_simdgroups<%1$d>> op;\n"
    "  auto ta0 = metal::tensor<TM_TG(float), metal::dextents<int, 2>, metal::tensor_inline>(sa, metal::dextents<int, 2>(%2$d, 32));\n"
    "  auto ta1 = metal::tensor<TM_TG(float), metal::dextents<int, 2>, metal::tensor_inline>(sa + 512, metal::dextents<int, 2>(16, 32));\n"
    "  auto tb0 = metal::tensor<TM_TG(float), metal::dextents<int, 2>, metal::tensor_inline>(sb, metal::dextents<int, 2>(32, 16));\n"
    "  auto tb1 = metal::tensor<TM_TG(float), metal::dextents<int, 2>, metal::tensor_inline>(sb + 512, metal::dextents<int, 2>(32, 16));\n"
    "  auto tc = metal::tensor<TM_TG(float), metal::dextents<int, 2>, metal::tensor_inline>(sc, metal::dextents<int, 2>(32, 32));\n"
    "  auto acc = op.get_destination_cooperative_tensor<decltype(ta0), decltype(tb0), float>();\n"
    "  acc.load(tc);\n"
    "  threadgroup_barrier(mem_flags::mem_threadgroup);\n"
    "  op.run(ta0, tb0, acc);\n"
    "  op.run(ta1, tb1, acc);\n"
    "  acc.store(tc);\n"
    "  threadgroup_barrier(mem_flags::mem_threadgroup);\n"
    "  for (uint i = tid; i < 1024u; i += 128u) out[i] = sc[i];\n"
    "}\n";

/* 1: exact; 0: every element NaN; -1: the build failed */
static int run_mm2d(tm_device *d, int scope, int ax, float *out) {
  char msl[4096];
  snprintf(msl, sizeof msl, mm2d_fmt, scope, ax);
  static const tm_kernel_arg args[] = {{"a", 0, TM_ARG_BUFFER, TM_F32, 0}, {"b", 1, TM_ARG_BUFFER, TM_F32, 0},
                                       {"c", 2, TM_ARG_BUFFER, TM_F32, 0}, {"out", 3, TM_ARG_BUFFER, TM_F32, 1}};
  tm_kernel_info k = {.name = "mm2d", .source_file = "mm2d.py", .nargs = 4, .args = args, .nbuiltins = 1,
                      .builtins = {TM_BI_THREAD_INDEX}, .threads_per_threadgroup = 128, .uses_barriers = 1};
  tm_module *m = emu_load(d, msl, &k);
  if (!m) return -1;
  static float a[1024], b[1024], c[1024];
  unsigned seed = 11;
  for (int i = 0; i < 1024; i++) {
    a[i] = floorf(emu_randf(&seed) / 2), b[i] = floorf(emu_randf(&seed) / 2), c[i] = floorf(emu_randf(&seed));
    out[i] = -1;
  }
  tm_launch_arg la[] = {emu_buf(a, sizeof a), emu_buf(b, sizeof b), emu_buf(c, sizeof c), emu_buf(out, 1024 * sizeof *out)};
  uint32_t grid[3] = {2, 1, 1};
  char *err = NULL;
  tm_status st = tm_launch(m, grid, la, 4, &err);
  CHECK(st == TM_OK);
  if (st) fprintf(stderr, "%s\n", err);
  tm_free(err);
  tm_module_free(m);
  int exact = 1, nan = 1;
  for (int r = 0; r < 32; r++)
    for (int col = 0; col < 32; col++) {
      double s = c[r * 32 + col];
      for (int kk = 0; kk < 32; kk++) s += (double)a[r * 32 + kk] * b[kk * 32 + col];
      float v = out[r * 32 + col];
      if (v != s && exact && scope == 4 && ax == 16) fprintf(stderr, "mm2d (%d,%d): got %g want %g\n", r, col, v, s);
      exact = exact && v == s;
      nan = nan && isnan(v);
    }
  return exact ? 1 : nan ? 0 : 2;
}

static void test_matmul2d(tm_device *d) {
  float out[1024];
  CHECK(run_mm2d(d, 4, 16, out) == 1);
  CHECK(run_mm2d(d, 2, 16, out) == 0);  /* a scope of 2 SIMD-groups, 4 dispatched */
  CHECK(run_mm2d(d, 4, 8, out) == 0);   /* A's extents disagree with the descriptor's k */
}

int main(void) {
  emu_fresh_cache();
  tm_device *d = emu_open();
  test_mm8(d, "float", "float", 0);
  test_mm8(d, "float", "float", 1);
  test_mm8(d, "half", "half", 0);
  test_mm8(d, "half", "float", 0);
  test_mm32(d, "float", "float");
  test_mm32(d, "half", "half");
  test_mm32(d, "half", "float");
  test_misuse(d);
  test_records(d);
  test_mac(d, "float");
  test_mac(d, "half");
  test_matmul2d(d);
  tm_device_close(d);
  emu_rm_cache();
  return check_report("test_emu_simdgroup");
}
