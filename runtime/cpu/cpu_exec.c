/*
 * cpu_exec.c: how one worker runs threadgroups, and the hooks the shim calls.
 *
 * Default schedule. A kernel whose descriptor says uses_barriers == 0 runs its
 * threads one after another (tm_cpu_entry_range): no fibers. Otherwise every
 * thread of the threadgroup is a fiber on the worker's OS thread, switched only
 * inside threadgroup_barrier and SIMD-group collectives (round robin), so the
 * run is deterministic. Workers take threadgroups one at a time.
 *
 * Interleaved schedule (TRITON_METAL_CPU_SCHEDULE=interleave[:SEED]): worker 0
 * alone runs a window of up to MAX_GROUPS threadgroups side by side, every
 * thread a fiber, and before every device memory access, atomics included (the
 * shim's access hook), a seeded random draw decides whether the thread goes on
 * or the scheduler resumes a random ready thread of any threadgroup in the
 * window (barriers and SIMD-group collectives hand over to it as well).
 * So a read-modify-write that is not atomic loses updates at once, within a
 * threadgroup and across threadgroups, and the same seed gives the same
 * interleaving. A finished threadgroup's place goes to the next one. Each
 * threadgroup has its own threadgroup memory, barrier and SIMD-group state:
 *
 *   fibers:  | group 0: threads 0..n-1 | group 1: threads 0..n-1 | ...
 *   groups:  pid, barrier, SIMD-groups, exchange slots, threadgroup memory
 *
 * The access hook sees every access (address, size, line, kind) of the running
 * thread, whose threadgroup and thread index are in the context: the race
 * checker ("checks" below) records threadgroup-memory accesses there, under
 * either schedule.
 *
 * Barrier: a thread arrives and waits until every thread of its threadgroup that
 * has not returned has arrived; the last arriver releases the generation and
 * keeps running. SIMD-group collective: each lane copies its value into a slot,
 * the lanes of the SIMD-group rendezvous the same way, then the lane that
 * completed the rendezvous, which runs on before any other lane resumes,
 * computes the collective for the SIMD-group and leaves the results in the
 * slots, which the other lanes read (TM_SIMD_LAST; with
 * TRITON_METAL_CPU_COLLECTIVES=per-lane each lane computes its own from all
 * slots instead, TM_SIMD_OWN: the same bits, more work). Slots are
 * double-buffered by generation parity: a lane can be at most one collective
 * ahead of a lane still reading, so the two never share a buffer.
 *
 *   slots[parity][simdgroup * 32 + lane][TM_CPU_SLOT bytes]   (per threadgroup)
 *
 * Errors are reported, never hung or crashed on: a lane that returns while
 * lanes of its SIMD-group wait in a collective (or a collective reached after a
 * lane returned) fails the launch and abandons the threadgroup (its fibers are
 * never resumed; kernels own no resources, so nothing leaks); threads waiting at
 * different kinds of rendezvous are reported as a deadlock. A bad device or
 * threadgroup memory access (the shim's checks) records the first violation and
 * continues on a per-worker scratch area.
 *
 * Stopping (cpu_stop.c): a kernel's loops call on_poll when a request to stop
 * is pending; if it is for this launch, a thread running as a fiber abandons
 * its threadgroup like a failed collective, and a thread of a kernel without
 * fibers (tm_cpu_entry_range, on the worker's own stack) long-jumps back to
 * worker_run_job (the C++ frames it leaves have no destructors: -fno-exceptions
 * and trivially destructible kernels).
 */
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define DOT_X86 1
#else
#define DOT_X86 0
#endif

#define MAX_THREADS 1024
#define MAX_GROUPS 8      /* threadgroups side by side in the interleaved schedule */
#define MAX_FIBERS 2048   /* ... and their threads in all */
#define STACK_SIZE (64 * 1024)
#define SCRATCH 1024

enum { READY, WAIT_BAR, WAIT_SIMD, DONE };

/* A barrier's or collective's call site in the kernel's MSL (tm_cpu_ctx.site_*). */
typedef struct Site {
  const char *what;
  int line, col;
  unsigned flags; /* TM_SYNC_TG */
  unsigned tid;   /* the first thread that came */
} Site;

/* One access as the race checker keeps it: the threadgroup's epoch (a count of
 * threadgroup-memory barriers, unique per worker; 0: none), the count of the
 * SIMD-group's fences, the Python line and the thread. */
typedef struct Access {
  uint32_t ep, sf;
  int32_t line;
  uint32_t tid;
} Access;

/* One byte of threadgroup memory: its last write and up to two threads that
 * read it since. */
typedef struct Shadow {
  Access w, r[2];
} Shadow;

typedef struct SimdGroup {
  unsigned size;    /* lanes (32, fewer in a last partial group) */
  unsigned arrived; /* lanes waiting in the current collective */
  unsigned gen;     /* bumped when a collective completes */
  unsigned done;    /* lanes that returned */
  Site at;          /* the current collective's site (arrived > 0) */
  uint32_t fence;   /* threadgroup-memory fences so far (simdgroup_barrier) */
} SimdGroup;

/* A simdgroup_matrix operation's record (tm_sgm_rep first: the shim's view),
 * and a SIMD-group's log of the records its lanes have yet to pass, oldest
 * first (see "matrices" below). */
typedef struct SgmEntry {
  tm_sgm_rep rep;
  unsigned left;              /* lanes yet to pass it */
  struct SgmEntry *next, *all; /* the worker's free list; every entry it made */
} SgmEntry;
typedef struct SgmLog {
  SgmEntry **q; /* ring of cap entries (a power of 2), the oldest at head */
  unsigned cap, head, len;
  uint64_t base; /* the sequence number of the oldest */
} SgmLog;

/* A tm_dot_fma call site's tile (see "dots" below). */
#define DOT_SITES 16
typedef struct DotSite {
  int line, col;
  unsigned done; /* the last pass whose tile was computed */
  size_t cap;
  float *tile;
} DotSite;

/* One threadgroup being run: thread t is fiber base + t. */
typedef struct Group {
  int live;
  unsigned pid[3];
  unsigned base;
  unsigned alive, bar_arrived, bar_gen;
  SimdGroup sg[MAX_THREADS / 32];
  unsigned char *slots; /* [2][nthreads][TM_CPU_SLOT] */
  unsigned char *tg;    /* threadgroup memory, tg_bytes */
  Site bar;             /* the current barrier's site (bar_arrived > 0) */
  uint32_t ep;          /* race checker: the current epoch */
  Shadow *shadow;       /* ... and its record of tg, one per byte */
} Group;

