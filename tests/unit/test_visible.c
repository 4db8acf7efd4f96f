/* test_visible.c: pointers loaded from memory. A kernel that loads an address
 * from a table and dereferences it may reach the allocations of its arguments
 * and the memory registered as kernel-visible (tm_visible_add), nothing else:
 * on the cpu device and on metal-sim, where registered memory is made resident
 * with useResource and metal-sim checks every access against the bound and
 * resident buffers. */
#include <stdint.h>
#include <stdlib.h>

#include "mtl.h"
#include "test_emu.h"

/* out2[i] = in[i] * 2 + 1 where in = (float*)t[0], out2 = (float*)t[1]. */
static const char indirect_msl[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void indirect(\n"
    "    device const ulong* t [[buffer(0)]],\n"
    "    constant int& n [[buffer(1)]],\n"
    "    uint tm_tid [[thread_index_in_threadgroup]])\n"
    "{\n"
    "  int i = int(tm_tid);\n"
    "  if (i >= n) return;\n"
    "  device const float* p = (device const float*)(*TM_LD(t + 0, 4));\n"
    "  device float* q = (device float*)(*TM_LD(t + 1, 5));\n"
    "  float v = *TM_LD(p + i, 6);\n"
    "  *TM_ST(q + i, 7) = v * 2.0f + 1.0f;\n"
    "}\n";

static const tm_kernel_arg indirect_args[] = {
    {"t", 0, TM_ARG_BUFFER, TM_U64, 0},
    {"n", 1, TM_ARG_BYTES, TM_I32, 0},
};

static const tm_kernel_info indirect_info = {
    .name = "indirect",
    .source_file = "grouped.py",
    .nargs = 2,
    .args = indirect_args,
    .nbuiltins = 1,
    .builtins = {TM_BI_THREAD_INDEX},
    .threads_per_threadgroup = 64,
};

enum { N = 48, PAGE = 16384 };

static tm_status run(tm_module *m, uint64_t *table, int n, char **err) {
  tm_launch_arg la[] = {emu_buf(table, 2 * sizeof *table), emu_val(&n, 4)};
  uint32_t g[3] = {1, 1, 1};
  tm_status st = tm_launch(m, g, la, 2, err);
  return st;
}

/* in and out are host memory (page-aligned for metal-sim's wraps). */
static void host_memory(tm_device *d, float *in, float *out, const char *what) {
  tm_module *m = emu_load(d, indirect_msl, &indirect_info);
  if (!m) return;
  unsigned seed = 3;
  for (int i = 0; i < N; i++) in[i] = emu_randf(&seed), out[i] = -1.0f;
  uint64_t table[2] = {(uint64_t)(uintptr_t)in, (uint64_t)(uintptr_t)out};
  char *err = NULL;
  /* nothing registered: the first access through a loaded pointer fails */
  CHECK(run(m, table, N, &err) == TM_ERR_RUNTIME);
  CHECK_CONTAINS(err, "out-of-bounds load in kernel 'indirect' at grouped.py:6: address");
  CHECK_CONTAINS(err, "is in no argument's allocation nor in memory registered as "
                      "kernel-visible (memory reached through pointers loaded from memory "
                      "must be registered: triton_metal.kernel_visible; the nearest, argument "
                      "'t', is");
  tm_free(err);
  /* registered: runs, through the addresses the registration gives */
  tm_visible *vin = NULL, *vout = NULL;
  uint64_t ain = 0, aout = 0;
  tm_launch_arg min = {.data = in, .nbytes = N * 4, .readonly = 1};
  tm_launch_arg mout = {.data = out, .nbytes = N * 4};
  tm_status st = tm_visible_add(d, &min, NULL, &vin, &ain, &err);
  if (!st) st = tm_visible_add(d, &mout, NULL, &vout, &aout, &err);
  CHECK(st == TM_OK);
  if (st) fprintf(stderr, "%s: %s\n", what, err);
  tm_free(err);
  err = NULL;
  table[0] = ain, table[1] = aout;
  st = run(m, table, N, &err);
  CHECK(st == TM_OK);
  if (st) fprintf(stderr, "%s: %s\n", what, err);
  tm_free(err);
  err = NULL;
  int bad = 0;
  for (int i = 0; i < N; i++) bad += out[i] != in[i] * 2.0f + 1.0f;
  CHECK(bad == 0);
  /* one element past the registered input */
  CHECK(run(m, table, N + 1, &err) == TM_ERR_RUNTIME);
  CHECK_CONTAINS(err, "address is 4 bytes past the end of kernel-visible memory registered at");
  CHECK_CONTAINS(err, "(192 bytes)");
  tm_free(err);
  /* the input was registered read-only: storing through it fails */
  table[1] = ain;
  CHECK(run(m, table, 1, &err) == TM_ERR_RUNTIME);
  CHECK_CONTAINS(err, "store to read-only kernel-visible memory registered at");
  tm_free(err);
  /* removed: unreachable again */
  table[1] = aout;
  tm_visible_remove(d, vout);
  CHECK(run(m, table, 1, &err) == TM_ERR_RUNTIME);
  CHECK_CONTAINS(err, "out-of-bounds store in kernel 'indirect' at grouped.py:7");
  tm_free(err);
  tm_visible_remove(d, vin);
  tm_visible_remove(d, vin); /* no longer registered: ignored */
  tm_module_free(m);
}

static void bad_registrations(tm_device *d, int metal) {
  char *err = NULL;
  tm_visible *v = NULL;
  uint64_t addr;
  static float mem[64];
  tm_launch_arg none = {0};
  CHECK(tm_visible_add(d, &none, NULL, &v, &addr, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "kernel-visible memory: NULL or empty");
  tm_free(err);
  tm_launch_arg wrap = {.data = (void *)(uintptr_t)16, .nbytes = 4, .before = 64};
  CHECK(tm_visible_add(d, &wrap, NULL, &v, &addr, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "wraps around the address space");
  tm_free(err);
  tm_launch_arg unaligned = {.data = mem + 1, .nbytes = 16};
  if (!metal) {
    tm_device_arg dv = {(void *)(uintptr_t)0x1000, 0};
    CHECK(tm_visible_add(d, &unaligned, &dv, &v, &addr, &err) == TM_ERR_INVALID);
    CHECK_CONTAINS(err, "a device buffer, but the cpu device takes host memory only");
    tm_free(err);
    CHECK(tm_visible_add(d, &unaligned, NULL, &v, &addr, &err) == TM_OK);
    CHECK(addr == (uint64_t)(uintptr_t)(mem + 1));
    tm_visible_remove(d, v); /* and one left registered: tm_device_close removes it */
    CHECK(tm_visible_add(d, &unaligned, NULL, &v, &addr, &err) == TM_OK);
    return;
  }
  /* host memory anywhere: the wrap covers its pages (metal-sim's GPU address
   * is the host address) */
  CHECK(tm_visible_add(d, &unaligned, NULL, &v, &addr, &err) == TM_OK);
  CHECK(addr == (uint64_t)(uintptr_t)(mem + 1));
  tm_visible_remove(d, v);
  void *buf, *contents;
  CHECK(tm_buffer_new(d, 4096, &buf, &contents, &err) == TM_OK);
  tm_launch_arg below = {.nbytes = 0, .before = 64};
  tm_device_arg dv = {buf, 32};
  CHECK(tm_visible_add(d, &below, &dv, &v, &addr, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "reaches 64 bytes before its offset 32 in its Metal buffer");
  tm_free(err);
  size_t len = 0;
  tm_launch_arg huge = {.nbytes = (size_t)1 << 40};
  CHECK(tm_visible_add(d, &huge, &dv, &v, &addr, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "pass the end of its");
  tm_free(err);
  /* a device buffer: its address is the buffer's GPU address plus the offset
   * (metal-sim: the host address) */
  tm_launch_arg whole = {.nbytes = len, .before = 32};
  CHECK(tm_visible_add(d, &whole, &dv, &v, &addr, &err) == TM_OK);
  CHECK(addr == (uint64_t)(uintptr_t)contents + 32);
  tm_visible_remove(d, v);
  tm_buffer_free(d, buf);
}

/* metal-sim's rule through the narrow API: an access through a loaded pointer
 * must land in a bound buffer or one made resident with useResource, and a
 * store in one made resident for writing. */
static void sim_residency(tm_device *d) {
  tm_module *m = emu_load(d, indirect_msl, &indirect_info);
  if (!m) return;
  void *dev;
  const MtlApi *a = metal_api(d, &dev);
  void *q, *tb, *ib, *ob;
  char *err = NULL;
  CHECK(a->queue_new(dev, &q, &err) == TM_OK);
  CHECK(a->buffer_new(dev, 16, &tb, &err) == TM_OK);
  CHECK(a->buffer_new(dev, N * 4, &ib, &err) == TM_OK);
  CHECK(a->buffer_new(dev, N * 4, &ob, &err) == TM_OK);
  float *in = a->buffer_contents(ib), *out = a->buffer_contents(ob);
  for (int i = 0; i < N; i++) in[i] = (float)i - 7.5f;
  uint64_t *t = a->buffer_contents(tb);
  t[0] = a->buffer_gpu_address(ib), t[1] = a->buffer_gpu_address(ob);
  CHECK(t[0] == (uint64_t)(uintptr_t)in);
  void *pso = ((MetalPipe *)m->impl)->pso;
  int n = N;
  for (int mode = 0; mode < 3; mode++) { /* 0: not resident, 1: out read-only, 2: right */
    void *cb = NULL, *enc = NULL;
    CHECK(a->cmdbuf_new(q, &cb, &err) == TM_OK && a->encoder_new(cb, &enc, &err) == TM_OK);
    CHECK(a->set_pipeline(enc, pso, &err) == TM_OK);
    CHECK(a->set_buffer(enc, tb, 0, 0, &err) == TM_OK);
    CHECK(a->set_bytes(enc, &n, 4, 1, &err) == TM_OK);
    if (mode > 0) {
      a->use_resource(enc, ib, 0, 0, 0);
      a->use_resource(enc, ob, 0, N * 4, mode == 2);
    }
    uint32_t g[3] = {1, 1, 1}, th[3] = {64, 1, 1};
    CHECK(a->dispatch(enc, g, th, &err) == TM_OK);
    CHECK(a->end_encoding(enc, &err) == TM_OK && a->commit(cb, &err) == TM_OK);
    a->wait(cb);
    char *msg = NULL;
    int st = a->cb_status(cb, &msg);
    if (mode == 0) {
      CHECK(st == MTL_CB_ERROR);
      CHECK_CONTAINS(msg, "out-of-bounds load in kernel 'indirect' at grouped.py:6");
      CHECK_CONTAINS(msg, "in no argument's allocation nor in memory registered as kernel-visible");
    } else if (mode == 1) {
      CHECK(st == MTL_CB_ERROR);
      CHECK_CONTAINS(msg, "store to read-only kernel-visible memory registered at");
    } else {
      CHECK(st == MTL_CB_COMPLETED);
      int bad = 0;
      for (int i = 0; i < N; i++) bad += out[i] != in[i] * 2.0f + 1.0f;
      CHECK(bad == 0);
    }
    tm_free(msg);
    a->release(dev, enc);
    a->release(dev, cb);
  }
  /* a resident buffer and a different bound buffer over the same memory, one
   * written: Metal would not keep the two coherent */
  void *alias = NULL, *cb = NULL, *enc = NULL;
  CHECK(a->buffer_wrap(dev, in, PAGE, &alias, &err) == TM_OK);
  CHECK(a->cmdbuf_new(q, &cb, &err) == TM_OK && a->encoder_new(cb, &enc, &err) == TM_OK);
  CHECK(a->set_pipeline(enc, pso, &err) == TM_OK);
  CHECK(a->set_buffer(enc, alias, 0, 0, &err) == TM_OK);
  CHECK(a->set_bytes(enc, &n, 4, 1, &err) == TM_OK);
  a->use_resource(enc, ib, 0, 0, 1);
  uint32_t g[3] = {1, 1, 1}, th[3] = {64, 1, 1};
  CHECK(a->dispatch(enc, g, th, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "index 0 ('t') and a buffer made resident with useResource are different "
                      "MTLBuffers over overlapping memory");
  tm_free(err);
  err = NULL;
  a->end_encoding(enc, &err);
  a->release(dev, enc), a->release(dev, cb), a->release(dev, alias);
  a->release(dev, q);
  a->release(dev, tb), a->release(dev, ib), a->release(dev, ob);
  tm_module_free(m);
}

/* The portable metal device: registered device buffers are made resident for
 * every dispatch; a host argument inside registered host memory binds through
 * the registration's own buffer (one buffer for both uses). */
static void metal_device(tm_device *d, char *pages) {
  tm_module *m = emu_load(d, indirect_msl, &indirect_info);
  if (!m) return;
  char *err = NULL;
  void *ib, *ob, *icont, *ocont;
  CHECK(tm_buffer_new(d, N * 4, &ib, &icont, &err) == TM_OK);
  CHECK(tm_buffer_new(d, N * 4, &ob, &ocont, &err) == TM_OK);
  float *in = icont, *out = ocont;
  for (int i = 0; i < N; i++) in[i] = 3.25f - (float)i, out[i] = 0;
  tm_visible *vi, *vo;
  uint64_t ai, ao;
  tm_launch_arg whole = {0};
  tm_device_arg di = {ib, 0}, dout = {ob, 0};
  CHECK(tm_visible_add(d, &whole, &di, &vi, &ai, &err) == TM_OK);
  CHECK(tm_visible_add(d, &whole, &dout, &vo, &ao, &err) == TM_OK);
  /* the table itself is host memory inside a registered (wrapped) region */
  uint64_t *table = (uint64_t *)pages;
  tm_visible *vt;
  uint64_t at;
  tm_launch_arg tmem = {.data = pages, .nbytes = PAGE};
  CHECK(tm_visible_add(d, &tmem, NULL, &vt, &at, &err) == TM_OK);
  table[0] = ai, table[1] = ao;
  tm_device_stats s0, s1;
  tm_device_get_stats(d, &s0, &err);
  tm_status st = run(m, table, N, &err);
  if (!st) st = tm_device_synchronize(d, &err);
  CHECK(st == TM_OK);
  if (st) fprintf(stderr, "metal device: %s\n", err);
  tm_free(err);
  err = NULL;
  tm_device_get_stats(d, &s1, &err);
  CHECK(s1.zero_copy_args == s0.zero_copy_args + 1 && s1.staged_args == s0.staged_args);
  int bad = 0;
  for (int i = 0; i < N; i++) bad += out[i] != in[i] * 2.0f + 1.0f;
  CHECK(bad == 0);
  /* unregistered output: the store fails, naming the kernel's line */
  tm_visible_remove(d, vo);
  st = run(m, table, N, &err);
  if (!st) st = tm_device_synchronize(d, &err);
  CHECK(st == TM_ERR_RUNTIME);
  CHECK_CONTAINS(err, "out-of-bounds store in kernel 'indirect' at grouped.py:7");
  tm_free(err);
  tm_visible_remove(d, vi);
  tm_visible_remove(d, vt);
  tm_buffer_free(d, ib);
  tm_buffer_free(d, ob);
  tm_module_free(m);
}

int main(void) {
  emu_fresh_cache();
  char *pages = aligned_alloc(PAGE, 4 * PAGE);
  float *in = (float *)pages, *out = (float *)(pages + 2 * PAGE);
  tm_device *cpu = emu_open();
  host_memory(cpu, in, out, "cpu");
  bad_registrations(cpu, 0);
  tm_device_close(cpu);

  tm_device *sim = NULL;
  char *err = NULL;
  if (tm_device_open("metal-sim", &sim, &err)) {
    fprintf(stderr, "metal-sim: %s\n", err);
    return 2;
  }
  host_memory(sim, in, out, "metal-sim");
  bad_registrations(sim, 1);
  sim_residency(sim);
  metal_device(sim, pages + PAGE);
  tm_device_close(sim);
  free(pages);
  emu_rm_cache();
  return check_report("test_visible");
}
