// rejects: multiple unsequenced modifications to 'j' [-Werror,-Wunsequenced]
#include <metal_stdlib>
using namespace metal;
kernel void k(device int* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  int j = x[i];
  j = j++ + j++;
  x[i] = j;
}
