/*
 * proc.c: what the two builds (the emulator's C++ compiles, runtime/cpu/
 * cpu_build.c; the GPU proxy's nvcc compiles, runtime/cuda/cuda_build.c) need
 * from the system: a program found on PATH, a child's output through a pipe,
 * folders made and removed, whole writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rt.h"

extern char **environ;

char *rt_find_on_path(const char *name) {
  if (strchr(name, '/')) return access(name, X_OK) == 0 ? rt_strdup(name) : NULL;
  const char *path = getenv("PATH");
  if (!path) path = "/usr/local/bin:/usr/bin:/bin";
  for (const char *p = path; *p;) {
    size_t n = strcspn(p, ":");
    char *cand = rt_strfmt("%.*s/%s", (int)n, p, name);
    if (cand && n && access(cand, X_OK) == 0) return cand;
    free(cand);
    p += n + (p[n] == ':');
  }
  return NULL;
}

char *rt_read_to_end(int fd, size_t max) {
  char *s = malloc(max + 1), sink[4096];
  size_t n = 0;
  for (;;) {
    ssize_t r = s && n < max ? read(fd, s + n, max - n) : read(fd, sink, sizeof sink);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    if (s && n < max) n += (size_t)r;
  }
  if (s) s[n] = 0;
  return s;
}

uint64_t rt_mono_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Whether this process has SIGCHLD ignored (SIG_IGN or SA_NOCLDWAIT, as a
 * program may set it): the kernel then reaps each child as it ends, and
 * waitpid finds none (ECHILD), so a tool's exit status is lost. */
static int children_reaped(void) {
  struct sigaction sa;
  return sigaction(SIGCHLD, NULL, &sa) == 0 && (sa.sa_handler == SIG_IGN || (sa.sa_flags & SA_NOCLDWAIT));
}

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
#define HAVE_FORK_NOHANDLERS 1
/* rt_run_capture where children_reaped: an intermediate (forked with _Fork,
 * which runs no atfork handlers: the caller may hold the runtime's locks)
 * puts SIGCHLD back to its default, runs argv as its own child with out on
 * stdout and stderr (the tool then starts with the default too: a compiler
 * driver waits for the programs it runs), waits for it and writes its exit
 * status to a pipe; the kernel reaps the intermediate. Only async-signal-
 * safe calls between the fork and the exec. The status pipe's read end, or
 * -1 when it could not start. */
static int run_reaped(char *const argv[], int out) {
  int sp[2];
  if (pipe2(sp, O_CLOEXEC)) return -1;
  pid_t m = _Fork();
  if (m == 0) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &dfl, NULL);
    int code = -1, st;
    pid_t c = _Fork(); /* fork would run the atfork handlers, which take locks the caller may hold */
    if (c == 0) {
      int nul = open("/dev/null", O_RDONLY);
      if (nul < 0 || dup2(nul, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) _exit(127);
      execve(argv[0], argv, environ);
      _exit(127);
    }
    if (c > 0) {
      while (waitpid(c, &st, 0) < 0)
        if (errno != EINTR) _exit(1);
      code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }
    _exit(write(sp[1], &code, sizeof code) == (ssize_t)sizeof code ? 0 : 1);
  }
  close(sp[1]);
  if (m < 0) {
    close(sp[0]);
    return -1;
  }
  return sp[0]; /* read after the output's end, which comes as the tool and the intermediate end */
}
#endif

int rt_run_capture(char *const argv[], size_t max, char **text) {
  *text = NULL;
  int p[2];
  /* close-on-exec: a child another thread spawns meanwhile must not inherit
   * this pipe's write end (the read below would wait for that child too) */
#ifdef __APPLE__ /* no pipe2: a narrow window remains */
  if (pipe(p)) return -1;
  fcntl(p[0], F_SETFD, FD_CLOEXEC);
  fcntl(p[1], F_SETFD, FD_CLOEXEC);
#else
  if (pipe2(p, O_CLOEXEC)) return -1;
#endif
#if HAVE_FORK_NOHANDLERS
  if (children_reaped()) {
    int code = -1, sfd = run_reaped(argv, p[1]);
    close(p[1]);
    if (sfd < 0) {
      close(p[0]);
      return -1;
    }
    *text = rt_read_to_end(p[0], max);
    close(p[0]);
    ssize_t r;
    do r = read(sfd, &code, sizeof code);
    while (r < 0 && errno == EINTR);
    close(sfd);
    return r == (ssize_t)sizeof code ? code : -1;
  }
#endif
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, p[1], 1);
  posix_spawn_file_actions_adddup2(&fa, p[1], 2);
  posix_spawn_file_actions_addclose(&fa, p[0]);
  posix_spawn_file_actions_addclose(&fa, p[1]);
  pid_t pid;
  int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(p[1]);
  if (rc) {
    close(p[0]);
    return -1;
  }
  *text = rt_read_to_end(p[0], max);
  close(p[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int rt_mkdirs(const char *path) {
  char *p = rt_strdup(path);
  if (!p) return -1;
  for (char *s = p + 1;; s++) {
    if (*s != '/' && *s) continue;
    char c = *s;
    *s = 0;
    if (mkdir(p, 0755) && errno != EEXIST) {
      free(p);
      return -1;
    }
    if (!c) break;
    *s = c;
  }
  free(p);
  return 0;
}

int rt_write_all(int fd, const void *data, size_t n) {
  const char *s = data;
  while (n) {
    ssize_t w = write(fd, s, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    s += w, n -= (size_t)w;
  }
  return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  remove(path);
  return 0;
}

void rt_remove_tree(const char *path) { nftw(path, remove_entry, 8, FTW_DEPTH | FTW_PHYS); }

char *rt_head_lines(char *s, int lines) {
  char *p = s;
  for (int i = 0; i < lines && (p = strchr(p, '\n')); i++) p++;
  if (p && *p) strcpy(p, "...\n");
  return s;
}
