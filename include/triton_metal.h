/*
 * triton_metal.h: the public C API of triton-metal.
 *
 * Two halves:
 *   compiler  Python kernel source (+ argument specialization) -> MSL text and a
 *             kernel descriptor (argument table, threads per threadgroup, ...).
 *   runtime   devices that load MSL and launch it: "cpu" (the emulator, compiles
 *             the MSL with the host C++ compiler), later "metal" and "metal-sim".
 *
 * The runtime needs only the MSL text and the descriptor, never the compiler's
 * internals, so a descriptor can come from a cache file as well as from tm_compile.
 *
 * Conventions: every function returns tm_status; on failure a malloc'd message
 * is stored in *err (free it with tm_free). Handles are opaque. No function
 * prints, exits, or keeps global mutable state, except tm_interrupt's request
 * (a signal handler has nowhere else to put it).
 */
#ifndef TRITON_METAL_H
#define TRITON_METAL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TM_VERSION "0.1.0"

typedef enum tm_status {
  TM_OK = 0,
  TM_ERR_COMPILE,  /* the kernel source is not accepted: diagnostic in *err */
  TM_ERR_INVALID,  /* bad arguments to an API call or a launch */
  TM_ERR_DEVICE,   /* the device could not be opened or could not build the MSL */
  TM_ERR_RUNTIME,  /* a launch failed while running (e.g. out-of-bounds access) */
  TM_ERR_NOMEM,
  TM_ERR_INTERNAL, /* a bug in triton-metal: the message names the pass */
  TM_ERR_INTERRUPTED /* tm_interrupt() stopped the launch (e.g. Ctrl-C): its results are partial */
} tm_status;

void tm_free(void *p);

/* ------------------------------------------------------------------ dtypes */

typedef enum tm_dtype {
  TM_VOID = 0,
  TM_I1, TM_I8, TM_I16, TM_I32, TM_I64,
  TM_U8, TM_U16, TM_U32, TM_U64,
  TM_F16, TM_BF16, TM_F32, TM_F64,
  TM_NDTYPES,
  /* Compile-time only: the fp8 types, which a kernel may name and compare
   * (x.dtype.element_ty == tl.float8e5) but whose data no Apple GPU computes:
   * refused wherever data would have one of them. */
  TM_FP8E5 = 32, TM_FP8E5B16, TM_FP8E4NV, TM_FP8E4B8, TM_FP8E4B15,
  TM_DT_END
} tm_dtype;

/* Triton's names: "int1", "int32", "float16", "bfloat16", ... */
const char *tm_dtype_name(tm_dtype dt);
/* Signature spellings: "i1", "i32", "u8", "fp16", "bf16", "fp32", ... */
const char *tm_dtype_sig(tm_dtype dt);
/* Parses either spelling (and "u1"/"bool" for int1); TM_VOID when unknown. */
tm_dtype tm_dtype_parse(const char *s);
int tm_dtype_bytes(tm_dtype dt);

/* ---------------------------------------------------------------- compiler */

typedef enum tm_value_kind {
  TM_V_NONE = 0, TM_V_BOOL, TM_V_INT, TM_V_FLOAT, TM_V_DTYPE, TM_V_STR, TM_V_TUPLE,
  TM_V_GLOBAL /* s names one of the request's globals (a @jit function passed as an argument) */
} tm_value_kind;

/* A compile-time (constexpr) value: a Python bool/int/float/None/str, a dtype,
 * or a tuple of such values. A DTYPE with TM_DTYPE_PTR set in i is a pointer
 * type (`tl.pointer_type(tl.int32)`) of the dtype in the low bits. */
#define TM_DTYPE_PTR 0x100
typedef struct tm_value {
  tm_value_kind kind;
  int64_t i;      /* BOOL, INT; for DTYPE a tm_dtype; for TUPLE the number of items */
  double f;       /* FLOAT */
  const char *s;  /* STR */
  const struct tm_value *items; /* TUPLE */
} tm_value;

typedef enum tm_param_kind {
  TM_PARAM_POINTER = 1, /* a tensor/array argument: pointer to dtype */
  TM_PARAM_SCALAR,      /* a runtime scalar of dtype */
  TM_PARAM_CONSTEXPR,   /* a compile-time value (annotated tl.constexpr, or specialized) */
  TM_PARAM_TUPLE        /* a tuple argument: the value.i entries after it (each a whole
                           entry: a TUPLE one with its own items) are its items */
} tm_param_kind;

