/*
 * metal.c: the "metal" and "metal-sim" device kinds: one portable device over
 * the narrow Metal API of mtl.h (real Metal or the simulator).
 *
 * load     pipeline from the cache (metal_cache.c).
 * launch   1. checks the pipeline's limits (threads per threadgroup against
 *             maxTotalThreadsPerThreadgroup, static threadgroup memory);
 *          2. binds every argument at its buffer index (= argument index):
 *               BYTES             setBytes
 *               device buffer     setBuffer(handle, offset)
 *               host memory       an argument's range is its allocation around
 *                                 its data pointer (tm_launch_arg.before/nbytes:
 *                                 a strided view may address below it); ranges
 *                                 that overlap form one group bound through ONE
 *                                 buffer at each argument's data pointer (two
 *                                 buffers over the same bytes would lose
 *                                 writes), then per group
 *                                   page-aligned on unified memory -> wrapped
 *                                     (newBufferWithBytesNoCopy, zero-copy),
 *                                     unless the kernel may write memory the
 *                                     caller marked read-only
 *                                   otherwise -> a pool buffer, copied in, and
 *                                     copied back after the wait if written;
 *             registered kernel-visible memory (visible.c) is made resident
 *             (useResource) for the dispatch, and a host argument inside a
 *             registered region binds through that region's buffer;
 *          3. encodes the dispatch into the device's open command buffer
 *             (the batch); commits it every BATCH_MAX dispatches;
 *          4. when a host argument is bound (the caller reads host memory as
 *             soon as tm_launch returns), commits and waits: synchronization
 *             only where the host needs data. Launches over device buffers
 *             alone return at once; tm_device_synchronize waits for them.
 * errors   a failed command buffer reports Metal's message with the names of
 *          the kernels it held; a failure seen while nobody is waiting is kept
 *          and returned by the next synchronizing call.
 * timed    tm_launch_timed: drains, then runs the launch in a command buffer of
 *          its own and reads that buffer's GPU interval (metal-sim: host clock).
 * One mutex per device serializes loads, launches and synchronization.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtl.h"

enum { BATCH_MAX = 32, NAMES_MAX = 200 };

/* A temporary of a launch: released when its command buffer completes. */
typedef struct Temp {
  void *buf;
  int pooled;         /* back to the pool (else released: a wrap) */
  void *host;         /* copy-back target, NULL when nothing to copy */
  size_t off, n;      /* bytes [off, off+n) of buf go back to host */
  struct Temp *next;
} Temp;

typedef struct Batch {
  void *cb, *enc;
  int n;              /* dispatches */
  char names[NAMES_MAX];
  Temp *temps;
  struct Batch *next; /* committed batches, oldest first */
} Batch;

typedef struct MetalDev {
  const MtlApi *api;
  void *dev, *queue;
  MtlDeviceProps props;
  pthread_mutex_t mu;
  PipeCache cache;
  BufPool pool;
  Batch *open;        /* being encoded */
  Batch *inflight;    /* committed, not yet waited for */
  char *deferred;     /* first failure nobody has been told about */
  tm_device_stats st;
} MetalDev;

/* ------------------------------------------------------------ open / close */

/* The MSL version the OS offers (the target follows the detected macOS, or
 * TRITON_METAL_HW's preset: 3.0 on macOS 13, 3.1 on 14, 3.2 on 15, 4.0 on 26;
 * Metal refuses a newer one than its OS has), 3.1 where it is unknown;
 * TRITON_METAL_MSL_VERSION overrides. The compiler emits for the same target,
 * so what the kernel uses is what this version offers. */
static unsigned lang_version(void) {
  const char *e = getenv("TRITON_METAL_MSL_VERSION"); /* "3.0", "3.1", "3.2", "4.0" */
  int v = tm_target_default()->msl_version;
  unsigned maj = v > 0 ? (unsigned)v / 100 : 3, min = v > 0 ? (unsigned)v / 10 % 10 : 1;
  if (e && *e) sscanf(e, "%u.%u", &maj, &min);
  return maj << 16 | min; /* MTLLanguageVersion: major << 16 | minor */
}

