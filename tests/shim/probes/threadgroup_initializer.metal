// rejects: threadgroup variable 'count' has an initializer
#include <metal_stdlib>
using namespace metal;
kernel void k(device float* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  threadgroup float count = 0.0f;
  x[i] = count;
}
