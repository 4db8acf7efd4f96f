# golden: --kernel mixed --signature *fp16,*i32,*fp32,i32,fp32 -D BLOCK=16 --num-warps 1
# A block smaller than the threadgroup (replicated lanes must not store),
# fp16 -> fp32 promotion, integer // and %, where, casts, num_programs.
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def mixed(h_ptr, i_ptr, out_ptr, n, scale, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    h = tl.load(h_ptr + offs, mask=m, other=-1.0)
    i = tl.load(i_ptr + offs, mask=m, other=7)
    q = i // 3 + i % 3
    r = tl.where(q > 0, h * scale, h.to(tl.float32) / 2)
    r = r + tl.num_programs(0)
    tl.store(out_ptr + offs, r, mask=m)