enum {
  TM_PF_DIV16 = 1,    /* integer divisible by 16 / pointer 16-byte aligned */
  TM_PF_READONLY = 2  /* pointer to memory the kernel must not write */
};

/* One entry per parameter of the kernel's def, in order; a TUPLE entry is
 * followed by its items' entries (preorder), so a tuple parameter takes
 * several. A runtime argument's param_index is its entry's position. */
typedef struct tm_param_spec {
  tm_param_kind kind;
  tm_dtype dtype;    /* element dtype (POINTER) or value dtype (SCALAR) */
  unsigned flags;    /* TM_PF_* */
  tm_value value;    /* CONSTEXPR */
} tm_param_spec;

typedef enum tm_global_kind {
  TM_G_MODULE = 1, /* `tl`, `triton`, ...: target names the module ("triton.language") */
  TM_G_FUNC,       /* a library function imported by name: target "triton.language.arange" */
  TM_G_VALUE,      /* a constant: value */
  TM_G_JITFN,      /* another @jit function: source, file, line */
  TM_G_HOSTFN,     /* a host function run at compile time (@triton.constexpr_function):
                      the request's host_call calls it; source identifies it for caches */
  TM_G_UNUSABLE,   /* a global kernels cannot use: target names its type (for the error) */
  TM_G_TUPLETYPE   /* a NamedTuple class: target its name, value a TUPLE of its field names (STR) */
} tm_global_kind;

/* A name the kernel refers to that is not a parameter, resolved by the caller.
 * Module and function targets use the canonical upstream paths: "triton",
 * "triton.language", "triton.language.math", "triton.language.extra.libdevice". */
typedef struct tm_global {
  const char *name;
  tm_global_kind kind;
  const char *target;
  tm_value value;
  const char *source;
  const char *file;
  int line;
  void *host;       /* HOSTFN: the caller's handle of the function */
} tm_global;

/* Calls host function g (a TM_G_HOSTFN global) with compile-time arguments.
 * Returns 0 with the result in *out, or nonzero with a malloc'd message in
 * *err. A string result must stay valid until tm_compile returns. */
typedef int (*tm_host_call)(void *ctx, const tm_global *g, const tm_value *args, int nargs, tm_value *out,
                            char **err);

/* What the compiler targets: one row of the per-generation table (target/target.c
 * holds the table and the detection; tm_target_default() picks the machine's,
 * or the one named by TRITON_METAL_HW). */
typedef struct tm_target {
  const char *name;              /* "M3-Max", "generic", ... */
  int gpu_family;                /* Apple GPU family: 7 (M1) .. 10 */
  int msl_version;               /* MSL version the OS offers, e.g. 310 for 3.1 */
  int simd_width;                /* 32 on Apple GPUs */
  int default_num_warps;         /* SIMD-groups per threadgroup when not given */
  int max_vector_bytes;          /* widest vector load/store to emit */
  int max_threads_per_threadgroup;
  int threadgroup_mem_bytes;     /* 32768 */
  int has_bfloat;                /* MSL 3.1+ */
  int has_simdgroup_matrix;
  int has_matmul2d;              /* Metal 4 tensor ops */
  int has_atomic64;
  int has_float_atomics;         /* atomic_float on device memory */
  int has_device_coherence;      /* plain accesses can be made coherent across threadgroups
                                    (MSL 3.2 coherent(device) buffers and device-scope fences) */
  int has_mma_16x8;              /* one matrix operation multiplies a 16x8 A (two 8x8 tiles
                                    stacked) by an 8x8 B, 16-bit inputs into float, with A and B
                                    loaded as separate fragments (the proxy's mma.sync m16n8k8):
                                    tl.dot pairs its tiles along M */
  int dialect;                   /* what the compiler emits: TM_DIALECT_MSL, or TM_DIALECT_CUDA
                                    (the GPU proxy: bench/, README "CUDA proxy") */
} tm_target;

enum { TM_DIALECT_MSL = 0, TM_DIALECT_CUDA = 1 };

