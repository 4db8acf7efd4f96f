/*
 * mtl_sim.c: metal-sim, the narrow Metal API of mtl.h implemented on Linux.
 *
 * It behaves as Metal does where the portable layer can tell, and refuses what
 * Metal's validation refuses, each with a message naming the rule:
 *   - buffer (and threadgroup-memory) index < 31;
 *   - setBytes at most 4 KB;
 *   - threads per threadgroup at most the pipeline's maxTotalThreadsPerThreadgroup
 *     (1024, or TRITON_METAL_SIM_MAX_THREADS to simulate register pressure);
 *   - threadgroup memory: lengths in 16-byte multiples, static + dynamic at
 *     most 32 KB;
 *   - every argument the kernel declares is bound, with the right kind;
 *   - two different buffers over overlapping memory, one of them written by
 *     the kernel (writes through one are not seen through the other), bound
 *     or made resident (useResource);
 *   - an access outside every bound buffer and every buffer made resident with
 *     useResource (a buffer reached only through a pointer in memory must be
 *     resident), or a store into one made resident for reading only;
 *   - newBufferWithBytesNoCopy needs page-aligned pointer and length (16 KB
 *     pages, as on Apple silicon);
 *   - any use of a released object (objects are marked, never reused, until
 *     the device closes), encoding after endEncoding, committing twice.
 * Execution is asynchronous as on a GPU: commit only queues a command buffer;
 * waitUntilCompleted runs the queue's committed command buffers in order on
 * the cpu emulator (checked accesses), so a host that reads results without
 * waiting sees stale memory here too. A failed dispatch marks its command
 * buffer MTLCommandBufferStatusError with the emulator's message.
 * Pipelines compile through the emulator (cpu_build.c) from the descriptor
 * passed as `hint`; a "binary archive" is a small file naming the pipeline.
 * Metal 4 tensor ops (a tl.dot's matmul2d variant) compile only for MSL 4.0
 * and later: below, the library is built as the preprocessor would leave it
 * without them (TM_NO_TENSOR_OPS). TRITON_METAL_SIM_REJECT_TENSOR_OPS=1
 * simulates a Metal compiler that rejects that code outright (the runtime
 * then rebuilds the kernel with its simdgroup_matrix variant).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "mtl.h"

#define SIM_MAGIC 0x6d74536du
#define SIM_PAGE 16384

enum { K_DEVICE = 1, K_LIBRARY, K_FUNCTION, K_PIPELINE, K_BUFFER, K_QUEUE, K_CMDBUF, K_ENCODER };
static const char *const kind_name[] = {
    "?", "MTLDevice", "MTLLibrary", "MTLFunction", "MTLComputePipelineState", "MTLBuffer",
    "MTLCommandQueue", "MTLCommandBuffer", "MTLComputeCommandEncoder"};

typedef struct SimDev SimDev;

typedef struct SimObj {
  uint32_t magic;
  int kind;
  int refs; /* 0: released (the memory stays, marked, until the device closes) */
  SimDev *dev;
  struct SimObj *all; /* every object of the device */
} SimObj;

struct SimDev {
  SimObj o;
  pthread_mutex_t mu;
  CpuDev *cpu;
  MtlConfig cfg;
  SimObj *objs;
};

typedef struct SimLib {
  SimObj o;
  char *msl;
} SimLib;

typedef struct SimFn {
  SimObj o;
  SimLib *lib;
  char *name;
} SimFn;

typedef struct SimPso {
  SimObj o;
  tm_kernel_info info; /* deep copy of the hint */
  CpuObj *obj;
  MtlPipelineProps props;
} SimPso;

typedef struct SimBuf {
  SimObj o;
  unsigned char *mem;
  size_t len;
  int wrapped; /* memory is the caller's */
} SimBuf;

typedef struct SimCb SimCb;

typedef struct SimQueue {
  SimObj o;
  SimCb *head, *tail; /* committed, not yet run */
} SimQueue;

enum { B_NONE, B_BUFFER, B_BYTES };

typedef struct Binding {
  int kind;
  SimBuf *buf;
  size_t off;
  size_t extent; /* set_checks; SIZE_MAX: to the end of the buffer */
  size_t before; /* set_checks: bytes below off the argument may touch */
  int readonly;
  unsigned char *bytes;
  size_t nbytes;
} Binding;

/* Ranges of buffers made resident with useResource (a growing array). */
typedef struct ResRange {
  SimBuf *buf;
  size_t off, size; /* what the caller registered (checked mode) */
  int writable;
} ResRange;

typedef struct Resident {
  ResRange *r;
  int n, cap;
} Resident;

typedef struct Dispatch {
  SimPso *pso;
  uint32_t groups[3], threads[3];
  Binding b[MTL_MAX_BUFFER_INDEX];
  Resident res; /* the encoder's resident buffers when it was encoded */
  struct Dispatch *next;
} Dispatch;

typedef struct SimEnc SimEnc;

struct SimCb {
  SimObj o;
  SimQueue *q;
  int status;
  char *error;
  int encoded;    /* an encoder was made */
  Dispatch *head, *tail;
  SimCb *next;    /* in the queue */
  double t0, t1;  /* host clock around running it (seconds) */
};

struct SimEnc {
  SimObj o;
  SimCb *cb;
  int ended;
  SimPso *pso;
  Binding b[MTL_MAX_BUFFER_INDEX];
  size_t tg[MTL_MAX_BUFFER_INDEX];
  Resident res;
  int res_failed; /* useResource ran out of memory: the next dispatch fails */
};

