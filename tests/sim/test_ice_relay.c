/* Relay candidates (TURN, RFC 8656) on the simulated network (topology in test_ice_peer.h,
 * plus the in-process TURN server T 203.0.113.3: UDP and TCP 3478): only the relay works
 * between two symmetric NATs; the relay-only policy forces a relay pair on a LAN and
 * deallocates on close; an unreachable TURN server leaves gathering to complete without a
 * relay (and says why); UDP blocked at a peer's NAT is crossed with TURN over TCP and over TLS
 * (the server's generated certificate as the CA; a wrong server name fails cleanly). */
#include "test_ice_peer.h"

#include <unistd.h>

#define TURN_UDP "203.0.113.3:3478"

typedef struct relay_world {
  world w;
  sim_host *t;
  sim_turn_server *srv;
} relay_world;

static void relay_world_new(relay_world *rw, uint64_t seed, const sim_nat_config *ca, const sim_nat_config *cb) {
  world_new(&rw->w, seed, ca, cb);
  assert_int_equal(sim_host_new(rw->w.s, "TURN", &rw->t), 0);
  assert_int_equal(sim_host_add_iface(rw->t, rw->w.wan, "203.0.113.3", NULL), 0);
  sim_link l;
  sim_link_default(&l);
  l.delay_ns = 10 * MS;
  sim_iface_set_link(sim_host_iface(rw->t, 0), SIM_BOTH, &l);
  firn_addr a = sim_addr(TURN_UDP);
  assert_int_equal(sim_turn_server_new(rw->t, &a, &a, NULL, &rw->srv), 0);
}

static firn_ice_server turn_server(const char *addr, uint8_t transport) {
  firn_ice_server t;
  memset(&t, 0, sizeof t);
  t.addr = sim_addr(addr);
  t.transport = transport;
  t.turn = 1;
  t.username = "user";
  t.password = "pass";
  return t;
}

static int count_type(const ice_peer *p, firn_cand_type type) {
  int n = 0;
  for (int i = 0; i < p->ncands; i++) n += p->cands[i].type == type;
  return n;
}

/* Both peers behind address-and-port-dependent NATs: host, srflx and prflx paths all fail
 * (test_ice_both_symmetric_fails); with a TURN server the relay carries the call. */
static void test_ice_relay_both_symmetric(void **state) {
  (void)state;
  for (uint64_t seed = 60; seed < 63; seed++) {
    sim_nat_config sym;
    sim_nat_config_symmetric(&sym);
    relay_world rw;
    relay_world_new(&rw, seed, &sym, &sym);
    world *w = &rw.w;
    firn_ice_server t = turn_server(TURN_UDP, FIRN_TRANSPORT_UDP);
    peer_start_ex(&w->pa, w->s, w->a, "A", "192.168.1.10:5000", "eth0", NULL, FIRN_ICE_CONTROLLING,
                  "203.0.113.1:3478", 1, &t);
    peer_start_ex(&w->pb, w->s, w->b, "B", "192.168.2.10:6000", "eth0", NULL, FIRN_ICE_CONTROLLED,
                  "203.0.113.1:3478", 2, &t);
    SIM_ASSERT(w->s, peers_connect(w->s, &w->pa, &w->pb, 20 * SEC));
    SIM_ASSERT_EQ(w->s, count_type(&w->pa, FIRN_CAND_RELAY), 1);
    SIM_ASSERT_EQ(w->s, count_type(&w->pb, FIRN_CAND_RELAY), 1);
    /* one end of the selected pair is a relay, seen the same way from both sides */
    SIM_ASSERT(w->s, w->pa.sel_l.type == FIRN_CAND_RELAY || w->pa.sel_r.type == FIRN_CAND_RELAY);
    SIM_ASSERT(w->s, w->pb.sel_l.type == FIRN_CAND_RELAY || w->pb.sel_r.type == FIRN_CAND_RELAY);
    SIM_ASSERT_EQ(w->s, peers_exchange(w->s, &w->pa, &w->pb, 50), 0);
    sim_turn_stats ts;
    sim_turn_server_stats(rw.srv, &ts);
    SIM_ASSERT(w->s, ts.to_peer >= 50 && ts.permissions >= 1);
    /* the selected relay pair gets a channel: media as ChannelData */
    SIM_ASSERT(w->s, ts.channel_binds >= 1 && ts.to_client_channel > 0);
    /* still up after refreshes (permissions 300 s, channels 600 s, allocation 600 s) */
    sim_run_for(w->s, 700 * SEC);
    SIM_ASSERT(w->s, peer_connected(&w->pa) && peer_connected(&w->pb));
    SIM_ASSERT_EQ(w->s, peers_exchange(w->s, &w->pa, &w->pb, 10), 0);
    world_free(w);
  }
}

