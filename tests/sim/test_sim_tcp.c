/* The stream model: ordered bytes in random splits, refusal, firewalls, NATs, close and reset,
 * buffer bounds. */
#include "sim_test.h"

#include <stdio.h>
#include <stdlib.h>

#define MS FIRN_NS_PER_MS
#define SEC FIRN_NS_PER_S

typedef struct peer {
  sim_tcp *c;
  int connected, connect_status;
  uint64_t connect_at;
  uint8_t *rx;
  size_t rx_len, rx_cap;
  size_t chunks, min_chunk, max_chunk;
  int closed, close_reason;
  uint64_t close_at;
  uint64_t chunk_hash; /* the split pattern, to compare runs */
} peer;

static void on_connect(void *user, sim_tcp *c, int status, uint64_t now) {
  peer *p = user;
  assert_ptr_equal(p->c, c);
  p->connected = 1;
  p->connect_status = status;
  p->connect_at = now;
}

static void on_data(void *user, sim_tcp *c, const uint8_t *data, size_t len, uint64_t now) {
  (void)c;
  (void)now;
  peer *p = user;
  assert_true(len > 0);
  if (p->rx_len + len > p->rx_cap) {
    size_t nc = p->rx_cap ? p->rx_cap * 2 : 4096;
    while (nc < p->rx_len + len) nc *= 2;
    p->rx = test_realloc(p->rx, nc);
    assert_non_null(p->rx);
    p->rx_cap = nc;
  }
  memcpy(p->rx + p->rx_len, data, len);
  p->rx_len += len;
  p->chunks++;
  if (!p->min_chunk || len < p->min_chunk) p->min_chunk = len;
  if (len > p->max_chunk) p->max_chunk = len;
  p->chunk_hash = (p->chunk_hash ^ len) * UINT64_C(0x100000001b3);
}

static void on_close(void *user, sim_tcp *c, int reason, uint64_t now) {
  (void)c;
  peer *p = user;
  p->closed = 1;
  p->close_reason = reason;
  p->close_at = now;
}

static const sim_tcp_callbacks peer_cbs = {on_connect, on_data, on_close};

static void on_accept(void *user, sim_tcp *c, uint64_t now) {
  (void)now;
  peer *p = user;
  assert_null(p->c); /* one connection per test peer */
  p->c = c;
  p->connected = 1;
  sim_tcp_set_callbacks(c, &peer_cbs, p);
}

static void peer_reset(peer *p) {
  test_free(p->rx);
  memset(p, 0, sizeof *p);
}

static int connected(void *user) { return ((peer *)user)->connected; }

/* A (10.0.0.1) and B (10.0.0.2) on one segment; B listens on 443. */
typedef struct net2 {
  sim_net *s;
  sim_segment *seg;
  sim_host *a, *b;
  sim_iface *ia, *ib;
  sim_tcp_listener *lb;
  firn_addr a_any, b_srv;
  peer pa, pb;
} net2;

static void net2_setup(net2 *n, uint64_t seed) {
  memset(n, 0, sizeof *n);
  sim_settings st;
  sim_settings_default(&st);
  st.seed = seed;
  assert_int_equal(sim_new(&n->s, &st), FIRN_OK);
  assert_int_equal(sim_segment_new(n->s, "lan", &n->seg), FIRN_OK);
  assert_int_equal(sim_host_new(n->s, "A", &n->a), FIRN_OK);
  assert_int_equal(sim_host_new(n->s, "B", &n->b), FIRN_OK);
  assert_int_equal(sim_host_add_iface(n->a, n->seg, "10.0.0.1", &n->ia), FIRN_OK);
  assert_int_equal(sim_host_add_iface(n->b, n->seg, "10.0.0.2", &n->ib), FIRN_OK);
  n->a_any = sim_addr("0.0.0.0:0");
  n->b_srv = sim_addr("10.0.0.2:443");
  assert_int_equal(sim_tcp_listen(n->b, &n->b_srv, on_accept, &n->pb, &n->lb), FIRN_OK);
}

static void net2_free(net2 *n) {
  sim_free(n->s);
  peer_reset(&n->pa);
  peer_reset(&n->pb);
}

static void pattern(uint8_t *buf, size_t len, size_t off) {
  for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)((off + i) * 31u + ((off + i) >> 8));
}

