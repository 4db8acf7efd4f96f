/* test_emu_race.c: the cpu emulator's checks of synchronization (runtime/cpu/cpu_exec.c
 * "checks", runtime/cpu/metal_stdlib "race check"), on hand-written MSL that declares
 * its threadgroup memory as the compiler does (TM_TG_ARRAY, TM_TGM with a line):
 *   - TRITON_METAL_RACECHECK=1: a missing barrier (thread t writes a[t] and reads
 *     a[t ^ 1]) fails the launch naming both threads and lines; with the barrier
 *     it runs clean; a barrier with mem_none does not order threadgroup memory;
 *     read/read sharing is clean; simdgroup_barrier(mem_threadgroup) orders the
 *     lanes of one SIMD-group only; a collective (simd_sum) orders nothing; a
 *     kernel without barriers, and the interleaved schedule, are checked too;
 *     without the variable the racy kernel runs (what the checker is for);
 *   - always: SIMD-group collectives and barriers reached from divergent control
 *     flow (different call sites) fail the launch;
 *   - always: simdgroup_load/store check every element they move, in threadgroup
 *     memory (by array with TM_TGM, else the threadgroup's memory) and in device
 *     buffers, with the stride and the transpose flag;
 *   - matmul2d's tensor operands in threadgroup memory are recorded too. */
#include "test_emu.h"

/* The kernel: 64 threads (two SIMD-groups) per threadgroup, x: 72 floats
 * (read-only), out: 128 floats; threadgroup memory tm_smem_float[128]. */
