// compiles: relaxed 32-bit atomics, a seq_cst fence, a fixed-size local array
#include <metal_stdlib>
using namespace metal;
kernel void k(device atomic_int* c [[buffer(0)]], device float* x [[buffer(1)]], uint i [[thread_position_in_grid]]) {
  float tmp[4] = {x[i], 0, 0, 0};
  atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
  atomic_thread_fence(mem_flags::mem_device, memory_order_seq_cst, thread_scope_device);
  x[i] = tmp[0];
}
