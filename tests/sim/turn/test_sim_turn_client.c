/* firn's TURN client on the simulated network against the in-process TURN server
 * (tests/sim/sim_turn.c, written independently with the raw codec): the cases where timing,
 * loss and NATs matter.
 *
 *   A 192.168.1.10 --lanA-- NAT-A 198.51.100.1 --wan-- T 203.0.113.3 (TURN UDP/TCP 3478,
 *   B 192.168.2.10 --lanB-- NAT-B 198.51.100.2 --/        TLS 5349)
 *
 * - both clients behind symmetric NATs with 10 % loss and jitter on every link: allocate,
 *   permissions, channels, data both ways, and an hour of virtual time with media-like traffic
 *   every 10 s: allocation, permission and channel refreshes all happen and data still flows;
 * - the server's nonce expires every 100 s: refreshes meet 438 and carry on;
 * - UDP blocked at A's NAT: TURN over TCP (the simulator splits the stream at random) and
 *   over TLS (the server's generated certificate as the CA) relay to B's UDP allocation;
 * - an idle client whose NAT mapping expires: its refresh arrives from a new 5-tuple, the
 *   server answers 437 and the client reports the mismatch;
 * - an unreachable server (timeout after 39.5 s) and a refusing one (486), reported;
 * - close: deallocation reaches the server.
 * Every run is deterministic in FIRN_SIM_SEED (printed on failure by the simulator). */
#include "sim_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "turn/turn.h"

#define MS FIRN_NS_PER_MS
#define SEC FIRN_NS_PER_S

typedef struct cli {
  sim_net *s;
  sim_host *host;
  firn_addr local;
  firn_transport tr;
  sim_udp *udp;
  sim_tcp *tcp;
  sim_timer *timer;
  sim_rng rng;
  firn_turn *t;
  int ndata;
  firn_addr data_peer;
  char data[512];
} cli;

typedef struct world {
  sim_net *s;
  sim_segment *lana, *lanb, *wan;
  sim_nat *nata, *natb;
  sim_host *ha, *hb, *ht;
  sim_turn_server *srv;
  firn_addr srv_udp, srv_tls;
  char ca_path[64];
  cli a, b;
} world;

static void pump(cli *c);

static void on_timer(void *user, uint64_t now) {
  (void)now;
  pump(user);
}

static void pump(cli *c) {
  if (!c->t) return;
  uint64_t now = sim_now(c->s);
  firn_turn_handle_expiry(c->t, now);
  uint8_t buf[2048];
  firn_addr dest;
  firn_ssize n;
  while ((n = firn_turn_poll_transmit(c->t, now, buf, sizeof buf, &dest)) > 0) {
    if (c->tr == FIRN_TRANSPORT_UDP) sim_udp_send(c->udp, &dest, buf, (size_t)n);
    else if (c->tcp) sim_tcp_send(c->tcp, buf, (size_t)n);
  }
  sim_timer_arm(c->timer, firn_turn_expiry(c->t));
}

static void on_udp(void *user, const firn_addr *local, const firn_addr *remote, const uint8_t *data, size_t len,
                   uint64_t now) {
  (void)local;
  cli *c = user;
  if (!c->t) return;
  firn_turn_handle_datagram(c->t, remote, data, len, now);
  pump(c);
}

static void tcp_connected(void *user, sim_tcp *t, int status, uint64_t now) {
  cli *c = user;
  if (status != 0) {
    sim_tcp_close(t); /* the test owns the handle */
    c->tcp = NULL;
  }
  firn_turn_connected(c->t, status == 0, now);
  pump(c);
}

static void tcp_data(void *user, sim_tcp *t, const uint8_t *data, size_t len, uint64_t now) {
  (void)t;
  cli *c = user;
  firn_turn_handle_stream(c->t, data, len, now);
  pump(c);
}

static void tcp_closed(void *user, sim_tcp *t, int reason, uint64_t now) {
  (void)reason;
  cli *c = user;
  sim_tcp_close(t);
  c->tcp = NULL;
  firn_turn_connection_closed(c->t, now);
  pump(c);
}

static void cb_connect(void *user, firn_turn *t, const firn_addr *server) {
  (void)t;
  cli *c = user;
  sim_tcp_callbacks cbs = {tcp_connected, tcp_data, tcp_closed};
  firn_addr from = c->local;
  from.port = 0;
  assert_int_equal(sim_tcp_connect(c->host, &from, server, &cbs, c, &c->tcp), FIRN_OK);
}

