/*
 * tm.h: the compiler's internal header, one section per source file.
 *
 * Pipeline (compile.c runs it top to bottom):
 *   lex.c      source text  -> tokens (INDENT/DEDENT/NEWLINE as Python)
 *   parse.c    tokens       -> AST of the kernel-language subset of Python
 *   sema.c     AST + params -> tile IR (constexpr evaluation, Triton typing,
 *                              promotion and broadcasting, inlining)
 *   layout.c   tile IR      -> a distributed layout on every block value
 *   emit.c     tile IR      -> MSL text, spelled through the dialect table (msl.c)
 *
 * Memory: everything a compilation allocates comes from one Arena, freed at
 * once. Errors: user errors (the kernel is not accepted) and internal errors
 * both longjmp to the boundary in compile.c with a located message.
 */
#ifndef TM_INTERNAL_H
#define TM_INTERNAL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "triton_metal.h"

#define TM_MAX_RANK 16

/* ------------------------------------------------------------ arena.c */

typedef struct ArenaChunk ArenaChunk;
typedef struct Arena {
  ArenaChunk *head;
  jmp_buf *oom;   /* where allocation failure longjmps (value 1) */
} Arena;

void *arena_alloc(Arena *a, size_t n); /* zeroed; on failure longjmps to a->oom */
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_strdup(Arena *a, const char *s);
char *arena_printf(Arena *a, const char *fmt, ...);
void arena_free(Arena *a);

/* A growable byte buffer (malloc-backed; the emitter's output). */
typedef struct Buf {
  char *p;
  size_t len, cap;
  bool oom;       /* an append failed for lack of memory */
} Buf;

void buf_put(Buf *b, const char *s, size_t n);
void buf_puts(Buf *b, const char *s);
void buf_printf(Buf *b, const char *fmt, ...);
void buf_free(Buf *b);

/* A growable array of pointers or ints inside an arena. */
#define VEC(T) struct { T *v; int n, cap; }
#define vec_push(A, vec, x)                                                    \
  do {                                                                         \
    if ((vec).n == (vec).cap) {                                                \
      int nc_ = (vec).cap ? (vec).cap * 2 : 8;                                 \
      void *nv_ = arena_alloc((A), sizeof(*(vec).v) * (size_t)nc_);           \
      if ((vec).n) memcpy(nv_, (vec).v, sizeof(*(vec).v) * (size_t)(vec).n);   \
      (vec).v = nv_;                                                           \
      (vec).cap = nc_;                                                         \
    }                                                                          \
    (vec).v[(vec).n++] = (x);                                                  \
  } while (0)

/* ------------------------------------------------------------ diag.c */

typedef struct Src {
  const char *text;     /* the source text given to the compiler */
  const char *filename;
  int first_line;       /* file line of text's first line */
} Src;

/* A compilation's context: arena, source, error boundary. */
typedef struct Ctx {
  Arena arena;
  const tm_compile_request *req;
  const tm_target *target;  /* what the kernel is compiled for (never NULL) */
  tm_opt_level opt;         /* resolved: never TM_OPT_DEFAULT */
  Src src;
  jmp_buf jb;
  char *err;            /* malloc'd message once an error was raised */
  Buf *bufs[8];         /* growable buffers freed if an error unwinds past their owner */
  int nbufs;
  tm_status status;
  bool narrow_dots;     /* emit.c: the kernel is emitted again with portable dots staged in 16 KB */
} Ctx;

/* Registers b to be freed if an error unwinds (ctx_free_bufs at the boundary). */
void ctx_own_buf(Ctx *c, Buf *b);
void ctx_free_bufs(Ctx *c);

/* Located user error: file:line:col, message, the source line and a caret. */
_Noreturn void error_at(Ctx *c, int line, int col, const char *fmt, ...);
/* Internal error (a compiler bug), naming the pass. */
_Noreturn void internal_error(Ctx *c, const char *pass, const char *fmt, ...);

