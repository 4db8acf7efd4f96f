# args: --kernel k --signature *fp64
# expect: 8:7: error: parameter 'x_ptr' is float64, which is not supported on the device
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def k(x_ptr):
    tl.store(x_ptr, 1.0)
