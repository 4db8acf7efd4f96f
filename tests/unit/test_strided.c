/* test_strided.c: a buffer argument is a data pointer plus the allocation
 * around it (tm_launch_arg.before / nbytes). A kernel may address memory below
 * its data pointer inside the allocation, as a strided view's kernel does; an
 * access outside the allocation is an error naming the argument. The same on
 * the cpu device and on metal-sim (staged and zero-copy host memory, device
 * buffers bound at an offset). */
#include <stdint.h>
#include <stdlib.h>

#include "mtl.h"
#include "test_emu.h"

/* out[i - s] = x[i - s] * 2 for i < n: with s > 0 both pointers reach below
 * their data pointers. */
static const char shift_msl[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void shift(\n"
    "    device const float* x [[buffer(0)]],\n"
    "    device float* out [[buffer(1)]],\n"
    "    constant int& s [[buffer(2)]],\n"
    "    constant int& n [[buffer(3)]],\n"
    "    uint tm_tid [[thread_index_in_threadgroup]])\n"
    "{\n"
    "  int i = int(tm_tid);\n"
    "  if (i >= n) return;\n"
    "  float v = *TM_LD(x + (i - s), 7);\n"
    "  *TM_ST(out + (i - s), 7) = v * 2.0f;\n"
    "}\n";

static const tm_kernel_arg shift_args[] = {
    {"x", 0, TM_ARG_BUFFER, TM_F32, 0},
    {"out", 1, TM_ARG_BUFFER, TM_F32, 1},
    {"s", 2, TM_ARG_BYTES, TM_I32, 0},
    {"n", 3, TM_ARG_BYTES, TM_I32, 0},
};

static const tm_kernel_info shift_info = {
    .name = "shift",
    .source_file = "shift.py",
    .nargs = 4,
    .args = shift_args,
    .nbuiltins = 1,
    .builtins = {TM_BI_THREAD_INDEX},
    .threads_per_threadgroup = 128,
};

enum { N = 64, PAGE = 16384 };

/* x is a view 16 floats into an allocation of N floats (64 bytes before its
 * data pointer), out likewise 8 floats into its own. */
static void run_views(tm_device *d, float *xa, float *oa, const char *what) {
  tm_module *m = emu_load(d, shift_msl, &shift_info);
  if (!m) return;
  unsigned seed = 7;
  for (int i = 0; i < N; i++) xa[i] = emu_randf(&seed), oa[i] = -1.0f;
  int s = 8, n = 48;
  tm_launch_arg la[] = {{.data = xa + 16, .nbytes = (N - 16) * 4, .before = 16 * 4},
                        {.data = oa + 8, .nbytes = (N - 8) * 4, .before = 8 * 4},
                        emu_val(&s, 4), emu_val(&n, 4)};
  uint32_t g[3] = {1, 1, 1};
  char *err = NULL;
  /* below both data pointers, inside the allocations: allowed, and the
   * metal device copies back what was written below the data pointer */
  tm_status st = tm_launch(m, g, la, 4, &err);
  CHECK(st == TM_OK);
  if (st) fprintf(stderr, "%s: %s\n", what, err);
  tm_free(err);
  int bad = 0;
  for (int i = 0; i < N; i++) {
    float want = i < n ? xa[i + 8] * 2.0f : -1.0f; /* out[j] for j = i - 8 + 8 */
    bad += oa[i] != want;
  }
  CHECK(bad == 0);
  if (bad) fprintf(stderr, "%s: %d wrong elements\n", what, bad);
  /* one element below x's allocation: a located error naming x */
  s = 17, n = 1;
  CHECK(tm_launch(m, g, la, 4, &err) == TM_ERR_RUNTIME);
  CHECK_CONTAINS(err, "out-of-bounds load in kernel 'shift' at shift.py:7: address is 4 bytes "
                      "before the allocation of argument 'x' (its allocation: 64 bytes before "
                      "its data pointer and 192 from it)");
  tm_free(err);
  /* one past the end of x's allocation */
  s = -48, n = 1;
  CHECK(tm_launch(m, g, la, 4, &err) == TM_ERR_RUNTIME);
  CHECK_CONTAINS(err, "4 bytes past the allocation of argument 'x'");
  tm_free(err);
  /* a store below out's allocation names out */
  la[0] = (tm_launch_arg){.data = xa + 32, .nbytes = (N - 32) * 4, .before = 32 * 4};
  s = 9, n = 1;
  CHECK(tm_launch(m, g, la, 4, &err) == TM_ERR_RUNTIME);
  CHECK_CONTAINS(err, "out-of-bounds store in kernel 'shift' at shift.py:7: address is 4 bytes "
                      "before the allocation of argument 'out'");
  tm_free(err);
  /* a read-only view refuses stores below its data pointer too */
  la[1].readonly = 1, s = 4, n = 1;
  CHECK(tm_launch(m, g, la, 4, &err) == TM_ERR_RUNTIME);
  CHECK_CONTAINS(err, "store to read-only argument 'out' in kernel 'shift' at shift.py:7 (byte "
                      "offset -16 from its data pointer; its allocation: 32 bytes before");
  tm_free(err);
  la[1].readonly = 0;
  /* an allocation that would start below address 0 is refused before running */
  la[0] = (tm_launch_arg){.data = (void *)(uintptr_t)64, .nbytes = 4, .before = 128};
  CHECK(tm_launch(m, g, la, 4, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "argument 0 'x': its memory (128 bytes before and 4 from 0x40) wraps");
  tm_free(err);
  la[0] = (tm_launch_arg){.data = NULL, .nbytes = 0, .before = 8};
  CHECK(tm_launch(m, g, la, 4, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "argument 0 'x' has NULL data and 8 bytes");
  tm_free(err);
  tm_module_free(m);
}

/* Device buffers (metal kinds): the kernel's pointer is the offset; before
 * may not exceed it, and reaches below it. */
static void run_device_buffer(tm_device *d) {
  tm_module *m = emu_load(d, shift_msl, &shift_info);
  if (!m) return;
  void *buf = NULL, *obuf = NULL, *mem = NULL, *omem = NULL;
  char *err = NULL;
  CHECK(tm_buffer_new(d, N * 4, &buf, &mem, &err) == TM_OK);
  CHECK(tm_buffer_new(d, N * 4, &obuf, &omem, &err) == TM_OK);
  float *x = mem, *o = omem;
  for (int i = 0; i < N; i++) x[i] = (float)i - 20.5f, o[i] = 0;
  int s = 8, n = 8;
  tm_launch_arg la[] = {{.nbytes = 0, .before = 40 * 4}, {.nbytes = 0, .before = 8 * 4},
                        emu_val(&s, 4), emu_val(&n, 4)};
  tm_device_arg dv[] = {{buf, 40 * 4}, {obuf, 8 * 4}, {NULL, 0}, {NULL, 0}};
  uint32_t g[3] = {1, 1, 1};
  /* x's pointer is x + 40; it reads x[32..40) below it */
  tm_status st = tm_launch_ex(m, g, la, dv, 4, &err);
  if (!st) st = tm_device_synchronize(d, &err);
  CHECK(st == TM_OK);
  tm_free(err);
  err = NULL;
  int bad = 0;
  for (int i = 0; i < 8; i++) bad += o[i] != x[32 + i] * 2.0f;
  CHECK(bad == 0);
  /* before larger than the offset: refused at once */
  la[0].before = 41 * 4;
  CHECK(tm_launch_ex(m, g, la, dv, 4, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "argument 0 'x' reaches 164 bytes before its offset 160 in its Metal "
                      "buffer");
  tm_free(err);
  /* before smaller than what the kernel reads: a located error on x */
  la[0].before = 4 * 4, s = 8, n = 1;
  st = tm_launch_ex(m, g, la, dv, 4, &err);
  if (!st) st = tm_device_synchronize(d, &err);
  CHECK(st == TM_ERR_RUNTIME);
  CHECK_CONTAINS(err, "16 bytes before the allocation of argument 'x' (its allocation: 16 "
                      "bytes before its data pointer");
  tm_free(err);
  tm_buffer_free(d, buf);
  tm_buffer_free(d, obuf);
  tm_module_free(m);
}

int main(void) {
  emu_fresh_cache();
  /* gaps between the allocations: a miss must not land in the other one (the
   * checker accepts an address inside any argument's allocation) */
  static float pool[5 * N];
  float *xa = pool + N, *oa = pool + 3 * N;
  tm_device *cpu = emu_open();
  run_views(cpu, xa, oa, "cpu");
  tm_device_close(cpu);

  tm_device *sim = NULL;
  char *err = NULL;
  if (tm_device_open("metal-sim", &sim, &err)) {
    fprintf(stderr, "metal-sim: %s\n", err);
    return 2;
  }
  /* unaligned host memory is staged: the copy covers the whole allocation */
  run_views(sim, xa, oa, "metal-sim staged");
  tm_device_stats st0, st1;
  CHECK(tm_device_get_stats(sim, &st0, &err) == TM_OK);
  /* page-aligned allocations are wrapped, bound at the data pointer's offset */
  char *pages = aligned_alloc(PAGE, 4 * PAGE);
  run_views(sim, (float *)pages, (float *)(pages + 2 * PAGE), "metal-sim zero-copy");
  CHECK(tm_device_get_stats(sim, &st1, &err) == TM_OK);
  CHECK(st1.zero_copy_args > st0.zero_copy_args);
  free(pages);
  run_device_buffer(sim);
  tm_device_close(sim);
  emu_rm_cache();
  return check_report("test_strided");
}
