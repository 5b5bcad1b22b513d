/* Relay candidates against a real coturn on 127.0.0.1 (started by tests/integration/turn/run.sh,
 * settings in FIRN_COTURN_*): two firn agents on one libuv loop with the relay-only policy
 * connect only through their TURN allocations, over UDP, TCP and TLS to the server (the TLS
 * one added on the core with the generated certificate as CA), and exchange data both ways
 * over the relay/relay pair. Bounded by a watchdog; no timing is guessed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "firn/uv.h"

typedef struct peer {
  const char *name;
  firn_uv_agent *ua;
  unsigned stream;
  struct peer *other;
  int selected;
  int gathered;
  int received;
  int sent;
  char last[64];
  firn_candidate cands[16];
  size_t ncands;
  firn_candidate sel_l, sel_r;
} peer;

static int watchdog_fired;

static const char *env(const char *name) {
  const char *v = getenv(name);
  if (!v) fail_msg("%s not set (run through tests/integration/turn/run.sh)", name);
  return v;
}

static void on_candidate(void *user, unsigned stream, const firn_candidate *c) {
  peer *p = user;
  (void)stream;
  if (p->ncands < 16) p->cands[p->ncands++] = *c;
}
static void on_gathering_done(void *user, unsigned stream) {
  (void)stream;
  ((peer *)user)->gathered = 1;
}
static void on_selected(void *user, unsigned stream, unsigned comp, const firn_candidate *l, const firn_candidate *r) {
  peer *p = user;
  (void)stream; (void)comp;
  p->sel_l = *l;
  p->sel_r = *r;
  p->selected++;
}
static void on_data(void *user, unsigned stream, unsigned comp, const uint8_t *d, size_t n, const firn_path *path,
                    uint64_t now) {
  peer *p = user;
  (void)stream; (void)comp; (void)path; (void)now;
  if (n < sizeof p->last) {
    memcpy(p->last, d, n);
    p->last[n] = 0;
  }
  p->received++;
}
static void watchdog(uv_timer_t *t) {
  watchdog_fired = 1;
  uv_stop(t->loop);
}

static void make_peer(uv_loop_t *loop, peer *p, const char *name, firn_ice_role role, uint8_t transport) {
  static const char *ips[] = {"127.0.0.1"};
  firn_uv_settings s;
  firn_uv_settings_default(&s);
  s.ips = ips;
  s.n_ips = 1;
  s.agent.role = role;
  s.agent.ta_ns = 20 * FIRN_NS_PER_MS;
  s.agent.policy = FIRN_ICE_POLICY_RELAY;
  s.agent.user = p;
  s.agent.callbacks.on_candidate = on_candidate;
  s.agent.callbacks.on_gathering_done = on_gathering_done;
  s.agent.callbacks.on_selected_pair = on_selected;
  s.agent.callbacks.on_data = on_data;
  memset(p, 0, sizeof *p);
  p->name = name;
  assert_int_equal(firn_uv_agent_new(&p->ua, loop, &s), FIRN_OK);
  assert_int_equal(firn_uv_agent_add_stream(p->ua, 1, &p->stream), FIRN_OK);
  const char *host = env("FIRN_COTURN_HOST");
  if (transport == FIRN_TRANSPORT_TLS) {
    firn_ice_server srv;
    memset(&srv, 0, sizeof srv);
    char a[96];
    snprintf(a, sizeof a, "%s:%s", host, env("FIRN_COTURN_TLS_PORT"));
    assert_int_equal(firn_addr_parse(&srv.addr, a, 0), 0);
    srv.transport = FIRN_TRANSPORT_TLS;
    srv.turn = 1;
    srv.username = env("FIRN_COTURN_USER");
    srv.password = env("FIRN_COTURN_PASS");
    srv.server_name = env("FIRN_COTURN_TLS_NAME");
    srv.tls_ca_file = env("FIRN_COTURN_CA");
    assert_int_equal(firn_agent_add_server(firn_uv_agent_core(p->ua), &srv), FIRN_OK);
  } else {
    char uri[128];
    snprintf(uri, sizeof uri, "turn:%s:%s?transport=%s", host, env("FIRN_COTURN_PORT"),
             transport == FIRN_TRANSPORT_TCP ? "tcp" : "udp");
    assert_int_equal(firn_uv_agent_add_server(p->ua, uri, env("FIRN_COTURN_USER"), env("FIRN_COTURN_PASS")),
                     FIRN_OK);
  }
  assert_int_equal(firn_uv_agent_gather(p->ua), FIRN_OK);
}

static void exchange(peer *from, peer *to) {
  const char *ufrag, *pwd;
  assert_int_equal(firn_agent_get_local_credentials(firn_uv_agent_core(from->ua), from->stream, &ufrag, &pwd),
                   FIRN_OK);
  assert_int_equal(firn_uv_agent_set_remote_credentials(to->ua, to->stream, ufrag, pwd), FIRN_OK);
  assert_int_equal(from->ncands, 1); /* the relay candidate only */
  assert_int_equal(from->cands[0].type, FIRN_CAND_RELAY);
  char line[FIRN_CANDIDATE_STRLEN];
  assert_true(firn_candidate_format(&from->cands[0], line, sizeof line) > 0);
  assert_int_equal(firn_uv_agent_add_remote_candidate(to->ua, to->stream, line), FIRN_OK);
  assert_int_equal(firn_uv_agent_end_of_remote_candidates(to->ua, to->stream), FIRN_OK);
}

