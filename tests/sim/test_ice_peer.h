/* ICE agents on the simulated network: one agent per host, one UDP socket per host address,
 * one simulator timer re-armed from firn_agent_expiry() after every call (the same glue the
 * libuv runtime is, on a virtual clock). Signalling between the peers is instantaneous and
 * done by the test (non-trickle: after gathering) or by trickle from on_candidate.
 * ICE-TCP (peer_add_tcp): a sim TCP listener per TCP host address; connections the agent asks
 * for (on_tcp_connect) are opened from an ephemeral port, accepted ones are reported with
 * firn_agent_tcp_accepted(), bytes go to firn_agent_handle_stream(), and what
 * poll_transmit() returns with transport TCP is written on the connection `path.conn`. */
#ifndef FIRN_TEST_ICE_PEER_H
#define FIRN_TEST_ICE_PEER_H

#include "sim_test.h"

#include <stdio.h>
#include <stdlib.h>

#include "firn/ice.h"
#include "firn/stun.h"

#define MS FIRN_NS_PER_MS
#define SEC FIRN_NS_PER_S
#define PEER_MAX_CANDS 32
#define PEER_MAX_CONNS 64

struct ice_peer;
typedef struct peer_conn {
  struct ice_peer *p;
  uint32_t id; /* the agent's handle, 0: free slot */
  sim_tcp *c;
} peer_conn;

typedef struct ice_peer {
  sim_net *s;
  sim_host *h;
  sim_udp *u;                 /* the first socket */
  sim_udp *extra_u[4];        /* more host addresses (peer_add_address) */
  firn_addr extra_local[4];
  int nextra;
  sim_timer *t;
  firn_agent *ag;
  sim_rng rng;
  unsigned stream;
  firn_addr local;
  const char *name;
  int selected;
  firn_candidate sel_l, sel_r;
  firn_ice_state state;
  int saw[8];
  uint64_t state_at[8];
  int gathering_done;
  unsigned data_rx;
  firn_candidate cands[PEER_MAX_CANDS];
  int ncands;
  struct ice_peer *other; /* trickle target, NULL for none */
  uint64_t selected_at;
  sim_tcp_listener *lis[4];   /* ICE-TCP listeners (peer_add_tcp) */
  int nlis;
  peer_conn conns[PEER_MAX_CONNS];
  unsigned tcp_opened, tcp_accepted, tcp_closed_by_agent;
} ice_peer;

static inline peer_conn *peer_conn_find(ice_peer *p, uint32_t id) {
  for (int i = 0; i < PEER_MAX_CONNS; i++)
    if (p->conns[i].id == id && id) return &p->conns[i];
  return NULL;
}
static inline peer_conn *peer_conn_slot(ice_peer *p) {
  for (int i = 0; i < PEER_MAX_CONNS; i++)
    if (!p->conns[i].id) return &p->conns[i];
  return NULL;
}

/* Send what the agent produced on `path`: a datagram, or stream bytes on a connection. */
static inline void peer_send(ice_peer *p, const firn_path *path, const uint8_t *buf, size_t n);

/* The socket bound at `local`. */
static inline sim_udp *peer_socket(ice_peer *p, const firn_addr *local) {
  if (firn_addr_equal(local, &p->local)) return p->u;
  for (int i = 0; i < p->nextra; i++)
    if (firn_addr_equal(local, &p->extra_local[i])) return p->extra_u[i];
  return NULL;
}

static inline void peer_sync(ice_peer *p) {
  if (!p->ag) return;
  uint8_t buf[1500];
  firn_path path;
  for (;;) {
    firn_ssize n = firn_agent_poll_transmit(p->ag, sim_now(p->s), buf, sizeof buf, &path);
    if (n == FIRN_ERR_WOULDBLOCK) break;
    SIM_ASSERT(p->s, n > 0);
    peer_send(p, &path, buf, (size_t)n);
    if (!p->ag) return;
  }
  uint64_t e = firn_agent_expiry(p->ag);
  if (e != FIRN_TIME_NEVER && e < sim_now(p->s)) e = sim_now(p->s);
  (void)sim_timer_arm(p->t, e);
}

