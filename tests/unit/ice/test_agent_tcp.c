/* ICE-TCP (RFC 6544) in the agent core, driven by hand: TCP host candidates and their
 * priorities, pairing rules, connections asked for and reported back, RFC 4571 framing with
 * reassembly across every split point, the rules for accepted connections (first frame must
 * be an authenticated check, silence is closed, bounded frames and connection counts), and
 * framed data on a selected TCP pair. The test plays the peer: it builds the peer's checks and
 * answers with the STUN codec. No sockets, virtual time. */
#include "test_agent_harness.h"
#include "common/bytes.h"

#define PEER_UFRAG "peerUFRAG"
#define PEER_PWD "peerPASSWORDpeerPASSWORD"
#define MAX_EV 64

typedef struct tfix {
  firn_agent *ag;
  h_rng rng;
  uint64_t now;
  firn_path connect[MAX_EV];
  int nconnect;
  uint32_t closed[MAX_EV];
  int nclosed;
  int selected;
  firn_candidate sel_l, sel_r;
  unsigned data_rx;
  uint8_t last_data[256];
  size_t last_len;
  firn_candidate cands[16];
  int ncands;
  firn_stun_key *lkey; /* the agent's password: for the peer's checks */
  firn_stun_key *rkey; /* the peer's password: for answers to the agent's checks */
} tfix;

static void t_connect(void *user, const firn_path *p) {
  tfix *f = user;
  if (f->nconnect < MAX_EV) f->connect[f->nconnect++] = *p;
}
static void t_close(void *user, uint32_t conn) {
  tfix *f = user;
  if (f->nclosed < MAX_EV) f->closed[f->nclosed++] = conn;
}
static void t_selected(void *user, unsigned stream, unsigned comp, const firn_candidate *l, const firn_candidate *r) {
  (void)stream; (void)comp;
  tfix *f = user;
  f->selected++;
  f->sel_l = *l;
  f->sel_r = *r;
}
static void t_data(void *user, unsigned stream, unsigned comp, const uint8_t *data, size_t len, const firn_path *path,
                   uint64_t now) {
  (void)stream; (void)comp; (void)path; (void)now;
  tfix *f = user;
  f->data_rx++;
  f->last_len = len < sizeof f->last_data ? len : sizeof f->last_data;
  memcpy(f->last_data, data, f->last_len);
}
static void t_cand(void *user, unsigned stream, const firn_candidate *c) {
  (void)stream;
  tfix *f = user;
  if (f->ncands < 16) f->cands[f->ncands++] = *c;
}

/* An agent with a UDP host 10.0.0.1:5000 and a TCP listener 10.0.0.1:7000. */
static void tfix_new(tfix *f, firn_ice_role role, int with_remote_creds) {
  memset(f, 0, sizeof *f);
  f->rng.s = 4242;
  f->now = SEC;
  firn_agent_settings s;
  firn_agent_settings_default(&s);
  s.random = h_rng_fill;
  s.random_user = &f->rng;
  s.role = role;
  s.callbacks.on_tcp_connect = t_connect;
  s.callbacks.on_tcp_close = t_close;
  s.callbacks.on_selected_pair = t_selected;
  s.callbacks.on_data = t_data;
  s.callbacks.on_candidate = t_cand;
  s.user = f;
  assert_int_equal(firn_agent_new(&f->ag, &s), 0);
  unsigned st;
  assert_int_equal(firn_agent_add_stream(f->ag, 1, &st), 0);
  firn_local_address la;
  memset(&la, 0, sizeof la);
  la.addr = h_addr("10.0.0.1:5000");
  la.transport = FIRN_TRANSPORT_UDP;
  assert_int_equal(firn_agent_add_local_address(f->ag, 0, 1, &la, f->now), 0);
  la.addr = h_addr("10.0.0.1:7000");
  la.transport = FIRN_TRANSPORT_TCP;
  assert_int_equal(firn_agent_add_local_address(f->ag, 0, 1, &la, f->now), 0);
  assert_int_equal(firn_agent_gather(f->ag, f->now), 0);
  const char *u, *p;
  assert_int_equal(firn_agent_get_local_credentials(f->ag, 0, &u, &p), 0);
  assert_int_equal(firn_stun_key_new_short_term(&f->lkey, NULL, p, strlen(p)), 0);
  assert_int_equal(firn_stun_key_new_short_term(&f->rkey, NULL, PEER_PWD, strlen(PEER_PWD)), 0);
  if (with_remote_creds)
    assert_int_equal(firn_agent_set_remote_credentials(f->ag, 0, PEER_UFRAG, PEER_PWD, f->now), 0);
}

static void tfix_free(tfix *f) {
  firn_agent_free(f->ag);
  firn_stun_key_free(f->lkey);
  firn_stun_key_free(f->rkey);
}

