/* test_emu_fiber.c: the emulator's building blocks: fiber switches (with a cost
 * printout, not an assertion), a barrier-heavy kernel, tm_interrupt stopping a
 * spinning kernel, SHA-256 test vectors and the dtype table. */
#include <pthread.h>
#include <unistd.h>

#include "rt.h"
#include "sha256.h"
#include "test_emu.h"

static Fiber main_f, ping_f;
static long counter;
static int cw_ok = 1;

static void ping(void *arg) {
  fiber_started();
  long n = *(long *)arg;
  for (long i = 0; i < n; i++) {
    counter++;
    fiber_switch(&ping_f, &main_f);
  }
  fiber_exit_to(&ping_f, &main_f);
}

static void test_fiber_switch(void) {
  enum { ITERS = 2000000 };
  size_t size = 64 * 1024;
  void *stacks = fiber_stacks_alloc(1, size);
  CHECK(stacks != NULL);
  long n = ITERS;
  fiber_thread_stack(&main_f);
  fiber_init(&ping_f, fiber_stack_at(stacks, 0, size), size, ping, &n);
  volatile double x = 1.0;
  double t0 = emu_now();
  for (long i = 0; i < ITERS; i++) {
    fiber_switch(&main_f, &ping_f);
    x = x * 1.0000001; /* floating point state survives switches */
  }
  double t1 = emu_now();
  fiber_switch(&main_f, &ping_f); /* lets ping leave its loop */
  CHECK(counter == ITERS);
  cw_ok = x > 1.0;
  CHECK(cw_ok);
  printf("fiber switch: %.1f ns per switch (%d round trips)\n", 1e9 * (t1 - t0) / (2.0 * ITERS),
         ITERS);
  fiber_release(&ping_f);
  fiber_release(&main_f);
  fiber_stacks_free(stacks, 1, size);
}

/* 1024 threads x 200 barriers: every barrier switches through all fibers. */
static void test_barrier_cost(void) {
  static const char msl[] =
      "#include <metal_stdlib>\nusing namespace metal;\n"
      "kernel void spin(device uint* out [[buffer(0)]], uint t [[thread_index_in_threadgroup]]) {\n"
      "  threadgroup uint acc[1024];\n"
      "  acc[t] = t;\n"
      "  for (int i = 0; i < 200; i++) {\n"
      "    threadgroup_barrier(mem_flags::mem_threadgroup);\n"
      "    uint v = acc[(t + 1u) % 1024u];\n"
      "    threadgroup_barrier(mem_flags::mem_threadgroup);\n"
      "    acc[t] = v;\n"
      "  }\n"
      "  *TM_ST(out + t, 9) = acc[t];\n"
      "}\n";
  static const tm_kernel_arg args[] = {{"out", 0, TM_ARG_BUFFER, TM_U32, 1}};
  tm_kernel_info k = {.name = "spin", .source_file = "spin.py", .nargs = 1, .args = args,
                      .nbuiltins = 1, .builtins = {TM_BI_THREAD_INDEX},
                      .threads_per_threadgroup = 1024, .uses_barriers = 1};
  tm_device *d = emu_open();
  tm_module *m = emu_load(d, msl, &k);
  if (m) {
    static unsigned out[1024];
    tm_launch_arg la[] = {emu_buf(out, sizeof out)};
    uint32_t grid[3] = {1, 1, 1};
    double t0 = emu_now();
    CHECK(tm_launch(m, grid, la, 1, NULL) == TM_OK);
    double t1 = emu_now();
    int bad = 0;
    for (unsigned t = 0; t < 1024; t++) bad += out[t] != (t + 200) % 1024;
    CHECK(bad == 0);
    printf("barrier: %.1f ns per thread per barrier (1024 threads, 400 barriers)\n",
           1e9 * (t1 - t0) / (1024.0 * 400));
    tm_module_free(m);
  }
  tm_device_close(d);
}

/* tm_interrupt from another thread stops a kernel that spins in a loop (its
 * TM_POLL), with threads on the worker's stack (no barriers) and as fibers;
 * the device is usable after, and a launch that starts after the request runs. */
static void *interrupt_soon(void *arg) {
  (void)arg;
  usleep(100 * 1000);
  tm_interrupt();
  return NULL;
}

