/*
 * lex.c: Python source text -> tokens.
 *
 * Follows Python's tokenizer for the subset kernels use: NEWLINE at the end of
 * each logical line, INDENT/DEDENT from an indentation stack, implicit line
 * joining inside (), [] and {}, backslash continuation, comments, blank lines,
 * string literals (single, double, triple-quoted; r/b prefixes) and numbers
 * (decimal, 0x/0o/0b, underscores, floats with exponents). Positions are file
 * lines and 1-based columns.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tm.h"

static const char *keywords[] = {
    "def", "if", "elif", "else", "for", "in", "while", "return", "pass", "break",
    "continue", "and", "or", "not", "is", "None", "True", "False", "import", "from",
    "as", "assert", "lambda", "global", "nonlocal", "with", "try", "except", "class",
    "yield", "del", "raise", "finally", "async", "await", NULL};

/* Longest first, so the first prefix match is the longest operator. */
static const char *ops[] = {
    "**=", "//=", ">>=", "<<=", "...", "->", "**", "//", "<<", ">>", "<=", ">=", "==",
    "!=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "@=", ":=", "+", "-", "*",
    "/", "%", "@", "&", "|", "^", "~", "<", ">", "(", ")", "[", "]", "{", "}", ",",
    ":", ".", ";", "=", NULL};

typedef struct Lexer {
  Ctx *c;
  const char *p, *line_start;
  int line;
  int depth;             /* open brackets */
  int indents[128];
  int nindent;
  TokVec toks;
} Lexer;

static int col_of(Lexer *L, const char *p) { return (int)(p - L->line_start) + 1; }

static void push(Lexer *L, TokKind k, const char *s, int len, int line, int col) {
  Tok t = {.kind = k, .s = s, .len = len, .line = line, .col = col};
  vec_push(&L->c->arena, L->toks, t);
}

static void newline(Lexer *L) {
  L->line++;
  L->line_start = L->p;
}

static void lex_number(Lexer *L) {
  const char *s = L->p;
  int col = col_of(L, s);
  char buf[128];
  int n = 0;
  bool is_float = false;
  int base = 10;
  if (s[0] == '0' && strchr("xXoObB", s[1]) && s[1]) {
    base = (s[1] == 'x' || s[1] == 'X') ? 16 : (s[1] == 'o' || s[1] == 'O') ? 8 : 2;
    L->p += 2;
    while (isalnum((unsigned char)*L->p) || *L->p == '_') {
      if (*L->p != '_' && n < 120) buf[n++] = *L->p;
      L->p++;
    }
  } else {
    while (isdigit((unsigned char)*L->p) || *L->p == '_' || *L->p == '.' ||
           ((*L->p == 'e' || *L->p == 'E')) ||
           ((*L->p == '+' || *L->p == '-') && (L->p[-1] == 'e' || L->p[-1] == 'E') && L->p > s)) {
      if (*L->p == '.' || *L->p == 'e' || *L->p == 'E') is_float = true;
      if (*L->p == '.' && L->p[1] == '.') break;
      if (*L->p != '_' && n < 120) buf[n++] = *L->p;
      L->p++;
    }
  }
  buf[n] = 0;
  if (isalpha((unsigned char)*L->p) || *L->p == '_')
    error_at(L->c, L->line, col, "invalid number literal");
  push(L, is_float ? T_FLOAT : T_INT, s, (int)(L->p - s), L->line, col);
  Tok *t = &L->toks.v[L->toks.n - 1];
  char *end;
  errno = 0;
  if (is_float) {
    t->fval = strtod(buf, &end);
  } else {
    unsigned long long v = strtoull(buf, &end, base);
    if (errno == ERANGE) error_at(L->c, L->line, col, "integer literal %.*s does not fit in 64 bits", t->len, s);
    t->ival = (int64_t)v;
    t->fval = v > (unsigned long long)INT64_MAX; /* marks [2**63, 2**64): typed uint64 */
  }
  if (*end) error_at(L->c, L->line, col, "invalid number literal '%.*s'", t->len, s);
}

static void lex_string(Lexer *L) {
  const char *s = L->p;
  int line = L->line, col = col_of(L, s);
  bool raw = false, fstring = false;
  while (*L->p && strchr("rRbBuUfF", *L->p)) {
    if (*L->p == 'f' || *L->p == 'F') fstring = true; /* refused by the parser, only in kernels */
    if (*L->p == 'r' || *L->p == 'R') raw = true;
    L->p++;
  }
  char q = *L->p;
  bool triple = L->p[1] == q && L->p[2] == q;
  L->p += triple ? 3 : 1;
  Buf b = {0};
  for (;;) {
    char ch = *L->p;
    if (!ch || (!triple && ch == '\n')) {
      buf_free(&b);
      error_at(L->c, line, col, "unterminated string literal");
    }
    if (ch == q && (!triple || (L->p[1] == q && L->p[2] == q))) {
      L->p += triple ? 3 : 1;
      break;
    }
    if (ch == '\\' && !raw && L->p[1]) {
      char e = L->p[1];
      char out = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == '0' ? 0 : e;
      if (e == '\n') newline(L);
      else buf_put(&b, &out, 1);
      L->p += 2;
      continue;
    }
    if (ch == '\n') {
      buf_put(&b, "\n", 1);
      L->p++;
      newline(L);
      continue;
    }
    buf_put(&b, &ch, 1);
    L->p++;
  }
  push(L, T_STR, s, (int)(L->p - s), line, col);
  L->toks.v[L->toks.n - 1].str = arena_strndup(&L->c->arena, b.p ? b.p : "", b.len);
  L->toks.v[L->toks.n - 1].ival = fstring;
  buf_free(&b);
}