static firn_candidate tcp_cand(const char *addr, uint8_t tcptype, uint32_t prio) {
  firn_candidate c;
  memset(&c, 0, sizeof c);
  strcpy(c.foundation, tcptype == FIRN_TCP_ACTIVE ? "ta" : "tp");
  c.component = 1;
  c.transport = FIRN_TRANSPORT_TCP;
  c.type = FIRN_CAND_HOST;
  c.tcptype = tcptype;
  c.priority = prio;
  c.addr = h_addr(addr);
  c.related.family = FIRN_AF_NONE;
  return c;
}

/* The peer's Binding request to the agent, RFC 4571-framed. Returns the framed length. */
static size_t peer_check(tfix *f, uint8_t *out, size_t cap, int use_cand, const char *ufrag_override) {
  const char *lu;
  assert_int_equal(firn_agent_get_local_credentials(f->ag, 0, &lu, NULL), 0);
  char user[128];
  snprintf(user, sizeof user, "%s:%s", ufrag_override ? ufrag_override : lu, PEER_UFRAG);
  uint8_t tid[12];
  h_rng_fill(&f->rng, tid, sizeof tid);
  firn_stun_builder b;
  firn_stun_builder_init(&b, out + 2, cap - 2, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, tid);
  firn_stun_add_string(&b, FIRN_STUN_ATTR_USERNAME, user, strlen(user));
  firn_stun_add_u32(&b, FIRN_STUN_ATTR_PRIORITY, 0x50000000u);
  firn_stun_add_u64(&b, FIRN_STUN_ATTR_ICE_CONTROLLING, 0xffffffffffffffffull);
  if (use_cand) firn_stun_add_flag(&b, FIRN_STUN_ATTR_USE_CANDIDATE);
  firn_stun_add_integrity(&b, f->lkey);
  firn_stun_add_fingerprint(&b);
  firn_ssize n = firn_stun_builder_finish(&b);
  assert_true(n > 0);
  firn_put_u16(out, (uint16_t)n);
  return (size_t)n + 2;
}

/* Everything the agent has to send; returns the count, the last one in `last`. */
static int drain(tfix *f, uint8_t *last, size_t *last_len, firn_path *last_path) {
  int n = 0;
  uint8_t buf[1500];
  firn_path p;
  for (;;) {
    firn_ssize len = firn_agent_poll_transmit(f->ag, f->now, buf, sizeof buf, &p);
    if (len == FIRN_ERR_WOULDBLOCK) break;
    assert_true(len > 0);
    n++;
    if (last) {
      memcpy(last, buf, (size_t)len);
      *last_len = (size_t)len;
      *last_path = p;
    }
  }
  return n;
}

/* Parse one framed STUN message sent by the agent on TCP. */
static void unframe(const uint8_t *d, size_t len, firn_stun_msg *m) {
  assert_true(len >= 22);
  assert_int_equal(firn_get_u16(d), len - 2);
  assert_int_equal(firn_stun_msg_parse(m, d + 2, len - 2), 0);
}

static void advance(tfix *f, uint64_t dt) {
  uint64_t until = f->now + dt;
  for (;;) {
    uint64_t e = firn_agent_expiry(f->ag);
    if (e > until) break;
    if (e > f->now) f->now = e;
    assert_int_equal(firn_agent_handle_expiry(f->ag, f->now), 0);
  }
  f->now = until;
  (void)firn_agent_handle_expiry(f->ag, f->now);
}

static int was_closed(const tfix *f, uint32_t conn) {
  for (int i = 0; i < f->nclosed; i++)
    if (f->closed[i] == conn) return 1;
  return 0;
}

/* ------------------------------------------------------------------------------------------ */

