/* firn's TURN client against a real coturn on 127.0.0.1 (started by run.sh through
 * scripts/coturn.sh with TLS, a short stale-nonce and short lifetimes; it exports
 * FIRN_COTURN_* into the environment).
 *
 * Real sockets through libuv, protocol time from uv_hrtime(). Each allocation is driven the
 * way the runtime drives the core: after every event handle_expiry(now), then every due
 * output from poll_transmit(), then a timer armed for expiry(). Over TCP/TLS the object asks
 * for its connection through on_connect and the driver opens it with uv_tcp_connect.
 *
 * Scenarios: allocate over UDP, TCP and TLS (CA verification on, the generated certificate as
 * the CA); a wrong server name failing; two allocations relaying data to each other both
 * ways, first through permissions (Send/Data indications), then through channels
 * (ChannelData), for UDP<->UDP and TLS<->TCP; refreshes of the allocation, permissions and
 * channels observed within a few seconds under coturn's short lifetimes, with data still
 * flowing after the original lifetimes ran out; clean deallocation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <uv.h>

#include "turn/turn.h"

#define MS FIRN_NS_PER_MS
#define GUARD_MS 15000 /* every exchange completes in milliseconds on loopback */

typedef struct wbuf {
  uv_write_t req;
  size_t len;
  uint8_t data[];
} wbuf;

typedef struct drv {
  uv_loop_t *loop;
  uv_udp_t udp;
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_timer_t timer;
  int tcp_open;
  firn_turn *t;
  firn_transport tr;
  firn_addr local;
  int nstates;
  int states[32];
  int ndata;
  firn_addr data_peer;
  char data[256];
  size_t data_len;
} drv;

static const char *env(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v) {
    fprintf(stderr, "%s is not set: run this test through run.sh (meson test --suite integration)\n", name);
    exit(1);
  }
  return v;
}

static void to_firn(const struct sockaddr *sa, firn_addr *a) {
  memset(a, 0, sizeof *a);
  if (sa->sa_family == AF_INET) {
    struct sockaddr_in s;
    memcpy(&s, sa, sizeof s);
    firn_addr_set_ipv4(a, (const uint8_t *)&s.sin_addr, ntohs(s.sin_port));
  } else if (sa->sa_family == AF_INET6) {
    struct sockaddr_in6 s;
    memcpy(&s, sa, sizeof s);
    firn_addr_set_ipv6(a, s.sin6_addr.s6_addr, ntohs(s.sin6_port));
  }
}

static void to_sockaddr(const firn_addr *a, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in s;
  memset(&s, 0, sizeof s);
  s.sin_family = AF_INET;
  s.sin_port = htons(a->port);
  memcpy(&s.sin_addr, a->addr, 4);
  memcpy(ss, &s, sizeof s);
}

static void on_log(void *user, firn_log_level level, const char *module, const char *msg) {
  (void)level;
  fprintf(stderr, "[%s %p] %s\n", module, user, msg);
}

static void pump(drv *d);
static void on_timer(uv_timer_t *h) { pump(h->data); }

static void written(uv_write_t *r, int status) {
  (void)status;
  free(r);
}

static void pump(drv *d) {
  if (!d->t) return;
  uint64_t now = uv_hrtime();
  firn_turn_handle_expiry(d->t, now);
  uint8_t buf[4096];
  firn_addr dest;
  firn_ssize n;
  while ((n = firn_turn_poll_transmit(d->t, now, buf, sizeof buf, &dest)) > 0) {
    if (d->tr == FIRN_TRANSPORT_UDP) {
      struct sockaddr_storage ss;
      to_sockaddr(&dest, &ss);
      uv_buf_t b = uv_buf_init((char *)buf, (unsigned)n);
      uv_udp_try_send(&d->udp, &b, 1, (const struct sockaddr *)&ss); /* loss is retransmitted */
    } else if (d->tcp_open) {
      wbuf *w = malloc(sizeof *w + (size_t)n);
      assert_non_null(w);
      memcpy(w->data, buf, (size_t)n);
      uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)n);
      if (uv_write(&w->req, (uv_stream_t *)&d->tcp, &b, 1, written) < 0) free(w);
    }
  }
  uint64_t e = firn_turn_expiry(d->t);
  if (e == FIRN_TIME_NEVER) {
    uv_timer_stop(&d->timer);
  } else {
    uint64_t delay = e > now ? (e - now + MS - 1) / MS : 0;
    uv_timer_start(&d->timer, on_timer, delay, 0);
  }
}

