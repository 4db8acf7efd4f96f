// rejects: cannot initialize a variable of type 'float *' with an lvalue of type 'device float *'
// A plain pointer is a thread-space pointer in MSL; a device pointer does not convert to it.
#include <metal_stdlib>
using namespace metal;
kernel void k(device float* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  thread float *p = x;
  p[i] = 1.0f;
}
