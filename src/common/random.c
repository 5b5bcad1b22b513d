#include "firn/common.h"

#include <limits.h>
#include <openssl/rand.h>

int firn_random_default(void *user, uint8_t *buf, size_t len) {
  (void)user;
  while (len > 0) {
    int chunk = len > INT_MAX ? INT_MAX : (int)len;
    if (RAND_bytes(buf, chunk) != 1) return FIRN_ERR_RANDOM;
    buf += chunk;
    len -= (size_t)chunk;
  }
  return FIRN_OK;
}

#include "common/random.h"

#include <string.h>

#include "common/alloc.h"

int firn_rng_uniform(const firn_rng *r, uint32_t bound, uint32_t *out) {
  if (bound == 0) return FIRN_ERR_INVALID_ARG;
  uint32_t limit = UINT32_MAX - (UINT32_MAX % bound);
  for (;;) {
    uint32_t v;
    int rc = firn_rng_bytes(r, &v, sizeof v);
    if (rc < 0) return rc;
    if (v < limit) { *out = v % bound; return FIRN_OK; }
  }
}

void firn_rng_pool_init(firn_rng_pool *p, firn_random_fn fn, void *user) {
  firn_rng_init(&p->src, fn, user);
  p->avail = 0;
  firn_wipe(p->buf, sizeof p->buf);
}

void firn_rng_pool_free(firn_rng_pool *p) {
  if (!p) return;
  firn_wipe(p->buf, sizeof p->buf);
  p->avail = 0;
}

int firn_rng_pool_bytes(firn_rng_pool *p, void *buf, size_t len) {
  if (len == 0) return FIRN_OK;
  if (len > FIRN_RNG_POOL_SIZE / 2) return firn_rng_bytes(&p->src, buf, len) < 0 ? FIRN_ERR_RANDOM : FIRN_OK;
  if (p->avail < len) {
    if (firn_rng_bytes(&p->src, p->buf, FIRN_RNG_POOL_SIZE) < 0) {
      firn_wipe(p->buf, sizeof p->buf);
      p->avail = 0;
      return FIRN_ERR_RANDOM;
    }
    p->avail = FIRN_RNG_POOL_SIZE;
  }
  uint8_t *src = p->buf + (FIRN_RNG_POOL_SIZE - p->avail);
  memcpy(buf, src, len);
  firn_wipe(src, len);
  p->avail -= (unsigned)len;
  return FIRN_OK;
}

int firn_rng_pool_uniform(firn_rng_pool *p, uint32_t bound, uint32_t *out) {
  if (bound == 0 || !out) return FIRN_ERR_INVALID_ARG;
  uint32_t limit = UINT32_MAX - (UINT32_MAX % bound);
  for (;;) {
    uint8_t b[4];
    int rc = firn_rng_pool_bytes(p, b, sizeof b);
    if (rc < 0) return rc;
    uint32_t v = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
    if (v < limit) {
      *out = v % bound;
      return FIRN_OK;
    }
  }
}

int firn_rng_pool_fn(void *user, uint8_t *buf, size_t len) {
  return firn_rng_pool_bytes(user, buf, len);
}
