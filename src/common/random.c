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
