// rejects: goto is not supported in Metal
#include <metal_stdlib>
using namespace metal;
kernel void k(device float* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  if (i > 3) goto done;
  x[i] = 0.0f;
done:
  x[i] += 1.0f;
}
