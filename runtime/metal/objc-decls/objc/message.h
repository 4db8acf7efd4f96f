/* objc-decls/objc/message.h: see objc.h here. With OBJC_OLD_DISPATCH_PROTOTYPES
 * 0 (arm64's default) the messenger has no usable prototype: every call must
 * cast it to the exact function type, which this declaration enforces. */
#ifndef TM_OBJC_DECLS_MESSAGE_H
#define TM_OBJC_DECLS_MESSAGE_H
#include <objc/objc.h>

void objc_msgSend(void);
#if defined(__x86_64__)
void objc_msgSend_stret(void); /* x86-64 only: a struct returned in memory */
#endif
#endif
