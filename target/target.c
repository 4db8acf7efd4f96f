/*
 * target.c: the hardware description and the compiler target derived from it.
 *
 *   detect      uname (+ /proc/cpuinfo on Linux); on macOS sysctl
 *               (kern.osproductversion, hw.optional.arm64, machdep.cpu.brand_string,
 *               hw.model, hw.memsize), the chip name giving the generation and
 *               through table.c the GPU family; then rt_metal_hw_facts for
 *               what only Metal knows (family, GPU cores, working set).
 *   inject      TRITON_METAL_HW: a preset ("M3-Max", "M2@13.5") or a JSON file.
 *   target      HwDesc -> tm_target: the table row of the generation, gated by
 *               the MSL version the OS offers (bfloat needs 3.1, matmul2d 4.0).
 *               A machine that is not Apple silicon gets "generic": what the
 *               cpu emulator compiles for by default (it runs more: see
 *               docs/compatibility.md).
 *   plan        what the compiler does with a target, from its fields only.
 *   env         the TRITON_* environment variables, parsed in one place.
 *
 * Process state: the default description and target are computed once
 * (pthread_once); targets looked up by name are kept in a list under a mutex
 * and never freed (one entry per distinct name), so returned pointers stay valid.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/utsname.h>
#include <unistd.h>
#ifdef __APPLE__
#include <sys/sysctl.h>
#endif

#include "hw.h"
#include "rt.h"

/* Copies src into a fixed buffer, truncating. */
static void copy_str(char *dst, size_t cap, const char *src) {
  size_t n = strnlen(src, cap - 1);
  memcpy(dst, src, n);
  dst[n] = 0;
}
#define COPY(dst, src) copy_str((dst), sizeof(dst), (src))

/* ------------------------------------------------------------ Metal hook */

/* Replaced by the metal device's strong definition (see hw.h). */
__attribute__((weak)) int rt_metal_hw_facts(HwMetalFacts *f) {
  (void)f;
  return 0;
}

/* ------------------------------------------------------------ helpers */

/* "14.5.1" -> 14, 5, 1; "6.1.0-18-amd64" -> 6, 1, 0. 0 when no leading number. */
static int parse_version(const char *s, int *major, int *minor, int *patch) {
  int v[3] = {0, 0, 0}, i = 0;
  if (!isdigit((unsigned char)*s)) return 0;
  while (i < 3 && isdigit((unsigned char)*s)) {
    v[i++] = (int)strtol(s, (char **)&s, 10);
    if (*s != '.') break;
    s++;
  }
  *major = v[0], *minor = v[1], *patch = v[2];
  return 1;
}

/* A whole version string: digits with at most two dots, nothing else. */
static int strict_version(const char *s) {
  int dots = 0;
  if (!isdigit((unsigned char)*s)) return 0;
  for (; *s; s++) {
    if (*s == '.') {
      if (++dots > 2 || !isdigit((unsigned char)s[1])) return 0;
    } else if (!isdigit((unsigned char)*s)) return 0;
  }
  return 1;
}

/* "Apple M3 Max" -> 3, "Max". 0 when the name is not an M-series chip. */
static int parse_chip(const char *chip, char *variant, size_t cap) {
  const char *p = strstr(chip, "Apple M");
  if (!p || !isdigit((unsigned char)p[7])) return 0;
  int gen = (int)strtol(p + 7, (char **)&p, 10);
  while (*p == ' ') p++;
  static const char *const vs[] = {"Pro", "Max", "Ultra"};
  snprintf(variant, cap, "%s", "");
  for (int i = 0; i < 3; i++)
    if (!strncmp(p, vs[i], strlen(vs[i]))) snprintf(variant, cap, "%s", vs[i]);
  return gen;
}

static void compose_chip(HwDesc *d) {
  snprintf(d->chip, sizeof d->chip, "Apple M%d%s%s", d->generation, *d->variant ? " " : "",
           d->variant);
}