/* ------------------------------------------------------------ objects */

static void *obj_new(SimDev *d, size_t size, int kind) {
  SimObj *o = calloc(1, size);
  if (!o) return NULL;
  *o = (SimObj){.magic = SIM_MAGIC, .kind = kind, .refs = 1, .dev = d};
  if (d) {
    o->all = d->objs;
    d->objs = o;
  }
  return o;
}

/* The object behind handle h when it is a live object of this kind. */
static tm_status check(void *h, int kind, const char *call, char **err) {
  SimObj *o = h;
  if (!o) return rt_error(TM_ERR_INVALID, err, "metal-sim: %s: the %s is nil", call, kind_name[kind]);
  if (o->magic != SIM_MAGIC || o->kind < K_DEVICE || o->kind > K_ENCODER)
    return rt_error(TM_ERR_INVALID, err, "metal-sim: %s: %p is not a metal-sim object", call, h);
  if (o->kind != kind)
    return rt_error(TM_ERR_INVALID, err, "metal-sim: %s: expected a %s, got a %s", call,
                    kind_name[kind], kind_name[o->kind]);
  if (o->refs <= 0)
    return rt_error(TM_ERR_INVALID, err, "metal-sim: %s: use of a released %s (use after release)",
                    call, kind_name[kind]);
  return TM_OK;
}

static void retain(void *h) { ((SimObj *)h)->refs++; }
static void put(void *h);

static void resident_clear(Resident *r) {
  for (int i = 0; i < r->n; i++) put(r->r[i].buf);
  free(r->r);
  *r = (Resident){0};
}

static void dispatches_free(Dispatch *d) {
  while (d) {
    Dispatch *n = d->next;
    for (int i = 0; i < MTL_MAX_BUFFER_INDEX; i++) {
      if (d->b[i].buf) put(d->b[i].buf);
      free(d->b[i].bytes);
    }
    resident_clear(&d->res);
    put(d->pso);
    free(d);
    d = n;
  }
}

static void bindings_clear(Binding *b) {
  for (int i = 0; i < MTL_MAX_BUFFER_INDEX; i++) {
    if (b[i].buf) put(b[i].buf);
    free(b[i].bytes);
    b[i] = (Binding){0};
  }
}

/* Frees what the object holds; the header stays, marked released. */
static void drop(SimObj *o) {
  switch (o->kind) {
  case K_LIBRARY: free(((SimLib *)o)->msl); break;
  case K_FUNCTION: put(((SimFn *)o)->lib); free(((SimFn *)o)->name); break;
  case K_PIPELINE: {
    SimPso *p = (SimPso *)o;
    if (p->obj) cpu_obj_put(o->dev->cpu, p->obj);
    for (int i = 0; i < p->info.nargs; i++) free((char *)p->info.args[i].name);
    free((void *)p->info.args);
    free((char *)p->info.name);
    free((char *)p->info.source_file);
    free((char *)p->info.source_name);
    break;
  }
  case K_BUFFER: {
    SimBuf *b = (SimBuf *)o;
    if (!b->wrapped) free(b->mem);
    b->mem = NULL;
    break;
  }
  case K_CMDBUF: {
    SimCb *c = (SimCb *)o;
    dispatches_free(c->head);
    c->head = c->tail = NULL;
    free(c->error);
    c->error = NULL;
    break;
  }
  case K_ENCODER: {
    SimEnc *e = (SimEnc *)o;
    bindings_clear(e->b);
    resident_clear(&e->res);
    if (e->pso) put(e->pso);
    put(e->cb);
    break;
  }
  default: break;
  }
}

static void put(void *h) {
  SimObj *o = h;
  if (o && --o->refs == 0) drop(o);
}

static void sim_release(void *dev, void *obj) {
  SimDev *d = dev;
  if (!obj) return;
  pthread_mutex_lock(&d->mu);
  SimObj *o = obj;
  /* Releasing a released object is the bug this simulator exists to catch;
   * with no error channel here, it is made loud at the next use instead: the
   * header stays marked released, so every later call on it is refused. */
  if (o->magic == SIM_MAGIC && o->refs > 0) put(o);
  pthread_mutex_unlock(&d->mu);
}

/* ------------------------------------------------------------ device */

static const char *sim_unavailable(void) { return NULL; }
static void *sim_pool_push(void) { return NULL; }
static void sim_pool_pop(void *p) { (void)p; }

static tm_status sim_device_open(const MtlConfig *cfg, void **dev, MtlDeviceProps *props,
                                 char **err) {
  SimDev *d = obj_new(NULL, sizeof *d, K_DEVICE);
  if (!d) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  d->o.dev = d;
  pthread_mutex_init(&d->mu, NULL);
  if (cfg) d->cfg = *cfg;
  tm_status st = cpu_dev_new(&d->cpu, err);
  if (st) {
    pthread_mutex_destroy(&d->mu);
    free(d);
    return st;
  }
  uint64_t phys = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
  *props = (MtlDeviceProps){
      .working_set = d->cfg.working_set ? d->cfg.working_set : phys / 3 * 2,
      .max_threads = 1024,
      .max_tg_memory = MTL_MAX_TG_MEMORY,
      .page_size = SIM_PAGE,
      .unified_memory = 1,
  };
  props->max_buffer_length = props->working_set;
  snprintf(props->name, sizeof props->name, "simulated Apple GPU on the cpu emulator (%d threads)",
           d->cpu->nthreads);
  *dev = d;
  return TM_OK;
}

