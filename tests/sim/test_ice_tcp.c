/* ICE-TCP (RFC 6544) on the simulated network (topology in test_ice_peer.h): TCP is chosen
 * when UDP is blocked and left alone when UDP works; hostile connections to the passive
 * candidate are closed while the real call goes on. The sim's TCP model splits and coalesces
 * the byte stream at random points, so every run exercises RFC 4571 reassembly. */
#include "test_ice_peer.h"

static void start_lan_pair_ex(world *w, uint64_t seed, const sim_settings *st) {
  world_new_ex(w, seed, NULL, NULL, st);
  peer_start(&w->pa, w->s, w->a, "A", "192.168.1.10:5000", NULL, FIRN_ICE_CONTROLLING, NULL, 1);
  peer_start(&w->pb, w->s, w->c, "C", "192.168.1.20:6000", NULL, FIRN_ICE_CONTROLLED, NULL, 2);
  peer_add_tcp(&w->pa, "192.168.1.10:7000");
  peer_add_tcp(&w->pb, "192.168.1.20:7000");
}

static void start_lan_pair(world *w, uint64_t seed) { start_lan_pair_ex(w, seed, NULL); }

static void block_udp(sim_iface *i) {
  sim_link l;
  sim_iface_get_link(i, SIM_UP, &l);
  l.block_udp = 1;
  sim_iface_set_link(i, SIM_BOTH, &l);
}

/* A firewall drops all UDP between the two peers on one LAN: a TCP host pair is selected on
 * both sides (active -> passive) and data flows both ways, framed, over several seeds. */
static void test_ice_tcp_udp_blocked(void **state) {
  (void)state;
  for (uint64_t seed = 40; seed < 46; seed++) {
    world w;
    start_lan_pair(&w, seed);
    block_udp(sim_host_iface(w.a, 0));
    SIM_ASSERT(w.s, peers_connect(w.s, &w.pa, &w.pb, 15 * SEC));
    assert_types(w.s, &w.pa, FIRN_CAND_HOST, FIRN_CAND_HOST);
    assert_types(w.s, &w.pb, FIRN_CAND_HOST, FIRN_CAND_HOST);
    SIM_ASSERT_EQ(w.s, w.pa.sel_l.transport, FIRN_TRANSPORT_TCP);
    SIM_ASSERT_EQ(w.s, w.pb.sel_l.transport, FIRN_TRANSPORT_TCP);
    /* the controlling side nominated its own active -> the peer's passive */
    SIM_ASSERT_EQ(w.s, w.pa.sel_l.tcptype, FIRN_TCP_ACTIVE);
    SIM_ASSERT_EQ(w.s, w.pa.sel_r.tcptype, FIRN_TCP_PASSIVE);
    SIM_ASSERT_EQ(w.s, w.pb.sel_l.tcptype, FIRN_TCP_PASSIVE);
    SIM_ASSERT_EQ(w.s, w.pb.sel_r.tcptype, FIRN_TCP_ACTIVE);
    SIM_ASSERT(w.s, w.pa.tcp_opened >= 1 && w.pb.tcp_accepted >= 1);
    SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 50), 0);
    /* consent keeps running over the connection: still up a minute later */
    sim_run_for(w.s, 60 * SEC);
    SIM_ASSERT(w.s, peer_connected(&w.pa) && peer_connected(&w.pb));
    SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 10), 0);
    world_free(&w);
  }
}

/* With UDP open the UDP host pair wins although TCP candidates are offered. */
static void test_ice_tcp_udp_preferred(void **state) {
  (void)state;
  world w;
  start_lan_pair(&w, 47);
  SIM_ASSERT(w.s, peers_connect(w.s, &w.pa, &w.pb, 5 * SEC));
  assert_types(w.s, &w.pa, FIRN_CAND_HOST, FIRN_CAND_HOST);
  SIM_ASSERT_EQ(w.s, w.pa.sel_l.transport, FIRN_TRANSPORT_UDP);
  SIM_ASSERT_EQ(w.s, w.pb.sel_l.transport, FIRN_TRANSPORT_UDP);
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 20), 0);
  /* TCP connections the checks opened and nobody uses are closed again */
  sim_run_for(w.s, 30 * SEC);
  for (int i = 0; i < PEER_MAX_CONNS; i++) {
    SIM_ASSERT_EQ(w.s, w.pa.conns[i].id, 0);
    SIM_ASSERT_EQ(w.s, w.pb.conns[i].id, 0);
  }
  world_free(&w);
}

