/* ICE-TCP over real sockets: two firn agents on one libuv loop with only TCP candidates
 * (firn_uv_settings.udp = 0, tcp = 1) on 127.0.0.1. The runtime listens, connects when the
 * core asks (on_tcp_connect), accepts, and feeds the bytes; the agents select a TCP host pair
 * (active -> passive), exchange RFC 4571-framed data both ways, and close from inside a
 * callback. Bounded by a watchdog timer; no timing is guessed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "firn/uv.h"

typedef struct peer {
  const char *name;
  firn_uv_agent *ua;
  unsigned stream;
  struct peer *other;
  firn_ice_state state;
  int selected;
  int gathered;
  int received;
  int closed;
  char last[64];
  firn_candidate cands[16];
  size_t ncands;
} peer;

static int watchdog_fired;

static void on_candidate(void *user, unsigned stream, const firn_candidate *c) {
  peer *p = user;
  (void)stream;
  if (p->ncands < 16) p->cands[p->ncands++] = *c;
}

static void on_gathering_done(void *user, unsigned stream) {
  peer *p = user;
  (void)stream;
  p->gathered = 1;
}

static void try_send(peer *p) {
  char msg[64];
  snprintf(msg, sizeof msg, "hello from %s", p->name);
  int rc = firn_uv_agent_send(p->ua, p->stream, 1, (const uint8_t *)msg, strlen(msg));
  assert_int_equal(rc, FIRN_OK);
}

static void on_state(void *user, unsigned stream, firn_ice_state st) {
  peer *p = user;
  (void)stream;
  p->state = st;
  if (st == FIRN_ICE_CONNECTED || st == FIRN_ICE_COMPLETED) try_send(p);
}

static void on_selected(void *user, unsigned stream, unsigned comp, const firn_candidate *l,
                        const firn_candidate *r) {
  peer *p = user;
  (void)stream; (void)comp;
  assert_int_equal(l->type, FIRN_CAND_HOST);
  assert_int_equal(l->transport, FIRN_TRANSPORT_TCP);
  assert_int_equal(r->transport, FIRN_TRANSPORT_TCP);
  assert_true(l->tcptype == FIRN_TCP_ACTIVE || l->tcptype == FIRN_TCP_PASSIVE);
  assert_int_equal(r->tcptype, l->tcptype == FIRN_TCP_ACTIVE ? FIRN_TCP_PASSIVE : FIRN_TCP_ACTIVE);
  assert_true(firn_addr_is_loopback(&l->addr));
  assert_true(firn_addr_is_loopback(&r->addr));
  p->selected++;
}

static void on_closed(void *arg) {
  peer *p = arg;
  p->closed = 1;
}

static void on_data(void *user, unsigned stream, unsigned comp, const uint8_t *d, size_t n,
                    const firn_path *path, uint64_t now) {
  peer *p = user;
  (void)stream; (void)path; (void)now;
  assert_int_equal(comp, 1);
  assert_true(n < sizeof p->last);
  memcpy(p->last, d, n);
  p->last[n] = 0;
  p->received++;
  /* closing from inside the agent's own callback must be safe */
  if (p->received == 1 && p->other->received >= 1) {
    firn_uv_agent_close(p->ua, on_closed, p);
    firn_uv_agent_close(p->other->ua, on_closed, p->other);
  }
}

static void watchdog(uv_timer_t *t) {
  watchdog_fired = 1;
  uv_stop(t->loop);
}

static void make_peer(uv_loop_t *loop, peer *p, const char *name, firn_ice_role role) {
  static const char *ips[] = {"127.0.0.1"};
  firn_uv_settings s;
  firn_uv_settings_default(&s);
  s.ips = ips;
  s.n_ips = 1;
  s.agent.role = role;
  s.udp = 0;
  s.tcp = 1;
  s.agent.ta_ns = 20 * FIRN_NS_PER_MS;
  s.agent.user = p;
  s.agent.callbacks.on_candidate = on_candidate;
  s.agent.callbacks.on_gathering_done = on_gathering_done;
  s.agent.callbacks.on_state = on_state;
  s.agent.callbacks.on_selected_pair = on_selected;
  s.agent.callbacks.on_data = on_data;
  memset(p, 0, sizeof *p);
  p->name = name;
  assert_int_equal(firn_uv_agent_new(&p->ua, loop, &s), FIRN_OK);
  assert_int_equal(firn_uv_agent_add_stream(p->ua, 1, &p->stream), FIRN_OK);
  assert_int_equal(firn_uv_agent_gather(p->ua), FIRN_OK);
}

static void exchange(peer *from, peer *to) {
  const char *ufrag, *pwd;
  assert_int_equal(firn_agent_get_local_credentials(firn_uv_agent_core(from->ua), from->stream, &ufrag, &pwd),
                   FIRN_OK);
  assert_int_equal(firn_uv_agent_set_remote_credentials(to->ua, to->stream, ufrag, pwd), FIRN_OK);
  assert_int_equal(from->ncands, 2); /* passive + active */
  for (size_t i = 0; i < from->ncands; i++) {
    char line[FIRN_CANDIDATE_STRLEN];
    assert_true(firn_candidate_format(&from->cands[i], line, sizeof line) > 0);
    assert_int_equal(firn_uv_agent_add_remote_candidate(to->ua, to->stream, line), FIRN_OK);
  }
  assert_int_equal(firn_uv_agent_end_of_remote_candidates(to->ua, to->stream), FIRN_OK);
}

static void run_pair(firn_ice_role ra, firn_ice_role rb) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  peer a, b;
  make_peer(&loop, &a, "a", ra);
  make_peer(&loop, &b, "b", rb);
  a.other = &b;
  b.other = &a;
  /* host candidates are reported synchronously; with no servers gathering completes */
  uv_run(&loop, UV_RUN_NOWAIT);
  assert_true(a.gathered && b.gathered);
  exchange(&a, &b);
  exchange(&b, &a);

  uv_timer_t wd;
  uv_timer_init(&loop, &wd);
  uv_timer_start(&wd, watchdog, 10000, 0);
  uv_unref((uv_handle_t *)&wd);
  watchdog_fired = 0;
  while (!(a.closed && b.closed) && !watchdog_fired) uv_run(&loop, UV_RUN_ONCE);
  assert_false(watchdog_fired);
  assert_true(a.selected >= 1 && b.selected >= 1);
  assert_string_equal(a.last, "hello from b");
  assert_string_equal(b.last, "hello from a");
  uv_close((uv_handle_t *)&wd, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_controlling_controlled(void **state) {
  (void)state;
  run_pair(FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLED);
}

static void test_both_controlling(void **state) {
  (void)state;
  run_pair(FIRN_ICE_CONTROLLING, FIRN_ICE_CONTROLLING);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_controlling_controlled),
                                     cmocka_unit_test(test_both_controlling)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