static void sim_device_close(void *dev) {
  SimDev *d = dev;
  /* drop what live objects hold, then every header */
  for (SimObj *o = d->objs; o; o = o->all)
    if (o->refs > 0 && o->kind == K_ENCODER) o->refs = 1, put(o);
  for (SimObj *o = d->objs; o; o = o->all)
    if (o->refs > 0 && o->kind == K_CMDBUF) o->refs = 1, put(o);
  for (SimObj *o = d->objs; o; o = o->all)
    if (o->refs > 0 && o->kind != K_LIBRARY && o->kind != K_BUFFER) o->refs = 1, put(o);
  for (SimObj *o = d->objs; o; o = o->all)
    if (o->refs > 0) o->refs = 1, put(o);
  while (d->objs) {
    SimObj *o = d->objs;
    d->objs = o->all;
    free(o);
  }
  cpu_dev_free(d->cpu);
  pthread_mutex_destroy(&d->mu);
  free(d);
}

/* ------------------------------------------------------------ compile */

static tm_status sim_library_new(void *dev, const char *msl, unsigned lang, int math, void **lib,
                                 char **err) {
  SimDev *d = dev;
  *lib = NULL;
  unsigned maj = lang >> 16, min = lang & 0xffff;
  if (maj < 1 || maj > 4 || min > 4)
    return rt_error(TM_ERR_DEVICE, err, "metal-sim: unknown MTLLanguageVersion %u.%u", maj, min);
  if (math < MTL_MATH_SAFE || math > MTL_MATH_FAST)
    return rt_error(TM_ERR_DEVICE, err, "metal-sim: unknown MTLMathMode %d", math);
  /* Metal refuses a language version newer than its OS offers: the simulated
   * device runs the OS of the target (detected, or TRITON_METAL_HW's preset) */
  int os_msl = tm_target_default()->msl_version;
  if (os_msl > 0 && (int)(maj * 100 + min * 10) > os_msl)
    return rt_error(TM_ERR_DEVICE, err, "metal-sim: compile error: MTLLanguageVersion %u.%u is not available "
                    "on this OS (it offers MSL %d.%d)", maj, min, os_msl / 100, os_msl / 10 % 10);
  int tensor_ops = strstr(msl, "\n#define TM_TENSOR_OPS 1\n") && strncmp(msl, NO_TENSOR_OPS, strlen(NO_TENSOR_OPS));
  if (tensor_ops && maj >= 4 && getenv("TRITON_METAL_SIM_REJECT_TENSOR_OPS") &&
      !strcmp(getenv("TRITON_METAL_SIM_REJECT_TENSOR_OPS"), "1"))
    return rt_error(TM_ERR_DEVICE, err, "metal-sim: compile error: the Metal 4 tensor ops are rejected "
                    "(TRITON_METAL_SIM_REJECT_TENSOR_OPS=1)");
  pthread_mutex_lock(&d->mu);
  SimLib *l = obj_new(d, sizeof *l, K_LIBRARY);
  if (l && !(l->msl = tensor_ops && maj < 4 ? rt_strfmt("%s%s", NO_TENSOR_OPS, msl) : rt_strdup(msl))) l->o.refs = 0;
  pthread_mutex_unlock(&d->mu);
  if (!l || !l->msl) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  *lib = l;
  return TM_OK;
}

/* Metal's newFunctionWithName: finds `kernel void <name>(` in the source. */
static int declares_kernel(const char *msl, const char *name) {
  size_t n = strlen(name);
  for (const char *p = strstr(msl, "kernel void "); p; p = strstr(p + 1, "kernel void ")) {
    const char *q = p + 12;
    while (*q == ' ') q++;
    if (!strncmp(q, name, n) && (q[n] == '(' || q[n] == ' ')) return 1;
  }
  return 0;
}

static tm_status sim_function_new(void *lib, const char *name, void **fn, char **err) {
  *fn = NULL;
  tm_status st = check(lib, K_LIBRARY, "newFunctionWithName", err);
  if (st) return st;
  SimLib *l = lib;
  SimDev *d = l->o.dev;
  if (!declares_kernel(l->msl, name))
    return rt_error(TM_ERR_DEVICE, err, "metal-sim: the library has no kernel function '%s'", name);
  pthread_mutex_lock(&d->mu);
  SimFn *f = obj_new(d, sizeof *f, K_FUNCTION);
  if (f) {
    f->lib = l;
    retain(l);
    f->name = rt_strdup(name);
  }
  pthread_mutex_unlock(&d->mu);
  if (!f || !f->name) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  *fn = f;
  return TM_OK;
}

static int copy_hint(tm_kernel_info *dst, const tm_kernel_info *src) {
  *dst = *src;
  dst->name = rt_strdup(src->name);
  dst->source_file = rt_strdup(src->source_file ? src->source_file : "<unknown>");
  dst->source_name = rt_strdup(src->source_name ? src->source_name : src->name);
  tm_kernel_arg *a = calloc((size_t)src->nargs + 1, sizeof *a);
  dst->args = a;
  dst->nargs = 0;
  if (!dst->name || !dst->source_file || !dst->source_name || !a) return 0;
  for (int i = 0; i < src->nargs; i++) {
    a[i] = src->args[i];
    if (!(a[i].name = rt_strdup(src->args[i].name ? src->args[i].name : "?"))) return 0;
    dst->nargs = i + 1;
  }
  return 1;
}