static int is_macos(const HwDesc *d) { return !strcmp(d->os_name, "macOS"); }

/* Fills what follows from the facts given: generation from the chip name,
 * family and MSL version from the table. */
static void derive(HwDesc *d) {
  if (!d->generation && *d->chip) d->generation = parse_chip(d->chip, d->variant, sizeof d->variant);
  if (d->generation && !*d->chip) compose_chip(d);
  const HwGen *g = hw_gen(d->generation);
  if (g && !d->gpu_family) d->gpu_family = g->gpu_family;
  if (!d->msl_version && is_macos(d)) d->msl_version = hw_msl_for_macos(d->os_major, d->os_minor);
}

/* ------------------------------------------------------------ detection */

#ifdef __APPLE__
static int sysctl_str(const char *name, char *out, size_t cap) {
  size_t n = cap;
  if (sysctlbyname(name, out, &n, NULL, 0) != 0) return 0;
  out[cap - 1] = 0;
  return 1;
}
static uint64_t sysctl_u64(const char *name) {
  uint64_t v = 0;
  size_t n = sizeof v;
  if (sysctlbyname(name, &v, &n, NULL, 0) != 0) return 0;
  return n == 4 ? (uint64_t)*(uint32_t *)&v : v;
}
#else
/* The CPU's marketing name from /proc/cpuinfo ("model name"), when there is one. */
static void cpu_name(char *out, size_t cap) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[256];
  while (f && fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10)) continue;
    const char *v = strchr(line, ':');
    if (!v) break;
    for (v++; *v == ' ' || *v == '\t'; v++) {}
    snprintf(out, cap, "%.*s", (int)strcspn(v, "\n"), v);
    break;
  }
  if (f) fclose(f);
}
#endif

void hw_detect(HwDesc *d) {
  memset(d, 0, sizeof *d);
  COPY(d->source, "detected");
  struct utsname u;
  if (uname(&u) == 0) {
    COPY(d->os_name, u.sysname);
    COPY(d->arch, u.machine);
    parse_version(u.release, &d->os_major, &d->os_minor, &d->os_patch);
  }
#ifdef __APPLE__
  char buf[128];
  COPY(d->os_name, "macOS");
  if (sysctl_str("kern.osproductversion", buf, sizeof buf))
    parse_version(buf, &d->os_major, &d->os_minor, &d->os_patch);
  /* hw.optional.arm64 is 1 on Apple silicon even for an x86-64 process under Rosetta. */
  d->apple_silicon = sysctl_u64("hw.optional.arm64") == 1;
  if (d->apple_silicon) COPY(d->arch, "arm64");
  if (sysctl_str("machdep.cpu.brand_string", buf, sizeof buf)) COPY(d->chip, buf);
  if (sysctl_str("hw.model", buf, sizeof buf)) COPY(d->model, buf);
  d->memory_bytes = sysctl_u64("hw.memsize");
  if (!d->apple_silicon) d->generation = 0;
#else
  cpu_name(d->chip, sizeof d->chip);
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) d->memory_bytes = (uint64_t)pages * (uint64_t)page;
#endif
  if (d->apple_silicon) derive(d);
  else if (is_macos(d)) d->msl_version = hw_msl_for_macos(d->os_major, d->os_minor);
  HwMetalFacts f = {0};
  if (rt_metal_hw_facts(&f)) {
    d->metal_reported = 1;
    if (f.gpu_family) d->gpu_family = f.gpu_family;
    if (f.gpu_cores) d->gpu_cores = f.gpu_cores;
    if (f.working_set_bytes) d->working_set_bytes = f.working_set_bytes;
  }
}

/* ------------------------------------------------------------ presets */

static void preset_names(char *out, size_t cap) {
  int n;
  const HwPreset *p = hw_presets(&n);
  out[0] = 0;
  for (int i = 0; i < n; i++) {
    size_t len = strlen(out);
    snprintf(out + len, cap - len, "%s%s", i ? ", " : "", p[i].name);
  }
}

