// rejects: deleted function & fmax
// Metal has no bfloat overload of fmax (MLX's kernels/bf16_math.h supplies one).
#include <metal_stdlib>
using namespace metal;
kernel void k(device bfloat* x [[buffer(0)]], uint i [[thread_position_in_grid]]) {
  x[i] = fmax(x[i], x[i + 1]);
}
