/*
 * cpu.c: the "cpu" device kind: runs the MSL on this machine's CPU.
 *
 * open: reads TRITON_METAL_CPU_THREADS (default: online CPUs) and the cache
 *   folder (TRITON_METAL_CACHE_DIR, else $XDG_CACHE_HOME/triton-metal, else
 *   ~/.cache/triton-metal; objects go to its cpu/ subfolder).
 * load: cpu_build.c turns the MSL into a loaded object (cached in memory and on
 *   disk by content hash).
 * launch: binds the arguments (the buffer table the shim's checks use: each
 *   argument's allocation, then the registered kernel-visible memory), then
 *   the pool runs every threadgroup (TRITON_METAL_CPU_SCHEDULE, read at every
 *   launch, picks the schedule: see cpu_exec.c). All per-launch state lives in a CpuJob on the
 *   launcher's stack; launches on one device run one at a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rt.h"

static const char *cpu_unavailable(void) { return NULL; }

static int thread_count(void) {
  const char *e = getenv("TRITON_METAL_CPU_THREADS");
  long n = e && *e ? strtol(e, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

/* base/rest, with base made absolute against the working folder now: a
 * relative TRITON_METAL_CACHE_DIR (`.cache`, as CI setups keep a cache
 * between runs) names one folder for the device's life, not a new one under
 * each folder the process changes to (Python's cache.root() resolves it the
 * same way, on first use). */
static char *under(const char *base, const char *rest) {
  if (base[0] == '/') return rt_strfmt("%s/%s", base, rest);
  char cwd[4096];
  return getcwd(cwd, sizeof cwd) ? rt_strfmt("%s/%s/%s", cwd, base, rest) : rt_strfmt("%s/%s", base, rest);
}

char *rt_cache_dir(const char *sub) {
  const char *e = getenv("TRITON_METAL_CACHE_DIR");
  if (e && *e) return under(e, sub);
  char *tail = rt_strfmt("triton-metal/%s", sub), *r = NULL;
  if (!tail) return NULL;
  if ((e = getenv("XDG_CACHE_HOME")) && *e) r = under(e, tail);
  else if ((e = getenv("HOME")) && *e) r = rt_strfmt("%s/.cache/%s", e, tail);
  else r = rt_strfmt("/tmp/triton-metal-%ld/%s", (long)getuid(), sub);
  free(tail);
  return r;
}

void cpu_dev_free(CpuDev *c) {
  if (!c) return;
  cpu_fork_guard(c, 0);
  pool_destroy(&c->pool);
  cpu_objs_free(c);
  pthread_mutex_destroy(&c->mu);
  pthread_mutex_destroy(&c->launch_mu);
  if (c->cache_is_temp && c->cache_dir) cpu_temp_dir_remove(c->cache_dir);
  if (c->obj_dir) cpu_temp_dir_remove(c->obj_dir);
  free(c->obj_dir);
  free(c->cache_dir);
  free(c);
}

tm_status cpu_dev_new(CpuDev **out, char **err) {
  *out = NULL;
  CpuDev *c = calloc(1, sizeof *c);
  if (!c) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  pthread_mutex_init(&c->mu, NULL);
  pthread_mutex_init(&c->launch_mu, NULL);
  cpu_fork_guard(c, 1);
  c->nthreads = thread_count();
  c->cache_dir = rt_cache_dir("cpu");
  if (!c->cache_dir || pool_init(&c->pool, c->nthreads)) {
    cpu_dev_free(c);
    return rt_error(TM_ERR_NOMEM, err, "out of memory");
  }
  *out = c;
  return TM_OK;
}

static tm_status cpu_open(tm_device *d, char **err) {
  CpuDev *c;
  tm_status st = cpu_dev_new(&c, err);
  if (st) return st;
  d->description = rt_strfmt("cpu emulator (%d worker threads, cache %s)", c->nthreads,
                             c->cache_dir);
  if (!d->description) {
    cpu_dev_free(c);
    return rt_error(TM_ERR_NOMEM, err, "out of memory");
  }
  d->impl = c;
  return TM_OK;
}

static void cpu_close(tm_device *d) { cpu_dev_free(d->impl); }

static tm_status cpu_load(tm_module *m, const char *msl, char **err) {
  CpuObj *o;
  tm_status st = cpu_obj_get(m->dev->impl, msl, &m->info, &o, err);
  if (st == TM_OK) m->impl = o;
  return st;
}

static void cpu_unload(tm_module *m) { cpu_obj_put(m->dev->impl, m->impl); }

