/*
 * metal_cache.c: compute pipelines, cached in memory and on disk.
 *
 *   key     SHA-256 over the compiler version, backend name, device name,
 *           language version, math mode, the kernel descriptor and the MSL; a
 *           new compiler version therefore never meets an old entry.
 *   memory  the device's pipelines by key, reference counted by modules.
 *   disk    <cache>/metal/<key>.metal (the MSL, for reading and re-running)
 *           and <key>.archive, the backend's binary archive (an
 *           MTLBinaryArchive on real Metal): present -> the pipeline is built
 *           from it without compiling (a disk hit); absent -> written after
 *           the compile. Files are written to a temporary name and renamed, so
 *           processes sharing the folder never read half a file.
 * Disk trouble (no folder, full disk) only costs the cache, never the load; an
 * archive that is not a regular file (a FIFO would block its reader) is removed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mtl.h"
#include "sha256.h"

static void hash_str(Sha256 *s, const char *t) { sha256_update(s, t, strlen(t) + 1); }
static void hash_int(Sha256 *s, long long v) { sha256_update(s, &v, sizeof v); }

static void make_key(const PipeCache *c, const char *device_name, const char *msl,
                     const tm_kernel_info *k, uint8_t key[32]) {
  Sha256 s;
  sha256_init(&s);
  hash_str(&s, "triton-metal pipeline v1");
  hash_str(&s, c->compiler_version);
  hash_str(&s, c->api->name);
  hash_str(&s, device_name);
  hash_int(&s, c->lang_version);
  hash_int(&s, c->math_mode);
  hash_str(&s, k->name);
  hash_str(&s, k->source_file ? k->source_file : ""); /* named in runtime errors */
  hash_str(&s, k->source_name ? k->source_name : "");
  hash_int(&s, k->nargs);
  for (int i = 0; i < k->nargs; i++) {
    hash_int(&s, k->args[i].role);
    hash_int(&s, k->args[i].dtype);
    hash_int(&s, k->args[i].writable);
  }
  hash_int(&s, k->nbuiltins);
  for (int i = 0; i < k->nbuiltins; i++) hash_int(&s, k->builtins[i]);
  hash_int(&s, k->threads_per_threadgroup);
  hash_int(&s, k->threadgroup_mem_bytes);
  hash_int(&s, k->uses_barriers);
  hash_str(&s, msl);
  sha256_final(&s, key);
}

static int mkdirs(const char *path) {
  char *p = rt_strdup(path);
  if (!p) return -1;
  for (char *q = p + 1; *q; q++) {
    if (*q != '/') continue;
    *q = 0;
    if (mkdir(p, 0755) && errno != EEXIST) return free(p), -1;
    *q = '/';
  }
  int rc = mkdir(p, 0755) && errno != EEXIST ? -1 : 0;
  free(p);
  return rc;
}

/* Writes text to path unless it exists (tmp + rename). Best effort. */
static void write_once(const char *path, const char *text) {
  if (access(path, F_OK) == 0) return;
  char *tmp = rt_strfmt("%s.%ld.tmp", path, (long)getpid());
  if (!tmp) return;
  FILE *f = fopen(tmp, "wb");
  if (f) {
    int ok = fputs(text, f) >= 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path)) unlink(tmp);
  }
  free(tmp);
}

static tm_status build(PipeCache *c, const char *msl, const tm_kernel_info *k,
                       const char *archive, MetalPipe *p, char **err) {
  const MtlApi *a = c->api;
  void *pool = a->pool_push();
  int hit = 0;
  tm_status st = a->library_new(c->dev, msl, c->lang_version, c->math_mode, &p->lib, err);
  if (st && strstr(msl, "\n#define TM_TENSOR_OPS 1\n") && strncmp(msl, NO_TENSOR_OPS, strlen(NO_TENSOR_OPS))) {
    /* a tl.dot's matmul2d variant the Metal compiler rejects: its
     * simdgroup_matrix variant instead (the MSL carries both) */
    char *again = rt_strfmt("%s%s", NO_TENSOR_OPS, msl), *err2 = NULL;
    if (again && !a->library_new(c->dev, again, c->lang_version, c->math_mode, &p->lib, &err2)) {
      st = TM_OK;
      c->tensor_ops_fallbacks++;
      if (err) {
        free(*err);
        *err = NULL;
      }
    }
    free(err2);
    free(again);
  }
  if (!st) st = a->function_new(p->lib, k->name, &p->fn, err);
  if (!st) st = a->pipeline_new(c->dev, p->fn, archive, k, &p->pso, &p->props, &hit, err);
  a->pool_pop(pool);
  if (st) {
    if (p->fn) a->release(c->dev, p->fn);
    if (p->lib) a->release(c->dev, p->lib);
    return st;
  }
  if (hit) c->disk_hits++;
  else c->compiles++;
  return TM_OK;
}

tm_status pipecache_get(PipeCache *c, const char *device_name, const char *msl,
                        const tm_kernel_info *k, MetalPipe **out, char **err) {
  uint8_t key[32];
  make_key(c, device_name, msl, k, key);
  for (MetalPipe *p = c->pipes; p; p = p->next)
    if (!memcmp(p->key, key, 32)) {
      p->refs++;
      c->memory_hits++;
      *out = p;
      return TM_OK;
    }
  MetalPipe *p = calloc(1, sizeof *p);
  if (!p) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  memcpy(p->key, key, 32);
  char hex[65], *archive = NULL;
  sha256_hex(key, hex);
  if (c->dir && mkdirs(c->dir) == 0) {
    char *src = rt_strfmt("%s/%s.metal", c->dir, hex);
    if (src) write_once(src, msl);
    free(src);
    archive = rt_strfmt("%s/%s.archive", c->dir, hex);
    int fd = archive ? rt_open_regular(archive, NULL) : -1;
    if (fd >= 0) close(fd);
    else if (fd == -2) unlink(archive); /* a FIFO or a folder in its place: never handed to Metal */
  }
  tm_status st = build(c, msl, k, archive, p, err);
  free(archive);
  if (st) {
    free(p);
    return st;
  }
  p->refs = 1;
  p->next = c->pipes;
  c->pipes = p;
  *out = p;
  return TM_OK;
}

static void release_pipe(PipeCache *c, MetalPipe *p) {
  c->api->release(c->dev, p->pso);
  c->api->release(c->dev, p->fn);
  c->api->release(c->dev, p->lib);
  free(p);
}

void pipecache_put(PipeCache *c, MetalPipe *p) {
  if (--p->refs > 0) return;
  for (MetalPipe **l = &c->pipes; *l; l = &(*l)->next)
    if (*l == p) {
      *l = p->next;
      break;
    }
  release_pipe(c, p);
}

void pipecache_destroy(PipeCache *c) {
  while (c->pipes) {
    MetalPipe *p = c->pipes;
    c->pipes = p->next;
    release_pipe(c, p);
  }
  free(c->dir);
  free(c->compiler_version);
}
