/*
 * table.c: the per-generation target table and the chip presets.
 *
 * Data only; docs/compatibility.md lists every source with its address. The
 * source keys in brackets are those of ../shared/reference/metal.md:
 *   MSL32/MSL4  Apple, Metal Shading Language Specification 3.2 / 4
 *   FST         Apple, Metal Feature Set Tables (family -> chip; limits)
 *   ADOC        Apple developer documentation (MTLGPUFamily pages)
 *   GGML, MLX   llama.cpp's and MLX's Metal backends (what they gate on)
 *   PTB         philipturner/metal-benchmarks; NEWS: launch press coverage
 * UNCONFIRMED marks a fact with only a secondary source.
 *
 * Family per generation [FST June 2024; ADOC MTLGPUFamily.apple7..9]:
 *   Apple7 = M1 family, Apple8 = M2 family, Apple9 = M3 and M4 families,
 *   Apple10 = M5 (secondary sources; UNCONFIRMED against FST).
 * Limits common to all rows [FST, secondary]: 32 KB threadgroup memory,
 *   1024 threads per threadgroup, SIMD width 32 [GGML, MLX].
 * default_num_warps 4 is Triton's own default; no source suggests another
 *   value per generation, so a row changes it only when measured.
 * max_vector_bytes 16: the widest MSL vector of 32-bit elements (float4/int4)
 *   [MSL32 §2.2]; MSL vectors have at most 4 components.
 */
#include <ctype.h>
#include <strings.h>
#include <string.h>

#include "hw.h"

#define SIMD_FUNCS                                                                      \
  {"SIMD-group functions (simd_sum, simd_shuffle, simd_ballot)", HW_FEAT_CODEGEN,         \
   "reductions and scans combine the 32 lanes of a SIMD-group without threadgroup memory"}
#define SIMD_MATRIX                                                                     \
  {"SIMD-group matrix multiply (simdgroup_matrix 8x8)", HW_FEAT_CODEGEN,                  \
   "tl.dot lowers to simdgroup_multiply_accumulate on 8x8 tiles"}
#define UNIFIED_MEMORY                                                                  \
  {"Unified memory", HW_FEAT_RUNTIME,                                                   \
   "CPU and GPU share memory: page-aligned host arrays are wrapped without copying"}
#define ATOMIC64                                                                        \
  {"64-bit atomic min/max (atomic_ulong)", HW_FEAT_CODEGEN,                              \
   "tl.atomic_max/min on uint64 can be one instruction instead of a compare-and-swap loop"}
#define RAY_TRACING(gen)                                                                \
  {"Hardware-accelerated ray tracing" gen, HW_FEAT_GRAPHICS,                            \
   "graphics and ray-tracing APIs only; compute kernels never use it"}
#define MESH_SHADING                                                                    \
  {"Mesh shading", HW_FEAT_GRAPHICS, "render pipelines only; compute kernels never use it"}
#define DYNAMIC_CACHING(gen)                                                            \
  {"Dynamic Caching" gen, HW_FEAT_TRANSPARENT,                                          \
   "registers and threadgroup memory are allocated in hardware at run time: transparent "  \
   "to kernels (occupancy may differ; the API limits do not change)"}
#define NEURAL_ACCEL                                                                    \
  {"Neural Accelerators in each GPU core (Metal 4 tensor ops)", HW_FEAT_CODEGEN,         \
   "tl.dot can lower to matmul2d of Metal Performance Primitives (needs macOS 26)"}

static const HwGen gens[] = {
    /* M1: Apple7 [FST; ADOC apple7 "A14 and M1"]; simdgroup_matrix from Apple7
     * [FST via secondary; GGML has_simdgroup_mm]; bfloat from Apple6 given MSL 3.1
     * [GGML has_bfloat; MSL4 Table 8.4]; no 64-bit atomics (UNCONFIRMED). */
    {1, 7, 4, 16, 32768, 1024, 1, 0, 0, {SIMD_FUNCS, SIMD_MATRIX, UNIFIED_MEMORY}},
    /* M2: Apple8 [FST]. Same compute features as M1. */
    {2, 8, 4, 16, 32768, 1024, 1, 0, 0, {SIMD_FUNCS, SIMD_MATRIX, UNIFIED_MEMORY}},
    /* M3: Apple9 [FST; ADOC apple9 "A17, M3, and M4"]; 64-bit atomic_ulong
     * min/max on Apple9 (two secondary sources, UNCONFIRMED against FST);
     * Dynamic Caching, hardware ray tracing and mesh shading arrive with M3
     * [NEWS mysmartprice, 9to5mac]; Apple calls Dynamic Caching "transparent to
     * developers". */
    {3, 9, 4, 16, 32768, 1024, 1, 1, 0,
     {SIMD_FUNCS, SIMD_MATRIX, ATOMIC64, DYNAMIC_CACHING(""), RAY_TRACING(""), MESH_SHADING,
      UNIFIED_MEMORY}},
    /* M4: Apple9 like M3 [ADOC apple9]. */
    {4, 9, 4, 16, 32768, 1024, 1, 1, 0,
     {SIMD_FUNCS, SIMD_MATRIX, ATOMIC64, DYNAMIC_CACHING(""), RAY_TRACING(""), MESH_SHADING,
      UNIFIED_MEMORY}},
    /* M5: Apple10 (secondary, UNCONFIRMED raw value); a Neural Accelerator in
     * each GPU core [NEWS], reached through Metal 4 tensor ops (matmul2d, MSL
     * 4.0 = macOS 26) [MSL4 §7.2.1]; GGML enables its tensor path only on
     * M5/A19-class chips because it was slower on older ones, MLX gates its
     * "NAX" path on the same generation [GGML, MLX is_nax_available];
     * second-generation Dynamic Caching, third-generation ray tracing [NEWS
     * beebom]. */
    {5, 10, 4, 16, 32768, 1024, 1, 1, 1,
     {SIMD_FUNCS, SIMD_MATRIX, NEURAL_ACCEL, ATOMIC64, DYNAMIC_CACHING(" (second generation)"),
      RAY_TRACING(" (third generation)"), MESH_SHADING, UNIFIED_MEMORY}},
};