const tm_target *tm_target_default(void);
const tm_target *tm_target_lookup(const char *name); /* NULL when unknown */

typedef enum tm_opt_level {
  TM_OPT_DEFAULT = 0,  /* = TM_OPT_AGGRESSIVE unless TRITON_METAL_OPT_LEVEL says otherwise */
  TM_OPT_NONE,         /* one element per access, tl.dot by per-thread FMAs, sequential scans */
  TM_OPT_BASIC,        /* + simdgroup_matrix/matmul2d tl.dot where the target has them, parallel scans */
  TM_OPT_STANDARD,     /* + vectorized loads and stores */
  TM_OPT_AGGRESSIVE    /* = TM_OPT_STANDARD today (README "Launch options") */
} tm_opt_level;

typedef struct tm_compile_request {
  const char *source;       /* text containing the kernel's `def` (decorators allowed) */
  const char *filename;     /* for diagnostics */
  int first_line;           /* file line number of the first line of source (1-based) */
  const char *kernel_name;  /* the def to compile; NULL = the first def in source */
  const tm_param_spec *params;
  int nparams;
  const tm_global *globals;
  int nglobals;
  int num_warps;            /* SIMD-groups per threadgroup; 0 = 4 */
  int debug;                /* device_assert on, extra checks */
  int debug_info;           /* emit #line directives mapping MSL back to the Python source */
  tm_opt_level opt_level;
  const tm_target *target;  /* NULL: tm_target_default() */
  const char *dump;         /* NULL, or a stage name ("ast", "ir") whose text tm_kernel_dump returns */
  int args_may_alias;       /* two pointer arguments may share memory: distinct pointer
                               parameters are not assumed apart (memory ordering) */
  tm_host_call host_call;   /* runs TM_G_HOSTFN globals; NULL: calling one is an error */
  void *host_ctx;
} tm_compile_request;

typedef enum tm_arg_role {
  TM_ARG_BUFFER = 1, /* device pointer: bound as a buffer */
  TM_ARG_BYTES       /* scalar: bound by value (setBytes) */
} tm_arg_role;

/* A runtime argument of the emitted kernel, in MSL buffer-index order. */
typedef struct tm_kernel_arg {
  const char *name;
  int param_index;   /* index into tm_compile_request.params */
  tm_arg_role role;
  tm_dtype dtype;    /* element dtype (BUFFER) or value dtype (BYTES); an int1
                        buffer is declared as bytes (uchar), nonzero meaning true */
  int writable;      /* BUFFER: the kernel may store through it */
} tm_kernel_arg;

/* Built-in kernel inputs, passed after the buffers in this order of declaration. */
typedef enum tm_builtin {
  TM_BI_THREADGROUP_POSITION = 1, /* uint3 [[threadgroup_position_in_grid]] */
  TM_BI_THREADGROUPS_PER_GRID,    /* uint3 [[threadgroups_per_grid]] */
  TM_BI_THREAD_INDEX,             /* uint  [[thread_index_in_threadgroup]] */
  TM_BI_SIMDLANE,                 /* uint  [[thread_index_in_simdgroup]] */
  TM_BI_SIMDGROUP                 /* uint  [[simdgroup_index_in_threadgroup]] */
} tm_builtin;

#define TM_MAX_BUILTINS 8

typedef struct tm_kernel_info {
  const char *name;            /* the MSL function name */
  const char *source_file;     /* the kernel's Python file, for runtime errors */
  int nargs;
  const tm_kernel_arg *args;
  int nbuiltins;
  tm_builtin builtins[TM_MAX_BUILTINS];
  int threads_per_threadgroup; /* num_warps * 32 */
  int threadgroup_mem_bytes;   /* static threadgroup memory the MSL declares */
  int uses_barriers;           /* threadgroup_barrier or SIMD-group collectives */
  int private_bytes;           /* estimate (an upper bound) of a thread's private arrays */
  const char *source_name;     /* the kernel's name in its source, for errors (NULL: name) */
} tm_kernel_info;

typedef struct tm_kernel tm_kernel;

tm_status tm_compile(const tm_compile_request *req, tm_kernel **out, char **err);
const char *tm_kernel_msl(const tm_kernel *k);
const tm_kernel_info *tm_kernel_get_info(const tm_kernel *k);
const char *tm_kernel_dump(const tm_kernel *k); /* text of req->dump, or NULL */
void tm_kernel_free(tm_kernel *k);

