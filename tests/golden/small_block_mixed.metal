#include <metal_stdlib>
using namespace metal;

#ifndef TM_LD
#define TM_LD(p, line) (p)
#define TM_ST(p, line) (p)
#define TM_LDA(p, line, arg) (p)
#define TM_STA(p, line, arg) (p)
#endif
#ifndef TM_TGM
#define TM_TG_BASE(bytes) threadgroup float4 tm_smem_base[((bytes) + 15) / 16]
#define TM_TG_ARRAY(T, name, n, off) threadgroup T *name = reinterpret_cast<threadgroup T *>(reinterpret_cast<threadgroup uchar *>(tm_smem_base) + (off))
#define TM_TGM(a, line) a
#define TM_TG_VSTORE(V, a, i, x) (*reinterpret_cast<threadgroup V *>(&(a)[i]) = (x))
#define TM_TG_VLOAD(V, a, i) (*reinterpret_cast<threadgroup V *>(&(a)[i]))
#endif
#ifndef TM_SHFL_XOR2
template <typename V> inline void tm_shfl_xor2(thread V &a, thread V &b, ushort m) { a = simd_shuffle_xor(a, m); b = simd_shuffle_xor(b, m); }
#endif
#ifndef TM_SGM_ROW
#define TM_SGM_ROW(lane) (4u * ((lane) >> 4 & 1u) + 2u * ((lane) >> 2 & 1u) + ((lane) >> 1 & 1u))
#endif
#ifndef TM_SGM_PULL
#define TM_SGM_PULL(x, lane) simd_shuffle((x), ushort(((lane) & 17u) | ((lane) >> 1 & 1u) << 3 | ((lane) >> 3 & 1u) << 2 | ((lane) >> 2 & 1u) << 1))
#define TM_SGM_PUSH(x, lane) simd_shuffle((x), ushort(((lane) & 17u) | ((lane) >> 2 & 1u) << 3 | ((lane) >> 1 & 1u) << 2 | ((lane) >> 3 & 1u) << 1))
#endif
#ifndef TM_POLL
#define TM_POLL(line)
#endif
#ifndef TM_UNROLL
#define TM_UNROLL _Pragma("clang loop unroll(full)")
#endif
#ifndef TM_FENCE
#if __METAL_VERSION__ >= 320
#define TM_FENCE() atomic_thread_fence(mem_flags::mem_device, memory_order_seq_cst, thread_scope_device)
#else
#define TM_FENCE() /* no device-scope fence before MSL 3.2: atomics stay relaxed */
#endif
#endif
template <typename T> inline T tm_sdiv(T a, T b) { return b == T(0) ? T(-1) : b == T(-1) ? T(T(0) - a) : T(a / b); }
inline int tm_sdiv(int a, int b) { return b == 0 ? -1 : b == -1 ? as_type<int>(0u - as_type<uint>(a)) : a / b; }
inline long tm_sdiv(long a, long b) { return b == 0 ? -1 : b == -1 ? as_type<long>(0ul - as_type<ulong>(a)) : a / b; }
template <typename T> inline T tm_srem(T a, T b) { return b == T(0) ? a : b == T(-1) ? T(0) : T(a % b); }
template <typename T> inline T tm_udiv(T a, T b) { return b == T(0) ? T(~T(0)) : T(a / b); }
template <typename T> inline T tm_urem(T a, T b) { return b == T(0) ? a : T(a % b); }

kernel void mixed(
    device const half* h_ptr [[buffer(0)]],
    device const int* i_ptr [[buffer(1)]],
    device float* out_ptr [[buffer(2)]],
    constant int& n [[buffer(3)]],
    constant float& scale [[buffer(4)]],
    uint3 tm_pid [[threadgroup_position_in_grid]],
    uint3 tm_npid [[threadgroups_per_grid]],
    uint tm_tid [[thread_index_in_threadgroup]])
{
  int v5 = int(tm_pid.x);
  int v7 = as_type<int>(as_type<uint>(v5) * as_type<uint>(16));
  int v41 = int(tm_npid.x);
  float v42 = float(v41);
  for (uint k = 0; k < 1u; ++k) {
    int c0 = int(tm_tid % 16u);
    bool dup = tm_tid >= 16u;
    int v8 = c0;
    int v10 = as_type<int>(as_type<uint>(v7) + as_type<uint>(v8));
    bool v12 = v10 < n;
    device const half* v14 = h_ptr + v10;
    half v17 = v12 ? *TM_LDA(v14, 12, 0) : half((-1.0f));
    device const int* v19 = i_ptr + v10;
    int v22 = v12 ? *TM_LDA(v19, 13, 1) : 7;
    int v25 = tm_sdiv(v22, 3);
    int v28 = tm_srem(v22, 3);
    int v29 = as_type<int>(as_type<uint>(v25) + as_type<uint>(v28));
    bool v32 = v29 > 0;
    float v33 = float(v17);
    float v35 = v33 * scale;
    float v36 = float(v17);
    float v39 = v36 / 2.0f;
    float v40 = v32 ? v35 : v39;
    float v44 = v40 + v42;
    device float* v46 = out_ptr + v10;
    if (!dup && v12) *TM_STA(v46, 17, 2) = v44;
  }
}