/* Send application data to `peer` through the allocation. */
static void send_to(drv *d, const firn_addr *peer, const char *text) {
  uint8_t out[1024];
  firn_ssize n = firn_turn_wrap(d->t, peer, (const uint8_t *)text, strlen(text), out, sizeof out);
  if (n < 0) fail_msg("wrap: %s", firn_strerror((int)n));
  if (d->tr == FIRN_TRANSPORT_UDP) {
    firn_turn_info info;
    firn_turn_get_info(d->t, &info);
    struct sockaddr_storage ss;
    to_sockaddr(&info.server, &ss);
    uv_buf_t b = uv_buf_init((char *)out, (unsigned)n);
    assert_true(uv_udp_try_send(&d->udp, &b, 1, (const struct sockaddr *)&ss) >= 0);
  } else {
    wbuf *w = malloc(sizeof *w + (size_t)n);
    assert_non_null(w);
    memcpy(w->data, out, (size_t)n);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)n);
    assert_int_equal(uv_write(&w->req, (uv_stream_t *)&d->tcp, &b, 1, written), 0);
  }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static char slab[65536];
  *buf = uv_buf_init(slab, sizeof slab);
}

static void on_udp(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from, unsigned flags) {
  (void)flags;
  drv *d = h->data;
  if (nread <= 0 || !from || !d->t) return;
  firn_addr src;
  to_firn(from, &src);
  firn_turn_handle_datagram(d->t, &src, (const uint8_t *)buf->base, (size_t)nread, uv_hrtime());
  pump(d);
}

static void on_tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  drv *d = s->data;
  if (!d->t) return;
  if (nread > 0) {
    firn_turn_handle_stream(d->t, (const uint8_t *)buf->base, (size_t)nread, uv_hrtime());
  } else if (nread < 0) {
    d->tcp_open = 0;
    uv_read_stop(s);
    firn_turn_connection_closed(d->t, uv_hrtime());
  }
  pump(d);
}

static void on_tcp_connected(uv_connect_t *r, int status) {
  drv *d = r->data;
  if (!d->t) return;
  d->tcp_open = status == 0;
  if (status == 0) uv_read_start((uv_stream_t *)&d->tcp, on_alloc, on_tcp_read);
  firn_turn_connected(d->t, status == 0, uv_hrtime());
  pump(d);
}

static void cb_state(void *user, firn_turn *t, firn_turn_state st) {
  (void)t;
  drv *d = user;
  if (d->nstates < 32) d->states[d->nstates++] = (int)st;
}

static void cb_data(void *user, firn_turn *t, const firn_addr *peer, const uint8_t *data, size_t len, uint64_t now) {
  (void)t;
  (void)now;
  drv *d = user;
  d->ndata++;
  d->data_peer = *peer;
  d->data_len = len < sizeof d->data - 1 ? len : sizeof d->data - 1;
  memcpy(d->data, data, d->data_len);
  d->data[d->data_len] = 0;
}

static void cb_connect(void *user, firn_turn *t, const firn_addr *server) {
  (void)t;
  drv *d = user;
  assert_int_equal(uv_tcp_init(d->loop, &d->tcp), 0);
  d->tcp.data = d;
  struct sockaddr_storage ss;
  to_sockaddr(server, &ss);
  d->creq.data = d;
  assert_int_equal(uv_tcp_connect(&d->creq, &d->tcp, (const struct sockaddr *)&ss, on_tcp_connected), 0);
}

static void cb_close_conn(void *user, firn_turn *t) {
  (void)t;
  drv *d = user;
  d->tcp_open = 0;
  if (!uv_is_closing((uv_handle_t *)&d->tcp)) uv_close((uv_handle_t *)&d->tcp, NULL);
}

typedef struct opts {
  firn_transport tr;
  const char *server_name; /* TLS; NULL: the generated certificate's name */
  uint64_t perm_refresh_ns, chan_refresh_ns;
  firn_family family;      /* 0: IPv4 */
  int dual;
} opts;

