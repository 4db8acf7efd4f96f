// rejects: long long is not supported in Metal
// MSL's long is 64-bit; long long does not exist.
#include <metal_stdlib>
using namespace metal;
kernel void k(device long* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  long long v = x[i];
  x[i] = v * 2;
}
