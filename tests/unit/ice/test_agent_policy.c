/* ICE agent: candidate policies (VPN, relay-only, dual-stack priorities), several streams
 * and components, close, destroy from data/selection callbacks, API errors. */
#include "test_agent_harness.h"

static firn_agent *new_agent(h_node *n, firn_agent_settings *s) {
  firn_agent *ag = NULL;
  assert_int_equal(firn_agent_new(&ag, s), 0);
  n->ag = ag;
  return ag;
}

static void add_addr(firn_agent *ag, unsigned stream, unsigned comp, const char *addr, const char *ifname, int expect) {
  firn_local_address la;
  memset(&la, 0, sizeof la);
  la.addr = h_addr(addr);
  la.transport = FIRN_TRANSPORT_UDP;
  la.ifname = ifname;
  assert_int_equal(firn_agent_add_local_address(ag, stream, comp, &la, SEC), expect);
}

static uint32_t prio_of(firn_agent *ag, const char *addr) {
  firn_candidate c[16];
  size_t n = 0;
  assert_int_equal(firn_agent_get_local_candidates(ag, 0, c, 16, &n), 0);
  firn_addr a = h_addr(addr);
  for (size_t i = 0; i < n; i++)
    if (firn_addr_equal(&c[i].addr, &a)) return c[i].priority;
  return 0;
}

static void test_vpn_policy(void **state) {
  (void)state;
  static const firn_vpn_policy pol[3] = {FIRN_VPN_DEPRIORITIZE, FIRN_VPN_EXCLUDE, FIRN_VPN_ALLOW};
  for (int k = 0; k < 3; k++) {
    h_node n;
    memset(&n, 0, sizeof n);
    n.rng.s = 1;
    firn_agent_settings s;
    h_settings(&n, &s, FIRN_ICE_CONTROLLING);
    s.vpn = pol[k];
    firn_agent *ag = new_agent(&n, &s);
    unsigned st;
    assert_int_equal(firn_agent_add_stream(ag, 1, &st), 0);
    add_addr(ag, 0, 1, "10.8.0.2:5000", "tun0", 0);
    add_addr(ag, 0, 1, "192.168.1.10:5000", "eth0", 0);
    add_addr(ag, 0, 1, "192.168.7.10:5000", "wlan0", 0);
    add_addr(ag, 0, 1, "10.9.0.2:5000", "wg0", 0);
    uint32_t tun = prio_of(ag, "10.8.0.2:5000"), wg = prio_of(ag, "10.9.0.2:5000");
    uint32_t eth = prio_of(ag, "192.168.1.10:5000"), wlan = prio_of(ag, "192.168.7.10:5000");
    assert_true(eth && wlan);
    if (pol[k] == FIRN_VPN_EXCLUDE) {
      assert_int_equal(tun, 0);
      assert_int_equal(wg, 0);
    } else if (pol[k] == FIRN_VPN_DEPRIORITIZE) {
      assert_true(tun && wg && tun != wg);
      assert_true(tun < wlan && tun < eth && wg < wlan);
    } else {
      assert_true(tun > wlan); /* added first, treated like any other interface */
    }
    /* all host priorities are unique and carry the host type preference */
    assert_true(eth >> 24 == 126 && wlan >> 24 == 126);
    assert_true(eth != wlan);
    firn_agent_free(ag);
  }
}

