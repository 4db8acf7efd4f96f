/* test_emu_sched.c: the emulator's threadgroup memory (per threadgroup, every
 * index bounds-checked: a located error, never a crash) and its interleaved
 * schedule (TRITON_METAL_CPU_SCHEDULE=interleave[:SEED]): lost updates show
 * within and across threadgroups, atomics stay exact, the same seed gives the
 * same interleaving, threadgroups keep their own memory, barriers and
 * SIMD-groups, deadlocks are reported. */
#include "test_emu.h"

static void set_schedule(const char *s) {
  if (s) setenv("TRITON_METAL_CPU_SCHEDULE", s, 1);
  else unsetenv("TRITON_METAL_CPU_SCHEDULE");
}

/* Launches m over g threadgroups; returns the status, *err_out the message. */
static tm_status launch(tm_module *m, uint32_t g, tm_launch_arg *la, int n, char **err_out) {
  uint32_t grid[3] = {g, 1, 1};
  char *err = NULL;
  tm_status st = tm_launch(m, grid, la, n, &err);
  if (err_out) *err_out = err;
  else tm_free(err);
  return st;
}

/* ------------------------------------------------------------ threadgroup memory */

/* Each thread writes buf[tid], then (after a barrier) reads buf[idx[tid]]:
 * idx holds in-range indices unless a test plants a bad one. */
