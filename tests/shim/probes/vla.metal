// rejects: variable length array
// MSL has no variable-length arrays.
#include <metal_stdlib>
using namespace metal;
kernel void k(device float* x [[buffer(0)]], constant int& n [[buffer(1)]], uint i [[thread_position_in_grid]]) {
  float tmp[n];
  tmp[0] = x[i];
  x[i] = tmp[0];
}