tm_status cpu_run(CpuDev *c, const tm_kernel_info *k, CpuObj *o, const uint32_t grid[3],
                  void *const *argv, const tm_cpu_buf *bufs, int nbufs, char **err) {
  uint64_t ntg = (uint64_t)grid[0] * grid[1];
  if (ntg > (UINT64_MAX >> 1) / grid[2])
    return rt_error(TM_ERR_INVALID, err, "kernel '%s': grid %ux%ux%u is too large", rt_kname(k),
                    grid[0], grid[1], grid[2]);
  ntg *= grid[2];
  CpuJob job = {.info = k, .obj = o, .args = argv, .bufs = bufs, .nbufs = nbufs, .ntg = ntg, .err_tg = UINT64_MAX};
  tm_status st = cpu_schedule_from_env(&job.interleave, &job.seed, err);
  if (!st) st = cpu_collectives_from_env(&job.simd_per_lane, err);
  if (st) return st;
  memcpy(job.grid, grid, sizeof job.grid);
  pthread_mutex_init(&job.mu, NULL);
  pthread_mutex_lock(&c->launch_mu);
  /* the tier bookkeeping (two clock reads and two locks, ~0.4 us here) only
   * while an -O0 object waits for its -O2 build */
  int tiering = atomic_load_explicit(&o->tiering, memory_order_acquire);
  if (tiering) cpu_obj_tier_swap(c, o); /* a finished -O2 build replaces the code, between launches */
  st = cpu_stop_begin(&job, err);
  if (st == TM_OK) {
    struct timespec t0, t1;
    if (tiering) clock_gettime(CLOCK_MONOTONIC, &t0);
    pool_run(&c->pool, &job);
    if (tiering) clock_gettime(CLOCK_MONOTONIC, &t1);
    cpu_stop_end(&job);
    if (tiering) cpu_obj_tier_note(c, o, (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
  }
  pthread_mutex_unlock(&c->launch_mu);
  pthread_mutex_destroy(&job.mu);
  if (st) return st;
  if (!job.err) return TM_OK;
  if (err) *err = job.err;
  else free(job.err);
  return atomic_load(&job.stopped) == STOP_INTERRUPT ? TM_ERR_INTERRUPTED : TM_ERR_RUNTIME;
}

static tm_status cpu_launch(tm_module *m, const uint32_t grid[3], const tm_launch_arg *args,
                            const tm_device_arg *dev, char **err) {
  (void)dev; /* always NULL: the cpu kind has no buffer_new */
  const tm_kernel_info *k = &m->info;
  int n = k->nargs, nvis;
  tm_visible *vis;
  if (rt_visible_snapshot(m->dev, &vis, &nvis)) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  void **argv = calloc((size_t)n + 1, sizeof *argv);
  tm_cpu_buf *bufs = calloc((size_t)n + (size_t)nvis + 1, sizeof *bufs);
  if (!argv || !bufs) {
    free(argv), free(bufs), free(vis);
    return rt_error(TM_ERR_NOMEM, err, "out of memory");
  }
  int nbufs = 0;
  for (int i = 0; i < n; i++) {
    argv[i] = args[i].data;
    if (k->args[i].role != TM_ARG_BUFFER) continue;
    bufs[nbufs++] = (tm_cpu_buf){.lo = (uintptr_t)args[i].data - args[i].before,
                                 .size = args[i].before + args[i].nbytes,
                                 .writable = k->args[i].writable && !args[i].readonly,
                                 .arg = i};
  }
  /* registered kernel-visible memory: reachable through pointers loaded from
   * memory (visible.c); arg -1 tells the error messages */
  for (int i = 0; i < nvis; i++)
    bufs[nbufs++] = (tm_cpu_buf){.lo = vis[i].lo, .size = vis[i].size,
                                 .writable = !vis[i].readonly, .arg = -1};
  free(vis);
  tm_status st = cpu_run(m->dev->impl, k, m->impl, grid, argv, bufs, nbufs, err);
  free(argv), free(bufs);
  return st;
}

static uint64_t cpu_ops_tier_mark(tm_device *d) { return cpu_tier_mark(d->impl); }
static tm_status cpu_ops_tier_settle(tm_device *d, uint64_t mark, char **err) {
  return cpu_tier_settle(d->impl, (unsigned long)mark, err);
}

const DeviceOps rt_cpu_ops = {
    .name = "cpu",
    .unavailable = cpu_unavailable,
    .open = cpu_open,
    .close = cpu_close,
    .load = cpu_load,
    .unload = cpu_unload,
    .launch = cpu_launch,
    .tier_mark = cpu_ops_tier_mark,
    .tier_settle = cpu_ops_tier_settle,
};
