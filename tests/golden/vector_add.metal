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

kernel void add_kernel(
    device const float* x_ptr [[buffer(0)]],
    device const float* y_ptr [[buffer(1)]],
    device float* output_ptr [[buffer(2)]],
    constant int& n_elements [[buffer(3)]],
    uint3 tm_pid [[threadgroup_position_in_grid]],
    uint tm_tid [[thread_index_in_threadgroup]])
{
  int v4 = int(tm_pid.x);
  int v6 = as_type<int>(as_type<uint>(v4) * as_type<uint>(1024));
  for (uint k = 0; k < 8u; ++k) {
    uint lane = tm_tid % 32u, warp = tm_tid / 32u;
    uint e0 = (k / 1u % 8u) / 4u * 512u + ((warp % 4u) * 32u + lane % 32u) * 4u + (k / 1u % 8u) % 4u;
    int c0 = int(e0 % 1024u);
    int v7 = c0;
    int v9 = as_type<int>(as_type<uint>(v6) + as_type<uint>(v7));
    bool v11 = v9 < n_elements;
    device const float* v13 = x_ptr + v9;
    float v14 = v11 ? *TM_LDA(v13, 12, 0) : float(0);
    device const float* v16 = y_ptr + v9;
    float v17 = v11 ? *TM_LDA(v16, 13, 1) : float(0);
    float v18 = v14 + v17;
    device float* v20 = output_ptr + v9;
    if (v11) *TM_STA(v20, 15, 2) = v18;
  }
}