static void test_tcp_candidates(void **state) {
  (void)state;
  tfix f;
  tfix_new(&f, FIRN_ICE_CONTROLLING, 0);
  firn_candidate c[8];
  size_t n = 0;
  assert_int_equal(firn_agent_get_local_candidates(f.ag, 0, c, 8, &n), 0);
  assert_int_equal(n, 3);
  const firn_candidate *udp = NULL, *act = NULL, *pas = NULL;
  for (size_t i = 0; i < n; i++) {
    if (c[i].transport == FIRN_TRANSPORT_UDP) udp = &c[i];
    else if (c[i].tcptype == FIRN_TCP_ACTIVE) act = &c[i];
    else if (c[i].tcptype == FIRN_TCP_PASSIVE) pas = &c[i];
  }
  assert_non_null(udp);
  assert_non_null(act);
  assert_non_null(pas);
  assert_int_equal(act->addr.port, 9);
  assert_int_equal(pas->addr.port, 7000);
  assert_int_equal(act->type, FIRN_CAND_HOST);
  /* RFC 6544 4.2: local preference = 2^13 * direction-pref + other-pref; active 6, passive 4 */
  assert_int_equal((act->priority >> 8 & 0xffff) >> 13, 6);
  assert_int_equal((pas->priority >> 8 & 0xffff) >> 13, 4);
  assert_int_equal(act->priority >> 24, 90); /* TCP host type preference: below every UDP type */
  assert_true(udp->priority > act->priority && act->priority > pas->priority);
  assert_true(act->priority > firn_ice_priority(0, 65535, 1)); /* still above any relay */
  char line[FIRN_CANDIDATE_STRLEN];
  assert_true(firn_candidate_format(act, line, sizeof line) > 0);
  assert_non_null(strstr(line, " tcp "));
  assert_non_null(strstr(line, " 9 typ host tcptype active"));
  assert_true(firn_candidate_format(pas, line, sizeof line) > 0);
  assert_non_null(strstr(line, "tcptype passive"));
  assert_int_equal(f.ncands, 3); /* trickled */
  /* the default candidate (c= line) is never the port-9 active one */
  firn_candidate d;
  assert_int_equal(firn_agent_get_default_candidate(f.ag, 0, 1, &d), 0);
  assert_int_equal(d.transport, FIRN_TRANSPORT_UDP);
  tfix_free(&f);
}

static void test_tcp_pairing(void **state) {
  (void)state;
  tfix f;
  tfix_new(&f, FIRN_ICE_CONTROLLING, 0); /* no remote credentials yet: nothing is checked */
  firn_candidate rp = tcp_cand("10.0.0.2:8000", FIRN_TCP_PASSIVE, 0x5a00f0ff);
  firn_candidate ra = tcp_cand("10.0.0.2:9", FIRN_TCP_ACTIVE, 0x5a00c0ff);
  firn_candidate rs = tcp_cand("10.0.0.2:8001", FIRN_TCP_SO, 0x5a0040ff);
  assert_int_equal(firn_agent_add_remote_candidate(f.ag, 0, &rp, f.now), 0);
  assert_int_equal(firn_agent_add_remote_candidate(f.ag, 0, &ra, f.now), 0);
  assert_int_equal(firn_agent_add_remote_candidate(f.ag, 0, &rs, f.now), 0);
  firn_pair_stats ps[8];
  size_t n = 0;
  assert_int_equal(firn_agent_get_pair_stats(f.ag, 0, ps, 8, &n), 0);
  /* active -> passive only; the remote active waits for its own connection; S-O not offered */
  assert_int_equal(n, 1);
  assert_int_equal(ps[0].local.tcptype, FIRN_TCP_ACTIVE);
  assert_int_equal(ps[0].remote.tcptype, FIRN_TCP_PASSIVE);
  assert_int_equal(f.nconnect, 0);
  tfix_free(&f);
}

/* The active side: the check waits for the connection the runtime opens, goes out framed on
 * it, and the answer is reassembled from every split point. */