static int math_mode(void) {
  const char *e = getenv("TRITON_METAL_MATH_MODE");
  if (e && !strcmp(e, "fast")) return MTL_MATH_FAST;
  if (e && !strcmp(e, "relaxed")) return MTL_MATH_RELAXED;
  return MTL_MATH_SAFE; /* results must match the reference: no fast math */
}

static void batch_free(MetalDev *m, Batch *b);

static void metal_free(MetalDev *m) {
  if (!m) return;
  if (m->open) batch_free(m, m->open);
  while (m->inflight) {
    Batch *b = m->inflight;
    m->inflight = b->next;
    m->api->wait(b->cb);
    batch_free(m, b);
  }
  pipecache_destroy(&m->cache);
  if (m->dev) {
    bufpool_destroy(&m->pool);
    if (m->queue) m->api->release(m->dev, m->queue);
    m->api->device_close(m->dev);
  }
  free(m->deferred);
  pthread_mutex_destroy(&m->mu);
  free(m);
}

tm_status metal_open_with(tm_device *d, const MtlApi *api, const MtlConfig *cfg,
                          const char *compiler_version, char **err) {
  MetalDev *m = calloc(1, sizeof *m);
  if (!m) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  pthread_mutex_init(&m->mu, NULL);
  m->api = api;
  tm_status st = api->device_open(cfg, &m->dev, &m->props, err);
  if (!st) st = api->queue_new(m->dev, &m->queue, err);
  if (st) {
    metal_free(m);
    return st;
  }
  bufpool_init(&m->pool, api, m->dev, m->props.page_size, m->props.working_set);
  m->cache = (PipeCache){.api = api, .dev = m->dev, .dir = rt_cache_dir("metal"),
                         .compiler_version = rt_strdup(compiler_version),
                         .lang_version = lang_version(), .math_mode = math_mode()};
  d->description = rt_strfmt("%s: %s (MSL %u.%u, %s math, working set %llu MiB)", api->name,
                             m->props.name, m->cache.lang_version >> 16,
                             m->cache.lang_version & 0xffff,
                             m->cache.math_mode == MTL_MATH_SAFE ? "safe" : "fast/relaxed",
                             (unsigned long long)(m->props.working_set >> 20));
  if (!m->cache.dir || !m->cache.compiler_version || !d->description) {
    metal_free(m);
    return rt_error(TM_ERR_NOMEM, err, "out of memory");
  }
  d->impl = m;
  return TM_OK;
}

const MtlApi *metal_api(tm_device *d, void **dev) {
  MetalDev *m = d->impl;
  *dev = m->dev;
  return m->api;
}

static uint64_t env_u64(const char *name) {
  const char *e = getenv(name);
  return e && *e ? strtoull(e, NULL, 0) : 0;
}

static tm_status sim_open(tm_device *d, char **err) {
  MtlConfig cfg = {.working_set = env_u64("TRITON_METAL_SIM_WORKING_SET"),
                   .pipeline_max_threads = (uint32_t)env_u64("TRITON_METAL_SIM_MAX_THREADS")};
  return metal_open_with(d, &mtl_sim_api, &cfg, TM_VERSION, err);
}

static void metal_close(tm_device *d) { metal_free(d->impl); }

/* ------------------------------------------------------------ load */

static tm_status metal_load(tm_module *mod, const char *msl, char **err) {
  MetalDev *m = mod->dev->impl;
  MetalPipe *p;
  pthread_mutex_lock(&m->mu);
  tm_status st = pipecache_get(&m->cache, m->props.name, msl, &mod->info, &p, err);
  pthread_mutex_unlock(&m->mu);
  if (st == TM_ERR_DEVICE && err && *err) {
    char *msg = rt_strfmt("kernel '%s': Metal could not build the MSL: %s", rt_kname(&mod->info), *err);
    if (msg) free(*err), *err = msg;
  }
  if (!st) mod->impl = p;
  return st;
}

static void metal_unload(tm_module *mod) {
  MetalDev *m = mod->dev->impl;
  pthread_mutex_lock(&m->mu);
  pipecache_put(&m->cache, mod->impl);
  pthread_mutex_unlock(&m->mu);
}

/* ------------------------------------------------------------ batches */

