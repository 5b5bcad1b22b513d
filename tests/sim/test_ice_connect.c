/* ICE on the simulated network: which pair two agents select across LANs and NATs
 * (topology in test_ice_peer.h). */
#include "test_ice_peer.h"

/* ------------------------------------------------------------------------------------------ */

static void test_ice_same_lan_host(void **state) {
  (void)state;
  world w;
  world_new(&w, 1, NULL, NULL);
  peer_start(&w.pa, w.s, w.a, "A", "192.168.1.10:5000", NULL, FIRN_ICE_CONTROLLING, "203.0.113.1:3478", 1);
  peer_start(&w.pb, w.s, w.c, "C", "192.168.1.20:6000", NULL, FIRN_ICE_CONTROLLED, "203.0.113.1:3478", 2);
  uint64_t t0 = sim_now(w.s);
  SIM_ASSERT(w.s, peers_connect(w.s, &w.pa, &w.pb, 5 * SEC));
  (void)t0;
  assert_types(w.s, &w.pa, FIRN_CAND_HOST, FIRN_CAND_HOST);
  assert_types(w.s, &w.pb, FIRN_CAND_HOST, FIRN_CAND_HOST);
  /* both gathered a srflx candidate through the NAT (same public address) */
  SIM_ASSERT_EQ(w.s, w.pa.ncands, 2);
  SIM_ASSERT_EQ(w.s, w.pa.cands[1].type, FIRN_CAND_SRFLX);
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 20), 0);
  world_free(&w);
}

static void test_ice_both_nat_ei_srflx(void **state) {
  (void)state;
  world w;
  world_new(&w, 2, NULL, NULL);
  peer_start(&w.pa, w.s, w.a, "A", "192.168.1.10:5000", NULL, FIRN_ICE_CONTROLLING, "203.0.113.1:3478", 1);
  peer_start(&w.pb, w.s, w.b, "B", "192.168.2.10:6000", NULL, FIRN_ICE_CONTROLLED, "203.0.113.1:3478", 2);
  SIM_ASSERT(w.s, peers_connect(w.s, &w.pa, &w.pb, 10 * SEC));
  assert_types(w.s, &w.pa, FIRN_CAND_SRFLX, FIRN_CAND_SRFLX);
  assert_types(w.s, &w.pb, FIRN_CAND_SRFLX, FIRN_CAND_SRFLX);
  SIM_ASSERT(w.s, firn_addr_equal(&w.pa.sel_l.addr, &w.pb.sel_r.addr));
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 20), 0);
  peer_pair pp = {&w.pa, &w.pb};
  SIM_ASSERT_EQ(w.s, sim_run_until(w.s, pred_completed, &pp, sim_now(w.s) + 30 * SEC), SIM_DONE);
  world_free(&w);
}

/* A behind a symmetric (address-and-port-dependent) NAT: its srflx candidate is useless to B;
 * A's check opens a new mapping that B learns as peer-reflexive. */
static void test_ice_port_dependent_nat_prflx(void **state) {
  (void)state;
  sim_nat_config sym;
  sim_nat_config_symmetric(&sym);
  world w;
  world_new(&w, 3, &sym, NULL);
  peer_start(&w.pa, w.s, w.a, "A", "192.168.1.10:5000", NULL, FIRN_ICE_CONTROLLING, "203.0.113.1:3478", 1);
  peer_start(&w.pb, w.s, w.b, "B", "192.168.2.10:6000", NULL, FIRN_ICE_CONTROLLED, "203.0.113.1:3478", 2);
  SIM_ASSERT(w.s, peers_connect(w.s, &w.pa, &w.pb, 15 * SEC));
  assert_types(w.s, &w.pa, FIRN_CAND_PRFLX, FIRN_CAND_SRFLX);
  assert_types(w.s, &w.pb, FIRN_CAND_SRFLX, FIRN_CAND_PRFLX);
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 20), 0);
  world_free(&w);
}

/* The same with the roles swapped: the controlled side is the one behind the symmetric NAT. */
static void test_ice_port_dependent_nat_controlled(void **state) {
  (void)state;
  sim_nat_config sym;
  sim_nat_config_symmetric(&sym);
  world w;
  world_new(&w, 4, &sym, NULL);
  peer_start(&w.pa, w.s, w.a, "A", "192.168.1.10:5000", NULL, FIRN_ICE_CONTROLLED, "203.0.113.1:3478", 1);
  peer_start(&w.pb, w.s, w.b, "B", "192.168.2.10:6000", NULL, FIRN_ICE_CONTROLLING, "203.0.113.1:3478", 2);
  SIM_ASSERT(w.s, peers_connect(w.s, &w.pa, &w.pb, 15 * SEC));
  assert_types(w.s, &w.pa, FIRN_CAND_PRFLX, FIRN_CAND_SRFLX);
  assert_types(w.s, &w.pb, FIRN_CAND_SRFLX, FIRN_CAND_PRFLX);
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 20), 0);
  world_free(&w);
}

