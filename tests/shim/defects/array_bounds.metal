// rejects: array index 4 is past the end of the array & [-Werror,-Warray-bounds]
#include <metal_stdlib>
using namespace metal;
kernel void k(device float* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  float v[4] = {0, 1, 2, 3};
  x[i] = v[4];
}
