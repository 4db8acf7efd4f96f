// cuda_prelude.cuh: the CUDA dialect's prelude (src/cuda.c embeds it).
//
// The emitter core writes every kernel in one vocabulary, Metal's: scalar and
// vector type names, as_type, SIMD-group functions, threadgroup barriers,
// device atomics, precise:: math, and the TM_* macros. The MSL dialect passes
// that vocabulary to Metal as it is; this header gives it its CUDA meaning, so
// the same tile IR, layouts and emitted statements run on an NVIDIA GPU (the
// GPU proxy: a measuring instrument for our lowering, not a product):
//
//   SIMD-group (32 lanes)        a warp; simd_* through __shfl_*_sync, full mask
//   threadgroup memory           one static __shared__ block (TM_TG_BASE)
//   threadgroup_barrier          __syncthreads
//   device / thread              nothing (one address space: src/cuda.c spells
//                                buffers without it); coherent(device) needs
//                                nothing: in the PTX memory model the device-scope
//                                fences around ordered atomics order plain accesses
//   atomics                      atomicAdd/Max/Min/And/Or/Xor/Exch/CAS (relaxed)
//   TM_FENCE                     fence.acq_rel.gpu: the ordering Triton's atomics
//                                ask for (sem acquire/release/acq_rel; none is
//                                seq_cst), not __threadfence's fence.sc, which
//                                costs far more on a contended lock
//   half / bfloat                __half / __nv_bfloat16, math through float
//   vectors (float4, int2, ...)  aligned structs with Metal's operators
//   precise:: math               CUDA's precise functions (no fast-math flags)
//
// Kernel parameters are pointers and scalars by value, in the descriptor's
// order; the built-in indices are locals from blockIdx/gridDim/threadIdx
// (src/cuda.c). All functions here are device functions: `inline` is defined
// to mean `__device__ inline` after the CUDA headers, so the emitter's helpers
// (plain `inline` functions in Metal's spelling) compile unchanged.
#include <cuda_fp16.h>
#include <cuda_bf16.h>

typedef unsigned char uchar;
typedef unsigned short ushort;
typedef unsigned int uint;
typedef unsigned long ulong;
typedef __half half;
typedef __nv_bfloat16 bfloat;
static_assert(sizeof(long) == 8, "MSL long is 64-bit");
namespace metal {} // the kernel says `using namespace metal;`

#define inline __device__ __forceinline__
#define thread /* Metal's private address space: CUDA's default */
#define TM_TG(T) T

template <class A, class B> struct tm_same { enum { v = 0 }; };
template <class A> struct tm_same<A, A> { enum { v = 1 }; };

// ---------------------------------------------------------------- as_type
template <class T, class U> inline T as_type(const U &u) {
  static_assert(sizeof(T) == sizeof(U), "as_type: the sizes differ");
  T t;
  memcpy((void *)&t, (const void *)&u, sizeof t);
  return t;
}

// ---------------------------------------------------------------- vectors
template <class T, int N> struct tm_vec_base;
template <class T> struct __align__(2 * sizeof(T)) tm_vec_base<T, 2> { T x, y; };
template <class T> struct __align__(4 * sizeof(T)) tm_vec_base<T, 3> { T x, y, z; };
template <class T> struct __align__(4 * sizeof(T)) tm_vec_base<T, 4> { T x, y, z, w; };
template <class T> struct tm_vec_n { enum { n = 1 }; typedef T elem; };
template <class T, int N> struct tm_vec;
template <class T, int N> struct tm_vec_n<tm_vec<T, N>> { enum { n = N }; typedef T elem; };

template <class T, int N> struct tm_vec : tm_vec_base<T, N> {
  inline T &operator[](int i) { return (&this->x)[i]; }
  inline const T &operator[](int i) const { return (&this->x)[i]; }
  inline tm_vec() = default;
  // float4(s): a splat; float4(a, b, c, d), float4(float2, float, float): the
  // parts in order; float4(int4): an elementwise conversion
  template <class A, class... R> inline explicit tm_vec(const A &a, const R &...r) {
    if constexpr (sizeof...(R) == 0 && tm_vec_n<A>::n == 1) {
      for (int k = 0; k < N; k++) (*this)[k] = T(a);
    } else {
      int i = 0;
      put(i, a);
      (put(i, r), ...);
    }
  }
  template <class S> inline void put(int &i, const S &s) {
    if constexpr (tm_vec_n<S>::n == 1) (*this)[i++] = T(s);
    else
      for (int k = 0; k < tm_vec_n<S>::n; k++) (*this)[i++] = T(s[k]);
  }
};