static void test_tcp_active_check_every_split(void **state) {
  (void)state;
  uint8_t resp[300];
  size_t rlen = 0;
  for (size_t split = 0;; split++) {
    tfix f;
    tfix_new(&f, FIRN_ICE_CONTROLLING, 1);
    firn_candidate rp = tcp_cand("10.0.0.2:8000", FIRN_TCP_PASSIVE, 0x5a00f0ff);
    assert_int_equal(firn_agent_add_remote_candidate(f.ag, 0, &rp, f.now), 0);
    advance(&f, 100 * MS);
    assert_int_equal(f.nconnect, 1);
    firn_path cp = f.connect[0];
    assert_int_equal(cp.transport, FIRN_TRANSPORT_TCP);
    assert_true(cp.conn != 0);
    assert_true(firn_addr_equal(&cp.remote, &rp.addr));
    firn_addr mine = h_addr("10.0.0.1:0");
    assert_true(firn_addr_equal_ip(&cp.local, &mine));
    assert_int_equal(cp.local.port, 0); /* an ephemeral port */
    assert_int_equal(drain(&f, NULL, NULL, NULL), 0); /* nothing before the connection is up */
    assert_int_equal(firn_agent_tcp_connected(f.ag, cp.conn, 1, f.now), 0);
    uint8_t out[1500];
    size_t olen = 0;
    firn_path op;
    assert_int_equal(drain(&f, out, &olen, &op), 1);
    assert_int_equal(op.transport, FIRN_TRANSPORT_TCP);
    assert_int_equal(op.conn, cp.conn);
    firn_stun_msg m;
    unframe(out, olen, &m);
    assert_int_equal(m.cls, FIRN_STUN_REQUEST);
    assert_int_equal(firn_stun_msg_verify(&m, f.rkey), 0);
    /* the peer answers: XOR-MAPPED-ADDRESS is our IP with the connection's ephemeral port */
    firn_stun_builder b;
    firn_stun_builder_init(&b, resp + 2, sizeof resp - 2, FIRN_STUN_BINDING, FIRN_STUN_SUCCESS, m.tid);
    firn_addr mapped = h_addr("10.0.0.1:40123");
    firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped);
    firn_stun_add_integrity(&b, f.rkey);
    firn_stun_add_fingerprint(&b);
    firn_ssize n = firn_stun_builder_finish(&b);
    assert_true(n > 0);
    firn_put_u16(resp, (uint16_t)n);
    rlen = (size_t)n + 2;
    if (split > rlen) {
      tfix_free(&f);
      break;
    }
    f.now += 10 * MS;
    assert_int_equal(firn_agent_handle_stream(f.ag, cp.conn, resp, split, f.now), 0);
    assert_int_equal(firn_agent_handle_stream(f.ag, cp.conn, resp + split, rlen - split, f.now), 0);
    firn_pair_stats ps[4];
    size_t np = 0;
    assert_int_equal(firn_agent_get_pair_stats(f.ag, 0, ps, 4, &np), 0);
    assert_int_equal(np, 1);
    assert_int_equal(ps[0].state, 3); /* succeeded */
    assert_int_equal(ps[0].local.type, FIRN_CAND_HOST); /* the ephemeral port is no prflx */
    assert_true(ps[0].rtt_last_ns > 0);
    /* regular nomination follows on the same connection */
    advance(&f, 100 * MS);
    assert_int_equal(drain(&f, out, &olen, &op), 1);
    unframe(out, olen, &m);
    assert_true(firn_stun_msg_has(&m, FIRN_STUN_ATTR_USE_CANDIDATE));
    assert_int_equal(op.conn, cp.conn);
    assert_int_equal(f.nconnect, 1);
    tfix_free(&f);
  }
}

/* The passive side: a connection accepted on the listener whose first frame is an
 * authenticated check, followed by a data frame, split at every point (and byte by byte). */
static void test_tcp_passive_every_split(void **state) {
  (void)state;
  uint8_t stream[600];
  size_t slen = 0;
  for (size_t split = 0;; split++) {
    tfix f;
    tfix_new(&f, FIRN_ICE_CONTROLLED, 1);
    firn_candidate ra = tcp_cand("10.0.0.2:9", FIRN_TCP_ACTIVE, 0x5a00c0ff);
    assert_int_equal(firn_agent_add_remote_candidate(f.ag, 0, &ra, f.now), 0);
    firn_addr l = h_addr("10.0.0.1:7000"), r = h_addr("10.0.0.2:51000");
    uint32_t conn = 0;
    assert_int_equal(firn_agent_tcp_accepted(f.ag, &l, &r, &conn, f.now), 0);
    assert_true(conn != 0);
    slen = peer_check(&f, stream, sizeof stream, 0, NULL);
    const char *payload = "\x80 data after the check";
    size_t dl = strlen(payload);
    firn_put_u16(stream + slen, (uint16_t)dl);
    memcpy(stream + slen + 2, payload, dl);
    slen += 2 + dl;
    if (split > slen) {
      tfix_free(&f);
      break;
    }
    if (split == slen) { /* one byte at a time */
      for (size_t i = 0; i < slen; i++) assert_int_equal(firn_agent_handle_stream(f.ag, conn, stream + i, 1, f.now), 0);
    } else {
      assert_int_equal(firn_agent_handle_stream(f.ag, conn, stream, split, f.now), 0);
      assert_int_equal(firn_agent_handle_stream(f.ag, conn, stream + split, slen - split, f.now), 0);
    }
    assert_int_equal(f.nclosed, 0);
    assert_int_equal(f.data_rx, 1);
    assert_int_equal(f.last_len, dl);
    assert_memory_equal(f.last_data, payload, dl);
    /* the answer, then the triggered check, on the accepted connection */
    uint8_t buf[1500];
    firn_path p;
    firn_ssize n = firn_agent_poll_transmit(f.ag, f.now, buf, sizeof buf, &p);
    assert_true(n > 0);
    assert_int_equal(p.conn, conn);
    firn_stun_msg m;
    unframe(buf, (size_t)n, &m);
    assert_int_equal(m.cls, FIRN_STUN_SUCCESS);
    firn_addr xm;
    assert_int_equal(firn_stun_msg_get_xor_addr(&m, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, 0, &xm), 0);
    assert_true(firn_addr_equal(&xm, &r));
    /* the remote is the signalled active candidate at the connection's real port */
    firn_pair_stats ps[4];
    size_t np = 0;
    assert_int_equal(firn_agent_get_pair_stats(f.ag, 0, ps, 4, &np), 0);
    assert_int_equal(np, 1);
    assert_int_equal(ps[0].remote.type, FIRN_CAND_HOST);
    assert_int_equal(ps[0].remote.tcptype, FIRN_TCP_ACTIVE);
    assert_true(firn_addr_equal(&ps[0].remote.addr, &r));
    assert_int_equal(ps[0].local.tcptype, FIRN_TCP_PASSIVE);
    tfix_free(&f);
  }
}

