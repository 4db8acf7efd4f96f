/*
 * json.c: the JSON the hardware files and the check report need.
 *
 * Reader: RFC 8259 values into a tree (objects keep member order; duplicate
 * keys are an error so a hardware file cannot say two things). \uXXXX escapes
 * are decoded to UTF-8 (surrogate pairs included). Errors carry line:col.
 * Writer: a growing buffer with string escaping; out of memory sets a flag
 * that the caller checks once at the end.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw.h"
#include "rt.h"

typedef struct Parser {
  const char *s, *p, *what;
  char *err;
  int depth;
} Parser;

static Json *fail(Parser *P, const char *msg) {
  if (!P->err) {
    int line = 1, col = 1;
    for (const char *q = P->s; q < P->p; q++) {
      if (*q == '\n') line++, col = 1;
      else col++;
    }
    P->err = rt_strfmt("%s:%d:%d: invalid JSON: %s", P->what, line, col, msg);
  }
  return NULL;
}

static void skip_ws(Parser *P) {
  while (*P->p == ' ' || *P->p == '\t' || *P->p == '\n' || *P->p == '\r') P->p++;
}

static Json *node(Parser *P, JsonKind k) {
  Json *j = calloc(1, sizeof *j);
  if (!j) return fail(P, "out of memory");
  j->kind = k;
  return j;
}

static int hex4(const char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return 0;
  }
  *out = v;
  return 1;
}

static size_t utf8(unsigned cp, char *o) {
  if (cp < 0x80) return o[0] = (char)cp, 1;
  if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 63)), 2;
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | (cp >> 6 & 63));
    o[2] = (char)(0x80 | (cp & 63));
    return 3;
  }
  o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | (cp >> 12 & 63));
  o[2] = (char)(0x80 | (cp >> 6 & 63)), o[3] = (char)(0x80 | (cp & 63));
  return 4;
}

/* At the opening quote; returns a malloc'd string (decoded is never longer). */
static char *string(Parser *P) {
  const char *start = ++P->p;
  size_t n = 0;
  while (start[n] && start[n] != '"') n += start[n] == '\\' && start[n + 1] ? 2 : 1;
  char *out = malloc(n + 1), *o = out;
  if (!out) return fail(P, "out of memory"), NULL;
  for (;;) {
    unsigned char c = (unsigned char)*P->p;
    if (c == '"') break;
    if (c == 0) return free(out), fail(P, "unterminated string"), NULL;
    if (c < 0x20) return free(out), fail(P, "control character in a string"), NULL;
    if (c != '\\') {
      *o++ = (char)c, P->p++;
      continue;
    }
    char e = P->p[1];
    P->p += 2;
    switch (e) {
    case '"': *o++ = '"'; break;
    case '\\': *o++ = '\\'; break;
    case '/': *o++ = '/'; break;
    case 'b': *o++ = '\b'; break;
    case 'f': *o++ = '\f'; break;
    case 'n': *o++ = '\n'; break;
    case 'r': *o++ = '\r'; break;
    case 't': *o++ = '\t'; break;
    case 'u': {
      unsigned cp, lo;
      if (!hex4(P->p, &cp)) return free(out), fail(P, "bad \\u escape"), NULL;
      P->p += 4;
      if (cp >= 0xD800 && cp < 0xDC00) {
        if (P->p[0] != '\\' || P->p[1] != 'u' || !hex4(P->p + 2, &lo) || lo < 0xDC00 ||
            lo > 0xDFFF)
          return free(out), fail(P, "unpaired surrogate in \\u escape"), NULL;
        P->p += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      }
      o += utf8(cp, o);
      break;
    }
    default:
      P->p -= 1;
      return free(out), fail(P, "bad escape in a string"), NULL;
    }
  }
  P->p++;
  *o = 0;
  return out;
}

static Json *value(Parser *P);