/* RFC 8421: IPv6 first, families interleaved, link-local and loopback last. */
static void test_dual_stack_priorities(void **state) {
  (void)state;
  h_node n;
  memset(&n, 0, sizeof n);
  n.rng.s = 2;
  firn_agent_settings s;
  h_settings(&n, &s, FIRN_ICE_CONTROLLING);
  firn_agent *ag = new_agent(&n, &s);
  unsigned st;
  assert_int_equal(firn_agent_add_stream(ag, 1, &st), 0);
  add_addr(ag, 0, 1, "192.0.2.1:5000", "eth0", 0);
  add_addr(ag, 0, 1, "[2001:db8::1]:5000", "eth0", 0);
  add_addr(ag, 0, 1, "192.0.2.2:5000", "eth1", 0);
  add_addr(ag, 0, 1, "[2001:db8::2]:5000", "eth1", 0);
  add_addr(ag, 0, 1, "[fe80::1%2]:5000", "eth0", 0);
  add_addr(ag, 0, 1, "127.0.0.1:5000", "lo", 0);
  add_addr(ag, 0, 1, "192.0.2.1:5000", "eth0", 0); /* redundant: ignored */
  uint32_t v6a = prio_of(ag, "[2001:db8::1]:5000"), v4a = prio_of(ag, "192.0.2.1:5000");
  uint32_t v6b = prio_of(ag, "[2001:db8::2]:5000"), v4b = prio_of(ag, "192.0.2.2:5000");
  uint32_t ll = prio_of(ag, "[fe80::1%2]:5000"), lo = prio_of(ag, "127.0.0.1:5000");
  assert_true(v6a > v4a && v4a > v6b && v6b > v4b && v4b > ll && v4b > lo && ll != lo);
  firn_candidate c[16];
  size_t cnt = 0;
  assert_int_equal(firn_agent_get_local_candidates(ag, 0, c, 16, &cnt), 0);
  assert_int_equal(cnt, 6);
  /* the default candidate (no srflx) is the best host */
  firn_candidate d;
  assert_int_equal(firn_agent_get_default_candidate(ag, 0, 1, &d), 0);
  assert_int_equal(d.priority, v6a);
  /* foundations: same type and base IP -> same foundation; different IPs differ */
  for (size_t i = 0; i < cnt; i++)
    for (size_t j = i + 1; j < cnt; j++) assert_string_not_equal(c[i].foundation, c[j].foundation);
  firn_agent_free(ag);
}

