/*
 * hw_check.c: the compatibility report (`triton-metal check`, check_compatibility()).
 *
 *   gather   the hardware description and target the compiler uses
 *            (hw_current, tm_target_default), the environment, each device
 *            opened and given a probe kernel, the cache folder written to, the
 *            emulator's C++ compiler looked up, and what Python found (passed in)
 *   judge    one Item per fact: ok / info / warn / fail, a message, and for
 *            warn and fail a troubleshooting tip
 *   render   text or JSON (the schema is in docs/compatibility.md)
 *
 * The verdict is "ok" when some device ran the probe kernel (or, with
 * TM_CHECK_NO_RUN, opened with what it needs present).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hw.h"
#include "rt.h"

typedef enum St { ST_OK, ST_INFO, ST_WARN, ST_FAIL } St;
static const char *const st_names[] = {"ok", "info", "warn", "fail"};

typedef enum Section { S_SYSTEM, S_FEATURES, S_DEVICES, S_SOFTWARE, NSECTIONS } Section;

typedef struct Item {
  const char *id;
  Section sec;
  St st;
  char title[40];
  char *msg, *tip;
} Item;

enum { MAX_ITEMS = 32 };

typedef struct DevProbe {
  const char *name;
  int opened;
  char *detail; /* description or error */
  int probed;   /* 1 ran, 0 skipped */
  int passed;
  char *probe_err;
} DevProbe;

typedef struct Check {
  const HwDesc *hw;
  const tm_target *t;
  HwPlan plan;
  HwEnv env;
  DevProbe dev[2]; /* metal, cpu */
  char *default_dev, *default_err;
  int cache_ok;
  char *cache_err;
  char *cxx, *cxx_source, *cxx_err;
  const tm_check_python *py;
  Item items[MAX_ITEMS];
  int n;
  int ok;
  const char *run_device;
} Check;

static void item(Check *c, const char *id, Section sec, St st, const char *title, char *msg,
                 char *tip) {
  if (c->n == MAX_ITEMS) {
    free(msg), free(tip);
    return;
  }
  Item *it = &c->items[c->n++];
  *it = (Item){.id = id, .sec = sec, .st = st, .msg = msg, .tip = tip};
  snprintf(it->title, sizeof it->title, "%s", title);
}

/* A tip where the emulator's compiler is g++ (its path, links resolved, names
 * g++): clang++ is what the cpu device is tuned for; g++ works. NULL otherwise
 * (c++ that is clang, as on a Mac, or a name that says nothing). */
static char *gxx_tip(const char *cxx) {
  char *real = realpath(cxx, NULL);
  const char *base = strrchr(real ? real : cxx, '/');
  base = base ? base + 1 : (real ? real : cxx);
  bool gxx = strstr(base, "g++") != NULL && strstr(base, "clang") == NULL;
  free(real);
  if (!gxx) return NULL;
  return rt_strdup("g++ works, but the cpu device is tuned for clang++ (clang-19): only clang builds kernels "
                   "with the precompiled shim and the compile server, and its objects ran matmul 3x and "
                   "attention 2.3x faster on a 2-CPU Linux VM (Debian: apt-get install clang-19, or "
                   "tools/setup.sh; TRITON_METAL_CXX names the compiler)");
}

/* ------------------------------------------------------------ gather */

static const char probe_msl[] =
    "#include <metal_stdlib>\n"
    "using namespace metal;\n"
    "kernel void tm_check_probe(device uint* out [[buffer(0)]],\n"
    "                           uint3 tm_pid [[threadgroup_position_in_grid]],\n"
    "                           uint tm_tid [[thread_index_in_threadgroup]]) {\n"
    "  out[tm_pid.x * 64u + tm_tid] = simd_sum(1u) * 1000u + tm_pid.x * 64u + tm_tid;\n"
    "}\n";

/* Loads and runs the probe: 4 threadgroups of 64 threads, each writing
 * 32 * 1000 + its global index (simd_sum over a full SIMD-group of ones). */
static void probe(DevProbe *p, tm_device *d) {
  static const tm_kernel_arg args[] = {{"out", 0, TM_ARG_BUFFER, TM_U32, 1}};
  tm_kernel_info info = {.name = "tm_check_probe", .source_file = "<check>", .nargs = 1,
                         .args = args, .nbuiltins = 2,
                         .builtins = {TM_BI_THREADGROUP_POSITION, TM_BI_THREAD_INDEX},
                         .threads_per_threadgroup = 64, .uses_barriers = 1};
  tm_module *m = NULL;
  char *err = NULL;
  uint32_t out[256] = {0};
  p->probed = 1;
  tm_status st = tm_module_load(d, probe_msl, &info, &m, &err);
  if (!st) {
    tm_launch_arg a = {.data = out, .nbytes = sizeof out};
    st = tm_launch(m, (const uint32_t[3]){4, 1, 1}, &a, 1, &err);
    tm_module_free(m);
  }
  if (st) {
    p->probe_err = err ? err : rt_strdup("out of memory");
    return;
  }
  for (uint32_t i = 0; i < 256; i++)
    if (out[i] != 32000 + i) {
      p->probe_err = rt_strfmt("the probe kernel wrote %u at index %u, expected %u", out[i], i,
                               32000 + i);
      return;
    }
  p->passed = 1;
}