static const char race_fmt[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void race(device const float* x [[buffer(0)]], device float* out [[buffer(1)]],\n"
    "    uint3 pid [[threadgroup_position_in_grid]], uint t [[thread_index_in_threadgroup]]) {\n"
    "  TM_TG_BASE(512);\n"
    "  TM_TG_ARRAY(float, tm_smem_float, 128, 0);\n"
    "  uint o = pid.x * 64u + t;\n"
    "%s"
    "}\n";

static const tm_kernel_arg race_args[] = {{"x", 0, TM_ARG_BUFFER, TM_F32, 0}, {"out", 1, TM_ARG_BUFFER, TM_F32, 1}};

/* bound: x[0..72), out[0..128); the rest keeps a missed access in the same
 * array (not in the other argument, which the message would name) */
static float x[80], out[136];

/* Builds and runs the kernel with `body` over `groups` threadgroups, with
 * TRITON_METAL_RACECHECK set to `check` ("1" or NULL: unset). */
static tm_status run(tm_device *d, const char *body, const char *check, int uses_barriers, unsigned groups,
                     char **err) {
  char msl[4096];
  snprintf(msl, sizeof msl, race_fmt, body);
  if (check) setenv("TRITON_METAL_RACECHECK", check, 1);
  else unsetenv("TRITON_METAL_RACECHECK");
  tm_kernel_info k = {.name = "race", .source_file = "race.py", .nargs = 2, .args = race_args, .nbuiltins = 2,
                      .builtins = {TM_BI_THREADGROUP_POSITION, TM_BI_THREAD_INDEX}, .threads_per_threadgroup = 64,
                      .threadgroup_mem_bytes = 512, .uses_barriers = uses_barriers};
  tm_module *m = NULL;
  *err = NULL;
  tm_status st = tm_module_load(d, msl, &k, &m, err);
  unsetenv("TRITON_METAL_RACECHECK");
  if (st) {
    fprintf(stderr, "load failed: %s\n", *err ? *err : "?");
    return st;
  }
  for (int i = 0; i < 72; i++) x[i] = (float)i;
  for (int i = 0; i < 128; i++) out[i] = -1;
  tm_launch_arg la[] = {emu_buf(x, 72 * sizeof *x), emu_buf(out, 128 * sizeof *out)};
  uint32_t grid[3] = {groups, 1, 1};
  st = tm_launch(m, grid, la, 2, err);
  tm_module_free(m);
  return st;
}

/* The run fails (TM_ERR_RUNTIME) with a message holding every one of want[]. */
#define EXPECT_FAIL(body, check, bar, ...)                                     \
  do {                                                                         \
    char *e_ = NULL;                                                           \
    CHECK(run(d, body, check, bar, 2, &e_) == TM_ERR_RUNTIME);                 \
    const char *w_[] = {__VA_ARGS__};                                          \
    for (size_t i_ = 0; i_ < sizeof w_ / sizeof *w_; i_++) CHECK_CONTAINS(e_, w_[i_]); \
    tm_free(e_);                                                               \
  } while (0)

#define EXPECT_OK(body, check, bar)                                            \
  do {                                                                         \
    char *e_ = NULL;                                                           \
    tm_status s_ = run(d, body, check, bar, 2, &e_);                           \
    CHECK(s_ == TM_OK);                                                        \
    if (s_) fprintf(stderr, "  %s\n", e_ ? e_ : "?");                          \
    tm_free(e_);                                                               \
  } while (0)

#define WRITE "  TM_TGM(tm_smem_float, 10)[t] = float(t);\n"
#define READ_NEIGHBOUR "  out[o] = TM_TGM(tm_smem_float, 12)[t ^ 1u];\n"
#define BARRIER "  threadgroup_barrier(mem_flags::mem_threadgroup);\n"

static int neighbours(void) {
  for (int i = 0; i < 128; i++)
    if (out[i] != (float)((i % 64) ^ 1)) return 0;
  return 1;
}

static void test_races(tm_device *d) {
  /* The missing barrier: thread 0 runs first (write a[0], read a[1]), then
   * thread 1 writes a[1], which thread 0 read in the same epoch. */
  EXPECT_FAIL(WRITE READ_NEIGHBOUR, "1", 1,
              "kernel 'race' (race.py): data race on threadgroup memory: thread 1 writes tm_smem_float[1] "
              "(byte 4 of threadgroup memory) at race.py:10, which thread 0 read at race.py:12, with no "
              "threadgroup_barrier(mem_flags::mem_threadgroup) between the two; threadgroup (");
  /* (the grid has two threadgroups on a pool of workers: either may report
   * first, so the message is matched up to its threadgroup) */
  /* Without the checker the same kernel runs (the fibers switch only at
   * barriers), with a result no GPU promises. */
  EXPECT_OK(WRITE READ_NEIGHBOUR, NULL, 1);
  /* With the barrier: clean, and right, in both threadgroups. */
  EXPECT_OK(WRITE BARRIER READ_NEIGHBOUR, "1", 1);
  CHECK(neighbours());
  /* The same under the interleaved schedule (threadgroups side by side). */
  setenv("TRITON_METAL_CPU_SCHEDULE", "interleave:7", 1);
  EXPECT_OK(WRITE BARRIER READ_NEIGHBOUR, "1", 1);
  CHECK(neighbours());
  EXPECT_FAIL(WRITE READ_NEIGHBOUR, "1", 1, "data race on threadgroup memory", "race.py:10", "race.py:12");
  unsetenv("TRITON_METAL_CPU_SCHEDULE");
  /* A barrier for execution only does not order threadgroup memory (MSL spec,
   * Table 6.13): the last thread through reads what thread 62 wrote. */
  EXPECT_FAIL(WRITE "  threadgroup_barrier(mem_flags::mem_none);\n" READ_NEIGHBOUR, "1", 1,
              "thread 63 reads tm_smem_float[62] (byte 248 of threadgroup memory) at race.py:12, which thread 62 "
              "wrote at race.py:10");
  EXPECT_FAIL(WRITE "  threadgroup_barrier(mem_flags::mem_device);\n" READ_NEIGHBOUR, "1", 1, "data race");
  /* Writes by two threads, no read. */
  EXPECT_FAIL("  TM_TGM(tm_smem_float, 10)[0] = float(t);\n", "1", 1,
              "thread 1 writes tm_smem_float[0] (byte 0 of threadgroup memory) at race.py:10, which thread 0 wrote "
              "at race.py:10");
  /* A read-modify-write (+=) is a write. */
  EXPECT_FAIL("  if (t == 0u) TM_TGM(tm_smem_float, 10)[5] = 1.0f;\n" BARRIER
              "  if (t < 2u) TM_TGM(tm_smem_float, 14)[5] += 1.0f;\n",
              "1", 1, "thread 1 reads tm_smem_float[5] (byte 20 of threadgroup memory) at race.py:14, which thread 0 "
                      "wrote at race.py:14");
  /* Read/read sharing after a barrier is clean; so is writing again after a
   * second barrier (a new epoch). */
  EXPECT_OK("  if (t == 0u) TM_TGM(tm_smem_float, 10)[0] = 7.0f;\n" BARRIER
            "  float v = TM_TGM(tm_smem_float, 12)[0] + TM_TGM(tm_smem_float, 13)[0];\n" BARRIER
            "  if (t == 63u) TM_TGM(tm_smem_float, 15)[0] = v;\n  TM_TGM(tm_smem_float, 16)[64u + t] = v;\n",
            "1", 1);
  EXPECT_FAIL("  if (t == 0u) TM_TGM(tm_smem_float, 10)[0] = 7.0f;\n" BARRIER
              "  float v = TM_TGM(tm_smem_float, 12)[0];\n"
              "  TM_TGM(tm_smem_float, 15)[t] = v;\n",
              "1", 1, "thread 0 writes tm_smem_float[0] (byte 0 of threadgroup memory) at race.py:15, which thread 63 "
                      "read at race.py:12");
  /* simdgroup_barrier(mem_threadgroup) orders the lanes of one SIMD-group... */
  EXPECT_OK(WRITE "  simdgroup_barrier(mem_flags::mem_threadgroup);\n" READ_NEIGHBOUR, "1", 1);
  CHECK(neighbours());
  /* ... not two SIMD-groups, and not without mem_threadgroup. */
  EXPECT_FAIL(WRITE "  simdgroup_barrier(mem_flags::mem_threadgroup);\n"
                    "  out[o] = TM_TGM(tm_smem_float, 12)[t ^ 32u];\n",
              "1", 1, "data race on threadgroup memory: thread 63 writes tm_smem_float[63]",
              "which thread 31 read at race.py:12");
  EXPECT_FAIL(WRITE "  simdgroup_barrier(mem_flags::mem_none);\n" READ_NEIGHBOUR, "1", 1, "data race");
  /* A SIMD-group collective is no fence. */
  EXPECT_FAIL(WRITE "  float s = simd_sum(1.0f);\n  out[o] = TM_TGM(tm_smem_float, 12)[t ^ 1u] + s;\n", "1", 1,
              "data race on threadgroup memory");
  /* A kernel without barriers (its threads run one after another): sharing is
   * a race; each thread its own element is clean, across threadgroups too. */
  EXPECT_FAIL(WRITE READ_NEIGHBOUR, "1", 0, "thread 1 writes tm_smem_float[1]", "which thread 0 read at race.py:12");
  EXPECT_OK(WRITE "  out[o] = TM_TGM(tm_smem_float, 12)[t];\n", "1", 0);
  CHECK(out[0] == 0 && out[127] == 63);
  /* simdgroup_store then plain reads: each SIMD-group stores an 8x8 of its own;
   * a thread reads elements another lane stored: after a threadgroup barrier,
   * or a SIMD-group fence within the SIMD-group, clean; with neither, a race. */
#define SGM_STORE                                                              \
  "  simdgroup_float8x8 m;\n  simdgroup_load(m, x, 8);\n"                      \
  "  simdgroup_store(m, TM_TGM(tm_smem_float, 20) + (t / 32u) * 64u, 8);\n"
#define SGM_READ "  out[o] = TM_TGM(tm_smem_float, 22)[(t / 32u) * 64u + t % 32u];\n"
  EXPECT_OK(SGM_STORE BARRIER SGM_READ, "1", 1);
  CHECK(out[0] == 0 && out[31] == 31 && out[32] == 0 && out[127] == 31);
  EXPECT_OK(SGM_STORE "  simdgroup_barrier(mem_flags::mem_threadgroup);\n" SGM_READ, "1", 1);
  EXPECT_FAIL(SGM_STORE SGM_READ, "1", 1, "data race on threadgroup memory", "race.py:20", "race.py:22");
  /* The other way round: each lane stages two elements of its SIMD-group's 8x8
   * and the SIMD-group loads the tile. Without a fence a lane's part of the load
   * reads elements other lanes wrote: a race, on the fast path (the first lane
   * reads the whole tile, each element as the lane that owns it) as on the
   * rendezvous path; with simdgroup_barrier(mem_threadgroup) between, clean and
   * the tile as staged. */
#define SGM_STAGE                                                              \
  "  TM_TGM(tm_smem_float, 20)[(t / 32u) * 64u + t % 32u] = x[t % 32u];\n"     \
  "  TM_TGM(tm_smem_float, 21)[(t / 32u) * 64u + 32u + t % 32u] = x[32u + t % 32u];\n"
#define SGM_LOAD                                                               \
  "  simdgroup_float8x8 m;\n  simdgroup_load(m, TM_TGM(tm_smem_float, 23) + (t / 32u) * 64u, 8);\n" \
  "  simdgroup_store(m, out + (t / 32u) * 64u, 8);\n"
  for (int per_lane = 0; per_lane < 2; per_lane++) {
    setenv("TRITON_METAL_CPU_COLLECTIVES", per_lane ? "per-lane" : "once", 1);
    EXPECT_FAIL(SGM_STAGE SGM_LOAD, "1", 1, "data race on threadgroup memory", "race.py:23");
    EXPECT_OK(SGM_STAGE "  simdgroup_barrier(mem_flags::mem_threadgroup);\n" SGM_LOAD, "1", 1);
    for (int i = 0; i < 128; i++) CHECK(out[i] == (float)(i % 64));
    EXPECT_OK(SGM_STAGE "  simdgroup_barrier(mem_flags::mem_threadgroup);\n" SGM_LOAD, NULL, 1);
    for (int i = 0; i < 128; i++) CHECK(out[i] == (float)(i % 64));
  }
  unsetenv("TRITON_METAL_CPU_COLLECTIVES");
  /* Two SIMD-groups storing to the same place race with each other. */
  EXPECT_FAIL("  simdgroup_float8x8 m;\n  simdgroup_load(m, x, 8);\n"
              "  simdgroup_store(m, &TM_TGM(tm_smem_float, 20)[0], 8);\n",
              "1", 1, "writes tm_smem_float[", "at race.py:20, which thread", "wrote at race.py:20");
}

static void test_divergence(tm_device *d) {
  /* Lanes of a SIMD-group at two different collectives: both modes. */
  static const char *const modes[] = {NULL, "1"};
  for (int i = 0; i < 2; i++) {
    EXPECT_FAIL("  float s;\n"
                "  if (t % 32u < 16u)\n"
                "    s = simd_sum(1.0f);\n"
                "  else\n"
                "    s = simd_sum(2.0f);\n"
                "  out[o] = s;\n",
                modes[i], 1,
                "SIMD-group collective in divergent control flow: lane 16 of SIMD-group 0 is at simd_sum at line 12",
                "while lane 0 waits at simd_sum at line 10", "of the kernel's MSL");
    /* The same collective with values that differ per lane is fine. */
    EXPECT_OK("  out[o] = simd_sum(t % 32u < 16u ? 1.0f : 2.0f);\n", modes[i], 1);
    CHECK(out[0] == 48 && out[127] == 48);
    /* Threads at two different barriers. */
    EXPECT_FAIL("  if (t < 32u)\n"
                "    threadgroup_barrier(mem_flags::mem_threadgroup);\n"
                "  else\n"
                "    threadgroup_barrier(mem_flags::mem_threadgroup);\n",
                modes[i], 1,
                "threadgroup_barrier in divergent control flow: thread 32 is at threadgroup_barrier at line 11",
                "while thread 0 waits at threadgroup_barrier at line 9");
    /* A collective in a loop whose trip count differs per lane. */
    EXPECT_FAIL("  float s = 0;\n"
                "  for (uint i = 0; i < 1u + (t % 32u == 3u); i++) s += simd_sum(1.0f);\n"
                "  out[o] = simd_max(s);\n",
                modes[i], 1, "SIMD-group collective in divergent control flow", "simd_sum at line 9",
                "simd_max at line 10");
  }
}

static void test_simdgroup_bounds(tm_device *d) {
  static const char *const modes[] = {NULL, "1"};
  for (int i = 0; i < 2; i++) {
    const char *m = modes[i];
    /* An array of the compiler's threadgroup memory (TM_TGM(a, l) + k): by the
     * array, with its name and the Python line. Rows 8 apart from element 72:
     * the last row starts at 128. */
    EXPECT_FAIL("  simdgroup_float8x8 m;\n  simdgroup_load(m, TM_TGM(tm_smem_float, 20) + 72, 8);\n", m, 1,
                "out-of-bounds threadgroup memory access in kernel 'race' at race.py:20: index 13",
                "of threadgroup array tm_smem_float (128 elements)");
    EXPECT_OK("  simdgroup_float8x8 m;\n  simdgroup_load(m, TM_TGM(tm_smem_float, 20) + 64, 8);\n", m, 1);
    /* The stride and the transpose flag: element (r, c) at c * 9 + r. */
    EXPECT_FAIL("  simdgroup_float8x8 m;\n  simdgroup_load(m, TM_TGM(tm_smem_float, 20) + 60, 9, ulong2(0, 0), true);\n",
                m, 1, "at race.py:20: index 1", "of threadgroup array tm_smem_float (128 elements)");
    EXPECT_OK("  simdgroup_float8x8 m;\n  simdgroup_load(m, TM_TGM(tm_smem_float, 20) + 57, 9, ulong2(0, 0), true);\n",
              m, 1);
    /* matrix_origin counts too: (x = 1, y = 2) with 8 per row from 64 is 81. */
    EXPECT_FAIL("  simdgroup_float8x8 m(1.0f);\n  simdgroup_store(m, TM_TGM(tm_smem_float, 20) + 64, 8, ulong2(1, 2));\n",
                m, 1, "at race.py:20: index 1", "of threadgroup array tm_smem_float (128 elements)");
    /* A plain pointer into the threadgroup's memory: inside it (512 bytes). */
    EXPECT_FAIL("  simdgroup_float8x8 m;\n"
                "  threadgroup float *p = TM_TGM(tm_smem_float, 20);\n"
                "  simdgroup_load(m, p + 72, 8);\n",
                m, 1, "out-of-bounds threadgroup memory access in kernel 'race' at race.py:10: index 13",
                "of threadgroup array <threadgroup memory> (128 elements)");
    /* Device buffers: each element is a checked access. x has 72 floats. */
    EXPECT_OK("  simdgroup_float8x8 m;\n  simdgroup_load(m, x + 8, 8);\n  simdgroup_store(m, out + 64, 8);\n", m, 1);
    CHECK(out[64] == 8 && out[127] == 71);
    EXPECT_FAIL("  simdgroup_float8x8 m;\n  simdgroup_load(m, x + 9, 8);\n", m, 1,
                "out-of-bounds load in kernel 'race' at race.py:9: address is 4 bytes past the end of argument 'x' "
                "(288 bytes)");
    EXPECT_FAIL("  simdgroup_float8x8 m;\n  simdgroup_load(m, x + 2, 9, ulong2(0, 0), true);\n", m, 1,
                "out-of-bounds load in kernel 'race' at race.py:9: address is 4 bytes past the end of argument 'x'");
    EXPECT_FAIL("  simdgroup_float8x8 m(2.0f);\n  simdgroup_store(m, out + 65, 8);\n", m, 1,
                "out-of-bounds store in kernel 'race' at race.py:9: address is 4 bytes past the end of argument "
                "'out' (512 bytes)");
  }
  /* In race-check mode &TM_TGM(a, l)[i] is checked by the array as well (by
   * default it is a plain pointer: the threadgroup's memory). */
  EXPECT_FAIL("  simdgroup_float8x8 m;\n  simdgroup_load(m, &TM_TGM(tm_smem_float, 20)[72], 8);\n", "1", 1,
              "at race.py:20: index 13", "of threadgroup array tm_smem_float (128 elements)");
  EXPECT_FAIL("  simdgroup_float8x8 m;\n  simdgroup_load(m, &TM_TGM(tm_smem_float, 20)[72], 8);\n", NULL, 1,
              "at race.py:9: index 13", "of threadgroup array <threadgroup memory> (128 elements)");
}

/* matmul2d's tensor operands in threadgroup memory report what run, load and
 * store read and write: staging A and B (lines 10, 11) with no barrier before
 * the run (line 30) races; with it, clean and right (C = A * B, 8x8x8, over the
 * two SIMD-groups). */
static const char mm_fmt[] =
    "#include <metal_stdlib>\n"
    "#include <metal_tensor>\n"
    "#include <MetalPerformancePrimitives/MetalPerformancePrimitives.h>\n"
    "using namespace metal;\n"
    "kernel void mm(device const float* x [[buffer(0)]], device float* out [[buffer(1)]],\n"
    "    uint t [[thread_index_in_threadgroup]]) {\n"
    "  TM_TG_BASE(1024);\n"
    "  TM_TG_ARRAY(float, tm_smem_float, 256, 0);\n"
    "  TM_TGM(tm_smem_float, 10)[t] = x[t];\n"
    "  TM_TGM(tm_smem_float, 11)[64u + t] = x[t] + 1.0f;\n"
    "%s"
    "  constexpr auto desc = mpp::tensor_ops::matmul2d_descriptor(8, 8, 8);\n"
    "  mpp::tensor_ops::matmul2d<desc, metal::execution_simdgroups<2>> op;\n"
    "  auto ta = metal::tensor<TM_TG(float), metal::dextents<int, 2>, metal::tensor_inline>(TM_TGM(tm_smem_float, 30), metal::dextents<int, 2>(8, 8));\n"
    "  auto tb = metal::tensor<TM_TG(float), metal::dextents<int, 2>, metal::tensor_inline>(TM_TGM(tm_smem_float, 31) + 64, metal::dextents<int, 2>(8, 8));\n"
    "  auto tc = metal::tensor<TM_TG(float), metal::dextents<int, 2>, metal::tensor_inline>(TM_TGM(tm_smem_float, 32) + 128, metal::dextents<int, 2>(8, 8));\n"
    "  auto acc = op.get_destination_cooperative_tensor<decltype(ta), decltype(tb), float>();\n"
    "  op.run(ta, tb, acc);\n"
    "  acc.store(tc);\n"
    "  threadgroup_barrier(mem_flags::mem_threadgroup);\n"
    "  out[t] = TM_TGM(tm_smem_float, 40)[128u + t];\n"
    "}\n";

static void test_tensor_ops(tm_device *d) {
  for (int with_barrier = 0; with_barrier < 2; with_barrier++) {
    char msl[4096];
    snprintf(msl, sizeof msl, mm_fmt, with_barrier ? "  threadgroup_barrier(mem_flags::mem_threadgroup);\n" : "");
    setenv("TRITON_METAL_RACECHECK", "1", 1);
    tm_kernel_info k = {.name = "mm", .source_file = "mm.py", .nargs = 2, .args = race_args, .nbuiltins = 1,
                        .builtins = {TM_BI_THREAD_INDEX}, .threads_per_threadgroup = 64,
                        .threadgroup_mem_bytes = 1024, .uses_barriers = 1};
    tm_module *m = emu_load(d, msl, &k);
    unsetenv("TRITON_METAL_RACECHECK");
    if (!m) continue;
    for (int i = 0; i < 72; i++) x[i] = (float)(i % 5);
    tm_launch_arg la[] = {emu_buf(x, 72 * sizeof *x), emu_buf(out, 128 * sizeof *out)};
    uint32_t grid[3] = {1, 1, 1};
    char *err = NULL;
    tm_status st = tm_launch(m, grid, la, 2, &err);
    if (with_barrier) {
      CHECK(st == TM_OK);
      int bad = 0;
      for (int r = 0; r < 8; r++)
        for (int c = 0; c < 8; c++) {
          float s = 0;
          for (int kk = 0; kk < 8; kk++) s += x[r * 8 + kk] * (x[kk * 8 + c] + 1.0f);
          bad += out[r * 8 + c] != s;
        }
      CHECK(bad == 0);
    } else {
      CHECK(st == TM_ERR_RUNTIME);
      CHECK_CONTAINS(err, "data race on threadgroup memory: thread 1 writes tm_smem_float[1] (byte 4 of threadgroup "
                          "memory) at mm.py:10, which thread 0 read at mm.py:30");
    }
    tm_free(err);
    tm_module_free(m);
  }
}

int main(void) {
  emu_fresh_cache();
  tm_device *d = emu_open();
  test_races(d);
  test_divergence(d);
  test_simdgroup_bounds(d);
  test_tensor_ops(d);
  tm_device_close(d);
  emu_rm_cache();
  return check_report("test_emu_race");
}