/* The archive file: one line naming the pipeline. */
static int archive_matches(const char *path, const char *name) {
  char *text = NULL, want[512];
  size_t n;
  if (rt_read_regular(path, 4096, &text, &n)) return 0; /* absent, or not a regular file */
  snprintf(want, sizeof want, "metal-sim binary archive: %s\n", name);
  int ok = !strcmp(text, want);
  free(text);
  return ok;
}

static void archive_write(const char *path, const char *name) {
  char *tmp = rt_strfmt("%s.%ld.tmp", path, (long)getpid());
  FILE *f = tmp ? fopen(tmp, "w") : NULL;
  if (f) {
    int ok = fprintf(f, "metal-sim binary archive: %s\n", name) > 0;
    if ((fclose(f) || !ok || rename(tmp, path)) && tmp) unlink(tmp);
  }
  free(tmp);
}

static tm_status sim_pipeline_new(void *dev, void *fn, const char *archive,
                                  const tm_kernel_info *hint, void **pso, MtlPipelineProps *props,
                                  int *archive_hit, char **err) {
  SimDev *d = dev;
  *pso = NULL;
  *archive_hit = 0;
  tm_status st = check(fn, K_FUNCTION, "newComputePipelineStateWithDescriptor", err);
  if (st) return st;
  SimFn *f = fn;
  if (!hint || strcmp(hint->name, f->name))
    return rt_error(TM_ERR_INTERNAL, err, "metal-sim: pipeline of '%s' built without its descriptor",
                    f->name);
  pthread_mutex_lock(&d->mu);
  SimPso *p = obj_new(d, sizeof *p, K_PIPELINE);
  pthread_mutex_unlock(&d->mu);
  if (!p) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  if (!copy_hint(&p->info, hint)) st = rt_error(TM_ERR_NOMEM, err, "out of memory");
  if (!st) st = cpu_obj_get(d->cpu, f->lib->msl, &p->info, &p->obj, err);
  if (st) {
    sim_release(d, p);
    return st;
  }
  uint32_t max = d->cfg.pipeline_max_threads ? d->cfg.pipeline_max_threads : 1024;
  p->props = (MtlPipelineProps){.max_threads = max > 1024 ? 1024 : max,
                                .execution_width = 32,
                                .static_tg_memory = (uint32_t)hint->threadgroup_mem_bytes};
  *props = p->props;
  if (archive) {
    if (archive_matches(archive, f->name)) *archive_hit = 1;
    else archive_write(archive, f->name);
  }
  *pso = p;
  return TM_OK;
}

/* ------------------------------------------------------------ buffers */

static tm_status new_buf(SimDev *d, void *mem, size_t len, int wrapped, void **buf, char **err) {
  pthread_mutex_lock(&d->mu);
  SimBuf *b = obj_new(d, sizeof *b, K_BUFFER);
  pthread_mutex_unlock(&d->mu);
  if (!b) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  b->mem = mem;
  b->len = len;
  b->wrapped = wrapped;
  *buf = b;
  return TM_OK;
}

static tm_status sim_buffer_new(void *dev, size_t len, void **buf, char **err) {
  *buf = NULL;
  if (len == 0)
    return rt_error(TM_ERR_INVALID, err, "metal-sim: newBufferWithLength: length must be > 0");
  size_t size = (len + SIM_PAGE - 1) / SIM_PAGE * SIM_PAGE;
  void *mem = aligned_alloc(SIM_PAGE, size);
  if (!mem) return rt_error(TM_ERR_NOMEM, err, "metal-sim: cannot allocate %zu bytes", len);
  memset(mem, 0, size);
  tm_status st = new_buf(dev, mem, len, 0, buf, err);
  if (st) free(mem);
  return st;
}

static tm_status sim_buffer_wrap(void *dev, void *ptr, size_t len, void **buf, char **err) {
  *buf = NULL;
  if (!ptr || (uintptr_t)ptr % SIM_PAGE || len == 0 || len % SIM_PAGE)
    return rt_error(TM_ERR_INVALID, err,
                    "metal-sim: newBufferWithBytesNoCopy needs a page-aligned pointer and length "
                    "(%d-byte pages); got %p and %zu bytes",
                    SIM_PAGE, ptr, len);
  return new_buf(dev, ptr, len, 1, buf, err);
}

/* metal-sim has one address space: a buffer's GPU address is its host address. */
static uint64_t sim_buffer_gpu_address(void *buf) {
  return check(buf, K_BUFFER, "gpuAddress", NULL) ? 0 : (uint64_t)(uintptr_t)((SimBuf *)buf)->mem;
}

static void *sim_buffer_contents(void *buf) {
  return check(buf, K_BUFFER, "contents", NULL) ? NULL : ((SimBuf *)buf)->mem;
}

static size_t sim_buffer_length(void *buf) {
  return check(buf, K_BUFFER, "length", NULL) ? 0 : ((SimBuf *)buf)->len;
}

/* ------------------------------------------------------------ queue, command buffers */

static tm_status sim_queue_new(void *dev, void **q, char **err) {
  SimDev *d = dev;
  pthread_mutex_lock(&d->mu);
  *q = obj_new(d, sizeof(SimQueue), K_QUEUE);
  pthread_mutex_unlock(&d->mu);
  return *q ? TM_OK : rt_error(TM_ERR_NOMEM, err, "out of memory");
}

