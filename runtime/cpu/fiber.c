/*
 * fiber.c: user-space context switches for the emulator's threads.
 *
 * x86-64 ELF: tm_fiber_swap saves the callee-saved registers (rbx, rbp,
 * r12-r15) on the current stack, stores rsp, loads the other fiber's rsp and
 * restores the same set. No system call, no signal mask: a switch costs a few
 * nanoseconds (glibc swapcontext ~400 ns because it calls sigprocmask). A
 * fresh fiber's stack holds a frame whose return address is tm_fiber_boot,
 * which calls fn(arg):
 *
 *   top (16-aligned) -> +--------------------+
 *                       | tm_fiber_boot      |  <- popped by `ret`
 *                       | rbp rbx r12=fn     |
 *   sp ---------------> | r13=arg r14 r15    |
 *
 * The floating-point control state (MXCSR, the x87 control word) is not
 * switched: every fiber of a worker runs on that worker's OS thread and
 * shares its rounding and flush-to-zero modes, which no kernel changes (the
 * shim gives a kernel no way to: no <cfenv>, -nostdinc). Saving and loading
 * them made up about 80% of a switch's cost (stmxcsr/fnstcw and fldcw wait
 * for the pipeline), and a switch happens per thread at every barrier and
 * SIMD-group collective.
 *
 * Other targets (aarch64 Linux, macOS) use ucontext until someone writes and
 * tests a register-only arm64 switch.
 *
 * Under AddressSanitizer the switches are announced with
 * __sanitizer_start/finish_switch_fiber so ASan tracks the active stack.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rt.h"

#if defined(__SANITIZE_ADDRESS__)
#define TM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TM_ASAN 1
#endif
#endif
#ifdef TM_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
                                     size_t *size_old);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
/* A stack given to a fresh fiber: a fiber abandoned in a wait (a failed launch)
 * never returned from its instrumented frames, whose poison would stay. */
#define FRESH_STACK(stack, size) __asan_unpoison_memory_region((stack), (size))
#else
#define FRESH_STACK(stack, size) ((void)0)
#endif

#if defined(__x86_64__) && defined(__ELF__) && !defined(TM_FIBER_UCONTEXT)
#define TM_FIBER_ASM 1

void tm_fiber_swap(void **save_sp, void *to_sp) __attribute__((visibility("hidden")));
void tm_fiber_boot(void) __attribute__((visibility("hidden")));

__asm__(".pushsection .text\n"
        ".globl tm_fiber_swap\n"
        ".hidden tm_fiber_swap\n"
        ".type tm_fiber_swap,@function\n"
        "tm_fiber_swap:\n"
        "  pushq %rbp\n"
        "  pushq %rbx\n"
        "  pushq %r12\n"
        "  pushq %r13\n"
        "  pushq %r14\n"
        "  pushq %r15\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  popq %r15\n"
        "  popq %r14\n"
        "  popq %r13\n"
        "  popq %r12\n"
        "  popq %rbx\n"
        "  popq %rbp\n"
        "  ret\n"
        ".size tm_fiber_swap, .-tm_fiber_swap\n"
        ".globl tm_fiber_boot\n"
        ".hidden tm_fiber_boot\n"
        ".type tm_fiber_boot,@function\n"
        "tm_fiber_boot:\n"
        "  movq %r13, %rdi\n"
        "  callq *%r12\n"
        "  ud2\n"
        ".size tm_fiber_boot, .-tm_fiber_boot\n"
        ".popsection\n");

void fiber_init(Fiber *f, void *stack, size_t size, void (*fn)(void *), void *arg) {
  FRESH_STACK(stack, size);
  uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
  uint64_t *sp = (uint64_t *)(top - 56);
  sp[0] = 0;                        /* r15 */
  sp[1] = 0;                        /* r14 */
  sp[2] = (uint64_t)(uintptr_t)arg; /* r13 */
  sp[3] = (uint64_t)(uintptr_t)fn;  /* r12 */
  sp[4] = 0;                        /* rbx */
  sp[5] = 0;                        /* rbp */
  sp[6] = (uint64_t)(uintptr_t)tm_fiber_boot;
  f->sp = sp;
  f->stack = stack;
  f->size = size;
}