/* An administrator forces media through the relay: two peers on one LAN with the relay
 * policy announce only relay candidates and select a relay pair; close deallocates. */
static void test_ice_relay_only_policy_lan(void **state) {
  (void)state;
  relay_world rw;
  relay_world_new(&rw, 64, NULL, NULL);
  world *w = &rw.w;
  firn_ice_server t = turn_server(TURN_UDP, FIRN_TRANSPORT_UDP);
  firn_agent_settings sa, sb;
  peer_settings(&w->pa, &sa, FIRN_ICE_CONTROLLING);
  peer_settings(&w->pb, &sb, FIRN_ICE_CONTROLLED);
  sa.policy = sb.policy = FIRN_ICE_POLICY_RELAY;
  peer_start_ex(&w->pa, w->s, w->a, "A", "192.168.1.10:5000", "eth0", &sa, FIRN_ICE_CONTROLLING,
                "203.0.113.1:3478", 1, &t);
  peer_start_ex(&w->pb, w->s, w->c, "C", "192.168.1.20:6000", "eth0", &sb, FIRN_ICE_CONTROLLED,
                "203.0.113.1:3478", 2, &t);
  peer_add_tcp(&w->pa, "192.168.1.10:7000"); /* not announced either */
  SIM_ASSERT(w->s, peers_connect(w->s, &w->pa, &w->pb, 10 * SEC));
  ice_peer *ps[2] = {&w->pa, &w->pb};
  for (int k = 0; k < 2; k++) {
    firn_candidate c[8];
    size_t n = 0;
    assert_int_equal(firn_agent_get_local_candidates(ps[k]->ag, 0, c, 8, &n), 0);
    SIM_ASSERT_EQ(w->s, n, 1);
    SIM_ASSERT_EQ(w->s, c[0].type, FIRN_CAND_RELAY);
    SIM_ASSERT_EQ(w->s, ps[k]->ncands, 1);
    firn_candidate d;
    assert_int_equal(firn_agent_get_default_candidate(ps[k]->ag, 0, 1, &d), 0);
    SIM_ASSERT_EQ(w->s, d.type, FIRN_CAND_RELAY);
    assert_types(w->s, ps[k], FIRN_CAND_RELAY, FIRN_CAND_RELAY);
  }
  SIM_ASSERT_EQ(w->s, peers_exchange(w->s, &w->pa, &w->pb, 30), 0);
  /* wrapping in place (out == data) */
  uint8_t io[400] = {0x80, 9};
  unsigned before = w->pb.data_rx;
  firn_path path;
  firn_ssize wn = firn_agent_write_data(w->pa.ag, 0, 1, io, 100, io, sizeof io, &path, sim_now(w->s));
  SIM_ASSERT(w->s, wn > 100);
  peer_send(&w->pa, &path, io, (size_t)wn);
  sim_run_for(w->s, 1 * SEC);
  SIM_ASSERT_EQ(w->s, w->pb.data_rx, before + 1);
  /* no direct path was ever validated */
  firn_pair_stats st[8];
  size_t np = 0;
  assert_int_equal(firn_agent_get_pair_stats(w->pa.ag, 0, st, 8, &np), 0);
  for (size_t i = 0; i < np; i++) SIM_ASSERT_EQ(w->s, st[i].local.type, FIRN_CAND_RELAY);
  sim_turn_stats ts;
  sim_turn_server_stats(rw.srv, &ts);
  SIM_ASSERT_EQ(w->s, ts.active, 2);
  /* close: both allocations are deleted on the server */
  assert_int_equal(firn_agent_close(w->pa.ag, sim_now(w->s)), 0);
  assert_int_equal(firn_agent_close(w->pb.ag, sim_now(w->s)), 0);
  peer_sync(&w->pa);
  peer_sync(&w->pb);
  sim_run_for(w->s, 5 * SEC);
  sim_turn_server_stats(rw.srv, &ts);
  SIM_ASSERT_EQ(w->s, ts.deallocations, 2);
  SIM_ASSERT_EQ(w->s, firn_agent_expiry(w->pa.ag), FIRN_TIME_NEVER);
  world_free(w);
}