static void drv_open(drv *d, uv_loop_t *loop, const opts *o) {
  memset(d, 0, sizeof *d);
  d->loop = loop;
  d->tr = o->tr;
  uv_timer_init(loop, &d->timer);
  d->timer.data = d;
  firn_turn_settings s;
  firn_turn_settings_default(&s);
  char server[128];
  const char *port = o->tr == FIRN_TRANSPORT_TLS ? env("FIRN_COTURN_TLS_PORT") : env("FIRN_COTURN_PORT");
  snprintf(server, sizeof server, "%s:%s", env("FIRN_COTURN_HOST"), port);
  assert_int_equal(firn_addr_parse(&s.server, server, 3478), FIRN_OK);
  s.transport = o->tr;
  s.username = env("FIRN_COTURN_USER");
  s.password = env("FIRN_COTURN_PASS");
  s.software = "firn turn integration test";
  s.tls_ca_file = o->tr == FIRN_TRANSPORT_TLS ? env("FIRN_COTURN_CA") : NULL;
  s.tls_server_name = o->server_name ? o->server_name : (o->tr == FIRN_TRANSPORT_TLS ? env("FIRN_COTURN_TLS_NAME") : NULL);
  s.permission_refresh_ns = o->perm_refresh_ns;
  s.family = o->family ? o->family : FIRN_AF_INET;
  s.dual = o->dual;
  s.channel_refresh_ns = o->chan_refresh_ns;
  s.callbacks.on_state = cb_state;
  s.callbacks.on_data = cb_data;
  s.callbacks.on_connect = cb_connect;
  s.callbacks.on_close_connection = cb_close_conn;
  s.user = d;
  if (getenv("FIRN_TEST_VERBOSE")) {
    s.log = on_log;
    s.log_user = d;
    s.log_level = FIRN_LOG_DEBUG;
  }
  if (o->tr == FIRN_TRANSPORT_UDP) {
    assert_int_equal(uv_udp_init(loop, &d->udp), 0);
    d->udp.data = d;
    struct sockaddr_in b;
    uv_ip4_addr("127.0.0.1", 0, &b);
    assert_int_equal(uv_udp_bind(&d->udp, (const struct sockaddr *)&b, 0), 0);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_udp_getsockname(&d->udp, (struct sockaddr *)&ss, &len);
    to_firn((const struct sockaddr *)&ss, &d->local);
    s.local = d->local;
    assert_int_equal(uv_udp_recv_start(&d->udp, on_alloc, on_udp), 0);
  }
  assert_int_equal(firn_turn_new(&d->t, &s), FIRN_OK);
}

static void drv_close(drv *d) {
  firn_turn_free(d->t);
  d->t = NULL;
  if (d->tr == FIRN_TRANSPORT_UDP) uv_close((uv_handle_t *)&d->udp, NULL);
  else if (d->tcp.loop && !uv_is_closing((uv_handle_t *)&d->tcp)) uv_close((uv_handle_t *)&d->tcp, NULL);
  uv_close((uv_handle_t *)&d->timer, NULL);
}

/* Run the loop until `cond` holds or the guard fires. */
static int guard_fired;
static void on_guard(uv_timer_t *h) {
  (void)h;
  guard_fired = 1;
}

#define RUN_UNTIL(loop, cond, ms)                                                            \
  do {                                                                                       \
    uv_timer_t g_;                                                                           \
    uv_timer_init((loop), &g_);                                                              \
    guard_fired = 0;                                                                         \
    uv_timer_start(&g_, on_guard, (ms), 0);                                                  \
    while (!(cond) && !guard_fired) uv_run((loop), UV_RUN_ONCE);                             \
    uv_close((uv_handle_t *)&g_, NULL);                                                      \
    uv_run((loop), UV_RUN_NOWAIT);                                                           \
  } while (0)

static firn_turn_info info_of(const drv *d) {
  firn_turn_info i;
  firn_turn_get_info(d->t, &i);
  return i;
}

