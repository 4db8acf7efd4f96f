// compiles: `const constant T*` (MLX writes it; Metal accepts the repeated const, clang only warns)
#include <metal_stdlib>
using namespace metal;
kernel void k(const constant int* shape [[buffer(0)]], device float* x [[buffer(1)]],
              uint i [[thread_index_in_threadgroup]]) {
  x[i] = float(shape[0]);
}
