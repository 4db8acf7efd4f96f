#include <metal_stdlib>
#if !defined(TM_NO_TENSOR_OPS) && (__METAL_VERSION__ >= 400 || defined(__HAVE_TENSOR__))
#include <metal_tensor>
#include <MetalPerformancePrimitives/MetalPerformancePrimitives.h>
#define TM_TENSOR_OPS 1
#else
#define TM_TENSOR_OPS 0
#endif
#ifndef TM_TG
#define TM_TG(T) threadgroup T
#endif
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
#ifndef TM_SGM_MAC
template <uint TM, uint TN, typename TA, typename TI>
inline void tm_sgm_mac(thread simdgroup_matrix<TA, 8, 8> *acc, thread simdgroup_matrix<TI, 8, 8> *a,
                       thread simdgroup_matrix<TI, 8, 8> *b) {
  for (uint i = 0; i < TM; ++i)
    for (uint j = 0; j < TN; ++j) simdgroup_multiply_accumulate(acc[i * TN + j], a[i], b[j], acc[i * TN + j]);
}
#endif

kernel void matmul(
    device const half* a_ptr [[buffer(0)]],
    device const half* b_ptr [[buffer(1)]],
    device half* c_ptr [[buffer(2)]],
    constant int& K [[buffer(3)]],
    uint3 tm_pid [[threadgroup_position_in_grid]],
    uint tm_tid [[thread_index_in_threadgroup]])
{
  TM_TG_BASE(6144);
  TM_TG_ARRAY(half, tm_smem_half, 1024, 4096);
  TM_TG_ARRAY(float, tm_smem_float, 1024, 0);
  int v4[1];
  for (uint k = 0; k < 1u; ++k) {
    uint lane = tm_tid % 32u, warp = tm_tid / 32u;
    uint e1 = (k / 1u % 1u) / 1u * 32u + ((warp % 1u) * 4u + lane % 4u) * 8u + (k / 1u % 1u) % 1u;
    lane /= 4u; warp /= 1u;
    int c1 = int(e1 % 1u);
    uint e0 = (k / 1u % 1u) / 1u * 32u + ((warp % 4u) * 8u + lane % 8u) * 1u + (k / 1u % 1u) % 1u;
    int c0 = int(e0 % 32u);
    v4[k] = c0;
  }
  int v5[8];
  bool v81 = 0 < K;
  for (uint k = 0; k < 8u; ++k) {
    uint lane = tm_tid % 32u, warp = tm_tid / 32u;
    uint e1 = (k / 1u % 8u) / 8u * 32u + ((warp % 1u) * 4u + lane % 4u) * 8u + (k / 1u % 8u) % 8u;
    lane /= 4u; warp /= 1u;
    int c1 = int(e1 % 32u);
    uint e0 = (k / 8u % 1u) / 1u * 32u + ((warp % 4u) * 8u + lane % 8u) * 1u + (k / 8u % 1u) % 1u;
    int c0 = int(e0 % 1u);
    v5[k] = c1;
  }
  int v83[1];
  for (uint k = 0; k < 1u; ++k) {
    uint lane = tm_tid % 32u, warp = tm_tid / 32u;
    uint e1 = (k / 1u % 1u) / 1u * 16u + ((warp % 1u) * 4u + lane % 4u) * 4u + (k / 1u % 1u) % 1u;
    lane /= 4u; warp /= 1u;
    int c1 = int(e1 % 1u);
    uint e0 = (k / 1u % 1u) / 1u * 32u + ((warp % 4u) * 8u + lane % 8u) * 1u + (k / 1u % 1u) % 1u;
    int c0 = int(e0 % 32u);
    v83[k] = c0;
  }
  device const half* v87[1];
  for (uint k = 0; k < 1u; ++k) {
    int v84 = v83[0];
    int v86 = as_type<int>(as_type<uint>(v84) * as_type<uint>(K));
    v87[k] = a_ptr + v86;
  }
  device const half* v88[4];
  for (uint k = 0; k < 4u; ++k) {
    v88[k] = v87[0];
  }
  int v91[4];
  for (uint k = 0; k < 4u; ++k) {
    uint lane = tm_tid % 32u, warp = tm_tid / 32u;
    uint e1 = (k / 1u % 4u) / 4u * 16u + ((warp % 1u) * 4u + lane % 4u) * 4u + (k / 1u % 4u) % 4u;
    lane /= 4u; warp /= 1u;
    int c1 = int(e1 % 16u);
    uint e0 = (k / 4u % 1u) / 1u * 32u + ((warp % 4u) * 8u + lane % 8u) * 1u + (k / 4u % 1u) % 1u;
    int c0 = int(e0 % 1u);
    int v90 = c1;
    v91[k] = as_type<int>(as_type<uint>(0) + as_type<uint>(v90));
  }
  int v92[4];
  for (uint k = 0; k < 4u; ++k) {
    v92[k] = v91[(k / 1u % 4u) * 1u];
  }
  half v96[4];
  bool v116 = 0 < K;
  for (uint k = 0; k < 4u; ++k) {
    int v93 = v92[(k / 1u % 4u) * 1u];
    device const half* v94 = v88[k] + v93;
    v96[k] = v81 ? *TM_LDA(v94, 18, 0) : half(0);
  }
  int v120[1];
  for (uint k = 0; k < 1u; ++k) {
    uint lane = tm_tid % 32u, warp = tm_tid / 32u;
    uint e1 = (k / 1u % 1u) / 1u * 32u + ((warp % 1u) * 8u + lane % 8u) * 4u + (k / 1u % 1u) % 1u;
    lane /= 8u; warp /= 1u;
    int c1 = int(e1 % 1u);
    uint e0 = (k / 1u % 1u) / 1u * 16u + ((warp % 4u) * 4u + lane % 4u) * 1u + (k / 1u % 1u) % 1u;
    int c0 = int(e0 % 16u);
    int v119 = c0;
    v120[k] = as_type<int>(as_type<uint>(0) + as_type<uint>(v119));
  }
  device const half* v125[1];
  for (uint k = 0; k < 1u; ++k) {
    int v121 = v120[0];
    int v124 = as_type<int>(as_type<uint>(v121) * as_type<uint>(32));
    v125[k] = b_ptr + v124;
  }
  device const half* v126[4];
  for (uint k = 0; k < 4u; ++k) {
    v126[k] = v125[0];
  }
  int v127[4];
  for (uint k = 0; k < 4u; ++k) {
    uint lane = tm_tid % 32u, warp = tm_tid / 32u;
    uint e1 = (k / 1u % 4u) / 4u * 32u + ((warp % 1u) * 8u + lane % 8u) * 4u + (k / 1u % 4u) % 4u;
    lane /= 8u; warp /= 1u;
    int c1 = int(e1 % 32u);
    uint e0 = (k / 4u % 1u) / 1u * 16u + ((warp % 4u) * 4u + lane % 4u) * 1u + (k / 4u % 1u) % 1u;
    int c0 = int(e0 % 1u);
    v127[k] = c1;
  }
  int v128[4];
  for (uint k = 0; k < 4u; ++k) {
    v128[k] = v127[(k / 1u % 4u) * 1u];
  }
  half v132[4];
  for (uint k = 0; k < 4u; ++k) {
    int v129 = v128[(k / 1u % 4u) * 1u];
    device const half* v130 = v126[k] + v129;
    v132[k] = v116 ? *TM_LDA(v130, 19, 1) : half(0);
  }
  float r11_1[8];
  half r11_2[4];
  for (uint k = 0; k < 4u; ++k) r11_2[k] = v96[k];
  half r11_3[4];
  for (uint k = 0; k < 4u; ++k) r11_3[k] = v132[k];
  // tm_acc11_1: tl.dot's accumulator in a matmul2d cooperative tensor or simdgroup matrices across the loop
#if TM_TENSOR_OPS
  constexpr auto tm_desc39 = mpp::tensor_ops::matmul2d_descriptor(32, 32, 16, false, false, false, mpp::tensor_ops::matmul2d_descriptor::mode::multiply_accumulate);
  mpp::tensor_ops::matmul2d<tm_desc39, metal::execution_simdgroups<4>> tm_op39;
  auto tm_ta39 = metal::tensor<TM_TG(half), metal::dextents<int, 2>, metal::tensor_inline>(TM_TGM(tm_smem_half, 20), metal::dextents<int, 2>(16, 32));
  auto tm_tb39 = metal::tensor<TM_TG(half), metal::dextents<int, 2>, metal::tensor_inline>(TM_TGM(tm_smem_half, 20) + 512, metal::dextents<int, 2>(32, 16));
  auto tm_acc11_1 = tm_op39.get_destination_cooperative_tensor<decltype(tm_ta39), decltype(tm_tb39), float>();
  for (ushort i = 0; i < tm_acc11_1.get_capacity(); ++i) tm_acc11_1[i] = float(0.0f);
#else
  simdgroup_matrix<float, 8, 8> tm_acc11_1[4];
  for (uint t = 0; t < 4u; ++t) tm_acc11_1[t] = make_filled_simdgroup_matrix<float, 8, 8>(float(0.0f));
#endif
  for (int r11_0 = 0; r11_0 < K; r11_0 += 16) {
    TM_POLL(17);
    int v97 = as_type<int>(as_type<uint>(r11_0) + as_type<uint>(16));
    bool v98 = v97 < K;
    int v100[1];
    for (uint k = 0; k < 1u; ++k) {
      uint lane = tm_tid % 32u, warp = tm_tid / 32u;
      uint e1 = (k / 1u % 1u) / 1u * 16u + ((warp % 1u) * 4u + lane % 4u) * 4u + (k / 1u % 1u) % 1u;
      lane /= 4u; warp /= 1u;
      int c1 = int(e1 % 1u);
      uint e0 = (k / 1u % 1u) / 1u * 32u + ((warp % 4u) * 8u + lane % 8u) * 1u + (k / 1u % 1u) % 1u;
      int c0 = int(e0 % 32u);
      v100[k] = c0;
    }
    device const half* v104[1];
    for (uint k = 0; k < 1u; ++k) {
      int v101 = v100[0];
      int v103 = as_type<int>(as_type<uint>(v101) * as_type<uint>(K));
      v104[k] = a_ptr + v103;
    }
    device const half* v105[4];
    for (uint k = 0; k < 4u; ++k) {
      v105[k] = v104[0];
    }
    int v108[4];
    for (uint k = 0; k < 4u; ++k) {
      uint lane = tm_tid % 32u, warp = tm_tid / 32u;
      uint e1 = (k / 1u % 4u) / 4u * 16u + ((warp % 1u) * 4u + lane % 4u) * 4u + (k / 1u % 4u) % 4u;
      lane /= 4u; warp /= 1u;
      int c1 = int(e1 % 16u);
      uint e0 = (k / 4u % 1u) / 1u * 32u + ((warp % 4u) * 8u + lane % 8u) * 1u + (k / 4u % 1u) % 1u;
      int c0 = int(e0 % 1u);
      int v107 = c1;
      v108[k] = as_type<int>(as_type<uint>(v97) + as_type<uint>(v107));
    }
    int v109[4];
    for (uint k = 0; k < 4u; ++k) {
      v109[k] = v108[(k / 1u % 4u) * 1u];
    }
    half v113[4];
    int v133 = as_type<int>(as_type<uint>(r11_0) + as_type<uint>(16));
    bool v134 = v133 < K;
    for (uint k = 0; k < 4u; ++k) {
      int v110 = v109[(k / 1u % 4u) * 1u];
      device const half* v111 = v105[k] + v110;
      v113[k] = v98 ? *TM_LDA(v111, 18, 0) : half(0);
    }
    int v138[1];
    for (uint k = 0; k < 1u; ++k) {
      uint lane = tm_tid % 32u, warp = tm_tid / 32u;
      uint e1 = (k / 1u % 1u) / 1u * 32u + ((warp % 1u) * 8u + lane % 8u) * 4u + (k / 1u % 1u) % 1u;
      lane /= 8u; warp /= 1u;
      int c1 = int(e1 % 1u);
      uint e0 = (k / 1u % 1u) / 1u * 16u + ((warp % 4u) * 4u + lane % 4u) * 1u + (k / 1u % 1u) % 1u;
      int c0 = int(e0 % 16u);
      int v137 = c0;
      v138[k] = as_type<int>(as_type<uint>(v133) + as_type<uint>(v137));
    }
    device const half* v143[1];
    for (uint k = 0; k < 1u; ++k) {
      int v139 = v138[0];
      int v142 = as_type<int>(as_type<uint>(v139) * as_type<uint>(32));
      v143[k] = b_ptr + v142;
    }
    device const half* v144[4];
    for (uint k = 0; k < 4u; ++k) {
      v144[k] = v143[0];
    }
    int v145[4];
    for (uint k = 0; k < 4u; ++k) {
      uint lane = tm_tid % 32u, warp = tm_tid / 32u;
      uint e1 = (k / 1u % 4u) / 4u * 32u + ((warp % 1u) * 8u + lane % 8u) * 4u + (k / 1u % 4u) % 4u;
      lane /= 8u; warp /= 1u;
      int c1 = int(e1 % 32u);
      uint e0 = (k / 4u % 1u) / 1u * 16u + ((warp % 4u) * 4u + lane % 4u) * 1u + (k / 4u % 1u) % 1u;
      int c0 = int(e0 % 1u);
      v145[k] = c1;
    }
    int v146[4];
    for (uint k = 0; k < 4u; ++k) {
      v146[k] = v145[(k / 1u % 4u) * 1u];
    }
    half v150[4];
    for (uint k = 0; k < 4u; ++k) {
      int v147 = v146[(k / 1u % 4u) * 1u];
      device const half* v148 = v144[k] + v147;
      v150[k] = v134 ? *TM_LDA(v148, 19, 1) : half(0);
    }
    // tl.dot: matmul2d (Metal 4 tensor ops) or simdgroup_matrix 8x8, 4 tiles per SIMD-group (2x2; 4 of 4 SIMD-groups), K in chunks of 16, accumulating into the loop's matrices
    {
      uint tm_w = tm_tid / 32u, tm_r = tm_w / 2u * 16u, tm_c = tm_w % 2u * 16u;
      for (int k0 = 0; k0 < 16; k0 += 16) {
        TM_UNROLL
        for (uint kv = 0; kv < 4u; kv += 4u) { // 4-element vectors
          uint k = kv;
          uint lane = tm_tid % 32u, warp = tm_tid / 32u;
          uint e1 = (k / 1u % 4u) / 4u * 16u + ((warp % 1u) * 4u + lane % 4u) * 4u + (k / 1u % 4u) % 4u;
          lane /= 4u; warp /= 1u;
          int c1 = int(e1 % 16u);
          uint e0 = (k / 4u % 1u) / 1u * 32u + ((warp % 4u) * 8u + lane % 8u) * 1u + (k / 4u % 1u) % 1u;
          int c0 = int(e0 % 32u);
          if (c1 >= k0 && c1 < k0 + 16) {
            uint2 t;
            for (uint w = 0; w < 2u; ++w) { half2 e; for (uint j = 0; j < 2u; ++j) { uint k = kv + w * 2u + j; e[j] = r11_2[k]; } t[w] = as_type<uint>(e); }
            TM_TG_VSTORE(uint2, TM_TGM(tm_smem_half, 20), (c0) * 16 + (c1 - k0), t);
          }
        }
        TM_UNROLL
        for (uint kv = 0; kv < 4u; kv += 4u) { // 4-element vectors
          uint k = kv;
          uint lane = tm_tid % 32u, warp = tm_tid / 32u;
          uint e1 = (k / 1u % 4u) / 4u * 32u + ((warp % 1u) * 8u + lane % 8u) * 4u + (k / 1u % 4u) % 4u;
          lane /= 8u; warp /= 1u;
          int c1 = int(e1 % 32u);
          uint e0 = (k / 4u % 1u) / 1u * 16u + ((warp % 4u) * 4u + lane % 4u) * 1u + (k / 4u % 1u) % 1u;
          int c0 = int(e0 % 16u);
          if (c0 >= k0 && c0 < k0 + 16) {
            uint2 t;
            for (uint w = 0; w < 2u; ++w) { half2 e; for (uint j = 0; j < 2u; ++j) { uint k = kv + w * 2u + j; e[j] = r11_3[k]; } t[w] = as_type<uint>(e); }
            TM_TG_VSTORE(uint2, TM_TGM(tm_smem_half, 20), 512 + ((c0 - k0)) * 32 + c1, t);
          }
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);
#if TM_TENSOR_OPS
        tm_op39.run(tm_ta39, tm_tb39, tm_acc11_1);
#else
        for (uint kk = 0; kk < 16u; kk += 8u) {
          simdgroup_matrix<half, 8, 8> tm_a[2];
          for (uint i = 0; i < 2u; ++i) simdgroup_load(tm_a[i], TM_TGM(tm_smem_half, 20) + ((tm_r + i * 8u) * 16u + kk), 16);
          simdgroup_matrix<half, 8, 8> tm_b[2];
          for (uint j = 0; j < 2u; ++j) simdgroup_load(tm_b[j], TM_TGM(tm_smem_half, 20) + (512u + kk * 32u + tm_c + j * 8u), 32);
          tm_sgm_mac<2u, 2u>(tm_acc11_1, tm_a, tm_b);
        }
#endif
        threadgroup_barrier(mem_flags::mem_threadgroup);
      }
    }
    half y11_2[4]; for (uint k = 0; k < 4u; ++k) y11_2[k] = v113[k];
    half y11_3[4]; for (uint k = 0; k < 4u; ++k) y11_3[k] = v150[k];
    for (uint k = 0; k < 4u; ++k) r11_2[k] = y11_2[k];
    for (uint k = 0; k < 4u; ++k) r11_3[k] = y11_3[k];
  }
#if TM_TENSOR_OPS
  {
    auto tm_tc = metal::tensor<TM_TG(float), metal::dextents<int, 2>, metal::tensor_inline>(TM_TGM(tm_smem_float, 20), metal::dextents<int, 2>(32, 32));
    tm_acc11_1.store(tm_tc);
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  for (uint k = 0; k < 8u; ++k) {
    uint lane = tm_tid % 32u, warp = tm_tid / 32u;
    uint e1 = (k / 1u % 8u) / 8u * 32u + ((warp % 1u) * 4u + lane % 4u) * 8u + (k / 1u % 8u) % 8u;
    lane /= 4u; warp /= 1u;
    int c1 = int(e1 % 32u);
    uint e0 = (k / 8u % 1u) / 1u * 32u + ((warp % 4u) * 8u + lane % 8u) * 1u + (k / 8u % 1u) % 1u;
    int c0 = int(e0 % 32u);
    r11_1[k] = float(TM_TGM(tm_smem_float, 20)[c0 * 32 + c1]);
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
#else
  {
    uint tm_w = tm_tid / 32u, tm_r = tm_w / 2u * 16u, tm_c = tm_w % 2u * 16u;
    for (uint i = 0; i < 2u; ++i)
      for (uint j = 0; j < 2u; ++j) simdgroup_store(tm_acc11_1[i * 2u + j], TM_TGM(tm_smem_float, 20) + ((tm_r + i * 8u) * 32u + tm_c + j * 8u), 32);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (uint k = 0; k < 8u; ++k) {
      uint lane = tm_tid % 32u, warp = tm_tid / 32u;
      uint e1 = (k / 1u % 8u) / 8u * 32u + ((warp % 1u) * 4u + lane % 4u) * 8u + (k / 1u % 8u) % 8u;
      lane /= 4u; warp /= 1u;
      int c1 = int(e1 % 32u);
      uint e0 = (k / 8u % 1u) / 1u * 32u + ((warp % 4u) * 8u + lane % 8u) * 1u + (k / 8u % 1u) % 1u;
      int c0 = int(e0 % 32u);
      r11_1[k] = float(TM_TGM(tm_smem_float, 20)[c0 * 32 + c1]);
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
  }
#endif
  device half* v47[1];
  for (uint k = 0; k < 1u; ++k) {
    int v42 = v4[0];
    int v45 = as_type<int>(as_type<uint>(v42) * as_type<uint>(32));
    v47[k] = c_ptr + v45;
  }
  int v48[8];
  for (uint k = 0; k < 8u; ++k) {
    v48[k] = v5[(k / 1u % 8u) * 1u];
  }
  for (uint k = 0; k < 8u; ++k) {
    device half* v49 = v47[0];
    int v50 = v48[(k / 1u % 8u) * 1u];
    device half* v51 = v49 + v50;
    half v52 = half(r11_1[k]);
    *TM_STA(v51, 21, 2) = v52;
  }
}
