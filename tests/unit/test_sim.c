/* test_sim.c: metal-sim refuses each Metal rule violation with a clear error,
 * through the narrow API (mtl.h) directly, and runs command buffers only when
 * they are waited for. */
#include <stdlib.h>

#include "mtl.h"
#include "test_emu.h"

typedef struct Ctx {
  tm_device *d;
  tm_module *m;
  const MtlApi *a;
  void *dev, *q, *pso;
} Ctx;

/* The add kernel's pipeline, built through the portable cache. */
static void *add_pipeline(Ctx *c) {
  c->m = emu_load(c->d, emu_add_msl, &emu_add_info);
  return c->m ? ((MetalPipe *)c->m->impl)->pso : NULL;
}

/* The call fails and its message contains needle (err is read after the call). */
#define expect(call, err, needle)   \
  do {                              \
    tm_status st_ = (call);         \
    CHECK(st_ != TM_OK);            \
    CHECK_CONTAINS(err, needle);    \
    tm_free(err);                   \
    err = NULL;                     \
  } while (0)

/* A command buffer + encoder with the pipeline set. */
static void *begin(Ctx *c, void **cb) {
  void *enc = NULL;
  char *err = NULL;
  CHECK(c->a->cmdbuf_new(c->q, cb, &err) == TM_OK);
  CHECK(c->a->encoder_new(*cb, &enc, &err) == TM_OK);
  CHECK(c->a->set_pipeline(enc, c->pso, &err) == TM_OK);
  return enc;
}

static void finish(Ctx *c, void *cb, void *enc) {
  char *err = NULL;
  c->a->end_encoding(enc, &err);
  tm_free(err);
  c->a->release(c->dev, enc);
  c->a->release(c->dev, cb);
}

static void test_rules(Ctx *c) {
  const MtlApi *a = c->a;
  char *err = NULL;
  void *cb, *enc = begin(c, &cb), *buf = NULL, *tiny = NULL;
  CHECK(a->buffer_new(c->dev, 4096, &buf, &err) == TM_OK);
  /* buffer index < 31 */
  expect(a->set_buffer(enc, buf, 0, 31, &err), err, "index 31 is out of range");
  expect(a->set_bytes(enc, "x", 1, 40, &err), err, "index 40 is out of range");
  /* setBytes at most 4 KB */
  static char big[4097];
  expect(a->set_bytes(enc, big, sizeof big, 3, &err), err, "at most 4096 bytes inline");
  CHECK(a->set_bytes(enc, big, 4096, 3, &err) == TM_OK);
  /* threadgroup memory: 16-byte multiples, 32 KB */
  expect(a->set_tg_memory(enc, 24, 0, &err), err, "not a multiple of 16");
  expect(a->set_tg_memory(enc, 32768 + 16, 0, &err), err, "at most 32768 bytes");
  /* offset past the end */
  expect(a->set_buffer(enc, buf, 8192, 0, &err), err, "past the end");
  /* dispatch: unbound arguments */
  uint32_t g[3] = {1, 1, 1}, t[3] = {128, 1, 1};
  expect(a->dispatch(enc, g, t, &err), err, "buffer index 0 ('x_ptr') is not bound");
  CHECK(a->set_buffer(enc, buf, 0, 0, &err) == TM_OK);
  CHECK(a->set_buffer(enc, buf, 0, 1, &err) == TM_OK);
  expect(a->set_bytes(enc, "abcd", 4, 2, &err) == TM_OK ? a->dispatch(enc, g, t, &err) : TM_OK,
         err, "'output_ptr') is a device pointer but was bound with setBytes");
  CHECK(a->set_buffer(enc, buf, 0, 2, &err) == TM_OK);
  /* threads per threadgroup at most the pipeline's maximum */
  uint32_t t2[3] = {1025, 1, 1};
  expect(a->dispatch(enc, g, t2, &err), err, "exceeds the pipeline's maxTotalThreadsPerThreadgroup (1024)");
  /* threadgroup memory total */
  CHECK(a->set_tg_memory(enc, 32768, 0, &err) == TM_OK);
  CHECK(a->set_tg_memory(enc, 16, 1, &err) == TM_OK);
  expect(a->dispatch(enc, g, t, &err), err, "32784 bytes of threadgroup memory");
  CHECK(a->set_tg_memory(enc, 0, 0, &err) == TM_OK && a->set_tg_memory(enc, 0, 1, &err) == TM_OK);
  CHECK(a->dispatch(enc, g, t, &err) == TM_OK);
  /* use after release */
  CHECK(a->buffer_new(c->dev, 16, &tiny, &err) == TM_OK);
  a->release(c->dev, tiny);
  expect(a->set_buffer(enc, tiny, 0, 0, &err), err, "use of a released MTLBuffer (use after release)");
  CHECK(a->buffer_contents(tiny) == NULL);
  /* encoding after endEncoding; committing twice; committing an open encoder */
  void *cb2, *enc2 = begin(c, &cb2);
  expect(a->commit(cb2, &err), err, "call endEncoding first");
  finish(c, cb2, enc2);
  CHECK(a->end_encoding(enc, &err) == TM_OK);
  expect(a->set_buffer(enc, buf, 0, 0, &err), err, "after endEncoding");
  CHECK(a->commit(cb, &err) == TM_OK);
  expect(a->commit(cb, &err), err, "already committed");
  a->wait(cb);
  CHECK(a->cb_status(cb, NULL) == MTL_CB_COMPLETED);
  a->release(c->dev, enc);
  a->release(c->dev, cb);
  expect(a->commit(cb, &err), err, "use of a released MTLCommandBuffer");
  /* no-copy wrapping needs page alignment */
  void *mem = aligned_alloc(16384, 32768);
  void *w = NULL;
  expect(a->buffer_wrap(c->dev, (char *)mem + 64, 16384, &w, &err), err, "page-aligned");
  expect(a->buffer_wrap(c->dev, mem, 1000, &w, &err), err, "page-aligned");
  CHECK(a->buffer_wrap(c->dev, mem, 32768, &w, &err) == TM_OK && a->buffer_contents(w) == mem);
  a->release(c->dev, w);
  free(mem);
  a->release(c->dev, buf);
}

