/* test_hw.c: hardware description, presets, JSON injection, target derivation,
 * environment variables and the check report (runtime/hw*.c). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "hw.h"

static const int family_of_gen[] = {0, 7, 8, 9, 9, 10};

static void test_presets(void) {
  int n;
  const HwPreset *p = hw_presets(&n);
  CHECK(n >= 18);
  int seen_gen[6] = {0};
  for (int i = 0; i < n; i++) {
    HwDesc d;
    char *err = NULL;
    CHECK(hw_from_preset(p[i].name, &d, &err) == TM_OK);
    CHECK(err == NULL);
    const tm_target *t = tm_target_lookup(p[i].name);
    CHECK(t != NULL);
    if (!t) continue;
    if (p[i].gen == 0) {
      CHECK(!d.apple_silicon);
      CHECK(t == hw_generic_target());
      CHECK_STR(t->name, "generic");
      continue;
    }
    seen_gen[p[i].gen]++;
    CHECK(d.apple_silicon);
    CHECK(d.generation == p[i].gen);
    CHECK(d.gpu_family == family_of_gen[p[i].gen]);
    CHECK(d.gpu_cores > 0);
    CHECK_STR(d.os_name, "macOS");
    CHECK_CONTAINS(d.chip, "Apple M");
    CHECK_STR(t->name, p[i].name);
    CHECK(t->gpu_family == family_of_gen[p[i].gen]);
    CHECK(t->simd_width == 32);
    CHECK(t->default_num_warps == 4);
    CHECK(t->max_vector_bytes == 16);
    CHECK(t->threadgroup_mem_bytes == 32768);
    CHECK(t->max_threads_per_threadgroup == 1024);
    CHECK(t->has_simdgroup_matrix);
    CHECK(t->has_bfloat); /* default macOS of every preset is 14 or newer */
    CHECK(t->has_float_atomics);
    CHECK(t->has_matmul2d == (p[i].gen == 5));
    CHECK(t->has_atomic64 == (p[i].gen >= 3));
    CHECK(tm_target_lookup(p[i].name) == t); /* stable pointer */
  }
  for (int g = 1; g <= 5; g++) CHECK(seen_gen[g] >= 1);
  CHECK(seen_gen[1] == 4 && seen_gen[2] == 4 && seen_gen[3] == 4 && seen_gen[4] == 3);
}