struct Worker {
  tm_cpu_ctx ctx; /* first member: the shim's hooks get &ctx, i.e. the Worker */
  CpuJob *job;
  _Alignas(64) unsigned char scratch[SCRATCH];
  unsigned n;       /* threads per threadgroup of the bound job */
  int fibers_on;
  int interleave;
  int abort;
  uint64_t rng;
  unsigned cur; /* the running fiber */
  jmp_buf escape; /* worker_run_job, for on_poll in a kernel without fibers */
  Fiber sched;  /* the worker's own stack */
  /* fibers: capacity cap; group g's threads are g * n .. g * n + n - 1 */
  Fiber *fibers;
  unsigned char *state;
  /* Thread j can run when *wait_on[j] != wait_gen[j]: it waits for the
   * generation counter of its barrier or SIMD-group to move on; a thread
   * not yet started points at zero_gen with wait_gen 1 (it can run), a
   * finished one at zero_gen with wait_gen 0 (never). One compare, no
   * branch on the kind of wait: the scheduler tests this per switch. */
  const unsigned **wait_on;
  unsigned *wait_gen;
  unsigned zero_gen;
  unsigned cap;
  void *stacks;
  size_t nstacks, stack_size;
  Group groups[MAX_GROUPS];
  unsigned ngroups;
  /* the groups' slots and threadgroup memory, grown as jobs need */
  unsigned char *slot_mem, *tg_mem;
  size_t slot_cap, tg_cap, tg_bytes;
  /* the race checker (the object was built for it) */
  int racecheck;
  /* TM_SIMD_LAST: the lane that completes a collective computes it for the
   * SIMD-group; TM_SIMD_OWN: every lane computes its own
   * (TRITON_METAL_CPU_COLLECTIVES=per-lane, read at every launch) */
  unsigned simd_mode;
  uint32_t epoch; /* the last epoch handed out */
  Shadow *shadow; /* the groups' records */
  size_t shadow_cap;
  /* simdgroup_matrix operations without a rendezvous (default schedule):
   * each SIMD-group's log, each thread's count of operations, the records */
  SgmLog sgm[MAX_THREADS / 32];
  uint64_t sgm_seq[MAX_THREADS];
  SgmEntry *sgm_free, *sgm_all;
  int sgm_used; /* a lane took a record since the last reset */
  /* portable dots as one tile (default schedule, "dots"): per call site its
   * tile, the last pass computed, and each thread's count of passes */
  DotSite dot[DOT_SITES];
  unsigned ndot;
  unsigned dot_n; /* the most threads of a threadgroup that took a pass since the last reset (0: none) */
  int dot_avx2;  /* the CPU has AVX2 and FMA (dot_gemm's vector path) */
  unsigned dot_pass[DOT_SITES][MAX_THREADS];
};

/* Fiber f's threadgroup (one division, and only in the interleaved schedule:
 * the default one has a single group). */
static Group *group_of(Worker *w, unsigned f) { return w->interleave ? &w->groups[f / w->n] : w->groups; }

/* Makes fiber f the running thread as far as the shim can tell. */
static void run_as(Worker *w, unsigned f) {
  Group *g = group_of(w, f);
  w->cur = f;
  w->ctx.tid = f - g->base;
  if (w->interleave) {
    memcpy(w->ctx.pid, g->pid, sizeof g->pid);
    w->ctx.tg_mem = g->tg;
  }
}

/* ------------------------------------------------------------ errors */

/* The error of threadgroup tg (linear). The launch reports one error, and
 * the same one whatever the workers' timing: the first of the lowest
 * threadgroup that failed. Once a launch has failed no new threadgroup
 * starts, but those already running (every one below the failed one was
 * claimed before it) run to their end and may still report, replacing an
 * error of a higher threadgroup; within a threadgroup the threads run in one
 * order, so its first error is always the same. */
void job_fail(CpuJob *job, uint64_t tg, char *msg) {
  pthread_mutex_lock(&job->mu);
  if (!job->err || tg < atomic_load_explicit(&job->err_tg, memory_order_relaxed)) {
    free(job->err);
    job->err = msg ? msg : rt_strdup("launch failed (out of memory formatting the error)");
    atomic_store_explicit(&job->err_tg, tg, memory_order_relaxed);
    msg = NULL;
  }
  atomic_store(&job->failed, 1);
  pthread_mutex_unlock(&job->mu);
  free(msg);
}

/* The running thread's threadgroup, linear (x fastest), as job_fail takes it. */
static uint64_t tg_linear(const Worker *w) {
  const uint32_t *g = w->job->grid;
  const unsigned *p = w->ctx.pid;
  return p[0] + (uint64_t)g[0] * (p[1] + (uint64_t)g[1] * p[2]);
}

/* Whether an error of the running thread can no longer be the launch's: one
 * of a threadgroup no higher than its own is already kept. */
static inline bool error_kept(const Worker *w) {
  return atomic_load_explicit(&w->job->failed, memory_order_relaxed) &&
         atomic_load_explicit(&w->job->err_tg, memory_order_relaxed) <= tg_linear(w);
}

static char *where(Worker *w) {
  const tm_cpu_ctx *c = &w->ctx;
  return rt_strfmt("; threadgroup (%u,%u,%u) thread %u", c->pid[0], c->pid[1], c->pid[2], c->tid);
}

static void worker_fail(Worker *w, const char *what, ...) __attribute__((format(printf, 2, 3)));
static void worker_fail(Worker *w, const char *what, ...) {
  va_list ap;
  va_start(ap, what);
  char *m = rt_vstrfmt(what, ap);
  va_end(ap);
  const tm_kernel_info *k = w->job->info;
  char *at = where(w);
  char *full = rt_strfmt("kernel '%s' (%s): %s%s", rt_kname(k), k->source_file, m ? m : "?", at ? at : "");
  free(m);
  free(at);
  job_fail(w->job, tg_linear(w), full);
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
  int from = (store >> TM_FROM_ARG_SHIFT) - 1; /* the argument the pointer came from, or -1 */
  store &= (1 << TM_FROM_ARG_SHIFT) - 1;
  int best = -1, best_before = 0, other = -1;
  size_t best_miss = 0;
  for (int i = 0; i < j->nbufs; i++) {
    int before;
    size_t d = miss(&j->bufs[i], (uintptr_t)p, n, &before);
    if (from >= 0 && j->bufs[i].arg != from) {
      if (d == 0) other = i; /* where the access landed instead */
      continue;
    }
    if (best < 0 || d < best_miss) best = i, best_miss = d, best_before = before;
  }
  char lands[200] = "";
  if (other >= 0 && j->bufs[other].arg >= 0)
    snprintf(lands, sizeof lands, "; the address lies in argument '%s'", k->args[j->bufs[other].arg].name);
  else if (other >= 0)
    snprintf(lands, sizeof lands, "; the address lies in kernel-visible memory registered at %p",
             (void *)j->bufs[other].lo);
  char *at = where(w);
  const char *wh = at ? at : "";
  const char *kind = store & 1 ? "store" : "load";
  char *m;
  if (store & TM_BAD_ALIGN) {
    const tm_cpu_buf *b = best >= 0 && best_miss == 0 ? &j->bufs[best] : NULL;
    char *in = !b ? NULL
               : b->arg >= 0 ? rt_strfmt(" (byte offset %zu of argument '%s')", (size_t)((uintptr_t)p - b->lo),
                                         k->args[b->arg].name)
                             : rt_strfmt(" (byte offset %zu of kernel-visible memory registered at %p)",
                                         (size_t)((uintptr_t)p - b->lo), (void *)b->lo);
    m = rt_strfmt("misaligned %s in kernel '%s' at %s:%d: a %zu-byte access at address %p%s, "
                  "which is not a multiple of %zu%s",
                  kind, rt_kname(k), k->source_file, line, n, p, in ? in : "", n, wh);
    free(in);
    free(at);
    return m;
  }
  if (best < 0) {
    m = rt_strfmt("out-of-bounds %s in kernel '%s' at %s:%d: address %p is not in any "
                  "argument buffer (the launch binds none and no memory is registered as "
                  "kernel-visible)%s",
                  kind, rt_kname(k), k->source_file, line, p, wh);
    free(at);
    return m;
  }
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
    m = rt_strfmt("store to read-only %s in kernel '%s' at %s:%d (byte offset %zu of %zu)%s",
                  name, rt_kname(k), k->source_file, line, (size_t)((uintptr_t)p - b->lo),
                  (size_t)b->size, wh);
  else if (best_miss == 0)
    m = rt_strfmt("store to read-only %s in kernel '%s' at %s:%d (byte offset %td from its "
                  "data pointer; %s)%s",
                  name, rt_kname(k), k->source_file, line, (ptrdiff_t)((uintptr_t)p - data),
                  extent, wh);
  else if (best_miss > NEAR && best_miss > b->size && from < 0)
    m = rt_strfmt("out-of-bounds %s in kernel '%s' at %s:%d: address %p is in no argument's "
                  "allocation nor in memory registered as kernel-visible (memory reached "
                  "through pointers loaded from memory must be registered: "
                  "triton_metal.kernel_visible; the nearest, %s, is %zu bytes away)%s",
                  kind, rt_kname(k), k->source_file, line, p, name, best_miss, wh);
  else
    m = rt_strfmt("out-of-bounds %s in kernel '%s' at %s:%d: address is %zu bytes %s %s (%s)%s%s",
                  kind, rt_kname(k), k->source_file, line, best_miss,
                  best_before ? (below ? "before the allocation of" : "before the start of")
                              : (below ? "past the allocation of" : "past the end of"),
                  name, extent, lands, wh);
  free(at);
  return m;
}