/* Ordered, complete bytes in random splits, both ways, over a jittery, lossy link. */
typedef struct writer {
  sim_tcp *c;
  size_t off, total;
  sim_timer *t;
} writer;

static void write_burst(void *user, uint64_t now) {
  writer *w = user;
  /* Several writes in one event: they may leave in one segment. */
  for (int k = 0; k < 5 && w->off < w->total; k++) {
    uint8_t buf[700];
    size_t n = w->total - w->off < sizeof buf ? w->total - w->off : sizeof buf;
    pattern(buf, n, w->off);
    assert_int_equal(sim_tcp_send(w->c, buf, n), FIRN_OK);
    w->off += n;
  }
  if (w->off < w->total) sim_timer_arm(w->t, now + 2 * MS);
}

static void run_transfer(uint64_t seed, size_t total, peer *out_a, peer *out_b) {
  net2 n;
  net2_setup(&n, seed);
  sim_link ln;
  sim_link_default(&ln);
  ln.delay_ns = 5 * MS;
  ln.jitter_ns = 3 * MS;
  ln.loss_pct = 50; /* TCP hides loss: it must not show up as missing bytes */
  ln.dup_pct = 50;
  ln.reorder_pct = 50;
  sim_iface_set_link(n.ia, SIM_BOTH, &ln);
  sim_iface_set_link(n.ib, SIM_BOTH, &ln);
  assert_int_equal(sim_tcp_connect(n.a, &n.a_any, &n.b_srv, &peer_cbs, &n.pa, &n.pa.c), FIRN_OK);
  /* Bytes written before the handshake completes wait for it. */
  uint8_t hello[3] = {0, 0, 0};
  pattern(hello, 3, 0);
  assert_int_equal(sim_tcp_send(n.pa.c, hello, 3), FIRN_OK);
  assert_int_equal(sim_run_until(n.s, connected, &n.pa, FIRN_TIME_NEVER), SIM_DONE);
  SIM_ASSERT_EQ(n.s, n.pa.connect_status, 0);
  SIM_ASSERT(n.s, n.pa.connect_at >= 20 * MS && n.pa.connect_at <= 32 * MS); /* one RTT */
  SIM_ASSERT(n.s, sim_tcp_is_open(n.pa.c) && sim_tcp_is_open(n.pb.c));
  SIM_ASSERT(n.s, firn_addr_equal(sim_tcp_local(n.pb.c), &n.b_srv));
  SIM_ASSERT(n.s, firn_addr_equal(sim_tcp_remote(n.pb.c), sim_tcp_local(n.pa.c)));
  writer wa = {n.pa.c, 3, total, NULL}, wb = {n.pb.c, 0, total, NULL};
  assert_int_equal(sim_timer_new(n.s, write_burst, &wa, &wa.t), FIRN_OK);
  assert_int_equal(sim_timer_new(n.s, write_burst, &wb, &wb.t), FIRN_OK);
  sim_timer_arm(wa.t, sim_now(n.s));
  sim_timer_arm(wb.t, sim_now(n.s));
  assert_int_equal(sim_run_until(n.s, NULL, NULL, FIRN_TIME_NEVER), SIM_IDLE);
  SIM_ASSERT_EQ(n.s, n.pb.rx_len, total);
  SIM_ASSERT_EQ(n.s, n.pa.rx_len, total);
  uint8_t *expect = test_malloc(total);
  pattern(expect, total, 0);
  SIM_ASSERT(n.s, memcmp(n.pb.rx, expect, total) == 0);
  SIM_ASSERT(n.s, memcmp(n.pa.rx, expect, total) == 0);
  test_free(expect);
  *out_a = n.pa;
  *out_b = n.pb;
  n.pa.rx = n.pb.rx = NULL; /* handed over */
  sim_stats st;
  sim_get_stats(n.s, &st);
  SIM_ASSERT_EQ(n.s, st.drop_loss + st.duplicated + st.reordered, 0);
  net2_free(&n);
}

