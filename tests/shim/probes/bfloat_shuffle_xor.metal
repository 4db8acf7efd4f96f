// rejects: simd_shuffle_xor on bfloat
// MLX shuffles bfloat as uint16_t; Metal's simd_shuffle_xor has no bfloat overload.
#include <metal_stdlib>
using namespace metal;
kernel void k(device bfloat* x [[buffer(0)]], uint i [[thread_position_in_grid]]) {
  x[i] = simd_shuffle_xor(x[i], ushort(1));
}
