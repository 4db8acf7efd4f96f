/*
 * hw.h: the target layer (target/): what machine we are on, and what the
 * compiler may assume about its GPU. Both the compiler (src/, through
 * tm_target_get) and the runtime (runtime/) use it; it uses neither, except
 * the runtime's error and string helpers (runtime/errors.c) and one weak hook
 * the Metal device fills in (rt_metal_hw_facts).
 *
 *   table.c     the per-generation table (M1..M5) and the presets (one per
 *               chip variant), each fact with its source
 *   target.c    the hardware description: detection (uname; sysctl on macOS),
 *               injection (TRITON_METAL_HW = preset or JSON file), the tm_target
 *               derived from it (and the GPU proxy's CUDA targets), the
 *               environment variables, the compiler plan
 *   json.c      a small JSON reader and writer (hardware files, the check report)
 *   runtime/hw_check.c  the compatibility report behind `triton-metal check`
 *               (it launches kernels, so it lives with the devices)
 *
 * Data flows one way: HwDesc (facts about the machine) -> tm_target (what the
 * compiler reads) -> HwPlan (what the report says the compiler will do). The
 * report never looks at a generation to describe code generation: it reads the
 * same tm_target fields the compiler reads, so the two cannot disagree.
 */
#ifndef TM_HW_H
#define TM_HW_H

#include <stddef.h>
#include <stdint.h>

#include "triton_metal.h"

/* ------------------------------------------------------------ table.c */

enum { HW_MIN_GEN = 1, HW_MAX_GEN = 5 };

/* Kinds of GPU feature, by what a Triton kernel sees of it. */
typedef enum HwFeatKind {
  HW_FEAT_CODEGEN = 1, /* changes the code the compiler generates */
  HW_FEAT_TRANSPARENT, /* works under every kernel, nothing to generate */
  HW_FEAT_GRAPHICS,    /* graphics/ray-tracing API only; compute kernels never use it */
  HW_FEAT_RUNTIME      /* changes what the runtime does (buffers), not the MSL */
} HwFeatKind;

typedef struct HwFeature {
  const char *name;   /* the name Apple or the spec uses */
  HwFeatKind kind;
  const char *effect; /* one line: what it means for kernels */
} HwFeature;

enum { HW_MAX_FEATURES = 8 };

/* One Apple-silicon generation: facts of the GPU, independent of the OS. */
typedef struct HwGen {
  int gen;                  /* 1 = M1 .. 5 = M5 */
  int gpu_family;           /* MTLGPUFamilyAppleN */
  int default_num_warps;
  int max_vector_bytes;
  int threadgroup_mem_bytes;
  int max_threads_per_threadgroup;
  int bfloat_hw;            /* the GPU family accepts bfloat (given MSL 3.1) */
  int atomic64;             /* 64-bit atomic_ulong min/max (given MSL 2.4) */
  int matrix_units;         /* GPU matrix units worth targeting with matmul2d (given MSL 4.0) */
  HwFeature features[HW_MAX_FEATURES];
} HwGen;

/* A preset: one chip variant as a typical machine has it. */
typedef struct HwPreset {
  const char *name;    /* "M3-Max" */
  int gen;
  const char *variant; /* "", "Pro", "Max", "Ultra" */
  int gpu_cores;       /* the top bin */
  int memory_gb;       /* a common configuration */
  const char *os;      /* "macOS", "Linux" */
  const char *os_version; /* the preset's default; "M2@13.5" pins another */
  const char *arch;
} HwPreset;

const HwGen *hw_gen(int gen); /* NULL outside 1..5 */
const HwPreset *hw_presets(int *n);
const HwPreset *hw_preset_find(const char *name); /* case-insensitive; NULL when unknown */

/* MSL version (e.g. 310) that a macOS version offers; 0 below macOS 11. */
int hw_msl_for_macos(int major, int minor);

/* ------------------------------------------------------------ target.c */

/* A machine, as detected or injected. Strings are fixed buffers so a HwDesc is
 * a plain value (copied, compared, kept in static storage). */
typedef struct HwDesc {
  char source[320];      /* "detected", "preset M3-Max", "file /path.json" */
  char os_name[32];      /* "macOS", "Linux", ... */
  int os_major, os_minor, os_patch;
  char arch[16];         /* "arm64", "x86_64" */
  int apple_silicon;
  char chip[64];         /* "Apple M3 Max"; on other machines the CPU's name */
  char model[32];        /* "Mac15,9"; "" when unknown */
  int generation;        /* 1..5; 0 when not Apple silicon */
  char variant[8];       /* "", "Pro", "Max", "Ultra" */
  int gpu_family;        /* 7..10; 0 when none */
  int gpu_cores;         /* 0 when unknown */
  uint64_t memory_bytes;
  uint64_t working_set_bytes; /* Metal's recommendedMaxWorkingSetSize; 0 when unknown */
  int msl_version;       /* what the OS offers: 300 = MSL 3.0; 0 when none */
  int metal_reported;    /* the Metal API filled gpu_family/gpu_cores/working set */
} HwDesc;

