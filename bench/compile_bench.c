/*
 * bench/compile_bench.c: our compiler's time from kernel source to MSL, many
 * compiles in one warm process (the cold-process figure is the CLI itself,
 * timed by bench/run.py).
 *
 *   compile_bench FILE.py --kernel NAME --signature '*fp32,i32,...' [-D NAME=INT]...
 *                 [--num-warps N] [--reps N]
 *
 * Prints one JSON object: the seconds of each tm_compile call after one
 * untimed warm-up call, and the size of the MSL. The signature takes the
 * CLI's plain entries (a pointer `*dtype` or a scalar dtype, no hints); -D
 * values are integers, floats or True/False. Each timed call is exactly what
 * the JIT does on a cache miss: tm_compile from source text to MSL text, then
 * tm_kernel_free.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "triton_metal.h"

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
    free(s);
    s = NULL;
  }
  if (s) s[n] = 0;
  fclose(f);
  return s;
}

static tm_value number(const char *s) {
  tm_value v = {0};
  char *end;
  if (!strcmp(s, "True") || !strcmp(s, "False")) {
    v.kind = TM_V_BOOL;
    v.i = s[0] == 'T';
    return v;
  }
  long long i = strtoll(s, &end, 0);
  if (*s && !*end) {
    v.kind = TM_V_INT;
    v.i = i;
    return v;
  }
  v.kind = TM_V_FLOAT;
  v.f = strtod(s, NULL);
  return v;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  const char *file = NULL, *kernel = NULL, *sig = "";
  const char *defs[64];
  int ndefs = 0, reps = 200, num_warps = 4;
  for (int i = 1; i < argc; i++) {
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(argv[i], "--kernel") && val) kernel = argv[++i];
    else if (!strcmp(argv[i], "--signature") && val) sig = argv[++i];
    else if (!strcmp(argv[i], "--reps") && val) reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--num-warps") && val) num_warps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "-D") && val && ndefs < 64) defs[ndefs++] = argv[++i];
    else if (argv[i][0] != '-' && !file) file = argv[i];
    else {
      fprintf(stderr, "compile_bench: unexpected argument '%s'\n", argv[i]);
      return 2;
    }
  }
  char *src = file ? slurp(file) : NULL;
  if (!src || reps < 1) {
    fprintf(stderr, "usage: compile_bench FILE.py --kernel NAME --signature SIG [-D N=V]... [--reps N]\n");
    return 2;
  }
  char **names = NULL, *err = NULL;
  int *annotated = NULL, n = 0;
  if (tm_parse_params(src, file, 1, kernel, &names, &annotated, &n, &err) != TM_OK) {
    fprintf(stderr, "%s", err ? err : "compile_bench: out of memory\n");
    return 1;
  }
  tm_param_spec *params = calloc((size_t)n + 1, sizeof *params);
  char *sigcopy = strdup(sig), *cursor = sigcopy;
  for (int i = 0; i < n; i++) {
    size_t len = strlen(names[i]);
    int d = 0;
    while (d < ndefs && !(!strncmp(defs[d], names[i], len) && defs[d][len] == '=')) d++;
    if (d < ndefs) {
      params[i].kind = TM_PARAM_CONSTEXPR;
      params[i].value = number(defs[d] + len + 1);
      continue;
    }
    char *e = cursor ? strsep(&cursor, ",") : NULL;
    if (!e || !*e) {
      fprintf(stderr, "compile_bench: no signature entry for '%s'\n", names[i]);
      return 2;
    }
    params[i].kind = e[0] == '*' ? TM_PARAM_POINTER : TM_PARAM_SCALAR;
    params[i].dtype = tm_dtype_parse(e[0] == '*' ? e + 1 : e);
    if (params[i].dtype == TM_VOID) {
      fprintf(stderr, "compile_bench: bad signature entry '%s'\n", e);
      return 2;
    }
  }
  tm_compile_request req = {.source = src, .filename = file, .first_line = 1, .kernel_name = kernel,
                            .params = params, .nparams = n, .num_warps = num_warps};
  double *t = malloc(sizeof(double) * (size_t)reps);
  size_t msl_bytes = 0;
  for (int r = -1; r < reps; r++) { /* r == -1: the untimed warm-up */
    tm_kernel *k = NULL;
    double t0 = now_s();
    tm_status st = tm_compile(&req, &k, &err);
    if (st != TM_OK) {
      fprintf(stderr, "%s", err ? err : "compile_bench: out of memory\n");
      return 1;
    }
    msl_bytes = strlen(tm_kernel_msl(k));
    tm_kernel_free(k);
    if (r >= 0) t[r] = now_s() - t0;
  }
  printf("{\"msl_bytes\": %zu, \"times_s\": [", msl_bytes);
  for (int r = 0; r < reps; r++) printf("%s%.9f", r ? ", " : "", t[r]);
  printf("]}\n");
  free(t);
  free(sigcopy);
  free(params);
  tm_params_free(names, annotated, n);
  free(src);
  return 0;
}