/* Two distinct buffers over the same bytes, one written: refused. */
static void test_aliasing(Ctx *c) {
  const MtlApi *a = c->a;
  char *err = NULL;
  float *mem = aligned_alloc(16384, 16384);
  void *w1, *w2, *cb, *enc = begin(c, &cb);
  CHECK(a->buffer_wrap(c->dev, mem, 16384, &w1, &err) == TM_OK);
  CHECK(a->buffer_wrap(c->dev, mem, 16384, &w2, &err) == TM_OK);
  int n = 16;
  CHECK(a->set_buffer(enc, w1, 0, 0, &err) == TM_OK);
  CHECK(a->set_buffer(enc, w1, 0, 1, &err) == TM_OK);
  CHECK(a->set_buffer(enc, w2, 256, 2, &err) == TM_OK);
  CHECK(a->set_bytes(enc, &n, 4, 3, &err) == TM_OK);
  uint32_t g[3] = {1, 1, 1}, t[3] = {128, 1, 1};
  expect(a->dispatch(enc, g, t, &err), err,
         "indices 0 ('x_ptr') and 2 ('output_ptr') are different MTLBuffers over overlapping "
         "memory and 'output_ptr' is written");
  /* one buffer at two offsets is how it is done */
  CHECK(a->set_buffer(enc, w1, 256, 2, &err) == TM_OK);
  CHECK(a->dispatch(enc, g, t, &err) == TM_OK);
  finish(c, cb, enc);
  a->release(c->dev, w1);
  a->release(c->dev, w2);
  free(mem);
}