static tm_status sim_cmdbuf_new(void *q, void **cb, char **err) {
  *cb = NULL;
  tm_status st = check(q, K_QUEUE, "commandBuffer", err);
  if (st) return st;
  SimDev *d = ((SimObj *)q)->dev;
  pthread_mutex_lock(&d->mu);
  SimCb *c = obj_new(d, sizeof *c, K_CMDBUF);
  if (c) c->q = q, c->status = MTL_CB_NOT_ENQUEUED;
  pthread_mutex_unlock(&d->mu);
  if (!c) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  *cb = c;
  return TM_OK;
}

static tm_status sim_encoder_new(void *cb, void **enc, char **err) {
  *enc = NULL;
  tm_status st = check(cb, K_CMDBUF, "computeCommandEncoder", err);
  if (st) return st;
  SimCb *c = cb;
  if (c->status != MTL_CB_NOT_ENQUEUED)
    return rt_error(TM_ERR_INVALID, err,
                    "metal-sim: computeCommandEncoder on a committed command buffer");
  SimDev *d = c->o.dev;
  pthread_mutex_lock(&d->mu);
  SimEnc *e = obj_new(d, sizeof *e, K_ENCODER);
  if (e) e->cb = c, retain(c), c->encoded = 1;
  pthread_mutex_unlock(&d->mu);
  if (!e) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  *enc = e;
  return TM_OK;
}

static tm_status open_enc(void *enc, const char *call, char **err) {
  tm_status st = check(enc, K_ENCODER, call, err);
  if (st) return st;
  if (((SimEnc *)enc)->ended)
    return rt_error(TM_ERR_INVALID, err, "metal-sim: %s after endEncoding", call);
  return TM_OK;
}

static tm_status index_ok(unsigned index, const char *call, char **err) {
  if (index < MTL_MAX_BUFFER_INDEX) return TM_OK;
  return rt_error(TM_ERR_INVALID, err,
                  "metal-sim: %s: index %u is out of range (Metal has %d argument table "
                  "entries, 0..%d)",
                  call, index, MTL_MAX_BUFFER_INDEX, MTL_MAX_BUFFER_INDEX - 1);
}

static tm_status sim_set_pipeline(void *enc, void *pso, char **err) {
  tm_status st = open_enc(enc, "setComputePipelineState", err);
  if (!st) st = check(pso, K_PIPELINE, "setComputePipelineState", err);
  if (st) return st;
  SimEnc *e = enc;
  retain(pso);
  if (e->pso) put(e->pso);
  e->pso = pso;
  return TM_OK;
}

static tm_status sim_set_buffer(void *enc, void *buf, size_t off, unsigned index, char **err) {
  tm_status st = open_enc(enc, "setBuffer:offset:atIndex:", err);
  if (!st) st = index_ok(index, "setBuffer:offset:atIndex:", err);
  if (!st) st = check(buf, K_BUFFER, "setBuffer:offset:atIndex:", err);
  if (st) return st;
  SimBuf *b = buf;
  if (off > b->len)
    return rt_error(TM_ERR_INVALID, err,
                    "metal-sim: setBuffer: offset %zu is past the end of a %zu-byte buffer", off,
                    b->len);
  Binding *x = &((SimEnc *)enc)->b[index];
  retain(b);
  if (x->buf) put(x->buf);
  free(x->bytes);
  *x = (Binding){.kind = B_BUFFER, .buf = b, .off = off, .extent = SIZE_MAX};
  return TM_OK;
}

static tm_status sim_set_bytes(void *enc, const void *data, size_t len, unsigned index,
                               char **err) {
  tm_status st = open_enc(enc, "setBytes:length:atIndex:", err);
  if (!st) st = index_ok(index, "setBytes:length:atIndex:", err);
  if (st) return st;
  if (len > MTL_MAX_SET_BYTES)
    return rt_error(TM_ERR_INVALID, err,
                    "metal-sim: setBytes: %zu bytes at index %u; Metal takes at most %d bytes "
                    "inline (use a buffer)",
                    len, index, MTL_MAX_SET_BYTES);
  unsigned char *copy = malloc(len ? len : 1);
  if (!copy) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  memcpy(copy, data, len);
  Binding *x = &((SimEnc *)enc)->b[index];
  if (x->buf) put(x->buf);
  free(x->bytes);
  *x = (Binding){.kind = B_BYTES, .bytes = copy, .nbytes = len};
  return TM_OK;
}

static tm_status sim_set_tg_memory(void *enc, size_t len, unsigned index, char **err) {
  tm_status st = open_enc(enc, "setThreadgroupMemoryLength:atIndex:", err);
  if (!st) st = index_ok(index, "setThreadgroupMemoryLength:atIndex:", err);
  if (st) return st;
  if (len % MTL_TG_MEMORY_ALIGN)
    return rt_error(TM_ERR_INVALID, err,
                    "metal-sim: setThreadgroupMemoryLength: %zu bytes is not a multiple of %d",
                    len, MTL_TG_MEMORY_ALIGN);
  if (len > MTL_MAX_TG_MEMORY)
    return rt_error(TM_ERR_INVALID, err,
                    "metal-sim: setThreadgroupMemoryLength: %zu bytes; threadgroup memory is at "
                    "most %d bytes",
                    len, MTL_MAX_TG_MEMORY);
  ((SimEnc *)enc)->tg[index] = len;
  return TM_OK;
}