/* The parameters of a def in source, for callers that build a request from
 * names (the CLI): *names and *constexpr_annotated are malloc'd arrays of *n
 * entries (each name malloc'd too); free with tm_params_free. */
tm_status tm_parse_params(const char *source, const char *filename, int first_line, const char *kernel_name,
                          char ***names, int **constexpr_annotated, int *n, char **err);
void tm_params_free(char **names, int *constexpr_annotated, int n);

/* ----------------------------------------------------------------- runtime */

typedef struct tm_device tm_device;
typedef struct tm_module tm_module;

/* name: "cpu", "metal", "metal-sim", "cuda" (an NVIDIA GPU running the CUDA
 * dialect's kernels: the GPU proxy, docs/cuda-proxy.md), or NULL for the best
 * available (also read from TRITON_METAL_DEVICE when name is NULL; never cuda). */
tm_status tm_device_open(const char *name, tm_device **out, char **err);
const char *tm_device_name(const tm_device *d);
const char *tm_device_description(const tm_device *d);
void tm_device_close(tm_device *d);

/* Builds the MSL for the device (cached). The info is copied. */
tm_status tm_module_load(tm_device *d, const char *msl, const tm_kernel_info *info,
                         tm_module **out, char **err);
void tm_module_free(tm_module *m);

/* Whether the cpu emulator would compile this MSL, without building anything:
 * its MSL lint (what Metal rejects that C++ accepts), then a syntax-only
 * compile against the strict shim with the emulator's compiler and flags (the
 * kernel's trampoline is not part of it). TM_OK, or TM_ERR_DEVICE with the
 * messages in *err ("msl:LINE:COL: error: ..." for the lint, the compiler's
 * own for the rest). Needs no device. */
tm_status tm_msl_check(const char *msl, char **err);

/* One launch argument per tm_kernel_info.args entry, same order.
 *
 * A BUFFER is the kernel's base pointer plus the allocation around it. A
 * strided view (a transposed tensor, a slice with an offset, a NumPy view with
 * negative strides) passes its data pointer, as upstream does, and the kernel
 * may address anything of the allocation it lives in, on either side of it:
 *
 *        allocation  [-------------------------------------------)
 *                    ^ data - before     ^ data           ^ data + nbytes
 *
 * Checked accesses (cpu, metal-sim) must lie in [data - before, data + nbytes);
 * a metal device copies or wraps that whole range and binds it so the kernel's
 * pointer is data. before = 0 and nbytes = the tensor's size is a contiguous
 * tensor at the start of its memory. */
typedef struct tm_launch_arg {
  void *data;     /* BUFFER: the kernel's base pointer; BYTES: the value */
  size_t nbytes;  /* BUFFER: bytes from data to the end of the allocation;
                     BYTES: size of the value */
  int readonly;   /* BUFFER: the caller forbids writes */
  size_t before;  /* BUFFER: bytes of the same allocation below data (0 for BYTES) */
} tm_launch_arg;

/* When tm_launch returns, host-memory arguments hold the kernel's results. */
tm_status tm_launch(tm_module *m, const uint32_t grid[3], const tm_launch_arg *args,
                    int nargs, char **err);

/* A BUFFER argument already on the GPU (metal devices only): an id<MTLBuffer>
 * (a torch MPS tensor's storage, an MLX array's DLPack data, tm_buffer_new's
 * handle) bound at `offset` bytes. */
typedef struct tm_device_arg {
  void *buffer;  /* NULL: the argument is the tm_launch_arg's host memory */
  size_t offset;
} tm_device_arg;

/* tm_launch where dev (NULL, or nargs entries) may replace host memory with
 * device buffers; for such an argument tm_launch_arg.data is ignored, the
 * kernel's pointer is the buffer's offset, nbytes is the extent from offset
 * the kernel may touch (0: to the end) and before the bytes below offset it
 * may touch (at most offset).
 * A launch whose buffers are all device buffers may still be running when it
 * returns (the metal devices batch it); tm_device_synchronize waits for every
 * launch of the device and reports the first failure among them. */
