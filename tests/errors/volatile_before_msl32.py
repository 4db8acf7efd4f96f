# args: --kernel wait_for_flag --signature *i32,*i32 --target M2@14.5
# expect: 12:9: error: this volatile load reads memory the kernel also writes (other programs' writes, as in a spin-wait): they reach it only through `coherent(device)` buffers, which need MSL 3.2 (macOS 15); target M2@14.5 has MSL 3.1. Use a Mac with macOS 15 or newer
# A spin-wait on a flag other programs write (volatile loads, plain stores):
# before MSL 3.2 their writes need not reach the waiting program at all.
import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def wait_for_flag(flags_ptr, out_ptr):
    pid = tl.program_id(0)
    f = tl.load(flags_ptr + pid - 1, volatile=True) if pid > 0 else 1
    while f == 0:
        f = tl.load(flags_ptr + pid - 1, volatile=True)
    tl.store(out_ptr + pid, f)
    tl.store(flags_ptr + pid, 1)
