/*
 * cpu_exec.c: how one worker runs threadgroups, and the hooks the shim calls.
 *
 * A kernel whose descriptor says uses_barriers == 0 runs its threads one after
 * another (tm_cpu_entry_range): no fibers. Otherwise every thread of the
 * threadgroup is a fiber on the worker's OS thread, switched only inside
 * threadgroup_barrier and SIMD-group collectives, so the run is deterministic.
 *
 * Barrier: a thread arrives and waits until every thread that has not returned
 * has arrived; the last arriver releases the generation and keeps running.
 * SIMD-group collective: each lane copies its value into a slot, the lanes of the
 * SIMD-group rendezvous the same way, then each lane reads all slots. Slots are
 * double-buffered by generation parity: a lane can be at most one collective
 * ahead of a lane still reading, so the two never share a buffer.
 *
 *   slots[parity][simdgroup][lane][TM_CPU_SLOT bytes]
 *
 * Errors are reported, never hung or crashed on: a lane that returns while
 * lanes of its SIMD-group wait in a collective (or a collective reached after a
 * lane returned) fails the launch and abandons the threadgroup (its fibers are
 * never resumed; kernels own no resources, so nothing leaks); threads waiting at
 * different kinds of rendezvous are reported as a deadlock. A bad device access
 * (the shim's TM_LD/TM_ST check) records the first violation and continues on a
 * per-worker scratch area.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

#define MAX_THREADS 1024
#define STACK_SIZE (64 * 1024)
#define SCRATCH 1024

enum { READY, WAIT_BAR, WAIT_SIMD, DONE };

typedef struct SimdGroup {
  unsigned size;    /* lanes (32, fewer in a last partial group) */
  unsigned arrived; /* lanes waiting in the current collective */
  unsigned gen;     /* bumped when a collective completes */
  unsigned done;    /* lanes that returned */
} SimdGroup;

struct Worker {
  tm_cpu_ctx ctx; /* first member: the shim's hooks get &ctx, i.e. the Worker */
  CpuJob *job;
  _Alignas(64) unsigned char scratch[SCRATCH];
  /* fiber mode */
  int fibers_on;
  int abort;
  Fiber sched; /* the worker's own stack */
  Fiber fibers[MAX_THREADS];
  unsigned char state[MAX_THREADS];
  unsigned wait_gen[MAX_THREADS];
  void *stacks;
  size_t nstacks, stack_size;
  unsigned alive, bar_arrived, bar_gen;
  SimdGroup sg[MAX_THREADS / 32];
  unsigned char slots[2][MAX_THREADS][TM_CPU_SLOT];
};

/* ------------------------------------------------------------ errors */

void job_fail(CpuJob *job, char *msg) {
  pthread_mutex_lock(&job->mu);
  if (!job->err) {
    job->err = msg ? msg : rt_strdup("launch failed (out of memory formatting the error)");
    msg = NULL;
  }
  atomic_store(&job->failed, 1);
  pthread_mutex_unlock(&job->mu);
  free(msg);
}

static void worker_fail(Worker *w, const char *what, ...) __attribute__((format(printf, 2, 3)));
static void worker_fail(Worker *w, const char *what, ...) {
  va_list ap;
  va_start(ap, what);
  char *m = rt_vstrfmt(what, ap);
  va_end(ap);
  const tm_cpu_ctx *c = &w->ctx;
  const tm_kernel_info *k = w->job->info;
  char *full = rt_strfmt("kernel '%s' (%s): %s; threadgroup (%u,%u,%u) thread %u", k->name,
                         k->source_file, m ? m : "?", c->pid[0], c->pid[1], c->pid[2], c->tid);
  free(m);
  job_fail(w->job, full);
}

/* Distance in bytes from the access [a, a+n) to buffer b; 0 when inside. */
static size_t miss(const tm_cpu_buf *b, uintptr_t a, size_t n, int *before) {
  *before = a < b->lo;
  if (*before) return b->lo - a;
  if (a - b->lo <= b->size && b->size - (a - b->lo) >= n) return 0;
  return a + n - (b->lo + b->size);
}

