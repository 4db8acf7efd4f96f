# golden: --kernel locked_sum --signature *fp32,*fp32,*i32,*i32 -D BLOCK=64 --target M3-Max@15.0
# Programs pass data through plain loads and stores under a spin lock (the
# layer norm backward pattern), ordered by acq_rel atomics: on MSL 3.2 every
# buffer is `coherent(device) device` (Metal keeps plain accesses coherent only
# within a threadgroup otherwise), the fences are device-scope, and the scalar
# `count`, which other programs write, is read by thread 0 and shared through
# threadgroup memory so that every thread takes the same branch.
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def locked_sum(x_ptr, acc_ptr, lock_ptr, count_ptr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + pid * BLOCK + offs)
    while tl.atomic_cas(lock_ptr, 0, 1) == 1:
        pass
    count = tl.load(count_ptr)
    if count == 0:
        tl.atomic_xchg(count_ptr, 1)
    else:
        x += tl.load(acc_ptr + offs)
    tl.store(acc_ptr + offs, x)
    tl.debug_barrier()
    tl.atomic_xchg(lock_ptr, 0)