static void test_tcp_ordered_random_chunks(void **state) {
  (void)state;
  const size_t total = 100000;
  /* Compares two seeds: an inherited replay seed must not override them. */
  char saved[64] = "";
  const char *env = getenv("FIRN_SIM_SEED");
  if (env) snprintf(saved, sizeof saved, "%s", env);
  unsetenv("FIRN_SIM_SEED");
  peer a1, b1, a2, b2, a3, b3;
  run_transfer(21, total, &a1, &b1);
  /* 143 bursts of up to 3500 bytes: many more segments than bursts, sizes from 1 up to
   * tcp_max_chunk, and segments that span writes (700-byte writes, larger chunks). */
  assert_true(b1.chunks > 143);
  assert_true(b1.min_chunk < 50);
  assert_true(b1.max_chunk > 700 && b1.max_chunk <= 1400);
  run_transfer(21, total, &a2, &b2);
  assert_true(b1.chunk_hash == b2.chunk_hash && a1.chunk_hash == a2.chunk_hash);
  run_transfer(22, total, &a3, &b3);
  assert_true(b1.chunk_hash != b3.chunk_hash);
  if (saved[0]) setenv("FIRN_SIM_SEED", saved, 1);
  peer *all[] = {&a1, &b1, &a2, &b2, &a3, &b3};
  for (size_t i = 0; i < 6; i++) peer_reset(all[i]);
}

