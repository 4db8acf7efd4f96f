// rejects: no matching function for call to 'atomic_fetch_add_explicit' & generic address space
// Metal's atomic functions take device or threadgroup atomics only.
#include <metal_stdlib>
using namespace metal;
kernel void k(device int* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  atomic_int local;
  atomic_store_explicit(&local, 0, memory_order_relaxed);
  x[i] = atomic_fetch_add_explicit(&local, 1, memory_order_relaxed);
}
