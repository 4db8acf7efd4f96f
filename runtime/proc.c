/*
 * proc.c: what the two builds (the emulator's C++ compiles, runtime/cpu/
 * cpu_build.c; the GPU proxy's nvcc compiles, runtime/cuda/cuda_build.c) need
 * from the system: a program found on PATH, a child's output through a pipe,
 * folders made and removed, whole writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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
