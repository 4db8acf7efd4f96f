// rejects: function pointers are not supported in Metal ('&twice')
#include <metal_stdlib>
using namespace metal;
float twice(float v) { return 2.0f * v; }
template <class F> float apply(F f, float v) { return f(v); }
kernel void k(device float* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  x[i] = apply(&twice, x[i]);
}
