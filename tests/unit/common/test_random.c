/* The random pool (common/random.h): batched draws from the injected source, bytes handed
 * out in source order and wiped from the pool, large draws straight from the source, source
 * failures, uniform values, the firn_random_fn adaptor and the default source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/random.h"

/* A counting source whose byte stream is 0, 1, 2, ... (mod 256) across calls. */
typedef struct src {
  long calls;
  size_t bytes;
  unsigned next;
  int fail;        /* fail this many calls from now on */
} src;

static int src_fill(void *user, uint8_t *buf, size_t len) {
  src *s = user;
  s->calls++;
  if (s->fail > 0) {
    s->fail--;
    memset(buf, 0xEE, len); /* garbage the pool must not hand out */
    return FIRN_ERR_RANDOM;
  }
  s->bytes += len;
  for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(s->next++);
  return FIRN_OK;
}

static int all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

static void test_batched_in_order_and_wiped(void **state) {
  (void)state;
  src s = {0};
  firn_rng_pool p;
  firn_rng_pool_init(&p, src_fill, &s);
  assert_int_equal(s.calls, 0); /* nothing drawn before first use */
  uint8_t tid[12];
  unsigned expect = 0;
  /* 21 transaction IDs fit in one 256-byte draw */
  for (int i = 0; i < 21; i++) {
    assert_int_equal(firn_rng_pool_bytes(&p, tid, sizeof tid), FIRN_OK);
    for (size_t j = 0; j < sizeof tid; j++) assert_int_equal(tid[j], (uint8_t)expect++);
    /* what was handed out is gone from the pool */
    assert_true(all_zero(p.buf, FIRN_RNG_POOL_SIZE - p.avail));
  }
  assert_int_equal(s.calls, 1);
  assert_int_equal(s.bytes, FIRN_RNG_POOL_SIZE);
  assert_int_equal(p.avail, 4);
  /* the 22nd does not fit: the 4 left are discarded (wiped), a new batch comes */
  assert_int_equal(firn_rng_pool_bytes(&p, tid, sizeof tid), FIRN_OK);
  assert_int_equal(s.calls, 2);
  assert_int_equal(tid[0], (uint8_t)256);
  assert_int_equal(p.avail, FIRN_RNG_POOL_SIZE - 12);
  /* zero bytes: nothing happens */
  assert_int_equal(firn_rng_pool_bytes(&p, tid, 0), FIRN_OK);
  assert_int_equal(p.avail, FIRN_RNG_POOL_SIZE - 12);
  /* a draw larger than half the pool goes straight to the source */
  uint8_t big[FIRN_RNG_POOL_SIZE / 2 + 1];
  assert_int_equal(firn_rng_pool_bytes(&p, big, sizeof big), FIRN_OK);
  assert_int_equal(s.calls, 3);
  assert_int_equal(p.avail, FIRN_RNG_POOL_SIZE - 12);
  assert_int_equal(big[0], (uint8_t)512);
  /* exactly half still comes from the pool */
  uint8_t half[FIRN_RNG_POOL_SIZE / 2];
  assert_int_equal(firn_rng_pool_bytes(&p, half, sizeof half), FIRN_OK);
  assert_int_equal(s.calls, 3);
  assert_int_equal(half[0], (uint8_t)(256 + 12));
  firn_rng_pool_free(&p);
  assert_int_equal(p.avail, 0);
  assert_true(all_zero(p.buf, sizeof p.buf));
  firn_rng_pool_free(NULL);
}

