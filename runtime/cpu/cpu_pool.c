/*
 * cpu_pool.c: the cpu device's worker threads.
 *
 * n workers per device; worker 0 is whichever thread calls tm_launch (the device
 * runs one launch at a time), workers 1..n-1 are pool threads created on the
 * first launch that can use them and reused until the device closes. All
 * workers pull threadgroup indices from the job's atomic counter, so a launch
 * with a single threadgroup runs inline on the caller without waking anyone.
 * So does a small launch: one whose threadgroups took the launching thread,
 * at the kernel's last launch, INLINE_NS or less in all (CpuObj.tg_ns times
 * the count). Waking the pool and waiting for it costs 10-30 us on the 2-core
 * VM, more than such a launch gains from a second core (vector add of 2^12:
 * 29-33 us through the pool, 9 us inline). The estimate is the launching
 * thread's own time per threadgroup, measured at every launch, so it follows
 * a kernel's -O0 to -O2 swap and its arguments' sizes; a kernel whose work
 * per threadgroup jumps between launches runs one launch on one core before
 * the estimate catches up.
 * In a child process after fork the pool threads do not exist: the first
 * launch there starts new ones instead of waiting for the parent's.
 *
 * On Linux the pool threads are kept off the launching thread's CPU when
 * there are CPUs enough (steer). Without it, a pool thread woken while the
 * other CPU was busy (a compile's last milliseconds, right before a new
 * kernel's first launch) could land on the launching thread's CPU and
 * preempt it; the two then took turns on one CPU, the other idle, for
 * several launches, until the scheduler's periodic balancing moved one
 * (seen with `perf sched timehist` on the 2-core VM: a -O0 softmax of 64
 * rows took 5.2 ms a launch instead of 2.6 for its first ~8 launches after
 * a build, in most new processes).
 */
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "rt.h"

typedef struct PoolThread {
  Pool *pool;
  int index;
  unsigned long seen; /* last job generation this thread ran */
} PoolThread;

static void *pool_main(void *arg) {
  PoolThread *pt = arg;
  Pool *p = pt->pool;
  Worker *w = p->workers[pt->index];
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (p->gen == pt->seen && !p->quit) pthread_cond_wait(&p->wake, &p->mu);
    if (p->quit) break;
    pt->seen = p->gen;
    CpuJob *job = p->job;
    pthread_mutex_unlock(&p->mu);
    worker_run_job(w, job);
    pthread_mutex_lock(&p->mu);
    if (--p->busy == 0) pthread_cond_signal(&p->idle);
  }
  pthread_mutex_unlock(&p->mu);
  free(pt);
  return NULL;
}

tm_status pool_init(Pool *p, int n) {
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->wake, NULL);
  pthread_cond_init(&p->idle, NULL);
  p->n = n;
  p->owner = getpid();
  p->steer_cpu = -2; /* none yet (sched_getcpu's failure is -1) */
  p->workers = calloc((size_t)n, sizeof *p->workers);
  p->threads = calloc((size_t)n, sizeof *p->threads);
  if (!p->workers || !p->threads) return TM_ERR_NOMEM;
  for (int i = 0; i < n; i++)
    if (!(p->workers[i] = worker_new())) return TM_ERR_NOMEM;
  return TM_OK;
}

/* Under p->mu. Threads that fail to start are simply not used. */
static void start_threads(Pool *p) {
  p->owner = getpid();
  p->started = 1;
  p->steer_cpu = -2; /* new threads: steered at their first job */
  for (int i = 1; i < p->n; i++) {
    PoolThread *pt = malloc(sizeof *pt);
    if (!pt) break;
    *pt = (PoolThread){.pool = p, .index = i, .seen = p->gen};
    if (pthread_create(&p->threads[i], NULL, pool_main, pt)) {
      free(pt);
      break;
    }
    p->started = i + 1;
  }
}

#define INLINE_NS 20000u

/* Under p->mu, before a job is handed out: the pool threads may run on every
 * CPU the launching thread may, but the one it is on, when that leaves one
 * for each of them (else, and when the launching thread cannot say, they may
 * run on all of those). Done when the launching thread's CPU changed since
 * the last job: a sched_getcpu a launch, two system calls and one per pool
 * thread otherwise. */
static void steer(Pool *p) {
#if defined(__linux__)
  int cpu = sched_getcpu();
  if (cpu == p->steer_cpu) return;
  p->steer_cpu = cpu;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set)) return;
  if (cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, &set) && CPU_COUNT(&set) >= p->started) CPU_CLR(cpu, &set);
  for (int i = 1; i < p->started; i++) pthread_setaffinity_np(p->threads[i], sizeof set, &set);
#else
  (void)p;
#endif
}

void pool_run(Pool *p, CpuJob *job) {
  int helpers = 0;
  CpuObj *o = (CpuObj *)job->obj; /* its estimate is the one field a launch writes */
  uint64_t est = o ? atomic_load_explicit(&o->tg_ns, memory_order_relaxed) : 0;
  bool small = est && job->ntg <= INLINE_NS / est;
  if (p->n > 1 && job->ntg > 1 && !job->interleave && !small) { /* interleaved: worker 0 alone */
    if (p->started && p->owner != getpid()) { /* forked: the threads stayed behind */
      pthread_mutex_init(&p->mu, NULL);
      pthread_cond_init(&p->wake, NULL);
      pthread_cond_init(&p->idle, NULL);
      p->started = 0;
    }
    pthread_mutex_lock(&p->mu);
    if (!p->started) start_threads(p);
    helpers = p->started - 1;
    if (helpers > 0) {
      steer(p);
      p->job = job;
      p->busy = helpers;
      p->gen++;
      pthread_cond_broadcast(&p->wake);
    }
    pthread_mutex_unlock(&p->mu);
  }
  uint64_t t0 = rt_mono_ns(), ran = worker_run_job(p->workers[0], job), t1 = rt_mono_ns();
  if (o && ran) atomic_store_explicit(&o->tg_ns, (t1 - t0) / ran + 1, memory_order_relaxed);
  if (helpers > 0) {
    pthread_mutex_lock(&p->mu);
    while (p->busy > 0) pthread_cond_wait(&p->idle, &p->mu);
    p->job = NULL;
    pthread_mutex_unlock(&p->mu);
  }
}

void pool_destroy(Pool *p) {
  pthread_mutex_lock(&p->mu);
  p->quit = 1;
  pthread_cond_broadcast(&p->wake);
  int started = p->owner == getpid() ? p->started : 0;
  pthread_mutex_unlock(&p->mu);
  for (int i = 1; i < started; i++) pthread_join(p->threads[i], NULL);
  for (int i = 0; p->workers && i < p->n; i++) worker_free(p->workers[i]);
  free(p->workers);
  free(p->threads);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->wake);
  pthread_cond_destroy(&p->idle);
}
