/* test_cuda.c: the cuda device kind (runtime/cuda/cuda.c) and its cubin build
 * (runtime/cuda/cuda_build.c).
 *
 *   1. cubins: nvcc builds, the disk cache serves, a garbled cache entry is
 *      rebuilt, nvcc's error text reaches the error (needs nvcc, no GPU;
 *      skipped without nvcc).
 *   2. unavailable: a driver library that cannot be loaded is reported by
 *      tm_device_open("cuda") with the reason and the available devices.
 *   3. the launch suite over tests/unit/fake/libcuda.c, a stand-in driver on
 *      host memory built here with cc (needs nvcc for the load: the kernels
 *      are real CUDA C++).
 *   4. the same suite over the real driver, when this machine has an NVIDIA
 *      GPU; otherwise "skipped: <why>".
 * 2, 3 and 4 each run in a child process: the driver library is loaded once
 * per process. */
#include <dirent.h>
#include <dlfcn.h>
#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "rt.h"

static char tmp[256];

/* ------------------------------------------------------------ the kernels */

static const char KSRC[] =
    "extern \"C\" __global__ void __launch_bounds__(64) tm_test_axpy(float *out, const float *x,\n"
    "    const float *y, float a, int n) {\n"
    "  int i = blockIdx.x * 64 + threadIdx.x;\n"
    "  if (i < n) out[i] = a * x[i] + y[i];\n"
    "}\n"
    "extern \"C\" __global__ void __launch_bounds__(64) tm_test_split(float *lo, float *hi, int n) {\n"
    "  int i = blockIdx.x * 64 + threadIdx.x;\n"
    "  if (i < n) { lo[i] = (float)i; hi[i] = (float)(n + i); }\n"
    "}\n"
    "extern \"C\" __global__ void __launch_bounds__(64) tm_test_scalars(long long *out,\n"
    "    const float *p, signed char a, short b, long long c, float d) {\n"
    "  if (blockIdx.x == 0 && threadIdx.x == 0) {\n"
    "    out[0] = (long long)p; out[1] = a; out[2] = b; out[3] = c; out[4] = (long long)(d * 2);\n"
    "  }\n"
    "}\n"
    "extern \"C\" __global__ void __launch_bounds__(64) tm_test_fault(float *p) {\n"
    "  p[1ull << 36] = 1;\n"
    "}\n";

static const tm_kernel_arg axpy_args[] = {
    {"out", 0, TM_ARG_BUFFER, TM_F32, 1}, {"x", 1, TM_ARG_BUFFER, TM_F32, 0},
    {"y", 2, TM_ARG_BUFFER, TM_F32, 0},   {"a", 3, TM_ARG_BYTES, TM_F32, 0},
    {"n", 4, TM_ARG_BYTES, TM_I32, 0}};
static const tm_kernel_arg split_args[] = {{"lo", 0, TM_ARG_BUFFER, TM_F32, 1},
                                           {"hi", 1, TM_ARG_BUFFER, TM_F32, 1},
                                           {"n", 2, TM_ARG_BYTES, TM_I32, 0}};
static const tm_kernel_arg scalars_args[] = {
    {"out", 0, TM_ARG_BUFFER, TM_I64, 1}, {"p", 1, TM_ARG_BUFFER, TM_F32, 0},
    {"a", 2, TM_ARG_BYTES, TM_I8, 0},     {"b", 3, TM_ARG_BYTES, TM_I16, 0},
    {"c", 4, TM_ARG_BYTES, TM_I64, 0},    {"d", 5, TM_ARG_BYTES, TM_F32, 0}};
static const tm_kernel_arg fault_args[] = {{"p", 0, TM_ARG_BUFFER, TM_F32, 1}};

#define INFO(NAME, ARGS) \
  {.name = NAME, .nargs = sizeof ARGS / sizeof ARGS[0], .args = ARGS, .threads_per_threadgroup = 64}