static void open_device(DevProbe *p, const char *name, unsigned flags) {
  tm_device *d = NULL;
  char *err = NULL;
  p->name = name;
  if (tm_device_open(name, &d, &err)) {
    p->detail = err ? err : rt_strdup("out of memory");
    return;
  }
  p->opened = 1;
  p->detail = rt_strdup(tm_device_description(d));
  if (!(flags & TM_CHECK_NO_RUN)) probe(p, d);
  tm_device_close(d);
}

/* mkdir -p, then create and remove a file in it. */
static void probe_cache(Check *c) {
  const char *dir = c->env.cache_dir;
  char *path = rt_strdup(dir);
  for (char *s = path ? path + 1 : NULL; s && *s; s++)
    if (*s == '/') *s = 0, mkdir(path, 0755), *s = '/';
  if (path) mkdir(path, 0755);
  free(path);
  char *tmp = rt_strfmt("%s/.tm-check-XXXXXX", dir);
  int fd = tmp ? mkstemp(tmp) : -1;
  if (fd >= 0) {
    close(fd), unlink(tmp);
    c->cache_ok = 1;
  } else {
    c->cache_err = rt_strfmt("cannot create a file in %s: %s", dir, strerror(errno));
  }
  free(tmp);
}

/* The emulator's choice (runtime/cpu/cpu_build.c): TRITON_METAL_CXX, else the
 * first on PATH that can build its kernels; c->cxx_err says why there is none. */
static void find_cxx(Check *c) {
  const char *e = getenv("TRITON_METAL_CXX");
  c->cxx_source = e && *e ? rt_strfmt("TRITON_METAL_CXX=%s", e) : rt_strdup("PATH (clang++-19, clang++, g++, c++)");
  if (cpu_cxx_path(&c->cxx, &c->cxx_err)) c->cxx = NULL;
}

/* ------------------------------------------------------------ judge */

static char *os_text(const HwDesc *d) {
  return rt_strfmt("%s %d.%d%s%.0d", d->os_name, d->os_major, d->os_minor, d->os_patch ? "." : "",
                   d->os_patch);
}

static char *gib(uint64_t b) {
  return b % (1ull << 30) ? rt_strfmt("%.1f GiB", (double)b / (double)(1ull << 30))
                          : rt_strfmt("%llu GiB", (unsigned long long)(b >> 30));
}

static int macos_at_least(const HwDesc *d, int major, int minor) {
  return !strcmp(d->os_name, "macOS") &&
         (d->os_major > major || (d->os_major == major && d->os_minor >= minor));
}

/* Off Apple hardware the target is "generic", which uses neither simdgroup
 * matrices nor tensor ops; the emulator runs both (runtime/cpu/metal_stdlib) when
 * TRITON_METAL_HW names a target that has them. */
#define SGM_ON_EMULATOR                                                                           \
  "the generic target does not use it; the cpu emulator runs it for a target that has it "      \
  "(TRITON_METAL_HW=M3-Max)"
#define MATMUL2D_ON_EMULATOR                                                                      \
  "the generic target does not use it; the cpu emulator runs its matmul2d subset for a target " \
  "that has it (TRITON_METAL_HW=M5)"

/* Why a kernel feature is missing, or NULL when the target has it. */
static const char *missing(const Check *c, const char *f) {
  const tm_target *t = c->t;
  const HwDesc *d = c->hw;
  int apple = t->gpu_family != 0;
  if (!strcmp(f, "simdgroup_reduction")) return t->simd_width == 32 ? NULL : "needs 32-lane SIMD-groups";
  if (!strcmp(f, "simdgroup_matrix")) {
    if (t->has_simdgroup_matrix) return NULL;
    return apple ? "needs MSL 2.3 (macOS 11)" : SGM_ON_EMULATOR;
  }
  if (!strcmp(f, "bfloat")) {
    if (t->has_bfloat) return NULL;
    return "needs MSL 3.1, i.e. macOS 14 or newer";
  }
  if (!strcmp(f, "atomic64")) {
    if (t->has_atomic64) return NULL;
    if (!apple) return "not implemented by the cpu emulator";
    return d->generation < 3 ? "needs an Apple 9 GPU (M3 or later)" : "needs MSL 2.4 (macOS 12)";
  }
  if (!strcmp(f, "float_atomics")) return t->has_float_atomics ? NULL : "needs MSL 3.0 (macOS 13)";
  if (!strcmp(f, "matmul2d")) {
    if (t->has_matmul2d) return NULL;
    if (!apple) return MATMUL2D_ON_EMULATOR;
    return d->generation < 5 ? "needs GPU Neural Accelerators (M5 or later)"
                             : "needs Metal 4 (MSL 4.0), i.e. macOS 26 or newer";
  }
  return "unknown feature";
}

