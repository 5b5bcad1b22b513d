/* firn's STUN client against a real coturn on 127.0.0.1 (started by run.sh through
 * scripts/coturn.sh, which exports FIRN_COTURN_* into the environment).
 *
 * Real UDP sockets through libuv; protocol time from uv_hrtime(). The client is driven the
 * way a runtime drives it: after every event handle_expiry(now), then every due datagram from
 * poll_transmit(), then a timer armed for expiry(). Each scenario opens its own socket, so
 * coturn sees a fresh 5-tuple (its allocations and nonces are per 5-tuple). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <uv.h>

#include "firn/stun.h"

#define MS FIRN_NS_PER_MS
/* Every exchange here completes in milliseconds on loopback; this only stops a hang. */
#define GUARD_MS 15000

typedef struct sent_info {
  int has_mi;
  char nonce[128];
} sent_info;

typedef struct driver {
  uv_loop_t loop;
  uv_udp_t udp;
  uv_timer_t timer;  /* the client's expiry */
  uv_timer_t guard;  /* test guard / real waits */
  firn_stun_client *client;
  firn_addr local;
  firn_addr server;
  int done;
  int guard_fired;
  /* last result */
  int status;
  int code;
  unsigned tx;
  int has_mapped, has_relayed, has_lifetime;
  firn_addr mapped, relayed;
  uint32_t lifetime;
  /* what went out and what came back for the current transaction */
  int nsent;
  sent_info sent[16];
  int nrecv_codes;
  int recv_codes[16];
} driver;

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
    a->scope_id = s.sin6_scope_id;
  }
}

static void to_sockaddr(const firn_addr *a, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (a->family == FIRN_AF_INET) {
    struct sockaddr_in s;
    memset(&s, 0, sizeof s);
    s.sin_family = AF_INET;
    s.sin_port = htons(a->port);
    memcpy(&s.sin_addr, a->addr, 4);
    memcpy(ss, &s, sizeof s);
  } else {
    struct sockaddr_in6 s;
    memset(&s, 0, sizeof s);
    s.sin6_family = AF_INET6;
    s.sin6_port = htons(a->port);
    s.sin6_scope_id = a->scope_id;
    memcpy(&s.sin6_addr, a->addr, 16);
    memcpy(ss, &s, sizeof s);
  }
}

static void on_result(void *user, const firn_stun_result *r) {
  driver *d = user;
  d->done = 1;
  d->status = r->status;
  d->code = r->error_code;
  d->tx = r->transmissions;
  d->has_mapped = d->has_relayed = d->has_lifetime = 0;
  if (r->response) {
    d->has_mapped = firn_stun_msg_get_xor_addr(r->response, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, 0,
                                               &d->mapped) == FIRN_OK;
    d->has_relayed = firn_stun_msg_get_xor_addr(r->response, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, 0,
                                                &d->relayed) == FIRN_OK;
    d->has_lifetime = firn_stun_msg_get_u32(r->response, FIRN_STUN_ATTR_LIFETIME, &d->lifetime) == FIRN_OK;
  }
}

static void on_log(void *user, firn_log_level level, const char *module, const char *msg) {
  (void)user;
  (void)level;
  fprintf(stderr, "[%s] %s\n", module, msg);
}

static void pump(driver *d);

static void on_timer(uv_timer_t *t) { pump(t->data); }

/* Run the client at the current time: timeouts, due datagrams, then re-arm the timer. */
static void pump(driver *d) {
  uint64_t now = uv_hrtime();
  firn_stun_client_handle_expiry(d->client, now);
  uint8_t buf[1500];
  firn_addr dest;
  firn_ssize n;
  while ((n = firn_stun_client_poll_transmit(d->client, now, buf, sizeof buf, &dest, NULL)) > 0) {
    firn_stun_msg m;
    if (d->nsent < 16 && firn_stun_msg_parse(&m, buf, (size_t)n) == FIRN_OK) {
      sent_info *si = &d->sent[d->nsent++];
      const char *nonce;
      size_t len;
      si->has_mi = m.mi_off != 0 || m.mi256_off != 0;
      si->nonce[0] = 0;
      if (firn_stun_msg_get_string(&m, FIRN_STUN_ATTR_NONCE, &nonce, &len) == FIRN_OK &&
          len < sizeof si->nonce) {
        memcpy(si->nonce, nonce, len);
        si->nonce[len] = 0;
      }
    }
    struct sockaddr_storage ss;
    to_sockaddr(&dest, &ss);
    uv_buf_t b = uv_buf_init((char *)buf, (unsigned)n);
    int rc = uv_udp_try_send(&d->udp, &b, 1, (const struct sockaddr *)&ss);
    if (rc < 0) fprintf(stderr, "send failed: %s (the retransmission covers it)\n", uv_strerror(rc));
  }
  uint64_t e = firn_stun_client_expiry(d->client);
  if (e == FIRN_TIME_NEVER) {
    uv_timer_stop(&d->timer);
  } else {
    uint64_t delay = e > now ? (e - now + MS - 1) / MS : 0;
    uv_timer_start(&d->timer, on_timer, delay, 0);
  }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  static char slab[65536];
  *buf = uv_buf_init(slab, sizeof slab);
}

