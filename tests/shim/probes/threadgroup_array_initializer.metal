// rejects: threadgroup variable 'tile' has an initializer
#include <metal_stdlib>
using namespace metal;
kernel void k(device float* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  threadgroup float tile[4] = {1.0f, 2.0f, 3.0f, 4.0f};
  x[i] = tile[i % 4u];
}
