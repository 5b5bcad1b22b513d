/* ICE on the simulated network: hostile inputs (200 remote candidates, garbage datagrams),
 * late descriptions, consent loss and ICE restart (topology in test_ice_peer.h). */
#include "test_ice_peer.h"

/* A gets 200 remote candidates: C's two real ones amid 198 bogus ones of higher priority.
 * The table stops at 100, checks are paced at Ta (the real pairs come last), and once C
 * hears of A its checks trigger the real pair on A, which wins quickly. */
static void test_ice_200_remote_capped_paced(void **state) {
  (void)state;
  world w;
  world_new(&w, 11, NULL, NULL);
  peer_start(&w.pa, w.s, w.a, "A", "192.168.1.10:5000", NULL, FIRN_ICE_CONTROLLING, "203.0.113.1:3478", 1);
  peer_start(&w.pb, w.s, w.c, "C", "192.168.1.20:6000", NULL, FIRN_ICE_CONTROLLED, "203.0.113.1:3478", 2);
  peer_pair pp = {&w.pa, &w.pb};
  SIM_ASSERT_EQ(w.s, sim_run_until(w.s, pred_gathered, &pp, sim_now(w.s) + 20 * SEC), SIM_DONE);
  peer_signal(&w.pb, &w.pa, 0); /* credentials first */
  int ok = 0, limited = 0;
  for (int i = 0; i < 198; i++) {
    if (i == 98) { /* C's two real candidates, in the middle of the flood */
      firn_candidate real[4];
      size_t nr = 0;
      assert_int_equal(firn_agent_get_local_candidates(w.pb.ag, 0, real, 4, &nr), 0);
      SIM_ASSERT_EQ(w.s, nr, 2);
      for (size_t k = 0; k < nr; k++) assert_int_equal(firn_agent_add_remote_candidate(w.pa.ag, 0, &real[k], sim_now(w.s)), 0);
    }
    firn_candidate c;
    memset(&c, 0, sizeof c);
    snprintf(c.foundation, sizeof c.foundation, "bogus%d", i);
    c.component = 1;
    c.transport = FIRN_TRANSPORT_UDP;
    c.type = FIRN_CAND_HOST;
    c.priority = 2130706431u - (uint32_t)i;
    uint8_t ip[4] = {10, 77, (uint8_t)(i / 200), (uint8_t)(i % 200 + 1)};
    firn_addr_set_ipv4(&c.addr, ip, 9000);
    int rc = firn_agent_add_remote_candidate(w.pa.ag, 0, &c, sim_now(w.s));
    if (rc == 0) ok++;
    else if (rc == FIRN_ERR_LIMIT) limited++;
  }
  peer_sync(&w.pa);
  SIM_ASSERT_EQ(w.s, ok, 98);
  SIM_ASSERT_EQ(w.s, limited, 100);
  firn_agent_stats st;
  firn_agent_get_stats(w.pa.ag, &st);
  SIM_ASSERT_EQ(w.s, st.remote_candidates, 100);
  SIM_ASSERT(w.s, st.pairs <= 100);
  /* paced: after 500 ms at Ta = 50 ms at most 11 checks have started */
  sim_run_for(w.s, 500 * MS);
  static firn_pair_stats ps[128];
  size_t n = 0;
  firn_agent_get_pair_stats(w.pa.ag, 0, ps, 128, &n);
  unsigned started = 0;
  for (size_t i = 0; i < n; i++)
    if (ps[i].requests_sent) started++;
  if (!(started >= 9 && started <= 11)) print_error("started %u\n", started);
  SIM_ASSERT(w.s, started >= 9 && started <= 11);
  /* C learns A's description late; its checks trigger the real pair on A */
  peer_signal(&w.pa, &w.pb, 1);
  uint64_t t0 = sim_now(w.s);
  SIM_ASSERT_EQ(w.s, sim_run_until(w.s, pred_connected, &pp, t0 + 10 * SEC), SIM_DONE);
  SIM_ASSERT(w.s, sim_now(w.s) - t0 < 2 * SEC);
  assert_types(w.s, &w.pa, FIRN_CAND_HOST, FIRN_CAND_HOST);
  assert_types(w.s, &w.pb, FIRN_CAND_HOST, FIRN_CAND_HOST);
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 10), 0);
  world_free(&w);
}

