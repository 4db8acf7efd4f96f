/* test_emu.c: the cpu emulator runs hand-written MSL in the compiler's style:
 * vector add against a C reference, integer arithmetic, threadgroup memory with
 * barriers, SIMD-group collectives, bounds checking, read-only buffers, launch
 * validation and device selection. */
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_emu.h"

static void test_devices(void) {
  tm_device *d = NULL;
  char *err = NULL;
#ifndef __APPLE__
  CHECK(tm_device_open("metal", &d, &err) == TM_ERR_DEVICE && !d);
  CHECK_CONTAINS(err, "Metal is not available on this machine");
  CHECK_CONTAINS(err, "available devices: cpu, metal-sim");
  tm_free(err);
#endif
  CHECK(tm_device_open("metal-sim", &d, &err) == TM_OK);
  CHECK_STR(tm_device_name(d), "metal-sim");
  tm_device_close(d);
  CHECK(tm_device_open("tpu", &d, &err) == TM_ERR_DEVICE);
  CHECK_CONTAINS(err, "unknown device 'tpu'");
  tm_free(err);
  setenv("TRITON_METAL_DEVICE", "cpu", 1);
  CHECK(tm_device_open(NULL, &d, &err) == TM_OK);
  CHECK_STR(tm_device_name(d), "cpu");
  CHECK_CONTAINS(tm_device_description(d), "cpu emulator");
  tm_device_close(d);
  unsetenv("TRITON_METAL_DEVICE");
  CHECK(tm_device_open(NULL, &d, &err) == TM_OK);
#ifndef __APPLE__
  CHECK_STR(tm_device_name(d), "cpu"); /* a Mac's default is the metal device */
#endif
  tm_device_close(d);
}

static void test_vector_add(tm_device *d) {
  enum { N = 1000003 };
  float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *out = malloc(N * sizeof *out);
  unsigned seed = 12345;
  for (int i = 0; i < N; i++) x[i] = emu_randf(&seed), y[i] = emu_randf(&seed), out[i] = -1;
  tm_module *m = emu_load(d, emu_add_msl, &emu_add_info);
  if (!m) return;
  int n = N;
  tm_launch_arg args[] = {emu_buf(x, N * 4), emu_buf(y, N * 4), emu_buf(out, N * 4),
                          emu_val(&n, 4)};
  uint32_t grid[3] = {(N + 1023) / 1024, 1, 1};
  char *err = NULL;
  double t0 = emu_now();
  tm_status st = tm_launch(m, grid, args, 4, &err);
  double t1 = emu_now();
  CHECK(st == TM_OK);
  if (st) fprintf(stderr, "%s\n", err);
  int bad = 0, neg = 0;
  for (int i = 0; i < N; i++) bad += out[i] != x[i] + y[i], neg += out[i] < 0;
  CHECK(bad == 0);
  CHECK(neg > N / 4);
  printf("vector add: %d floats emulated in %.2f ms (checked accesses)\n", N, 1e3 * (t1 - t0));
  /* A grid with a zero dimension launches nothing. */
  uint32_t none[3] = {0, 1, 1};
  out[0] = 7;
  CHECK(tm_launch(m, none, args, 4, &err) == TM_OK && out[0] == 7);
  tm_module_free(m);
  free(x), free(y), free(out);
}