/* ------------------------------------------------------------ lex.c */

typedef enum TokKind {
  T_EOF, T_NEWLINE, T_INDENT, T_DEDENT,
  T_NAME, T_INT, T_FLOAT, T_STR, T_OP, T_KEYWORD
} TokKind;

typedef struct Tok {
  TokKind kind;
  const char *s;  /* start in the source text */
  int len;
  int line, col;  /* file line, 1-based column */
  int64_t ival;
  double fval;
  char *str;      /* decoded string literal */
} Tok;

typedef VEC(Tok) TokVec;
TokVec lex(Ctx *c);

/* ------------------------------------------------------------ parse.c */

typedef enum NodeKind {
  /* expressions */
  N_NAME, N_INT, N_FLOAT, N_STR, N_TRUE, N_FALSE, N_NONE,
  N_TUPLE, N_LIST, N_ATTR, N_CALL, N_SUBSCRIPT, N_SLICE, N_BINOP, N_UNARY,
  N_COMPARE, N_BOOLOP, N_IFEXP, N_KWARG, N_STARRED,
  /* statements */
  N_DEF, N_PARAM, N_ASSIGN, N_AUGASSIGN, N_ANNASSIGN, N_EXPR_STMT, N_IF,
  N_FOR, N_WHILE, N_RETURN, N_PASS, N_BREAK, N_CONTINUE, N_ASSERT, N_RAISE,
  N_IMPORT, N_MODULE
} NodeKind;

typedef struct Node Node;
typedef VEC(Node *) NodeVec;

struct Node {
  NodeKind kind;
  int line, col;
  const char *op;   /* operator spelling: "+", "//", "<", "and", "not", ... */
  const char *name; /* N_NAME, N_ATTR attribute, N_DEF name, N_PARAM, N_KWARG */
  int64_t ival;
  double fval;
  const char *str;
  Node *a, *b, *c;  /* children: meaning per kind (see parse.c) */
  NodeVec list;     /* elements, arguments, statements, params, decorators... */
  NodeVec list2;    /* N_IF/N_FOR/N_WHILE else-body; N_DEF decorators */
};

/* Scans a whole text: returns N_MODULE whose list holds, in order,
 *   N_DEF stubs (name, ival = index of its first token, decorators included),
 *   N_ASSIGN stubs for `NAME = ...` / `NAME: ann = ...` (name, ival = index of the value),
 *   N_IMPORT nodes (name = module path, str = imported attribute or NULL, op = bound name).
 * Other top-level statements are skipped. Defs and values are parsed on demand,
 * so host code in the same file never needs to be in the kernel subset. */
Node *parse_module(Ctx *c, TokVec toks);
Node *parse_def_at(Ctx *c, TokVec toks, int index);
Node *parse_expr_at(Ctx *c, TokVec toks, int index);
char *ast_print(Ctx *c, Node *n); /* arena text, for `-d ast` */

/* ------------------------------------------------------------ types.c */

/* A value's type: a scalar dtype, a pointer to one, or a block of either. */
enum { PTR_MUT = 1, PTR_CONST = 2 };

typedef struct Type {
  uint8_t dt;    /* tm_dtype of the scalar element (pointee for pointers) */
  uint8_t ptr;   /* PTR_MUT: pointer to dt; PTR_CONST: pointer to data the kernel only reads (tl.const) */
  uint8_t rank;  /* 0: scalar */
  int32_t shape[TM_MAX_RANK];
} Type;

Type type_scalar(tm_dtype dt);
Type type_ptr(tm_dtype dt);
Type type_block(Type elem, int rank, const int32_t *shape);
Type type_elem(Type t); /* the scalar (or pointer) element of a block */
bool type_eq(Type a, Type b);
int64_t type_numel(Type t);
const char *type_str(Arena *a, Type t); /* "fp32", "*fp16", "<1024xi32>" */