static Json *container(Parser *P, int obj) {
  if (++P->depth > 64) return fail(P, "nesting deeper than 64");
  Json *j = node(P, obj ? J_OBJ : J_ARR), **tail;
  if (!j) return NULL;
  tail = &j->first;
  P->p++;
  skip_ws(P);
  if (*P->p == (obj ? '}' : ']')) {
    P->p++, P->depth--;
    return j;
  }
  for (;;) {
    char *key = NULL;
    skip_ws(P);
    if (obj) {
      if (*P->p != '"') return json_free(j), fail(P, "expected a member name in quotes");
      if (!(key = string(P))) return json_free(j), NULL;
      if (json_get(j, key)) {
        free(key);
        return json_free(j), fail(P, "duplicate member name");
      }
      skip_ws(P);
      if (*P->p != ':') return free(key), json_free(j), fail(P, "expected ':'");
      P->p++;
    }
    Json *v = value(P);
    if (!v) return free(key), json_free(j), NULL;
    v->key = key;
    *tail = v, tail = &v->next;
    skip_ws(P);
    if (*P->p == ',') {
      P->p++;
      continue;
    }
    if (*P->p == (obj ? '}' : ']')) {
      P->p++, P->depth--;
      return j;
    }
    return json_free(j), fail(P, obj ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

static Json *number(Parser *P) {
  const char *q = P->p;
  if (*q == '-') q++;
  if (*q == '0') q++;
  else if (*q >= '1' && *q <= '9')
    while (*q >= '0' && *q <= '9') q++;
  else return fail(P, "unexpected character");
  if (*q == '.') {
    if (!(*++q >= '0' && *q <= '9')) return fail(P, "digit expected after '.'");
    while (*q >= '0' && *q <= '9') q++;
  }
  if (*q == 'e' || *q == 'E') {
    q++;
    if (*q == '+' || *q == '-') q++;
    if (!(*q >= '0' && *q <= '9')) return fail(P, "digit expected in exponent");
    while (*q >= '0' && *q <= '9') q++;
  }
  Json *j = node(P, J_NUM);
  if (!j) return NULL;
  j->num = strtod(P->p, NULL);
  P->p = q;
  return j;
}

static Json *word(Parser *P, const char *w, JsonKind k, int b) {
  size_t n = strlen(w);
  if (strncmp(P->p, w, n)) return fail(P, "unexpected character");
  Json *j = node(P, k);
  if (j) j->b = b, P->p += n;
  return j;
}

static Json *value(Parser *P) {
  skip_ws(P);
  switch (*P->p) {
  case '{': return container(P, 1);
  case '[': return container(P, 0);
  case '"': {
    char *s = string(P);
    Json *j = s ? node(P, J_STR) : NULL;
    if (!j) return free(s), NULL;
    j->str = s;
    return j;
  }
  case 't': return word(P, "true", J_BOOL, 1);
  case 'f': return word(P, "false", J_BOOL, 0);
  case 'n': return word(P, "null", J_NULL, 0);
  case 0: return fail(P, "unexpected end of input");
  default: return number(P);
  }
}

Json *json_parse(const char *text, const char *what, char **err) {
  Parser P = {.s = text, .p = text, .what = what ? what : "JSON"};
  Json *j = value(&P);
  if (j) {
    skip_ws(&P);
    if (*P.p) json_free(j), j = fail(&P, "text after the value");
  }
  if (!j) {
    if (err) *err = P.err ? P.err : rt_strdup("out of memory");
    else free(P.err);
  }
  return j;
}

void json_free(Json *j) {
  while (j) {
    Json *next = j->next;
    json_free(j->first);
    free(j->str);
    free(j->key);
    free(j);
    j = next;
  }
}

const Json *json_get(const Json *obj, const char *key) {
  if (!obj || obj->kind != J_OBJ) return NULL;
  for (const Json *m = obj->first; m; m = m->next)
    if (m->key && !strcmp(m->key, key)) return m;
  return NULL;
}

/* ------------------------------------------------------------ writer */

static void grow(Buf *b, size_t n) {
  if (b->failed || b->len + n + 1 <= b->cap) return;
  size_t cap = b->cap ? b->cap : 1024;
  while (cap < b->len + n + 1) cap *= 2;
  char *s = realloc(b->s, cap);
  if (!s) {
    b->failed = 1;
    return;
  }
  b->s = s, b->cap = cap;
}

void buf_add(Buf *b, const char *s) {
  size_t n = strlen(s);
  grow(b, n);
  if (b->failed) return;
  memcpy(b->s + b->len, s, n + 1);
  b->len += n;
}

void buf_fmt(Buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = rt_vstrfmt(fmt, ap);
  va_end(ap);
  if (!s) b->failed = 1;
  else buf_add(b, s);
  free(s);
}

void buf_json_str(Buf *b, const char *s) {
  if (!s) {
    buf_add(b, "null");
    return;
  }
  char tmp[8];
  buf_add(b, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"') buf_add(b, "\\\"");
    else if (c == '\\') buf_add(b, "\\\\");
    else if (c == '\n') buf_add(b, "\\n");
    else if (c == '\t') buf_add(b, "\\t");
    else if (c < 0x20) snprintf(tmp, sizeof tmp, "\\u%04x", c), buf_add(b, tmp);
    else tmp[0] = (char)c, tmp[1] = 0, buf_add(b, tmp);
  }
  buf_add(b, "\"");
}