static const tm_kernel_info axpy_info = INFO("tm_test_axpy", axpy_args);
static const tm_kernel_info split_info = INFO("tm_test_split", split_args);
static const tm_kernel_info scalars_info = INFO("tm_test_scalars", scalars_args);
static const tm_kernel_info fault_info = INFO("tm_test_fault", fault_args);
static const tm_kernel_info nope_info = INFO("tm_test_nope", fault_args);

static tm_launch_arg host(void *p, size_t nbytes) { return (tm_launch_arg){p, nbytes, 0, 0}; }
static tm_launch_arg bytes(void *p, size_t n) { return (tm_launch_arg){p, n, 0, 0}; }

/* ------------------------------------------------------------ 1. cubins */

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

/* 0: tested; 1: skipped (no nvcc). */
static int test_cubins(void) {
  char dir[300], *bytes = NULL, *bytes2 = NULL, *err = NULL;
  size_t n = 0, n2 = 0;
  int compiled = -1;
  snprintf(dir, sizeof dir, "%s/cubins", tmp);
  tm_status st = cuda_cubin_get(dir, 90, KSRC, "tm_test", &bytes, &n, &compiled, &err);
  if (st && err && strstr(err, "not on PATH")) {
    printf("cubins: skipped: %s\n", err);
    free(err);
    return 1;
  }
  if (st) fprintf(stderr, "cuda_cubin_get: %s\n", err);
  CHECK(st == TM_OK && compiled == 1 && n > 4 && !memcmp(bytes, "\177ELF", 4));
  CHECK(count_files(dir, ".cubin") == 1 && count_files(dir, ".sum") == 1);
  /* from the cache: the same bytes, no nvcc */
  st = cuda_cubin_get(dir, 90, KSRC, "tm_test", &bytes2, &n2, &compiled, &err);
  CHECK(st == TM_OK && compiled == 0 && n2 == n && bytes2 && !memcmp(bytes, bytes2, n));
  free(bytes2);
  /* another architecture is another entry */
  st = cuda_cubin_get(dir, 80, KSRC, "tm_test", &bytes2, &n2, &compiled, &err);
  CHECK(st == TM_OK && compiled == 1 && count_files(dir, ".cubin") == 2);
  free(bytes2);
  /* a garbled cache entry: rebuilt, and what comes back is nvcc's cubin again */
  char cmd[700];
  snprintf(cmd, sizeof cmd, "for f in %s/*.cubin; do printf 'garbage' | dd of=$f bs=1 seek=64 "
                            "conv=notrunc 2>/dev/null; done", dir);
  CHECK(system(cmd) == 0);
  st = cuda_cubin_get(dir, 90, KSRC, "tm_test", &bytes2, &n2, &compiled, &err);
  CHECK(st == TM_OK && compiled == 1 && n2 == n && bytes2 && !memcmp(bytes, bytes2, n));
  free(bytes2);
  /* a FIFO in place of the entry is not opened (it would block): rebuilt */
  snprintf(cmd, sizeof cmd, "for f in %s/*.cubin; do rm -f $f; mkfifo $f; done", dir);
  CHECK(system(cmd) == 0);
  st = cuda_cubin_get(dir, 90, KSRC, "tm_test", &bytes2, &n2, &compiled, &err);
  CHECK(st == TM_OK && compiled == 1 && n2 == n);
  free(bytes2);
  /* extra flags are part of the key */
  setenv("TRITON_METAL_NVCC_FLAGS", "-lineinfo", 1);
  st = cuda_cubin_get(dir, 90, KSRC, "tm_test", &bytes2, &n2, &compiled, &err);
  unsetenv("TRITON_METAL_NVCC_FLAGS");
  CHECK(st == TM_OK && compiled == 1);
  free(bytes2);
  /* nvcc's own error text, and the source kept */
  st = cuda_cubin_get(dir, 90, "extern \"C\" __global__ void broken(int *p) { p[0] = undefined_name; }\n",
                      "broken", &bytes2, &n2, &compiled, &err);
  CHECK(st == TM_ERR_DEVICE && bytes2 == NULL);
  CHECK_CONTAINS(err, "nvcc could not compile kernel 'broken'");
  CHECK_CONTAINS(err, "undefined_name");
  CHECK_CONTAINS(err, "-arch=sm_90");
  CHECK(count_files(dir, ".cu") == 1);
  free(err), err = NULL;
  /* TRITON_METAL_NVCC naming nothing */
  setenv("TRITON_METAL_NVCC", "/nonexistent/nvcc", 1);
  st = cuda_cubin_get(dir, 90, KSRC, "tm_test", &bytes2, &n2, &compiled, &err);
  unsetenv("TRITON_METAL_NVCC");
  CHECK(st == TM_ERR_DEVICE);
  CHECK_CONTAINS(err, "TRITON_METAL_NVCC=/nonexistent/nvcc: no such program");
  free(err);
  free(bytes);
  return 0;
}

