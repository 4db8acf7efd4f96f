// rejects: threadgroup variable 'tile' at program scope
#include <metal_stdlib>
using namespace metal;
threadgroup float tile[32];
kernel void k(device float* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  tile[i] = x[i];
  x[i] = tile[31 - i];
}