/* ------------------------------------------------------------------------------------------ */
/* Garbage                                                                                     */

typedef struct garbage {
  sim_net *s;
  sim_udp *u;
  sim_timer *t;
  sim_rng rng;
  firn_addr to[2];
  unsigned sent;
  uint64_t stop_at;
} garbage;

static void garbage_tick(void *user, uint64_t now) {
  garbage *g = user;
  if (now >= g->stop_at) return;
  uint8_t buf[400];
  size_t len = (size_t)sim_rng_below(&g->rng, sizeof buf);
  sim_rng_fill(&g->rng, buf, len);
  if (g->sent % 3 == 0 && len >= 20) { /* STUN-shaped: right cookie and length */
    buf[0] &= 0x01;
    buf[2] = (uint8_t)((len - 20) >> 8);
    buf[3] = (uint8_t)((len - 20) & 0xfc);
    buf[4] = 0x21; buf[5] = 0x12; buf[6] = 0xA4; buf[7] = 0x42;
    len = 20 + ((len - 20) & ~(size_t)3);
  }
  (void)sim_udp_send(g->u, &g->to[g->sent % 2], buf, len);
  g->sent++;
  (void)sim_timer_arm(g->t, now + 2 * MS);
}

static void test_ice_garbage_before_and_during(void **state) {
  (void)state;
  world w;
  world_new(&w, 12, NULL, NULL);
  sim_host *gh;
  assert_int_equal(sim_host_new(w.s, "G", &gh), 0);
  assert_int_equal(sim_host_add_iface(gh, w.lan_a, "192.168.1.66", NULL), 0);
  garbage g;
  memset(&g, 0, sizeof g);
  g.s = w.s;
  sim_rng_derive(w.s, 99, &g.rng);
  g.to[0] = sim_addr("192.168.1.10:5000");
  g.to[1] = sim_addr("192.168.1.20:6000");
  g.stop_at = 3 * SEC;
  firn_addr ga = sim_addr("192.168.1.66:4000");
  assert_int_equal(sim_udp_open(gh, &ga, NULL, NULL, &g.u), 0);
  assert_int_equal(sim_timer_new(w.s, garbage_tick, &g, &g.t), 0);
  assert_int_equal(sim_timer_arm(g.t, sim_now(w.s)), 0);
  peer_start(&w.pa, w.s, w.a, "A", "192.168.1.10:5000", NULL, FIRN_ICE_CONTROLLING, "203.0.113.1:3478", 1);
  peer_start(&w.pb, w.s, w.c, "C", "192.168.1.20:6000", NULL, FIRN_ICE_CONTROLLED, "203.0.113.1:3478", 2);
  sim_run_for(w.s, 500 * MS); /* garbage before any description */
  SIM_ASSERT(w.s, g.sent > 200);
  SIM_ASSERT(w.s, peers_connect(w.s, &w.pa, &w.pb, 5 * SEC)); /* and during the checks */
  assert_types(w.s, &w.pa, FIRN_CAND_HOST, FIRN_CAND_HOST);
  assert_types(w.s, &w.pb, FIRN_CAND_HOST, FIRN_CAND_HOST);
  SIM_ASSERT_EQ(w.s, w.pa.data_rx, 0);
  SIM_ASSERT_EQ(w.s, w.pb.data_rx, 0);
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 10), 0);
  SIM_ASSERT_EQ(w.s, w.pa.data_rx, 10); /* only the peer's data */
  firn_agent_stats st;
  firn_agent_get_stats(w.pa.ag, &st);
  SIM_ASSERT(w.s, st.data_dropped + st.stun_dropped > 300);
  SIM_ASSERT_EQ(w.s, st.remote_candidates, 2); /* garbage created no candidates */
  world_free(&w);
}

/* ------------------------------------------------------------------------------------------ */
/* Late remote description                                                                     */

