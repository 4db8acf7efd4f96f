/*
 * fake/libcuda.c: a stand-in for the CUDA driver library, for
 * tests/unit/test_cuda.c on machines without an NVIDIA GPU. test_cuda builds
 * it (cc -shared) and points the cuda device at it with TRITON_METAL_LIBCUDA.
 *
 * It exports the driver API entry points runtime/cuda/cuda.c resolves, with the
 * driver's exported names and signatures, over host memory:
 *   - "device memory" (cuMemAlloc) and mapped host memory (cuMemHostAlloc)
 *     are host allocations it keeps a list of; cuMemGetAddressRange answers
 *     from that list;
 *   - cuModuleLoadData takes any ELF image (the cubin nvcc built, which it
 *     cannot run); cuModuleGetFunction finds a host implementation of the
 *     test kernels below by name;
 *   - cuLaunchKernel runs that implementation at once, which first checks
 *     that every pointer parameter lies in memory this fake handed out (a
 *     host pointer passed where a device pointer belongs is an illegal address,
 *     as on a GPU); such a fault is sticky: reported by cuCtxSynchronize and
 *     every later launch, as the driver reports a fault of an asynchronous
 *     launch;
 *   - events read the host clock.
 * The test kernels' CUDA source is in test_cuda.c; each implementation here
 * does what that source does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

enum { OK = 0, E_INVALID_VALUE = 1, E_NOT_INITIALIZED = 3, E_INVALID_IMAGE = 200,
       E_INVALID_CONTEXT = 201, E_NOT_FOUND = 500, E_ILLEGAL_ADDRESS = 700 };

static int inited, current;
static CUresult sticky;
static long launches;

typedef struct Mem {
  char *p;
  size_t n;
  int host; /* cuMemHostAlloc */
  struct Mem *next;
} Mem;
static Mem *mems;

static Mem *find(uintptr_t p) {
  for (Mem *m = mems; m; m = m->next)
    if (p >= (uintptr_t)m->p && p < (uintptr_t)m->p + m->n) return m;
  return NULL;
}

/* A kernel's access of n bytes at p: inside memory of ours, else a fault. */
static int ok(const void *p, size_t n) {
  Mem *m = find((uintptr_t)p);
  if (m && (uintptr_t)p + n <= (uintptr_t)m->p + m->n) return 1;
  if (!sticky) sticky = E_ILLEGAL_ADDRESS;
  return 0;
}

/* ------------------------------------------------------------ kernels */

typedef void (*Kernel)(void **p, const unsigned g[3], unsigned block);

/* tm_test_axpy(float *out, const float *x, const float *y, float a, int n) */
static void axpy(void **p, const unsigned g[3], unsigned block) {
  float *out = *(float **)p[0];
  const float *x = *(float **)p[1], *y = *(float **)p[2];
  float a = *(float *)p[3];
  int n = *(int *)p[4];
  for (unsigned b = 0; b < g[0]; b++)
    for (unsigned t = 0; t < block; t++) {
      int i = (int)(b * block + t);
      if (i >= n) continue;
      if (!ok(&out[i], 4) || !ok(&x[i], 4) || !ok(&y[i], 4)) return;
      out[i] = a * x[i] + y[i];
    }
}

/* tm_test_split(float *lo, float *hi, int n) */
static void split(void **p, const unsigned g[3], unsigned block) {
  float *lo = *(float **)p[0], *hi = *(float **)p[1];
  int n = *(int *)p[2];
  for (unsigned b = 0; b < g[0]; b++)
    for (unsigned t = 0; t < block; t++) {
      int i = (int)(b * block + t);
      if (i >= n) continue;
      if (!ok(&lo[i], 4) || !ok(&hi[i], 4)) return;
      lo[i] = (float)i;
      hi[i] = (float)(n + i);
    }
}

/* tm_test_scalars(long long *out, const float *p, signed char a, short b,
 *                 long long c, float d) */
static void scalars(void **p, const unsigned g[3], unsigned block) {
  (void)g, (void)block;
  long long *out = *(long long **)p[0];
  const float *q = *(float **)p[1];
  if (!ok(out, 5 * 8)) return;
  out[0] = (long long)(uintptr_t)q;
  out[1] = *(signed char *)p[2];
  out[2] = *(short *)p[3];
  out[3] = *(long long *)p[4];
  out[4] = (long long)(*(float *)p[5] * 2);
}

