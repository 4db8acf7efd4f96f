// rejects: address of stack memory associated with local variable 'v' returned [-Werror,-Wreturn-stack-address]
#include <metal_stdlib>
using namespace metal;
thread float *scratch(float a) {
  float v[2] = {a, a};
  return v;
}
kernel void k(device float* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  x[i] = scratch(x[i])[0];
}