tm_status hw_from_preset(const char *name, HwDesc *d, char **err) {
  char base[64], names[512];
  const char *at = strchr(name, '@');
  snprintf(base, sizeof base, "%.*s", at ? (int)(at - name) : (int)strlen(name), name);
  const HwPreset *p = hw_preset_find(base);
  if (!p) {
    preset_names(names, sizeof names);
    return rt_error(TM_ERR_INVALID, err,
                    "unknown hardware preset '%s'; presets: %s (append @VERSION to pin the OS "
                    "version, e.g. M2@13.5), or the path of a JSON file",
                    name, names);
  }
  if (at && !strict_version(at + 1))
    return rt_error(TM_ERR_INVALID, err,
                    "hardware preset '%s': '%s' is not an OS version (expected e.g. @13.5)", name,
                    at + 1);
  memset(d, 0, sizeof *d);
  snprintf(d->source, sizeof d->source, "preset %s%s", p->name, at ? at : "");
  COPY(d->os_name, p->os);
  parse_version(at ? at + 1 : p->os_version, &d->os_major, &d->os_minor, &d->os_patch);
  COPY(d->arch, p->arch);
  d->generation = p->gen;
  d->apple_silicon = p->gen > 0;
  COPY(d->variant, p->variant);
  d->gpu_cores = p->gpu_cores;
  d->memory_bytes = (uint64_t)p->memory_gb << 30;
  if (d->apple_silicon) derive(d);
  else {
    COPY(d->chip, "x86-64 CPU");
    if (is_macos(d)) d->msl_version = hw_msl_for_macos(d->os_major, d->os_minor);
  }
  return TM_OK;
}

/* ------------------------------------------------------------ JSON files */

static const char *const json_fields =
    "preset, os_name, os_version, arch, apple_silicon, chip, model, generation, variant, "
    "gpu_family, gpu_cores, memory_bytes, working_set_bytes, msl_version";

static tm_status want(const Json *v, JsonKind k, const char *what, const char *key, char **err) {
  static const char *const names[] = {"null", "true or false", "a number", "a string",
                                      "an array", "an object"};
  if (v->kind == k) return TM_OK;
  return rt_error(TM_ERR_INVALID, err, "%s: field '%s' must be %s", what, key, names[k]);
}

static tm_status int_field(const Json *v, const char *what, long long lo, long long hi,
                           long long *out, char **err) {
  tm_status st = want(v, J_NUM, what, v->key, err);
  if (st) return st;
  if (v->num != (double)(long long)v->num || v->num < (double)lo || v->num > (double)hi)
    return rt_error(TM_ERR_INVALID, err, "%s: field '%s' must be an integer in %lld..%lld", what,
                    v->key, lo, hi);
  *out = (long long)v->num;
  return TM_OK;
}

