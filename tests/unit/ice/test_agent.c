/* ICE agent: two agents in one process, a packet shuttle and a virtual clock.
 * Connectivity on host candidates in both roles, role conflicts, early checks (prflx then
 * reconciled), authentication failures, bounds, garbage, consent loss, restart, lite,
 * destroy from a callback, and allocation failures. */
#include "test_agent_harness.h"

/* ------------------------------------------------------------------------------------------ */

static void connect_both(h_world *w) {
  h_signal(w, 0, 1, 1);
  h_signal(w, 1, 0, 1);
  assert_true(h_run(w, h_both_connected, 10 * SEC));
}

static void assert_pair_host(const h_world *w) {
  for (int i = 0; i < 2; i++) {
    const h_node *n = &w->n[i];
    assert_int_equal(n->sel_local.type, FIRN_CAND_HOST);
    assert_int_equal(n->sel_remote.type, FIRN_CAND_HOST);
    assert_true(firn_addr_equal(&n->sel_local.addr, &n->addr));
    assert_true(firn_addr_equal(&n->sel_remote.addr, &w->n[1 - i].addr));
  }
}

static void exchange_data(h_world *w) {
  unsigned rx0 = w->n[0].data_rx, rx1 = w->n[1].data_rx;
  assert_true(h_send_data(w, 0, "hello from A") > 0);
  assert_true(h_send_data(w, 1, "hello from B") > 0);
  h_run(w, NULL, 50 * MS);
  assert_int_equal(w->n[1].data_rx, rx1 + 1);
  assert_int_equal(w->n[0].data_rx, rx0 + 1);
  assert_memory_equal(w->n[1].last_data, "hello from A", 12);
  assert_memory_equal(w->n[0].last_data, "hello from B", 12);
}