/* tm_test_fault(float *p): stores far past its memory */
static void fault(void **p, const unsigned g[3], unsigned block) {
  (void)g, (void)block;
  float *q = *(float **)p[0];
  if (ok(q + (1ull << 36), 4)) q[1ull << 36] = 1;
}

typedef struct Entry {
  const char *name;
  Kernel fn;
} Entry;
/* proxy_axpy: the @jit kernel of tests/python/test_cuda_device.py, compiled
 * by our compiler for cuda-sm90, with tm_test_axpy's parameters */
static const Entry kernels[] = {{"tm_test_axpy", axpy},       {"tm_test_split", split},
                                {"tm_test_scalars", scalars}, {"tm_test_fault", fault},
                                {"proxy_axpy", axpy}};

/* ------------------------------------------------------------ the API */

#define NEED_INIT if (!inited) return E_NOT_INITIALIZED

CUresult cuInit(unsigned f) { return f ? E_INVALID_VALUE : (inited = 1, OK); }
CUresult cuDriverGetVersion(int *v) { *v = 12040; return OK; }
CUresult cuDeviceGetCount(int *n) { NEED_INIT; *n = 1; return OK; }
CUresult cuDeviceGet(int *d, int i) { NEED_INIT; *d = i; return i == 0 ? OK : E_INVALID_VALUE; }
CUresult cuDeviceGetAttribute(int *v, int attr, int d) {
  NEED_INIT;
  (void)d;
  switch (attr) {
  case 1: *v = 1024; return OK;    /* max threads per block */
  case 8: *v = 49152; return OK;   /* shared memory per block */
  case 16: *v = 2; return OK;      /* multiprocessors */
  case 75: *v = 9; return OK;      /* compute capability */
  case 76: *v = 0; return OK;
  }
  return E_INVALID_VALUE;
}
CUresult cuDeviceGetName(char *s, int n, int d) {
  (void)d;
  strncpy(s, "Fake GPU (tests/unit/fake/libcuda.c)", (size_t)n - 1);
  s[n - 1] = 0;
  return OK;
}
CUresult cuDeviceTotalMem_v2(size_t *n, int d) { (void)d; *n = (size_t)1 << 30; return OK; }
CUresult cuDevicePrimaryCtxRetain(void **ctx, int d) { (void)d; NEED_INIT; *ctx = &current; return OK; }
CUresult cuDevicePrimaryCtxRelease_v2(int d) { (void)d; return OK; }
CUresult cuCtxSetCurrent(void *ctx) { current = ctx == &current; return OK; }
CUresult cuCtxSynchronize(void) { return !current ? E_INVALID_CONTEXT : sticky; }

CUresult cuModuleLoadData(void **mod, const void *image) {
  if (!current) return E_INVALID_CONTEXT;
  if (memcmp(image, "\177ELF", 4)) return E_INVALID_IMAGE;
  *mod = malloc(1);
  return OK;
}
CUresult cuModuleGetFunction(void **fn, void *mod, const char *name) {
  (void)mod;
  for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
    if (!strcmp(kernels[i].name, name)) {
      *fn = (void *)&kernels[i];
      return OK;
    }
  return E_NOT_FOUND;
}
CUresult cuModuleUnload(void *mod) { free(mod); return OK; }
CUresult cuFuncGetAttribute(int *v, int attr, void *fn) {
  (void)fn;
  switch (attr) {
  case 0: *v = 64; return OK; /* the test kernels' __launch_bounds__ */
  case 1: *v = 0; return OK;
  case 4: *v = 16; return OK;
  }
  return E_INVALID_VALUE;
}

static CUresult alloc(void **out, size_t n, int host) {
  Mem *m = calloc(1, sizeof *m);
  if (!m || !(m->p = aligned_alloc(256, (n + 255) / 256 * 256))) return 2;
  memset(m->p, 0xa5, n); /* not zero: a test must not pass by accident */
  m->n = n;
  m->host = host;
  m->next = mems;
  mems = m;
  *out = m->p;
  return OK;
}
static CUresult release(void *p, int host) {
  for (Mem **l = &mems; *l; l = &(*l)->next)
    if ((*l)->p == p && (*l)->host == host) {
      Mem *m = *l;
      *l = m->next;
      free(m->p);
      free(m);
      return OK;
    }
  return E_INVALID_VALUE;
}

CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) {
  void *q;
  if (!current) return E_INVALID_CONTEXT;
  CUresult r = n ? alloc(&q, n, 0) : E_INVALID_VALUE;
  if (!r) *p = (CUdeviceptr)(uintptr_t)q;
  return r;
}
CUresult cuMemFree_v2(CUdeviceptr p) { return release((void *)(uintptr_t)p, 0); }
CUresult cuMemGetAddressRange_v2(CUdeviceptr *base, size_t *size, CUdeviceptr p) {
  Mem *m = find((uintptr_t)p);
  if (!m || m->host) return E_NOT_FOUND; /* the driver answers for device allocations only */
  if (base) *base = (CUdeviceptr)(uintptr_t)m->p;
  if (size) *size = m->n;
  return OK;
}
CUresult cuMemHostAlloc(void **p, size_t n, unsigned flags) {
  (void)flags;
  return current ? alloc(p, n, 1) : E_INVALID_CONTEXT;
}
CUresult cuMemFreeHost(void *p) { return release(p, 1); }
CUresult cuMemHostGetDevicePointer_v2(CUdeviceptr *d, void *p, unsigned flags) {
  Mem *m = find((uintptr_t)p);
  if (flags || !m || !m->host) return E_INVALID_VALUE;
  *d = (CUdeviceptr)(uintptr_t)p; /* unified addressing: the same address */
  return OK;
}
CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void *h, size_t n) {
  Mem *m = find((uintptr_t)d);
  if (sticky) return sticky;
  if (!m || m->host || d + n > (uintptr_t)m->p + m->n) return E_INVALID_VALUE;
  memcpy((void *)(uintptr_t)d, h, n);
  return OK;
}
CUresult cuMemcpyDtoH_v2(void *h, CUdeviceptr d, size_t n) {
  Mem *m = find((uintptr_t)d);
  if (sticky) return sticky;
  if (!m || m->host || d + n > (uintptr_t)m->p + m->n) return E_INVALID_VALUE;
  memcpy(h, (const void *)(uintptr_t)d, n);
  return OK;
}

CUresult cuLaunchKernel(void *fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                        unsigned bz, unsigned smem, void *stream, void **params, void **extra) {
  if (!current) return E_INVALID_CONTEXT;
  if (sticky) return sticky;
  if (!gx || !gy || !gz || bx > 64 || by != 1 || bz != 1 || smem || stream || extra || !params)
    return E_INVALID_VALUE;
  const unsigned g[3] = {gx, gy, gz};
  launches++;
  ((const Entry *)fn)->fn(params, g, bx);
  return OK;
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}
CUresult cuEventCreate(void **ev, unsigned flags) {
  (void)flags;
  *ev = calloc(1, sizeof(double));
  return *ev ? OK : 2;
}
CUresult cuEventDestroy_v2(void *ev) { free(ev); return OK; }
CUresult cuEventRecord(void *ev, void *stream) {
  if (stream) return E_INVALID_VALUE;
  *(double *)ev = now_ms();
  return sticky;
}
CUresult cuEventSynchronize(void *ev) { (void)ev; return sticky; }
CUresult cuEventElapsedTime_v2(float *ms, void *a, void *b) {
  *ms = (float)(*(double *)b - *(double *)a);
  return sticky;
}

CUresult cuGetErrorName(CUresult r, const char **s) {
  switch (r) {
  case OK: *s = "CUDA_SUCCESS"; return OK;
  case E_INVALID_VALUE: *s = "CUDA_ERROR_INVALID_VALUE"; return OK;
  case E_NOT_FOUND: *s = "CUDA_ERROR_NOT_FOUND"; return OK;
  case E_ILLEGAL_ADDRESS: *s = "CUDA_ERROR_ILLEGAL_ADDRESS"; return OK;
  }
  *s = "CUDA_ERROR_OTHER";
  return OK;
}
CUresult cuGetErrorString(CUresult r, const char **s) {
  *s = r == E_ILLEGAL_ADDRESS ? "an illegal memory access was encountered"
       : r == E_NOT_FOUND     ? "named symbol not found"
                              : "fake driver error";
  return OK;
}

/* For the test: launches so far (0 after a launch that must not have run). */
long fake_cuda_launches(void) { return launches; }
