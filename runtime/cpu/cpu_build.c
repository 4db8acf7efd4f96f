/*
 * cpu_build.c: MSL text -> loaded shared object, for the cpu emulator.
 *
 *   1. toolchain: TRITON_METAL_CXX, else the first of clang++-19, clang++, g++,
 *      c++ on PATH; its identity (path + `--version` output, and how objects
 *      are linked) is computed once per process (the only global mutable
 *      state, under a mutex), from a record in the cache folder when there
 *      is one ("toolchain record").
 *   1b. lint: runtime/cpu/msl_lint.c refuses what Metal rejects but C++ accepts
 *      (goto, recursion, ...) before anything is built, its errors reported as
 *      a failed compile's are (source kept); what it passes on is compiled.
 *   2. trampoline: C++ appended after the MSL; exports tm_cpu_entry and
 *      tm_cpu_entry_range (ABI in runtime/cpu/metal_stdlib) which call the kernel by
 *      name with each argument cast per the descriptor and the builtins in order.
 *   3. key: SHA-256 over toolchain identity, flags (the optimisation level
 *      among them: "optimisation tiers"), shim text, MSL, trampoline.
 *   4. lookup: the device's loaded objects, then <cache>/cpu/<key>.so on disk,
 *      used only if its bytes hash to what <key>.sum recorded when it was built
 *      (a truncated, garbled or swapped object, a FIFO or anything but a
 *      regular file in its place: deleted and rebuilt), else compile. The
 *      verified bytes are what gets loaded (from a private copy named by their
 *      hash), so the cache file cannot change under dlopen.
 *   5. compile: `cxx -c` with the shim precompiled ("precompiled shim"), then
 *      ld ("linking"). Source, object and output go to unique temporary names
 *      and the output is renamed into place, so concurrent processes building
 *      the same kernel are safe. On a C++ error the source is kept as
 *      <cache>/cpu/<key>.cc and the error carries the compiler's first 40
 *      lines. The device's lock is not held during a build: threads build
 *      different kernels at once (an autotuner's configs), one kernel once.
 *
 * Where the time of a new kernel goes (vector add, 2 shared cores; the
 * profile is bench/cold_steps.py's, docs/metal.md "The emulator's build"):
 * the compiler's process start ~28 ms, parsing the shim ~25 ms (saved by
 * the PCH), -O2 ~50 ms over -O0, the driver's link ~65 ms against ld's ~7.
 *
 * The shim is embedded (build/gen/shim_text.inc) and written to
 * <cache>/cpu/shim-<hash>/metal_stdlib, the -I directory of the compiles
 * (rewritten whenever what is there is not exactly its text).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rt.h"
#include "sha256.h"
#include "shim_text.inc"

#if defined(__GLIBC__)
#include <gnu/lib-names.h> /* LIBM_SO: libm's soname ("Linking" below) */
#endif
#if defined(LIBM_SO)
#define HAVE_LIBM_SO 1
#else
#define HAVE_LIBM_SO 0
#endif

extern char **environ;

/* What every compile passes (the optimisation level is added by build_flags:
 * "Optimisation tiers" below). Objects are compiled with -c and linked apart
 * ("Linking"). */
static const char *const cxx_flags[] = {
    "-std=c++17",     "-fPIC",
    "-ffp-contract=off", "-fwrapv", "-fno-math-errno", "-fno-exceptions", "-fno-rtti",
    "-fsigned-char",  "-nostdinc",     "-fvisibility=hidden",
    /* a GPU runs a loop without side effects forever; C++ may assume every
     * loop ends and delete it (then the store after it runs) */
    "-fno-finite-loops",
};

/* Warnings. A build's output is read only when it fails, and then only its
 * first 40 lines, so a warning is either an error or noise that would push
 * the error out of sight (clang warns about every [[buffer(0)]] attribute):
 * clang starts from -Wno-everything (-w would silence the -Werror= below too)
 * and makes errors of the warnings that show a defect of the MSL, code whose
 * behaviour is undefined or that cannot do what it says, on Metal as here.
 * Chosen after compiling the MSL of every kernel of tests/exec, the goldens
 * and the examples (853 texts, every target) with -Wall -Wextra: they gave
 * unknown attributes, unused variables, parameters and set-but-unused
 * variables (dead temporaries of the emitter: harmless), -Wuninitialized in
 * one place (a scan copied an unset value: fixed in src/emit_scan.c), and,
 * with -Wconditional-uninitialized, only false alarms (vectors filled element
 * by element in a loop), which is why that one is not here; nor is
 * -Wshift-negative-value, which -fwrapv silences. */
static const char *const clang_warnings[] = {
    "-Wno-everything",
    "-Werror=vla",                    /* variable-length array: none in MSL */
    "-Werror=return-type",            /* falling off the end of a non-void function */
    "-Werror=uninitialized",          /* a read before any write, on every or some path */
    "-Werror=unsequenced",            /* i = i++ */
    "-Werror=shift-count-overflow",   /* x << 32 on a 32-bit x */
    "-Werror=shift-count-negative",
    "-Werror=array-bounds",           /* a constant index past a local array */
    "-Werror=division-by-zero",       /* x / 0, x % 0 with a constant 0 */
    "-Werror=return-stack-address",   /* a pointer or reference to a local, returned */
    "-Werror=dangling",               /* ... or kept past the temporary it refers to */
    "-Werror=null-dereference",       /* *(T *)0 */
    "-Werror=constant-conversion",    /* a constant that changes value in an implicit conversion */
};
/* gcc has no -Wno-everything (its warnings go to the discarded output) and
 * other names; the same defects where it has them. */
static const char *const gcc_warnings[] = {
    "-Werror=vla",          "-Werror=return-type",          "-Werror=uninitialized", "-Werror=sequence-point",
    "-Werror=shift-count-overflow", "-Werror=shift-count-negative", "-Werror=div-by-zero",
    "-Werror=return-local-addr",
};
enum {
  NFLAGS = sizeof cxx_flags / sizeof cxx_flags[0],
  NCLANG = sizeof clang_warnings / sizeof clang_warnings[0],
  MAXFLAGS = NFLAGS + NCLANG + 8 /* and -O, FMA (2), the overflow check (2), race_flags (2), one spare */
};

/* TRITON_METAL_RACECHECK=1: kernels report every threadgroup-memory access,
 * saying whether it reads or writes (runtime/cpu/metal_stdlib "race check"), and
 * the object exports tm_cpu_racecheck, so that its launches record them
 * (cpu_exec.c "race checker"). The flags are part of the key: such objects
 * are cached apart. Puts the flags into out; returns how many. */
static int race_flags(const char **out) {
  const char *e = getenv("TRITON_METAL_RACECHECK");
  if (!e || strcmp(e, "1")) return 0;
  out[0] = "-DTM_HOOK_TG";
  out[1] = "-DTM_RACECHECK";
  return 2;
}

/* TRITON_METAL_CHECK_OVERFLOW=1: signed overflow in a kernel traps (the
 * process dies of SIGILL at once) instead of wrapping by -fwrapv. MSL leaves
 * it undefined, as C++ does; the compiler emits Triton's wrapping integer
 * arithmetic through unsigned types, and this mode shows any that is left.
 * Puts the flags into out (a clang toolchain or not, opt "-O0" or "-O2");
 * returns how many. */
static int build_flags(bool clang, const char *opt, const char **out) {
  int n = 0;
  out[n++] = opt;
#if defined(__x86_64__)
  /* where the machine has FMA, the MSL's fma (the portable dot's every step)
   * is one instruction instead of a call into libm; 128-bit vectors, as
   * without it (256-bit ones made the dot's loop reshuffle its sums every
   * step: twice the time). fma is fused either way: the same bits. Part of
   * the key, so an object built here is not taken on a machine without. */
  if (__builtin_cpu_supports("fma")) {
    out[n++] = "-mfma";
    out[n++] = "-mprefer-vector-width=128";
  }
#endif
  const char *e = getenv("TRITON_METAL_CHECK_OVERFLOW");
  bool check = e && !strcmp(e, "1");
  const char *const *w = clang ? clang_warnings : gcc_warnings;
  int nw = clang ? NCLANG : (int)(sizeof gcc_warnings / sizeof *gcc_warnings);
  for (int i = 0; i < nw; i++) out[n++] = w[i];
  for (int i = 0; i < NFLAGS; i++)
    out[n++] = check && !strcmp(cxx_flags[i], "-fwrapv") ? "-fno-wrapv" : cxx_flags[i];
  if (check) {
    out[n++] = "-fsanitize=signed-integer-overflow";
    out[n++] = clang ? "-fsanitize-trap=signed-integer-overflow" : "-fsanitize-undefined-trap-on-error";
  }
  return n + race_flags(out + n);
}

static int write_file_atomic(const char *path, const char *const *parts, int nparts);
static void seed_copy(const char *cpu, const char *path);

/* ------------------------------------------------------------ toolchain */

typedef struct PchSeen PchSeen;
typedef struct Toolchain {
  char *want; /* TRITON_METAL_CXX value or "" (default search) */
  char *path;
  char id[65]; /* SHA-256 of path + version text, and of the linking below */
  bool clang;  /* its version text says clang */
  int no_bf16; /* clang 15 or 16 (its version text): no __bf16 arithmetic, so no
                * bfloat kernel builds; taken only where nothing better is on PATH */
  /* linking ("Linking" below): ld on PATH and the compiler's runtime library
   * (libgcc.a or compiler-rt's builtins); both NULL: through the driver */
  char *ld, *rtlib;
  PchSeen *pch_seen; /* precompiled shims this process verified (under toolchains_mu) */
  /* the compile server (clang only; "Compile server" below), under toolchains_mu */
  CxxFork *srv;
  pid_t srv_for; /* the process that tried to start it (0: none yet) */
  CxxFork *ld_srv; /* ld's, the same way ("Linking" below) */
  pid_t ld_srv_for;
  /* "Shared shim code": -O0 builds this process made, and whether it started
   * the PCH with code's background build (both under toolchains_mu; a fork
   * child starts counting anew) */
  pid_t code_for;
  unsigned o0_builds;
  bool code_started;
  struct Toolchain *next;
} Toolchain;

static pthread_mutex_t toolchains_mu = PTHREAD_MUTEX_INITIALIZER;

/* A process may fork while another of its threads holds a device's lock,
 * the toolchains' or the temporary folders' (a background -O2 build takes
 * the device's lock as it starts, which is at the end of a launch; a
 * toolchain is identified under the toolchains' lock): the child would
 * inherit the lock held, with no thread to release it, and hang at its first
 * launch (seen under load in
 * tests/hostile/test_spin.py::test_timeout_after_fork). So a fork takes them
 * all first and both processes release them after (pthread_atfork). The
 * temporary folders' lock is taken under a device's (load_dir), so after
 * the devices'; no other code holds one while it waits for another. */
static pthread_mutex_t fork_devs_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t temps_mu = PTHREAD_MUTEX_INITIALIZER; /* the temporary folders' list (below) */
static CpuDev *fork_devs;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void) {
  pthread_mutex_lock(&fork_devs_mu);
  for (CpuDev *d = fork_devs; d; d = d->fork_next) pthread_mutex_lock(&d->mu);
  pthread_mutex_lock(&toolchains_mu);
  pthread_mutex_lock(&temps_mu); /* taken under a device's lock (load_dir): after them */
}

static void fork_release(void) {
  pthread_mutex_unlock(&temps_mu);
  pthread_mutex_unlock(&toolchains_mu);
  for (CpuDev *d = fork_devs; d; d = d->fork_next) pthread_mutex_unlock(&d->mu);
  pthread_mutex_unlock(&fork_devs_mu);
}

static void fork_register(void) { pthread_atfork(fork_prepare, fork_release, fork_release); }

void cpu_fork_guard(CpuDev *d, int on) {
  pthread_once(&fork_once, fork_register);
  pthread_mutex_lock(&fork_devs_mu);
  CpuDev **p = &fork_devs;
  while (*p && *p != d) p = &(*p)->fork_next;
  if (on && !*p) d->fork_next = fork_devs, fork_devs = d;
  if (!on && *p) *p = d->fork_next;
  pthread_mutex_unlock(&fork_devs_mu);
}
static Toolchain *toolchains; /* never freed: one entry per compiler named */

/* ------------------------------------------------------------ running the tools
 *
 * Compile server: a clang toolchain's compiles (kernels and PCHs) go to a
 * server this process starts once (runtime/cpu/cpu_fork.c, cxx_fork.h): the
 * compiler's program loaded once and forked per compile, which saves its
 * process start (~20 ms of a ~45 ms kernel compile on the 2-core CI
 * machine). Same program, arguments, environment and output; any trouble
 * with the server and the compile runs as a plain process instead.
 *
 * TRITON_METAL_BUILD_LOG=<file>: each run of a tool appends a line
 * "<kind> <start_ns> <end_ns> <exit status> <how>" (CLOCK_MONOTONIC; kind
 * version, pch, build or link; how: server or process) to file: what the
 * benchmarks count and time, and the tests read. */