bool dt_is_float(tm_dtype dt);
bool dt_is_int(tm_dtype dt);      /* includes i1 */
bool dt_is_signed(tm_dtype dt);   /* signed ints; i1 counts as unsigned */
int dt_bits(tm_dtype dt);
int dt_fp_mantissa(tm_dtype dt);
tm_dtype dt_int(int bits, bool is_signed);

/* ------------------------------------------------------------ ir.c */

typedef enum Op {
  O_CONST,        /* imm / fimm, scalar */
  O_ARG,          /* runtime parameter aux = param index */
  O_PROGRAM_ID,   /* aux = axis */
  O_NUM_PROGRAMS, /* aux = axis */
  O_RANGE,        /* block int32: imm = start (arange) */
  O_SPLAT,        /* scalar -> block */
  O_BROADCAST,    /* block with 1-dims -> bigger block */
  O_EXPAND_DIMS,  /* aux = axis */
  O_ADD, O_SUB, O_MUL, O_DIV, O_REM, /* DIV on ints truncates, REM is C's */
  O_AND, O_OR, O_XOR, O_SHL, O_SHR,  /* SHR: aux 1 arithmetic, 0 logical (the shifted operand's own signedness) */
  O_MIN, O_MAX,
  O_NEG, O_NOT,   /* NOT: bitwise complement */
  O_CMP,          /* aux = Cmp */
  O_SELECT,       /* a ? b : c */
  O_CAST,         /* value conversion to ty */
  O_BITCAST,      /* reinterpretation, same bit width */
  O_MATH,         /* aux = index in the math table (mathfns.c); args: 1 to 3 operands */
  O_HINT,         /* the same value; aux 0: multiple_of(imm), 1: max_contiguous(imm) (axis.c) */
  O_ADDPTR,       /* pointer + offset (elements) */
  O_LOAD,         /* args: ptr [mask [other]] */
  O_STORE,        /* args: ptr value [mask] */
  /* structured control flow: regions are Blocks; carried values live in
   * per-op storage that BLOCKARG and RESULT refer to */
  O_FOR,          /* args: lo hi step init...; region 0 body (ends in YIELD) */
  O_IF,           /* args: cond; regions then, else (each ends in YIELD) */
  O_WHILE,        /* args: init...; region 0 cond (ends in CONDITION), region 1 body (YIELD) */
  O_YIELD,        /* args: the region op's new carried values / results */
  O_CONDITION,    /* args: cond (while) */
  O_BLOCKARG,     /* aux: 0 = induction variable, i >= 1 = carried value i-1; imm = op id */
  O_RESULT,       /* aux: result index; imm = op id */
  O_RETURN,       /* leaves the kernel (uniform across the program) */
  O_CONVERT,      /* same value, another layout: through threadgroup memory */
  O_DOT,          /* args: a [(B,)M,K], b [(B,)K,N], acc [(B,)M,N]: acc + a @ b */
  O_ATOMIC,       /* aux = AtomicKind; args: ptr val [mask] (CAS: ptr cmp val); imm = fence flags; result: old */
  O_SHUFFLE,      /* aux = ShuffleKind; elements move through threadgroup memory; imm = parameters */
  O_BARRIER,      /* tl.debug_barrier (aux 0) or order.c's (aux 1): every thread of the program arrives; device memory fenced */
  O_PRINT,        /* tl.device_print: aux = debug site; args: values (scalars or blocks of one shape) */
  O_ASSERT,       /* tl.device_assert (debug only): aux = debug site; args: cond */
  O_REDUCE,       /* args: inputs; aux: axis; region 0 combines (2n scalar blockargs -> yield n);
                     results are O_RESULTs */
  O_SCAN,         /* as O_REDUCE, inclusive prefix along aux (imm = reverse); results keep the shape */
  O_NOPS
} Op;