/* An address farther than this and than the nearest known memory's own size
 * from it is reported as belonging to none (a pointer loaded from memory that
 * points elsewhere) rather than as an overrun of the nearest argument. */
#define NEAR ((size_t)4096)

/* The message of a checked access that missed: relative to the nearest known
 * memory (an argument's allocation or registered kernel-visible memory). */
static char *oob_message(Worker *w, const void *p, size_t n, int line, int store) {
  const CpuJob *j = w->job;
  const tm_kernel_info *k = j->info;
  const tm_cpu_ctx *c = &w->ctx;
  int best = -1, best_before = 0;
  size_t best_miss = 0;
  for (int i = 0; i < j->nbufs; i++) {
    int before;
    size_t d = miss(&j->bufs[i], (uintptr_t)p, n, &before);
    if (best < 0 || d < best_miss) best = i, best_miss = d, best_before = before;
  }
  char where[160];
  snprintf(where, sizeof where, "; threadgroup (%u,%u,%u) thread %u", c->pid[0], c->pid[1],
           c->pid[2], c->tid);
  const char *kind = store ? "store" : "load";
  if (best < 0)
    return rt_strfmt("out-of-bounds %s in kernel '%s' at %s:%d: address %p is not in any "
                     "argument buffer (the launch binds none and no memory is registered as "
                     "kernel-visible)%s",
                     kind, k->name, k->source_file, line, p, where);
  const tm_cpu_buf *b = &j->bufs[best];
  char name[160], extent[128];
  size_t below = 0;
  uintptr_t data = b->lo;
  if (b->arg >= 0) {
    snprintf(name, sizeof name, "argument '%s'", k->args[b->arg].name);
    /* A strided view's memory extends below its data pointer (tm_launch_arg.before):
     * say where the access is relative to that pointer, which the kernel sees. */
    data = (uintptr_t)j->args[b->arg];
    below = data >= b->lo && data - b->lo <= b->size ? (size_t)(data - b->lo) : 0;
    if (!below) data = b->lo;
  } else {
    snprintf(name, sizeof name, "kernel-visible memory registered at %p", (void *)b->lo);
  }
  if (below)
    snprintf(extent, sizeof extent, "its allocation: %zu bytes before its data pointer and %zu from it",
             below, (size_t)b->size - below);
  else
    snprintf(extent, sizeof extent, "%zu bytes", (size_t)b->size);
  if (best_miss == 0 && !below)
    return rt_strfmt("store to read-only %s in kernel '%s' at %s:%d (byte offset %zu of %zu)%s",
                     name, k->name, k->source_file, line, (size_t)((uintptr_t)p - b->lo),
                     (size_t)b->size, where);
  if (best_miss == 0)
    return rt_strfmt("store to read-only %s in kernel '%s' at %s:%d (byte offset %td from its "
                     "data pointer; %s)%s",
                     name, k->name, k->source_file, line, (ptrdiff_t)((uintptr_t)p - data),
                     extent, where);
  if (best_miss > NEAR && best_miss > b->size)
    return rt_strfmt("out-of-bounds %s in kernel '%s' at %s:%d: address %p is in no argument's "
                     "allocation nor in memory registered as kernel-visible (memory reached "
                     "through pointers loaded from memory must be registered: "
                     "triton_metal.kernel_visible; the nearest, %s, is %zu bytes away)%s",
                     kind, k->name, k->source_file, line, p, name, best_miss, where);
  return rt_strfmt("out-of-bounds %s in kernel '%s' at %s:%d: address is %zu bytes %s %s (%s)%s",
                   kind, k->name, k->source_file, line, best_miss,
                   best_before ? (below ? "before the allocation of" : "before the start of")
                               : (below ? "past the allocation of" : "past the end of"),
                   name, extent, where);
}

static void *on_oob(tm_cpu_ctx *c, const void *p, size_t n, int line, int store) {
  Worker *w = (Worker *)c;
  if (!atomic_load_explicit(&w->job->failed, memory_order_relaxed))
    job_fail(w->job, oob_message(w, p, n, line, store));
  return w->scratch;
}

/* ------------------------------------------------------------ fiber scheduling */