static void test_connect_host(void **state) {
  (void)state;
  h_world w;
  h_init(&w, 1, NULL, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
  assert_int_equal(w.n[0].ncands, 1);
  assert_true(w.n[0].gathering_done);
  uint64_t t0 = w.now;
  connect_both(&w);
  /* one Ta tick for the nomination plus round trips, not several ticks */
  assert_true(w.now - t0 <= 50 * MS + 4 * w.delay);
  assert_pair_host(&w);
  assert_int_equal(w.n[0].selected, 1);
  assert_int_equal(w.n[1].selected, 1);
  assert_true(h_run(&w, h_both_completed, 5 * SEC));
  assert_true(h_saw_state(&w.n[0], FIRN_ICE_CHECKING));
  exchange_data(&w);
  firn_pair_stats ps[4];
  size_t n = 0;
  assert_int_equal(firn_agent_get_pair_stats(w.n[0].ag, 0, ps, 4, &n), 0);
  assert_int_equal(n, 1);
  assert_true(ps[0].selected && ps[0].nominated);
  assert_int_equal(ps[0].state, 3);
  assert_true(ps[0].requests_sent >= 1 && ps[0].responses_received >= 1);
  assert_int_equal(ps[0].packets_sent, 1);
  assert_int_equal(ps[0].packets_received, 1);
  assert_int_equal(firn_agent_get_role(w.n[0].ag), FIRN_ICE_CONTROLLING);
  assert_int_equal(firn_agent_get_role(w.n[1].ag), FIRN_ICE_CONTROLLED);
  firn_agent_stats as;
  assert_int_equal(firn_agent_get_stats(w.n[1].ag, &as), 0);
  assert_int_equal(as.role_conflicts, 0);
  assert_int_equal(as.pairs, 1);
  h_free(&w);
}

static void test_connect_host_swapped(void **state) {
  (void)state;
  h_world w;
  h_init(&w, 2, NULL, NULL, FIRN_ICE_CONTROLLED, FIRN_ICE_CONTROLLING);
  connect_both(&w);
  assert_pair_host(&w);
  assert_int_equal(firn_agent_get_role(w.n[1].ag), FIRN_ICE_CONTROLLING);
  exchange_data(&w);
  h_free(&w);
}

static void role_conflict(firn_ice_role r, uint64_t seed) {
  h_world w;
  h_init(&w, seed, NULL, NULL, r, r);
  connect_both(&w);
  int controlling = (firn_agent_get_role(w.n[0].ag) == FIRN_ICE_CONTROLLING) +
                    (firn_agent_get_role(w.n[1].ag) == FIRN_ICE_CONTROLLING);
  assert_int_equal(controlling, 1);
  firn_agent_stats a, b;
  firn_agent_get_stats(w.n[0].ag, &a);
  firn_agent_get_stats(w.n[1].ag, &b);
  assert_true(a.role_conflicts + b.role_conflicts >= 1);
  assert_pair_host(&w);
  exchange_data(&w);
  h_free(&w);
}

static void test_role_conflict_both_controlling(void **state) {
  (void)state;
  for (uint64_t seed = 10; seed < 16; seed++) role_conflict(FIRN_ICE_CONTROLLING, seed);
}

static void test_role_conflict_both_controlled(void **state) {
  (void)state;
  for (uint64_t seed = 20; seed < 26; seed++) role_conflict(FIRN_ICE_CONTROLLED, seed);
}

/* A's checks reach B before B has A's description: B learns a prflx remote candidate,
 * answers, and reconciles it with A's host candidate once the description arrives. */
static void test_early_check_prflx_reconciled(void **state) {
  (void)state;
  h_world w;
  h_init(&w, 3, NULL, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
  h_signal(&w, 1, 0, 1); /* A knows B; B knows nothing yet */
  h_run(&w, NULL, 200 * MS);
  firn_pair_stats ps[4];
  size_t n = 0;
  assert_int_equal(firn_agent_get_pair_stats(w.n[1].ag, 0, ps, 4, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(ps[0].remote.type, FIRN_CAND_PRFLX);
  assert_true(ps[0].requests_received >= 1);
  /* A saw B's answers: A's side of the pair is valid, but nothing is selected on B */
  assert_int_equal(w.n[1].selected, 0);
  h_signal(&w, 0, 1, 1);
  assert_true(h_run(&w, h_both_connected, 5 * SEC));
  assert_int_equal(firn_agent_get_pair_stats(w.n[1].ag, 0, ps, 4, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(ps[0].remote.type, FIRN_CAND_HOST);
  assert_int_equal(w.n[1].sel_remote.type, FIRN_CAND_HOST);
  firn_agent_stats st;
  firn_agent_get_stats(w.n[1].ag, &st);
  assert_int_equal(st.remote_candidates, 1);
  exchange_data(&w);
  h_free(&w);
}

/* Early check, and B never gets candidates, only credentials: the prflx pair is used. */
static void test_prflx_only(void **state) {
  (void)state;
  h_world w;
  h_init(&w, 4, NULL, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
  h_signal(&w, 1, 0, 1);
  h_signal(&w, 0, 1, 0);
  assert_true(h_run(&w, h_both_connected, 5 * SEC));
  assert_int_equal(w.n[1].sel_remote.type, FIRN_CAND_PRFLX);
  assert_int_equal(w.n[0].sel_remote.type, FIRN_CAND_HOST);
  exchange_data(&w);
  h_free(&w);
}

/* ------------------------------------------------------------------------------------------ */
/* Hand-made STUN requests against agent B                                                     */

typedef struct req_opts {
  const char *username;   /* NULL: none */
  const char *pwd;        /* NULL: no MESSAGE-INTEGRITY */
  int fingerprint;
  int controlling;        /* 1 CONTROLLING, 0 CONTROLLED, -1 none */
  uint64_t tiebreaker;
  int unknown_attr;       /* add comprehension-required 0x7777 */
  int priority;
  int use_candidate;
} req_opts;

static size_t make_req(uint8_t *buf, size_t cap, const req_opts *o, uint8_t tid[12]) {
  for (int i = 0; i < 12; i++) tid[i] = (uint8_t)(0xA0 + i);
  firn_stun_builder b;
  firn_stun_builder_init(&b, buf, cap, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, tid);
  if (o->username) firn_stun_add_string(&b, FIRN_STUN_ATTR_USERNAME, o->username, strlen(o->username));
  if (o->priority) firn_stun_add_u32(&b, FIRN_STUN_ATTR_PRIORITY, 1862270975u);
  if (o->controlling == 1) firn_stun_add_u64(&b, FIRN_STUN_ATTR_ICE_CONTROLLING, o->tiebreaker);
  if (o->controlling == 0) firn_stun_add_u64(&b, FIRN_STUN_ATTR_ICE_CONTROLLED, o->tiebreaker);
  if (o->unknown_attr) firn_stun_add_u32(&b, 0x7777, 1);
  if (o->use_candidate) firn_stun_add_flag(&b, FIRN_STUN_ATTR_USE_CANDIDATE);
  firn_stun_key *k = NULL;
  if (o->pwd) {
    assert_int_equal(firn_stun_key_new_short_term(&k, NULL, o->pwd, strlen(o->pwd)), 0);
    firn_stun_add_integrity(&b, k);
  }
  if (o->fingerprint) firn_stun_add_fingerprint(&b);
  firn_ssize n = firn_stun_builder_finish(&b);
  firn_stun_key_free(k);
  assert_true(n > 0);
  return (size_t)n;
}

/* Feed a request from `from` to B and return the error code of B's answer (0 success,
 * -1 no answer). */
static int poke_b(h_world *w, const req_opts *o, const char *from) {
  uint8_t buf[600], tid[12];
  size_t len = make_req(buf, sizeof buf, o, tid);
  firn_path path;
  memset(&path, 0, sizeof path);
  path.local = w->n[1].addr;
  path.remote = h_addr(from);
  assert_int_equal(firn_agent_handle_datagram(w->n[1].ag, &path, buf, len, w->now), 0);
  uint8_t out[1500];
  firn_path op;
  int code = -1;
  for (;;) {
    firn_ssize n = firn_agent_poll_transmit(w->n[1].ag, w->now, out, sizeof out, &op);
    if (n == FIRN_ERR_WOULDBLOCK) break;
    assert_true(n > 0);
    firn_stun_msg m;
    if (firn_stun_msg_parse(&m, out, (size_t)n) != 0 || memcmp(m.tid, tid, 12) != 0) continue;
    assert_true(firn_addr_equal(&op.remote, &path.remote));
    if (m.cls == FIRN_STUN_SUCCESS) {
      code = 0;
      firn_addr x;
      assert_int_equal(firn_stun_msg_get_xor_addr(&m, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, 0, &x), 0);
      assert_true(firn_addr_equal(&x, &path.remote));
      /* signed with B's password */
      const char *pwd;
      firn_agent_get_local_credentials(w->n[1].ag, 0, NULL, &pwd);
      firn_stun_key *k = NULL;
      firn_stun_key_new_short_term(&k, NULL, pwd, strlen(pwd));
      assert_int_equal(firn_stun_msg_verify(&m, k), 0);
      firn_stun_key_free(k);
    } else if (m.cls == FIRN_STUN_ERROR) {
      assert_int_equal(firn_stun_msg_get_error(&m, &code, NULL, NULL), 0);
    }
    assert_true(m.fp_off != 0);
  }
  return code;
}

static void test_incoming_auth(void **state) {
  (void)state;
  h_world w;
  h_init(&w, 5, NULL, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
  const char *bu, *bp;
  firn_agent_get_local_credentials(w.n[1].ag, 0, &bu, &bp);
  char user[64], wrong_user[64];
  snprintf(user, sizeof user, "%s:abcd", bu);
  snprintf(wrong_user, sizeof wrong_user, "zzzz:abcd");
  firn_agent_stats st0, st1;
  firn_agent_get_stats(w.n[1].ag, &st0);

  req_opts bad_pwd = {user, "this-is-not-the-password", 1, 1, 42, 0, 1, 0};
  assert_int_equal(poke_b(&w, &bad_pwd, "10.9.9.9:999"), 401);
  req_opts bad_user = {wrong_user, bp, 1, 1, 42, 0, 1, 0};
  assert_int_equal(poke_b(&w, &bad_user, "10.9.9.9:999"), 401);
  req_opts no_mi = {user, NULL, 1, 1, 42, 0, 1, 0};
  assert_int_equal(poke_b(&w, &no_mi, "10.9.9.9:999"), 400);
  req_opts no_user = {NULL, bp, 1, 1, 42, 0, 1, 0};
  assert_int_equal(poke_b(&w, &no_user, "10.9.9.9:999"), 400);
  req_opts no_fp = {user, bp, 0, 1, 42, 0, 1, 0};
  assert_int_equal(poke_b(&w, &no_fp, "10.9.9.9:999"), 400);
  /* none of that changed any state */
  firn_agent_get_stats(w.n[1].ag, &st1);
  assert_int_equal(st1.pairs, 0);
  assert_int_equal(st1.remote_candidates, 0);
  assert_int_equal(st1.stun_dropped, st0.stun_dropped + 5);
  assert_int_equal(firn_agent_get_state(w.n[1].ag, 0), FIRN_ICE_NEW);
  assert_int_equal(w.n[1].nstates, 0);

  /* authenticated but with an unknown comprehension-required attribute: 420, no state */
  req_opts unk = {user, bp, 1, 1, 42, 1, 1, 0};
  assert_int_equal(poke_b(&w, &unk, "10.9.9.9:999"), 420);
  firn_agent_get_stats(w.n[1].ag, &st1);
  assert_int_equal(st1.pairs, 0);
  /* role conflicts: the tie-breakers decide; the extremes force each outcome */
  req_opts ctl_lo = {user, bp, 1, 0, 0, 0, 1, 0};
  assert_int_equal(poke_b(&w, &ctl_lo, "10.9.9.9:999"), 0); /* B wins: becomes controlling */
  assert_int_equal(firn_agent_get_role(w.n[1].ag), FIRN_ICE_CONTROLLING);
  req_opts ctl_hi = {user, bp, 1, 1, UINT64_MAX, 0, 1, 0};
  assert_int_equal(poke_b(&w, &ctl_hi, "10.9.9.9:999"), 0); /* peer wins: B controlled again */
  assert_int_equal(firn_agent_get_role(w.n[1].ag), FIRN_ICE_CONTROLLED);
  req_opts ctd_max = {user, bp, 1, 0, UINT64_MAX, 0, 1, 0};
  assert_int_equal(poke_b(&w, &ctd_max, "10.9.9.9:999"), 487); /* both controlled, B loses */
  assert_int_equal(firn_agent_get_role(w.n[1].ag), FIRN_ICE_CONTROLLED);
  firn_agent_get_stats(w.n[1].ag, &st1);
  assert_int_equal(st1.role_conflicts, 3);
  /* the authenticated checks created one prflx remote and a pair */
  assert_int_equal(st1.remote_candidates, 1);
  assert_int_equal(st1.pairs, 1);
  /* without PRIORITY: answered on the known pair (bare consent form), 400 from a stranger */
  req_opts noprio = {user, bp, 1, 1, UINT64_MAX, 0, 0, 0};
  assert_int_equal(poke_b(&w, &noprio, "10.9.9.9:999"), 0);
  assert_int_equal(poke_b(&w, &noprio, "10.9.9.8:1"), 400);
  firn_agent_get_stats(w.n[1].ag, &st1);
  assert_int_equal(st1.remote_candidates, 1);
  h_free(&w);
}

static void test_bounds(void **state) {
  (void)state;
  h_world w;
  h_init(&w, 6, NULL, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
  h_signal(&w, 1, 0, 0);
  int ok = 0, limited = 0;
  for (int i = 0; i < 200; i++) {
    firn_candidate c;
    memset(&c, 0, sizeof c);
    snprintf(c.foundation, sizeof c.foundation, "f%d", i);
    c.component = 1;
    c.transport = FIRN_TRANSPORT_UDP;
    c.type = FIRN_CAND_HOST;
    c.priority = (uint32_t)(2130706431u - (uint32_t)i);
    uint8_t ip[4] = {10, 1, (uint8_t)(i / 250), (uint8_t)(i % 250 + 1)};
    firn_addr_set_ipv4(&c.addr, ip, 7000);
    int rc = firn_agent_add_remote_candidate(w.n[0].ag, 0, &c, w.now);
    if (rc == 0) ok++;
    else if (rc == FIRN_ERR_LIMIT) limited++;
    else fail_msg("unexpected %d", rc);
  }
  assert_int_equal(ok, 100);
  assert_int_equal(limited, 100);
  firn_agent_stats st;
  firn_agent_get_stats(w.n[0].ag, &st);
  assert_int_equal(st.remote_candidates, 100);
  assert_true(st.pairs <= 100);
  /* checks are paced: over 1 s at Ta = 50 ms at most 21 new checks go out (plus retransmits) */
  unsigned sent0 = w.sent[0];
  h_run(&w, NULL, 1 * SEC);
  firn_pair_stats ps[128];
  size_t n = 0;
  assert_int_equal(firn_agent_get_pair_stats(w.n[0].ag, 0, ps, 128, &n), 0);
  unsigned started = 0;
  for (size_t i = 0; i < n; i++)
    if (ps[i].requests_sent) started++;
  assert_true(started >= 19 && started <= 21);
  assert_true(w.sent[0] - sent0 < 60);
  /* invalid remote credentials are rejected with a clear error */
  assert_int_equal(firn_agent_set_remote_credentials(w.n[0].ag, 0, "ab", "short", w.now),
                   FIRN_ERR_ICE_BAD_CREDENTIALS);
  h_free(&w);
}

static void test_garbage(void **state) {
  (void)state;
  h_world w;
  h_init(&w, 7, NULL, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
  h_rng r = {99};
  firn_path path;
  memset(&path, 0, sizeof path);
  path.local = w.n[1].addr;
  path.remote = w.n[0].addr;
  uint8_t buf[600];
  for (int round = 0; round < 2; round++) {
    for (int i = 0; i < 300; i++) {
      size_t len = (size_t)(h_rng_next(&r) % sizeof buf);
      h_rng_fill(&r, buf, len);
      if (i % 3 == 0 && len >= 20) { /* STUN-looking garbage: right cookie, random rest */
        buf[0] &= 0x3f;
        buf[4] = 0x21; buf[5] = 0x12; buf[6] = 0xA4; buf[7] = 0x42;
        buf[2] = (uint8_t)((len - 20) >> 8);
        buf[3] = (uint8_t)((len - 20) & 0xfc);
      }
      assert_int_equal(firn_agent_handle_datagram(w.n[1].ag, &path, buf, len, w.now), 0);
    }
    if (round == 0) {
      /* before any check: even from the peer's address nothing is accepted */
      firn_agent_stats st;
      firn_agent_get_stats(w.n[1].ag, &st);
      assert_int_equal(st.pairs, 0);
      assert_int_equal(w.n[1].data_rx, 0);
      h_signal(&w, 0, 1, 1);
      h_signal(&w, 1, 0, 1);
      h_step(&w, w.now + 10 * MS);
      /* during checks, from a stranger */
      path.remote = h_addr("10.0.0.77:4444");
    }
  }
  assert_true(h_run(&w, h_both_connected, 5 * SEC));
  firn_agent_stats st;
  firn_agent_get_stats(w.n[1].ag, &st);
  assert_true(st.data_dropped > 0);
  assert_true(st.stun_dropped > 0);
  assert_int_equal(w.n[1].data_rx, 0);
  exchange_data(&w);
  h_free(&w);
}

/* Data from an address that is not a validated pair is dropped and counted. */
static void test_data_unvalidated(void **state) {
  (void)state;
  h_world w;
  h_init(&w, 8, NULL, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
  connect_both(&w);
  firn_path path;
  memset(&path, 0, sizeof path);
  path.local = w.n[1].addr;
  path.remote = h_addr("10.6.6.6:666");
  uint8_t rtp[20] = {0x80, 0};
  firn_agent_stats st0, st1;
  firn_agent_get_stats(w.n[1].ag, &st0);
  unsigned rx = w.n[1].data_rx;
  firn_agent_handle_datagram(w.n[1].ag, &path, rtp, sizeof rtp, w.now);
  firn_agent_get_stats(w.n[1].ag, &st1);
  assert_int_equal(st1.data_dropped, st0.data_dropped + 1);
  assert_int_equal(w.n[1].data_rx, rx);
  /* a datagram on an address that is not ours is dropped too */
  path.local = h_addr("10.0.0.99:1");
  path.remote = w.n[0].addr;
  firn_agent_handle_datagram(w.n[1].ag, &path, rtp, sizeof rtp, w.now);
  assert_int_equal(w.n[1].data_rx, rx);
  h_free(&w);
}

/* B goes silent: A is DISCONNECTED in between and FAILED exactly 30 s after the last
 * authenticated response, not earlier; then A stops sending. */
static void test_consent_loss(void **state) {
  (void)state;
  h_world w;
  h_init(&w, 9, NULL, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
  connect_both(&w);
  h_run(&w, NULL, 12 * SEC); /* a few consent rounds succeed */
  assert_int_equal(firn_agent_get_state(w.n[0].ag, 0), FIRN_ICE_COMPLETED);
  assert_false(h_saw_state(&w.n[0], FIRN_ICE_DISCONNECTED));
  assert_true(w.last_resp_at[0] > 10 * SEC);
  w.cut[1] = 1;
  h_run(&w, NULL, 40 * SEC);
  uint64_t last = w.last_resp_at[0];
  uint64_t failed_at = h_state_time(&w.n[0], FIRN_ICE_FAILED);
  uint64_t disc_at = h_state_time(&w.n[0], FIRN_ICE_DISCONNECTED);
  assert_true(failed_at != FIRN_TIME_NEVER);
  assert_true(failed_at >= last + 30 * SEC);
  assert_true(failed_at <= last + 30 * SEC + 1 * MS);
  assert_true(disc_at > last && disc_at < failed_at);
  assert_int_equal(firn_agent_get_state(w.n[0].ag, 0), FIRN_ICE_FAILED);
  /* sending stops */
  assert_int_equal(h_send_data(&w, 0, "x"), FIRN_ERR_STATE);
  unsigned sent = w.sent[0];
  h_run(&w, NULL, 60 * SEC);
  assert_int_equal(w.sent[0], sent);
  h_free(&w);
}

/* ICE restart: both sides restart, data keeps flowing on the old pair until the new checks
 * select one. */
static void test_restart(void **state) {
  (void)state;
  h_world w;
  h_init(&w, 11, NULL, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
  connect_both(&w);
  exchange_data(&w);
  const char *u0;
  firn_agent_get_local_credentials(w.n[0].ag, 0, &u0, NULL);
  char old_ufrag[64];
  snprintf(old_ufrag, sizeof old_ufrag, "%s", u0);
  assert_int_equal(firn_agent_restart(w.n[0].ag, 0, w.now), 0);
  const char *u1;
  firn_agent_get_local_credentials(w.n[0].ag, 0, &u1, NULL);
  assert_string_not_equal(old_ufrag, u1);
  /* before the peer has heard of the restart, data still flows both ways */
  exchange_data(&w);
  h_run(&w, NULL, 1 * SEC);
  exchange_data(&w);
  assert_int_equal(w.n[0].selected, 1);
  /* the offer reaches B: B restarts too (answer), then A gets the answer */
  h_signal(&w, 0, 1, 1);
  assert_int_equal(firn_agent_restart(w.n[1].ag, 0, w.now), 0);
  exchange_data(&w);
  h_signal(&w, 1, 0, 1);
  exchange_data(&w);
  uint64_t until = w.now + 5 * SEC;
  while (w.now < until && (w.n[0].selected < 2 || w.n[1].selected < 2)) {
    h_step(&w, until);
  }
  assert_int_equal(w.n[0].selected, 2);
  assert_int_equal(w.n[1].selected, 2);
  exchange_data(&w);
  h_run(&w, h_both_completed, 5 * SEC);
  assert_int_equal(firn_agent_get_state(w.n[0].ag, 0), FIRN_ICE_COMPLETED);
  assert_false(h_saw_state(&w.n[0], FIRN_ICE_FAILED));
  assert_false(h_saw_state(&w.n[1], FIRN_ICE_FAILED));
  /* consent keeps working with the new credentials */
  h_run(&w, NULL, 40 * SEC);
  assert_int_equal(firn_agent_get_state(w.n[0].ag, 0), FIRN_ICE_COMPLETED);
  assert_int_equal(firn_agent_get_state(w.n[1].ag, 0), FIRN_ICE_COMPLETED);
  exchange_data(&w);
  h_free(&w);
}

static int h_selected_at_least(h_world *w, int n0, int n1) {
  return w->n[0].selected >= n0 && w->n[1].selected >= n1;
}

/* Restart orders: both restart before exchanging; five restarts in a row; a restart while
 * still checking. Data keeps flowing throughout and the tables do not grow. */
static void test_restart_variants(void **state) {
  (void)state;
  h_world w;
  h_init(&w, 14, NULL, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
  connect_both(&w);
  for (int round = 0; round < 5; round++) {
    int s0 = w.n[0].selected, s1 = w.n[1].selected;
    assert_int_equal(firn_agent_restart(w.n[0].ag, 0, w.now), 0);
    assert_int_equal(firn_agent_restart(w.n[1].ag, 0, w.now), 0);
    exchange_data(&w);
    h_signal(&w, 0, 1, 1);
    h_signal(&w, 1, 0, 1);
    uint64_t until = w.now + 5 * SEC;
    while (w.now < until && !h_selected_at_least(&w, s0 + 1, s1 + 1)) h_step(&w, until);
    assert_true(h_selected_at_least(&w, s0 + 1, s1 + 1));
    exchange_data(&w);
    firn_agent_stats st;
    firn_agent_get_stats(w.n[0].ag, &st);
    assert_int_equal(st.remote_candidates, 1);
    assert_true(st.pairs <= 2);
  }
  assert_true(h_run(&w, h_both_completed, 5 * SEC));
  /* a restart while checking (before anything is selected) just starts over */
  h_world v;
  h_free(&w);
  h_init(&v, 15, NULL, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
  h_signal(&v, 1, 0, 1);
  h_run(&v, NULL, 20 * MS);
  assert_int_equal(firn_agent_restart(v.n[0].ag, 0, v.now), 0);
  assert_int_equal(firn_agent_get_state(v.n[0].ag, 0), FIRN_ICE_NEW);
  h_signal(&v, 0, 1, 1);
  h_signal(&v, 1, 0, 1);
  assert_true(h_run(&v, h_both_connected, 5 * SEC));
  assert_int_equal(v.n[0].selected, 1);
  exchange_data(&v);
  h_free(&v);
}

/* Nothing answers: the pair fails after its retransmissions (7 over about 9.5 s) and the
 * stream fails, but only once the peer said end-of-candidates (trickle). */
static void test_check_failure(void **state) {
  (void)state;
  for (int eoc = 0; eoc < 2; eoc++) {
    h_world w;
    h_init(&w, 16 + (uint64_t)eoc, NULL, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
    w.cut[1] = 1;
    const char *u, *p;
    firn_agent_get_local_credentials(w.n[1].ag, 0, &u, &p);
    assert_int_equal(firn_agent_set_remote_credentials(w.n[0].ag, 0, u, p, w.now), 0);
    firn_candidate c[4];
    size_t n = 0;
    firn_agent_get_local_candidates(w.n[1].ag, 0, c, 4, &n);
    assert_int_equal(firn_agent_add_remote_candidate(w.n[0].ag, 0, &c[0], w.now), 0);
    if (eoc) firn_agent_end_of_remote_candidates(w.n[0].ag, 0, w.now);
    uint64_t t0 = w.now;
    h_run(&w, NULL, 8 * SEC);
    assert_int_equal(firn_agent_get_state(w.n[0].ag, 0), FIRN_ICE_CHECKING);
    h_run(&w, NULL, 4 * SEC);
    firn_pair_stats ps[2];
    firn_agent_get_pair_stats(w.n[0].ag, 0, ps, 2, &n);
    assert_int_equal(n, 1);
    assert_int_equal(ps[0].state, 4);
    assert_int_equal(ps[0].requests_sent, 7);
    assert_int_equal(firn_agent_get_state(w.n[0].ag, 0), eoc ? FIRN_ICE_FAILED : FIRN_ICE_CHECKING);
    if (eoc) {
      uint64_t ft = h_state_time(&w.n[0], FIRN_ICE_FAILED);
      assert_true(ft - t0 >= 9 * SEC && ft - t0 <= 10 * SEC);
    } else {
      /* end-of-candidates arrives late: now it fails */
      firn_agent_end_of_remote_candidates(w.n[0].ag, 0, w.now);
      assert_int_equal(firn_agent_get_state(w.n[0].ag, 0), FIRN_ICE_FAILED);
    }
    /* the peer comes back and checks: its authenticated checks revive the failed pair */
    w.cut[1] = 0;
    h_signal(&w, 0, 1, 1);
    assert_true(h_run(&w, h_both_connected, 5 * SEC));
    assert_pair_host(&w);
    exchange_data(&w);
    h_free(&w);
  }
}

/* A legacy controlling peer nominates aggressively (USE-CANDIDATE on its first check): the
 * controlled agent selects the pair as soon as its own triggered check succeeds. The peer
 * here is hand-made requests plus a real agent A that only answers (it has no remote
 * candidates, so it never checks on its own). */
static void test_aggressive_nomination_accepted(void **state) {
  (void)state;
  h_world w;
  h_init(&w, 17, NULL, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
  h_signal(&w, 0, 1, 1); /* B knows A */
  h_signal(&w, 1, 0, 0); /* A knows B's credentials only */
  const char *au, *bu, *bp;
  firn_agent_get_local_credentials(w.n[0].ag, 0, &au, NULL);
  firn_agent_get_local_credentials(w.n[1].ag, 0, &bu, &bp);
  char user[64];
  snprintf(user, sizeof user, "%s:%s", bu, au);
  req_opts agg = {user, bp, 1, 1, UINT64_MAX, 0, 1, 1};
  uint8_t buf[600], tid[12];
  size_t len = make_req(buf, sizeof buf, &agg, tid);
  firn_path path;
  memset(&path, 0, sizeof path);
  path.local = w.n[1].addr;
  path.remote = w.n[0].addr;
  assert_int_equal(firn_agent_handle_datagram(w.n[1].ag, &path, buf, len, w.now), 0);
  h_run(&w, NULL, 200 * MS);
  assert_int_equal(w.n[1].selected, 1);
  assert_int_equal(w.n[1].sel_remote.type, FIRN_CAND_HOST);
  assert_int_equal(firn_agent_get_role(w.n[1].ag), FIRN_ICE_CONTROLLED);
  firn_ice_state st = firn_agent_get_state(w.n[1].ag, 0);
  assert_true(st == FIRN_ICE_CONNECTED || st == FIRN_ICE_COMPLETED);
  /* a USE-CANDIDATE for a pair B has not validated does not select anything by itself */
  h_world v;
  h_free(&w);
  h_init(&v, 18, NULL, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
  h_signal(&v, 0, 1, 1);
  firn_agent_get_local_credentials(v.n[0].ag, 0, &au, NULL);
  firn_agent_get_local_credentials(v.n[1].ag, 0, &bu, &bp);
  snprintf(user, sizeof user, "%s:%s", bu, au);
  req_opts agg2 = {user, bp, 1, 1, UINT64_MAX, 0, 1, 1};
  v.cut[1] = 1; /* B's triggered checks are lost */
  assert_int_equal(poke_b(&v, &agg2, "10.0.0.1:5000"), 0);
  h_run(&v, NULL, 2 * SEC);
  assert_int_equal(v.n[1].selected, 0);
  h_free(&v);
}

/* With no data and consent far apart, a Binding indication goes out every Tr; data on the
 * pair suppresses it. */
static void test_keepalive(void **state) {
  (void)state;
  h_world w;
  firn_agent_settings sa, sb;
  h_settings(&w.n[0], &sa, FIRN_ICE_CONTROLLING);
  h_settings(&w.n[1], &sb, FIRN_ICE_CONTROLLED);
  sa.consent_interval_ns = sb.consent_interval_ns = 1000 * SEC;
  sa.consent_timeout_ns = sb.consent_timeout_ns = 10000 * SEC;
  sa.keepalive_ns = sb.keepalive_ns = 15 * SEC;
  h_init(&w, 19, &sa, &sb, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
  connect_both(&w);
  h_run(&w, NULL, 1 * SEC);
  unsigned before = w.sent[0];
  h_run(&w, NULL, 46 * SEC);
  assert_int_equal(w.sent[0] - before, 3); /* at 15, 30, 45 s: one indication each */
  /* data every second: no keepalive needed */
  before = w.sent[0];
  for (int i = 0; i < 40; i++) {
    h_send_data(&w, 0, "media");
    h_run(&w, NULL, 1 * SEC);
  }
  assert_int_equal(w.sent[0] - before, 40);
  h_free(&w);
}

static void test_lite(void **state) {
  (void)state;
  h_world w;
  firn_agent_settings sb;
  firn_agent_settings_default(&sb);
  h_settings(&w.n[1], &sb, FIRN_ICE_CONTROLLED); /* fields that point into w are re-set by h_init */
  sb.lite = 1;
  h_init(&w, 12, NULL, &sb, FIRN_ICE_CONTROLLED, FIRN_ICE_CONTROLLED);
  /* A starts controlled but learns the peer is lite: it takes control */
  assert_int_equal(firn_agent_set_remote_lite(w.n[0].ag, 1), 0);
  assert_int_equal(firn_agent_get_role(w.n[0].ag), FIRN_ICE_CONTROLLING);
  connect_both(&w);
  assert_pair_host(&w);
  exchange_data(&w);
  /* the lite agent never sent a check: every request it sent is none */
  firn_pair_stats ps[4];
  size_t n = 0;
  firn_agent_get_pair_stats(w.n[1].ag, 0, ps, 4, &n);
  assert_int_equal(n, 1);
  assert_int_equal(ps[0].requests_sent, 0);
  assert_true(ps[0].requests_received >= 2);
  h_free(&w);
}

static void test_destroy_from_callback(void **state) {
  (void)state;
  for (int target = FIRN_ICE_CHECKING; target <= FIRN_ICE_COMPLETED; target++) {
    h_world w;
    h_init(&w, 13, NULL, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
    w.n[0].destroy_on_state = target;
    h_signal(&w, 0, 1, 1);
    h_signal(&w, 1, 0, 1);
    h_run(&w, NULL, 3 * SEC);
    assert_true(w.n[0].destroyed);
    h_free(&w);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Allocation failures                                                                         */

typedef struct fail_alloc {
  long count, fail_at;
  long failures;
} fail_alloc;

static void *fa_malloc(size_t size, void *user) {
  fail_alloc *f = user;
  if (++f->count == f->fail_at) {
    f->failures++;
    return NULL;
  }
  return malloc(size);
}
static void *fa_calloc(size_t n, size_t size, void *user) {
  fail_alloc *f = user;
  if (++f->count == f->fail_at) {
    f->failures++;
    return NULL;
  }
  return calloc(n, size);
}
static void *fa_realloc(void *p, size_t size, void *user) {
  fail_alloc *f = user;
  if (++f->count == f->fail_at) {
    f->failures++;
    return NULL;
  }
  return realloc(p, size);
}
static void fa_free(void *p, void *user) {
  (void)user;
  free(p);
}

/* A whole connection where one agent's allocator fails its Nth call; nothing may crash or leak, and
 * the run either connects or reports an error. Returns A's allocation count. */
typedef struct fail_rng {
  h_rng inner;
  long count, fail_at;
} fail_rng;

static int fr_fill(void *user, uint8_t *buf, size_t len) {
  fail_rng *f = user;
  if (++f->count == f->fail_at) return FIRN_ERR_RANDOM;
  return h_rng_fill(&f->inner, buf, len);
}

static long run_with_failures(long fail_at, int victim, int rng, long *rng_calls);

static long run_with_failing_alloc(long fail_at, int victim) {
  return run_with_failures(fail_at, victim, 0, NULL);
}

/* `rng`: fail the victim's Nth random draw instead of its Nth allocation. */
static long run_with_failures(long fail_at, int victim, int rng, long *rng_calls) {
  fail_alloc fa = {0, rng ? 0 : fail_at, 0};
  fail_rng fr = {{91}, 0, rng ? fail_at : 0};
  firn_allocator al = {fa_malloc, fa_calloc, fa_realloc, fa_free, &fa};
  h_world w;
  memset(&w, 0, sizeof w);
  g_w = &w;
  w.q = calloc(H_MAX_PKTS, sizeof *w.q);
  w.delay = 5 * MS;
  w.now = SEC;
  w.net.s = 5;
  const char *addrs[2] = {"10.0.0.1:5000", "10.0.0.2:6000"};
  int ok = 1;
  for (int i = 0; i < 2 && ok; i++) {
    h_node *n = &w.n[i];
    n->w = &w;
    n->idx = i;
    n->rng.s = (uint64_t)i + 77;
    n->destroy_on_state = -1;
    n->addr = h_addr(addrs[i]);
    firn_agent_settings s;
    h_settings(n, &s, i == 0 ? FIRN_ICE_CONTROLLING : FIRN_ICE_CONTROLLED);
    if (i == victim) s.alloc = &al;
    if (i == victim && rng) {
      s.random = fr_fill;
      s.random_user = &fr;
    }
    s.software = "firn-test";
    if (firn_agent_new(&n->ag, &s) != 0) {
      n->ag = NULL;
      ok = 0;
      break;
    }
    if (firn_agent_add_stream(n->ag, 1, &n->stream) != 0) ok = 0;
    firn_local_address la;
    memset(&la, 0, sizeof la);
    la.addr = n->addr;
    la.transport = FIRN_TRANSPORT_UDP;
    if (ok && firn_agent_add_local_address(n->ag, n->stream, 1, &la, w.now) != 0) ok = 0;
    if (ok && firn_agent_gather(n->ag, w.now) != 0) ok = 0;
  }
  if (ok) {
    for (int i = 0; i < 2 && ok; i++) {
      h_node *f = &w.n[i], *t = &w.n[1 - i];
      const char *u, *p;
      firn_agent_get_local_credentials(f->ag, 0, &u, &p);
      if (firn_agent_set_remote_credentials(t->ag, 0, u, p, w.now) != 0) ok = 0;
      firn_candidate c[4];
      size_t n = 0;
      firn_agent_get_local_candidates(f->ag, 0, c, 4, &n);
      for (size_t k = 0; k < n && ok; k++)
        if (firn_agent_add_remote_candidate(t->ag, 0, &c[k], w.now) != 0) ok = 0;
    }
  }
  if (ok) {
    h_run(&w, NULL, 10 * SEC);
    /* once set up, a lost allocation costs a datagram or an event, never the connection:
     * retransmissions recover (the states are read directly: a callback may be the loss) */
    for (int i = 0; i < 2; i++) {
      firn_ice_state st = firn_agent_get_state(w.n[i].ag, 0);
      if (st != FIRN_ICE_COMPLETED && st != FIRN_ICE_CONNECTED)
        fail_msg("failure %ld injected in agent %d: agent %d is %s", fail_at, victim, i, firn_ice_state_name(st));
      assert_int_equal(firn_agent_get_selected_pair(w.n[i].ag, 0, 1, NULL, NULL, NULL), 0);
    }
  }
  for (int i = 0; i < 2; i++)
    if (w.n[i].ag) firn_agent_free(w.n[i].ag);
  free(w.q);
  if (fail_at == 0 && !ok) fail_msg("baseline run failed");
  if (rng_calls) *rng_calls = fr.count;
  return fa.count;
}

static void test_failing_random(void **state) {
  (void)state;
  for (int victim = 0; victim < 2; victim++) {
    long calls = 0;
    run_with_failures(0, victim, 1, &calls);
    /* the agent draws in 256-byte batches: one draw covers creation and a whole connection
     * (test_agent_random.c fails later refills) */
    assert_true(calls >= 1);
    for (long n = 1; n <= calls + 1; n++) run_with_failures(n, victim, 1, NULL);
  }
}

static void test_failing_alloc(void **state) {
  (void)state;
  for (int victim = 0; victim < 2; victim++) { /* the controlling side, then the controlled */
    long total = run_with_failing_alloc(0, victim);
    assert_true(total > 5);
    for (long n = 1; n <= total + 1; n++) run_with_failing_alloc(n, victim);
  }
}

/* Every packet arrives after 3 mutated copies (bit flips, truncation): the mutants are
 * answered or dropped, never crash, never change the outcome. */
static void test_mutated_packets(void **state) {
  (void)state;
  for (uint64_t seed = 60; seed < 64; seed++) {
    h_world w;
    h_init(&w, seed, NULL, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
    w.mutate = 3;
    connect_both(&w);
    assert_pair_host(&w);
    w.mutate = 0; /* mutated data is data (SRTP authenticates it): count only the real one */
    exchange_data(&w);
    w.mutate = 3;
    h_run(&w, NULL, 30 * SEC);
    for (int i = 0; i < 2; i++) {
      assert_false(h_saw_state(&w.n[i], FIRN_ICE_FAILED));
      assert_int_equal(w.n[i].selected, 1);
      firn_agent_stats st;
      firn_agent_get_stats(w.n[i].ag, &st);
      assert_true(st.stun_dropped > 10);
      assert_int_equal(st.remote_candidates, 1);
    }
    h_free(&w);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_connect_host),
      cmocka_unit_test(test_connect_host_swapped),
      cmocka_unit_test(test_role_conflict_both_controlling),
      cmocka_unit_test(test_role_conflict_both_controlled),
      cmocka_unit_test(test_early_check_prflx_reconciled),
      cmocka_unit_test(test_prflx_only),
      cmocka_unit_test(test_incoming_auth),
      cmocka_unit_test(test_bounds),
      cmocka_unit_test(test_garbage),
      cmocka_unit_test(test_data_unvalidated),
      cmocka_unit_test(test_consent_loss),
      cmocka_unit_test(test_restart),
      cmocka_unit_test(test_restart_variants),
      cmocka_unit_test(test_check_failure),
      cmocka_unit_test(test_aggressive_nomination_accepted),
      cmocka_unit_test(test_keepalive),
      cmocka_unit_test(test_lite),
      cmocka_unit_test(test_destroy_from_callback),
      cmocka_unit_test(test_failing_alloc),
      cmocka_unit_test(test_failing_random),
      cmocka_unit_test(test_mutated_packets),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
