/*
 * cpu_fork.c: the runtime's side of the compile server (the server, and why
 * it pays: runtime/cpu/fork/cxx_fork.c; the protocol: cxx_fork.h).
 *
 * cpu_build.c asks cxx_fork_start for a server of a clang toolchain once per
 * process (the first compile), and one of ld (the first link), then runs each
 * compile or link through cxx_fork_run.
 * The server's shared object is embedded in the runtime and written to the
 * cache folder as cxxfork-<hash>.preload (rewritten whenever what is there is not
 * exactly its bytes). Whatever goes wrong with the server (it does not start
 * or answer, a reply is missing) is never an error of the compile: the
 * server is given up for the rest of the process and the compile runs as a
 * plain process (rt_run_capture), with the same arguments. A process that
 * forked (not exec'd) does not use its parent's server.
 *
 * TRITON_METAL_CXX_FORK=0 turns the server off. Linux with glibc only.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cxx_fork.h"
#include "rt.h"
#include "sha256.h"

extern char **environ;

#if defined(__linux__) && defined(__GLIBC__) && defined(TM_HAVE_CXX_FORK)
#include "cxx_fork_so.inc"
#define HAVE_SERVER 1
#else
#define HAVE_SERVER 0
#endif

/* How long a server may take to say hello: a program that ignores the
 * preload runs its main without arguments and should end at once. */
#define HELLO_MS 20000

struct CxxFork {
  int ctl;     /* our end of the server's socket */
  pid_t pid;   /* the server */
  pid_t owner; /* the process that started it */
  int dead;    /* given up (under mu) */
  pthread_mutex_t mu;
};

bool cxx_fork_enabled(void) {
  const char *e = getenv("TRITON_METAL_CXX_FORK");
  return HAVE_SERVER && !(e && !strcmp(e, "0"));
}

#if HAVE_SERVER
/* <dir>/cxxfork-<hash>.preload: the embedded server library (not named .so: the
 * folder's .so files are kernels); malloc'd path. */
static char *server_file(const char *dir) {
  const size_t n = sizeof tm_cxx_fork_so - 1;
  uint8_t d[32];
  char hex[65];
  sha256(tm_cxx_fork_so, n, d);
  sha256_hex(d, hex);
  char *path = rt_strfmt("%s/cxxfork-%.16s.preload", dir, hex), *have = NULL, *tmp = NULL;
  size_t got = 0;
  if (!path) return NULL;
  if (rt_read_regular(path, n, &have, &got) == 0 && got == n && !memcmp(have, tm_cxx_fork_so, n)) {
    free(have);
    return path;
  }
  free(have);
  unlink(path); /* garbled, truncated, not a file: written anew */
  int ok = rt_mkdirs(dir) == 0 && (tmp = rt_strfmt("%s.XXXXXX", path));
  int fd = ok ? mkstemp(tmp) : -1;
  ok = fd >= 0 && rt_write_all(fd, tm_cxx_fork_so, n) == 0;
  if (fd >= 0) ok = close(fd) == 0 && ok;
  ok = ok && chmod(tmp, 0755) == 0 && rename(tmp, path) == 0;
  if (!ok && tmp) unlink(tmp);
  free(tmp);
  if (!ok) free(path), path = NULL;
  return path;
}

/* environ without LD_PRELOAD, LD_BIND_NOW and the protocol's variables, plus
 * ours (5 strings in strs, malloc'd or NULL). LD_BIND_NOW=1: the dynamic
 * loader binds every symbol of the program's libraries as it starts (~1 ms
 * for clang), once, instead of each served compile binding those it calls
 * on first use, again in every fork (~1.3-2.7 ms of a small kernel's
 * compile, ~0.4 ms of a link). The server puts both variables back as the
 * runtime had them before anything runs. */