/* Facts only the Metal API knows. The metal device (runtime/metal*.c) defines
 * rt_metal_hw_facts to fill them from MTLCreateSystemDefaultDevice(): the
 * highest family answering supportsFamily:MTLGPUFamilyAppleN, the GPU core
 * count, recommendedMaxWorkingSetSize. target.c holds a weak definition that
 * reports nothing (returns 0), which a strong definition replaces at link time.
 * Returns 1 when it filled the struct. */
typedef struct HwMetalFacts {
  int gpu_family;
  int gpu_cores;
  uint64_t working_set_bytes;
  char name[64]; /* MTLDevice.name */
} HwMetalFacts;
int rt_metal_hw_facts(HwMetalFacts *f);

/* This machine (uname, /proc or sysctl, then rt_metal_hw_facts). */
void hw_detect(HwDesc *d);
/* A preset: "M3-Max", "m3 max", and "M2@13.5" (the preset on another macOS). */
tm_status hw_from_preset(const char *name, HwDesc *d, char **err);
/* A JSON file: the fields of HwDesc (the "hardware" object of `check --json`,
 * or a whole report holding one), optionally on top of "preset". */
tm_status hw_from_json_file(const char *path, HwDesc *d, char **err);
tm_status hw_from_json_text(const char *text, const char *what, HwDesc *d, char **err);
/* TRITON_METAL_HW's description when set, else this machine's. */
tm_status hw_from_env(HwDesc *d, char **err);
/* The process's description (hw_from_env once, thread-safe). On a bad
 * TRITON_METAL_HW: *err (malloc'd) says why and d is this machine's. */
tm_status hw_current(const HwDesc **d, char **err);

/* The compiler's view of d. name is copied into the target (names[] storage). */
void hw_target_from(const HwDesc *d, const char *name, tm_target *t, char *names, size_t cap);
/* The target of a non-Apple machine: what the cpu emulator compiles for by default. */
const tm_target *hw_generic_target(void);
/* The GPU proxy's CUDA target of that name ("cuda-sm90"), or NULL. */
const tm_target *hw_cuda_target(const char *name);

/* What the compiler will do with a target, described from its fields only. */
typedef struct HwPlan {
  const char *reduction; /* "simdgroup" or "threadgroup" */
  int vector_bytes;      /* widest load/store */
  const char *dot;       /* "matmul2d", "simdgroup_matrix" or "fma" */
  int num_warps;         /* default SIMD-groups per threadgroup */
} HwPlan;
void hw_plan(const tm_target *t, HwPlan *p);

/* The environment variables, parsed (read at the call, never cached). */
typedef struct HwEnv {
  const char *backend;      /* TRITON_BACKEND, NULL when unset */
  int debug;                /* TRITON_METAL_DEBUG */
  int opt_level;            /* TRITON_METAL_OPT_LEVEL 0..3; 3 when unset */
  int disable_autotuning;   /* TRITON_METAL_DISABLE_AUTOTUNING */
  const char *device;       /* TRITON_METAL_DEVICE, NULL when unset */
  const char *hw;           /* TRITON_METAL_HW, NULL when unset */
  char *cache_dir;          /* malloc'd: TRITON_METAL_CACHE_DIR or the default */
  const char *cache_source; /* which variable decided cache_dir */
  char *problems;           /* malloc'd; NULL, or one line per bad value */
} HwEnv;
tm_status hw_env_read(HwEnv *e, char **err);
void hw_env_free(HwEnv *e);
/* "1" -> 1; "" or "0" -> 0; anything else -1 (a problem; read as 0, as Python does). */
int hw_env_bool(const char *v);

/* ------------------------------------------------------------ json.c */

typedef enum JsonKind { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } JsonKind;

typedef struct Json {
  JsonKind kind;
  int b;
  double num;
  char *str;           /* J_STR; for members of an object, key holds the name */
  char *key;
  struct Json *first;  /* J_ARR, J_OBJ: children in order */
  struct Json *next;
} Json;

/* Parses text; on error *err says "what:line:col: ..." and returns NULL. */
Json *json_parse(const char *text, const char *what, char **err);
void json_free(Json *j);
const Json *json_get(const Json *obj, const char *key);

/* A growing string; on out of memory `failed` is set and appends are no-ops. */
typedef struct Buf {
  char *s;
  size_t len, cap;
  int failed;
} Buf;
void buf_add(Buf *b, const char *s);
void buf_fmt(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_json_str(Buf *b, const char *s); /* a quoted, escaped JSON string; NULL -> null */

#endif