static void *on_oob(tm_cpu_ctx *c, const void *p, size_t n, int line, int store) {
  Worker *w = (Worker *)c;
  if (!error_kept(w)) job_fail(w->job, tg_linear(w), oob_message(w, p, n, line, store));
  return w->scratch;
}

/* A threadgroup array indexed outside [0, extent), or (line < 0) declared past
 * the kernel's threadgroup memory. */
static void *on_tg_oob(tm_cpu_ctx *c, const char *array, long index, size_t extent, size_t size,
                       int line) {
  Worker *w = (Worker *)c;
  const tm_kernel_info *k = w->job->info;
  (void)size; /* an element: at most 8 bytes, well inside the scratch area */
  if (error_kept(w)) return w->scratch;
  char *at = where(w);
  char *m = line < 0 ? rt_strfmt("kernel '%s' (%s): threadgroup array %s (%zu elements) lies "
                                 "outside the kernel's %zu bytes of threadgroup memory%s",
                                 rt_kname(k), k->source_file, array, extent, (size_t)w->ctx.tg_size,
                                 at ? at : "")
                     : rt_strfmt("out-of-bounds threadgroup memory access in kernel '%s' at "
                                 "%s:%d: index %ld of threadgroup array %s (%zu elements)%s",
                                 rt_kname(k), k->source_file, line, index, array, extent,
                                 at ? at : "");
  free(at);
  job_fail(w->job, tg_linear(w), m);
  return w->scratch;
}

/* ------------------------------------------------------------ checks: call sites, races
 *
 * Call sites. The shim names every barrier and SIMD-group collective (its
 * function, line and column in the kernel's MSL) in tm_cpu_ctx.site_*. The
 * first thread to reach a rendezvous records its site; a thread that joins it
 * from another site fails the launch: the threads of a threadgroup (lanes of a
 * SIMD-group) are in divergent control flow, where Metal leaves a barrier
 * undefined and a collective reads undefined values from the inactive lanes.
 * Within a site, a divergent loop (lanes in different iterations) shows as a
 * lane that returns while others wait, or as a later mismatch.
 *
 * Race checker (objects built with TRITON_METAL_RACECHECK=1: every
 * threadgroup-memory access calls on_access with TM_ACCESS_TG_LOAD or _STORE).
 * Each threadgroup has a record of its memory, one Shadow per byte: the last
 * write and up to two readers since, each with
 *   ep    the threadgroup's epoch: a fresh number from the worker's counter
 *         when the threadgroup starts and whenever a threadgroup_barrier with
 *         mem_flags::mem_threadgroup completes (so a record from an earlier
 *         epoch, or an earlier threadgroup, never compares equal), and
 *   sf    the count of simdgroup_barrier(mem_flags::mem_threadgroup) of the
 *         thread's SIMD-group: a fence among its lanes.
 * Two accesses of one byte race when they are of different threads in the
 * same epoch, at least one writes, and they are not lanes of one SIMD-group
 * with a SIMD-group fence between. The first race fails the launch, naming
 * both threads and both lines. What orders threadgroup memory follows the MSL
 * spec: barriers order it only with mem_threadgroup (§6.9.1, Table 6.13: with
 * mem_none a barrier is for execution only); simd_* collectives, shuffles and
 * simdgroup_matrix operations are no fence (the spec gives them none), so a
 * lane that reads what another lane of its SIMD-group wrote needs a barrier.
 * Limits: device memory is not recorded (lost updates there are the
 * interleaved schedule's to show); a byte keeps two readers, so a third
 * reader's race with a later write can go unseen when the two kept ones are
 * ordered before it by a SIMD-group fence; plain `threadgroup` arrays of
 * hand-written MSL are not threadgroup memory the runtime knows. */

static Site site_here(const tm_cpu_ctx *c) {
  return (Site){c->site_what ? c->site_what : "?", c->site_line, c->site_col, c->site_flags, c->tid};
}

static int same_site(const Site *a, const tm_cpu_ctx *c) { return a->line == c->site_line && a->col == c->site_col; }

/* "simd_sum at line 12:5 of the kernel's MSL" (static storage, two at a time). */
/* "line L, column C", or "line L" where the column is unknown (0: a g++
 * build has no __builtin_COLUMN); two at a time per thread. */
static const char *pos_text(int line, int col) {
  static _Thread_local char buf[2][48];
  static _Thread_local int i;
  char *b = buf[i++ & 1];
  if (col > 0) snprintf(b, sizeof buf[0], "line %d, column %d", line, col);
  else snprintf(b, sizeof buf[0], "line %d", line);
  return b;
}

static const char *site_text(const Site *s) {
  static _Thread_local char buf[2][96];
  static _Thread_local int i;
  char *b = buf[i++ & 1];
  if (s->col > 0) snprintf(b, sizeof buf[0], "%s at line %d:%d of the kernel's MSL", s->what, s->line, s->col);
  else snprintf(b, sizeof buf[0], "%s at line %d of the kernel's MSL", s->what, s->line);
  return b;
}

/* The site the running thread names, as text. Not inlined: the callers go on
 * to abandon their fiber, whose frame must then hold no addressable local
 * (AddressSanitizer would keep its poison on the reused stack). */
static __attribute__((noinline)) const char *here_text(const tm_cpu_ctx *c) {
  Site s = site_here(c);
  return site_text(&s);
}

/* A fresh epoch. When the counter wraps, every record is forgotten (a race
 * may go unseen then; none is invented). */
static uint32_t race_epoch(Worker *w) {
  if (++w->epoch == 0) {
    memset(w->shadow, 0, w->shadow_cap * sizeof *w->shadow);
    w->epoch = 1;
  }
  return w->epoch;
}

/* Whether the recorded access a races with me (at least one of them writes). */
static int races(const Access *a, const Access *me) {
  return a->ep == me->ep && a->tid != me->tid && !(a->tid / 32 == me->tid / 32 && a->sf < me->sf);
}

static void race_report(Worker *w, size_t byte, const Access *other, int other_wrote, const Access *me, int write) {
  const tm_kernel_info *k = w->job->info;
  const tm_cpu_ctx *c = &w->ctx;
  char what[160];
  if (c->tg_array)
    snprintf(what, sizeof what, "%s[%ld] (byte %zu of threadgroup memory)", c->tg_array, c->tg_index, byte);
  else
    snprintf(what, sizeof what, "byte %zu of threadgroup memory", byte);
  worker_fail(w, "data race on threadgroup memory: thread %u %s %s at %s:%d, which thread %u %s at %s:%d, "
                 "with no threadgroup_barrier(mem_flags::mem_threadgroup) between the two",
              me->tid, write ? "writes" : "reads", what, k->source_file, me->line, other->tid,
              other_wrote ? "wrote" : "read", k->source_file, other->line);
}

