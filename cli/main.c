/*
 * cli/main.c: the triton-metal command.
 *
 *   triton-metal compile FILE.py --kernel NAME --signature '*fp32,*fp32,*fp32,i32'
 *                        [-D NAME=VALUE]... [--num-warps N] [--target NAME] [-d ast|ir|msl] [-o OUT]
 *   triton-metal version
 *
 * --signature lists the kernel's runtime parameters in order, skipping those
 * given with -D (and those annotated tl.constexpr, which must then be given
 * with -D). Entries use upstream's ahead-of-time notation: `*fp32` a pointer,
 * `*fp32:16` a 16-byte-aligned pointer, `i32:16` an integer divisible by 16,
 * `i32:1` an integer equal to 1 (compiled as a constant), and a bare number a
 * constant. --target names the hardware to compile for, as TRITON_METAL_HW does
 * ("M3-Max", "M2@13.5", "generic"); the default is this machine's (or
 * TRITON_METAL_HW's). Exit status: 0 success, 1 the kernel was not accepted, 2 usage.
 */
#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "triton_metal.h"

static int usage(void) {
  fprintf(stderr,
          "usage: triton-metal compile FILE.py --kernel NAME --signature SIG [-D NAME=VALUE]...\n"
          "                            [--num-warps N] [--target NAME] [-d ast|ir|msl] [-o OUT]\n"
          "       triton-metal check [--json] [--no-run] [--no-python]\n"
          "       triton-metal explain FILE.py ... (the same arguments: prints layouts, vector widths,\n"
          "                            reductions, dot paths, threadgroup memory and barriers)\n"
          "       triton-metal version\n");
  return 2;
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  for (size_t n; buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0;) {
    len += n;
    if (len + 1 == cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) {
        free(buf);
        buf = NULL;
      }
      buf = nb;
    }
  }
  fclose(f);
  if (buf) buf[len] = 0;
  return buf;
}

/* Whether s is a Python integer literal (optional sign, decimal digits or 0x/0o/0b). */
static bool looks_integral(const char *s) {
  if (*s == '-' || *s == '+') s++;
  if (!*s) return false;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X' || s[1] == 'o' || s[1] == 'b')) s += 2;
  for (; *s; s++)
    if (!isxdigit((unsigned char)*s) && *s != '_') return false;
  return true;
}

/* A -D value or a bare signature constant: int, float, bool, None, dtype, or string.
 * *bad is set for an integer that does not fit in 64 bits. */
static tm_value parse_value(const char *s, bool *bad) {
  tm_value v = {0};
  char *end;
  if (!strcmp(s, "True") || !strcmp(s, "False")) {
    v.kind = TM_V_BOOL;
    v.i = s[0] == 'T';
    return v;
  }
  if (!strcmp(s, "None")) return v;
  errno = 0;
  long long i = strtoll(s, &end, 0);
  if (*s && !*end && !errno) {
    v.kind = TM_V_INT;
    v.i = i;
    return v;
  }
  if (*s && !*end && errno == ERANGE && looks_integral(s)) { /* not silently a float, nor wrapped */
    *bad = true;
    return v;
  }
  double d = strtod(s, &end);
  if (*s && !*end) {
    v.kind = TM_V_FLOAT;
    v.f = d;
    return v;
  }
  const char *dt = s;
  if (!strncmp(dt, "tl.", 3)) dt += 3;
  tm_dtype t = tm_dtype_parse(dt);
  if (t != TM_VOID) {
    v.kind = TM_V_DTYPE;
    v.i = t;
    return v;
  }
  v.kind = TM_V_STR;
  v.s = s;
  return v;
}

/* One --signature entry -> a parameter spec; returns 0 on a malformed entry. */
static int parse_sig_entry(char *e, tm_param_spec *p) {
  while (*e == ' ') e++;
  char *end = e + strlen(e);
  while (end > e && end[-1] == ' ') *--end = 0;
  memset(p, 0, sizeof *p);
  char *colon = strchr(e, ':');
  int hint = 0;
  if (colon) {
    *colon = 0;
    hint = atoi(colon + 1);
    if (hint != 1 && hint != 16) return 0;
  }
  if (e[0] == '*') {
    const char *dt = e + 1;
    if (dt[0] == 'k') dt++; /* *kfp32: a const pointer */
    p->kind = TM_PARAM_POINTER;
    p->dtype = tm_dtype_parse(dt);
    if (p->dtype == TM_VOID || hint == 1) return 0;
    if (e[1] == 'k') p->flags |= TM_PF_READONLY;
    if (hint == 16) p->flags |= TM_PF_DIV16;
    return 1;
  }
  tm_dtype dt = tm_dtype_parse(e);
  if (dt != TM_VOID) {
    if (hint == 1) {
      p->kind = TM_PARAM_CONSTEXPR;
      p->value.kind = TM_V_INT;
      p->value.i = 1;
      return 1;
    }
    p->kind = TM_PARAM_SCALAR;
    p->dtype = dt;
    if (hint == 16) p->flags |= TM_PF_DIV16;
    return 1;
  }
  if (hint) return 0;
  p->kind = TM_PARAM_CONSTEXPR;
  bool bad = false;
  p->value = parse_value(e, &bad);
  if (bad) return 0;
  return p->value.kind != TM_V_STR && p->value.kind != TM_V_NONE ? 1 : 0;
}

