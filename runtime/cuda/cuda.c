/*
 * cuda.c: the "cuda" device kind: an NVIDIA GPU through the CUDA driver API.
 *
 * The GPU proxy (issue 17, docs/cuda-proxy.md): the compiler's CUDA dialect
 * (target cuda-sm80/cuda-sm90, src/cuda.c) writes the same lowering as CUDA
 * C++, and this device runs it, so the lowering can be measured on a GPU we
 * have. A measuring instrument, not a product: it is chosen only by name
 * (TRITON_METAL_DEVICE=cuda), never by default.
 *
 * driver   libcuda.so.1 (TRITON_METAL_LIBCUDA names another file) is opened
 *          with dlopen when the kind is first asked about: no link-time
 *          dependency, and a machine without it reports why (unavailable).
 *          The few types and constants used are declared below, with the
 *          values of the CUDA driver API's cuda.h. Device 0 of the visible
 *          ones (CUDA_VISIBLE_DEVICES picks), its primary context, which
 *          torch uses too: torch's device pointers are valid here, and ours
 *          there. The context is made current on every call (it is per thread).
 * load     the text the compiler produced (CUDA C++ for a cuda target) ->
 *          cubin through nvcc for the device's sm_XY, cached on disk
 *          (cuda_build.c) -> cuModuleLoadData + cuModuleGetFunction.
 * launch   gridDim = the grid, blockDim = (threads_per_threadgroup, 1, 1), no
 *          dynamic shared memory (the kernel's is static), the legacy default
 *          stream (ordered with torch's default stream). Parameters in the
 *          descriptor's order: a BUFFER as a device pointer, a BYTES value by
 *          value (the driver copies the parameter's size from its address).
 *            device argument   tm_device_arg.buffer is a CUdeviceptr (a torch
 *                              CUDA storage) + offset; checked to lie in its
 *                              allocation (cuMemGetAddressRange) with the
 *                              extent the launch says the kernel may reach;
 *            host argument     its allocation around data ([data - before,
 *                              data + nbytes)); overlapping ones form one
 *                              group (an in-place call: one copy, or writes
 *                              through one argument would be lost), copied to
 *                              device memory from a small pool, placed so that
 *                              the device address and the host address agree
 *                              modulo 256 (a kernel compiled for a 16-byte
 *                              aligned pointer gets one); copied back after
 *                              the launch when a writable argument that the
 *                              caller did not mark read-only is in the group;
 *            empty argument    a small allocation of the device's own.
 *          A launch with host arguments synchronizes (the caller reads its
 *          results when tm_launch returns); a launch with device arguments
 *          only does not: it is queued on the stream, so CUDA events around
 *          it (torch.cuda.Event) time it. tm_device_synchronize waits
 *          (cuCtxSynchronize). A failure that shows when waiting names the
 *          kernels launched since the last wait (CUDA reports a fault of an
 *          asynchronous launch at the next synchronizing call; most faults
 *          leave the context unusable: the process must restart).
 * timed    tm_launch_timed: CUDA events recorded around the launch on the
 *          same stream, waited for; their elapsed time (TM_TIME_GPU).
 * buffers  tm_buffer_new: page-locked host memory mapped into the GPU's
 *          address space (CPU-visible contents, as the API promises; kernels
 *          reach it over the bus: right for tests, not what to time).
 * visible  kernel-visible memory (pointer tables): device memory only; its
 *          address is the device pointer. Host memory is refused.
 * One mutex per device serializes the calls.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

/* ------------------------------------------------------------ the driver API
 * Types and values as the CUDA driver API's cuda.h declares them. */

typedef int CUresult;                   /* enum cudaError_enum */
typedef int CUdevice;
typedef unsigned long long CUdeviceptr; /* CUdeviceptr_v2 on 64-bit hosts */
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUevent_st *CUevent;
typedef struct CUstream_st *CUstream;   /* NULL: the legacy default stream */

enum {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_OUT_OF_MEMORY = 2,
  /* CUdevice_attribute */
  CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1,
  CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 8,
  CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
  CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
  /* CUfunction_attribute */
  CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 0,
  CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES = 1,
  CU_FUNC_ATTRIBUTE_NUM_REGS = 4,
  /* cuMemHostAlloc flags */
  CU_MEMHOSTALLOC_PORTABLE = 0x01,
  CU_MEMHOSTALLOC_DEVICEMAP = 0x02,
  CU_EVENT_DEFAULT = 0,
};

/* The entry points, by their exported names (the `_v2` ones where cuda.h maps
 * the plain name to them). */