/* Controlled side: the peer nominates on the accepted connection; after our triggered check
 * is answered the TCP pair is selected, and application data is framed for it. */
static void test_tcp_selected_write_data(void **state) {
  (void)state;
  tfix f;
  tfix_new(&f, FIRN_ICE_CONTROLLED, 1);
  firn_addr l = h_addr("10.0.0.1:7000"), r = h_addr("10.0.0.2:51000");
  uint32_t conn = 0;
  assert_int_equal(firn_agent_tcp_accepted(f.ag, &l, &r, &conn, f.now), 0);
  uint8_t in[600];
  size_t n = peer_check(&f, in, sizeof in, 1, NULL);
  assert_int_equal(firn_agent_handle_stream(f.ag, conn, in, n, f.now), 0);
  advance(&f, 100 * MS);
  /* answer our triggered check */
  uint8_t buf[1500];
  firn_path p;
  firn_ssize len;
  int answered = 0;
  while ((len = firn_agent_poll_transmit(f.ag, f.now, buf, sizeof buf, &p)) > 0) {
    firn_stun_msg m;
    unframe(buf, (size_t)len, &m);
    if (m.cls != FIRN_STUN_REQUEST) continue;
    firn_stun_builder b;
    firn_stun_builder_init(&b, in + 2, sizeof in - 2, FIRN_STUN_BINDING, FIRN_STUN_SUCCESS, m.tid);
    firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &l);
    firn_stun_add_integrity(&b, f.rkey);
    firn_stun_add_fingerprint(&b);
    firn_ssize rn = firn_stun_builder_finish(&b);
    firn_put_u16(in, (uint16_t)rn);
    assert_int_equal(firn_agent_handle_stream(f.ag, conn, in, (size_t)rn + 2, f.now), 0);
    answered = 1;
  }
  assert_true(answered);
  assert_int_equal(f.selected, 1);
  assert_int_equal(f.sel_l.transport, FIRN_TRANSPORT_TCP);
  assert_int_equal(f.sel_l.tcptype, FIRN_TCP_PASSIVE);
  assert_int_equal(f.sel_r.tcptype, FIRN_TCP_ACTIVE); /* learned: peer-reflexive active */
  uint8_t out[64];
  firn_path wp;
  len = firn_agent_write_data(f.ag, 0, 1, (const uint8_t *)"\x80hello", 6, out, sizeof out, &wp, f.now);
  assert_int_equal(len, 8);
  assert_int_equal(firn_get_u16(out), 6);
  assert_memory_equal(out + 2, "\x80hello", 6);
  assert_int_equal(wp.transport, FIRN_TRANSPORT_TCP);
  assert_int_equal(wp.conn, conn);
  assert_int_equal(firn_agent_write_data(f.ag, 0, 1, out, 6, out, 7, &wp, f.now), FIRN_ERR_NOBUF);
  firn_path sp;
  assert_int_equal(firn_agent_get_selected_pair(f.ag, 0, 1, NULL, NULL, &sp), 0);
  assert_int_equal(sp.conn, conn);
  /* the runtime loses the connection (the peer hung up): nothing more is written for the
   * pair, the stream is DISCONNECTED at once and FAILED when consent runs out */
  assert_int_equal(firn_agent_tcp_closed(f.ag, conn, f.now), 0);
  assert_int_equal(firn_agent_write_data(f.ag, 0, 1, out, 6, out, sizeof out, &wp, f.now), FIRN_ERR_STATE);
  assert_int_equal(firn_agent_get_state(f.ag, 0), FIRN_ICE_DISCONNECTED);
  assert_int_equal(firn_agent_get_selected_pair(f.ag, 0, 1, NULL, NULL, NULL), 0);
  advance(&f, 29 * SEC);
  assert_int_equal(firn_agent_get_state(f.ag, 0), FIRN_ICE_DISCONNECTED);
  advance(&f, 2 * SEC);
  assert_int_equal(firn_agent_get_state(f.ag, 0), FIRN_ICE_FAILED);
  tfix_free(&f);
}