#define TM_VBIN(OP)                                                                     \
  template <class T, int N> inline tm_vec<T, N> operator OP(tm_vec<T, N> a, const tm_vec<T, N> &b) { \
    for (int i = 0; i < N; i++) a[i] = a[i] OP b[i];                                     \
    return a;                                                                            \
  }                                                                                      \
  template <class T, int N, class S> inline tm_vec<T, N> operator OP(tm_vec<T, N> a, const S &b) { \
    for (int i = 0; i < N; i++) a[i] = a[i] OP T(b);                                     \
    return a;                                                                            \
  }                                                                                      \
  template <class T, int N, class S> inline tm_vec<T, N> operator OP(const S &a, tm_vec<T, N> b) { \
    for (int i = 0; i < N; i++) b[i] = T(a) OP b[i];                                     \
    return b;                                                                            \
  }                                                                                      \
  template <class T, int N, class S> inline tm_vec<T, N> &operator OP##=(tm_vec<T, N> &a, const S &b) { \
    return a = a OP b;                                                                   \
  }
TM_VBIN(+) TM_VBIN(-) TM_VBIN(*) TM_VBIN(/) TM_VBIN(%) TM_VBIN(&) TM_VBIN(|) TM_VBIN(^)
TM_VBIN(<<) TM_VBIN(>>)
#undef TM_VBIN
#define TM_VCMP(OP)                                                                     \
  template <class T, int N> inline tm_vec<bool, N> operator OP(const tm_vec<T, N> &a, const tm_vec<T, N> &b) { \
    tm_vec<bool, N> r;                                                                   \
    for (int i = 0; i < N; i++) r[i] = a[i] OP b[i];                                     \
    return r;                                                                            \
  }
TM_VCMP(<) TM_VCMP(<=) TM_VCMP(>) TM_VCMP(>=) TM_VCMP(==) TM_VCMP(!=)
#undef TM_VCMP
template <class T, int N> inline tm_vec<T, N> operator-(tm_vec<T, N> a) {
  for (int i = 0; i < N; i++) a[i] = -a[i];
  return a;
}

#define TM_VEC3(T, NAME)                                                        \
  typedef tm_vec<T, 2> tm_##NAME##2;                                            \
  typedef tm_vec<T, 3> tm_##NAME##3;                                            \
  typedef tm_vec<T, 4> tm_##NAME##4;
TM_VEC3(float, float) TM_VEC3(half, half) TM_VEC3(bfloat, bfloat) TM_VEC3(int, int)
TM_VEC3(uint, uint) TM_VEC3(short, short) TM_VEC3(ushort, ushort) TM_VEC3(char, char)
TM_VEC3(uchar, uchar) TM_VEC3(long, long) TM_VEC3(ulong, ulong) TM_VEC3(bool, bool)
#undef TM_VEC3
// Metal's names for these types (CUDA's own float4 & co. have no operators)
#define float2 tm_float2
#define float3 tm_float3
#define float4 tm_float4
#define half2 tm_half2
#define half3 tm_half3
#define half4 tm_half4
#define bfloat2 tm_bfloat2
#define bfloat3 tm_bfloat3
#define bfloat4 tm_bfloat4
#define int2 tm_int2
#define int3 tm_int3
#define int4 tm_int4
#define uint2 tm_uint2
#define uint3 tm_uint3
#define uint4 tm_uint4
#define short2 tm_short2
#define short3 tm_short3
#define short4 tm_short4
#define ushort2 tm_ushort2
#define ushort3 tm_ushort3
#define ushort4 tm_ushort4
#define char2 tm_char2
#define char3 tm_char3
#define char4 tm_char4
#define uchar2 tm_uchar2
#define uchar3 tm_uchar3
#define uchar4 tm_uchar4
#define long2 tm_long2
#define long3 tm_long3
#define long4 tm_long4
#define ulong2 tm_ulong2
#define ulong3 tm_ulong3
#define ulong4 tm_ulong4
#define bool2 tm_bool2
#define bool3 tm_bool3
#define bool4 tm_bool4

// ---------------------------------------------------------------- math
// Metal's math: CUDA's float functions (its global overloads exp(float) &c.
// are the precise ones); half and bfloat through float, rounded once;
// vectors elementwise. precise:: and fast:: are the same functions (the
// compiler asks for no fast math).
namespace tm_math {
inline float fract(float x) { return x - floorf(x); }
inline float sign(float x) { return x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x; }
inline float divide(float x, float y) { return x / y; }
inline float powr(float x, float y) { return powf(x, y); }
inline float tanpi(float x) { return tanf(3.14159265358979f * x); }
} // namespace tm_math
inline float fract(float x) { return tm_math::fract(x); }
inline float sign(float x) { return tm_math::sign(x); }
inline float divide(float x, float y) { return tm_math::divide(x, y); }
inline float powr(float x, float y) { return tm_math::powr(x, y); }
inline float tanpi(float x) { return tm_math::tanpi(x); }

