/* test_msl_lint.c: runtime/cpu/msl_lint.c, the emulator's check of what Metal
 * rejects but C++ accepts, and its spelling of threadgroup variables. Each case
 * is MSL text with the error it must give (file:line:col and message) or none,
 * and for accepted text what is compiled. The probes in tests/shim/probes run
 * the same lint end to end (with the shim's compile after it). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "rt.h"
#include "test_emu.h"

/* The lint's output for msl at version v: its errors, or "OK:" + the text. */
static char *lint(const char *msl, int v) {
  char *out = NULL, *err = NULL;
  tm_status st = msl_lint(msl, v, "k.metal", &out, &err);
  char *r = st == TM_OK ? rt_strfmt("OK:%s", out) : rt_strfmt("%d:%s", (int)st, err ? err : "(no message)");
  free(out), free(err);
  return r;
}

static void refused(int line, const char *msl, int v, const char *want) {
  char *r = lint(msl, v);
  if (!strstr(r, want)) fprintf(stderr, "(case at line %d)\n", line);
  CHECK_CONTAINS(r, want);
  CHECK(strncmp(r, "OK:", 3) != 0);
  free(r);
}

static void accepted(int line, const char *msl, int v, const char *want_text) {
  char *r = lint(msl, v);
  if (strncmp(r, "OK:", 3)) fprintf(stderr, "(case at line %d) refused:\n%s\n", line, r);
  CHECK(strncmp(r, "OK:", 3) == 0);
  if (want_text) CHECK_STR(r + 3, want_text);
  free(r);
}

#define REFUSED(msl, want) refused(__LINE__, msl, 310, want)
#define ACCEPTED(msl) accepted(__LINE__, msl, 310, msl)

static void test_keywords(void) {
  REFUSED("kernel void k(device int* x [[buffer(0)]]) {\n  if (x[0]) goto out;\n  x[0] = 1;\nout:\n  x[1] = 2;\n}\n",
          "k.metal:2:13: error: goto is not supported in Metal\n");
  REFUSED("void f() {\n  long long a = 0;\n}\n", "k.metal:2:3: error: long long is not supported in Metal (long is 64-bit)");
  REFUSED("void f() { unsigned long long a = 0; }\n", "long long is not supported in Metal");
  REFUSED("long double g(float x) { return x; }\n", "k.metal:1:1: error: long double is not supported in Metal");
  /* words inside comments, strings and preprocessor lines are not code */
  ACCEPTED("// goto long long static\n/* goto\n long long */\n#define G goto \\\n  long long\n"
           "#if 0\n#endif\nconstant char s[] = \"goto long long\";\nvoid f() { long a = 0; (void)a; }\n");
  /* the line count survives comments, continuations and strings */
  REFUSED("/* one\n two */\n#define A \\\n  b\nvoid f() {\n  goto x;\nx:;\n}\n", "k.metal:6:3: error: goto");
}

static void test_static_and_lambdas(void) {
  REFUSED("float f(float v) {\n  static float last;\n  return last + v;\n}\n",
          "k.metal:2:3: error: static local variables are not supported in Metal");
  REFUSED("void f() { if (1) { static int n = 0; } }\n", "static local variables");
  /* program scope, class scope and static_assert are fine */
  ACCEPTED("static constant float k = 1.0f;\nstruct S { static constexpr int n = 3; };\n"
           "void f() { static_assert(sizeof(int) == 4, \"x\"); }\n");
  REFUSED("void f(device float* x) {\n  auto g = [](float v) { return v; };\n  x[0] = g(x[0]);\n}\n",
          "k.metal:2:12: error: lambda expressions need MSL 3.2; this kernel is built for MSL 3.1");
  REFUSED("void f(device float* x) { auto g = [=] { return x[0]; }; }\n", "lambda expressions need MSL 3.2");
  REFUSED("float f(float v) { return [&](float w) { return w + v; }(v); }\n", "lambda expressions need MSL 3.2");
  char *r = lint("void f() { auto g = [](int v) { return v; }; }\n", 0);
  CHECK_CONTAINS(r, "lambda expressions need MSL 3.2 (the target's MSL version is unknown)");
  free(r);
  const char *lam = "void f(device float* x) { auto g = [](float v) { return v; }; x[0] = g(1.0f); }\n";
  accepted(__LINE__, lam, 320, lam);
  accepted(__LINE__, lam, 400, lam);
  /* subscripts and attributes are not lambdas */
  ACCEPTED("kernel void k(device float* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {\n"
           "  float a[4] = {0, 1, 2, 3};\n  [[maybe_unused]] int u = 0;\n"
           "  x[i] = a[i % 4u] + (x)[0] + x[a[0] > 1 ? 1 : 0];\n}\n");
}

