// rejects: recursion is not supported in Metal: 'fact' calls 'fact'
#include <metal_stdlib>
using namespace metal;
uint fact(uint n) { return n <= 1u ? 1u : n * fact(n - 1u); }
kernel void k(device uint* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  x[i] = fact(x[i]);
}