/* An attacker on the LAN connects to A's passive candidate: one sends garbage, one a STUN
 * request with a wrong USERNAME, one stays silent. All are closed by A (the silent one after
 * the idle time), and the call between A and C over TCP is not disturbed. */
typedef struct attacker {
  sim_tcp *c;
  int connected, closed;
  uint64_t closed_at;
  const uint8_t *send;
  size_t len;
} attacker;

static void att_connect(void *user, sim_tcp *c, int status, uint64_t now) {
  (void)now;
  attacker *a = user;
  a->connected = status == 0;
  if (status == 0 && a->len) (void)sim_tcp_send(c, a->send, a->len);
}
static void att_close(void *user, sim_tcp *c, int reason, uint64_t now) {
  (void)c; (void)reason;
  attacker *a = user;
  a->closed = 1;
  a->closed_at = now;
}

static void test_ice_tcp_hostile_passive(void **state) {
  (void)state;
  world w;
  start_lan_pair(&w, 48);
  block_udp(sim_host_iface(w.a, 0));
  sim_host *x;
  assert_int_equal(sim_host_new(w.s, "X", &x), 0);
  assert_int_equal(sim_host_add_iface(x, w.lan_a, "192.168.1.66", NULL), 0);
  static const uint8_t garbage[] = {0, 12, 0x80, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  /* a framed Binding request with a made-up USERNAME and no valid integrity */
  uint8_t bad[128];
  firn_stun_builder b;
  uint8_t tid[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  firn_stun_builder_init(&b, bad + 2, sizeof bad - 2, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, tid);
  firn_stun_add_string(&b, FIRN_STUN_ATTR_USERNAME, "abcd:efgh", 9);
  firn_stun_add_fingerprint(&b);
  firn_ssize bn = firn_stun_builder_finish(&b);
  assert_true(bn > 0);
  bad[0] = (uint8_t)(bn >> 8);
  bad[1] = (uint8_t)bn;
  attacker att[3] = {{NULL, 0, 0, 0, garbage, sizeof garbage},
                     {NULL, 0, 0, 0, bad, (size_t)bn + 2},
                     {NULL, 0, 0, 0, NULL, 0}};
  firn_addr from = sim_addr("192.168.1.66:0"), to = sim_addr("192.168.1.10:7000");
  sim_tcp_callbacks cbs = {att_connect, NULL, att_close};
  uint64_t t0 = sim_now(w.s);
  for (int i = 0; i < 3; i++) assert_int_equal(sim_tcp_connect(x, &from, &to, &cbs, &att[i], &att[i].c), 0);
  SIM_ASSERT(w.s, peers_connect(w.s, &w.pa, &w.pb, 15 * SEC));
  SIM_ASSERT_EQ(w.s, w.pa.sel_l.transport, FIRN_TRANSPORT_TCP);
  sim_run_for(w.s, 10 * SEC);
  for (int i = 0; i < 3; i++) {
    SIM_ASSERT(w.s, att[i].connected);
    SIM_ASSERT(w.s, att[i].closed);
  }
  /* the talkers at once, the silent one after ~5 s */
  SIM_ASSERT(w.s, att[0].closed_at - t0 < 1 * SEC);
  SIM_ASSERT(w.s, att[1].closed_at - t0 < 1 * SEC);
  SIM_ASSERT(w.s, att[2].closed_at - t0 >= 5 * SEC && att[2].closed_at - t0 < 7 * SEC);
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 20), 0);
  SIM_ASSERT_EQ(w.s, w.pa.selected, 1);
  for (int i = 0; i < 3; i++) sim_tcp_close(att[i].c);
  world_free(&w);
}

