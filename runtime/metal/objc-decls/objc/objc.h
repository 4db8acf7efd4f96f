/*
 * objc-decls/objc/objc.h: the few Objective-C runtime types runtime/metal/mtl_objc.c
 * uses, declared as Apple's <objc/objc.h> declares them for arm64, so the
 * wrappers file can be syntax-checked on Linux (make mtl-check). Not used on
 * macOS, where the SDK's own headers are found first.
 */
#ifndef TM_OBJC_DECLS_OBJC_H
#define TM_OBJC_DECLS_OBJC_H
#include <stdbool.h>

typedef struct objc_class *Class;
typedef struct objc_object *id;
typedef struct objc_selector *SEL;
typedef bool BOOL; /* OBJC_BOOL_IS_BOOL on arm64 */
#define YES true
#define NO false
#define nil ((id)0)

SEL sel_registerName(const char *str);
#endif
