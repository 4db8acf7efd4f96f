/*
 * mtl_objc.c: the narrow Metal API of mtl.h on real Metal: thin wrappers that
 * call the Objective-C runtime from C. The only file that touches Metal.
 *
 * Rules (reference/metal.md §3):
 *   - objc_msgSend is always called through a cast to the exact prototype of
 *     the method (MSG_* typedefs below); no variadic calls. A struct returned
 *     in memory (MtlSize, 24 bytes, on x86-64: Intel Macs) goes through
 *     objc_msgSend_stret (SEND_STRET); SEND refuses such a type at compile
 *     time on x86-64, and arm64 has no _stret.
 *   - Objects from new/alloc are owned (+1); autoreleased ones (commandBuffer,
 *     computeCommandEncoder) are retained at once, so every handle this file
 *     returns is released with release(). The portable layer pushes an
 *     autorelease pool around every compile and launch; calls that make
 *     temporaries (NSString, NSError, NSURL) push their own as well.
 *   - No blocks: the no-copy deallocator is nil (the memory stays the
 *     caller's), completion is waitUntilCompleted + status.
 *   - Errors: NSError's localizedDescription, copied before the pool pops.
 * Compiled on macOS (Makefile links -framework Metal Foundation CoreGraphics
 * -lobjc); on Linux `make mtl-check` compiles it with -fsyntax-only and
 * -DTM_MTL_SYNTAX_CHECK against runtime/metal/objc-decls/, which declares
 * objc_msgSend without a prototype so an uncast call does not compile.
 * Raw enum values used are from metal-cpp / Apple's headers as quoted in
 * reference/metal.md §3.3; FailOnBinaryArchiveMiss = 1 << 2 is UNCONFIRMED.
 */
#include "mtl.h"

#if defined(__APPLE__) || defined(TM_MTL_SYNTAX_CHECK)

#include <objc/message.h>
#include <objc/runtime.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef unsigned long NSUInteger;
typedef long NSInteger;
typedef struct MtlSize {
  NSUInteger width, height, depth;
} MtlSize;

/* Functions exported by the system libraries, not declared in C headers. */
extern id MTLCreateSystemDefaultDevice(void);
extern void *objc_autoreleasePoolPush(void);
extern void objc_autoreleasePoolPop(void *pool);

enum {
  STORAGE_SHARED = 0,           /* MTLResourceStorageModeShared */
  USAGE_READ = 1, USAGE_WRITE = 2, /* MTLResourceUsageRead / Write */
  HAZARD_TRACKED = 0,           /* default hazard tracking */
  PIPELINE_FAIL_ON_MISS = 1 << 2, /* MTLPipelineOptionFailOnBinaryArchiveMiss (UNCONFIRMED) */
};

/* ------------------------------------------------------------ prototypes */

typedef id (*MSG_id)(id, SEL);
typedef void (*MSG_void)(id, SEL);
typedef BOOL (*MSG_bool)(id, SEL);
typedef BOOL (*MSG_bool_sel)(id, SEL, SEL);
typedef NSUInteger (*MSG_uint)(id, SEL);
typedef NSInteger (*MSG_int)(id, SEL);
typedef uint64_t (*MSG_u64)(id, SEL);
typedef MtlSize (*MSG_size)(id, SEL);
typedef void *(*MSG_ptr)(id, SEL);
typedef const char *(*MSG_cstr)(id, SEL);
typedef id (*MSG_id_cstr)(id, SEL, const char *);
typedef id (*MSG_id_id)(id, SEL, id);
typedef void (*MSG_void_id)(id, SEL, id);
typedef void (*MSG_void_uint)(id, SEL, NSUInteger);
typedef void (*MSG_void_int)(id, SEL, NSInteger);
typedef void (*MSG_void_bool)(id, SEL, BOOL);
typedef id (*MSG_lib)(id, SEL, id src, id opts, id *error);
typedef id (*MSG_id_id_err)(id, SEL, id, id *error);
typedef BOOL (*MSG_bool_id_err)(id, SEL, id, id *error);
typedef id (*MSG_pso_desc)(id, SEL, id desc, NSUInteger options, id *reflection, id *error);
typedef id (*MSG_buf_new)(id, SEL, NSUInteger length, NSUInteger options);
typedef id (*MSG_buf_wrap)(id, SEL, void *ptr, NSUInteger length, NSUInteger options,
                           void *deallocator);
