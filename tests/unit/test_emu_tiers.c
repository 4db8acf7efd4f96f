/* test_emu_tiers.c: the emulator's cold-compile machinery (runtime/cpu/
 * cpu_build.c): the optimisation tiers (TRITON_METAL_OPT) give the same
 * results at -O0 and -O2 (every bit, but for NaNs' signs: same_results) and
 * the -O2 code runs after the swap, and a later
 * device starts from the -O2 object on disk; a garbled or truncated
 * precompiled shim is rebuilt, never used; builds of several kernels from
 * several threads on one device; the objects need no more than ld links. */
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt.h"
#include "test_emu.h"

/* Same results: equal bits, except that a NaN may differ from a NaN in its
 * sign and payload. LLVM leaves those unspecified (an operation with a NaN
 * operand may return either operand's NaN, and may commute its operands at
 * -O2: x86's addss returns its first NaN operand, its invalid operations
 * the negative default NaN), so no flag makes them equal across levels;
 * every non-NaN value, infinities, signed zeros and subnormals included, has
 * the same bits. */
static int same_results(const float *a, const float *b, int n, int *nan_bits_differ) {
  *nan_bits_differ = 0;
  for (int i = 0; i < n; i++) {
    if (isnan(a[i]) && isnan(b[i])) {
      *nan_bits_differ += memcmp(&a[i], &b[i], sizeof *a) != 0;
      continue;
    }
    if (memcmp(&a[i], &b[i], sizeof *a)) {
      unsigned x, y;
      memcpy(&x, &a[i], 4), memcpy(&y, &b[i], 4);
      printf("differ at %d: %08x %g, %08x %g\n", i, x, a[i], y, b[i]);
      return 0;
    }
  }
  return 1;
}

/* Float arithmetic where a compiler with any freedom would change bits: a
 * multiply-add (contraction), a long sum (reassociation, vectorization),
 * division, sqrt of negatives (NaN), exp overflow (inf), min/max with NaN,
 * half rounding, tanh. */
