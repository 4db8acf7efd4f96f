/*
 * cxx_fork.h: the protocol between the runtime (runtime/cpu/cpu_build.c) and
 * the compile server it preloads into the C++ compiler
 * (runtime/cpu/fork/cxx_fork.c, whose comment says how it works).
 *
 * The server, started with TM_CXX_FORK_FD_ENV naming its end of a
 * SOCK_SEQPACKET socket, first sends TM_CXX_FORK_HELLO (with its NUL). A
 * request is one message of at most TM_CXX_FORK_MAX bytes: a TmCxxForkHeader,
 * the working folder and then nargs arguments, each NUL-terminated, with two
 * descriptors (SCM_RIGHTS): a reply socket and the write end of the output
 * pipe. A reply is one int32: the compile's exit status, -1 when a signal
 * ended it, TM_CXX_FORK_NOFORK when it could not be started. Up to two come:
 * the compile's own, when it calls exit (before its process is torn down),
 * and its manager's, once the process has ended; the first is the status.
 */
#ifndef TM_CXX_FORK_H
#define TM_CXX_FORK_H
#include <stdint.h>

#define TM_CXX_FORK_FD_ENV "TM_CXX_FORK_FD"
#define TM_CXX_FORK_PRELOAD_ENV "TM_CXX_FORK_PRELOAD" /* LD_PRELOAD as the runtime had it */
#define TM_CXX_FORK_BIND_ENV "TM_CXX_FORK_BIND" /* LD_BIND_NOW as the runtime had it */
#define TM_CXX_FORK_HELLO "triton-metal cxx fork v3"
#define TM_CXX_FORK_MAGIC 0x544d4631u /* "TMF1" */
#define TM_CXX_FORK_MAX (64 * 1024)
#define TM_CXX_FORK_NOFORK (-1000)

typedef struct TmCxxForkHeader {
  uint32_t magic;
  uint32_t nargs; /* arguments after the working folder */
  int32_t nice;   /* the requesting thread's nice value, the compile's */
} TmCxxForkHeader;

#endif