/* The TURN server does not answer: gathering still completes (without a relay, the reason
 * in the log), and the call connects over the paths that work. */
static int saw_turn_reason;
static void capture_log(void *user, firn_log_level level, const char *module, const char *msg) {
  (void)user; (void)level; (void)module;
  if (strstr(msg, "TURN server") && strstr(msg, "timeout") && strstr(msg, "no relay candidate")) saw_turn_reason = 1;
}

static void test_ice_relay_unreachable(void **state) {
  (void)state;
  relay_world rw;
  relay_world_new(&rw, 65, NULL, NULL);
  world *w = &rw.w;
  firn_ice_server t = turn_server("203.0.113.99:3478", FIRN_TRANSPORT_UDP); /* nobody there */
  firn_agent_settings sa;
  peer_settings(&w->pa, &sa, FIRN_ICE_CONTROLLING);
  sa.log = capture_log;
  sa.log_level = FIRN_LOG_WARN;
  saw_turn_reason = 0;
  peer_start_ex(&w->pa, w->s, w->a, "A", "192.168.1.10:5000", "eth0", &sa, FIRN_ICE_CONTROLLING,
                "203.0.113.1:3478", 1, &t);
  peer_start(&w->pb, w->s, w->b, "B", "192.168.2.10:6000", NULL, FIRN_ICE_CONTROLLED, "203.0.113.1:3478", 2);
  peer_pair pp = {&w->pa, &w->pb};
  SIM_ASSERT_EQ(w->s, sim_run_until(w->s, pred_gathered, &pp, sim_now(w->s) + 60 * SEC), SIM_DONE);
  SIM_ASSERT(w->s, sim_now(w->s) < 40 * SEC);
  SIM_ASSERT_EQ(w->s, count_type(&w->pa, FIRN_CAND_RELAY), 0);
  SIM_ASSERT_EQ(w->s, count_type(&w->pa, FIRN_CAND_SRFLX), 1);
  SIM_ASSERT(w->s, saw_turn_reason);
  peer_signal(&w->pa, &w->pb, 1);
  peer_signal(&w->pb, &w->pa, 1);
  SIM_ASSERT_EQ(w->s, sim_run_until(w->s, pred_connected, &pp, sim_now(w->s) + 10 * SEC), SIM_DONE);
  assert_types(w->s, &w->pa, FIRN_CAND_SRFLX, FIRN_CAND_SRFLX);
  SIM_ASSERT_EQ(w->s, peers_exchange(w->s, &w->pa, &w->pb, 20), 0);
  world_free(w);
}

/* A refusing TURN server (486 Allocation Quota Reached) is reported the same way. */
static void test_ice_relay_refused(void **state) {
  (void)state;
  relay_world rw;
  relay_world_new(&rw, 66, NULL, NULL);
  world *w = &rw.w;
  sim_turn_server_free(rw.srv);
  sim_turn_config cfg;
  sim_turn_config_default(&cfg);
  cfg.allocate_error = 486;
  firn_addr a = sim_addr(TURN_UDP);
  assert_int_equal(sim_turn_server_new(rw.t, &a, NULL, &cfg, &rw.srv), 0);
  firn_ice_server t = turn_server(TURN_UDP, FIRN_TRANSPORT_UDP);
  peer_start_ex(&w->pa, w->s, w->a, "A", "192.168.1.10:5000", "eth0", NULL, FIRN_ICE_CONTROLLING,
                "203.0.113.1:3478", 1, &t);
  uint64_t t0 = sim_now(w->s);
  while (!w->pa.gathering_done && sim_now(w->s) - t0 < 10 * SEC) sim_run_for(w->s, 100 * MS);
  SIM_ASSERT(w->s, w->pa.gathering_done);
  SIM_ASSERT(w->s, sim_now(w->s) - t0 < 2 * SEC);
  SIM_ASSERT_EQ(w->s, count_type(&w->pa, FIRN_CAND_RELAY), 0);
  world_free(w);
}

/* A's NAT drops all UDP: its only way out is TURN over TCP to port 3478. B is an ordinary
 * peer behind an endpoint-independent NAT. The relay pair carries the call. */
