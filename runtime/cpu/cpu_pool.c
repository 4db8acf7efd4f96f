/*
 * cpu_pool.c: the cpu device's worker threads.
 *
 * n workers per device; worker 0 is whichever thread calls tm_launch (the device
 * runs one launch at a time), workers 1..n-1 are pool threads created on the
 * first launch that can use them and reused until the device closes. All
 * workers pull threadgroup indices from the job's atomic counter, so a launch
 * with a single threadgroup runs inline on the caller without waking anyone.
 * In a child process after fork the pool threads do not exist: the first
 * launch there starts new ones instead of waiting for the parent's.
 */
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

void pool_run(Pool *p, CpuJob *job) {
  int helpers = 0;
  if (p->n > 1 && job->ntg > 1 && !job->interleave) { /* interleaved: worker 0 alone */
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
      p->job = job;
      p->busy = helpers;
      p->gen++;
      pthread_cond_broadcast(&p->wake);
    }
    pthread_mutex_unlock(&p->mu);
  }
  worker_run_job(p->workers[0], job);
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
