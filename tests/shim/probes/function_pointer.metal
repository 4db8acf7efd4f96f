// rejects: function pointers are not supported in Metal
#include <metal_stdlib>
using namespace metal;
float twice(float v) { return 2.0f * v; }
kernel void k(device float* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  float (*f)(float) = twice;
  x[i] = f(x[i]);
}