static void cb_close(void *user, firn_turn *t) {
  (void)t;
  cli *c = user;
  if (c->tcp) sim_tcp_close(c->tcp);
  c->tcp = NULL;
}

static void cb_data(void *user, firn_turn *t, const firn_addr *peer, const uint8_t *data, size_t len, uint64_t now) {
  (void)t;
  (void)now;
  cli *c = user;
  c->ndata++;
  c->data_peer = *peer;
  size_t n = len < sizeof c->data - 1 ? len : sizeof c->data - 1;
  memcpy(c->data, data, n);
  c->data[n] = 0;
}

static void cli_open(world *w, cli *c, sim_host *host, const char *local, firn_transport tr, uint64_t stream) {
  memset(c, 0, sizeof *c);
  c->s = w->s;
  c->host = host;
  c->tr = tr;
  c->local = sim_addr(local);
  sim_rng_derive(w->s, stream, &c->rng);
  assert_int_equal(sim_timer_new(w->s, on_timer, c, &c->timer), FIRN_OK);
  if (tr == FIRN_TRANSPORT_UDP) assert_int_equal(sim_udp_open(host, &c->local, on_udp, c, &c->udp), FIRN_OK);
  firn_turn_settings s;
  firn_turn_settings_default(&s);
  s.random = sim_rng_fill;
  s.random_user = &c->rng;
  s.server = tr == FIRN_TRANSPORT_TLS ? w->srv_tls : w->srv_udp;
  s.local = c->local;
  s.transport = tr;
  s.username = "user";
  s.password = "pass";
  s.tls_ca_file = w->ca_path[0] ? w->ca_path : NULL;
  s.tls_server_name = "turn.sim.test";
  s.callbacks.on_data = cb_data;
  s.callbacks.on_connect = cb_connect;
  s.callbacks.on_close_connection = cb_close;
  s.user = c;
  assert_int_equal(firn_turn_new(&c->t, &s), FIRN_OK);
}

static void cli_close(cli *c) {
  firn_turn_free(c->t);
  c->t = NULL;
}

static void world_new(world *w, const sim_nat_config *nat, const sim_turn_config *tcfg, const sim_link *link) {
  memset(w, 0, sizeof *w);
  assert_int_equal(sim_new(&w->s, NULL), FIRN_OK);
  assert_int_equal(sim_segment_new(w->s, "lanA", &w->lana), FIRN_OK);
  assert_int_equal(sim_segment_new(w->s, "lanB", &w->lanb), FIRN_OK);
  assert_int_equal(sim_segment_new(w->s, "wan", &w->wan), FIRN_OK);
  assert_int_equal(sim_nat_new(w->s, "natA", nat, w->lana, "192.168.1.1", w->wan, "198.51.100.1", &w->nata), FIRN_OK);
  assert_int_equal(sim_nat_new(w->s, "natB", nat, w->lanb, "192.168.2.1", w->wan, "198.51.100.2", &w->natb), FIRN_OK);
  assert_int_equal(sim_host_new(w->s, "A", &w->ha), FIRN_OK);
  assert_int_equal(sim_host_new(w->s, "B", &w->hb), FIRN_OK);
  assert_int_equal(sim_host_new(w->s, "T", &w->ht), FIRN_OK);
  sim_iface *ia, *ib;
  assert_int_equal(sim_host_add_iface(w->ha, w->lana, "192.168.1.10", &ia), FIRN_OK);
  assert_int_equal(sim_host_add_iface(w->hb, w->lanb, "192.168.2.10", &ib), FIRN_OK);
  assert_int_equal(sim_host_add_iface(w->ht, w->wan, "203.0.113.3", NULL), FIRN_OK);
  if (link) {
    sim_iface_set_link(ia, SIM_BOTH, link);
    sim_iface_set_link(ib, SIM_BOTH, link);
  }
  w->srv_udp = sim_addr("203.0.113.3:3478");
  w->srv_tls = sim_addr("203.0.113.3:5349");
  sim_turn_config cfg;
  sim_turn_config_default(&cfg);
  if (tcfg) cfg = *tcfg;
  assert_int_equal(sim_turn_server_new(w->ht, &w->srv_udp, &w->srv_udp, &cfg, &w->srv), FIRN_OK);
}