/* 30 % loss on every packet between A and anyone (A's access link, both directions): still
 * connects, on several seeds. */
static void test_ice_loss_30(void **state) {
  (void)state;
  for (uint64_t seed = 100; seed < 110; seed++) {
    world w;
    world_new(&w, seed, NULL, NULL);
    set_loss(sim_host_iface(w.a, 0), 30);
    peer_start(&w.pa, w.s, w.a, "A", "192.168.1.10:5000", NULL, FIRN_ICE_CONTROLLING, "203.0.113.1:3478", 1);
    peer_start(&w.pb, w.s, w.b, "B", "192.168.2.10:6000", NULL, FIRN_ICE_CONTROLLED, "203.0.113.1:3478", 2);
    SIM_ASSERT(w.s, peers_connect(w.s, &w.pa, &w.pb, 20 * SEC));
    assert_types(w.s, &w.pa, FIRN_CAND_SRFLX, FIRN_CAND_SRFLX);
    /* consent survives the loss for a while */
    sim_run_for(w.s, 60 * SEC);
    SIM_ASSERT(w.s, w.pa.state == FIRN_ICE_COMPLETED || w.pa.state == FIRN_ICE_CONNECTED ||
                        w.pa.state == FIRN_ICE_DISCONNECTED);
    SIM_ASSERT(w.s, !w.pa.saw[FIRN_ICE_FAILED] && !w.pb.saw[FIRN_ICE_FAILED]);
    world_free(&w);
  }
}

/* 30 % loss between A (behind a NAT) and a public peer, over more seeds. Unlike the
 * two-NAT case above (where a srflx gathering that loses all its tries leaves no path
 * through B's address-dependent filter without TURN), this path always exists: A's mapping
 * is learned as srflx or, when gathering lost, as peer-reflexive. */
static void test_ice_loss_30_public_peer(void **state) {
  (void)state;
  for (uint64_t seed = 400; seed < 420; seed++) {
    world w;
    world_new(&w, seed, NULL, NULL);
    set_loss(sim_host_iface(w.a, 0), 30);
    peer_start(&w.pa, w.s, w.a, "A", "192.168.1.10:5000", NULL, FIRN_ICE_CONTROLLING, "203.0.113.1:3478", 1);
    peer_start(&w.pb, w.s, w.p, "P", "203.0.113.50:7000", NULL, FIRN_ICE_CONTROLLED, "203.0.113.1:3478", 2);
    SIM_ASSERT(w.s, peers_connect(w.s, &w.pa, &w.pb, 20 * SEC));
    SIM_ASSERT(w.s, w.pa.sel_l.type == FIRN_CAND_SRFLX || w.pa.sel_l.type == FIRN_CAND_PRFLX);
    SIM_ASSERT_EQ(w.s, w.pa.sel_r.type, FIRN_CAND_HOST);
    SIM_ASSERT_EQ(w.s, w.pb.sel_l.type, FIRN_CAND_HOST);
    SIM_ASSERT(w.s, firn_addr_equal(&w.pa.sel_l.addr, &w.pb.sel_r.addr));
    sim_run_for(w.s, 40 * SEC);
    SIM_ASSERT(w.s, !w.pa.saw[FIRN_ICE_FAILED] && !w.pb.saw[FIRN_ICE_FAILED]);
    world_free(&w);
  }
}

/* An ICE-lite server with a public address; the full agent behind a NAT takes control. */
static void test_ice_lite_peer(void **state) {
  (void)state;
  world w;
  world_new(&w, 5, NULL, NULL);
  firn_agent_settings lite;
  peer_settings(&w.pb, &lite, FIRN_ICE_CONTROLLED);
  lite.lite = 1;
  peer_start(&w.pa, w.s, w.a, "A", "192.168.1.10:5000", NULL, FIRN_ICE_CONTROLLED, "203.0.113.1:3478", 1);
  peer_start(&w.pb, w.s, w.p, "P", "203.0.113.50:7000", &lite, FIRN_ICE_CONTROLLED, "203.0.113.1:3478", 2);
  SIM_ASSERT_EQ(w.s, w.pb.ncands, 1); /* lite: host only */
  assert_int_equal(firn_agent_set_remote_lite(w.pa.ag, 1), 0);
  SIM_ASSERT(w.s, peers_connect(w.s, &w.pa, &w.pb, 10 * SEC));
  SIM_ASSERT_EQ(w.s, firn_agent_get_role(w.pa.ag), FIRN_ICE_CONTROLLING);
  assert_types(w.s, &w.pa, FIRN_CAND_SRFLX, FIRN_CAND_HOST);
  assert_types(w.s, &w.pb, FIRN_CAND_HOST, FIRN_CAND_SRFLX);
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 20), 0);
  /* the full agent keeps consent alive against the lite peer */
  sim_run_for(w.s, 45 * SEC);
  SIM_ASSERT_EQ(w.s, w.pa.state, FIRN_ICE_COMPLETED);
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 5), 0);
  world_free(&w);
}

