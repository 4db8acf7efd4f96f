// rejects: atomic_ulong
// No 64-bit add or compare-and-swap atomics in Metal (only max/min on atomic_ulong, Apple9+).
#include <metal_stdlib>
using namespace metal;
kernel void k(device atomic_ulong* c [[buffer(0)]], uint i [[thread_position_in_grid]]) {
  atomic_fetch_add_explicit(c, 1ul, memory_order_relaxed);
}