#define TM_MATH1_LOW(NAME, F)                                                   \
  inline half NAME(half x) { return half(F(float(x))); }                        \
  inline bfloat NAME(bfloat x) { return bfloat(F(float(x))); }                  \
  template <class T, int N> inline tm_vec<T, N> NAME(tm_vec<T, N> x) {          \
    for (int i = 0; i < N; i++) x[i] = NAME(x[i]);                              \
    return x;                                                                   \
  }
#define TM_MATH2_LOW(NAME, F)                                                   \
  inline half NAME(half x, half y) { return half(F(float(x), float(y))); }      \
  inline bfloat NAME(bfloat x, bfloat y) { return bfloat(F(float(x), float(y))); } \
  template <class T, int N> inline tm_vec<T, N> NAME(tm_vec<T, N> x, const tm_vec<T, N> &y) { \
    for (int i = 0; i < N; i++) x[i] = NAME(x[i], y[i]);                        \
    return x;                                                                   \
  }
#define TM_MATH1(NAME, F) inline float NAME(float x) { return F(x); } TM_MATH1_LOW(NAME, F)
#define TM_MATH2(NAME, F) inline float NAME(float x, float y) { return F(x, y); } TM_MATH2_LOW(NAME, F)
#define TM_MATH_ALL(M1, M2)                                                     \
  M1(exp, expf) M1(exp2, exp2f) M1(exp10, exp10f) M1(log, logf) M1(log2, log2f) \
  M1(log10, log10f) M1(sin, sinf) M1(cos, cosf) M1(tan, tanf) M1(asin, asinf)   \
  M1(acos, acosf) M1(atan, atanf) M1(sinh, sinhf) M1(cosh, coshf)               \
  M1(tanh, tanhf) M1(asinh, asinhf) M1(acosh, acoshf) M1(atanh, atanhf)         \
  M1(sqrt, sqrtf) M1(rsqrt, rsqrtf) M1(fabs, fabsf) M1(floor, floorf)           \
  M1(ceil, ceilf) M1(trunc, truncf) M1(round, roundf) M1(rint, rintf)           \
  M1(fract, tm_math::fract) M1(sign, tm_math::sign) M1(sinpi, sinpif)           \
  M1(cospi, cospif) M1(tanpi, tm_math::tanpi) M2(pow, powf)                     \
  M2(powr, tm_math::powr) M2(atan2, atan2f) M2(fmin, fminf) M2(fmax, fmaxf)     \
  M2(copysign, copysignf) M2(fmod, fmodf) M2(divide, tm_math::divide)           \
  M2(fdim, fdimf) M2(nextafter, nextafterf)
TM_MATH_ALL(TM_MATH1_LOW, TM_MATH2_LOW)
namespace precise { TM_MATH_ALL(TM_MATH1, TM_MATH2) }
namespace fast { TM_MATH_ALL(TM_MATH1, TM_MATH2) }

inline half fma(half a, half b, half c) { return half(fmaf(float(a), float(b), float(c))); }
inline bfloat fma(bfloat a, bfloat b, bfloat c) { return bfloat(fmaf(float(a), float(b), float(c))); }
namespace precise { inline float fma(float a, float b, float c) { return fmaf(a, b, c); } using ::fma; }
namespace fast { inline float fma(float a, float b, float c) { return fmaf(a, b, c); } using ::fma; }
inline half ldexp(half x, int e) { return half(ldexpf(float(x), e)); }
inline bool isnan(half x) { return isnan(float(x)); }
inline bool isinf(half x) { return isinf(float(x)); }
inline bool isfinite(half x) { return isfinite(float(x)); }
inline bool signbit(half x) { return signbit(float(x)); }
inline bool isnan(bfloat x) { return isnan(float(x)); }
inline bool isinf(bfloat x) { return isinf(float(x)); }
inline bool isfinite(bfloat x) { return isfinite(float(x)); }
inline bool signbit(bfloat x) { return signbit(float(x)); }