static void test_ice_late_description(void **state) {
  (void)state;
  world w;
  world_new(&w, 13, NULL, NULL);
  peer_start(&w.pa, w.s, w.a, "A", "192.168.1.10:5000", NULL, FIRN_ICE_CONTROLLING, "203.0.113.1:3478", 1);
  peer_start(&w.pb, w.s, w.c, "C", "192.168.1.20:6000", NULL, FIRN_ICE_CONTROLLED, "203.0.113.1:3478", 2);
  peer_pair pp = {&w.pa, &w.pb};
  SIM_ASSERT_EQ(w.s, sim_run_until(w.s, pred_gathered, &pp, sim_now(w.s) + 20 * SEC), SIM_DONE);
  peer_signal(&w.pb, &w.pa, 1); /* A has C's answer; C has not seen A's offer yet */
  sim_run_for(w.s, 300 * MS);
  firn_pair_stats ps[8];
  size_t n = 0;
  firn_agent_get_pair_stats(w.pb.ag, 0, ps, 8, &n);
  SIM_ASSERT_EQ(w.s, n, 1);
  SIM_ASSERT_EQ(w.s, ps[0].remote.type, FIRN_CAND_PRFLX);
  SIM_ASSERT_EQ(w.s, w.pb.selected, 0);
  peer_signal(&w.pa, &w.pb, 1);
  SIM_ASSERT_EQ(w.s, sim_run_until(w.s, pred_connected, &pp, sim_now(w.s) + 5 * SEC), SIM_DONE);
  assert_types(w.s, &w.pb, FIRN_CAND_HOST, FIRN_CAND_HOST); /* reconciled */
  assert_types(w.s, &w.pa, FIRN_CAND_HOST, FIRN_CAND_HOST);
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 10), 0);
  world_free(&w);
}

/* ------------------------------------------------------------------------------------------ */
/* Consent and restart                                                                         */

static void test_ice_consent_loss(void **state) {
  (void)state;
  world w;
  world_new(&w, 14, NULL, NULL);
  peer_start(&w.pa, w.s, w.a, "A", "192.168.1.10:5000", NULL, FIRN_ICE_CONTROLLING, "203.0.113.1:3478", 1);
  peer_start(&w.pb, w.s, w.b, "B", "192.168.2.10:6000", NULL, FIRN_ICE_CONTROLLED, "203.0.113.1:3478", 2);
  SIM_ASSERT(w.s, peers_connect(w.s, &w.pa, &w.pb, 10 * SEC));
  sim_run_for(w.s, 20 * SEC);
  SIM_ASSERT_EQ(w.s, w.pa.state, FIRN_ICE_COMPLETED);
  SIM_ASSERT(w.s, !w.pa.saw[FIRN_ICE_DISCONNECTED]);
  uint64_t cut = sim_now(w.s);
  sim_iface_set_down(sim_host_iface(w.b, 0), 1); /* B vanishes */
  sim_run_for(w.s, 45 * SEC);
  SIM_ASSERT(w.s, w.pa.saw[FIRN_ICE_DISCONNECTED]);
  SIM_ASSERT(w.s, w.pa.saw[FIRN_ICE_FAILED]);
  uint64_t failed = w.pa.state_at[FIRN_ICE_FAILED], disc = w.pa.state_at[FIRN_ICE_DISCONNECTED];
  /* 30 s after the last response, which came at most one consent interval (+20 %) before
   * the cut */
  SIM_ASSERT(w.s, failed <= cut + 30 * SEC);
  SIM_ASSERT(w.s, failed >= cut + 30 * SEC - 6 * SEC - 100 * MS);
  SIM_ASSERT(w.s, disc > cut && disc < failed);
  /* sending stops */
  uint8_t out[64];
  firn_path path;
  SIM_ASSERT_EQ(w.s, firn_agent_write_data(w.pa.ag, 0, 1, out, 10, out, sizeof out, &path, sim_now(w.s)),
                FIRN_ERR_STATE);
  sim_stats before, after;
  sim_get_stats(w.s, &before);
  sim_run_for(w.s, 60 * SEC);
  sim_get_stats(w.s, &after);
  SIM_ASSERT_EQ(w.s, after.sent - before.sent, 0);
  world_free(&w);
}

