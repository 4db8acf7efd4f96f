// rejects: cannot initialize a variable of type 'device float *' with an lvalue of type 'threadgroup float *'
#include <metal_stdlib>
using namespace metal;
void copy(threadgroup float *t, uint i) {
  device float *d = t;
  d[i] = 0.0f;
}
kernel void k(device float* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  threadgroup float a[32];
  copy(a, i);
  x[i] = a[i];
}