// abs/min/max/clamp: CUDA's own for float (fminf/fmaxf: Metal's min/max on
// floating point) and the wider integers; half, bfloat, narrow integers and
// vectors here.
template <class T> inline T abs(T x) { return x < T(0) ? T(-x) : x; }
inline half abs(half x) { return half(fabsf(float(x))); }
inline bfloat abs(bfloat x) { return bfloat(fabsf(float(x))); }
inline uint abs(uint x) { return x; }
inline ulong abs(ulong x) { return x; }
template <class T> inline T min(T a, T b) {
  if constexpr (tm_vec_n<T>::n > 1) {
    for (int i = 0; i < tm_vec_n<T>::n; i++) a[i] = min(a[i], b[i]);
    return a;
  } else {
    return b < a ? b : a;
  }
}
template <class T> inline T max(T a, T b) {
  if constexpr (tm_vec_n<T>::n > 1) {
    for (int i = 0; i < tm_vec_n<T>::n; i++) a[i] = max(a[i], b[i]);
    return a;
  } else {
    return a < b ? b : a;
  }
}
inline half min(half a, half b) { return half(fminf(float(a), float(b))); }
inline half max(half a, half b) { return half(fmaxf(float(a), float(b))); }
inline bfloat min(bfloat a, bfloat b) { return bfloat(fminf(float(a), float(b))); }
inline bfloat max(bfloat a, bfloat b) { return bfloat(fmaxf(float(a), float(b))); }
template <class T> inline T clamp(T x, T lo, T hi) { return min(max(x, lo), hi); }
template <class T> inline T saturate(T x) { return clamp(x, T(0), T(1)); }
template <class T> inline T select(T a, T b, bool c) { return c ? b : a; }
template <class T> inline T mix(T x, T y, T a) { return x + (y - x) * a; }
namespace precise { using ::min; using ::max; using ::clamp; using ::abs; }
namespace fast { using ::min; using ::max; using ::clamp; using ::abs; }

template <class T> inline T popcount(T x) {
  return T(sizeof(T) == 8 ? __popcll((unsigned long long)x) : __popc((uint)x & (~0u >> (32 - 8 * (sizeof(T) < 4 ? sizeof(T) : 4)))));
}
inline uint clz(uint x) { return uint(__clz(int(x))); }
inline int clz(int x) { return __clz(x); }
inline ulong clz(ulong x) { return ulong(__clzll((long long)x)); }
inline long clz(long x) { return long(__clzll((long long)x)); }
inline uint ctz(uint x) { return x ? uint(__ffs(int(x)) - 1) : 32u; }
inline int ctz(int x) { return int(ctz(uint(x))); }
inline ulong ctz(ulong x) { return x ? ulong(__ffsll((long long)x) - 1) : 64ul; }
inline long ctz(long x) { return long(ctz(ulong(x))); }
inline uint mulhi(uint a, uint b) { return __umulhi(a, b); }
inline int mulhi(int a, int b) { return __mulhi(a, b); }
inline ulong mulhi(ulong a, ulong b) { return __umul64hi(a, b); }
inline long mulhi(long a, long b) { return __mul64hi(a, b); }
inline uint reverse_bits(uint x) { return __brev(x); }
inline int reverse_bits(int x) { return int(__brev(uint(x))); }
inline ulong reverse_bits(ulong x) { return __brevll(x); }
inline long reverse_bits(long x) { return long(__brevll(ulong(x))); }
inline ulong tm_brev64(ulong x) { return __brevll(x); }

// ---------------------------------------------------------------- synchronization
enum class mem_flags : unsigned { mem_none = 0, mem_device = 1, mem_threadgroup = 2, mem_texture = 4 };
inline constexpr mem_flags operator|(mem_flags a, mem_flags b) { return mem_flags(unsigned(a) | unsigned(b)); }
inline void threadgroup_barrier(mem_flags) { __syncthreads(); }
inline void simdgroup_barrier(mem_flags) { __syncwarp(); }
enum memory_order { memory_order_relaxed, memory_order_seq_cst };
enum thread_scope { thread_scope_thread, thread_scope_simdgroup, thread_scope_threadgroup, thread_scope_device };
inline void tm_fence_acq_rel() { asm volatile("fence.acq_rel.gpu;" ::: "memory"); }
inline void atomic_thread_fence(mem_flags, memory_order, thread_scope = thread_scope_device) { tm_fence_acq_rel(); }

// ---------------------------------------------------------------- SIMD-group functions
// Every lane of the warp takes part (the emitter calls them uniformly). Values
// of any size move as 32-bit words.
template <class T> struct tm_words { uint w[(sizeof(T) + 3) / 4]; };
#define TM_SHFL(NAME, CALL)                                                     \
  template <class T> inline T NAME(T x, ushort arg) {                           \
    tm_words<T> v = {};                                                         \
    memcpy((void *)v.w, (const void *)&x, sizeof(T));                           \
    for (int i = 0; i < (int)(sizeof v.w / 4); i++) v.w[i] = CALL;              \
    T r;                                                                        \
    memcpy((void *)&r, (const void *)v.w, sizeof(T));                           \
    return r;                                                                   \
  }