static void on_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *from,
                    unsigned flags) {
  (void)flags;
  driver *d = h->data;
  if (nread <= 0 || !from) return;
  firn_addr src;
  to_firn(from, &src);
  firn_stun_msg m;
  if (firn_stun_msg_parse(&m, (const uint8_t *)buf->base, (size_t)nread) == FIRN_OK) {
    int code = 0;
    if (m.cls == FIRN_STUN_ERROR && firn_stun_msg_get_error(&m, &code, NULL, NULL) == FIRN_OK &&
        d->nrecv_codes < 16)
      d->recv_codes[d->nrecv_codes++] = code;
    if (getenv("FIRN_TEST_VERBOSE"))
      fprintf(stderr, "[test] received method 0x%03x class %u code %d, %zu bytes, MI %s, MI-SHA256 %s\n",
              (unsigned)m.method, (unsigned)m.cls, code, m.len, m.mi_off ? "yes" : "no",
              m.mi256_off ? "yes" : "no");
  }
  firn_stun_client_handle_response(d->client, (const uint8_t *)buf->base, (size_t)nread, &src,
                                   uv_hrtime());
  pump(d);
}

static void on_guard(uv_timer_t *t) {
  driver *d = t->data;
  d->guard_fired = 1;
}

static void driver_open(driver *d) {
  memset(d, 0, sizeof *d);
  assert_int_equal(uv_loop_init(&d->loop), 0);
  assert_int_equal(uv_udp_init(&d->loop, &d->udp), 0);
  uv_timer_init(&d->loop, &d->timer);
  uv_timer_init(&d->loop, &d->guard);
  d->udp.data = d->timer.data = d->guard.data = d;
  struct sockaddr_in bind_addr;
  assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &bind_addr), 0);
  assert_int_equal(uv_udp_bind(&d->udp, (const struct sockaddr *)&bind_addr, 0), 0);
  struct sockaddr_storage ss;
  int len = sizeof ss;
  assert_int_equal(uv_udp_getsockname(&d->udp, (struct sockaddr *)&ss, &len), 0);
  to_firn((const struct sockaddr *)&ss, &d->local);
  assert_int_equal(uv_udp_recv_start(&d->udp, on_alloc, on_recv), 0);

  char server[128];
  snprintf(server, sizeof server, "%s:%s", env("FIRN_COTURN_HOST"), env("FIRN_COTURN_PORT"));
  assert_int_equal(firn_addr_parse(&d->server, server, 3478), FIRN_OK);

  firn_stun_client_settings s;
  firn_stun_client_settings_default(&s);
  s.software = "firn integration test";
  s.on_result = on_result;
  s.user = d;
  if (getenv("FIRN_TEST_VERBOSE")) {
    s.log = on_log;
    s.log_level = FIRN_LOG_TRACE;
  }
  assert_int_equal(firn_stun_client_new(&d->client, &s), FIRN_OK);
}

static void driver_close(driver *d) {
  firn_stun_client_free(d->client);
  uv_close((uv_handle_t *)&d->udp, NULL);
  uv_close((uv_handle_t *)&d->timer, NULL);
  uv_close((uv_handle_t *)&d->guard, NULL);
  uv_run(&d->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&d->loop), 0);
}

/* Start `req` and run the loop until its result arrives. */
static void transact(driver *d, const firn_stun_request *req) {
  uint64_t id;
  d->done = 0;
  d->guard_fired = 0;
  d->nsent = 0;
  d->nrecv_codes = 0;
  assert_int_equal(firn_stun_client_start(d->client, req, uv_hrtime(), &id), FIRN_OK);
  uv_timer_start(&d->guard, on_guard, GUARD_MS, 0);
  pump(d);
  while (!d->done && !d->guard_fired) uv_run(&d->loop, UV_RUN_ONCE);
  uv_timer_stop(&d->guard);
  assert_false(d->guard_fired);
  assert_true(d->done);
}