static void test_launch_validation(tm_device *d) {
  tm_module *m = emu_load(d, emu_add_msl, &emu_add_info);
  if (!m) return;
  float a[4] = {0};
  int n = 4;
  long wide = 4;
  uint32_t grid[3] = {1, 1, 1};
  char *err = NULL;
  tm_launch_arg args[] = {emu_buf(a, 16), emu_buf(a, 16), emu_buf(a, 16), emu_val(&n, 4)};
  CHECK(tm_launch(m, grid, args, 3, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "takes 4 arguments, got 3");
  tm_free(err);
  args[3] = emu_val(&wide, 8);
  CHECK(tm_launch(m, grid, args, 4, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "'n_elements' (int32) needs 4 bytes of data, got 8");
  tm_free(err);
  args[3] = emu_val(&n, 4);
  args[0] = emu_buf(NULL, 16);
  CHECK(tm_launch(m, grid, args, 4, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "'x_ptr' has NULL data");
  tm_free(err);
  tm_module_free(m);
  /* a float64 buffer is valid (addressed, and stored to as bits); a float64 value is not */
  tm_kernel_arg f64[] = {{"x", 0, TM_ARG_BYTES, TM_F64, 0}};
  tm_kernel_info k = emu_add_info;
  k.nargs = 1, k.args = f64;
  CHECK(tm_module_load(d, emu_add_msl, &k, &m, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "float64");
  tm_free(err);
}

static const char int_msl[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void mix_ints(device const int* a [[buffer(0)]], device const uint* b [[buffer(1)]],\n"
    "    device long* out [[buffer(2)]], device uchar* bytes [[buffer(3)]],\n"
    "    constant long& bias [[buffer(4)]], constant uint& n [[buffer(5)]],\n"
    "    uint3 tm_pid [[threadgroup_position_in_grid]], uint tm_tid [[thread_index_in_threadgroup]])\n"
    "{\n"
    "  uint i = tm_pid.x * 64u + tm_tid;\n"
    "  if (i >= n) return;\n"
    "  int x = *TM_LD(a + i, 3);\n"
    "  uint y = *TM_LD(b + i, 4);\n"
    "  long r = long(x) * 3 - long(y >> 3) + (long(x ^ int(y)) % 7) + bias;\n"
    "  *TM_ST(out + i, 5) = r + long(min(x, 5)) + long(max(y, 9u)) + long(clamp(x, -2, 2)) + abs(x);\n"
    "  *TM_ST(bytes + i, 6) = uchar(x);\n"
    "}\n";

static void test_integers(tm_device *d) {
  enum { N = 1000 };
  static const tm_kernel_arg args[] = {
      {"a", 0, TM_ARG_BUFFER, TM_I32, 0},   {"b", 1, TM_ARG_BUFFER, TM_U32, 0},
      {"out", 2, TM_ARG_BUFFER, TM_I64, 1}, {"bytes", 3, TM_ARG_BUFFER, TM_U8, 1},
      {"bias", 4, TM_ARG_BYTES, TM_I64, 0}, {"n", 5, TM_ARG_BYTES, TM_U32, 0}};
  tm_kernel_info k = {.name = "mix_ints", .source_file = "ints.py", .nargs = 6, .args = args,
                      .nbuiltins = 2,
                      .builtins = {TM_BI_THREADGROUP_POSITION, TM_BI_THREAD_INDEX},
                      .threads_per_threadgroup = 64};
  tm_module *m = emu_load(d, int_msl, &k);
  if (!m) return;
  static int a[N];
  static unsigned b[N];
  static long out[N];
  static unsigned char bytes[N];
  unsigned s = 7;
  for (int i = 0; i < N; i++) {
    s = s * 1664525u + 1013904223u;
    a[i] = (int)s >> 7;
    b[i] = s * 2654435761u;
  }
  long bias = -123456789012L;
  unsigned n = N;
  tm_launch_arg la[] = {emu_buf(a, sizeof a), emu_buf(b, sizeof b), emu_buf(out, sizeof out),
                        emu_buf(bytes, sizeof bytes), emu_val(&bias, 8), emu_val(&n, 4)};
  uint32_t grid[3] = {(N + 63) / 64, 1, 1};
  char *err = NULL;
  CHECK(tm_launch(m, grid, la, 6, &err) == TM_OK);
  int bad = 0;
  for (int i = 0; i < N; i++) {
    int x = a[i];
    unsigned y = b[i];
    long r = (long)x * 3 - (long)(y >> 3) + ((long)(x ^ (int)y) % 7) + bias;
    r += (x < 5 ? x : 5) + (long)(y > 9 ? y : 9) + (x < -2 ? -2 : x > 2 ? 2 : x) +
         (x < 0 ? -x : x);
    bad += out[i] != r || bytes[i] != (unsigned char)x;
  }
  CHECK(bad == 0);
  tm_module_free(m);
}

/* 256 threads: reverse each 256-block through threadgroup memory, then a tree
 * sum over the block with a barrier per level; threads >= 200 of the last
 * block return early (a barrier waits only for threads that have not returned). */
static const char tg_msl[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void rev_sum(device const float* x [[buffer(0)]], device float* y [[buffer(1)]],\n"
    "    device float* sums [[buffer(2)]], constant int& n [[buffer(3)]],\n"
    "    uint3 tm_pid [[threadgroup_position_in_grid]], uint tm_tid [[thread_index_in_threadgroup]])\n"
    "{\n"
    "  threadgroup float buf[256];\n"
    "  threadgroup float red[256];\n"
    "  int base = int(tm_pid.x) * 256;\n"
    "  buf[tm_tid] = *TM_LD(x + base + int(tm_tid), 7);\n"
    "  threadgroup_barrier(mem_flags::mem_threadgroup);\n"
    "  *TM_ST(y + base + int(tm_tid), 9) = buf[255u - tm_tid];\n"
    "  red[tm_tid] = buf[tm_tid];\n"
    "  threadgroup_barrier(mem_flags::mem_threadgroup);\n"
    "  for (uint s = 128u; s > 0u; s >>= 1) {\n"
    "    if (tm_tid < s) red[tm_tid] += red[tm_tid + s];\n"
    "    threadgroup_barrier(mem_flags::mem_threadgroup);\n"
    "  }\n"
    "  if (tm_tid == 0u) *TM_ST(sums + tm_pid.x, 16) = red[0];\n"
    "  if (base + 256 > n && tm_tid >= 200u) return;\n"
    "  threadgroup_barrier(mem_flags::mem_threadgroup);\n"
    "  if (tm_tid == 0u) *TM_ST(sums + tm_pid.x, 20) += 1.0f;\n"
    "}\n";

static void test_threadgroup_barrier(tm_device *d) {
  enum { G = 37, N = G * 256 };
  static const tm_kernel_arg args[] = {{"x", 0, TM_ARG_BUFFER, TM_F32, 0},
                                       {"y", 1, TM_ARG_BUFFER, TM_F32, 1},
                                       {"sums", 2, TM_ARG_BUFFER, TM_F32, 1},
                                       {"n", 3, TM_ARG_BYTES, TM_I32, 0}};
  tm_kernel_info k = {.name = "rev_sum", .source_file = "tg.py", .nargs = 4, .args = args,
                      .nbuiltins = 2,
                      .builtins = {TM_BI_THREADGROUP_POSITION, TM_BI_THREAD_INDEX},
                      .threads_per_threadgroup = 256, .threadgroup_mem_bytes = 2048,
                      .uses_barriers = 1};
  tm_module *m = emu_load(d, tg_msl, &k);
  if (!m) return;
  static float x[N], y[N], sums[G];
  for (int i = 0; i < N; i++) x[i] = (float)(i % 1000) - 300.0f; /* exact sums */
  /* n short of the last block: its threads >= 200 return before the last
   * barrier, after the others arrived there, so only their returning can
   * release it (runtime/cpu/cpu_exec.c thread_done; the barrier-exit-release mutant) */
  int n = N - 1;
  tm_launch_arg la[] = {emu_buf(x, sizeof x), emu_buf(y, sizeof y), emu_buf(sums, sizeof sums),
                        emu_val(&n, 4)};
  uint32_t grid[3] = {G, 1, 1};
  char *err = NULL;
  tm_status st = tm_launch(m, grid, la, 4, &err);
  CHECK(st == TM_OK);
  if (st) fprintf(stderr, "%s\n", err);
  int bad_rev = 0, bad_sum = 0;
  for (int g = 0; g < G; g++) {
    float s = 0;
    for (int t = 0; t < 256; t++) {
      bad_rev += y[g * 256 + t] != x[g * 256 + 255 - t];
      s += x[g * 256 + t];
    }
    bad_sum += sums[g] != s + 1.0f;
  }
  CHECK(bad_rev == 0);
  CHECK(bad_sum == 0);
  tm_module_free(m);
}

static const char simd_msl[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void simd_ops(device const float* x [[buffer(0)]], device float* out [[buffer(1)]],\n"
    "    device int* iout [[buffer(2)]],\n"
    "    uint3 tm_pid [[threadgroup_position_in_grid]], uint tm_tid [[thread_index_in_threadgroup]],\n"
    "    uint lane [[thread_index_in_simdgroup]], uint sg [[simdgroup_index_in_threadgroup]])\n"
    "{\n"
    "  uint i = tm_pid.x * 64u + tm_tid;\n"
    "  float v = *TM_LD(x + i, 7);\n"
    "  *TM_ST(out + 4u * i + 0u, 8) = simd_sum(v);\n"
    "  *TM_ST(out + 4u * i + 1u, 9) = simd_shuffle_xor(v, 1);\n"
    "  *TM_ST(out + 4u * i + 2u, 10) = simd_max(v);\n"
    "  *TM_ST(out + 4u * i + 3u, 11) = simd_prefix_exclusive_sum(v);\n"
    "  int li = int(lane);\n"
    "  *TM_ST(iout + 4u * i + 0u, 13) = simd_shuffle_down(li, 3u) + 100 * simd_shuffle_up(li, 2u);\n"
    "  *TM_ST(iout + 4u * i + 1u, 14) = simd_broadcast(int(sg) * 1000 + li, 5) + (simd_any(lane == 7u) ? 1 : 0);\n"
    "  *TM_ST(iout + 4u * i + 2u, 15) = simd_or(1 << (lane % 8u)) + (simd_all(lane < 31u) ? 1000 : 0);\n"
    "  *TM_ST(iout + 4u * i + 3u, 16) = simd_prefix_inclusive_sum(li) + simd_min(li - 5);\n"
    "}\n";

static void test_simd(tm_device *d) {
  enum { G = 3, N = G * 64 };
  static const tm_kernel_arg args[] = {{"x", 0, TM_ARG_BUFFER, TM_F32, 0},
                                       {"out", 1, TM_ARG_BUFFER, TM_F32, 1},
                                       {"iout", 2, TM_ARG_BUFFER, TM_I32, 1}};
  tm_kernel_info k = {.name = "simd_ops", .source_file = "simd.py", .nargs = 3, .args = args,
                      .nbuiltins = 4,
                      .builtins = {TM_BI_THREADGROUP_POSITION, TM_BI_THREAD_INDEX, TM_BI_SIMDLANE,
                                   TM_BI_SIMDGROUP},
                      .threads_per_threadgroup = 64, .uses_barriers = 1};
  tm_module *m = emu_load(d, simd_msl, &k);
  if (!m) return;
  static float x[N], out[4 * N];
  static int iout[4 * N];
  unsigned s = 99;
  for (int i = 0; i < N; i++) x[i] = (float)(int)(emu_randf(&s) * 16); /* integers: exact sums */
  tm_launch_arg la[] = {emu_buf(x, sizeof x), emu_buf(out, sizeof out), emu_buf(iout, sizeof iout)};
  uint32_t grid[3] = {G, 1, 1};
  char *err = NULL;
  tm_status st = tm_launch(m, grid, la, 3, &err);
  CHECK(st == TM_OK);
  if (st) fprintf(stderr, "%s\n", err);
  int bad = 0;
  for (int i = 0; i < N; i++) {
    int b = i & ~31, lane = i & 31, sg = (i % 64) / 32;
    float sum = 0, mx = x[b], pre = 0;
    for (int l = 0; l < 32; l++) sum += x[b + l], mx = x[b + l] > mx ? x[b + l] : mx;
    for (int l = 0; l < lane; l++) pre += x[b + l];
    bad += out[4 * i] != sum;
    bad += out[4 * i + 1] != x[b + (lane ^ 1)];
    bad += out[4 * i + 2] != mx;
    bad += out[4 * i + 3] != pre;
    int down = lane + 3 < 32 ? lane + 3 : lane, up = lane >= 2 ? lane - 2 : lane;
    bad += iout[4 * i] != down + 100 * up;
    bad += iout[4 * i + 1] != sg * 1000 + 5 + 1;
    bad += iout[4 * i + 2] != 255;
    bad += iout[4 * i + 3] != lane * (lane + 1) / 2 - 5;
  }
  CHECK(bad == 0);
  tm_module_free(m);
}

static void test_out_of_bounds(tm_device *d) {
  tm_module *m = emu_load(d, emu_add_msl, &emu_add_info);
  if (!m) return;
  static float x[1000], y[1000], out[1000];
  int n = 1001; /* one past the end of every buffer */
  tm_launch_arg args[] = {emu_buf(x, sizeof x), emu_buf(y, sizeof y), emu_buf(out, sizeof out),
                          emu_val(&n, 4)};
  uint32_t grid[3] = {1, 1, 1};
  char *err = NULL;
  CHECK(tm_launch(m, grid, args, 4, &err) == TM_ERR_RUNTIME);
  CHECK_CONTAINS(err, "out-of-bounds load in kernel 'add_kernel' at vector_add.py:12: address "
                      "is 4 bytes past the end of argument 'x_ptr' (4000 bytes)");
  CHECK_CONTAINS(err, "threadgroup (0,0,0) thread 104");
  tm_free(err);
  /* The process goes on and a valid launch on the same module works. */
  n = 1000;
  for (int i = 0; i < 1000; i++) x[i] = (float)i, y[i] = -2.0f * (float)i;
  CHECK(tm_launch(m, grid, args, 4, &err) == TM_OK);
  CHECK(out[999] == -999.0f && out[0] == 0.0f);
  /* A buffer bound one element late and one short. */
  n = 1000;
  args[0] = emu_buf(x + 1, sizeof x - 4);
  CHECK(tm_launch(m, grid, args, 4, &err) == TM_ERR_RUNTIME);
  CHECK_CONTAINS(err, "4 bytes past the end of argument 'x_ptr' (3996 bytes)");
  tm_free(err);
  args[0] = emu_buf(x, sizeof x);
  /* The caller's read-only flag refuses stores. */
  args[2].readonly = 1;
  CHECK(tm_launch(m, grid, args, 4, &err) == TM_ERR_RUNTIME);
  CHECK_CONTAINS(err, "store to read-only argument 'output_ptr' in kernel 'add_kernel' at "
                      "vector_add.py:16 (byte offset 0 of 4000)");
  tm_free(err);
  /* Many threadgroups on the pool: still one clean error, then a clean launch. */
  static float bx[100000], by[100000], bo[100000];
  args[0] = emu_buf(bx, sizeof bx), args[1] = emu_buf(by, sizeof by / 2);
  args[2] = emu_buf(bo, sizeof bo);
  n = 100000;
  grid[0] = (100000 + 1023) / 1024;
  CHECK(tm_launch(m, grid, args, 4, &err) == TM_ERR_RUNTIME);
  CHECK_CONTAINS(err, "out-of-bounds load in kernel 'add_kernel' at vector_add.py:13");
  CHECK_CONTAINS(err, "past the end of argument 'y_ptr' (200000 bytes)");
  tm_free(err);
  args[1] = emu_buf(by, sizeof by);
  CHECK(tm_launch(m, grid, args, 4, &err) == TM_OK);
  tm_module_free(m);
}

/* Collectives with lanes that returned: reported, neither hung nor crashed. */
static void test_simd_errors(tm_device *d) {
  static const char *bodies[] = {"  if (lane == 31u) return;\n",
                                 "  if (lane == 0u) return;\n"};
  static const char *want[] = {"lane 31 of SIMD-group 0 returned while 31 other lane(s) wait",
                               "reached by lane 1 of SIMD-group 0 after 1 lane(s)"};
  static const tm_kernel_arg args[] = {{"out", 0, TM_ARG_BUFFER, TM_F32, 1}};
  tm_kernel_info k = {.name = "bad_simd", .source_file = "bad.py", .nargs = 1, .args = args,
                      .nbuiltins = 2, .builtins = {TM_BI_THREAD_INDEX, TM_BI_SIMDLANE},
                      .threads_per_threadgroup = 64, .uses_barriers = 1};
  for (int i = 0; i < 2; i++) {
    char msl[1024];
    snprintf(msl, sizeof msl,
             "#include <metal_stdlib>\nusing namespace metal;\n"
             "kernel void bad_simd(device float* out [[buffer(0)]], uint t "
             "[[thread_index_in_threadgroup]], uint lane [[thread_index_in_simdgroup]]) {\n"
             "%s  *TM_ST(out + t, 3) = simd_sum(1.0f);\n}\n",
             bodies[i]);
    tm_module *m = emu_load(d, msl, &k);
    if (!m) continue;
    static float out[64];
    tm_launch_arg la[] = {emu_buf(out, sizeof out)};
    uint32_t grid[3] = {4, 1, 1};
    char *err = NULL;
    CHECK(tm_launch(m, grid, la, 1, &err) == TM_ERR_RUNTIME);
    CHECK_CONTAINS(err, want[i]);
    CHECK_CONTAINS(err, "kernel 'bad_simd' (bad.py)");
    tm_free(err);
    tm_module_free(m);
  }
  /* A barrier in a kernel whose descriptor says it has none. */
  tm_kernel_info k2 = k;
  k2.uses_barriers = 0;
  tm_module *m = emu_load(d,
                          "#include <metal_stdlib>\nusing namespace metal;\n"
                          "kernel void bad_simd(device float* out [[buffer(0)]], uint t "
                          "[[thread_index_in_threadgroup]], uint lane "
                          "[[thread_index_in_simdgroup]]) {\n"
                          "  threadgroup_barrier(mem_flags::mem_none);\n}\n",
                          &k2);
  if (m) {
    static float out[64];
    tm_launch_arg la[] = {emu_buf(out, sizeof out)};
    uint32_t grid[3] = {1, 1, 1};
    char *err = NULL;
    CHECK(tm_launch(m, grid, la, 1, &err) == TM_ERR_RUNTIME);
    CHECK_CONTAINS(err, "uses_barriers = 0");
    tm_free(err);
    tm_module_free(m);
  }
}

/* half and bfloat buffers, vector types and math functions. */
static const char types_msl[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void types(device const half* h [[buffer(0)]], device bfloat* b [[buffer(1)]],\n"
    "    device float* out [[buffer(2)]], constant half& scale [[buffer(3)]],\n"
    "    uint tm_tid [[thread_index_in_threadgroup]])\n"
    "{\n"
    "  half x = *TM_LD(h + tm_tid, 5);\n"
    "  half y = x * scale;\n"
    "  *TM_ST(b + tm_tid, 7) = bfloat(float(y) + 1.0f);\n"
    "  float4 v = float4(float(x), 1.0f, 2.0f, 3.0f);\n"
    "  float2 w = float2(v.x, v.w) + float2(0.5f);\n"
    "  uint3 u = uint3(tm_tid, 2u, 3u);\n"
    "  int4 iv = int4(v);\n"
    "  float r = w.x * w.y + float(u.x + u.y * u.z) + float(iv.y + iv.w);\n"
    "  r += exp(0.0f) + sqrt(4.0f) + fabs(-1.0f) + max(1.0f, 2.0f) + float(isnan(NAN)) + float(isinf(INFINITY));\n"
    "  r += precise::tanh(0.0f) + fast::exp2(3.0f) + as_type<float>(as_type<uint>(1.0f)) + select(1.0f, 2.0f, true);\n"
    "  *TM_ST(out + tm_tid, 13) = r;\n"
    "}\n";

static void test_types(tm_device *d) {
  static const tm_kernel_arg args[] = {{"h", 0, TM_ARG_BUFFER, TM_F16, 0},
                                       {"b", 1, TM_ARG_BUFFER, TM_BF16, 1},
                                       {"out", 2, TM_ARG_BUFFER, TM_F32, 1},
                                       {"scale", 3, TM_ARG_BYTES, TM_F16, 0}};
  tm_kernel_info k = {.name = "types", .source_file = "types.py", .nargs = 4, .args = args,
                      .nbuiltins = 1, .builtins = {TM_BI_THREAD_INDEX},
                      .threads_per_threadgroup = 8};
  tm_module *m = emu_load(d, types_msl, &k);
  if (!m) return;
  /* half bit patterns of 0, 1, 2, -1.5, 0.25, 3, -4, 10 */
  uint16_t h[8] = {0x0000, 0x3c00, 0x4000, 0xbe00, 0x3400, 0x4200, 0xc400, 0x4900};
  float hv[8] = {0, 1, 2, -1.5f, 0.25f, 3, -4, 10};
  uint16_t b[8] = {0}, scale = 0x4000; /* 2.0 */
  float out[8];
  tm_launch_arg la[] = {emu_buf(h, sizeof h), emu_buf(b, sizeof b), emu_buf(out, sizeof out),
                        emu_val(&scale, 2)};
  uint32_t grid[3] = {1, 1, 1};
  char *err = NULL;
  tm_status st = tm_launch(m, grid, la, 4, &err);
  CHECK(st == TM_OK);
  if (st) fprintf(stderr, "%s\n", err);
  int bad = 0;
  for (int t = 0; t < 8; t++) {
    float y = hv[t] * 2 + 1;
    uint32_t bits;
    memcpy(&bits, &y, 4);
    bad += b[t] != (uint16_t)(bits >> 16); /* exact in bfloat: small integers and halves */
    float r = (hv[t] + 0.5f) * 3.5f + (float)(t + 6) + (float)(1 + 3);
    r += 1 + 2 + 1 + 2 + 1 + 1 + 0 + 8 + 1 + 2;
    bad += out[t] != r;
  }
  CHECK(bad == 0);
  tm_module_free(m);
}

/* Launches from several OS threads: two devices at once, and one shared device
 * (launches serialize) must not see each other's buffers or errors. */
typedef struct Racer {
  tm_module *m;
  int bad_len; /* nonzero: launch with an n past the end, expect an error */
  int fails;
} Racer;

static void *racer(void *arg) {
  Racer *r = arg;
  enum { N = 50000 };
  float *x = malloc(N * 4), *y = malloc(N * 4), *o = malloc(N * 4);
  for (int i = 0; i < N; i++) x[i] = (float)i, y[i] = (float)(r->bad_len ? 1 : -1);
  for (int it = 0; it < 20; it++) {
    int n = r->bad_len ? N + 1 : N;
    tm_launch_arg args[] = {emu_buf(x, N * 4), emu_buf(y, N * 4), emu_buf(o, N * 4),
                            emu_val(&n, 4)};
    uint32_t grid[3] = {(N + 1024) / 1024, 1, 1};
    char *err = NULL;
    tm_status st = tm_launch(r->m, grid, args, 4, &err);
    if (r->bad_len) r->fails += st != TM_ERR_RUNTIME || !err || !strstr(err, "past the end");
    else r->fails += st != TM_OK || o[N - 1] != (float)(N - 2) || o[7] != 6.0f;
    tm_free(err);
  }
  free(x), free(y), free(o);
  return NULL;
}

static void test_threads(void) {
  tm_device *d1 = emu_open(), *d2 = emu_open();
  tm_module *m1 = emu_load(d1, emu_add_msl, &emu_add_info);
  tm_module *m2 = emu_load(d2, emu_add_msl, &emu_add_info);
  if (m1 && m2) {
    Racer r[4] = {{m1, 0, 0}, {m2, 1, 0}, {m1, 1, 0}, {m2, 0, 0}};
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, racer, &r[i]);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    CHECK(r[0].fails == 0 && r[1].fails == 0 && r[2].fails == 0 && r[3].fails == 0);
  }
  tm_module_free(m1);
  tm_module_free(m2);
  tm_device_close(d1);
  tm_device_close(d2);
}

/* A forked child launches on the parent's device: new pool threads, no hang. */
static void test_fork(tm_device *d) {
  tm_module *m = emu_load(d, emu_add_msl, &emu_add_info);
  if (!m) return;
  enum { N = 20000 };
  static float x[N], y[N], o[N];
  int n = N;
  tm_launch_arg args[] = {emu_buf(x, sizeof x), emu_buf(y, sizeof y), emu_buf(o, sizeof o),
                          emu_val(&n, 4)};
  uint32_t grid[3] = {(N + 1023) / 1024, 1, 1};
  CHECK(tm_launch(m, grid, args, 4, NULL) == TM_OK); /* pool threads now exist */
  pid_t pid = fork();
  if (pid == 0) {
    for (int i = 0; i < N; i++) x[i] = (float)i, y[i] = 1;
    _exit(tm_launch(m, grid, args, 4, NULL) == TM_OK && o[N - 1] == (float)N ? 0 : 1);
  }
  int st = -1;
  CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  tm_module_free(m);
}

/* A module outlives its device handle: the device stays until its last module. */
static void test_module_after_close(void) {
  tm_device *d = emu_open();
  tm_module *m = emu_load(d, emu_add_msl, &emu_add_info);
  tm_device_close(d);
  if (!m) return;
  float a[3] = {1, 2, 3}, b[3] = {4, 5, 6}, c[3] = {0};
  int n = 3;
  tm_launch_arg args[] = {emu_buf(a, 12), emu_buf(b, 12), emu_buf(c, 12), emu_val(&n, 4)};
  uint32_t grid[3] = {1, 1, 1};
  CHECK(tm_launch(m, grid, args, 4, NULL) == TM_OK && c[2] == 9.0f);
  tm_module_free(m);
}

int main(void) {
  emu_fresh_cache();
  test_devices();
  tm_device *d = emu_open();
  test_vector_add(d);
  test_launch_validation(d);
  test_integers(d);
  test_threadgroup_barrier(d);
  test_simd(d);
  test_out_of_bounds(d);
  test_simd_errors(d);
  test_types(d);
  test_fork(d);
  tm_device_close(d);
  test_threads();
  test_module_after_close();
  emu_rm_cache();
  return check_report("test_emu");
}
