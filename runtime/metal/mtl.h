/*
 * mtl.h: the narrow internal Metal API, and the portable device built on it.
 *
 * Two backends implement MtlApi:
 *   mtl_objc.c  real Metal, through the Objective-C runtime called from C
 *               (compiled on macOS; syntax-checked on Linux against
 *               runtime/metal/objc-decls/);
 *   mtl_sim.c   metal-sim: the same calls on Linux, enforcing Metal's rules and
 *               executing dispatches on the cpu emulator.
 * Everything above the table (metal.c: pipeline cache, argument binding,
 * buffer pool, batching, errors) is shared by the two device kinds.
 *
 * Handles are opaque (an `id` on real Metal). Every call that can fail returns
 * tm_status with a malloc'd message; on the real backend most encoder calls
 * cannot fail, on metal-sim they fail where Metal's validation would.
 *
 * Object lifetime follows Metal: *_new calls return an object the caller owns
 * (release it with mtl->release); a command buffer keeps the buffers and the
 * pipeline it uses alive until it completes.
 */
#ifndef TM_MTL_H
#define TM_MTL_H

#include "rt.h"

/* Metal's limits that metal-sim enforces (reference/metal.md §1.13). */
enum {
  MTL_MAX_BUFFER_INDEX = 31,      /* buffer argument table entries */
  MTL_MAX_SET_BYTES = 4096,       /* setBytes inline data */
  MTL_MAX_TG_MEMORY = 32768,      /* threadgroup memory per threadgroup */
  MTL_TG_MEMORY_ALIGN = 16,       /* setThreadgroupMemoryLength multiple */
};

/* MTLMathMode raw values (macOS 15+). */
enum { MTL_MATH_SAFE = 0, MTL_MATH_RELAXED = 1, MTL_MATH_FAST = 2 };

/* MTLCommandBufferStatus raw values. */
enum {
  MTL_CB_NOT_ENQUEUED = 0, MTL_CB_ENQUEUED, MTL_CB_COMMITTED, MTL_CB_SCHEDULED,
  MTL_CB_COMPLETED, MTL_CB_ERROR
};

typedef struct MtlDeviceProps {
  char name[128];
  uint64_t working_set;       /* recommendedMaxWorkingSetSize */
  uint64_t max_buffer_length; /* maxBufferLength */
  uint32_t max_threads;       /* maxThreadsPerThreadgroup (width) */
  uint32_t max_tg_memory;     /* maxThreadgroupMemoryLength */
  size_t page_size;           /* host pages newBufferWithBytesNoCopy needs */
  int unified_memory;         /* hasUnifiedMemory: host memory can be wrapped */
} MtlDeviceProps;

typedef struct MtlPipelineProps {
  uint32_t max_threads;     /* maxTotalThreadsPerThreadgroup */
  uint32_t execution_width; /* threadExecutionWidth */
  uint32_t static_tg_memory; /* staticThreadgroupMemoryLength */
} MtlPipelineProps;

/* Backend settings the device reads at open (metal-sim only simulates them). */
typedef struct MtlConfig {
  uint64_t working_set;     /* 0: the backend's own */
  uint32_t pipeline_max_threads; /* 0: the backend's own (metal-sim: 1024) */
} MtlConfig;

typedef struct MtlApi {
  const char *name; /* "metal" or "metal-sim" */
  const char *(*unavailable)(void); /* NULL when usable here, else why not */

  /* An autorelease pool around every compile and every launch. */
  void *(*pool_push)(void);
  void (*pool_pop)(void *pool);

  tm_status (*device_open)(const MtlConfig *cfg, void **dev, MtlDeviceProps *props, char **err);
  void (*device_close)(void *dev);
  /* Releases any object this API returned (library, function, pipeline,
   * buffer, queue, command buffer, encoder). */
  void (*release)(void *dev, void *obj);

  /* newLibraryWithSource:options:error: with languageVersion (e.g. 0x30001 for
   * 3.1, MTLLanguageVersion's encoding) and mathMode set explicitly. */
  tm_status (*library_new)(void *dev, const char *msl, unsigned lang_version, int math_mode,
                           void **lib, char **err);
  tm_status (*function_new)(void *lib, const char *name, void **fn, char **err);
  /* A compute pipeline. archive_path (NULL: none) names a binary archive on
   * disk: used when present (*archive_hit = 1), written otherwise. `hint` is
   * the compiler's descriptor: real Metal ignores it (it reflects the MSL),
   * metal-sim builds its CPU entry point from it. */
  tm_status (*pipeline_new)(void *dev, void *fn, const char *archive_path,
                            const tm_kernel_info *hint, void **pso, MtlPipelineProps *props,
                            int *archive_hit, char **err);

  /* Shared-storage buffers. wrap: newBufferWithBytesNoCopy over page-aligned
   * host memory (ptr and len multiples of page_size); the memory stays the
   * caller's. */
  tm_status (*buffer_new)(void *dev, size_t len, void **buf, char **err);
  tm_status (*buffer_wrap)(void *dev, void *ptr, size_t len, void **buf, char **err);
  void *(*buffer_contents)(void *buf);
  size_t (*buffer_length)(void *buf);
  /* gpuAddress (Metal 3, macOS 13+): the address a kernel uses for the
   * buffer's first byte when it reaches it through a pointer in memory; 0 when
   * the system has none. metal-sim: the buffer's host address. */
  uint64_t (*buffer_gpu_address)(void *buf);

  tm_status (*queue_new)(void *dev, void **queue, char **err);
  tm_status (*cmdbuf_new)(void *queue, void **cb, char **err);
  tm_status (*encoder_new)(void *cb, void **enc, char **err);
  tm_status (*set_pipeline)(void *enc, void *pso, char **err);
  tm_status (*set_buffer)(void *enc, void *buf, size_t offset, unsigned index, char **err);
  tm_status (*set_bytes)(void *enc, const void *data, size_t len, unsigned index, char **err);
  tm_status (*set_tg_memory)(void *enc, size_t len, unsigned index, char **err);
  /* Checked mode only: the bytes below the bound offset and from it that the
   * argument may touch (a strided view's allocation around its data pointer;
   * before <= offset) and whether the caller forbids writes (metal-sim checks
   * every access against them, as the cpu device does; real Metal has no such
   * check). */
  void (*set_checks)(void *enc, unsigned index, size_t before, size_t nbytes, int readonly);
  /* useResource:usage: (read, or read + write): the buffer is resident for the
   * encoder's later dispatches, which may reach it only through pointers in
   * memory (it is bound at no index). Checked mode only: [offset, offset +
   * nbytes) of it is what the caller registered (0 nbytes: to the end).
   * metal-sim checks that every access of a dispatch lies in a bound buffer's
   * declared range or a resident range, and a store in a writable one. */
  void (*use_resource)(void *enc, void *buf, size_t offset, size_t nbytes, int writable);
  tm_status (*dispatch)(void *enc, const uint32_t groups[3], const uint32_t threads[3],
                        char **err);
  tm_status (*end_encoding)(void *enc, char **err);
  tm_status (*commit)(void *cb, char **err);
  void (*wait)(void *cb); /* waitUntilCompleted */
  /* status; on MTL_CB_ERROR *msg is a malloc'd description of the error. */
  int (*cb_status)(void *cb, char **msg);
  /* A completed command buffer's execution interval in seconds: real Metal's
   * GPUStartTime / GPUEndTime (TM_TIME_GPU); metal-sim's host clock around
   * running it on the emulator (TM_TIME_HOST). */
  tm_time_source (*cb_times)(void *cb, double *start_s, double *end_s);
  /* Optional (NULL: Metal compiles a pipeline once, fully): metal-sim's
   * emulator tiers, tm_device_tier_mark / tm_device_tier_settle. */
  uint64_t (*tier_mark)(void *dev);
  tm_status (*tier_settle)(void *dev, uint64_t mark, char **err);
} MtlApi;

