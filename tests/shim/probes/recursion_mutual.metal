// rejects: recursion is not supported in Metal: 'is_odd' calls 'is_even', which calls back
#include <metal_stdlib>
using namespace metal;
bool is_odd(uint n);
bool is_even(uint n) { return n == 0u ? true : is_odd(n - 1u); }
bool is_odd(uint n) { return n == 0u ? false : is_even(n - 1u); }
kernel void k(device uint* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  x[i] = is_even(x[i]) ? 1u : 0u;
}