static void allocate(drv *d) {
  assert_int_equal(firn_turn_start(d->t, uv_hrtime()), FIRN_OK);
  pump(d);
  RUN_UNTIL(d->loop, firn_turn_get_state(d->t) >= FIRN_TURN_READY, GUARD_MS);
  firn_turn_info i = info_of(d);
  if (i.state != FIRN_TURN_READY)
    fail_msg("allocation over %d: state %s, %s (code %d, %s)", d->tr, firn_turn_state_name(i.state),
             firn_turn_failure_name(i.failure), i.error_code, firn_strerror(i.status));
  assert_int_equal(i.nrelayed, 1);
  assert_true(firn_addr_is_loopback(&i.relayed[0]));
  assert_in_range(i.relayed[0].port, (unsigned)atoi(env("FIRN_COTURN_MIN_PORT")),
                  (unsigned)atoi(env("FIRN_COTURN_MAX_PORT")));
  assert_true(i.lifetime_s > 0);
  assert_true(firn_addr_is_loopback(&i.mapped));
  if (d->tr == FIRN_TRANSPORT_UDP) assert_true(firn_addr_equal(&i.mapped, &d->local));
}

static void deallocate(drv *d) {
  assert_int_equal(firn_turn_close(d->t, uv_hrtime()), FIRN_OK);
  pump(d);
  RUN_UNTIL(d->loop, firn_turn_get_state(d->t) == FIRN_TURN_CLOSED, GUARD_MS);
  assert_int_equal(firn_turn_get_state(d->t), FIRN_TURN_CLOSED);
  assert_int_equal(info_of(d).failure, FIRN_TURN_FAIL_NONE);
}

static void loop_done(uv_loop_t *loop) {
  uv_run(loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(loop), 0);
}

/* Allocate and deallocate over each transport. */
static void allocate_over(firn_transport tr) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  drv d;
  opts o = {tr, NULL, 0, 0, 0, 0};
  drv_open(&d, &loop, &o);
  allocate(&d);
  deallocate(&d);
  drv_close(&d);
  loop_done(&loop);
}

static void test_allocate_udp(void **state) { (void)state; allocate_over(FIRN_TRANSPORT_UDP); }
static void test_allocate_tcp(void **state) { (void)state; allocate_over(FIRN_TRANSPORT_TCP); }
static void test_allocate_tls(void **state) { (void)state; allocate_over(FIRN_TRANSPORT_TLS); }

/* TLS with verification on and a name the certificate does not carry: fails, not READY. */
static void test_tls_wrong_name(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  drv d;
  opts o = {FIRN_TRANSPORT_TLS, "wrong.firn.test", 0, 0, 0, 0};
  drv_open(&d, &loop, &o);
  assert_int_equal(firn_turn_start(d.t, uv_hrtime()), FIRN_OK);
  pump(&d);
  RUN_UNTIL(&loop, firn_turn_get_state(d.t) >= FIRN_TURN_READY, GUARD_MS);
  firn_turn_info i = info_of(&d);
  assert_int_equal(i.state, FIRN_TURN_FAILED);
  assert_int_equal(i.failure, FIRN_TURN_FAIL_TLS);
  drv_close(&d);
  loop_done(&loop);
}

/* This coturn relays on 127.0.0.1 only: an IPv6 allocation is refused with 440 (Address
 * Family not Supported), reported so gathering goes on without it; a dual allocation gets
 * its IPv4 part (and the refusal of the IPv6 part in ADDRESS-ERROR-CODE). */
