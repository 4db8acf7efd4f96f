/*
 * cxx_fork.c: a preloaded library that turns the emulator's C++ compiler into
 * a fork server ("compile server"), so that a kernel's compile does not pay
 * the compiler's process start.
 *
 * Why: clang++ spends ~20 ms of every run before main (the dynamic loader
 * binding libLLVM's and libclang-cpp's symbols, the page faults of their
 * relocations, their static constructors), against ~25 ms for the compile of
 * a small kernel itself (2-core x86-64 VM, clang 19). A process that has done
 * that once and then forks keeps all of it: a forked child starts at main at
 * the cost of a fork.
 *
 * How: runtime/cpu/cpu_build.c starts the compiler once per process and
 * toolchain with LD_PRELOAD naming this library and TM_CXX_FORK_FD naming a
 * SOCK_SEQPACKET socket. The dynamic loader maps and relocates everything and
 * runs the libraries' constructors, then the program's start code calls
 * __libc_start_main, which this library interposes: instead of running main,
 * it answers requests on the socket. Each request (one message: a header, the
 * working folder, the arguments; two descriptors: a reply socket and the
 * output pipe) is served by a forked manager, which forks the compile: the
 * compile's standard output and error go to the pipe, it changes to the
 * working folder and calls the real __libc_start_main with the new arguments
 * (so the program's own constructors and main run there, as in a new
 * process) at the requesting thread's nice value; the manager waits for it and writes its exit status (or -1 for
 * a signal) to the reply socket. The server ends when the socket's other end
 * closes (the runtime's process ended).
 *
 * The compile also says its status itself, as soon as its main returns (or
 * it calls exit: an on_exit handler registered as main starts): main is
 * called through served_main, which sends it on the reply socket before the
 * program's exit runs its handlers, the libraries' destructors and the
 * process's teardown (~2 ms for clang on the 2-core VM). What clang wrote
 * is in place by then (its output files are renamed into place before main
 * returns); the runtime takes the first status that comes and, when it is
 * 0, does not wait for the rest (runtime/cpu/cpu_fork.c). Having said 0, the
 * compile lowers itself to nice 19 for that rest. A program that
 * replaces itself (exec: a script that execs the compiler) loses both; its
 * manager's reply is then the only one.
 *
 * The server keeps the arguments it was started with and puts the request's
 * after them: for a compiler that is a script, the interpreter and the
 * script's path. Before anything runs it puts the environment back as the
 * runtime had it (a new environ: LD_PRELOAD from TM_CXX_FORK_PRELOAD, or
 * none, and none of the protocol's variables), so programs the compile
 * starts are not served, and LD_BIND_NOW likewise
 * (TM_CXX_FORK_BIND): the runtime starts the server with LD_BIND_NOW=1, so
 * that the dynamic loader's binding of symbols is done once, here, and not
 * again on first use in every forked compile.
 *
 * Nothing is assumed about the program beyond glibc's start: any failure here
 * (a bad request, no memory) ends the server; the runtime sees the socket
 * close and runs the compiler as a plain process from then on.
 *
 * Built as its own shared object (not part of the runtime library) and
 * embedded in the runtime (build/gen/cxx_fork_so.inc); Linux with glibc only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cxx_fork.h"

/* The exit status of a server that cannot serve (no socket, no memory) */
#define SERVER_FAILED 125

typedef int (*main_fn)(int, char **, char **);
typedef int (*start_fn)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *);

extern char **environ;

/* One request: its descriptors are *reply and *out (-1 if none came). */
static ssize_t receive(int fd, char *buf, size_t cap, int *reply, int *out) {
  union {
    struct cmsghdr h;
    char space[CMSG_SPACE(2 * sizeof(int))];
  } u;
  struct iovec iov = {buf, cap};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.space, .msg_controllen = sizeof u.space};
  ssize_t n;
  do n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  *reply = *out = -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(2 * sizeof(int))) {
      int fds[2];
      memcpy(fds, CMSG_DATA(c), sizeof fds);
      *reply = fds[0], *out = fds[1];
    }
  if (n >= 0 && (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) n = -1;
  return n;
}

