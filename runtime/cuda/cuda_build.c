/*
 * cuda_build.c: CUDA C++ text -> cubin, for the cuda device (cuda.c; the GPU
 * proxy of docs/cuda-proxy.md). Needs no GPU: only nvcc.
 *
 *   1. nvcc: TRITON_METAL_NVCC, else `nvcc` on PATH, else
 *      /usr/local/cuda/bin/nvcc. Its identity (path + `--version` output) is
 *      computed once per process and name (a list under a mutex, never freed,
 *      as cpu_build.c keeps its toolchains).
 *   2. flags: -cubin -O3 -fmad=false -arch=sm_XY (the device's compute
 *      capability), then the words of TRITON_METAL_NVCC_FLAGS (e.g. -lineinfo
 *      for a profiler). No fast-math flag: nvcc's defaults keep IEEE division,
 *      square root and denormals, as the MSL dialect asks Metal for its safe
 *      math mode; no contraction of a * b + c into one fma (-fmad=false: the
 *      emulator compiles with -ffp-contract=off, and the tests compare bits).
 *   3. key: SHA-256 over a tag, the identity, the flags and the source.
 *   4. lookup: <dir>/<key>.cubin, used only when its bytes hash to what
 *      <key>.sum recorded when it was built and it is an ELF file (anything
 *      else in its place, a FIFO included, is deleted and rebuilt).
 *   5. compile: source and output under unique temporary names, the output
 *      renamed into place (concurrent processes building the same kernel are
 *      safe); on an nvcc error the source is kept as <dir>/<key>.cu and the
 *      error carries nvcc's first 40 lines. When <dir> cannot be written the
 *      build happens in a private temporary folder, removed afterwards (no
 *      caching then).
 *
 * PATH search, a child's output through a pipe, folders and whole writes are
 * runtime/proc.c's, shared with the emulator's build (runtime/cpu/cpu_build.c).
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
#include <unistd.h>

#include "rt.h"
#include "sha256.h"

extern char **environ;

enum { CUBIN_MAX = 256 << 20, NVCC_OUT_MAX = 64 << 10, MAX_EXTRA = 32 };
#define CUBIN_TAG "triton-metal cuda cubin v1"

/* ------------------------------------------------------------ processes, files */





/* Writes text to path through a unique temporary name and a rename. */
static int write_atomic(const char *path, const char *text) {
  char *tmp = rt_strfmt("%s.XXXXXX", path);
  int fd = tmp ? mkstemp(tmp) : -1;
  if (fd < 0) {
    free(tmp);
    return -1;
  }
  int bad = rt_write_all(fd, text, strlen(text));
  bad |= close(fd);
  bad = bad || rename(tmp, path);
  if (bad) unlink(tmp);
  free(tmp);
  return bad ? -1 : 0;
}



/* ------------------------------------------------------------ nvcc */

typedef struct Nvcc {
  char *want; /* TRITON_METAL_NVCC or "" */
  char *path;
  char id[65];
  struct Nvcc *next;
} Nvcc;

static pthread_mutex_t nvccs_mu = PTHREAD_MUTEX_INITIALIZER;
static Nvcc *nvccs; /* never freed: one entry per compiler named */

static tm_status nvcc_find(const Nvcc **out, char **err) {
  const char *env = getenv("TRITON_METAL_NVCC");
  const char *want = env && *env ? env : "";
  *out = NULL;
  pthread_mutex_lock(&nvccs_mu);
  Nvcc *t = nvccs;
  while (t && strcmp(t->want, want)) t = t->next;
  tm_status st = TM_OK;
  if (!t) {
    char *path = *want ? rt_find_on_path(want) : rt_find_on_path("nvcc");
    if (!path && !*want && access("/usr/local/cuda/bin/nvcc", X_OK) == 0)
      path = rt_strdup("/usr/local/cuda/bin/nvcc");
    char *text = NULL;
    int rc = -1;
    if (path) {
      char *argv[] = {path, (char *)"--version", NULL};
      rc = rt_run_capture(argv, 4096, &text);
    }
    if (!path) {
      st = *want ? rt_error(TM_ERR_DEVICE, err, "TRITON_METAL_NVCC=%s: no such program", want)
                 : rt_error(TM_ERR_DEVICE, err,
                            "the cuda device compiles kernels with nvcc: it is not on PATH nor "
                            "at /usr/local/cuda/bin/nvcc (install the CUDA toolkit or set "
                            "TRITON_METAL_NVCC)");
    } else if (rc != 0 || !text) {
      st = rt_error(TM_ERR_DEVICE, err, "nvcc %s does not run (`--version` failed, exit %d)",
                    path, rc);
    } else if (!(t = calloc(1, sizeof *t)) || !(t->want = rt_strdup(want))) {
      free(t);
      t = NULL;
      st = rt_error(TM_ERR_NOMEM, err, "out of memory");
    } else {
      Sha256 s;
      uint8_t d[32];
      sha256_init(&s);
      sha256_update(&s, path, strlen(path) + 1);
      sha256_update(&s, text, strlen(text));
      sha256_final(&s, d);
      sha256_hex(d, t->id);
      t->path = path;
      path = NULL;
      t->next = nvccs;
      nvccs = t;
    }
    free(text);
    free(path);
  }
  pthread_mutex_unlock(&nvccs_mu);
  *out = st ? NULL : t;
  return st;
}

