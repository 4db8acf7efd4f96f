/*
 * cpu_stop.c: stopping an emulator launch that is interrupted or runs too long.
 *
 * A GPU runs a kernel that never ends until the machine's watchdog kills it;
 * on the emulator such a kernel would hold the process forever. So every
 * Triton loop of a kernel begins its body with TM_POLL (src/msl.c, the shim):
 * one relaxed load of cpu_stop_count compared with the count the worker last
 * saw. On a difference the worker (cpu_exec.c on_poll) asks cpu_stop_reason
 * whether the request is for its launch: if so the threadgroup is abandoned
 * (as after a failed SIMD-group collective: kernels own no resources) and the
 * launch fails, else the worker notes the count and goes on.
 *
 *   tm_interrupt  bumps `interrupts`, then the stop count (async-signal-safe:
 *                 two atomic increments). A launch stops when the interrupt
 *                 count differs from the one it began with, so a launch that
 *                 starts after the request runs normally; the stop count
 *                 is read first at the begin, so a request between the two
 *                 reads counts as before the launch.
 *   watchdog      one thread for the process, started by the first launch
 *                 under TRITON_METAL_TIMEOUT (seconds): it sleeps until the
 *                 earliest deadline of the launches it watches, marks those
 *                 past theirs timed out and bumps the stop count. A launch
 *                 without a timeout never touches it.
 *
 * The counts only grow (wrapping is harmless: only equality is compared).
 * After fork the child has no watchdog thread: its lock is made anew (the
 * parent's thread may have held it at the fork) and the next watched launch
 * there starts one.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rt.h"

unsigned cpu_stop_count;
static unsigned interrupts;

void tm_interrupt(void) {
  __atomic_fetch_add(&interrupts, 1, __ATOMIC_SEQ_CST);
  __atomic_fetch_add(&cpu_stop_count, 1, __ATOMIC_SEQ_CST);
}

int cpu_stop_reason(CpuJob *job) {
  if (__atomic_load_n(&interrupts, __ATOMIC_SEQ_CST) != job->interrupts0) return STOP_INTERRUPT;
  if (atomic_load(&job->timed_out)) return STOP_TIMEOUT;
  return 0;
}

/* ------------------------------------------------------------ the watchdog */

static pthread_mutex_t watch_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t watch_cv;
static pid_t watch_owner; /* the process whose watchdog thread runs; 0: none */
static CpuJob *watched;   /* launches with a timeout, under watch_mu */

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *watch_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&watch_mu);
  for (;;) {
    double now = now_s(), next = 0;
    for (CpuJob *j = watched; j; j = j->watch_next) {
      if (atomic_load(&j->timed_out)) continue;
      if (now >= j->deadline) {
        atomic_store(&j->timed_out, 1);
        __atomic_fetch_add(&cpu_stop_count, 1, __ATOMIC_SEQ_CST);
      } else if (next == 0 || j->deadline < next) {
        next = j->deadline;
      }
    }
    if (next == 0) {
      pthread_cond_wait(&watch_cv, &watch_mu);
      continue;
    }
    struct timespec until;
    double whole = floor(next);
    until.tv_sec = (time_t)whole;
    until.tv_nsec = (long)((next - whole) * 1e9);
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&watch_cv, &watch_mu, &until);
  }
  return NULL;
}

/* In a child after fork: no watchdog thread, no parent's launches, and a
 * lock the parent's watchdog may have held at the fork (it is not ours). */
static void watch_after_fork(void) {
  pthread_mutex_init(&watch_mu, NULL);
  watch_owner = 0;
  watched = NULL;
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void atfork_register(void) { pthread_atfork(NULL, NULL, watch_after_fork); }

/* Under watch_mu: a watchdog thread for this process. */
static int watch_start(void) {
  if (watch_owner == getpid()) return 1;
  pthread_condattr_t a;
  pthread_condattr_init(&a);
  pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  pthread_cond_init(&watch_cv, &a);
  pthread_condattr_destroy(&a);
  watched = NULL; /* after fork: the parent's launches are not ours */
  pthread_attr_t ta;
  pthread_attr_init(&ta);
  pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  int ok = pthread_create(&t, &ta, watch_main, NULL) == 0;
  pthread_attr_destroy(&ta);
  if (ok) watch_owner = getpid();
  return ok;
}

/* TRITON_METAL_TIMEOUT: seconds, > 0; unset, empty or 0: no timeout. */
static tm_status timeout_from_env(double *out, char **err) {
  const char *e = getenv("TRITON_METAL_TIMEOUT");
  *out = 0;
  if (!e || !*e) return TM_OK;
  char *end;
  double v = strtod(e, &end);
  if (*end || !isfinite(v) || v < 0)
    return rt_error(TM_ERR_INVALID, err,
                    "TRITON_METAL_TIMEOUT=%s: expected seconds (a number >= 0; 0: no timeout)", e);
  *out = v;
  return TM_OK;
}

tm_status cpu_stop_begin(CpuJob *job, char **err) {
  job->stops0 = __atomic_load_n(&cpu_stop_count, __ATOMIC_SEQ_CST);
  job->interrupts0 = __atomic_load_n(&interrupts, __ATOMIC_SEQ_CST);
  tm_status st = timeout_from_env(&job->timeout_s, err);
  if (st || job->timeout_s <= 0) return st;
  job->deadline = now_s() + job->timeout_s;
  pthread_once(&atfork_once, atfork_register);
  pthread_mutex_lock(&watch_mu);
  if (!watch_start()) {
    pthread_mutex_unlock(&watch_mu);
    return rt_error(TM_ERR_NOMEM, err, "TRITON_METAL_TIMEOUT: could not start the watchdog thread");
  }
  job->watch_next = watched;
  watched = job;
  pthread_cond_signal(&watch_cv);
  pthread_mutex_unlock(&watch_mu);
  return TM_OK;
}

void cpu_stop_end(CpuJob *job) {
  if (job->timeout_s <= 0) return;
  pthread_mutex_lock(&watch_mu);
  for (CpuJob **p = &watched; *p; p = &(*p)->watch_next)
    if (*p == job) {
      *p = job->watch_next;
      break;
    }
  pthread_mutex_unlock(&watch_mu);
}
