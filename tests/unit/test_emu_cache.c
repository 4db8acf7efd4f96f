/* test_emu_cache.c: the cpu device's build path: C++ errors surface as
 * TM_ERR_DEVICE with the compiler's text, the strict shim refuses what Metal
 * refuses, the disk cache is reused by a new device, a corrupt cached object is
 * rebuilt, and processes building the same kernel at once do not collide. */
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_emu.h"

/* Path of the only *.so in <dir>/cpu (or "" when there is not exactly one). */
static void find_so(const char *dir, char *out, size_t cap) {
  char sub[300];
  snprintf(sub, sizeof sub, "%s/cpu", dir);
  out[0] = 0;
  DIR *dd = opendir(sub);
  if (!dd) return;
  int count = 0;
  for (struct dirent *e; (e = readdir(dd));) {
    size_t n = strlen(e->d_name);
    if (n > 3 && !strcmp(e->d_name + n - 3, ".so")) {
      snprintf(out, cap, "%s/%s", sub, e->d_name);
      count++;
    }
  }
  closedir(dd);
  if (count != 1) out[0] = 0;
}

static int add_works(tm_module *m) {
  float a[3] = {1, 2, 3}, b[3] = {4, 5, -6}, c[3] = {0};
  int n = 3;
  tm_launch_arg args[] = {emu_buf(a, 12), emu_buf(b, 12), emu_buf(c, 12), emu_val(&n, 4)};
  uint32_t grid[3] = {1, 1, 1};
  return tm_launch(m, grid, args, 4, NULL) == TM_OK && c[0] == 5 && c[2] == -3;
}

static void test_compile_error(tm_device *d) {
  tm_module *m = NULL;
  char *err = NULL;
  const char *msl = "#include <metal_stdlib>\nusing namespace metal;\n"
                    "kernel void add_kernel(device float* x [[buffer(0)]]) {\n"
                    "  x[0] = undeclared_thing + ;\n}\n";
  CHECK(tm_module_load(d, msl, &emu_add_info, &m, &err) == TM_ERR_DEVICE && !m);
  CHECK_CONTAINS(err, "C++ compile of kernel 'add_kernel' failed");
  CHECK_CONTAINS(err, "source kept at ");
  CHECK_CONTAINS(err, "error");
  CHECK_CONTAINS(err, "undeclared_thing");
  /* The kept source exists. */
  const char *at = err ? strstr(err, "source kept at ") : NULL;
  if (at) {
    char path[512];
    sscanf(at + strlen("source kept at "), "%511s", path);
    CHECK(access(path, R_OK) == 0);
  }
  tm_free(err);
}

/* Things Metal rejects do not compile under the shim either. */
static void test_strict(tm_device *d) {
  static const char *bodies[] = {
      "  double t = x[0]; x[0] = float(t);\n",
      "  printf(\"%f\", x[0]);\n",
      "  float *p = (float *)malloc(4); x[0] = *p;\n",
      "  std::vector<float> v; x[0] = 0;\n",
      "  float *p = new float; x[0] = *p;\n",
  };
  static const char *want[] = {"tm_error_double_is_not_supported_in_metal", "printf", "malloc",
                               "std", "tm_error_new_is_not_supported_in_metal"};
  static const tm_kernel_arg args[] = {{"x", 0, TM_ARG_BUFFER, TM_F32, 1}};
  tm_kernel_info k = {.name = "strict", .source_file = "s.py", .nargs = 1, .args = args,
                      .threads_per_threadgroup = 1};
  for (int i = 0; i < 5; i++) {
    char msl[512];
    snprintf(msl, sizeof msl,
             "#include <metal_stdlib>\nusing namespace metal;\n"
             "kernel void strict(device float* x [[buffer(0)]]) {\n%s}\n",
             bodies[i]);
    tm_module *m = NULL;
    char *err = NULL;
    CHECK(tm_module_load(d, msl, &k, &m, &err) == TM_ERR_DEVICE);
    CHECK_CONTAINS(err, want[i]);
    tm_free(err);
    tm_module_free(m);
  }
  /* #include of a system header fails too (-nostdinc). */
  tm_module *m = NULL;
  char *err = NULL;
  CHECK(tm_module_load(d,
                       "#include <stdio.h>\n#include <metal_stdlib>\nusing namespace metal;\n"
                       "kernel void strict(device float* x [[buffer(0)]]) { x[0] = 1; }\n",
                       &k, &m, &err) == TM_ERR_DEVICE);
  CHECK_CONTAINS(err, "stdio.h");
  tm_free(err);
}

