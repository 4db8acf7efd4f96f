/* test_cache_hostile.c: the cpu device's disk cache against a hostile user
 * (issue 16 items 3, 5, 8, 10). A cached object is used only if its bytes hash
 * to what was recorded when it was built: a truncated one (SIGBUS when loaded
 * before), another specialization's object copied over it (silently used
 * before), a FIFO in place of an object, of its recorded hash or of the shim
 * header (a hang before) are all rebuilt. An alarm turns a hang into a failure. */
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_emu.h"

/* out = x + y (emu_add_msl) and, under the same kernel name and descriptor,
 * out = x - y: two objects that can be swapped for each other. */
static char sub_msl[sizeof emu_add_msl + 16];

static int result_is(tm_device *d, const char *msl, float want2) {
  tm_module *m = NULL;
  char *err = NULL;
  if (tm_module_load(d, msl, &emu_add_info, &m, &err)) {
    fprintf(stderr, "load: %s\n", err ? err : "?");
    tm_free(err);
    return 0;
  }
  float a[3] = {1, 2, 3}, b[3] = {4, 5, -6}, c[3] = {0};
  int n = 3;
  tm_launch_arg args[] = {emu_buf(a, 12), emu_buf(b, 12), emu_buf(c, 12), emu_val(&n, 4)};
  uint32_t grid[3] = {1, 1, 1};
  int ok = tm_launch(m, grid, args, 4, NULL) == TM_OK && c[2] == want2;
  tm_module_free(m);
  return ok;
}

/* A fresh device (no objects in memory) loads msl and computes right. */
static int fresh(const char *msl, float want2) {
  tm_device *d = emu_open();
  int ok = result_is(d, msl, want2);
  tm_device_close(d);
  return ok;
}

/* The cache files whose names end in suffix, in <cache>/cpu (at most 4). */
static int files(const char *suffix, char out[][700]) {
  char sub[300];
  snprintf(sub, sizeof sub, "%s/cpu", emu_cache_dir);
  DIR *dd = opendir(sub);
  int count = 0;
  for (struct dirent *e; dd && (e = readdir(dd));) {
    size_t n = strlen(e->d_name), k = strlen(suffix);
    if (n > k && !strcmp(e->d_name + n - k, suffix) && count < 4)
      snprintf(out[count++], 700, "%s/%s", sub, e->d_name);
  }
  if (dd) closedir(dd);
  return count;
}

/* <cache>/cpu/shim-<hash>/metal_stdlib, or "" */
static void shim_path(char *out, size_t cap) {
  char sub[300];
  snprintf(sub, sizeof sub, "%s/cpu", emu_cache_dir);
  out[0] = 0;
  DIR *dd = opendir(sub);
  for (struct dirent *e; dd && (e = readdir(dd));)
    if (!strncmp(e->d_name, "shim-", 5)) snprintf(out, cap, "%s/%s/metal_stdlib", sub, e->d_name);
  if (dd) closedir(dd);
}

static void copy_file(const char *from, const char *to) {
  FILE *f = fopen(from, "rb"), *g = fopen(to, "wb");
  char buf[4096];
  for (size_t n; f && g && (n = fread(buf, 1, sizeof buf, f)) > 0;) fwrite(buf, 1, n, g);
  if (f) fclose(f);
  if (g) fclose(g);
}

int main(void) {
  emu_fresh_cache();
  alarm(300); /* a hang (a FIFO opened for reading) fails the test */
  /* the subtracting twin of the add kernel */
  const char *plus = strstr(emu_add_msl, "v5 + v6");
  snprintf(sub_msl, sizeof sub_msl, "%.*sv5 - v6%s", (int)(plus - emu_add_msl), emu_add_msl,
           plus + strlen("v5 + v6"));

  CHECK(fresh(emu_add_msl, -3.0f)); /* builds both objects and records their hashes */
  char so_sub[700], sum_add[700], so_add[700];
  char names[4][700];
  CHECK(files(".so", names) == 1);
  snprintf(so_add, sizeof so_add, "%s", names[0]);
  CHECK(fresh(sub_msl, 9.0f));
  CHECK(files(".so", names) == 2);
  snprintf(so_sub, sizeof so_sub, "%s", strcmp(names[0], so_add) ? names[0] : names[1]);
  snprintf(sum_add, sizeof sum_add, "%.*s.sum", (int)(strlen(so_add) - 3), so_add);
  CHECK(access(sum_add, R_OK) == 0);

  /* 3: a truncated object */
  struct stat st;
  CHECK(stat(so_add, &st) == 0);
  CHECK(truncate(so_add, st.st_size * 6 / 10) == 0);
  CHECK(fresh(emu_add_msl, -3.0f));
  struct stat st2;
  /* built again whole (with the PCH now, where the first build had none: the
   * same code, maybe not the same bytes; fresh() checked what it computes) */
  CHECK(stat(so_add, &st2) == 0 && st2.st_size != st.st_size * 6 / 10 && st2.st_size > 4096);

  /* 8: another specialization's object swapped in (its recorded hash too) */
  copy_file(so_sub, so_add);
  CHECK(fresh(emu_add_msl, -3.0f)); /* 3 + -6, not 3 - -6 */
  char sum_sub[700];
  snprintf(sum_sub, sizeof sum_sub, "%.*s.sum", (int)(strlen(so_sub) - 3), so_sub);
  copy_file(so_sub, so_add);
  copy_file(sum_sub, sum_add);
  CHECK(fresh(emu_add_msl, -3.0f));

  /* 5: FIFOs in place of the object, of its hash, of the shim header */
  unlink(so_add);
  CHECK(mkfifo(so_add, 0644) == 0);
  CHECK(fresh(emu_add_msl, -3.0f));
  CHECK(stat(so_add, &st) == 0 && S_ISREG(st.st_mode));
  unlink(sum_add);
  CHECK(mkfifo(sum_add, 0644) == 0);
  CHECK(fresh(emu_add_msl, -3.0f));
  CHECK(stat(sum_add, &st) == 0 && S_ISREG(st.st_mode));
  char shim[700];
  shim_path(shim, sizeof shim);
  CHECK(shim[0] != 0);
  unlink(shim);
  CHECK(mkfifo(shim, 0644) == 0);
  unlink(so_add); /* force a compile, which reads the shim */
  CHECK(fresh(emu_add_msl, -3.0f));
  CHECK(stat(shim, &st) == 0 && S_ISREG(st.st_mode));

  /* 10: a garbled shim header is rewritten before the next compile */
  FILE *f = fopen(shim, "r+b");
  if (f) {
    fseek(f, 100, SEEK_SET);
    fputs("\x01\x02 garbage \xff", f);
    fclose(f);
  }
  unlink(so_add);
  CHECK(fresh(emu_add_msl, -3.0f));

  emu_rm_cache();
  return check_report("test_cache_hostile");
}