static void sim_set_checks(void *enc, unsigned index, size_t before, size_t nbytes,
                           int readonly) {
  if (check(enc, K_ENCODER, "set_checks", NULL) || index >= MTL_MAX_BUFFER_INDEX) return;
  Binding *x = &((SimEnc *)enc)->b[index];
  x->extent = nbytes;
  x->before = before < x->off ? before : x->off; /* never below the buffer's first byte */
  x->readonly = readonly;
}

/* Adds a resident range to r (or widens its usage); 0 when out of memory.
 * Takes a reference to the buffer. */
static int resident_add(Resident *r, ResRange x) {
  for (int i = 0; i < r->n; i++)
    if (r->r[i].buf == x.buf && r->r[i].off == x.off && r->r[i].size == x.size) {
      r->r[i].writable |= x.writable;
      return 1;
    }
  if (r->n == r->cap) {
    int cap = r->cap ? 2 * r->cap : 4;
    ResRange *a = realloc(r->r, (size_t)cap * sizeof *a);
    if (!a) return 0;
    r->r = a, r->cap = cap;
  }
  retain(x.buf);
  r->r[r->n++] = x;
  return 1;
}

static void sim_use_resource(void *enc, void *buf, size_t off, size_t nbytes, int writable) {
  if (open_enc(enc, "useResource:usage:", NULL) || check(buf, K_BUFFER, "useResource:usage:", NULL))
    return;
  SimEnc *e = enc;
  SimBuf *b = buf;
  if (off > b->len) off = b->len;
  size_t size = nbytes && nbytes <= b->len - off ? nbytes : b->len - off;
  pthread_mutex_lock(&e->o.dev->mu);
  if (!resident_add(&e->res, (ResRange){b, off, size, writable})) e->res_failed = 1;
  pthread_mutex_unlock(&e->o.dev->mu);
}

static const char *arg_name(const SimPso *p, unsigned i) {
  return (int)i < p->info.nargs ? p->info.args[i].name : "?";
}

/* Encode-time validation of one dispatch. */
static tm_status validate(SimEnc *e, const uint32_t groups[3], const uint32_t threads[3],
                          char **err) {
  SimPso *p = e->pso;
  if (!p) return rt_error(TM_ERR_INVALID, err, "metal-sim: dispatch without a pipeline state");
  if (check(p, K_PIPELINE, "dispatchThreadgroups", err)) return TM_ERR_INVALID;
  uint64_t nt = (uint64_t)threads[0] * threads[1] * threads[2];
  if (!groups[0] || !groups[1] || !groups[2] || nt == 0)
    return rt_error(TM_ERR_INVALID, err, "metal-sim: dispatch with a zero dimension");
  if (nt > p->props.max_threads)
    return rt_error(TM_ERR_INVALID, err,
                    "metal-sim: dispatch of '%s': %llu threads per threadgroup exceeds the "
                    "pipeline's maxTotalThreadsPerThreadgroup (%u)",
                    rt_kname(&p->info), (unsigned long long)nt, p->props.max_threads);
  size_t tg = p->props.static_tg_memory;
  for (int i = 0; i < MTL_MAX_BUFFER_INDEX; i++) tg += e->tg[i];
  if (tg > MTL_MAX_TG_MEMORY)
    return rt_error(TM_ERR_INVALID, err,
                    "metal-sim: dispatch of '%s': %zu bytes of threadgroup memory (static + "
                    "setThreadgroupMemoryLength); the limit is %d",
                    rt_kname(&p->info), tg, MTL_MAX_TG_MEMORY);
  for (int i = 0; i < p->info.nargs; i++) {
    const tm_kernel_arg *a = &p->info.args[i];
    const Binding *x = &e->b[i];
    if (x->kind == B_NONE)
      return rt_error(TM_ERR_INVALID, err,
                      "metal-sim: dispatch of '%s': buffer index %d ('%s') is not bound",
                      rt_kname(&p->info), i, a->name);
    if (a->role == TM_ARG_BUFFER && x->kind != B_BUFFER)
      return rt_error(TM_ERR_INVALID, err,
                      "metal-sim: dispatch of '%s': index %d ('%s') is a device pointer but was "
                      "bound with setBytes",
                      rt_kname(&p->info), i, a->name);
    if (x->kind == B_BUFFER && check(x->buf, K_BUFFER, "dispatchThreadgroups", err))
      return TM_ERR_INVALID;
    if (a->role == TM_ARG_BYTES) {
      size_t have = x->kind == B_BYTES ? x->nbytes : x->buf->len - x->off;
      if (have < (size_t)tm_dtype_bytes(a->dtype))
        return rt_error(TM_ERR_INVALID, err,
                        "metal-sim: dispatch of '%s': index %d ('%s') has %zu bytes, needs %d",
                        rt_kname(&p->info), i, a->name, have, tm_dtype_bytes(a->dtype));
    }
  }
  if (e->res_failed) return rt_error(TM_ERR_NOMEM, err, "metal-sim: out of memory in useResource");
  /* a resident buffer and a different bound buffer over the same memory, one written */
  for (int r = 0; r < e->res.n; r++) {
    const SimBuf *rb = e->res.r[r].buf;
    if (check((void *)rb, K_BUFFER, "dispatchThreadgroups", err)) return TM_ERR_INVALID;
    uintptr_t rl = (uintptr_t)rb->mem, rh = rl + rb->len;
    for (int i = 0; i < p->info.nargs; i++) {
      const Binding *x = &e->b[i];
      if (x->kind != B_BUFFER || x->buf == rb) continue;
      if (!e->res.r[r].writable && !p->info.args[i].writable) continue;
      uintptr_t xl = (uintptr_t)x->buf->mem, xh = xl + x->buf->len;
      if (xl < rh && rl < xh)
        return rt_error(TM_ERR_INVALID, err,
                        "metal-sim: dispatch of '%s': index %d ('%s') and a buffer made "
                        "resident with useResource are different MTLBuffers over overlapping "
                        "memory, one of them written; writes through one are not seen through "
                        "the other",
                        rt_kname(&p->info), i, arg_name(p, (unsigned)i));
    }
  }
  /* different buffers over the same memory, one written */
  for (int i = 0; i < p->info.nargs; i++) {
    const Binding *x = &e->b[i];
    if (x->kind != B_BUFFER) continue;
    for (int j = i + 1; j < p->info.nargs; j++) {
      const Binding *y = &e->b[j];
      if (y->kind != B_BUFFER || y->buf == x->buf) continue;
      int wx = p->info.args[i].writable, wy = p->info.args[j].writable;
      if (!wx && !wy) continue;
      uintptr_t xl = (uintptr_t)x->buf->mem, xh = xl + x->buf->len;
      uintptr_t yl = (uintptr_t)y->buf->mem, yh = yl + y->buf->len;
      if (xl < yh && yl < xh)
        return rt_error(TM_ERR_INVALID, err,
                        "metal-sim: dispatch of '%s': indices %d ('%s') and %d ('%s') are "
                        "different MTLBuffers over overlapping memory and '%s' is written; "
                        "writes through one buffer are not seen through the other (bind one "
                        "buffer at two offsets)",
                        rt_kname(&p->info), i, arg_name(p, (unsigned)i), j, arg_name(p, (unsigned)j),
                        arg_name(p, (unsigned)(wx ? i : j)));
    }
  }
  return TM_OK;
}