tm_status tm_launch_ex(tm_module *m, const uint32_t grid[3], const tm_launch_arg *args,
                       const tm_device_arg *dev, int nargs, char **err);
tm_status tm_device_synchronize(tm_device *d, char **err);

/* Code tiers. Under TRITON_METAL_OPT=tiered (the default) the emulator devices
 * (cpu, metal-sim) run a new kernel's quickly built code first and replace it
 * with its optimised build once the kernel is hot, in the background. A
 * benchmark must not compare the two: tm_device_tier_mark returns a mark, and
 * tm_device_tier_settle(d, mark) builds now, side by side, and waits for the
 * optimised code of every kernel launched since that mark; each one's next
 * launch runs it. testing.do_bench and so the autotuner settle after their
 * first call. Devices with one tier of code (metal, cuda): mark 0, nothing to
 * wait for. A failed optimised build leaves the kernel on its first code. */
uint64_t tm_device_tier_mark(tm_device *d);
tm_status tm_device_tier_settle(tm_device *d, uint64_t mark, char **err);

/* Where tm_launch_timed's times come from. */
typedef enum tm_time_source {
  TM_TIME_NONE = 0, /* nothing ran (a grid with a zero dimension) */
  TM_TIME_GPU,      /* metal: the command buffer's GPUStartTime / GPUEndTime */
  TM_TIME_HOST      /* metal-sim and cpu: the host's monotonic clock around running the
                       dispatch on the emulator (no GPU exists there) */
} tm_time_source;

/* One launch's start and end in nanoseconds on one clock; only end_ns -
 * start_ns is meaningful. */
typedef struct tm_launch_times {
  tm_time_source source;
  uint64_t start_ns, end_ns;
} tm_launch_times;

/* tm_launch_ex that also reports the launch's own time in *times (may be
 * NULL). It returns when the launch has completed: on the metal devices the
 * work batched before it is waited for first, so the command buffer whose
 * GPU timestamps are read holds this dispatch alone. For benchmarks; plain
 * launches keep batching. */
tm_status tm_launch_timed(tm_module *m, const uint32_t grid[3], const tm_launch_arg *args,
                          const tm_device_arg *dev, int nargs, tm_launch_times *times,
                          char **err);

/* Stops the launches running on the emulator devices (cpu, metal-sim) at their
 * next loop iteration: each fails with TM_ERR_INTERRUPTED, leaving the memory
 * its threads wrote so far, and the device stays usable. Launches that start
 * later are not affected. Async-signal-safe (a SIGINT handler may call it);
 * returns at once. A launch on a GPU is not stopped (Metal cannot cancel a
 * dispatch). The emulator also ends a launch that runs longer than
 * TRITON_METAL_TIMEOUT seconds (TM_ERR_RUNTIME, saying so). */
void tm_interrupt(void);

/* What the device made of a loaded module. */
typedef struct tm_module_info {
  int max_threads_per_threadgroup; /* metal kinds: the pipeline's maxTotalThreadsPerThreadgroup
                                      (may be below 1024 for register-heavy kernels);
                                      cpu: the emulator's limit, 1024 */
  int thread_execution_width;      /* threadExecutionWidth (SIMD width; cpu: 32) */
  int static_threadgroup_memory;   /* bytes (staticThreadgroupMemoryLength; cpu: the
                                      descriptor's threadgroup_mem_bytes) */
} tm_module_info;

tm_status tm_module_get_info(const tm_module *m, tm_module_info *out, char **err);

/* A device buffer of at least nbytes from the device's pool (metal devices
 * only): *buffer is its id<MTLBuffer> handle for tm_device_arg.buffer,
 * *contents its CPU-visible bytes (shared storage). Reading contents after a
 * launch that wrote the buffer needs tm_device_synchronize first. */
tm_status tm_buffer_new(tm_device *d, size_t nbytes, void **buffer, void **contents, char **err);
void tm_buffer_free(tm_device *d, void *buffer); /* back to the pool; NULL is fine */

