# args: --kernel locked_sum --signature *fp32,*fp32,*i32,*i32 -D BLOCK=64 --target M2@14.5
# expect: 14:11: error: this atomic orders memory (sem='acq_rel') and the kernel reads 'count_ptr' (line 16), which it also writes: other programs' writes reach such plain loads only through `coherent(device)` buffers and device-scope fences, which need MSL 3.2 (macOS 15); target M2@14.5 has MSL 3.1. Use a Mac with macOS 15 or newer, or make the atomics sem='relaxed' if they do not order the other accesses
# Before MSL 3.2 (macOS 14) plain loads and stores cannot be made coherent across
# threadgroups: a kernel that orders them with atomics is refused, naming the read.
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