/* Hostile connections on the passive candidate. */
static void test_tcp_hostile_passive(void **state) {
  (void)state;
  tfix f;
  tfix_new(&f, FIRN_ICE_CONTROLLED, 0);
  firn_addr l = h_addr("10.0.0.1:7000");
  firn_addr r = h_addr("10.0.0.66:40000");
  uint32_t garbage = 0, wrong_user = 0, silent = 0, huge = 0, slow = 0, empty = 0;
  assert_int_equal(firn_agent_tcp_accepted(f.ag, &l, &r, &garbage, f.now), 0);
  r.port++;
  assert_int_equal(firn_agent_tcp_accepted(f.ag, &l, &r, &wrong_user, f.now), 0);
  r.port++;
  assert_int_equal(firn_agent_tcp_accepted(f.ag, &l, &r, &silent, f.now), 0);
  r.port++;
  assert_int_equal(firn_agent_tcp_accepted(f.ag, &l, &r, &huge, f.now), 0);
  r.port++;
  assert_int_equal(firn_agent_tcp_accepted(f.ag, &l, &r, &slow, f.now), 0);
  r.port++;
  assert_int_equal(firn_agent_tcp_accepted(f.ag, &l, &r, &empty, f.now), 0);
  /* a listener address the agent does not have */
  firn_addr other = h_addr("10.0.0.1:7001");
  uint32_t x = 0;
  assert_int_equal(firn_agent_tcp_accepted(f.ag, &other, &r, &x, f.now), FIRN_ERR_NOT_FOUND);
  /* garbage (an RTP-looking frame) first */
  uint8_t g[40] = {0, 38, 0x80, 0};
  assert_int_equal(firn_agent_handle_stream(f.ag, garbage, g, sizeof g, f.now), 0);
  assert_true(was_closed(&f, garbage));
  /* a well-formed check for another ufrag */
  uint8_t in[600];
  size_t n = peer_check(&f, in, sizeof in, 0, "notOURS");
  assert_int_equal(firn_agent_handle_stream(f.ag, wrong_user, in, n, f.now), 0);
  assert_true(was_closed(&f, wrong_user));
  /* a length past what an unauthenticated connection may send: closed at once */
  uint8_t h[2] = {0xff, 0xff};
  assert_int_equal(firn_agent_handle_stream(f.ag, huge, h, 2, f.now), 0);
  assert_true(was_closed(&f, huge));
  uint8_t z[2] = {0, 0};
  assert_int_equal(firn_agent_handle_stream(f.ag, empty, z, 2, f.now), 0);
  assert_true(was_closed(&f, empty));
  /* nothing of the closed ones is answered */
  assert_int_equal(drain(&f, NULL, NULL, NULL), 0);
  /* a frame that never completes, and a connection that says nothing: closed when the idle
   * time runs out, not before */
  assert_int_equal(firn_agent_handle_stream(f.ag, slow, in, 10, f.now), 0);
  advance(&f, 4 * SEC);
  assert_false(was_closed(&f, silent));
  assert_false(was_closed(&f, slow));
  advance(&f, 2 * SEC);
  assert_true(was_closed(&f, silent));
  assert_true(was_closed(&f, slow));
  assert_int_equal(f.nclosed, 6);
  assert_int_equal(firn_agent_handle_stream(f.ag, silent, in, 4, f.now), FIRN_ERR_NOT_FOUND);
  assert_int_equal(firn_agent_expiry(f.ag), FIRN_TIME_NEVER);
  tfix_free(&f);
}

/* Bounds: at most 8 accepted connections waiting for their first check, 32 in all. */
static void test_tcp_connection_limits(void **state) {
  (void)state;
  tfix f;
  tfix_new(&f, FIRN_ICE_CONTROLLED, 1);
  firn_addr l = h_addr("10.0.0.1:7000");
  firn_addr r = h_addr("10.0.0.66:40000");
  uint32_t c[40];
  for (int i = 0; i < 8; i++) {
    r.port++;
    assert_int_equal(firn_agent_tcp_accepted(f.ag, &l, &r, &c[i], f.now), 0);
  }
  r.port++;
  assert_int_equal(firn_agent_tcp_accepted(f.ag, &l, &r, &c[8], f.now), FIRN_ERR_LIMIT);
  /* authenticated ones make room */
  for (int i = 0; i < 8; i++) {
    uint8_t in[600];
    size_t n = peer_check(&f, in, sizeof in, 0, NULL);
    assert_int_equal(firn_agent_handle_stream(f.ag, c[i], in, n, f.now), 0);
  }
  assert_int_equal(f.nclosed, 0);
  int ok = 8;
  for (int i = 8; i < 40; i++) {
    r.port++;
    int rc = firn_agent_tcp_accepted(f.ag, &l, &r, &c[i], f.now);
    if (rc == 0) {
      ok++;
      uint8_t in[600];
      size_t n = peer_check(&f, in, sizeof in, 0, NULL);
      assert_int_equal(firn_agent_handle_stream(f.ag, c[i], in, n, f.now), 0);
    } else {
      assert_int_equal(rc, FIRN_ERR_LIMIT);
    }
  }
  assert_int_equal(ok, 32);
  tfix_free(&f);
}