TM_SHFL(simd_shuffle_xor, __shfl_xor_sync(0xffffffffu, v.w[i], arg & 31u))
TM_SHFL(simd_shuffle, __shfl_sync(0xffffffffu, v.w[i], arg))
TM_SHFL(simd_broadcast, __shfl_sync(0xffffffffu, v.w[i], arg))
TM_SHFL(simd_shuffle_up, __shfl_up_sync(0xffffffffu, v.w[i], arg))
TM_SHFL(simd_shuffle_down, __shfl_down_sync(0xffffffffu, v.w[i], arg))
#undef TM_SHFL
template <class T> inline T simd_broadcast_first(T x) { return simd_broadcast(x, 0); }
#define TM_SIMD_FOLD(NAME, EXPR)                                                \
  template <class T> inline T NAME(T x) {                                       \
    for (ushort m = 16; m > 0; m >>= 1) {                                       \
      T y = simd_shuffle_xor(x, m);                                             \
      x = EXPR;                                                                 \
    }                                                                           \
    return x;                                                                   \
  }
TM_SIMD_FOLD(simd_sum, x + y)
TM_SIMD_FOLD(simd_product, x * y)
TM_SIMD_FOLD(simd_max, max(x, y))
TM_SIMD_FOLD(simd_min, min(x, y))
TM_SIMD_FOLD(simd_and, x & y)
TM_SIMD_FOLD(simd_or, x | y)
TM_SIMD_FOLD(simd_xor, x ^ y)
#undef TM_SIMD_FOLD
#if __CUDA_ARCH__ >= 800
// 32-bit integers: one warp reduction instruction (redux.sync), as Apple's
// GPUs fold a SIMD-group in hardware; the same values as the fold above
inline int simd_sum(int x) { return __reduce_add_sync(0xffffffffu, x); }
inline uint simd_sum(uint x) { return __reduce_add_sync(0xffffffffu, x); }
inline int simd_max(int x) { return __reduce_max_sync(0xffffffffu, x); }
inline uint simd_max(uint x) { return __reduce_max_sync(0xffffffffu, x); }
inline int simd_min(int x) { return __reduce_min_sync(0xffffffffu, x); }
inline uint simd_min(uint x) { return __reduce_min_sync(0xffffffffu, x); }
inline uint simd_and(uint x) { return __reduce_and_sync(0xffffffffu, x); }
inline uint simd_or(uint x) { return __reduce_or_sync(0xffffffffu, x); }
inline uint simd_xor(uint x) { return __reduce_xor_sync(0xffffffffu, x); }
#endif
template <class T> inline T simd_prefix_inclusive_sum(T x) {
  uint lane = threadIdx.x % 32u;
  for (ushort d = 1; d < 32; d <<= 1) {
    T y = simd_shuffle_up(x, d);
    if (lane >= d) x = x + y;
  }
  return x;
}
template <class T> inline T simd_prefix_exclusive_sum(T x) {
  T inc = simd_prefix_inclusive_sum(x);
  T r = simd_shuffle_up(inc, 1);
  return threadIdx.x % 32u == 0 ? T(0) : r;
}
inline bool simd_all(bool x) { return __all_sync(0xffffffffu, x); }
inline bool simd_any(bool x) { return __any_sync(0xffffffffu, x); }

