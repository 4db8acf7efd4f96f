/*
 * rt.h: the runtime's internal header, in sections named after its files.
 *
 * A device kind is a table of function pointers (DeviceOps); the public calls in
 * device.c / module.c / launch.c validate their arguments once and forward to
 * the table, so the cpu emulator, metal and metal-sim share validation.
 */
#ifndef TM_RT_H
#define TM_RT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "triton_metal.h"

/* The kernel as its source names it, for errors (its MSL name may carry a suffix). */
static inline const char *rt_kname(const tm_kernel_info *k) { return k->source_name ? k->source_name : k->name; }

/* ------------------------------------------------------------ errors.c */

/* Stores a malloc'd formatted message in *err (when err is non-NULL) and
 * returns st, so `return rt_error(TM_ERR_INVALID, err, "...")` reads well. */
tm_status rt_error(tm_status st, char **err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* malloc'd printf; NULL when out of memory. */
char *rt_strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *rt_vstrfmt(const char *fmt, va_list ap);
char *rt_strdup(const char *s); /* NULL stays NULL */

/* ------------------------------------------------------------ files.c */

/* Opens path for reading only if it is a regular file, never blocking (a FIFO
 * or a device node in place of a cache entry is refused): the descriptor, -1
 * when path does not exist, -2 when it is not a readable regular file. *size
 * (may be NULL) gets its size. */
int rt_open_regular(const char *path, off_t *size);
/* The whole regular file (at most max bytes; NUL-terminated) in a malloc'd
 * *out of *len bytes: 0, or -1 (absent) / -2 (not a regular file, too large,
 * unreadable, out of memory) with *out NULL. */
int rt_read_regular(const char *path, size_t max, char **out, size_t *len);

/* ------------------------------------------------------------ proc.c */

/* name if it contains a '/' and is executable, else the first executable
 * PATH/name (malloc'd), or NULL. */
char *rt_find_on_path(const char *name);
/* Runs argv with stdout+stderr into a pipe (no file: the disk may be full);
 * *text gets up to max bytes of it (malloc'd, NUL-terminated; the rest is
 * drained). Returns the exit status, or -1. */
int rt_run_capture(char *const argv[], size_t max, char **text);
/* Everything fd gives until its end: the first max bytes in a malloc'd,
 * NUL-terminated string (NULL when out of memory), the rest drained. */
char *rt_read_to_end(int fd, size_t max);
uint64_t rt_mono_ns(void); /* CLOCK_MONOTONIC in nanoseconds */
int rt_mkdirs(const char *path);                     /* mkdir -p: 0 or -1 */

/* ------------------------------------------------------------ cpu/cpu_fork.c */

/* The compile server of a C++ compiler (runtime/cpu/fork/cxx_fork.c). */
typedef struct CxxFork CxxFork;
bool cxx_fork_enabled(void); /* built with it, and TRITON_METAL_CXX_FORK is not 0 */
/* Starts cxx as a server, its shared object written to dir; NULL if it does not run. */
CxxFork *cxx_fork_start(const char *cxx, const char *dir);
/* Runs argv (argv[0] the server's program) as rt_run_capture would: 0 and *rc,
 * or -1 when the server could not (it is given up; run argv otherwise). */
int cxx_fork_run(CxxFork *z, char *const argv[], size_t max, char **text, int *rc);
/* In a forked child: lets go of the parent's server without ending it. */
void cxx_fork_forget(CxxFork *z);
/* Ends a server this process started and frees it (NULL: nothing). */
void cxx_fork_stop(CxxFork *z);
int rt_write_all(int fd, const void *data, size_t n); /* 0 or -1 */
void rt_remove_tree(const char *path);               /* rm -rf, best effort */
char *rt_head_lines(char *s, int lines);             /* the first lines, "..." after, in place */

/* ------------------------------------------------------------ device.c */

typedef struct DeviceOps {
  const char *name;
  /* NULL when the kind can run here; otherwise why not (static text). */
  const char *(*unavailable)(void);
  tm_status (*open)(tm_device *d, char **err);  /* sets d->impl, d->description */
  void (*close)(tm_device *d);
  tm_status (*load)(tm_module *m, const char *msl, char **err); /* sets m->impl */
  void (*unload)(tm_module *m);
  /* Arguments already validated against m->info; grid has no zero dimension;
   * dev is NULL or one entry per argument (device buffers, metal kinds only). */
  tm_status (*launch)(tm_module *m, const uint32_t grid[3], const tm_launch_arg *args,
                      const tm_device_arg *dev, char **err);
  /* Optional (NULL: nothing to wait for / no device buffers / no counters). */
  tm_status (*synchronize)(tm_device *d, char **err);
  tm_status (*buffer_new)(tm_device *d, size_t nbytes, void **buf, void **contents, char **err);
  void (*buffer_free)(tm_device *d, void *buf);
  void (*stats)(tm_device *d, tm_device_stats *out);
  /* Optional: a launch that waits for itself and reports its time (NULL:
   * launch.c times `launch` on the host clock, right for synchronous kinds). */
  tm_status (*launch_timed)(tm_module *m, const uint32_t grid[3], const tm_launch_arg *args,
                            const tm_device_arg *dev, tm_launch_times *times, char **err);
  /* Optional: the device's view of a loaded module (NULL: the cpu emulator's limits). */
  void (*module_info)(const tm_module *m, tm_module_info *out);
  /* Optional (NULL: host memory only, address = data): prepares registered
   * kernel-visible memory (metal: wraps host memory, checks a device buffer)
   * and sets v->buffer, v->address; visible_remove undoes it. */
  tm_status (*visible_add)(tm_device *d, tm_visible *v, char **err);
  void (*visible_remove)(tm_device *d, tm_visible *v);
  /* Optional (NULL: one tier of code, nothing to wait for): tm_device_tier_mark
   * and tm_device_tier_settle. */
  uint64_t (*tier_mark)(tm_device *d);
  tm_status (*tier_settle)(tm_device *d, uint64_t mark, char **err);
} DeviceOps;

/* ------------------------------------------------------------ visible.c */

/* One registration of kernel-visible memory (tm_visible_add). */
struct tm_visible {
  uintptr_t lo;      /* host memory: first byte (0 for a device buffer) */
  size_t size;       /* bytes (a device buffer: from its offset - before) */
  int readonly;
  void *buffer;      /* metal kinds: the MTLBuffer holding it (the caller's, or a wrap) */
  size_t offset;     /* metal kinds: offset of the first byte in buffer */
  int owned;         /* buffer is a wrap of host memory made for this registration */
  uint64_t address;  /* the address kernels use for the first byte */
  struct tm_visible *next;
};

struct tm_device {
  const DeviceOps *ops;
  char *description;
  void *impl;
  int refs; /* 1 for the opener + 1 per live module (atomic) */
  pthread_mutex_t vis_mu; /* visible */
  tm_visible *visible;    /* registered kernel-visible memory, newest first */
};

/* The registered kernel-visible memory of d, copied under its lock: *n
 * entries in a malloc'd array (NULL when none); -1 when out of memory. */
int rt_visible_snapshot(tm_device *d, tm_visible **out, int *n);

void rt_device_ref(tm_device *d);
void rt_device_unref(tm_device *d);

/* ------------------------------------------------------------ metal.c */

/* The metal and metal-sim kinds: the same portable device over two backends. */
extern const DeviceOps rt_metal_ops, rt_metal_sim_ops;

/* ------------------------------------------------------------ cuda.c, cuda_build.c */

/* The cuda kind: an NVIDIA GPU through the CUDA driver API, loaded with dlopen
 * (the GPU proxy, docs/cuda-proxy.md). */
extern const DeviceOps rt_cuda_ops;
/* The cubin of the CUDA C++ text src for sm_<sm> (e.g. 90): from the verified
 * disk cache in dir (made when missing), else built by nvcc and stored there.
 * *bytes (malloc'd, *n bytes) is the cubin; *compiled is 1 when nvcc ran.
 * kname names the kernel in errors. */
tm_status cuda_cubin_get(const char *dir, int sm, const char *src, const char *kname,
                         char **bytes, size_t *n, int *compiled, char **err);

/* ------------------------------------------------------------ module.c */

struct tm_module {
  tm_device *dev;
  tm_kernel_info info; /* deep copy: name, source_file, args[] and their names */
  void *impl;
};

/* MSL spelling of a dtype ("float", "uint", "half", ...); NULL for TM_F64/VOID. */
const char *rt_msl_type(tm_dtype dt);

/* ------------------------------------------------------------ fiber.c */

/* A fiber: a stack plus the registers a switch must preserve. On x86-64 ELF the
 * switch is register-only assembly (no system call); elsewhere ucontext. */
typedef struct Fiber {
  void *sp;
  void *stack; /* lowest usable byte; NULL for a thread's own stack */
  size_t size;
  void *impl;  /* ucontext_t on the fallback path */
  void *asan_fake; /* AddressSanitizer's fake stack while switched away */
} Fiber;

/* Makes f start fn(arg) on [stack, stack+size) when first switched to. fn must
 * never return: it ends by switching to another fiber for good. */
void fiber_init(Fiber *f, void *stack, size_t size, void (*fn)(void *), void *arg);
/* Saves the running context into from and resumes to. */
void fiber_switch(Fiber *from, Fiber *to);
/* The same where the switch is fiber.c's register-only one (x86-64 ELF, no
 * AddressSanitizer, whose switches need announcing): no frame of its own
 * between the caller and the swap, so a thread resumed at a barrier or
 * collective reloads one frame fewer of its stack. */
#if defined(__SANITIZE_ADDRESS__)
#define TM_FIBER_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TM_FIBER_SANITIZED 1
#endif
#endif
#if defined(__x86_64__) && defined(__ELF__) && !defined(TM_FIBER_UCONTEXT) && !defined(TM_FIBER_SANITIZED)
void tm_fiber_swap(void **save_sp, void *to_sp) __attribute__((visibility("hidden")));
static inline void fiber_switch_inline(Fiber *from, Fiber *to) { tm_fiber_swap(&from->sp, to->sp); }
#else
static inline void fiber_switch_inline(Fiber *from, Fiber *to) { fiber_switch(from, to); }
#endif
/* Switches away for good: from is never resumed (its stack may be reused). */
void fiber_exit_to(Fiber *from, Fiber *to);
/* First thing fn does when a fiber starts (tells ASan the switch finished). */
void fiber_started(void);
/* Describes the calling OS thread's own stack in f (for switching back to it). */
void fiber_thread_stack(Fiber *f);
void fiber_release(Fiber *f); /* frees what fiber_init allocated (fallback path) */
/* Stacks: n stacks of `size` usable bytes, each above a guard page. */
void *fiber_stacks_alloc(size_t n, size_t size);
void fiber_stacks_free(void *p, size_t n, size_t size);
void *fiber_stack_at(void *p, size_t i, size_t size);

/* ------------------------------------------------------------ cpu.c */

#define TM_SHIM_ABI_ONLY
#include "metal_stdlib" /* tm_cpu_ctx, tm_cpu_buf: the ABI shared with the shim */
#undef TM_SHIM_ABI_ONLY

extern const DeviceOps rt_cpu_ops;

typedef void (*CpuEntry)(tm_cpu_ctx *c, void *const *args);
typedef void (*CpuEntryRange)(tm_cpu_ctx *c, void *const *args, unsigned t0, unsigned t1);

/* A compiled and loaded kernel object, shared by the device's modules with the
 * same content hash. Its code (dl, entry, range) may be replaced by the same
 * kernel's -O2 build between launches (cpu_build.c "optimisation tiers"). */
typedef struct CpuTierUp CpuTierUp;
typedef struct CpuObj {
  uint8_t hash[32]; /* the cache key it was asked for by, with policy */
  void *dl;
  CpuEntry entry;
  CpuEntryRange range;
  int racecheck; /* built for the race checker (cpu_build.c race_flags) */
  long stack_bytes; /* its functions' frames together (cpu_build.c stack_usage), 0 unknown */
  int refs; /* under CpuDev.mu, as the fields below */
  int policy;              /* TRITON_METAL_OPT it was asked for under (cpu_build.c OPT_*) */
  int opt;                 /* its code's level: 0 (-O0) or 2 (-O2) */
  int building;            /* no code yet: cpu_obj_get builds it, others wait on built */
  pthread_cond_t built;
  unsigned long launches;  /* launches run, and their seconds */
  double run_s;
  CpuTierUp *up;           /* the pending -O2 build of a tiered object, or NULL */
  unsigned long used;      /* CpuDev.tier_epoch at its last launch as a tiered object */
  _Atomic int tiering;     /* up != NULL, read without the lock by every launch (cpu.c): an
                              -O2 object pays nothing for the tier bookkeeping */
  _Atomic uint64_t tg_ns;  /* ns the launching thread spent per threadgroup at its last
                              launch (0: none yet); cpu_pool.c runs small launches inline */
  struct CpuObj *next;
} CpuObj;

/* One launch: everything the workers and the shim's hooks need. */
typedef struct CpuJob {
  const tm_kernel_info *info;
  const CpuObj *obj;
  void *const *args;
  const tm_cpu_buf *bufs;
  int nbufs;
  uint32_t grid[3];
  uint64_t ntg;
  _Atomic uint64_t next; /* next threadgroup to run (linear, x fastest) */
  _Atomic int failed;
  pthread_mutex_t mu; /* guards err */
  char *err;          /* the launch's error: the first of the lowest threadgroup that failed */
  _Atomic uint64_t err_tg; /* that threadgroup (linear; UINT64_MAX: none yet), written under mu */
  int interleave;     /* the interleaved schedule (cpu_exec.c): worker 0 alone */
  uint64_t seed;      /* ... and its seed */
  int simd_per_lane;  /* TRITON_METAL_CPU_COLLECTIVES=per-lane (cpu_exec.c) */
  /* stopping (cpu_stop.c): the stop requests and the tm_interrupt calls
   * counted when the launch began; the TRITON_METAL_TIMEOUT it runs under
   * (0: none), its deadline, set once past it by the watchdog; why the launch
   * was stopped (0, STOP_*); the watchdog's list */
  unsigned stops0, interrupts0;
  double timeout_s, deadline;
  _Atomic int timed_out;
  _Atomic int stopped;
  struct CpuJob *watch_next;
} CpuJob;

enum { STOP_INTERRUPT = 1, STOP_TIMEOUT = 2 };
/* cpu_stop.c: the count every TM_POLL compares (bumped by each request to
 * stop), whether job should stop now (0 or STOP_*), and the begin and end of a
 * launch (the counts; TRITON_METAL_TIMEOUT and the watchdog). */
extern unsigned cpu_stop_count;
int cpu_stop_reason(CpuJob *job);
tm_status cpu_stop_begin(CpuJob *job, char **err);
void cpu_stop_end(CpuJob *job);

typedef struct Worker Worker;

typedef struct Pool {
  pthread_mutex_t mu;
  pthread_cond_t wake, idle;
  int n;            /* workers, including worker 0 = the launching thread */
  Worker **workers;
  pthread_t *threads; /* threads[i] runs workers[i], i >= 1 */
  int started;      /* pool threads are created on first need */
  CpuJob *job;
  unsigned long gen; /* bumped per job handed to the pool threads */
  int busy;          /* pool threads still on the current job */
  int quit;
  pid_t owner;       /* process whose threads these are (a fork child has none) */
  int steer_cpu;     /* the launching thread's CPU when the pool threads were last steered (cpu_pool.c) */
} Pool;

typedef struct CpuDev {
  char *cache_dir; /* <cache>/cpu, or a private temporary folder (below) */
  int cache_is_temp; /* the cache folder could not be written: objects are built in a
                        folder of this device's own, removed by cpu_dev_free */
  char *obj_dir;     /* private copies of the loaded objects (cpu_build.c), or NULL */
  pthread_mutex_t mu; /* objs */
  CpuObj *objs;
  pthread_mutex_t launch_mu; /* one launch at a time per device */
  Pool pool;
  unsigned long compiles; /* C++ compiler runs (for tests and stats), under mu */
  CpuTierUp *orphans; /* -O2 builds still running for objects freed since (cpu_build.c), under mu */
  int tier_running;   /* -O2 builds running in the background (cpu_build.c: one at a time), under mu, */
  pid_t tier_owner;   /* ... in this process (a fork child has none running) */
  unsigned long tier_epoch; /* bumped by each cpu_tier_mark, under mu */
  int nthreads;
  struct CpuDev *fork_next; /* the devices whose locks a fork waits for (cpu_fork_guard) */
} CpuDev;

/* <cache root>/<sub>: TRITON_METAL_CACHE_DIR, else $XDG_CACHE_HOME/triton-metal,
 * else ~/.cache/triton-metal (malloc'd; NULL when out of memory). */
char *rt_cache_dir(const char *sub);
/* The emulator without a tm_device around it (metal-sim runs on one). */
tm_status cpu_dev_new(CpuDev **out, char **err);
void cpu_dev_free(CpuDev *c); /* NULL is fine */
/* Runs every threadgroup of one launch; argv has one pointer per kernel argument
 * (BUFFER: first byte, BYTES: the value), bufs the checked ranges. */
tm_status cpu_run(CpuDev *c, const tm_kernel_info *k, CpuObj *o, const uint32_t grid[3],
                  void *const *argv, const tm_cpu_buf *bufs, int nbufs, char **err);

/* ------------------------------------------------------------ cpu_build.c */

/* Finds or builds the object for msl + info (memory, then disk cache, then the
 * host C++ compiler). Takes a reference; give it back with cpu_obj_put. */
tm_status cpu_obj_get(CpuDev *d, const char *msl, const tm_kernel_info *info, CpuObj **out,
                      char **err);
void cpu_obj_put(CpuDev *d, CpuObj *o);
void cpu_objs_free(CpuDev *d);
/* on: a fork of the process waits until no thread holds d's lock (or the
 * toolchains'); off: no more (before d is freed). */
void cpu_fork_guard(CpuDev *d, int on);
void cpu_temp_dir_remove(const char *dir); /* a CpuDev.cache_is_temp folder, and its contents */
/* The C++ compiler the emulator builds with (TRITON_METAL_CXX, else the first
 * on PATH that can build its kernels), as a launch would choose it with the
 * cache folder's records: *path malloc'd, or an error saying why there is none. */
tm_status cpu_cxx_path(char **path, char **err);
/* Optimisation tiers: before a launch (under launch_mu), takes a finished
 * -O2 build; after it, counts the launch and its seconds (and may start that
 * build in the background). cpu_obj_tier_wait (tests) starts the build now
 * and waits for it: 1 when it is ready for the next launch's swap. */
void cpu_obj_tier_swap(CpuDev *d, CpuObj *o);
void cpu_obj_tier_note(CpuDev *d, CpuObj *o, double seconds);
int cpu_obj_tier_wait(CpuDev *d, CpuObj *o);
/* tm_device_tier_mark / tm_device_tier_settle on the emulator: a mark, then
 * the -O2 builds of every tiered object launched since it, started at once
 * and waited for (the next launch of each runs its -O2 code). */
unsigned long cpu_tier_mark(CpuDev *d);
tm_status cpu_tier_settle(CpuDev *d, unsigned long mark, char **err);

/* ------------------------------------------------------------ msl_lint.c */

/* What Metal rejects in msl but C++ accepts (goto, long long, lambdas before
 * MSL 3.2, static locals, recursion, function pointers, size_t and
 * address-space-less pointer kernel arguments, misplaced threadgroup
 * variables). TM_OK: *out (malloc'd) is the text to compile: threadgroup
 * variable declarations become `tm_threadgroup_var threadgroup T a[N] = {};`
 * (static storage in threadgroup space). Otherwise TM_ERR_DEVICE and *err holds one line per
 * error, "FILE:LINE:COL: error: ...". msl_version: 320 for 3.2; 0 unknown. */
tm_status msl_lint(const char *msl, int msl_version, const char *file, char **out, char **err);

/* ------------------------------------------------------------ cpu_pool.c */

tm_status pool_init(Pool *p, int n);
void pool_destroy(Pool *p);
/* Runs every threadgroup of job; returns when all are done. */
void pool_run(Pool *p, CpuJob *job);

/* ------------------------------------------------------------ cpu_exec.c */

Worker *worker_new(void);
void worker_free(Worker *w);
/* Runs threadgroups of job taken from job->next until none is left or the
 * launch failed. */
uint64_t worker_run_job(Worker *w, CpuJob *job); /* the threadgroups it ran */
/* Records msg (malloc'd, owned) as the launch's error unless one is recorded. */
void job_fail(CpuJob *job, uint64_t tg, char *msg);
/* TRITON_METAL_CPU_SCHEDULE: unset, "" or "default" -> *interleave = 0;
 * "interleave" (seed 1) or "interleave:SEED" -> 1; anything else an error. */
tm_status cpu_schedule_from_env(int *interleave, uint64_t *seed, char **err);
tm_status cpu_collectives_from_env(int *per_lane, char **err);

#endif