/* Consent survives a short outage: DISCONNECTED, then back. */
static void test_ice_consent_recovers(void **state) {
  (void)state;
  world w;
  world_new(&w, 15, NULL, NULL);
  peer_start(&w.pa, w.s, w.a, "A", "192.168.1.10:5000", NULL, FIRN_ICE_CONTROLLING, "203.0.113.1:3478", 1);
  peer_start(&w.pb, w.s, w.b, "B", "192.168.2.10:6000", NULL, FIRN_ICE_CONTROLLED, "203.0.113.1:3478", 2);
  SIM_ASSERT(w.s, peers_connect(w.s, &w.pa, &w.pb, 10 * SEC));
  sim_run_for(w.s, 10 * SEC);
  sim_iface_set_down(sim_host_iface(w.b, 0), 1);
  sim_run_for(w.s, 15 * SEC);
  SIM_ASSERT_EQ(w.s, w.pa.state, FIRN_ICE_DISCONNECTED);
  sim_iface_set_down(sim_host_iface(w.b, 0), 0);
  sim_run_for(w.s, 10 * SEC);
  SIM_ASSERT(w.s, w.pa.state == FIRN_ICE_COMPLETED || w.pa.state == FIRN_ICE_CONNECTED);
  SIM_ASSERT(w.s, !w.pa.saw[FIRN_ICE_FAILED]);
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 10), 0);
  world_free(&w);
}

static void test_ice_restart(void **state) {
  (void)state;
  world w;
  world_new(&w, 16, NULL, NULL);
  peer_start(&w.pa, w.s, w.a, "A", "192.168.1.10:5000", NULL, FIRN_ICE_CONTROLLING, "203.0.113.1:3478", 1);
  peer_start(&w.pb, w.s, w.b, "B", "192.168.2.10:6000", NULL, FIRN_ICE_CONTROLLED, "203.0.113.1:3478", 2);
  SIM_ASSERT(w.s, peers_connect(w.s, &w.pa, &w.pb, 10 * SEC));
  sim_run_for(w.s, 2 * SEC);
  /* A restarts: new credentials, its offer reaches B 200 ms later, B's answer 200 ms after */
  assert_int_equal(firn_agent_restart(w.pa.ag, 0, sim_now(w.s)), 0);
  peer_sync(&w.pa);
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 5), 0); /* old pair still carries data */
  assert_int_equal(firn_agent_restart(w.pb.ag, 0, sim_now(w.s)), 0);
  peer_signal(&w.pa, &w.pb, 1);
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 5), 0);
  peer_signal(&w.pb, &w.pa, 1);
  peer_pair pp = {&w.pa, &w.pb};
  (void)pp;
  uint64_t limit = sim_now(w.s) + 5 * SEC;
  while (sim_now(w.s) < limit && (w.pa.selected < 2 || w.pb.selected < 2)) sim_run_for(w.s, 10 * MS);
  SIM_ASSERT_EQ(w.s, w.pa.selected, 2);
  SIM_ASSERT_EQ(w.s, w.pb.selected, 2);
  assert_types(w.s, &w.pa, FIRN_CAND_SRFLX, FIRN_CAND_SRFLX);
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 10), 0);
  sim_run_for(w.s, 40 * SEC);
  SIM_ASSERT_EQ(w.s, w.pa.state, FIRN_ICE_COMPLETED);
  SIM_ASSERT_EQ(w.s, w.pb.state, FIRN_ICE_COMPLETED);
  SIM_ASSERT(w.s, !w.pa.saw[FIRN_ICE_FAILED] && !w.pb.saw[FIRN_ICE_FAILED]);
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 10), 0);
  world_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ice_200_remote_capped_paced),
      cmocka_unit_test(test_ice_garbage_before_and_during),
      cmocka_unit_test(test_ice_late_description),
      cmocka_unit_test(test_ice_consent_loss),
      cmocka_unit_test(test_ice_consent_recovers),
      cmocka_unit_test(test_ice_restart),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