typedef struct CuApi {
  CUresult (*Init)(unsigned);
  CUresult (*DriverGetVersion)(int *);
  CUresult (*DeviceGetCount)(int *);
  CUresult (*DeviceGet)(CUdevice *, int);
  CUresult (*DeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*DeviceGetName)(char *, int, CUdevice);
  CUresult (*DeviceTotalMem)(size_t *, CUdevice);
  CUresult (*DevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*DevicePrimaryCtxRelease)(CUdevice);
  CUresult (*CtxSetCurrent)(CUcontext);
  CUresult (*CtxSynchronize)(void);
  CUresult (*ModuleLoadData)(CUmodule *, const void *);
  CUresult (*ModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*ModuleUnload)(CUmodule);
  CUresult (*FuncGetAttribute)(int *, int, CUfunction);
  CUresult (*MemAlloc)(CUdeviceptr *, size_t);
  CUresult (*MemFree)(CUdeviceptr);
  CUresult (*MemGetAddressRange)(CUdeviceptr *, size_t *, CUdeviceptr);
  CUresult (*MemHostAlloc)(void **, size_t, unsigned);
  CUresult (*MemFreeHost)(void *);
  CUresult (*MemHostGetDevicePointer)(CUdeviceptr *, void *, unsigned);
  CUresult (*MemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*MemcpyDtoH)(void *, CUdeviceptr, size_t);
  CUresult (*LaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,
                           unsigned, unsigned, CUstream, void **, void **);
  CUresult (*EventCreate)(CUevent *, unsigned);
  CUresult (*EventDestroy)(CUevent);
  CUresult (*EventRecord)(CUevent, CUstream);
  CUresult (*EventSynchronize)(CUevent);
  CUresult (*EventElapsedTime)(float *, CUevent, CUevent);
  CUresult (*GetErrorName)(CUresult, const char **);
  CUresult (*GetErrorString)(CUresult, const char **);
} CuApi;

static const struct {
  const char *name, *alt; /* alt: an older driver's name of the same function */
  size_t off;
} syms[] = {
#define SYM(field, name, alt) {name, alt, offsetof(CuApi, field)}
    SYM(Init, "cuInit", NULL),
    SYM(DriverGetVersion, "cuDriverGetVersion", NULL),
    SYM(DeviceGetCount, "cuDeviceGetCount", NULL),
    SYM(DeviceGet, "cuDeviceGet", NULL),
    SYM(DeviceGetAttribute, "cuDeviceGetAttribute", NULL),
    SYM(DeviceGetName, "cuDeviceGetName", NULL),
    SYM(DeviceTotalMem, "cuDeviceTotalMem_v2", NULL),
    SYM(DevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", NULL),
    SYM(DevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease"),
    SYM(CtxSetCurrent, "cuCtxSetCurrent", NULL),
    SYM(CtxSynchronize, "cuCtxSynchronize", NULL),
    SYM(ModuleLoadData, "cuModuleLoadData", NULL),
    SYM(ModuleGetFunction, "cuModuleGetFunction", NULL),
    SYM(ModuleUnload, "cuModuleUnload", NULL),
    SYM(FuncGetAttribute, "cuFuncGetAttribute", NULL),
    SYM(MemAlloc, "cuMemAlloc_v2", NULL),
    SYM(MemFree, "cuMemFree_v2", NULL),
    SYM(MemGetAddressRange, "cuMemGetAddressRange_v2", NULL),
    SYM(MemHostAlloc, "cuMemHostAlloc", NULL),
    SYM(MemFreeHost, "cuMemFreeHost", NULL),
    SYM(MemHostGetDevicePointer, "cuMemHostGetDevicePointer_v2", NULL),
    SYM(MemcpyHtoD, "cuMemcpyHtoD_v2", NULL),
    SYM(MemcpyDtoH, "cuMemcpyDtoH_v2", NULL),
    SYM(LaunchKernel, "cuLaunchKernel", NULL),
    SYM(EventCreate, "cuEventCreate", NULL),
    SYM(EventDestroy, "cuEventDestroy_v2", "cuEventDestroy"),
    SYM(EventRecord, "cuEventRecord", NULL),
    SYM(EventSynchronize, "cuEventSynchronize", NULL),
    SYM(EventElapsedTime, "cuEventElapsedTime_v2", "cuEventElapsedTime"),
    SYM(GetErrorName, "cuGetErrorName", NULL),
    SYM(GetErrorString, "cuGetErrorString", NULL),
#undef SYM
};

/* Loaded once per process; read-only afterwards. */
static CuApi cu;
static pthread_once_t cu_once = PTHREAD_ONCE_INIT;
static const char *cu_why; /* NULL: the driver is loaded, initialized, and has a device */
static char cu_why_buf[768];

static const char *err_name(CUresult r) {
  const char *s = NULL;
  return cu.GetErrorName && cu.GetErrorName(r, &s) == CUDA_SUCCESS && s ? s : "CUDA_ERROR_?";
}

static const char *err_text(CUresult r) {
  const char *s = NULL;
  return cu.GetErrorString && cu.GetErrorString(r, &s) == CUDA_SUCCESS && s ? s : "unknown error";
}

static void cu_load(void) {
  const char *lib = getenv("TRITON_METAL_LIBCUDA");
  if (!lib || !*lib) lib = "libcuda.so.1";
  void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    snprintf(cu_why_buf, sizeof cu_why_buf,
             "the CUDA driver library %s cannot be loaded (%s); the cuda device needs an "
             "NVIDIA GPU and its driver",
             lib, e ? e : "dlopen failed");
    cu_why = cu_why_buf;
    return;
  }
  for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
    void *f = dlsym(h, syms[i].name);
    if (!f && syms[i].alt) f = dlsym(h, syms[i].alt);
    if (!f) {
      snprintf(cu_why_buf, sizeof cu_why_buf,
               "the CUDA driver library %s has no %s (a driver older than the cuda device "
               "needs)",
               lib, syms[i].name);
      cu_why = cu_why_buf;
      return; /* h stays loaded: harmless, and cu is never used */
    }
    memcpy((char *)&cu + syms[i].off, &f, sizeof f);
  }
  CUresult r = cu.Init(0);
  int n = 0;
  if (r == CUDA_SUCCESS) r = cu.DeviceGetCount(&n);
  if (r != CUDA_SUCCESS)
    snprintf(cu_why_buf, sizeof cu_why_buf, "the CUDA driver (%s) does not initialize: %s: %s",
             lib, err_name(r), err_text(r));
  else if (n == 0)
    snprintf(cu_why_buf, sizeof cu_why_buf, "the CUDA driver (%s) sees no device", lib);
  else
    return;
  cu_why = cu_why_buf;
}