/* Records an access of the running thread: [p, p+n), line, a write or not. */
static void race_record(Worker *w, const void *p, size_t n, int line, int write) {
  if (error_kept(w)) return;
  Group *g = group_of(w, w->cur);
  uintptr_t a = (uintptr_t)p, lo = (uintptr_t)g->tg;
  if (a < lo || a - lo >= w->tg_bytes) return; /* scratch memory after a bad index (reported) */
  size_t off = a - lo;
  if (n > w->tg_bytes - off) n = w->tg_bytes - off;
  unsigned t = w->ctx.tid;
  Access me = {.ep = g->ep, .sf = g->sg[t / 32].fence, .line = line, .tid = t};
  for (size_t i = 0; i < n; i++) {
    Shadow *s = &g->shadow[off + i];
    const Access *other = races(&s->w, &me) ? &s->w : NULL;
    if (!other && write) other = races(&s->r[0], &me) ? &s->r[0] : races(&s->r[1], &me) ? &s->r[1] : NULL;
    if (other) {
      race_report(w, off + i, other, other == &s->w, &me, write);
      return;
    }
    if (write) {
      s->w = me;
      s->r[0].ep = s->r[1].ep = 0;
    } else if (s->r[0].ep != me.ep || s->r[0].tid == t) {
      s->r[0] = me;
    } else if (s->r[1].ep != me.ep || s->r[1].tid == t) {
      s->r[1] = me;
    }
  }
}

/* The records of `groups` threadgroups of tg bytes each (contents not kept:
 * cleared, and the epochs start over); 0 when out of memory. */
static int race_bind(Worker *w, unsigned groups, size_t tg) {
  size_t n = groups * tg;
  if (w->shadow_cap < n) {
    free(w->shadow);
    w->shadow_cap = 0;
    if (!(w->shadow = calloc(n, sizeof *w->shadow))) return 0;
    w->shadow_cap = n;
    w->epoch = 0;
  }
  for (unsigned gi = 0; gi < groups; gi++) w->groups[gi].shadow = w->shadow + gi * tg;
  return 1;
}

/* ------------------------------------------------------------ fiber scheduling */

static inline __attribute__((always_inline)) int ready(Worker *w, unsigned j) {
  if (*w->wait_on[j] == w->wait_gen[j]) return 0;
  w->state[j] = READY;
  return 1;
}

/* Thread f (not) started, or waiting for *gen to move on from its value. */
static inline void wait_for(Worker *w, unsigned f, unsigned state, const unsigned *gen) {
  w->state[f] = (unsigned char)state;
  w->wait_on[f] = gen;
  w->wait_gen[f] = *gen;
}
static inline void set_ready(Worker *w, unsigned f) {
  w->state[f] = READY;
  w->wait_on[f] = &w->zero_gen;
  w->wait_gen[f] = 1;
}

/* The next ready thread of f's threadgroup after f in round-robin order, or
 * -1 (default schedule). */
static inline long next_ready(Worker *w, unsigned f) {
  unsigned n = w->n, base = group_of(w, f)->base, t = f - base;
  for (unsigned j = t + 1; j < n; j++)
    if (ready(w, base + j)) return base + j;
  for (unsigned j = 0; j < t; j++)
    if (ready(w, base + j)) return base + j;
  return -1;
}

/* The running fiber f cannot go on: under the interleaved schedule the
 * scheduler picks who runs next; otherwise the next ready thread of the
 * threadgroup, or the scheduler when none is ready. */
static inline __attribute__((always_inline)) void block(Worker *w, unsigned f) {
  long j = w->interleave ? -1 : next_ready(w, f);
  if (j < 0) {
    fiber_switch_inline(&w->fibers[f], &w->sched);
    return;
  }
  run_as(w, (unsigned)j);
  fiber_switch_inline(&w->fibers[f], &w->fibers[j]);
}

/* Every live thread of g is at the barrier: it opens. */
static void bar_release(Worker *w, Group *g) {
  g->bar_arrived = 0;
  g->bar_gen++;
  if (w->racecheck && (g->bar.flags & TM_SYNC_TG)) g->ep = race_epoch(w);
}

static _Noreturn void abandon(Worker *w, unsigned f) {
  w->abort = 1;
  fiber_exit_to(&w->fibers[f], &w->sched);
  abort(); /* not reached: an aborted threadgroup is never resumed */
}

static const char *sgm_what(const tm_sgm_rep *r);

static void thread_done(Worker *w, unsigned f) {
  Group *g = group_of(w, f);
  unsigned t = f - g->base;
  SimdGroup *s = &g->sg[t / 32];
  wait_for(w, f, DONE, &w->zero_gen);
  g->alive--;
  s->done++;
  if (s->arrived > 0) {
    worker_fail(w, "lane %u of SIMD-group %u returned while %u other lane(s) wait in a "
                   "SIMD-group collective (%s)",
                t % 32, t / 32, s->arrived, site_text(&s->at));
    abandon(w, f);
  }
  SgmLog *L = &w->sgm[t / 32];
  if (!w->interleave && w->sgm_seq[t] != L->base + L->len) {
    const tm_sgm_rep *last = &L->q[(L->head + L->len - 1) & (L->cap - 1)]->rep;
    worker_fail(w, "lane %u of SIMD-group %u returned while other lanes of its SIMD-group went on to "
                   "simdgroup_matrix operations it never reached (%s, line %d)",
                t % 32, t / 32, sgm_what(last), last->line);
    abandon(w, f);
  }
  if (g->bar_arrived > 0 && g->bar_arrived == g->alive) bar_release(w, g);
}

static void fiber_main(void *arg) {
  Worker *w = arg;
  fiber_started();
  w->job->obj->entry(&w->ctx, w->job->args);
  unsigned f = w->cur;
  thread_done(w, f);
  long j = w->interleave ? -1 : next_ready(w, f);
  if (j >= 0) {
    run_as(w, (unsigned)j);
    fiber_exit_to(&w->fibers[f], &w->fibers[j]);
  }
  fiber_exit_to(&w->fibers[f], &w->sched);
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
  unsigned f = w->cur;
  Group *g = group_of(w, f);
  if (g->bar_arrived == 0) {
    g->bar = site_here(c);
  } else if (!same_site(&g->bar, c)) {
    worker_fail(w, "threadgroup_barrier in divergent control flow: thread %u is at %s while thread %u "
                   "waits at %s (every thread of a threadgroup must reach the same barrier)",
                c->tid, here_text(c), g->bar.tid, site_text(&g->bar));
    abandon(w, f);
  }
  if (++g->bar_arrived == g->alive) {
    bar_release(w, g);
    return;
  }
  wait_for(w, f, WAIT_BAR, &g->bar_gen);
  block(w, f);
}

/* Copies a lane's value into its slot: sizes the shim uses inline (a call to
 * memcpy per lane per collective showed in profiles). */
static inline void slot_put(unsigned char *dst, const void *val, size_t n) {
  switch (n) {
  case 1: memcpy(dst, val, 1); break;
  case 2: memcpy(dst, val, 2); break;
  case 4: memcpy(dst, val, 4); break;
  case 8: memcpy(dst, val, 8); break;
  case 16: memcpy(dst, val, 16); break;
  case 32: memcpy(dst, val, 32); break;
  default: memcpy(dst, val, n); break;
  }
}

