/*
 * module.c: tm_module_load / tm_module_free, independent of the device kind.
 *
 * Validates the kernel descriptor (argument roles and dtypes, builtins, threads
 * per threadgroup), copies it deeply (the caller's strings may go away), then
 * hands the MSL to the device's load. A module holds a reference to its device.
 */
#include <stdlib.h>
#include <string.h>

#include "rt.h"

static tm_status check_info(const tm_kernel_info *in, char **err) {
  if (!in->name || !*in->name)
    return rt_error(TM_ERR_INVALID, err, "kernel descriptor has no name");
  if (in->nargs < 0 || (in->nargs > 0 && !in->args))
    return rt_error(TM_ERR_INVALID, err, "kernel '%s': bad argument table", rt_kname(in));
  if (in->nbuiltins < 0 || in->nbuiltins > TM_MAX_BUILTINS)
    return rt_error(TM_ERR_INVALID, err, "kernel '%s': %d builtins", rt_kname(in), in->nbuiltins);
  if (in->threads_per_threadgroup < 1 || in->threads_per_threadgroup > 1024)
    return rt_error(TM_ERR_INVALID, err, "kernel '%s': %d threads per threadgroup (1..1024)",
                    rt_kname(in), in->threads_per_threadgroup);
  for (int i = 0; i < in->nargs; i++) {
    const tm_kernel_arg *a = &in->args[i];
    const char *an = a->name ? a->name : "?";
    if (a->role != TM_ARG_BUFFER && a->role != TM_ARG_BYTES)
      return rt_error(TM_ERR_INVALID, err, "kernel '%s': argument '%s' has no role", rt_kname(in), an);
    if (a->dtype == TM_F64 && a->role == TM_ARG_BUFFER)
      continue; /* float64 memory: addressed, and written as bits (the compiler refuses reading it) */
    if (a->dtype == TM_F64)
      return rt_error(TM_ERR_INVALID, err,
                      "kernel '%s': argument '%s' is float64, which Metal does not support",
                      rt_kname(in), an);
    if (!rt_msl_type(a->dtype))
      return rt_error(TM_ERR_INVALID, err, "kernel '%s': argument '%s' has no dtype", rt_kname(in), an);
  }
  for (int i = 0; i < in->nbuiltins; i++)
    if (in->builtins[i] < TM_BI_THREADGROUP_POSITION || in->builtins[i] > TM_BI_SIMDGROUP)
      return rt_error(TM_ERR_INVALID, err, "kernel '%s': unknown builtin %d", rt_kname(in),
                      (int)in->builtins[i]);
  return TM_OK;
}

static void free_info(tm_kernel_info *k) {
  for (int i = 0; i < k->nargs; i++) free((char *)k->args[i].name);
  free((void *)k->args);
  free((char *)k->name);
  free((char *)k->source_file);
  free((char *)k->source_name);
}

static int copy_info(tm_kernel_info *dst, const tm_kernel_info *src) {
  *dst = *src;
  dst->name = rt_strdup(src->name);
  dst->source_file = rt_strdup(src->source_file ? src->source_file : "<unknown>");
  dst->source_name = rt_strdup(src->source_name ? src->source_name : src->name);
  tm_kernel_arg *args = calloc((size_t)src->nargs + 1, sizeof *args);
  dst->args = args;
  if (!dst->name || !dst->source_file || !dst->source_name || !args) return 0;
  for (int i = 0; i < src->nargs; i++) {
    args[i] = src->args[i];
    args[i].name = rt_strdup(src->args[i].name ? src->args[i].name : "?");
    if (!args[i].name) return 0;
  }
  return 1;
}

tm_status tm_module_load(tm_device *d, const char *msl, const tm_kernel_info *info,
                         tm_module **out, char **err) {
  if (err) *err = NULL;
  if (!d || !msl || !info || !out)
    return rt_error(TM_ERR_INVALID, err, "tm_module_load: NULL argument");
  *out = NULL;
  tm_status st = check_info(info, err);
  if (st) return st;
  tm_module *m = calloc(1, sizeof *m);
  if (!m) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  if (!copy_info(&m->info, info)) {
    free_info(&m->info);
    free(m);
    return rt_error(TM_ERR_NOMEM, err, "out of memory");
  }
  m->dev = d;
  st = d->ops->load(m, msl, err);
  if (st) {
    free_info(&m->info);
    free(m);
    return st;
  }
  rt_device_ref(d);
  *out = m;
  return TM_OK;
}

void tm_module_free(tm_module *m) {
  if (!m) return;
  tm_device *d = m->dev;
  d->ops->unload(m);
  free_info(&m->info);
  free(m);
  rt_device_unref(d);
}
