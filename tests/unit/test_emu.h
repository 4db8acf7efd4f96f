/* test_emu.h: shared helpers of the cpu emulator's tests (test_emu*.c): a fresh
 * cache folder per test binary, descriptor builders, a clock. */
#ifndef TM_TEST_EMU_H
#define TM_TEST_EMU_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "triton_metal.h"

static char emu_cache_dir[256];

/* Points TRITON_METAL_CACHE_DIR at a new empty folder under /tmp. */
static inline void emu_fresh_cache(void) {
  snprintf(emu_cache_dir, sizeof emu_cache_dir, "/tmp/tm-test-emu-XXXXXX");
  if (!mkdtemp(emu_cache_dir)) {
    perror("mkdtemp");
    exit(2);
  }
  setenv("TRITON_METAL_CACHE_DIR", emu_cache_dir, 1);
}

static inline void emu_rm_cache(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", emu_cache_dir);
  if (system(cmd)) fprintf(stderr, "could not remove %s\n", emu_cache_dir);
}

static inline double emu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline tm_device *emu_open(void) {
  tm_device *d = NULL;
  char *err = NULL;
  tm_status st = tm_device_open("cpu", &d, &err);
  if (st) {
    fprintf(stderr, "tm_device_open(cpu): %s\n", err ? err : "?");
    exit(2);
  }
  return d;
}

/* Loads msl; on failure prints the message and returns NULL (a CHECK fails). */
static inline tm_module *emu_load(tm_device *d, const char *msl, const tm_kernel_info *k) {
  tm_module *m = NULL;
  char *err = NULL;
  tm_status st = tm_module_load(d, msl, k, &m, &err);
  CHECK(st == TM_OK);
  if (st) fprintf(stderr, "tm_module_load(%s): %s\n", k->name, err ? err : "?");
  tm_free(err);
  return st ? NULL : m;
}

static inline tm_launch_arg emu_buf(void *p, size_t n) { return (tm_launch_arg){.data = p, .nbytes = n}; }
static inline tm_launch_arg emu_val(void *p, size_t n) { return (tm_launch_arg){.data = p, .nbytes = n}; }

/* The compiler's vector add, as in the cpu device's specification. */
static const char emu_add_msl[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "\n"
    "#ifndef TM_LD\n"
    "#define TM_LD(p, line) (p)\n"
    "#define TM_ST(p, line) (p)\n"
    "#endif\n"
    "\n"
    "kernel void add_kernel(\n"
    "    device const float* x_ptr [[buffer(0)]],\n"
    "    device const float* y_ptr [[buffer(1)]],\n"
    "    device float* output_ptr [[buffer(2)]],\n"
    "    constant int& n_elements [[buffer(3)]],\n"
    "    uint3 tm_pid [[threadgroup_position_in_grid]],\n"
    "    uint3 tm_npid [[threadgroups_per_grid]],\n"
    "    uint tm_tid [[thread_index_in_threadgroup]])\n"
    "{\n"
    "  int v0 = int(tm_pid.x);\n"
    "  int v1 = v0 * 1024;\n"
    "  for (uint k = 0; k < 8u; ++k) {\n"
    "    int v2 = int(k * 128u + tm_tid);\n"
    "    int v3 = v1 + v2;\n"
    "    bool v4 = v3 < n_elements;\n"
    "    float v5 = v4 ? *TM_LD(x_ptr + v3, 12) : 0.0f;\n"
    "    float v6 = v4 ? *TM_LD(y_ptr + v3, 13) : 0.0f;\n"
    "    float v7 = v5 + v6;\n"
    "    if (v4) *TM_ST(output_ptr + v3, 16) = v7;\n"
    "  }\n"
    "}\n";

static const tm_kernel_arg emu_add_args[] = {
    {"x_ptr", 0, TM_ARG_BUFFER, TM_F32, 0},
    {"y_ptr", 1, TM_ARG_BUFFER, TM_F32, 0},
    {"output_ptr", 2, TM_ARG_BUFFER, TM_F32, 1},
    {"n_elements", 3, TM_ARG_BYTES, TM_I32, 0},
};

static const tm_kernel_info emu_add_info = {
    .name = "add_kernel",
    .source_file = "vector_add.py",
    .nargs = 4,
    .args = emu_add_args,
    .nbuiltins = 3,
    .builtins = {TM_BI_THREADGROUP_POSITION, TM_BI_THREADGROUPS_PER_GRID, TM_BI_THREAD_INDEX},
    .threads_per_threadgroup = 128,
    .uses_barriers = 0,
};

static inline float emu_randf(unsigned *s) {
  *s = *s * 1664525u + 1013904223u;
  return (float)((int)(*s >> 8) - (1 << 23)) / (float)(1 << 20); /* [-8, 8) */
}
#endif
