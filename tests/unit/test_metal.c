/* test_metal.c: the portable metal device on metal-sim: the pipeline cache
 * (memory hits, disk persistence, invalidation on a compiler version change),
 * argument binding (zero-copy, staged, overlapping, read-only) with results
 * equal to the cpu device's, batching of device-buffer launches, errors. */
#include <dirent.h>
#include <stdlib.h>

#include "mtl.h"
#include "test_emu.h"

static tm_device *open_kind(const char *name) {
  tm_device *d = NULL;
  char *err = NULL;
  if (tm_device_open(name, &d, &err)) {
    fprintf(stderr, "%s: %s\n", name, err);
    exit(2);
  }
  return d;
}

static tm_device_stats stats(tm_device *d) {
  tm_device_stats s;
  char *err = NULL;
  tm_device_get_stats(d, &s, &err);
  return s;
}

static int count_files(const char *dir, const char *suffix) {
  DIR *dp = opendir(dir);
  int n = 0;
  if (!dp) return 0;
  for (struct dirent *e; (e = readdir(dp));) {
    size_t l = strlen(e->d_name), s = strlen(suffix);
    n += l > s && !strcmp(e->d_name + l - s, suffix);
  }
  closedir(dp);
  return n;
}

/* Opens a metal-sim device whose compiler version is `version`. */
static tm_device *open_version(const char *version) {
  tm_device *d = calloc(1, sizeof *d);
  char *err = NULL;
  d->ops = &rt_metal_sim_ops;
  d->refs = 1;
  MtlConfig cfg = {0};
  if (metal_open_with(d, &mtl_sim_api, &cfg, version, &err)) {
    fprintf(stderr, "%s\n", err);
    exit(2);
  }
  return d;
}

static void test_pipeline_cache(void) {
  char dir[300];
  snprintf(dir, sizeof dir, "%s/metal", emu_cache_dir);
  tm_device *d = open_kind("metal-sim");
  tm_module *m1 = emu_load(d, emu_add_msl, &emu_add_info);
  tm_module *m2 = emu_load(d, emu_add_msl, &emu_add_info);
  tm_device_stats s = stats(d);
  CHECK(s.pipeline_compiles == 1 && s.pipeline_memory_hits == 1 && s.pipeline_disk_hits == 0);
  CHECK(m1 && m2 && m1->impl == m2->impl);
  CHECK(count_files(dir, ".metal") == 1 && count_files(dir, ".archive") == 1);
  tm_module_free(m1);
  tm_module_free(m2);
  tm_device_close(d);
  /* a new device (as a new process would) finds the archive on disk */
  d = open_kind("metal-sim");
  m1 = emu_load(d, emu_add_msl, &emu_add_info);
  s = stats(d);
  CHECK(s.pipeline_compiles == 0 && s.pipeline_disk_hits == 1);
  tm_module_free(m1);
  /* different math mode -> different key */
  setenv("TRITON_METAL_MATH_MODE", "fast", 1);
  tm_device *f = open_kind("metal-sim");
  unsetenv("TRITON_METAL_MATH_MODE");
  CHECK_CONTAINS(tm_device_description(f), "fast/relaxed math");
  m1 = emu_load(f, emu_add_msl, &emu_add_info);
  CHECK(stats(f).pipeline_compiles == 1 && stats(f).pipeline_disk_hits == 0);
  tm_module_free(m1);
  tm_device_close(f);
  tm_device_close(d);
  /* a new compiler version never meets the old entries */
  d = open_version("99.0-test");
  m1 = emu_load(d, emu_add_msl, &emu_add_info);
  s = stats(d);
  CHECK(s.pipeline_compiles == 1 && s.pipeline_disk_hits == 0);
  tm_module_free(m1);
  tm_device_close(d);
  d = open_version("99.0-test");
  m1 = emu_load(d, emu_add_msl, &emu_add_info);
  CHECK(stats(d).pipeline_disk_hits == 1);
  tm_module_free(m1);
  tm_device_close(d);
  CHECK(count_files(dir, ".archive") == 3);
}

/* out = x + y on both devices; returns the number of mismatches. */
static int run_add(tm_device *d, float *x, float *y, float *out, int n, int ro_out, char **err) {
  tm_module *m = emu_load(d, emu_add_msl, &emu_add_info);
  if (!m) return -1;
  tm_launch_arg args[] = {emu_buf(x, (size_t)n * 4), emu_buf(y, (size_t)n * 4),
                          {out, (size_t)n * 4, ro_out, 0}, emu_val(&n, 4)};
  uint32_t grid[3] = {(uint32_t)(n + 1023) / 1024, 1, 1};
  tm_status st = tm_launch(m, grid, args, 4, err);
  tm_module_free(m);
  return st ? -1 : 0;
}

