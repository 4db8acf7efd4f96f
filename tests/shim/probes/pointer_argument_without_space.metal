// rejects: kernel argument 'x' is a pointer or reference without an address space
#include <metal_stdlib>
using namespace metal;
kernel void k(float* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  x[i] = 0.0f;
}
