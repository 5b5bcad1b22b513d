/* DTLS handshakes with lost flights, recovered by retransmission driven only by
 * firn_dtls_expiry()/firn_dtls_handle_expiry() on a virtual clock.
 *
 * Why this executable defines gettimeofday(): OpenSSL 3.0 keeps its DTLS retransmission
 * deadline in wall-clock time (gettimeofday() in ssl/d1_lib.c) and offers no way to inject
 * time; DTLSv1_handle_timeout() only retransmits once that deadline has passed. The layer
 * places its own deadline in `now` time and calls DTLSv1_handle_timeout() then, which works
 * whenever `now` follows the wall clock, as it does under the libuv runtime. To test that
 * schedule without sleeping, this process makes the wall clock *be* the virtual clock:
 * its gettimeofday() interposes on libc's for every library in the process, OpenSSL
 * included, and returns the test's `now`. Nothing in src/ depends on this; test_dtls.c
 * shows what happens when `now` runs ahead of a real wall clock (OpenSSL declines and the
 * layer reschedules without busy looping). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <cmocka.h>

#include "dtls/dtls.h"
#include "dtls_pair.h"
#include "test_helpers.h"

/* The virtual clock, read by OpenSSL through gettimeofday(). */
static uint64_t virtual_now = 0;
#define WALL_BASE_S UINT64_C(1700000000)

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
  (void)tz;
  tv->tv_sec = (time_t)(WALL_BASE_S + virtual_now / FIRN_NS_PER_S);
  tv->tv_usec = (suseconds_t)((virtual_now % FIRN_NS_PER_S) / 1000u);
  return 0;
}

/* pair_run() with the wall clock following p->now. */
static int run(pair *p, int max_steps) {
  int jumps = 0;
  virtual_now = p->now;
  for (int i = 1; i >= 0; i--)
    if (firn_dtls_get_state(p->d[i]) == FIRN_DTLS_NEW) (void)firn_dtls_start(p->d[i], p->now);
  for (int step = 0; step < max_steps; step++) {
    virtual_now = p->now;
    int moved = pair_flush(p, 0) + pair_flush(p, 1);
    if (moved == 0 && pair_settled(p)) break;
    if (moved > 0) continue;
    uint64_t e0 = firn_dtls_expiry(p->d[0]), e1 = firn_dtls_expiry(p->d[1]);
    uint64_t e = e0 < e1 ? e0 : e1;
    if (e == FIRN_TIME_NEVER) break;
    if (e > p->now) p->now = e;
    virtual_now = p->now;
    jumps++;
    (void)firn_dtls_handle_expiry(p->d[0], p->now);
    (void)firn_dtls_handle_expiry(p->d[1], p->now);
  }
  return jumps;
}

static void setup_timeout(pair *p, firn_dtls_role role0, uint64_t handshake_timeout) {
  memset(p, 0, sizeof *p);
  firn_dtls_config c0, c1;
  firn_dtls_config_default(&c0);
  firn_dtls_config_default(&c1);
  if (handshake_timeout) c0.handshake_timeout = c1.handshake_timeout = handshake_timeout;
  p->now = 1000 * FIRN_NS_PER_S;
  virtual_now = p->now;
  assert_int_equal(pair_setup(p, role0, &c0, &c1, NULL), FIRN_OK);
}

static void setup(pair *p, firn_dtls_role role0) { setup_timeout(p, role0, 0); }

static void expect_connected_with_media(pair *p) {
  for (int i = 0; i < 2; i++) assert_int_equal(firn_dtls_get_state(p->d[i]), FIRN_DTLS_CONNECTED);
  firn_srtp *s0, *s1;
  assert_int_equal(firn_srtp_new_from_dtls(&s0, NULL, p->d[0]), FIRN_OK);
  assert_int_equal(firn_srtp_new_from_dtls(&s1, NULL, p->d[1]), FIRN_OK);
  uint8_t pkt[12 + 160 + FIRN_SRTP_MAX_TRAILER], ref[12 + 160];
  size_t n = build_rtp(pkt, 1, 0, 0xabc, 160, 9), out, plain;
  memcpy(ref, pkt, n);
  assert_int_equal(firn_srtp_protect_rtp(s0, pkt, n, sizeof pkt, &out), FIRN_OK);
  assert_int_equal(firn_srtp_unprotect_rtp(s1, pkt, out, &plain), FIRN_OK);
  assert_memory_equal(pkt, ref, n);
  firn_srtp_free(s0);
  firn_srtp_free(s1);
}