static void test_ice_relay_turn_tcp_udp_blocked(void **state) {
  (void)state;
  relay_world rw;
  relay_world_new(&rw, 67, NULL, NULL);
  world *w = &rw.w;
  sim_link l;
  sim_iface_get_link(sim_nat_outside(w->nat_a), SIM_UP, &l);
  l.block_udp = 1;
  sim_iface_set_link(sim_nat_outside(w->nat_a), SIM_BOTH, &l);
  firn_ice_server t = turn_server(TURN_UDP, FIRN_TRANSPORT_TCP);
  peer_start_ex(&w->pa, w->s, w->a, "A", "192.168.1.10:5000", "eth0", NULL, FIRN_ICE_CONTROLLING, NULL, 1, &t);
  peer_start(&w->pb, w->s, w->b, "B", "192.168.2.10:6000", NULL, FIRN_ICE_CONTROLLED, "203.0.113.1:3478", 2);
  SIM_ASSERT(w->s, peers_connect(w->s, &w->pa, &w->pb, 20 * SEC));
  SIM_ASSERT_EQ(w->s, w->pa.sel_l.type, FIRN_CAND_RELAY);
  SIM_ASSERT_EQ(w->s, w->pb.sel_r.type, FIRN_CAND_RELAY);
  SIM_ASSERT(w->s, w->pa.tcp_opened >= 1);
  SIM_ASSERT_EQ(w->s, peers_exchange(w->s, &w->pa, &w->pb, 50), 0);
  /* close: the deallocation goes over the connection, then the relay closes it */
  assert_int_equal(firn_agent_close(w->pa.ag, sim_now(w->s)), 0);
  peer_sync(&w->pa);
  sim_run_for(w->s, 5 * SEC);
  sim_turn_stats ts;
  sim_turn_server_stats(rw.srv, &ts);
  SIM_ASSERT(w->s, ts.deallocations >= 1);
  for (int i = 0; i < PEER_MAX_CONNS; i++) SIM_ASSERT_EQ(w->s, w->pa.conns[i].id, 0);
  world_free(w);
}

/* TURN over TLS (turns:, port 5349) with UDP blocked at A's NAT; then the same with a server
 * name the certificate does not carry: no relay, gathering completes, the reason is logged. */
static int saw_tls_reason;
static void capture_tls_log(void *user, firn_log_level level, const char *module, const char *msg) {
  (void)user; (void)level; (void)module;
  if (strstr(msg, "TURN server") && strstr(msg, "tls failed") && strstr(msg, "no relay candidate")) saw_tls_reason = 1;
}

static void test_ice_relay_turn_tls_udp_blocked(void **state) {
  (void)state;
  for (int wrong_name = 0; wrong_name < 2; wrong_name++) {
    relay_world rw;
    relay_world_new(&rw, 68 + (uint64_t)wrong_name, NULL, NULL);
    world *w = &rw.w;
    firn_addr tls = sim_addr("203.0.113.3:5349");
    assert_int_equal(sim_turn_server_listen_tls(rw.srv, &tls, "turn.sim.test"), 0);
    char ca_path[64];
    snprintf(ca_path, sizeof ca_path, "/tmp/firn-icerelay-ca-XXXXXX");
    int fd = mkstemp(ca_path);
    assert_true(fd >= 0);
    const char *pem = sim_turn_server_cert_pem(rw.srv);
    assert_true(write(fd, pem, strlen(pem)) == (ssize_t)strlen(pem));
    close(fd);
    sim_link l;
    sim_iface_get_link(sim_nat_outside(w->nat_a), SIM_UP, &l);
    l.block_udp = 1;
    sim_iface_set_link(sim_nat_outside(w->nat_a), SIM_BOTH, &l);
    firn_ice_server t = turn_server("203.0.113.3:5349", FIRN_TRANSPORT_TLS);
    t.server_name = wrong_name ? "other.sim.test" : "turn.sim.test";
    t.tls_ca_file = ca_path;
    firn_agent_settings sa;
    peer_settings(&w->pa, &sa, FIRN_ICE_CONTROLLING);
    sa.log = capture_tls_log;
    sa.log_level = FIRN_LOG_WARN;
    saw_tls_reason = 0;
    peer_start_ex(&w->pa, w->s, w->a, "A", "192.168.1.10:5000", "eth0", &sa, FIRN_ICE_CONTROLLING, NULL, 1, &t);
    peer_start(&w->pb, w->s, w->b, "B", "192.168.2.10:6000", NULL, FIRN_ICE_CONTROLLED, "203.0.113.1:3478", 2);
    if (!wrong_name) {
      SIM_ASSERT(w->s, peers_connect(w->s, &w->pa, &w->pb, 20 * SEC));
      SIM_ASSERT_EQ(w->s, w->pa.sel_l.type, FIRN_CAND_RELAY);
      SIM_ASSERT_EQ(w->s, peers_exchange(w->s, &w->pa, &w->pb, 50), 0);
      /* an hour of refreshes over TLS, media every few seconds through consent */
      sim_run_for(w->s, 3600 * SEC);
      SIM_ASSERT(w->s, peer_connected(&w->pa) && peer_connected(&w->pb));
      SIM_ASSERT_EQ(w->s, peers_exchange(w->s, &w->pa, &w->pb, 10), 0);
      SIM_ASSERT(w->s, !saw_tls_reason);
    } else {
      peer_pair pp = {&w->pa, &w->pb};
      SIM_ASSERT_EQ(w->s, sim_run_until(w->s, pred_gathered, &pp, sim_now(w->s) + 30 * SEC), SIM_DONE);
      SIM_ASSERT_EQ(w->s, count_type(&w->pa, FIRN_CAND_RELAY), 0);
      SIM_ASSERT(w->s, saw_tls_reason);
    }
    unlink(ca_path);
    world_free(w);
  }
}

