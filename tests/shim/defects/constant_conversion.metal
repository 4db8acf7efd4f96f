// rejects: implicit conversion from 'int' to 'uchar' (aka 'unsigned char') changes value from 300 to 44 [-Werror,-Wconstant-conversion]
#include <metal_stdlib>
using namespace metal;
kernel void k(device uchar* x [[buffer(0)]], uint i [[thread_index_in_threadgroup]]) {
  uchar c = 300;
  x[i] = c;
}