typedef enum Cmp { C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE } Cmp;
/* AT_ADD16: atomic_add on float16/bfloat16, a compare-and-swap loop on the
 * 32-bit word holding the element; args: ptr val mask offset (elements from a
 * 16-byte-aligned pointer argument, whose parity picks the half of the word);
 * AT_CAS16: atomic_cas on any 16-bit element, the same way; args: ptr cmp val offset */
typedef enum AtomicKind { AT_ADD, AT_MAX, AT_MIN, AT_AND, AT_OR, AT_XOR, AT_XCHG, AT_CAS, AT_ADD16, AT_CAS16 } AtomicKind;
enum { AT_FENCE_BEFORE = 1, AT_FENCE_AFTER = 2 }; /* release / acquire ordering */
enum { LD_VOLATILE = 1 }; /* O_LOAD's imm: tl.load(..., volatile=True) */
/* O_SHUFFLE: out[c] = in[f(c)]
 *   SH_RESHAPE  same row-major order, another shape
 *   SH_PERMUTE  imm: permutation, 4 bits per output dim (out dim i = in dim perm[i])
 *   SH_JOIN     args a, b: new last dim of size 2
 *   SH_PICK     imm: k: out[...] = in[..., k] (split's halves)
 *   SH_CAT      args a, b; imm: dim: b follows a along dim
 *   SH_FLIP     imm: dim: reversed along dim
 *   SH_GATHER   args src, index; imm: axis: out[c] = src[c with axis = index[c]] */
typedef enum ShuffleKind { SH_RESHAPE, SH_PERMUTE, SH_JOIN, SH_PICK, SH_CAT, SH_FLIP, SH_GATHER } ShuffleKind;

typedef struct Layout Layout;

typedef struct Block Block;

typedef struct Ins {
  uint8_t op;
  uint8_t nregions;
  int16_t aux;
  int nargs;
  Type ty;           /* result type (void dtype for stores) */
  int *args;         /* value ids */
  int64_t imm;
  double fimm;
  int line, col;
  Layout *layout;    /* set by layout.c on block values */
  Block *regions[2];
  /* axis.c, along the last dim: runs of `contig` consecutive values; every run
   * starts at a multiple of `div` (elements for integers, bytes for pointers) */
  int contig;
  int64_t div;
  bool uniform;      /* the same value along the last dim (a splat, a scalar) */
  int cst;           /* runs of `cst` equal values along the last dim, each starting at a
                      * position that is a multiple of cst (Triton's constancy) */
  bool vmask;        /* a vector access whose mask is the same over each vector (cst >= vec) */
  uint8_t path;      /* which lowering the emitter chose, for explain: DOT_* (tl.dot), SCAN_* (scans) */
  int vec;           /* emit.c: a load/store done `vec` elements at a time (0: scalar) */
  const char *note;  /* the emitter's account of how it lowered this op, for explain (arena; NULL: none) */
  bool solo;         /* order.c: a scalar load only thread 0 needs, so only thread 0 does it */
} Ins;

/* A straight-line list of instructions; regions of control-flow ops are Blocks. */
struct Block {
  VEC(int) ins;
};

typedef struct Param {
  const char *name;
  int index;         /* index in the def */
  tm_param_kind kind;
  Type ty;
  unsigned flags;
  bool written;      /* a store goes through it (pointer params) */
} Param;

/* A device_print or device_assert: what the host needs to decode its records
 * (the emitter lists the sites as comments at the top of the MSL). */
typedef struct DebugSite {
  bool is_assert;
  bool hex;
  int line, col;
  const char *text;  /* print prefix (as upstream munges it) or assert message */
  int nvals;
  tm_dtype dts[16];
  unsigned ptrs;     /* print: bit i set when value i is a pointer (recorded as its address) */
  int rank;          /* print: the values' (broadcast) shape, for the element indices */
  int32_t shape[TM_MAX_RANK];
} DebugSite;

