/*
 * launch.c: tm_launch's checks, the same for every device kind; timed launches
 * (tm_launch_timed) and tm_module_get_info.
 *
 * Guarantees to the device's launch: nargs matches the descriptor, every
 * BUFFER has data unless it is empty or a device buffer (then dev is non-NULL
 * and the device takes device buffers), [data - before, data + nbytes) does
 * not wrap around (a device buffer: before <= offset), every BYTES value has exactly its dtype's
 * size and non-NULL data, and no grid dimension is zero (such a grid launches
 * nothing and returns TM_OK here).
 */

#include "rt.h"

static tm_status check_arg(const tm_kernel_info *k, int i, const tm_launch_arg *a, char **err) {
  const tm_kernel_arg *ka = &k->args[i];
  if (ka->role == TM_ARG_BUFFER) {
    if (!a->data && (a->nbytes > 0 || a->before > 0))
      return rt_error(TM_ERR_INVALID, err,
                      "kernel '%s': argument %d '%s' has NULL data and %zu bytes", rt_kname(k), i,
                      ka->name, a->nbytes + a->before);
    uintptr_t p = (uintptr_t)a->data;
    if (a->before > p || a->nbytes > UINTPTR_MAX - p)
      return rt_error(TM_ERR_INVALID, err,
                      "kernel '%s': argument %d '%s': its memory (%zu bytes before and %zu "
                      "from %p) wraps around the address space",
                      rt_kname(k), i, ka->name, a->before, a->nbytes, a->data);
    return TM_OK;
  }
  size_t want = (size_t)tm_dtype_bytes(ka->dtype);
  if (!a->data || a->nbytes != want)
    return rt_error(TM_ERR_INVALID, err,
                    "kernel '%s': scalar argument %d '%s' (%s) needs %zu bytes of data, got %zu%s",
                    rt_kname(k), i, ka->name, tm_dtype_name(ka->dtype), want, a->nbytes,
                    a->data ? "" : " (NULL)");
  return TM_OK;
}

/* The checks every launch gets; *any_dev: some argument is a device buffer. */
static tm_status check_launch(tm_module *m, const uint32_t grid[3], const tm_launch_arg *args,
                              const tm_device_arg *dev, int nargs, int *any_dev, char **err) {
  if (!m || !grid) return rt_error(TM_ERR_INVALID, err, "tm_launch: NULL module or grid");
  const tm_kernel_info *k = &m->info;
  if (nargs != k->nargs)
    return rt_error(TM_ERR_INVALID, err, "kernel '%s' takes %d arguments, got %d", rt_kname(k),
                    k->nargs, nargs);
  if (nargs > 0 && !args) return rt_error(TM_ERR_INVALID, err, "tm_launch: args is NULL");
  *any_dev = 0;
  for (int i = 0; i < nargs; i++) {
    if (dev && dev[i].buffer) {
      if (k->args[i].role != TM_ARG_BUFFER)
        return rt_error(TM_ERR_INVALID, err,
                        "kernel '%s': scalar argument %d '%s' cannot be a device buffer",
                        rt_kname(k), i, k->args[i].name);
      if (!m->dev->ops->buffer_new)
        return rt_error(TM_ERR_INVALID, err,
                        "kernel '%s': argument %d '%s' is a device buffer, but the %s device "
                        "takes host memory only",
                        rt_kname(k), i, k->args[i].name, m->dev->ops->name);
      if (args[i].before > dev[i].offset)
        return rt_error(TM_ERR_INVALID, err,
                        "kernel '%s': argument %d '%s' reaches %zu bytes before its offset %zu "
                        "in its Metal buffer",
                        rt_kname(k), i, k->args[i].name, args[i].before, dev[i].offset);
      *any_dev = 1;
      continue; /* the device checks the handle and the extent */
    }
    tm_status st = check_arg(k, i, &args[i], err);
    if (st) return st;
  }
  return TM_OK;
}

tm_status tm_launch_ex(tm_module *m, const uint32_t grid[3], const tm_launch_arg *args,
                       const tm_device_arg *dev, int nargs, char **err) {
  if (err) *err = NULL;
  int any_dev;
  tm_status st = check_launch(m, grid, args, dev, nargs, &any_dev, err);
  if (st) return st;
  if (grid[0] == 0 || grid[1] == 0 || grid[2] == 0) return TM_OK;
  return m->dev->ops->launch(m, grid, args, any_dev ? dev : NULL, err);
}

tm_status tm_launch(tm_module *m, const uint32_t grid[3], const tm_launch_arg *args, int nargs,
                    char **err) {
  return tm_launch_ex(m, grid, args, NULL, nargs, err);
}

tm_status tm_launch_timed(tm_module *m, const uint32_t grid[3], const tm_launch_arg *args,
                          const tm_device_arg *dev, int nargs, tm_launch_times *times,
                          char **err) {
  if (err) *err = NULL;
  tm_launch_times t = {TM_TIME_NONE, 0, 0};
  int any_dev;
  tm_status st = check_launch(m, grid, args, dev, nargs, &any_dev, err);
  if (!st && grid[0] && grid[1] && grid[2]) {
    const DeviceOps *ops = m->dev->ops;
    if (ops->launch_timed) {
      st = ops->launch_timed(m, grid, args, any_dev ? dev : NULL, &t, err);
    } else { /* a synchronous kind: done when launch returns */
      t.source = TM_TIME_HOST;
      t.start_ns = rt_mono_ns();
      st = ops->launch(m, grid, args, any_dev ? dev : NULL, err);
      t.end_ns = rt_mono_ns();
    }
  }
  if (times) *times = st ? (tm_launch_times){TM_TIME_NONE, 0, 0} : t;
  return st;
}

/* cpu_exec.c's fiber table size: the emulator's most threads per threadgroup. */
enum { CPU_MAX_THREADS = 1024, SIMD_WIDTH = 32 };

tm_status tm_module_get_info(const tm_module *m, tm_module_info *out, char **err) {
  if (err) *err = NULL;
  if (!m || !out) return rt_error(TM_ERR_INVALID, err, "tm_module_get_info: NULL argument");
  *out = (tm_module_info){CPU_MAX_THREADS, SIMD_WIDTH, m->info.threadgroup_mem_bytes};
  if (m->dev->ops->module_info) m->dev->ops->module_info(m, out);
  return TM_OK;
}
