/* check.h: the C tests' assertion macros. Each test binary counts its checks and
 * ends with `N passed, N failed`; exit status 1 on any failure. */
#ifndef TM_CHECK_H
#define TM_CHECK_H
#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (cond) check_passed++;                                                  \
    else {                                                                     \
      check_failed++;                                                          \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

#define CHECK_STR(got, want)                                                   \
  do {                                                                         \
    const char *g_ = (got), *w_ = (want);                                      \
    if (g_ && w_ && strcmp(g_, w_) == 0) check_passed++;                       \
    else {                                                                     \
      check_failed++;                                                          \
      fprintf(stderr, "%s:%d: CHECK_STR failed\n  got:  %s\n  want: %s\n",     \
              __FILE__, __LINE__, g_ ? g_ : "(null)", w_ ? w_ : "(null)");     \
    }                                                                          \
  } while (0)

#define CHECK_CONTAINS(hay, needle)                                            \
  do {                                                                         \
    const char *h_ = (hay), *n_ = (needle);                                    \
    if (h_ && strstr(h_, n_)) check_passed++;                                  \
    else {                                                                     \
      check_failed++;                                                          \
      fprintf(stderr, "%s:%d: expected to find\n  %s\nin\n  %s\n", __FILE__,   \
              __LINE__, n_, h_ ? h_ : "(null)");                               \
    }                                                                          \
  } while (0)

static int check_report(const char *name) {
  printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
  return check_failed ? 1 : 0;
}
#endif
