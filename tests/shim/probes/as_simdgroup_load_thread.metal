// rejects: simdgroup_load: the pointer must be a device or threadgroup pointer
// simdgroup_load has device and threadgroup overloads only.
#include <metal_stdlib>
using namespace metal;
kernel void k(device float* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  float t[64];
  for (int j = 0; j < 64; j++) t[j] = x[j];
  simdgroup_float8x8 m;
  simdgroup_load(m, t);
  simdgroup_store(m, x);
}
