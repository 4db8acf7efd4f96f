/*
 * emit.h: the emitter's state and the helpers its files share (emit.c is the
 * core: values, groups, control flow, memory; emit_dot.c lowers tl.dot).
 */
#ifndef TM_EMIT_H
#define TM_EMIT_H

#include "tm.h"

typedef struct Emitter {
  Ctx *c;
  Fn *f;
  const Dialect *d;
  int *roots;       /* ir_pointer_roots: the parameter each pointer comes from, or -1 */
  Buf out;          /* the function body so far */
  Buf pre, loop;    /* the open group: hoisted scalars, loop body */
  Buf fscope;       /* program-scope definitions the body uses (a reduction's combine as a functor) */
  Buf aside;        /* what `out` held while a definition for fscope is written there */
  Buf canon;        /* em_end_functor's comparison text */
  VEC(const char *) fn_text; /* the functors in fscope, their value names canonical (em_end_functor) ... */
  VEC(int) fn_id;            /* ... and the id each is named with */
  Layout *group;    /* layout of the open group, NULL when none */
  int gind;         /* indentation of the open group */
  int *group_of;    /* planned group of each instruction (0: none) */
  bool *in_array;   /* block value kept in an array */
  bool need_coords, need_dup;
  bool uses_tid, uses_npid, uses_barrier, uses_bfly, uses_dot_fma, uses_sgm_mac;
  const char **param_names;
  const char **subst;  /* how a BLOCKARG of a combine region is read, while emitting it */
  int smem[TM_NDTYPES]; /* threadgroup scratch needed per dtype, in elements */
  bool *helpers;        /* math_helpers used */
  int uid;              /* for unique names */
  int last_line;        /* debug_info: the Python line of the last #line directive */
  int cur;              /* the instruction being emitted */
  VEC(int) smem_users;  /* instructions that asked for threadgroup scratch (for the budget error) */
  VEC(int) smem_sizes;  /* ... and how many bytes each asked for */
  uint64_t *smem_dts;   /* per instruction: the dtypes whose scratch it uses at once (bit per dtype) */
  int *uses;            /* uses of each value in the kernel's blocks (emit_dot.c counts them on demand) */
  const char **sg_acc;  /* tl.dot accumulating into simdgroup matrices carried by a loop: their name */
  bool *carried;        /* a yielded value that stays in those matrices (the dot, or acc + dot folded) */
  int *sg_scale;        /* such a dot whose acc is the carried value times a row vector (acc * r[:, None]): r's M x 1 value, else 0 */
  const char **sg_afrag; /* tl.dot in a loop whose A is defined before it: the fragments loaded once, before the loop */
  bool tensor_ops;      /* a tl.dot has a Metal 4 matmul2d variant: the prelude includes the tensor headers */
  bool wide_dot;        /* a portable tl.dot staged more than 16 KB (emit_dot.c) */
  int chunk;            /* staging through threadgroup memory: indices per chunk of the op being emitted */
  /* device memory shared between threadgroups (plan_coherence): the address
   * space buffers are spelled with (`device`, or `coherent(device) device`
   * when the kernel orders plain accesses by atomics), and per parameter
   * whether other programs may write what this one reads */
  const char *dq, *dcq;
  bool *shared;
  bool shared_any;
  /* a cross-SIMD-group reduction's closing barrier, held back (emit_reduce):
   * its reads were of elements [bar_lo, bar_hi) of bar_dt's array; the next
   * reduction of the same dtype may use elements clear of those instead of
   * waiting for it; any other use of scratch, a barrier, a control flow op or
   * the end of a block emits it first (em_flush_barrier) */
  bool bar_pending, bar_keep;
  int bar_ind;
  tm_dtype bar_dt;
  /* or a tl.dot's closing barrier, held back (em_hold_dot_barrier): its last
   * reads were of elements [bar_lo, bar_hi) of bar_dt's array too; a dot that
   * stages elsewhere in it need not wait (em_smem_at), nor the next turn of
   * a loop whose body's first use of scratch (first_*) is such a dot */
  bool bar_dot;
  int bar_lo, bar_hi;
  int bar_pp;     /* the held dot barrier is that of em_dot_pingpong's dot in loop bar_pp's body, else -1 */
  int turn_dot, turn_op, turn_n; /* em_dot_pingpong's dot, its loop and its region's elements (-1: none) */
  const char *roff;              /* emit_dot.c: a runtime offset (with " + ") before staged indices, or NULL */
  int first_kind; /* in the loop body being emitted: 0 no scratch used yet, 1 a dot's (em_smem_at), 2 any other */
  tm_dtype first_dt;
  int first_lo, first_hi;
} Emitter;