static void test_calls(void) {
  REFUSED("uint fact(uint n) {\n  return n <= 1u ? 1u : n * fact(n - 1u);\n}\n",
          "k.metal:2:29: error: recursion is not supported in Metal: 'fact' calls 'fact'");
  REFUSED("bool odd(uint n);\nbool even(uint n) { return n == 0u || odd(n - 1u); }\n"
          "bool odd(uint n) { return n != 0u && even(n - 1u); }\n",
          "recursion is not supported in Metal: 'odd' calls 'even', which calls back");
  REFUSED("void a(int n);\nvoid b(int n) { a(n); }\nvoid c(int n) { b(n); }\nvoid a(int n) { if (n) c(n - 1); }\n",
          "recursion is not supported in Metal");
  /* an overload forwarding to another, member calls, calls of undefined names */
  ACCEPTED("uint twice(uint v) { return 2u * v; }\nint twice(int v) { return int(twice(uint(v))); }\n"
           "struct S { int f(int v) { return v; } };\nint g(S s) { return s.f(1) + max(1, 2); }\n");
  REFUSED("float twice(float v) { return 2.0f * v; }\nvoid f() {\n  float (*p)(float) = twice;\n}\n",
          "k.metal:3:9: error: function pointers are not supported in Metal");
  REFUSED("typedef void (*cb)(int);\n", "function pointers are not supported in Metal");
  REFUSED("using cb = int (*)(int);\n", "function pointers are not supported in Metal");
  REFUSED("void g(int (&f)(int));\n", "function pointers are not supported in Metal");
  REFUSED("int one(int v) { return v; }\ntemplate <class F> int ap(F f) { return f(1); }\n"
          "int two() { return ap(&one); }\n", "k.metal:3:24: error: function pointers are not supported in Metal ('&one')");
  /* &x of a variable, a & b, &f(x), casts and dereferences are fine */
  ACCEPTED("int one(int v) { return v; }\nint two(device int* p, int one_) {\n"
           "  int b = 3, *q = &b;\n  int c = one_ & one(b);\n  (void)q;\n  return (*p) + *(&b) + (int)(*q) + c + one(*p);\n}\n");
}

static void test_kernel_arguments(void) {
  REFUSED("kernel void k(device float* x [[buffer(0)]], constant size_t& n [[buffer(1)]]) {}\n",
          "k.metal:1:55: error: kernel argument 'n' is of type size_t: Metal does not allow size_t or ptrdiff_t");
  REFUSED("kernel void k(constant ptrdiff_t& n [[buffer(0)]]) {}\n", "kernel argument 'n' is of type ptrdiff_t");
  REFUSED("kernel void k(float* x [[buffer(0)]]) {}\n",
          "k.metal:1:22: error: kernel argument 'x' is a pointer or reference without an address space");
  REFUSED("[[kernel]] void k(thread float* x [[buffer(0)]]) {}\n", "kernel argument 'x' is a pointer or reference");
  REFUSED("kernel void k(const int& n [[buffer(0)]]) {}\n", "kernel argument 'n' is a pointer or reference");
  /* what the compiler emits, and size_t / plain pointers in helpers */
  ACCEPTED("kernel void k(\n    device const half* a [[buffer(0)]],\n    device half* c [[buffer(1)]],\n"
           "    constant int& K [[buffer(2)]],\n    device atomic_int* n [[buffer(3)]],\n"
           "    threadgroup float* t [[threadgroup(0)]],\n    uint3 tm_pid [[threadgroup_position_in_grid]],\n"
           "    uint tm_tid [[thread_index_in_threadgroup]])\n{\n}\n"
           "void h(float* p, size_t n) { p[n] = 0; }\n");
}