/* The connection the agent asked for fails: the pair fails, nothing is left queued; an
 * unanswered check over TCP is not retransmitted and fails after the TCP check timeout. */
static void test_tcp_connect_failure(void **state) {
  (void)state;
  tfix f;
  tfix_new(&f, FIRN_ICE_CONTROLLING, 1);
  firn_candidate rp = tcp_cand("10.0.0.2:8000", FIRN_TCP_PASSIVE, 0x5a00f0ff);
  firn_candidate rp2 = tcp_cand("10.0.0.3:8000", FIRN_TCP_PASSIVE, 0x5a00f0fe);
  assert_int_equal(firn_agent_add_remote_candidate(f.ag, 0, &rp, f.now), 0);
  assert_int_equal(firn_agent_add_remote_candidate(f.ag, 0, &rp2, f.now), 0);
  advance(&f, 200 * MS);
  assert_int_equal(f.nconnect, 2);
  assert_int_equal(firn_agent_tcp_connected(f.ag, f.connect[0].conn, 0, f.now), 0);
  assert_int_equal(firn_agent_tcp_connected(f.ag, f.connect[1].conn, 1, f.now), 0);
  assert_int_equal(drain(&f, NULL, NULL, NULL), 1); /* the check on the open one */
  advance(&f, 9 * SEC);
  assert_int_equal(drain(&f, NULL, NULL, NULL), 0); /* no retransmission over TCP */
  firn_pair_stats ps[4];
  size_t np = 0;
  assert_int_equal(firn_agent_get_pair_stats(f.ag, 0, ps, 4, &np), 0);
  assert_int_equal(np, 2);
  int failed = 0;
  for (size_t i = 0; i < np; i++) failed += ps[i].state == 4;
  assert_int_equal(failed, 1);
  advance(&f, 2 * SEC);
  assert_int_equal(firn_agent_get_pair_stats(f.ag, 0, ps, 4, &np), 0);
  assert_int_equal(ps[0].state, 4);
  assert_int_equal(ps[1].state, 4);
  /* the open connection nobody uses any more is closed */
  advance(&f, 6 * SEC);
  assert_true(was_closed(&f, f.connect[1].conn));
  assert_false(was_closed(&f, f.connect[0].conn)); /* the runtime reported that one */
  assert_int_equal(firn_agent_tcp_connected(f.ag, f.connect[0].conn, 1, f.now), FIRN_ERR_NOT_FOUND);
  tfix_free(&f);
}

/* close() asks the runtime to close every connection. */
static void test_tcp_close_agent(void **state) {
  (void)state;
  tfix f;
  tfix_new(&f, FIRN_ICE_CONTROLLED, 1);
  firn_addr l = h_addr("10.0.0.1:7000"), r = h_addr("10.0.0.2:51000");
  uint32_t conn = 0;
  assert_int_equal(firn_agent_tcp_accepted(f.ag, &l, &r, &conn, f.now), 0);
  assert_int_equal(firn_agent_close(f.ag, f.now), 0);
  assert_true(was_closed(&f, conn));
  uint8_t b[4] = {0, 2, 1, 2};
  assert_int_equal(firn_agent_handle_stream(f.ag, conn, b, 4, f.now), FIRN_ERR_NOT_FOUND);
  tfix_free(&f);
}

/* The relay policy: no TCP host candidate is announced or accepts connections. */
static void test_tcp_relay_policy(void **state) {
  (void)state;
  h_rng rng = {5};
  firn_agent_settings s;
  firn_agent_settings_default(&s);
  s.random = h_rng_fill;
  s.random_user = &rng;
  s.policy = FIRN_ICE_POLICY_RELAY;
  firn_agent *ag;
  assert_int_equal(firn_agent_new(&ag, &s), 0);
  unsigned st;
  assert_int_equal(firn_agent_add_stream(ag, 1, &st), 0);
  firn_local_address la;
  memset(&la, 0, sizeof la);
  la.addr = h_addr("10.0.0.1:7000");
  la.transport = FIRN_TRANSPORT_TCP;
  assert_int_equal(firn_agent_add_local_address(ag, 0, 1, &la, SEC), 0);
  size_t n = 0;
  firn_candidate c[4];
  assert_int_equal(firn_agent_get_local_candidates(ag, 0, c, 4, &n), 0);
  assert_int_equal(n, 0);
  uint32_t conn;
  firn_addr r = h_addr("10.0.0.2:51000");
  assert_int_equal(firn_agent_tcp_accepted(ag, &la.addr, &r, &conn, SEC), FIRN_ERR_NOT_FOUND);
  firn_agent_free(ag);
}