static void batch_free(MetalDev *m, Batch *b) {
  while (b->temps) {
    Temp *t = b->temps;
    b->temps = t->next;
    if (!t->pooled || !bufpool_put(&m->pool, t->buf)) m->api->release(m->dev, t->buf);
    free(t);
  }
  if (b->enc) m->api->release(m->dev, b->enc);
  if (b->cb) m->api->release(m->dev, b->cb);
  free(b);
}

static tm_status batch_open(MetalDev *m, char **err) {
  if (m->open) return TM_OK;
  Batch *b = calloc(1, sizeof *b);
  if (!b) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  tm_status st = m->api->cmdbuf_new(m->queue, &b->cb, err);
  if (!st) st = m->api->encoder_new(b->cb, &b->enc, err);
  if (st) {
    batch_free(m, b);
    return st;
  }
  m->open = b;
  return TM_OK;
}

static void batch_note(Batch *b, const char *name) {
  size_t n = strlen(b->names);
  if (n + strlen(name) + 8 >= NAMES_MAX) {
    if (!strstr(b->names, "...")) snprintf(b->names + n, NAMES_MAX - n, ", ...");
    return;
  }
  snprintf(b->names + n, NAMES_MAX - n, "%s'%s'", n ? ", " : "", name);
}

/* Ends the open batch's encoding and commits it (no wait). */
static tm_status batch_commit(MetalDev *m, char **err) {
  Batch *b = m->open;
  if (!b) return TM_OK;
  m->open = NULL;
  tm_status st = m->api->end_encoding(b->enc, err);
  if (!st) st = m->api->commit(b->cb, err);
  if (st) {
    batch_free(m, b);
    return st;
  }
  m->st.command_buffers++;
  Batch **l = &m->inflight;
  while (*l) l = &(*l)->next;
  *l = b;
  return TM_OK;
}

/* Waits for one committed batch, copies staged results back; the failure
 * message (malloc'd) when the command buffer failed. */
static char *batch_finish(MetalDev *m, Batch *b) {
  m->api->wait(b->cb);
  m->st.waits++;
  char *msg = NULL, *out = NULL;
  if (m->api->cb_status(b->cb, &msg) != MTL_CB_COMPLETED) {
    out = rt_strfmt("%s %s: %s", strchr(b->names, ',') ? "kernels" : "kernel", b->names,
                    msg ? msg : "the command buffer did not complete");
    if (!out) out = rt_strdup("out of memory");
  } else {
    for (Temp *t = b->temps; t; t = t->next)
      if (t->host) memcpy(t->host, (char *)m->api->buffer_contents(t->buf) + t->off, t->n);
  }
  free(msg);
  return out;
}

/* Commits the open batch and waits for everything committed. */
static tm_status drain(MetalDev *m, char **err) {
  tm_status st = batch_commit(m, err);
  if (st) return st;
  char *first = m->deferred;
  m->deferred = NULL;
  while (m->inflight) {
    Batch *b = m->inflight;
    m->inflight = b->next;
    char *msg = batch_finish(m, b);
    if (msg && !first) first = msg;
    else free(msg);
    batch_free(m, b);
  }
  if (!first) return TM_OK;
  if (err) *err = first;
  else free(first);
  return TM_ERR_RUNTIME;
}

static tm_status metal_synchronize(tm_device *d, char **err) {
  MetalDev *m = d->impl;
  pthread_mutex_lock(&m->mu);
  void *pool = m->api->pool_push();
  tm_status st = drain(m, err);
  m->api->pool_pop(pool);
  pthread_mutex_unlock(&m->mu);
  return st;
}

/* ------------------------------------------------------------ binding */

/* A host argument's memory [lo, hi): its allocation around data (lo = data -
 * before), all of which the kernel may address. */
typedef struct HostArg {
  int arg;
  uintptr_t lo, hi, data;
} HostArg;