static void test_threadgroup(void) {
  REFUSED("float h(float v, uint i) {\n  threadgroup float tile[32];\n  return tile[i];\n}\n",
          "k.metal:2:3: error: threadgroup variable 'tile' in function 'h', which is not a kernel");
  REFUSED("kernel void k(device float* x [[buffer(0)]]) {\n  threadgroup float c = 0.0f;\n}\n",
          "k.metal:2:3: error: threadgroup variable 'c' has an initializer");
  REFUSED("kernel void k() { threadgroup float t[2] = {1, 2}; }\n", "threadgroup variable 't' has an initializer");
  REFUSED("kernel void k() { threadgroup int t{0}; }\n", "threadgroup variable 't' has an initializer");
  REFUSED("threadgroup float t[32];\n", "k.metal:1:1: error: threadgroup variable 't' at program scope");
  /* kernel-scope variables get static storage in threadgroup space; pointers,
   * references, casts and template arguments stay as they are */
  accepted(__LINE__,
           "kernel void k(device float* x [[buffer(0)]]) {\n"
           "  threadgroup float a[32], b;\n"
           "  threadgroup __attribute__((aligned(16))) half h[8][4];\n"
           "  threadgroup atomic_int n;\n"
           "  threadgroup float *p = a;\n"
           "  threadgroup float &r = b;\n"
           "  auto q = (threadgroup float *)p;\n"
           "  auto t = metal::tensor<threadgroup half, metal::dextents<int, 2>, metal::tensor_inline>(&h[0][0], metal::dextents<int, 2>(4, 8));\n"
           "  for (int i = 0; i < 2; i++) { threadgroup uint c[2]; c[i] = 0; }\n"
           "}\n"
           "void f(threadgroup float *p, threadgroup const float &v) { p[0] = v; }\n"
           "#define TM_TG_BASE(bytes) threadgroup float4 tm_smem_base[((bytes) + 15) / 16]\n",
           310,
           "kernel void k(device float* x [[buffer(0)]]) {\n"
           "  tm_threadgroup_var threadgroup float a[32] = {}, b = {};\n"
           "  tm_threadgroup_var threadgroup __attribute__((aligned(16))) half h[8][4] = {};\n"
           "  tm_threadgroup_var threadgroup atomic_int n = {};\n"
           "  threadgroup float *p = a;\n"
           "  threadgroup float &r = b;\n"
           "  auto q = (threadgroup float *)p;\n"
           "  auto t = metal::tensor<threadgroup half, metal::dextents<int, 2>, metal::tensor_inline>(&h[0][0], metal::dextents<int, 2>(4, 8));\n"
           "  for (int i = 0; i < 2; i++) { tm_threadgroup_var threadgroup uint c[2] = {}; c[i] = 0; }\n"
           "}\n"
           "void f(threadgroup float *p, threadgroup const float &v) { p[0] = v; }\n"
           "#define TM_TG_BASE(bytes) threadgroup float4 tm_smem_base[((bytes) + 15) / 16]\n");
}