static void both_same_role(firn_ice_role r, uint64_t seed) {
  world w;
  world_new(&w, seed, NULL, NULL);
  peer_start(&w.pa, w.s, w.a, "A", "192.168.1.10:5000", NULL, r, "203.0.113.1:3478", 1);
  peer_start(&w.pb, w.s, w.b, "B", "192.168.2.10:6000", NULL, r, "203.0.113.1:3478", 2);
  SIM_ASSERT(w.s, peers_connect(w.s, &w.pa, &w.pb, 10 * SEC));
  SIM_ASSERT_EQ(w.s, (firn_agent_get_role(w.pa.ag) == FIRN_ICE_CONTROLLING) +
                         (firn_agent_get_role(w.pb.ag) == FIRN_ICE_CONTROLLING), 1);
  assert_types(w.s, &w.pa, FIRN_CAND_SRFLX, FIRN_CAND_SRFLX);
  SIM_ASSERT_EQ(w.s, w.pa.selected, 1);
  SIM_ASSERT_EQ(w.s, w.pb.selected, 1);
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 10), 0);
  world_free(&w);
}

static void test_ice_both_controlling(void **state) {
  (void)state;
  for (uint64_t seed = 200; seed < 205; seed++) both_same_role(FIRN_ICE_CONTROLLING, seed);
}

static void test_ice_both_controlled(void **state) {
  (void)state;
  for (uint64_t seed = 300; seed < 305; seed++) both_same_role(FIRN_ICE_CONTROLLED, seed);
}

/* Dual stack on one LAN: the IPv6 host pair wins (RFC 8421), data flows over it. */
static void test_ice_dual_stack_prefers_ipv6(void **state) {
  (void)state;
  world w;
  world_new(&w, 6, NULL, NULL);
  assert_int_equal(sim_host_add_iface(w.a, w.lan_a, "2001:db8:1::10", NULL), 0);
  assert_int_equal(sim_host_add_iface(w.c, w.lan_a, "2001:db8:1::20", NULL), 0);
  peer_start(&w.pa, w.s, w.a, "A", "192.168.1.10:5000", NULL, FIRN_ICE_CONTROLLING, "203.0.113.1:3478", 1);
  peer_start(&w.pb, w.s, w.c, "C", "192.168.1.20:6000", NULL, FIRN_ICE_CONTROLLED, "203.0.113.1:3478", 2);
  peer_add_address(&w.pa, "[2001:db8:1::10]:5000", "eth0");
  peer_add_address(&w.pb, "[2001:db8:1::20]:6000", "eth0");
  SIM_ASSERT(w.s, peers_connect(w.s, &w.pa, &w.pb, 5 * SEC));
  assert_types(w.s, &w.pa, FIRN_CAND_HOST, FIRN_CAND_HOST);
  SIM_ASSERT_EQ(w.s, w.pa.sel_l.addr.family, FIRN_AF_INET6);
  SIM_ASSERT_EQ(w.s, w.pb.sel_l.addr.family, FIRN_AF_INET6);
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 10), 0);
  world_free(&w);
}

/* Both peers also sit on a VPN that connects them. By default the tunnel is deprioritised
 * and media takes the LAN; with FIRN_VPN_ALLOW the tunnel (added first) is an ordinary
 * interface and wins; with FIRN_VPN_EXCLUDE it is not even a candidate. */