static void test_source_failure(void **state) {
  (void)state;
  src s = {0};
  firn_rng_pool p;
  firn_rng_pool_init(&p, src_fill, &s);
  uint8_t out[8];
  s.fail = 1;
  assert_int_equal(firn_rng_pool_bytes(&p, out, sizeof out), FIRN_ERR_RANDOM);
  assert_int_equal(p.avail, 0);
  assert_true(all_zero(p.buf, sizeof p.buf)); /* the failed fill's garbage is wiped */
  /* the next call asks the source again and succeeds */
  assert_int_equal(firn_rng_pool_bytes(&p, out, sizeof out), FIRN_OK);
  assert_int_equal(out[0], 0);
  assert_int_equal(s.calls, 2);
  /* a failing large draw */
  uint8_t big[200];
  s.fail = 1;
  assert_int_equal(firn_rng_pool_bytes(&p, big, sizeof big), FIRN_ERR_RANDOM);
  assert_int_equal(p.avail, FIRN_RNG_POOL_SIZE - 8); /* the pool is untouched */
  uint32_t v;
  firn_rng_pool_free(&p);
  firn_rng_pool_init(&p, src_fill, &s);
  s.fail = 1;
  assert_int_equal(firn_rng_pool_uniform(&p, 10, &v), FIRN_ERR_RANDOM);
  firn_rng_pool_free(&p);
}

/* A source of 0xFF..., then the counting stream: the first draw (0xFFFFFFFF) is past the
 * rejection limit for bound 3 and must be redrawn. */
static int ff_then_count(void *user, uint8_t *buf, size_t len) {
  src *s = user;
  s->calls++;
  for (size_t i = 0; i < len; i++) buf[i] = i < 4 ? 0xFF : (uint8_t)i;
  return FIRN_OK;
}

static void test_uniform(void **state) {
  (void)state;
  src s = {0};
  firn_rng_pool p;
  firn_rng_pool_init(&p, ff_then_count, &s);
  uint32_t v = 99;
  assert_int_equal(firn_rng_pool_uniform(&p, 0, &v), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_rng_pool_uniform(&p, 3, NULL), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_rng_pool_uniform(&p, 3, &v), FIRN_OK);
  /* 0xFFFFFFFF rejected; then bytes 4..7 big-endian = 0x04050607 */
  assert_int_equal(v, 0x04050607u % 3);
  assert_int_equal(p.avail, FIRN_RNG_POOL_SIZE - 8);
  firn_rng_pool_free(&p);
  firn_rng_pool_init(&p, src_fill, &s);
  for (int i = 0; i < 1000; i++) {
    assert_int_equal(firn_rng_pool_uniform(&p, 7, &v), FIRN_OK);
    assert_true(v < 7);
    assert_int_equal(firn_rng_pool_uniform(&p, 1, &v), FIRN_OK);
    assert_int_equal(v, 0);
  }
  firn_rng_pool_free(&p);
}

static void test_adaptor_and_default(void **state) {
  (void)state;
  src s = {0};
  firn_rng_pool inner;
  firn_rng_pool_init(&inner, src_fill, &s);
  /* a pool fed by another pool (an object handing its pool to one it owns) */
  firn_rng_pool outer;
  firn_rng_pool_init(&outer, firn_rng_pool_fn, &inner);
  uint8_t out[12];
  assert_int_equal(firn_rng_pool_bytes(&outer, out, sizeof out), FIRN_OK);
  assert_int_equal(s.calls, 1); /* the outer 256-byte fill went straight to the source */
  assert_int_equal(out[0], 0);
  assert_int_equal(inner.avail, 0);
  uint8_t via[4];
  assert_int_equal(firn_rng_pool_fn(&inner, via, sizeof via), FIRN_OK);
  assert_int_equal(via[0], (uint8_t)256);
  firn_rng_pool_free(&outer);
  firn_rng_pool_free(&inner);
  /* NULL source: OpenSSL's CSPRNG */
  firn_rng_pool d;
  firn_rng_pool_init(&d, NULL, NULL);
  uint8_t a[16], b[16];
  assert_int_equal(firn_rng_pool_bytes(&d, a, sizeof a), FIRN_OK);
  assert_int_equal(firn_rng_pool_bytes(&d, b, sizeof b), FIRN_OK);
  assert_memory_not_equal(a, b, sizeof a);
  firn_rng_pool_free(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_batched_in_order_and_wiped),
      cmocka_unit_test(test_source_failure),
      cmocka_unit_test(test_uniform),
      cmocka_unit_test(test_adaptor_and_default),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
