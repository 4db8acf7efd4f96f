// rejects: lambda expressions need MSL 3.2
// msl: 3.1
#include <metal_stdlib>
using namespace metal;
kernel void k(device float* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  auto twice = [](float v) { return 2.0f * v; };
  x[i] = twice(x[i]);
}