static const struct {
  const char *id, *what;
} kernel_features[] = {
    {"simdgroup_reduction", "SIMD-group reductions (simd_sum, simd_max, shuffles)"},
    {"simdgroup_matrix", "simdgroup_matrix 8x8 multiply-accumulate (tl.dot)"},
    {"bfloat", "bfloat16 data (the MSL bfloat type)"},
    {"atomic64", "64-bit atomic min/max (atomic_ulong)"},
    {"float_atomics", "float atomic add on device memory (atomic_float)"},
    {"matmul2d", "Metal 4 tensor-op matmul2d (GPU Neural Accelerators)"},
};
enum { NKFEAT = sizeof kernel_features / sizeof kernel_features[0] };

static const char *dot_text(const char *dot) {
  return !strcmp(dot, "matmul2d") ? "tl.dot -> matmul2d (Metal 4 tensor ops)"
         : !strcmp(dot, "simdgroup_matrix") ? "tl.dot -> simdgroup_matrix 8x8 tiles"
                                            : "tl.dot -> per-thread FMA loops";
}

static void judge(Check *c) {
#ifdef __APPLE__
  const int real_mac = 1; /* device probes are of this machine, whatever TRITON_METAL_HW says */
#else
  const int real_mac = 0;
#endif
  const HwDesc *d = c->hw;
  const tm_target *t = c->t;
  int mac = !strcmp(d->os_name, "macOS");
  char *os = os_text(d);

  /* system */
  if (!mac)
    item(c, "os", S_SYSTEM, ST_INFO, "operating system",
         rt_strfmt("%s: Metal is not available on this operating system; kernels run on the "
                   "CPU emulator (the cpu device)", os), NULL);
  else if (!macos_at_least(d, 13, 5))
    item(c, "os", S_SYSTEM, ST_FAIL, "operating system",
         rt_strfmt("%s is older than macOS 13.5, the oldest triton-metal supports", os),
         rt_strdup("update macOS to 14 or newer (13.5 at least); until then kernels can run on "
                   "the cpu emulator (TRITON_METAL_DEVICE=cpu)"));
  else if (!macos_at_least(d, 14, 0))
    item(c, "os", S_SYSTEM, ST_WARN, "operating system",
         rt_strfmt("%s is supported; macOS 14 or newer is recommended (bfloat16 needs MSL 3.1)",
                   os),
         rt_strdup("update to macOS 14 or newer to use bfloat16 in kernels"));
  else
    item(c, "os", S_SYSTEM, ST_OK, "operating system", rt_strfmt("%s (13.5 or newer required)", os),
         NULL);
  free(os);

  if (d->apple_silicon)
    item(c, "apple_silicon", S_SYSTEM, ST_OK, "Apple silicon", rt_strfmt("yes (%s)", d->arch), NULL);
  else if (mac)
    item(c, "apple_silicon", S_SYSTEM, ST_FAIL, "Apple silicon",
         rt_strfmt("no: this Mac has an %s processor", d->arch),
         rt_strdup("the metal device needs an Apple-silicon Mac (M1 or later); on this Mac "
                   "kernels run on the cpu emulator"));
  else
    item(c, "apple_silicon", S_SYSTEM, ST_INFO, "Apple silicon", rt_strfmt("no (%s)", d->arch),
         NULL);

  if (d->apple_silicon) {
    char cores[32];
    if (d->gpu_cores) snprintf(cores, sizeof cores, "%d GPU cores", d->gpu_cores);
    else snprintf(cores, sizeof cores, "GPU cores unknown");
    item(c, "chip", S_SYSTEM, ST_INFO, "chip",
         rt_strfmt("%s: M%d generation%s%s%s, %s", d->chip, d->generation,
                   *d->variant ? ", " : "", d->variant, *d->variant ? " variant" : "", cores),
         NULL);
  }
  else
    item(c, "chip", S_SYSTEM, ST_INFO, "chip",
         rt_strfmt("%s (no Apple GPU)", *d->chip ? d->chip : "unknown CPU"), NULL);

  if (d->gpu_family)
    item(c, "gpu_family", S_SYSTEM, ST_INFO, "Metal GPU family",
         rt_strfmt("Apple %d%s", d->gpu_family, d->metal_reported ? " (reported by Metal)" : ""),
         NULL);
  else
    item(c, "gpu_family", S_SYSTEM, ST_INFO, "Metal GPU family", rt_strdup("none"), NULL);

  char *mem = d->memory_bytes ? gib(d->memory_bytes) : rt_strdup("unknown");
  char *ws = d->working_set_bytes ? gib(d->working_set_bytes) : NULL;
  item(c, "memory", S_SYSTEM, ST_INFO, "memory",
       rt_strfmt("%s%s; recommended working set: %s", mem ? mem : "?",
                 d->apple_silicon ? " unified" : "",
                 ws ? ws : d->apple_silicon ? "unknown (Metal reports it on the Mac)" : "n/a"),
       NULL);
  free(mem), free(ws);

  if (mac && d->msl_version)
    item(c, "msl", S_SYSTEM, ST_INFO, "Metal Shading Language",
         rt_strfmt("MSL %d.%d", d->msl_version / 100, d->msl_version / 10 % 10), NULL);
  else
    item(c, "msl", S_SYSTEM, ST_INFO, "Metal Shading Language",
         rt_strfmt("none on %s; the emulator implements the MSL %d.%d subset of the generic "
                   "target", d->os_name, t->msl_version / 100, t->msl_version / 10 % 10),
         NULL);

  /* kernel features */
  for (int i = 0; i < NKFEAT; i++) {
    const char *why = missing(c, kernel_features[i].id);
    St st = !why ? ST_OK : ST_INFO;
    char *tip = NULL;
    if (why && !strcmp(kernel_features[i].id, "bfloat") && d->apple_silicon) {
      st = ST_WARN;
      tip = rt_strdup("bfloat16 kernels are refused on this OS: update to macOS 14 or newer");
    }
    item(c, kernel_features[i].id, S_FEATURES, st, kernel_features[i].id,
         why ? rt_strfmt("unavailable: %s", why) : rt_strfmt("available: %s", kernel_features[i].what),
         tip);
  }

  /* devices */
  for (int i = 0; i < 2; i++) {
    DevProbe *p = &c->dev[i];
    int metal = !strcmp(p->name, "metal");
    const char *id = metal ? "device.metal" : "device.cpu";
    if (!p->opened) {
      char *tip;
      if (metal && !real_mac)
        tip = rt_strdup("Metal needs macOS 13.5+ on Apple silicon; on this machine kernels run "
                        "on the CPU emulator (the cpu device): nothing to fix");
      else if (metal)
        tip = rt_strdup("check that this process can see the GPU (not a headless, sandboxed or "
                        "virtualized session) and that triton-metal was built on this Mac");
      else
        tip = rt_strdup("reinstall triton-metal; the cpu device is part of every build");
      item(c, id, S_DEVICES, ST_FAIL, p->name, rt_strfmt("unavailable: %s", p->detail), tip);
    } else if (p->probed && !p->passed) {
      item(c, id, S_DEVICES, ST_FAIL, p->name,
           rt_strfmt("opens (%s) but the probe kernel failed: %s", p->detail, p->probe_err),
           rt_strdup(metal ? "run with TRITON_METAL_DEBUG=1 and report the message"
                           : "install clang-19 (Debian: apt-get install clang-19) or point "
                             "TRITON_METAL_CXX at a C++17 compiler; make the cache folder "
                             "writable"));
    } else {
      item(c, id, S_DEVICES, ST_OK, p->name,
           rt_strfmt("%s%s", p->detail, p->probed ? "; probe kernel ran correctly" : ""), NULL);
    }
  }
  if (c->default_dev)
    item(c, "default_device", S_DEVICES, ST_OK, "default device",
         rt_strfmt("%s (%s)", c->default_dev,
                   c->env.device ? "TRITON_METAL_DEVICE" : "the best available"),
         NULL);
  else
    item(c, "default_device", S_DEVICES, ST_FAIL, "default device",
         rt_strfmt("none: %s", c->default_err),
         rt_strdup(c->env.device ? "unset TRITON_METAL_DEVICE, or set it to a device listed as "
                                   "available"
                                 : "see the device items above"));

  /* software */
  item(c, "cache", S_SOFTWARE, c->cache_ok ? ST_OK : ST_FAIL, "cache directory",
       c->cache_ok ? rt_strfmt("%s is writable (from %s)", c->env.cache_dir, c->env.cache_source)
                   : rt_strdup(c->cache_err),
       c->cache_ok ? NULL
                   : rt_strdup("set TRITON_METAL_CACHE_DIR to a writable folder (the cpu device "
                               "stores compiled kernels there)"));
  if (c->cxx) {
    char *tip = gxx_tip(c->cxx); /* a warning: it runs, slower */
    item(c, "emulator_cxx", S_SOFTWARE, tip ? ST_WARN : ST_OK, "emulator C++ compiler",
         rt_strfmt("%s (from %s)", c->cxx, c->cxx_source), tip);
  }
  else
    item(c, "emulator_cxx", S_SOFTWARE, c->dev[0].passed ? ST_WARN : ST_FAIL,
         "emulator C++ compiler",
         c->cxx_err ? rt_strfmt("none usable (from %s): %s", c->cxx_source, c->cxx_err)
                    : rt_strfmt("none found on %s", c->cxx_source),
         rt_strdup("install clang-19 (Debian: apt-get install clang-19; a Mac: xcode-select "
                   "--install) or set TRITON_METAL_CXX to a C++17 compiler (clang 15 or newer, "
                   "g++ 12 or newer)"));
  const tm_check_python *py = c->py;
  if (!py || !py->python) {
    const char *why = py && py->note ? py->note : "not checked; run python -m triton_metal.check";
    item(c, "mlx", S_SOFTWARE, ST_INFO, "MLX", rt_strdup(why), NULL);
    item(c, "torch", S_SOFTWARE, ST_INFO, "torch (MPS)", rt_strdup(why), NULL);
  } else {
    item(c, "mlx", S_SOFTWARE, ST_INFO, "MLX",
         py->mlx ? rt_strfmt("%s installed", py->mlx)
                 : rt_strfmt("not installed%s", mac && d->apple_silicon
                                                    ? " (optional: pip install mlx for MLX arrays)"
                                                    : " (optional; MLX runs on Apple silicon only)"),
         NULL);
    item(c, "torch", S_SOFTWARE, ST_INFO, "torch (MPS)",
         py->torch ? rt_strfmt("%s installed; MPS %savailable", py->torch, py->torch_mps ? "" : "not ")
                   : rt_strdup("not installed (optional: torch tensors as kernel arguments)"),
         NULL);
  }
  if (c->env.problems)
    item(c, "environment", S_SOFTWARE, ST_WARN, "environment", rt_strdup(c->env.problems),
         rt_strdup("fix or unset the variables named above (README: Environment variables)"));
  else
    item(c, "environment", S_SOFTWARE, ST_OK, "environment",
         rt_strdup("every TRITON_* variable that is set has a valid value"), NULL);

  /* verdict */
  for (int i = 0; i < 2 && !c->run_device; i++) {
    const DevProbe *p = &c->dev[i];
    int ready = p->opened && (p->probed ? p->passed
                                        : strcmp(p->name, "cpu") || (c->cxx && c->cache_ok));
    if (ready) c->run_device = p->name;
  }
  if (c->default_dev && c->run_device) {
    for (int i = 0; i < 2; i++)
      if (!strcmp(c->dev[i].name, c->default_dev) && c->dev[i].opened &&
          (!c->dev[i].probed || c->dev[i].passed))
        c->run_device = c->dev[i].name;
  }
  c->ok = c->run_device != NULL;
}