const char *em_tname(Emitter *E, tm_dtype dt);
/* A program-scope functor for fscope: em_begin_functor sets the body aside
 * and gives `out` to its definition, which names it with a number after its
 * kind (struct tm_comb<id>); em_end_functor gives the body back and returns
 * the number to call it by: that of an earlier functor whose definition reads
 * the same but for the names of its values (v<N>, renamed in order of first
 * appearance: the functors read only their arguments and constants), its text
 * dropped; else id, its text kept. One instantiation of the prelude's
 * templates then serves every site that combines or indexes alike. */
void em_begin_functor(Emitter *E);
int em_end_functor(Emitter *E, int id);
/* How value `id` is read at the current position (slot k of E->group for blocks). */
const char *em_ref(Emitter *E, int id);
void em_indent(Buf *b, int n);
/* One printf-formatted line of the function body at indentation ind. */
void em_line(Emitter *E, int ind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Per-slot coordinates of layout l (c<d> per parent dim) and, if need_dup, `dup`. */
void em_coords(Emitter *E, const Layout *l, Buf *b, int ind, bool need_dup);
/* The name of the threadgroup scratch array of dt, growing it to n elements. */
const char *em_smem(Emitter *E, tm_dtype dt, int n);
void em_barrier(Emitter *E, int ind);
/* A dot's scratch, elements [lo, lo + n) of dt's array: no wait for a held
 * dot barrier whose reads were elsewhere in it. */
const char *em_smem_at(Emitter *E, tm_dtype dt, int lo, int n);
/* Holds back a dot's closing barrier (its last reads: [lo, hi) of dt). */
void em_hold_dot_barrier(Emitter *E, int ind, tm_dtype dt, int lo, int hi);
/* Where a dot of n elements of dt may stage without waiting for the held
 * barrier of another (after that one's elements), or 0. */
int em_smem_free_at(Emitter *E, tm_dtype dt, int n);
/* A for loop whose body's only use of scratch is one dot that stages in one
 * K chunk: that dot, staging in two regions by turns (tm_turn<op> & 1), needs
 * no barrier between its reads of a turn and its next turn's staging (the
 * staging barrier of the turn between orders them). The dot's id (E->turn_*
 * set), else -1. */
int em_dot_pingpong(Emitter *E, int op);
void emit_dot(Emitter *E, int id, int ind);
/* left = combine(left, right) with a reduce or scan op's combine region. */
void em_combine(Emitter *E, Ins *red, const char **left, const char **right, int ind);
/* Whether red's combine region is exactly `a + b` of its two arguments. */
bool em_combine_is_add(Emitter *E, Ins *red);
/* Emits math helper `name` (and what it needs) into the kernel's prelude. */
void em_use_helper(Emitter *E, const char *name);
/* A scan in parallel (emit_scan.c); false where it keeps the sequential path. */
bool em_scan_parallel(Emitter *E, int id, int ind);
/* Carried value i of for loop `op` kept in simdgroup matrices across the loop:
 * the tl.dot that accumulates into it, or -1 (emit_dot.c has the rules);
 * carry_in declares and fills the matrices before the loop, carry_out moves
 * them to the loop's result after it. */
int em_dot_carried(Emitter *E, int op, int i);
void em_dot_hoist_a(Emitter *E, int op, int ind);
void em_dot_carry_in(Emitter *E, int op, int i, int dot, int ind);
void em_dot_carry_out(Emitter *E, int op, int i, int dot, int ind);

#endif
