// rejects: division by zero is undefined [-Werror,-Wdivision-by-zero]
#include <metal_stdlib>
using namespace metal;
kernel void k(device int* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  x[i] = x[i] / 0;
}
