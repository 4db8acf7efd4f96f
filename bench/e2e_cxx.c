/*
 * e2e_cxx.c: a timing stand-in for the emulator's C++ compiler, used only by
 * bench/e2e.py (built by it into build/bench/e2e_cxx).
 *
 * bench/e2e.py sets TRITON_METAL_CXX to this program for our side's runs, with
 *   E2E_CXX_REAL  the compiler it stands for (clang++-19, ... as the runtime
 *                 would pick it), and
 *   E2E_CXX_LOG   a file to which each call appends one line:
 *                 "<kind> <start_ns> <end_ns> <exit status>", kind `version`
 *                 for the runtime's `--version` probe (the toolchain identity)
 *                 and `build` for everything else (a kernel's compile),
 *                 CLOCK_MONOTONIC (one clock for every process of the machine,
 *                 so that intervals of concurrent compiles can be merged).
 * It runs the real compiler with the same arguments, standard streams and
 * environment, waits for it and exits with its status, so the runtime sees
 * exactly what the compiler did. This way the benchmark counts the kernels
 * compiled and the time spent compiling them without a hook in the runtime
 * (runtime/cpu/cpu_build.c is unchanged). The cost it adds per compile is one
 * fork/exec of this small program (well under a millisecond), and the runtime's
 * cache key (which includes the compiler's path) differs from an ordinary run's:
 * immaterial to a benchmark that starts from an empty cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
  const char *real = getenv("E2E_CXX_REAL");
  const char *logp = getenv("E2E_CXX_LOG");
  if (!real || !*real) {
    fprintf(stderr, "e2e_cxx: E2E_CXX_REAL is not set (bench/e2e.py sets it)\n");
    return 127;
  }
  const char *kind = "build";
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--version")) kind = "version";
  argv[0] = (char *)real;
  long long t0 = now_ns();
  pid_t pid;
  int rc = posix_spawnp(&pid, real, NULL, NULL, argv, environ);
  if (rc != 0) {
    fprintf(stderr, "e2e_cxx: cannot run %s: %s\n", real, strerror(rc));
    return 127;
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) return 127;
  long long t1 = now_ns();
  int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  if (logp && *logp) {
    char line[128];
    int n = snprintf(line, sizeof line, "%s %lld %lld %d\n", kind, t0, t1, code);
    int fd = open(logp, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {  /* one write of a short line under O_APPEND: lines of concurrent compiles do not mix */
      if (write(fd, line, (size_t)n) != n) fprintf(stderr, "e2e_cxx: cannot write %s\n", logp);
      close(fd);
    }
  }
  return code;
}
