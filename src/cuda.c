/*
 * cuda.c: the CUDA C++ dialect, as data (the GPU proxy: README "CUDA proxy").
 *
 * The same emitter core, tile IR and layouts as the MSL dialect (msl.c): the
 * kernel's statements keep Metal's vocabulary, which the head
 * (cuda_prelude.cuh, embedded) defines in CUDA terms: a warp is the
 * SIMD-group, __shared__ the threadgroup memory, __syncthreads the barrier,
 * __shfl_*_sync the SIMD-group shuffles. What differs is the signature: an
 * `extern "C" __global__` function with __launch_bounds__ of the threadgroup
 * size, pointers and scalars by value in the descriptor's order (the runtime
 * passes each argument's value), and the built-in indices as locals.
 */
#include "tm.h"
#include "cuda_prelude.inc"

const Dialect dialect_cuda = {
    .name = "cuda",
    .head = tm_cuda_prelude_text,
    .prelude = tm_common_prelude,
    .type_names =
 TM_METAL_TYPE_NAMES,
    .kernel_kw = "extern \"C\" __global__ void",
    .kernel_fmt = "extern \"C\" __global__ void __launch_bounds__(%d)",
    .buffer_qual = "",
    .const_buffer_qual = "const",
    .coherent_qual = "", /* the PTX memory model: the fences around the atomics (TM_FENCE,
                            fence.acq_rel.gpu) order plain accesses too */
    .bytes_qual = "constant",
    .builtin_local =
        {
            [TM_BI_THREADGROUP_POSITION] = "const uint3 tm_pid = uint3(blockIdx.x, blockIdx.y, blockIdx.z);",
            [TM_BI_THREADGROUPS_PER_GRID] = "const uint3 tm_npid = uint3(gridDim.x, gridDim.y, gridDim.z);",
            [TM_BI_THREAD_INDEX] = "const uint tm_tid = threadIdx.x;",
            [TM_BI_SIMDLANE] = "const uint tm_lane = threadIdx.x % 32u;",
            [TM_BI_SIMDGROUP] = "const uint tm_sg = threadIdx.x / 32u;",
        },
    .has_bfloat = true,
    .cumulative_fences = true,
    .buffer_attr = "",
    .bytes_by_value = true,
};