// ---------------------------------------------------------------- atomics
// Metal's atomic types are the plain types here; each function casts away a
// volatile (coherent(device)) qualifier and calls CUDA's atomic.
typedef int atomic_int;
typedef uint atomic_uint;
typedef float atomic_float;
typedef bool atomic_bool;
template <class T> inline T *tm_ap(volatile T *p) { return (T *)p; }
template <class P, class T> inline T atomic_fetch_add_explicit(P *p, T v, memory_order) { return atomicAdd(tm_ap(p), v); }
template <class P, class T> inline T atomic_fetch_sub_explicit(P *p, T v, memory_order) { return atomicSub(tm_ap(p), v); }
template <class P, class T> inline T atomic_fetch_max_explicit(P *p, T v, memory_order) { return atomicMax(tm_ap(p), v); }
template <class P, class T> inline T atomic_fetch_min_explicit(P *p, T v, memory_order) { return atomicMin(tm_ap(p), v); }
template <class P, class T> inline T atomic_fetch_and_explicit(P *p, T v, memory_order) { return atomicAnd(tm_ap(p), v); }
template <class P, class T> inline T atomic_fetch_or_explicit(P *p, T v, memory_order) { return atomicOr(tm_ap(p), v); }
template <class P, class T> inline T atomic_fetch_xor_explicit(P *p, T v, memory_order) { return atomicXor(tm_ap(p), v); }
template <class P, class T> inline T atomic_exchange_explicit(P *p, T v, memory_order) { return atomicExch(tm_ap(p), v); }
template <class P> inline P atomic_load_explicit(volatile P *p, memory_order) { return *p; }
template <class P> inline P atomic_load_explicit(P *p, memory_order) { return *(volatile P *)p; }
template <class P, class T> inline void atomic_store_explicit(P *p, T v, memory_order) { atomicExch(tm_ap(p), v); }
template <class P, class T>
inline bool atomic_compare_exchange_weak_explicit(P *p, T *expected, T desired, memory_order, memory_order) {
  T old = atomicCAS(tm_ap(p), *expected, desired);
  bool ok = old == *expected;
  *expected = old;
  return ok;
}