/* One member of the hardware object onto d. */
static tm_status apply_field(const Json *m, const char *what, HwDesc *d, int *gave_family,
                             int *gave_silicon, char **err) {
  const char *k = m->key;
  long long n = 0;
  tm_status st = TM_OK;
  if (!strcmp(k, "preset") || !strcmp(k, "source") || !strcmp(k, "metal_reported")) return TM_OK;
#define STR_FIELD(name)                                                       \
  if (!strcmp(k, #name)) {                                                    \
    if ((st = want(m, J_STR, what, k, err))) return st;                       \
    if (strlen(m->str) >= sizeof d->name)                                     \
      return rt_error(TM_ERR_INVALID, err, "%s: field '%s' is too long", what, k); \
    COPY(d->name, m->str);                                                    \
    return TM_OK;                                                             \
  }
  STR_FIELD(os_name)
  STR_FIELD(arch)
  STR_FIELD(chip)
  STR_FIELD(model)
#undef STR_FIELD
  if (!strcmp(k, "variant")) {
    if ((st = want(m, J_STR, what, k, err))) return st;
    if (*m->str && strcmp(m->str, "Pro") && strcmp(m->str, "Max") && strcmp(m->str, "Ultra"))
      return rt_error(TM_ERR_INVALID, err,
                      "%s: field 'variant' must be \"\", \"Pro\", \"Max\" or \"Ultra\"", what);
    COPY(d->variant, m->str);
    return TM_OK;
  }
  if (!strcmp(k, "os_version")) {
    if ((st = want(m, J_STR, what, k, err))) return st;
    if (!strict_version(m->str))
      return rt_error(TM_ERR_INVALID, err, "%s: field 'os_version' must look like \"14.5\"", what);
    parse_version(m->str, &d->os_major, &d->os_minor, &d->os_patch);
    d->msl_version = 0; /* follows the OS unless given */
    return TM_OK;
  }
  if (!strcmp(k, "msl_version")) {
    int ma, mi, pa;
    if ((st = want(m, J_STR, what, k, err))) return st;
    if (!strict_version(m->str) || !parse_version(m->str, &ma, &mi, &pa) || ma < 1 || ma > 9 ||
        mi > 9)
      return rt_error(TM_ERR_INVALID, err, "%s: field 'msl_version' must look like \"3.1\"", what);
    d->msl_version = ma * 100 + mi * 10;
    return TM_OK;
  }
  if (!strcmp(k, "apple_silicon")) {
    if ((st = want(m, J_BOOL, what, k, err))) return st;
    d->apple_silicon = m->b, *gave_silicon = 1;
    return TM_OK;
  }
  if (!strcmp(k, "generation")) {
    if ((st = int_field(m, what, 0, HW_MAX_GEN, &n, err))) return st;
    d->generation = (int)n;
    return TM_OK;
  }
  if (!strcmp(k, "gpu_family")) {
    if ((st = int_field(m, what, 0, 11, &n, err))) return st;
    if (n && n < 7)
      return rt_error(TM_ERR_INVALID, err,
                      "%s: gpu_family %lld predates Apple silicon Macs (Apple 7 = M1)", what, n);
    d->gpu_family = (int)n, *gave_family = 1;
    return TM_OK;
  }
  if (!strcmp(k, "gpu_cores")) {
    if ((st = int_field(m, what, 0, 4096, &n, err))) return st;
    d->gpu_cores = (int)n;
    return TM_OK;
  }
  if (!strcmp(k, "memory_bytes") || !strcmp(k, "working_set_bytes")) {
    if ((st = int_field(m, what, 0, (long long)1 << 52, &n, err))) return st;
    *(k[0] == 'm' ? &d->memory_bytes : &d->working_set_bytes) = (uint64_t)n;
    return TM_OK;
  }
  return rt_error(TM_ERR_INVALID, err, "%s: unknown field '%s' (fields: %s)", what, k,
                  json_fields);
}

tm_status hw_from_json_text(const char *text, const char *what, HwDesc *d, char **err) {
  Json *root = json_parse(text, what, err);
  if (!root) return TM_ERR_INVALID;
  const Json *hw = json_get(root, "hardware"); /* a whole `check --json` report */
  if (!hw) hw = root;
  tm_status st = TM_OK;
  if (hw->kind != J_OBJ) {
    st = rt_error(TM_ERR_INVALID, err, "%s: expected a JSON object of hardware fields", what);
    goto done;
  }
  const Json *preset = json_get(hw, "preset");
  memset(d, 0, sizeof *d);
  if (preset) {
    if ((st = want(preset, J_STR, what, "preset", err))) goto done;
    char *perr = NULL;
    if ((st = hw_from_preset(preset->str, d, &perr))) {
      rt_error(st, err, "%s: %s", what, perr ? perr : "bad preset");
      free(perr);
      goto done;
    }
    if (json_get(hw, "chip") || json_get(hw, "generation")) d->chip[0] = 0, d->generation = 0;
    if (json_get(hw, "generation") || json_get(hw, "chip")) d->gpu_family = 0;
  }
  int gave_family = 0, gave_silicon = 0;
  for (const Json *m = hw->first; m; m = m->next)
    if ((st = apply_field(m, what, d, &gave_family, &gave_silicon, err))) goto done;
  if (!*d->os_name) {
    st = rt_error(TM_ERR_INVALID, err, "%s: 'os_name' is missing (\"macOS\", \"Linux\", ...)",
                  what);
    goto done;
  }
  if (!gave_silicon) d->apple_silicon = d->generation > 0 || strstr(d->chip, "Apple M") != NULL;
  if (d->apple_silicon) {
    derive(d);
    if (!hw_gen(d->generation)) {
      st = rt_error(TM_ERR_INVALID, err,
                    "%s: cannot tell the Apple-silicon generation: give \"generation\" (1..5) "
                    "or a chip name such as \"Apple M3 Max\"",
                    what);
      goto done;
    }
    if (!*d->arch) COPY(d->arch, "arm64");
  } else {
    if (gave_family && d->gpu_family) {
      st = rt_error(TM_ERR_INVALID, err, "%s: gpu_family given for a machine that is not Apple "
                                         "silicon",
                    what);
      goto done;
    }
    d->generation = 0, d->gpu_family = 0;
    if (is_macos(d) && !d->msl_version) d->msl_version = hw_msl_for_macos(d->os_major, d->os_minor);
  }
  snprintf(d->source, sizeof d->source, "file %s", what);
done:
  json_free(root);
  return st;
}

tm_status hw_from_json_file(const char *path, HwDesc *d, char **err) {
  FILE *f = fopen(path, "rb");
  if (!f) return rt_error(TM_ERR_INVALID, err, "cannot read hardware file %s", path);
  char *text = malloc(1 << 20);
  size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
  int big = text && n == (1 << 20) - 1;
  fclose(f);
  if (!text) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  if (big) {
    free(text);
    return rt_error(TM_ERR_INVALID, err, "hardware file %s is larger than 1 MB", path);
  }
  text[n] = 0;
  tm_status st = hw_from_json_text(text, path, d, err);
  free(text);
  return st;
}

tm_status hw_from_env(HwDesc *d, char **err) {
  const char *v = getenv("TRITON_METAL_HW");
  if (!v || !*v) {
    hw_detect(d);
    return TM_OK;
  }
  size_t n = strlen(v);
  int looks_file = strchr(v, '/') || (n > 5 && !strcasecmp(v + n - 5, ".json"));
  if (!looks_file) {
    char base[64];
    snprintf(base, sizeof base, "%.*s", (int)strcspn(v, "@"), v);
    looks_file = !hw_preset_find(base) && access(v, R_OK) == 0;
  }
  char *e = NULL;
  tm_status st = looks_file ? hw_from_json_file(v, d, &e) : hw_from_preset(v, d, &e);
  if (st) {
    rt_error(st, err, "TRITON_METAL_HW=%s: %s", v, e ? e : "out of memory");
    free(e);
    hw_detect(d);
  }
  return st;
}

/* ------------------------------------------------------------ process default */

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static HwDesc default_desc;
static tm_status default_status;
static char *default_err; /* kept for the process */
static tm_target default_target;
static char default_name[64];

/* Preset-style name of a description: "M3-Max", "M2@13.5" for a pinned preset. */
static void target_name(const HwDesc *d, char *out, size_t cap) {
  const char *at = strncmp(d->source, "preset ", 7) ? NULL : strchr(d->source, '@');
  snprintf(out, cap, "M%d%s%s%s", d->generation, *d->variant ? "-" : "", d->variant,
           at ? at : "");
}

static void default_init(void) {
  const tm_target *cuda = hw_cuda_target(getenv("TRITON_METAL_HW"));
  if (cuda) { /* TRITON_METAL_HW=cuda-sm90: the GPU proxy's target on this machine */
    hw_detect(&default_desc);
    default_target = *cuda;
    return;
  }
  default_status = hw_from_env(&default_desc, &default_err);
  target_name(&default_desc, default_name, sizeof default_name);
  hw_target_from(&default_desc, default_name, &default_target, default_name, sizeof default_name);
}

tm_status hw_current(const HwDesc **d, char **err) {
  pthread_once(&default_once, default_init);
  *d = &default_desc;
  if (default_status && err) *err = rt_strdup(default_err ? default_err : "out of memory");
  return default_status;
}

const tm_target *tm_target_default(void) {
  pthread_once(&default_once, default_init);
  return &default_target;
}

tm_status tm_target_get(const tm_target **out, char **err) {
  if (err) *err = NULL;
  if (!out) return rt_error(TM_ERR_INVALID, err, "tm_target_get: out is NULL");
  const HwDesc *d;
  tm_status st = hw_current(&d, err);
  *out = &default_target;
  return st;
}

/* ------------------------------------------------------------ targets */

/* The emulator's own target. Its shim (runtime/cpu/metal_stdlib) implements MSL
 * 3.2 where kernels can tell (coherent(device) buffers: the host's memory is
 * coherent; device-scope fences), 3.1's types incl. bfloat, SIMD-group functions and device atomics on int,
 * uint and float, and also simdgroup_matrix and the matmul2d subset the
 * compiler emits; this row keeps the portable tl.dot (what an unknown GPU
 * gets), and a preset (TRITON_METAL_HW=M3-Max, M5) selects the others. */
static const tm_target generic = {
    .name = "generic",
    .gpu_family = 0,
    .msl_version = 320,
    .simd_width = 32,
    .default_num_warps = 4,
    .max_vector_bytes = 16,
    .max_threads_per_threadgroup = 1024,
    .threadgroup_mem_bytes = 32768,
    .has_bfloat = 1,
    .has_simdgroup_matrix = 0,
    .has_matmul2d = 0,
    .has_atomic64 = 0,
    .has_float_atomics = 1,
    .has_device_coherence = 1,
};

const tm_target *hw_generic_target(void) { return &generic; }

/* The GPU proxy's targets (bench/, README "CUDA proxy"): the same compiler
 * emitting CUDA C++ for an NVIDIA GPU, a measuring instrument for the
 * lowering, not a product. A warp is a SIMD-group of 32; 48 KiB of static
 * shared memory per block; device-scope fences (fence.acq_rel.gpu) and
 * volatile accesses give the coherence coherent(device) gives on Metal. */
static const tm_target cuda_targets[] = {
    {.name = "cuda-sm80", .simd_width = 32, .default_num_warps = 4, .max_vector_bytes = 16,
     .max_threads_per_threadgroup = 1024, .threadgroup_mem_bytes = 49152, .has_bfloat = 1,
     .has_simdgroup_matrix = 1, .has_float_atomics = 1, .has_device_coherence = 1, .has_mma_16x8 = 1,
     .dialect = TM_DIALECT_CUDA},
    {.name = "cuda-sm90", .simd_width = 32, .default_num_warps = 4, .max_vector_bytes = 16,
     .max_threads_per_threadgroup = 1024, .threadgroup_mem_bytes = 49152, .has_bfloat = 1,
     .has_simdgroup_matrix = 1, .has_float_atomics = 1, .has_device_coherence = 1, .has_mma_16x8 = 1,
     .dialect = TM_DIALECT_CUDA},
};

const tm_target *hw_cuda_target(const char *name) {
  for (size_t i = 0; name && i < sizeof cuda_targets / sizeof cuda_targets[0]; i++)
    if (!strcasecmp(name, cuda_targets[i].name)) return &cuda_targets[i];
  return NULL;
}

void hw_target_from(const HwDesc *d, const char *name, tm_target *t, char *names, size_t cap) {
  const HwGen *g = d->apple_silicon && is_macos(d) ? hw_gen(d->generation) : NULL;
  if (!g) {
    *t = generic;
    return;
  }
  if (names != name) snprintf(names, cap, "%s", name);
  int msl = d->msl_version;
  *t = (tm_target){
      .name = names,
      .gpu_family = d->gpu_family ? d->gpu_family : g->gpu_family,
      .msl_version = msl,
      .simd_width = 32,
      .default_num_warps = g->default_num_warps,
      .max_vector_bytes = g->max_vector_bytes,
      .max_threads_per_threadgroup = g->max_threads_per_threadgroup,
      .threadgroup_mem_bytes = g->threadgroup_mem_bytes,
      .has_bfloat = g->bfloat_hw && msl >= 310,                  /* bfloat: MSL 3.1 */
      .has_simdgroup_matrix = msl >= 230,                        /* Apple7+, MSL 2.3 */
      .has_matmul2d = g->matrix_units && msl >= 400,             /* tensor ops: MSL 4.0 */
      .has_atomic64 = g->atomic64 && msl >= 240,                 /* atomic_ulong: MSL 2.4 */
      .has_float_atomics = msl >= 300,                           /* atomic_float: MSL 3.0 */
      .has_device_coherence = msl >= 320,                        /* coherent(device): MSL 3.2 */
  };
}

typedef struct Named {
  char key[64];
  tm_target t;
  char name[64];
  struct Named *next;
} Named;

static pthread_mutex_t named_mu = PTHREAD_MUTEX_INITIALIZER;
static Named *named; /* never freed: one entry per distinct name looked up */

const tm_target *tm_target_lookup(const char *name) {
  if (!name) return NULL;
  if (!strcasecmp(name, "generic")) return &generic;
  if (hw_cuda_target(name)) return hw_cuda_target(name);
  if (strlen(name) >= sizeof named->key) return NULL;
  pthread_mutex_lock(&named_mu);
  Named *e = named;
  while (e && strcmp(e->key, name)) e = e->next;
  const tm_target *t = NULL;
  if (!e) {
    HwDesc d;
    tm_status st = hw_from_preset(name, &d, NULL);
    if (st == TM_OK && !d.apple_silicon) t = &generic;
    else if (st == TM_OK && (e = calloc(1, sizeof *e))) {
      COPY(e->key, name);
      if (d.apple_silicon) target_name(&d, e->name, sizeof e->name);
      hw_target_from(&d, e->name, &e->t, e->name, sizeof e->name);
      e->next = named, named = e;
    }
  }
  pthread_mutex_unlock(&named_mu);
  return e ? &e->t : t;
}

/* ------------------------------------------------------------ plan */

void hw_plan(const tm_target *t, HwPlan *p) {
  p->reduction = t->simd_width == 32 ? "simdgroup" : "threadgroup";
  p->vector_bytes = t->max_vector_bytes;
  p->dot = t->has_matmul2d ? "matmul2d" : t->has_simdgroup_matrix ? "simdgroup_matrix" : "fma";
  p->num_warps = t->default_num_warps;
}

/* ------------------------------------------------------------ environment */

int hw_env_bool(const char *v) {
  /* Exactly what the Python layer tests (jit.py, autotuner.py: == "1"). */
  if (!strcmp(v, "1")) return 1;
  if (!*v || !strcmp(v, "0")) return 0;
  return -1;
}

static void problem(HwEnv *e, const char *fmt, const char *name, const char *v) {
  char *line = rt_strfmt(fmt, name, v);
  char *all = line ? rt_strfmt("%s%s%s", e->problems ? e->problems : "", e->problems ? "\n" : "",
                               line)
                   : NULL;
  free(line);
  if (all) free(e->problems), e->problems = all;
}

static int env_flag(HwEnv *e, const char *name) {
  const char *v = getenv(name);
  if (!v) return 0;
  int b = hw_env_bool(v);
  if (b < 0) problem(e, "%s=%s: expected 1 or 0 (the value is read as 0)", name, v);
  return b > 0;
}

tm_status hw_env_read(HwEnv *e, char **err) {
  memset(e, 0, sizeof *e);
  const char *v;
  e->backend = getenv("TRITON_BACKEND");
  if (e->backend && strcmp(e->backend, "metal"))
    problem(e, "%s=%s: triton-metal is the 'metal' backend; this variable selects another one",
            "TRITON_BACKEND", e->backend);
  e->debug = env_flag(e, "TRITON_METAL_DEBUG");
  e->disable_autotuning = env_flag(e, "TRITON_METAL_DISABLE_AUTOTUNING");
  e->opt_level = 3;
  if ((v = getenv("TRITON_METAL_OPT_LEVEL")) && *v) {
    if (strlen(v) == 1 && v[0] >= '0' && v[0] <= '3') e->opt_level = v[0] - '0';
    else problem(e, "%s=%s: expected 0, 1, 2 or 3", "TRITON_METAL_OPT_LEVEL", v);
  }
  e->device = getenv("TRITON_METAL_DEVICE");
  if (e->device && !*e->device) e->device = NULL;
  if (e->device && strcmp(e->device, "cpu") && strcmp(e->device, "metal") &&
      strcmp(e->device, "metal-sim") && strcmp(e->device, "cuda"))
    problem(e, "%s=%s: expected cpu, metal, metal-sim or cuda", "TRITON_METAL_DEVICE", e->device);
  e->hw = getenv("TRITON_METAL_HW");
  if (e->hw && !*e->hw) e->hw = NULL;
  /* The runtime's default (runtime/cpu/cpu.c cache_root, less its cpu/ subfolder). */
  if ((v = getenv("TRITON_METAL_CACHE_DIR")) && *v)
    e->cache_dir = rt_strdup(v), e->cache_source = "TRITON_METAL_CACHE_DIR";
  else if ((v = getenv("XDG_CACHE_HOME")) && *v)
    e->cache_dir = rt_strfmt("%s/triton-metal", v), e->cache_source = "XDG_CACHE_HOME";
  else if ((v = getenv("HOME")) && *v)
    e->cache_dir = rt_strfmt("%s/.cache/triton-metal", v), e->cache_source = "HOME";
  else
    e->cache_dir = rt_strfmt("/tmp/triton-metal-%ld", (long)getuid()), e->cache_source = "default";
  if (!e->cache_dir) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  return TM_OK;
}

void hw_env_free(HwEnv *e) {
  free(e->cache_dir);
  free(e->problems);
  memset(e, 0, sizeof *e);
}

tm_status tm_opt_level_resolve(tm_opt_level requested, tm_opt_level *out, char **err) {
  if (err) *err = NULL;
  if (!out) return rt_error(TM_ERR_INVALID, err, "tm_opt_level_resolve: out is NULL");
  *out = TM_OPT_AGGRESSIVE;
  if (requested < TM_OPT_DEFAULT || requested > TM_OPT_AGGRESSIVE)
    return rt_error(TM_ERR_INVALID, err, "optimization level %d is not a tm_opt_level",
                    (int)requested);
  if (requested != TM_OPT_DEFAULT) {
    *out = requested;
    return TM_OK;
  }
  const char *v = getenv("TRITON_METAL_OPT_LEVEL");
  if (!v || !*v) return TM_OK;
  if (strlen(v) != 1 || v[0] < '0' || v[0] > '3')
    return rt_error(TM_ERR_INVALID, err, "TRITON_METAL_OPT_LEVEL=%s: expected 0, 1, 2 or 3", v);
  *out = (tm_opt_level)(TM_OPT_NONE + (v[0] - '0'));
  return TM_OK;
}