static tm_status sim_dispatch(void *enc, const uint32_t groups[3], const uint32_t threads[3],
                              char **err) {
  tm_status st = open_enc(enc, "dispatchThreadgroups", err);
  if (st) return st;
  SimEnc *e = enc;
  SimDev *dv = e->o.dev;
  pthread_mutex_lock(&dv->mu);
  st = validate(e, groups, threads, err);
  Dispatch *d = st ? NULL : calloc(1, sizeof *d);
  if (!st && !d) st = rt_error(TM_ERR_NOMEM, err, "out of memory");
  if (!st) {
    d->pso = e->pso;
    retain(d->pso);
    memcpy(d->groups, groups, sizeof d->groups);
    memcpy(d->threads, threads, sizeof d->threads);
    for (int r = 0; r < e->res.n && !st; r++)
      if (!resident_add(&d->res, e->res.r[r])) st = rt_error(TM_ERR_NOMEM, err, "out of memory");
    for (int i = 0; i < e->pso->info.nargs && !st; i++) {
      d->b[i] = e->b[i];
      d->b[i].bytes = NULL;
      if (d->b[i].buf) retain(d->b[i].buf);
      if (e->b[i].kind == B_BYTES) {
        d->b[i].bytes = malloc(e->b[i].nbytes ? e->b[i].nbytes : 1);
        if (!d->b[i].bytes) st = rt_error(TM_ERR_NOMEM, err, "out of memory");
        else memcpy(d->b[i].bytes, e->b[i].bytes, e->b[i].nbytes);
      }
    }
    if (st) dispatches_free(d);
    else {
      SimCb *c = e->cb;
      if (c->tail) c->tail->next = d;
      else c->head = d;
      c->tail = d;
    }
  }
  pthread_mutex_unlock(&dv->mu);
  return st;
}

static tm_status sim_end_encoding(void *enc, char **err) {
  tm_status st = open_enc(enc, "endEncoding", err);
  if (!st) ((SimEnc *)enc)->ended = 1;
  return st;
}

static tm_status sim_commit(void *cb, char **err) {
  tm_status st = check(cb, K_CMDBUF, "commit", err);
  if (st) return st;
  SimCb *c = cb;
  SimDev *d = c->o.dev;
  if (c->status != MTL_CB_NOT_ENQUEUED)
    return rt_error(TM_ERR_INVALID, err, "metal-sim: commit of a command buffer already committed");
  pthread_mutex_lock(&d->mu);
  int open = 0;
  for (SimObj *o = d->objs; o; o = o->all)
    if (o->kind == K_ENCODER && o->refs > 0 && ((SimEnc *)o)->cb == c && !((SimEnc *)o)->ended)
      open = 1;
  if (!open) {
    c->status = MTL_CB_COMMITTED;
    retain(c); /* the queue's reference, dropped when it has run */
    if (c->q->tail) c->q->tail->next = c;
    else c->q->head = c;
    c->q->tail = c;
  }
  pthread_mutex_unlock(&d->mu);
  if (open)
    return rt_error(TM_ERR_INVALID, err,
                    "metal-sim: commit while a command encoder is still encoding (call "
                    "endEncoding first)");
  return TM_OK;
}