static void test_many_errors(void) {
  char src[4096] = "void f() {\n";
  for (int i = 0; i < 30; i++) strcat(src, "  goto x;\n");
  strcat(src, "x:;\n}\n");
  char *r = lint(src, 310);
  int n = 0;
  for (const char *p = r; (p = strstr(p, "error: goto")); p++) n++;
  CHECK(n == 20);
  CHECK_CONTAINS(r, "k.metal:21:3: error: goto");
  CHECK_CONTAINS(r, "(more errors not shown)");
  free(r);
}

/* Through the cpu device: the lint's errors read as a failed compile's (the
 * source kept, each line naming it); a hand-written kernel with threadgroup
 * variables (an atomic among them: class types live in threadgroup space by
 * the rewrite's `= {}`) builds and runs. */
static void test_device(void) {
  emu_fresh_cache();
  tm_device *d = emu_open();
  static const tm_kernel_arg args[] = {{"out", 0, TM_ARG_BUFFER, TM_I32, 1}};
  tm_kernel_info k = {.name = "k", .source_file = "k.py", .nargs = 1, .args = args, .nbuiltins = 1,
                      .builtins = {TM_BI_THREAD_INDEX}, .threads_per_threadgroup = 64, .uses_barriers = 1};
  tm_module *m = NULL;
  char *err = NULL;
  const char *bad = "#include <metal_stdlib>\nusing namespace metal;\n"
                    "kernel void k(device int* out [[buffer(0)]], uint tid [[thread_index_in_threadgroup]]) {\n"
                    "  if (tid) goto end;\n  out[0] = 1;\nend:;\n}\n";
  CHECK(tm_module_load(d, bad, &k, &m, &err) == TM_ERR_DEVICE && !m);
  CHECK_CONTAINS(err, "C++ compile of kernel 'k' failed (the emulator's MSL lint: Metal rejects this); source kept at ");
  const char *at = err ? strstr(err, "source kept at ") : NULL;
  char path[512] = "";
  if (at) sscanf(at + strlen("source kept at "), "%511s", path);
  CHECK(*path && access(path, R_OK) == 0);
  char *want = rt_strfmt("%s:4:12: error: goto is not supported in Metal", path);
  CHECK_CONTAINS(err, want);
  free(want);
  tm_free(err), err = NULL;
  const char *good = "#include <metal_stdlib>\nusing namespace metal;\n"
                     "void bump(threadgroup atomic_int *c) { atomic_fetch_add_explicit(c, 1, memory_order_relaxed); }\n"
                     "kernel void k(device int* out [[buffer(0)]], uint tid [[thread_index_in_threadgroup]]) {\n"
                     "  threadgroup atomic_int count;\n  threadgroup int seen[64], last;\n"
                     "  if (tid == 0) atomic_store_explicit(&count, 0, memory_order_relaxed);\n"
                     "  threadgroup_barrier(mem_flags::mem_threadgroup);\n"
                     "  bump(&count);\n  seen[tid] = int(tid);\n  if (tid == 63) last = 7;\n"
                     "  threadgroup_barrier(mem_flags::mem_threadgroup);\n"
                     "  out[tid] = atomic_load_explicit(&count, memory_order_relaxed) * 100 + seen[63 - tid] + last;\n}\n";
  CHECK(tm_module_load(d, good, &k, &m, &err) == TM_OK);
  if (err) fprintf(stderr, "%s\n", err);
  tm_free(err);
  if (m) {
    int out[64] = {0};
    tm_launch_arg a[] = {emu_buf(out, sizeof out)};
    uint32_t grid[3] = {1, 1, 1};
    CHECK(tm_launch(m, grid, a, 1, NULL) == TM_OK);
    int ok = 1;
    for (int t = 0; t < 64; t++) ok &= out[t] == 6400 + 63 - t + 7;
    CHECK(ok);
    tm_module_free(m);
  }
  tm_device_close(d);
  emu_rm_cache();
}

int main(void) {
  test_keywords();
  test_static_and_lambdas();
  test_calls();
  test_kernel_arguments();
  test_threadgroup();
  test_many_errors();
  test_device();
  return check_report("test_msl_lint");
}