static int by_lo(const void *a, const void *b) {
  const HostArg *x = a, *y = b;
  return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static tm_status add_temp(Batch *b, void *buf, int pooled, void *host, size_t off, size_t n,
                          char **err) {
  Temp *t = malloc(sizeof *t);
  if (!t) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  *t = (Temp){buf, pooled, host, off, n, b->temps};
  b->temps = t;
  return TM_OK;
}

/* The registered host region holding [lo, hi), or NULL. */
static const tm_visible *visible_holding(const tm_visible *vis, int nvis, uintptr_t lo,
                                         uintptr_t hi) {
  for (int i = 0; i < nvis; i++)
    if (vis[i].lo && lo >= vis[i].lo && hi <= vis[i].lo + vis[i].size) return &vis[i];
  return NULL;
}

/* Binds the host arguments: one inside registered kernel-visible memory through
 * that memory's wrap (one buffer for both uses); the others in groups of
 * overlapping ranges, each through one buffer (wrapped or staged) that covers
 * the whole range, bound at the argument's data pointer (a strided view may
 * address memory below it). */
static tm_status bind_host(MetalDev *m, const tm_kernel_info *k, const tm_launch_arg *args,
                           HostArg *h, int nh, const tm_visible *vis, int nvis, char **err) {
  const MtlApi *a = m->api;
  Batch *b = m->open;
  int kept = 0;
  for (int i = 0; i < nh; i++) {
    const tm_visible *v = visible_holding(vis, nvis, h[i].lo, h[i].hi);
    if (!v) {
      h[kept++] = h[i];
      continue;
    }
    int arg = h[i].arg;
    tm_status st = a->set_buffer(b->enc, v->buffer, v->offset + (h[i].data - v->lo), (unsigned)arg, err);
    if (st) return st;
    a->set_checks(b->enc, (unsigned)arg, args[arg].before, args[arg].nbytes, args[arg].readonly);
    m->st.zero_copy_args++;
  }
  nh = kept;
  qsort(h, (size_t)nh, sizeof *h, by_lo);
  for (int i = 0; i < nh;) {
    uintptr_t lo = h[i].lo, hi = h[i].hi;
    int j = i + 1, written = 0;
    while (j < nh && h[j].lo < hi) hi = h[j].hi > hi ? h[j].hi : hi, j++;
    int guarded = 0; /* memory the kernel may write but the caller forbids */
    for (int t = i; t < j; t++) {
      written |= k->args[h[t].arg].writable && !args[h[t].arg].readonly;
      guarded |= k->args[h[t].arg].writable && args[h[t].arg].readonly;
    }
    size_t n = hi - lo, page = m->props.page_size;
    void *buf;
    size_t base;
    tm_status st;
    if (m->props.unified_memory && lo % page == 0 && !guarded) {
      st = a->buffer_wrap(m->dev, (void *)lo, (n + page - 1) / page * page, &buf, err);
      if (st) return st;
      base = 0;
      m->st.zero_copy_args += (uint64_t)(j - i);
      st = add_temp(b, buf, 0, NULL, 0, 0, err);
    } else {
      st = bufpool_get(&m->pool, n, &buf, err);
      if (st) return st;
      base = 0;
      memcpy(a->buffer_contents(buf), (void *)lo, n);
      m->st.staged_args += (uint64_t)(j - i);
      st = add_temp(b, buf, 1, written ? (void *)lo : NULL, 0, n, err);
    }
    if (st) {
      a->release(m->dev, buf);
      return st;
    }
    for (int t = i; t < j; t++) {
      int arg = h[t].arg;
      st = a->set_buffer(b->enc, buf, base + (h[t].data - lo), (unsigned)arg, err);
      if (st) return st;
      a->set_checks(b->enc, (unsigned)arg, args[arg].before, args[arg].nbytes,
                    args[arg].readonly);
    }
    i = j;
  }
  return TM_OK;
}

static tm_status encode(MetalDev *m, tm_module *mod, const uint32_t grid[3],
                        const tm_launch_arg *args, const tm_device_arg *dev, int *host_used,
                        char **err) {
  const tm_kernel_info *k = &mod->info;
  const MetalPipe *p = mod->impl;
  const MtlApi *a = m->api;
  if ((uint32_t)k->threads_per_threadgroup > p->props.max_threads)
    return rt_error(TM_ERR_INVALID, err,
                    "kernel '%s' runs %d threads per threadgroup (num_warps=%d) but its Metal "
                    "pipeline allows at most %u (maxTotalThreadsPerThreadgroup); launch it "
                    "with num_warps <= %u",
                    rt_kname(k), k->threads_per_threadgroup, k->threads_per_threadgroup / 32,
                    p->props.max_threads, p->props.max_threads / 32);
  if (p->props.static_tg_memory > m->props.max_tg_memory)
    return rt_error(TM_ERR_INVALID, err,
                    "kernel '%s' declares %u bytes of threadgroup memory; the device has %u",
                    rt_kname(k), p->props.static_tg_memory, m->props.max_tg_memory);
  if (k->nargs > MTL_MAX_BUFFER_INDEX)
    return rt_error(TM_ERR_INVALID, err,
                    "kernel '%s' has %d arguments; Metal binds at most %d buffers", rt_kname(k),
                    k->nargs, MTL_MAX_BUFFER_INDEX);
  tm_status st = batch_open(m, err);
  if (st) return st;
  Batch *b = m->open;
  st = a->set_pipeline(b->enc, p->pso, err);
  tm_visible *vis;
  int nvis;
  if (rt_visible_snapshot(mod->dev, &vis, &nvis)) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  HostArg *h = calloc((size_t)k->nargs + 1, sizeof *h);
  if (!h) {
    free(vis);
    return rt_error(TM_ERR_NOMEM, err, "out of memory");
  }
  int nh = 0;
  for (int i = 0; i < k->nargs && !st; i++) {
    const tm_launch_arg *x = &args[i];
    if (k->args[i].role == TM_ARG_BYTES) {
      st = a->set_bytes(b->enc, x->data, x->nbytes, (unsigned)i, err);
    } else if (dev && dev[i].buffer) {
      size_t len = a->buffer_length(dev[i].buffer), off = dev[i].offset;
      if (off > len || x->nbytes > len - off)
        st = rt_error(TM_ERR_INVALID, err,
                      "kernel '%s': argument %d '%s': %zu bytes at offset %zu pass the end of "
                      "its %zu-byte Metal buffer",
                      rt_kname(k), i, k->args[i].name, x->nbytes, off, len);
      else st = a->set_buffer(b->enc, dev[i].buffer, off, (unsigned)i, err);
      if (!st) /* launch.c checked before <= off */
        a->set_checks(b->enc, (unsigned)i, x->before, x->nbytes ? x->nbytes : len - off,
                      x->readonly);
    } else if (x->nbytes == 0 && x->before == 0) { /* nothing to touch: any small buffer */
      void *buf;
      st = bufpool_get(&m->pool, 0, &buf, err);
      if (!st) st = add_temp(b, buf, 1, NULL, 0, 0, err);
      if (!st) st = a->set_buffer(b->enc, buf, 0, (unsigned)i, err);
      if (!st) a->set_checks(b->enc, (unsigned)i, 0, 0, x->readonly);
    } else {
      uintptr_t data = (uintptr_t)x->data;
      h[nh++] = (HostArg){.arg = i, .lo = data - x->before, .hi = data + x->nbytes,
                          .data = data};
    }
  }
  if (!st && nh) st = bind_host(m, k, args, h, nh, vis, nvis, err);
  /* memory the kernel may reach only through pointers loaded from memory */
  for (int i = 0; i < nvis && !st; i++)
    a->use_resource(b->enc, vis[i].buffer, vis[i].offset, vis[i].size, !vis[i].readonly);
  free(h);
  free(vis);
  *host_used = nh > 0;
  if (st) return st;
  uint32_t threads[3] = {(uint32_t)k->threads_per_threadgroup, 1, 1};
  st = a->dispatch(b->enc, grid, threads, err);
  if (st) return st;
  m->st.dispatches++;
  b->n++;
  batch_note(b, rt_kname(k));
  return TM_OK;
}

static tm_status metal_launch(tm_module *mod, const uint32_t grid[3], const tm_launch_arg *args,
                              const tm_device_arg *dev, char **err) {
  MetalDev *m = mod->dev->impl;
  pthread_mutex_lock(&m->mu);
  void *pool = m->api->pool_push();
  int host = 0;
  Temp *before = m->open ? m->open->temps : NULL;
  tm_status st = encode(m, mod, grid, args, dev, &host, err);
  if (st) {
    /* Nothing was dispatched. Bindings left on the encoder are replaced by the
     * next dispatch's; this launch's temporaries go with the batch but must
     * not copy anything back. */
    for (Temp *t = m->open ? m->open->temps : NULL; t && t != before; t = t->next)
      t->host = NULL;
  } else if (host || m->open->n >= BATCH_MAX) {
    st = host ? drain(m, err) : batch_commit(m, err);
  }
  m->api->pool_pop(pool);
  pthread_mutex_unlock(&m->mu);
  return st;
}

/* A launch in a command buffer of its own, waited for, with that command
 * buffer's execution interval (tm_launch_timed). */
static tm_status metal_launch_timed(tm_module *mod, const uint32_t grid[3],
                                    const tm_launch_arg *args, const tm_device_arg *dev,
                                    tm_launch_times *times, char **err) {
  MetalDev *m = mod->dev->impl;
  pthread_mutex_lock(&m->mu);
  void *pool = m->api->pool_push();
  int host = 0;
  tm_status st = drain(m, err); /* earlier work: not part of this launch's time */
  if (!st) st = encode(m, mod, grid, args, dev, &host, err);
  if (st && m->open) /* nothing dispatched: drop the batch, copy nothing back */
    for (Temp *t = m->open->temps; t; t = t->next) t->host = NULL;
  if (!st) st = batch_commit(m, err);
  if (!st) {
    Batch *b = m->inflight; /* the only one: drained above */
    m->inflight = b->next;
    char *msg = batch_finish(m, b);
    double t0 = 0, t1 = 0;
    if (msg) {
      if (err) *err = msg;
      else free(msg);
      st = TM_ERR_RUNTIME;
    } else {
      times->source = m->api->cb_times(b->cb, &t0, &t1);
      times->start_ns = (uint64_t)(t0 * 1e9);
      times->end_ns = (uint64_t)(t1 * 1e9);
    }
    batch_free(m, b);
  }
  m->api->pool_pop(pool);
  pthread_mutex_unlock(&m->mu);
  return st;
}

static void metal_module_info(const tm_module *mod, tm_module_info *out) {
  const MetalPipe *p = mod->impl;
  out->max_threads_per_threadgroup = (int)p->props.max_threads;
  out->thread_execution_width = (int)p->props.execution_width;
  out->static_threadgroup_memory = (int)p->props.static_tg_memory;
}

/* ------------------------------------------------------------ kernel-visible memory */

/* Registered host memory is wrapped once, without copying: kernels reach it
 * through addresses in memory, which must stay valid for the registration
 * (a staged copy would not be what they point at). The wrap covers the whole
 * pages the memory lies on (Metal wraps page-aligned ranges; the pages around
 * an allocation are mapped); checked accesses are held to the registered bytes. */
static tm_status metal_visible_add(tm_device *d, tm_visible *v, char **err) {
  MetalDev *m = d->impl;
  const MtlApi *a = m->api;
  size_t page = m->props.page_size;
  tm_status st = TM_OK;
  pthread_mutex_lock(&m->mu);
  if (!v->buffer) {
    uintptr_t base = v->lo / page * page;
    size_t len = (v->lo + v->size - base + page - 1) / page * page;
    if (!m->props.unified_memory)
      st = rt_error(TM_ERR_INVALID, err,
                    "kernel-visible host memory at %p: the %s device has no unified memory to "
                    "wrap it in; use a Metal tensor (MPS, MLX)",
                    (void *)v->lo, a->name);
    else if (!(st = a->buffer_wrap(m->dev, (void *)base, len, &v->buffer, err)))
      v->owned = 1, v->offset = v->lo - base;
  } else {
    size_t len = a->buffer_length(v->buffer);
    if (v->offset > len || (v->size && v->size > len - v->offset))
      st = rt_error(TM_ERR_INVALID, err,
                    "kernel-visible memory: %zu bytes at offset %zu pass the end of its %zu-byte "
                    "Metal buffer",
                    v->size, v->offset, len);
  }
  if (!st) {
    uint64_t gpu = a->buffer_gpu_address(v->buffer);
    if (!gpu) {
      st = rt_error(TM_ERR_DEVICE, err,
                    "kernel-visible memory needs MTLBuffer.gpuAddress (Metal 3, macOS 13 or "
                    "later)");
      if (v->owned) a->release(m->dev, v->buffer), v->buffer = NULL, v->owned = 0;
    }
    v->address = gpu + v->offset;
  }
  pthread_mutex_unlock(&m->mu);
  return st;
}

static void metal_visible_remove(tm_device *d, tm_visible *v) {
  MetalDev *m = d->impl;
  pthread_mutex_lock(&m->mu);
  if (m->open || m->inflight) { /* launches may still reach it */
    char *msg = NULL;
    if (drain(m, &msg) && !m->deferred) m->deferred = msg;
    else free(msg);
  }
  if (v->owned) m->api->release(m->dev, v->buffer);
  pthread_mutex_unlock(&m->mu);
}

/* ------------------------------------------------------------ buffers, stats */

static tm_status metal_buffer_new(tm_device *d, size_t n, void **buf, void **contents,
                                  char **err) {
  MetalDev *m = d->impl;
  pthread_mutex_lock(&m->mu);
  tm_status st = bufpool_get(&m->pool, n, buf, err);
  if (!st) *contents = m->api->buffer_contents(*buf);
  pthread_mutex_unlock(&m->mu);
  return st;
}

static void metal_buffer_free(tm_device *d, void *buf) {
  MetalDev *m = d->impl;
  pthread_mutex_lock(&m->mu);
  /* a launch may still use it: let everything finish before reuse */
  if (m->open || m->inflight) {
    char *msg = NULL;
    if (drain(m, &msg) && !m->deferred) m->deferred = msg;
    else free(msg);
  }
  bufpool_put(&m->pool, buf);
  pthread_mutex_unlock(&m->mu);
}

static void metal_stats(tm_device *d, tm_device_stats *out) {
  MetalDev *m = d->impl;
  pthread_mutex_lock(&m->mu);
  *out = m->st;
  out->pipeline_compiles = m->cache.compiles;
  out->pipeline_memory_hits = m->cache.memory_hits;
  out->pipeline_disk_hits = m->cache.disk_hits;
  out->tensor_ops_fallbacks = m->cache.tensor_ops_fallbacks;
  out->buffers_created = m->pool.created;
  out->buffers_reused = m->pool.reused;
  out->bytes_in_use = m->pool.in_use;
  out->bytes_cached = m->pool.cached;
  out->bytes_peak = m->pool.peak;
  out->bytes_limit = m->pool.limit;
  pthread_mutex_unlock(&m->mu);
}

static uint64_t metal_tier_mark(tm_device *d) {
  MetalDev *m = d->impl;
  return m->api->tier_mark ? m->api->tier_mark(m->dev) : 0;
}

static tm_status metal_tier_settle(tm_device *d, uint64_t mark, char **err) {
  MetalDev *m = d->impl;
  return m->api->tier_settle ? m->api->tier_settle(m->dev, mark, err) : TM_OK;
}

/* ------------------------------------------------------------ the two kinds */

/* Both kinds differ only in how they open (which MtlApi) and say unavailable. */
#define METAL_SHARED_OPS                                                                      \
  .close = metal_close, .load = metal_load, .unload = metal_unload, .launch = metal_launch,   \
  .synchronize = metal_synchronize, .buffer_new = metal_buffer_new,                           \
  .buffer_free = metal_buffer_free, .stats = metal_stats, .launch_timed = metal_launch_timed, \
  .module_info = metal_module_info, .visible_add = metal_visible_add,                         \
  .visible_remove = metal_visible_remove, .tier_mark = metal_tier_mark,                      \
  .tier_settle = metal_tier_settle,

static const char *sim_unavailable(void) { return mtl_sim_api.unavailable(); }

const DeviceOps rt_metal_sim_ops = {
    .name = "metal-sim",
    .unavailable = sim_unavailable,
    .open = sim_open,
    METAL_SHARED_OPS
};

#ifdef __APPLE__
static const char *real_unavailable(void) { return mtl_objc_api.unavailable(); }
static tm_status real_open(tm_device *d, char **err) {
  MtlConfig cfg = {0};
  return metal_open_with(d, &mtl_objc_api, &cfg, TM_VERSION, err);
}
#else
static const char *real_unavailable(void) {
  return "Metal is not available on this machine (the metal device needs macOS on Apple "
         "silicon)";
}
static tm_status real_open(tm_device *d, char **err) {
  return rt_error(TM_ERR_DEVICE, err, "%s", real_unavailable());
}
#endif

const DeviceOps rt_metal_ops = {
    .name = "metal",
    .unavailable = real_unavailable,
    .open = real_open,
    METAL_SHARED_OPS
};