static void world_tls(world *w) {
  assert_int_equal(sim_turn_server_listen_tls(w->srv, &w->srv_tls, "turn.sim.test"), FIRN_OK);
  snprintf(w->ca_path, sizeof w->ca_path, "/tmp/firn-simturn-ca-XXXXXX");
  int fd = mkstemp(w->ca_path);
  assert_true(fd >= 0);
  const char *pem = sim_turn_server_cert_pem(w->srv);
  assert_non_null(pem);
  assert_int_equal(write(fd, pem, strlen(pem)), (ssize_t)strlen(pem));
  close(fd);
}

static void world_free(world *w) {
  cli_close(&w->a);
  cli_close(&w->b);
  sim_free(w->s);
  if (w->ca_path[0]) unlink(w->ca_path);
}

static int both_ready(void *user) {
  world *w = user;
  return firn_turn_get_state(w->a.t) >= FIRN_TURN_READY && firn_turn_get_state(w->b.t) >= FIRN_TURN_READY;
}

static void start_both(world *w) {
  assert_int_equal(firn_turn_start(w->a.t, sim_now(w->s)), FIRN_OK);
  assert_int_equal(firn_turn_start(w->b.t, sim_now(w->s)), FIRN_OK);
  pump(&w->a);
  pump(&w->b);
  sim_run_until(w->s, both_ready, w, sim_now(w->s) + 60 * SEC);
  assert_int_equal(firn_turn_get_state(w->a.t), FIRN_TURN_READY);
  assert_int_equal(firn_turn_get_state(w->b.t), FIRN_TURN_READY);
}

static firn_addr relayed(const cli *c) {
  firn_turn_info i;
  firn_turn_get_info(c->t, &i);
  return i.relayed[0];
}

/* Send `text` from c to `peer` until the other side `d` has it (loss: a few tries). */
typedef struct wait_data {
  cli *d;
  int want;
} wait_data;
static int got_data(void *user) {
  wait_data *wd = user;
  return wd->d->ndata >= wd->want;
}

static void send_until(world *w, cli *c, cli *d, const char *text) {
  firn_addr peer = relayed(d);
  int want = d->ndata + 1;
  for (int tries = 0; tries < 20 && d->ndata < want; tries++) {
    uint8_t out[512];
    firn_ssize n = firn_turn_wrap(c->t, &peer, (const uint8_t *)text, strlen(text), out, sizeof out);
    if (n < 0) fail_msg("wrap: %s", firn_strerror((int)n));
    firn_turn_info i;
    firn_turn_get_info(c->t, &i);
    if (c->tr == FIRN_TRANSPORT_UDP) sim_udp_send(c->udp, &i.server, out, (size_t)n);
    else sim_tcp_send(c->tcp, out, (size_t)n);
    wait_data wd = {d, want};
    sim_run_until(w->s, got_data, &wd, sim_now(w->s) + 500 * MS);
  }
  if (d->ndata < want) fail_msg("\"%s\" never arrived (seed %llu)", text, (unsigned long long)sim_seed(w->s));
  firn_addr from = relayed(c);
  assert_true(firn_addr_equal(&d->data_peer, &from));
  assert_string_equal(d->data, text);
}

typedef struct pair_ready {
  world *w;
  int channels;
} pair_ready;
static int permitted(void *user) {
  pair_ready *p = user;
  firn_addr ra = relayed(&p->w->a), rb = relayed(&p->w->b);
  if (p->channels) return firn_turn_channel(p->w->a.t, &rb) && firn_turn_channel(p->w->b.t, &ra);
  return firn_turn_has_permission(p->w->a.t, &rb) && firn_turn_has_permission(p->w->b.t, &ra);
}