static void test_interrupt(void) {
  static const char msl[] =
      "#include <metal_stdlib>\nusing namespace metal;\n"
      "kernel void spin(device const int* flag [[buffer(0)]], device uint* out [[buffer(1)]],\n"
      "                 uint t [[thread_index_in_threadgroup]]) {\n"
      "  int x = *TM_LD(flag, 4);\n"
      "  while (true) {\n"
      "    TM_POLL(5);\n"
      "    if (x != 0) break;\n"
      "  }\n"
      "  if (BARRIER) threadgroup_barrier(mem_flags::mem_threadgroup);\n"
      "  *TM_ST(out + t, 9) = t + 1;\n"
      "}\n";
  static const tm_kernel_arg args[] = {{"flag", 0, TM_ARG_BUFFER, TM_I32, 0},
                                       {"out", 1, TM_ARG_BUFFER, TM_U32, 1}};
  for (int barrier = 0; barrier < 2; barrier++) {
    char src[sizeof msl + 64];
    snprintf(src, sizeof src, "#define BARRIER %d\n%s", barrier, msl);
    tm_kernel_info k = {.name = "spin", .source_file = "spin.py", .nargs = 2, .args = args,
                        .nbuiltins = 1, .builtins = {TM_BI_THREAD_INDEX},
                        .threads_per_threadgroup = 64, .uses_barriers = barrier};
    tm_device *d = emu_open();
    tm_module *m = emu_load(d, src, &k);
    if (m) {
      static unsigned out[64];
      int flag = 0;
      tm_launch_arg la[] = {emu_buf(&flag, sizeof flag), emu_buf(out, sizeof out)};
      uint32_t grid[3] = {3, 1, 1};
      pthread_t th;
      CHECK(pthread_create(&th, NULL, interrupt_soon, NULL) == 0);
      char *err = NULL;
      double t0 = emu_now();
      tm_status st = tm_launch(m, grid, la, 2, &err);
      double took = emu_now() - t0;
      pthread_join(th, NULL);
      CHECK(st == TM_ERR_INTERRUPTED);
      CHECK(took < 2.0);
      CHECK(err && strstr(err, "interrupted") && strstr(err, "spin.py:5"));
      tm_free(err);
      flag = 1; /* the same kernel, launched after the request: runs to the end */
      memset(out, 0, sizeof out);
      CHECK(tm_launch(m, grid, la, 2, NULL) == TM_OK);
      int bad = 0;
      for (unsigned t = 0; t < 64; t++) bad += out[t] != t + 1;
      CHECK(bad == 0);
      tm_module_free(m);
    }
    tm_device_close(d);
  }
}

static void test_sha256(void) {
  uint8_t d[32];
  char hex[65];
  sha256("abc", 3, d);
  sha256_hex(d, hex);
  CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  sha256("", 0, d);
  sha256_hex(d, hex);
  CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  sha256(two, strlen(two), d);
  sha256_hex(d, hex);
  CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  /* Incremental updates in odd pieces equal one call: one million 'a'. */
  Sha256 s;
  sha256_init(&s);
  char a[997];
  memset(a, 'a', sizeof a);
  size_t left = 1000000;
  while (left) {
    size_t n = left < sizeof a ? left : sizeof a;
    sha256_update(&s, a, n);
    left -= n;
  }
  sha256_final(&s, d);
  sha256_hex(d, hex);
  CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_dtypes(void) {
  CHECK_STR(tm_dtype_name(TM_F32), "float32");
  CHECK_STR(tm_dtype_sig(TM_F32), "fp32");
  CHECK_STR(tm_dtype_name(TM_BF16), "bfloat16");
  CHECK_STR(tm_dtype_sig(TM_U8), "u8");
  CHECK_STR(tm_dtype_sig(TM_I1), "i1");
  CHECK(tm_dtype_parse("fp16") == TM_F16);
  CHECK(tm_dtype_parse("float16") == TM_F16);
  CHECK(tm_dtype_parse("bool") == TM_I1);
  CHECK(tm_dtype_parse("u1") == TM_I1);
  CHECK(tm_dtype_parse("int1") == TM_I1);
  CHECK(tm_dtype_parse("i64") == TM_I64);
  CHECK(tm_dtype_parse("uint32") == TM_U32);
  CHECK(tm_dtype_parse("fp64") == TM_F64);
  CHECK(tm_dtype_parse("float128") == TM_VOID);
  CHECK(tm_dtype_parse(NULL) == TM_VOID);
  CHECK(tm_dtype_bytes(TM_I1) == 1 && tm_dtype_bytes(TM_I64) == 8 && tm_dtype_bytes(TM_BF16) == 2);
  CHECK(tm_dtype_bytes(TM_VOID) == 0);
  for (int i = 1; i < TM_NDTYPES; i++) {
    CHECK(tm_dtype_parse(tm_dtype_name((tm_dtype)i)) == (tm_dtype)i);
    CHECK(tm_dtype_parse(tm_dtype_sig((tm_dtype)i)) == (tm_dtype)i);
  }
  CHECK_STR(tm_dtype_name((tm_dtype)99), "void");
}

int main(void) {
  emu_fresh_cache();
  test_fiber_switch();
  test_barrier_cost();
  test_interrupt();
  test_sha256();
  test_dtypes();
  emu_rm_cache();
  return check_report("test_emu_fiber");
}