/* The compile's own reply (see the top): its exit status, sent once, by the
 * process that registered the handler (a fork of it that exits does not). */
static int early_reply = -1;
static pid_t early_pid;

static main_fn served;

static void say_status(int status, void *arg) {
  (void)arg;
  if (early_reply < 0 || getpid() != early_pid) return;
  int32_t r = status;
  send(early_reply, &r, sizeof r, MSG_NOSIGNAL);
  close(early_reply);
  early_reply = -1;
  /* what is left (destructors, the kernel freeing the address space: ~2 ms
   * for clang) is of no use to the runtime, which goes on at once: at the
   * lowest priority it takes a core only when the runtime's threads leave
   * one (a failed compile keeps its priority: its words come at its end) */
  if (status == 0) setpriority(PRIO_PROCESS, 0, 19);
}

static int served_main(int argc, char **argv, char **envp) {
#if defined(__GLIBC__) /* on_exit is glibc's: elsewhere an exit inside main leaves it to the manager */
  on_exit(say_status, NULL); /* exit called inside main; without it, the manager's reply */
#endif
  int r = served(argc, argv, envp);
  say_status(r & 0xff, NULL); /* what exit(r) makes of it */
  return r;
}

/* The value of name in environ, or NULL. Not getenv, and the environment is
 * not changed with setenv or unsetenv: a program may define those itself, and
 * the program's definitions come before libc's for this library's calls too.
 * bash does (they work on its table of shell variables, which it fills in
 * main, so before main they leave environ as it was: a bash script as the
 * compiler then ran its commands with the server's variables, and the
 * compiler it exec'd took itself for a server, found no socket and ended at
 * once, "successfully", without a compile). */
static const char *env_get(const char *name) {
  size_t n = strlen(name);
  for (char **e = environ; e && *e; e++)
    if (!strncmp(*e, name, n) && (*e)[n] == '=') return *e + n + 1;
  return NULL;
}

static int env_is(const char *e, const char *name) {
  size_t n = strlen(name);
  return !strncmp(e, name, n) && e[n] == '=';
}

/* environ as the runtime had it: without the protocol's variables, with
 * LD_PRELOAD and LD_BIND_NOW as they were there (TM_CXX_FORK_PRELOAD and
 * TM_CXX_FORK_BIND, or none). A new array; NULL when memory ran out. */
static char **runtime_environment(void) {
  const char *pre = env_get(TM_CXX_FORK_PRELOAD_ENV), *bind = env_get(TM_CXX_FORK_BIND_ENV);
  size_t n = 0;
  while (environ[n]) n++;
  char **v = malloc(sizeof *v * (n + 3));
  char *p = pre ? malloc(strlen(pre) + sizeof "LD_PRELOAD=") : NULL;
  char *b = bind ? malloc(strlen(bind) + sizeof "LD_BIND_NOW=") : NULL;
  if (!v || (pre && !p) || (bind && !b)) return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const char *e = environ[i];
    if (!env_is(e, "LD_PRELOAD") && !env_is(e, "LD_BIND_NOW") && !env_is(e, TM_CXX_FORK_FD_ENV) &&
        !env_is(e, TM_CXX_FORK_PRELOAD_ENV) && !env_is(e, TM_CXX_FORK_BIND_ENV))
      v[k++] = environ[i];
  }
  if (p) strcat(strcpy(p, "LD_PRELOAD="), pre), v[k++] = p;
  if (b) strcat(strcpy(b, "LD_BIND_NOW="), bind), v[k++] = b;
  v[k] = NULL;
  return v;
}

/* The argument vector of a request: the server's own arguments (base, nbase),
 * then the request's nargs strings at s, then NULL and the environment, as
 * the start code expects (it finds the environment after argv's NULL). */