/* At the start of a logical line: measure indentation, emit INDENT/DEDENTs.
 * Returns false for blank and comment-only lines (nothing emitted). */
static bool indentation(Lexer *L) {
  int width = 0;
  while (*L->p == ' ' || *L->p == '\t') {
    width = *L->p == '\t' ? (width / 8 + 1) * 8 : width + 1;
    L->p++;
  }
  if (*L->p == '\n' || *L->p == '#' || *L->p == '\r' || *L->p == 0) return false;
  int col = col_of(L, L->p);
  if (width > L->indents[L->nindent - 1]) {
    if (L->nindent == 128) error_at(L->c, L->line, col, "too deeply indented");
    L->indents[L->nindent++] = width;
    push(L, T_INDENT, L->p, 0, L->line, col);
  } else {
    while (width < L->indents[L->nindent - 1]) {
      L->nindent--;
      push(L, T_DEDENT, L->p, 0, L->line, col);
    }
    if (width != L->indents[L->nindent - 1])
      error_at(L->c, L->line, col, "unindent does not match any outer indentation level");
  }
  return true;
}

TokVec lex(Ctx *c) {
  Lexer L = {.c = c, .p = c->src.text, .line_start = c->src.text, .line = c->src.first_line};
  L.indents[0] = 0;
  L.nindent = 1;
  bool at_line_start = true;
  while (*L.p) {
    if (at_line_start && L.depth == 0) {
      if (!indentation(&L)) {
        while (*L.p && *L.p != '\n') L.p++;
        if (*L.p == '\n') {
          L.p++;
          newline(&L);
        }
        continue;
      }
      at_line_start = false;
    }
    char ch = *L.p;
    if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f') {
      L.p++;
    } else if (ch == '#') {
      while (*L.p && *L.p != '\n') L.p++;
    } else if (ch == '\\' && (L.p[1] == '\n' || (L.p[1] == '\r' && L.p[2] == '\n'))) {
      L.p += L.p[1] == '\n' ? 2 : 3;
      newline(&L);
    } else if (ch == '\n') {
      if (L.depth == 0) {
        push(&L, T_NEWLINE, L.p, 0, L.line, col_of(&L, L.p));
        at_line_start = true;
      }
      L.p++;
      newline(&L);
    } else if (isdigit((unsigned char)ch) || (ch == '.' && isdigit((unsigned char)L.p[1]))) {
      lex_number(&L);
    } else if (ch == '"' || ch == '\'' ||
               (strchr("rRbBuUfF", ch) &&
                (L.p[1] == '"' || L.p[1] == '\'' ||
                 (strchr("rRbB", L.p[1]) && L.p[1] && (L.p[2] == '"' || L.p[2] == '\''))))) {
      lex_string(&L);
    } else if (isalpha((unsigned char)ch) || ch == '_' || (unsigned char)ch >= 0x80) {
      /* identifiers; bytes >= 0x80 are UTF-8 letters (Python accepts Unicode identifiers;
       * the file already passed Python's own parser) */
      const char *s = L.p;
      while (isalnum((unsigned char)*L.p) || *L.p == '_' || (unsigned char)*L.p >= 0x80) L.p++;
      int len = (int)(L.p - s);
      TokKind k = T_NAME;
      for (int i = 0; keywords[i]; i++)
        if ((int)strlen(keywords[i]) == len && !memcmp(keywords[i], s, (size_t)len)) k = T_KEYWORD;
      push(&L, k, s, len, L.line, col_of(&L, s));
    } else {
      int i;
      for (i = 0; ops[i]; i++)
        if (!strncmp(L.p, ops[i], strlen(ops[i]))) break;
      if (!ops[i]) error_at(c, L.line, col_of(&L, L.p), "unexpected character '%c'", ch);
      int len = (int)strlen(ops[i]);
      if (strchr("([{", ch) && len == 1) L.depth++;
      if (strchr(")]}", ch) && len == 1 && L.depth > 0) L.depth--;
      push(&L, T_OP, L.p, len, L.line, col_of(&L, L.p));
      L.p += len;
    }
  }
  if (!at_line_start) push(&L, T_NEWLINE, L.p, 0, L.line, col_of(&L, L.p));
  while (L.nindent > 1) {
    L.nindent--;
    push(&L, T_DEDENT, L.p, 0, L.line, 1);
  }
  push(&L, T_EOF, L.p, 0, L.line, 1);
  return L.toks;
}