/* ------------------------------------------------------------ render */

static char *summary(const Check *c) {
  if (!c->ok) return rt_strdup("kernels cannot run on this machine: see the failed items below");
  if (!strcmp(c->run_device, "metal"))
    return rt_strfmt("kernels run on the GPU through the metal device (%s, Apple %d)", c->hw->chip,
                     c->hw->gpu_family);
  return rt_strfmt("kernels run on the cpu device, the CPU emulator of Metal%s",
                   c->dev[0].opened ? "" : " (Metal is unavailable on this machine)");
}

static const char *kind_name(HwFeatKind k) {
  return k == HW_FEAT_CODEGEN ? "codegen" : k == HW_FEAT_TRANSPARENT ? "transparent"
         : k == HW_FEAT_GRAPHICS ? "graphics" : "runtime";
}

static void json_kv_int(Buf *b, const char *k, long long v, int comma) {
  buf_fmt(b, "\"%s\": %lld%s", k, v, comma ? ", " : "");
}
static void json_kv_bool(Buf *b, const char *k, int v, int comma) {
  buf_fmt(b, "\"%s\": %s%s", k, v ? "true" : "false", comma ? ", " : "");
}
static void json_kv_str(Buf *b, const char *k, const char *v, int comma) {
  buf_fmt(b, "\"%s\": ", k);
  buf_json_str(b, v);
  if (comma) buf_add(b, ", ");
}