/* TURN only (no STUN server): the allocation's mapped address is a server-reflexive
 * candidate too, and two peers behind endpoint-independent NATs connect directly with it. */
static void test_ice_relay_srflx_from_turn(void **state) {
  (void)state;
  relay_world rw;
  relay_world_new(&rw, 70, NULL, NULL);
  world *w = &rw.w;
  firn_ice_server t = turn_server(TURN_UDP, FIRN_TRANSPORT_UDP);
  peer_start_ex(&w->pa, w->s, w->a, "A", "192.168.1.10:5000", "eth0", NULL, FIRN_ICE_CONTROLLING, NULL, 1, &t);
  peer_start_ex(&w->pb, w->s, w->b, "B", "192.168.2.10:6000", "eth0", NULL, FIRN_ICE_CONTROLLED, NULL, 2, &t);
  SIM_ASSERT(w->s, peers_connect(w->s, &w->pa, &w->pb, 10 * SEC));
  for (int k = 0; k < 2; k++) {
    ice_peer *p = k ? &w->pb : &w->pa;
    SIM_ASSERT_EQ(w->s, count_type(p, FIRN_CAND_SRFLX), 1);
    SIM_ASSERT_EQ(w->s, count_type(p, FIRN_CAND_RELAY), 1);
  }
  assert_types(w->s, &w->pa, FIRN_CAND_SRFLX, FIRN_CAND_SRFLX);
  SIM_ASSERT_EQ(w->s, peers_exchange(w->s, &w->pa, &w->pb, 20), 0);
  world_free(w);
}

/* Junk "from" the TURN server's 5-tuple (an attacker on A's LAN spoofing it): ChannelData for
 * unbound channels or with lengths past the datagram, a Data indication from a peer without
 * permission or without DATA, a response for no transaction, random bytes. All dropped; the
 * relayed call goes on. */