typedef struct Fn {
  const char *name;
  int line, col;     /* the def, for diagnostics about the whole kernel */
  VEC(DebugSite) sites;
  VEC(const char *) static_prints; /* tl.static_print messages, shown by the host at compile time */
  VEC(const char *) warnings;      /* "file:line:col: text", raised by the host as UserWarnings when it compiles */
  VEC(Ins) ins;      /* value id = index */
  Block *body;
  VEC(Param) params; /* runtime params */
  int num_warps;
} Fn;

int ir_add(Ctx *c, Fn *f, Block *b, Ins in); /* appends to b, returns the id; copies args */
Block *ir_block(Ctx *c);
const char *op_name(Op op);
char *ir_print(Ctx *c, Fn *f);     /* arena text */
Param *ir_pointer_param(Fn *f, int id);
/* For every value id: the index in f->params of the one parameter a pointer
 * value can only be derived from, on every path (loops and branches merged);
 * -1 where it may come from several or from memory, or is not a pointer.
 * Arena-allocated, f->ins.n entries. */
int *ir_pointer_roots(Ctx *c, Fn *f);

/* ------------------------------------------------------------ mathfns.c */

/* Elementwise library functions (tl.*, tl.math.*, libdevice.*) as data: how
 * each is typed and how the dialect spells it. */
enum {
  MF_TL = 1, MF_MATH = 2, MF_LIBDEVICE = 4,         /* namespaces it is reachable from */
};
enum {
  MT_F16 = 1 << TM_F16, MT_BF16 = 1 << TM_BF16, MT_F32 = 1 << TM_F32,
  MT_FLOAT = (1 << TM_F16) | (1 << TM_BF16) | (1 << TM_F32),
  MT_SINT = (1 << TM_I8) | (1 << TM_I16) | (1 << TM_I32) | (1 << TM_I64),
  MT_UINT = (1 << TM_U8) | (1 << TM_U16) | (1 << TM_U32) | (1 << TM_U64),
  MT_INT = MT_SINT | MT_UINT,
  MT_I32_64 = (1 << TM_I32) | (1 << TM_I64) | (1 << TM_U32) | (1 << TM_U64),
};
typedef enum MathResult { MR_SAME, MR_BOOL, MR_I32, MR_F32, MR_I64 } MathResult;

typedef struct MathFn {
  const char *name;
  int spaces;          /* MF_* */
  int arity;           /* operands; more than one are promoted like arithmetic */
  unsigned dtypes;     /* accepted operand dtypes (MT_*), checked after promotion */
  MathResult result;
  const char *msl;     /* spelling: $0 $1 $2 are the operands, $T the result type */
  const char *needs;   /* name of the MSL helper (math_helpers) the spelling calls, or NULL */
  unsigned dtypes2;    /* when set: the second operand's own dtypes, and no promotion between them */
  int fp32_only;       /* upstream's message names only fp32 (sqrt_rn, div_rn) */
} MathFn;

/* MSL helper functions for what the dialect lacks or computes too loosely,
 * emitted into a kernel only when one of its functions is used. */
typedef struct MathHelper {
  const char *name;
  const char *needs;   /* another helper it calls, or NULL */
  const char *text;
} MathHelper;

extern const MathFn math_fns[];
extern const MathHelper math_helpers[];
int math_lookup(int space, const char *name); /* index, or -1 */

/* The part of triton.language written in the kernel language itself (random
 * numbers, sigmoid, softmax, ...): src/stdlib.py, embedded at build time. */
extern const char *const tm_stdlib_text;

/* ------------------------------------------------------------ sema.c */

Fn *sema(Ctx *c, TokVec toks, Node *module, const char *kernel_name);

/* ------------------------------------------------------------ layout.c */