static int cmd_compile(int argc, char **argv) {
  const char *file = NULL, *kernel = NULL, *sig = NULL, *dump = NULL, *outpath = NULL, *target_name = NULL;
  int num_warps = 4;
  char *defs[64];
  int ndefs = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--kernel") && val) kernel = argv[++i];
    else if (!strcmp(a, "--signature") && val) sig = argv[++i];
    else if (!strcmp(a, "-d") && val) dump = argv[++i];
    else if (!strcmp(a, "-o") && val) outpath = argv[++i];
    else if (!strcmp(a, "--num-warps") && val) {
      char *end;
      long nw = strtol(argv[++i], &end, 10);
      if (!*argv[i] || *end || nw < 1 || nw > 32 || (nw & (nw - 1))) {
        fprintf(stderr, "triton-metal compile: --num-warps must be a power of 2 from 1 to 32, got '%s'\n", argv[i]);
        return 2;
      }
      num_warps = (int)nw;
    }
    else if (!strcmp(a, "--target") && val) target_name = argv[++i];
    else if (!strcmp(a, "-D") && val && ndefs < 64) defs[ndefs++] = argv[++i];
    else if (!strncmp(a, "-D", 2) && a[2] && ndefs < 64) defs[ndefs++] = argv[i] + 2;
    else if (a[0] != '-' && !file) file = a;
    else {
      fprintf(stderr, "triton-metal compile: unexpected argument '%s'\n", a);
      return usage();
    }
  }
  if (!file) return usage();
  const tm_target *target = NULL;
  if (target_name && !(target = tm_target_lookup(target_name))) {
    fprintf(stderr, "triton-metal: --target: unknown target '%s'\n", target_name);
    return 2;
  }
  char *src = read_file(file);
  if (!src) {
    fprintf(stderr, "triton-metal: cannot read %s: %s\n", file, strerror(errno));
    return 2;
  }
  char **names = NULL, *err = NULL;
  int *annotated = NULL, n = 0, rc = 1;
  tm_param_spec *params = NULL;
  if (tm_parse_params(src, file, 1, kernel, &names, &annotated, &n, &err) != TM_OK) {
    fprintf(stderr, "%s", err ? err : "triton-metal: out of memory\n");
    goto done;
  }
  params = calloc((size_t)n + 1, sizeof *params);
  char *sigcopy = strdup(sig ? sig : "");
  char *cursor = sigcopy, *entry;
  for (int i = 0; i < n; i++) {
    int d;
    size_t len = strlen(names[i]);
    for (d = 0; d < ndefs; d++)
      if (!strncmp(defs[d], names[i], len) && defs[d][len] == '=') break;
    if (d < ndefs) {
      params[i].kind = TM_PARAM_CONSTEXPR;
      bool bad = false;
      params[i].value = parse_value(defs[d] + len + 1, &bad);
      if (bad) {
        fprintf(stderr, "triton-metal: -D %s: %s does not fit in 64 bits\n", names[i], defs[d] + len + 1);
        rc = 2;
        free(sigcopy);
        goto done;
      }
      continue;
    }
    if (annotated[i]) {
      fprintf(stderr, "triton-metal: parameter '%s' is tl.constexpr: give its value with -D %s=VALUE\n", names[i], names[i]);
      rc = 2;
      free(sigcopy);
      goto done;
    }
    entry = cursor ? strsep(&cursor, ",") : NULL;
    if (!entry || !*entry || !parse_sig_entry(entry, &params[i])) {
      fprintf(stderr, "triton-metal: --signature: %s for parameter '%s'%s%s\n", entry && *entry ? "bad entry" : "missing entry",
              names[i], entry && *entry ? ": " : "", entry && *entry ? entry : "");
      rc = 2;
      free(sigcopy);
      goto done;
    }
  }
  if (cursor && *cursor) {
    fprintf(stderr, "triton-metal: --signature has more entries than the kernel has runtime parameters\n");
    rc = 2;
    free(sigcopy);
    goto done;
  }
  tm_compile_request req = {.source = src, .filename = file, .first_line = 1, .kernel_name = kernel,
                            .params = params, .nparams = n, .num_warps = num_warps, .target = target,
                            .dump = dump && strcmp(dump, "msl") ? dump : NULL};
  tm_kernel *k = NULL;
  tm_status st = tm_compile(&req, &k, &err);
  free(sigcopy);
  if (st != TM_OK) {
    fprintf(stderr, "%s", err ? err : "triton-metal: out of memory\n");
    rc = st == TM_ERR_INVALID ? 2 : 1;
    goto done;
  }
  const char *text = req.dump ? tm_kernel_dump(k) : tm_kernel_msl(k);
  FILE *out = outpath ? fopen(outpath, "w") : stdout;
  if (!out) {
    fprintf(stderr, "triton-metal: cannot write %s: %s\n", outpath, strerror(errno));
    rc = 2;
  } else {
    fputs(text, out);
    rc = (outpath ? fclose(out) : fflush(out)) == 0 ? 0 : 2;
  }
  tm_kernel_free(k);
done:
  tm_free(err);
  free(params);
  tm_params_free(names, annotated, n);
  free(src);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) return usage();
  if (!strcmp(argv[1], "compile")) return cmd_compile(argc - 2, argv + 2);
  if (!strcmp(argv[1], "explain")) { /* compile, then report the lowering decisions */
    char **args = calloc((size_t)argc + 2, sizeof(char *));
    if (!args) return 2;
    int n = 0;
    for (int i = 2; i < argc; i++) args[n++] = argv[i];
    args[n++] = "-d";
    args[n++] = "explain";
    int rc = cmd_compile(n, args);
    free(args);
    return rc;
  }
  if (!strcmp(argv[1], "check")) return cmd_check(argc - 2, argv + 2);
  if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
    printf("triton-metal %s\n", TM_VERSION);
    return 0;
  }
  return usage();
}