static void render_json(const Check *c, Buf *b) {
  const HwDesc *d = c->hw;
  const tm_target *t = c->t;
  char v[32];
  buf_add(b, "{\n  \"schema\": 1, ");
  json_kv_str(b, "triton_metal_version", TM_VERSION, 0);
  buf_add(b, ",\n  \"hardware\": {");
  json_kv_str(b, "source", d->source, 1);
  json_kv_str(b, "os_name", d->os_name, 1);
  snprintf(v, sizeof v, "%d.%d%s%.0d", d->os_major, d->os_minor, d->os_patch ? "." : "", d->os_patch);
  json_kv_str(b, "os_version", v, 1);
  json_kv_str(b, "arch", d->arch, 1);
  json_kv_bool(b, "apple_silicon", d->apple_silicon, 1);
  json_kv_str(b, "chip", d->chip, 1);
  json_kv_str(b, "model", d->model, 1);
  json_kv_int(b, "generation", d->generation, 1);
  json_kv_str(b, "variant", d->variant, 1);
  json_kv_int(b, "gpu_family", d->gpu_family, 1);
  json_kv_int(b, "gpu_cores", d->gpu_cores, 1);
  json_kv_int(b, "memory_bytes", (long long)d->memory_bytes, 1);
  json_kv_int(b, "working_set_bytes", (long long)d->working_set_bytes, 1);
  snprintf(v, sizeof v, "%d.%d", d->msl_version / 100, d->msl_version / 10 % 10);
  json_kv_str(b, "msl_version", d->msl_version ? v : "", 1);
  json_kv_bool(b, "metal_reported", d->metal_reported, 0);
  buf_add(b, "},\n  \"gpu_family_name\": ");
  snprintf(v, sizeof v, "Apple %d", d->gpu_family);
  buf_json_str(b, d->gpu_family ? v : NULL);
  buf_add(b, ",\n  \"target\": {");
  json_kv_str(b, "name", t->name, 1);
  json_kv_int(b, "gpu_family", t->gpu_family, 1);
  json_kv_int(b, "msl_version", t->msl_version, 1);
  json_kv_int(b, "simd_width", t->simd_width, 1);
  json_kv_int(b, "default_num_warps", t->default_num_warps, 1);
  json_kv_int(b, "max_vector_bytes", t->max_vector_bytes, 1);
  json_kv_int(b, "max_threads_per_threadgroup", t->max_threads_per_threadgroup, 1);
  json_kv_int(b, "threadgroup_mem_bytes", t->threadgroup_mem_bytes, 1);
  json_kv_bool(b, "has_bfloat", t->has_bfloat, 1);
  json_kv_bool(b, "has_simdgroup_matrix", t->has_simdgroup_matrix, 1);
  json_kv_bool(b, "has_matmul2d", t->has_matmul2d, 1);
  json_kv_bool(b, "has_atomic64", t->has_atomic64, 1);
  json_kv_bool(b, "has_float_atomics", t->has_float_atomics, 0);
  buf_add(b, "},\n  \"kernel_features\": {");
  for (int i = 0; i < NKFEAT; i++) {
    const char *why = missing(c, kernel_features[i].id);
    buf_fmt(b, "%s\n    \"%s\": {", i ? "," : "", kernel_features[i].id);
    json_kv_bool(b, "available", !why, 1);
    json_kv_str(b, "what", kernel_features[i].what, 1);
    json_kv_str(b, "why_not", why, 0);
    buf_add(b, "}");
  }
  buf_add(b, "},\n  \"gpu_features\": [");
  const HwGen *g = d->apple_silicon ? hw_gen(d->generation) : NULL;
  for (int i = 0; g && i < HW_MAX_FEATURES && g->features[i].name; i++) {
    const HwFeature *f = &g->features[i];
    buf_add(b, i ? ",\n    {" : "\n    {");
    json_kv_str(b, "name", f->name, 1);
    json_kv_str(b, "kind", kind_name(f->kind), 1);
    json_kv_bool(b, "changes_codegen", f->kind == HW_FEAT_CODEGEN, 1);
    json_kv_str(b, "effect", f->effect, 0);
    buf_add(b, "}");
  }
  buf_add(b, "],\n  \"compiler_plan\": {");
  json_kv_str(b, "reduction", c->plan.reduction, 1);
  json_kv_int(b, "vector_bytes", c->plan.vector_bytes, 1);
  json_kv_str(b, "dot", c->plan.dot, 1);
  json_kv_int(b, "default_num_warps", c->plan.num_warps, 1);
  json_kv_int(b, "threads_per_threadgroup", c->plan.num_warps * t->simd_width, 0);
  buf_add(b, "},\n  \"devices\": {");
  for (int i = 0; i < 2; i++) {
    const DevProbe *p = &c->dev[i];
    buf_fmt(b, "%s\n    \"%s\": {", i ? "," : "", p->name);
    json_kv_bool(b, "available", p->opened, 1);
    json_kv_str(b, "detail", p->detail, 1);
    json_kv_str(b, "probe", !p->probed ? "skipped" : p->passed ? "passed" : "failed", 1);
    json_kv_str(b, "probe_error", p->probe_err, 0);
    buf_add(b, "}");
  }
  buf_add(b, "},\n  \"default_device\": ");
  buf_json_str(b, c->default_dev);
  buf_add(b, ",\n  \"cache\": {");
  json_kv_str(b, "path", c->env.cache_dir, 1);
  json_kv_str(b, "source", c->env.cache_source, 1);
  json_kv_bool(b, "writable", c->cache_ok, 1);
  json_kv_str(b, "error", c->cache_err, 0);
  buf_add(b, "},\n  \"emulator_cxx\": {");
  json_kv_bool(b, "found", c->cxx != NULL, 1);
  json_kv_str(b, "path", c->cxx, 1);
  json_kv_str(b, "searched", c->cxx_source, 0);
  buf_add(b, "},\n  \"python\": {");
  const tm_check_python *py = c->py;
  if (py && !py->python) py = NULL; /* asked, but Python did not answer: note says why */
  json_kv_bool(b, "checked", py != NULL, 1);
  json_kv_str(b, "python", py ? py->python : NULL, 1);
  buf_add(b, "\"mlx\": {");
  json_kv_bool(b, "installed", py && py->mlx, 1);
  json_kv_str(b, "version", py ? py->mlx : NULL, 0);
  buf_add(b, "}, \"torch\": {");
  json_kv_bool(b, "installed", py && py->torch, 1);
  json_kv_str(b, "version", py ? py->torch : NULL, 1);
  json_kv_bool(b, "mps", py && py->torch_mps, 0);
  buf_add(b, "}, ");
  json_kv_str(b, "note", py ? py->note : c->py && c->py->note ? c->py->note
                                       : "not checked; run python -m triton_metal.check", 0);
  buf_add(b, "},\n  \"environment\": {");
  const HwEnv *e = &c->env;
  char lvl[2] = {(char)('0' + e->opt_level), 0};
  static const char *const vars[] = {"TRITON_BACKEND", "TRITON_METAL_DEBUG",
                                     "TRITON_METAL_OPT_LEVEL", "TRITON_METAL_DISABLE_AUTOTUNING",
                                     "TRITON_METAL_CACHE_DIR", "TRITON_METAL_DEVICE",
                                     "TRITON_METAL_HW", "TRITON_METAL_CXX"};
  const char *eff[] = {e->backend ? e->backend : "unset", e->debug ? "1" : "0", lvl,
                       e->disable_autotuning ? "1" : "0", e->cache_dir,
                       c->default_dev ? c->default_dev : "none", d->source,
                       c->cxx ? c->cxx : "none"};
  for (int i = 0; i < 8; i++) {
    buf_fmt(b, "%s\n    \"%s\": {", i ? "," : "", vars[i]);
    json_kv_str(b, "value", getenv(vars[i]), 1);
    json_kv_str(b, "effective", eff[i], 0);
    buf_add(b, "}");
  }
  buf_add(b, "},\n  \"environment_problems\": ");
  buf_json_str(b, e->problems);
  buf_add(b, ",\n  \"checks\": [");
  for (int i = 0; i < c->n; i++) {
    const Item *it = &c->items[i];
    buf_add(b, i ? ",\n    {" : "\n    {");
    json_kv_str(b, "id", it->id, 1);
    json_kv_str(b, "status", st_names[it->st], 1);
    json_kv_str(b, "title", it->title, 1);
    json_kv_str(b, "message", it->msg, 1);
    json_kv_str(b, "tip", it->tip, 0);
    buf_add(b, "}");
  }
  char *sum = summary(c);
  buf_add(b, "],\n  \"verdict\": {");
  json_kv_bool(b, "ok", c->ok, 1);
  json_kv_str(b, "device", c->run_device, 1);
  json_kv_str(b, "summary", sum, 0);
  buf_add(b, "}\n}\n");
  free(sum);
}

