// rejects: static local variables are not supported in Metal
#include <metal_stdlib>
using namespace metal;
float next(float v) {
  static float last = 0.0f;
  float r = last;
  last = v;
  return r;
}
kernel void k(device float* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  x[i] = next(x[i]);
}