static void test_ice_relay_spoofed_server(void **state) {
  (void)state;
  relay_world rw;
  relay_world_new(&rw, 71, NULL, NULL);
  world *w = &rw.w;
  firn_ice_server t = turn_server(TURN_UDP, FIRN_TRANSPORT_UDP);
  firn_agent_settings sa, sb;
  peer_settings(&w->pa, &sa, FIRN_ICE_CONTROLLING);
  peer_settings(&w->pb, &sb, FIRN_ICE_CONTROLLED);
  sa.policy = sb.policy = FIRN_ICE_POLICY_RELAY;
  peer_start_ex(&w->pa, w->s, w->a, "A", "192.168.1.10:5000", "eth0", &sa, FIRN_ICE_CONTROLLING, NULL, 1, &t);
  peer_start_ex(&w->pb, w->s, w->c, "C", "192.168.1.20:6000", "eth0", &sb, FIRN_ICE_CONTROLLED, NULL, 2, &t);
  SIM_ASSERT(w->s, peers_connect(w->s, &w->pa, &w->pb, 10 * SEC));
  sim_host *x;
  assert_int_equal(sim_host_new(w->s, "X", &x), 0);
  sim_iface *xi;
  assert_int_equal(sim_host_add_iface(x, w->lan_a, "192.168.1.66", &xi), 0);
  firn_addr src = sim_addr(TURN_UDP), dst = sim_addr("192.168.1.10:5000");
  uint8_t junk[8][300];
  size_t len[8];
  /* ChannelData, unbound channel */
  junk[0][0] = 0x4f; junk[0][1] = 0xff; junk[0][2] = 0; junk[0][3] = 8;
  memset(junk[0] + 4, 0x80, 8);
  len[0] = 12;
  /* ChannelData, bound-looking number, length past the datagram */
  junk[1][0] = 0x40; junk[1][1] = 0x00; junk[1][2] = 0x01; junk[1][3] = 0x00;
  memset(junk[1] + 4, 0x80, 16);
  len[1] = 20;
  /* Data indication from a peer without permission */
  uint8_t tid[12] = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
  firn_stun_builder b;
  firn_addr stranger = sim_addr("198.18.0.1:1234");
  uint8_t rtp[20] = {0x80, 0};
  firn_stun_builder_init(&b, junk[2], sizeof junk[2], FIRN_STUN_DATA, FIRN_STUN_INDICATION, tid);
  firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, &stranger);
  firn_stun_add_raw(&b, FIRN_STUN_ATTR_DATA, rtp, sizeof rtp);
  len[2] = (size_t)firn_stun_builder_finish(&b);
  /* Data indication without DATA, from the real peer's relayed address */
  firn_stun_builder_init(&b, junk[3], sizeof junk[3], FIRN_STUN_DATA, FIRN_STUN_INDICATION, tid);
  firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, &w->pa.sel_r.addr);
  len[3] = (size_t)firn_stun_builder_finish(&b);
  /* a success response for no transaction */
  firn_stun_builder_init(&b, junk[4], sizeof junk[4], FIRN_STUN_REFRESH, FIRN_STUN_SUCCESS, tid);
  firn_stun_add_u32(&b, FIRN_STUN_ATTR_LIFETIME, 0);
  len[4] = (size_t)firn_stun_builder_finish(&b);
  /* truncated STUN header, random bytes, empty */
  memcpy(junk[5], junk[4], 10);
  len[5] = 10;
  for (int i = 0; i < 200; i++) junk[6][i] = (uint8_t)(i * 37 + 11);
  len[6] = 200;
  len[7] = 0;
  unsigned rx_before = w->pa.data_rx;
  for (int round = 0; round < 20; round++)
    for (int k = 0; k < 8; k++) assert_int_equal(sim_udp_inject(xi, &src, &dst, junk[k], len[k]), 0);
  sim_run_for(w->s, 1 * SEC);
  SIM_ASSERT_EQ(w->s, w->pa.data_rx, rx_before); /* nothing junk got through as data */
  SIM_ASSERT_EQ(w->s, peers_exchange(w->s, &w->pa, &w->pb, 20), 0);
  sim_run_for(w->s, 60 * SEC);
  SIM_ASSERT(w->s, peer_connected(&w->pa) && peer_connected(&w->pb));
  SIM_ASSERT_EQ(w->s, w->pa.selected, 1);
  world_free(w);
}

/* close() while allocations are still in flight (a silent UDP server, a TCP server whose
 * connection is still opening): nothing is left running, nothing more is sent. */