static const void *on_simd(tm_cpu_ctx *c, const void *val, size_t n, unsigned *nlanes) {
  Worker *w = (Worker *)c;
  unsigned f = w->cur, t = c->tid, s = t / 32, lane = t % 32;
  Group *g = group_of(w, f);
  SimdGroup *sg = &g->sg[s];
  unsigned char *base = g->slots + ((size_t)(sg->gen & 1) * w->n + s * 32) * TM_CPU_SLOT;
  slot_put(base + lane * TM_CPU_SLOT, val, n);
  if (__builtin_expect(!w->fibers_on, 0)) {
    *nlanes = 1 | w->simd_mode; /* only this lane's slot is meaningful */
    if (c->nthreads > 1)
      worker_fail(w, "SIMD-group collective called but the kernel descriptor says "
                     "uses_barriers = 0");
    return base + lane * TM_CPU_SLOT;
  }
  if (__builtin_expect(sg->done > 0, 0)) {
    worker_fail(w, "SIMD-group collective (%s) reached by lane %u of SIMD-group %u after %u lane(s) "
                   "of that SIMD-group returned",
                here_text(c), lane, s, sg->done);
    abandon(w, f);
  }
  if (sg->arrived == 0) {
    sg->at = site_here(c);
  } else if (__builtin_expect(!same_site(&sg->at, c), 0)) {
    worker_fail(w, "SIMD-group collective in divergent control flow: lane %u of SIMD-group %u is at %s "
                   "while lane %u waits at %s (every lane of a SIMD-group must reach the same "
                   "collective: Metal leaves the values of inactive lanes undefined)",
                lane, s, here_text(c), sg->at.tid % 32, site_text(&sg->at));
    abandon(w, f);
  }
  if (++sg->arrived == sg->size) {
    /* The last lane: it goes on at once, and the others resume only after it
     * next waits (or returns), so it may leave a result for the whole
     * SIMD-group in the slots (TM_SIMD_LAST). */
    sg->arrived = 0;
    sg->gen++;
    if (sg->at.flags & TM_SYNC_TG) sg->fence++;
    *nlanes = sg->size | w->simd_mode;
    return base;
  }
  *nlanes = sg->size | (w->simd_mode & TM_SIMD_OWN);
  wait_for(w, f, WAIT_SIMD, &sg->gen);
  block(w, f);
  return base;
}

/* ------------------------------------------------------------ matrices
 *
 * simdgroup_matrix loads, stores and multiplies of whole SIMD-groups run
 * without a rendezvous on the default schedule: the lane that reaches an
 * operation first makes its record (a load reads the whole 8x8 matrix into
 * it, checking every element), and each lane after it compares its own
 * operation with the record (the same kind, arguments and site, or the launch
 * fails) and takes what it needs from it (a load: the matrix, to which its
 * simdgroup_matrix then refers). A multiply whose operands both refer to such
 * records computes each lane's two results from them, so a dot's K loop runs
 * each lane through its tiles without a switch. The records are a per
 * SIMD-group FIFO: lanes pass them in order, so the oldest is the one the
 * slowest lane passes last, and a record lives on while a matrix refers to it
 * (refs). Elsewhere (a partial SIMD-group, the per-lane collectives, the
 * interleaved schedule, whose window of threadgroups these logs do not
 * cover) every operation is a rendezvous as before. */

static const char *sgm_what(const tm_sgm_rep *r) {
  switch (r->op & 15u) {
  case 1: return "simdgroup_load";
  case 2: return "simdgroup_store";
  default: return "simdgroup_multiply";
  }
}

/* Before a threadgroup: every record free, every log and count empty. Only
 * after a threadgroup that used them (this runs before every threadgroup of
 * every kernel: the walk over the records is not paid by those without). */
static void sgm_reset(Worker *w) {
  if (!w->sgm_used) return;
  w->sgm_used = 0;
  w->sgm_free = NULL;
  for (SgmEntry *e = w->sgm_all; e; e = e->all) e->next = w->sgm_free, w->sgm_free = e;
  /* all of them, not this job's: a later job with more threads reads its own */
  for (unsigned s = 0; s < MAX_THREADS / 32; s++) w->sgm[s].head = w->sgm[s].len = 0, w->sgm[s].base = 0;
  memset(w->sgm_seq, 0, sizeof w->sgm_seq);
}

static void on_sgm_free(tm_cpu_ctx *c, tm_sgm_rep *r) {
  Worker *w = (Worker *)c;
  SgmEntry *e = (SgmEntry *)r;
  e->next = w->sgm_free;
  w->sgm_free = e;
}

static tm_sgm_rep *on_sgm_step(tm_cpu_ctx *c, int *first) {
  Worker *w = (Worker *)c;
  if (!w->fibers_on || w->interleave || w->simd_mode != TM_SIMD_LAST) return NULL;
  unsigned f = w->cur, t = c->tid, s = t / 32;
  SimdGroup *sg = &group_of(w, f)->sg[s];
  if (sg->size != 32) return NULL;
  SgmLog *L = &w->sgm[s];
  uint64_t q = w->sgm_seq[t]++;
  w->sgm_used = 1;
  if (q == L->base + L->len) { /* this lane is the first */
    if (__builtin_expect(sg->done > 0, 0)) {
      worker_fail(w, "simdgroup_matrix operation (line %d) reached by lane %u of SIMD-group %u after %u lane(s) "
                     "of that SIMD-group returned",
                  c->site_line, t % 32, s, sg->done);
      abandon(w, f);
    }
    if (L->len == L->cap) {
      unsigned cap = L->cap ? 2 * L->cap : 64;
      SgmEntry **nq = malloc(cap * sizeof *nq);
      if (!nq) {
        worker_fail(w, "out of memory for simdgroup_matrix records");
        abandon(w, f);
      }
      for (unsigned i = 0; i < L->len; i++) nq[i] = L->q[(L->head + i) & (L->cap - 1)];
      free(L->q);
      L->q = nq, L->cap = cap, L->head = 0;
    }
    SgmEntry *e = w->sgm_free;
    if (e) w->sgm_free = e->next;
    else {
      if (!(e = malloc(sizeof *e))) {
        worker_fail(w, "out of memory for simdgroup_matrix records");
        abandon(w, f);
      }
      e->all = w->sgm_all, w->sgm_all = e;
    }
    e->left = 31;
    e->rep.refs = 2; /* the log's, until every lane passed it, and the caller's */
    L->q[(L->head + L->len++) & (L->cap - 1)] = e;
    *first = 1;
    return &e->rep;
  }
  SgmEntry *e = L->q[(L->head + (unsigned)(q - L->base)) & (L->cap - 1)];
  *first = 0;
  e->rep.refs++;
  if (--e->left == 0) { /* the last lane to pass it: it is the oldest */
    L->head = (L->head + 1) & (L->cap - 1), L->len--, L->base++;
    e->rep.refs--;
  }
  return &e->rep;
}

/* ------------------------------------------------------------ dots
 * The shim's tm_dot_fma computes a portable dot's chunk for the whole
 * threadgroup in the first thread past the staging barrier; the tile lives
 * here, one per call site. A pass is a thread's next call at a site: the
 * barriers around the call keep every thread of the threadgroup in the same
 * pass until all have read the tile, so the thread whose pass is past the
 * site's last computed one is the first of it. The counts start again with
 * each threadgroup. */
static void dot_reset(Worker *w) {
  if (!w->dot_n) return;
  for (unsigned s = 0; s < w->ndot; s++) {
    w->dot[s].done = 0;
    /* every count taken since the last reset, a larger threadgroup's too:
     * a job of fewer threads in between must not leave them for a later one */
    memset(w->dot_pass[s], 0, w->dot_n * sizeof w->dot_pass[s][0]);
  }
  w->dot_n = 0;
}