static void vpn_case(firn_vpn_policy pol, int expect_vpn) {
  world w;
  world_new(&w, 7, NULL, NULL);
  sim_segment *vpn;
  assert_int_equal(sim_segment_new(w.s, "vpn", &vpn), 0);
  assert_int_equal(sim_host_add_iface(w.a, vpn, "10.8.0.10", NULL), 0);
  assert_int_equal(sim_host_add_iface(w.c, vpn, "10.8.0.20", NULL), 0);
  firn_agent_settings sa, sb;
  peer_settings(&w.pa, &sa, FIRN_ICE_CONTROLLING);
  peer_settings(&w.pb, &sb, FIRN_ICE_CONTROLLED);
  sa.vpn = sb.vpn = pol;
  if (pol == FIRN_VPN_EXCLUDE) {
    /* the VPN address is offered but refused: the agent must still work on the LAN */
    peer_start_if(&w.pa, w.s, w.a, "A", "192.168.1.10:5000", "eth0", &sa, FIRN_ICE_CONTROLLING, NULL, 1);
    peer_start_if(&w.pb, w.s, w.c, "C", "192.168.1.20:6000", "eth0", &sb, FIRN_ICE_CONTROLLED, NULL, 2);
    peer_add_address(&w.pa, "10.8.0.10:5000", "tun0");
    peer_add_address(&w.pb, "10.8.0.20:6000", "tun0");
    SIM_ASSERT_EQ(w.s, w.pa.ncands, 1);
  } else {
    peer_start_if(&w.pa, w.s, w.a, "A", "10.8.0.10:5000", "tun0", &sa, FIRN_ICE_CONTROLLING, NULL, 1);
    peer_start_if(&w.pb, w.s, w.c, "C", "10.8.0.20:6000", "tun0", &sb, FIRN_ICE_CONTROLLED, NULL, 2);
    peer_add_address(&w.pa, "192.168.1.10:5000", "eth0");
    peer_add_address(&w.pb, "192.168.1.20:6000", "eth0");
  }
  SIM_ASSERT(w.s, peers_connect(w.s, &w.pa, &w.pb, 5 * SEC));
  assert_types(w.s, &w.pa, FIRN_CAND_HOST, FIRN_CAND_HOST);
  firn_addr tun = sim_addr("10.8.0.10:5000");
  SIM_ASSERT_EQ(w.s, firn_addr_equal(&w.pa.sel_l.addr, &tun), expect_vpn);
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 10), 0);
  world_free(&w);
}

static void test_ice_vpn_policy(void **state) {
  (void)state;
  vpn_case(FIRN_VPN_DEPRIORITIZE, 0);
  vpn_case(FIRN_VPN_ALLOW, 1);
  vpn_case(FIRN_VPN_EXCLUDE, 0);
}

/* Both behind symmetric NATs: without a relay (issue 4) there is no path. Both sides fail
 * cleanly once every pair has timed out, and stop sending checks. */
static void test_ice_both_symmetric_fails(void **state) {
  (void)state;
  sim_nat_config sym;
  sim_nat_config_symmetric(&sym);
  world w;
  world_new(&w, 8, &sym, &sym);
  peer_start(&w.pa, w.s, w.a, "A", "192.168.1.10:5000", NULL, FIRN_ICE_CONTROLLING, "203.0.113.1:3478", 1);
  peer_start(&w.pb, w.s, w.b, "B", "192.168.2.10:6000", NULL, FIRN_ICE_CONTROLLED, "203.0.113.1:3478", 2);
  SIM_ASSERT(w.s, !peers_connect(w.s, &w.pa, &w.pb, 40 * SEC));
  SIM_ASSERT_EQ(w.s, w.pa.state, FIRN_ICE_FAILED);
  SIM_ASSERT_EQ(w.s, w.pb.state, FIRN_ICE_FAILED);
  SIM_ASSERT_EQ(w.s, w.pa.selected, 0);
  SIM_ASSERT_EQ(w.s, firn_agent_expiry(w.pa.ag), FIRN_TIME_NEVER);
  sim_stats before, after;
  sim_get_stats(w.s, &before);
  sim_run_for(w.s, 60 * SEC);
  sim_get_stats(w.s, &after);
  SIM_ASSERT_EQ(w.s, after.sent - before.sent, 0);
  world_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ice_same_lan_host),
      cmocka_unit_test(test_ice_both_nat_ei_srflx),
      cmocka_unit_test(test_ice_port_dependent_nat_prflx),
      cmocka_unit_test(test_ice_port_dependent_nat_controlled),
      cmocka_unit_test(test_ice_loss_30),
      cmocka_unit_test(test_ice_loss_30_public_peer),
      cmocka_unit_test(test_ice_lite_peer),
      cmocka_unit_test(test_ice_both_controlling),
      cmocka_unit_test(test_ice_both_controlled),
      cmocka_unit_test(test_ice_both_symmetric_fails),
      cmocka_unit_test(test_ice_dual_stack_prefers_ipv6),
      cmocka_unit_test(test_ice_vpn_policy),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
