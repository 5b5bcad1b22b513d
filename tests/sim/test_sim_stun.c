/* The in-process STUN server: it reports the NAT's external mapping, honours FINGERPRINT,
 * answers errors as RFC 8489 says, ignores what is not a request. Also a worked example of
 * plugging a sans-I/O endpoint (firn's STUN client transactions) into the simulator. */
#include "sim_test.h"

#include <stdlib.h>

#include "firn/stun.h"

#define MS FIRN_NS_PER_MS
#define SEC FIRN_NS_PER_S

/*   X 192.168.1.10 --lan-- NAT 192.168.1.1 | 198.51.100.1 --wan-- S1 203.0.113.1, S2 203.0.113.2 */
typedef struct world {
  sim_net *s;
  sim_segment *lan, *wan;
  sim_nat *nat;
  sim_host *x, *s1, *s2;
  sim_stun_server *srv1, *srv2;
  sim_udp *ux;
  sim_recorder *rx;
  firn_addr ax, a1, a2;
} world;

static void world_new(world *w, const sim_nat_config *cfg) {
  memset(w, 0, sizeof *w);
  sim_settings st;
  sim_settings_default(&st);
  st.seed = 17;
  assert_int_equal(sim_new(&w->s, &st), FIRN_OK);
  assert_int_equal(sim_segment_new(w->s, "lan", &w->lan), FIRN_OK);
  assert_int_equal(sim_segment_new(w->s, "wan", &w->wan), FIRN_OK);
  assert_int_equal(sim_nat_new(w->s, "nat", cfg, w->lan, "192.168.1.1", w->wan, "198.51.100.1",
                               &w->nat), FIRN_OK);
  assert_int_equal(sim_host_new(w->s, "X", &w->x), FIRN_OK);
  assert_int_equal(sim_host_new(w->s, "S1", &w->s1), FIRN_OK);
  assert_int_equal(sim_host_new(w->s, "S2", &w->s2), FIRN_OK);
  assert_int_equal(sim_host_add_iface(w->x, w->lan, "192.168.1.10", NULL), FIRN_OK);
  assert_int_equal(sim_host_add_iface(w->s1, w->wan, "203.0.113.1", NULL), FIRN_OK);
  assert_int_equal(sim_host_add_iface(w->s2, w->wan, "203.0.113.2", NULL), FIRN_OK);
  w->ax = sim_addr("192.168.1.10:5000");
  w->a1 = sim_addr("203.0.113.1:3478");
  w->a2 = sim_addr("203.0.113.2:3478");
  assert_int_equal(sim_stun_server_new(w->s1, &w->a1, &w->srv1), FIRN_OK);
  assert_int_equal(sim_stun_server_new(w->s2, &w->a2, &w->srv2), FIRN_OK);
  SIM_ASSERT(w->s, firn_addr_equal(sim_stun_server_local(w->srv1), &w->a1));
  w->rx = sim_recorder_new();
  assert_int_equal(sim_udp_open(w->x, &w->ax, sim_recorder_cb, w->rx, &w->ux), FIRN_OK);
}

static void world_free(world *w) {
  sim_free(w->s); /* also frees the STUN servers still open */
  test_free(w->rx);
}

static size_t binding_request(uint8_t *buf, size_t cap, uint8_t tid_byte, int fingerprint,
                              uint16_t extra_attr) {
  uint8_t tid[FIRN_STUN_TID_SIZE];
  memset(tid, tid_byte, sizeof tid);
  firn_stun_builder b;
  firn_stun_builder_init(&b, buf, cap, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, tid);
  if (extra_attr) firn_stun_add_u32(&b, extra_attr, 7);
  if (fingerprint) firn_stun_add_fingerprint(&b);
  firn_ssize n = firn_stun_builder_finish(&b);
  assert_true(n > 0);
  return (size_t)n;
}

