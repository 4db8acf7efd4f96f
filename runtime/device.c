/*
 * device.c: the table of device kinds and tm_device_open's choice among them.
 *
 * A kind plugs in as a DeviceOps row. tm_device_open(NULL) reads
 * TRITON_METAL_DEVICE, else takes the first available kind in table order
 * (metal first, so a Mac gets the GPU; on Linux the first available is cpu;
 * metal-sim and cuda, the GPU proxy, are chosen only by name). A kind's
 * availability is asked only when it is named, reached in that order, or
 * listed in an error: asking cuda's loads and initializes the CUDA driver.
 * A device is reference counted: each live module holds
 * a reference, so modules may be freed after tm_device_close.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

static const DeviceOps *const kinds[] = {&rt_metal_ops, &rt_cpu_ops, &rt_metal_sim_ops, &rt_cuda_ops};
enum { NKINDS = sizeof kinds / sizeof kinds[0] };

static int available(const DeviceOps *k) { return k->unavailable == NULL || !k->unavailable(); }

static void list_available(char *buf, size_t cap) {
  buf[0] = 0;
  for (int i = 0; i < NKINDS; i++) {
    if (!available(kinds[i])) continue;
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", kinds[i]->name);
  }
}

static tm_status find_kind(const char *name, const DeviceOps **out, char **err) {
  char avail[128];
  for (int i = 0; i < NKINDS; i++) {
    if (strcmp(kinds[i]->name, name)) continue;
    if (!available(kinds[i])) {
      list_available(avail, sizeof avail);
      return rt_error(TM_ERR_DEVICE, err, "device '%s': %s; available devices: %s", name,
                      kinds[i]->unavailable(), avail);
    }
    *out = kinds[i];
    return TM_OK;
  }
  list_available(avail, sizeof avail);
  return rt_error(TM_ERR_DEVICE, err, "unknown device '%s'; available devices: %s", name,
                  avail);
}

tm_status tm_device_open(const char *name, tm_device **out, char **err) {
  if (err) *err = NULL;
  if (!out) return rt_error(TM_ERR_INVALID, err, "tm_device_open: out is NULL");
  *out = NULL;
  if (!name || !*name) name = getenv("TRITON_METAL_DEVICE");
  const DeviceOps *kind = NULL;
  if (name && *name) {
    tm_status st = find_kind(name, &kind, err);
    if (st) return st;
  } else {
    for (int i = 0; i < NKINDS && !kind; i++)
      if (available(kinds[i])) kind = kinds[i];
    if (!kind) return rt_error(TM_ERR_DEVICE, err, "no device is available");
  }
  tm_device *d = calloc(1, sizeof *d);
  if (!d) return rt_error(TM_ERR_NOMEM, err, "out of memory");
  d->ops = kind;
  d->refs = 1;
  pthread_mutex_init(&d->vis_mu, NULL);
  tm_status st = kind->open(d, err);
  if (st) {
    pthread_mutex_destroy(&d->vis_mu);
    free(d->description);
    free(d);
    return st;
  }
  *out = d;
  return TM_OK;
}

const char *tm_device_name(const tm_device *d) { return d ? d->ops->name : NULL; }
const char *tm_device_description(const tm_device *d) {
  return d ? (d->description ? d->description : d->ops->name) : NULL;
}

void rt_device_ref(tm_device *d) { __atomic_add_fetch(&d->refs, 1, __ATOMIC_RELAXED); }

void rt_device_unref(tm_device *d) {
  if (__atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL)) return;
  while (d->visible) tm_visible_remove(d, d->visible); /* registrations left behind */
  d->ops->close(d);
  pthread_mutex_destroy(&d->vis_mu);
  free(d->description);
  free(d);
}

void tm_device_close(tm_device *d) {
  if (d) rt_device_unref(d);
}

tm_status tm_device_synchronize(tm_device *d, char **err) {
  if (err) *err = NULL;
  if (!d) return rt_error(TM_ERR_INVALID, err, "tm_device_synchronize: NULL device");
  return d->ops->synchronize ? d->ops->synchronize(d, err) : TM_OK;
}

uint64_t tm_device_tier_mark(tm_device *d) {
  return d && d->ops->tier_mark ? d->ops->tier_mark(d) : 0;
}

tm_status tm_device_tier_settle(tm_device *d, uint64_t mark, char **err) {
  if (err) *err = NULL;
  if (!d) return rt_error(TM_ERR_INVALID, err, "tm_device_tier_settle: NULL device");
  return d->ops->tier_settle ? d->ops->tier_settle(d, mark, err) : TM_OK;
}

tm_status tm_buffer_new(tm_device *d, size_t nbytes, void **buf, void **contents, char **err) {
  if (err) *err = NULL;
  if (!d || !buf || !contents) return rt_error(TM_ERR_INVALID, err, "tm_buffer_new: NULL argument");
  *buf = *contents = NULL;
  if (!d->ops->buffer_new)
    return rt_error(TM_ERR_INVALID, err, "the %s device has no device buffers (it takes host memory)",
                    d->ops->name);
  return d->ops->buffer_new(d, nbytes, buf, contents, err);
}

void tm_buffer_free(tm_device *d, void *buf) {
  if (d && buf && d->ops->buffer_free) d->ops->buffer_free(d, buf);
}

tm_status tm_device_get_stats(tm_device *d, tm_device_stats *out, char **err) {
  if (err) *err = NULL;
  if (!d || !out) return rt_error(TM_ERR_INVALID, err, "tm_device_get_stats: NULL argument");
  memset(out, 0, sizeof *out);
  if (d->ops->stats) d->ops->stats(d, out);
  return TM_OK;
}