static void test_address_families(void **state) {
  (void)state;
  uv_loop_t loop;
  uv_loop_init(&loop);
  drv d;
  opts o = {FIRN_TRANSPORT_UDP, NULL, 0, 0, FIRN_AF_INET6, 0};
  drv_open(&d, &loop, &o);
  assert_int_equal(firn_turn_start(d.t, uv_hrtime()), FIRN_OK);
  pump(&d);
  RUN_UNTIL(&loop, firn_turn_get_state(d.t) >= FIRN_TURN_READY, GUARD_MS);
  firn_turn_info i = info_of(&d);
  if (i.state != FIRN_TURN_FAILED || i.failure != FIRN_TURN_FAIL_REFUSED)
    fail_msg("IPv6 allocation: state %s, failure %s, code %d", firn_turn_state_name(i.state),
             firn_turn_failure_name(i.failure), i.error_code);
  print_message("IPv6 allocation refused with %d\n", i.error_code);
  assert_int_equal(i.error_code, 440);
  drv_close(&d);

  opts od = {FIRN_TRANSPORT_UDP, NULL, 0, 0, FIRN_AF_INET, 1};
  drv d2; /* `d` is still closing on the loop */
  drv_open(&d2, &loop, &od);
  assert_int_equal(firn_turn_start(d2.t, uv_hrtime()), FIRN_OK);
  pump(&d2);
  RUN_UNTIL(&loop, firn_turn_get_state(d2.t) >= FIRN_TURN_READY, GUARD_MS);
  i = info_of(&d2);
  if (i.state != FIRN_TURN_READY)
    fail_msg("dual allocation: state %s, failure %s, code %d", firn_turn_state_name(i.state),
             firn_turn_failure_name(i.failure), i.error_code);
  assert_int_equal(i.relayed[0].family, FIRN_AF_INET);
  print_message("dual allocation: %u relayed, ADDRESS-ERROR-CODE %d\n", i.nrelayed, i.additional_error);
  deallocate(&d2);
  drv_close(&d2);
  loop_done(&loop);
}

/* Wait until `d` delivered `want` data packets and check the last one. */
static void expect_data(drv *d, int want, const firn_addr *from, const char *text) {
  RUN_UNTIL(d->loop, d->ndata >= want, GUARD_MS);
  if (d->ndata < want) fail_msg("expected data \"%s\" (packet %d), have %d", text, want, d->ndata);
  assert_true(firn_addr_equal(&d->data_peer, from));
  assert_string_equal(d->data, text);
}

