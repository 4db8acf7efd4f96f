// rejects: no matching function for call to 'scale' & threadgroup & 'device float *'
// A threadgroup pointer is not a device pointer (address spaces are part of the type).
#include <metal_stdlib>
using namespace metal;
void scale(device float *p, uint i) { p[i] *= 2.0f; }
kernel void k(device float* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  threadgroup float a[32];
  a[i] = x[i];
  threadgroup_barrier(mem_flags::mem_threadgroup);
  scale(a, i);
  x[i] = a[i];
}