static void fill(float *p, int n, unsigned seed) {
  for (int i = 0; i < n; i++) p[i] = emu_randf(&seed);
}

static void test_binding_parity(tm_device *sim, tm_device *cpu) {
  enum { N = 50001, PAGE = 16384 };
  char *err = NULL;
  size_t bytes = (N * 4 + PAGE - 1) / PAGE * PAGE;
  /* page-aligned: zero-copy; malloc'd (+4): staged */
  float *xa = aligned_alloc(PAGE, bytes), *ya = aligned_alloc(PAGE, bytes),
        *oa = aligned_alloc(PAGE, bytes);
  float *raw = malloc(3 * N * 4 + 64), *xu = raw + 1, *yu = xu + N, *ou = yu + N;
  float *ref = malloc(N * 4);
  fill(xa, N, 1), fill(ya, N, 2), memcpy(xu, xa, N * 4), memcpy(yu, ya, N * 4);
  for (int i = 0; i < N; i++) ref[i] = xa[i] + ya[i];
  tm_device_stats s0 = stats(sim);
  CHECK(run_add(sim, xa, ya, oa, N, 0, &err) == 0);
  CHECK(!memcmp(oa, ref, N * 4));
  tm_device_stats s1 = stats(sim);
  CHECK(s1.zero_copy_args - s0.zero_copy_args == 3 && s1.staged_args == s0.staged_args);
  CHECK(run_add(sim, xu, yu, ou, N, 0, &err) == 0);
  CHECK(!memcmp(ou, ref, N * 4));
  tm_device_stats s2 = stats(sim);
  CHECK(s2.staged_args - s1.staged_args == 3 && s2.zero_copy_args == s1.zero_copy_args);
  CHECK(s2.waits - s1.waits == 1 && s2.command_buffers - s1.command_buffers == 1);
  /* in place (out is x) and shifted overlap (out = x + 1): same as the cpu device */
  float *c1 = malloc(N * 4 + 8), *c2 = malloc(N * 4 + 8);
  memcpy(c1, xu, N * 4), memcpy(c2, xu, N * 4);
  CHECK(run_add(sim, c1, yu, c1, N, 0, &err) == 0);
  CHECK(run_add(cpu, c2, yu, c2, N, 0, &err) == 0);
  CHECK(!memcmp(c1, c2, N * 4) && !memcmp(c1, ref, N * 4));
  memcpy(xa, xu, N * 4);
  float *alias_cpu = malloc(bytes + 8);
  memcpy(alias_cpu, xa, N * 4);
  /* out = x + 1 races between threadgroups (two workers run them in any
   * order), so compare one threadgroup's worth, whose threads both devices run
   * in the same order */
  CHECK(run_add(sim, xa, ya, xa + 1, 1000, 0, &err) == 0); /* zero-copy group */
  CHECK(run_add(cpu, alias_cpu, ya, alias_cpu + 1, 1000, 0, &err) == 0);
  CHECK(!memcmp(xa, alias_cpu, 1001 * 4));
  /* read-only memory the kernel stores to: refused as on the cpu device, and
   * never written (even page-aligned memory is staged, not wrapped) */
  char *e1 = NULL, *e2 = NULL;
  memcpy(c2, oa, 1000 * 4);
  CHECK(run_add(sim, xu, yu, oa, 1000, 1, &e1) == -1);
  CHECK(run_add(cpu, xu, yu, c2, 1000, 1, &e2) == -1);
  CHECK_CONTAINS(e1, "store to read-only argument 'output_ptr' in kernel 'add_kernel'");
  CHECK_CONTAINS(e2, "store to read-only argument 'output_ptr' in kernel 'add_kernel'");
  CHECK(!memcmp(oa, c2, 1000 * 4) && !memcmp(oa, ref, 1000 * 4)); /* untouched */
  tm_free(e1), tm_free(e2);
  free(c1), free(c2), free(alias_cpu), free(raw), free(ref);
  free(xa), free(ya), free(oa);
}