static void test_disk_cache(void) {
  tm_device *d = emu_open();
  double t0 = emu_now();
  tm_module *m = emu_load(d, emu_add_msl, &emu_add_info);
  double t1 = emu_now();
  /* Same MSL again in this device: shares the loaded object. */
  tm_module *m2 = emu_load(d, emu_add_msl, &emu_add_info);
  CHECK(m && m2 && add_works(m) && add_works(m2));
  tm_module_free(m2);
  tm_module_free(m);
  tm_device_close(d);
  char so[512];
  find_so(emu_cache_dir, so, sizeof so);
  CHECK(so[0] != 0);
  struct stat s1, s2;
  CHECK(stat(so, &s1) == 0);
  /* A new device finds the object on disk: no compile (file untouched, fast). */
  d = emu_open();
  double t2 = emu_now();
  m = emu_load(d, emu_add_msl, &emu_add_info);
  double t3 = emu_now();
  CHECK(m && add_works(m));
  CHECK(stat(so, &s2) == 0);
  CHECK(s1.st_ino == s2.st_ino && s1.st_mtim.tv_sec == s2.st_mtim.tv_sec &&
        s1.st_mtim.tv_nsec == s2.st_mtim.tv_nsec);
  CHECK(t3 - t2 < t1 - t0);
  printf("load: compile %.1f ms, from disk cache %.2f ms\n", 1e3 * (t1 - t0), 1e3 * (t3 - t2));
  tm_module_free(m);
  tm_device_close(d);

  /* A corrupt object under the same key in another cache folder is rebuilt. */
  char dir2[300], sub[320], so2[600];
  snprintf(dir2, sizeof dir2, "%s/other", emu_cache_dir);
  snprintf(sub, sizeof sub, "%s/cpu", dir2);
  mkdir(dir2, 0755);
  mkdir(sub, 0755);
  snprintf(so2, sizeof so2, "%s/%s", sub, strrchr(so, '/') + 1);
  FILE *f = fopen(so2, "w");
  fputs("this is not an ELF object\n", f);
  fclose(f);
  setenv("TRITON_METAL_CACHE_DIR", dir2, 1);
  d = emu_open();
  m = emu_load(d, emu_add_msl, &emu_add_info);
  CHECK(m && add_works(m));
  struct stat s3;
  CHECK(stat(so2, &s3) == 0 && s3.st_size > 1000);
  tm_module_free(m);
  tm_device_close(d);
  setenv("TRITON_METAL_CACHE_DIR", emu_cache_dir, 1);
}

/* Four processes build the same new kernel into one cache at once. */
static void test_concurrent_builds(void) {
  char dir[300];
  snprintf(dir, sizeof dir, "%s/race", emu_cache_dir);
  setenv("TRITON_METAL_CACHE_DIR", dir, 1);
  pid_t kids[4];
  for (int i = 0; i < 4; i++) {
    if ((kids[i] = fork()) == 0) {
      tm_device *d = NULL;
      tm_module *m = NULL;
      int ok = tm_device_open("cpu", &d, NULL) == TM_OK &&
               tm_module_load(d, emu_add_msl, &emu_add_info, &m, NULL) == TM_OK && add_works(m);
      _exit(ok ? 0 : 1);
    }
  }
  int good = 0;
  for (int i = 0; i < 4; i++) {
    int st;
    good += waitpid(kids[i], &st, 0) == kids[i] && WIFEXITED(st) && WEXITSTATUS(st) == 0;
  }
  CHECK(good == 4);
  char so[512];
  find_so(dir, so, sizeof so);
  CHECK(so[0] != 0); /* exactly one object, no temporaries left named *.so */
  setenv("TRITON_METAL_CACHE_DIR", emu_cache_dir, 1);
}

int main(void) {
  emu_fresh_cache();
  tm_device *d = emu_open();
  test_compile_error(d);
  test_strict(d);
  tm_device_close(d);
  test_disk_cache();
  test_concurrent_builds();
  emu_rm_cache();
  return check_report("test_emu_cache");
}