static void test_relay_policy(void **state) {
  (void)state;
  h_world w;
  firn_agent_settings sa;
  h_settings(&w.n[0], &sa, FIRN_ICE_CONTROLLING);
  sa.policy = FIRN_ICE_POLICY_RELAY;
  h_init(&w, 40, &sa, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
  /* no host candidate is announced, gathering still finishes */
  assert_int_equal(w.n[0].ncands, 0);
  assert_true(w.n[0].gathering_done);
  size_t n = 5;
  assert_int_equal(firn_agent_get_local_candidates(w.n[0].ag, 0, NULL, 0, &n), 0);
  assert_int_equal(n, 0);
  firn_candidate d;
  assert_int_equal(firn_agent_get_default_candidate(w.n[0].ag, 0, 1, &d), FIRN_ERR_NOT_FOUND);
  h_signal(&w, 1, 0, 1);
  h_signal(&w, 0, 1, 0);
  h_run(&w, NULL, 3 * SEC);
  firn_agent_stats st;
  firn_agent_get_stats(w.n[0].ag, &st);
  assert_int_equal(st.pairs, 0);
  assert_int_equal(w.sent[0], 0); /* not a single check from a host address */
  assert_int_equal(w.n[0].selected, 0);
  assert_int_equal(w.n[1].selected, 0);
  h_free(&w);
}

/* Two streams, the second with RTP and RTCP components; all connect over one pacer. */
static void test_multi_stream(void **state) {
  (void)state;
  h_world w;
  h_init(&w, 41, NULL, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
  const char *extra[2][2] = {{"10.0.0.1:5002", "10.0.0.1:5003"}, {"10.0.0.2:6002", "10.0.0.2:6003"}};
  for (int i = 0; i < 2; i++) {
    unsigned s1;
    assert_int_equal(firn_agent_add_stream(w.n[i].ag, 2, &s1), 0);
    assert_int_equal(s1, 1);
    add_addr(w.n[i].ag, 1, 1, extra[i][0], "eth0", 0);
    add_addr(w.n[i].ag, 1, 2, extra[i][1], "eth0", 0);
    add_addr(w.n[i].ag, 1, 3, extra[i][1], "eth0", FIRN_ERR_INVALID_ARG);
    assert_int_equal(firn_agent_gather(w.n[i].ag, w.now), 0);
  }
  const char *u0, *u1;
  firn_agent_get_local_credentials(w.n[0].ag, 0, &u0, NULL);
  firn_agent_get_local_credentials(w.n[0].ag, 1, &u1, NULL);
  assert_string_not_equal(u0, u1);
  for (int i = 0; i < 2; i++) {
    h_node *f = &w.n[i], *t = &w.n[1 - i];
    for (unsigned s = 0; s < 2; s++) {
      const char *u, *p;
      firn_agent_get_local_credentials(f->ag, s, &u, &p);
      assert_int_equal(firn_agent_set_remote_credentials(t->ag, s, u, p, w.now), 0);
      firn_candidate c[8];
      size_t n = 0;
      assert_int_equal(firn_agent_get_local_candidates(f->ag, s, c, 8, &n), 0);
      assert_int_equal(n, s == 0 ? 1 : 2);
      for (size_t k = 0; k < n; k++) assert_int_equal(firn_agent_add_remote_candidate(t->ag, s, &c[k], w.now), 0);
      firn_agent_end_of_remote_candidates(t->ag, s, w.now);
    }
  }
  uint64_t t0 = w.now;
  h_run(&w, h_both_completed, 5 * SEC);
  int done = 0;
  while (w.now - t0 < 5 * SEC && !done) {
    done = 1;
    for (int i = 0; i < 2; i++)
      for (unsigned s = 0; s < 2; s++)
        if (firn_agent_get_state(w.n[i].ag, s) != FIRN_ICE_COMPLETED) done = 0;
    if (!done) h_step(&w, t0 + 5 * SEC);
  }
  assert_true(done);
  assert_int_equal(w.n[0].selected, 3);
  assert_int_equal(w.n[1].selected, 3);
  /* three components, each nominated: at least 3 paced check slots, and no more than a few */
  assert_true(w.now - t0 >= 2 * 50 * MS);
  assert_true(w.now - t0 < 500 * MS);
  /* data on stream 1 component 2 arrives as such */
  uint8_t out[64];
  firn_path path;
  firn_ssize len = firn_agent_write_data(w.n[0].ag, 1, 2, (const uint8_t *)"rtcp", 4, out, sizeof out, &path, w.now);
  assert_int_equal(len, 4);
  firn_addr want = h_addr("10.0.0.1:5003");
  assert_true(firn_addr_equal(&path.local, &want));
  h_queue(&w, 0, &path, out, (size_t)len);
  h_run(&w, NULL, 20 * MS);
  assert_int_equal(w.n[1].last_stream, 1);
  assert_int_equal(w.n[1].last_comp, 2);
  firn_candidate l, r;
  assert_int_equal(firn_agent_get_selected_pair(w.n[0].ag, 1, 2, &l, &r, &path), 0);
  assert_true(firn_addr_equal(&l.addr, &want));
  assert_int_equal(l.component, 2);
  assert_int_equal(r.component, 2);
  h_free(&w);
}

static void test_close(void **state) {
  (void)state;
  h_world w;
  h_init(&w, 42, NULL, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
  h_signal(&w, 0, 1, 1);
  h_signal(&w, 1, 0, 1);
  assert_true(h_run(&w, h_both_connected, 5 * SEC));
  assert_int_equal(firn_agent_close(w.n[0].ag, w.now), 0);
  assert_int_equal(firn_agent_get_state(w.n[0].ag, 0), FIRN_ICE_CLOSED);
  assert_int_equal(w.n[0].states[w.n[0].nstates - 1], FIRN_ICE_CLOSED);
  assert_int_equal(firn_agent_expiry(w.n[0].ag), FIRN_TIME_NEVER);
  uint8_t out[64];
  firn_path path;
  assert_int_equal(firn_agent_poll_transmit(w.n[0].ag, w.now, out, sizeof out, &path), FIRN_ERR_WOULDBLOCK);
  assert_int_equal(firn_agent_write_data(w.n[0].ag, 0, 1, out, 4, out, sizeof out, &path, w.now), FIRN_ERR_CLOSED);
  assert_int_equal(firn_agent_close(w.n[0].ag, w.now), 0); /* idempotent */
  h_free(&w);
}

static void test_destroy_in_data_and_selected(void **state) {
  (void)state;
  /* destroy from on_data */
  h_world w;
  h_init(&w, 43, NULL, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
  h_signal(&w, 0, 1, 1);
  h_signal(&w, 1, 0, 1);
  assert_true(h_run(&w, h_both_connected, 5 * SEC));
  w.n[1].destroy_on_data = 1;
  h_send_data(&w, 0, "bye");
  h_send_data(&w, 0, "bye again");
  h_run(&w, NULL, 1 * SEC);
  assert_true(w.n[1].destroyed);
  assert_int_equal(w.n[1].data_rx, 1);
  h_free(&w);
}

static void test_api_errors(void **state) {
  (void)state;
  firn_agent_settings s;
  firn_agent_settings_default(&s);
  firn_agent *ag = NULL;
  firn_agent_settings bad = s;
  bad.size = 8;
  assert_int_equal(firn_agent_new(&ag, &bad), FIRN_ERR_INVALID_ARG);
  bad = s;
  bad.ta_ns = 0;
  assert_int_equal(firn_agent_new(&ag, &bad), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_agent_new(&ag, &s), 0); /* default random source (CSPRNG) */
  unsigned st;
  assert_int_equal(firn_agent_add_stream(ag, 3, &st), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_agent_add_stream(ag, 1, &st), 0);
  const char *u, *p;
  assert_int_equal(firn_agent_get_local_credentials(ag, 0, &u, &p), 0);
  assert_true(strlen(u) >= 4 && strlen(p) >= 22);
  assert_int_equal(firn_ice_check_ufrag(u, strlen(u)), 0);
  assert_int_equal(firn_ice_check_pwd(p, strlen(p)), 0);
  assert_int_equal(firn_agent_get_local_credentials(ag, 7, &u, &p), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_agent_set_local_credentials(ag, 0, "abc", "0123456789012345678901"),
                   FIRN_ERR_ICE_BAD_CREDENTIALS);
  assert_int_equal(firn_agent_set_local_credentials(ag, 0, "abcd", "0123456789"), FIRN_ERR_ICE_BAD_CREDENTIALS);
  assert_int_equal(firn_agent_set_local_credentials(ag, 0, "abc:", "0123456789012345678901"),
                   FIRN_ERR_ICE_BAD_CREDENTIALS);
  assert_int_equal(firn_agent_set_local_credentials(ag, 0, "abcd", "0123456789012345678901"), 0);
  assert_int_equal(firn_agent_get_local_credentials(ag, 0, &u, &p), 0);
  assert_string_equal(u, "abcd");
  assert_int_equal(firn_agent_set_remote_credentials(ag, 0, "ab", "0123456789012345678901", SEC),
                   FIRN_ERR_ICE_BAD_CREDENTIALS);
  firn_local_address la;
  memset(&la, 0, sizeof la);
  la.addr = h_addr("10.0.0.1:5000");
  la.transport = FIRN_TRANSPORT_TCP;
  assert_int_equal(firn_agent_add_local_address(ag, 0, 1, &la, SEC), 0); /* ICE-TCP listener */
  la.transport = 7;
  assert_int_equal(firn_agent_add_local_address(ag, 0, 1, &la, SEC), FIRN_ERR_INVALID_ARG);
  la.transport = FIRN_TRANSPORT_UDP;
  assert_int_equal(firn_agent_add_local_address(ag, 0, 2, &la, SEC), FIRN_ERR_INVALID_ARG);
  la.addr = h_addr("0.0.0.0:5000");
  assert_int_equal(firn_agent_add_local_address(ag, 0, 1, &la, SEC), FIRN_ERR_INVALID_ARG);
  firn_candidate c;
  memset(&c, 0, sizeof c);
  c.component = 2;
  c.priority = 1;
  c.addr = h_addr("10.0.0.2:6000");
  assert_int_equal(firn_agent_add_remote_candidate(ag, 0, &c, SEC), FIRN_ERR_INVALID_ARG);
  uint8_t out[16];
  firn_path path;
  assert_int_equal(firn_agent_write_data(ag, 0, 1, out, 4, out, sizeof out, &path, SEC), FIRN_ERR_STATE);
  assert_int_equal(firn_agent_get_selected_pair(ag, 0, 1, NULL, NULL, NULL), FIRN_ERR_NOT_FOUND);
  assert_int_equal(firn_agent_poll_transmit(ag, SEC, out, sizeof out, &path), FIRN_ERR_WOULDBLOCK);
  assert_int_equal(firn_agent_expiry(ag), FIRN_TIME_NEVER);
  assert_int_equal(firn_agent_tcp_closed(ag, 1, SEC), FIRN_ERR_NOT_FOUND);
  assert_int_equal(firn_agent_handle_stream(ag, 1, out, 4, SEC), FIRN_ERR_NOT_FOUND);
  assert_int_equal(firn_agent_tcp_connected(ag, 1, 1, SEC), FIRN_ERR_NOT_FOUND);
  firn_ice_server srv;
  memset(&srv, 0, sizeof srv);
  srv.addr = h_addr("203.0.113.1:3478");
  srv.turn = 1; /* TURN without credentials */
  assert_int_equal(firn_agent_add_server(ag, &srv), FIRN_ERR_INVALID_ARG);
  assert_string_equal(firn_ice_state_name(FIRN_ICE_COMPLETED), "completed");
  firn_agent_free(ag);
  firn_agent_free(NULL);
  firn_agent_destroy(NULL);
}


/* ------------------------------------------------------------------------------------------ */
/* Heap per connected agent (our allocator hooks; OpenSSL's own HMAC contexts not included) */

typedef struct heap_count {
  size_t live, peak;
} heap_count;

static void *hc_malloc(size_t size, void *user) {
  heap_count *h = user;
  size_t *p = malloc(size + sizeof(size_t) * 2);
  if (!p) return NULL;
  p[0] = size;
  h->live += size;
  if (h->live > h->peak) h->peak = h->live;
  return p + 2;
}
static void *hc_calloc(size_t n, size_t size, void *user) {
  void *p = hc_malloc(n * size, user);
  if (p) memset(p, 0, n * size);
  return p;
}
static void *hc_realloc(void *ptr, size_t size, void *user) {
  heap_count *h = user;
  if (!ptr) return hc_malloc(size, user);
  size_t *p = (size_t *)ptr - 2;
  size_t old = p[0];
  size_t *q = realloc(p, size + sizeof(size_t) * 2);
  if (!q) return NULL;
  q[0] = size;
  h->live = h->live - old + size;
  if (h->live > h->peak) h->peak = h->live;
  return q + 2;
}
static void hc_free(void *ptr, void *user) {
  heap_count *h = user;
  if (!ptr) return;
  size_t *p = (size_t *)ptr - 2;
  h->live -= p[0];
  free(p);
}

static void test_heap_per_agent(void **state) {
  (void)state;
  heap_count hc = {0, 0};
  firn_allocator al = {hc_malloc, hc_calloc, hc_realloc, hc_free, &hc};
  h_world w;
  firn_agent_settings sa;
  h_settings(&w.n[0], &sa, FIRN_ICE_CONTROLLING);
  sa.alloc = &al;
  h_init(&w, 44, &sa, NULL, FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
  h_signal(&w, 0, 1, 1);
  h_signal(&w, 1, 0, 1);
  assert_true(h_run(&w, h_both_completed, 5 * SEC));
  h_run(&w, NULL, 20 * SEC);
  print_message("heap of a connected agent: %zu bytes live, %zu peak\n", hc.live, hc.peak);
  assert_true(hc.live <= 8 * 1024);
  firn_agent_free(w.n[0].ag);
  w.n[0].ag = NULL;
  assert_int_equal(hc.live, 0);
  h_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vpn_policy),
      cmocka_unit_test(test_dual_stack_priorities),
      cmocka_unit_test(test_relay_policy),
      cmocka_unit_test(test_multi_stream),
      cmocka_unit_test(test_close),
      cmocka_unit_test(test_destroy_in_data_and_selected),
      cmocka_unit_test(test_api_errors),
      cmocka_unit_test(test_heap_per_agent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
