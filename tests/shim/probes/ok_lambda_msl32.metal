// compiles: the lambda of lambda.metal, built for MSL 3.2 (which has lambdas)
// msl: 3.2
#include <metal_stdlib>
using namespace metal;
kernel void k(device float* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  auto twice = [](float v) { return 2.0f * v; };
  x[i] = twice(x[i]);
}
