# args: --kernel k --signature *fp64
# expect: 9:5: error: store through 'x_ptr', a float64 array: float64 is not supported on the device (Metal has no double); convert the array to float32
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def k(x_ptr):
    tl.store(x_ptr, 1.0)
