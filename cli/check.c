/*
 * cli/check.c: `triton-metal check`, the compatibility report.
 *
 *   triton-metal check [--json] [--no-run] [--no-python]
 *
 * The report itself comes from the library (tm_check_report); this file adds
 * what only a process may do: ask python3 (30 s limit) which MLX and torch
 * versions are installed, without importing them except torch on macOS (for
 * torch.backends.mps.is_available()). Exit status: 0 when kernels can run on
 * some device of this machine, 1 when they cannot, 2 for usage or a bad
 * TRITON_METAL_HW.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "triton_metal.h"

extern char **environ;

static const char py_probe[] =
    "import sys, importlib.metadata as m\n"
    "def v(n):\n"
    "    try: return m.version(n)\n"
    "    except Exception: return '-'\n"
    "t = v('torch'); mps = 0\n"
    "if t != '-' and sys.platform == 'darwin':\n"
    "    try:\n"
    "        import torch; mps = int(torch.backends.mps.is_available())\n"
    "    except Exception: pass\n"
    "print(sys.version.split()[0], v('mlx'), t, mps, sep='\\t')\n";

typedef struct PyFacts {
  char line[512];
  tm_check_python py;
} PyFacts;

/* Runs python3 on py_probe; 0 when it answered in time. */
static int ask_python(PyFacts *f) {
  int fds[2];
  if (pipe(fds)) return -1;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  char *argv[] = {(char *)"python3", (char *)"-c", (char *)py_probe, NULL};
  pid_t pid;
  int rc = posix_spawnp(&pid, "python3", &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc) {
    close(fds[0]);
    return -1;
  }
  int status = 0, done = 0;
  for (int waited = 0; waited < 3000 && !done; waited++) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) done = 1;
    else if (r < 0 && errno != EINTR) break;
    else nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
  }
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    close(fds[0]);
    return -1;
  }
  ssize_t n = read(fds[0], f->line, sizeof f->line - 1);
  close(fds[0]);
  if (n <= 0 || !WIFEXITED(status) || WEXITSTATUS(status)) return -1;
  f->line[n] = 0;
  f->line[strcspn(f->line, "\n")] = 0;
  char *field[4] = {0};
  char *p = f->line;
  for (int i = 0; i < 4; i++) {
    field[i] = p;
    p = strchr(p, '\t');
    if (!p && i < 3) return -1;
    if (p) *p++ = 0;
  }
  f->py.python = field[0];
  f->py.mlx = strcmp(field[1], "-") ? field[1] : NULL;
  f->py.torch = strcmp(field[2], "-") ? field[2] : NULL;
  f->py.torch_mps = !strcmp(field[3], "1");
  return 0;
}

int cmd_check(int argc, char **argv) {
  unsigned flags = 0;
  int python = 1;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--json")) flags |= TM_CHECK_JSON;
    else if (!strcmp(argv[i], "--no-run")) flags |= TM_CHECK_NO_RUN;
    else if (!strcmp(argv[i], "--no-python")) python = 0;
    else {
      fprintf(stderr, "usage: triton-metal check [--json] [--no-run] [--no-python]\n");
      return 2;
    }
  }
  PyFacts f;
  memset(&f, 0, sizeof f);
  const tm_check_python *py = NULL;
  if (python) {
    if (ask_python(&f) == 0) py = &f.py;
    else {
      f.py.note = "python3 did not answer; run python -m triton_metal.check";
      py = &f.py;
    }
  }
  char *out = NULL, *err = NULL;
  int ok = 0;
  tm_status st = tm_check_report(flags, py, &out, &ok, &err);
  if (st) {
    fprintf(stderr, "triton-metal check: %s\n", err ? err : "out of memory");
    tm_free(err);
    return 2;
  }
  fputs(out, stdout);
  tm_free(out);
  return fflush(stdout) == 0 && ok ? 0 : 1;
}