static void swap(Fiber *from, Fiber *to) { tm_fiber_swap(&from->sp, to->sp); }
void fiber_release(Fiber *f) { (void)f; }

#else /* ucontext fallback */
#include <ucontext.h>

typedef struct Boot {
  void (*fn)(void *);
  void *arg;
} Boot;

static void boot(unsigned lo, unsigned hi) {
  Boot *b = (Boot *)(((uintptr_t)hi << 32) | lo);
  b->fn(b->arg);
  abort(); /* fn never returns */
}

void fiber_init(Fiber *f, void *stack, size_t size, void (*fn)(void *), void *arg) {
  FRESH_STACK(stack, size);
  ucontext_t *uc = f->impl;
  if (!uc) uc = f->impl = calloc(1, sizeof(ucontext_t) + sizeof(Boot));
  Boot *b = (Boot *)(uc + 1);
  b->fn = fn;
  b->arg = arg;
  getcontext(uc);
  uc->uc_stack.ss_sp = stack;
  uc->uc_stack.ss_size = size;
  uc->uc_link = NULL;
  uintptr_t p = (uintptr_t)b;
  makecontext(uc, (void (*)(void))boot, 2, (unsigned)p, (unsigned)(p >> 32));
  f->stack = stack;
  f->size = size;
}

static void swap(Fiber *from, Fiber *to) {
  if (!from->impl) from->impl = calloc(1, sizeof(ucontext_t) + sizeof(Boot));
  swapcontext(from->impl, to->impl);
}
void fiber_release(Fiber *f) {
  free(f->impl);
  f->impl = NULL;
}
#endif

void fiber_switch(Fiber *from, Fiber *to) {
#ifdef TM_ASAN
  __sanitizer_start_switch_fiber(&from->asan_fake, to->stack, to->size);
  swap(from, to);
  const void *bottom = NULL;
  size_t size = 0;
  /* We are `from` again; the fiber that switched here told ASan where it was. */
  __sanitizer_finish_switch_fiber(from->asan_fake, &bottom, &size);
#else
  swap(from, to);
#endif
}

void fiber_started(void) {
#ifdef TM_ASAN
  __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
}

void fiber_exit_to(Fiber *from, Fiber *to) {
#ifdef TM_ASAN
  __sanitizer_start_switch_fiber(NULL, to->stack, to->size);
#endif
  swap(from, to);
}

void fiber_thread_stack(Fiber *f) {
  pthread_attr_t a;
  f->stack = NULL;
  f->size = 0;
  if (pthread_getattr_np(pthread_self(), &a)) return;
  pthread_attr_getstack(&a, &f->stack, &f->size);
  pthread_attr_destroy(&a);
}

/* sysconf once: fiber_stack_at runs for every thread of every threadgroup. */
static size_t page_size(void) {
  static size_t pg; /* 0 until known; racing threads store the same value */
  size_t p = __atomic_load_n(&pg, __ATOMIC_RELAXED);
  if (!p) {
    p = (size_t)sysconf(_SC_PAGESIZE);
    __atomic_store_n(&pg, p, __ATOMIC_RELAXED);
  }
  return p;
}

void *fiber_stacks_alloc(size_t n, size_t size) {
  size_t pg = page_size(), slot = size + pg;
  void *p = mmap(NULL, n * slot, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  for (size_t i = 0; i < n; i++) mprotect((char *)p + i * slot, pg, PROT_NONE);
  return p;
}

void fiber_stacks_free(void *p, size_t n, size_t size) {
  if (p) munmap(p, n * (size + page_size()));
}

void *fiber_stack_at(void *p, size_t i, size_t size) {
  return (char *)p + i * (size + page_size()) + page_size();
}