static void test_ice_relay_close_while_allocating(void **state) {
  (void)state;
  for (int tcp = 0; tcp < 2; tcp++) {
    relay_world rw;
    relay_world_new(&rw, 72 + (uint64_t)tcp, NULL, NULL);
    world *w = &rw.w;
    firn_ice_server t = turn_server("203.0.113.99:3478", tcp ? FIRN_TRANSPORT_TCP : FIRN_TRANSPORT_UDP);
    peer_start_ex(&w->pa, w->s, w->a, "A", "192.168.1.10:5000", "eth0", NULL, FIRN_ICE_CONTROLLING, NULL, 1, &t);
    sim_run_for(w->s, 1 * SEC);
    SIM_ASSERT(w->s, !w->pa.gathering_done);
    assert_int_equal(firn_agent_close(w->pa.ag, sim_now(w->s)), 0);
    peer_sync(&w->pa);
    sim_run_for(w->s, 10 * SEC);
    SIM_ASSERT_EQ(w->s, firn_agent_expiry(w->pa.ag), FIRN_TIME_NEVER);
    sim_stats before, after;
    sim_get_stats(w->s, &before);
    sim_run_for(w->s, 60 * SEC);
    sim_get_stats(w->s, &after);
    SIM_ASSERT_EQ(w->s, after.sent, before.sent);
    for (int i = 0; i < PEER_MAX_CONNS; i++) SIM_ASSERT_EQ(w->s, w->pa.conns[i].id, 0);
    world_free(w);
  }
}

/* 437 Allocation Mismatch: over TCP the allocation is tried once more on a new connection (a
 * new 5-tuple); over UDP it would take a new local port, so gathering completes without it.
 * (The sim server answers every Allocate with 437 here, so the retry fails too.) */
static int saw_mismatch_retry;
static void capture_mismatch_log(void *user, firn_log_level level, const char *module, const char *msg) {
  (void)user; (void)level; (void)module;
  if (strstr(msg, "allocation mismatch, retrying on a new connection")) saw_mismatch_retry++;
}

static void test_ice_relay_mismatch(void **state) {
  (void)state;
  for (int tcp = 0; tcp < 2; tcp++) {
    relay_world rw;
    relay_world_new(&rw, 74 + (uint64_t)tcp, NULL, NULL);
    world *w = &rw.w;
    sim_turn_server_free(rw.srv);
    sim_turn_config cfg;
    sim_turn_config_default(&cfg);
    cfg.allocate_error = 437;
    firn_addr a = sim_addr(TURN_UDP);
    assert_int_equal(sim_turn_server_new(rw.t, &a, &a, &cfg, &rw.srv), 0);
    firn_ice_server t = turn_server(TURN_UDP, tcp ? FIRN_TRANSPORT_TCP : FIRN_TRANSPORT_UDP);
    firn_agent_settings sa;
    peer_settings(&w->pa, &sa, FIRN_ICE_CONTROLLING);
    sa.log = capture_mismatch_log;
    sa.log_level = FIRN_LOG_INFO;
    saw_mismatch_retry = 0;
    peer_start_ex(&w->pa, w->s, w->a, "A", "192.168.1.10:5000", "eth0", &sa, FIRN_ICE_CONTROLLING, NULL, 1, &t);
    uint64_t t0 = sim_now(w->s);
    while (!w->pa.gathering_done && sim_now(w->s) - t0 < 20 * SEC) sim_run_for(w->s, 100 * MS);
    SIM_ASSERT(w->s, w->pa.gathering_done);
    SIM_ASSERT_EQ(w->s, count_type(&w->pa, FIRN_CAND_RELAY), 0);
    sim_turn_stats ts;
    sim_turn_server_stats(rw.srv, &ts);
    SIM_ASSERT_EQ(w->s, ts.errors, tcp ? 2 : 1);
    SIM_ASSERT_EQ(w->s, saw_mismatch_retry, tcp ? 1 : 0);
    SIM_ASSERT(w->s, w->pa.tcp_opened == (unsigned)(tcp ? 2 : 0));
    sim_run_for(w->s, 30 * SEC);
    for (int i = 0; i < PEER_MAX_CONNS; i++) SIM_ASSERT_EQ(w->s, w->pa.conns[i].id, 0);
    world_free(w);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ice_relay_both_symmetric),
      cmocka_unit_test(test_ice_relay_only_policy_lan),
      cmocka_unit_test(test_ice_relay_unreachable),
      cmocka_unit_test(test_ice_relay_refused),
      cmocka_unit_test(test_ice_relay_turn_tcp_udp_blocked),
      cmocka_unit_test(test_ice_relay_turn_tls_udp_blocked),
      cmocka_unit_test(test_ice_relay_srflx_from_turn),
      cmocka_unit_test(test_ice_relay_spoofed_server),
      cmocka_unit_test(test_ice_relay_close_while_allocating),
      cmocka_unit_test(test_ice_relay_mismatch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