/* A blocked layout (Triton's #blocked) and its slices.
 *
 * A parent family describes how a rank-P tile is spread over the threadgroup:
 * per parent dim d, spt[d] consecutive elements per thread, tpw[d] lanes and
 * wpc[d] SIMD-groups; order[0] is the fastest-varying dim, and lanes and
 * SIMD-groups are numbered along order. A value of rank r <= P uses r of the
 * parent dims (dims[i] is the parent dim of value dim i); along a parent dim
 * it does not use (a slice, as after a reduction) every thread holds the same
 * elements. Picture for <8xf32>, spt 1, tpw 4 (toy warp), wpc 2:
 *
 *   element : 0  1  2  3  4  5  6  7
 *   thread  : t0 t1 t2 t3 t4 t5 t6 t7   (t4..t7 are warp 1)
 *
 * Elements beyond one tile repeat in further slots (slot r holds element
 * r*tile + ...); where the tile is larger than the block, threads beyond it
 * hold duplicates ("dup"), which stores and reductions skip.
 *
 * Two layouts of one family map slots thread-locally when every parent dim
 * is either the same size in both or size 1 in the one read (broadcast, slice):
 * that is what expand_dims, broadcast and reductions rely on. Anything else
 * moves through threadgroup memory (O_CONVERT). */
struct Layout {
  int prank;                 /* parent rank */
  int spt[TM_MAX_RANK], tpw[TM_MAX_RANK], wpc[TM_MAX_RANK], order[TM_MAX_RANK]; /* per parent dim */
  int rank;                  /* value rank */
  int dims[TM_MAX_RANK];     /* value dim -> parent dim */
  int shape[TM_MAX_RANK];    /* value shape */
  /* derived, per parent dim: */
  int size[TM_MAX_RANK];     /* value size along it (1 when unused) */
  int espt[TM_MAX_RANK];     /* min(spt, size): elements per thread per tile */
  int reps[TM_MAX_RANK];     /* tiles */
  int per[TM_MAX_RANK];      /* slots along it = espt * reps */
  int stride[TM_MAX_RANK];   /* slot stride (mixed radix in order) */
  int per_thread;            /* slots per thread */
  bool replicated;           /* some threads hold duplicates */
};

/* loopptr.c: a for loop's carried block of pointers advanced by a uniform
 * step becomes a carried scalar base, the block rebuilt from it in the body. */
void loop_pointers(Ctx *c, Fn *f);
void layout_assign(Ctx *c, Fn *f);
/* pipeline.c: in a loop, a tl.dot operand's load issued one iteration ahead (the loop carries the tile) */
void pipeline_dot_loads(Ctx *c, Fn *f);
/* order.c: solo scalar loads and the barriers that keep program order between
 * replicated loads and the stores that may alias them */
void order_memory(Ctx *c, Fn *f);
/* The default family for a shape (vec consecutive elements per thread along
 * the last dim), and a value layout within a family. */
Layout *layout_blocked(Ctx *c, int rank, const int32_t *shape, int num_warps, int vec);
/* The same with `fastest` as the dim whose elements are adjacent in a thread. */
Layout *layout_blocked_along(Ctx *c, int rank, const int32_t *shape, int num_warps, int vec, int fastest);
Layout *layout_in(Ctx *c, const Layout *family, int rank, const int *dims, const int32_t *shape);
/* The family of tl.dot's matrix tiles (layout.c), and whether l is a whole
 * rank-2 value of it */
Layout *layout_frag(Ctx *c, int num_warps);
bool layout_is_frag(const Layout *l, int num_warps);
/* Which element slot `slot` of thread (lane, warp) holds; *dup set when the
 * element is a duplicate of one held by a lower thread. */
void layout_coords(const Layout *l, int lane, int warp, int slot, int *coords, bool *dup);
bool layout_eq(const Layout *a, const Layout *b);
bool layout_same_family(const Layout *a, const Layout *b);
/* Whether `from` can be read thread-locally where `to` is computed. */
bool layout_maps(const Layout *from, const Layout *to);