const HwGen *hw_gen(int gen) {
  return gen >= HW_MIN_GEN && gen <= HW_MAX_GEN ? &gens[gen - HW_MIN_GEN] : NULL;
}

/* GPU core counts: the top bin of each chip [PTB for M1/M2; NEWS for M2 Max,
 * M2 Ultra, M3, M4, M5 families]. Memory: one configuration the chip ships
 * with, for illustration; detection reads the real size (hw.memsize). Default
 * macOS: 15.0 for M1..M4 (runs on all of them), 26.0 for M5 (its launch OS).
 * The two non-Apple presets describe the machines CI runs on. */
static const HwPreset presets[] = {
    {"M1", 1, "", 8, 16, "macOS", "15.0", "arm64"},
    {"M1-Pro", 1, "Pro", 16, 32, "macOS", "15.0", "arm64"},
    {"M1-Max", 1, "Max", 32, 64, "macOS", "15.0", "arm64"},
    {"M1-Ultra", 1, "Ultra", 64, 128, "macOS", "15.0", "arm64"},
    {"M2", 2, "", 10, 16, "macOS", "15.0", "arm64"},
    {"M2-Pro", 2, "Pro", 19, 32, "macOS", "15.0", "arm64"},
    {"M2-Max", 2, "Max", 38, 64, "macOS", "15.0", "arm64"},
    {"M2-Ultra", 2, "Ultra", 76, 192, "macOS", "15.0", "arm64"},
    {"M3", 3, "", 10, 16, "macOS", "15.0", "arm64"},
    {"M3-Pro", 3, "Pro", 18, 36, "macOS", "15.0", "arm64"},
    {"M3-Max", 3, "Max", 40, 64, "macOS", "15.0", "arm64"},
    {"M3-Ultra", 3, "Ultra", 80, 256, "macOS", "15.0", "arm64"},
    {"M4", 4, "", 10, 16, "macOS", "15.0", "arm64"},
    {"M4-Pro", 4, "Pro", 20, 48, "macOS", "15.0", "arm64"},
    {"M4-Max", 4, "Max", 40, 64, "macOS", "15.0", "arm64"},
    {"M5", 5, "", 10, 16, "macOS", "26.0", "arm64"},
    {"Intel-Mac", 0, "", 0, 16, "macOS", "13.6", "x86_64"},
    {"Linux-x86_64", 0, "", 0, 16, "Linux", "6.1", "x86_64"},
};

const HwPreset *hw_presets(int *n) {
  *n = (int)(sizeof presets / sizeof presets[0]);
  return presets;
}

/* "M3-Max", "m3 max", "M3_Max", "Apple M3 Max" all become "m3max". */
static void squash(const char *s, char *out, size_t cap) {
  size_t n = 0;
  if (!strncasecmp(s, "apple", 5)) s += 5;
  for (; *s && n + 1 < cap; s++)
    if (isalnum((unsigned char)*s)) out[n++] = (char)tolower((unsigned char)*s);
  out[n] = 0;
}

const HwPreset *hw_preset_find(const char *name) {
  char want[64], have[64];
  squash(name, want, sizeof want);
  int n;
  const HwPreset *p = hw_presets(&n);
  for (int i = 0; i < n; i++) {
    squash(p[i].name, have, sizeof have);
    if (!strcmp(want, have)) return &p[i];
  }
  return NULL;
}

/* MSL per macOS [MSL32 Table 2.1; MSL4 §1.5; the OS floor of each version]:
 * 11 -> 2.3, 12 -> 2.4, 13 -> 3.0, 14 -> 3.1 (bfloat), 15 -> 3.2, 26 -> 4.0.
 * macOS went from 15 to 26; 16..25 never shipped and read as 15. */
int hw_msl_for_macos(int major, int minor) {
  (void)minor;
  if (major >= 26) return 400;
  if (major >= 15) return 320;
  if (major == 14) return 310;
  if (major == 13) return 300;
  if (major == 12) return 240;
  if (major == 11) return 230;
  return 0;
}