static char **server_env(const char *so, char **strs) {
  size_t n = 0;
  while (environ[n]) n++;
  char **v = malloc(sizeof *v * (n + 6));
  if (!v) return NULL;
  size_t k = 0;
  const char *pre = NULL, *bind = NULL;
  for (size_t i = 0; i < n; i++) {
    const char *e = environ[i];
    if (!strncmp(e, "LD_PRELOAD=", 11)) pre = e + 11;
    else if (!strncmp(e, "LD_BIND_NOW=", 12)) bind = e + 12;
    else if (strncmp(e, TM_CXX_FORK_FD_ENV "=", sizeof TM_CXX_FORK_FD_ENV) &&
             strncmp(e, TM_CXX_FORK_PRELOAD_ENV "=", sizeof TM_CXX_FORK_PRELOAD_ENV) &&
             strncmp(e, TM_CXX_FORK_BIND_ENV "=", sizeof TM_CXX_FORK_BIND_ENV))
      v[k++] = (char *)e;
  }
  strs[0] = rt_strfmt("LD_PRELOAD=%s", so);
  strs[1] = rt_strfmt("%s=3", TM_CXX_FORK_FD_ENV);
  strs[2] = pre ? rt_strfmt("%s=%s", TM_CXX_FORK_PRELOAD_ENV, pre) : NULL;
  strs[3] = rt_strfmt("LD_BIND_NOW=1");
  strs[4] = bind ? rt_strfmt("%s=%s", TM_CXX_FORK_BIND_ENV, bind) : NULL;
  if (!strs[0] || !strs[1] || (pre && !strs[2]) || !strs[3] || (bind && !strs[4])) {
    free(v);
    return NULL;
  }
  for (int i = 0; i < 5; i++)
    if (strs[i]) v[k++] = strs[i];
  v[k] = NULL;
  return v;
}

/* Waits up to ms for fd to be readable; 1 if it is. */
static int readable(int fd, int ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int r;
  do r = poll(&p, 1, ms);
  while (r < 0 && errno == EINTR);
  return r == 1;
}
#endif

CxxFork *cxx_fork_start(const char *cxx, const char *dir) {
#if HAVE_SERVER
  if (!cxx_fork_enabled()) return NULL;
  char *so = server_file(dir), *strs[5] = {0}, **env = so ? server_env(so, strs) : NULL;
  int sv[2] = {-1, -1};
  CxxFork *z = NULL;
  pid_t pid = -1;
  if (env && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 3); /* clears close-on-exec on 3 */
    char *argv[] = {(char *)cxx, NULL};
    if (posix_spawn(&pid, cxx, &fa, NULL, argv, env)) pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    close(sv[1]);
    char hello[sizeof TM_CXX_FORK_HELLO + 8];
    ssize_t n = -1;
    if (pid > 0 && readable(sv[0], HELLO_MS)) n = recv(sv[0], hello, sizeof hello, 0);
    if (n == (ssize_t)sizeof TM_CXX_FORK_HELLO && !memcmp(hello, TM_CXX_FORK_HELLO, sizeof TM_CXX_FORK_HELLO) &&
        (z = calloc(1, sizeof *z))) {
      z->ctl = sv[0], z->pid = pid, z->owner = getpid();
      pthread_mutex_init(&z->mu, NULL);
    } else {
      close(sv[0]);
      if (pid > 0) kill(pid, SIGKILL), waitpid(pid, NULL, 0);
    }
  }
  free(env), free(so);
  for (int i = 0; i < 5; i++) free(strs[i]);
  return z;
#else
  (void)cxx, (void)dir;
  return NULL;
#endif
}

/* The server is of no more use: closing our end ends it. */
static void give_up(CxxFork *z) {
  pthread_mutex_lock(&z->mu);
  if (!z->dead) {
    z->dead = 1;
    shutdown(z->ctl, SHUT_RDWR);
    waitpid(z->pid, NULL, WNOHANG);
  }
  pthread_mutex_unlock(&z->mu);
}

void cxx_fork_forget(CxxFork *z) {
  if (z && z->owner != getpid()) close(z->ctl), free(z);
}

void cxx_fork_stop(CxxFork *z) {
  if (!z || z->owner != getpid()) return;
  give_up(z);
  waitpid(z->pid, NULL, 0);
  close(z->ctl);
  pthread_mutex_destroy(&z->mu);
  free(z);
}