static void run_until(uv_loop_t *loop, uv_timer_t *wd, int (*done)(peer *, peer *), peer *a, peer *b) {
  uv_timer_start(wd, watchdog, 15000, 0);
  watchdog_fired = 0;
  while (!done(a, b) && !watchdog_fired) uv_run(loop, UV_RUN_ONCE);
  uv_timer_stop(wd);
  assert_false(watchdog_fired);
}

static int both_gathered(peer *a, peer *b) { return a->gathered && b->gathered; }
static int both_selected(peer *a, peer *b) { return a->selected && b->selected; }
static int both_received(peer *a, peer *b) {
  /* keep sending until each side got one: the first ones may beat the channel binding */
  peer *ps[2] = {a, b};
  for (int k = 0; k < 2; k++) {
    if (ps[k]->other->received) continue;
    char msg[64];
    snprintf(msg, sizeof msg, "hello from %s", ps[k]->name);
    if (ps[k]->sent < 200 && firn_uv_agent_send(ps[k]->ua, ps[k]->stream, 1, (const uint8_t *)msg, strlen(msg)) == 0)
      ps[k]->sent++;
  }
  return a->received && b->received;
}

static void on_closed(void *arg) { *(int *)arg = 1; }

static void run_pair(uint8_t transport) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  peer a, b;
  make_peer(&loop, &a, "a", FIRN_ICE_CONTROLLING, transport);
  make_peer(&loop, &b, "b", FIRN_ICE_CONTROLLED, transport);
  a.other = &b;
  b.other = &a;
  uv_timer_t wd;
  uv_timer_init(&loop, &wd);
  uv_unref((uv_handle_t *)&wd);
  run_until(&loop, &wd, both_gathered, &a, &b);
  exchange(&a, &b);
  exchange(&b, &a);
  run_until(&loop, &wd, both_selected, &a, &b);
  assert_int_equal(a.sel_l.type, FIRN_CAND_RELAY);
  assert_int_equal(a.sel_r.type, FIRN_CAND_RELAY);
  assert_int_equal(b.sel_l.type, FIRN_CAND_RELAY);
  assert_int_equal(b.sel_r.type, FIRN_CAND_RELAY);
  run_until(&loop, &wd, both_received, &a, &b);
  assert_string_equal(a.last, "hello from b");
  assert_string_equal(b.last, "hello from a");
  int ca = 0, cb = 0;
  firn_uv_agent_close(a.ua, on_closed, &ca);
  firn_uv_agent_close(b.ua, on_closed, &cb);
  uv_close((uv_handle_t *)&wd, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_true(ca && cb);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_relay_udp(void **state) {
  (void)state;
  run_pair(FIRN_TRANSPORT_UDP);
}
static void test_relay_tcp(void **state) {
  (void)state;
  run_pair(FIRN_TRANSPORT_TCP);
}
static void test_relay_tls(void **state) {
  (void)state;
  if (!getenv("FIRN_COTURN_TLS_PORT")) skip();
  run_pair(FIRN_TRANSPORT_TLS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_relay_udp),
      cmocka_unit_test(test_relay_tcp),
      cmocka_unit_test(test_relay_tls),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