// ---------------------------------------------------------------- simdgroup_matrix
// Metal's 8x8 SIMD-group matrices on a warp. Each lane holds the two elements
// of the accumulator fragment of PTX's mma.sync.m16n8k8 (rows 0-7 of its
// 16x8 C): lane = 4 * g + t holds row g, columns 2t and 2t + 1 (v), which is
// also its A fragment (a0) for rows 0-7; a loaded matrix also keeps the
// transposed pair (w: rows 2t, 2t + 1 of column g), its B fragment. The
// emitter only makes matrices with make_filled_simdgroup_matrix and
// simdgroup_load, reads them with simdgroup_store, and multiplies: half and
// bfloat operands into float go through one mma.sync (A's rows 8-15 are zero:
// half the unit's work is wasted, the price of Metal's 8x8 shape); other
// types multiply exactly in float through shuffles.
template <class T, int C, int R> struct simdgroup_matrix {
  static_assert(C == 8 && R == 8, "simdgroup_matrix: 8x8 only");
  T v[2], w[2];
  bool wt; // w holds the transposed pair (loaded or filled; not a product)
  // Metal's thread_elements(): this lane's two elements (row TM_SGM_ROW, two
  // neighbouring columns), to scale in place; w no longer holds their pair
  inline T *thread_elements() {
    wt = false;
    return v;
  }
};
#define TM_SGM_ROW(lane) ((lane) / 4u)
// layout_frag's tile is this one: nothing moves between it and thread_elements()
#define TM_SGM_PULL(x, lane) (x)
#define TM_SGM_PUSH(x, lane) (x)
template <class T, int C, int R> inline simdgroup_matrix<T, C, R> make_filled_simdgroup_matrix(T x) {
  simdgroup_matrix<T, C, R> m;
  m.v[0] = m.v[1] = m.w[0] = m.w[1] = x;
  m.wt = true;
  return m;
}
// The transposed pair of m: w[i] = M[2t + i][g], held by lane 4 (2t + i) + g / 2.
template <class T, int C, int R> inline void tm_transposed(const simdgroup_matrix<T, C, R> &m, T w[2]) {
  if (m.wt) {
    w[0] = m.w[0], w[1] = m.w[1];
    return;
  }
  uint lane = threadIdx.x % 32u, g = lane / 4u, t = lane % 4u;
  for (uint i = 0; i < 2u; i++) {
    ushort from = ushort(4u * (2u * t + i) + g / 2u);
    T x0 = simd_shuffle(m.v[0], from), x1 = simd_shuffle(m.v[1], from);
    w[i] = g % 2u ? x1 : x0;
  }
}
template <class T, class S, int C, int R>
inline void simdgroup_load(simdgroup_matrix<T, C, R> &m, const S *src, ulong elements_per_row = C,
                           ulong2 origin = ulong2(0), bool transpose = false) {
  uint lane = threadIdx.x % 32u, g = lane / 4u, t = lane % 4u;
  src += origin[1] * elements_per_row + origin[0];
  for (uint i = 0; i < 2u; i++) {
    uint c = 2u * t + i;
    m.v[i] = T(transpose ? src[c * elements_per_row + g] : src[g * elements_per_row + c]);
    m.w[i] = T(transpose ? src[g * elements_per_row + c] : src[c * elements_per_row + g]);
  }
  m.wt = true;
}
template <class T, class S, int C, int R>
inline void simdgroup_store(const simdgroup_matrix<T, C, R> &m, S *dst, ulong elements_per_row = C,
                            ulong2 origin = ulong2(0), bool transpose = false) {
  uint lane = threadIdx.x % 32u, g = lane / 4u, t = lane % 4u;
  dst += origin[1] * elements_per_row + origin[0];
  for (uint i = 0; i < 2u; i++) {
    uint c = 2u * t + i;
    (transpose ? dst[c * elements_per_row + g] : dst[g * elements_per_row + c]) = S(m.v[i]);
  }
}
template <class T> inline uint tm_pack2(T a, T b) {
  ushort x = as_type<ushort>(a), y = as_type<ushort>(b);
  return uint(x) | (uint(y) << 16);
}
inline void tm_mma_16816(float d[4], uint a0, uint a1, uint b0, const float c[4], half) {
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%7,%8,%9,%10};\n"
               : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
               : "r"(a0), "r"(a1), "r"(b0), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
}
inline void tm_mma_16816(float d[4], uint a0, uint a1, uint b0, const float c[4], bfloat) {
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%7,%8,%9,%10};\n"
               : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
               : "r"(a0), "r"(a1), "r"(b0), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
}
template <class TD, class TA, class TB, class TC, int C, int R>
inline void simdgroup_multiply_accumulate(simdgroup_matrix<TD, C, R> &d, const simdgroup_matrix<TA, C, R> &a,
                                          const simdgroup_matrix<TB, C, R> &b, const simdgroup_matrix<TC, C, R> &c) {
  constexpr bool tensor = (sizeof(TA) == 2 && sizeof(TB) == 2 && tm_same<TA, TB>::v && tm_same<TD, float>::v &&
                           tm_same<TC, float>::v && (tm_same<TA, half>::v || tm_same<TA, bfloat>::v));
  if constexpr (tensor) {
    TB bw[2];
    tm_transposed(b, bw);
    float acc[4] = {c.v[0], c.v[1], 0.0f, 0.0f}, out[4];
    tm_mma_16816(out, tm_pack2(a.v[0], a.v[1]), 0u, tm_pack2(bw[0], bw[1]), acc, TA());
    d.v[0] = out[0], d.v[1] = out[1];
  } else {
    uint lane = threadIdx.x % 32u, g = lane / 4u, t = lane % 4u;
    float r0 = float(c.v[0]), r1 = float(c.v[1]);
    for (uint k = 0; k < 8u; k++) {
      // A[g][k] is in lane 4g + k/2 (element k%2); B[k][2t+i] in lane 4k + t (element i)
      float a0 = float(simd_shuffle(a.v[0], ushort(4u * g + k / 2u)));
      float a1 = float(simd_shuffle(a.v[1], ushort(4u * g + k / 2u)));
      float ak = k % 2u ? a1 : a0;
      r0 = fmaf(ak, float(simd_shuffle(b.v[0], ushort(4u * k + t))), r0);
      r1 = fmaf(ak, float(simd_shuffle(b.v[1], ushort(4u * k + t))), r1);
    }
    d.v[0] = TD(r0), d.v[1] = TD(r1);
  }
  d.wt = false;
}
// The paired form (the target's has_mma_16x8): tl.dot multiplies two 8x8
// tiles of A stacked (rows 2i and 2i + 1 of its tile grid) and two steps of K
// at once, by a 16x8 slice of B, in one mma.sync.m16n8k16, so no half of the
// unit's work is zeros and each instruction does twice an m16n8k8's. The
// operands come straight from the staged rows in shared memory by ldmatrix:
// A's 16x16 as four 8x8 matrices (lane 4g + t: rows g and g + 8, columns
// 2t, 2t + 1 and those + 8: its a0-a3), B's 16x8 transposed (rows 2t, 2t + 1
// and those + 8 of column g: b0, b1). Every lane names one row's address
// (lanes 0-15 for a 16-row matrix pair, all 32 for A's four): rows start at
// 16-byte boundaries (the emitter checks it). The accumulators stay two 8x8
// simdgroup_matrix tiles: d0 rows 0-7, d1 rows 8-15.
template <class T> struct tm_mma_a16 { uint r[4]; };
template <class T> struct tm_mma_b16 { uint r[2]; };
inline void tm_mma_16816k16(float d[4], const uint a[4], const uint b[2], const float c[4], half) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};\n"
               : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
}
inline void tm_mma_16816k16(float d[4], const uint a[4], const uint b[2], const float c[4], bfloat) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};\n"
               : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
}
// A from 16 staged rows: lanes 0-15 name rows 0-15 at column 0, lanes 16-31 the same rows at column 8.
template <class T> inline void tm_mma_load_a16(tm_mma_a16<T> &a, const T *src, ulong elements_per_row) {
  uint lane = threadIdx.x % 32u;
  unsigned s = unsigned(__cvta_generic_to_shared(src + (lane & 15u) * elements_per_row + (lane >> 4) * 8u));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(a.r[0]), "=r"(a.r[1]), "=r"(a.r[2]), "=r"(a.r[3]) : "r"(s) : "memory");
}
// The same A from two 8-row tiles anywhere (lanes with bit 3 clear name lo's
// rows, the others hi's): a SIMD-group's tile rows are 8 * warps apart in layout_frag.
template <class T> inline void tm_mma_load_a16r(tm_mma_a16<T> &a, const T *lo, const T *hi, ulong elements_per_row) {
  uint lane = threadIdx.x % 32u;
  unsigned s = unsigned(__cvta_generic_to_shared((lane & 8u ? hi : lo) + (lane & 7u) * elements_per_row + (lane >> 4) * 8u));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(a.r[0]), "=r"(a.r[1]), "=r"(a.r[2]), "=r"(a.r[3]) : "r"(s) : "memory");
}
// A from registers in layout_frag: this lane's pairs of tiles (2i, kt), (2i + 1, kt), (2i, kt + 1)
// and (2i + 1, kt + 1), in that order.
template <class T> inline void tm_mma_set_a16(tm_mma_a16<T> &a, const T x[8]) {
  for (uint h = 0; h < 4u; h++) a.r[h] = tm_pack2(x[2u * h], x[2u * h + 1u]);
}
// B's 16 staged rows (along K) of 8 columns, transposed by ldmatrix.
template <class T> inline void tm_mma_load_b16(tm_mma_b16<T> &b, const T *src, ulong elements_per_row) {
  uint lane = threadIdx.x % 32u;
  unsigned s = unsigned(__cvta_generic_to_shared(src + (lane & 15u) * elements_per_row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];\n" : "=r"(b.r[0]), "=r"(b.r[1]) : "r"(s) : "memory");
}
// B staged transposed (8 rows along N of 16 along K): the same fragment, untransposed.
template <class T> inline void tm_mma_load_b16t(tm_mma_b16<T> &b, const T *src, ulong elements_per_row) {
  uint lane = threadIdx.x % 32u;
  unsigned s = unsigned(__cvta_generic_to_shared(src + (lane & 7u) * elements_per_row + (lane >> 3 & 1u) * 8u));
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n" : "=r"(b.r[0]), "=r"(b.r[1]) : "r"(s) : "memory");
}
template <class T, int C, int R>
inline void tm_mma_16x8(simdgroup_matrix<float, C, R> &d0, simdgroup_matrix<float, C, R> &d1, const tm_mma_a16<T> &a,
                        const tm_mma_b16<T> &b) {
  float acc[4] = {d0.v[0], d0.v[1], d1.v[0], d1.v[1]}, out[4];
  tm_mma_16816k16(out, a.r, b.r, acc, T());
  d0.v[0] = out[0], d0.v[1] = out[1], d1.v[0] = out[2], d1.v[1] = out[3];
  d0.wt = d1.wt = false;
}
template <class TD, class TA, class TB, int C, int R>
inline void simdgroup_multiply(simdgroup_matrix<TD, C, R> &d, const simdgroup_matrix<TA, C, R> &a,
                               const simdgroup_matrix<TB, C, R> &b) {
  simdgroup_multiply_accumulate(d, a, b, make_filled_simdgroup_matrix<TD, C, R>(TD(0)));
}

// ---------------------------------------------------------------- the TM_* macros
#define TM_LD(p, line) (p)
#define TM_ST(p, line) (p)
#define TM_LDA(p, line, arg) (p)
#define TM_STA(p, line, arg) (p)
#define TM_POLL(line)
#define TM_UNROLL _Pragma("unroll")
#define TM_FENCE() tm_fence_acq_rel()
#define TM_TG_BASE(bytes) __shared__ tm_float4 tm_smem_base[((bytes) + 15) / 16]
#define TM_TG_ARRAY(T, name, n, off) T *name = reinterpret_cast<T *>(reinterpret_cast<uchar *>(tm_smem_base) + (off))
#define TM_TGM(a, line) a
#define TM_TG_VSTORE(V, a, i, x) (*reinterpret_cast<V *>(&(a)[i]) = (x))
#define TM_TG_VLOAD(V, a, i) (*reinterpret_cast<const V *>(&(a)[i]))
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif
#ifndef NAN
#define NAN __int_as_float(0x7fffffff)
#endif