static void test_preset_names(void) {
  CHECK(hw_preset_find("m3 max") == hw_preset_find("M3-Max"));
  CHECK(hw_preset_find("Apple M3 Max") == hw_preset_find("M3-Max"));
  CHECK(hw_preset_find("M3_MAX") != NULL);
  CHECK(hw_preset_find("M4-Ultra") == NULL); /* no such chip */
  CHECK(tm_target_lookup("M9") == NULL);
  CHECK(tm_target_lookup("generic") == hw_generic_target());
  CHECK(tm_target_lookup(NULL) == NULL);

  HwDesc d;
  char *err = NULL;
  CHECK(hw_from_preset("M9", &d, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "unknown hardware preset 'M9'");
  CHECK_CONTAINS(err, "M3-Max");
  free(err), err = NULL;
  CHECK(hw_from_preset("M2@abc", &d, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "not an OS version");
  free(err), err = NULL;
}

static void test_pinned_os(void) {
  const tm_target *t = tm_target_lookup("M2@13.5");
  CHECK(t && t->msl_version == 300 && !t->has_bfloat && t->has_simdgroup_matrix &&
        t->has_float_atomics);
  if (t) CHECK_STR(t->name, "M2@13.5");
  t = tm_target_lookup("M3-Max@14.0");
  CHECK(t && t->msl_version == 310 && t->has_bfloat && t->has_atomic64);
  t = tm_target_lookup("M5@15.2"); /* M5 without Metal 4: no matmul2d */
  CHECK(t && t->msl_version == 320 && !t->has_matmul2d);
  t = tm_target_lookup("M1@26.0"); /* Metal 4 but no matrix units: no matmul2d */
  CHECK(t && t->msl_version == 400 && !t->has_matmul2d && t->gpu_family == 7);
  t = tm_target_lookup("M1@12.6");
  CHECK(t && t->msl_version == 240 && !t->has_float_atomics && !t->has_bfloat);
  CHECK(hw_msl_for_macos(13, 5) == 300 && hw_msl_for_macos(14, 0) == 310 &&
        hw_msl_for_macos(15, 4) == 320 && hw_msl_for_macos(26, 0) == 400 &&
        hw_msl_for_macos(10, 15) == 0);
}

static void test_plan(void) {
  HwPlan p;
  hw_plan(tm_target_lookup("M5"), &p);
  CHECK_STR(p.dot, "matmul2d");
  CHECK_STR(p.reduction, "simdgroup");
  CHECK(p.vector_bytes == 16 && p.num_warps == 4);
  hw_plan(tm_target_lookup("M1"), &p);
  CHECK_STR(p.dot, "simdgroup_matrix");
  hw_plan(hw_generic_target(), &p);
  CHECK_STR(p.dot, "fma");
  /* the plan follows the fields, nothing else */
  tm_target t = *tm_target_lookup("M3");
  t.has_simdgroup_matrix = 0, t.simd_width = 16, t.max_vector_bytes = 8;
  hw_plan(&t, &p);
  CHECK_STR(p.dot, "fma");
  CHECK_STR(p.reduction, "threadgroup");
  CHECK(p.vector_bytes == 8);
}

static void test_json_injection(void) {
  HwDesc d;
  char *err = NULL;
  const char *full = "{\"os_name\": \"macOS\", \"os_version\": \"14.6.1\", \"chip\": \"Apple M3 Pro\","
                     " \"gpu_cores\": 18, \"memory_bytes\": 38654705664,"
                     " \"working_set_bytes\": 28991029248, \"model\": \"Mac15,6\"}";
  CHECK(hw_from_json_text(full, "mac.json", &d, &err) == TM_OK);
  CHECK(err == NULL);
  CHECK(d.apple_silicon && d.generation == 3 && d.gpu_family == 9);
  CHECK_STR(d.variant, "Pro");
  CHECK_STR(d.arch, "arm64");
  CHECK(d.os_major == 14 && d.os_minor == 6 && d.os_patch == 1 && d.msl_version == 310);
  CHECK(d.working_set_bytes == 28991029248ull);
  CHECK_STR(d.source, "file mac.json");
  tm_target t;
  char name[64];
  hw_target_from(&d, "M3-Pro", &t, name, sizeof name);
  CHECK(t.has_bfloat && t.has_atomic64 && !t.has_matmul2d && t.gpu_family == 9);

  /* a preset with overrides; a whole report holding a "hardware" object */
  CHECK(hw_from_json_text("{\"preset\": \"M4-Max\", \"os_version\": \"13.5\"}", "x", &d, &err) == 0);
  CHECK(d.generation == 4 && d.msl_version == 300);
  CHECK(hw_from_json_text("{\"schema\": 1, \"hardware\": {\"source\": \"detected\", \"os_name\": "
                          "\"macOS\", \"os_version\": \"26.0\", \"generation\": 5, "
                          "\"metal_reported\": true}}", "report.json", &d, &err) == 0);
  CHECK(d.generation == 5 && d.gpu_family == 10 && d.msl_version == 400);
  CHECK_STR(d.chip, "Apple M5");
  CHECK(hw_from_json_text("{\"os_name\": \"Linux\", \"os_version\": \"6.1\", \"arch\": \"aarch64\"}",
                          "l", &d, &err) == 0);
  CHECK(!d.apple_silicon && d.gpu_family == 0);
  /* gpu_family from Metal wins over the table */
  CHECK(hw_from_json_text("{\"os_name\": \"macOS\", \"os_version\": \"15.0\", \"generation\": 4, "
                          "\"gpu_family\": 10}", "f", &d, &err) == 0);
  CHECK(d.gpu_family == 10);

  static const struct {
    const char *text, *want;
  } bad[] = {
      {"{\"os_name\": \"macOS\",}", "bad.json:1:21: invalid JSON"},
      {"{\"os_name\": \"macOS\", \"gpu_core\": 8}", "unknown field 'gpu_core'"},
      {"{\"os_name\": \"macOS\", \"gpu_cores\": \"8\"}", "field 'gpu_cores' must be a number"},
      {"{\"os_name\": \"macOS\", \"gpu_cores\": 8.5}", "must be an integer"},
      {"{\"os_version\": \"14.0\", \"generation\": 3}", "'os_name' is missing"},
      {"{\"os_name\": \"macOS\", \"apple_silicon\": true}", "cannot tell the Apple-silicon generation"},
      {"{\"os_name\": \"macOS\", \"os_version\": \"fourteen\"}", "os_version"},
      {"{\"os_name\": \"Linux\", \"gpu_family\": 9, \"apple_silicon\": false}", "not Apple silicon"},
      {"{\"os_name\": \"macOS\", \"gpu_family\": 6, \"generation\": 1}", "predates"},
      {"{\"os_name\": \"macOS\", \"variant\": \"Mega\", \"generation\": 1}", "variant"},
      {"{\"preset\": \"M7\"}", "unknown hardware preset 'M7'"},
      {"[1, 2]", "expected a JSON object"},
      {"{\"a\": 1, \"a\": 2}", "duplicate member name"},
      {"{\"os_name\": \"mac", "unterminated string"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err = NULL;
    CHECK(hw_from_json_text(bad[i].text, "bad.json", &d, &err) == TM_ERR_INVALID);
    CHECK_CONTAINS(err, bad[i].want);
    free(err);
  }
}

static void test_json_parser(void) {
  char *err = NULL;
  Json *j = json_parse("{\"s\": \"\\u00e9\\ud83d\\ude00\\n\", \"n\": -1.5e2, \"a\": [true, null]}",
                       "t", &err);
  CHECK(j != NULL);
  CHECK_STR(json_get(j, "s")->str, "\xc3\xa9\xf0\x9f\x98\x80\n");
  CHECK(json_get(j, "n")->num == -150.0);
  CHECK(json_get(j, "a")->first->kind == J_BOOL && json_get(j, "a")->first->next->kind == J_NULL);
  json_free(j);
  CHECK(json_parse("{\"x\": \"\\ud800\"}", "t", &err) == NULL);
  CHECK_CONTAINS(err, "surrogate");
  free(err);
  CHECK(json_parse("{} x", "t", &err) == NULL);
  CHECK_CONTAINS(err, "text after the value");
  free(err);
  Buf b = {0};
  buf_json_str(&b, "a\"b\\c\x01");
  CHECK_STR(b.s, "\"a\\\"b\\\\c\\u0001\"");
  free(b.s);
}

static char tmpdir[64];

static char *write_tmp(const char *name, const char *text) {
  char *path = malloc(strlen(tmpdir) + strlen(name) + 2);
  sprintf(path, "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
  return path;
}

static void test_files_and_env(void) {
  HwDesc d;
  char *err = NULL;
  char *good = write_tmp("m2max.json", "{\"preset\": \"M2-Max\", \"gpu_cores\": 30}\n");
  char *bad = write_tmp("bad.json", "{\"os_name\": \"macOS\",\n  \"generation\": 9}\n");
  CHECK(hw_from_json_file(good, &d, &err) == TM_OK);
  CHECK(d.generation == 2 && d.gpu_cores == 30);
  CHECK(hw_from_json_file(bad, &d, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "'generation' must be an integer in 0..5");
  free(err), err = NULL;
  CHECK(hw_from_json_file("/nonexistent/hw.json", &d, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "cannot read hardware file /nonexistent/hw.json");
  free(err), err = NULL;

  setenv("TRITON_METAL_HW", good, 1);
  CHECK(hw_from_env(&d, &err) == TM_OK && d.generation == 2);
  setenv("TRITON_METAL_HW", "M4-Pro", 1);
  CHECK(hw_from_env(&d, &err) == TM_OK && d.generation == 4);
  CHECK_STR(d.variant, "Pro");
  setenv("TRITON_METAL_HW", "Quantum-9000", 1);
  CHECK(hw_from_env(&d, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "TRITON_METAL_HW=Quantum-9000: unknown hardware preset");
  CHECK_STR(d.source, "detected"); /* falls back to this machine */
  free(err), err = NULL;
  setenv("TRITON_METAL_HW", bad, 1);
  CHECK(hw_from_env(&d, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "bad.json");
  free(err), err = NULL;
  unsetenv("TRITON_METAL_HW");
  CHECK(hw_from_env(&d, &err) == TM_OK);
  CHECK_STR(d.source, "detected");
#ifndef __APPLE__
  CHECK(!d.apple_silicon && d.gpu_family == 0 && d.memory_bytes > 0);
  CHECK(strcmp(d.os_name, "macOS") != 0);
#endif
  unlink(good), unlink(bad);
  free(good), free(bad);
}

static void test_env_vars(void) {
  HwEnv e;
  char *err = NULL;
  static const char *const vars[] = {"TRITON_BACKEND", "TRITON_METAL_DEBUG", "TRITON_METAL_OPT_LEVEL",
                                     "TRITON_METAL_DISABLE_AUTOTUNING", "TRITON_METAL_DEVICE",
                                     "TRITON_METAL_CACHE_DIR", "XDG_CACHE_HOME"};
  for (int i = 0; i < 7; i++) unsetenv(vars[i]);
  setenv("HOME", "/home/u", 1);
  CHECK(hw_env_read(&e, &err) == TM_OK);
  CHECK(!e.debug && e.opt_level == 3 && !e.disable_autotuning && !e.backend && !e.device &&
        !e.problems);
  CHECK_STR(e.cache_dir, "/home/u/.cache/triton-metal");
  hw_env_free(&e);
  setenv("XDG_CACHE_HOME", "/xdg", 1);
  hw_env_read(&e, &err);
  CHECK_STR(e.cache_dir, "/xdg/triton-metal");
  hw_env_free(&e);
  setenv("TRITON_METAL_CACHE_DIR", "/c", 1);
  setenv("TRITON_BACKEND", "metal", 1);
  setenv("TRITON_METAL_DEBUG", "1", 1);
  setenv("TRITON_METAL_OPT_LEVEL", "1", 1);
  setenv("TRITON_METAL_DISABLE_AUTOTUNING", "1", 1);
  setenv("TRITON_METAL_DEVICE", "cpu", 1);
  hw_env_read(&e, &err);
  CHECK_STR(e.cache_dir, "/c");
  CHECK_STR(e.cache_source, "TRITON_METAL_CACHE_DIR");
  CHECK(e.debug == 1 && e.opt_level == 1 && e.disable_autotuning == 1 && !e.problems);
  CHECK_STR(e.device, "cpu");
  hw_env_free(&e);
  setenv("TRITON_BACKEND", "cuda", 1);
  setenv("TRITON_METAL_DEBUG", "maybe", 1);
  setenv("TRITON_METAL_OPT_LEVEL", "4", 1);
  setenv("TRITON_METAL_DEVICE", "gpu", 1);
  hw_env_read(&e, &err);
  CHECK_CONTAINS(e.problems, "TRITON_BACKEND=cuda");
  CHECK_CONTAINS(e.problems, "TRITON_METAL_DEBUG=maybe: expected 1 or 0");
  CHECK_CONTAINS(e.problems, "TRITON_METAL_OPT_LEVEL=4: expected 0, 1, 2 or 3");
  CHECK_CONTAINS(e.problems, "TRITON_METAL_DEVICE=gpu");
  CHECK(e.opt_level == 3 && e.debug == 0);
  hw_env_free(&e);
  for (int i = 0; i < 7; i++) unsetenv(vars[i]);

  tm_opt_level lvl;
  CHECK(tm_opt_level_resolve(TM_OPT_DEFAULT, &lvl, &err) == TM_OK && lvl == TM_OPT_AGGRESSIVE);
  static const tm_opt_level want[] = {TM_OPT_NONE, TM_OPT_BASIC, TM_OPT_STANDARD, TM_OPT_AGGRESSIVE};
  for (int i = 0; i < 4; i++) {
    char v[2] = {(char)('0' + i), 0};
    setenv("TRITON_METAL_OPT_LEVEL", v, 1);
    CHECK(tm_opt_level_resolve(TM_OPT_DEFAULT, &lvl, &err) == TM_OK && lvl == want[i]);
    CHECK(tm_opt_level_resolve(TM_OPT_BASIC, &lvl, &err) == TM_OK && lvl == TM_OPT_BASIC);
  }
  setenv("TRITON_METAL_OPT_LEVEL", "fast", 1);
  CHECK(tm_opt_level_resolve(TM_OPT_DEFAULT, &lvl, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "TRITON_METAL_OPT_LEVEL=fast: expected 0, 1, 2 or 3");
  free(err), err = NULL;
  unsetenv("TRITON_METAL_OPT_LEVEL");
  CHECK(hw_env_bool("1") == 1 && hw_env_bool("0") == 0 && hw_env_bool("") == 0 &&
        hw_env_bool("yes") == -1 && hw_env_bool("2") == -1);
}

static void *default_in_thread(void *arg) {
  (void)arg;
  return (void *)tm_target_default();
}

/* Last: the process default is computed once, from TRITON_METAL_HW=M1. */
static void test_default_and_report(void) {
  setenv("TRITON_METAL_HW", "M1", 1);
  pthread_t th[4];
  void *got[4];
  for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, default_in_thread, NULL);
  for (int i = 0; i < 4; i++) pthread_join(th[i], &got[i]);
  const tm_target *t = tm_target_default();
  for (int i = 0; i < 4; i++) CHECK(got[i] == t);
  CHECK_STR(t->name, "M1");
  CHECK(t->gpu_family == 7 && !t->has_matmul2d && t->has_simdgroup_matrix);
  const tm_target *t2 = NULL;
  char *err = NULL;
  CHECK(tm_target_get(&t2, &err) == TM_OK && t2 == t && err == NULL);
  setenv("TRITON_METAL_HW", "M5", 1); /* read once: no effect now */
  CHECK(tm_target_default() == t);

  char *out = NULL;
  int ok = -1;
  setenv("TRITON_METAL_CACHE_DIR", tmpdir, 1);
  CHECK(tm_check_report(TM_CHECK_JSON | TM_CHECK_NO_RUN, NULL, &out, &ok, &err) == TM_OK);
  Json *j = out ? json_parse(out, "report", &err) : NULL;
  CHECK(j != NULL);
  if (j) {
    const Json *hw = json_get(j, "hardware");
    CHECK_STR(json_get(hw, "chip")->str, "Apple M1");
    CHECK(json_get(hw, "gpu_family")->num == 7);
    CHECK_STR(json_get(j, "gpu_family_name")->str, "Apple 7");
    CHECK(json_get(json_get(json_get(j, "kernel_features"), "matmul2d"), "available")->b == 0);
    CHECK_STR(json_get(json_get(j, "compiler_plan"), "dot")->str, "simdgroup_matrix");
    CHECK_STR(json_get(json_get(j, "target"), "name")->str, "M1");
#ifndef __APPLE__
    CHECK(ok == 1);
    CHECK_STR(json_get(json_get(j, "verdict"), "device")->str, "cpu");
    CHECK(json_get(json_get(json_get(j, "devices"), "metal"), "available")->b == 0);
#endif
  }
  json_free(j);
  free(out);
  CHECK(tm_check_report(0, NULL, NULL, NULL, &err) == TM_ERR_INVALID);
  free(err);
  unsetenv("TRITON_METAL_HW");
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/tm-test-hw-XXXXXX");
  if (!mkdtemp(tmpdir)) return 2;
  test_presets();
  test_preset_names();
  test_pinned_os();
  test_plan();
  test_json_injection();
  test_json_parser();
  test_files_and_env();
  test_env_vars();
  test_default_and_report();
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmpdir);
  return check_report("test_hw");
}