/* How deep an expression layout.c rebuilds in another layout (and axis.c
 * analyses on demand): a rank-3 pointer such as p + b*S0*S1 + n*S1 + m, each
 * offset an arange through two expand_dims and a broadcast, needs more than 8. */
#define TM_REMAT_DEPTH 12

/* ------------------------------------------------------------ axis.c */

/* Contiguity and divisibility of every value along the last dim (Ins fields),
 * and which block loads and stores can move vec elements at a time. */
void axis_analyze(Ctx *c, Fn *f);
/* Contiguity of value `id` along its dim `dim` (and, in *div, the alignment of
 * its runs), computed on demand; loop-carried values count as unknown. */
int axis_contig_along(Fn *f, int id, int dim, int64_t *div);

enum { DOT_PORTABLE = 1, DOT_SIMDGROUP, DOT_SIMDGROUP_CARRIED, DOT_MATMUL2D = 8 /* | a simdgroup path: also a matmul2d variant */ };
enum { SCAN_SEQUENTIAL = 1, SCAN_PARALLEL };

/* ------------------------------------------------------------ msl.c */

typedef struct Dialect {
  const char *name;
  const char *head;                    /* the text first (CUDA: cuda_prelude.cuh); NULL: Metal's includes */
  const char *prelude;                 /* text after the includes */
  const char *type_names[TM_NDTYPES];  /* scalar spellings */
  const char *kernel_kw;               /* "kernel void" */
  const char *buffer_qual, *const_buffer_qual, *bytes_qual;
  const char *coherent_qual; /* a buffer's address space when plain accesses must be coherent
                                across threadgroups (emit.c plan_coherence) */
  const char *builtin_decl[TM_MAX_BUILTINS + 1]; /* by tm_builtin */
  bool has_bfloat;
  /* fences are cumulative through a threadgroup barrier (PTX's causality
   * order): a scalar atomic's ordering fences are issued by the one thread
   * that performs it, after the barrier that orders the other threads'
   * accesses before it, and a debug_barrier is the barrier alone. Without
   * it (Metal, whose documentation says nothing of cumulativity) every
   * thread fences. */
  bool cumulative_fences;
  /* how the kernel's signature is spelled: a buffer's binding after its name
   * (" [[buffer(%d)]]" in MSL, "" in CUDA); scalars by reference in the
   * constant space (MSL) or by value; built-in indices as parameters (MSL) or
   * as locals the dialect's prelude defines (builtin_local, CUDA); a printf
   * format for what precedes the name, given the threadgroup size */
  const char *buffer_attr;
  bool bytes_by_value;
  const char *builtin_local[TM_MAX_BUILTINS + 1];
  const char *kernel_fmt;
} Dialect;

/* Metal's scalar type names, which every dialect's kernels are written in
 * (the CUDA dialect's head defines them). */
#define TM_METAL_TYPE_NAMES                                                              \
  {                                                                                      \
    [TM_VOID] = "void", [TM_I1] = "bool", [TM_I8] = "char", [TM_I16] = "short",          \
    [TM_I32] = "int", [TM_I64] = "long", [TM_U8] = "uchar", [TM_U16] = "ushort",         \
    [TM_U32] = "uint", [TM_U64] = "ulong", [TM_F16] = "half", [TM_BF16] = "bfloat",      \
    [TM_F32] = "float", [TM_F64] = NULL,                                                 \
  }

extern const Dialect dialect_msl, dialect_cuda;
extern const char tm_common_prelude[];
extern const char tm_bfly_prelude[];
extern const char tm_dot_prelude[];
extern const char tm_sgm_prelude[];
/* The dialect a target is emitted in (tm_target.dialect). */
const Dialect *dialect_for(const tm_target *t);

/* ------------------------------------------------------------ emit.c */

char *emit(Ctx *c, Fn *f, const Dialect *d, tm_kernel_info *info);

/* ------------------------------------------------------------ explain.c */

char *explain(Ctx *c, Fn *f, const char *msl, const tm_kernel_info *info);

#endif