static void *on_dot_tile(tm_cpu_ctx *c, int line, int col, unsigned long bytes, int *first) {
  Worker *w = (Worker *)c;
  *first = 0;
  if (!w->fibers_on || w->interleave || w->simd_mode != TM_SIMD_LAST) return NULL;
  unsigned s = 0;
  while (s < w->ndot && (w->dot[s].line != line || w->dot[s].col != col)) s++;
  if (s == w->ndot) {
    if (s == DOT_SITES) return NULL; /* before any thread of this pass took it: all run their loops */
    w->dot[s] = (DotSite){.line = line, .col = col};
    memset(w->dot_pass[s], 0, sizeof w->dot_pass[s]);
    w->ndot++;
  }
  DotSite *d = &w->dot[s];
  unsigned p = ++w->dot_pass[s][c->tid];
  if (w->dot_n < w->n) w->dot_n = w->n;
  if (d->done < p) {
    if (d->cap < bytes) {
      free(d->tile);
      d->cap = 0;
      if (!(d->tile = aligned_alloc(64, (bytes + 63) & ~(size_t)63))) {
        worker_fail(w, "out of memory for a dot's tile (%lu bytes)", bytes);
        abandon(w, w->cur);
      }
      d->cap = bytes;
    }
    d->done = p;
    *first = 1;
  } else if (__builtin_expect(d->done != p || d->cap < bytes, 0)) {
    worker_fail(w, "tm_dot_fma (%s): thread %u is at pass %u of the call where the threadgroup's "
                   "is %u (every thread must pass each barrier and the call in step)",
                pos_text(line, col), c->tid, p, d->done);
    abandon(w, w->cur);
  }
  return d->tile;
}

/* The tile's arithmetic (tm_cpu_ctx.dot_gemm): every step one fused
 * multiply-add (fmaf, or the FMA instruction: one rounding either way), each
 * element's over kk in order, so any blocking gives the loop's bits. The
 * columns from j0 on, one at a time. */
static void gemm_tail(const float *A, const float *B, float *P, int M, int N, int K, int j0) {
  for (int i = 0; i < M; i++)
    for (int kk = 0; kk < K; kk++) {
      float a = A[i * K + kk];
      for (int j = j0; j < N; j++) P[i * N + j] = fmaf(a, B[kk * N + j], P[i * N + j]);
    }
}

#if DOT_X86
/* 4 rows by 16 columns at a time: 8 sums in registers, two B vectors and four
 * broadcasts of A a step (the AVX2 machine's two FMA ports kept busy). */
__attribute__((target("avx2,fma"))) static void gemm_avx2(const float *A, const float *B, float *P, int M, int N,
                                                           int K) {
  int j0 = 0;
  for (; j0 + 16 <= N; j0 += 16) {
    int i0 = 0;
    for (; i0 + 4 <= M; i0 += 4) { /* the sums as named variables: registers, not an array in memory */
      float *p0 = P + i0 * N + j0, *p1 = p0 + N, *p2 = p1 + N, *p3 = p2 + N;
      const float *a0 = A + i0 * K, *a1 = a0 + K, *a2 = a1 + K, *a3 = a2 + K;
      __m256 s00 = _mm256_loadu_ps(p0), s01 = _mm256_loadu_ps(p0 + 8), s10 = _mm256_loadu_ps(p1),
             s11 = _mm256_loadu_ps(p1 + 8), s20 = _mm256_loadu_ps(p2), s21 = _mm256_loadu_ps(p2 + 8),
             s30 = _mm256_loadu_ps(p3), s31 = _mm256_loadu_ps(p3 + 8);
      for (int kk = 0; kk < K; kk++) {
        __m256 b0 = _mm256_loadu_ps(B + kk * N + j0), b1 = _mm256_loadu_ps(B + kk * N + j0 + 8);
        __m256 a = _mm256_set1_ps(a0[kk]);
        s00 = _mm256_fmadd_ps(a, b0, s00), s01 = _mm256_fmadd_ps(a, b1, s01);
        a = _mm256_set1_ps(a1[kk]);
        s10 = _mm256_fmadd_ps(a, b0, s10), s11 = _mm256_fmadd_ps(a, b1, s11);
        a = _mm256_set1_ps(a2[kk]);
        s20 = _mm256_fmadd_ps(a, b0, s20), s21 = _mm256_fmadd_ps(a, b1, s21);
        a = _mm256_set1_ps(a3[kk]);
        s30 = _mm256_fmadd_ps(a, b0, s30), s31 = _mm256_fmadd_ps(a, b1, s31);
      }
      _mm256_storeu_ps(p0, s00), _mm256_storeu_ps(p0 + 8, s01), _mm256_storeu_ps(p1, s10);
      _mm256_storeu_ps(p1 + 8, s11), _mm256_storeu_ps(p2, s20), _mm256_storeu_ps(p2 + 8, s21);
      _mm256_storeu_ps(p3, s30), _mm256_storeu_ps(p3 + 8, s31);
    }
    for (; i0 < M; i0++) {
      __m256 s0 = _mm256_loadu_ps(P + i0 * N + j0), s1 = _mm256_loadu_ps(P + i0 * N + j0 + 8);
      for (int kk = 0; kk < K; kk++) {
        __m256 a = _mm256_set1_ps(A[i0 * K + kk]);
        s0 = _mm256_fmadd_ps(a, _mm256_loadu_ps(B + kk * N + j0), s0);
        s1 = _mm256_fmadd_ps(a, _mm256_loadu_ps(B + kk * N + j0 + 8), s1);
      }
      _mm256_storeu_ps(P + i0 * N + j0, s0);
      _mm256_storeu_ps(P + i0 * N + j0 + 8, s1);
    }
  }
  if (j0 < N) gemm_tail(A, B, P, M, N, K, j0);
}
#endif

static void on_dot_gemm(tm_cpu_ctx *c, const float *A, const float *B, float *P, int M, int N, int K) {
#if DOT_X86
  if (((Worker *)c)->dot_avx2) {
    gemm_avx2(A, B, P, M, N, K);
    return;
  }
#endif
  gemm_tail(A, B, P, M, N, K, 0);
}

static void on_sgm_fail(tm_cpu_ctx *c, const tm_sgm_rep *r, const char *what, int line, int col) {
  Worker *w = (Worker *)c;
  unsigned t = c->tid;
  if (r && (r->line != line || r->col != col || strcmp(sgm_what(r), what)))
    worker_fail(w, "SIMD-group operation in divergent control flow: lane %u of SIMD-group %u is at %s (%s) "
                   "where a lane before it was at %s (%s) (every lane of a SIMD-group must reach the same "
                   "simdgroup_matrix operation)",
                t % 32, t / 32, what, pos_text(line, col), sgm_what(r), pos_text(r->line, r->col));
  else if (r)
    worker_fail(w, "%s (%s): lanes of SIMD-group %u disagree on the matrix's address, elements "
                   "per row or transposition (Metal requires the same in every lane; lane %u differs from a lane "
                   "before it)",
                what, pos_text(line, col), t / 32, t % 32);
  else
    worker_fail(w, "%s (%s): lanes of SIMD-group %u disagree on the matrix's address, elements "
                   "per row or transposition (Metal requires the same in every lane)",
                what, pos_text(line, col), t / 32);
  abandon(w, w->cur);
}

