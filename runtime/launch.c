/*
 * launch.c: tm_launch's checks, the same for every device kind.
 *
 * Guarantees to the device's launch: nargs matches the descriptor, every
 * BUFFER has data unless it is empty, every BYTES value has exactly its dtype's
 * size and non-NULL data, and no grid dimension is zero (such a grid launches
 * nothing and returns TM_OK here).
 */
#include "rt.h"

static tm_status check_arg(const tm_kernel_info *k, int i, const tm_launch_arg *a, char **err) {
  const tm_kernel_arg *ka = &k->args[i];
  if (ka->role == TM_ARG_BUFFER) {
    if (!a->data && a->nbytes > 0)
      return rt_error(TM_ERR_INVALID, err,
                      "kernel '%s': argument %d '%s' has NULL data and %zu bytes", k->name, i,
                      ka->name, a->nbytes);
    return TM_OK;
  }
  size_t want = (size_t)tm_dtype_bytes(ka->dtype);
  if (!a->data || a->nbytes != want)
    return rt_error(TM_ERR_INVALID, err,
                    "kernel '%s': scalar argument %d '%s' (%s) needs %zu bytes of data, got %zu%s",
                    k->name, i, ka->name, tm_dtype_name(ka->dtype), want, a->nbytes,
                    a->data ? "" : " (NULL)");
  return TM_OK;
}

tm_status tm_launch(tm_module *m, const uint32_t grid[3], const tm_launch_arg *args, int nargs,
                    char **err) {
  if (err) *err = NULL;
  if (!m || !grid) return rt_error(TM_ERR_INVALID, err, "tm_launch: NULL module or grid");
  const tm_kernel_info *k = &m->info;
  if (nargs != k->nargs)
    return rt_error(TM_ERR_INVALID, err, "kernel '%s' takes %d arguments, got %d", k->name,
                    k->nargs, nargs);
  if (nargs > 0 && !args) return rt_error(TM_ERR_INVALID, err, "tm_launch: args is NULL");
  for (int i = 0; i < nargs; i++) {
    tm_status st = check_arg(k, i, &args[i], err);
    if (st) return st;
  }
  if (grid[0] == 0 || grid[1] == 0 || grid[2] == 0) return TM_OK;
  return m->dev->ops->launch(m, grid, args, err);
}