static inline void peer_send(ice_peer *p, const firn_path *path, const uint8_t *buf, size_t n) {
  if (path->transport == FIRN_TRANSPORT_TCP) {
    peer_conn *pc = peer_conn_find(p, path->conn);
    SIM_ASSERT(p->s, pc != NULL);
    (void)sim_tcp_send(pc->c, buf, n);
    return;
  }
  sim_udp *u = peer_socket(p, &path->local);
  SIM_ASSERT(p->s, u != NULL);
  (void)sim_udp_send(u, &path->remote, buf, n);
}

/* TCP glue */
static inline void peer_tcp_connected(void *user, sim_tcp *c, int status, uint64_t now) {
  peer_conn *pc = user;
  ice_peer *p = pc->p;
  uint32_t id = pc->id;
  if (status != 0) {
    pc->id = 0;
    pc->c = NULL;
    sim_tcp_close(c);
  }
  if (!p->ag) return;
  (void)firn_agent_tcp_connected(p->ag, id, status == 0, now);
  peer_sync(p);
}
static inline void peer_tcp_data(void *user, sim_tcp *c, const uint8_t *data, size_t len, uint64_t now) {
  (void)c;
  peer_conn *pc = user;
  ice_peer *p = pc->p;
  if (!p->ag || !pc->id) return;
  (void)firn_agent_handle_stream(p->ag, pc->id, data, len, now);
  peer_sync(p);
}
static inline void peer_tcp_closed(void *user, sim_tcp *c, int reason, uint64_t now) {
  (void)reason;
  peer_conn *pc = user;
  ice_peer *p = pc->p;
  uint32_t id = pc->id;
  pc->id = 0;
  pc->c = NULL;
  sim_tcp_close(c);
  if (!p->ag || !id) return;
  (void)firn_agent_tcp_closed(p->ag, id, now);
  peer_sync(p);
}
static const sim_tcp_callbacks peer_tcp_cbs = {peer_tcp_connected, peer_tcp_data, peer_tcp_closed};

/* The agent asks for a connection: from its address, an ephemeral port. */
static inline void peer_on_tcp_connect(void *user, const firn_path *path) {
  ice_peer *p = user;
  peer_conn *pc = peer_conn_slot(p);
  SIM_ASSERT(p->s, pc != NULL);
  pc->p = p;
  pc->id = path->conn;
  firn_addr local = path->local;
  local.port = 0;
  p->tcp_opened++;
  if (sim_tcp_connect(p->h, &local, &path->remote, &peer_tcp_cbs, pc, &pc->c) != 0) {
    pc->id = 0;
    (void)firn_agent_tcp_connected(p->ag, path->conn, 0, sim_now(p->s));
  }
}
static inline void peer_on_tcp_close(void *user, uint32_t conn) {
  ice_peer *p = user;
  peer_conn *pc = peer_conn_find(p, conn);
  p->tcp_closed_by_agent++;
  if (!pc) return;
  sim_tcp *c = pc->c;
  pc->id = 0;
  pc->c = NULL;
  if (c) sim_tcp_close(c);
}
static inline void peer_tcp_accept(void *user, sim_tcp *c, uint64_t now) {
  ice_peer *p = user;
  peer_conn *pc = peer_conn_slot(p);
  uint32_t id = 0;
  if (!p->ag || !pc || firn_agent_tcp_accepted(p->ag, sim_tcp_local(c), sim_tcp_remote(c), &id, now) != 0) {
    sim_tcp_close(c);
    if (p->ag) peer_sync(p);
    return;
  }
  p->tcp_accepted++;
  pc->p = p;
  pc->id = id;
  pc->c = c;
  sim_tcp_set_callbacks(c, &peer_tcp_cbs, pc);
  peer_sync(p);
}

static inline void peer_recv(void *user, const firn_addr *local, const firn_addr *remote, const uint8_t *data,
                             size_t len, uint64_t now) {
  ice_peer *p = user;
  if (!p->ag) return;
  firn_path path;
  memset(&path, 0, sizeof path);
  path.local = *local;
  path.remote = *remote;
  path.transport = FIRN_TRANSPORT_UDP;
  (void)firn_agent_handle_datagram(p->ag, &path, data, len, now);
  peer_sync(p);
}

