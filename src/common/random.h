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

#endif
