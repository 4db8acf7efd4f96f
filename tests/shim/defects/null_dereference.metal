// rejects: indirection of non-volatile null pointer will be deleted, not trap [-Werror,-Wnull-dereference]
#include <metal_stdlib>
using namespace metal;
kernel void k(device int* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  x[i] = *(thread int *)0;
}
