# golden: --kernel add_kernel --signature *fp32:16,*fp32:16,*fp32:16,i32:16 -D BLOCK_SIZE=1024
# With 16-byte-aligned pointers the loads and stores move float4 vectors.
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def add_kernel(x_ptr, y_ptr, output_ptr, n_elements, BLOCK_SIZE: tl.constexpr):
    pid = tl.program_id(axis=0)
    offsets = pid * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_elements
    x = tl.load(x_ptr + offsets, mask=mask)
    y = tl.load(y_ptr + offsets, mask=mask)
    tl.store(output_ptr + offsets, x + y, mask=mask)