/* A real wait on the loop (the server's nonce lifetime is what is under test). */
static void wait_ms(driver *d, uint64_t ms) {
  d->guard_fired = 0;
  uv_timer_start(&d->guard, on_guard, ms, 0);
  while (!d->guard_fired) uv_run(&d->loop, UV_RUN_ONCE);
}

static const uint8_t req_transport_udp[8] = {0x00, 0x19, 0x00, 0x04, 17, 0, 0, 0};

static firn_stun_request request(const driver *d, uint16_t method, firn_stun_auth *auth) {
  firn_stun_request req;
  memset(&req, 0, sizeof req);
  req.method = method;
  req.dest = d->server;
  req.long_term = auth;
  return req;
}

static firn_stun_request allocate_req(const driver *d, firn_stun_auth *auth) {
  firn_stun_request req = request(d, FIRN_STUN_ALLOCATE, auth);
  req.attrs = req_transport_udp;
  req.attrs_len = sizeof req_transport_udp;
  req.fingerprint = 1;
  return req;
}

static firn_stun_request refresh_req(const driver *d, firn_stun_auth *auth, uint32_t lifetime,
                                     uint8_t attrs[8]) {
  attrs[0] = 0x00;
  attrs[1] = 0x0d; /* LIFETIME */
  attrs[2] = 0x00;
  attrs[3] = 0x04;
  attrs[4] = (uint8_t)(lifetime >> 24);
  attrs[5] = (uint8_t)(lifetime >> 16);
  attrs[6] = (uint8_t)(lifetime >> 8);
  attrs[7] = (uint8_t)lifetime;
  firn_stun_request req = request(d, FIRN_STUN_REFRESH, auth);
  req.attrs = attrs;
  req.attrs_len = 8;
  return req;
}

static firn_stun_auth *good_auth(void) {
  firn_stun_auth *a = NULL;
  assert_int_equal(firn_stun_auth_new(&a, NULL, env("FIRN_COTURN_USER"), env("FIRN_COTURN_PASS")),
                   FIRN_OK);
  return a;
}

static void assert_mapped_is_us(const driver *d) {
  assert_true(d->has_mapped);
  char a[FIRN_ADDR_STRLEN], b[FIRN_ADDR_STRLEN];
  firn_addr_format(&d->mapped, 1, a, sizeof a);
  firn_addr_format(&d->local, 1, b, sizeof b);
  if (!firn_addr_equal(&d->mapped, &d->local)) fail_msg("mapped %s, our socket %s", a, b);
}

/* (a) Binding without credentials: XOR-MAPPED-ADDRESS is our own socket address. */
static void test_binding(void **state) {
  (void)state;
  driver d;
  driver_open(&d);
  firn_stun_request req = request(&d, FIRN_STUN_BINDING, NULL);
  req.fingerprint = 1;
  transact(&d, &req);
  assert_int_equal(d.status, FIRN_OK);
  assert_mapped_is_us(&d);
  assert_true(firn_addr_is_loopback(&d.local));
  driver_close(&d);
}

/* (b) Allocate through the 401 challenge, then Refresh with LIFETIME 0 to deallocate. */
static void test_allocate_and_deallocate(void **state) {
  (void)state;
  driver d;
  driver_open(&d);
  firn_stun_auth *auth = good_auth();
  firn_stun_request req = allocate_req(&d, auth);
  transact(&d, &req);
  if (d.status != FIRN_OK) fail_msg("Allocate: %s (code %d)", firn_strerror(d.status), d.code);
  /* first attempt without credentials, 401, second with them */
  assert_int_equal(d.nsent, 2);
  assert_false(d.sent[0].has_mi);
  assert_true(d.sent[1].has_mi);
  assert_int_equal(d.nrecv_codes, 1);
  assert_int_equal(d.recv_codes[0], 401);
  assert_true(d.has_relayed);
  assert_int_equal(d.relayed.family, FIRN_AF_INET);
  assert_true(firn_addr_is_loopback(&d.relayed));
  assert_in_range(d.relayed.port, (unsigned)atoi(env("FIRN_COTURN_MIN_PORT")),
                  (unsigned)atoi(env("FIRN_COTURN_MAX_PORT")));
  assert_true(d.has_lifetime);
  assert_true(d.lifetime > 0);
  assert_mapped_is_us(&d);

  /* deallocate: cached credentials, one signed transmission */
  uint8_t attrs[8];
  req = refresh_req(&d, auth, 0, attrs);
  transact(&d, &req);
  if (d.status != FIRN_OK) fail_msg("Refresh(0): %s (code %d)", firn_strerror(d.status), d.code);
  assert_int_equal(d.nsent, 1);
  assert_true(d.sent[0].has_mi);
  /* RFC 8656 7.3: a successful deallocation answers with LIFETIME 0 */
  assert_true(d.has_lifetime);
  assert_int_equal(d.lifetime, 0);
  firn_stun_auth_free(auth);
  driver_close(&d);
}