/* ------------------------------------------------------------ flags */

typedef struct Flags {
  char arch[32];
  char *extra;              /* TRITON_METAL_NVCC_FLAGS, split in place */
  const char *v[5 + MAX_EXTRA];
  int n;
} Flags;

static tm_status flags_make(Flags *f, int sm, char **err) {
  memset(f, 0, sizeof *f);
  snprintf(f->arch, sizeof f->arch, "-arch=sm_%d", sm);
  f->v[f->n++] = "-cubin";
  f->v[f->n++] = "-O3";
  f->v[f->n++] = "-fmad=false";
  f->v[f->n++] = f->arch;
  const char *e = getenv("TRITON_METAL_NVCC_FLAGS");
  if (!e || !*e) return TM_OK;
  if (!(f->extra = rt_strdup(e))) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  for (char *w = strtok(f->extra, " \t\n"); w; w = strtok(NULL, " \t\n")) {
    if (f->n == 4 + MAX_EXTRA) {
      free(f->extra);
      f->extra = NULL;
      return rt_error(TM_ERR_INVALID, err, "TRITON_METAL_NVCC_FLAGS: more than %d words",
                      MAX_EXTRA);
    }
    f->v[f->n++] = w;
  }
  return TM_OK;
}

/* ------------------------------------------------------------ build */

static int is_elf(const char *b, size_t n) { return n >= 4 && !memcmp(b, "\177ELF", 4); }

static void hex_of(const char *bytes, size_t n, char hex[65]) {
  uint8_t d[32];
  sha256(bytes, n, d);
  sha256_hex(d, hex);
}

/* The verified cached cubin, or NULL (absent; or unusable, then deleted). */
static char *cached(const char *cubin, const char *sum, const char *key, size_t *n) {
  char *rec = NULL, *bytes = NULL, *want = NULL, hex[65];
  size_t nrec;
  int rs = rt_read_regular(sum, 512, &rec, &nrec);
  int rb = rt_read_regular(cubin, CUBIN_MAX, &bytes, n);
  int ok = 0;
  if (rs == 0 && rb == 0 && is_elf(bytes, *n)) {
    hex_of(bytes, *n, hex);
    want = rt_strfmt("%s %s %s\n", CUBIN_TAG, key, hex);
    ok = want && !strcmp(rec, want);
  }
  if (!ok && (rs != -1 || rb != -1)) { /* garbled, truncated, swapped, not a file: rebuilt */
    unlink(cubin);
    unlink(sum);
  }
  free(rec), free(want);
  if (!ok) free(bytes), bytes = NULL;
  return bytes;
}