/* Kernel-visible memory. A kernel may dereference pointers it loads from
 * memory (a table of tensor addresses, as grouped GEMM kernels use). Such a
 * pointer may reach exactly:
 *   - the allocation of any BUFFER argument of the launch, and
 *   - memory registered here, from tm_visible_add until tm_visible_remove.
 * The cpu device and metal-sim check every device access against that set; a
 * metal device makes registered memory resident (useResource) for every
 * dispatch. mem gives the memory as a launch argument does ([data - before,
 * data + nbytes), readonly: kernels must not store to it); dev (NULL, or
 * dev->buffer NULL: host memory) gives a device buffer instead (metal kinds:
 * mem->data is ignored, nbytes 0 = to the buffer's end). Host memory on a
 * metal device is wrapped once, without copying (pointers to it must stay
 * valid): the wrap covers the pages it lies on. *address is the address kernels
 * use for mem's data pointer: put it in pointer tables (cpu: data itself; a
 * metal device: the buffer's GPU address plus the offset). */
typedef struct tm_visible tm_visible;
tm_status tm_visible_add(tm_device *d, const tm_launch_arg *mem, const tm_device_arg *dev,
                         tm_visible **out, uint64_t *address, char **err);
/* Waits for launches that may use it, then forgets it; NULL is fine. */
void tm_visible_remove(tm_device *d, tm_visible *v);

/* Counters of a metal device (all zero on the cpu device). */
typedef struct tm_device_stats {
  uint64_t pipeline_compiles;    /* pipelines built from MSL */
  uint64_t pipeline_memory_hits; /* tm_module_load served from memory */
  uint64_t pipeline_disk_hits;   /* binary archive on disk used */
  uint64_t buffers_created;      /* buffers the pool asked the device for */
  uint64_t buffers_reused;       /* pool requests served from its free lists */
  uint64_t bytes_in_use;         /* pool buffers handed out now */
  uint64_t bytes_cached;         /* pool buffers kept for reuse */
  uint64_t bytes_peak;           /* highest bytes_in_use + bytes_cached */
  uint64_t bytes_limit;          /* recommendedMaxWorkingSetSize */
  uint64_t zero_copy_args;       /* host arguments wrapped without copying */
  uint64_t staged_args;          /* host arguments copied in (and back) */
  uint64_t command_buffers;      /* command buffers committed */
  uint64_t dispatches;
  uint64_t waits;                /* times the host waited for the GPU */
  uint64_t tensor_ops_fallbacks; /* kernels whose Metal 4 matmul2d code the Metal compiler
                                    rejected, rebuilt with their simdgroup_matrix code */
} tm_device_stats;

tm_status tm_device_get_stats(tm_device *d, tm_device_stats *out, char **err);

/* ------------------------------------ hardware, environment and compatibility check
 * (runtime/hw*.c; docs/compatibility.md). The hardware description behind
 * tm_target_default() is this machine's, or the one TRITON_METAL_HW injects: a
 * preset name ("M3-Max", "M2@13.5" = an M2 on macOS 13.5) or a JSON file. */

/* tm_target_default()'s target, with an error when TRITON_METAL_HW is bad
 * (unknown preset, unreadable or invalid JSON file): then *out is this
 * machine's target, as tm_target_default() returns. */
tm_status tm_target_get(const tm_target **out, char **err);

/* requested, or for TM_OPT_DEFAULT the level TRITON_METAL_OPT_LEVEL names
 * (0..3 = TM_OPT_NONE..TM_OPT_AGGRESSIVE; unset = TM_OPT_AGGRESSIVE). */
tm_status tm_opt_level_resolve(tm_opt_level requested, tm_opt_level *out, char **err);

/* What only Python can find out, for the report (NULL: not checked). */
typedef struct tm_check_python {
  const char *python;  /* interpreter version, "3.11.2" */
  const char *mlx;     /* MLX version; NULL when not installed */
  const char *torch;   /* torch version; NULL when not installed */
  int torch_mps;       /* torch.backends.mps.is_available() */
  const char *note;    /* NULL, or why a package could not be examined */
} tm_check_python;

enum {
  TM_CHECK_JSON = 1,  /* the report as JSON (schema in docs/compatibility.md) */
  TM_CHECK_NO_RUN = 2 /* skip running a probe kernel on the devices that open */
};

/* The compatibility report `triton-metal check` prints. *ok (may be NULL) is 1
 * when this machine can run kernels on some device. */
tm_status tm_check_report(unsigned flags, const tm_check_python *py, char **out, int *ok,
                          char **err);

#ifdef __cplusplus
}
#endif
#endif
