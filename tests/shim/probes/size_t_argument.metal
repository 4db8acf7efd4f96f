// rejects: kernel argument 'n' is of type size_t
// Metal does not allow size_t or ptrdiff_t kernel arguments.
#include <metal_stdlib>
using namespace metal;
kernel void k(device float* x [[buffer(0)]], constant size_t& n [[buffer(1)]], uint i [[thread_index_in_threadgroup]]) {
  if (i < n) x[i] = 0.0f;
}