static void render_items(const Check *c, Buf *b, Section s) {
  for (int i = 0; i < c->n; i++) {
    const Item *it = &c->items[i];
    if (it->sec != s) continue;
    buf_fmt(b, "  [%-4s] %-24s %s\n", st_names[it->st], it->title, it->msg);
  }
}

static void render_text(const Check *c, Buf *b) {
  const HwDesc *d = c->hw;
  const tm_target *t = c->t;
  buf_fmt(b, "triton-metal %s compatibility check\n", TM_VERSION);
  if (strcmp(d->source, "detected"))
    buf_fmt(b, "hardware description: %s (TRITON_METAL_HW); the devices below are probed on "
               "this machine\n", d->source);
  else buf_add(b, "hardware description: detected on this machine\n");
  buf_add(b, "\nSystem\n");
  render_items(c, b, S_SYSTEM);
  buf_fmt(b, "\nKernel features (target %s%s)\n", t->name,
          t->gpu_family ? "" : ": what the cpu emulator compiles for by default");
  render_items(c, b, S_FEATURES);
  const HwGen *g = d->apple_silicon ? hw_gen(d->generation) : NULL;
  if (g) {
    buf_fmt(b, "\nGPU features of the M%d generation\n", d->generation);
    for (int i = 0; i < HW_MAX_FEATURES && g->features[i].name; i++) {
      const HwFeature *f = &g->features[i];
      buf_fmt(b, "  - %s [%s]: %s\n", f->name,
              f->kind == HW_FEAT_CODEGEN ? "changes code generation"
              : f->kind == HW_FEAT_TRANSPARENT ? "transparent to kernels"
              : f->kind == HW_FEAT_GRAPHICS ? "graphics only"
                                            : "runtime only, transparent to kernels",
              f->effect);
    }
  }
  buf_add(b, "\nCompiler plan on this target (read from the target the compiler uses)\n");
  buf_fmt(b, "  reduction layout: %s\n",
          !strcmp(c->plan.reduction, "simdgroup")
              ? "in-thread, then across the 32 lanes of a SIMD-group (simd_sum/simd_max), then "
                "across SIMD-groups through threadgroup memory"
              : "in-thread, then a tree through threadgroup memory");
  buf_fmt(b, "  vector width:     %d bytes per load/store (%d x fp32)\n", c->plan.vector_bytes,
          c->plan.vector_bytes / 4);
  buf_fmt(b, "  dot path:         %s\n", dot_text(c->plan.dot));
  buf_fmt(b, "  num_warps:        %d SIMD-groups per threadgroup by default (%d threads)\n",
          c->plan.num_warps, c->plan.num_warps * t->simd_width);
  buf_add(b, "\nDevices\n");
  render_items(c, b, S_DEVICES);
  buf_add(b, "\nSoftware and environment\n");
  render_items(c, b, S_SOFTWARE);
  const HwEnv *e = &c->env;
  buf_fmt(b, "  settings: TRITON_METAL_OPT_LEVEL=%d, TRITON_METAL_DEBUG=%d, "
             "TRITON_METAL_DISABLE_AUTOTUNING=%d, TRITON_BACKEND=%s\n",
          e->opt_level, e->debug, e->disable_autotuning, e->backend ? e->backend : "unset");
  char *sum = summary(c);
  buf_fmt(b, "\nVerdict: %s: %s\n", c->ok ? "OK" : "FAIL", sum);
  free(sum);
  int tips = 0;
  for (int i = 0; i < c->n; i++) {
    const Item *it = &c->items[i];
    if (!it->tip) continue;
    if (!tips++) buf_add(b, "\nTroubleshooting\n");
    buf_fmt(b, "  - %s: %s\n", it->title, it->tip);
  }
}

