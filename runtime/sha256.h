/*
 * sha256.h: SHA-256 (FIPS 180-4) for content-addressed caches (the cpu
 * emulator's compiled objects, the compiler's kernel cache). Incremental:
 * init, update any number of times, final.
 */
#ifndef TM_SHA256_H
#define TM_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct Sha256 {
  uint32_t h[8];
  uint64_t len; /* bytes hashed so far */
  uint8_t buf[64];
  size_t nbuf;
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t n);
void sha256_final(Sha256 *s, uint8_t out[32]);
/* One call: out = SHA-256(data). */
void sha256(const void *data, size_t n, uint8_t out[32]);
/* 64 lowercase hex digits + NUL. */
void sha256_hex(const uint8_t digest[32], char out[65]);

#endif
