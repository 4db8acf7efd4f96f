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
template <typename T> inline T tm_shfl_xor(T x, ushort m) { return simd_shuffle_xor(x, m); }
inline bool tm_shfl_xor(bool x, ushort m) { return simd_shuffle_xor(ushort(x), m) != 0; }
inline long tm_shfl_xor(long x, ushort m) { return as_type<long>(simd_shuffle_xor(as_type<uint2>(x), m)); }
inline ulong tm_shfl_xor(ulong x, ushort m) { return as_type<ulong>(simd_shuffle_xor(as_type<uint2>(x), m)); }
inline bfloat tm_shfl_xor(bfloat x, ushort m) { return as_type<bfloat>(simd_shuffle_xor(as_type<ushort>(x), m)); }
#ifndef TM_BFLY
template <int G> struct tm_bfly_g;
template <> struct tm_bfly_g<4> {
  template <typename V, int N, typename T, typename F> static inline void step(thread T *a, ushort m, F f) {
    if (N % 8 == 0) {
      for (int k = 0; k < N; k += 8) {
        V o, ob;
        for (int j = 0; j < 4; ++j) o[j] = a[k + j], ob[j] = a[k + 4 + j];
        tm_shfl_xor2(o, ob, m);
        for (int j = 0; j < 4; ++j) f(a[k + j], o[j]);
        for (int j = 0; j < 4; ++j) f(a[k + 4 + j], ob[j]);
      }
    } else {
      for (int k = 0; k < N; k += 4) {
        V o;
        for (int j = 0; j < 4; ++j) o[j] = a[k + j];
        o = simd_shuffle_xor(o, m);
        for (int j = 0; j < 4; ++j) f(a[k + j], o[j]);
      }
    }
  }
};
template <> struct tm_bfly_g<2> {
  template <typename V, int N, typename T, typename F> static inline void step(thread T *a, ushort m, F f) {
    for (int k = 0; k < N; k += 2) {
      V o;
      for (int j = 0; j < 2; ++j) o[j] = a[k + j];
      o = simd_shuffle_xor(o, m);
      for (int j = 0; j < 2; ++j) f(a[k + j], o[j]);
    }
  }
};
template <> struct tm_bfly_g<1> {
  template <typename V, int N, typename T, typename F> static inline void step(thread T *a, ushort m, F f) {
    for (int k = 0; k < N; ++k) f(a[k], tm_shfl_xor(a[k], m));
  }
};
template <int G, typename V, int N, typename T, typename F> inline void tm_bfly(thread T *a, ushort m0, ushort m1, F f) {
  for (ushort m = m0; m < m1; m <<= 1) tm_bfly_g<G>::template step<V, N>(a, m, f);
}
#endif
#ifndef TM_SGM_MAC
template <uint TM, uint TN, typename TA, typename TI>
inline void tm_sgm_mac(thread simdgroup_matrix<TA, 8, 8> *acc, thread simdgroup_matrix<TI, 8, 8> *a,
                       thread simdgroup_matrix<TI, 8, 8> *b) {
  for (uint i = 0; i < TM; ++i)
    for (uint j = 0; j < TN; ++j) simdgroup_multiply_accumulate(acc[i * TN + j], a[i], b[j], acc[i * TN + j]);
}
#endif
struct tm_comb64 {
  inline void operator()(thread float &a, float o) const {
    {
      float v67 = fmax(a, o);
      float t0 = v67;
      a = t0;
    }
  }
};
struct tm_comb78 {
  inline void operator()(thread float &a, float o) const {
    {
      float v81 = a + o;
      float t0 = v81;
      a = t0;
    }
  }
};