static const char *cuda_unavailable(void) {
  pthread_once(&cu_once, cu_load);
  return cu_why;
}

/* rt_error with the driver's name and text of r appended: "<what>: CUDA_ERROR_X: text". */
static tm_status cu_error(tm_status st, char **err, CUresult r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static tm_status cu_error(tm_status st, char **err, CUresult r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *what = rt_vstrfmt(fmt, ap);
  va_end(ap);
  if (r == CUDA_ERROR_OUT_OF_MEMORY) st = TM_ERR_NOMEM;
  st = rt_error(st, err, "%s: %s: %s", what ? what : "?", err_name(r), err_text(r));
  free(what);
  return st;
}

/* ------------------------------------------------------------ the device */

enum {
  POOL_MIN = 4096,            /* smallest staging block */
  POOL_KEEP = 256 << 20,      /* bytes of free staging blocks kept for reuse */
  ALIGN = 256,                /* device and host addresses agree modulo this */
  EMPTY_BYTES = 256,          /* the allocation an empty argument points to */
  NAMES_MAX = 240,
  MAX_GRID_X = 2147483647, MAX_GRID_YZ = 65535,
};

typedef struct Block {        /* a staging allocation */
  CUdeviceptr p;
  size_t size;
  struct Block *next;
} Block;

typedef struct Pinned {       /* a tm_buffer_new buffer */
  CUdeviceptr dev;
  void *host;
  size_t size;
  struct Pinned *next;
} Pinned;

typedef struct CudaDev {
  pthread_mutex_t mu;
  CUdevice dev;
  CUcontext ctx;
  int sm;                     /* compute capability major * 10 + minor */
  int max_threads, max_smem;
  char *cache_dir;
  CUdeviceptr empty;
  Block *free_blocks;
  size_t cached;
  Pinned *pinned;
  CUevent ev[2];              /* launch_timed's start and end, made on first use */
  char pending[NAMES_MAX];    /* kernels launched without a wait since the last one */
  int npending;
  char *deferred;             /* a failure seen while nobody waited (unload, buffer_free) */
  tm_device_stats st;
} CudaDev;

typedef struct CudaMod {
  CUmodule mod;
  CUfunction fn;
  int max_threads, smem, regs;
} CudaMod;

static void set_current(CudaDev *c) { cu.CtxSetCurrent(c->ctx); }

static void note_pending(CudaDev *c, const char *name) {
  size_t n = strlen(c->pending);
  c->npending++;
  if (n + strlen(name) + 8 >= NAMES_MAX) {
    if (!strstr(c->pending, "...")) snprintf(c->pending + n, NAMES_MAX - n, ", ...");
    return;
  }
  snprintf(c->pending + n, NAMES_MAX - n, "%s'%s'", n ? ", " : "", name);
}

/* Waits for everything queued; a failure names the kernels launched since the
 * last wait (`also`, when non-NULL, is the launch being waited for). */
static tm_status drain(CudaDev *c, const char *also, char **err) {
  CUresult r = cu.CtxSynchronize();
  c->st.waits++;
  tm_status st = TM_OK;
  if (r != CUDA_SUCCESS) {
    if (c->npending && also)
      st = cu_error(TM_ERR_RUNTIME, err, r, "kernel '%s' (or one launched before it without a "
                    "wait: %s): cuCtxSynchronize", also, c->pending);
    else if (c->npending)
      st = cu_error(TM_ERR_RUNTIME, err, r, "%s %s: cuCtxSynchronize",
                    c->npending > 1 ? "kernels" : "kernel", c->pending);
    else
      st = cu_error(TM_ERR_RUNTIME, err, r, "kernel '%s': cuCtxSynchronize",
                    also ? also : "?");
  }
  c->pending[0] = 0;
  c->npending = 0;
  return st;
}

/* drain for callers that cannot report: the failure is kept for the next wait. */
static void drain_quietly(CudaDev *c) {
  if (!c->npending) return;
  char *msg = NULL;
  if (drain(c, NULL, &msg) && !c->deferred) c->deferred = msg;
  else free(msg);
}

/* The deferred failure, reported once. */
static tm_status take_deferred(CudaDev *c, char **err) {
  if (!c->deferred) return TM_OK;
  if (err) *err = c->deferred;
  else free(c->deferred);
  c->deferred = NULL;
  return TM_ERR_RUNTIME;
}

/* ------------------------------------------------------------ staging pool */

static size_t size_class(size_t n) {
  size_t s = POOL_MIN;
  while (s < n && s <= SIZE_MAX / 2) s *= 2;
  return s < n ? n : s;
}

static void pool_release_all(CudaDev *c) {
  while (c->free_blocks) {
    Block *b = c->free_blocks;
    c->free_blocks = b->next;
    cu.MemFree(b->p);
    free(b);
  }
  c->cached = 0;
}

static tm_status block_get(CudaDev *c, size_t n, Block **out, char **err) {
  size_t size = size_class(n);
  for (Block **l = &c->free_blocks; *l; l = &(*l)->next)
    if ((*l)->size == size) {
      *out = *l;
      *l = (*l)->next;
      c->cached -= size;
      c->st.buffers_reused++;
      return TM_OK;
    }
  Block *b = calloc(1, sizeof *b);
  if (!b) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  CUresult r = cu.MemAlloc(&b->p, size);
  if (r == CUDA_ERROR_OUT_OF_MEMORY && c->free_blocks) { /* give the cached blocks back, retry */
    pool_release_all(c);
    r = cu.MemAlloc(&b->p, size);
  }
  if (r != CUDA_SUCCESS) {
    free(b);
    return cu_error(TM_ERR_RUNTIME, err, r, "cuMemAlloc of %zu bytes", size);
  }
  b->size = size;
  c->st.buffers_created++;
  *out = b;
  return TM_OK;
}

/* Only after the launches that used b have completed. */
static void block_put(CudaDev *c, Block *b) {
  if (c->cached + b->size > POOL_KEEP) {
    cu.MemFree(b->p);
    free(b);
    return;
  }
  b->next = c->free_blocks;
  c->free_blocks = b;
  c->cached += b->size;
}

/* ------------------------------------------------------------ open / close */

static void cuda_free(CudaDev *c) {
  if (!c) return;
  if (c->ctx) {
    set_current(c);
    cu.CtxSynchronize(); /* nothing may still use what is freed below */
    pool_release_all(c);
    if (c->empty) cu.MemFree(c->empty);
    while (c->pinned) {
      Pinned *p = c->pinned;
      c->pinned = p->next;
      cu.MemFreeHost(p->host);
      free(p);
    }
    for (int i = 0; i < 2; i++)
      if (c->ev[i]) cu.EventDestroy(c->ev[i]);
    cu.DevicePrimaryCtxRelease(c->dev);
  }
  free(c->deferred);
  free(c->cache_dir);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

static tm_status cuda_open(tm_device *d, char **err) {
  const char *why = cuda_unavailable();
  if (why) return rt_error(TM_ERR_DEVICE, err, "%s", why);
  CudaDev *c = calloc(1, sizeof *c);
  if (!c) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  pthread_mutex_init(&c->mu, NULL);
  int major = 0, minor = 0, sms = 0, drv = 0;
  size_t mem = 0;
  char name[256] = "?";
  CUresult r;
  const char *call = "cuDeviceGet";
  if ((r = cu.DeviceGet(&c->dev, 0)) == CUDA_SUCCESS &&
      (call = "cuDeviceGetAttribute",
       (r = cu.DeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, c->dev)) ==
               CUDA_SUCCESS &&
           (r = cu.DeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                                      c->dev)) == CUDA_SUCCESS &&
           (r = cu.DeviceGetAttribute(&c->max_threads, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK,
                                      c->dev)) == CUDA_SUCCESS &&
           (r = cu.DeviceGetAttribute(&c->max_smem,
                                      CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK, c->dev)) ==
               CUDA_SUCCESS &&
           (r = cu.DeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, c->dev)) ==
               CUDA_SUCCESS) &&
      (call = "cuDeviceGetName", (r = cu.DeviceGetName(name, sizeof name, c->dev))) == CUDA_SUCCESS &&
      (call = "cuDeviceTotalMem", (r = cu.DeviceTotalMem(&mem, c->dev))) == CUDA_SUCCESS &&
      (call = "cuDevicePrimaryCtxRetain", (r = cu.DevicePrimaryCtxRetain(&c->ctx, c->dev))) ==
          CUDA_SUCCESS &&
      (call = "cuCtxSetCurrent", (r = cu.CtxSetCurrent(c->ctx))) == CUDA_SUCCESS)
    (call = "cuMemAlloc", r = cu.MemAlloc(&c->empty, EMPTY_BYTES));
  if (r != CUDA_SUCCESS) {
    tm_status st = cu_error(TM_ERR_DEVICE, err, r, "cuda device 0: %s", call);
    cuda_free(c);
    return st;
  }
  cu.DriverGetVersion(&drv);
  c->sm = major * 10 + minor;
  c->cache_dir = rt_cache_dir("cuda");
  d->description = rt_strfmt("cuda: %s (sm_%d, %d SMs, %zu MiB, CUDA driver %d.%d)", name, c->sm,
                             sms, mem >> 20, drv / 1000, drv % 1000 / 10);
  if (!c->cache_dir || !d->description) {
    cuda_free(c);
    return rt_error(TM_ERR_NOMEM, err, "out of memory");
  }
  d->impl = c;
  return TM_OK;
}