static uint64_t retransmissions(const pair *p, int i) {
  firn_dtls_stats st;
  firn_dtls_get_stats(p->d[i], &st);
  return st.retransmissions;
}

/* Drop the first `n` datagrams sent by side `side`. */
typedef struct drop_first {
  int side, n;
} drop_first;

static bool drop_first_fn(void *u, int from, int idx, const uint8_t *pkt, size_t len) {
  (void)pkt, (void)len;
  drop_first *d = u;
  return from == d->side && idx < d->n;
}

/* The ClientHello is lost once, then twice: retransmitted after 1 s, then 2 s more. */
static void test_client_hello_lost(void **state) {
  (void)state;
  for (int lost = 1; lost <= 2; lost++) {
    pair p;
    setup(&p, FIRN_DTLS_CLIENT);
    uint64_t t0 = p.now;
    drop_first df = {0, lost};
    p.drop = drop_first_fn;
    p.drop_user = &df;
    assert_int_equal(firn_dtls_start(p.d[1], p.now), FIRN_OK);
    assert_int_equal(firn_dtls_start(p.d[0], p.now), FIRN_OK);
    assert_int_equal(firn_dtls_expiry(p.d[0]), t0 + FIRN_NS_PER_S);
    assert_int_equal(firn_dtls_expiry(p.d[1]), t0 + 30 * FIRN_NS_PER_S); /* handshake timeout only */
    int jumps = run(&p, 200);
    expect_connected_with_media(&p);
    assert_int_equal(jumps, lost);
    assert_int_equal(retransmissions(&p, 0), (uint64_t)lost);
    assert_int_equal(retransmissions(&p, 1), 0);
    /* exponential backoff in `now` time: 1 s, then 1 + 2 s */
    assert_int_equal(p.now - t0, lost == 1 ? FIRN_NS_PER_S : 3 * FIRN_NS_PER_S);
    pair_free(&p);
  }
}

/* The server's whole first flight is lost: both sides' timers fire after 1 s. (OpenSSL
 * packs a flight's records into as few datagrams as the MTU allows: here one.) */
static void test_server_flight_lost(void **state) {
  (void)state;
  pair p;
  setup(&p, FIRN_DTLS_CLIENT);
  uint64_t t0 = p.now;
  drop_first df = {1, 1}; /* ServerHello .. ServerHelloDone in one datagram */
  p.drop = drop_first_fn;
  p.drop_user = &df;
  run(&p, 200);
  expect_connected_with_media(&p);
  assert_true(retransmissions(&p, 1) >= 1);
  assert_int_equal(p.now - t0, FIRN_NS_PER_S);
  pair_free(&p);
}

/* The server's final flight (ChangeCipherSpec + Finished) is lost. The server is already
 * connected and has no timer; the client's retransmitted flight makes it resend. */
typedef struct drop_final {
  int server;
  int dropped;
} drop_final;

static bool drop_final_fn(void *u, int from, int idx, const uint8_t *pkt, size_t len) {
  (void)idx;
  drop_final *d = u;
  if (from != d->server || len < 13 || d->dropped >= 1) return false;
  bool ccs = pkt[0] == 20;
  bool epoch1 = pkt[3] == 0 && pkt[4] == 1;
  if (ccs || epoch1) {
    d->dropped++;
    return true;
  }
  return false;
}

static void test_final_flight_lost(void **state) {
  (void)state;
  for (int r = 0; r < 2; r++) {
    pair p;
    setup(&p, r ? FIRN_DTLS_SERVER : FIRN_DTLS_CLIENT);
    uint64_t t0 = p.now;
    drop_final df = {r ? 0 : 1, 0};
    p.drop = drop_final_fn;
    p.drop_user = &df;
    run(&p, 200);
    assert_int_equal(df.dropped, 1);
    expect_connected_with_media(&p);
    /* the client's timer (1 s) triggers the resend; nothing else is needed */
    assert_int_equal(p.now - t0, FIRN_NS_PER_S);
    assert_int_equal(retransmissions(&p, df.server), 0);
    assert_int_equal(retransmissions(&p, 1 - df.server), 1);
    pair_free(&p);
  }
}