kernel void attn_fwd(
    device const half* Q [[buffer(0)]],
    device const half* K [[buffer(1)]],
    device const half* V [[buffer(2)]],
    device half* Out [[buffer(3)]],
    constant float& sm_scale [[buffer(4)]],
    constant int& N_CTX [[buffer(5)]],
    uint3 tm_pid [[threadgroup_position_in_grid]],
    uint tm_tid [[thread_index_in_threadgroup]])
{
  TM_TG_BASE(5120);
  TM_TG_ARRAY(half, tm_smem_half, 2560, 0);
  int v6 = int(tm_pid.x);
  int v7 = int(tm_pid.y);
  int v8 = as_type<int>(as_type<uint>(v7) * as_type<uint>(N_CTX));
  int v10 = as_type<int>(as_type<uint>(v8) * as_type<uint>(32));
  int v12 = as_type<int>(as_type<uint>(v6) * as_type<uint>(32));
  int v15[1];
  for (uint k = 0; k < 1u; ++k) {
    uint lane = tm_tid % 32u, warp = tm_tid / 32u;
    uint e1 = (k / 1u % 1u) / 1u * 8u + ((warp % 1u) * 4u + lane % 4u) * 2u + (k / 1u % 1u) % 1u;
    lane /= 4u; warp /= 1u;
    int c1 = int(e1 % 1u);
    uint e0 = (k / 1u % 1u) / 1u * 32u + ((warp % 4u) * 8u + lane % 8u) * 1u + (k / 1u % 1u) % 1u;
    int c0 = int(e0 % 32u);
    int v13 = c0;
    v15[k] = as_type<int>(as_type<uint>(v12) + as_type<uint>(v13));
  }
  int v17[8];
  device const half* v18 = Q + v10;
  for (uint k = 0; k < 8u; ++k) {
    uint lane = tm_tid % 32u, warp = tm_tid / 32u;
    uint e1 = (k / 1u % 8u) / 2u * 8u + ((warp % 1u) * 4u + lane % 4u) * 2u + (k / 1u % 8u) % 2u;
    lane /= 4u; warp /= 1u;
    int c1 = int(e1 % 32u);
    uint e0 = (k / 8u % 1u) / 1u * 32u + ((warp % 4u) * 8u + lane % 8u) * 1u + (k / 8u % 1u) % 1u;
    int c0 = int(e0 % 1u);
    v17[k] = c1;
  }
  int v127[1];
  for (uint k = 0; k < 1u; ++k) {
    uint lane = tm_tid % 32u, warp = tm_tid / 32u;
    uint e1 = (k / 1u % 1u) / 1u * 32u + ((warp % 1u) * 4u + lane % 4u) * 8u + (k / 1u % 1u) % 1u;
    lane /= 4u; warp /= 1u;
    int c1 = int(e1 % 1u);
    uint e0 = (k / 1u % 1u) / 1u * 32u + ((warp % 4u) * 8u + lane % 8u) * 1u + (k / 1u % 1u) % 1u;
    int c0 = int(e0 % 32u);
    int v126 = c0;
    v127[k] = as_type<int>(as_type<uint>(v12) + as_type<uint>(v126));
  }
  device const half* v131[1];
  for (uint k = 0; k < 1u; ++k) {
    int v128 = v127[0];
    int v130 = as_type<int>(as_type<uint>(v128) * as_type<uint>(32));
    v131[k] = v18 + v130;
  }
  device const half* v132[8];
  for (uint k = 0; k < 8u; ++k) {
    v132[k] = v131[0];
  }
  int v133[8];
  for (uint k = 0; k < 8u; ++k) {
    uint lane = tm_tid % 32u, warp = tm_tid / 32u;
    uint e1 = (k / 1u % 8u) / 8u * 32u + ((warp % 1u) * 4u + lane % 4u) * 8u + (k / 1u % 8u) % 8u;
    lane /= 4u; warp /= 1u;
    int c1 = int(e1 % 32u);
    uint e0 = (k / 8u % 1u) / 1u * 32u + ((warp % 4u) * 8u + lane % 8u) * 1u + (k / 8u % 1u) % 1u;
    int c0 = int(e0 % 1u);
    v133[k] = c1;
  }
  int v134[8];
  for (uint k = 0; k < 8u; ++k) {
    v134[k] = v133[(k / 1u % 8u) * 1u];
  }
  half v29[8];
  float v37 = sm_scale * 1.44269502f;
  bool v165 = 0 < N_CTX;
  device const half* v166 = K + v10;
  for (uint k = 0; k < 8u; ++k) {
    int v135 = v134[(k / 1u % 8u) * 1u];
    device const half* v136 = v132[k] + v135;
    v29[k] = *TM_LDA(v136, 20, 0);
  }
  int v170[8];
  for (uint k = 0; k < 8u; ++k) {
    uint lane = tm_tid % 32u, warp = tm_tid / 32u;
    uint e0 = (k / 1u % 1u) / 1u * 32u + ((warp % 1u) * 32u + lane % 32u) * 1u + (k / 1u % 1u) % 1u;
    lane /= 32u; warp /= 1u;
    int c0 = int(e0 % 1u);
    uint e1 = (k / 1u % 8u) / 1u * 4u + ((warp % 4u) * 1u + lane % 1u) * 1u + (k / 1u % 8u) % 1u;
    int c1 = int(e1 % 32u);
    int v169 = c1;
    v170[k] = as_type<int>(as_type<uint>(0) + as_type<uint>(v169));
  }
  device const half* v175[8];
  for (uint k = 0; k < 8u; ++k) {
    int v171 = v170[(k / 1u % 8u) * 1u];
    int v174 = as_type<int>(as_type<uint>(v171) * as_type<uint>(32));
    v175[k] = v166 + v174;
  }
  device const half* v176[8];
  for (uint k = 0; k < 8u; ++k) {
    v176[k] = v175[(k / 1u % 8u) * 1u];
  }
  int v177[1];
  for (uint k = 0; k < 1u; ++k) {
    uint lane = tm_tid % 32u, warp = tm_tid / 32u;
    uint e0 = (k / 1u % 1u) / 1u * 32u + ((warp % 1u) * 32u + lane % 32u) * 1u + (k / 1u % 1u) % 1u;
    lane /= 32u; warp /= 1u;
    int c0 = int(e0 % 32u);
    uint e1 = (k / 1u % 1u) / 1u * 4u + ((warp % 4u) * 1u + lane % 1u) * 1u + (k / 1u % 1u) % 1u;
    int c1 = int(e1 % 1u);
    v177[k] = c0;
  }
  int v178[1];
  for (uint k = 0; k < 1u; ++k) {
    v178[k] = v177[0];
  }
  half v182[8];
  bool v204 = 0 < N_CTX;
  device const half* v205 = V + v10;
  for (uint k = 0; k < 8u; ++k) {
    int v179 = v178[0];
    device const half* v180 = v176[k] + v179;
    v182[k] = v165 ? *TM_LDA(v180, 26, 1) : half(0);
  }
  int v209[1];
  for (uint k = 0; k < 1u; ++k) {
    uint lane = tm_tid % 32u, warp = tm_tid / 32u;
    uint e1 = (k / 1u % 1u) / 1u * 32u + ((warp % 1u) * 4u + lane % 4u) * 8u + (k / 1u % 1u) % 1u;
    lane /= 4u; warp /= 1u;
    int c1 = int(e1 % 1u);
    uint e0 = (k / 1u % 1u) / 1u * 32u + ((warp % 4u) * 8u + lane % 8u) * 1u + (k / 1u % 1u) % 1u;
    int c0 = int(e0 % 32u);
    int v208 = c0;
    v209[k] = as_type<int>(as_type<uint>(0) + as_type<uint>(v208));
  }
  device const half* v214[1];
  for (uint k = 0; k < 1u; ++k) {
    int v210 = v209[0];
    int v213 = as_type<int>(as_type<uint>(v210) * as_type<uint>(32));
    v214[k] = v205 + v213;
  }
  device const half* v215[8];
  for (uint k = 0; k < 8u; ++k) {
    v215[k] = v214[0];
  }
  int v216[8];
  for (uint k = 0; k < 8u; ++k) {
    uint lane = tm_tid % 32u, warp = tm_tid / 32u;
    uint e1 = (k / 1u % 8u) / 8u * 32u + ((warp % 1u) * 4u + lane % 4u) * 8u + (k / 1u % 8u) % 8u;
    lane /= 4u; warp /= 1u;
    int c1 = int(e1 % 32u);
    uint e0 = (k / 8u % 1u) / 1u * 32u + ((warp % 4u) * 8u + lane % 8u) * 1u + (k / 8u % 1u) % 1u;
    int c0 = int(e0 % 1u);
    v216[k] = c1;
  }
  int v217[8];
  for (uint k = 0; k < 8u; ++k) {
    v217[k] = v216[(k / 1u % 8u) * 1u];
  }
  half v221[8];
  for (uint k = 0; k < 8u; ++k) {
    int v218 = v217[(k / 1u % 8u) * 1u];
    device const half* v219 = v215[k] + v218;
    v221[k] = v204 ? *TM_LDA(v219, 32, 2) : half(0);
  }
  float r40_1[1];
  for (uint k = 0; k < 1u; ++k) r40_1[k] = 0.0f;
  float r40_2[8];
  float r40_3[1];
  for (uint k = 0; k < 1u; ++k) r40_3[k] = (-INFINITY);
  half r40_4[8];
  for (uint k = 0; k < 8u; ++k) r40_4[k] = v182[k];
  half r40_5[8];
  for (uint k = 0; k < 8u; ++k) r40_5[k] = v221[k];
  // tm_acc40_2: tl.dot's accumulator in simdgroup matrices across the loop
  simdgroup_matrix<float, 8, 8> tm_acc40_2[4];
  for (uint t = 0; t < 4u; ++t) tm_acc40_2[t] = make_filled_simdgroup_matrix<float, 8, 8>(float(0.0f));
  // tl.dot @27: A is the same on every iteration: staged and loaded into fragments once, here
  simdgroup_matrix<half, 8, 8> tm_qa61[4][1];
  {
    uint tm_w = tm_tid / 32u, tm_r = tm_w * 8u, tm_c = 0u;
    for (int k0 = 0; k0 < 32; k0 += 32) {
      TM_UNROLL
      for (uint kv = 0; kv < 8u; kv += 8u) { // 8-element vectors
        uint k = kv;
        uint lane = tm_tid % 32u, warp = tm_tid / 32u;
        uint e1 = (k / 1u % 8u) / 8u * 32u + ((warp % 1u) * 4u + lane % 4u) * 8u + (k / 1u % 8u) % 8u;
        lane /= 4u; warp /= 1u;
        int c1 = int(e1 % 32u);
        uint e0 = (k / 8u % 1u) / 1u * 32u + ((warp % 4u) * 8u + lane % 8u) * 1u + (k / 8u % 1u) % 1u;
        int c0 = int(e0 % 32u);
        if (c1 >= k0 && c1 < k0 + 32) {
          uint4 t;
          for (uint w = 0; w < 4u; ++w) { half2 e; for (uint j = 0; j < 2u; ++j) { uint k = kv + w * 2u + j; e[j] = v29[k]; } t[w] = as_type<uint>(e); }
          TM_TG_VSTORE(uint4, TM_TGM(tm_smem_half, 27), (c0) * 40 + (c1 - k0), t);
        }
      }
      threadgroup_barrier(mem_flags::mem_threadgroup);
      for (uint kk = 0; kk < 32u; kk += 8u)
        for (uint i = 0; i < 1u; ++i) simdgroup_load(tm_qa61[(uint(k0) + kk) / 8u][i], TM_TGM(tm_smem_half, 27) + ((tm_r + i * 32u) * 40u + kk), 40);
      threadgroup_barrier(mem_flags::mem_threadgroup);
    }
  }
  for (int r40_0 = 0; r40_0 < N_CTX; r40_0 += 32) {
    TM_POLL(25);
    int v183 = as_type<int>(as_type<uint>(r40_0) + as_type<uint>(32));
    bool v184 = v183 < N_CTX;
    device const half* v185 = K + v10;
    int v189[8];
    for (uint k = 0; k < 8u; ++k) {
      uint lane = tm_tid % 32u, warp = tm_tid / 32u;
      uint e0 = (k / 1u % 1u) / 1u * 32u + ((warp % 1u) * 32u + lane % 32u) * 1u + (k / 1u % 1u) % 1u;
      lane /= 32u; warp /= 1u;
      int c0 = int(e0 % 1u);
      uint e1 = (k / 1u % 8u) / 1u * 4u + ((warp % 4u) * 1u + lane % 1u) * 1u + (k / 1u % 8u) % 1u;
      int c1 = int(e1 % 32u);
      int v188 = c1;
      v189[k] = as_type<int>(as_type<uint>(v183) + as_type<uint>(v188));
    }
    device const half* v194[8];
    for (uint k = 0; k < 8u; ++k) {
      int v190 = v189[(k / 1u % 8u) * 1u];
      int v193 = as_type<int>(as_type<uint>(v190) * as_type<uint>(32));
      v194[k] = v185 + v193;
    }
    device const half* v195[8];
    for (uint k = 0; k < 8u; ++k) {
      v195[k] = v194[(k / 1u % 8u) * 1u];
    }
    int v196[1];
    for (uint k = 0; k < 1u; ++k) {
      uint lane = tm_tid % 32u, warp = tm_tid / 32u;
      uint e0 = (k / 1u % 1u) / 1u * 32u + ((warp % 1u) * 32u + lane % 32u) * 1u + (k / 1u % 1u) % 1u;
      lane /= 32u; warp /= 1u;
      int c0 = int(e0 % 32u);
      uint e1 = (k / 1u % 1u) / 1u * 4u + ((warp % 4u) * 1u + lane % 1u) * 1u + (k / 1u % 1u) % 1u;
      int c1 = int(e1 % 1u);
      v196[k] = c0;
    }
    int v197[1];
    for (uint k = 0; k < 1u; ++k) {
      v197[k] = v196[0];
    }
    half v201[8];
    for (uint k = 0; k < 8u; ++k) {
      int v198 = v197[0];
      device const half* v199 = v195[k] + v198;
      v201[k] = v184 ? *TM_LDA(v199, 26, 1) : half(0);
    }
    // tl.dot: simdgroup_matrix 8x8, 4 tiles per SIMD-group (1x4; 4 of 4 SIMD-groups), K in chunks of 32
    float v61[8];
    {
      uint tm_w = tm_tid / 32u, tm_r = tm_w * 8u, tm_c = 0u;
      simdgroup_matrix<float, 8, 8> tm_acc[4];
      for (uint t = 0; t < 4u; ++t) tm_acc[t] = make_filled_simdgroup_matrix<float, 8, 8>(float(0));
      for (int k0 = 0; k0 < 32; k0 += 32) {
        TM_UNROLL
        for (uint k = 0; k < 8u; ++k) {
          uint lane = tm_tid % 32u, warp = tm_tid / 32u;
          uint e0 = (k / 1u % 1u) / 1u * 32u + ((warp % 1u) * 32u + lane % 32u) * 1u + (k / 1u % 1u) % 1u;
          lane /= 32u; warp /= 1u;
          int c0 = int(e0 % 32u);
          uint e1 = (k / 1u % 8u) / 1u * 4u + ((warp % 4u) * 1u + lane % 1u) * 1u + (k / 1u % 8u) % 1u;
          int c1 = int(e1 % 32u);
          if (c0 >= k0 && c0 < k0 + 32) TM_TGM(tm_smem_half, 27)[((c0 - k0)) * 40 + c1] = r40_4[k];
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);
        for (uint kk = 0; kk < 32u; kk += 8u) {
          simdgroup_matrix<half, 8, 8> tm_b[4];
          for (uint j = 0; j < 4u; ++j) simdgroup_load(tm_b[j], TM_TGM(tm_smem_half, 27) + (0u + kk * 40u + tm_c + j * 8u), 40);
          tm_sgm_mac<1u, 4u>(tm_acc, tm_qa61[(uint(k0) + kk) / 8u], tm_b);
        }
      }
      for (uint t = 0; t < 4u; t += 2u) {
        float4 tm_q = TM_SGM_PULL(float4(tm_acc[t].thread_elements()[0], tm_acc[t].thread_elements()[1], tm_acc[t + 1u].thread_elements()[0], tm_acc[t + 1u].thread_elements()[1]), tm_tid % 32u);
        for (uint e = 0; e < 4u; ++e) {
          uint k = t * 2u + e;
          v61[k] = float(float(0.0f) + tm_q[e]);
        }
      }
    }
    float v63[8];
    for (uint k = 0; k < 8u; ++k) {
      v63[k] = v61[k] * v37;
    }
    float r64_1[1];
    {
      float a0[1];
      TM_UNROLL
      for (uint k = 0; k < 8u; ++k) {
        uint lane = tm_tid % 32u, warp = tm_tid / 32u;
        uint e1 = (k / 1u % 8u) / 2u * 8u + ((warp % 1u) * 4u + lane % 4u) * 2u + (k / 1u % 8u) % 2u;
        lane /= 4u; warp /= 1u;
        int c1 = int(e1 % 32u);
        uint e0 = (k / 8u % 1u) / 1u * 32u + ((warp % 4u) * 8u + lane % 8u) * 1u + (k / 8u % 1u) % 1u;
        int c0 = int(e0 % 32u);
        uint kr = 0;
        float x0 = v63[k];
        if (k / 1u % 8u == 0u) {
          a0[kr] = x0;
        } else {
          {
            float v67 = fmax(a0[kr], x0);
            float t0 = v67;
            a0[kr] = t0;
          }
        }
      }
      tm_bfly<1, float, 1>(a0, ushort(1u), ushort(4u), tm_comb64());
      for (uint k = 0; k < 1u; ++k) r64_1[k] = a0[k];
    }
    float v70[1];
    for (uint k = 0; k < 1u; ++k) {
      v70[k] = fmax(r40_3[k], r64_1[k]);
    }
    float v71[1];
    for (uint k = 0; k < 1u; ++k) {
      v71[k] = v70[0];
    }
    float v74[8];
    for (uint k = 0; k < 8u; ++k) {
      float v72 = v71[0];
      float v73 = v63[k] - v72;
      v74[k] = precise::exp2(v73);
    }
    float v76[1];
    float v77[1];
    for (uint k = 0; k < 1u; ++k) {
      float v75 = r40_3[k] - v70[k];
      v76[k] = precise::exp2(v75);
      v77[k] = r40_1[k] * v76[k];
    }
    float r78_1[1];
    {
      float a0[1];
      TM_UNROLL
      for (uint k = 0; k < 8u; ++k) {
        uint lane = tm_tid % 32u, warp = tm_tid / 32u;
        uint e1 = (k / 1u % 8u) / 2u * 8u + ((warp % 1u) * 4u + lane % 4u) * 2u + (k / 1u % 8u) % 2u;
        lane /= 4u; warp /= 1u;
        int c1 = int(e1 % 32u);
        uint e0 = (k / 8u % 1u) / 1u * 32u + ((warp % 4u) * 8u + lane % 8u) * 1u + (k / 8u % 1u) % 1u;
        int c0 = int(e0 % 32u);
        uint kr = 0;
        float x0 = v74[k];
        if (k / 1u % 8u == 0u) {
          a0[kr] = x0;
        } else {
          {
            float v81 = a0[kr] + x0;
            float t0 = v81;
            a0[kr] = t0;
          }
        }
      }
      tm_bfly<1, float, 1>(a0, ushort(1u), ushort(4u), tm_comb78());
      for (uint k = 0; k < 1u; ++k) r78_1[k] = a0[k];
    }
    float v84[1];
    for (uint k = 0; k < 1u; ++k) {
      v84[k] = v77[k] + r78_1[k];
    }
    half v99[8];
    for (uint k = 0; k < 8u; ++k) {
      v99[k] = half(v74[k]);
    }
    float v100[1];
    for (uint k = 0; k < 1u; ++k) {
      v100[k] = v76[0];
    }
    int v222 = as_type<int>(as_type<uint>(r40_0) + as_type<uint>(32));
    bool v223 = v222 < N_CTX;
    device const half* v224 = V + v10;
    for (uint k = 0; k < 8u; ++k) {
      float v101 = v100[0];
    }
    int v228[1];
    for (uint k = 0; k < 1u; ++k) {
      uint lane = tm_tid % 32u, warp = tm_tid / 32u;
      uint e1 = (k / 1u % 1u) / 1u * 32u + ((warp % 1u) * 4u + lane % 4u) * 8u + (k / 1u % 1u) % 1u;
      lane /= 4u; warp /= 1u;
      int c1 = int(e1 % 1u);
      uint e0 = (k / 1u % 1u) / 1u * 32u + ((warp % 4u) * 8u + lane % 8u) * 1u + (k / 1u % 1u) % 1u;
      int c0 = int(e0 % 32u);
      int v227 = c0;
      v228[k] = as_type<int>(as_type<uint>(v222) + as_type<uint>(v227));
    }
    device const half* v233[1];
    for (uint k = 0; k < 1u; ++k) {
      int v229 = v228[0];
      int v232 = as_type<int>(as_type<uint>(v229) * as_type<uint>(32));
      v233[k] = v224 + v232;
    }
    device const half* v234[8];
    for (uint k = 0; k < 8u; ++k) {
      v234[k] = v233[0];
    }
    int v235[8];
    for (uint k = 0; k < 8u; ++k) {
      uint lane = tm_tid % 32u, warp = tm_tid / 32u;
      uint e1 = (k / 1u % 8u) / 8u * 32u + ((warp % 1u) * 4u + lane % 4u) * 8u + (k / 1u % 8u) % 8u;
      lane /= 4u; warp /= 1u;
      int c1 = int(e1 % 32u);
      uint e0 = (k / 8u % 1u) / 1u * 32u + ((warp % 4u) * 8u + lane % 8u) * 1u + (k / 8u % 1u) % 1u;
      int c0 = int(e0 % 1u);
      v235[k] = c1;
    }
    int v236[8];
    for (uint k = 0; k < 8u; ++k) {
      v236[k] = v235[(k / 1u % 8u) * 1u];
    }
    half v240[8];
    for (uint k = 0; k < 8u; ++k) {
      int v237 = v236[(k / 1u % 8u) * 1u];
      device const half* v238 = v234[k] + v237;
      v240[k] = v223 ? *TM_LDA(v238, 32, 2) : half(0);
    }
    // tl.dot: simdgroup_matrix 8x8, 4 tiles per SIMD-group (1x4; 4 of 4 SIMD-groups), K in chunks of 32, accumulating into the loop's matrices
    {
      uint tm_w = tm_tid / 32u, tm_r = tm_w * 8u, tm_c = 0u;
      for (int k0 = 0; k0 < 32; k0 += 32) {
        TM_UNROLL
        for (uint kv = 0; kv < 8u; kv += 8u) { // 8-element vectors
          uint k = kv;
          uint lane = tm_tid % 32u, warp = tm_tid / 32u;
          uint e1 = (k / 1u % 8u) / 8u * 32u + ((warp % 1u) * 4u + lane % 4u) * 8u + (k / 1u % 8u) % 8u;
          lane /= 4u; warp /= 1u;
          int c1 = int(e1 % 32u);
          uint e0 = (k / 8u % 1u) / 1u * 32u + ((warp % 4u) * 8u + lane % 8u) * 1u + (k / 8u % 1u) % 1u;
          int c0 = int(e0 % 32u);
          if (c0 >= k0 && c0 < k0 + 32) {
            uint4 t;
            for (uint w = 0; w < 4u; ++w) { half2 e; for (uint j = 0; j < 2u; ++j) { uint k = kv + w * 2u + j; e[j] = r40_5[k]; } t[w] = as_type<uint>(e); }
            TM_TG_VSTORE(uint4, TM_TGM(tm_smem_half, 33), 1280 + ((c0 - k0)) * 40 + c1, t);
          }
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);
        if (k0 == 0) for (uint i = 0; i < 1u; ++i) {
          uint k = i;
          float tm_f = TM_SGM_PUSH(float(v100[k]), tm_tid % 32u);
          for (uint j = 0; j < 4u; ++j) {
            tm_acc40_2[i * 4u + j].thread_elements()[0] *= tm_f;
            tm_acc40_2[i * 4u + j].thread_elements()[1] *= tm_f;
          }
        }
        for (uint kk = 0; kk < 32u; kk += 8u) {
          simdgroup_matrix<half, 8, 8> tm_a[1];
          for (uint i = 0; i < 1u; i += 1u) {
            half2 tm_q;
            for (uint e = 0; e < 2u; ++e) {
              uint k = ((i + e / 2u) * 4u + (uint(k0) + kk) / 8u) * 2u + e % 2u;
              tm_q[e] = half(v99[k]);
            }
            tm_q = TM_SGM_PUSH(tm_q, tm_tid % 32u);
            for (uint e = 0; e < 2u; ++e) tm_a[i + e / 2u].thread_elements()[e % 2u] = half(tm_q[e]);
          }
          simdgroup_matrix<half, 8, 8> tm_b[4];
          for (uint j = 0; j < 4u; ++j) simdgroup_load(tm_b[j], TM_TGM(tm_smem_half, 33) + (1280u + kk * 40u + tm_c + j * 8u), 40);
          tm_sgm_mac<1u, 4u>(tm_acc40_2, tm_a, tm_b);
        }
      }
    }
    float y40_1[1]; for (uint k = 0; k < 1u; ++k) y40_1[k] = v84[k];
    float y40_3[1]; for (uint k = 0; k < 1u; ++k) y40_3[k] = v70[k];
    half y40_4[8]; for (uint k = 0; k < 8u; ++k) y40_4[k] = v201[k];
    half y40_5[8]; for (uint k = 0; k < 8u; ++k) y40_5[k] = v240[k];
    for (uint k = 0; k < 1u; ++k) r40_1[k] = y40_1[k];
    for (uint k = 0; k < 1u; ++k) r40_3[k] = y40_3[k];
    for (uint k = 0; k < 8u; ++k) r40_4[k] = y40_4[k];
    for (uint k = 0; k < 8u; ++k) r40_5[k] = y40_5[k];
  }
  {
    uint tm_w = tm_tid / 32u, tm_r = tm_w * 8u, tm_c = 0u;
    for (uint t = 0; t < 4u; t += 2u) {
      float4 tm_q = TM_SGM_PULL(float4(tm_acc40_2[t].thread_elements()[0], tm_acc40_2[t].thread_elements()[1], tm_acc40_2[t + 1u].thread_elements()[0], tm_acc40_2[t + 1u].thread_elements()[1]), tm_tid % 32u);
      for (uint e = 0; e < 4u; ++e) {
        uint k = t * 2u + e;
        r40_2[k] = float(tm_q[e]);
      }
    }
  }
  float v108[1];
  for (uint k = 0; k < 1u; ++k) {
    v108[k] = r40_1[0];
  }
  float v110[8];
  device half* v111 = Out + v10;
  for (uint k = 0; k < 8u; ++k) {
    float v109 = v108[0];
    v110[k] = r40_2[k] / v109;
  }
  device half* v117[1];
  for (uint k = 0; k < 1u; ++k) {
    int v112 = v15[0];
    int v115 = as_type<int>(as_type<uint>(v112) * as_type<uint>(32));
    v117[k] = v111 + v115;
  }
  int v118[8];
  for (uint k = 0; k < 8u; ++k) {
    v118[k] = v17[(k / 1u % 8u) * 1u];
  }
  for (uint k = 0; k < 8u; ++k) {
    device half* v119 = v117[0];
    int v120 = v118[(k / 1u % 8u) * 1u];
    device half* v121 = v119 + v120;
    half v122 = half(v110[k]);
    *TM_STA(v121, 36, 3) = v122;
  }
}
