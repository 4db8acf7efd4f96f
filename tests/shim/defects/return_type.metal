// rejects: non-void function does not return a value in all control paths [-Werror,-Wreturn-type]
#include <metal_stdlib>
using namespace metal;
float pick(float a, float b) {
  if (a > b) return a;
}
kernel void k(device float* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  x[i] = pick(x[i], 0.0f);
}