/* A pending request to stop (cpu_stop.c), seen at a loop of the kernel. */
static void on_poll(tm_cpu_ctx *c, int line) {
  Worker *w = (Worker *)c;
  CpuJob *job = w->job;
  int why = cpu_stop_reason(job);
  if (!why) { /* another launch's */
    c->stop_seen = __atomic_load_n(&cpu_stop_count, __ATOMIC_SEQ_CST);
    return;
  }
  int none = 0;
  if (atomic_compare_exchange_strong(&job->stopped, &none, why)) {
    const tm_kernel_info *k = job->info;
    if (why == STOP_INTERRUPT)
      worker_fail(w, "interrupted (tm_interrupt, e.g. Ctrl-C) in the loop at %s:%d; the "
                     "launch stopped with its work partly done",
                  k->source_file, line);
    else
      worker_fail(w, "still running after TRITON_METAL_TIMEOUT=%g s, in the loop at %s:%d "
                     "(a loop that never ends? a GPU would hang here); the launch stopped with "
                     "its work partly done",
                  job->timeout_s, k->source_file, line);
  }
  if (w->fibers_on) abandon(w, w->cur);
  longjmp(w->escape, 1);
}

/* splitmix64: the interleaved schedule's random draws. */
static uint64_t draw(Worker *w) {
  uint64_t z = (w->rng += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* The access hook (interleaved schedule): a coin toss before every access
 * decides whether another thread runs first. */
static void on_access(tm_cpu_ctx *c, const void *p, size_t n, int line, int kind) {
  Worker *w = (Worker *)c;
  if (w->interleave && draw(w) & 1) fiber_switch(&w->fibers[w->cur], &w->sched);
  if (w->racecheck && (kind & TM_ACCESS_TG)) race_record(w, p, n, line, kind & TM_ACCESS_STORE);
}

/* ------------------------------------------------------------ running threadgroups */

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

/* A fiber's stack for a kernel: 64 KiB, or its private arrays or its code's
 * frames as the compiler measured them (at -O0 far more: every temporary of
 * the unrolled code has a slot of its own), whichever is more, plus room for
 * the runtime's frames. */
static size_t stack_for(const tm_kernel_info *k, long frames) {
  size_t need = (size_t)(k->private_bytes > 0 ? k->private_bytes : 0);
  if (frames > 0 && (size_t)frames > need) need = (size_t)frames;
  need += 48 * 1024;
  need = (need + 16383) & ~(size_t)16383;
  return need > STACK_SIZE ? need : STACK_SIZE;
}

/* Fiber t's stack for a fresh start: its top moved down by (t % 64) cache
 * lines. The stacks lie a whole number of pages apart, so without this every
 * fiber's top frames (where a switch saves and restores registers, and the
 * kernel keeps its locals) would map to the same L1 cache sets, and a
 * threadgroup's round of switches would evict them from each other. */
static void fiber_fresh(Worker *w, unsigned t) {
  size_t colour = (size_t)(t % 64) * 64;
  fiber_init(&w->fibers[t], fiber_stack_at(w->stacks, t, w->stack_size), w->stack_size - colour, fiber_main, w);
}

/* Group gi takes threadgroup i (linear, x fastest): every thread a fresh fiber. */
static int group_start(Worker *w, unsigned gi, uint64_t i) {
  CpuJob *job = w->job;
  unsigned n = w->n;
  Group *g = &w->groups[gi];
  g->live = 1;
  g->pid[0] = (unsigned)(i % job->grid[0]);
  g->pid[1] = (unsigned)(i / job->grid[0] % job->grid[1]);
  g->pid[2] = (unsigned)(i / job->grid[0] / job->grid[1]);
  g->alive = n;
  g->bar_arrived = g->bar_gen = 0;
  for (unsigned s = 0; s * 32 < n; s++)
    g->sg[s] = (SimdGroup){.size = n - s * 32 < 32 ? n - s * 32 : 32};
  if (w->racecheck) g->ep = race_epoch(w);
  for (unsigned t = 0; t < n; t++) {
    unsigned f = g->base + t;
    set_ready(w, f);
    fiber_fresh(w, f);
  }
  return 1;
}

static void report_deadlock(Worker *w, Group *g) {
  unsigned at_simd = 0;
  for (unsigned t = 0; t < w->n; t++) at_simd += w->state[g->base + t] == WAIT_SIMD;
  run_as(w, g->base);
  memcpy(w->ctx.pid, g->pid, sizeof g->pid);
  worker_fail(w, "deadlock: %u thread(s) wait at threadgroup_barrier while %u wait in "
                 "SIMD-group collectives",
              g->bar_arrived, at_simd);
}

/* Default schedule, one threadgroup (w->ctx.pid) of fibers. */
static void run_fibers(Worker *w) {
  Group *g = &w->groups[0];
  memcpy(g->pid, w->ctx.pid, sizeof g->pid);
  unsigned n = w->n;
  g->alive = n;
  g->bar_arrived = g->bar_gen = 0;
  for (unsigned s = 0; s * 32 < n; s++)
    g->sg[s] = (SimdGroup){.size = n - s * 32 < 32 ? n - s * 32 : 32};
  if (w->racecheck) g->ep = race_epoch(w);
  sgm_reset(w);
  dot_reset(w);
  for (unsigned t = 0; t < n; t++) {
    set_ready(w, t);
    fiber_fresh(w, t);
  }
  w->abort = 0;
  run_as(w, 0);
  fiber_switch(&w->sched, &w->fibers[0]);
  if (w->abort || g->alive == 0) return;
  report_deadlock(w, g);
}

/* Interleaved schedule: every threadgroup of the job, a window at a time. */
static void run_interleaved(Worker *w) {
  CpuJob *job = w->job;
  unsigned n = w->n, total = w->ngroups * n;
  w->abort = 0;
  for (unsigned gi = 0; gi < w->ngroups; gi++) w->groups[gi].live = 0;
  for (;;) {
    if (w->abort || atomic_load_explicit(&job->failed, memory_order_relaxed)) return;
    unsigned live = 0;
    for (unsigned gi = 0; gi < w->ngroups; gi++) {
      Group *g = &w->groups[gi];
      if (g->live && g->alive == 0) g->live = 0;
      if (!g->live) {
        uint64_t i = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed);
        if (i < job->ntg) group_start(w, gi, i);
      }
      live += (unsigned)g->live;
    }
    if (!live) return;
    unsigned start = (unsigned)(draw(w) % total);
    long pick = -1;
    for (unsigned k = 0; k < total && pick < 0; k++) {
      unsigned j = (start + k) % total;
      if (group_of(w, j)->live && ready(w, j)) pick = j;
    }
    if (pick < 0) { /* no thread of any threadgroup can go on */
      for (unsigned gi = 0; gi < w->ngroups; gi++)
        if (w->groups[gi].live) {
          report_deadlock(w, &w->groups[gi]);
          return;
        }
      return;
    }
    run_as(w, (unsigned)pick);
    fiber_switch(&w->sched, &w->fibers[pick]);
  }
}

/* ------------------------------------------------------------ jobs */

Worker *worker_new(void) {
  Worker *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->ctx.oob = on_oob;
  w->ctx.barrier = on_barrier;
  w->ctx.simd_exchange = on_simd;
  w->ctx.tg_oob = on_tg_oob;
  w->ctx.access = on_access;
  w->ctx.stop = &cpu_stop_count;
  w->ctx.poll = on_poll;
  w->ctx.sgm_step = on_sgm_step;
  w->ctx.sgm_free = on_sgm_free;
  w->ctx.sgm_fail = on_sgm_fail;
  w->ctx.dot_tile = on_dot_tile;
  w->ctx.dot_gemm = on_dot_gemm;
#if DOT_X86
  __builtin_cpu_init();
  w->dot_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return w;
}

void worker_free(Worker *w) {
  if (!w) return;
  if (w->stacks) fiber_stacks_free(w->stacks, w->nstacks, w->stack_size);
  for (unsigned i = 0; i < w->cap; i++) fiber_release(&w->fibers[i]);
  fiber_release(&w->sched);
  free(w->fibers), free(w->state), free(w->wait_gen), free((void *)w->wait_on);
  free(w->slot_mem), free(w->tg_mem), free(w->shadow);
  for (SgmEntry *e = w->sgm_all, *n; e; e = n) n = e->all, free(e);
  for (unsigned s = 0; s < MAX_THREADS / 32; s++) free(w->sgm[s].q);
  for (unsigned s = 0; s < w->ndot; s++) free(w->dot[s].tile);
  free(w);
}

/* Grows *p to at least n bytes (contents not kept); 0 when out of memory. */
static int grow(unsigned char **p, size_t *cap, size_t n) {
  if (*cap >= n) return 1;
  free(*p);
  *cap = 0;
  if (!(*p = aligned_alloc(64, (n + 63) & ~(size_t)63))) return 0;
  *cap = n;
  return 1;
}

static int ensure_fibers(Worker *w, unsigned n) {
  if (w->cap >= n) return 1;
  Fiber *f = realloc(w->fibers, n * sizeof *f);
  if (f) w->fibers = f;
  unsigned char *s = realloc(w->state, n);
  if (s) w->state = s;
  unsigned *g = realloc(w->wait_gen, n * sizeof *g);
  if (g) w->wait_gen = g;
  const unsigned **o = realloc((void *)w->wait_on, n * sizeof *o);
  if (o) w->wait_on = o;
  if (!f || !s || !g || !o) return 0;
  memset(w->fibers + w->cap, 0, (n - w->cap) * sizeof *f);
  w->cap = n;
  return 1;
}

/* Sets the worker up for job: 0 (and the launch failed) when out of memory. */
static int bind(Worker *w, CpuJob *job) {
  w->job = job;
  w->ctx.bufs = job->bufs;
  w->ctx.nbufs = job->nbufs;
  w->ctx.nthreads = w->n = (unsigned)job->info->threads_per_threadgroup;
  for (int i = 0; i < 3; i++) w->ctx.npid[i] = job->grid[i];
  w->interleave = job->interleave;
  w->racecheck = job->obj->racecheck;
  w->ctx.hooked = job->interleave || w->racecheck;
  w->ctx.stop_seen = job->stops0;
  w->fibers_on = job->info->uses_barriers != 0 || job->interleave;
  w->simd_mode = job->simd_per_lane ? TM_SIMD_OWN : TM_SIMD_LAST;
  w->rng = job->seed;
  unsigned n = w->n, groups = 1;
  if (w->interleave) {
    groups = MAX_FIBERS / n;
    if (groups > MAX_GROUPS) groups = MAX_GROUPS;
    if (groups > job->ntg) groups = (unsigned)job->ntg;
    if (groups < 1) groups = 1;
  }
  w->ngroups = groups;
  /* 16-byte aligned regions; a kernel with none still gets a valid pointer */
  size_t tg = ((size_t)(job->info->threadgroup_mem_bytes > 0 ? job->info->threadgroup_mem_bytes : 0) + 15) & ~(size_t)15;
  w->tg_bytes = tg;
  size_t slots = (size_t)2 * n * TM_CPU_SLOT;
  /* slots even without fibers: a one-thread kernel's collectives use its own */
  int ok = grow(&w->tg_mem, &w->tg_cap, groups * tg + 16) && grow(&w->slot_mem, &w->slot_cap, groups * slots) &&
           (!w->fibers_on || (ensure_fibers(w, groups * n) && ensure_stacks(w, groups * n, stack_for(job->info, job->obj->stack_bytes)))) &&
           (!w->racecheck || race_bind(w, groups, tg));
  if (!ok) {
    w->ctx.tid = 0;
    worker_fail(w, "out of memory for %u threadgroup(s) of %u threads", groups, n);
    return 0;
  }
  for (unsigned gi = 0; gi < groups; gi++) {
    Group *g = &w->groups[gi];
    g->base = gi * n;
    g->tg = w->tg_mem + gi * tg;
    g->slots = w->slot_mem + gi * slots;
  }
  w->ctx.tg_mem = w->groups[0].tg;
  w->ctx.tg_size = tg;
  if (w->fibers_on && !w->sched.size) fiber_thread_stack(&w->sched);
  return 1;
}

uint64_t worker_run_job(Worker *w, CpuJob *job) {
  memset(w->ctx.pid, 0, sizeof w->ctx.pid);
  if (!bind(w, job)) {
    w->job = NULL;
    return 0;
  }
  if (w->interleave) {
    run_interleaved(w);
    w->job = NULL;
    return 0;
  }
  volatile uint64_t ran = 0; /* read after a long jump back here */
  if (setjmp(w->escape)) { /* on_poll stopped the launch */
    w->job = NULL;
    return 0;
  }
  for (;;) {
    if (atomic_load_explicit(&job->failed, memory_order_relaxed)) break;
    uint64_t i = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed);
    if (i >= job->ntg) break;
    ran = ran + 1;
    w->ctx.pid[0] = (unsigned)(i % job->grid[0]);
    w->ctx.pid[1] = (unsigned)(i / job->grid[0] % job->grid[1]);
    w->ctx.pid[2] = (unsigned)(i / job->grid[0] / job->grid[1]);
    if (w->fibers_on) run_fibers(w);
    else {
      if (w->racecheck) w->groups[0].ep = race_epoch(w); /* threads one after another, no barrier */
      job->obj->range(&w->ctx, job->args, 0, w->ctx.nthreads);
    }
  }
  w->job = NULL;
  return ran;
}