static inline void peer_timer(void *user, uint64_t now) {
  ice_peer *p = user;
  if (!p->ag) return;
  (void)firn_agent_handle_expiry(p->ag, now);
  peer_sync(p);
}

static inline void peer_on_candidate(void *user, unsigned stream, const firn_candidate *c) {
  (void)stream;
  ice_peer *p = user;
  if (p->ncands < PEER_MAX_CANDS) p->cands[p->ncands++] = *c;
  if (p->other && p->other->ag) {
    (void)firn_agent_add_remote_candidate(p->other->ag, p->other->stream, c, sim_now(p->s));
    peer_sync(p->other);
  }
}
static inline void peer_on_gathering_done(void *user, unsigned stream) {
  (void)stream;
  ((ice_peer *)user)->gathering_done = 1;
}
static inline void peer_on_state(void *user, unsigned stream, firn_ice_state st) {
  (void)stream;
  ice_peer *p = user;
  p->state = st;
  if (!p->saw[st]) p->state_at[st] = sim_now(p->s);
  p->saw[st] = 1;
}
static inline void peer_on_selected(void *user, unsigned stream, unsigned comp, const firn_candidate *l,
                                    const firn_candidate *r) {
  (void)stream; (void)comp;
  ice_peer *p = user;
  p->selected++;
  p->sel_l = *l;
  p->sel_r = *r;
  p->selected_at = sim_now(p->s);
}
static inline void peer_on_data(void *user, unsigned stream, unsigned comp, const uint8_t *data, size_t len,
                                const firn_path *path, uint64_t now) {
  (void)stream; (void)comp; (void)data; (void)len; (void)path; (void)now;
  ((ice_peer *)user)->data_rx++;
}

static inline void peer_log(void *user, firn_log_level level, const char *module, const char *msg) {
  ice_peer *p = user;
  fprintf(stderr, "%10.3f %s %s/%d: %s\n", (double)sim_now(p->s) / 1e9, p->name, module, (int)level, msg);
}

/* FIRN_ICE_LOG=<level 0..4> prints the agents' logs with the virtual time. */
static inline void peer_logging(ice_peer *p, firn_agent_settings *s) {
  const char *e = getenv("FIRN_ICE_LOG");
  if (!e || s->log) return; /* a test's own log callback wins */
  s->log = peer_log;
  s->log_user = p;
  s->log_level = (firn_log_level)atoi(e);
}

/* Settings with the callbacks and the peer's seeded random source. */
static inline void peer_settings(ice_peer *p, firn_agent_settings *s, firn_ice_role role) {
  firn_agent_settings_default(s);
  s->random = sim_rng_fill;
  s->random_user = &p->rng;
  s->role = role;
  s->callbacks.on_candidate = peer_on_candidate;
  s->callbacks.on_gathering_done = peer_on_gathering_done;
  s->callbacks.on_state = peer_on_state;
  s->callbacks.on_selected_pair = peer_on_selected;
  s->callbacks.on_data = peer_on_data;
  s->callbacks.on_tcp_connect = peer_on_tcp_connect;
  s->callbacks.on_tcp_close = peer_on_tcp_close;
  s->user = p;
}

/* Create the peer's agent on host `h` bound at `addr` ("192.168.1.10:5000"). `s` may be NULL
 * (defaults with `role`). `stun` and `turn` (a TURN server, credentials included) may be NULL.
 * Gathering starts at once. */