/* Launches over device buffers are batched: no wait until synchronize. */
static void test_batching(tm_device *d) {
  enum { N = 4096 };
  char *err = NULL;
  tm_module *m = emu_load(d, emu_add_msl, &emu_add_info);
  if (!m) return;
  void *bx, *bo;
  float *x, *o;
  CHECK(tm_buffer_new(d, N * 4, &bx, (void **)&x, &err) == TM_OK);
  CHECK(tm_buffer_new(d, N * 4, &bo, (void **)&o, &err) == TM_OK);
  for (int i = 0; i < N; i++) x[i] = 1, o[i] = 0;
  int n = N;
  tm_launch_arg args[] = {emu_buf(NULL, N * 4), emu_buf(NULL, N * 4), emu_buf(NULL, N * 4),
                          emu_val(&n, 4)};
  tm_device_arg dev[] = {{bo, 0}, {bx, 0}, {bo, 0}, {NULL, 0}}; /* o = o + x */
  uint32_t grid[3] = {N / 1024, 1, 1};
  tm_device_stats s0 = stats(d);
  for (int k = 0; k < 40; k++) CHECK(tm_launch_ex(m, grid, args, dev, 4, &err) == TM_OK);
  tm_device_stats s1 = stats(d);
  CHECK(s1.waits == s0.waits);                           /* nobody waited */
  CHECK(s1.command_buffers - s0.command_buffers == 1);   /* 32 per command buffer */
  CHECK(o[7] < 40);                                      /* not all run yet */
  CHECK(tm_device_synchronize(d, &err) == TM_OK);
  tm_device_stats s2 = stats(d);
  CHECK(s2.command_buffers - s0.command_buffers == 2 && s2.waits - s0.waits == 2);
  CHECK(o[7] == 40 && o[N - 1] == 40);
  /* a byte offset into the buffer, and an extent past its end refused */
  tm_device_arg off[] = {{bx, 1024 * 4}, {bx, 0}, {bo, 1024 * 4}, {NULL, 0}};
  tm_launch_arg a2[] = {emu_buf(NULL, 1024 * 4), emu_buf(NULL, 1024 * 4),
                        emu_buf(NULL, 1024 * 4), emu_val(&n, 4)};
  n = 1024;
  uint32_t g1[3] = {1, 1, 1};
  CHECK(tm_launch_ex(m, g1, a2, off, 4, &err) == TM_OK);
  CHECK(tm_device_synchronize(d, &err) == TM_OK);
  CHECK(o[1024] == 2 && o[1023] == 40);
  a2[0].nbytes = N * 4;
  CHECK(tm_launch_ex(m, g1, a2, off, 4, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "argument 0 'x_ptr': 16384 bytes at offset 4096 pass the end of its 16384-byte Metal buffer");
  tm_free(err);
  err = NULL;
  /* a failing batched launch is reported at synchronize, with the kernel name */
  a2[0].nbytes = 1024 * 4;
  n = 2048;
  uint32_t g2[3] = {2, 1, 1};
  CHECK(tm_launch_ex(m, g2, a2, off, 4, &err) == TM_OK);
  CHECK(tm_device_synchronize(d, &err) == TM_ERR_RUNTIME);
  CHECK_CONTAINS(err, "kernel 'add_kernel': Metal command buffer failed (metal-sim): "
                      "out-of-bounds");
  tm_free(err);
  err = NULL;
  CHECK(tm_device_synchronize(d, &err) == TM_OK); /* reported once */
  /* the cpu device takes host memory only */
  tm_buffer_free(d, bx);
  tm_buffer_free(d, bo);
  tm_module_free(m);
}

static void test_cpu_refuses_device_buffers(tm_device *cpu) {
  tm_module *m = emu_load(cpu, emu_add_msl, &emu_add_info);
  char *err = NULL;
  int n = 1, junk = 0;
  tm_launch_arg args[] = {emu_buf(NULL, 4), emu_buf(NULL, 4), emu_buf(NULL, 4), emu_val(&n, 4)};
  tm_device_arg dev[] = {{&junk, 0}, {NULL, 0}, {NULL, 0}, {NULL, 0}};
  uint32_t g[3] = {1, 1, 1};
  CHECK(m && tm_launch_ex(m, g, args, dev, 4, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "argument 0 'x_ptr' is a device buffer, but the cpu device takes host "
                      "memory only");
  tm_free(err);
  tm_module_free(m);
}

int main(void) {
  emu_fresh_cache();
  test_pipeline_cache();
  tm_device *sim = open_kind("metal-sim"), *cpu = open_kind("cpu");
  CHECK_CONTAINS(tm_device_description(sim), "metal-sim: simulated Apple GPU");
  CHECK_CONTAINS(tm_device_description(sim), "MSL 3.2, safe math"); /* the generic target */
  test_binding_parity(sim, cpu);
  test_batching(sim);
  test_cpu_refuses_device_buffers(cpu);
  tm_device_close(sim);
  tm_device_close(cpu);
  emu_rm_cache();
  return check_report("test_metal");
}