/* ------------------------------------------------------------ the schedule setting */

tm_status cpu_schedule_from_env(int *interleave, uint64_t *seed, char **err) {
  const char *e = getenv("TRITON_METAL_CPU_SCHEDULE");
  *interleave = 0;
  *seed = 0;
  if (!e || !*e || !strcmp(e, "default")) return TM_OK;
  const char *rest = !strncmp(e, "interleave", 10) ? e + 10 : NULL;
  if (rest && !*rest) {
    *interleave = 1;
    *seed = 1;
    return TM_OK;
  }
  if (rest && *rest == ':' && rest[1]) {
    char *end;
    unsigned long long s = strtoull(rest + 1, &end, 10);
    if (!*end && rest[1] != '-') {
      *interleave = 1;
      *seed = s;
      return TM_OK;
    }
  }
  return rt_error(TM_ERR_INVALID, err,
                  "TRITON_METAL_CPU_SCHEDULE=%s: expected default, interleave or interleave:SEED "
                  "(a decimal integer)",
                  e);
}

/* TRITON_METAL_CPU_COLLECTIVES: `once` (default: the lane that completes a
 * SIMD-group collective computes it for the SIMD-group, the shim's
 * "SIMD-group collectives") or `per-lane` (every lane computes its own
 * result, the reference the tests compare the default with bit for bit). */
tm_status cpu_collectives_from_env(int *per_lane, char **err) {
  const char *e = getenv("TRITON_METAL_CPU_COLLECTIVES");
  *per_lane = 0;
  if (!e || !*e || !strcmp(e, "once")) return TM_OK;
  if (!strcmp(e, "per-lane")) {
    *per_lane = 1;
    return TM_OK;
  }
  return rt_error(TM_ERR_INVALID, err, "TRITON_METAL_CPU_COLLECTIVES=%s: expected once or per-lane", e);
}