/* commit only queues; waitUntilCompleted runs; errors land in the status. */
static void test_deferred(Ctx *c) {
  const MtlApi *a = c->a;
  char *err = NULL;
  void *buf, *cb, *enc = begin(c, &cb);
  CHECK(a->buffer_new(c->dev, 3 * 1024 * 4, &buf, &err) == TM_OK);
  float *f = a->buffer_contents(buf);
  for (int i = 0; i < 1024; i++) f[i] = (float)i, f[1024 + i] = 1, f[2048 + i] = -1;
  int n = 1024;
  CHECK(a->set_buffer(enc, buf, 0, 0, &err) == TM_OK);
  CHECK(a->set_buffer(enc, buf, 4096, 1, &err) == TM_OK);
  CHECK(a->set_buffer(enc, buf, 8192, 2, &err) == TM_OK);
  CHECK(a->set_bytes(enc, &n, 4, 3, &err) == TM_OK);
  uint32_t g[3] = {1, 1, 1}, t[3] = {128, 1, 1};
  CHECK(a->dispatch(enc, g, t, &err) == TM_OK);
  CHECK(a->end_encoding(enc, &err) == TM_OK && a->commit(cb, &err) == TM_OK);
  CHECK(a->cb_status(cb, NULL) == MTL_CB_COMMITTED);
  CHECK(f[2048 + 5] == -1); /* not run yet: a host that skips the wait sees stale data */
  a->wait(cb);
  CHECK(a->cb_status(cb, NULL) == MTL_CB_COMPLETED);
  CHECK(f[2048 + 5] == 6 && f[2048 + 1023] == 1024);
  finish(c, cb, enc);
  /* an out-of-bounds access fails the command buffer with the emulator's message */
  enc = begin(c, &cb);
  n = 4096;
  a->set_buffer(enc, buf, 0, 0, &err);
  a->set_buffer(enc, buf, 4096, 1, &err);
  a->set_buffer(enc, buf, 8192, 2, &err);
  for (unsigned i = 0; i < 3; i++) a->set_checks(enc, i, 0, 4096, 0);
  a->set_bytes(enc, &n, 4, 3, &err);
  uint32_t g4[3] = {4, 1, 1};
  CHECK(a->dispatch(enc, g4, t, &err) == TM_OK);
  CHECK(a->end_encoding(enc, &err) == TM_OK && a->commit(cb, &err) == TM_OK);
  a->wait(cb);
  char *msg = NULL;
  CHECK(a->cb_status(cb, &msg) == MTL_CB_ERROR);
  CHECK_CONTAINS(msg, "Metal command buffer failed (metal-sim): out-of-bounds store in kernel "
                      "'add_kernel' at vector_add.py:16");
  CHECK_CONTAINS(msg, "past the end of argument 'output_ptr' (4096 bytes)");
  tm_free(msg);
  finish(c, cb, enc);
  a->release(c->dev, buf);
}

/* The function must exist in the library; bad MSL fails at pipeline build. */
static void test_compile_errors(Ctx *c) {
  const MtlApi *a = c->a;
  char *err = NULL;
  void *lib = NULL, *fn = NULL;
  CHECK(a->library_new(c->dev, emu_add_msl, 0x30001, MTL_MATH_SAFE, &lib, &err) == TM_OK);
  expect(a->function_new(lib, "nope", &fn, &err), err, "no kernel function 'nope'");
  a->release(c->dev, lib);
  expect(a->function_new(lib, "add_kernel", &fn, &err), err, "use of a released MTLLibrary");
  expect(a->library_new(c->dev, emu_add_msl, 9 << 16, MTL_MATH_SAFE, &lib, &err), err,
         "unknown MTLLanguageVersion 9.0");
  tm_module *m = NULL;
  tm_kernel_info bad = emu_add_info;
  CHECK(tm_module_load(c->d, "kernel void add_kernel(device float* x [[buffer(0)]]) { oops }",
                       &bad, &m, &err) == TM_ERR_DEVICE);
  CHECK_CONTAINS(err, "kernel 'add_kernel': Metal could not build the MSL");
  tm_free(err);
}

/* Pipelines reporting a lower maximum (register pressure) are honoured by
 * the portable layer with an error naming the kernel and num_warps. */
static void test_pipeline_max(void) {
  setenv("TRITON_METAL_SIM_MAX_THREADS", "64", 1);
  tm_device *d = NULL;
  char *err = NULL;
  CHECK(tm_device_open("metal-sim", &d, &err) == TM_OK);
  unsetenv("TRITON_METAL_SIM_MAX_THREADS");
  tm_module *m = emu_load(d, emu_add_msl, &emu_add_info);
  float x[4] = {0};
  int n = 4;
  tm_launch_arg args[] = {emu_buf(x, 16), emu_buf(x, 16), emu_buf(x, 16), emu_val(&n, 4)};
  uint32_t g[3] = {1, 1, 1};
  CHECK(m && tm_launch(m, g, args, 4, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "kernel 'add_kernel' runs 128 threads per threadgroup (num_warps=4) but "
                      "its Metal pipeline allows at most 64");
  tm_free(err);
  tm_module_free(m);
  tm_device_close(d);
}

int main(void) {
  emu_fresh_cache();
  Ctx c = {0};
  char *err = NULL;
  if (tm_device_open("metal-sim", &c.d, &err)) {
    fprintf(stderr, "metal-sim: %s\n", err);
    return 2;
  }
  c.a = metal_api(c.d, &c.dev);
  CHECK(c.a->queue_new(c.dev, &c.q, &err) == TM_OK);
  c.pso = add_pipeline(&c);
  if (c.pso) {
    test_rules(&c);
    test_aliasing(&c);
    test_deferred(&c);
  }
  test_compile_errors(&c);
  test_pipeline_max();
  c.a->release(c.dev, c.q);
  tm_module_free(c.m);
  tm_device_close(c.d);
  emu_rm_cache();
  return check_report("test_sim");
}
