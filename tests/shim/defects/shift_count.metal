// rejects: shift count >= width of type [-Werror,-Wshift-count-overflow]
#include <metal_stdlib>
using namespace metal;
kernel void k(device uint* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  x[i] = x[i] << 32;
}