/* Runs nvcc on src into dir/<key>.cubin; *bytes gets what it wrote. */
static tm_status compile(const Nvcc *nv, const Flags *f, const char *dir, const char *key,
                         const char *src, const char *kname, const char *cubin, char **bytes,
                         size_t *n, char **err) {
  char *cu = rt_strfmt("%s/%s.XXXXXX.cu", dir, key);
  char *out = rt_strfmt("%s/%s.XXXXXX.cubin", dir, key);
  int cfd = -1, ofd = -1, keep = 0;
  tm_status st = TM_OK;
  if (!cu || !out) {
    st = rt_error(TM_ERR_NOMEM, err, "out of memory");
    goto done;
  }
  if ((cfd = mkstemps(cu, 3)) < 0 || (ofd = mkstemps(out, 6)) < 0 ||
      rt_write_all(cfd, src, strlen(src))) {
    st = rt_error(TM_ERR_DEVICE, err, "cannot write to the cache folder %s: %s", dir,
                  strerror(errno));
    goto done;
  }
  const char *argv[8 + MAX_EXTRA];
  int k = 0;
  argv[k++] = nv->path;
  for (int i = 0; i < f->n; i++) argv[k++] = f->v[i];
  argv[k++] = "-o";
  argv[k++] = out;
  argv[k++] = cu;
  argv[k] = NULL;
  char *text = NULL;
  int rc = rt_run_capture((char *const *)argv, NVCC_OUT_MAX, &text);
  if (rc != 0) {
    char *kept = rt_strfmt("%s/%s.cu", dir, key);
    int renamed = kept && rename(cu, kept) == 0;
    keep = 1;
    st = rt_error(TM_ERR_DEVICE, err,
                  "nvcc could not compile kernel '%s' (%s %s, exit %d); source kept at %s\n%s",
                  kname, nv->path, f->arch, rc, renamed ? kept : cu,
                  text ? rt_head_lines(text, 40) : "");
    free(kept);
    free(text);
    goto done;
  }
  free(text);
  if (rt_read_regular(out, CUBIN_MAX, bytes, n) || !is_elf(*bytes, *n)) {
    free(*bytes), *bytes = NULL;
    st = rt_error(TM_ERR_DEVICE, err, "nvcc wrote no cubin for kernel '%s' (%s)", kname, out);
    goto done;
  }
  if (rename(out, cubin)) {
    free(*bytes), *bytes = NULL;
    st = rt_error(TM_ERR_DEVICE, err, "cannot rename %s to %s: %s", out, cubin, strerror(errno));
  }
done:
  if (cfd >= 0) close(cfd);
  if (ofd >= 0) close(ofd);
  if (cu && !keep) unlink(cu);
  if (out) unlink(out); /* nothing left after a successful rename */
  free(cu), free(out);
  return st;
}

tm_status cuda_cubin_get(const char *dir, int sm, const char *src, const char *kname,
                         char **bytes, size_t *n, int *compiled, char **err) {
  *bytes = NULL;
  *n = 0;
  *compiled = 0;
  const Nvcc *nv;
  tm_status st = nvcc_find(&nv, err);
  if (st) return st;
  Flags f;
  if ((st = flags_make(&f, sm, err))) return st;
  uint8_t d[32];
  char key[65];
  Sha256 s;
  sha256_init(&s);
  const char *parts[] = {CUBIN_TAG, nv->id, src};
  for (int i = 0; i < 3; i++) sha256_update(&s, parts[i], strlen(parts[i]) + 1);
  for (int i = 0; i < f.n; i++) sha256_update(&s, f.v[i], strlen(f.v[i]) + 1);
  sha256_final(&s, d);
  sha256_hex(d, key);

  char *tmpdir = NULL;
  if (rt_mkdirs(dir) || access(dir, W_OK)) { /* unwritable cache: a private folder, no caching */
    const char *t = getenv("TMPDIR");
    tmpdir = rt_strfmt("%s/triton-metal-cuda-XXXXXX", t && *t ? t : "/tmp");
    if (!tmpdir || !mkdtemp(tmpdir)) {
      st = rt_error(TM_ERR_DEVICE, err,
                    "cannot write the cache folder %s, nor create a temporary one: %s", dir,
                    strerror(errno));
      free(tmpdir), free(f.extra);
      return st;
    }
    dir = tmpdir;
  }
  char *cubin = rt_strfmt("%s/%s.cubin", dir, key), *sum = rt_strfmt("%s/%s.sum", dir, key);
  if (!cubin || !sum) {
    st = rt_error(TM_ERR_NOMEM, err, "out of memory");
  } else if (!tmpdir && (*bytes = cached(cubin, sum, key, n))) {
    st = TM_OK;
  } else if (!(st = compile(nv, &f, dir, key, src, kname, cubin, bytes, n, err))) {
    *compiled = 1;
    char hex[65];
    hex_of(*bytes, *n, hex);
    char *line = rt_strfmt("%s %s %s\n", CUBIN_TAG, key, hex);
    if (!tmpdir && line) write_atomic(sum, line); /* a failure only costs the cache */
    free(line);
  }
  if (tmpdir) {
    if (!st) rt_remove_tree(tmpdir);
    /* after an nvcc error the folder keeps the source the message names */
    free(tmpdir);
  }
  free(cubin), free(sum), free(f.extra);
  return st;
}
