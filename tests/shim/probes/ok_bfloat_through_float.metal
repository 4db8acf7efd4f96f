// compiles: the same operations as the bfloat probes, in float or as ushort
#include <metal_stdlib>
using namespace metal;
kernel void k(device bfloat* x [[buffer(0)]], uint i [[thread_position_in_grid]]) {
  float a = float(x[i]), b = float(x[i + 1]);
  x[i] = bfloat(fmax(a, b) + abs(a) + exp(b) + simd_sum(a));
  x[i + 1] = as_type<bfloat>(simd_shuffle_xor(as_type<ushort>(x[i]), ushort(1)));
}