/* The TCP model cuts every write into segments of at most 1, 2, 3, 5 or 7 bytes: with
 * 1-byte segments every split point of every frame (checks, answers, consent, data) is
 * crossed in a real call; the others put frame boundaries at every offset within a segment. */
static void test_ice_tcp_tiny_segments(void **state) {
  (void)state;
  static const size_t chunks[] = {1, 2, 3, 5, 7};
  for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
    sim_settings st;
    sim_settings_default(&st);
    st.tcp_max_chunk = chunks[i];
    world w;
    start_lan_pair_ex(&w, 50 + i, &st);
    block_udp(sim_host_iface(w.a, 0));
    SIM_ASSERT(w.s, peers_connect(w.s, &w.pa, &w.pb, 15 * SEC));
    SIM_ASSERT_EQ(w.s, w.pa.sel_l.transport, FIRN_TRANSPORT_TCP);
    SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 20), 0);
    sim_run_for(w.s, 20 * SEC); /* consent rounds over the same splitting */
    SIM_ASSERT(w.s, peer_connected(&w.pa) && peer_connected(&w.pb));
    world_free(&w);
  }
}

/* ICE restart over TCP: the old TCP pair keeps carrying data until the new generation selects
 * a pair (on new connections); connections of the old generation nobody uses are closed. */
static void test_ice_tcp_restart(void **state) {
  (void)state;
  world w;
  start_lan_pair(&w, 56);
  block_udp(sim_host_iface(w.a, 0));
  SIM_ASSERT(w.s, peers_connect(w.s, &w.pa, &w.pb, 15 * SEC));
  sim_run_for(w.s, 2 * SEC);
  unsigned opened = w.pa.tcp_opened;
  assert_int_equal(firn_agent_restart(w.pa.ag, 0, sim_now(w.s)), 0);
  peer_sync(&w.pa);
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 5), 0); /* old pair still carries data */
  assert_int_equal(firn_agent_restart(w.pb.ag, 0, sim_now(w.s)), 0);
  peer_signal(&w.pa, &w.pb, 1);
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 5), 0);
  peer_signal(&w.pb, &w.pa, 1);
  uint64_t limit = sim_now(w.s) + 15 * SEC;
  while (sim_now(w.s) < limit && (w.pa.selected < 2 || w.pb.selected < 2)) sim_run_for(w.s, 10 * MS);
  SIM_ASSERT_EQ(w.s, w.pa.selected, 2);
  SIM_ASSERT_EQ(w.s, w.pb.selected, 2);
  SIM_ASSERT_EQ(w.s, w.pa.sel_l.transport, FIRN_TRANSPORT_TCP);
  SIM_ASSERT(w.s, w.pa.tcp_opened > opened); /* the new generation checked on new connections */
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 10), 0);
  sim_run_for(w.s, 40 * SEC);
  SIM_ASSERT(w.s, peer_connected(&w.pa) && peer_connected(&w.pb));
  SIM_ASSERT(w.s, !w.pa.saw[FIRN_ICE_FAILED] && !w.pb.saw[FIRN_ICE_FAILED]);
  SIM_ASSERT_EQ(w.s, peers_exchange(w.s, &w.pa, &w.pb, 10), 0);
  /* what is left open: the selected pair's connection and at most the other direction's */
  int open_a = 0;
  for (int i = 0; i < PEER_MAX_CONNS; i++) open_a += w.pa.conns[i].id != 0;
  SIM_ASSERT(w.s, open_a >= 1 && open_a <= 2);
  world_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ice_tcp_udp_blocked),
      cmocka_unit_test(test_ice_tcp_udp_preferred),
      cmocka_unit_test(test_ice_tcp_hostile_passive),
      cmocka_unit_test(test_ice_tcp_tiny_segments),
      cmocka_unit_test(test_ice_tcp_restart),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
