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

kernel void locked_sum(
    coherent(device) device const float* x_ptr [[buffer(0)]],
    coherent(device) device float* acc_ptr [[buffer(1)]],
    coherent(device) device int* lock_ptr [[buffer(2)]],
    coherent(device) device int* count_ptr [[buffer(3)]],
    uint3 tm_pid [[threadgroup_position_in_grid]],
    uint tm_tid [[thread_index_in_threadgroup]])
{
  TM_TG_BASE(4);
  TM_TG_ARRAY(int, tm_smem_int, 1, 0);
  int v4 = int(tm_pid.x);
  int v5[1];
  int v7 = as_type<int>(as_type<uint>(v4) * as_type<uint>(64));
  coherent(device) device const float* v8 = x_ptr + v7;
  float v11[1];
  for (uint k = 0; k < 1u; ++k) {
    int c0 = int(tm_tid % 64u);
    v5[k] = c0;
    coherent(device) device const float* v10 = v8 + v5[k];
    v11[k] = *TM_LDA(v10, 16, 0);
  }
  while (true) {
    TM_POLL(17);
    TM_FENCE();
    threadgroup_barrier(mem_flags::mem_threadgroup);
    if (tm_tid == 0u) {
      int old = int(0);
      if (true) {
        int o = 0; while (!atomic_compare_exchange_weak_explicit((coherent(device) device atomic_int*)(TM_STA(lock_ptr, 17, 2)), &o, 1, memory_order_relaxed, memory_order_relaxed) && o == 0) o = 0;
        old = o;
      }
      TM_TGM(tm_smem_int, 17)[0] = old;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    int v15 = TM_TGM(tm_smem_int, 17)[0];
    TM_FENCE();
    bool v17 = v15 == 1;
    if (!v17) break;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  int v20;
  if (tm_tid == 0u) {
    TM_TGM(tm_smem_int, 19)[0] = *TM_LDA(count_ptr, 19, 3);
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  v20 = TM_TGM(tm_smem_int, 19)[0];
  bool v22 = v20 == 0;
  threadgroup_barrier(mem_flags::mem_threadgroup);
  float r23_1[1];
  if (v22) {
    TM_FENCE();
    threadgroup_barrier(mem_flags::mem_device | mem_flags::mem_threadgroup);
    if (tm_tid == 0u) {
      int old = int(0);
      if (true) {
        old = atomic_exchange_explicit((coherent(device) device atomic_int*)(TM_STA(count_ptr, 21, 3)), 1, memory_order_relaxed);
      }
    }
    TM_FENCE();
    float y23_1[1]; for (uint k = 0; k < 1u; ++k) y23_1[k] = v11[k];
    for (uint k = 0; k < 1u; ++k) r23_1[k] = y23_1[k];
  } else {
    float v29[1];
    for (uint k = 0; k < 1u; ++k) {
      coherent(device) device float* v27 = acc_ptr + v5[k];
      float v28 = *TM_LDA(v27, 23, 1);
      v29[k] = v11[k] + v28;
    }
    float y23_1[1]; for (uint k = 0; k < 1u; ++k) y23_1[k] = v29[k];
    for (uint k = 0; k < 1u; ++k) r23_1[k] = y23_1[k];
  }
  coherent(device) device float* v34[1];
  for (uint k = 0; k < 1u; ++k) {
    v34[k] = acc_ptr + v5[k];
  }
  TM_FENCE();
  threadgroup_barrier(mem_flags::mem_device | mem_flags::mem_threadgroup);
  for (uint k = 0; k < 1u; ++k) {
    int c0 = int(tm_tid % 64u);
    bool dup = tm_tid >= 64u;
    if (!dup) *TM_STA(v34[k], 24, 1) = r23_1[k];
  }
  TM_FENCE();
  threadgroup_barrier(mem_flags::mem_device | mem_flags::mem_threadgroup);
  if (tm_tid == 0u) {
    int old = int(0);
    if (true) {
      old = atomic_exchange_explicit((coherent(device) device atomic_int*)(TM_STA(lock_ptr, 26, 2)), 0, memory_order_relaxed);
    }
  }
  TM_FENCE();
}