/* Parse the i-th recorded datagram as a STUN message. `copy` must outlive `msg`. */
static void parse_rx(const sim_recorder *r, size_t i, firn_stun_msg *msg, uint8_t *copy) {
  assert_true(i < r->n);
  assert_true(r->rx[i].len <= SIM_REC_DATA);
  memcpy(copy, r->rx[i].data, r->rx[i].len);
  assert_int_equal(firn_stun_msg_parse(msg, copy, r->rx[i].len), FIRN_OK);
}

/* The server reports the external mapping the NAT made, with FINGERPRINT when asked. */
static void test_stun_reports_nat_mapping(void **state) {
  (void)state;
  world w;
  world_new(&w, NULL); /* endpoint-independent mapping, port preserved */
  uint8_t req[128];
  size_t n = binding_request(req, sizeof req, 0xA1, 1, 0);
  assert_int_equal(sim_udp_send(w.ux, &w.a1, req, n), FIRN_OK);
  n = binding_request(req, sizeof req, 0xA2, 0, 0);
  assert_int_equal(sim_udp_send(w.ux, &w.a2, req, n), FIRN_OK);
  assert_int_equal(sim_run_until(w.s, NULL, NULL, FIRN_TIME_NEVER), SIM_IDLE);
  SIM_ASSERT_EQ(w.s, w.rx->n, 2);
  SIM_ASSERT_EQ(w.s, sim_stun_server_requests(w.srv1), 1);
  char buf[FIRN_ADDR_STRLEN];
  for (size_t i = 0; i < 2; i++) {
    uint8_t copy[SIM_REC_DATA];
    firn_stun_msg msg;
    parse_rx(w.rx, i, &msg, copy);
    SIM_ASSERT_EQ(w.s, msg.cls, FIRN_STUN_SUCCESS);
    SIM_ASSERT_EQ(w.s, msg.method, FIRN_STUN_BINDING);
    SIM_ASSERT_EQ(w.s, msg.tid[0], i == 0 ? 0xA1 : 0xA2);
    SIM_ASSERT_EQ(w.s, msg.fp_off != 0, i == 0); /* FINGERPRINT only if the request had one */
    firn_addr mapped;
    assert_int_equal(firn_stun_msg_get_xor_addr(&msg, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, 0, &mapped),
                     FIRN_OK);
    assert_string_equal(sim_addr_str(&mapped, buf), "198.51.100.1:5000");
    SIM_ASSERT(w.s, firn_addr_equal(&w.rx->rx[i].remote, i == 0 ? &w.a1 : &w.a2));
  }
  world_free(&w);

  /* Behind a symmetric NAT the two servers see two different mappings: exactly the ones the
   * NAT made. */
  sim_nat_config sym;
  sim_nat_config_symmetric(&sym);
  world_new(&w, &sym);
  n = binding_request(req, sizeof req, 1, 1, 0);
  sim_udp_send(w.ux, &w.a1, req, n);
  sim_udp_send(w.ux, &w.a2, req, n);
  sim_run_until(w.s, NULL, NULL, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(w.s, w.rx->n, 2);
  SIM_ASSERT_EQ(w.s, sim_nat_mapping_count(w.nat), 2);
  firn_addr m[2];
  for (size_t i = 0; i < 2; i++) {
    uint8_t copy[SIM_REC_DATA];
    firn_stun_msg msg;
    parse_rx(w.rx, i, &msg, copy);
    assert_int_equal(firn_stun_msg_get_xor_addr(&msg, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, 0, &m[i]),
                     FIRN_OK);
    firn_addr pub = sim_addr("198.51.100.1");
    SIM_ASSERT(w.s, firn_addr_equal_ip(&m[i], &pub));
  }
  SIM_ASSERT(w.s, m[0].port != m[1].port);
  /* Reaching X at the mapping S1 reported works for S1 only (APD filtering). */
  sim_udp *probe;
  firn_addr a1b = sim_addr("203.0.113.1:3479");
  assert_int_equal(sim_udp_open(w.s1, &a1b, NULL, NULL, &probe), FIRN_OK);
  sim_udp_send(probe, &m[0], "p", 1);
  sim_run_until(w.s, NULL, NULL, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(w.s, w.rx->n, 2);
  world_free(&w);
}

/* Errors and silence: 420 for unknown comprehension-required attributes, 400 for other
 * methods, nothing for indications, responses or garbage. */
static void test_stun_errors_and_garbage(void **state) {
  (void)state;
  world w;
  world_new(&w, NULL);
  uint8_t req[128];
  size_t n = binding_request(req, sizeof req, 3, 1, 0x7F01); /* unknown, comprehension-required */
  sim_udp_send(w.ux, &w.a1, req, n);
  n = binding_request(req, sizeof req, 4, 0, 0xC001); /* unknown, comprehension-optional: fine */
  sim_udp_send(w.ux, &w.a1, req, n);
  uint8_t tid[FIRN_STUN_TID_SIZE] = {5};
  firn_stun_builder b;
  firn_stun_builder_init(&b, req, sizeof req, FIRN_STUN_ALLOCATE, FIRN_STUN_REQUEST, tid);
  n = (size_t)firn_stun_builder_finish(&b);
  sim_udp_send(w.ux, &w.a1, req, n);
  firn_stun_builder_init(&b, req, sizeof req, FIRN_STUN_BINDING, FIRN_STUN_INDICATION, tid);
  n = (size_t)firn_stun_builder_finish(&b);
  sim_udp_send(w.ux, &w.a1, req, n);
  firn_stun_builder_init(&b, req, sizeof req, FIRN_STUN_BINDING, FIRN_STUN_SUCCESS, tid);
  n = (size_t)firn_stun_builder_finish(&b);
  sim_udp_send(w.ux, &w.a1, req, n);
  sim_udp_send(w.ux, &w.a1, "\x80garbage that is not STUN", 25);
  n = binding_request(req, sizeof req, 6, 1, 0);
  req[n - 1] ^= 1; /* bad FINGERPRINT */
  sim_udp_send(w.ux, &w.a1, req, n);
  sim_run_until(w.s, NULL, NULL, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(w.s, w.rx->n, 3);
  SIM_ASSERT_EQ(w.s, sim_stun_server_requests(w.srv1), 3);

  uint8_t copy[SIM_REC_DATA];
  firn_stun_msg msg;
  int code = 0;
  parse_rx(w.rx, 0, &msg, copy);
  SIM_ASSERT_EQ(w.s, msg.cls, FIRN_STUN_ERROR);
  assert_int_equal(firn_stun_msg_get_error(&msg, &code, NULL, NULL), FIRN_OK);
  SIM_ASSERT_EQ(w.s, code, 420);
  uint16_t unknown[4];
  size_t count = 0;
  assert_int_equal(firn_stun_msg_get_unknown_attrs(&msg, unknown, 4, &count), FIRN_OK);
  SIM_ASSERT_EQ(w.s, count, 1);
  SIM_ASSERT_EQ(w.s, unknown[0], 0x7F01);
  SIM_ASSERT(w.s, msg.fp_off != 0);

  parse_rx(w.rx, 1, &msg, copy);
  SIM_ASSERT_EQ(w.s, msg.cls, FIRN_STUN_SUCCESS);
  SIM_ASSERT_EQ(w.s, msg.tid[0], 4);

  parse_rx(w.rx, 2, &msg, copy);
  SIM_ASSERT_EQ(w.s, msg.cls, FIRN_STUN_ERROR);
  SIM_ASSERT_EQ(w.s, msg.method, FIRN_STUN_ALLOCATE);
  assert_int_equal(firn_stun_msg_get_error(&msg, &code, NULL, NULL), FIRN_OK);
  SIM_ASSERT_EQ(w.s, code, 400);

  /* A closed server answers nothing. */
  sim_stun_server_free(w.srv1);
  n = binding_request(req, sizeof req, 7, 1, 0);
  sim_udp_send(w.ux, &w.a1, req, n);
  sim_run_until(w.s, NULL, NULL, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(w.s, w.rx->n, 3);
  world_free(&w);
}

/* IPv6: a host with a public v6 address gets its own address back. */
static void test_stun_ipv6(void **state) {
  (void)state;
  sim_net *s;
  assert_int_equal(sim_new(&s, NULL), FIRN_OK);
  sim_segment *wan;
  sim_host *x, *srvh;
  assert_int_equal(sim_segment_new(s, "wan", &wan), FIRN_OK);
  assert_int_equal(sim_host_new(s, "X", &x), FIRN_OK);
  assert_int_equal(sim_host_new(s, "S", &srvh), FIRN_OK);
  assert_int_equal(sim_host_add_iface(x, wan, "2001:db8::10", NULL), FIRN_OK);
  assert_int_equal(sim_host_add_iface(srvh, wan, "2001:db8::1", NULL), FIRN_OK);
  firn_addr any6 = sim_addr("[::]:3478"), ax = sim_addr("[2001:db8::10]:6000");
  firn_addr to = sim_addr("[2001:db8::1]:3478");
  sim_stun_server *srv;
  assert_int_equal(sim_stun_server_new(srvh, &any6, &srv), FIRN_OK);
  sim_recorder *rx = sim_recorder_new();
  sim_udp *ux;
  assert_int_equal(sim_udp_open(x, &ax, sim_recorder_cb, rx, &ux), FIRN_OK);
  uint8_t req[128];
  size_t n = binding_request(req, sizeof req, 9, 1, 0);
  sim_udp_send(ux, &to, req, n);
  sim_run_until(s, NULL, NULL, FIRN_TIME_NEVER);
  SIM_ASSERT_EQ(s, rx->n, 1);
  uint8_t copy[SIM_REC_DATA];
  firn_stun_msg msg;
  parse_rx(rx, 0, &msg, copy);
  firn_addr mapped;
  assert_int_equal(firn_stun_msg_get_xor_addr(&msg, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, 0, &mapped),
                   FIRN_OK);
  SIM_ASSERT(s, firn_addr_equal(&mapped, &ax));
  SIM_ASSERT(s, firn_addr_equal(&rx->rx[0].remote, &to)); /* answered from the interface address */
  test_free(rx);
  sim_free(s);
}

/* ------------------------------------------------------------------------------------------ */
/* A sans-I/O endpoint on the simulator: firn's STUN client through a NAT and an outage.      */
/* The glue every simulated endpoint needs: datagrams in -> handle, then drain transmissions   */
/* and re-arm one timer at the endpoint's expiry.                                              */

typedef struct client_glue {
  sim_net *s;
  firn_stun_client *c;
  sim_udp *u;
  sim_timer *t;
  sim_rng rng;
  int done, status;
  firn_addr mapped;
  unsigned transmissions;
} client_glue;

static void glue_flush(client_glue *g, uint64_t now) {
  uint8_t buf[1500];
  firn_addr dest;
  void *ctx;
  firn_ssize n;
  while ((n = firn_stun_client_poll_transmit(g->c, now, buf, sizeof buf, &dest, &ctx)) > 0)
    assert_int_equal(sim_udp_send(g->u, &dest, buf, (size_t)n), FIRN_OK);
  assert_int_equal(n, FIRN_ERR_WOULDBLOCK);
  assert_int_equal(sim_timer_arm(g->t, firn_stun_client_expiry(g->c)), FIRN_OK);
}

static void glue_recv(void *user, const firn_addr *local, const firn_addr *remote,
                      const uint8_t *data, size_t len, uint64_t now) {
  (void)local;
  client_glue *g = user;
  firn_stun_client_handle_response(g->c, data, len, remote, now);
  glue_flush(g, now);
}

static void glue_timer(void *user, uint64_t now) {
  client_glue *g = user;
  firn_stun_client_handle_expiry(g->c, now);
  glue_flush(g, now);
}

static void glue_result(void *user, const firn_stun_result *r) {
  client_glue *g = user;
  g->done = 1;
  g->status = r->status;
  g->transmissions = r->transmissions;
  if (r->status == 0)
    assert_int_equal(firn_stun_msg_get_xor_addr(r->response, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, 0,
                                                &g->mapped), FIRN_OK);
}

static int glue_done(void *user) { return ((client_glue *)user)->done; }

static void link_up(void *user, uint64_t now) {
  (void)now;
  sim_iface_set_down(user, 0);
}

static void test_stun_client_through_outage(void **state) {
  (void)state;
  world w;
  world_new(&w, NULL);
  sim_link wire;
  sim_link_default(&wire);
  wire.delay_ns = 20 * MS;
  sim_iface_set_link(sim_nat_outside(w.nat), SIM_BOTH, &wire);
  /* The uplink is down for the first 700 ms: the transmissions at 0 and 500 ms are lost, the
   * one at 1.5 s gets through (an outage, not random loss, so this holds for every seed). */
  sim_iface_set_down(sim_nat_outside(w.nat), 1);
  assert_int_equal(sim_at(w.s, 700 * MS, link_up, sim_nat_outside(w.nat)), FIRN_OK);

  client_glue g;
  memset(&g, 0, sizeof g);
  g.s = w.s;
  sim_rng_derive(w.s, 1, &g.rng); /* transaction IDs replay with the seed */
  firn_stun_client_settings cs;
  firn_stun_client_settings_default(&cs);
  cs.random = sim_rng_fill;
  cs.random_user = &g.rng;
  cs.on_result = glue_result;
  cs.user = &g;
  assert_int_equal(firn_stun_client_new(&g.c, &cs), FIRN_OK);
  sim_udp_close(w.ux);
  assert_int_equal(sim_udp_open(w.x, &w.ax, glue_recv, &g, &g.u), FIRN_OK);
  assert_int_equal(sim_timer_new(w.s, glue_timer, &g, &g.t), FIRN_OK);

  firn_stun_request req;
  memset(&req, 0, sizeof req);
  req.method = FIRN_STUN_BINDING;
  req.dest = w.a1;
  req.fingerprint = 1;
  uint64_t id;
  assert_int_equal(firn_stun_client_start(g.c, &req, sim_now(w.s), &id), FIRN_OK);
  glue_flush(&g, sim_now(w.s));
  assert_int_equal(sim_run_until(w.s, glue_done, &g, 60 * SEC), SIM_DONE);
  SIM_ASSERT_EQ(w.s, g.status, 0);
  char buf[FIRN_ADDR_STRLEN];
  assert_string_equal(sim_addr_str(&g.mapped, buf), "198.51.100.1:5000");
  /* Sent at 0, 0.5 and 1.5 s (RTO 500 ms, doubling), then one round trip. */
  SIM_ASSERT_EQ(w.s, g.transmissions, 3);
  SIM_ASSERT_EQ(w.s, sim_now(w.s), 1500 * MS + 40 * MS);
  SIM_ASSERT_EQ(w.s, sim_stun_server_requests(w.srv1) >= 1, 1);

  /* Cut the path: the transaction times out after Rc=7 transmissions, 39.5 s (RFC 8489). */
  sim_iface_set_down(sim_nat_outside(w.nat), 1);
  g.done = 0;
  uint64_t t0 = sim_now(w.s);
  assert_int_equal(firn_stun_client_start(g.c, &req, t0, &id), FIRN_OK);
  glue_flush(&g, t0);
  assert_int_equal(sim_run_until(w.s, glue_done, &g, t0 + 60 * SEC), SIM_DONE);
  SIM_ASSERT_EQ(w.s, g.status, FIRN_ERR_STUN_TIMEOUT);
  SIM_ASSERT_EQ(w.s, g.transmissions, 7);
  SIM_ASSERT_EQ(w.s, sim_now(w.s) - t0, 39500 * MS);
  firn_stun_client_free(g.c);
  world_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stun_reports_nat_mapping),
      cmocka_unit_test(test_stun_errors_and_garbage),
      cmocka_unit_test(test_stun_ipv6),
      cmocka_unit_test(test_stun_client_through_outage),
  };
  return cmocka_run_group_tests_name("sim_stun", tests, NULL, NULL);
}
