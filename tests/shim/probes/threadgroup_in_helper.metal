// rejects: threadgroup variable 'tile' in function 'helper', which is not a kernel
// Metal allocates threadgroup memory in kernels; helpers take threadgroup pointers.
#include <metal_stdlib>
using namespace metal;
float helper(float v, uint i) {
  threadgroup float tile[32];
  tile[i] = v;
  threadgroup_barrier(mem_flags::mem_threadgroup);
  return tile[31 - i];
}
kernel void k(device float* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  x[i] = helper(x[i], i);
}