static inline void peer_start_ex(ice_peer *p, sim_net *s, sim_host *h, const char *name, const char *addr,
                                 const char *ifname, const firn_agent_settings *given, firn_ice_role role,
                                 const char *stun, uint64_t rng_stream, const firn_ice_server *turn) {
  memset(p, 0, sizeof *p);
  p->s = s;
  p->h = h;
  p->name = name;
  p->local = sim_addr(addr);
  sim_rng_derive(s, rng_stream, &p->rng);
  firn_agent_settings st;
  if (given) {
    st = *given;
    st.random = sim_rng_fill;
    st.random_user = &p->rng;
    st.user = p;
    if (!st.callbacks.on_tcp_connect) st.callbacks.on_tcp_connect = peer_on_tcp_connect;
    if (!st.callbacks.on_tcp_close) st.callbacks.on_tcp_close = peer_on_tcp_close;
  } else {
    peer_settings(p, &st, role);
  }
  peer_logging(p, &st);
  assert_int_equal(firn_agent_new(&p->ag, &st), 0);
  assert_int_equal(sim_udp_open(h, &p->local, peer_recv, p, &p->u), 0);
  assert_int_equal(sim_timer_new(s, peer_timer, p, &p->t), 0);
  assert_int_equal(firn_agent_add_stream(p->ag, 1, &p->stream), 0);
  firn_local_address la;
  memset(&la, 0, sizeof la);
  la.addr = p->local;
  la.transport = FIRN_TRANSPORT_UDP;
  la.ifname = ifname;
  assert_int_equal(firn_agent_add_local_address(p->ag, p->stream, 1, &la, sim_now(s)), 0);
  if (stun) {
    firn_ice_server srv;
    memset(&srv, 0, sizeof srv);
    srv.addr = sim_addr(stun);
    srv.transport = FIRN_TRANSPORT_UDP;
    assert_int_equal(firn_agent_add_server(p->ag, &srv), 0);
  }
  if (turn) assert_int_equal(firn_agent_add_server(p->ag, turn), 0);
  assert_int_equal(firn_agent_gather(p->ag, sim_now(s)), 0);
  peer_sync(p);
}

static inline void peer_start_if(ice_peer *p, sim_net *s, sim_host *h, const char *name, const char *addr,
                                 const char *ifname, const firn_agent_settings *given, firn_ice_role role,
                                 const char *stun, uint64_t rng_stream) {
  peer_start_ex(p, s, h, name, addr, ifname, given, role, stun, rng_stream, NULL);
}

/* Bind one more host address (before gathering ends) and tell the agent. */
static inline void peer_add_address(ice_peer *p, const char *addr, const char *ifname) {
  assert_true(p->nextra < 4);
  firn_addr a = sim_addr(addr);
  assert_int_equal(sim_udp_open(p->h, &a, peer_recv, p, &p->extra_u[p->nextra]), 0);
  p->extra_local[p->nextra++] = a;
  firn_local_address la;
  memset(&la, 0, sizeof la);
  la.addr = a;
  la.transport = FIRN_TRANSPORT_UDP;
  la.ifname = ifname;
  assert_int_equal(firn_agent_add_local_address(p->ag, p->stream, 1, &la, sim_now(p->s)), 0);
  peer_sync(p);
}

/* Listen for ICE-TCP at `addr` ("192.168.1.10:7000") and tell the agent. */
static inline void peer_add_tcp(ice_peer *p, const char *addr) {
  assert_true(p->nlis < 4);
  firn_addr a = sim_addr(addr);
  assert_int_equal(sim_tcp_listen(p->h, &a, peer_tcp_accept, p, &p->lis[p->nlis++]), 0);
  firn_local_address la;
  memset(&la, 0, sizeof la);
  la.addr = a;
  la.transport = FIRN_TRANSPORT_TCP;
  la.ifname = "eth0";
  assert_int_equal(firn_agent_add_local_address(p->ag, p->stream, 1, &la, sim_now(p->s)), 0);
  peer_sync(p);
}

static inline void peer_start(ice_peer *p, sim_net *s, sim_host *h, const char *name, const char *addr,
                              const firn_agent_settings *given, firn_ice_role role, const char *stun,
                              uint64_t rng_stream) {
  peer_start_if(p, s, h, name, addr, "eth0", given, role, stun, rng_stream);
}

static inline void peer_stop(ice_peer *p) {
  if (p->ag) firn_agent_free(p->ag);
  p->ag = NULL;
}

/* Give `to` the credentials (and, when `cands`, every candidate gathered so far plus
 * end-of-candidates) of `from`. */
static inline void peer_signal(ice_peer *from, ice_peer *to, int cands) {
  const char *u, *pw;
  assert_int_equal(firn_agent_get_local_credentials(from->ag, from->stream, &u, &pw), 0);
  assert_int_equal(firn_agent_set_remote_credentials(to->ag, to->stream, u, pw, sim_now(to->s)), 0);
  if (cands) {
    firn_candidate c[PEER_MAX_CANDS];
    size_t n = 0;
    assert_int_equal(firn_agent_get_local_candidates(from->ag, from->stream, c, PEER_MAX_CANDS, &n), 0);
    for (size_t i = 0; i < n; i++)
      assert_int_equal(firn_agent_add_remote_candidate(to->ag, to->stream, &c[i], sim_now(to->s)), 0);
    assert_int_equal(firn_agent_end_of_remote_candidates(to->ag, to->stream, sim_now(to->s)), 0);
  }
  peer_sync(to);
}