/* ------------------------------------------------------------ the launch suite */


/* The driver's own allocation calls, for device arguments that are not
 * tm_buffer_new's (as a torch CUDA tensor's storage is not). */
typedef struct Drv {
  int (*MemAlloc)(unsigned long long *, size_t);
  int (*MemFree)(unsigned long long);
  int (*HtoD)(unsigned long long, const void *, size_t);
  int (*DtoH)(void *, unsigned long long, size_t);
  long (*fake_launches)(void); /* the fake driver's count; NULL for the real one */
} Drv;

static int drv_open(Drv *v) {
  const char *lib = getenv("TRITON_METAL_LIBCUDA");
  void *h = dlopen(lib && *lib ? lib : "libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!h) return -1;
  *(void **)&v->MemAlloc = dlsym(h, "cuMemAlloc_v2");
  *(void **)&v->MemFree = dlsym(h, "cuMemFree_v2");
  *(void **)&v->HtoD = dlsym(h, "cuMemcpyHtoD_v2");
  *(void **)&v->DtoH = dlsym(h, "cuMemcpyDtoH_v2");
  *(void **)&v->fake_launches = dlsym(h, "fake_cuda_launches");
  return v->MemAlloc && v->MemFree && v->HtoD && v->DtoH ? 0 : -1;
}

static tm_module *load(tm_device *d, const tm_kernel_info *k) {
  tm_module *m = NULL;
  char *err = NULL;
  if (tm_module_load(d, KSRC, k, &m, &err)) {
    fprintf(stderr, "load %s: %s\n", k->name, err);
    tm_free(err);
    CHECK(0);
  }
  return m;
}

static tm_device_stats stats(tm_device *d) {
  tm_device_stats s;
  tm_device_get_stats(d, &s, NULL);
  return s;
}

enum { N = 1000 };
static const uint32_t GRID[3] = {(N + 63) / 64, 1, 1};

static void suite(const char *which) {
  tm_device *d = NULL;
  char *err = NULL;
  tm_status st = tm_device_open("cuda", &d, &err);
  if (st) {
    fprintf(stderr, "%s: tm_device_open: %s\n", which, err);
    CHECK(0);
    return;
  }
  printf("%s: %s\n", which, tm_device_description(d));
  CHECK_CONTAINS(tm_device_description(d), "cuda: ");
  CHECK_CONTAINS(tm_device_description(d), "sm_");
  Drv drv = {0};
  if (drv_open(&drv)) {
    CHECK(0);
    return;
  }

  /* MSL is refused with a pointer to the cuda target; an unknown name is the driver's error */
  tm_module *m = NULL;
  st = tm_module_load(d, "#include <metal_stdlib>\nkernel void tm_test_axpy() {}\n", &axpy_info,
                      &m, &err);
  CHECK(st == TM_ERR_DEVICE && !m);
  CHECK_CONTAINS(err, "compiled to MSL");
  CHECK_CONTAINS(err, "TRITON_METAL_HW=cuda-sm");
  tm_free(err), err = NULL;
  st = tm_module_load(d, KSRC, &nope_info, &m, &err);
  CHECK(st == TM_ERR_DEVICE && !m);
  CHECK_CONTAINS(err, "cuModuleGetFunction(\"tm_test_nope\")");
  tm_free(err), err = NULL;

  tm_module *axpy = load(d, &axpy_info), *split = load(d, &split_info),
            *scal = load(d, &scalars_info), *fault = load(d, &fault_info);
  if (!axpy || !split || !scal || !fault) return;
  tm_module_info mi;
  CHECK(tm_module_get_info(axpy, &mi, NULL) == TM_OK && mi.max_threads_per_threadgroup >= 64 &&
        mi.thread_execution_width == 32);
  tm_device_stats s0 = stats(d);
  CHECK(s0.pipeline_compiles + s0.pipeline_disk_hits == 5);

  /* host arguments: copied in, run, the written one copied back */
  static float x[N], y[N], out[N];
  for (int i = 0; i < N; i++) x[i] = (float)i, y[i] = 2.0f * (float)i, out[i] = -1;
  float a = 0.5f;
  int n = N;
  tm_launch_arg args[] = {host(out, sizeof out), host(x, sizeof x), host(y, sizeof y),
                          bytes(&a, 4), bytes(&n, 4)};
  st = tm_launch(axpy, GRID, args, 5, &err);
  if (st) fprintf(stderr, "axpy: %s\n", err);
  CHECK(st == TM_OK);
  int bad = 0;
  for (int i = 0; i < N; i++) bad += out[i] != 2.5f * (float)i;
  CHECK(bad == 0);
  CHECK(x[7] == 7.0f && y[7] == 14.0f);
  tm_device_stats s1 = stats(d);
  CHECK(s1.dispatches == 1 && s1.staged_args == 3 && s1.waits == s0.waits + 1);

  /* memory the caller marked read-only is not written back */
  for (int i = 0; i < N; i++) out[i] = -1;
  args[0].readonly = 1;
  CHECK(tm_launch(axpy, GRID, args, 5, NULL) == TM_OK);
  CHECK(out[0] == -1 && out[N - 1] == -1);
  args[0].readonly = 0;

  /* two written arguments in one allocation: staged as one, so neither
   * argument's results overwrite the other's */
  static float both[2 * N];
  for (int i = 0; i < 2 * N; i++) both[i] = -1;
  tm_launch_arg sargs[] = {host(both, sizeof both),
                           {both + N, N * sizeof(float), 0, N * sizeof(float)},
                           bytes(&n, 4)};
  CHECK(tm_launch(split, GRID, sargs, 3, NULL) == TM_OK);
  bad = 0;
  for (int i = 0; i < 2 * N; i++) bad += both[i] != (float)i;
  CHECK(bad == 0);

  /* scalars of every width; a pointer 12 bytes into an allocation that starts
   * 4 bytes past a 256-byte boundary keeps its address modulo 256 on the
   * device (alignment the compiler assumed holds) */
  static _Alignas(256) float p[64];
  long long res[5] = {0};
  signed char sa = -5;
  short sb = -300;
  long long sc = 1ll << 40;
  float sd = 1.25f;
  tm_launch_arg cargs[] = {host(res, sizeof res), {p + 4, sizeof p - 16, 0, 12}, bytes(&sa, 1),
                           bytes(&sb, 2), bytes(&sc, 8), bytes(&sd, 4)};
  uint32_t one[3] = {1, 1, 1};
  st = tm_launch(scal, one, cargs, 6, &err);
  if (st) fprintf(stderr, "scalars: %s\n", err);
  CHECK(st == TM_OK);
  CHECK(res[1] == -5 && res[2] == -300 && res[3] == 1ll << 40 && res[4] == 2);
  CHECK((uintptr_t)res[0] % 256 == (uintptr_t)(p + 4) % 256);
  CHECK((uintptr_t)res[0] != (uintptr_t)(p + 4)); /* a device copy, not the host memory */

  /* device arguments: a tm_buffer_new buffer, driver allocations (one at an
   * offset); the launch is queued, not waited for */
  void *xb = NULL, *xc = NULL;
  unsigned long long yd = 0, od = 0;
  st = tm_buffer_new(d, sizeof x, &xb, &xc, &err);
  if (st) fprintf(stderr, "tm_buffer_new: %s\n", err);
  CHECK(st == TM_OK && xb && xc);
  if (!xc) return;
  memcpy(xc, x, sizeof x);
  CHECK(drv.MemAlloc(&yd, sizeof y) == 0 && drv.MemAlloc(&od, 256 + sizeof out) == 0);
  CHECK(drv.HtoD(yd, y, sizeof y) == 0);
  tm_launch_arg dargs[] = {{NULL, sizeof out, 0, 0}, {NULL, 0, 0, 0}, {NULL, 0, 0, 0},
                           bytes(&a, 4), bytes(&n, 4)};
  tm_device_arg dev[] = {{(void *)(uintptr_t)od, 256}, {xb, 0}, {(void *)(uintptr_t)yd, 0},
                         {NULL, 0}, {NULL, 0}};
  tm_device_stats s2 = stats(d);
  st = tm_launch_ex(axpy, GRID, dargs, dev, 5, &err);
  if (st) fprintf(stderr, "device launch: %s\n", err);
  CHECK(st == TM_OK);
  tm_device_stats s3 = stats(d);
  CHECK(s3.waits == s2.waits && s3.staged_args == s2.staged_args);
  CHECK(tm_device_synchronize(d, &err) == TM_OK);
  for (int i = 0; i < N; i++) out[i] = -1;
  CHECK(drv.DtoH(out, od + 256, sizeof out) == 0);
  bad = 0;
  for (int i = 0; i < N; i++) bad += out[i] != 2.5f * (float)i;
  CHECK(bad == 0);

  /* a timed launch: GPU time from events, waited for */
  tm_launch_times t = {TM_TIME_NONE, 0, 0};
  st = tm_launch_timed(axpy, GRID, dargs, dev, 5, &t, &err);
  CHECK(st == TM_OK && t.source == TM_TIME_GPU && t.end_ns >= t.start_ns);
  CHECK(stats(d).waits == s3.waits + 2);

  /* device arguments the runtime refuses: past the allocation's end, not device memory */
  dargs[0].nbytes = sizeof out + 4;
  st = tm_launch_ex(axpy, GRID, dargs, dev, 5, &err);
  CHECK(st == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "argument 0 'out'");
  CHECK_CONTAINS(err, "pass the ends of its");
  tm_free(err), err = NULL;
  dargs[0].nbytes = sizeof out;
  dev[2].buffer = y; /* host memory the driver does not know */
  st = tm_launch_ex(axpy, GRID, dargs, dev, 5, &err);
  CHECK(st == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "is not device memory of this CUDA context");
  tm_free(err), err = NULL;
  dev[2].buffer = (void *)(uintptr_t)yd;
  if (drv.fake_launches) CHECK(drv.fake_launches() == 6); /* the refused ones did not run */

  /* kernel-visible memory: device memory only */
  tm_visible *v = NULL;
  uint64_t addr = 0;
  tm_launch_arg vm = {NULL, 64, 1, 0};
  tm_device_arg vd = {(void *)(uintptr_t)yd, 16};
  st = tm_visible_add(d, &vm, &vd, &v, &addr, &err);
  CHECK(st == TM_OK && addr == yd + 16);
  tm_visible_remove(d, v);
  tm_launch_arg hm = host(y, sizeof y);
  st = tm_visible_add(d, &hm, NULL, &v, &addr, &err);
  CHECK(st == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "device memory only");
  tm_free(err), err = NULL;
  tm_buffer_free(d, xb);

  /* last (it spoils the context): a fault in a queued launch is reported at
   * the wait, naming the kernel */
  tm_launch_arg fargs[] = {{NULL, 0, 0, 0}};
  tm_device_arg fdev[] = {{(void *)(uintptr_t)yd, 0}};
  CHECK(tm_launch_ex(fault, one, fargs, fdev, 1, NULL) == TM_OK);
  st = tm_device_synchronize(d, &err);
  printf("%s: the planted fault: %s\n", which, err ? err : "(none)");
  CHECK(st == TM_ERR_RUNTIME);
  CHECK_CONTAINS(err, "kernel 'tm_test_fault'");
  CHECK_CONTAINS(err, "cuCtxSynchronize: CUDA_ERROR_");
  tm_free(err), err = NULL;
  tm_module_free(axpy), tm_module_free(split), tm_module_free(scal), tm_module_free(fault);
  tm_device_close(d);
}

/* ------------------------------------------------------------ processes */

/* Runs fn in a child process; returns its exit status (its checks' verdict). */
static int in_child(void (*fn)(void *), void *arg) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid == 0) {
    check_passed = check_failed = 0;
    fn(arg);
    printf("  (child process: %d passed, %d failed)\n", check_passed, check_failed);
    fflush(stdout);
    _exit(check_failed ? 1 : 0);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* 2. a driver library that cannot be loaded */
static void no_driver(void *arg) {
  (void)arg;
  setenv("TRITON_METAL_LIBCUDA", "/nonexistent/libcuda.so.1", 1);
  tm_device *d = NULL;
  char *err = NULL;
  CHECK(tm_device_open("cuda", &d, &err) == TM_ERR_DEVICE && !d);
  CHECK_CONTAINS(err, "device 'cuda': the CUDA driver library /nonexistent/libcuda.so.1 cannot be loaded");
  CHECK_CONTAINS(err, "available devices: ");
  tm_free(err);
  /* other kinds open without asking the driver */
  CHECK(tm_device_open("cpu", &d, NULL) == TM_OK);
  tm_device_close(d);
}

static void fake_suite(void *lib) {
  setenv("TRITON_METAL_LIBCUDA", lib, 1);
  suite("fake driver");
}

/* 4. the real driver, when there is one */
static void real_suite(void *arg) {
  (void)arg;
  tm_device *d = NULL;
  char *err = NULL;
  if (tm_device_open("cuda", &d, &err)) {
    printf("real driver: skipped: %s\n", err);
    CHECK_CONTAINS(err, "device 'cuda': ");
    tm_free(err);
    return;
  }
  tm_device_close(d);
  suite("real driver");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  remove(path);
  return 0;
}

int main(void) {
  const char *t = getenv("TMPDIR");
  snprintf(tmp, sizeof tmp, "%s/tm-test-cuda-XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(tmp)) return 2;
  char cache[300];
  snprintf(cache, sizeof cache, "%s/cache", tmp);
  setenv("TRITON_METAL_CACHE_DIR", cache, 1);
  unsetenv("TRITON_METAL_LIBCUDA");
  unsetenv("TRITON_METAL_NVCC_FLAGS");

  int no_nvcc = test_cubins();
  CHECK(in_child(no_driver, NULL) == 0);

  /* 3. the fake driver, built from tests/unit/fake/libcuda.c beside this file */
  char src[600], lib[600], cmd[1600];
  snprintf(src, sizeof src, "%s", __FILE__);
  char *slash = strrchr(src, '/');
  snprintf(slash ? slash + 1 : src, sizeof src - (size_t)(slash ? slash + 1 - src : 0),
           "fake/libcuda.c");
  snprintf(lib, sizeof lib, "%s/libcuda-fake.so", tmp);
  const char *cc = getenv("CC");
  snprintf(cmd, sizeof cmd, "%s -shared -fPIC -O1 -o %s %s", cc && *cc ? cc : "cc", lib, src);
  if (no_nvcc) {
    printf("fake driver: skipped: no nvcc to build the test kernels\n");
  } else if (access(src, R_OK)) {
    printf("fake driver: skipped: %s not found (run from the repository root)\n", src);
  } else {
    CHECK(system(cmd) == 0);
    CHECK(in_child(fake_suite, lib) == 0);
  }
  CHECK(in_child(real_suite, NULL) == 0);
  nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return check_report("test_cuda");
}
