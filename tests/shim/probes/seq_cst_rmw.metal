// rejects: no matching function & atomic_fetch_add_explicit
// Metal's read-modify-write atomics take memory_order_relaxed only.
#include <metal_stdlib>
using namespace metal;
kernel void k(device atomic_int* c [[buffer(0)]], uint i [[thread_position_in_grid]]) {
  atomic_fetch_add_explicit(c, 1, memory_order_seq_cst);
}