tm_status tm_check_report(unsigned flags, const tm_check_python *py, char **out, int *ok,
                          char **err) {
  if (err) *err = NULL;
  if (ok) *ok = 0;
  if (!out) return rt_error(TM_ERR_INVALID, err, "tm_check_report: out is NULL");
  *out = NULL;
  Check *c = calloc(1, sizeof *c);
  if (!c) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  tm_status st = hw_current(&c->hw, err);
  if (!st) st = hw_env_read(&c->env, err);
  if (st) {
    free(c);
    return st;
  }
  c->t = tm_target_default();
  c->py = py;
  hw_plan(c->t, &c->plan);
  probe_cache(c);
  find_cxx(c);
  open_device(&c->dev[0], "metal", flags);
  open_device(&c->dev[1], "cpu", flags);
  tm_device *d = NULL;
  if (tm_device_open(NULL, &d, &c->default_err) == TM_OK) {
    c->default_dev = rt_strdup(tm_device_name(d));
    tm_device_close(d);
  }
  judge(c);
  Buf b = {0};
  if (flags & TM_CHECK_JSON) render_json(c, &b);
  else render_text(c, &b);
  if (b.failed) {
    free(b.s);
    st = rt_error(TM_ERR_NOMEM, err, "out of memory");
  } else {
    *out = b.s;
    if (ok) *ok = c->ok;
  }
  for (int i = 0; i < c->n; i++) free(c->items[i].msg), free(c->items[i].tip);
  for (int i = 0; i < 2; i++) free(c->dev[i].detail), free(c->dev[i].probe_err);
  free(c->default_dev), free(c->default_err), free(c->cache_err), free(c->cxx),
      free(c->cxx_source), free(c->cxx_err);
  hw_env_free(&c->env);
  free(c);
  return st;
}