extern const MtlApi mtl_sim_api;
#if defined(__APPLE__) || defined(TM_MTL_SYNTAX_CHECK)
extern const MtlApi mtl_objc_api;
#endif

/* ------------------------------------------------------------ metal_pool.c */

/* A pool of shared-storage buffers: sizes rounded to a page multiple class,
 * free lists per class, every byte accounted against the working-set limit. */
typedef struct PoolBuf {
  void *buf;
  size_t size;
  struct PoolBuf *next;
} PoolBuf;

typedef struct BufPool {
  const MtlApi *api;
  void *dev;
  size_t page;
  uint64_t limit;      /* working-set bytes the pool may hold (in use + cached) */
  uint64_t cache_cap;  /* cached bytes kept at most */
  PoolBuf *free_list;  /* cached buffers, most recent first */
  PoolBuf *used;       /* buffers handed out */
  uint64_t in_use, cached, peak, created, reused;
} BufPool;

void bufpool_init(BufPool *p, const MtlApi *api, void *dev, size_t page, uint64_t limit);
/* A buffer of at least n bytes (n = 0 gives the smallest class). */
tm_status bufpool_get(BufPool *p, size_t n, void **buf, char **err);
/* Gives buf back for reuse; 0 when buf is not one the pool handed out. */
int bufpool_put(BufPool *p, void *buf);
void bufpool_trim(BufPool *p); /* releases every cached buffer */
void bufpool_destroy(BufPool *p); /* releases everything */
size_t bufpool_class(const BufPool *p, size_t n); /* the size n is rounded to */

/* ------------------------------------------------------------ metal_cache.c */

typedef struct MetalPipe {
  uint8_t key[32];
  void *lib, *fn, *pso;
  MtlPipelineProps props;
  int refs;
  struct MetalPipe *next;
} MetalPipe;

typedef struct PipeCache {
  const MtlApi *api;
  void *dev;
  char *dir;              /* <cache>/metal, or NULL: memory only */
  char *compiler_version; /* mixed into every key */
  unsigned lang_version;
  int math_mode;
  MetalPipe *pipes;
  uint64_t compiles, memory_hits, disk_hits;
  uint64_t tensor_ops_fallbacks; /* kernels recompiled without their matmul2d variant */
} PipeCache;

/* What a kernel's MSL starts with to leave out its Metal 4 tensor-ops code. */
#define NO_TENSOR_OPS "#define TM_NO_TENSOR_OPS 1\n"

/* Finds or builds the pipeline of msl + info; takes a reference. */
tm_status pipecache_get(PipeCache *c, const char *device_name, const char *msl,
                        const tm_kernel_info *info, MetalPipe **out, char **err);
void pipecache_put(PipeCache *c, MetalPipe *p);
void pipecache_destroy(PipeCache *c);

/* ------------------------------------------------------------ metal.c */

/* Opens a metal device over api with an explicit compiler version (tests use
 * it to see the disk cache invalidated); tm_device_open uses TM_VERSION. */
tm_status metal_open_with(tm_device *d, const MtlApi *api, const MtlConfig *cfg,
                          const char *compiler_version, char **err);
/* The backend objects of an open metal device, for tests of the narrow API. */
const MtlApi *metal_api(tm_device *d, void **dev);

#endif