/* Runs one dispatch on the emulator; malloc'd error or NULL. */
static char *run_dispatch(SimDev *dv, Dispatch *d) {
  SimPso *p = d->pso;
  int n = p->info.nargs;
  void **argv = calloc((size_t)n + 1, sizeof *argv);
  tm_cpu_buf *bufs = calloc((size_t)n + (size_t)d->res.n + 1, sizeof *bufs);
  char *msg = NULL;
  if (!argv || !bufs) {
    free(argv), free(bufs);
    return rt_strdup("out of memory");
  }
  int nb = 0;
  for (int i = 0; i < n; i++) {
    Binding *x = &d->b[i];
    if (x->kind == B_BYTES) {
      argv[i] = x->bytes;
      continue;
    }
    argv[i] = x->buf->mem + x->off;
    size_t avail = x->buf->len - x->off;
    if (p->info.args[i].role == TM_ARG_BUFFER)
      bufs[nb++] = (tm_cpu_buf){.lo = (uintptr_t)argv[i] - x->before,
                                .size = x->before + (x->extent < avail ? x->extent : avail),
                                .writable = p->info.args[i].writable && !x->readonly,
                                .arg = i};
  }
  /* resident ranges (arg -1: kernel-visible memory in the emulator's messages) */
  for (int r = 0; r < d->res.n; r++) {
    const ResRange *x = &d->res.r[r];
    bufs[nb++] = (tm_cpu_buf){.lo = (uintptr_t)x->buf->mem + x->off, .size = x->size,
                              .writable = x->writable, .arg = -1};
  }
  tm_kernel_info info = p->info;
  info.threads_per_threadgroup = (int)(d->threads[0] * d->threads[1] * d->threads[2]);
  cpu_run(dv->cpu, &info, p->obj, d->groups, argv, bufs, nb, &msg);
  free(argv), free(bufs);
  return msg;
}

static double host_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Runs the queue's committed command buffers in order, up to and including c. */
static void sim_wait(void *cb) {
  if (check(cb, K_CMDBUF, "waitUntilCompleted", NULL)) return;
  SimCb *c = cb;
  SimDev *dv = c->o.dev;
  pthread_mutex_lock(&dv->mu);
  if (c->status == MTL_CB_COMMITTED) {
    SimQueue *q = c->q;
    for (SimCb *x; (x = q->head);) {
      q->head = x->next;
      if (!q->head) q->tail = NULL;
      x->next = NULL;
      x->status = MTL_CB_COMPLETED;
      x->t0 = host_seconds();
      for (Dispatch *d = x->head; d && !x->error; d = d->next) x->error = run_dispatch(dv, d);
      x->t1 = host_seconds();
      if (x->error) x->status = MTL_CB_ERROR;
      dispatches_free(x->head); /* completed: resources are let go */
      x->head = x->tail = NULL;
      int last = x == c;
      put(x);
      if (last) break;
    }
  }
  pthread_mutex_unlock(&dv->mu);
}

static int sim_cb_status(void *cb, char **msg) {
  if (msg) *msg = NULL;
  if (check(cb, K_CMDBUF, "status", msg)) return MTL_CB_ERROR;
  SimCb *c = cb;
  if (c->status == MTL_CB_ERROR && msg)
    *msg = rt_strfmt("Metal command buffer failed (metal-sim): %s", c->error);
  return c->status;
}

/* No GPU: the host clock around the emulator's run of the command buffer. */
static tm_time_source sim_cb_times(void *cb, double *start_s, double *end_s) {
  *start_s = *end_s = 0;
  if (check(cb, K_CMDBUF, "GPUStartTime", NULL)) return TM_TIME_NONE;
  SimCb *c = cb;
  if (c->status != MTL_CB_COMPLETED) return TM_TIME_NONE;
  *start_s = c->t0;
  *end_s = c->t1;
  return TM_TIME_HOST;
}

static uint64_t sim_tier_mark(void *dev) { return cpu_tier_mark(((SimDev *)dev)->cpu); }
static tm_status sim_tier_settle(void *dev, uint64_t mark, char **err) {
  return cpu_tier_settle(((SimDev *)dev)->cpu, (unsigned long)mark, err);
}

const MtlApi mtl_sim_api = {
    .name = "metal-sim",
    .unavailable = sim_unavailable,
    .pool_push = sim_pool_push,
    .pool_pop = sim_pool_pop,
    .device_open = sim_device_open,
    .device_close = sim_device_close,
    .release = sim_release,
    .library_new = sim_library_new,
    .function_new = sim_function_new,
    .pipeline_new = sim_pipeline_new,
    .buffer_new = sim_buffer_new,
    .buffer_wrap = sim_buffer_wrap,
    .buffer_contents = sim_buffer_contents,
    .buffer_length = sim_buffer_length,
    .buffer_gpu_address = sim_buffer_gpu_address,
    .use_resource = sim_use_resource,
    .queue_new = sim_queue_new,
    .cmdbuf_new = sim_cmdbuf_new,
    .encoder_new = sim_encoder_new,
    .set_pipeline = sim_set_pipeline,
    .set_buffer = sim_set_buffer,
    .set_bytes = sim_set_bytes,
    .set_tg_memory = sim_set_tg_memory,
    .set_checks = sim_set_checks,
    .dispatch = sim_dispatch,
    .end_encoding = sim_end_encoding,
    .commit = sim_commit,
    .wait = sim_wait,
    .cb_status = sim_cb_status,
    .cb_times = sim_cb_times,
    .tier_mark = sim_tier_mark,
    .tier_settle = sim_tier_settle,
};
