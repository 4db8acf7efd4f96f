/* test_pool.c: the metal devices' buffer pool over metal-sim's buffers: size
 * classes, reuse, accounting, the working-set limit, trimming. */
#include "mtl.h"
#include "test_emu.h"

static void test_classes(BufPool *p) {
  CHECK(bufpool_class(p, 0) == 16384);
  CHECK(bufpool_class(p, 1) == 16384);
  CHECK(bufpool_class(p, 16385) == 32768);
  CHECK(bufpool_class(p, 4 * 16384) == 4 * 16384);
  CHECK(bufpool_class(p, 4 * 16384 + 1) == 5 * 16384);   /* 2^16 / 4 steps */
  CHECK(bufpool_class(p, 1000000) == 1048576); /* 2^19 / 4 = 131072 steps */
  for (size_t n = 1; n < (1u << 24); n = n * 3 + 7) {
    size_t c = bufpool_class(p, n);
    CHECK(c >= n && c <= n + n / 4 + 16384); /* at most 25% (or a page) wasted */
  }
}

static void test_reuse_and_accounting(BufPool *p) {
  char *err = NULL;
  void *a, *b, *c;
  CHECK(bufpool_get(p, 100, &a, &err) == TM_OK);
  CHECK(bufpool_get(p, 20000, &b, &err) == TM_OK);
  CHECK(p->created == 2 && p->reused == 0);
  CHECK(p->in_use == 16384 + 32768 && p->cached == 0);
  CHECK(bufpool_put(p, a) == 1);
  CHECK(bufpool_put(p, a) == 0); /* not handed out any more */
  CHECK(p->in_use == 32768 && p->cached == 16384);
  CHECK(bufpool_get(p, 5000, &c, &err) == TM_OK); /* same class: reused */
  CHECK(c == a && p->reused == 1 && p->created == 2);
  CHECK(p->in_use == 16384 + 32768 && p->cached == 0);
  CHECK(p->peak == 16384 + 32768);
  bufpool_put(p, b);
  bufpool_put(p, c);
  CHECK(p->in_use == 0 && p->cached == 49152);
  bufpool_trim(p);
  CHECK(p->cached == 0 && !p->free_list);
}

static void test_limit(const MtlApi *api, void *dev) {
  BufPool p;
  char *err = NULL;
  bufpool_init(&p, api, dev, 16384, 4 * 16384); /* a 64 KB working set */
  void *a, *b, *c;
  CHECK(bufpool_get(&p, 2 * 16384, &a, &err) == TM_OK);
  CHECK(bufpool_get(&p, 16384, &b, &err) == TM_OK);
  CHECK(bufpool_get(&p, 2 * 16384, &c, &err) == TM_ERR_NOMEM);
  CHECK_CONTAINS(err, "would pass the device's working-set limit (recommendedMaxWorkingSetSize "
                      "65536 bytes, 49152 in use)");
  tm_free(err);
  err = NULL;
  /* cached buffers are released to make room */
  CHECK(bufpool_put(&p, a) == 1);
  CHECK(p.cached == 0); /* over cache_cap (limit / 4): released at once */
  CHECK(bufpool_get(&p, 3 * 16384, &c, &err) == TM_OK);
  CHECK(p.in_use == 4 * 16384);
  bufpool_put(&p, b);
  CHECK(p.cached == 16384); /* within the cap: kept */
  void *d;
  CHECK(bufpool_get(&p, 16384, &d, &err) == TM_OK && d == b);
  bufpool_destroy(&p);
  CHECK(p.in_use == 0 && p.cached == 0);
}

/* Through the device: tm_buffer_new / tm_buffer_free and the counters. */
static void test_device(void) {
  setenv("TRITON_METAL_SIM_WORKING_SET", "1048576", 1);
  tm_device *d = NULL;
  char *err = NULL;
  CHECK(tm_device_open("metal-sim", &d, &err) == TM_OK);
  unsetenv("TRITON_METAL_SIM_WORKING_SET");
  void *buf, *contents, *big;
  CHECK(tm_buffer_new(d, 1000, &buf, &contents, &err) == TM_OK && contents);
  CHECK(tm_buffer_new(d, 2 << 20, &big, &contents, &err) == TM_ERR_NOMEM);
  CHECK_CONTAINS(err, "working-set limit");
  tm_free(err);
  tm_buffer_free(d, buf);
  CHECK(tm_buffer_new(d, 2000, &buf, &contents, &err) == TM_OK);
  tm_device_stats s;
  CHECK(tm_device_get_stats(d, &s, &err) == TM_OK);
  CHECK(s.buffers_created == 1 && s.buffers_reused == 1);
  CHECK(s.bytes_in_use == 16384 && s.bytes_cached == 0 && s.bytes_limit == 1048576);
  tm_buffer_free(d, buf);
  tm_device_close(d);
  /* the cpu device has no device buffers */
  CHECK(tm_device_open("cpu", &d, &err) == TM_OK);
  CHECK(tm_buffer_new(d, 16, &buf, &contents, &err) == TM_ERR_INVALID);
  CHECK_CONTAINS(err, "the cpu device has no device buffers");
  tm_free(err);
  CHECK(tm_device_get_stats(d, &s, &err) == TM_OK && s.buffers_created == 0);
  tm_device_close(d);
}

int main(void) {
  emu_fresh_cache();
  char *err = NULL;
  void *dev;
  MtlDeviceProps props;
  if (mtl_sim_api.device_open(NULL, &dev, &props, &err)) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  CHECK(props.page_size == 16384 && props.unified_memory && props.working_set > 0);
  BufPool p;
  bufpool_init(&p, &mtl_sim_api, dev, props.page_size, props.working_set);
  test_classes(&p);
  test_reuse_and_accounting(&p);
  bufpool_destroy(&p);
  test_limit(&mtl_sim_api, dev);
  mtl_sim_api.device_close(dev);
  test_device();
  emu_rm_cache();
  return check_report("test_pool");
}