typedef void (*MSG_set_buf)(id, SEL, id buf, NSUInteger offset, NSUInteger index);
typedef void (*MSG_set_bytes)(id, SEL, const void *bytes, NSUInteger length, NSUInteger index);
typedef void (*MSG_set_tg)(id, SEL, NSUInteger length, NSUInteger index);
typedef void (*MSG_use_resource)(id, SEL, id resource, NSUInteger usage);
typedef void (*MSG_dispatch)(id, SEL, MtlSize groups, MtlSize threads);
typedef double (*MSG_double)(id, SEL); /* CFTimeInterval: d0 on arm64 */

/* Through a pointer, so the cast is to a function pointer type, not of the
 * function itself (gcc refuses calling a function through another type). */
static void (*const msg_send)(void) = objc_msgSend;
#if defined(__x86_64__)
/* x86-64 returns a struct over 16 bytes through memory: the caller passes
 * its address, which objc_msgSend_stret expects and objc_msgSend does not */
static void (*const msg_send_stret)(void) = objc_msgSend_stret;
#define SEND(T, obj, sel, ...)                                                                     \
  ({                                                                                               \
    _Static_assert(!__builtin_types_compatible_p(T, MSG_size), "MtlSize comes back in memory on x86-64: SEND_STRET"); \
    ((T)msg_send)((id)(obj), sel, ##__VA_ARGS__);                                                  \
  })
#define SEND_STRET(T, obj, sel, ...) ((T)msg_send_stret)((id)(obj), sel, ##__VA_ARGS__)
#else
#define SEND(T, obj, sel, ...) ((T)msg_send)((id)(obj), sel, ##__VA_ARGS__)
#define SEND_STRET SEND /* arm64 returns structs through x8 with the one messenger */
#endif

/* ------------------------------------------------------------ selectors */

/* Looked up once per process (pthread_once), read-only afterwards. */
static struct Sels {
  SEL alloc, init, release, retain, respondsTo, utf8, stringWithUTF8, localizedDescription;
  SEL fileURLWithPath, arrayWithObject;
  SEL name, workingSet, maxBufferLength, maxThreads, maxTgMem, unifiedMemory;
  SEL newQueue, setLanguageVersion, setMathMode, setFastMath, newLibrary, newFunction;
  SEL setUrl, newArchive, setComputeFunction, setBinaryArchives, newPsoDesc, addFunctions,
      serialize;
  SEL maxTotalThreads, executionWidth, staticTgMem;
  SEL newBuffer, newBufferNoCopy, contents, length, gpuAddress, useResource;
  SEL commandBuffer, computeEncoder, setPso, setBuffer, setBytes, setTgMem, dispatch,
      endEncoding, commit, wait, status, error, gpuStartTime, gpuEndTime;
} S;
static pthread_once_t sels_once = PTHREAD_ONCE_INIT;

static void sels_init(void) {
#define R(f, s) S.f = sel_registerName(s)
  R(alloc, "alloc"); R(init, "init"); R(release, "release"); R(retain, "retain");
  R(respondsTo, "respondsToSelector:"); R(utf8, "UTF8String");
  R(stringWithUTF8, "stringWithUTF8String:"); R(localizedDescription, "localizedDescription");
  R(fileURLWithPath, "fileURLWithPath:"); R(arrayWithObject, "arrayWithObject:");
  R(name, "name"); R(workingSet, "recommendedMaxWorkingSetSize");
  R(maxBufferLength, "maxBufferLength"); R(maxThreads, "maxThreadsPerThreadgroup");
  R(maxTgMem, "maxThreadgroupMemoryLength"); R(unifiedMemory, "hasUnifiedMemory");
  R(newQueue, "newCommandQueue"); R(setLanguageVersion, "setLanguageVersion:");
  R(setMathMode, "setMathMode:"); R(setFastMath, "setFastMathEnabled:");
  R(newLibrary, "newLibraryWithSource:options:error:"); R(newFunction, "newFunctionWithName:");
  R(setUrl, "setUrl:"); R(newArchive, "newBinaryArchiveWithDescriptor:error:");
  R(setComputeFunction, "setComputeFunction:"); R(setBinaryArchives, "setBinaryArchives:");
  R(newPsoDesc, "newComputePipelineStateWithDescriptor:options:reflection:error:");
  R(addFunctions, "addComputePipelineFunctionsWithDescriptor:error:");
  R(serialize, "serializeToURL:error:");
  R(maxTotalThreads, "maxTotalThreadsPerThreadgroup"); R(executionWidth, "threadExecutionWidth");
  R(staticTgMem, "staticThreadgroupMemoryLength");
  R(newBuffer, "newBufferWithLength:options:");
  R(newBufferNoCopy, "newBufferWithBytesNoCopy:length:options:deallocator:");
  R(contents, "contents"); R(length, "length"); R(gpuAddress, "gpuAddress");
  R(useResource, "useResource:usage:");
  R(commandBuffer, "commandBuffer"); R(computeEncoder, "computeCommandEncoder");
  R(setPso, "setComputePipelineState:"); R(setBuffer, "setBuffer:offset:atIndex:");
  R(setBytes, "setBytes:length:atIndex:"); R(setTgMem, "setThreadgroupMemoryLength:atIndex:");
  R(dispatch, "dispatchThreadgroups:threadsPerThreadgroup:"); R(endEncoding, "endEncoding");
  R(commit, "commit"); R(wait, "waitUntilCompleted"); R(status, "status"); R(error, "error");
  R(gpuStartTime, "GPUStartTime"); R(gpuEndTime, "GPUEndTime");
#undef R
}

static const struct Sels *sels(void) {
  pthread_once(&sels_once, sels_init);
  return &S;
}

/* ------------------------------------------------------------ helpers */

static id cls(const char *name) { return (id)objc_getClass(name); }

static id new_object(const char *class_name) {
  const struct Sels *s = sels();
  id o = SEND(MSG_id, cls(class_name), s->alloc);
  return o ? SEND(MSG_id, o, s->init) : nil;
}

static void release(id o) {
  if (o) SEND(MSG_void, o, sels()->release);
}

static id nsstring(const char *text) {
  return SEND(MSG_id_cstr, cls("NSString"), sels()->stringWithUTF8, text);
}

static id nsurl(const char *path) {
  return SEND(MSG_id_id, cls("NSURL"), sels()->fileURLWithPath, nsstring(path));
}

static id nsarray1(id o) { return SEND(MSG_id_id, cls("NSArray"), sels()->arrayWithObject, o); }

/* "what: description" from an NSError (nil: generic), malloc'd. */
static tm_status ns_error(tm_status st, char **err, const char *what, id error) {
  const struct Sels *s = sels();
  const char *text = NULL;
  if (error) {
    id d = SEND(MSG_id, error, s->localizedDescription);
    if (d) text = SEND(MSG_cstr, d, s->utf8);
  }
  return rt_error(st, err, "Metal: %s: %s", what, text ? text : "failed (no error description)");
}

/* ------------------------------------------------------------ device */

static const char *objc_unavailable(void) {
  void *pool = objc_autoreleasePoolPush();
  id d = MTLCreateSystemDefaultDevice();
  objc_autoreleasePoolPop(pool);
  if (!d) return "MTLCreateSystemDefaultDevice() returned nil (no Metal GPU visible to this "
                  "process: headless, virtual machine or sandbox?)";
  release(d);
  return NULL;
}

static void *objc_pool_push(void) { return objc_autoreleasePoolPush(); }
static void objc_pool_pop(void *p) { objc_autoreleasePoolPop(p); }

static tm_status objc_device_open(const MtlConfig *cfg, void **dev, MtlDeviceProps *props,
                                  char **err) {
  (void)cfg;
  const struct Sels *s = sels();
  void *pool = objc_autoreleasePoolPush();
  id d = MTLCreateSystemDefaultDevice();
  if (!d) {
    objc_autoreleasePoolPop(pool);
    return rt_error(TM_ERR_DEVICE, err, "Metal: %s", objc_unavailable());
  }
  memset(props, 0, sizeof *props);
  id name = SEND(MSG_id, d, s->name);
  const char *n = name ? SEND(MSG_cstr, name, s->utf8) : NULL;
  strncpy(props->name, n ? n : "Apple GPU", sizeof props->name - 1);
  props->working_set = SEND(MSG_u64, d, s->workingSet);
  props->max_buffer_length = SEND(MSG_uint, d, s->maxBufferLength);
  MtlSize mt = SEND_STRET(MSG_size, d, s->maxThreads);
  props->max_threads = (uint32_t)mt.width;
  props->max_tg_memory = (uint32_t)SEND(MSG_uint, d, s->maxTgMem);
  props->unified_memory = SEND(MSG_bool, d, s->unifiedMemory);
  long page = sysconf(_SC_PAGESIZE);
  props->page_size = page > 0 ? (size_t)page : 16384;
  objc_autoreleasePoolPop(pool);
  *dev = d;
  return TM_OK;
}

static void objc_device_close(void *dev) { release(dev); }
static void objc_release(void *dev, void *obj) {
  (void)dev;
  release(obj);
}

/* ------------------------------------------------------------ compile */

static tm_status objc_library_new(void *dev, const char *msl, unsigned lang, int math, void **lib,
                                  char **err) {
  const struct Sels *s = sels();
  void *pool = objc_autoreleasePoolPush();
  id opts = new_object("MTLCompileOptions");
  SEND(MSG_void_uint, opts, s->setLanguageVersion, (NSUInteger)lang);
  if (SEND(MSG_bool_sel, opts, s->respondsTo, s->setMathMode)) /* macOS 15+ */
    SEND(MSG_void_int, opts, s->setMathMode, (NSInteger)math);
  else
    SEND(MSG_void_bool, opts, s->setFastMath, (BOOL)(math == MTL_MATH_FAST));
  id error = nil;
  id l = SEND(MSG_lib, dev, s->newLibrary, nsstring(msl), opts, &error);
  release(opts);
  tm_status st = l ? TM_OK : ns_error(TM_ERR_DEVICE, err, "newLibraryWithSource", error);
  objc_autoreleasePoolPop(pool);
  *lib = l;
  return st;
}

static tm_status objc_function_new(void *lib, const char *name, void **fn, char **err) {
  void *pool = objc_autoreleasePoolPush();
  id f = SEND(MSG_id_id, lib, sels()->newFunction, nsstring(name));
  objc_autoreleasePoolPop(pool);
  *fn = f;
  return f ? TM_OK
           : rt_error(TM_ERR_DEVICE, err, "Metal: the library has no function '%s'", name);
}

/* An MTLBinaryArchive read from path (nil when absent or unreadable), or a new
 * empty one when create is set. */
static id archive_open(id dev, const char *path, int create) {
  const struct Sels *s = sels();
  id desc = new_object("MTLBinaryArchiveDescriptor");
  if (!create) SEND(MSG_void_id, desc, s->setUrl, nsurl(path));
  id error = nil;
  id a = SEND(MSG_id_id_err, dev, s->newArchive, desc, &error);
  release(desc);
  return a;
}

static tm_status objc_pipeline_new(void *dev, void *fn, const char *archive,
                                   const tm_kernel_info *hint, void **pso,
                                   MtlPipelineProps *props, int *archive_hit, char **err) {
  (void)hint; /* Metal reflects the MSL itself */
  const struct Sels *s = sels();
  void *pool = objc_autoreleasePoolPush();
  *archive_hit = 0;
  id desc = new_object("MTLComputePipelineDescriptor");
  SEND(MSG_void_id, desc, s->setComputeFunction, (id)fn);
  id error = nil, p = nil;
  if (archive && access(archive, R_OK) == 0) {
    id a = archive_open(dev, archive, 0);
    if (a) {
      SEND(MSG_void_id, desc, s->setBinaryArchives, nsarray1(a));
      p = SEND(MSG_pso_desc, dev, s->newPsoDesc, desc, (NSUInteger)PIPELINE_FAIL_ON_MISS,
               (id *)NULL, &error);
      release(a);
      *archive_hit = p != nil;
      SEND(MSG_void_id, desc, s->setBinaryArchives, nil);
    }
  }
  if (!p) {
    error = nil;
    p = SEND(MSG_pso_desc, dev, s->newPsoDesc, desc, (NSUInteger)0, (id *)NULL, &error);
    if (p && archive) { /* best effort: a failed write costs only the next process */
      id a = archive_open(dev, archive, 1);
      id e2 = nil;
      if (a && SEND(MSG_bool_id_err, a, s->addFunctions, desc, &e2))
        SEND(MSG_bool_id_err, a, s->serialize, nsurl(archive), &e2);
      release(a);
    }
  }
  release(desc);
  tm_status st = TM_OK;
  if (!p) st = ns_error(TM_ERR_DEVICE, err, "newComputePipelineState", error);
  else
    *props = (MtlPipelineProps){
        .max_threads = (uint32_t)SEND(MSG_uint, p, s->maxTotalThreads),
        .execution_width = (uint32_t)SEND(MSG_uint, p, s->executionWidth),
        .static_tg_memory = (uint32_t)SEND(MSG_uint, p, s->staticTgMem)};
  objc_autoreleasePoolPop(pool);
  *pso = p;
  return st;
}

/* ------------------------------------------------------------ buffers */

static tm_status objc_buffer_new(void *dev, size_t len, void **buf, char **err) {
  id b = SEND(MSG_buf_new, dev, sels()->newBuffer, (NSUInteger)len,
              (NSUInteger)(STORAGE_SHARED | HAZARD_TRACKED));
  *buf = b;
  return b ? TM_OK : rt_error(TM_ERR_NOMEM, err, "Metal: newBufferWithLength(%zu) failed", len);
}

static tm_status objc_buffer_wrap(void *dev, void *ptr, size_t len, void **buf, char **err) {
  id b = SEND(MSG_buf_wrap, dev, sels()->newBufferNoCopy, ptr, (NSUInteger)len,
              (NSUInteger)STORAGE_SHARED, (void *)NULL);
  *buf = b;
  return b ? TM_OK
           : rt_error(TM_ERR_DEVICE, err,
                      "Metal: newBufferWithBytesNoCopy(%p, %zu) failed (page-aligned?)", ptr, len);
}

static void *objc_buffer_contents(void *buf) { return SEND(MSG_ptr, buf, sels()->contents); }

/* MTLBuffer.gpuAddress exists from macOS 13 (Metal 3); 0 before. */
static uint64_t objc_buffer_gpu_address(void *buf) {
  const struct Sels *s = sels();
  if (!SEND(MSG_bool_sel, buf, s->respondsTo, s->gpuAddress)) return 0;
  return SEND(MSG_u64, buf, s->gpuAddress);
}
static size_t objc_buffer_length(void *buf) { return SEND(MSG_uint, buf, sels()->length); }

/* ------------------------------------------------------------ commands */

static tm_status objc_queue_new(void *dev, void **q, char **err) {
  *q = SEND(MSG_id, dev, sels()->newQueue);
  return *q ? TM_OK : rt_error(TM_ERR_DEVICE, err, "Metal: newCommandQueue failed");
}

static tm_status objc_cmdbuf_new(void *q, void **cb, char **err) {
  id c = SEND(MSG_id, q, sels()->commandBuffer); /* autoreleased: keep it */
  *cb = c ? SEND(MSG_id, c, sels()->retain) : nil;
  return c ? TM_OK : rt_error(TM_ERR_DEVICE, err, "Metal: commandBuffer failed");
}

static tm_status objc_encoder_new(void *cb, void **enc, char **err) {
  id e = SEND(MSG_id, cb, sels()->computeEncoder);
  *enc = e ? SEND(MSG_id, e, sels()->retain) : nil;
  return e ? TM_OK : rt_error(TM_ERR_DEVICE, err, "Metal: computeCommandEncoder failed");
}

static tm_status objc_set_pipeline(void *enc, void *pso, char **err) {
  (void)err;
  SEND(MSG_void_id, enc, sels()->setPso, (id)pso);
  return TM_OK;
}

static tm_status objc_set_buffer(void *enc, void *buf, size_t off, unsigned index, char **err) {
  if (index >= MTL_MAX_BUFFER_INDEX)
    return rt_error(TM_ERR_INVALID, err, "Metal: buffer index %u is out of range", index);
  SEND(MSG_set_buf, enc, sels()->setBuffer, (id)buf, (NSUInteger)off, (NSUInteger)index);
  return TM_OK;
}

static tm_status objc_set_bytes(void *enc, const void *data, size_t len, unsigned index,
                                char **err) {
  if (index >= MTL_MAX_BUFFER_INDEX || len > MTL_MAX_SET_BYTES)
    return rt_error(TM_ERR_INVALID, err, "Metal: setBytes of %zu bytes at index %u refused", len,
                    index);
  SEND(MSG_set_bytes, enc, sels()->setBytes, data, (NSUInteger)len, (NSUInteger)index);
  return TM_OK;
}

static tm_status objc_set_tg_memory(void *enc, size_t len, unsigned index, char **err) {
  if (index >= MTL_MAX_BUFFER_INDEX || len % MTL_TG_MEMORY_ALIGN || len > MTL_MAX_TG_MEMORY)
    return rt_error(TM_ERR_INVALID, err,
                    "Metal: threadgroup memory of %zu bytes at index %u refused", len, index);
  SEND(MSG_set_tg, enc, sels()->setTgMem, (NSUInteger)len, (NSUInteger)index);
  return TM_OK;
}

static void objc_set_checks(void *enc, unsigned index, size_t before, size_t nbytes,
                            int readonly) {
  (void)enc, (void)index, (void)before, (void)nbytes, (void)readonly; /* no checked mode on a GPU */
}

static void objc_use_resource(void *enc, void *buf, size_t offset, size_t nbytes, int writable) {
  (void)offset, (void)nbytes; /* no checked mode on a GPU: Metal makes the whole buffer resident */
  SEND(MSG_use_resource, enc, sels()->useResource, (id)buf,
       (NSUInteger)(USAGE_READ | (writable ? USAGE_WRITE : 0)));
}

static tm_status objc_dispatch(void *enc, const uint32_t g[3], const uint32_t t[3], char **err) {
  (void)err;
  MtlSize groups = {g[0], g[1], g[2]}, threads = {t[0], t[1], t[2]};
  SEND(MSG_dispatch, enc, sels()->dispatch, groups, threads);
  return TM_OK;
}

static tm_status objc_end_encoding(void *enc, char **err) {
  (void)err;
  SEND(MSG_void, enc, sels()->endEncoding);
  return TM_OK;
}

static tm_status objc_commit(void *cb, char **err) {
  (void)err;
  SEND(MSG_void, cb, sels()->commit);
  return TM_OK;
}

static void objc_wait(void *cb) { SEND(MSG_void, cb, sels()->wait); }

static int objc_cb_status(void *cb, char **msg) {
  const struct Sels *s = sels();
  if (msg) *msg = NULL;
  int st = (int)SEND(MSG_uint, cb, s->status);
  if (st == MTL_CB_ERROR && msg) {
    void *pool = objc_autoreleasePoolPush();
    id e = SEND(MSG_id, cb, s->error);
    ns_error(TM_ERR_RUNTIME, msg, "command buffer failed", e);
    objc_autoreleasePoolPop(pool);
  }
  return st;
}

/* GPUStartTime / GPUEndTime: seconds on the host's mach absolute clock, set
 * once the command buffer has completed (macOS 10.15+). */
static tm_time_source objc_cb_times(void *cb, double *start_s, double *end_s) {
  const struct Sels *s = sels();
  *start_s = SEND(MSG_double, cb, s->gpuStartTime);
  *end_s = SEND(MSG_double, cb, s->gpuEndTime);
  return *end_s > 0 ? TM_TIME_GPU : TM_TIME_NONE;
}

const MtlApi mtl_objc_api = {
    .name = "metal",
    .unavailable = objc_unavailable,
    .pool_push = objc_pool_push,
    .pool_pop = objc_pool_pop,
    .device_open = objc_device_open,
    .device_close = objc_device_close,
    .release = objc_release,
    .library_new = objc_library_new,
    .function_new = objc_function_new,
    .pipeline_new = objc_pipeline_new,
    .buffer_new = objc_buffer_new,
    .buffer_wrap = objc_buffer_wrap,
    .buffer_contents = objc_buffer_contents,
    .buffer_length = objc_buffer_length,
    .buffer_gpu_address = objc_buffer_gpu_address,
    .use_resource = objc_use_resource,
    .queue_new = objc_queue_new,
    .cmdbuf_new = objc_cmdbuf_new,
    .encoder_new = objc_encoder_new,
    .set_pipeline = objc_set_pipeline,
    .set_buffer = objc_set_buffer,
    .set_bytes = objc_set_bytes,
    .set_tg_memory = objc_set_tg_memory,
    .set_checks = objc_set_checks,
    .dispatch = objc_dispatch,
    .end_encoding = objc_end_encoding,
    .commit = objc_commit,
    .wait = objc_wait,
    .cb_status = objc_cb_status,
    .cb_times = objc_cb_times,
};

#else
typedef int tm_mtl_objc_not_built; /* not macOS: the metal kind reports unavailable */
#endif