/* Deterministic pseudo-random loss in both directions, many seeds: every handshake
 * completes on the virtual clock. (With 1, 2, 4, 8, 16 s backoff a 30 s timeout allows five
 * tries, and one message lost five times in a row is not rare over 30 seeds at 20 %
 * loss; the timeout is raised to 2 minutes here so the test is about retransmission.) */
typedef struct lossy {
  uint64_t state;
  int percent;
  int dropped;
} lossy;

static bool lossy_fn(void *u, int from, int idx, const uint8_t *pkt, size_t len) {
  (void)from, (void)idx, (void)pkt, (void)len;
  lossy *l = u;
  /* splitmix64 */
  uint64_t z = (l->state += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  z ^= z >> 31;
  bool drop = (int)(z % 100) < l->percent;
  l->dropped += drop;
  return drop;
}

static void test_random_loss(void **state) {
  (void)state;
  int total_dropped = 0, worst_ms = 0;
  for (uint32_t seed = 1; seed <= 30; seed++) {
    pair p;
    setup_timeout(&p, (seed & 1) ? FIRN_DTLS_CLIENT : FIRN_DTLS_SERVER, 120 * FIRN_NS_PER_S);
    uint64_t t0 = p.now;
    lossy l = {seed, 20, 0};
    p.drop = lossy_fn;
    p.drop_user = &l;
    run(&p, 2000);
    if (firn_dtls_get_state(p.d[0]) != FIRN_DTLS_CONNECTED || firn_dtls_get_state(p.d[1]) != FIRN_DTLS_CONNECTED)
      fail_msg("seed %u: states %d/%d after %llu ms, %d dropped", seed, firn_dtls_get_state(p.d[0]),
               firn_dtls_get_state(p.d[1]), (unsigned long long)((p.now - t0) / FIRN_NS_PER_MS), l.dropped);
    p.drop = NULL;
    expect_connected_with_media(&p);
    total_dropped += l.dropped;
    int ms = (int)((p.now - t0) / FIRN_NS_PER_MS);
    if (ms > worst_ms) worst_ms = ms;
    pair_free(&p);
  }
  assert_true(total_dropped > 30);
  printf("# 30 handshakes at 20%% loss: %d datagrams dropped, slowest %d ms (virtual)\n",
         total_dropped, worst_ms);
}

/* A peer that never answers: retransmissions back off 1, 2, 4, 8 s ... and the handshake
 * timeout (30 s) ends it, all in `now` time. */
static void test_backoff_then_timeout(void **state) {
  (void)state;
  pair p;
  setup(&p, FIRN_DTLS_CLIENT);
  uint64_t t0 = p.now;
  assert_int_equal(firn_dtls_start(p.d[0], p.now), FIRN_OK);
  uint8_t buf[1500];
  uint64_t expect_gap = FIRN_NS_PER_S, prev = t0;
  int sent = 0;
  while (firn_dtls_poll_transmit(p.d[0], buf, sizeof buf) > 0) sent++;
  assert_int_equal(sent, 1);
  for (int k = 0; k < 4; k++) {
    uint64_t e = firn_dtls_expiry(p.d[0]);
    assert_int_equal(e - prev, expect_gap);
    virtual_now = e;
    assert_int_equal(firn_dtls_handle_expiry(p.d[0], e), FIRN_OK);
    sent = 0;
    while (firn_dtls_poll_transmit(p.d[0], buf, sizeof buf) > 0) sent++;
    assert_int_equal(sent, 1); /* the ClientHello again */
    prev = e;
    expect_gap *= 2;
  }
  assert_int_equal(retransmissions(&p, 0), 4);
  /* 1+2+4+8 = 15 s; the next retransmission would be at 31 s, past the 30 s timeout */
  uint64_t e = firn_dtls_expiry(p.d[0]);
  assert_int_equal(e, t0 + 30 * FIRN_NS_PER_S);
  virtual_now = e;
  assert_int_equal(firn_dtls_handle_expiry(p.d[0], e), FIRN_ERR_DTLS_HANDSHAKE);
  assert_int_equal(firn_dtls_get_state(p.d[0]), FIRN_DTLS_FAILED);
  assert_int_equal(firn_dtls_expiry(p.d[0]), FIRN_TIME_NEVER);
  pair_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_client_hello_lost),   cmocka_unit_test(test_server_flight_lost),
      cmocka_unit_test(test_final_flight_lost),   cmocka_unit_test(test_random_loss),
      cmocka_unit_test(test_backoff_then_timeout),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