/* (c) A wrong password ends cleanly with a failure, not a timeout. */
static void test_wrong_password(void **state) {
  (void)state;
  driver d;
  driver_open(&d);
  firn_stun_auth *auth = NULL;
  assert_int_equal(firn_stun_auth_new(&auth, NULL, env("FIRN_COTURN_USER"), "not-the-password"), FIRN_OK);
  firn_stun_request req = allocate_req(&d, auth);
  uint64_t t0 = uv_hrtime();
  transact(&d, &req);
  uint64_t took = uv_hrtime() - t0;
  if (!(d.status == FIRN_ERR_STUN_AUTH_FAILED ||
        (d.status == FIRN_ERR_STUN_ERROR_RESPONSE && d.code == 401)))
    fail_msg("wrong password: %s (code %d)", firn_strerror(d.status), d.code);
  assert_int_equal(d.code, 401);
  assert_true(d.nsent >= 2 && d.sent[1].has_mi); /* it did try the credentials */
  assert_true(took < 5000 * MS); /* answered, not timed out */
  driver_close(&d);
  /* an unknown user fails the same way (on a fresh 5-tuple: coturn binds a 5-tuple to the
   * first user that tried it and answers others with an unsigned 437, which a client must
   * discard) */
  driver_open(&d);
  firn_stun_auth *nobody = NULL;
  assert_int_equal(firn_stun_auth_new(&nobody, NULL, "nobody", "x"), FIRN_OK);
  req = allocate_req(&d, nobody);
  transact(&d, &req);
  assert_true(d.status == FIRN_ERR_STUN_AUTH_FAILED || d.status == FIRN_ERR_STUN_ERROR_RESPONSE);
  assert_int_equal(d.code, 401);
  firn_stun_auth_free(auth);
  firn_stun_auth_free(nobody);
  driver_close(&d);
}

/* (d) coturn started with a short --stale-nonce: after it passes, a Refresh gets 438 and the
 * client retries with the new nonce, transparently. */
static void test_stale_nonce(void **state) {
  (void)state;
  long stale = atol(env("FIRN_COTURN_STALE_NONCE"));
  if (stale <= 0 || stale > 5) {
    print_message("skipping: stale-nonce is %ld s (needs 1..5)\n", stale);
    skip();
  }
  driver d;
  driver_open(&d);
  firn_stun_auth *auth = good_auth();
  firn_stun_request req = allocate_req(&d, auth);
  transact(&d, &req);
  if (d.status != FIRN_OK) fail_msg("Allocate: %s (code %d)", firn_strerror(d.status), d.code);
  wait_ms(&d, (uint64_t)stale * 1000 + 1500);
  uint8_t attrs[8];
  req = refresh_req(&d, auth, 600, attrs);
  transact(&d, &req);
  if (d.status != FIRN_OK) fail_msg("Refresh after stale nonce: %s (code %d)", firn_strerror(d.status), d.code);
  assert_int_equal(d.nrecv_codes, 1);
  assert_int_equal(d.recv_codes[0], 438);
  assert_int_equal(d.nsent, 2);
  assert_true(d.sent[0].has_mi && d.sent[1].has_mi);
  assert_string_not_equal(d.sent[0].nonce, d.sent[1].nonce);
  assert_true(d.has_lifetime);
  req = refresh_req(&d, auth, 0, attrs);
  transact(&d, &req);
  assert_int_equal(d.status, FIRN_OK);
  firn_stun_auth_free(auth);
  driver_close(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_binding),
      cmocka_unit_test(test_allocate_and_deallocate),
      cmocka_unit_test(test_wrong_password),
      cmocka_unit_test(test_stale_nonce),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
