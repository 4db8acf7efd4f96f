// rejects: variable 'p' is uninitialized when used here [-Werror,-Wuninitialized]
// (what a scan of src/emit_scan.c emitted, fixed: an unset value copied)
#include <metal_stdlib>
using namespace metal;
kernel void k(device float* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  float p;
  bool has = false;
  float q = p;
  x[i] = has ? q : x[i];
}
