/* Timer queue: ordering, re-arming, cancelling, growth and allocation failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/timerq.h"

static void test_order_and_ties(void **state) {
  (void)state;
  firn_timerq q;
  firn_timer t[5];
  firn_timerq_init(&q, NULL);
  uint64_t when[5] = {50, 10, 30, 10, 20};
  for (int i = 0; i < 5; i++) {
    firn_timer_init(&t[i]);
    assert_int_equal(firn_timerq_arm(&q, &t[i], when[i]), FIRN_OK);
  }
  assert_int_equal(firn_timerq_expiry(&q), 10);
  assert_null(firn_timerq_pop_expired(&q, 9));
  /* equal expiries fire in arming order: t[1] before t[3] */
  assert_ptr_equal(firn_timerq_pop_expired(&q, 100), &t[1]);
  assert_ptr_equal(firn_timerq_pop_expired(&q, 100), &t[3]);
  assert_ptr_equal(firn_timerq_pop_expired(&q, 100), &t[4]);
  assert_ptr_equal(firn_timerq_pop_expired(&q, 30), &t[2]);
  assert_null(firn_timerq_pop_expired(&q, 49));
  assert_false(firn_timer_armed(&t[1]));
  assert_true(firn_timer_armed(&t[0]));
  firn_timerq_free(&q);
  assert_false(firn_timer_armed(&t[0]));
}

static void test_rearm_cancel(void **state) {
  (void)state;
  firn_timerq q;
  firn_timer a, b, c;
  firn_timerq_init(&q, NULL);
  firn_timer_init(&a); firn_timer_init(&b); firn_timer_init(&c);
  firn_timerq_arm(&q, &a, 100);
  firn_timerq_arm(&q, &b, 200);
  firn_timerq_arm(&q, &c, 300);
  firn_timerq_arm(&q, &c, 50); /* re-arm earlier */
  assert_int_equal(firn_timerq_expiry(&q), 50);
  firn_timerq_cancel(&q, &c);
  firn_timerq_cancel(&q, &c); /* twice is harmless */
  assert_int_equal(firn_timerq_expiry(&q), 100);
  firn_timerq_arm(&q, &a, 250); /* re-arm later */
  assert_ptr_equal(firn_timerq_pop_expired(&q, 1000), &b);
  assert_ptr_equal(firn_timerq_pop_expired(&q, 1000), &a);
  assert_null(firn_timerq_pop_expired(&q, 1000));
  assert_int_equal(firn_timerq_expiry(&q), FIRN_TIME_NEVER);
  firn_timerq_free(&q);
}

/* Many timers with pseudo-random expiries come out sorted. */
static void test_many_sorted(void **state) {
  (void)state;
  enum { N = 1000 };
  firn_timerq q;
  firn_timer *t = calloc(N, sizeof *t);
  firn_timerq_init(&q, NULL);
  uint32_t x = 12345;
  for (int i = 0; i < N; i++) {
    x = x * 1103515245u + 12345u;
    firn_timer_init(&t[i]);
    assert_int_equal(firn_timerq_arm(&q, &t[i], x % 5000), FIRN_OK);
  }
  for (int i = 0; i < N; i += 3) firn_timerq_cancel(&q, &t[i]);
  uint64_t last = 0;
  int n = 0;
  firn_timer *p;
  while ((p = firn_timerq_pop_expired(&q, UINT64_MAX - 1))) {
    assert_true(p->expiry >= last);
    last = p->expiry;
    n++;
  }
  assert_int_equal(n, N - (N + 2) / 3);
  firn_timerq_free(&q);
  free(t);
}

static void *fail_realloc(void *p, size_t n, void *u) { (void)p; (void)n; (void)u; return NULL; }
static void *ok_malloc(size_t n, void *u) { (void)u; return malloc(n); }
static void ok_free(void *p, void *u) { (void)u; free(p); }

static void test_nomem(void **state) {
  (void)state;
  firn_allocator al = {ok_malloc, NULL, fail_realloc, ok_free, NULL};
  firn_timerq q;
  firn_timer a;
  firn_timerq_init(&q, &al);
  firn_timer_init(&a);
  assert_int_equal(firn_timerq_arm(&q, &a, 1), FIRN_ERR_NOMEM);
  assert_false(firn_timer_armed(&a));
  assert_int_equal(firn_timerq_expiry(&q), FIRN_TIME_NEVER);
  firn_timerq_free(&q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_order_and_ties), cmocka_unit_test(test_rearm_cancel),
      cmocka_unit_test(test_many_sorted), cmocka_unit_test(test_nomem),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