static const char mix_msl[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void mix_kernel(device const float* x [[buffer(0)]], device float* y [[buffer(1)]],\n"
    "    constant int& n [[buffer(2)]], constant int& tag [[buffer(3)]],\n"
    "    uint3 tm_pid [[threadgroup_position_in_grid]], uint tm_tid [[thread_index_in_threadgroup]])\n"
    "{\n"
    "  int i = int(tm_pid.x) * 64 + int(tm_tid);\n"
    "  if (i >= n) return;\n"
    "  float a = x[i];\n"
    "  float s = 0.0f;\n"
    "  for (int k = 8; k < n; k++) s += x[k] * a;\n"
    "  float r = s + a * a * 0.1f - exp(a * 11.0f) / (a - 1.0f) + sqrt(a) + float(half(a * 3.0f));\n"
    "  y[i] = r + fmax(a, 0.5f) + fmin(r, a) + tanh(a) + float(tag);\n"
    "}\n";

static const tm_kernel_arg mix_args[] = {
    {"x", 0, TM_ARG_BUFFER, TM_F32, 0},
    {"y", 1, TM_ARG_BUFFER, TM_F32, 1},
    {"n", 2, TM_ARG_BYTES, TM_I32, 0},
    {"tag", 3, TM_ARG_BYTES, TM_I32, 0},
};

static const tm_kernel_info mix_info = {
    .name = "mix_kernel",
    .source_file = "mix.py",
    .nargs = 4,
    .args = mix_args,
    .nbuiltins = 2,
    .builtins = {TM_BI_THREADGROUP_POSITION, TM_BI_THREAD_INDEX},
    .threads_per_threadgroup = 64,
};

enum { N = 300 };
static float xs[N];

static void fill_inputs(void) {
  unsigned seed = 7;
  for (int i = 0; i < N; i++) xs[i] = emu_randf(&seed) * (i % 3 ? 1.0f : 9.0f);
  xs[1] = NAN, xs[2] = INFINITY, xs[3] = -INFINITY, xs[4] = -0.0f, xs[5] = 1.0f, xs[6] = 1e-40f;
}

static void run_mix(tm_module *m, float *out, int tag) {
  int n = N;
  memset(out, 0, N * sizeof *out);
  tm_launch_arg args[] = {emu_buf(xs, sizeof xs), emu_buf(out, N * sizeof *out), emu_val(&n, 4), emu_val(&tag, 4)};
  uint32_t grid[3] = {(N + 63) / 64, 1, 1};
  CHECK(tm_launch(m, grid, args, 4, NULL) == TM_OK);
}

static CpuObj *obj_of(tm_module *m) { return m ? (CpuObj *)m->impl : NULL; }
static CpuDev *dev_of(tm_device *d) { return (CpuDev *)d->impl; }

/* A kernel text no other test builds (a new specialization). */
static char *unique_msl(const char *msl, const char *why) {
  static int count;
  char *s = malloc(strlen(msl) + 128);
  sprintf(s, "%s// %s %d %ld\n", msl, why, count++, (long)getpid());
  return s;
}

static void test_tiers_identical(void) {
  fill_inputs();
  float o0[N], o2[N], again[N], full[N], fast[N];
  char *msl = unique_msl(mix_msl, "tiers");
  /* tiered, no automatic swap: the test makes it */
  setenv("TRITON_METAL_OPT", "tiered:1000000", 1);
  tm_device *d = emu_open();
  tm_module *m = emu_load(d, msl, &mix_info);
  CHECK(m && obj_of(m)->opt == 0 && obj_of(m)->up);
  if (!m) return;
  run_mix(m, o0, 0);
  CHECK(obj_of(m)->opt == 0);
  unsigned long before = dev_of(d)->compiles;
  CHECK(cpu_obj_tier_wait(dev_of(d), obj_of(m)) == 1);
  CHECK(dev_of(d)->compiles == before + 1);
  CHECK(obj_of(m)->opt == 0); /* swapped only by a launch */
  run_mix(m, o2, 0);
  CHECK(obj_of(m)->opt == 2 && !obj_of(m)->up);
  int nan_diff;
  CHECK(same_results(o0, o2, N, &nan_diff));
  printf("tiers: -O0 and -O2 agree on %d results (NaNs of another sign or payload: %d)\n", N, nan_diff);
  int nan = 0, inf = 0, neg = 0;
  for (int i = 0; i < N; i++) nan += isnan(o2[i]) != 0, inf += isinf(o2[i]) != 0, neg += o2[i] < 0;
  printf("tiers: %d NaN, %d infinite, %d negative results\n", nan, inf, neg);
  CHECK(nan > 0 && inf > 0 && neg > 0); /* the inputs reach the interesting cases */
  run_mix(m, again, 0);
  CHECK(memcmp(o2, again, sizeof o0) == 0); /* one object: every bit */
  tm_module_free(m);
  tm_device_close(d);

  /* a new device finds the -O2 object on disk and starts from it */
  d = emu_open();
  m = emu_load(d, msl, &mix_info);
  CHECK(m && obj_of(m)->opt == 2 && !obj_of(m)->up && dev_of(d)->compiles == 0);
  tm_module_free(m);
  tm_device_close(d);

  /* full and fast: one level each, the same bits */
  setenv("TRITON_METAL_OPT", "full", 1);
  d = emu_open();
  free(msl);
  msl = unique_msl(mix_msl, "full");
  m = emu_load(d, msl, &mix_info);
  CHECK(m && obj_of(m)->opt == 2 && !obj_of(m)->up);
  if (m) run_mix(m, full, 0);
  tm_module_free(m);
  setenv("TRITON_METAL_OPT", "fast", 1);
  m = emu_load(d, msl, &mix_info);
  CHECK(m && obj_of(m)->opt == 0 && !obj_of(m)->up);
  for (int i = 0; m && i < 20; i++) run_mix(m, fast, 0); /* fast never tiers up */
  CHECK(m && obj_of(m)->opt == 0 && !obj_of(m)->up);
  CHECK(memcmp(full, o2, sizeof o0) == 0 && same_results(fast, o0, N, &nan_diff) && !nan_diff);
  tm_module_free(m);

  /* tiered:2: the second launch starts the -O2 build; some later launch swaps */
  setenv("TRITON_METAL_OPT", "tiered:2", 1);
  free(msl);
  msl = unique_msl(mix_msl, "auto");
  m = emu_load(d, msl, &mix_info);
  CHECK(m && obj_of(m)->opt == 0);
  for (int i = 0; m && i < 2; i++) run_mix(m, fast, 0);
  CHECK(m && obj_of(m)->up && obj_of(m)->up != NULL);
  if (m && obj_of(m)->up) cpu_obj_tier_wait(dev_of(d), obj_of(m));
  if (m) run_mix(m, fast, 0);
  CHECK(m && obj_of(m)->opt == 2 && memcmp(fast, o2, sizeof o0) == 0);
  tm_module_free(m);

  /* a module freed while its -O2 build runs: not waited for (an orphan,
   * waited for when the device closes) */
  setenv("TRITON_METAL_OPT", "tiered:1", 1);
  free(msl);
  msl = unique_msl(mix_msl, "freed");
  m = emu_load(d, msl, &mix_info);
  if (m) run_mix(m, fast, 0);
  tm_module_free(m);
  tm_device_close(d);

  /* a bad value is refused, named */
  setenv("TRITON_METAL_OPT", "turbo", 1);
  d = emu_open();
  char *err = NULL;
  m = NULL;
  CHECK(tm_module_load(d, msl, &mix_info, &m, &err) == TM_ERR_INVALID && !m);
  CHECK_CONTAINS(err, "TRITON_METAL_OPT=turbo");
  tm_free(err);
  tm_device_close(d);
  unsetenv("TRITON_METAL_OPT");
  free(msl);
}

/* tm_device_tier_settle: the tiered kernels launched since the mark run -O2
 * code at their next launch, the same bits; one launched only before the
 * mark, or not launched, keeps waiting for its own thresholds. */
static void test_settle(void) {
  fill_inputs();
  float o0[N], o2[N];
  setenv("TRITON_METAL_OPT", "tiered:1000000", 1); /* no swap but the settle's */
  tm_device *d = emu_open();
  char *a_msl = unique_msl(mix_msl, "settle-a"), *b_msl = unique_msl(mix_msl, "settle-b"),
       *c_msl = unique_msl(mix_msl, "settle-c");
  tm_module *a = emu_load(d, a_msl, &mix_info), *b = emu_load(d, b_msl, &mix_info),
            *c = emu_load(d, c_msl, &mix_info);
  CHECK(a && b && c);
  if (!a || !b || !c) return;
  run_mix(b, o0, 0); /* before the mark */
  uint64_t mark = tm_device_tier_mark(d);
  CHECK(mark > 0 && tm_device_tier_mark(d) > mark); /* each mark a new one */
  run_mix(a, o0, 0);
  unsigned long before = dev_of(d)->compiles;
  char *err = NULL;
  CHECK(tm_device_tier_settle(d, mark, &err) == TM_OK && !err);
  CHECK(dev_of(d)->compiles == before + 1); /* a's build only */
  CHECK(obj_of(a)->opt == 0);               /* swapped only by a launch */
  run_mix(a, o2, 0);
  CHECK(obj_of(a)->opt == 2 && !obj_of(a)->up);
  int nan_diff;
  CHECK(same_results(o0, o2, N, &nan_diff));
  run_mix(b, o2, 0);
  run_mix(c, o2, 0);
  CHECK(obj_of(b)->opt == 0 && obj_of(b)->up && obj_of(c)->opt == 0 && obj_of(c)->up);
  /* a settle with nothing tiered launched since its mark: nothing built */
  mark = tm_device_tier_mark(d);
  before = dev_of(d)->compiles;
  CHECK(tm_device_tier_settle(d, mark, NULL) == TM_OK && dev_of(d)->compiles == before);
  tm_module_free(a), tm_module_free(b), tm_module_free(c);
  tm_device_close(d);
  free(a_msl), free(b_msl), free(c_msl);
  unsetenv("TRITON_METAL_OPT");
  /* a device of one tier: nothing to wait for */
  CHECK(tm_device_tier_settle(NULL, 0, &err) == TM_ERR_INVALID && err);
  tm_free(err);
}

/* The one *.pch of the cache folder whose name contains nothing else: the
 * -O0 shim's (tiered builds at -O0 first); "" when not exactly one. */
static void find_pch(char *out, size_t cap) {
  char cpu[300];
  snprintf(cpu, sizeof cpu, "%s/cpu", emu_cache_dir);
  out[0] = 0;
  DIR *top = opendir(cpu);
  int count = 0;
  for (struct dirent *e; top && (e = readdir(top));) {
    if (strncmp(e->d_name, "shim-", 5)) continue;
    char sub[600];
    snprintf(sub, sizeof sub, "%s/%s", cpu, e->d_name);
    DIR *dd = opendir(sub);
    for (struct dirent *f; dd && (f = readdir(dd));) {
      size_t n = strlen(f->d_name);
      if (n > 4 && !strcmp(f->d_name + n - 4, ".pch")) snprintf(out, cap, "%s/%s", sub, f->d_name), count++;
    }
    if (dd) closedir(dd);
  }
  if (top) closedir(top);
  if (count != 1) out[0] = 0;
}

static long file_size(const char *path) {
  struct stat st;
  return stat(path, &st) ? -1 : (long)st.st_size;
}

static int toolchain_is_clang(void) {
  const char *e = getenv("TRITON_METAL_CXX");
  return !e || !*e || strstr(e, "clang");
}

static void test_pch_rebuilt(void) {
  if (!toolchain_is_clang()) {
    printf("pch: skipped (TRITON_METAL_CXX is not clang: g++ compiles without a PCH)\n");
    return;
  }
  setenv("TRITON_METAL_OPT", "fast", 1);
  fill_inputs();
  float want[N], got[N];
  tm_device *d = emu_open();
  char *msl = unique_msl(mix_msl, "pch");
  tm_module *m = emu_load(d, msl, &mix_info);
  if (m) run_mix(m, want, 0);
  tm_module_free(m);
  char pch[900];
  find_pch(pch, sizeof pch);
  CHECK(pch[0] != 0);
  long size = file_size(pch);
  CHECK(size > 100000);
  /* three damages, each followed by a build: garbled in place (same size),
   * truncated, replaced by another file */
  for (int damage = 0; pch[0] && damage < 3; damage++) {
    if (damage == 0) {
      FILE *f = fopen(pch, "r+b");
      CHECK(f != NULL);
      if (f) {
        char junk[4096];
        memset(junk, 0x5a, sizeof junk);
        fseek(f, size / 2, SEEK_SET);
        fwrite(junk, 1, sizeof junk, f);
        fclose(f);
      }
    } else if (damage == 1) {
      CHECK(truncate(pch, size / 3) == 0);
    } else {
      char tmp[1000];
      snprintf(tmp, sizeof tmp, "%s.other", pch);
      FILE *f = fopen(tmp, "wb");
      if (f) fputs("CPCH but not really\n", f), fclose(f);
      CHECK(rename(tmp, pch) == 0);
    }
    free(msl);
    msl = unique_msl(mix_msl, "pch-again");
    unsigned long before = dev_of(d)->compiles;
    m = emu_load(d, msl, &mix_info);
    CHECK(m && dev_of(d)->compiles == before + 1);
    if (m) run_mix(m, got, 0);
    CHECK(m && memcmp(want, got, sizeof got) == 0);
    tm_module_free(m);
    CHECK(file_size(pch) == size); /* rebuilt whole */
  }
  tm_device_close(d);
  free(msl);
  unsetenv("TRITON_METAL_OPT");
}

/* Several threads load kernels on one device at once: two of them the
 * same kernel (one build, one shared object), the others each its own. */
typedef struct {
  tm_device *d;
  char *msl;
  tm_module *m;
} Job;

static void *load_job(void *arg) {
  Job *j = arg;
  char *err = NULL;
  if (tm_module_load(j->d, j->msl, &mix_info, &j->m, &err)) fprintf(stderr, "load: %s\n", err ? err : "?");
  tm_free(err);
  return NULL;
}

static void test_parallel_loads(void) {
  setenv("TRITON_METAL_OPT", "fast", 1);
  fill_inputs();
  tm_device *d = emu_open();
  enum { T = 4 };
  Job jobs[T];
  pthread_t th[T];
  char *shared = unique_msl(mix_msl, "shared");
  for (int i = 0; i < T; i++) {
    jobs[i] = (Job){.d = d, .msl = i < 2 ? shared : unique_msl(mix_msl, "own")};
    CHECK(pthread_create(&th[i], NULL, load_job, &jobs[i]) == 0);
  }
  for (int i = 0; i < T; i++) pthread_join(th[i], NULL);
  float want[N], got[N];
  for (int i = 0; i < T; i++) {
    CHECK(jobs[i].m != NULL);
    if (!jobs[i].m) continue;
    run_mix(jobs[i].m, got, 0);
    if (i == 0) memcpy(want, got, sizeof got);
    CHECK(memcmp(want, got, sizeof got) == 0);
  }
  CHECK(jobs[0].m && jobs[1].m && obj_of(jobs[0].m) == obj_of(jobs[1].m));
  CHECK(dev_of(d)->compiles == T - 1);
  for (int i = 0; i < T; i++) {
    tm_module_free(jobs[i].m);
    if (i >= 2) free(jobs[i].msl);
  }
  free(shared);
  tm_device_close(d);
  unsetenv("TRITON_METAL_OPT");
}

int main(void) {
  unsetenv("TRITON_METAL_OPT");
  emu_fresh_cache(); /* a cache of its own: one PCH in it */
  test_pch_rebuilt();
  emu_rm_cache();
  emu_fresh_cache();
  test_tiers_identical();
  test_settle();
  test_parallel_loads();
  emu_rm_cache();
  return check_report("test_emu_tiers");
}
