// rejects: variable 'v' is used uninitialized whenever 'if' condition is false [-Werror,-Wsometimes-uninitialized]
#include <metal_stdlib>
using namespace metal;
kernel void k(device float* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  float v;
  if (i < 16u) v = x[i];
  x[i] = v;
}
