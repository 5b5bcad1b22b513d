/* Injected randomness. */
#ifndef FIRN_COMMON_RANDOM_H
#define FIRN_COMMON_RANDOM_H

#include "firn/common.h"

typedef struct firn_rng {
  firn_random_fn fn;
  void *user;
} firn_rng;

static inline void firn_rng_init(firn_rng *r, firn_random_fn fn, void *user) {
  r->fn = fn ? fn : firn_random_default;
  r->user = fn ? user : NULL;
}
static inline int firn_rng_bytes(const firn_rng *r, void *buf, size_t len) {
  return r->fn(r->user, (uint8_t *)buf, len);
}
/* Uniform value in [0, bound) without modulo bias; bound > 0. */
int firn_rng_uniform(const firn_rng *r, uint32_t bound, uint32_t *out);

/* A pool over an injected source: random bytes are drawn FIRN_RNG_POOL_SIZE at a time.
 * One OpenSSL RAND_bytes call costs about the same (~7,000 instructions) whatever its
 * length, and protocol objects draw many small values (12-byte transaction IDs, 8-byte
 * tie-breakers, credentials, jitter). Every byte is handed out once and wiped from the pool
 * as it goes; a refill discards (wipes) what is left; firn_rng_pool_free() wipes the rest.
 * A seeded source still replays exactly: the draws are a deterministic function of it
 * (requests of at most FIRN_RNG_POOL_SIZE / 2 bytes come from the pool in order; larger
 * ones go straight to the source, leaving the pool as it was). Not thread-safe: one pool
 * per object, used on that object's thread. */
#define FIRN_RNG_POOL_SIZE 256

typedef struct firn_rng_pool {
  firn_rng src;
  unsigned avail;                   /* unused bytes are the last `avail` of buf */
  uint8_t buf[FIRN_RNG_POOL_SIZE];
} firn_rng_pool;

/* fn NULL: firn_random_default (OpenSSL RAND_bytes). Nothing is drawn until first use. */
void firn_rng_pool_init(firn_rng_pool *p, firn_random_fn fn, void *user);
/* Wipe the unused bytes (the pool may then be re-initialised or dropped). */
void firn_rng_pool_free(firn_rng_pool *p);
/* `len` random bytes into `buf`: 0, or FIRN_ERR_RANDOM when the source failed (the pool is
 * then empty and wiped; the next call asks the source again). */
int firn_rng_pool_bytes(firn_rng_pool *p, void *buf, size_t len);
/* Uniform value in [0, bound) without modulo bias (big-endian 32-bit draws, rejection
 * sampling); bound > 0, else FIRN_ERR_INVALID_ARG. */
int firn_rng_pool_uniform(firn_rng_pool *p, uint32_t bound, uint32_t *out);
/* A firn_random_fn over a pool (`user` is the firn_rng_pool), so an object can hand its
 * pool to the objects it owns (an agent to its STUN and TURN clients). */
int firn_rng_pool_fn(void *user, uint8_t *buf, size_t len);

#endif