typedef struct peer_pair {
  ice_peer *a, *b;
} peer_pair;

static inline int pred_gathered(void *user) {
  peer_pair *pp = user;
  return pp->a->gathering_done && pp->b->gathering_done;
}

static inline int peer_connected(const ice_peer *p) {
  return p->selected && (p->state == FIRN_ICE_CONNECTED || p->state == FIRN_ICE_COMPLETED);
}

static inline int pred_connected(void *user) {
  peer_pair *pp = user;
  return peer_connected(pp->a) && peer_connected(pp->b);
}

static inline int pred_completed(void *user) {
  peer_pair *pp = user;
  return pp->a->state == FIRN_ICE_COMPLETED && pp->b->state == FIRN_ICE_COMPLETED;
}

/* Gather on both, exchange descriptions, run until both are connected (or `limit`). */
static inline int peers_connect(sim_net *s, ice_peer *a, ice_peer *b, uint64_t limit) {
  peer_pair pp = {a, b};
  int rc = sim_run_until(s, pred_gathered, &pp, sim_now(s) + 20 * SEC);
  SIM_ASSERT_EQ(s, rc, SIM_DONE);
  peer_signal(a, b, 1);
  peer_signal(b, a, 1);
  rc = sim_run_until(s, pred_connected, &pp, sim_now(s) + limit);
  return rc == SIM_DONE;
}

/* Send `n` data packets each way over the selected pairs and run 1 s. Returns packets lost. */
static inline unsigned peers_exchange(sim_net *s, ice_peer *a, ice_peer *b, unsigned n) {
  unsigned ra = a->data_rx, rb = b->data_rx;
  for (unsigned i = 0; i < n; i++) {
    ice_peer *ps[2] = {a, b};
    for (int k = 0; k < 2; k++) {
      uint8_t pkt[172] = {0x80, 0}, out[400];
      firn_path path;
      firn_ssize len = firn_agent_write_data(ps[k]->ag, ps[k]->stream, 1, pkt, sizeof pkt, out, sizeof out, &path,
                                             sim_now(s));
      /* as is, RFC 4571-framed (ICE-TCP) or wrapped for the TURN server (relay) */
      SIM_ASSERT(s, len >= (firn_ssize)sizeof pkt);
      peer_send(ps[k], &path, out, (size_t)len);
    }
    sim_run_for(s, 20 * MS);
  }
  sim_run_for(s, 1 * SEC);
  return (n - (a->data_rx - ra)) + (n - (b->data_rx - rb));
}

static inline void assert_types(sim_net *s, const ice_peer *p, firn_cand_type local, firn_cand_type remote) {
  if (p->sel_l.type != local || p->sel_r.type != remote) {
    print_error("%s selected %s/%s, expected %s/%s\n", p->name, firn_cand_type_name((firn_cand_type)p->sel_l.type),
                firn_cand_type_name((firn_cand_type)p->sel_r.type), firn_cand_type_name(local),
                firn_cand_type_name(remote));
    SIM_FAIL_MSG(s, "selected pair types");
    fail();
  }
}

/* ------------------------------------------------------------------------------------------ */
/* The scenario world:
 *   A 192.168.1.10 --lanA-- NAT-A 192.168.1.1 | 198.51.100.1 --wan-- STUN 203.0.113.1:3478
 *   B 192.168.2.10 --lanB-- NAT-B 192.168.2.1 | 198.51.100.2 --wan-- P 203.0.113.50 (public)
 *   C 192.168.1.20 on lanA (same LAN as A)
 * 1 ms on each LAN access link, 10 ms on each WAN link. */

typedef struct world {
  sim_net *s;
  sim_segment *lan_a, *lan_b, *wan;
  sim_nat *nat_a, *nat_b;
  sim_host *a, *b, *c, *p, *stun;
  sim_stun_server *srv;
  ice_peer pa, pb;
} world;

