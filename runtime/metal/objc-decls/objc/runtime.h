/* objc-decls/objc/runtime.h: see objc.h here. */
#ifndef TM_OBJC_DECLS_RUNTIME_H
#define TM_OBJC_DECLS_RUNTIME_H
#include <objc/objc.h>

Class objc_getClass(const char *name);
#endif