/* Two allocations on the same coturn relaying to each other. */
static void relay_pair(firn_transport ta, firn_transport tb, int wait_refreshes) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  drv a, b;
  opts oa = {ta, NULL, 0, 0, 0, 0}, ob = {tb, NULL, 0, 0, 0, 0};
  if (wait_refreshes) {
    /* refresh well inside coturn's short permission/channel lifetimes */
    uint64_t pl = (uint64_t)atoi(env("FIRN_COTURN_PERMISSION_LIFETIME")) * FIRN_NS_PER_S;
    uint64_t cl = (uint64_t)atoi(env("FIRN_COTURN_CHANNEL_LIFETIME")) * FIRN_NS_PER_S;
    oa.perm_refresh_ns = ob.perm_refresh_ns = pl / 2;
    oa.chan_refresh_ns = ob.chan_refresh_ns = cl / 2;
  }
  drv_open(&a, &loop, &oa);
  drv_open(&b, &loop, &ob);
  allocate(&a);
  allocate(&b);
  firn_addr ra = info_of(&a).relayed[0], rb = info_of(&b).relayed[0];

  /* permissions both ways, then Send/Data indications */
  assert_int_equal(firn_turn_permit(a.t, &rb, uv_hrtime()), FIRN_OK);
  assert_int_equal(firn_turn_permit(b.t, &ra, uv_hrtime()), FIRN_OK);
  pump(&a);
  pump(&b);
  RUN_UNTIL(&loop, firn_turn_has_permission(a.t, &rb) && firn_turn_has_permission(b.t, &ra), GUARD_MS);
  assert_true(firn_turn_has_permission(a.t, &rb) && firn_turn_has_permission(b.t, &ra));
  send_to(&a, &rb, "indication a->b");
  expect_data(&b, 1, &ra, "indication a->b");
  send_to(&b, &ra, "indication b->a");
  expect_data(&a, 1, &rb, "indication b->a");

  /* channels both ways, then ChannelData */
  assert_int_equal(firn_turn_bind_channel(a.t, &rb, uv_hrtime(), NULL), FIRN_OK);
  assert_int_equal(firn_turn_bind_channel(b.t, &ra, uv_hrtime(), NULL), FIRN_OK);
  pump(&a);
  pump(&b);
  RUN_UNTIL(&loop, firn_turn_channel(a.t, &rb) && firn_turn_channel(b.t, &ra), GUARD_MS);
  assert_int_equal(firn_turn_channel(a.t, &rb), 0x4000);
  assert_int_equal(firn_turn_channel(b.t, &ra), 0x4000);
  send_to(&a, &rb, "channel a->b");
  expect_data(&b, 2, &ra, "channel a->b");
  send_to(&b, &ra, "channel b->a, a bit longer");
  expect_data(&a, 2, &rb, "channel b->a, a bit longer");
  firn_turn_stats sa, sb;
  firn_turn_get_stats(a.t, &sa);
  firn_turn_get_stats(b.t, &sb);
  assert_int_equal(sa.channel_data_out, 1);
  assert_int_equal(sb.channel_data_out, 1);
  /* coturn relays our ChannelData to the peer's allocation, whose own channel to us then
   * delivers it as ChannelData */
  assert_int_equal(sa.channel_data_in, 1);
  assert_int_equal(sb.channel_data_in, 1);

  if (wait_refreshes) {
    /* Stay past every original lifetime (allocation, permission, channel, nonce) while the
     * clients refresh on their own; data must still flow afterwards. */
    unsigned life = (unsigned)atoi(env("FIRN_COTURN_MAX_ALLOCATE_LIFETIME"));
    unsigned cl = (unsigned)atoi(env("FIRN_COTURN_CHANNEL_LIFETIME"));
    unsigned wait_s = (life > cl ? life : cl) + 2;
    if (wait_s > 20) {
      print_message("skipping the refresh wait: lifetimes are not short (%u s)\n", wait_s);
    } else {
      uint64_t t0 = uv_hrtime();
      RUN_UNTIL(&loop, uv_hrtime() - t0 >= (uint64_t)wait_s * FIRN_NS_PER_S, (wait_s + 5) * 1000);
      firn_turn_get_stats(a.t, &sa);
      firn_turn_get_stats(b.t, &sb);
      print_message("after %u s: refreshes %llu/%llu, permission refreshes %llu/%llu, channel refreshes %llu/%llu\n",
                    wait_s, (unsigned long long)sa.refreshes, (unsigned long long)sb.refreshes,
                    (unsigned long long)sa.permission_refreshes, (unsigned long long)sb.permission_refreshes,
                    (unsigned long long)sa.channel_refreshes, (unsigned long long)sb.channel_refreshes);
      assert_true(sa.refreshes >= 1 && sb.refreshes >= 1);
      assert_true(sa.permission_refreshes >= 1 && sb.permission_refreshes >= 1);
      assert_true(sa.channel_refreshes >= 1 && sb.channel_refreshes >= 1);
      /* coturn's nonce lasts FIRN_COTURN_STALE_NONCE (3 s): refreshes met 438 and went on */
      print_message("stale nonces: %llu/%llu\n", (unsigned long long)sa.stale_nonces,
                    (unsigned long long)sb.stale_nonces);
      if (atoi(env("FIRN_COTURN_STALE_NONCE")) < (int)wait_s) assert_true(sa.stale_nonces + sb.stale_nonces >= 1);
      assert_int_equal(firn_turn_get_state(a.t), FIRN_TURN_READY);
      assert_int_equal(firn_turn_get_state(b.t), FIRN_TURN_READY);
      send_to(&a, &rb, "still here a->b");
      expect_data(&b, 3, &ra, "still here a->b");
      send_to(&b, &ra, "still here b->a");
      expect_data(&a, 3, &rb, "still here b->a");
    }
  }
  deallocate(&a);
  deallocate(&b);
  drv_close(&a);
  drv_close(&b);
  loop_done(&loop);
}

static void test_relay_udp_udp(void **state) { (void)state; relay_pair(FIRN_TRANSPORT_UDP, FIRN_TRANSPORT_UDP, 0); }
static void test_relay_tls_tcp(void **state) { (void)state; relay_pair(FIRN_TRANSPORT_TLS, FIRN_TRANSPORT_TCP, 0); }
static void test_refreshes_observed(void **state) {
  (void)state;
  relay_pair(FIRN_TRANSPORT_UDP, FIRN_TRANSPORT_TCP, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_allocate_udp),
      cmocka_unit_test(test_allocate_tcp),
      cmocka_unit_test(test_allocate_tls),
      cmocka_unit_test(test_tls_wrong_name),
      cmocka_unit_test(test_address_families),
      cmocka_unit_test(test_relay_udp_udp),
      cmocka_unit_test(test_relay_tls_tcp),
      cmocka_unit_test(test_refreshes_observed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
