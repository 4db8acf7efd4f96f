// rejects: read-only variable is not assignable
#include <metal_stdlib>
using namespace metal;
kernel void k(constant float* c [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  c[i] = 1.0f;
}