/* Random bytes in random chunks on accepted connections, with and without a valid check
 * first: frames of any length and content are bounded, dropped or answered, never crash;
 * a connection that sent garbage is closed and further bytes for it are refused. */
static void test_tcp_random_streams(void **state) {
  (void)state;
  h_rng r = {99};
  for (int round = 0; round < 200; round++) {
    tfix f;
    tfix_new(&f, round % 2 ? FIRN_ICE_CONTROLLED : FIRN_ICE_CONTROLLING, round % 3 != 0);
    firn_addr l = h_addr("10.0.0.1:7000"), rem = h_addr("10.0.0.9:40000");
    uint32_t conn = 0;
    assert_int_equal(firn_agent_tcp_accepted(f.ag, &l, &rem, &conn, f.now), 0);
    uint8_t buf[6000];
    size_t n = 0;
    if (round % 4 != 0) n = peer_check(&f, buf, sizeof buf, round % 5 == 0, NULL);
    size_t extra = (size_t)(h_rng_next(&r) % 5000);
    for (size_t i = 0; i < extra; i++) buf[n + i] = (uint8_t)h_rng_next(&r);
    if (h_rng_next(&r) % 2 && extra > 4) { /* a plausible frame header: small length, STUN or RTP */
      firn_put_u16(buf + n, (uint16_t)(h_rng_next(&r) % (extra - 2)));
      buf[n + 2] = h_rng_next(&r) % 2 ? 0x00 : 0x80;
    }
    n += extra;
    size_t off = 0;
    while (off < n) {
      size_t chunk = 1 + (size_t)(h_rng_next(&r) % 700);
      if (chunk > n - off) chunk = n - off;
      int rc = firn_agent_handle_stream(f.ag, conn, buf + off, chunk, f.now);
      assert_true(rc == 0 || rc == FIRN_ERR_NOT_FOUND);
      off += chunk;
      f.now += MS;
    }
    drain(&f, NULL, NULL, NULL);
    advance(&f, 10 * SEC);
    drain(&f, NULL, NULL, NULL);
    tfix_free(&f);
  }
}

/* write_data may frame in place (out == data). */
static void test_tcp_write_in_place(void **state) {
  (void)state;
  tfix f;
  tfix_new(&f, FIRN_ICE_CONTROLLED, 1);
  firn_addr l = h_addr("10.0.0.1:7000"), r = h_addr("10.0.0.2:51000");
  uint32_t conn = 0;
  assert_int_equal(firn_agent_tcp_accepted(f.ag, &l, &r, &conn, f.now), 0);
  uint8_t in[600];
  size_t n = peer_check(&f, in, sizeof in, 1, NULL);
  assert_int_equal(firn_agent_handle_stream(f.ag, conn, in, n, f.now), 0);
  advance(&f, 100 * MS);
  uint8_t buf[1500];
  firn_path p;
  firn_ssize len;
  while ((len = firn_agent_poll_transmit(f.ag, f.now, buf, sizeof buf, &p)) > 0) {
    firn_stun_msg m;
    unframe(buf, (size_t)len, &m);
    if (m.cls != FIRN_STUN_REQUEST) continue;
    firn_stun_builder b;
    firn_stun_builder_init(&b, in + 2, sizeof in - 2, FIRN_STUN_BINDING, FIRN_STUN_SUCCESS, m.tid);
    firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &l);
    firn_stun_add_integrity(&b, f.rkey);
    firn_ssize rn = firn_stun_builder_finish(&b);
    firn_put_u16(in, (uint16_t)rn);
    assert_int_equal(firn_agent_handle_stream(f.ag, conn, in, (size_t)rn + 2, f.now), 0);
  }
  assert_int_equal(f.selected, 1);
  uint8_t io[16] = {0x80, 1, 2, 3, 4, 5, 6, 7};
  len = firn_agent_write_data(f.ag, 0, 1, io, 8, io, sizeof io, &p, f.now);
  assert_int_equal(len, 10);
  static const uint8_t want[10] = {0, 8, 0x80, 1, 2, 3, 4, 5, 6, 7};
  assert_memory_equal(io, want, 10);
  tfix_free(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tcp_candidates),
      cmocka_unit_test(test_tcp_pairing),
      cmocka_unit_test(test_tcp_active_check_every_split),
      cmocka_unit_test(test_tcp_passive_every_split),
      cmocka_unit_test(test_tcp_selected_write_data),
      cmocka_unit_test(test_tcp_hostile_passive),
      cmocka_unit_test(test_tcp_connection_limits),
      cmocka_unit_test(test_tcp_connect_failure),
      cmocka_unit_test(test_tcp_close_agent),
      cmocka_unit_test(test_tcp_relay_policy),
      cmocka_unit_test(test_tcp_random_streams),
      cmocka_unit_test(test_tcp_write_in_place),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