/* `given` (may be NULL) sets the simulator's settings (e.g. TCP segment sizes); `seed` wins. */
static inline void world_new_ex(world *w, uint64_t seed, const sim_nat_config *ca, const sim_nat_config *cb,
                                const sim_settings *given) {
  memset(w, 0, sizeof *w);
  sim_settings st;
  if (given) st = *given;
  else sim_settings_default(&st);
  st.seed = seed;
  assert_int_equal(sim_new(&w->s, &st), 0);
  assert_int_equal(sim_segment_new(w->s, "lanA", &w->lan_a), 0);
  assert_int_equal(sim_segment_new(w->s, "lanB", &w->lan_b), 0);
  assert_int_equal(sim_segment_new(w->s, "wan", &w->wan), 0);
  sim_nat_config def;
  sim_nat_config_default(&def);
  assert_int_equal(sim_nat_new(w->s, "natA", ca ? ca : &def, w->lan_a, "192.168.1.1", w->wan, "198.51.100.1",
                               &w->nat_a), 0);
  assert_int_equal(sim_nat_new(w->s, "natB", cb ? cb : &def, w->lan_b, "192.168.2.1", w->wan, "198.51.100.2",
                               &w->nat_b), 0);
  assert_int_equal(sim_host_new(w->s, "A", &w->a), 0);
  assert_int_equal(sim_host_new(w->s, "B", &w->b), 0);
  assert_int_equal(sim_host_new(w->s, "C", &w->c), 0);
  assert_int_equal(sim_host_new(w->s, "P", &w->p), 0);
  assert_int_equal(sim_host_new(w->s, "STUN", &w->stun), 0);
  assert_int_equal(sim_host_add_iface(w->a, w->lan_a, "192.168.1.10", NULL), 0);
  assert_int_equal(sim_host_add_iface(w->b, w->lan_b, "192.168.2.10", NULL), 0);
  assert_int_equal(sim_host_add_iface(w->c, w->lan_a, "192.168.1.20", NULL), 0);
  assert_int_equal(sim_host_add_iface(w->p, w->wan, "203.0.113.50", NULL), 0);
  assert_int_equal(sim_host_add_iface(w->stun, w->wan, "203.0.113.1", NULL), 0);
  firn_addr sa = sim_addr("203.0.113.1:3478");
  assert_int_equal(sim_stun_server_new(w->stun, &sa, &w->srv), 0);
  /* a little latency everywhere: 2 ms on a LAN, 20 ms to the WAN */
  sim_link l;
  sim_link_default(&l);
  l.delay_ns = 1 * MS;
  for (size_t i = 0; i < 1; i++) {
    sim_iface_set_link(sim_host_iface(w->a, i), SIM_BOTH, &l);
    sim_iface_set_link(sim_host_iface(w->b, i), SIM_BOTH, &l);
    sim_iface_set_link(sim_host_iface(w->c, i), SIM_BOTH, &l);
  }
  l.delay_ns = 10 * MS;
  sim_iface_set_link(sim_nat_outside(w->nat_a), SIM_BOTH, &l);
  sim_iface_set_link(sim_nat_outside(w->nat_b), SIM_BOTH, &l);
  sim_iface_set_link(sim_host_iface(w->p, 0), SIM_BOTH, &l);
  sim_iface_set_link(sim_host_iface(w->stun, 0), SIM_BOTH, &l);
}

static inline void world_new(world *w, uint64_t seed, const sim_nat_config *ca, const sim_nat_config *cb) {
  world_new_ex(w, seed, ca, cb, NULL);
}

static inline void world_free(world *w) {
  peer_stop(&w->pa);
  peer_stop(&w->pb);
  sim_free(w->s);
}

static inline void set_loss(sim_iface *i, double pct) {
  sim_link l;
  sim_iface_get_link(i, SIM_UP, &l);
  l.loss_pct = pct;
  sim_iface_set_link(i, SIM_UP, &l);
  sim_iface_get_link(i, SIM_DOWN, &l);
  l.loss_pct = pct;
  sim_iface_set_link(i, SIM_DOWN, &l);
}

#endif