static void cuda_close(tm_device *d) { cuda_free(d->impl); }

/* ------------------------------------------------------------ load */

static tm_status cuda_load(tm_module *mod, const char *text, char **err) {
  CudaDev *c = mod->dev->impl;
  const tm_kernel_info *k = &mod->info;
  if (!strstr(text, "__global__"))
    return rt_error(TM_ERR_DEVICE, err,
                    "kernel '%s': the cuda device runs the CUDA C++ the compiler emits for a "
                    "cuda target, and this kernel was compiled to MSL: compile it with "
                    "TRITON_METAL_HW=cuda-sm%d (or --target / target=cuda-sm%d)",
                    rt_kname(k), c->sm >= 90 ? 90 : 80, c->sm >= 90 ? 90 : 80);
  char *cubin;
  size_t n;
  int compiled;
  tm_status st = cuda_cubin_get(c->cache_dir, c->sm, text, rt_kname(k), &cubin, &n, &compiled, err);
  if (st) return st;
  CudaMod *m = calloc(1, sizeof *m);
  if (!m) {
    free(cubin);
    return rt_error(TM_ERR_NOMEM, err, "out of memory");
  }
  pthread_mutex_lock(&c->mu);
  set_current(c);
  if (compiled) c->st.pipeline_compiles++;
  else c->st.pipeline_disk_hits++;
  CUresult r = cu.ModuleLoadData(&m->mod, cubin);
  if (r != CUDA_SUCCESS) {
    st = cu_error(TM_ERR_DEVICE, err, r, "kernel '%s': cuModuleLoadData of its sm_%d cubin",
                  rt_kname(k), c->sm);
  } else if ((r = cu.ModuleGetFunction(&m->fn, m->mod, k->name)) != CUDA_SUCCESS) {
    st = cu_error(TM_ERR_DEVICE, err, r, "kernel '%s': cuModuleGetFunction(\"%s\")", rt_kname(k),
                  k->name);
  } else if ((r = cu.FuncGetAttribute(&m->max_threads, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK,
                                      m->fn)) != CUDA_SUCCESS ||
             (r = cu.FuncGetAttribute(&m->smem, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, m->fn)) !=
                 CUDA_SUCCESS ||
             (r = cu.FuncGetAttribute(&m->regs, CU_FUNC_ATTRIBUTE_NUM_REGS, m->fn)) !=
                 CUDA_SUCCESS) {
    st = cu_error(TM_ERR_DEVICE, err, r, "kernel '%s': cuFuncGetAttribute", rt_kname(k));
  }
  if (st && m->mod) cu.ModuleUnload(m->mod);
  pthread_mutex_unlock(&c->mu);
  free(cubin);
  if (st) free(m);
  else mod->impl = m;
  return st;
}