/* Permissions, data, channels, data. */
static void relay_both_ways(world *w) {
  firn_addr ra = relayed(&w->a), rb = relayed(&w->b);
  uint64_t now = sim_now(w->s);
  assert_int_equal(firn_turn_permit(w->a.t, &rb, now), FIRN_OK);
  assert_int_equal(firn_turn_permit(w->b.t, &ra, now), FIRN_OK);
  pump(&w->a);
  pump(&w->b);
  pair_ready p = {w, 0};
  assert_int_equal(sim_run_until(w->s, permitted, &p, now + 60 * SEC), SIM_DONE);
  send_until(w, &w->a, &w->b, "indication a->b");
  send_until(w, &w->b, &w->a, "indication b->a");
  now = sim_now(w->s);
  assert_int_equal(firn_turn_bind_channel(w->a.t, &rb, now, NULL), FIRN_OK);
  assert_int_equal(firn_turn_bind_channel(w->b.t, &ra, now, NULL), FIRN_OK);
  pump(&w->a);
  pump(&w->b);
  p.channels = 1;
  assert_int_equal(sim_run_until(w->s, permitted, &p, now + 60 * SEC), SIM_DONE);
  send_until(w, &w->a, &w->b, "channel a->b");
  send_until(w, &w->b, &w->a, "channel b->a");
}

static void test_symmetric_nats_lossy_hour(void **state) {
  (void)state;
  sim_nat_config nat;
  sim_nat_config_symmetric(&nat);
  sim_link link;
  sim_link_default(&link);
  link.delay_ns = 20 * MS;
  link.jitter_ns = 10 * MS;
  link.loss_pct = 10;
  sim_turn_config tcfg;
  sim_turn_config_default(&tcfg);
  tcfg.nonce_lifetime_ns = 100 * SEC; /* refreshes meet 438 */
  world w;
  world_new(&w, &nat, &tcfg, &link);
  cli_open(&w, &w.a, w.ha, "192.168.1.10:5000", FIRN_TRANSPORT_UDP, 1);
  cli_open(&w, &w.b, w.hb, "192.168.2.10:5000", FIRN_TRANSPORT_UDP, 2);
  start_both(&w);
  relay_both_ways(&w);
  /* an hour with media-like traffic every 10 s keeping the NAT mappings open */
  uint64_t end = sim_now(w.s) + 3600 * SEC;
  int round = 0;
  while (sim_now(w.s) < end) {
    char text[32];
    snprintf(text, sizeof text, "tick %d", round++);
    send_until(&w, round & 1 ? &w.a : &w.b, round & 1 ? &w.b : &w.a, text);
    sim_run_for(w.s, 10 * SEC);
    assert_int_equal(firn_turn_get_state(w.a.t), FIRN_TURN_READY);
    assert_int_equal(firn_turn_get_state(w.b.t), FIRN_TURN_READY);
  }
  firn_turn_stats sa;
  firn_turn_get_stats(w.a.t, &sa);
  sim_turn_stats ss;
  sim_turn_server_stats(w.srv, &ss);
  /* 3600 s: allocation refreshed every 540 s, permission every 240 s, channel every 540 s */
  assert_true(sa.refreshes >= 6);
  assert_true(sa.permission_refreshes >= 14);
  assert_true(sa.channel_refreshes >= 6);
  assert_true(ss.stale_nonce > 0);
  assert_true(sa.stale_nonces > 0);
  assert_true(sa.channel_data_in > 100);
  /* close: deallocations reach the server */
  uint64_t dealloc_before = ss.deallocations;
  firn_turn_close(w.a.t, sim_now(w.s));
  firn_turn_close(w.b.t, sim_now(w.s));
  pump(&w.a);
  pump(&w.b);
  sim_run_for(w.s, 10 * SEC);
  assert_int_equal(firn_turn_get_state(w.a.t), FIRN_TURN_CLOSED);
  assert_int_equal(firn_turn_get_state(w.b.t), FIRN_TURN_CLOSED);
  sim_turn_server_stats(w.srv, &ss);
  assert_true(ss.deallocations >= dealloc_before + 1); /* under loss one may only time out */
  world_free(&w);
}