static const char tg_msl[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void tgk(device const int* idx [[buffer(0)]], device float* out [[buffer(1)]],\n"
    "    uint3 tm_pid [[threadgroup_position_in_grid]], uint tm_tid [[thread_index_in_threadgroup]])\n"
    "{\n"
    "  TM_TG_ARRAY(float, buf, 64, 0);\n"
    "  TM_TG_ARRAY(short, tag, 64, 256);\n"
    "  TM_TGM(buf, 11)[tm_tid] = float(tm_pid.x * 1000u + tm_tid);\n"
    "  TM_TGM(tag, 12)[tm_tid] = short(tm_pid.x);\n"
    "  threadgroup_barrier(mem_flags::mem_threadgroup);\n"
    "  int i = *TM_LD(idx + tm_pid.x * 64u + tm_tid, 14);\n"
    "  *TM_ST(out + tm_pid.x * 64u + tm_tid, 15) = TM_TGM(buf, 15)[i] + float(TM_TGM(tag, 15)[63 - tm_tid]) * 0.5f;\n"
    "}\n";

static const tm_kernel_arg tg_args[] = {{"idx", 0, TM_ARG_BUFFER, TM_I32, 0},
                                        {"out", 1, TM_ARG_BUFFER, TM_F32, 1}};

static tm_kernel_info tg_info(int bytes) {
  return (tm_kernel_info){.name = "tgk", .source_file = "tgk.py", .nargs = 2, .args = tg_args,
                          .nbuiltins = 2, .builtins = {TM_BI_THREADGROUP_POSITION, TM_BI_THREAD_INDEX},
                          .threads_per_threadgroup = 64, .threadgroup_mem_bytes = bytes,
                          .uses_barriers = 1};
}

enum { TG_G = 40, TG_N = TG_G * 64 };
static int tg_idx[TG_N];
static float tg_out[TG_N];

/* Every threadgroup reads back its own values: threadgroups never share memory. */
static int tg_check(void) {
  int bad = 0;
  for (int g = 0; g < TG_G; g++)
    for (int t = 0; t < 64; t++)
      bad += tg_out[g * 64 + t] != (float)(g * 1000 + tg_idx[g * 64 + t]) + 0.5f * (float)g;
  return bad;
}

static void test_tg_memory(tm_device *d, const char *schedule) {
  set_schedule(schedule);
  tm_kernel_info k = tg_info(64 * 4 + 64 * 2);
  tm_module *m = emu_load(d, tg_msl, &k);
  if (!m) return;
  for (int i = 0; i < TG_N; i++) tg_idx[i] = (i * 7 + 3) % 64;
  tm_launch_arg la[] = {emu_buf(tg_idx, sizeof tg_idx), emu_buf(tg_out, sizeof tg_out)};
  CHECK(launch(m, TG_G, la, 2, NULL) == TM_OK);
  CHECK(tg_check() == 0);

  /* an index past the end, then before the start: a located error naming the
   * array, the index and the thread; the launch never crashes */
  static const struct {
    int at, index;
    const char *want;
  } bad[] = {
      {5 * 64 + 9, 64, "out-of-bounds threadgroup memory access in kernel 'tgk' at tgk.py:15: index 64 of "
                       "threadgroup array buf (64 elements); threadgroup (5,0,0) thread 9"},
      {17 * 64 + 63, -1, "at tgk.py:15: index -1 of threadgroup array buf (64 elements); threadgroup (17,0,0) thread 63"},
      {64 + 1, 1 << 30, "index 1073741824 of threadgroup array buf"},
  };
  for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
    for (int i = 0; i < TG_N; i++) tg_idx[i] = (i * 7 + 3) % 64;
    tg_idx[bad[b].at] = bad[b].index;
    char *err = NULL;
    CHECK(launch(m, TG_G, la, 2, &err) == TM_ERR_RUNTIME);
    CHECK_CONTAINS(err, bad[b].want);
    tm_free(err);
  }
  tm_module_free(m);

  /* a descriptor whose threadgroup memory is smaller than the arrays' layout */
  k = tg_info(64 * 4);
  m = emu_load(d, tg_msl, &k);
  if (!m) return;
  for (int i = 0; i < TG_N; i++) tg_idx[i] = 0;
  char *err = NULL;
  CHECK(launch(m, TG_G, la, 2, &err) == TM_ERR_RUNTIME);
  CHECK_CONTAINS(err, "kernel 'tgk' (tgk.py): threadgroup array tag (64 elements) lies outside the kernel's "
                      "256 bytes of threadgroup memory");
  tm_free(err);
  tm_module_free(m);
  set_schedule(NULL);
}

/* ------------------------------------------------------------ misaligned vectors */

/* A float4 load from x + off: Metal needs 16-byte aligned vector accesses (x86
 * does not care), so the emulator refuses a misaligned one as a GPU would fail it. */
static const char align_msl[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void al(device const float* x [[buffer(0)]], device float* y [[buffer(1)]],\n"
    "    constant int& off [[buffer(2)]], uint tm_tid [[thread_index_in_threadgroup]])\n"
    "{\n"
    "  *TM_ST((device float4*)(y + 4u * tm_tid), 6) = *TM_LD((device const float4*)(x + off + 4 * int(tm_tid)), 6);\n"
    "}\n";

static void test_misaligned_vectors(tm_device *d) {
  static const tm_kernel_arg args[] = {{"x", 0, TM_ARG_BUFFER, TM_F32, 0},
                                       {"y", 1, TM_ARG_BUFFER, TM_F32, 1},
                                       {"off", 2, TM_ARG_BYTES, TM_I32, 0}};
  tm_kernel_info k = {.name = "al", .source_file = "al.py", .nargs = 3, .args = args, .nbuiltins = 1,
                      .builtins = {TM_BI_THREAD_INDEX}, .threads_per_threadgroup = 8, .uses_barriers = 0};
  tm_module *m = emu_load(d, align_msl, &k);
  if (!m) return;
  static _Alignas(16) float x[64], y[32];
  for (int i = 0; i < 64; i++) x[i] = (float)i;
  for (int off = 0; off < 8; off++) {
    tm_launch_arg la[] = {emu_buf(x, sizeof x), emu_buf(y, sizeof y), emu_val(&off, 4)};
    char *err = NULL;
    tm_status st = launch(m, 1, la, 3, &err);
    if (off % 4 == 0) {
      CHECK(st == TM_OK && y[0] == (float)off && y[31] == (float)(off + 31));
    } else {
      CHECK(st == TM_ERR_RUNTIME);
      char want[160];
      snprintf(want, sizeof want, "misaligned load in kernel 'al' at al.py:6: a 16-byte access at address %p "
               "(byte offset %d of argument 'x'), which is not a multiple of 16; threadgroup (0,0,0) thread 0",
               (void *)(x + off), 4 * off);
      CHECK_CONTAINS(err, want);
    }
    tm_free(err);
  }
  tm_module_free(m);
}

/* ------------------------------------------------------------ lost updates */

/* count[0] += 1 by every thread (ATOMIC: atomic_fetch_add; else a load and a
 * store); count[1] += 1 by thread 0 of each threadgroup between two barriers
 * (the compiler's scalar-atomic pattern), the same way. */
static const char rmw_msl[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void rmw(device int* count [[buffer(0)]],\n"
    "    uint3 tm_pid [[threadgroup_position_in_grid]], uint tm_tid [[thread_index_in_threadgroup]])\n"
    "{\n"
    "#if ATOMIC\n"
    "  atomic_fetch_add_explicit((device atomic_int*)TM_ST(count, 7), 1, memory_order_relaxed);\n"
    "#else\n"
    "  int c = *TM_LD(count, 9);\n"
    "  *TM_ST(count, 10) = c + 1;\n"
    "#endif\n"
    "  threadgroup_barrier(mem_flags::mem_threadgroup);\n"
    "  if (tm_tid == 0u) {\n"
    "#if ATOMIC\n"
    "    atomic_fetch_add_explicit((device atomic_int*)TM_ST(count + 1, 15), 1, memory_order_relaxed);\n"
    "#else\n"
    "    int s = *TM_LD(count + 1, 17);\n"
    "    *TM_ST(count + 1, 18) = s + 1;\n"
    "#endif\n"
    "  }\n"
    "  threadgroup_barrier(mem_flags::mem_threadgroup);\n"
    "}\n";

static void test_lost_updates(tm_device *d) {
  enum { G = 64, T = 64 };
  static const tm_kernel_arg args[] = {{"count", 0, TM_ARG_BUFFER, TM_I32, 1}};
  tm_kernel_info k = {.name = "rmw", .source_file = "rmw.py", .nargs = 1, .args = args, .nbuiltins = 2,
                      .builtins = {TM_BI_THREADGROUP_POSITION, TM_BI_THREAD_INDEX},
                      .threads_per_threadgroup = T, .uses_barriers = 1};
  char plain[sizeof rmw_msl + 32], atomic[sizeof rmw_msl + 32];
  snprintf(plain, sizeof plain, "#define ATOMIC 0\n%s", rmw_msl);
  snprintf(atomic, sizeof atomic, "#define ATOMIC 1\n%s", rmw_msl);
  tm_module *mp = emu_load(d, plain, &k), *ma = emu_load(d, atomic, &k);
  if (!mp || !ma) return;
  for (int seed = 1; seed <= 8; seed++) {
    char s[32];
    snprintf(s, sizeof s, "interleave:%d", seed);
    set_schedule(s);
    int count[2] = {0, 0};
    tm_launch_arg la[] = {emu_buf(count, sizeof count)};
    CHECK(launch(mp, G, la, 1, NULL) == TM_OK);
    /* within a threadgroup and across threadgroups, updates are lost */
    CHECK(count[0] < G * T && count[0] > 0);
    CHECK(count[1] < G && count[1] > 0);
    count[0] = count[1] = 0;
    CHECK(launch(ma, G, la, 1, NULL) == TM_OK);
    CHECK(count[0] == G * T && count[1] == G);
  }
  /* the default schedule runs a threadgroup's threads one after another: the
   * plain increments of one threadgroup all land (one worker, no overlap) */
  set_schedule("default");
  setenv("TRITON_METAL_CPU_THREADS", "1", 1);
  tm_device *d1 = emu_open();
  tm_module *m1 = emu_load(d1, plain, &k);
  if (m1) {
    int count[2] = {0, 0};
    tm_launch_arg la[] = {emu_buf(count, sizeof count)};
    CHECK(launch(m1, G, la, 1, NULL) == TM_OK);
    CHECK(count[0] == G * T && count[1] == G);
    tm_module_free(m1);
  }
  tm_device_close(d1);
  unsetenv("TRITON_METAL_CPU_THREADS");
  set_schedule(NULL);
  tm_module_free(mp);
  tm_module_free(ma);
}

/* ------------------------------------------------------------ determinism */

/* Every thread takes a ticket and records who it is at that place: the order in
 * which the threads of all threadgroups reached the atomic. */
static const char order_msl[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void order(device int* next [[buffer(0)]], device int* who [[buffer(1)]],\n"
    "    uint3 tm_pid [[threadgroup_position_in_grid]], uint tm_tid [[thread_index_in_threadgroup]])\n"
    "{\n"
    "  int t = atomic_fetch_add_explicit((device atomic_int*)TM_ST(next, 6), 1, memory_order_relaxed);\n"
    "  *TM_ST(who + t, 7) = int(tm_pid.x * 32u + tm_tid);\n"
    "}\n";

static void test_same_seed_same_order(tm_device *d) {
  enum { G = 24, N = G * 32 };
  static const tm_kernel_arg args[] = {{"next", 0, TM_ARG_BUFFER, TM_I32, 1},
                                       {"who", 1, TM_ARG_BUFFER, TM_I32, 1}};
  tm_kernel_info k = {.name = "order", .source_file = "order.py", .nargs = 2, .args = args, .nbuiltins = 2,
                      .builtins = {TM_BI_THREADGROUP_POSITION, TM_BI_THREAD_INDEX},
                      .threads_per_threadgroup = 32, .uses_barriers = 0};
  tm_module *m = emu_load(d, order_msl, &k);
  if (!m) return;
  static int who[3][N];
  const char *seeds[3] = {"interleave:42", "interleave:42", "interleave:43"};
  for (int r = 0; r < 3; r++) {
    set_schedule(seeds[r]);
    int next = 0;
    tm_launch_arg la[] = {emu_buf(&next, sizeof next), emu_buf(who[r], sizeof who[r])};
    CHECK(launch(m, G, la, 2, NULL) == TM_OK);
    CHECK(next == N);
  }
  CHECK(memcmp(who[0], who[1], sizeof who[0]) == 0);
  CHECK(memcmp(who[0], who[2], sizeof who[0]) != 0);
  /* every thread once; threads of different threadgroups interleave (the first
   * 64 tickets are not two threadgroups one after the other) */
  static char seen[N];
  memset(seen, 0, sizeof seen);
  int ok = 1, groups_in_first = 0;
  for (int i = 0; i < N; i++) ok &= who[0][i] >= 0 && who[0][i] < N && !seen[who[0][i]]++;
  static char g_seen[G];
  for (int i = 0; i < 64; i++) groups_in_first += !g_seen[who[0][i] / 32]++;
  CHECK(ok);
  CHECK(groups_in_first > 2);
  set_schedule(NULL);
  tm_module_free(m);
}

/* ------------------------------------------------------------ the window */

/* How many threads are between their first and their last access at once:
 * one worker runs at most 8 threadgroups side by side (of 32 threads here), and
 * runs more than two of them side by side. */
static const char live_msl[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void live(device int* cur [[buffer(0)]], device int* peak [[buffer(1)]], device int* out [[buffer(2)]],\n"
    "    uint3 tm_pid [[threadgroup_position_in_grid]], uint tm_tid [[thread_index_in_threadgroup]])\n"
    "{\n"
    "  int now = atomic_fetch_add_explicit((device atomic_int*)TM_ST(cur, 6), 1, memory_order_relaxed) + 1;\n"
    "  atomic_fetch_max_explicit((device atomic_int*)TM_ST(peak, 7), now, memory_order_relaxed);\n"
    "  for (int i = 0; i < 16; i++) *TM_ST(out + tm_pid.x * 32u + tm_tid, 8) = i;\n"
    "  atomic_fetch_sub_explicit((device atomic_int*)TM_ST(cur, 9), 1, memory_order_relaxed);\n"
    "}\n";

static void test_window(tm_device *d) {
  enum { G = 600, N = G * 32 };
  static const tm_kernel_arg args[] = {{"cur", 0, TM_ARG_BUFFER, TM_I32, 1},
                                       {"peak", 1, TM_ARG_BUFFER, TM_I32, 1},
                                       {"out", 2, TM_ARG_BUFFER, TM_I32, 1}};
  tm_kernel_info k = {.name = "live", .source_file = "live.py", .nargs = 3, .args = args, .nbuiltins = 2,
                      .builtins = {TM_BI_THREADGROUP_POSITION, TM_BI_THREAD_INDEX},
                      .threads_per_threadgroup = 32, .uses_barriers = 0};
  tm_module *m = emu_load(d, live_msl, &k);
  if (!m) return;
  static int out[N];
  set_schedule("interleave:8");
  int cur = 0, peak = 0;
  tm_launch_arg la[] = {emu_buf(&cur, sizeof cur), emu_buf(&peak, sizeof peak), emu_buf(out, sizeof out)};
  CHECK(launch(m, G, la, 3, NULL) == TM_OK);
  CHECK(cur == 0);
  CHECK(peak > 2 * 32);  /* threadgroups side by side */
  CHECK(peak <= 8 * 32); /* one worker, one window (pool threads stay out) */
  if (peak <= 2 * 32 || peak > 8 * 32) fprintf(stderr, "peak %d threads live at once\n", peak);
  set_schedule(NULL);
  tm_module_free(m);
}

/* ------------------------------------------------------------ SIMD-groups and deadlocks */

static const char simd_msl[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void ssum(device const float* x [[buffer(0)]], device float* out [[buffer(1)]],\n"
    "    uint3 tm_pid [[threadgroup_position_in_grid]], uint tm_tid [[thread_index_in_threadgroup]])\n"
    "{\n"
    "  uint i = tm_pid.x * 96u + tm_tid;\n"
    "  float v = *TM_LD(x + i, 7);\n"
    "  float s = simd_sum(v);\n"
    "  *TM_ST(out + i, 9) = s + simd_shuffle_xor(v, 3);\n"
    "}\n";

static void test_simd_interleaved(tm_device *d) {
  enum { G = 11, N = G * 96 };
  static const tm_kernel_arg args[] = {{"x", 0, TM_ARG_BUFFER, TM_F32, 0},
                                       {"out", 1, TM_ARG_BUFFER, TM_F32, 1}};
  tm_kernel_info k = {.name = "ssum", .source_file = "ssum.py", .nargs = 2, .args = args, .nbuiltins = 2,
                      .builtins = {TM_BI_THREADGROUP_POSITION, TM_BI_THREAD_INDEX},
                      .threads_per_threadgroup = 96, .uses_barriers = 1};
  tm_module *m = emu_load(d, simd_msl, &k);
  if (!m) return;
  static float x[N], out[N];
  for (int i = 0; i < N; i++) x[i] = (float)((i * 37) % 101 - 50); /* integers: exact sums */
  set_schedule("interleave:5");
  tm_launch_arg la[] = {emu_buf(x, sizeof x), emu_buf(out, sizeof out)};
  CHECK(launch(m, G, la, 2, NULL) == TM_OK);
  int bad = 0;
  for (int i = 0; i < N; i++) {
    int w = i / 32 * 32;
    float s = 0;
    for (int l = 0; l < 32; l++) s += x[w + l];
    bad += out[i] != s + x[w + ((i % 32) ^ 3)];
  }
  CHECK(bad == 0);
  set_schedule(NULL);
  tm_module_free(m);
}

/* A one-thread kernel without barriers may call SIMD-group functions (a
 * SIMD-group of one lane): as the first launch of a fresh device, whose worker
 * has allocated nothing for fibers yet. */
static const char lone_msl[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void lone(device float* out [[buffer(0)]], uint3 tm_pid [[threadgroup_position_in_grid]])\n"
    "{\n"
    "  float v = float(tm_pid.x) + 0.5f;\n"
    "  *TM_ST(out + tm_pid.x, 6) = simd_sum(v) + simd_shuffle_xor(v, 1);\n"
    "}\n";

static void test_lone_lane_first_launch(void) {
  static const tm_kernel_arg args[] = {{"out", 0, TM_ARG_BUFFER, TM_F32, 1}};
  tm_kernel_info k = {.name = "lone", .source_file = "lone.py", .nargs = 1, .args = args, .nbuiltins = 1,
                      .builtins = {TM_BI_THREADGROUP_POSITION}, .threads_per_threadgroup = 1, .uses_barriers = 0};
  tm_device *d = emu_open();
  tm_module *m = emu_load(d, lone_msl, &k);
  if (m) {
    static float out[5];
    tm_launch_arg la[] = {emu_buf(out, sizeof out)};
    CHECK(launch(m, 5, la, 1, NULL) == TM_OK);
    int bad = 0;
    for (int i = 0; i < 5; i++) bad += out[i] != 2.0f * ((float)i + 0.5f);
    CHECK(bad == 0);
    tm_module_free(m);
  }
  tm_device_close(d);
}

static const char deadlock_msl[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void dl(device float* out [[buffer(0)]], uint tm_tid [[thread_index_in_threadgroup]])\n"
    "{\n"
    "  if (tm_tid < 40u) threadgroup_barrier(mem_flags::mem_threadgroup);\n"
    "  else *TM_ST(out + tm_tid, 6) = simd_sum(1.0f);\n"
    "}\n";

static void test_deadlock_and_setting(tm_device *d) {
  static const tm_kernel_arg args[] = {{"out", 0, TM_ARG_BUFFER, TM_F32, 1}};
  tm_kernel_info k = {.name = "dl", .source_file = "dl.py", .nargs = 1, .args = args, .nbuiltins = 1,
                      .builtins = {TM_BI_THREAD_INDEX}, .threads_per_threadgroup = 64, .uses_barriers = 1};
  tm_module *m = emu_load(d, deadlock_msl, &k);
  if (!m) return;
  static float out[64];
  tm_launch_arg la[] = {emu_buf(out, sizeof out)};
  const char *modes[] = {"default", "interleave", "interleave:9"};
  for (int i = 0; i < 3; i++) {
    set_schedule(modes[i]);
    char *err = NULL;
    CHECK(launch(m, 3, la, 1, &err) == TM_ERR_RUNTIME);
    CHECK_CONTAINS(err, "kernel 'dl' (dl.py): deadlock: 40 thread(s) wait at threadgroup_barrier while 24 wait in "
                        "SIMD-group collectives");
    tm_free(err);
  }
  const char *bad[] = {"interleaved", "interleave:", "interleave:x", "interleave:-1", "random"};
  for (int i = 0; i < 5; i++) {
    set_schedule(bad[i]);
    char *err = NULL;
    CHECK(launch(m, 1, la, 1, &err) == TM_ERR_INVALID);
    CHECK_CONTAINS(err, "TRITON_METAL_CPU_SCHEDULE=");
    CHECK_CONTAINS(err, "expected default, interleave or interleave:SEED");
    tm_free(err);
  }
  set_schedule(NULL);
  tm_module_free(m);
}

int main(void) {
  emu_fresh_cache();
  set_schedule(NULL);
  test_lone_lane_first_launch();
  tm_device *d = emu_open();
  test_tg_memory(d, "default");
  test_tg_memory(d, "interleave:3");
  test_misaligned_vectors(d);
  test_lost_updates(d);
  test_same_seed_same_order(d);
  test_window(d);
  test_simd_interleaved(d);
  test_deadlock_and_setting(d);
  tm_device_close(d);
  emu_rm_cache();
  return check_report("test_emu_sched");
}