#if HAVE_SERVER
/* A served compile's output (its first max bytes) and status (cxx_fork.h):
 * the output is read as it comes until the pipe's end (every writer gone)
 * or a status of 0, which the compile sends when it calls exit, before its
 * process is torn down: what a successful compile printed is not used, and
 * its object is in place. Any other status waits for the pipe's end, so a
 * failed compile's words are all there. NULL when no status came (a reply
 * socket closed without one) or memory ran out. */
static char *collect(int out, int rep, size_t max, int32_t *status) {
  char *s = malloc(max + 1), sink[4096];
  size_t n = 0;
  int eof = 0, got = 0;
  while (s && (!eof || !got)) {
    struct pollfd p[2] = {{.fd = eof ? -1 : out, .events = POLLIN}, {.fd = got ? -1 : rep, .events = POLLIN}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[0].revents) {
      ssize_t r = n < max ? read(out, s + n, max - n) : read(out, sink, sizeof sink);
      if (r > 0 && n < max) n += (size_t)r;
      else if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) eof = 1;
    }
    if (p[1].revents) {
      ssize_t r = recv(rep, status, sizeof *status, 0);
      if (r == (ssize_t)sizeof *status) {
        got = 1;
        if (*status == 0) break;
      } else if (r == 0 || (r < 0 && errno != EINTR)) {
        break; /* closed without a status */
      }
    }
  }
  if (s) s[n] = 0;
  if (!got) free(s), s = NULL;
  return s;
}
#endif

int cxx_fork_run(CxxFork *z, char *const argv[], size_t max, char **text, int *rc) {
  *text = NULL;
#if HAVE_SERVER
  if (!z || z->owner != getpid()) return -1;
  pthread_mutex_lock(&z->mu);
  int dead = z->dead;
  pthread_mutex_unlock(&z->mu);
  if (dead) return -1;
  /* the request: header, working folder, argv[1..] */
  char cwd[4096];
  if (!getcwd(cwd, sizeof cwd)) return -1;
  /* this thread's nice value (Linux keeps one per thread: a background build's is 10) */
  errno = 0;
  int nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
  TmCxxForkHeader h = {.magic = TM_CXX_FORK_MAGIC, .nargs = 0, .nice = errno ? 0 : nice};
  size_t len = sizeof h + strlen(cwd) + 1;
  for (int i = 1; argv[i]; i++) len += strlen(argv[i]) + 1, h.nargs++;
  if (len > TM_CXX_FORK_MAX - 1) return -1;
  char *msg = malloc(len), *p = msg;
  if (!msg) return -1;
  memcpy(p, &h, sizeof h), p += sizeof h;
  p = stpcpy(p, cwd) + 1;
  for (int i = 1; argv[i]; i++) p = stpcpy(p, argv[i]) + 1;
  int rep[2] = {-1, -1}, out[2] = {-1, -1}, ok = 0;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, rep) == 0 && pipe2(out, O_CLOEXEC) == 0) {
    union {
      struct cmsghdr c;
      char space[CMSG_SPACE(2 * sizeof(int))];
    } u;
    memset(&u, 0, sizeof u);
    struct iovec iov = {msg, len};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.space, .msg_controllen = sizeof u.space};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET, c->cmsg_type = SCM_RIGHTS, c->cmsg_len = CMSG_LEN(2 * sizeof(int));
    int fds[2] = {rep[1], out[1]};
    memcpy(CMSG_DATA(c), fds, sizeof fds);
    ssize_t s;
    do s = sendmsg(z->ctl, &m, MSG_NOSIGNAL);
    while (s < 0 && errno == EINTR);
    ok = s == (ssize_t)len;
  }
  free(msg);
  if (rep[1] >= 0) close(rep[1]);
  if (out[1] >= 0) close(out[1]);
  int32_t status = 0;
  if (ok) {
    char *t = collect(out[0], rep[0], max, &status);
    ok = t && status != TM_CXX_FORK_NOFORK;
    if (ok) *text = t;
    else free(t);
  }
  if (rep[0] >= 0) close(rep[0]);
  if (out[0] >= 0) close(out[0]);
  if (!ok) {
    give_up(z);
    return -1;
  }
  *rc = status;
  return 0;
#else
  (void)z, (void)argv, (void)max, (void)rc;
  return -1;
#endif
}