/* UDP blocked at A's NAT: TCP, then TLS, to the server; B over UDP. */
static void blocked_udp_case(firn_transport tr) {
  sim_nat_config nat;
  sim_nat_config_default(&nat);
  world w;
  world_new(&w, &nat, NULL, NULL);
  if (tr == FIRN_TRANSPORT_TLS) world_tls(&w);
  sim_link block;
  sim_link_default(&block);
  block.block_udp = 1;
  sim_iface_set_link(sim_nat_outside(w.nata), SIM_BOTH, &block);
  /* a UDP allocation from A cannot work */
  cli probe;
  cli_open(&w, &probe, w.ha, "192.168.1.10:6000", FIRN_TRANSPORT_UDP, 9);
  assert_int_equal(firn_turn_start(probe.t, sim_now(w.s)), FIRN_OK);
  pump(&probe);
  sim_run_for(w.s, 60 * SEC);
  firn_turn_info info;
  firn_turn_get_info(probe.t, &info);
  assert_int_equal(info.state, FIRN_TURN_FAILED);
  assert_int_equal(info.failure, FIRN_TURN_FAIL_TIMEOUT);
  cli_close(&probe);
  cli_open(&w, &w.a, w.ha, "192.168.1.10:5000", tr, 1);
  cli_open(&w, &w.b, w.hb, "192.168.2.10:5000", FIRN_TRANSPORT_UDP, 2);
  start_both(&w);
  relay_both_ways(&w);
  /* a long message through the stream, which the simulator splits at random */
  char big[400];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = 0;
  send_until(&w, &w.b, &w.a, big);
  firn_turn_close(w.a.t, sim_now(w.s));
  pump(&w.a);
  sim_run_for(w.s, 5 * SEC);
  assert_int_equal(firn_turn_get_state(w.a.t), FIRN_TURN_CLOSED);
  assert_null(w.a.tcp);
  world_free(&w);
}

static void test_udp_blocked_tcp(void **state) {
  (void)state;
  blocked_udp_case(FIRN_TRANSPORT_TCP);
}
static void test_udp_blocked_tls(void **state) {
  (void)state;
  blocked_udp_case(FIRN_TRANSPORT_TLS);
}

/* An idle client behind a NAT with 120 s mappings: its first refresh (540 s) leaves from a new
 * mapping, the server does not know that 5-tuple and answers 437: reported as a mismatch so
 * the owner restarts. */
static void test_nat_rebinding_437(void **state) {
  (void)state;
  sim_nat_config nat;
  sim_nat_config_symmetric(&nat);
  world w;
  world_new(&w, &nat, NULL, NULL);
  cli_open(&w, &w.a, w.ha, "192.168.1.10:5000", FIRN_TRANSPORT_UDP, 1);
  cli_open(&w, &w.b, w.hb, "192.168.2.10:5000", FIRN_TRANSPORT_UDP, 2);
  start_both(&w);
  sim_run_for(w.s, 600 * SEC);
  firn_turn_info info;
  firn_turn_get_info(w.a.t, &info);
  assert_int_equal(info.state, FIRN_TURN_FAILED);
  assert_int_equal(info.failure, FIRN_TURN_FAIL_MISMATCH);
  assert_int_equal(info.error_code, 437);
  world_free(&w);
}

/* Unreachable and refusing servers end with a reason, in bounded time. */
static void test_unreachable_and_refused(void **state) {
  (void)state;
  sim_nat_config nat;
  sim_nat_config_default(&nat);
  world w;
  world_new(&w, &nat, NULL, NULL);
  sim_iface_set_down(sim_host_iface(w.ht, 0), 1);
  cli_open(&w, &w.a, w.ha, "192.168.1.10:5000", FIRN_TRANSPORT_UDP, 1);
  uint64_t t0 = sim_now(w.s);
  assert_int_equal(firn_turn_start(w.a.t, t0), FIRN_OK);
  pump(&w.a);
  sim_run_for(w.s, 60 * SEC);
  firn_turn_info info;
  firn_turn_get_info(w.a.t, &info);
  assert_int_equal(info.failure, FIRN_TURN_FAIL_TIMEOUT);
  cli_close(&w.a);
  world_free(&w);

  sim_turn_config tcfg;
  sim_turn_config_default(&tcfg);
  tcfg.allocate_error = 486;
  world_new(&w, &nat, &tcfg, NULL);
  cli_open(&w, &w.a, w.ha, "192.168.1.10:5000", FIRN_TRANSPORT_UDP, 1);
  assert_int_equal(firn_turn_start(w.a.t, sim_now(w.s)), FIRN_OK);
  pump(&w.a);
  sim_run_for(w.s, 10 * SEC);
  firn_turn_get_info(w.a.t, &info);
  assert_int_equal(info.failure, FIRN_TURN_FAIL_REFUSED);
  assert_int_equal(info.error_code, 486);
  world_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_symmetric_nats_lossy_hour),
      cmocka_unit_test(test_udp_blocked_tcp),
      cmocka_unit_test(test_udp_blocked_tls),
      cmocka_unit_test(test_nat_rebinding_437),
      cmocka_unit_test(test_unreachable_and_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
