/* The agent's random draws: batched from the injected source (one call covers many
 * transaction IDs and credentials), replayable from a seeded source, and a refill that fails
 * mid-connection costs one check or consent round, never the connection. */
#include "test_agent_harness.h"

typedef struct counting_rng {
  h_rng inner;
  long calls;
  size_t bytes;
  long fail_from, fail_to; /* calls in [fail_from, fail_to] fail */
} counting_rng;

static int cr_fill(void *user, uint8_t *buf, size_t len) {
  counting_rng *c = user;
  c->calls++;
  c->bytes += len;
  if (c->calls >= c->fail_from && c->calls <= c->fail_to) return FIRN_ERR_RANDOM;
  return h_rng_fill(&c->inner, buf, len);
}

static void connect_both(h_world *w) {
  h_signal(w, 0, 1, 1);
  h_signal(w, 1, 0, 1);
  assert_true(h_run(w, h_both_connected, 5 * SEC));
}

/* One connection (create, gather, check, nominate, 60 s of consent) costs a couple of calls
 * to the source instead of one per transaction ID. */
static void test_random_batched(void **state) {
  (void)state;
  counting_rng cr[2];
  memset(cr, 0, sizeof cr);
  firn_agent_settings s[2];
  h_world w;
  for (int i = 0; i < 2; i++) {
    cr[i].inner.s = 1000 + (uint64_t)i;
    firn_agent_settings_default(&s[i]);
    s[i].role = i == 0 ? FIRN_ICE_CONTROLLING : FIRN_ICE_CONTROLLED;
    s[i].callbacks.on_state = h_on_state;
    s[i].callbacks.on_selected_pair = h_on_selected;
    s[i].callbacks.on_data = h_on_data;
  }
  h_init(&w, 3, &s[0], &s[1], FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
  /* h_init injects its own source: swap in the counting one before anything is drawn again */
  for (int i = 0; i < 2; i++) {
    firn_agent_free(w.n[i].ag);
    s[i].random = cr_fill;
    s[i].random_user = &cr[i];
    s[i].user = &w.n[i];
    assert_int_equal(firn_agent_new(&w.n[i].ag, &s[i]), 0);
    assert_int_equal(firn_agent_add_stream(w.n[i].ag, 1, &w.n[i].stream), 0);
    firn_local_address la;
    memset(&la, 0, sizeof la);
    la.addr = w.n[i].addr;
    la.transport = FIRN_TRANSPORT_UDP;
    assert_int_equal(firn_agent_add_local_address(w.n[i].ag, w.n[i].stream, 1, &la, w.now), 0);
    assert_int_equal(firn_agent_gather(w.n[i].ag, w.now), 0);
  }
  connect_both(&w);
  h_run(&w, NULL, 60 * SEC);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(firn_agent_get_state(w.n[i].ag, 0), FIRN_ICE_COMPLETED);
    /* 8 (tie-breaker) + 32 (credentials) + 12 per check and consent request + 4 per
     * consent interval: ~20 transactions in 60 s fit in two 256-byte batches */
    assert_true(cr[i].calls >= 1 && cr[i].calls <= 3);
    assert_int_equal(cr[i].bytes, (size_t)cr[i].calls * 256);
  }
  h_free(&w);
}

/* The same seed gives the same credentials, tie-breaker-driven outcome and check bytes. */
static void test_random_replay(void **state) {
  (void)state;
  uint8_t first[2][1500];
  firn_ssize flen[2];
  char ufrag[2][64], pwd[2][64];
  for (int run = 0; run < 2; run++) {
    h_world w;
    h_init(&w, 11, NULL, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
    const char *u, *p;
    assert_int_equal(firn_agent_get_local_credentials(w.n[0].ag, 0, &u, &p), 0);
    snprintf(ufrag[run], sizeof ufrag[run], "%s", u);
    snprintf(pwd[run], sizeof pwd[run], "%s", p);
    h_signal(&w, 1, 0, 1);
    firn_path path;
    (void)firn_agent_handle_expiry(w.n[0].ag, w.now);
    flen[run] = firn_agent_poll_transmit(w.n[0].ag, w.now, first[run], sizeof first[run], &path);
    assert_true(flen[run] > 20);
    h_free(&w);
  }
  assert_string_equal(ufrag[0], ufrag[1]);
  assert_string_equal(pwd[0], pwd[1]);
  assert_int_equal(flen[0], flen[1]);
  assert_memory_equal(first[0], first[1], (size_t)flen[0]); /* same transaction ID */
}

/* Every refill after the first fails for a while (the source is briefly broken): checks
 * and consent requests that cannot get a transaction ID are retried, the connection comes up
 * and survives. */
static void test_random_refill_fails(void **state) {
  (void)state;
  for (int victim = 0; victim < 2; victim++) {
    counting_rng cr;
    memset(&cr, 0, sizeof cr);
    cr.inner.s = 77;
    cr.fail_from = 2;
    cr.fail_to = 6;
    h_world w;
    h_init(&w, 5, NULL, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
    h_node *n = &w.n[victim];
    firn_agent_free(n->ag);
    firn_agent_settings s;
    h_settings(n, &s, victim == 0 ? FIRN_ICE_CONTROLLING : FIRN_ICE_CONTROLLED);
    s.random = cr_fill;
    s.random_user = &cr;
    assert_int_equal(firn_agent_new(&n->ag, &s), 0);
    assert_int_equal(firn_agent_add_stream(n->ag, 1, &n->stream), 0);
    firn_local_address la;
    memset(&la, 0, sizeof la);
    la.addr = n->addr;
    la.transport = FIRN_TRANSPORT_UDP;
    assert_int_equal(firn_agent_add_local_address(n->ag, n->stream, 1, &la, w.now), 0);
    assert_int_equal(firn_agent_gather(n->ag, w.now), 0);
    /* use up the first batch so the failures hit during the checks */
    for (int k = 0; k < 3; k++) {
      unsigned extra;
      assert_int_equal(firn_agent_add_stream(n->ag, 1, &extra), 0);
    }
    connect_both(&w);
    h_run(&w, NULL, 120 * SEC);
    for (int i = 0; i < 2; i++) {
      firn_ice_state st = firn_agent_get_state(w.n[i].ag, 0);
      assert_true(st == FIRN_ICE_COMPLETED || st == FIRN_ICE_CONNECTED);
      assert_false(h_saw_state(&w.n[i], FIRN_ICE_FAILED));
    }
    assert_true(cr.calls > 6);
    h_free(&w);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_random_batched),
      cmocka_unit_test(test_random_replay),
      cmocka_unit_test(test_random_refill_fails),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