static int ready(Worker *w, unsigned j) {
  switch (w->state[j]) {
  case READY: return 1;
  case WAIT_BAR:
    if (w->bar_gen == w->wait_gen[j]) return 0;
    break;
  case WAIT_SIMD:
    if (w->sg[j / 32].gen == w->wait_gen[j]) return 0;
    break;
  default: return 0;
  }
  w->state[j] = READY;
  return 1;
}

static void switch_to(Worker *w, unsigned from, unsigned to) {
  w->ctx.tid = to;
  fiber_switch(&w->fibers[from], &w->fibers[to]);
}

/* The running fiber t cannot go on: resume the next ready thread after t in
 * round-robin order, or the scheduler when none is ready. */
static void yield(Worker *w, unsigned t) {
  unsigned n = w->ctx.nthreads;
  for (unsigned k = 1; k < n; k++) {
    unsigned j = (t + k) % n;
    if (ready(w, j)) {
      switch_to(w, t, j);
      return;
    }
  }
  fiber_switch(&w->fibers[t], &w->sched);
}

static _Noreturn void abandon(Worker *w, unsigned t) {
  w->abort = 1;
  fiber_exit_to(&w->fibers[t], &w->sched);
  abort(); /* not reached: an aborted threadgroup is never resumed */
}

static void thread_done(Worker *w, unsigned t) {
  SimdGroup *g = &w->sg[t / 32];
  w->state[t] = DONE;
  w->alive--;
  g->done++;
  if (g->arrived > 0) {
    worker_fail(w, "lane %u of SIMD-group %u returned while %u other lane(s) wait in a "
                   "SIMD-group collective",
                t % 32, t / 32, g->arrived);
    abandon(w, t);
  }
  if (w->bar_arrived > 0 && w->bar_arrived == w->alive) {
    w->bar_arrived = 0;
    w->bar_gen++;
  }
}

static void fiber_main(void *arg) {
  Worker *w = arg;
  fiber_started();
  w->job->obj->entry(&w->ctx, w->job->args);
  unsigned t = w->ctx.tid;
  thread_done(w, t);
  unsigned n = w->ctx.nthreads;
  for (unsigned k = 1; k < n; k++) {
    unsigned j = (t + k) % n;
    if (ready(w, j)) {
      w->ctx.tid = j;
      fiber_exit_to(&w->fibers[t], &w->fibers[j]);
    }
  }
  fiber_exit_to(&w->fibers[t], &w->sched);
  abort(); /* not reached */
}

static void on_barrier(tm_cpu_ctx *c) {
  Worker *w = (Worker *)c;
  if (!w->fibers_on) {
    if (c->nthreads > 1)
      worker_fail(w, "threadgroup_barrier called but the kernel descriptor says "
                     "uses_barriers = 0");
    return;
  }
  unsigned t = c->tid;
  if (++w->bar_arrived == w->alive) {
    w->bar_arrived = 0;
    w->bar_gen++;
    return;
  }
  w->state[t] = WAIT_BAR;
  w->wait_gen[t] = w->bar_gen;
  yield(w, t);
}

static const void *on_simd(tm_cpu_ctx *c, const void *val, size_t n, unsigned *nlanes) {
  Worker *w = (Worker *)c;
  unsigned t = c->tid, s = t / 32, lane = t % 32;
  SimdGroup *g = &w->sg[s];
  unsigned char *base = w->slots[g->gen & 1][s * 32];
  memcpy(base + lane * TM_CPU_SLOT, val, n);
  if (!w->fibers_on) {
    *nlanes = 1; /* only this lane's slot is meaningful */
    if (c->nthreads > 1)
      worker_fail(w, "SIMD-group collective called but the kernel descriptor says "
                     "uses_barriers = 0");
    return base + lane * TM_CPU_SLOT;
  }
  *nlanes = g->size;
  if (g->done > 0) {
    worker_fail(w, "SIMD-group collective reached by lane %u of SIMD-group %u after %u lane(s) "
                   "of that SIMD-group returned",
                lane, s, g->done);
    abandon(w, t);
  }
  if (++g->arrived == g->size) {
    g->arrived = 0;
    g->gen++;
    return base;
  }
  w->state[t] = WAIT_SIMD;
  w->wait_gen[t] = g->gen;
  yield(w, t);
  return base;
}

