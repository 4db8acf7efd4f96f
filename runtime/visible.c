/*
 * visible.c: kernel-visible memory (tm_visible_add / tm_visible_remove).
 *
 * A kernel can turn a value it loaded into a pointer (`tl.load(table +
 * i).to(tl.pointer_type(tl.float16))`) and dereference it. What such a pointer
 * may reach is defined here, the same for every device kind:
 *
 *   the allocations of the launch's BUFFER arguments  (tm_launch_arg.before /
 *                                                       nbytes around data)
 *   + the memory registered on the device             (this file's list)
 *
 * The cpu device appends the registered ranges to the buffer table its checked
 * accesses use (cpu.c); the metal devices make each registered buffer resident
 * with useResource for every dispatch, and metal-sim checks accesses against
 * the bound and resident buffers (metal.c, mtl_sim.c). A registration keeps no
 * reference to the caller's memory: the caller keeps it alive until it removes
 * the registration (the Python layer holds the registered objects).
 */
#include <stdlib.h>
#include <string.h>

#include "rt.h"

tm_status tm_visible_add(tm_device *d, const tm_launch_arg *mem, const tm_device_arg *dev,
                         tm_visible **out, uint64_t *address, char **err) {
  if (err) *err = NULL;
  if (!d || !mem || !out) return rt_error(TM_ERR_INVALID, err, "tm_visible_add: NULL argument");
  *out = NULL;
  int on_device = dev && dev->buffer;
  if (on_device && !d->ops->buffer_new)
    return rt_error(TM_ERR_INVALID, err,
                    "kernel-visible memory: a device buffer, but the %s device takes host "
                    "memory only",
                    d->ops->name);
  uintptr_t p = (uintptr_t)mem->data;
  if (on_device) {
    if (mem->before > dev->offset)
      return rt_error(TM_ERR_INVALID, err,
                      "kernel-visible memory reaches %zu bytes before its offset %zu in its "
                      "Metal buffer",
                      mem->before, dev->offset);
  } else {
    if (!mem->data || mem->before + mem->nbytes == 0)
      return rt_error(TM_ERR_INVALID, err, "kernel-visible memory: NULL or empty (%zu bytes)",
                      mem->before + mem->nbytes);
    if (mem->before > p || mem->nbytes > UINTPTR_MAX - p)
      return rt_error(TM_ERR_INVALID, err,
                      "kernel-visible memory (%zu bytes before and %zu from %p) wraps around "
                      "the address space",
                      mem->before, mem->nbytes, mem->data);
  }
  tm_visible *v = calloc(1, sizeof *v);
  if (!v) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  v->readonly = mem->readonly != 0;
  if (on_device) {
    v->buffer = dev->buffer;
    v->offset = dev->offset - mem->before;
    v->size = mem->nbytes ? mem->before + mem->nbytes : 0; /* 0: to the buffer's end */
  } else {
    v->lo = p - mem->before;
    v->size = mem->before + mem->nbytes;
    v->address = v->lo;
  }
  if (d->ops->visible_add) {
    tm_status st = d->ops->visible_add(d, v, err);
    if (st) {
      free(v);
      return st;
    }
  }
  if (address) *address = v->address + mem->before;
  pthread_mutex_lock(&d->vis_mu);
  v->next = d->visible;
  d->visible = v;
  pthread_mutex_unlock(&d->vis_mu);
  *out = v;
  return TM_OK;
}

void tm_visible_remove(tm_device *d, tm_visible *v) {
  if (!d || !v) return;
  pthread_mutex_lock(&d->vis_mu);
  tm_visible **l = &d->visible;
  while (*l && *l != v) l = &(*l)->next;
  int found = *l != NULL;
  if (found) *l = v->next;
  pthread_mutex_unlock(&d->vis_mu);
  if (!found) return; /* not this device's: never free what we do not own */
  if (d->ops->visible_remove) d->ops->visible_remove(d, v);
  free(v);
}

int rt_visible_snapshot(tm_device *d, tm_visible **out, int *n) {
  *out = NULL;
  *n = 0;
  pthread_mutex_lock(&d->vis_mu);
  int count = 0;
  for (tm_visible *v = d->visible; v; v = v->next) count++;
  tm_visible *a = count ? malloc((size_t)count * sizeof *a) : NULL;
  if (count && !a) {
    pthread_mutex_unlock(&d->vis_mu);
    return -1;
  }
  int i = 0;
  for (tm_visible *v = d->visible; v; v = v->next) a[i++] = *v;
  pthread_mutex_unlock(&d->vis_mu);
  *out = a;
  *n = count;
  return 0;
}