static void build_log(const char *kind, uint64_t t0, int rc, const char *how) {
  const char *f = getenv("TRITON_METAL_BUILD_LOG");
  if (!f || !*f) return;
  char line[128];
  int n = snprintf(line, sizeof line, "%s %llu %llu %d %s\n", kind, (unsigned long long)t0,
                   (unsigned long long)rt_mono_ns(), rc, how);
  int fd = open(f, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  if (n > 0 && (size_t)n < sizeof line) rt_write_all(fd, line, (size_t)n);
  close(fd);
}

/* Runs a tool as rt_run_capture does, logged as kind. */
static int tool_run(const char *kind, char *const argv[], size_t max, char **text) {
  uint64_t t0 = rt_mono_ns();
  int rc = rt_run_capture(argv, max, text);
  build_log(kind, t0, rc, "process");
  return rc;
}

/* Runs argv through the server *srv (started here, for this process, the
 * first time: *srv_for records which process tried), or as a plain process
 * where there is none; logged as kind. */
static int served_run(CxxFork **srv, pid_t *srv_for, const char *dir, const char *kind, char *const argv[],
                      size_t max, char **text) {
  CxxFork *z = NULL;
  if (cxx_fork_enabled()) {
    pthread_mutex_lock(&toolchains_mu);
    if (*srv_for != getpid()) { /* the first run of this process */
      cxx_fork_forget(*srv);    /* a forked child's copy of its parent's */
      *srv = cxx_fork_start(argv[0], dir);
      *srv_for = getpid();
    }
    z = *srv;
    pthread_mutex_unlock(&toolchains_mu);
  }
  uint64_t t0 = rt_mono_ns();
  int rc, served = z && cxx_fork_run(z, argv, max, text, &rc) == 0;
  if (!served) rc = rt_run_capture(argv, max, text);
  build_log(kind, t0, rc, served ? "server" : "process");
  return rc;
}

/* Runs the compiler (argv[0] == tc->path) for a compile: through its server
 * when it has one (a clang). */
static int cxx_run(Toolchain *tc, const char *dir, const char *kind, char *const argv[], size_t max,
                   char **text) {
  if (!tc->clang) return tool_run(kind, argv, max, text);
  return served_run(&tc->srv, &tc->srv_for, dir, kind, argv, max, text);
}



/* ------------------------------------------------------------ linking
 *
 * An object is compiled with -c and linked into a shared object apart. The
 * clang driver's own link step costs ~60 ms on the 2-core CI machine (the
 * driver starts, looks for a GCC installation, then runs ld with the C
 * runtime's start files and libraries), ld alone ~8 ms. What a kernel object
 * needs from outside is little: it is built with -nostdinc -fno-exceptions
 * -fno-rtti, so nothing of libstdc++; libm's functions; libc's and the
 * dynamic loader's (__tls_get_addr, memcpy: always loaded); and the
 * compiler's runtime library for what the CPU has no instruction for (half
 * conversions __extendhfsf2/__truncsfhf2 on x86-64 without F16C), linked in
 * statically from the archive the compiler names (-print-libgcc-file-name:
 * libgcc.a, or compiler-rt's builtins when clang is built to use it). So:
 *
 *   ld -shared -z noexecstack -o K.so K.o <rtlib>
 *
 * libm is not on that line: ld would read its whole symbol table to record
 * a DT_NEEDED entry (~3 of a small kernel's ~6 ms of linking). With glibc
 * the runtime instead loads libm into the global scope once (LIBM_SO,
 * RTLD_GLOBAL: a no-op where the process has it, as Python does) before it
 * opens a kernel, and dlopen binds the kernel's exp2f and the like there.
 * Elsewhere the line keeps -lm.
 *
 * ld is found on PATH, as the compiler is. Where there is none, the compiler
 * names no archive, or ld fails, or dlopen refuses what it made (a symbol
 * that only the driver's libraries define), the object is linked through the
 * driver (`cxx -shared K.o -o K.so -lm`) instead. Both programs are part of
 * the toolchain's identity, so of every cache key.
 *
 * ld runs through a server of its own, as the compiler does ("Compile
 * server"; the same preloaded library serves any glibc program): ld.bfd
 * spends ~0.7 ms loading its libraries before main and the spawn from a big
 * process costs more, so a served link of a -O0 kernel with the shim's code
 * took ~3.8 ms where a new process took ~4.9 (2-core VM, 38 kernels a
 * process). ld writes its output before it calls exit, which is when the
 * served run reports. */

/* The archive the compiler links for its runtime support (libgcc.a, or
 * compiler-rt's builtins): an absolute path, malloc'd; NULL when it names none. */
static char *runtime_library(const char *cxx) {
  char *argv[] = {(char *)cxx, (char *)"-print-libgcc-file-name", NULL};
  char *text = NULL;
  if (tool_run("version", argv, 4096, &text) == 0 && text) {
    text[strcspn(text, "\r\n")] = 0;
    if (text[0] == '/') return text;
  }
  free(text);
  return NULL;
}

/* Links obj (and shim, the precompiled shim's code, when not NULL: "Shared
 * shim code" below) into so; the driver's output or ld's on failure goes to
 * *text. */
static int link_obj(Toolchain *tc, const char *dir, bool direct, const char *obj, const char *shim, const char *so, char **text) {
  char *argv[16];
  int n = 0;
  if (direct && tc->ld) {
    argv[n++] = tc->ld;
    argv[n++] = (char *)"-shared", argv[n++] = (char *)"-z", argv[n++] = (char *)"noexecstack";
    if (shim) argv[n++] = (char *)"--gc-sections";
    argv[n++] = (char *)"-o", argv[n++] = (char *)so, argv[n++] = (char *)obj;
    if (shim) argv[n++] = (char *)shim;
#if !HAVE_LIBM_SO
    argv[n++] = (char *)"-lm";
#endif
    argv[n++] = tc->rtlib;
  } else {
    argv[n++] = tc->path;
    argv[n++] = (char *)"-shared", argv[n++] = (char *)"-fPIC";
    if (shim) argv[n++] = (char *)"-Wl,--gc-sections";
    argv[n++] = (char *)obj;
    if (shim) argv[n++] = (char *)shim;
    argv[n++] = (char *)"-o", argv[n++] = (char *)so, argv[n++] = (char *)"-lm";
  }
  argv[n] = NULL;
  if (argv[0] == tc->ld && dir) return served_run(&tc->ld_srv, &tc->ld_srv_for, dir, "link", argv, 64 * 1024, text);
  return tool_run("link", argv, 64 * 1024, text);
}

/* Adds a file's path, size and modification time to s (a program that
 * changed, changed the objects it makes). */
static void hash_file_stamp(Sha256 *s, const char *path) {
  struct stat st;
  char line[128];
  if (stat(path, &st)) memset(&st, 0, sizeof st);
  snprintf(line, sizeof line, "%lld %lld.%09ld", (long long)st.st_size, (long long)st.st_mtim.tv_sec,
           st.st_mtim.tv_nsec);
  sha256_update(s, path, strlen(path) + 1);
  sha256_update(s, line, strlen(line) + 1);
}

/* The toolchain record: what `--version` and `-print-libgcc-file-name` said,
 * kept in <cache>/cpu/toolchain-<stamp> so that a process does not start the
 * compiler twice (~45 ms on the CI machine) before its first build. The
 * stamp is a SHA-256 of the compiler's path and of its program file
 * (symbolic links followed: device, inode, size, modification and change
 * times), so a compiler installed anew has another record. The record's
 * first line holds a SHA-256 of the rest: a record that does not match
 * (garbled, truncated) is ignored and written again. */
#define RECORD_TAG "triton-metal toolchain v2" /* v2: a compiler that cannot build the shim says UNFIT */
/* The first line of a record of a compiler that cannot build the shim ("unfit"
 * below), in place of the runtime library's path; the rest is the reason. */
#define UNFIT "!unfit"

static char *record_path(const char *dir, const char *cxx) {
  struct stat st;
  if (!dir || stat(cxx, &st)) return NULL;
  char line[256], hex[65];
  uint8_t d[32];
  snprintf(line, sizeof line, "%llu %llu %lld %lld.%09ld %lld.%09ld", (unsigned long long)st.st_dev,
           (unsigned long long)st.st_ino, (long long)st.st_size, (long long)st.st_mtim.tv_sec,
           st.st_mtim.tv_nsec, (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
  Sha256 s;
  sha256_init(&s);
  sha256_update(&s, cxx, strlen(cxx) + 1);
  sha256_update(&s, line, strlen(line));
  sha256_final(&s, d);
  sha256_hex(d, hex);
  return rt_strfmt("%s/toolchain-%.32s", dir, hex);
}

/* "<rtlib>\n<version text>" with its SHA-256 (hex) in hex. */
static void body_hash(const char *body, char hex[65]) {
  uint8_t d[32];
  sha256(body, strlen(body), d);
  sha256_hex(d, hex);
}

/* Reads a record: *version and *rtlib (NULL: none) malloc'd; 0 on success. */
static int record_read(const char *file, char **version, char **rtlib) {
  char *text = NULL, hex[65];
  size_t n;
  *version = *rtlib = NULL;
  if (!file || rt_read_regular(file, 16384, &text, &n)) return -1;
  size_t tag = strlen(RECORD_TAG);
  char *body = strchr(text, '\n'), *nl = body ? strchr(body + 1, '\n') : NULL;
  int ok = body && nl && !strncmp(text, RECORD_TAG " ", tag + 1) && body - text == (ptrdiff_t)(tag + 1 + 64);
  if (ok) body_hash(body + 1, hex), ok = !memcmp(text + tag + 1, hex, 64);
  if (ok) {
    *nl = 0;
    *rtlib = body[1] ? rt_strdup(body + 1) : NULL;
    *version = rt_strdup(nl + 1);
    ok = *version && (*rtlib || !body[1]);
  }
  if (!ok) free(*version), free(*rtlib), *version = *rtlib = NULL;
  free(text);
  return ok ? 0 : -1;
}

static void record_write(const char *file, const char *dir, const char *version, const char *rtlib) {
  char *body = file ? rt_strfmt("%s\n%s", rtlib ? rtlib : "", version) : NULL, hex[65];
  if (body && rt_mkdirs(dir) == 0) {
    body_hash(body, hex);
    write_file_atomic(file, (const char *const[]){RECORD_TAG " ", hex, "\n", body}, 4);
  }
  free(body);
}

/* What a toolchain without a record asks its compiler, each on a thread of
 * its own while `--version` runs (each ~15-20 ms, one after another before
 * a cold cache's first build): its runtime library, and, for a compiler
 * named clang, its compile server (the first compile would start it). */
typedef struct Ask {
  const char *cxx, *dir;
  char *rtlib;
  CxxFork *srv;
  char *macros; /* what `-dM -E` on an empty file printed, or NULL */
} Ask;

static void *ask_rtlib(void *arg) {
  Ask *a = arg;
  a->rtlib = runtime_library(a->cxx);
  return NULL;
}

static void *ask_macros(void *arg) {
  Ask *a = arg;
  char *argv[] = {(char *)a->cxx, (char *)"-dM", (char *)"-E", (char *)"-x", (char *)"c++", (char *)"/dev/null", NULL};
  if (tool_run("version", argv, 256 * 1024, &a->macros) != 0) free(a->macros), a->macros = NULL;
  return NULL;
}

/* The value of the predefined macro name in a `-dM -E` listing, or -1. */
static long macro_value(const char *m, const char *name) {
  size_t n = strlen(name);
  for (const char *p = m; p && *p;) {
    if (!strncmp(p, "#define ", 8) && !strncmp(p + 8, name, n) && p[8 + n] == ' ') return strtol(p + 9 + n, NULL, 10);
    p = strchr(p, '\n');
    if (p) p++;
  }
  return -1;
}

/* Why a compiler cannot build the shim, from its predefined macros (NULL: it
 * can, or they are unknown), malloc'd. The shim's half is _Float16, which
 * clang has on x86-64 from 15 and g++ in C++ from 12, and clang's bool
 * vectors are from 15 (clang 14 and g++ 11 fail on every kernel; Apple
 * clang's numbers are its own and are not judged here). The shim says the
 * same with #error. */
static char *unfit(const char *m) {
  if (!m) return NULL;
  long clang = macro_value(m, "__clang_major__"), gnuc = macro_value(m, "__GNUC__");
  if (clang >= 0 && macro_value(m, "__APPLE__") < 0 && clang < 15)
    return rt_strfmt("clang %ld is too old: the emulator needs clang 15 or newer (_Float16, bool vectors)", clang);
  if (clang < 0 && gnuc >= 0 && gnuc < 12)
    return rt_strfmt("g++ %ld is too old: the emulator needs g++ 12 or newer (_Float16 in C++)", gnuc);
  return NULL;
}

static void *ask_server(void *arg) {
  Ask *a = arg;
  a->srv = cxx_fork_start(a->cxx, a->dir);
  return NULL;
}

static bool named_clang(const char *path) {
  const char *base = strrchr(path, '/');
  return strstr(base ? base + 1 : path, "clang") != NULL;
}

/* Identifies t: its version text and linking tools, from the record in dir
 * (NULL: none) or by running the compiler (then recorded). A compiler that
 * cannot build the shim is an error, recorded as such (UNFIT). */
static tm_status identify(Toolchain *t, const char *dir, char **err) {
  char *file = record_path(dir, t->path), *text = NULL, *rtlib = NULL;
  if (file) seed_copy(dir, file);
  int had = record_read(file, &text, &rtlib) == 0;
  if (had && rtlib && !strcmp(rtlib, UNFIT)) { /* judged before: the reason is the text */
    tm_status st = rt_error(TM_ERR_DEVICE, err, "%s: %s", t->path, text);
    free(text), free(rtlib), free(file);
    return st;
  }
  if (!had) {
    Ask ask = {t->path, dir, NULL, NULL, NULL};
    pthread_t th[3];
    int on[3] = {pthread_create(&th[0], NULL, ask_rtlib, &ask) == 0,
                 dir && named_clang(t->path) && cxx_fork_enabled() && pthread_create(&th[1], NULL, ask_server, &ask) == 0,
                 pthread_create(&th[2], NULL, ask_macros, &ask) == 0};
    char *argv[] = {t->path, (char *)"--version", NULL};
    int rc = tool_run("version", argv, 4096, &text);
    if (on[0]) pthread_join(th[0], NULL);
    else ask_rtlib(&ask);
    if (on[1]) pthread_join(th[1], NULL);
    if (on[2]) pthread_join(th[2], NULL);
    else ask_macros(&ask);
    rtlib = ask.rtlib;
    char *why = rc == 0 && text ? unfit(ask.macros) : NULL;
    free(ask.macros);
    if (ask.srv && text && strstr(text, "clang") && !why) t->srv = ask.srv, t->srv_for = getpid();
    else cxx_fork_stop(ask.srv);
    if (rc != 0 || !text || why) {
      free(text), free(rtlib);
      tm_status st = why ? rt_error(TM_ERR_DEVICE, err, "%s: %s", t->path, why)
                         : rt_error(TM_ERR_DEVICE, err, "the C++ compiler %s does not run (`--version` failed)",
                                    t->path);
      if (why) record_write(file, dir, why, UNFIT); /* a later process skips it at once */
      free(why), free(file);
      return st;
    }
    record_write(file, dir, text, rtlib);
  }
  free(file);
  Sha256 s;
  uint8_t d[32];
  sha256_init(&s);
  sha256_update(&s, t->path, strlen(t->path) + 1);
  sha256_update(&s, text, strlen(text));
  t->clang = strstr(text, "clang") != NULL;
  const char *cv = strstr(text, "clang version ");
  int major = cv && !strstr(text, "Apple clang") ? atoi(cv + 14) : 0;
  t->no_bf16 = major >= 15 && major < 17 ? major : 0;
  free(text);
  t->ld = rtlib && rtlib[0] == '/' && access(rtlib, R_OK) == 0 ? rt_find_on_path("ld") : NULL;
  t->rtlib = t->ld ? rtlib : NULL;
  if (!t->ld) free(rtlib);
  /* how ld links: without -lm where libm is bound globally (HAVE_LIBM_SO) */
  sha256_update(&s, t->ld ? (HAVE_LIBM_SO ? "ld-nolm" : "ld") : "driver", t->ld && HAVE_LIBM_SO ? 8 : 3);
  if (t->ld) hash_file_stamp(&s, t->ld), hash_file_stamp(&s, t->rtlib);
  sha256_final(&s, d);
  sha256_hex(d, t->id);
  return TM_OK;
}

/* The toolchain TRITON_METAL_CXX names (or the first found), identified once
 * per process; dir: the cache folder for its record, or NULL. */
static tm_status toolchain(const char *dir, Toolchain **out, char **err) {
  const char *env = getenv("TRITON_METAL_CXX");
  const char *want = env && *env ? env : "";
  pthread_mutex_lock(&toolchains_mu);
  Toolchain *t = toolchains;
  while (t && strcmp(t->want, want)) t = t->next;
  tm_status st = TM_OK;
  if (!t) {
    /* named: that one; else the first of these on PATH that can build the
     * shim (a clang++ too old for it gives way to a g++ that is not), and of
     * those, the first that builds bfloat kernels too (clang 15 and 16 have
     * no __bf16 arithmetic: taken only where no other can be used) */
    static const char *const search[] = {"clang++-19", "clang++", "g++", "c++"};
    const int ncand = *want ? 1 : 4;
    char *why = NULL; /* each candidate's failure, one per line */
    bool any = false;
    st = TM_ERR_DEVICE;
    Toolchain *limited = NULL; /* the first that builds all but bfloat kernels, if none does all */
    for (int i = 0; i < ncand && st != TM_OK; i++) {
      char *path = rt_find_on_path(*want ? want : search[i]), *e = NULL;
      if (!path) continue;
      any = true;
      if (!(t = calloc(1, sizeof *t)) || !(t->want = rt_strdup(want))) {
        free(t), free(path), t = NULL;
        st = TM_ERR_NOMEM;
        break;
      }
      t->path = path;
      st = identify(t, dir, &e);
      if (st == TM_OK && t->no_bf16 && !*want) {
        if (!limited) limited = t;
        else cxx_fork_stop(t->srv), free(t->want), free(t->path), free(t->ld), free(t->rtlib), free(t);
        t = NULL;
        st = TM_ERR_DEVICE;
      } else if (st == TM_OK) {
        t->next = toolchains, toolchains = t;
      } else {
        char *more = rt_strfmt("%s%s  %s", why ? why : "", why ? "\n" : "", e ? e : "failed");
        if (more) free(why), why = more;
        free(t->want), free(t->path), free(t->ld), free(t->rtlib), free(t), t = NULL;
      }
      free(e);
    }
    if (limited && st == TM_OK) { /* a better one came after it */
      cxx_fork_stop(limited->srv);
      free(limited->want), free(limited->path), free(limited->ld), free(limited->rtlib), free(limited);
    } else if (limited && st != TM_ERR_NOMEM) {
      t = limited, st = TM_OK;
      t->next = toolchains, toolchains = t;
    }
    if (st == TM_ERR_NOMEM) st = rt_error(TM_ERR_NOMEM, err, "out of memory");
    else if (st != TM_OK && !any)
      st = *want ? rt_error(TM_ERR_DEVICE, err, "TRITON_METAL_CXX=%s: no such program", want)
                 : rt_error(TM_ERR_DEVICE, err,
                            "the cpu device needs a C++17 compiler: none of clang++-19, "
                            "clang++, g++, c++ is on PATH (or set TRITON_METAL_CXX)");
    else if (st != TM_OK && *want)
      st = rt_error(TM_ERR_DEVICE, err, "TRITON_METAL_CXX=%s cannot build the cpu device's kernels:\n%s", want,
                    why ? why : "");
    else if (st != TM_OK)
      st = rt_error(TM_ERR_DEVICE, err,
                    "the cpu device found no C++ compiler on PATH that it can use (it needs clang 15 or "
                    "newer, or g++ 12 or newer):\n%s\ninstall one (Debian, Ubuntu: apt install clang-19) or "
                    "set TRITON_METAL_CXX",
                    why ? why : "");
    free(why);
  }
  pthread_mutex_unlock(&toolchains_mu);
  *out = t;
  return st;
}

/* ------------------------------------------------------------ trampoline */

static const char *builtin_expr(tm_builtin b) {
  switch (b) {
  case TM_BI_THREADGROUP_POSITION: return "uint3(tm_c->pid[0], tm_c->pid[1], tm_c->pid[2])";
  case TM_BI_THREADGROUPS_PER_GRID: return "uint3(tm_c->npid[0], tm_c->npid[1], tm_c->npid[2])";
  case TM_BI_THREAD_INDEX: return "tm_c->tid";
  case TM_BI_SIMDLANE: return "tm_c->tid % 32u";
  case TM_BI_SIMDGROUP: return "tm_c->tid / 32u";
  }
  return "0";
}

/* Appends printf output to a growing buffer; sets *ok = 0 when out of memory. */
typedef struct Buf {
  char *s;
  size_t n, cap;
  int ok;
} Buf;

static void put(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(Buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *t = rt_vstrfmt(fmt, ap);
  va_end(ap);
  size_t n = t ? strlen(t) : 0;
  if (!t || (b->n + n + 1 > b->cap && !(b->s = realloc(b->s, b->cap = 2 * (b->n + n + 1))))) {
    b->ok = 0;
    free(t);
    return;
  }
  memcpy(b->s + b->n, t, n + 1);
  b->n += n;
  free(t);
}

static char *trampoline(const tm_kernel_info *k) {
  Buf b = {.ok = 1};
  put(&b, "\n// ---- tm trampoline (generated by runtime/cpu/cpu_build.c) ----\n"
          "static inline __attribute__((always_inline)) void tm_call(tm_cpu_ctx *tm_c, "
          "void *const *tm_a) {\n  %s(",
      k->name);
  int n = 0;
  for (int i = 0; i < k->nargs; i++, n++) {
    const char *t = rt_msl_type(k->args[i].dtype);
    /* bool buffers are declared as bytes in the MSL (any nonzero byte is true) */
    if (k->args[i].role == TM_ARG_BUFFER && k->args[i].dtype == TM_I1) t = rt_msl_type(TM_U8);
    if (k->args[i].role == TM_ARG_BUFFER && k->args[i].dtype == TM_F64) t = rt_msl_type(TM_U64); /* as emit.c declares it */
    if (k->args[i].role == TM_ARG_BUFFER)
      put(&b, "%s\n    ::metal::tm_buf<%s>{tm_a[%d]}", n ? "," : "", t, i);
    else
      put(&b, "%s\n    *(const TM_AS_CONSTANT %s *)tm_a[%d]", n ? "," : "", t, i); /* constant T& */
  }
  for (int i = 0; i < k->nbuiltins; i++, n++)
    put(&b, "%s\n    %s", n ? "," : "", builtin_expr(k->builtins[i]));
  put(&b, ");\n}\n"
          "extern \"C\" __attribute__((visibility(\"default\"))) const int tm_cpu_abi = "
          "TM_CPU_ABI_VERSION;\n"
          "extern \"C\" __attribute__((visibility(\"default\"))) void tm_cpu_entry(tm_cpu_ctx "
          "*tm_c, void *const *tm_a) {\n"
          "  ::metal::tm_cur = tm_c;\n  tm_call(tm_c, tm_a);\n}\n"
          "extern \"C\" __attribute__((visibility(\"default\"))) void tm_cpu_entry_range("
          "tm_cpu_ctx *tm_c, void *const *tm_a, unsigned tm_t0, unsigned tm_t1) {\n"
          "  ::metal::tm_cur = tm_c;\n"
          "  for (unsigned tm_t = tm_t0; tm_t < tm_t1; tm_t++) {\n"
          "    tm_c->tid = tm_t;\n    tm_call(tm_c, tm_a);\n  }\n}\n");
  if (!b.ok) free(b.s);
  return b.ok ? b.s : NULL;
}

/* ------------------------------------------------------------ files */



/* The private folders this process made: removed by cpu_temp_dir_remove, or at
 * exit for those of devices never freed (by the process that made them only,
 * not by a forked child that exits). */
static pthread_once_t temps_once = PTHREAD_ONCE_INIT;
static char **temps;
static int ntemps, captemps;
static pid_t temps_pid;


static void temps_at_exit(void) {
  pthread_mutex_lock(&temps_mu);
  if (getpid() == temps_pid)
    for (int i = 0; i < ntemps; i++) rt_remove_tree(temps[i]);
  pthread_mutex_unlock(&temps_mu);
}

static void temps_init(void) {
  temps_pid = getpid();
  atexit(temps_at_exit);
}

/* A fresh private folder <parent>/<prefix>-XXXXXX, malloc'd; NULL on failure. */
static char *temp_dir_in(const char *parent, const char *prefix) {
  char *p = rt_strfmt("%s/%s-XXXXXX", parent, prefix);
  if (p && !mkdtemp(p)) {
    free(p);
    return NULL;
  }
  pthread_once(&temps_once, temps_init);
  pthread_mutex_lock(&temps_mu);
  if (ntemps == captemps) {
    int cap = captemps ? captemps * 2 : 8;
    char **grown = realloc(temps, (size_t)cap * sizeof *grown);
    if (grown) temps = grown, captemps = cap;
  }
  char *copy = ntemps < captemps && p ? rt_strdup(p) : NULL;
  if (copy) temps[ntemps++] = copy; /* else only cpu_temp_dir_remove removes it */
  pthread_mutex_unlock(&temps_mu);
  return p;
}

/* A fresh private folder under $TMPDIR (or /tmp), malloc'd; NULL on failure. */
static char *temp_dir(void) {
  const char *t = getenv("TMPDIR");
  return temp_dir_in(t && *t ? t : "/tmp", "triton-metal-cpu");
}

/* Whether dir is on a filesystem mounted noexec, where no object can be
 * mapped executable (dlopen: "failed to map segment from shared object"). */
static bool noexec_dir(const char *dir) {
  struct statvfs v;
  return statvfs(dir, &v) == 0 && (v.f_flag & ST_NOEXEC);
}

/* Removes the folders ".load-<pid>-XXXXXX" that processes which are gone
 * left in the cache folder dir (load_dir). */
static void load_dir_sweep(const char *dir) {
  DIR *dd = opendir(dir);
  if (!dd) return;
  for (struct dirent *e; (e = readdir(dd));) {
    char *end;
    long pid = !strncmp(e->d_name, ".load-", 6) ? strtol(e->d_name + 6, &end, 10) : 0;
    if (pid <= 0 || *end != '-' || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* still there */
    char *f = rt_strfmt("%s/%s", dir, e->d_name);
    if (f) rt_remove_tree(f);
    free(f);
  }
  closedir(dd);
}

/* The private folder verified objects are loaded from (open_bytes), malloc'd:
 * one under $TMPDIR, or where that is mounted noexec (hardened containers
 * mount /tmp so) one in the cache folder dir, ".load-<pid>-XXXXXX" (those of
 * processes that are gone removed first). NULL when neither can hold a
 * loadable object: objects then load from the cache folder itself. */
static char *load_dir(const char *dir) {
  char *t = temp_dir();
  if (t && !noexec_dir(t)) return t;
  if (t) cpu_temp_dir_remove(t), free(t);
  if (!dir || noexec_dir(dir)) return NULL;
  load_dir_sweep(dir);
  char prefix[40];
  snprintf(prefix, sizeof prefix, ".load-%ld", (long)getpid());
  return temp_dir_in(dir, prefix);
}

/* Removes a folder made by temp_dir and what the builds left in it. */
void cpu_temp_dir_remove(const char *dir) {
  rt_remove_tree(dir);
  pthread_mutex_lock(&temps_mu);
  for (int i = 0; i < ntemps; i++)
    if (!strcmp(temps[i], dir)) {
      free(temps[i]);
      temps[i] = temps[--ntemps];
      break;
    }
  pthread_mutex_unlock(&temps_mu);
}

/* Writes text to path atomically (unique temp file + rename). */
static int write_file_atomic(const char *path, const char *const *parts, int nparts) {
  char *tmp = rt_strfmt("%s.XXXXXX", path);
  int fd = tmp ? mkstemp(tmp) : -1;
  if (fd < 0) {
    free(tmp);
    return -1;
  }
  int bad = 0;
  for (int i = 0; i < nparts && !bad; i++) bad = rt_write_all(fd, parts[i], strlen(parts[i]));
  bad |= close(fd);
  bad = bad || rename(tmp, path);
  if (bad) unlink(tmp);
  free(tmp);
  return bad ? -1 : 0;
}

/* ------------------------------------------------------------ seed
 *
 * TRITON_METAL_CPU_SEED names a folder laid out as a cache's cpu/ folder
 * that holds what a new cache would otherwise make first: the toolchain
 * record and the precompiled shims (`make all` fills python/triton_metal/
 * _seed/cpu for the compiler it finds, tools/make_seed.py, and the package
 * points this variable at it). A file a cache lacks is copied from there
 * before it is read, then checked as every file of the cache is (the record
 * by the hash of its text, a PCH by its sum; the PCH carries the shim's text,
 * -fmodules-embed-all-files, so it does not name a file of another folder).
 * One that does not match is made anew as without a seed. Kernels are never
 * seeded: each is still compiled. */

/* Copies <seed>/<rel> to path, where path is <cpu>/<rel>, unless path is
 * there; quietly does nothing when there is no seed or no such file. */
static void seed_copy(const char *cpu, const char *path) {
  const char *seed = getenv("TRITON_METAL_CPU_SEED");
  size_t n = strlen(cpu);
  if (!seed || !*seed || strncmp(path, cpu, n) || path[n] != '/' || access(path, F_OK) == 0) return;
  char *src = rt_strfmt("%s/%s", seed, path + n + 1), *bytes = NULL, *tmp = rt_strfmt("%s.XXXXXX", path);
  char *folder = rt_strdup(path), *slash = folder ? strrchr(folder, '/') : NULL;
  size_t len = 0;
  int fd = -1;
  if (slash) *slash = 0;
  if (src && tmp && slash && rt_read_regular(src, 64u << 20, &bytes, &len) == 0 && rt_mkdirs(folder) == 0 &&
      (fd = mkstemp(tmp)) >= 0) {
    int bad = rt_write_all(fd, bytes, len);
    bad |= close(fd);
    if (bad || rename(tmp, path)) unlink(tmp);
  }
  free(src), free(tmp), free(bytes), free(folder);
}

/* The headers Metal 4 tensor ops include: the shim's metal_stdlib declares
 * what they would (in C++20 mode), so they only include it. */
#define TENSOR_OPS_HEADER "MetalPerformancePrimitives/MetalPerformancePrimitives.h"
static const char *const stub_headers[] = {"metal_tensor", TENSOR_OPS_HEADER};
static const char stub_text[] = "// the emulator's metal_stdlib holds the subset of this header it supports\n"
                                "#include <metal_stdlib>\n";

/* Writes <folder>/<name> unless it holds exactly text; 0 when it does. */
static int shim_file(const char *folder, const char *name, const char *text) {
  char *file = rt_strfmt("%s/%s", folder, name);
  char *slash = file ? strrchr(file, '/') : NULL;
  char *have = NULL;
  size_t n = 0, want = strlen(text);
  int ok = 0;
  if (file && rt_read_regular(file, want, &have, &n) == 0 && n == want && !memcmp(have, text, n))
    ok = 1;
  else if (slash) {
    unlink(file); /* garbled, truncated, a FIFO...: replaced */
    *slash = 0;
    ok = rt_mkdirs(file) == 0;
    *slash = '/';
    ok = ok && write_file_atomic(file, (const char *const[]){text}, 1) == 0;
  }
  free(have);
  free(file);
  return ok ? 0 : -1;
}

/* The SHA-256 (hex) of the shim text, computed once: the object and PCH
 * keys name it instead of hashing its 85 KB again for every build (a fifth
 * of the launching process's time in a new small kernel's build). */
static char shim_digest[65];
static void shim_digest_init(void) {
  uint8_t d[32];
  sha256(tm_shim_text, sizeof tm_shim_text - 1, d);
  sha256_hex(d, shim_digest);
}
static const char *shim_hex(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, shim_digest_init);
  return shim_digest;
}

/* <dir>/shim-<hash>/ holding metal_stdlib (and the stub headers); returns the
 * folder (malloc'd). */
static char *shim_dir(const char *dir) {
  char *folder = rt_strfmt("%s/shim-%.16s", dir, shim_hex());
  int ok = folder && shim_file(folder, "metal_stdlib", tm_shim_text) == 0;
  for (size_t i = 0; ok && i < sizeof stub_headers / sizeof *stub_headers; i++)
    ok = shim_file(folder, stub_headers[i], stub_text) == 0;
  if (!ok) free(folder);
  return ok ? folder : NULL;
}


/* ------------------------------------------------------------ precompiled shim
 *
 * Parsing the shim is ~25 ms of every compile; clang can load it parsed
 * instead, from a precompiled header built once per (toolchain, flags, shim
 * text): <cache>/cpu/shim-<hash>/<key>.pch, key = SHA-256 of the three
 * (the flags include the optimisation level and -std: a PCH is only valid
 * with the options it was built with). A compile passes -include-pch; the
 * MSL's own `#include <metal_stdlib>` then finds the shim's include guard
 * already defined and parses nothing. Built with -fno-pch-timestamp (the shim
 * file may be rewritten with the same text: only its size is then checked).
 *
 * The PCH is checked as the objects are: <key>.pch.sum records the SHA-256 of
 * the bytes clang wrote; a PCH whose bytes do not hash to it (truncated,
 * garbled, swapped) is deleted and built again, never given to clang. A
 * process remembers the files it verified (device, inode, size, times: a
 * write in place changes the change time), so the ~0.7 MB are hashed once
 * per process. Building: a unique temporary name, read back and hashed
 * through the same descriptor, its sum written, then renamed into place
 * (processes building at once each rename a whole file). Should a compile
 * with the PCH still fail in a way that names it (or clang die of a signal),
 * the PCH is deleted and the compile runs again without it.
 *
 * gcc's precompiled headers (.gch) are looked up implicitly and silently
 * ignored when unusable: g++ compiles without one (parsing the shim).
 *
 * Shared shim code (-O0 on Linux). A kernel compiled with a plain PCH still
 * generates code for every shim function it calls (the checked accesses,
 * the collectives, fmax, the bf16 rounding routine...): at -O0 about 4 of a
 * small kernel's 24 ms of compile. So -O0 has a second PCH, "with code":
 * built with -fpch-codegen, a kernel compiled with it declares the shim's
 * inline functions and template specializations the PCH holds instead of
 * defining them, and their code is compiled once, from the PCH, into
 * <key>.pch.o (-ffunction-sections), which every kernel compiled with it
 * links with --gc-sections (only the functions it calls stay: ~1 ms of
 * linking). That code is compiled at -O2 (the flags are otherwise the
 * kernels': the same IEEE arithmetic, no contraction), since it is compiled
 * once: the collectives and checked accesses an -O0 kernel calls then run
 * optimised (a softmax's first run ~2.9 -> ~2.0 ms), for ~0.5 s of
 * background compile instead of ~0.1 s, once per cache (none where the seed
 * has it). The shim ends with a function that is never called but
 * instantiates the collectives and accesses most kernels use, so that those
 * are in the PCH too. The object is part of that PCH: built with it, its
 * SHA-256 on the same sum line, verified and deleted with it.
 *
 * Building it costs ~0.6 s of compiler time, once per cache. A script that
 * builds a few kernels from a new cache should not wait for that, so it is
 * built in the background (a detached thread, nice 10, like the -O2 tier's
 * builds) by a process whose CODE_AFTER-th -O0 build found only the plain
 * PCH, and -O0 builds take it once it is there. The process waits for it at
 * exit (atexit), so that it is finished for the next one; one that ends
 * otherwise (a signal, _exit) abandons it: its temporary files carry the
 * process id, and the next background build removes those of processes
 * that are gone. -O2 has only the plain PCH: its kernels must see the
 * shim's function bodies to inline them. */

enum { PCH_MAX = 64 << 20 };
#define PCH_TAG "triton-metal cpu pch v5"

/* Whether these flags have a PCH with code ("Shared shim code"): clang, -O0
 * (build_flags puts the level first), an ELF linker. */
static bool pch_codegen(const Toolchain *tc, const char *const *fl) {
#if defined(__linux__)
  return tc->clang && !strcmp(fl[0], "-O0");
#else
  (void)tc, (void)fl;
  return false;
#endif
}

struct PchSeen {
  char *path;
  struct stat st, ost; /* the PCH's, and its object's (zeros: none) */
  struct PchSeen *next;
};

static bool same_file(const struct stat *a, const struct stat *b) {
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
         a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
         a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Whether this process verified path as it is now. */
static bool pch_seen(Toolchain *tc, const char *path, bool code) {
  struct stat st, ost;
  char *opath = code ? rt_strfmt("%s.o", path) : NULL;
  if (stat(path, &st) || (code && (!opath || stat(opath, &ost)))) return free(opath), false;
  free(opath);
  if (!code) memset(&ost, 0, sizeof ost);
  bool yes = false;
  pthread_mutex_lock(&toolchains_mu);
  for (PchSeen *p = tc->pch_seen; p && !yes; p = p->next)
    yes = !strcmp(p->path, path) && same_file(&p->st, &st) && same_file(&p->ost, &ost);
  pthread_mutex_unlock(&toolchains_mu);
  return yes;
}

static void pch_remember(Toolchain *tc, const char *path, const struct stat *st, const struct stat *ost) {
  pthread_mutex_lock(&toolchains_mu);
  PchSeen *p = tc->pch_seen;
  while (p && strcmp(p->path, path)) p = p->next;
  if (!p && (p = calloc(1, sizeof *p))) {
    if ((p->path = rt_strdup(path))) p->next = tc->pch_seen, tc->pch_seen = p;
    else free(p), p = NULL;
  }
  if (p) {
    p->st = *st;
    if (ost) p->ost = *ost;
    else memset(&p->ost, 0, sizeof p->ost);
  }
  pthread_mutex_unlock(&toolchains_mu);
}

/* Reads the open file fd (at most PCH_MAX bytes) and hashes it; 0 on success. */
static int hash_fd(int fd, struct stat *st, char hex[65]) {
  if (fstat(fd, st) || !S_ISREG(st->st_mode) || st->st_size > PCH_MAX) return -1;
  Sha256 s;
  uint8_t d[32];
  enum { CHUNK = 256 << 10 };
  char *chunk = malloc(CHUNK);
  if (!chunk) return -1;
  sha256_init(&s);
  for (;;) {
    ssize_t r = read(fd, chunk, CHUNK);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      free(chunk);
      if (r < 0) return -1;
      break;
    }
    sha256_update(&s, chunk, (size_t)r);
  }
  sha256_final(&s, d);
  sha256_hex(d, hex);
  return 0;
}

/* The sum line of a PCH whose bytes hash to hex (and its object's to ohex,
 * where it has one); malloc'd. */
static char *pch_sum_line(const char *key, const char *hex, const char *ohex) {
  return ohex ? rt_strfmt("%s %s %s %s\n", PCH_TAG, key, hex, ohex) : rt_strfmt("%s %s %s\n", PCH_TAG, key, hex);
}

/* Whether path's bytes (and path.o's, for a PCH with code) hash to what
 * path.sum records; remembers it if so. */
static bool pch_verify(Toolchain *tc, const char *path, const char *key, bool code) {
  char *sum = rt_strfmt("%s.sum", path), *opath = code ? rt_strfmt("%s.o", path) : NULL, *rec = NULL, *want = NULL;
  char hex[65], ohex[65];
  size_t nrec;
  struct stat st, ost;
  int fd = rt_open_regular(path, NULL), ofd = opath ? rt_open_regular(opath, NULL) : -1;
  bool ok = fd >= 0 && sum && (!code || (ofd >= 0 && hash_fd(ofd, &ost, ohex) == 0)) &&
            rt_read_regular(sum, 512, &rec, &nrec) == 0 && hash_fd(fd, &st, hex) == 0 &&
            (want = pch_sum_line(key, hex, code ? ohex : NULL)) && !strcmp(rec, want);
  if (fd >= 0) close(fd);
  if (ofd >= 0) close(ofd);
  if (ok) pch_remember(tc, path, &st, code ? &ost : NULL);
  free(sum), free(opath), free(rec), free(want);
  return ok;
}

/* Deletes a PCH, its object and its sum (unusable: rebuilt by the next compile). */
static void pch_discard(const char *path) {
  char *sum = rt_strfmt("%s.sum", path), *opath = rt_strfmt("%s.o", path);
  unlink(path);
  if (sum) unlink(sum);
  if (opath) unlink(opath);
  free(sum), free(opath);
}

/* The PCH's key (hex) for the flags, and its path in inc (malloc'd). */
static char *pch_path(Toolchain *tc, const char *inc, const char *const *fl, int nfl, bool code, char key[65]) {
  Sha256 s;
  uint8_t d[32];
  sha256_init(&s);
  sha256_update(&s, PCH_TAG, sizeof PCH_TAG);
  if (code) sha256_update(&s, "with code", 10);
  sha256_update(&s, tc->id, sizeof tc->id);
  for (int i = 0; i < nfl; i++) sha256_update(&s, fl[i], strlen(fl[i]) + 1);
  sha256_update(&s, shim_hex(), 64);
  sha256_final(&s, d);
  sha256_hex(d, key);
  return rt_strfmt("%s/%.32s.pch", inc, key);
}

/* A PCH the cache lacks, with its sum (and object), from the seed ("seed"). */
static void pch_seed(const char *inc, const char *path, bool code) {
  if (!getenv("TRITON_METAL_CPU_SEED") || access(path, F_OK) == 0) return;
  char *cpu = rt_strdup(inc), *slash = cpu ? strrchr(cpu, '/') : NULL;
  char *sum = rt_strfmt("%s.sum", path), *obj = code ? rt_strfmt("%s.o", path) : NULL;
  if (slash) *slash = 0;
  if (slash && sum && (!code || obj)) {
    if (code) seed_copy(cpu, obj);
    seed_copy(cpu, sum);
    seed_copy(cpu, path);
  }
  free(cpu), free(sum), free(obj);
}

/* The PCH (with code or not) for the flags if it is there and verified
 * (clang only), else NULL (malloc'd path). */
static char *pch_ready(Toolchain *tc, const char *inc, const char *const *fl, int nfl, bool code) {
  char key[65], *path = tc->clang ? pch_path(tc, inc, fl, nfl, code, key) : NULL;
  /* the seed is looked at only for a PCH this process has not verified (a build's hot path: one stat) */
  if (path && !pch_seen(tc, path, code) && (pch_seed(inc, path, code), !pch_verify(tc, path, key, code))) {
    /* with a seed, a PCH that fails its check (garbled, replaced) is taken
     * from the seed again; without, the next pch_get builds it anew */
    bool again = false;
    const char *seed = getenv("TRITON_METAL_CPU_SEED");
    if (seed && *seed) {
      pch_discard(path);
      pch_seed(inc, path, code);
      again = pch_verify(tc, path, key, code);
    }
    if (!again) free(path), path = NULL;
  }
  return path;
}

/* A verified PCH of the shim in folder inc for the compile flags fl (clang
 * only), built if need be; NULL: compile without (malloc'd path). */
static char *pch_get(Toolchain *tc, const char *dir, const char *inc, const char *const *fl, int nfl, bool code) {
  if (!tc->clang) return NULL;
  char key[65], *path = pch_path(tc, inc, fl, nfl, code, key);
  if (!path || pch_seen(tc, path, code)) return path;
  pch_seed(inc, path, code);
  if (pch_verify(tc, path, key, code)) return path;
  pch_discard(path); /* missing, or not what was built: built again */
  /* temporary names end as the final ones do (the driver knows a PCH by its
   * .pch) and carry the process id ("Shared shim code": swept once it is gone) */
  char *tmp = rt_strfmt("%s.%ld.XXXXXX.pch", path, (long)getpid()), *hdr = rt_strfmt("%s/metal_stdlib", inc);
  char *otmp = code ? rt_strfmt("%s.%ld.XXXXXX.o", path, (long)getpid()) : NULL;
  char *opath = code ? rt_strfmt("%s.o", path) : NULL;
  char *sum = rt_strfmt("%s.sum", path), *line = NULL, *text = NULL, hex[65], ohex[65];
  int fd = tmp ? mkstemps(tmp, 4) : -1, ofd = -1, ok = 0;
  if (code && otmp && (ofd = mkstemps(otmp, 2)) >= 0) close(ofd), ofd = -1;
  if (fd >= 0 && hdr && sum && (!code || (otmp && opath && access(otmp, F_OK) == 0))) {
    close(fd);
    char *argv[MAXFLAGS + 16]; /* the flags, the tail below (12), -fpch-codegen, NULL */
    int n = 0;
    argv[n++] = tc->path;
    for (int i = 0; i < nfl; i++) argv[n++] = (char *)fl[i];
    int at_tail = n;
    /* -fpch-instantiate-templates: what the shim's own code instantiates is
     * instantiated once here, not again in every kernel (clang 11+; 1-2% of
     * a small kernel's -O0 compile) */
    /* -fmodules-embed-all-files: the PCH carries the shim's text instead of
     * naming this folder's file, so a copy serves another cache ("seed") */
    const char *tail[] = {"-Xclang", "-fno-pch-timestamp", "-Xclang", "-fmodules-embed-all-files",
                          "-fpch-instantiate-templates", "-I", inc, "-x", "c++-header", hdr, "-o", tmp};
    for (size_t i = 0; i < sizeof tail / sizeof *tail; i++) argv[n++] = (char *)tail[i];
    if (code) argv[n++] = (char *)"-fpch-codegen";
    argv[n] = NULL;
    struct stat st, ost;
    bool built = cxx_run(tc, dir, "pch", argv, 4096, &text) == 0;
    if (built && code) {
      /* its code: the same flags, each function in a section of its own (for
       * --gc-sections), no unwind tables (nothing unwinds a kernel; ~0.4 ms
       * less of every link) */
      const char *otail[] = {"-ffunction-sections", "-fdata-sections", "-fno-asynchronous-unwind-tables",
                             "-fno-unwind-tables", "-c", tmp, "-o", otmp};
      argv[1] = (char *)"-O2"; /* the code optimised (fl[0], the level, was -O0) */
      n = at_tail;
      for (size_t i = 0; i < sizeof otail / sizeof *otail; i++) argv[n++] = (char *)otail[i];
      argv[n] = NULL;
      free(text), text = NULL;
      built = cxx_run(tc, dir, "shim", argv, 4096, &text) == 0 && (ofd = rt_open_regular(otmp, NULL)) >= 0 &&
              hash_fd(ofd, &ost, ohex) == 0;
    }
    if (built && (fd = rt_open_regular(tmp, NULL)) >= 0) {
      ok = hash_fd(fd, &st, hex) == 0 && (line = pch_sum_line(key, hex, code ? ohex : NULL)) &&
           (!code || rename(otmp, opath) == 0) && write_file_atomic(sum, (const char *const[]){line}, 1) == 0 &&
           rename(tmp, path) == 0;
      /* the renames changed their ctimes */
      if (ok && fstat(fd, &st) == 0 && (!code || fstat(ofd, &ost) == 0)) pch_remember(tc, path, &st, code ? &ost : NULL);
      close(fd);
    }
  }
  if (ofd >= 0) close(ofd);
  if (!ok && tmp) unlink(tmp);
  if (!ok && otmp) unlink(otmp);
  free(tmp), free(hdr), free(sum), free(line), free(text), free(otmp), free(opath);
  if (!ok) free(path);
  return ok ? path : NULL;
}

/* A foreground compile that finds no PCH goes on without it while a thread
 * builds the PCH for the compiles after it: ~37 ms for the two at once
 * instead of ~35 ms of PCH and then ~21 ms of compile (a cold cache's first
 * kernel; the compile without the PCH parses the shim itself). The compile
 * waits for the thread before it returns, so the PCH is in place, verified,
 * when the first build is. */
typedef struct PchAhead {
  Toolchain *tc;
  const char *dir, *inc;
  const char *const *fl;
  int nfl;
  char *path;
} PchAhead;

static void *pch_ahead(void *arg) {
  PchAhead *a = arg;
  a->path = pch_get(a->tc, a->dir, a->inc, a->fl, a->nfl, false);
  return NULL;
}

/* Removes the temporary files that processes which are gone left in the
 * shim folder inc while building a PCH ("<key>.pch.<pid>.XXXXXX.pch" or ".o"). */
static void pch_sweep(const char *inc) {
  DIR *dd = opendir(inc);
  if (!dd) return;
  for (struct dirent *e; (e = readdir(dd));) {
    const char *p = strstr(e->d_name, ".pch.");
    char *end;
    long pid = p ? strtol(p + 5, &end, 10) : 0;
    if (pid <= 0 || *end != '.' || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* still there */
    char *f = rt_strfmt("%s/%s", inc, e->d_name);
    if (f) unlink(f);
    free(f);
  }
  closedir(dd);
}

/* The background build of a PCH with code ("Shared shim code"). */
typedef struct CodeAhead {
  Toolchain *tc;
  char *dir, *inc;
  const char *fl[MAXFLAGS];
  int nfl;
} CodeAhead;

/* Background builds of a PCH with code running in process code_pid (under
 * toolchains_mu, which the fork handlers hold: a child sees its parent's
 * count with the parent's pid and waits for none of them). */
static pthread_cond_t code_cv = PTHREAD_COND_INITIALIZER;
static int code_running;
static pid_t code_pid;
static pthread_once_t code_once = PTHREAD_ONCE_INIT;

/* At exit: waits for this process's background builds, so that a PCH it
 * started is finished (not left half built for the next process to start
 * again). */
static void code_at_exit(void) {
  pthread_mutex_lock(&toolchains_mu);
  while (code_pid == getpid() && code_running > 0) pthread_cond_wait(&code_cv, &toolchains_mu);
  pthread_mutex_unlock(&toolchains_mu);
}
static void code_register(void) { atexit(code_at_exit); }

static void *code_ahead(void *arg) {
  CodeAhead *a = arg;
#ifdef __linux__
  setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10); /* behind the launches, as the -O2 builds */
#endif
  pch_sweep(a->inc);
  free(pch_get(a->tc, a->dir, a->inc, a->fl, a->nfl, true));
  free(a->dir), free(a->inc), free(a);
  pthread_mutex_lock(&toolchains_mu);
  code_running--;
  pthread_cond_broadcast(&code_cv);
  pthread_mutex_unlock(&toolchains_mu);
  return NULL;
}

enum { CODE_AFTER = 8 }; /* -O0 builds with the plain PCH before the PCH with code is built */

/* After an -O0 build that found only the plain PCH: the CODE_AFTER-th such
 * build of this process starts the PCH with code in the background (once). */
static void code_maybe_start(Toolchain *tc, const char *dir, const char *inc, const char *const *fl, int nfl) {
  pthread_mutex_lock(&toolchains_mu);
  if (tc->code_for != getpid()) tc->code_for = getpid(), tc->o0_builds = 0, tc->code_started = false;
  bool go = ++tc->o0_builds >= CODE_AFTER && !tc->code_started;
  if (go) {
    tc->code_started = true;
    if (code_pid != getpid()) code_pid = getpid(), code_running = 0;
    code_running++;
  }
  pthread_mutex_unlock(&toolchains_mu);
  if (!go) return;
  pthread_once(&code_once, code_register);
  CodeAhead *a = calloc(1, sizeof *a);
  pthread_t t;
  pthread_attr_t at;
  if (a && (a->dir = rt_strdup(dir)) && (a->inc = rt_strdup(inc)) && nfl <= MAXFLAGS && pthread_attr_init(&at) == 0) {
    a->tc = tc, a->nfl = nfl;
    memcpy(a->fl, fl, (size_t)nfl * sizeof *fl); /* static strings */
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &at, code_ahead, a);
    pthread_attr_destroy(&at);
    if (rc == 0) return;
  }
  if (a) free(a->dir), free(a->inc), free(a);
  pthread_mutex_lock(&toolchains_mu);
  code_running--;
  pthread_mutex_unlock(&toolchains_mu);
}

/* ------------------------------------------------------------ lint */

/* The MSL version kernels are built for, as runtime/metal/metal.c asks Metal for it:
 * TRITON_METAL_MSL_VERSION ("3.2"), else the target's (its OS), else 3.1. */
static int msl_version(void) {
  const char *e = getenv("TRITON_METAL_MSL_VERSION");
  unsigned maj, min;
  if (e && sscanf(e, "%u.%u", &maj, &min) == 2) return (int)(maj * 100 + min * 10);
  int v = tm_target_default()->msl_version;
  return v > 0 ? v : 310;
}

/* Runs the MSL lint (runtime/cpu/msl_lint.c); *text gets what to compile. On its
 * errors the source is kept as a failed C++ compile keeps it
 * (<cache>/cpu/<hash>.cc, the trampoline appended: the lines are the MSL's) and
 * the error names that file in each line. */
static tm_status lint(CpuDev *d, const char *msl, const char *tramp, const char *kname, char **text, char **err) {
  char *why = NULL;
  tm_status st = msl_lint(msl, msl_version(), "msl", text, &why);
  if (st != TM_ERR_DEVICE) {
    if (st && err) *err = why, why = NULL;
    free(why);
    return st;
  }
  free(why), why = NULL;
  uint8_t h[32];
  char hex[65];
  Sha256 s;
  sha256_init(&s);
  sha256_update(&s, msl, strlen(msl));
  sha256_update(&s, tramp, strlen(tramp));
  sha256_final(&s, h);
  sha256_hex(h, hex);
  pthread_mutex_lock(&d->mu);
  char *kept = rt_strfmt("%s/%s.cc", d->cache_dir, hex);
  int ok = kept && rt_mkdirs(d->cache_dir) == 0 && write_file_atomic(kept, (const char *const[]){msl, tramp}, 2) == 0;
  pthread_mutex_unlock(&d->mu);
  msl_lint(msl, msl_version(), ok ? kept : "msl", text, &why);
  st = rt_error(TM_ERR_DEVICE, err, "C++ compile of kernel '%s' failed (the emulator's MSL lint: Metal rejects this); "
                "source %s%s\n%s", kname, ok ? "kept at " : "not kept", ok ? kept : "", why ? why : "");
  free(kept), free(why);
  return st;
}

/* ------------------------------------------------------------ build */

enum { OBJ_MAX = 256 << 20 }; /* larger "objects" are not ours */
#define SUM_TAG "triton-metal cpu object v2"

typedef struct Build {
  Toolchain *tc;
  char *dir;        /* <cache>/cpu, or the device's temporary folder (owned) */
  const char *name; /* kernel name, for messages */
  const char *opt;  /* "-O0" or "-O2" */
  bool driver_link; /* link through the compiler driver (ld's object did not load) */
  bool background;  /* a tier-up build: it waits for a missing PCH (pch_ahead is for the foreground) */
  char hex[65];
  char *so;         /* final path of the object */
  int nospace;      /* compile() failed for want of space (errno value), 0 otherwise */
  long stack;       /* bytes of stack the object's functions' frames take together (-fstack-usage), 0 unknown */
} Build;

/* The frames of an object's functions together, from the compiler's
 * -fstack-usage report ("file:line:col:function<TAB>bytes<TAB>static" lines):
 * an upper bound of any call chain within it (kernels do not recurse). At -O0
 * a kernel's frame holds every temporary of its unrolled code apart (no stack
 * slot is shared), far beyond its per-thread arrays: the emulator's fiber
 * stacks are sized from this. 0 where there is no report or it is unreadable. */
static long stack_usage(const char *obj) {
  size_t len = strlen(obj);
  char *su = len > 2 ? rt_strfmt("%.*s.su", (int)(len - 2), obj) : NULL;
  char *text = NULL;
  size_t n;
  long total = 0;
  if (su && rt_read_regular(su, 16 << 20, &text, &n) == 0) {
    for (char *l = text; l && *l;) {
      char *nl = strchr(l, '\n'), *tab = strchr(l, '\t');
      if (tab && (!nl || tab < nl)) {
        char *end;
        long v = strtol(tab + 1, &end, 10);
        if (end != tab + 1 && v > 0 && v < (1L << 30)) total += v;
      }
      l = nl ? nl + 1 : NULL;
    }
  }
  if (su) unlink(su);
  free(su), free(text);
  return total < (1L << 30) ? total : 0;
}

/* errno values that mean "no room to write": a full disk, a quota, a file-size limit */
static int is_nospace(int e) { return e == ENOSPC || e == EDQUOT || e == EFBIG; }

/* Why a compiler run failed when its output does not say: whether a 1 MiB file can be reserved in dir now. Returns the
 * errno of a failed reservation when it means no room, else 0. */
static int probe_space(const char *dir) {
  static const char zeros[64 << 10];
  char *p = rt_strfmt("%s/.tm-space.XXXXXX", dir);
  int fd = p ? mkstemp(p) : -1, e = fd < 0 ? errno : 0;
  for (int i = 0; fd >= 0 && !e && i < 16; i++)
    if (rt_write_all(fd, zeros, sizeof zeros)) e = errno;
  if (fd >= 0) {
    if (!e && fsync(fd)) e = errno;
    close(fd);
    unlink(p);
  }
  free(p);
  return is_nospace(e) ? e : 0;
}

/* The errno a failed compiler run's output names (no room to write), else
 * what probing dir finds. */
static int nospace_of(const char *text, const char *dir) {
  return text && strstr(text, strerror(ENOSPC))   ? ENOSPC
         : text && strstr(text, strerror(EDQUOT)) ? EDQUOT
         : text && strstr(text, strerror(EFBIG))  ? EFBIG
                                                  : probe_space(dir);
}

/* Whether a failed compile that used a PCH may have failed because of it:
 * clang's messages about it, or clang crashing (what a garbled PCH that
 * got past the check does: "PLEASE submit a bug report", a stack dump). */
static bool pch_suspect(int rc, const char *text) {
  return rc < 0 || !text || strstr(text, "precompiled header") || strstr(text, "AST file") ||
         strstr(text, "PCH file") || strstr(text, "PLEASE submit a bug report") || strstr(text, "Stack dump:");
}

/* Compiles msl + tramp to an object and links it to b->so; *bytes (malloc'd,
 * *n bytes) gets the shared object as it was written, before it was renamed
 * into place. */
static tm_status compile(Build *b, const char *msl, const char *tramp, char **bytes, size_t *n_out,
                         char **err) {
  char *inc = shim_dir(b->dir);
  char *src = rt_strfmt("%s/%s.XXXXXX.cc", b->dir, b->hex);
  char *obj = rt_strfmt("%s/%s.XXXXXX.o", b->dir, b->hex);
  char *out = rt_strfmt("%s/%s.XXXXXX.so", b->dir, b->hex);
  char *pch = NULL, *text = NULL;
  int sfd = -1, bfd = -1, ofd = -1, keep_src = 0;
  tm_status st = TM_OK;
  PchAhead ahead = {0};
  pthread_t ahead_thread;
  int ahead_on = 0;
  if (!inc || !src || !obj || !out || (sfd = mkstemps(src, 3)) < 0 || (bfd = mkstemps(obj, 2)) < 0 ||
      (ofd = mkstemps(out, 3)) < 0) {
    if (is_nospace(errno)) b->nospace = errno;
    st = rt_error(TM_ERR_DEVICE, err, "cannot write to the cache folder %s: %s", b->dir,
                  strerror(errno));
    goto done;
  }
  if (rt_write_all(sfd, msl, strlen(msl)) || rt_write_all(sfd, tramp, strlen(tramp))) {
    if (is_nospace(errno)) b->nospace = errno;
    st = rt_error(TM_ERR_DEVICE, err, "cannot write %s: %s", src, strerror(errno));
    goto done;
  }
  const char *fl[MAXFLAGS];
  int nfl = build_flags(b->tc->clang, b->opt, fl);
  /* Metal 4 tensor ops take class-type template arguments: C++20 for those only */
  if (strstr(msl, TENSOR_OPS_HEADER))
    for (int i = 0; i < nfl; i++)
      if (!strcmp(fl[i], "-std=c++17")) fl[i] = "-std=c++20";
  /* -O0 takes the PCH with code where it is there ("Shared shim code") */
  bool code = pch_codegen(b->tc, fl) && (pch = pch_ready(b->tc, inc, fl, nfl, true)) != NULL;
  if (!pch) pch = pch_ready(b->tc, inc, fl, nfl, false);
  if (!pch && b->tc->clang) {
    if (!b->background) {
      ahead = (PchAhead){b->tc, b->dir, inc, fl, nfl, NULL};
      ahead_on = pthread_create(&ahead_thread, NULL, pch_ahead, &ahead) == 0;
    }
    if (!ahead_on) pch = pch_get(b->tc, b->dir, inc, fl, nfl, false);
  }
  char *argv[MAXFLAGS + 12];
  int n = 0, at_pch;
  argv[n++] = b->tc->path;
  for (int i = 0; i < nfl; i++) argv[n++] = (char *)fl[i];
  at_pch = n;
  if (pch) argv[n++] = (char *)"-include-pch", argv[n++] = pch;
  const char *tail[] = {"-fstack-usage", "-I", inc, "-c", "-x", "c++", src, "-o", obj};
  for (size_t i = 0; i < sizeof tail / sizeof *tail; i++) argv[n++] = (char *)tail[i];
  argv[n] = NULL;
  int rc = cxx_run(b->tc, b->dir, "build", argv, 64 * 1024, &text);
  if (rc != 0 && pch && pch_suspect(rc, text)) {
    /* the PCH (or clang reading it) failed: without it, and built anew next time */
    pch_discard(pch);
    free(pch), pch = NULL, code = false; /* nor its code */
    memmove(argv + at_pch, argv + at_pch + 2, (size_t)(n - at_pch - 1) * sizeof *argv);
    free(text);
    rc = cxx_run(b->tc, b->dir, "build", argv, 64 * 1024, &text);
  }
  bool recompiled = false;
again:
  if (rc == 0) {
    free(text), text = NULL;
    b->stack = stack_usage(obj);
    /* exit 0 and no object (obj is the empty file mkstemps made): a compiler
     * that did nothing, which ld would link as an empty script */
    struct stat os;
    if (stat(obj, &os) != 0 || os.st_size == 0) {
      st = rt_error(TM_ERR_DEVICE, err,
                    "C++ compile of kernel '%s' wrote no object (%s exited 0 and left %s empty)", b->name,
                    b->tc->path, obj);
      goto done;
    }
    /* a kernel compiled with a PCH that has code links with that code */
    char *shim = pch && code ? rt_strfmt("%s.o", pch) : NULL;
    if (pch && code && !shim) {
      st = rt_error(TM_ERR_NOMEM, err, "out of memory");
      goto done;
    }
    rc = link_obj(b->tc, b->dir, !b->driver_link, obj, shim, out, &text);
    if (rc != 0 && !b->driver_link && b->tc->ld) {
      free(text), text = NULL;
      rc = link_obj(b->tc, b->dir, false, obj, shim, out, &text); /* what ld refused, the driver may link */
    }
    bool with_shim = shim != NULL;
    free(shim);
    if (rc != 0 && with_shim && !recompiled && !nospace_of(text, b->dir)) {
      /* the PCH's code went missing or bad after it was verified (another
       * process found the PCH half written and is building it anew): the
       * kernel is compiled again without the PCH and linked without its code */
      recompiled = true;
      memmove(argv + at_pch, argv + at_pch + 2, (size_t)(n - at_pch - 1) * sizeof *argv);
      free(pch), pch = NULL, code = false;
      free(text), text = NULL;
      rc = cxx_run(b->tc, b->dir, "build", argv, 64 * 1024, &text);
      goto again;
    }
    if (rc != 0) {
      int e = nospace_of(text, b->dir);
      if (e) b->nospace = e;
      st = e ? rt_error(TM_ERR_DEVICE, err, "C++ link of kernel '%s' could not write its object in %s: %s",
                        b->name, b->dir, strerror(e))
             : rt_error(TM_ERR_DEVICE, err, "C++ link of kernel '%s' failed (exit %d)\n%s", b->name, rc,
                        text ? rt_head_lines(text, 40) : "");
      goto done;
    }
    free(text), text = NULL;
  }
  if (rc != 0) {
    int e = nospace_of(text, b->dir);
    if (e) { /* no room for the object: nothing wrong with the source, keep nothing */
      b->nospace = e;
      st = rt_error(TM_ERR_DEVICE, err, "C++ compile of kernel '%s' could not write its object in %s: %s",
                    b->name, b->dir, strerror(e));
      goto done;
    }
    char *kept = rt_strfmt("%s/%s.cc", b->dir, b->hex);
    int renamed = kept && rename(src, kept) == 0;
    keep_src = 1;
    char *hint = b->tc->no_bf16 && text && strstr(text, "bfloat")
                     ? rt_strfmt("clang %d has no __bf16 arithmetic: bfloat16 kernels need clang 17 or newer, or "
                                 "g++ 12 or newer (TRITON_METAL_CXX)\n", b->tc->no_bf16)
                     : NULL;
    st = rt_error(TM_ERR_DEVICE, err,
                  "C++ compile of kernel '%s' failed (%s, exit %d); source kept at %s\n%s%s",
                  b->name, b->tc->path, rc, renamed ? kept : src, hint ? hint : "",
                  text ? rt_head_lines(text, 40) : "");
    free(hint);
    free(kept);
    goto done;
  }
  if (rt_read_regular(out, OBJ_MAX, bytes, n_out)) {
    st = rt_error(TM_ERR_DEVICE, err, "cannot read the compiled object %s", out);
    goto done;
  }
  if (rename(out, b->so)) {
    st = rt_error(TM_ERR_DEVICE, err, "cannot rename %s to %s: %s", out, b->so, strerror(errno));
    free(*bytes), *bytes = NULL;
    goto done;
  }
  if (pch && !code && pch_codegen(b->tc, fl) && !b->background) code_maybe_start(b->tc, b->dir, inc, fl, nfl);
done:
  if (ahead_on) pthread_join(ahead_thread, NULL), free(ahead.path);
  if (sfd >= 0) close(sfd);
  if (bfd >= 0) close(bfd);
  if (ofd >= 0) close(ofd);
  if (src && !keep_src) unlink(src);
  if (obj) stack_usage(obj), unlink(obj); /* and its .su, where the compile failed after writing it */
  if (out) unlink(out); /* no-op after a successful rename */
  free(text), free(pch);
  free(inc), free(src), free(obj), free(out);
  return st;
}

#if HAVE_LIBM_SO
static void *libm_handle;
static void libm_global(void) { libm_handle = dlopen(LIBM_SO, RTLD_NOW | RTLD_GLOBAL); }
#endif

/* dlopen + symbol lookup; *why gets dlerror's text on failure. */
static CpuObj *open_obj(const char *path, char **why) {
#if HAVE_LIBM_SO
  /* objects ld linked without -lm ("Linking" above) bind libm here */
  static pthread_once_t libm_once = PTHREAD_ONCE_INIT;
  pthread_once(&libm_once, libm_global);
#endif
  void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!dl) {
    const char *e = dlerror();
    *why = rt_strdup(e ? e : "dlopen failed");
    return NULL;
  }
  const int *abi = dlsym(dl, "tm_cpu_abi");
  CpuObj *o = calloc(1, sizeof *o);
  if (o) {
    *(void **)&o->entry = dlsym(dl, "tm_cpu_entry");
    *(void **)&o->range = dlsym(dl, "tm_cpu_entry_range");
  }
  if (o) {
    const int *race = dlsym(dl, "tm_cpu_racecheck");
    o->racecheck = race && *race;
  }
  if (!o || !abi || *abi != TM_CPU_ABI_VERSION || !o->entry || !o->range) {
    *why = rt_strdup(o ? "entry points missing or wrong ABI version" : "out of memory");
    free(o);
    dlclose(dl);
    return NULL;
  }
  o->dl = dl;
  return o;
}

/* The cache key of an object: toolchain (compiler, linker), flags (opt
 * among them), shim text, MSL, trampoline. */
static void key(Toolchain *tc, const char *opt, const char *msl, const char *tramp, uint8_t out[32]) {
  Sha256 s;
  sha256_init(&s);
  const char *parts[] = {"triton-metal cpu object v3", tc->id, shim_hex(), msl, tramp};
  for (int i = 0; i < 5; i++) sha256_update(&s, parts[i], strlen(parts[i]) + 1);
  const char *fl[MAXFLAGS];
  int nfl = build_flags(tc->clang, opt, fl);
  for (int i = 0; i < nfl; i++) sha256_update(&s, fl[i], strlen(fl[i]) + 1);
  sha256_final(&s, out);
}

/* The SHA-256 (hex) of an object's bytes. */
static void obj_hash(const char *bytes, size_t n, char hex[65]) {
  uint8_t d[32];
  sha256(bytes, n, d);
  sha256_hex(d, hex);
}

/* "<tag> <key> <sha256 of the object> <stack bytes> <check>\n", what <key>.sum
 * holds; check: the start of a SHA-256 of the rest, so that a garbled stack
 * figure (a fiber stack too small) reads as a bad record, not a number. */
static char *sum_line(const Build *b, const char *objhex) {
  char *body = rt_strfmt("%s %s %s %ld", SUM_TAG, b->hex, objhex, b->stack);
  if (!body) return NULL;
  uint8_t d[32];
  char hex[65];
  sha256(body, strlen(body), d);
  sha256_hex(d, hex);
  char *line = rt_strfmt("%s %.16s\n", body, hex);
  free(body);
  return line;
}

/* The stack figure a record holds (checked with the record as a whole). */
static long sum_stack(const char *rec) {
  const char *end = strrchr(rec, ' ');
  if (!end) return 0;
  const char *p = end;
  while (p > rec && p[-1] != ' ') p--;
  return strtol(p, NULL, 10);
}

/* Loads verified object bytes from a private copy, <private folder>/<sha256 of
 * the bytes>.so, so that what was verified is what runs, whatever happens to
 * the cache file. The name is the content's hash because dlopen identifies a
 * loaded object by its path: equal names must mean equal bytes. (The folder is
 * the device's own, removed by cpu_dev_free; without one, the cache file.) */
static CpuObj *open_bytes(CpuDev *d, const char *bytes, size_t n, const char *objhex,
                          const char *dir, const char *fallback, char **why) {
  pthread_mutex_lock(&d->mu);
  if (!d->obj_dir) d->obj_dir = load_dir(dir);
  const char *obj_dir = d->obj_dir; /* set once, freed with the device */
  pthread_mutex_unlock(&d->mu);
  char *path = obj_dir ? rt_strfmt("%s/%s.so", obj_dir, objhex) : NULL;
  int fd = path ? rt_open_regular(path, NULL) : -1;
  if (fd >= 0) {
    close(fd); /* written by this device from the same bytes */
  } else if (path) {
    char *tmp = rt_strfmt("%s.XXXXXX", path);
    int t = tmp ? mkstemp(tmp) : -1;
    int bad = t < 0 || rt_write_all(t, bytes, n);
    if (t >= 0) bad |= close(t);
    if (bad || rename(tmp, path)) {
      if (t >= 0) unlink(tmp);
      free(path);
      path = NULL;
    }
    free(tmp);
  }
  CpuObj *o = open_obj(path ? path : fallback, why);
  if (!o && *why && !path && noexec_dir(dir)) {
    char *more = rt_strfmt("%s (neither $TMPDIR nor the cache folder %s may hold programs: both are "
                           "on filesystems mounted noexec; set TMPDIR or TRITON_METAL_CACHE_DIR to a "
                           "folder on one that is not)", *why, dir);
    if (more) free(*why), *why = more;
  }
  /* loaded: the mapping outlives the file, and a later load of the same bytes
   * writes it again (or finds the loaded object by its name) */
  if (o && path) unlink(path);
  free(path);
  return o;
}

/* The cached object of b if its bytes are the ones recorded at build time.
 * NULL with *why NULL: not cached; with *why set: unusable (then deleted). */
static CpuObj *load_cached(CpuDev *d, Build *b, char **why) {
  *why = NULL;
  char *sum = rt_strfmt("%s/%s.sum", b->dir, b->hex), *rec = NULL, *bytes = NULL, *want = NULL;
  char objhex[65];
  size_t nrec, n;
  CpuObj *o = NULL;
  int rs = sum ? rt_read_regular(sum, 512, &rec, &nrec) : -2;
  int ro = rt_read_regular(b->so, OBJ_MAX, &bytes, &n);
  if (rs == -1 && ro == -1) goto out; /* not cached */
  if (rs || ro) {
    *why = rt_strdup(ro == -1 ? "object missing" : rs == -1 ? "no recorded hash"
                                                            : "not a regular file or unreadable");
  } else if (obj_hash(bytes, n, objhex), b->stack = sum_stack(rec), !(want = sum_line(b, objhex)) || strcmp(rec, want)) {
    *why = rt_strdup("its bytes do not match the hash recorded when it was built");
  } else {
    o = open_bytes(d, bytes, n, objhex, b->dir, b->so, why);
    if (o) o->stack_bytes = b->stack;
  }
  if (!o && *why) { /* corrupt, truncated, swapped or foreign: rebuilt */
    unlink(b->so);
    if (sum) unlink(sum);
  }
out:
  free(sum), free(rec), free(bytes), free(want);
  return o;
}

/* Points b at the device's private temporary cache folder, making it the
 * device's cache folder first if it is not yet (once, under d->mu).
 * 0 on success. */
static int use_temp_dir(CpuDev *d, Build *b) {
  pthread_mutex_lock(&d->mu);
  if (!d->cache_is_temp) {
    char *tmp = temp_dir();
    if (tmp) {
      free(d->cache_dir);
      d->cache_dir = tmp;
      d->cache_is_temp = 1;
    }
  }
  char *dir = d->cache_is_temp ? rt_strdup(d->cache_dir) : NULL;
  pthread_mutex_unlock(&d->mu);
  char *so = dir ? rt_strfmt("%s/%s.so", dir, b->hex) : NULL;
  if (!so) {
    free(dir);
    return -1;
  }
  free(b->dir), free(b->so);
  b->dir = dir, b->so = so;
  return 0;
}

/* Disk cache (verified), then compiler. Called without d->mu: builds of
 * different kernels on one device run at once. */
static tm_status load(CpuDev *d, Build *b, const char *msl, const char *tramp, CpuObj **out,
                      char **err) {
  char *why = NULL;
  if ((*out = load_cached(d, b, &why))) return TM_OK;
  free(why);
  why = NULL;
  pthread_mutex_lock(&d->mu);
  int is_temp = d->cache_is_temp;
  pthread_mutex_unlock(&d->mu);
  if (!is_temp && (rt_mkdirs(b->dir) || access(b->dir, W_OK))) {
    /* a read-only or unusable cache folder: build in a private temporary one */
    int e = errno;
    if (use_temp_dir(d, b))
      return rt_error(TM_ERR_DEVICE, err, "cannot write the cache folder %s, nor create a temporary one: %s",
                      b->dir, strerror(e));
    is_temp = 1;
  }
  char *bytes = NULL;
  size_t n = 0;
  tm_status st = compile(b, msl, tramp, &bytes, &n, err);
  if (st && b->nospace && !is_temp) {
    /* the cache folder's disk is full: this device builds in a private
     * temporary folder from now on (elsewhere, if $TMPDIR is another disk) */
    char *first = err && *err ? rt_strdup(*err) : NULL;
    if (use_temp_dir(d, b) == 0) {
      if (err) free(*err), *err = NULL;
      is_temp = 1;
      b->nospace = 0;
      st = compile(b, msl, tramp, &bytes, &n, err);
      if (st && b->nospace && err) {
        char *both = rt_strfmt("no space left to build kernel '%s': %s; and in the private folder %s: %s",
                               b->name, first ? first : "?", b->dir, *err ? *err : "?");
        if (both) free(*err), *err = both;
      }
    }
    free(first);
  }
  if (st) return st;
  pthread_mutex_lock(&d->mu);
  d->compiles++;
  pthread_mutex_unlock(&d->mu);
  char objhex[65];
  obj_hash(bytes, n, objhex);
  *out = open_bytes(d, bytes, n, objhex, b->dir, b->so, &why);
  if (*out) (*out)->stack_bytes = b->stack;
  free(bytes);
  if (!*out && !b->driver_link && b->tc->ld) {
    /* linked by ld, refused by dlopen (a symbol only the driver's libraries
     * have): linked again through the driver, under the same key */
    unlink(b->so);
    free(why), why = NULL;
    b->driver_link = true;
    return load(d, b, msl, tramp, out, err);
  }
  if (*out) {
    if (!is_temp) { /* record the hash; a failure only costs the cache */
      char *sum = rt_strfmt("%s/%s.sum", b->dir, b->hex), *line = sum_line(b, objhex);
      if (sum && line) write_file_atomic(sum, (const char *const[]){line}, 1);
      free(sum), free(line);
    } else {
      unlink(b->so); /* loaded; the folder holds nothing for later */
    }
    return TM_OK;
  }
  unlink(b->so);
  st = rt_error(TM_ERR_DEVICE, err, "cannot load the compiled kernel '%s' (%s): %s", b->name,
                b->so, why ? why : "?");
  free(why);
  return st;
}

/* A Build for the key h at opt level opt, in the device's cache folder now. */
static int build_init(CpuDev *d, Build *b, Toolchain *tc, const char *name, const char *opt, const uint8_t h[32]) {
  *b = (Build){.tc = tc, .name = name, .opt = opt};
  sha256_hex(h, b->hex);
  pthread_mutex_lock(&d->mu);
  b->dir = rt_strdup(d->cache_dir);
  pthread_mutex_unlock(&d->mu);
  b->so = b->dir ? rt_strfmt("%s/%s.so", b->dir, b->hex) : NULL;
  return b->so ? 0 : -1;
}

static void build_free(Build *b) { free(b->dir), free(b->so); }

/* ------------------------------------------------------------ optimisation tiers
 *
 * TRITON_METAL_OPT (read when a kernel is built) picks the level objects are
 * compiled at:
 *
 *   full     -O2 only (the fastest code; ~100-150 ms more per new kernel)
 *   fast     -O0 only (the cheapest compile; code 2-10x slower)
 *   tiered   (default) a new kernel is compiled at -O0 and run so at once;
 *            once it has run 8 times or 20 ms in all (`tiered:N`: N launches,
 *            no time limit), a background thread compiles it at -O2 (from
 *            the disk cache if there), and the first launch after that build
 *            is ready runs the -O2 code: the swap is made by the launching
 *            thread before the launch, under the device's launch lock, so no
 *            launch ever runs on a closed object. The thread and the compiler
 *            it starts run at a lower priority (nice 10 on Linux), behind the
 *            launches, and one at a time per device (another kernel past its
 *            thresholds starts its build at a launch after that one ends). The -O2 object stays in the
 *            disk cache: a later process asking for the kernel finds it
 *            there first and starts from it.
 *
 * The two levels give the same bits: -ffp-contract=off and no fast-math
 * flags leave a compiler no freedom over floating-point results, at any
 * level (tests/unit/test_emu_cache.c, tests/python/test_emu_tiers.py).
 *
 *   cpu_obj_get --(tiered, not on disk at -O2)--> object at -O0 + CpuTierUp
 *   cpu_run: cpu_obj_tier_swap (before) ... cpu_obj_tier_note (after)
 *                                              \-- thresholds met: thread
 *   thread: load(-O2) -> up->ready, up->done; the next swap takes it.
 */

enum { OPT_TIERED, OPT_FULL, OPT_FAST };
enum { TIER_LAUNCHES = 8 };
#define TIER_SECONDS 0.020

struct CpuTierUp {
  CpuDev *d;
  Toolchain *tc;
  char *msl, *tramp, *name; /* freed by the thread once it is done with them */
  uint8_t hash[32];         /* the -O2 key */
  unsigned long launches;   /* thresholds: launches, or seconds of running (0: none) */
  double seconds;
  pthread_t thread;
  pid_t pid;              /* the process whose thread it is (a fork child has none) */
  int started, done;      /* under d->mu */
  pthread_cond_t done_cv; /* with d->mu */
  CpuObj *ready;          /* the -O2 object, loaded (in no list), or NULL */
  struct CpuTierUp *next; /* in CpuDev.orphans */
};

/* The policy TRITON_METAL_OPT asks for; *launches and *seconds get the
 * tiered thresholds. */
static tm_status opt_policy(int *policy, unsigned long *launches, double *seconds, char **err) {
  const char *e = getenv("TRITON_METAL_OPT");
  *launches = TIER_LAUNCHES, *seconds = TIER_SECONDS;
  if (!e || !*e || !strcmp(e, "tiered")) return *policy = OPT_TIERED, TM_OK;
  if (!strcmp(e, "full")) return *policy = OPT_FULL, TM_OK;
  if (!strcmp(e, "fast")) return *policy = OPT_FAST, TM_OK;
  char *end;
  unsigned long n = !strncmp(e, "tiered:", 7) && e[7] >= '0' && e[7] <= '9' ? strtoul(e + 7, &end, 10) : 0;
  if (n >= 1 && n <= 1000000 && !*end) return *policy = OPT_TIERED, *launches = n, *seconds = 0, TM_OK;
  return rt_error(TM_ERR_INVALID, err,
                  "TRITON_METAL_OPT=%s: expected full, fast, tiered or tiered:N (N launches, 1 or more)", e);
}

static void *tier_up_main(void *arg) {
  CpuTierUp *u = arg;
#ifdef __linux__
  /* a lower priority for this thread, so for the compiler it starts (a
   * child inherits its thread's nice value on Linux): on a machine with few
   * cores the launches in the foreground go first */
  setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
#endif
  Build b;
  CpuObj *r = NULL;
  char *err = NULL;
  if (build_init(u->d, &b, u->tc, u->name, "-O2", u->hash) == 0) b.background = true, load(u->d, &b, u->msl, u->tramp, &r, &err);
  build_free(&b);
  free(err); /* the -O0 object keeps running: nothing is lost */
  free(u->msl), free(u->tramp);
  u->msl = u->tramp = NULL;
  pthread_mutex_lock(&u->d->mu);
  u->ready = r;
  u->done = 1;
  u->d->tier_running--;
  pthread_cond_broadcast(&u->done_cv);
  pthread_mutex_unlock(&u->d->mu);
  return NULL;
}

/* Starts u's thread (under d->mu); a thread that cannot start counts as a
 * failed build. */
static void tier_start(CpuTierUp *u) {
  u->started = 1;
  u->pid = getpid();
  if (u->d->tier_owner != u->pid) u->d->tier_owner = u->pid, u->d->tier_running = 0; /* a fork child */
  u->d->tier_running++;
  if (pthread_create(&u->thread, NULL, tier_up_main, u)) u->started = 0, u->done = 1, u->d->tier_running--;
}

/* Waits for u's thread (without d->mu) and frees u, and its unused object. */
static void tier_free(CpuTierUp *u) {
  if (!u) return;
  if (u->started && u->pid == getpid()) pthread_join(u->thread, NULL);
  if (u->ready) dlclose(u->ready->dl), free(u->ready);
  pthread_cond_destroy(&u->done_cv);
  free(u->msl), free(u->tramp), free(u->name), free(u);
}

void cpu_obj_tier_swap(CpuDev *d, CpuObj *o) {
  pthread_mutex_lock(&d->mu);
  CpuTierUp *u = o->up && o->up->done ? o->up : NULL;
  void *old = NULL;
  if (u && u->ready) {
    old = o->dl;
    o->dl = u->ready->dl, o->entry = u->ready->entry, o->range = u->ready->range;
    o->racecheck = u->ready->racecheck;
    o->stack_bytes = u->ready->stack_bytes;
    o->opt = 2;
    free(u->ready);
    u->ready = NULL;
  }
  if (u) o->up = NULL; /* swapped, or the -O2 build failed: -O0 it stays */
  if (u) atomic_store_explicit(&o->tiering, 0, memory_order_release);
  pthread_mutex_unlock(&d->mu);
  tier_free(u);
  if (old) dlclose(old);
}

/* Takes the finished builds out of d->orphans (under d->mu); the caller
 * frees them (tier_free, without the lock). */
static CpuTierUp *orphans_done(CpuDev *d) {
  CpuTierUp *done = NULL, **p = &d->orphans;
  while (*p) {
    CpuTierUp *u = *p;
    if (u->done) *p = u->next, u->next = done, done = u;
    else p = &u->next;
  }
  return done;
}

static void tier_free_list(CpuTierUp *u) {
  while (u) {
    CpuTierUp *next = u->next;
    tier_free(u);
    u = next;
  }
}

void cpu_obj_tier_note(CpuDev *d, CpuObj *o, double seconds) {
  pthread_mutex_lock(&d->mu);
  o->launches++;
  o->run_s += seconds;
  o->used = d->tier_epoch;
  CpuTierUp *u = o->up;
  /* one background build at a time: several kernels that turn hot at once
   * (an example's every kernel) would otherwise start as many compilers on
   * a machine of two cores; a waiting one starts at a later launch */
  if (u && !u->started && !u->done && (d->tier_running == 0 || d->tier_owner != getpid()) &&
      (o->launches >= u->launches || (u->seconds > 0 && o->run_s >= u->seconds)))
    tier_start(u);
  CpuTierUp *done = d->orphans ? orphans_done(d) : NULL;
  pthread_mutex_unlock(&d->mu);
  tier_free_list(done);
}

int cpu_obj_tier_wait(CpuDev *d, CpuObj *o) {
  pthread_mutex_lock(&d->mu);
  CpuTierUp *u = o->up;
  if (u && !u->started && !u->done) tier_start(u);
  while (u && !u->done) pthread_cond_wait(&u->done_cv, &d->mu);
  int ready = u && u->ready;
  pthread_mutex_unlock(&d->mu);
  return ready;
}

unsigned long cpu_tier_mark(CpuDev *d) {
  pthread_mutex_lock(&d->mu);
  unsigned long mark = ++d->tier_epoch;
  pthread_mutex_unlock(&d->mu);
  return mark;
}

tm_status cpu_tier_settle(CpuDev *d, unsigned long mark, char **err) {
  pthread_mutex_lock(&d->mu);
  size_t n = 0, i = 0;
  for (CpuObj *o = d->objs; o; o = o->next) n += o->up && o->used >= mark;
  CpuObj **v = n ? malloc(n * sizeof *v) : NULL;
  if (n && !v) {
    pthread_mutex_unlock(&d->mu);
    return rt_error(TM_ERR_NOMEM, err, "out of memory");
  }
  /* every build started before the first wait: they run side by side (the
   * one-at-a-time rule is for the background, not for a caller waiting) */
  for (CpuObj *o = d->objs; o && i < n; o = o->next)
    if (o->up && o->used >= mark) {
      o->refs++, v[i++] = o;
      if (!o->up->started && !o->up->done) tier_start(o->up);
    }
  pthread_mutex_unlock(&d->mu);
  for (size_t k = 0; k < i; k++) {
    cpu_obj_tier_wait(d, v[k]); /* a failed -O2 build leaves the -O0 code: still one tier */
    cpu_obj_put(d, v[k]);
  }
  free(v);
  return TM_OK;
}

/* ------------------------------------------------------------ cpu_obj_get */

/* A loaded object for the kernel under policy: tiered tries the disk's -O2
 * object first, then builds at -O0 (with *up for the later -O2 build). */
static tm_status obtain(CpuDev *d, Toolchain *tc, int policy, const char *name, const uint8_t h2[32],
                        const uint8_t h0[32], const char *msl, const char *tramp, CpuObj **out, int *opt,
                        char **err) {
  Build b;
  char *why = NULL;
  *out = NULL;
  if (policy != OPT_FAST) {
    if (build_init(d, &b, tc, name, "-O2", h2)) return rt_error(TM_ERR_NOMEM, err, "out of memory");
    tm_status st = TM_OK;
    if (policy == OPT_FULL) st = load(d, &b, msl, tramp, out, err);
    else *out = load_cached(d, &b, &why);
    build_free(&b);
    free(why);
    *opt = 2;
    if (st || *out) return st;
  }
  if (build_init(d, &b, tc, name, "-O0", h0)) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  tm_status st = load(d, &b, msl, tramp, out, err);
  build_free(&b);
  *opt = 0;
  return st;
}

/* The tier-up of a tiered kernel built at -O0 (NULL when out of memory:
 * the kernel stays at -O0). */
static CpuTierUp *tier_new(CpuDev *d, Toolchain *tc, const char *name, const uint8_t h2[32], const char *msl,
                           const char *tramp, unsigned long launches, double seconds) {
  CpuTierUp *u = calloc(1, sizeof *u);
  if (!u) return NULL;
  *u = (CpuTierUp){.d = d, .tc = tc, .msl = rt_strdup(msl), .tramp = rt_strdup(tramp), .name = rt_strdup(name),
                   .launches = launches, .seconds = seconds};
  memcpy(u->hash, h2, 32);
  pthread_cond_init(&u->done_cv, NULL);
  if (!u->msl || !u->tramp || !u->name) tier_free(u), u = NULL;
  return u;
}

/* An object is in d->objs while it is built (building set, no code yet):
 * another thread asking for the same kernel waits for that build instead of
 * starting its own; different kernels build at once (d->mu is not held
 * during a build). A failed build leaves the list, and its waiters try again
 * themselves (so each gets the error in its own words). */
tm_status cpu_obj_get(CpuDev *d, const char *msl_in, const tm_kernel_info *info, CpuObj **out,
                      char **err) {
  Toolchain *tc;
  int policy = OPT_TIERED;
  unsigned long launches = 0;
  double seconds = 0;
  *out = NULL;
  pthread_mutex_lock(&d->mu);
  char *dir = rt_strdup(d->cache_dir);
  pthread_mutex_unlock(&d->mu);
  tm_status st = toolchain(dir, &tc, err);
  free(dir);
  if (st || (st = opt_policy(&policy, &launches, &seconds, err))) return st;
  char *tramp = trampoline(info);
  if (!tramp) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  char *msl = NULL; /* what the lint passes on: the text compiled and hashed */
  if ((st = lint(d, msl_in, tramp, rt_kname(info), &msl, err))) {
    free(tramp);
    return st;
  }
  uint8_t h2[32], h0[32];
  key(tc, "-O2", msl, tramp, h2);
  key(tc, "-O0", msl, tramp, h0);
  const uint8_t *h = policy == OPT_FAST ? h0 : h2;
  pthread_mutex_lock(&d->mu);
  CpuObj *o;
  for (;;) {
    o = d->objs;
    while (o && (memcmp(o->hash, h, 32) || o->policy != policy)) o = o->next;
    if (!o || !o->building) break;
    o->refs++;
    while (o->building) pthread_cond_wait(&o->built, &d->mu);
    if (--o->refs == 0 && !o->dl) pthread_cond_destroy(&o->built), free(o); /* failed; the last waiter frees it */
  }
  if (o) {
    o->refs++;
  } else if ((o = calloc(1, sizeof *o))) {
    memcpy(o->hash, h, 32);
    o->policy = policy;
    o->building = 1;
    o->refs = 1;
    pthread_cond_init(&o->built, NULL);
    o->next = d->objs;
    d->objs = o;
    pthread_mutex_unlock(&d->mu);
    CpuObj *got = NULL;
    int opt = 0;
    st = obtain(d, tc, policy, rt_kname(info), h2, h0, msl, tramp, &got, &opt, err);
    CpuTierUp *up = got && policy == OPT_TIERED && opt == 0
                        ? tier_new(d, tc, rt_kname(info), h2, msl, tramp, launches, seconds)
                        : NULL;
    pthread_mutex_lock(&d->mu);
    if (got) {
      o->dl = got->dl, o->entry = got->entry, o->range = got->range, o->racecheck = got->racecheck;
      o->stack_bytes = got->stack_bytes;
      o->opt = opt;
      o->up = up;
      atomic_store_explicit(&o->tiering, up != NULL, memory_order_release);
      free(got);
    } else { /* out of the list; freed by the last waiter, or here */
      CpuObj **p = &d->objs;
      while (*p != o) p = &(*p)->next;
      *p = o->next;
      o->refs--;
    }
    o->building = 0;
    pthread_cond_broadcast(&o->built);
    if (!got && o->refs == 0) pthread_cond_destroy(&o->built), free(o);
    if (!got) o = NULL;
  } else {
    st = rt_error(TM_ERR_NOMEM, err, "out of memory");
  }
  pthread_mutex_unlock(&d->mu);
  free(tramp);
  free(msl);
  *out = o;
  return st;
}

/* Frees an object no list holds (its -O2 build, if any, is not running). */
static void obj_free(CpuObj *o) {
  tier_free(o->up);
  dlclose(o->dl);
  pthread_cond_destroy(&o->built);
  free(o);
}

/* The last reference to an object whose -O2 build still runs does not wait
 * for it (a module freed in a loop would wait a compile each time): the
 * build goes to d->orphans, freed once done by a later launch's note, or
 * waited for by cpu_objs_free when the device closes. */
void cpu_obj_put(CpuDev *d, CpuObj *o) {
  pthread_mutex_lock(&d->mu);
  int last = --o->refs == 0;
  if (last) {
    CpuObj **p = &d->objs;
    while (*p != o) p = &(*p)->next;
    *p = o->next;
    CpuTierUp *u = o->up;
    if (u && u->started && !u->done && u->pid == getpid()) u->next = d->orphans, d->orphans = u, o->up = NULL;
  }
  pthread_mutex_unlock(&d->mu);
  if (last) obj_free(o);
}

void cpu_objs_free(CpuDev *d) {
  while (d->objs) {
    CpuObj *o = d->objs;
    d->objs = o->next;
    obj_free(o);
  }
  tier_free_list(d->orphans); /* waits for those still running */
  d->orphans = NULL;
}

tm_status cpu_cxx_path(char **path, char **err) {
  Toolchain *tc;
  char *dir = rt_cache_dir("cpu");
  tm_status st = dir ? toolchain(dir, &tc, err) : rt_error(TM_ERR_NOMEM, err, "out of memory");
  free(dir);
  *path = st ? NULL : rt_strdup(tc->path);
  if (!st && !*path) st = rt_error(TM_ERR_NOMEM, err, "out of memory");
  return st;
}

/* ------------------------------------------------------------ tm_msl_check */

tm_status tm_msl_check(const char *msl, char **err) {
  if (!msl) return rt_error(TM_ERR_INVALID, err, "tm_msl_check: msl is NULL");
  Toolchain *tc;
  tm_status st = toolchain(NULL, &tc, err);
  if (st) return st;
  char *text = NULL;
  if ((st = msl_lint(msl, msl_version(), "msl", &text, err))) return st;
  char *dir = temp_dir(), *inc = dir ? shim_dir(dir) : NULL, *src = dir ? rt_strfmt("%s/msl.cc", dir) : NULL;
  if (!inc || !src || write_file_atomic(src, (const char *const[]){text}, 1)) {
    st = rt_error(TM_ERR_DEVICE, err, "tm_msl_check: cannot write a temporary folder: %s", strerror(errno));
  } else {
    const char *fl[MAXFLAGS];
    char *argv[MAXFLAGS + 8];
    int nfl = build_flags(tc->clang, "-O2", fl), n = 0;
    argv[n++] = tc->path;
    for (int i = 0; i < nfl; i++)
      argv[n++] = (char *)(!strcmp(fl[i], "-std=c++17") && strstr(text, TENSOR_OPS_HEADER) ? "-std=c++20" : fl[i]);
    argv[n++] = (char *)"-fsyntax-only";
    argv[n++] = (char *)"-I";
    argv[n++] = inc;
    argv[n++] = (char *)"-x";
    argv[n++] = (char *)"c++";
    argv[n++] = src;
    argv[n] = NULL;
    char *out = NULL;
    int rc = rt_run_capture(argv, 64 * 1024, &out);
    if (rc) st = rt_error(TM_ERR_DEVICE, err, "%s (%s, exit %d)\n%s", "the emulator's C++ compiler refuses the MSL",
                          tc->path, rc, out ? rt_head_lines(out, 40) : "");
    free(out);
  }
  if (dir) cpu_temp_dir_remove(dir);
  free(dir), free(inc), free(src), free(text);
  return st;
}