/* Refused: RST after one round trip. Nothing reachable: the connect timeout. */
static void test_tcp_refused_and_timeout(void **state) {
  (void)state;
  net2 n;
  net2_setup(&n, 1);
  sim_link ln;
  sim_link_default(&ln);
  ln.delay_ns = 4 * MS;
  sim_iface_set_link(n.ib, SIM_BOTH, &ln);
  firn_addr closed = sim_addr("10.0.0.2:444");
  assert_int_equal(sim_tcp_connect(n.a, &n.a_any, &closed, &peer_cbs, &n.pa, &n.pa.c), FIRN_OK);
  assert_int_equal(sim_tcp_send(n.pa.c, "x", 1), FIRN_OK);
  sim_run_until(n.s, connected, &n.pa, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(n.s, n.pa.connect_status, SIM_ERR_REFUSED);
  SIM_ASSERT_EQ(n.s, n.pa.connect_at, 8 * MS);
  SIM_ASSERT(n.s, !sim_tcp_is_open(n.pa.c));
  SIM_ASSERT_EQ(n.s, sim_tcp_send(n.pa.c, "x", 1), FIRN_ERR_CLOSED);
  sim_stats st;
  sim_get_stats(n.s, &st);
  SIM_ASSERT_EQ(n.s, st.tcp_refused, 1);
  sim_tcp_close(n.pa.c);
  memset(&n.pa, 0, sizeof n.pa);

  /* An address nobody has: the SYN is lost, the connect times out after 10 s. */
  uint64_t t0 = sim_now(n.s);
  firn_addr void_addr = sim_addr("10.0.0.77:443");
  assert_int_equal(sim_tcp_connect(n.a, &n.a_any, &void_addr, &peer_cbs, &n.pa, &n.pa.c), FIRN_OK);
  sim_run_until(n.s, connected, &n.pa, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(n.s, n.pa.connect_status, SIM_ERR_TIMEDOUT);
  SIM_ASSERT_EQ(n.s, n.pa.connect_at, t0 + 10 * SEC);
  sim_tcp_close(n.pa.c);
  n.pa.c = NULL;

  /* A listener that closed refuses too; its port is free again. */
  sim_tcp_listener_close(n.lb);
  memset(&n.pa, 0, sizeof n.pa);
  assert_int_equal(sim_tcp_connect(n.a, &n.a_any, &n.b_srv, &peer_cbs, &n.pa, &n.pa.c), FIRN_OK);
  sim_run_until(n.s, connected, &n.pa, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(n.s, n.pa.connect_status, SIM_ERR_REFUSED);
  assert_int_equal(sim_tcp_listen(n.b, &n.b_srv, on_accept, &n.pb, &n.lb), FIRN_OK);
  SIM_ASSERT_EQ(n.s, sim_tcp_listener_local(n.lb)->port, 443);
  net2_free(&n);
}

/* A firewall that blocks TCP makes connects time out while UDP still flows, and the reverse. */
static void test_tcp_firewall(void **state) {
  (void)state;
  for (int block_tcp = 1; block_tcp >= 0; block_tcp--) {
    net2 n;
    net2_setup(&n, 2);
    sim_link fw;
    sim_link_default(&fw);
    fw.block_tcp = block_tcp;
    fw.block_udp = !block_tcp;
    sim_iface_set_link(n.ia, SIM_UP, &fw);
    sim_recorder *rec = sim_recorder_new();
    sim_udp *ua, *ub;
    firn_addr a_udp = sim_addr("10.0.0.1:5000"), b_udp = sim_addr("10.0.0.2:5000");
    assert_int_equal(sim_udp_open(n.a, &a_udp, NULL, NULL, &ua), FIRN_OK);
    assert_int_equal(sim_udp_open(n.b, &b_udp, sim_recorder_cb, rec, &ub), FIRN_OK);
    assert_int_equal(sim_udp_send(ua, &b_udp, "u", 1), FIRN_OK);
    assert_int_equal(sim_tcp_connect(n.a, &n.a_any, &n.b_srv, &peer_cbs, &n.pa, &n.pa.c), FIRN_OK);
    sim_run_until(n.s, connected, &n.pa, FIRN_TIME_NEVER);
    sim_stats st;
    sim_get_stats(n.s, &st);
    if (block_tcp) {
      SIM_ASSERT_EQ(n.s, n.pa.connect_status, SIM_ERR_TIMEDOUT);
      SIM_ASSERT_EQ(n.s, n.pa.connect_at, 10 * SEC);
      SIM_ASSERT(n.s, n.pb.c == NULL);
      SIM_ASSERT_EQ(n.s, rec->total, 1);
    } else {
      SIM_ASSERT_EQ(n.s, n.pa.connect_status, 0);
      SIM_ASSERT_EQ(n.s, n.pa.connect_at, 0);
      SIM_ASSERT_EQ(n.s, rec->total, 0);
    }
    /* The SYN at 0 s and its retransmissions at 1, 3 and 7 s; or the one datagram. */
    SIM_ASSERT_EQ(n.s, st.drop_firewall, block_tcp ? 4 : 1);
    test_free(rec);
    net2_free(&n);
  }
}

/* Close: bytes written before close arrive, then the peer sees FIN. Abort: RST. */
static void test_tcp_close_and_abort(void **state) {
  (void)state;
  net2 n;
  net2_setup(&n, 3);
  assert_int_equal(sim_tcp_connect(n.a, &n.a_any, &n.b_srv, &peer_cbs, &n.pa, &n.pa.c), FIRN_OK);
  sim_run_until(n.s, connected, &n.pa, FIRN_TIME_NEVER);
  uint8_t big[5000];
  pattern(big, sizeof big, 0);
  assert_int_equal(sim_tcp_send(n.pa.c, big, sizeof big), FIRN_OK);
  sim_tcp_close(n.pa.c); /* flushes, then FIN */
  n.pa.c = NULL;
  sim_run_until(n.s, NULL, NULL, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(n.s, n.pb.rx_len, sizeof big);
  SIM_ASSERT(n.s, memcmp(n.pb.rx, big, sizeof big) == 0);
  SIM_ASSERT_EQ(n.s, n.pb.closed, 1);
  SIM_ASSERT_EQ(n.s, n.pb.close_reason, 0);
  SIM_ASSERT_EQ(n.s, sim_tcp_send(n.pb.c, "late", 4), FIRN_ERR_CLOSED);
  sim_tcp_close(n.pb.c);
  peer_reset(&n.pb);

  /* Abort: the peer sees a reset. */
  memset(&n.pa, 0, sizeof n.pa);
  assert_int_equal(sim_tcp_connect(n.a, &n.a_any, &n.b_srv, &peer_cbs, &n.pa, &n.pa.c), FIRN_OK);
  sim_run_until(n.s, connected, &n.pa, FIRN_TIME_NEVER);
  sim_tcp_abort(n.pb.c);
  n.pb.c = NULL;
  sim_run_until(n.s, NULL, NULL, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(n.s, n.pa.closed, 1);
  SIM_ASSERT_EQ(n.s, n.pa.close_reason, SIM_ERR_RESET);
  SIM_ASSERT_EQ(n.s, sim_tcp_send(n.pa.c, "x", 1), FIRN_ERR_CLOSED);
  /* The reset handle is still held; a new connection on the same 4-tuple is a new one. */
  firn_addr same_local = *sim_tcp_local(n.pa.c);
  sim_tcp *old = n.pa.c;
  memset(&n.pa, 0, sizeof n.pa);
  assert_int_equal(sim_tcp_connect(n.a, &same_local, &n.b_srv, &peer_cbs, &n.pa, &n.pa.c), FIRN_OK);
  sim_run_until(n.s, connected, &n.pa, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(n.s, n.pa.connect_status, 0);
  SIM_ASSERT(n.s, n.pb.c != NULL && sim_tcp_is_open(n.pb.c));
  sim_tcp_close(old);
  net2_free(&n);
}

/* Through a NAT: the server sees the external address; an inside listener is unreachable. */
static void test_tcp_through_nat(void **state) {
  (void)state;
  sim_net *s;
  assert_int_equal(sim_new(&s, NULL), FIRN_OK);
  sim_segment *lan, *wan;
  assert_int_equal(sim_segment_new(s, "lan", &lan), FIRN_OK);
  assert_int_equal(sim_segment_new(s, "wan", &wan), FIRN_OK);
  sim_nat *nat;
  assert_int_equal(sim_nat_new(s, "nat", NULL, lan, "192.168.0.1", wan, "198.51.100.9", &nat), FIRN_OK);
  sim_host *c, *srv;
  assert_int_equal(sim_host_new(s, "C", &c), FIRN_OK);
  assert_int_equal(sim_host_new(s, "S", &srv), FIRN_OK);
  assert_int_equal(sim_host_add_iface(c, lan, "192.168.0.5", NULL), FIRN_OK);
  assert_int_equal(sim_host_add_iface(srv, wan, "203.0.113.5", NULL), FIRN_OK);
  peer pc = {0}, ps = {0}, pin = {0}, pout = {0};
  sim_tcp_listener *ls, *lc;
  firn_addr srv_addr = sim_addr("203.0.113.5:443"), c_local = sim_addr("192.168.0.5:40000");
  firn_addr c_listen = sim_addr("192.168.0.5:9"), any4 = sim_addr("0.0.0.0:0");
  assert_int_equal(sim_tcp_listen(srv, &srv_addr, on_accept, &ps, &ls), FIRN_OK);
  assert_int_equal(sim_tcp_listen(c, &c_listen, on_accept, &pin, &lc), FIRN_OK);
  assert_int_equal(sim_tcp_connect(c, &c_local, &srv_addr, &peer_cbs, &pc, &pc.c), FIRN_OK);
  sim_run_until(s, connected, &pc, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(s, pc.connect_status, 0);
  char buf[FIRN_ADDR_STRLEN];
  assert_string_equal(sim_addr_str(sim_tcp_remote(ps.c), buf), "198.51.100.9:40000");
  assert_int_equal(sim_tcp_send(ps.c, "hi", 2), FIRN_OK);
  sim_run_until(s, NULL, NULL, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(s, pc.rx_len, 2);
  SIM_ASSERT_EQ(s, sim_nat_mapping_count(nat), 1);
  /* From outside to the inside listener's would-be external port: no mapping, SYN dropped. */
  firn_addr ext9 = sim_addr("198.51.100.9:9");
  assert_int_equal(sim_tcp_connect(srv, &any4, &ext9, &peer_cbs, &pout, &pout.c), FIRN_OK);
  sim_run_until(s, connected, &pout, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(s, pout.connect_status, SIM_ERR_TIMEDOUT);
  SIM_ASSERT(s, pin.c == NULL);
  sim_stats st;
  sim_get_stats(s, &st);
  SIM_ASSERT_EQ(s, st.drop_nat_mapping, 4); /* SYN at 0, 1, 3, 7 s */
  /* A second connection from the same inside port (ICE-TCP style: the listener's port) works. */
  peer pc2 = {0};
  assert_int_equal(sim_tcp_connect(c, &c_listen, &srv_addr, &peer_cbs, &pc2, &pc2.c), FIRN_OK);
  assert_int_equal(sim_tcp_connect(c, &c_local, &srv_addr, &peer_cbs, &pc2, &pc2.c), FIRN_ERR_STATE);
  sim_free(s);
  peer_reset(&pc);
  peer_reset(&ps);
}

/* A cut under an established connection: the sender's unacknowledged bytes reset it after
 * tcp_abort_ns. */
static void test_tcp_cut_resets_sender(void **state) {
  (void)state;
  net2 n;
  net2_setup(&n, 4);
  assert_int_equal(sim_tcp_connect(n.a, &n.a_any, &n.b_srv, &peer_cbs, &n.pa, &n.pa.c), FIRN_OK);
  sim_run_until(n.s, connected, &n.pa, FIRN_TIME_NEVER);
  sim_iface_set_down(n.ib, 1);
  uint64_t t0 = sim_now(n.s);
  assert_int_equal(sim_tcp_send(n.pa.c, "lost", 4), FIRN_OK);
  sim_run_until(n.s, NULL, NULL, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(n.s, n.pa.closed, 1);
  SIM_ASSERT_EQ(n.s, n.pa.close_reason, SIM_ERR_RESET);
  SIM_ASSERT_EQ(n.s, n.pa.close_at, t0 + 10 * SEC);
  SIM_ASSERT_EQ(n.s, n.pb.rx_len, 0);
  SIM_ASSERT_EQ(n.s, n.pb.closed, 0); /* the receiver just hears nothing */
  net2_free(&n);
}

/* SYN retransmission: a path that comes back during the connect lets it succeed. */
static void restore(void *user, uint64_t now) {
  (void)now;
  sim_iface_set_down(user, 0);
}

static void test_tcp_syn_retransmission(void **state) {
  (void)state;
  net2 n;
  net2_setup(&n, 5);
  sim_iface_set_down(n.ib, 1);
  assert_int_equal(sim_at(n.s, 2500 * MS, restore, n.ib), FIRN_OK);
  assert_int_equal(sim_tcp_connect(n.a, &n.a_any, &n.b_srv, &peer_cbs, &n.pa, &n.pa.c), FIRN_OK);
  sim_run_until(n.s, connected, &n.pa, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(n.s, n.pa.connect_status, 0);
  SIM_ASSERT_EQ(n.s, n.pa.connect_at, 3 * SEC); /* SYNs at 0 and 1 s lost, the one at 3 s not */
  sim_stats st;
  sim_get_stats(n.s, &st);
  SIM_ASSERT_EQ(n.s, st.drop_down, 2);
  net2_free(&n);
}

/* Simultaneous open through two NATs (ICE-TCP S-O): both ends connect to each other's
 * external address from the port they expose; the crossing SYNs open both sides. With B
 * late, A's first SYN dies at B's NAT, and B's SYN through A's open mapping completes it. */
static void test_tcp_simultaneous_open(void **state) {
  (void)state;
  for (int b_late = 0; b_late <= 1; b_late++) {
    sim_net *s;
    assert_int_equal(sim_new(&s, NULL), FIRN_OK);
    sim_segment *la, *lb, *wan;
    assert_int_equal(sim_segment_new(s, "lanA", &la), FIRN_OK);
    assert_int_equal(sim_segment_new(s, "lanB", &lb), FIRN_OK);
    assert_int_equal(sim_segment_new(s, "wan", &wan), FIRN_OK);
    sim_nat_config cfg;
    sim_nat_config_default(&cfg);
    cfg.filtering = SIM_NAT_APD; /* port-restricted: only what was sent to gets in */
    sim_nat *na, *nb;
    assert_int_equal(sim_nat_new(s, "natA", &cfg, la, "10.0.0.1", wan, "198.51.100.1", &na), FIRN_OK);
    assert_int_equal(sim_nat_new(s, "natB", &cfg, lb, "10.0.0.1", wan, "198.51.100.2", &nb), FIRN_OK);
    sim_host *a, *b;
    assert_int_equal(sim_host_new(s, "A", &a), FIRN_OK);
    assert_int_equal(sim_host_new(s, "B", &b), FIRN_OK);
    assert_int_equal(sim_host_add_iface(a, la, "10.0.0.2", NULL), FIRN_OK);
    assert_int_equal(sim_host_add_iface(b, lb, "10.0.0.2", NULL), FIRN_OK);
    sim_link wire;
    sim_link_default(&wire);
    wire.delay_ns = 10 * MS;
    sim_iface_set_link(sim_nat_outside(na), SIM_BOTH, &wire);
    sim_iface_set_link(sim_nat_outside(nb), SIM_BOTH, &wire);
    firn_addr local = sim_addr("10.0.0.2:9000");
    firn_addr a_ext = sim_addr("198.51.100.1:9000"), b_ext = sim_addr("198.51.100.2:9000");
    peer pa = {0}, pb = {0};
    assert_int_equal(sim_tcp_connect(a, &local, &b_ext, &peer_cbs, &pa, &pa.c), FIRN_OK);
    if (b_late) sim_run_for(s, 500 * MS);
    assert_int_equal(sim_tcp_connect(b, &local, &a_ext, &peer_cbs, &pb, &pb.c), FIRN_OK);
    assert_int_equal(sim_tcp_send(pa.c, "from A", 6), FIRN_OK);
    assert_int_equal(sim_tcp_send(pb.c, "from B", 6), FIRN_OK);
    sim_run_until(s, NULL, NULL, 5 * SEC);
    SIM_ASSERT(s, pa.connected && pb.connected);
    SIM_ASSERT_EQ(s, pa.connect_status, 0);
    SIM_ASSERT_EQ(s, pb.connect_status, 0);
    SIM_ASSERT(s, pa.rx_len == 6 && memcmp(pa.rx, "from B", 6) == 0);
    SIM_ASSERT(s, pb.rx_len == 6 && memcmp(pb.rx, "from A", 6) == 0);
    if (b_late) SIM_ASSERT_EQ(s, pa.connect_at, 500 * MS + 20 * MS); /* B's SYN arrives */
    else SIM_ASSERT_EQ(s, pa.connect_at, 20 * MS);
    sim_stats st;
    sim_get_stats(s, &st);
    SIM_ASSERT_EQ(s, st.drop_nat_mapping, b_late ? 1 : 0); /* B's NAT had no mapping yet */
    SIM_ASSERT_EQ(s, st.drop_nat_filter, 0);
    SIM_ASSERT_EQ(s, st.tcp_refused, 0);
    sim_free(s);
    peer_reset(&pa);
    peer_reset(&pb);
  }
}

/* Bounds: the send buffer; bad arguments; port conflicts. */
static void test_tcp_bounds(void **state) {
  (void)state;
  sim_settings st;
  sim_settings_default(&st);
  st.tcp_sndbuf = 1000;
  sim_net *s;
  assert_int_equal(sim_new(&s, &st), FIRN_OK);
  sim_segment *seg;
  sim_host *a;
  assert_int_equal(sim_segment_new(s, "lan", &seg), FIRN_OK);
  assert_int_equal(sim_host_new(s, "A", &a), FIRN_OK);
  assert_int_equal(sim_host_add_iface(a, seg, "10.0.0.1", NULL), FIRN_OK);
  firn_addr any = sim_addr("0.0.0.0:0"), far = sim_addr("10.0.0.9:80"), p80 = sim_addr("0.0.0.0:80");
  sim_tcp *c;
  peer p = {0};
  assert_int_equal(sim_tcp_connect(a, &any, &far, NULL, NULL, &c), FIRN_OK);
  uint8_t buf[600] = {0};
  assert_int_equal(sim_tcp_send(c, buf, 600), FIRN_OK);
  assert_int_equal(sim_tcp_send(c, buf, 400), FIRN_OK);
  assert_int_equal(sim_tcp_send(c, buf, 1), FIRN_ERR_LIMIT);
  firn_addr v6 = sim_addr("[2001:db8::1]:80"), noport = sim_addr("10.0.0.9:0");
  assert_int_equal(sim_tcp_connect(a, &any, &v6, NULL, NULL, &c), FIRN_ERR_INVALID_ARG);
  assert_int_equal(sim_tcp_connect(a, &any, &noport, NULL, NULL, &c), FIRN_ERR_INVALID_ARG);
  sim_tcp_listener *l1, *l2;
  assert_int_equal(sim_tcp_listen(a, &p80, on_accept, &p, &l1), FIRN_OK);
  firn_addr spec80 = sim_addr("10.0.0.1:80");
  assert_int_equal(sim_tcp_listen(a, &spec80, on_accept, &p, &l2), FIRN_ERR_STATE);
  assert_int_equal(sim_tcp_listen(a, &any, on_accept, &p, &l2), FIRN_OK);
  SIM_ASSERT(s, sim_tcp_listener_local(l2)->port >= 49152);
  sim_free(s); /* frees the pending connection and its buffer, the listeners */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tcp_ordered_random_chunks),
      cmocka_unit_test(test_tcp_refused_and_timeout),
      cmocka_unit_test(test_tcp_firewall),
      cmocka_unit_test(test_tcp_close_and_abort),
      cmocka_unit_test(test_tcp_through_nat),
      cmocka_unit_test(test_tcp_cut_resets_sender),
      cmocka_unit_test(test_tcp_syn_retransmission),
      cmocka_unit_test(test_tcp_simultaneous_open),
      cmocka_unit_test(test_tcp_bounds),
  };
  return cmocka_run_group_tests_name("sim_tcp", tests, NULL, NULL);
}
