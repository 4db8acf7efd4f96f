/*
 * stdlib.c: the text of src/stdlib.py, embedded at build time (see tm.h).
 */
#include "tm.h"
#include "stdlib_text.inc"

const char *const tm_stdlib_text = tm_stdlib_text_data;