/* Fiber stacks of at least `size` bytes for n threads (kept for later launches). */
static int ensure_stacks(Worker *w, unsigned n, size_t size) {
  if (w->nstacks >= n && w->stack_size >= size) return 1;
  if (w->stacks) fiber_stacks_free(w->stacks, w->nstacks, w->stack_size);
  w->nstacks = 0;
  w->stacks = fiber_stacks_alloc(n, size);
  if (!w->stacks) return 0;
  w->nstacks = n;
  w->stack_size = size;
  return 1;
}

/* A fiber's stack for a kernel: 64 KiB, or its private arrays plus room for frames. */
static size_t stack_for(const tm_kernel_info *k) {
  size_t need = (size_t)(k->private_bytes > 0 ? k->private_bytes : 0) + 48 * 1024;
  need = (need + 16383) & ~(size_t)16383;
  return need > STACK_SIZE ? need : STACK_SIZE;
}

static void run_fibers(Worker *w) {
  unsigned n = w->ctx.nthreads;
  size_t ss = stack_for(w->job->info);
  if (!ensure_stacks(w, n, ss)) {
    worker_fail(w, "out of memory for %u fiber stacks", n);
    return;
  }
  w->abort = 0;
  w->alive = n;
  w->bar_arrived = w->bar_gen = 0;
  for (unsigned s = 0; s * 32 < n; s++)
    w->sg[s] = (SimdGroup){.size = n - s * 32 < 32 ? n - s * 32 : 32};
  for (unsigned t = 0; t < n; t++) {
    w->state[t] = READY;
    fiber_init(&w->fibers[t], fiber_stack_at(w->stacks, t, w->stack_size), w->stack_size, fiber_main, w);
  }
  w->ctx.tid = 0;
  fiber_switch(&w->sched, &w->fibers[0]);
  if (w->abort || w->alive == 0) return;
  unsigned at_simd = 0;
  for (unsigned t = 0; t < n; t++) at_simd += w->state[t] == WAIT_SIMD;
  w->ctx.tid = 0;
  worker_fail(w, "deadlock: %u thread(s) wait at threadgroup_barrier while %u wait in "
                 "SIMD-group collectives",
              w->bar_arrived, at_simd);
}

/* ------------------------------------------------------------ jobs */

Worker *worker_new(void) {
  Worker *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->ctx.oob = on_oob;
  w->ctx.barrier = on_barrier;
  w->ctx.simd_exchange = on_simd;
  return w;
}

void worker_free(Worker *w) {
  if (!w) return;
  if (w->stacks) fiber_stacks_free(w->stacks, w->nstacks, w->stack_size);
  for (int i = 0; i < MAX_THREADS; i++) fiber_release(&w->fibers[i]);
  fiber_release(&w->sched);
  free(w);
}

static void bind(Worker *w, CpuJob *job) {
  w->job = job;
  w->ctx.bufs = job->bufs;
  w->ctx.nbufs = job->nbufs;
  w->ctx.nthreads = (unsigned)job->info->threads_per_threadgroup;
  for (int i = 0; i < 3; i++) w->ctx.npid[i] = job->grid[i];
  w->fibers_on = job->info->uses_barriers != 0;
  if (w->fibers_on && !w->sched.size) fiber_thread_stack(&w->sched);
}

void worker_run_job(Worker *w, CpuJob *job) {
  bind(w, job);
  for (;;) {
    if (atomic_load_explicit(&job->failed, memory_order_relaxed)) break;
    uint64_t i = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed);
    if (i >= job->ntg) break;
    w->ctx.pid[0] = (unsigned)(i % job->grid[0]);
    w->ctx.pid[1] = (unsigned)(i / job->grid[0] % job->grid[1]);
    w->ctx.pid[2] = (unsigned)(i / job->grid[0] / job->grid[1]);
    if (w->fibers_on) run_fibers(w);
    else job->obj->range(&w->ctx, job->args, 0, w->ctx.nthreads);
  }
  w->job = NULL;
}