static char **arguments(char **base, int nbase, char *s, uint32_t nargs, int *argc) {
  size_t nenv = 0;
  while (environ[nenv]) nenv++;
  char **v = malloc(sizeof *v * ((size_t)nbase + nargs + nenv + 2));
  if (!v) return NULL;
  int n = 0;
  for (int i = 0; i < nbase; i++) v[n++] = base[i];
  for (uint32_t i = 0; i < nargs; i++, s += strlen(s) + 1) v[n++] = s;
  *argc = n;
  v[n++] = NULL;
  for (size_t i = 0; i < nenv; i++) v[n++] = environ[i];
  v[n] = NULL;
  return v;
}

int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void), void (*fini)(void),
                      void (*rtld_fini)(void), void *stack_end) {
  start_fn real = (start_fn)dlsym(RTLD_NEXT, "__libc_start_main");
  const char *e = env_get(TM_CXX_FORK_FD_ENV);
  if (!real) _exit(127);
  if (!e) return real(main, argc, argv, init, fini, rtld_fini, stack_end);
  int ctl = atoi(e);
  char **env = runtime_environment();
  if (!env) _exit(SERVER_FAILED);
  environ = env;
  fcntl(ctl, F_SETFD, FD_CLOEXEC);
  signal(SIGCHLD, SIG_IGN); /* managers are reaped by the kernel */
  signal(SIGPIPE, SIG_IGN);
  static const char hello[] = TM_CXX_FORK_HELLO;
  /* no socket: not started by the runtime (the variables came through
   * something that kept them); never a successful run of the program */
  if (send(ctl, hello, sizeof hello, MSG_NOSIGNAL) != (ssize_t)sizeof hello) _exit(SERVER_FAILED);
  static char buf[TM_CXX_FORK_MAX];
  for (;;) {
    int reply, out;
    ssize_t n = receive(ctl, buf, sizeof buf - 1, &reply, &out);
    if (n <= 0) _exit(0); /* the runtime is gone, or the socket failed */
    TmCxxForkHeader h;
    if ((size_t)n < sizeof h || reply < 0 || out < 0) _exit(0);
    memcpy(&h, buf, sizeof h);
    buf[n] = 0;
    /* the working folder and h.nargs strings, each NUL-terminated, in the message */
    char *s = buf + sizeof h, *end = buf + n;
    uint32_t strings = 0;
    for (char *p = s; p < end; p += strlen(p) + 1) strings++;
    if (h.magic != TM_CXX_FORK_MAGIC || strings != h.nargs + 1 || end[-1] != 0) _exit(0);
    pid_t m = fork();
    if (m == 0) { /* the manager */
      close(ctl);
      signal(SIGCHLD, SIG_DFL);
      pid_t c = fork();
      if (c == 0) { /* the compile */
        signal(SIGPIPE, SIG_DFL);
        int nul = open("/dev/null", O_RDONLY);
        if (nul < 0 || dup2(nul, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 || chdir(s)) _exit(127);
        /* a background build's lower priority, as a process it spawned would inherit */
        if (h.nice > getpriority(PRIO_PROCESS, 0)) setpriority(PRIO_PROCESS, 0, h.nice);
        close(nul), close(out);
        int ac;
        char **av = arguments(argv, argc, s + strlen(s) + 1, h.nargs, &ac);
        if (!av) _exit(127);
        /* the reply socket is close-on-exec (MSG_CMSG_CLOEXEC): what the compile runs does not get it */
        early_reply = reply, early_pid = getpid(), served = main;
        return real(served_main, ac, av, init, fini, rtld_fini, stack_end);
      }
      close(out);
      int status = 0, code = -1;
      if (c > 0) {
        while (waitpid(c, &status, 0) < 0)
          if (errno != EINTR) _exit(1);
        code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      int32_t r = c > 0 ? code : TM_CXX_FORK_NOFORK;
      send(reply, &r, sizeof r, MSG_NOSIGNAL);
      _exit(0);
    }
    close(reply), close(out);
    if (m < 0) _exit(0); /* cannot fork: the runtime falls back */
  }
}