static void cuda_unload(tm_module *mod) {
  CudaDev *c = mod->dev->impl;
  CudaMod *m = mod->impl;
  pthread_mutex_lock(&c->mu);
  set_current(c);
  drain_quietly(c); /* a queued launch may still run its code */
  cu.ModuleUnload(m->mod);
  pthread_mutex_unlock(&c->mu);
  free(m);
}

static void cuda_module_info(const tm_module *mod, tm_module_info *out) {
  const CudaMod *m = mod->impl;
  out->max_threads_per_threadgroup = m->max_threads;
  out->thread_execution_width = 32;
  out->static_threadgroup_memory = m->smem;
}

/* ------------------------------------------------------------ launch */

/* A host argument's memory [lo, hi) around its data pointer. */
typedef struct HostArg {
  int arg;
  uintptr_t lo, hi, data;
} HostArg;

/* A group of overlapping host arguments staged through one block. */
typedef struct Group {
  uintptr_t lo;
  size_t n;
  CUdeviceptr dev;  /* the device address of lo */
  Block *block;
  int written;
} Group;

static int by_lo(const void *a, const void *b) {
  const HostArg *x = a, *y = b;
  return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The allocation holding the device buffer `buf`: a tm_buffer_new buffer, or
 * what the driver knows (cuMemGetAddressRange). */
static CUresult device_range(CudaDev *c, CUdeviceptr buf, CUdeviceptr *base, size_t *size) {
  for (Pinned *p = c->pinned; p; p = p->next)
    if (buf >= p->dev && buf < p->dev + p->size) {
      *base = p->dev;
      *size = p->size;
      return CUDA_SUCCESS;
    }
  return cu.MemGetAddressRange(base, size, buf);
}

/* Everything one launch holds until it is over. */
typedef struct Launch {
  CUdeviceptr *vals;
  void **params;
  HostArg *host;
  Group *groups;
  int nhost, ngroups;
} Launch;

static void launch_release(CudaDev *c, Launch *L) {
  for (int g = 0; g < L->ngroups; g++)
    if (L->groups[g].block) block_put(c, L->groups[g].block);
  free(L->vals), free(L->params), free(L->host), free(L->groups);
}

/* Checks, argument binding and staging (host memory copied in). */
static tm_status bind(CudaDev *c, tm_module *mod, const uint32_t grid[3], const tm_launch_arg *args,
                      const tm_device_arg *dev, Launch *L, char **err) {
  const tm_kernel_info *k = &mod->info;
  const CudaMod *m = mod->impl;
  if (k->threads_per_threadgroup > m->max_threads)
    return rt_error(TM_ERR_INVALID, err,
                    "kernel '%s' runs %d threads per block (num_warps=%d) but its CUDA function "
                    "allows at most %d; launch it with num_warps <= %d",
                    rt_kname(k), k->threads_per_threadgroup, k->threads_per_threadgroup / 32,
                    m->max_threads, m->max_threads / 32);
  if (grid[0] > MAX_GRID_X || grid[1] > MAX_GRID_YZ || grid[2] > MAX_GRID_YZ)
    return rt_error(TM_ERR_INVALID, err,
                    "kernel '%s': grid (%u, %u, %u) is larger than CUDA allows (%d x %d x %d "
                    "blocks)",
                    rt_kname(k), grid[0], grid[1], grid[2], MAX_GRID_X, MAX_GRID_YZ, MAX_GRID_YZ);
  size_t na = (size_t)k->nargs + 1;
  L->vals = calloc(na, sizeof *L->vals);
  L->params = calloc(na, sizeof *L->params);
  L->host = calloc(na, sizeof *L->host);
  L->groups = calloc(na, sizeof *L->groups);
  if (!L->vals || !L->params || !L->host || !L->groups)
    return rt_error(TM_ERR_NOMEM, err, "out of memory");
  for (int i = 0; i < k->nargs; i++) {
    const tm_launch_arg *x = &args[i];
    const char *an = k->args[i].name;
    if (k->args[i].role == TM_ARG_BYTES) { /* launch.c checked its size */
      L->params[i] = x->data;
      continue;
    }
    L->params[i] = &L->vals[i];
    if (dev && dev[i].buffer) {
      CUdeviceptr buf = (CUdeviceptr)(uintptr_t)dev[i].buffer, base;
      size_t size, off = dev[i].offset;
      CUresult r = device_range(c, buf, &base, &size);
      if (r != CUDA_SUCCESS)
        return cu_error(TM_ERR_INVALID, err, r,
                        "kernel '%s': argument %d '%s': 0x%llx is not device memory of this "
                        "CUDA context (cuMemGetAddressRange)",
                        rt_kname(k), i, an, (unsigned long long)buf);
      CUdeviceptr end = base + size, p = buf + off;
      if (off > end - buf || x->nbytes > end - p || x->before > p - base)
        return rt_error(TM_ERR_INVALID, err,
                        "kernel '%s': argument %d '%s': %zu bytes before and %zu from offset "
                        "%zu of 0x%llx pass the ends of its %zu-byte allocation at 0x%llx",
                        rt_kname(k), i, an, x->before, x->nbytes, off, (unsigned long long)buf,
                        size, (unsigned long long)base);
      L->vals[i] = p;
    } else if (x->nbytes == 0 && x->before == 0) {
      L->vals[i] = c->empty; /* nothing to reach: a valid, aligned address */
    } else {
      uintptr_t data = (uintptr_t)x->data;
      L->host[L->nhost++] = (HostArg){i, data - x->before, data + x->nbytes, data};
    }
  }
  /* host arguments: groups of overlapping ranges, one block each */
  qsort(L->host, (size_t)L->nhost, sizeof *L->host, by_lo);
  for (int i = 0; i < L->nhost;) {
    uintptr_t lo = L->host[i].lo, hi = L->host[i].hi;
    int j = i + 1, written = 0;
    while (j < L->nhost && L->host[j].lo < hi) hi = L->host[j].hi > hi ? L->host[j].hi : hi, j++;
    for (int t = i; t < j; t++) {
      int a = L->host[t].arg;
      written |= k->args[a].writable && !args[a].readonly;
    }
    Group *g = &L->groups[L->ngroups++];
    g->lo = lo;
    g->n = hi - lo;
    g->written = written;
    tm_status st = block_get(c, g->n + ALIGN, &g->block, err);
    if (st) return st;
    g->dev = g->block->p + lo % ALIGN; /* the block is ALIGN-aligned (cuMemAlloc: 256 bytes) */
    CUresult r = cu.MemcpyHtoD(g->dev, (const void *)lo, g->n);
    if (r != CUDA_SUCCESS)
      return cu_error(TM_ERR_RUNTIME, err, r, "kernel '%s': copying %zu bytes of arguments to "
                      "the GPU (cuMemcpyHtoD)", rt_kname(k), g->n);
    for (int t = i; t < j; t++) L->vals[L->host[t].arg] = g->dev + (L->host[t].data - lo);
    c->st.staged_args += (uint64_t)(j - i);
    i = j;
  }
  return TM_OK;
}

/* One launch; times non-NULL: timed with events and waited for. */
static tm_status run(tm_module *mod, const uint32_t grid[3], const tm_launch_arg *args,
                     const tm_device_arg *dev, tm_launch_times *times, char **err) {
  CudaDev *c = mod->dev->impl;
  const CudaMod *m = mod->impl;
  const tm_kernel_info *k = &mod->info;
  const char *kn = rt_kname(k);
  Launch L = {0};
  pthread_mutex_lock(&c->mu);
  set_current(c);
  tm_status st = take_deferred(c, err);
  if (!st) st = bind(c, mod, grid, args, dev, &L, err);
  CUresult r = CUDA_SUCCESS;
  if (!st && times) {
    for (int i = 0; i < 2 && r == CUDA_SUCCESS; i++)
      if (!c->ev[i]) r = cu.EventCreate(&c->ev[i], CU_EVENT_DEFAULT);
    if (r == CUDA_SUCCESS) r = cu.EventRecord(c->ev[0], NULL);
    if (r != CUDA_SUCCESS) st = cu_error(TM_ERR_RUNTIME, err, r, "kernel '%s': CUDA events", kn);
  }
  int launched = 0;
  if (!st) {
    r = cu.LaunchKernel(m->fn, grid[0], grid[1], grid[2], (unsigned)k->threads_per_threadgroup,
                        1, 1, 0, NULL, L.params, NULL);
    if (r != CUDA_SUCCESS) {
      if (c->npending)
        st = cu_error(TM_ERR_RUNTIME, err, r, "kernel '%s': cuLaunchKernel (kernels launched "
                      "before it without a wait: %s)", kn, c->pending);
      else
        st = cu_error(TM_ERR_RUNTIME, err, r, "kernel '%s': cuLaunchKernel", kn);
    } else {
      launched = 1;
      c->st.dispatches++;
    }
  }
  if (!st && times && (r = cu.EventRecord(c->ev[1], NULL)) != CUDA_SUCCESS)
    st = cu_error(TM_ERR_RUNTIME, err, r, "kernel '%s': cuEventRecord", kn);
  if (launched && (L.nhost || times || st)) {
    char *why = NULL;
    tm_status s2 = drain(c, kn, st ? &why : err); /* the first error is the one reported */
    free(why);
    if (!st) st = s2;
  } else if (launched) {
    note_pending(c, kn);
  }
  if (!st && times) {
    float ms = 0;
    if ((r = cu.EventElapsedTime(&ms, c->ev[0], c->ev[1])) != CUDA_SUCCESS)
      st = cu_error(TM_ERR_RUNTIME, err, r, "kernel '%s': cuEventElapsedTime", kn);
    else
      *times = (tm_launch_times){TM_TIME_GPU, 0, (uint64_t)((double)ms * 1e6)};
  }
  for (int g = 0; g < L.ngroups && !st; g++) {
    if (!L.groups[g].written) continue;
    r = cu.MemcpyDtoH((void *)L.groups[g].lo, L.groups[g].dev, L.groups[g].n);
    if (r != CUDA_SUCCESS)
      st = cu_error(TM_ERR_RUNTIME, err, r, "kernel '%s': copying %zu bytes of results back "
                    "(cuMemcpyDtoH)", kn, L.groups[g].n);
  }
  /* the blocks go back to the pool only once nothing queued can use them:
   * a launch with host arguments waited above; one that failed before
   * launching queued nothing with them */
  launch_release(c, &L);
  pthread_mutex_unlock(&c->mu);
  return st;
}

static tm_status cuda_launch(tm_module *mod, const uint32_t grid[3], const tm_launch_arg *args,
                             const tm_device_arg *dev, char **err) {
  return run(mod, grid, args, dev, NULL, err);
}

static tm_status cuda_launch_timed(tm_module *mod, const uint32_t grid[3],
                                   const tm_launch_arg *args, const tm_device_arg *dev,
                                   tm_launch_times *times, char **err) {
  return run(mod, grid, args, dev, times, err);
}

static tm_status cuda_synchronize(tm_device *d, char **err) {
  CudaDev *c = d->impl;
  pthread_mutex_lock(&c->mu);
  set_current(c);
  tm_status st = take_deferred(c, err);
  if (!st) st = drain(c, NULL, err);
  pthread_mutex_unlock(&c->mu);
  return st;
}

/* ------------------------------------------------------------ buffers, visible, stats */

static tm_status cuda_buffer_new(tm_device *d, size_t n, void **buf, void **contents, char **err) {
  CudaDev *c = d->impl;
  Pinned *p = calloc(1, sizeof *p);
  if (!p) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  pthread_mutex_lock(&c->mu);
  set_current(c);
  p->size = n ? n : 1;
  CUresult r = cu.MemHostAlloc(&p->host, p->size, CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP);
  if (r == CUDA_SUCCESS && (r = cu.MemHostGetDevicePointer(&p->dev, p->host, 0)) != CUDA_SUCCESS)
    cu.MemFreeHost(p->host);
  tm_status st = TM_OK;
  if (r != CUDA_SUCCESS) {
    st = cu_error(TM_ERR_RUNTIME, err, r, "tm_buffer_new: %zu bytes of mapped host memory", n);
    free(p);
  } else {
    p->next = c->pinned;
    c->pinned = p;
    c->st.buffers_created++;
    c->st.bytes_in_use += p->size;
    if (c->st.bytes_in_use > c->st.bytes_peak) c->st.bytes_peak = c->st.bytes_in_use;
    *buf = (void *)(uintptr_t)p->dev;
    *contents = p->host;
  }
  pthread_mutex_unlock(&c->mu);
  return st;
}

static void cuda_buffer_free(tm_device *d, void *buf) {
  CudaDev *c = d->impl;
  pthread_mutex_lock(&c->mu);
  set_current(c);
  Pinned **l = &c->pinned;
  while (*l && (*l)->dev != (CUdeviceptr)(uintptr_t)buf) l = &(*l)->next;
  if (*l) { /* not ours: nothing to free */
    Pinned *p = *l;
    *l = p->next;
    drain_quietly(c); /* a queued launch may still use it */
    cu.MemFreeHost(p->host);
    c->st.bytes_in_use -= p->size;
    free(p);
  }
  pthread_mutex_unlock(&c->mu);
}

static tm_status cuda_visible_add(tm_device *d, tm_visible *v, char **err) {
  CudaDev *c = d->impl;
  if (!v->buffer)
    return rt_error(TM_ERR_INVALID, err,
                    "kernel-visible host memory at %p: the cuda device reaches device memory "
                    "only; register a torch CUDA tensor",
                    (void *)v->lo);
  pthread_mutex_lock(&c->mu);
  set_current(c);
  CUdeviceptr buf = (CUdeviceptr)(uintptr_t)v->buffer, base;
  size_t size;
  CUresult r = device_range(c, buf, &base, &size);
  pthread_mutex_unlock(&c->mu);
  if (r != CUDA_SUCCESS)
    return cu_error(TM_ERR_INVALID, err, r,
                    "kernel-visible memory: 0x%llx is not device memory of this CUDA context "
                    "(cuMemGetAddressRange)",
                    (unsigned long long)buf);
  if (v->offset > base + size - buf || v->size > base + size - buf - v->offset)
    return rt_error(TM_ERR_INVALID, err,
                    "kernel-visible memory: %zu bytes at offset %zu of 0x%llx pass the end of its "
                    "%zu-byte allocation at 0x%llx",
                    v->size, v->offset, (unsigned long long)buf, size, (unsigned long long)base);
  v->address = buf + v->offset;
  return TM_OK;
}

static void cuda_stats(tm_device *d, tm_device_stats *out) {
  CudaDev *c = d->impl;
  pthread_mutex_lock(&c->mu);
  *out = c->st;
  out->bytes_cached = c->cached;
  pthread_mutex_unlock(&c->mu);
}

const DeviceOps rt_cuda_ops = {
    .name = "cuda",
    .unavailable = cuda_unavailable,
    .open = cuda_open,
    .close = cuda_close,
    .load = cuda_load,
    .unload = cuda_unload,
    .launch = cuda_launch,
    .synchronize = cuda_synchronize,
    .buffer_new = cuda_buffer_new,
    .buffer_free = cuda_buffer_free,
    .stats = cuda_stats,
    .launch_timed = cuda_launch_timed,
    .module_info = cuda_module_info,
    .visible_add = cuda_visible_add,
};
