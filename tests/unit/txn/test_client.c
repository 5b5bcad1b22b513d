/* STUN client transactions: retransmission schedule on a virtual clock, response matching,
 * the long-term credential flow (401, 438, SHA-256 password algorithm), the table bound,
 * cancel and re-entrant callbacks, and allocation failure at every allocation.
 *
 * The client is driven exactly as a runtime would drive it: expiry() says when to come back,
 * handle_expiry() and poll_transmit() run at that time, and responses are built by an
 * in-test responder with the codec. Randomness comes from a seeded generator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "firn/stun.h"

#define MS FIRN_NS_PER_MS

/* ------------------------------------------------------------------------------------------ */
/* Fixture                                                                                     */

typedef struct rec {
  uint64_t id;
  int status;
  int code;
  unsigned tx;
  uint64_t rtt;
  firn_addr from;
  int has_resp;
  int has_mapped;
  firn_addr mapped;
} rec;

typedef struct fixture fixture;
typedef void (*hook_fn)(fixture *f, const firn_stun_result *res);

struct fixture {
  firn_stun_client *c;
  uint64_t seed;
  firn_addr server;
  int n;
  rec r[16];
  hook_fn hook;
  uint64_t other_id;   /* for hooks: a transaction to cancel */
  uint64_t new_id;     /* for hooks: the transaction a hook started */
  int hook_rc;
  uint64_t now;
};

/* xorshift64: deterministic, so a failure replays exactly. */
static int seeded_random(void *user, uint8_t *buf, size_t len) {
  uint64_t *s = user;
  for (size_t i = 0; i < len; i++) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    buf[i] = (uint8_t)(*s >> 32);
  }
  return 0;
}

static int broken_random(void *user, uint8_t *buf, size_t len) {
  (void)user;
  (void)buf;
  (void)len;
  return FIRN_ERR_RANDOM;
}

static void on_result(void *user, const firn_stun_result *res) {
  fixture *f = user;
  assert_true(f->n < 16);
  rec *r = &f->r[f->n++];
  memset(r, 0, sizeof *r);
  r->id = res->id;
  r->status = res->status;
  r->code = res->error_code;
  r->tx = res->transmissions;
  r->rtt = res->rtt_ns;
  r->from = res->from;
  if (res->response) {
    r->has_resp = 1;
    r->has_mapped = firn_stun_msg_get_xor_addr(res->response, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, 0,
                                               &r->mapped) == FIRN_OK;
  }
  if (f->hook) f->hook(f, res);
}

static void settings_for(fixture *f, firn_stun_client_settings *s) {
  firn_stun_client_settings_default(s);
  s->random = seeded_random;
  s->random_user = &f->seed;
  s->on_result = on_result;
  s->user = f;
}

static void setup_with(fixture *f, const firn_stun_client_settings *s) {
  assert_int_equal(firn_stun_client_new(&f->c, s), FIRN_OK);
}

static void fixture_init(fixture *f) {
  memset(f, 0, sizeof *f);
  f->seed = 0x9e3779b97f4a7c15ull;
  assert_int_equal(firn_addr_parse(&f->server, "127.0.0.1:3478", 0), FIRN_OK);
}

static void setup(fixture *f) {
  fixture_init(f);
  firn_stun_client_settings s;
  settings_for(f, &s);
  setup_with(f, &s);
}

static void teardown(fixture *f) {
  firn_stun_client_free(f->c);
  f->c = NULL;
}

static firn_stun_request binding(const fixture *f) {
  firn_stun_request req;
  memset(&req, 0, sizeof req);
  req.method = FIRN_STUN_BINDING;
  req.dest = f->server;
  return req;
}

/* One datagram due at `now`, parsed. */
typedef struct pkt {
  uint8_t buf[1500];
  size_t len;
  firn_stun_msg m;
} pkt;

static void take(fixture *f, uint64_t now, pkt *p) {
  firn_addr dest;
  firn_ssize n = firn_stun_client_poll_transmit(f->c, now, p->buf, sizeof p->buf, &dest, NULL);
  assert_true(n > 0);
  p->len = (size_t)n;
  assert_true(firn_addr_equal(&dest, &f->server));
  assert_int_equal(firn_stun_msg_parse(&p->m, p->buf, p->len), FIRN_OK);
  assert_int_equal(p->m.cls, FIRN_STUN_REQUEST);
}

static void nothing_due(fixture *f, uint64_t now) {
  uint8_t buf[1500];
  assert_int_equal(firn_stun_client_poll_transmit(f->c, now, buf, sizeof buf, NULL, NULL),
                   FIRN_ERR_WOULDBLOCK);
}

/* ------------------------------------------------------------------------------------------ */
/* Responder                                                                                   */

typedef struct resp {
  firn_stun_class cls;
  int code;
  const char *realm;
  const char *nonce;
  const uint8_t *algs;
  size_t algs_len;
  const firn_stun_key *key;
  int sha256;
  const firn_stun_key *key256; /* also MESSAGE-INTEGRITY-SHA256 with this key (after MI) */
  uint16_t extra_attr;  /* an extra (e.g. unknown comprehension-required) attribute type */
  uint16_t method;      /* 0: the request's */
  int no_error_code;
} resp;

static const uint8_t mapped_ip[4] = {203, 0, 113, 5};

static size_t respond(uint8_t *out, size_t cap, const firn_stun_msg *req, const resp *o) {
  firn_stun_builder b;
  firn_stun_builder_init(&b, out, cap, o->method ? o->method : req->method, o->cls, req->tid);
  if (o->cls == FIRN_STUN_SUCCESS) {
    firn_addr m;
    firn_addr_set_ipv4(&m, mapped_ip, 40000);
    firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &m);
  } else if (!o->no_error_code) {
    firn_stun_add_error(&b, o->code, NULL);
  }
  if (o->realm) firn_stun_add_string(&b, FIRN_STUN_ATTR_REALM, o->realm, strlen(o->realm));
  if (o->nonce) firn_stun_add_string(&b, FIRN_STUN_ATTR_NONCE, o->nonce, strlen(o->nonce));
  if (o->algs) firn_stun_add_raw(&b, FIRN_STUN_ATTR_PASSWORD_ALGORITHMS, o->algs, o->algs_len);
  if (o->extra_attr) firn_stun_add_u32(&b, o->extra_attr, 7);
  if (o->key) {
    if (o->sha256) firn_stun_add_integrity_sha256(&b, o->key);
    else firn_stun_add_integrity(&b, o->key);
  }
  if (o->key256) firn_stun_add_integrity_sha256(&b, o->key256);
  firn_ssize n = firn_stun_builder_finish(&b);
  assert_true(n > 0);
  return (size_t)n;
}

static int deliver(fixture *f, const pkt *req, const resp *o, const firn_addr *from, uint64_t now) {
  uint8_t out[1500];
  size_t n = respond(out, sizeof out, &req->m, o);
  return firn_stun_client_handle_response(f->c, out, n, from ? from : &f->server, now);
}

static int has_string(const firn_stun_msg *m, uint16_t type, const char *want) {
  const char *s;
  size_t len;
  if (firn_stun_msg_get_string(m, type, &s, &len) < 0) return 0;
  return len == strlen(want) && memcmp(s, want, len) == 0;
}

static firn_stun_key *lt_key(firn_stun_password_alg alg, const char *user, const char *realm,
                             const char *pass) {
  firn_stun_key *k = NULL;
  assert_int_equal(firn_stun_key_new_long_term(&k, NULL, alg, user, strlen(user), realm, strlen(realm),
                                               pass, strlen(pass)),
                   FIRN_OK);
  return k;
}

/* ------------------------------------------------------------------------------------------ */
/* Retransmission schedule                                                                     */

/* Drive a UDP transaction to its timeout, visiting exactly the times expiry() names, and
 * check the send times and the timeout. */
static void run_schedule(fixture *f, const uint64_t *want_ms, int nsend, uint64_t timeout_ns) {
  pkt first, p;
  for (int i = 0; i < nsend; i++) {
    uint64_t t = want_ms[i] * MS;
    assert_int_equal(firn_stun_client_expiry(f->c), t);
    if (t > 0) {
      nothing_due(f, t - 1);
      firn_stun_client_handle_expiry(f->c, t - 1);
      assert_int_equal(f->n, 0);
    }
    firn_stun_client_handle_expiry(f->c, t);
    assert_int_equal(f->n, 0);
    take(f, t, i == 0 ? &first : &p);
    if (i > 0) { /* a retransmission is the same datagram, same transaction ID */
      assert_int_equal(p.len, first.len);
      assert_memory_equal(p.buf, first.buf, p.len);
    }
    nothing_due(f, t);
  }
  assert_int_equal(firn_stun_client_expiry(f->c), timeout_ns);
  nothing_due(f, timeout_ns + 1000 * MS);
  firn_stun_client_handle_expiry(f->c, timeout_ns - 1);
  assert_int_equal(f->n, 0);
  assert_int_equal(firn_stun_client_pending(f->c), 1);
  firn_stun_client_handle_expiry(f->c, timeout_ns);
  assert_int_equal(f->n, 1);
  assert_int_equal(f->r[0].status, FIRN_ERR_STUN_TIMEOUT);
  assert_int_equal(f->r[0].tx, (unsigned)nsend);
  assert_false(f->r[0].has_resp);
  assert_int_equal(firn_stun_client_pending(f->c), 0);
  assert_int_equal(firn_stun_client_expiry(f->c), FIRN_TIME_NEVER);
  firn_stun_client_handle_expiry(f->c, timeout_ns * 2);
  assert_int_equal(f->n, 1); /* exactly once */
}

static void test_udp_schedule_default(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  firn_stun_request req = binding(&f);
  uint64_t id = 0;
  assert_int_equal(firn_stun_client_expiry(f.c), FIRN_TIME_NEVER);
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  assert_true(id != 0);
  static const uint64_t want[] = {0, 500, 1500, 3500, 7500, 15500, 31500};
  run_schedule(&f, want, 7, 39500 * MS);
  assert_int_equal(f.r[0].id, id);
  teardown(&f);
}

static void test_udp_schedule_configured(void **state) {
  (void)state;
  fixture f;
  fixture_init(&f);
  firn_stun_client_settings s;
  settings_for(&f, &s);
  s.rto_ns = 100 * MS;
  s.rc = 3;
  s.rm = 4;
  setup_with(&f, &s);
  firn_stun_request req = binding(&f);
  uint64_t id;
  /* client RTO 100 ms: 0, 100, 300, timeout 300 + 4 * 100 */
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  static const uint64_t want[] = {0, 100, 300};
  run_schedule(&f, want, 3, 700 * MS);
  /* per-request RTO 50 ms overrides the client's: 0, 50, 150, timeout 150 + 4 * 50 */
  f.n = 0;
  req.rto_ns = 50 * MS;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  static const uint64_t want2[] = {0, 50, 150};
  run_schedule(&f, want2, 3, 350 * MS);
  teardown(&f);
}

/* Gaps are measured from the actual transmission: a late poll shifts the schedule instead of
 * producing a burst. */
static void test_late_poll_no_burst(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  firn_stun_request req = binding(&f);
  uint64_t id;
  pkt p;
  assert_int_equal(firn_stun_client_start(f.c, &req, 1000 * MS, &id), FIRN_OK);
  take(&f, 1000 * MS, &p);
  assert_int_equal(firn_stun_client_expiry(f.c), 1500 * MS);
  take(&f, 2200 * MS, &p); /* 700 ms late */
  nothing_due(&f, 2200 * MS);
  assert_int_equal(firn_stun_client_expiry(f.c), 3200 * MS);
  teardown(&f);
}

/* An absurd RTO saturates instead of wrapping, and the transaction still ends. */
static void test_huge_rto_still_times_out(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  firn_stun_request req = binding(&f);
  req.rto_ns = UINT64_MAX / 4;
  uint64_t id;
  pkt p;
  assert_int_equal(firn_stun_client_start(f.c, &req, 1000, &id), FIRN_OK);
  take(&f, 1000, &p);
  for (int i = 0; i < 10 && f.n == 0; i++) {
    uint64_t e = firn_stun_client_expiry(f.c);
    assert_true(e > 1000 && e < FIRN_TIME_NEVER);
    firn_stun_client_handle_expiry(f.c, e);
    uint8_t buf[1500];
    (void)firn_stun_client_poll_transmit(f.c, e, buf, sizeof buf, NULL, NULL);
  }
  assert_int_equal(f.n, 1);
  assert_int_equal(f.r[0].status, FIRN_ERR_STUN_TIMEOUT);
  teardown(&f);
}

/* IPv6 server, and the pre-parsed entry point used after demultiplexing. */
static void test_ipv6_and_parsed_entry(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  assert_int_equal(firn_addr_parse(&f.server, "[::1]:3478", 0), FIRN_OK);
  firn_stun_request req = binding(&f);
  uint64_t id;
  pkt p;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  take(&f, 0, &p);
  uint8_t out[1500];
  size_t n = respond(out, sizeof out, &p.m, &(resp){.cls = FIRN_STUN_SUCCESS});
  firn_stun_msg m;
  assert_int_equal(firn_stun_msg_parse(&m, out, n), FIRN_OK);
  firn_addr v4;
  assert_int_equal(firn_addr_parse(&v4, "127.0.0.1:3478", 0), FIRN_OK);
  assert_int_equal(firn_stun_client_handle_msg(f.c, &m, &v4, 5 * MS), FIRN_ERR_STUN_MISMATCH);
  assert_int_equal(firn_stun_client_handle_msg(f.c, &m, &f.server, 5 * MS), FIRN_OK);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.r[0].status, FIRN_OK);
  assert_int_equal(f.r[0].from.family, FIRN_AF_INET6);
  assert_int_equal(firn_stun_client_handle_msg(f.c, NULL, &f.server, 0), FIRN_ERR_INVALID_ARG);
  teardown(&f);
}

/* RFC 8489 9.1.4/9.2.5 integrity failures. Over UDP a response failing integrity is
 * discarded and retransmissions go on; if that is all that arrived, the result is an
 * integrity violation instead of a timeout. Over TCP/TLS it ends the transaction at once.
 * Unsigned error responses are discarded as if never received (not counted). */
static void test_integrity_failures(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  firn_stun_key *key = NULL, *wrong = NULL;
  assert_int_equal(firn_stun_key_new_short_term(&key, NULL, "pw", 2), FIRN_OK);
  assert_int_equal(firn_stun_key_new_short_term(&wrong, NULL, "xx", 2), FIRN_OK);
  firn_stun_request req = binding(&f);
  req.short_term = key;
  uint64_t id;
  pkt p;

  /* UDP: a wrongly signed answer, then nothing: BAD_INTEGRITY at the deadline */
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  take(&f, 0, &p);
  assert_int_equal(deliver(&f, &p, &(resp){.cls = FIRN_STUN_SUCCESS, .key = wrong}, NULL, 10 * MS),
                   FIRN_ERR_STUN_MISMATCH);
  assert_int_equal(f.n, 0);
  assert_int_equal(firn_stun_client_expiry(f.c), 500 * MS); /* retransmissions go on */
  f.now = 0;
  while (f.n == 0) {
    f.now = firn_stun_client_expiry(f.c);
    assert_true(f.now < 60000 * MS);
    uint8_t buf[1500];
    while (firn_stun_client_poll_transmit(f.c, f.now, buf, sizeof buf, NULL, NULL) > 0) {
    }
    firn_stun_client_handle_expiry(f.c, f.now);
  }
  assert_int_equal(f.now, 39500 * MS);
  assert_int_equal(f.r[0].id, id);
  assert_int_equal(f.r[0].status, FIRN_ERR_STUN_BAD_INTEGRITY);
  assert_false(f.r[0].has_resp);
  assert_int_equal(f.r[0].tx, 7);

  /* UDP: an unsigned success counts too; an unsigned error does not (plain timeout) */
  for (int unsigned_error = 0; unsigned_error < 2; unsigned_error++) {
    assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
    take(&f, 0, &p);
    resp r = unsigned_error ? (resp){.cls = FIRN_STUN_ERROR, .code = 400} : (resp){.cls = FIRN_STUN_SUCCESS};
    assert_int_equal(deliver(&f, &p, &r, NULL, 0), FIRN_ERR_STUN_MISMATCH);
    int n0 = f.n;
    while (f.n == n0) {
      uint64_t e = firn_stun_client_expiry(f.c);
      uint8_t buf[1500];
      while (firn_stun_client_poll_transmit(f.c, e, buf, sizeof buf, NULL, NULL) > 0) {
      }
      firn_stun_client_handle_expiry(f.c, e);
    }
    assert_int_equal(f.r[f.n - 1].status, unsigned_error ? FIRN_ERR_STUN_TIMEOUT : FIRN_ERR_STUN_BAD_INTEGRITY);
  }

  /* UDP: a good answer after a bad one is a plain success */
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  take(&f, 0, &p);
  assert_int_equal(deliver(&f, &p, &(resp){.cls = FIRN_STUN_SUCCESS, .key = wrong}, NULL, 0),
                   FIRN_ERR_STUN_MISMATCH);
  assert_int_equal(deliver(&f, &p, &(resp){.cls = FIRN_STUN_SUCCESS, .key = key}, NULL, 0), FIRN_OK);
  assert_int_equal(f.r[f.n - 1].status, FIRN_OK);

  /* TCP: the first answer failing integrity ends it at once; an unsigned error is dropped */
  req.reliable = 1;
  static const resp bad[] = {{.cls = FIRN_STUN_SUCCESS, .key = NULL},
                             {.cls = FIRN_STUN_ERROR, .code = 403, .key = NULL}};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
    take(&f, 0, &p);
    int n0 = f.n;
    assert_int_equal(deliver(&f, &p, &(resp){.cls = FIRN_STUN_ERROR, .code = 400}, NULL, 0),
                     FIRN_ERR_STUN_MISMATCH);
    assert_int_equal(f.n, n0);
    resp r = i == 2 ? bad[0] : bad[i];
    r.key = i == 2 ? NULL : wrong; /* wrongly signed success / error; unsigned success */
    assert_int_equal(deliver(&f, &p, &r, NULL, 20 * MS), FIRN_OK);
    assert_int_equal(f.n, n0 + 1);
    assert_int_equal(f.r[f.n - 1].id, id);
    assert_int_equal(f.r[f.n - 1].status, FIRN_ERR_STUN_BAD_INTEGRITY);
    assert_false(f.r[f.n - 1].has_resp);
    assert_int_equal(firn_stun_client_pending(f.c), 0);
  }
  teardown(&f);
  firn_stun_key_free(key);
  firn_stun_key_free(wrong);
}

/* A message whose parse failed is refused by handle_msg(): its header fields are stale (here
 * those of a matching response parsed into the same struct before), data is NULL. */
static void test_failed_parse_refused(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  firn_stun_request req = binding(&f);
  uint64_t id;
  pkt p;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  take(&f, 0, &p);
  uint8_t out[1500];
  size_t n = respond(out, sizeof out, &p.m, &(resp){.cls = FIRN_STUN_SUCCESS});
  firn_stun_msg m;
  assert_int_equal(firn_stun_msg_parse(&m, out, n), FIRN_OK);
  out[3] ^= 4; /* length off by 4: the parse fails, m keeps the old method/class/tid */
  assert_true(firn_stun_msg_parse(&m, out, n) < 0);
  assert_null(m.data);
  assert_int_equal(m.nattrs, 0);
  assert_int_equal(firn_stun_client_handle_msg(f.c, &m, &f.server, 5 * MS), FIRN_ERR_INVALID_ARG);
  assert_int_equal(f.n, 0);
  assert_int_equal(firn_stun_client_pending(f.c), 1);
  out[3] ^= 4;
  assert_int_equal(firn_stun_msg_parse(&m, out, n), FIRN_OK);
  assert_int_equal(firn_stun_client_handle_msg(f.c, &m, &f.server, 5 * MS), FIRN_OK);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.r[0].status, FIRN_OK);
  teardown(&f);
}

static void test_reliable_single_timeout(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  firn_stun_request req = binding(&f);
  req.reliable = 1;
  uint64_t id;
  pkt p;
  assert_int_equal(firn_stun_client_start(f.c, &req, 5 * MS, &id), FIRN_OK);
  assert_int_equal(firn_stun_client_expiry(f.c), 5 * MS);
  take(&f, 5 * MS, &p);
  uint64_t deadline = 5 * MS + 39500 * MS;
  assert_int_equal(firn_stun_client_expiry(f.c), deadline);
  nothing_due(&f, deadline - 1);
  nothing_due(&f, deadline);
  firn_stun_client_handle_expiry(f.c, deadline - 1);
  assert_int_equal(f.n, 0);
  firn_stun_client_handle_expiry(f.c, deadline);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.r[0].status, FIRN_ERR_STUN_TIMEOUT);
  assert_int_equal(f.r[0].tx, 1);
  teardown(&f);
}

/* ------------------------------------------------------------------------------------------ */
/* Matching                                                                                    */

static void test_success_matched(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  firn_stun_request req = binding(&f);
  int ctx_token = 42;
  req.ctx = &ctx_token;
  uint64_t id;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  uint8_t buf[1500];
  firn_addr dest;
  void *ctx = NULL;
  /* too small a buffer: NOBUF, and the datagram stays due */
  assert_int_equal(firn_stun_client_poll_transmit(f.c, 0, buf, 10, &dest, &ctx), FIRN_ERR_NOBUF);
  pkt p;
  firn_ssize n = firn_stun_client_poll_transmit(f.c, 0, p.buf, sizeof p.buf, &dest, &ctx);
  assert_true(n == 20); /* a plain Binding request: header only */
  assert_ptr_equal(ctx, &ctx_token);
  p.len = (size_t)n;
  assert_int_equal(firn_stun_msg_parse(&p.m, p.buf, p.len), FIRN_OK);
  assert_int_equal(p.m.method, FIRN_STUN_BINDING);
  /* the transaction ID is the injected source's first 12 bytes */
  uint64_t replay = 0x9e3779b97f4a7c15ull;
  uint8_t want_tid[FIRN_STUN_TID_SIZE];
  seeded_random(&replay, want_tid, sizeof want_tid);
  assert_memory_equal(p.m.tid, want_tid, sizeof want_tid);
  assert_int_equal(deliver(&f, &p, &(resp){.cls = FIRN_STUN_SUCCESS}, NULL, 120 * MS), FIRN_OK);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.r[0].id, id);
  assert_int_equal(f.r[0].status, FIRN_OK);
  assert_int_equal(f.r[0].rtt, 120 * MS);
  assert_int_equal(f.r[0].tx, 1);
  assert_true(firn_addr_equal(&f.r[0].from, &f.server));
  assert_true(f.r[0].has_mapped);
  assert_int_equal(f.r[0].mapped.port, 40000);
  assert_memory_equal(f.r[0].mapped.addr, mapped_ip, 4);
  assert_int_equal(firn_stun_client_pending(f.c), 0);
  /* a duplicate of the response matches nothing now */
  assert_int_equal(deliver(&f, &p, &(resp){.cls = FIRN_STUN_SUCCESS}, NULL, 130 * MS),
                   FIRN_ERR_STUN_MISMATCH);
  assert_int_equal(f.n, 1);
  teardown(&f);
}

/* Short-term credentials: USERNAME + MESSAGE-INTEGRITY + FINGERPRINT + SOFTWARE on the wire;
 * responses with the wrong ID, source, method, class or integrity are dropped and the
 * transaction keeps retransmitting until a good one arrives. */
static void test_drops_then_success(void **state) {
  (void)state;
  fixture f;
  fixture_init(&f);
  firn_stun_client_settings s;
  settings_for(&f, &s);
  s.software = "firn test";
  setup_with(&f, &s);
  firn_stun_key *key = NULL, *wrong = NULL;
  assert_int_equal(firn_stun_key_new_short_term(&key, NULL, "icepassword", 11), FIRN_OK);
  assert_int_equal(firn_stun_key_new_short_term(&wrong, NULL, "otherpassword", 13), FIRN_OK);
  firn_stun_request req = binding(&f);
  req.short_term = key;
  req.short_term_username = "remote:local";
  req.fingerprint = 1;
  static const uint8_t prio[8] = {0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff};
  req.attrs = prio;
  req.attrs_len = sizeof prio;
  uint64_t id;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  pkt p;
  take(&f, 0, &p);
  assert_true(has_string(&p.m, FIRN_STUN_ATTR_USERNAME, "remote:local"));
  assert_true(has_string(&p.m, FIRN_STUN_ATTR_SOFTWARE, "firn test"));
  uint32_t prio_v = 0;
  assert_int_equal(firn_stun_msg_get_u32(&p.m, FIRN_STUN_ATTR_PRIORITY, &prio_v), FIRN_OK);
  assert_int_equal(prio_v, 0x6e0001ff);
  assert_true(p.m.fp_off != 0);
  assert_true(p.m.mi_off != 0);
  assert_int_equal(firn_stun_msg_verify_sha1(&p.m, key), FIRN_OK);
  assert_int_equal(firn_stun_msg_verify_sha1(&p.m, wrong), FIRN_ERR_STUN_BAD_INTEGRITY);

  resp good = {.cls = FIRN_STUN_SUCCESS, .key = key};
  /* wrong transaction ID */
  pkt q = p;
  q.m.tid[11] ^= 1;
  assert_int_equal(deliver(&f, &q, &good, NULL, 10 * MS), FIRN_ERR_STUN_MISMATCH);
  /* wrong source: other IP, other port */
  firn_addr other;
  assert_int_equal(firn_addr_parse(&other, "127.0.0.2:3478", 0), FIRN_OK);
  assert_int_equal(deliver(&f, &p, &good, &other, 10 * MS), FIRN_ERR_STUN_MISMATCH);
  assert_int_equal(firn_addr_parse(&other, "127.0.0.1:3479", 0), FIRN_OK);
  assert_int_equal(deliver(&f, &p, &good, &other, 10 * MS), FIRN_ERR_STUN_MISMATCH);
  /* integrity with the wrong key, and none at all */
  assert_int_equal(deliver(&f, &p, &(resp){.cls = FIRN_STUN_SUCCESS, .key = wrong}, NULL, 10 * MS),
                   FIRN_ERR_STUN_MISMATCH);
  assert_int_equal(deliver(&f, &p, &(resp){.cls = FIRN_STUN_SUCCESS}, NULL, 10 * MS),
                   FIRN_ERR_STUN_MISMATCH);
  /* a signed error response is not dropped, but an unsigned one is */
  assert_int_equal(deliver(&f, &p, &(resp){.cls = FIRN_STUN_ERROR, .code = 487}, NULL, 10 * MS),
                   FIRN_ERR_STUN_MISMATCH);
  /* other method, and a request or indication with the same ID */
  assert_int_equal(deliver(&f, &p, &(resp){.cls = FIRN_STUN_SUCCESS, .key = key,
                                           .method = FIRN_STUN_ALLOCATE}, NULL, 10 * MS),
                   FIRN_ERR_STUN_MISMATCH);
  assert_int_equal(deliver(&f, &p, &(resp){.cls = FIRN_STUN_INDICATION, .no_error_code = 1}, NULL,
                           10 * MS),
                   FIRN_ERR_STUN_MISMATCH);
  /* not STUN at all: a parse error, not a mismatch */
  static const uint8_t junk[24] = {0x80, 1, 2, 3};
  int rc = firn_stun_client_handle_response(f.c, junk, sizeof junk, &f.server, 10 * MS);
  assert_true(rc < 0 && rc != FIRN_ERR_STUN_MISMATCH);

  assert_int_equal(f.n, 0);
  assert_int_equal(firn_stun_client_pending(f.c), 1);
  assert_int_equal(firn_stun_client_expiry(f.c), 500 * MS);
  pkt p2;
  take(&f, 500 * MS, &p2); /* still retransmitting */
  assert_memory_equal(p2.buf, p.buf, p.len);
  assert_int_equal(deliver(&f, &p, &good, NULL, 600 * MS), FIRN_OK);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.r[0].status, FIRN_OK);
  assert_int_equal(f.r[0].tx, 2);
  assert_int_equal(f.r[0].rtt, 100 * MS);
  teardown(&f);
  firn_stun_key_free(key);
  firn_stun_key_free(wrong);
}

static void test_error_responses(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  firn_stun_request req = binding(&f);
  uint64_t id;
  pkt p;
  /* unauthenticated request: a 400 is delivered as an error result with its code */
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  take(&f, 0, &p);
  /* an error response without ERROR-CODE is malformed: dropped */
  assert_int_equal(deliver(&f, &p, &(resp){.cls = FIRN_STUN_ERROR, .no_error_code = 1}, NULL, 0),
                   FIRN_ERR_STUN_MISMATCH);
  assert_int_equal(deliver(&f, &p, &(resp){.cls = FIRN_STUN_ERROR, .code = 400}, NULL, 0), FIRN_OK);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.r[0].status, FIRN_ERR_STUN_ERROR_RESPONSE);
  assert_int_equal(f.r[0].code, 400);
  assert_true(f.r[0].has_resp);
  /* a 401 to a request without long-term credentials is just an error */
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  take(&f, 0, &p);
  assert_int_equal(deliver(&f, &p, &(resp){.cls = FIRN_STUN_ERROR, .code = 401, .realm = "r",
                                           .nonce = "n"}, NULL, 0),
                   FIRN_OK);
  assert_int_equal(f.n, 2);
  assert_int_equal(f.r[1].status, FIRN_ERR_STUN_ERROR_RESPONSE);
  assert_int_equal(f.r[1].code, 401);
  /* a success carrying an unknown comprehension-required attribute is a failure */
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  take(&f, 0, &p);
  assert_int_equal(deliver(&f, &p, &(resp){.cls = FIRN_STUN_SUCCESS, .extra_attr = 0x7ff0}, NULL, 0),
                   FIRN_OK);
  assert_int_equal(f.n, 3);
  assert_int_equal(f.r[2].status, FIRN_ERR_STUN_UNKNOWN_ATTRS);
  /* ... but an unknown comprehension-optional one is ignored */
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  take(&f, 0, &p);
  assert_int_equal(deliver(&f, &p, &(resp){.cls = FIRN_STUN_SUCCESS, .extra_attr = 0xfff0}, NULL, 0),
                   FIRN_OK);
  assert_int_equal(f.r[3].status, FIRN_OK);
  teardown(&f);
}

/* ------------------------------------------------------------------------------------------ */
/* Long-term credentials                                                                       */

static const uint8_t req_transport_udp[8] = {0x00, 0x19, 0x00, 0x04, 17, 0, 0, 0};

static firn_stun_request allocate(const fixture *f, firn_stun_auth *auth) {
  firn_stun_request req = binding(f);
  req.method = FIRN_STUN_ALLOCATE;
  req.long_term = auth;
  req.attrs = req_transport_udp;
  req.attrs_len = sizeof req_transport_udp;
  return req;
}

static void assert_no_credentials(const pkt *p) {
  assert_false(firn_stun_msg_has(&p->m, FIRN_STUN_ATTR_USERNAME));
  assert_false(firn_stun_msg_has(&p->m, FIRN_STUN_ATTR_REALM));
  assert_false(firn_stun_msg_has(&p->m, FIRN_STUN_ATTR_NONCE));
  assert_int_equal(p->m.mi_off, 0);
  assert_int_equal(p->m.mi256_off, 0);
}

static void assert_credentials(const pkt *p, const char *nonce, const firn_stun_key *key) {
  assert_true(has_string(&p->m, FIRN_STUN_ATTR_USERNAME, "alice"));
  assert_true(has_string(&p->m, FIRN_STUN_ATTR_REALM, "example.org"));
  assert_true(has_string(&p->m, FIRN_STUN_ATTR_NONCE, nonce));
  assert_true(p->m.mi_off != 0);
  assert_int_equal(firn_stun_msg_verify_sha1(&p->m, key), FIRN_OK);
  uint8_t proto = 0;
  assert_int_equal(firn_stun_msg_get_requested_transport(&p->m, &proto), FIRN_OK);
  assert_int_equal(proto, 17);
}

static void test_401_then_success(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  firn_stun_auth *auth = NULL;
  assert_int_equal(firn_stun_auth_new(&auth, NULL, "alice", "secret"), FIRN_OK);
  firn_stun_key *key = lt_key(FIRN_STUN_PASSWORD_ALG_NONE, "alice", "example.org", "secret");
  firn_stun_key *wrong = lt_key(FIRN_STUN_PASSWORD_ALG_NONE, "alice", "example.org", "guess");
  firn_stun_request req = allocate(&f, auth);
  uint64_t id;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  pkt p1, p2;
  take(&f, 0, &p1);
  assert_no_credentials(&p1);
  uint8_t proto = 0;
  assert_int_equal(firn_stun_msg_get_requested_transport(&p1.m, &proto), FIRN_OK);
  assert_int_equal(proto, 17);
  /* an unsigned 401 from the wrong address is still dropped */
  firn_addr other;
  assert_int_equal(firn_addr_parse(&other, "127.0.0.1:9", 0), FIRN_OK);
  resp challenge = {.cls = FIRN_STUN_ERROR, .code = 401, .realm = "example.org", .nonce = "n1"};
  assert_int_equal(deliver(&f, &p1, &challenge, &other, 30 * MS), FIRN_ERR_STUN_MISMATCH);
  assert_int_equal(deliver(&f, &p1, &challenge, NULL, 30 * MS), FIRN_OK);
  assert_int_equal(f.n, 0);
  assert_int_equal(firn_stun_client_pending(f.c), 1);
  assert_int_equal(firn_stun_client_expiry(f.c), 30 * MS); /* the retry is due at once */
  take(&f, 30 * MS, &p2);
  assert_memory_not_equal(p1.m.tid, p2.m.tid, FIRN_STUN_TID_SIZE);
  assert_credentials(&p2, "n1", key);
  /* the old transaction ID is gone; unsigned or wrongly signed successes are dropped */
  resp ok = {.cls = FIRN_STUN_SUCCESS, .key = key};
  assert_int_equal(deliver(&f, &p1, &ok, NULL, 40 * MS), FIRN_ERR_STUN_MISMATCH);
  assert_int_equal(deliver(&f, &p2, &(resp){.cls = FIRN_STUN_SUCCESS}, NULL, 40 * MS),
                   FIRN_ERR_STUN_MISMATCH);
  assert_int_equal(deliver(&f, &p2, &(resp){.cls = FIRN_STUN_SUCCESS, .key = wrong}, NULL, 40 * MS),
                   FIRN_ERR_STUN_MISMATCH);
  /* so is an unsigned error other than 401/438 */
  assert_int_equal(deliver(&f, &p2, &(resp){.cls = FIRN_STUN_ERROR, .code = 437}, NULL, 40 * MS),
                   FIRN_ERR_STUN_MISMATCH);
  assert_int_equal(f.n, 0);
  assert_int_equal(deliver(&f, &p2, &ok, NULL, 50 * MS), FIRN_OK);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.r[0].id, id);
  assert_int_equal(f.r[0].status, FIRN_OK);
  assert_int_equal(f.r[0].tx, 2);
  assert_int_equal(f.r[0].rtt, 20 * MS);

  /* the next request on the same auth sends the cached credentials at once */
  assert_int_equal(firn_stun_client_start(f.c, &req, 100 * MS, &id), FIRN_OK);
  pkt p3;
  take(&f, 100 * MS, &p3);
  assert_credentials(&p3, "n1", key);
  /* the application may drop its auth while a request is in flight */
  firn_stun_auth_free(auth);
  assert_int_equal(deliver(&f, &p3, &ok, NULL, 110 * MS), FIRN_OK);
  assert_int_equal(f.n, 2);
  assert_int_equal(f.r[1].status, FIRN_OK);
  assert_int_equal(f.r[1].tx, 1);
  teardown(&f);
  firn_stun_key_free(key);
  firn_stun_key_free(wrong);
}

static void test_438_stale_nonce(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  firn_stun_auth *auth = NULL;
  assert_int_equal(firn_stun_auth_new(&auth, NULL, "alice", "secret"), FIRN_OK);
  firn_stun_key *key = lt_key(FIRN_STUN_PASSWORD_ALG_NONE, "alice", "example.org", "secret");
  firn_stun_request req = allocate(&f, auth);
  uint64_t id;
  pkt p1, p2, p3;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  take(&f, 0, &p1);
  assert_int_equal(deliver(&f, &p1, &(resp){.cls = FIRN_STUN_ERROR, .code = 401,
                                            .realm = "example.org", .nonce = "n1"}, NULL, 0),
                   FIRN_OK);
  take(&f, 0, &p2);
  assert_credentials(&p2, "n1", key);
  assert_int_equal(deliver(&f, &p2, &(resp){.cls = FIRN_STUN_ERROR, .code = 438,
                                            .realm = "example.org", .nonce = "n2"}, NULL, 0),
                   FIRN_OK);
  assert_int_equal(f.n, 0);
  take(&f, 0, &p3);
  assert_credentials(&p3, "n2", key);
  assert_memory_not_equal(p2.m.tid, p3.m.tid, FIRN_STUN_TID_SIZE);
  assert_int_equal(deliver(&f, &p3, &(resp){.cls = FIRN_STUN_SUCCESS, .key = key}, NULL, 0), FIRN_OK);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.r[0].status, FIRN_OK);
  assert_int_equal(f.r[0].tx, 3);

  /* a server that answers 438 forever: the retries are bounded, the result is the error */
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  char nonce[16];
  int rounds = 0;
  while (f.n == 1) {
    assert_true(++rounds < 20);
    pkt p;
    take(&f, 0, &p);
    snprintf(nonce, sizeof nonce, "m%d", rounds);
    assert_int_equal(deliver(&f, &p, &(resp){.cls = FIRN_STUN_ERROR, .code = 438,
                                             .realm = "example.org", .nonce = nonce}, NULL, 0),
                     FIRN_OK);
  }
  assert_true(rounds >= 2);
  assert_int_equal(f.r[1].status, FIRN_ERR_STUN_ERROR_RESPONSE);
  assert_int_equal(f.r[1].code, 438);
  assert_int_equal(firn_stun_client_pending(f.c), 0);
  teardown(&f);
  firn_stun_auth_free(auth);
  firn_stun_key_free(key);
}

/* A 438 that omits REALM (it should repeat it): the learnt realm is kept (copied onto
 * itself, which must be a memmove) and the retry carries it with the new nonce. */
static void test_438_without_realm(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  firn_stun_auth *auth = NULL;
  assert_int_equal(firn_stun_auth_new(&auth, NULL, "alice", "secret"), FIRN_OK);
  firn_stun_key *key = lt_key(FIRN_STUN_PASSWORD_ALG_NONE, "alice", "example.org", "secret");
  firn_stun_request req = allocate(&f, auth);
  uint64_t id;
  pkt p1, p2, p3;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  take(&f, 0, &p1);
  assert_int_equal(deliver(&f, &p1, &(resp){.cls = FIRN_STUN_ERROR, .code = 401,
                                            .realm = "example.org", .nonce = "n1"}, NULL, 0),
                   FIRN_OK);
  take(&f, 0, &p2);
  assert_int_equal(deliver(&f, &p2, &(resp){.cls = FIRN_STUN_ERROR, .code = 438, .nonce = "n2"}, NULL, 0),
                   FIRN_OK);
  assert_int_equal(f.n, 0);
  take(&f, 0, &p3);
  assert_credentials(&p3, "n2", key);
  assert_int_equal(deliver(&f, &p3, &(resp){.cls = FIRN_STUN_SUCCESS, .key = key}, NULL, 0), FIRN_OK);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.r[0].status, FIRN_OK);
  teardown(&f);
  firn_stun_auth_free(auth);
  firn_stun_key_free(key);
}

/* Two transactions on one auth. B's challenge changes the realm (so the auth's key) while A
 * is in flight, signed with the old key: A's answer, signed by the server with the key A
 * used, still verifies and completes A; B's retry uses the new key. */
static void test_key_per_attempt(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  firn_stun_auth *auth = NULL;
  assert_int_equal(firn_stun_auth_new(&auth, NULL, "alice", "secret"), FIRN_OK);
  firn_stun_key *k1 = lt_key(FIRN_STUN_PASSWORD_ALG_NONE, "alice", "r1", "secret");
  firn_stun_key *k2 = lt_key(FIRN_STUN_PASSWORD_ALG_NONE, "alice", "r2", "secret");
  firn_stun_request req = allocate(&f, auth);
  uint64_t ida, idb;
  pkt a1, a2, b1, b2;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &ida), FIRN_OK);
  take(&f, 0, &a1);
  assert_int_equal(deliver(&f, &a1, &(resp){.cls = FIRN_STUN_ERROR, .code = 401, .realm = "r1",
                                            .nonce = "n1"}, NULL, 0), FIRN_OK);
  take(&f, 0, &a2);
  assert_int_equal(firn_stun_msg_verify_sha1(&a2.m, k1), FIRN_OK);
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &idb), FIRN_OK);
  take(&f, 0, &b1);
  assert_int_equal(firn_stun_msg_verify_sha1(&b1.m, k1), FIRN_OK); /* cached credentials */
  assert_int_equal(deliver(&f, &b1, &(resp){.cls = FIRN_STUN_ERROR, .code = 401, .realm = "r2",
                                            .nonce = "n2"}, NULL, 0), FIRN_OK);
  take(&f, 0, &b2);
  assert_true(has_string(&b2.m, FIRN_STUN_ATTR_REALM, "r2"));
  assert_int_equal(firn_stun_msg_verify_sha1(&b2.m, k2), FIRN_OK);
  /* A: signed with k2 is not what A sent; with k1 it is */
  assert_int_equal(deliver(&f, &a2, &(resp){.cls = FIRN_STUN_SUCCESS, .key = k2}, NULL, 0),
                   FIRN_ERR_STUN_MISMATCH);
  assert_int_equal(deliver(&f, &a2, &(resp){.cls = FIRN_STUN_SUCCESS, .key = k1}, NULL, 0), FIRN_OK);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.r[0].id, ida);
  assert_int_equal(f.r[0].status, FIRN_OK);
  /* B: the other way round; the auth may go away meanwhile, the keys stay with the attempts */
  firn_stun_auth_free(auth);
  assert_int_equal(deliver(&f, &b2, &(resp){.cls = FIRN_STUN_SUCCESS, .key = k1}, NULL, 0),
                   FIRN_ERR_STUN_MISMATCH);
  assert_int_equal(deliver(&f, &b2, &(resp){.cls = FIRN_STUN_SUCCESS, .key = k2}, NULL, 0), FIRN_OK);
  assert_int_equal(f.n, 2);
  assert_int_equal(f.r[1].id, idb);
  assert_int_equal(f.r[1].status, FIRN_OK);
  teardown(&f);
  firn_stun_key_free(k1);
  firn_stun_key_free(k2);
}

static void test_401_same_nonce_fails(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  firn_stun_auth *auth = NULL;
  assert_int_equal(firn_stun_auth_new(&auth, NULL, "alice", "wrong"), FIRN_OK);
  firn_stun_request req = allocate(&f, auth);
  resp challenge = {.cls = FIRN_STUN_ERROR, .code = 401, .realm = "example.org", .nonce = "n1"};
  uint64_t id;
  pkt p1, p2;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  take(&f, 0, &p1);
  assert_int_equal(deliver(&f, &p1, &challenge, NULL, 0), FIRN_OK);
  take(&f, 0, &p2);
  assert_true(p2.m.mi_off != 0);
  assert_int_equal(deliver(&f, &p2, &challenge, NULL, 0), FIRN_OK);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.r[0].id, id);
  assert_int_equal(f.r[0].status, FIRN_ERR_STUN_AUTH_FAILED);
  assert_int_equal(f.r[0].code, 401);
  assert_int_equal(f.r[0].tx, 2);
  assert_int_equal(firn_stun_client_pending(f.c), 0);
  nothing_due(&f, 1000 * MS);

  /* challenged once already: a second 401, even with a fresh nonce, stops too */
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  take(&f, 0, &p1); /* cached credentials (n1) */
  assert_true(has_string(&p1.m, FIRN_STUN_ATTR_NONCE, "n1"));
  assert_int_equal(deliver(&f, &p1, &(resp){.cls = FIRN_STUN_ERROR, .code = 401,
                                            .realm = "example.org", .nonce = "n2"}, NULL, 0),
                   FIRN_OK);
  assert_int_equal(f.n, 1); /* cached nonce refused with a new one: one retry allowed */
  take(&f, 0, &p2);
  assert_true(has_string(&p2.m, FIRN_STUN_ATTR_NONCE, "n2"));
  assert_int_equal(deliver(&f, &p2, &(resp){.cls = FIRN_STUN_ERROR, .code = 401,
                                            .realm = "example.org", .nonce = "n3"}, NULL, 0),
                   FIRN_OK);
  assert_int_equal(f.n, 2);
  assert_int_equal(f.r[1].status, FIRN_ERR_STUN_AUTH_FAILED);

  /* a 401 without REALM/NONCE is not a usable challenge: plain error */
  firn_stun_auth *fresh = NULL;
  assert_int_equal(firn_stun_auth_new(&fresh, NULL, "bob", "pw"), FIRN_OK);
  req.long_term = fresh;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  take(&f, 0, &p1);
  assert_int_equal(deliver(&f, &p1, &(resp){.cls = FIRN_STUN_ERROR, .code = 401}, NULL, 0), FIRN_OK);
  assert_int_equal(f.n, 3);
  assert_int_equal(f.r[2].status, FIRN_ERR_STUN_ERROR_RESPONSE);
  assert_int_equal(f.r[2].code, 401);
  teardown(&f);
  firn_stun_auth_free(auth);
  firn_stun_auth_free(fresh);
}

/* RFC 8489 9.2.4: the server offers PASSWORD-ALGORITHMS (nonce cookie with the feature bit);
 * the client echoes the list, picks SHA-256 and signs with MESSAGE-INTEGRITY-SHA256. */
static void test_sha256_password_algorithm(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  firn_stun_auth *auth = NULL;
  assert_int_equal(firn_stun_auth_new(&auth, NULL, "alice", "secret"), FIRN_OK);
  firn_stun_key *k256 = lt_key(FIRN_STUN_PASSWORD_ALG_SHA256, "alice", "example.org", "secret");
  static const uint8_t algs[8] = {0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}; /* SHA-256, MD5 */
  const char *nonce = "obMatJos2AAABx9f3";
  firn_stun_request req = allocate(&f, auth);
  uint64_t id;
  pkt p1, p2;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  take(&f, 0, &p1);
  assert_int_equal(deliver(&f, &p1, &(resp){.cls = FIRN_STUN_ERROR, .code = 401,
                                            .realm = "example.org", .nonce = nonce, .algs = algs,
                                            .algs_len = sizeof algs}, NULL, 0),
                   FIRN_OK);
  take(&f, 0, &p2);
  assert_true(has_string(&p2.m, FIRN_STUN_ATTR_NONCE, nonce));
  const uint8_t *v;
  size_t vlen;
  assert_int_equal(firn_stun_msg_find(&p2.m, FIRN_STUN_ATTR_PASSWORD_ALGORITHMS, &v, &vlen), FIRN_OK);
  assert_int_equal(vlen, sizeof algs);
  assert_memory_equal(v, algs, sizeof algs);
  assert_int_equal(firn_stun_msg_find(&p2.m, FIRN_STUN_ATTR_PASSWORD_ALGORITHM, &v, &vlen), FIRN_OK);
  assert_int_equal(vlen, 4);
  assert_int_equal(v[0], 0);
  assert_int_equal(v[1], 2);
  assert_int_equal(p2.m.mi_off, 0);
  assert_true(p2.m.mi256_off != 0);
  assert_int_equal(firn_stun_msg_verify_sha256(&p2.m, k256), FIRN_OK);
  /* signed with another key: dropped */
  firn_stun_key *kmd5 = lt_key(FIRN_STUN_PASSWORD_ALG_MD5, "alice", "example.org", "secret");
  assert_int_equal(deliver(&f, &p2, &(resp){.cls = FIRN_STUN_SUCCESS, .key = kmd5, .sha256 = 1}, NULL, 0),
                   FIRN_ERR_STUN_MISMATCH);
  firn_stun_key_free(kmd5);
  assert_int_equal(deliver(&f, &p2, &(resp){.cls = FIRN_STUN_SUCCESS, .key = k256, .sha256 = 1}, NULL, 0),
                   FIRN_OK);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.r[0].status, FIRN_OK);
  /* cached: the next request carries the algorithm and the SHA-256 integrity at once; a
   * long-term answer may carry either integrity attribute (RFC 8489 9.2.5) */
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  take(&f, 0, &p1);
  assert_true(firn_stun_msg_has(&p1.m, FIRN_STUN_ATTR_PASSWORD_ALGORITHMS));
  assert_int_equal(p1.m.mi_off, 0);
  assert_int_equal(firn_stun_msg_verify_sha256(&p1.m, k256), FIRN_OK);
  assert_int_equal(deliver(&f, &p1, &(resp){.cls = FIRN_STUN_SUCCESS, .key = k256}, NULL, 0), FIRN_OK);
  assert_int_equal(f.n, 2);
  assert_int_equal(f.r[1].status, FIRN_OK);
  teardown(&f);
  firn_stun_auth_free(auth);
  firn_stun_key_free(k256);
}

/* RFC 8489 9.2.5: the FIRST algorithm of the server's list that we support (MD5 here,
 * listed before SHA-256), every later request signed with MESSAGE-INTEGRITY-SHA256 only
 * (with the MD5 key), and either integrity attribute accepted in answers, MI-SHA256 verified
 * when both are present. */
static void test_password_algorithms_first_supported(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  firn_stun_auth *auth = NULL;
  assert_int_equal(firn_stun_auth_new(&auth, NULL, "alice", "secret"), FIRN_OK);
  firn_stun_key *kmd5 = lt_key(FIRN_STUN_PASSWORD_ALG_MD5, "alice", "example.org", "secret");
  firn_stun_key *k256 = lt_key(FIRN_STUN_PASSWORD_ALG_SHA256, "alice", "example.org", "secret");
  static const uint8_t algs[12] = {0x00, 0x07, 0x00, 0x00,  /* unknown: skipped */
                                   0x00, 0x01, 0x00, 0x00,  /* MD5: first supported */
                                   0x00, 0x02, 0x00, 0x00}; /* SHA-256 */
  firn_stun_request req = allocate(&f, auth);
  uint64_t id;
  pkt p1, p2;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  take(&f, 0, &p1);
  assert_int_equal(deliver(&f, &p1, &(resp){.cls = FIRN_STUN_ERROR, .code = 401, .realm = "example.org",
                                            .nonce = "obMatJos2AAABq1w", .algs = algs,
                                            .algs_len = sizeof algs}, NULL, 0),
                   FIRN_OK);
  take(&f, 0, &p2);
  uint32_t pa = 0;
  assert_int_equal(firn_stun_msg_get_u32(&p2.m, FIRN_STUN_ATTR_PASSWORD_ALGORITHM, &pa), FIRN_OK);
  assert_int_equal(pa >> 16, FIRN_STUN_PASSWORD_ALG_MD5);
  assert_int_equal(p2.m.mi_off, 0);
  assert_true(p2.m.mi256_off != 0);
  assert_int_equal(firn_stun_msg_verify_sha256(&p2.m, kmd5), FIRN_OK);
  /* both present: MI-SHA256 decides (a good MI does not rescue a bad MI-SHA256) */
  assert_int_equal(deliver(&f, &p2, &(resp){.cls = FIRN_STUN_SUCCESS, .key = kmd5, .key256 = k256},
                           NULL, 0),
                   FIRN_ERR_STUN_MISMATCH);
  assert_int_equal(deliver(&f, &p2, &(resp){.cls = FIRN_STUN_SUCCESS, .key = k256, .key256 = kmd5},
                           NULL, 0),
                   FIRN_OK);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.r[0].status, FIRN_OK);
  /* the server's MI-SHA256 with the MD5 key (RFC 8489 9.2.4), and a plain MI with it */
  for (int sha256 = 1; sha256 >= 0; sha256--) {
    assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
    take(&f, 0, &p1);
    assert_int_equal(p1.m.mi_off, 0);
    assert_int_equal(firn_stun_msg_verify_sha256(&p1.m, kmd5), FIRN_OK);
    assert_int_equal(deliver(&f, &p1, &(resp){.cls = FIRN_STUN_SUCCESS, .key = kmd5, .sha256 = sha256},
                             NULL, 0),
                     FIRN_OK);
    assert_int_equal(f.r[f.n - 1].status, FIRN_OK);
  }
  assert_int_equal(f.n, 3);
  teardown(&f);
  firn_stun_auth_free(auth);
  firn_stun_key_free(kmd5);
  firn_stun_key_free(k256);
}

/* Only MD5 offered: PASSWORD-ALGORITHM MD5, MESSAGE-INTEGRITY-SHA256 with the MD5 key. Unsupported lists
 * and a nonce cookie demanding PASSWORD-ALGORITHMS without them (bid-down) stop at once. */
static void test_password_algorithm_md5_and_refusals(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  firn_stun_key *kmd5 = lt_key(FIRN_STUN_PASSWORD_ALG_MD5, "alice", "example.org", "secret");
  static const uint8_t md5_only[4] = {0x00, 0x01, 0x00, 0x00};
  static const uint8_t unknown_only[4] = {0x00, 0x07, 0x00, 0x00};
  struct {
    const uint8_t *algs;
    size_t len;
    const char *nonce;
    int want_retry;
  } cases[] = {
      {md5_only, sizeof md5_only, "obMatJos2AAABabc", 1},
      {unknown_only, sizeof unknown_only, "obMatJos2AAABabc", 0},
      {NULL, 0, "obMatJos2AAABabc", 0}, /* feature bit (LSB reading) without the list */
      {NULL, 0, "obMatJos2gAAAabc", 0}, /* feature bit (MSB reading) without the list */
      {NULL, 0, "obMatJos2AAACabc", 1}, /* only the username-anonymity bit: RFC 5389 flow */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    firn_stun_auth *auth = NULL;
    assert_int_equal(firn_stun_auth_new(&auth, NULL, "alice", "secret"), FIRN_OK);
    firn_stun_request req = allocate(&f, auth);
    uint64_t id;
    pkt p1, p2;
    int n0 = f.n;
    assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
    take(&f, 0, &p1);
    assert_int_equal(deliver(&f, &p1, &(resp){.cls = FIRN_STUN_ERROR, .code = 401,
                                              .realm = "example.org", .nonce = cases[i].nonce,
                                              .algs = cases[i].algs, .algs_len = cases[i].len},
                             NULL, 0),
                     FIRN_OK);
    if (cases[i].want_retry) {
      assert_int_equal(f.n, n0);
      take(&f, 0, &p2);
      if (cases[i].algs) { /* PASSWORD-ALGORITHMS seen: MI-SHA256 only, with the MD5 key */
        assert_true(firn_stun_msg_has(&p2.m, FIRN_STUN_ATTR_PASSWORD_ALGORITHM));
        assert_int_equal(p2.m.mi_off, 0);
        assert_true(p2.m.mi256_off != 0);
        assert_int_equal(firn_stun_msg_verify_sha256(&p2.m, kmd5), FIRN_OK);
      } else {
        assert_true(p2.m.mi_off != 0);
        assert_int_equal(p2.m.mi256_off, 0);
        assert_false(firn_stun_msg_has(&p2.m, FIRN_STUN_ATTR_PASSWORD_ALGORITHM));
      }
      firn_stun_client_cancel(f.c, id);
      assert_int_equal(f.r[f.n - 1].status, FIRN_ERR_STUN_CANCELLED);
    } else {
      assert_int_equal(f.n, n0 + 1);
      assert_int_equal(f.r[f.n - 1].status, FIRN_ERR_STUN_AUTH_FAILED);
      nothing_due(&f, 0);
    }
    firn_stun_auth_free(auth);
  }
  teardown(&f);
  firn_stun_key_free(kmd5);
}

/* RFC 8489 9.2.5 and the nonce cookie's "Password algorithms" bit without
 * PASSWORD-ALGORITHMS (a stripped list, bid-down): a 438 like that must not be retried
 * either, and any other response carrying such a nonce is ignored. */
static void test_nonce_cookie_bid_down(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  firn_stun_auth *auth = NULL;
  assert_int_equal(firn_stun_auth_new(&auth, NULL, "alice", "secret"), FIRN_OK);
  firn_stun_key *key = lt_key(FIRN_STUN_PASSWORD_ALG_NONE, "alice", "example.org", "secret");
  firn_stun_request req = allocate(&f, auth);
  uint64_t id;
  pkt p1, p2, p3;
  static const char *cookies[] = {"obMatJos2gAAAxyz", "obMatJos2AAABxyz"}; /* both bit readings */
  for (int i = 0; i < 2; i++) {
    int n0 = f.n;
    assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
    take(&f, 0, &p1);
    if (p1.m.mi_off == 0) {
      assert_int_equal(deliver(&f, &p1, &(resp){.cls = FIRN_STUN_ERROR, .code = 401,
                                                .realm = "example.org", .nonce = "plain"}, NULL, 0),
                       FIRN_OK);
      take(&f, 0, &p2);
    } else {
      p2 = p1;
    }
    assert_credentials(&p2, "plain", key);
    assert_int_equal(deliver(&f, &p2, &(resp){.cls = FIRN_STUN_ERROR, .code = 438,
                                              .realm = "example.org", .nonce = cookies[i]}, NULL, 0),
                     FIRN_OK);
    assert_int_equal(f.n, n0 + 1);
    assert_int_equal(f.r[f.n - 1].id, id);
    assert_int_equal(f.r[f.n - 1].status, FIRN_ERR_STUN_AUTH_FAILED);
    assert_int_equal(f.r[f.n - 1].code, 438);
    assert_int_equal(firn_stun_client_pending(f.c), 0);
    nothing_due(&f, 1000 * MS);
  }
  /* the cached challenge is still the plain one: a success carrying a bid-down nonce is
   * ignored even when correctly signed; the same success without it completes */
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  take(&f, 0, &p3);
  assert_credentials(&p3, "plain", key);
  assert_int_equal(deliver(&f, &p3, &(resp){.cls = FIRN_STUN_SUCCESS, .nonce = cookies[0], .key = key},
                           NULL, 0),
                   FIRN_ERR_STUN_MISMATCH);
  assert_int_equal(deliver(&f, &p3, &(resp){.cls = FIRN_STUN_ERROR, .code = 403, .nonce = cookies[1],
                                            .key = key}, NULL, 0),
                   FIRN_ERR_STUN_MISMATCH);
  assert_int_equal(f.n, 2);
  assert_int_equal(deliver(&f, &p3, &(resp){.cls = FIRN_STUN_SUCCESS, .key = key}, NULL, 0), FIRN_OK);
  assert_int_equal(f.n, 3);
  assert_int_equal(f.r[2].status, FIRN_OK);
  /* a short-term transaction ignores such a response too */
  firn_stun_key *st = NULL;
  assert_int_equal(firn_stun_key_new_short_term(&st, NULL, "pw", 2), FIRN_OK);
  req = binding(&f);
  req.short_term = st;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  take(&f, 0, &p1);
  assert_int_equal(deliver(&f, &p1, &(resp){.cls = FIRN_STUN_SUCCESS, .nonce = cookies[0], .key = st},
                           NULL, 0),
                   FIRN_ERR_STUN_MISMATCH);
  assert_int_equal(deliver(&f, &p1, &(resp){.cls = FIRN_STUN_SUCCESS, .key = st}, NULL, 0), FIRN_OK);
  assert_int_equal(f.r[3].status, FIRN_OK);
  teardown(&f);
  firn_stun_auth_free(auth);
  firn_stun_key_free(key);
  firn_stun_key_free(st);
}

/* RFC 8489 9.2.5: a nonce cookie with the "Username anonymity" feature bit (either bit
 * reading) makes the retry carry USERHASH = SHA-256(username ":" realm) instead of
 * USERNAME; a scripted server finds the user by it and answers. A nonce without the bit
 * goes back to USERNAME. */
static void test_userhash(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  firn_stun_key *key = lt_key(FIRN_STUN_PASSWORD_ALG_NONE, "alice", "example.org", "secret");
  uint8_t want[32];
  assert_int_equal(firn_stun_userhash("alice", 5, "example.org", 11, want), FIRN_OK);
  static const char *nonces[] = {"obMatJos2AAACk9z", "obMatJos2QAAAk9z"};
  for (int i = 0; i < 2; i++) {
    firn_stun_auth *auth = NULL;
    assert_int_equal(firn_stun_auth_new(&auth, NULL, "alice", "secret"), FIRN_OK);
    firn_stun_request req = allocate(&f, auth);
    uint64_t id;
    pkt p1, p2, p3;
    int n0 = f.n;
    assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
    take(&f, 0, &p1);
    assert_no_credentials(&p1);
    assert_int_equal(deliver(&f, &p1, &(resp){.cls = FIRN_STUN_ERROR, .code = 401,
                                              .realm = "example.org", .nonce = nonces[i]}, NULL, 0),
                     FIRN_OK);
    take(&f, 0, &p2);
    /* the scripted server: USERHASH identifies alice, the MI verifies with her key */
    const uint8_t *uh;
    size_t uhl;
    assert_int_equal(firn_stun_msg_find(&p2.m, FIRN_STUN_ATTR_USERHASH, &uh, &uhl), FIRN_OK);
    assert_int_equal(uhl, 32);
    assert_memory_equal(uh, want, 32);
    assert_false(firn_stun_msg_has(&p2.m, FIRN_STUN_ATTR_USERNAME));
    assert_true(has_string(&p2.m, FIRN_STUN_ATTR_REALM, "example.org"));
    assert_true(has_string(&p2.m, FIRN_STUN_ATTR_NONCE, nonces[i]));
    assert_int_equal(firn_stun_msg_verify_sha1(&p2.m, key), FIRN_OK);
    assert_int_equal(deliver(&f, &p2, &(resp){.cls = FIRN_STUN_SUCCESS, .key = key}, NULL, 0), FIRN_OK);
    assert_int_equal(f.n, n0 + 1);
    assert_int_equal(f.r[f.n - 1].status, FIRN_OK);
    /* a later 438 whose nonce drops the bit: USERNAME again */
    assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
    take(&f, 0, &p2);
    assert_true(firn_stun_msg_has(&p2.m, FIRN_STUN_ATTR_USERHASH));
    assert_int_equal(deliver(&f, &p2, &(resp){.cls = FIRN_STUN_ERROR, .code = 438,
                                              .realm = "example.org", .nonce = "plain"}, NULL, 0),
                     FIRN_OK);
    take(&f, 0, &p3);
    assert_credentials(&p3, "plain", key);
    assert_false(firn_stun_msg_has(&p3.m, FIRN_STUN_ATTR_USERHASH));
    firn_stun_client_cancel(f.c, id);
    firn_stun_auth_free(auth);
  }
  teardown(&f);
  firn_stun_key_free(key);
}

/* ------------------------------------------------------------------------------------------ */
/* Table, cancel, callbacks                                                                    */

static void test_table_bound(void **state) {
  (void)state;
  fixture f;
  fixture_init(&f);
  firn_stun_client_settings s;
  settings_for(&f, &s);
  s.max_transactions = 3;
  setup_with(&f, &s);
  firn_stun_request req = binding(&f);
  uint64_t id[4];
  for (int i = 0; i < 3; i++) assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id[i]), FIRN_OK);
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id[3]), FIRN_ERR_STUN_TOO_MANY_TXNS);
  assert_int_equal(firn_stun_client_pending(f.c), 3);
  assert_true(id[0] != id[1] && id[1] != id[2]);
  /* three distinct transaction IDs go out, in start order */
  pkt p[3];
  for (int i = 0; i < 3; i++) take(&f, 0, &p[i]);
  nothing_due(&f, 0);
  assert_memory_not_equal(p[0].m.tid, p[1].m.tid, FIRN_STUN_TID_SIZE);
  assert_memory_not_equal(p[1].m.tid, p[2].m.tid, FIRN_STUN_TID_SIZE);
  assert_int_equal(deliver(&f, &p[1], &(resp){.cls = FIRN_STUN_SUCCESS}, NULL, 0), FIRN_OK);
  assert_int_equal(f.r[0].id, id[1]);
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id[3]), FIRN_OK);
  assert_int_equal(firn_stun_client_pending(f.c), 3);
  teardown(&f);
}

static void test_cancel(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  firn_stun_request req = binding(&f);
  int c1 = 1, c2 = 2;
  uint64_t a, b;
  req.ctx = &c1;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &a), FIRN_OK);
  req.ctx = &c2;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &b), FIRN_OK);
  pkt pa;
  take(&f, 0, &pa);
  assert_int_equal(firn_stun_client_cancel(f.c, a), FIRN_OK);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.r[0].id, a);
  assert_int_equal(f.r[0].status, FIRN_ERR_STUN_CANCELLED);
  assert_int_equal(f.r[0].tx, 1);
  assert_int_equal(firn_stun_client_cancel(f.c, a), FIRN_ERR_NOT_FOUND);
  assert_int_equal(firn_stun_client_cancel(f.c, 9999), FIRN_ERR_NOT_FOUND);
  assert_int_equal(deliver(&f, &pa, &(resp){.cls = FIRN_STUN_SUCCESS}, NULL, 0), FIRN_ERR_STUN_MISMATCH);
  /* only b is left */
  uint8_t buf[1500];
  void *ctx = NULL;
  assert_true(firn_stun_client_poll_transmit(f.c, 0, buf, sizeof buf, NULL, &ctx) > 0);
  assert_ptr_equal(ctx, &c2);
  nothing_due(&f, 0);
  assert_int_equal(firn_stun_client_cancel(f.c, b), FIRN_OK);
  assert_int_equal(firn_stun_client_expiry(f.c), FIRN_TIME_NEVER);
  assert_int_equal(f.n, 2);
  teardown(&f);
}

/* The first timeout's callback cancels a transaction that would time out in the same pass
 * and starts a new one; every callback fires exactly once. */
static void hook_cancel_and_start(fixture *f, const firn_stun_result *res) {
  if (res->status != FIRN_ERR_STUN_TIMEOUT || f->new_id) return;
  firn_stun_request req = binding(f);
  f->hook_rc = firn_stun_client_start(f->c, &req, f->now, &f->new_id);
  assert_int_equal(firn_stun_client_cancel(f->c, f->other_id), FIRN_OK);
  assert_int_equal(firn_stun_client_cancel(f->c, res->id), FIRN_ERR_NOT_FOUND); /* already done */
}

static void test_callback_reentrancy(void **state) {
  (void)state;
  fixture f;
  fixture_init(&f);
  firn_stun_client_settings s;
  settings_for(&f, &s);
  s.rc = 1;
  s.rm = 2; /* one transmission, timeout after 1 s */
  setup_with(&f, &s);
  f.hook = hook_cancel_and_start;
  firn_stun_request req = binding(&f);
  uint64_t a, b, c;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &a), FIRN_OK);
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &b), FIRN_OK);
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &c), FIRN_OK);
  f.other_id = b;
  pkt p;
  for (int i = 0; i < 3; i++) take(&f, 0, &p);
  f.now = 1000 * MS;
  assert_int_equal(firn_stun_client_expiry(f.c), f.now);
  firn_stun_client_handle_expiry(f.c, f.now);
  assert_int_equal(f.hook_rc, FIRN_OK);
  assert_int_equal(f.n, 3);
  assert_int_equal(f.r[0].id, a);
  assert_int_equal(f.r[0].status, FIRN_ERR_STUN_TIMEOUT);
  assert_int_equal(f.r[1].id, b);
  assert_int_equal(f.r[1].status, FIRN_ERR_STUN_CANCELLED);
  assert_int_equal(f.r[2].id, c);
  assert_int_equal(f.r[2].status, FIRN_ERR_STUN_TIMEOUT);
  /* the transaction started from the callback is alive and due now */
  assert_int_equal(firn_stun_client_pending(f.c), 1);
  assert_int_equal(firn_stun_client_expiry(f.c), f.now);
  take(&f, f.now, &p);
  assert_int_equal(deliver(&f, &p, &(resp){.cls = FIRN_STUN_SUCCESS}, NULL, f.now), FIRN_OK);
  assert_int_equal(f.n, 4);
  assert_int_equal(f.r[3].id, f.new_id);
  teardown(&f);
}

/* A success callback that starts the next request from inside handle_response. */
static void hook_chain(fixture *f, const firn_stun_result *res) {
  if (res->status == FIRN_OK && f->n < 3) {
    firn_stun_request req = binding(f);
    f->hook_rc = firn_stun_client_start(f->c, &req, f->now, &f->new_id);
  }
}

static void test_callback_starts_next(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  f.hook = hook_chain;
  firn_stun_request req = binding(&f);
  uint64_t id;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  for (int i = 0; i < 3; i++) {
    pkt p;
    take(&f, f.now, &p);
    assert_int_equal(deliver(&f, &p, &(resp){.cls = FIRN_STUN_SUCCESS}, NULL, f.now), FIRN_OK);
    assert_int_equal(f.n, i + 1);
    assert_int_equal(f.hook_rc, FIRN_OK);
  }
  assert_int_equal(firn_stun_client_pending(f.c), 0);
  assert_true(f.r[2].id > f.r[1].id && f.r[1].id > f.r[0].id);
  teardown(&f);
}

/* Freeing the client from inside its own callback is deferred, even mid-iteration. */
static void hook_free(fixture *f, const firn_stun_result *res) {
  (void)res;
  firn_stun_client_free(f->c);
  f->c = NULL;
}

static void test_free_inside_callback(void **state) {
  (void)state;
  fixture f;
  fixture_init(&f);
  firn_stun_client_settings s;
  settings_for(&f, &s);
  s.rc = 1;
  s.rm = 1;
  setup_with(&f, &s);
  firn_stun_auth *auth = NULL;
  assert_int_equal(firn_stun_auth_new(&auth, NULL, "alice", "secret"), FIRN_OK);
  firn_stun_request req = binding(&f);
  uint64_t id;
  for (int i = 0; i < 3; i++) assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  req = allocate(&f, auth);
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  firn_stun_auth_free(auth); /* the transaction keeps it alive until the client goes */
  pkt p;
  for (int i = 0; i < 4; i++) take(&f, 0, &p);
  f.hook = hook_free;
  firn_stun_client *c = f.c;
  firn_stun_client_handle_expiry(c, 500 * MS);
  assert_int_equal(f.n, 1); /* the others were dropped with the client, without callbacks */
  assert_null(f.c);
}

static void test_invalid_arguments(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  firn_stun_key *key = NULL;
  assert_int_equal(firn_stun_key_new_short_term(&key, NULL, "pw", 2), FIRN_OK);
  firn_stun_auth *auth = NULL;
  assert_int_equal(firn_stun_auth_new(&auth, NULL, "alice", "secret"), FIRN_OK);
  uint64_t id;
  firn_stun_request req = binding(&f);
  static const uint8_t short_tlv[3] = {0x00, 0x24, 0x00};
  static const uint8_t overrun[8] = {0x00, 0x24, 0x00, 0x08, 0, 0, 0, 0};
  static const uint8_t mi_attr[8] = {0x00, 0x08, 0x00, 0x04, 0, 0, 0, 0};
  req.attrs = short_tlv;
  req.attrs_len = sizeof short_tlv;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_ERR_INVALID_ARG);
  req.attrs = overrun;
  req.attrs_len = sizeof overrun;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_ERR_INVALID_ARG);
  req.attrs = mi_attr;
  req.attrs_len = sizeof mi_attr;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_ERR_INVALID_ARG);
  req = binding(&f);
  req.short_term = key;
  req.long_term = auth;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_ERR_INVALID_ARG);
  req = binding(&f);
  req.short_term_username = "u";
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_ERR_INVALID_ARG);
  req = binding(&f);
  req.dest.family = FIRN_AF_NONE;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_ERR_INVALID_ARG);
  req = binding(&f);
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, NULL), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_stun_client_start(NULL, &req, 0, &id), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_stun_client_pending(f.c), 0);
  assert_int_equal(f.n, 0);

  firn_stun_auth *bad = NULL;
  assert_int_equal(firn_stun_auth_new(&bad, NULL, "", "pw"), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_stun_auth_new(&bad, NULL, "u", NULL), FIRN_ERR_INVALID_ARG);
  assert_null(bad);

  firn_stun_client *c2 = NULL;
  firn_stun_client_settings s;
  settings_for(&f, &s);
  s.size = sizeof s + 8;
  assert_int_equal(firn_stun_client_new(&c2, &s), FIRN_ERR_INVALID_ARG);
  settings_for(&f, &s);
  char longsw[FIRN_STUN_BUILD_MAX_SOFTWARE + 2];
  memset(longsw, 'x', sizeof longsw - 1);
  longsw[sizeof longsw - 1] = 0;
  s.software = longsw;
  assert_int_equal(firn_stun_client_new(&c2, &s), FIRN_ERR_INVALID_ARG);
  assert_null(c2);
  /* NULL settings: all defaults */
  assert_int_equal(firn_stun_client_new(&c2, NULL), FIRN_OK);
  assert_int_equal(firn_stun_client_start(c2, &req, 0, &id), FIRN_OK);
  firn_stun_client_free(c2); /* pending dropped without a callback */

  /* a broken random source fails the start cleanly */
  settings_for(&f, &s);
  s.random = broken_random;
  assert_int_equal(firn_stun_client_new(&c2, &s), FIRN_OK);
  assert_int_equal(firn_stun_client_start(c2, &req, 0, &id), FIRN_ERR_RANDOM);
  assert_int_equal(firn_stun_client_pending(c2), 0);
  firn_stun_client_free(c2);

  teardown(&f);
  firn_stun_key_free(key);
  firn_stun_auth_free(auth);
}

/* The encoding errors firn_stun_client_start() documents are the ones it returns: the
 * application's attributes are encoded (and validated) at once. */
static void test_start_error_codes(void **state) {
  (void)state;
  fixture f;
  setup(&f);
  uint64_t id;
  firn_stun_request req = binding(&f);
  static uint8_t attrs[70 * 8];
  for (int i = 0; i < 70; i++) {
    uint8_t *p = attrs + 8 * i;
    p[0] = 0x00, p[1] = 0x24, p[2] = 0, p[3] = 4; /* PRIORITY */
    memset(p + 4, 0, 4);
  }
  req.attrs = attrs;
  req.attrs_len = sizeof attrs;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_ERR_STUN_TOO_MANY_ATTRS);
  static uint8_t sw[4 + 800];
  sw[0] = 0x80, sw[1] = 0x22, sw[2] = 800 >> 8, sw[3] = 800 & 0xff;
  memset(sw + 4, 'a', 800);
  req.attrs = sw;
  req.attrs_len = sizeof sw;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_ERR_STUN_ATTR_TOO_LONG);
  static const uint8_t prio8[12] = {0x00, 0x24, 0x00, 0x08, 0, 0, 0, 1, 0, 0, 0, 2};
  req.attrs = prio8;
  req.attrs_len = sizeof prio8;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_ERR_STUN_BAD_ATTR);
  static const uint8_t badaddr[12] = {0x00, 0x20, 0x00, 0x08, 0, 3, 0, 1, 1, 2, 3, 4};
  req.attrs = badaddr;
  req.attrs_len = sizeof badaddr;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_ERR_STUN_BAD_ADDR_FAMILY);
  req = binding(&f);
  req.method = 0x1000;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_stun_client_pending(f.c), 0);
  assert_int_equal(firn_stun_client_cancel(f.c, 12345), FIRN_ERR_NOT_FOUND);
  assert_int_equal(f.n, 0);
  teardown(&f);
}

/* Transaction IDs come from a pool: one 256-byte call to the source covers 21 requests
 * (RAND_bytes costs the same whatever the length), the IDs are the source's bytes in order,
 * and a failing source still fails start() cleanly. */
typedef struct counting_src {
  uint64_t seed;
  long calls;
  size_t bytes;
  int fail;
} counting_src;

static int counting_random(void *user, uint8_t *buf, size_t len) {
  counting_src *cs = user;
  cs->calls++;
  if (cs->fail) return FIRN_ERR_RANDOM;
  cs->bytes += len;
  return seeded_random(&cs->seed, buf, len);
}

static void test_random_batched(void **state) {
  (void)state;
  fixture f;
  fixture_init(&f);
  counting_src cs = {.seed = 0x1234567ull};
  firn_stun_client_settings s;
  settings_for(&f, &s);
  s.random = counting_random;
  s.random_user = &cs;
  s.max_transactions = 64;
  setup_with(&f, &s);
  uint64_t replay = 0x1234567ull;
  uint8_t stream[256];
  seeded_random(&replay, stream, sizeof stream);
  firn_stun_request req = binding(&f);
  for (int i = 0; i < 21; i++) {
    uint64_t id;
    pkt p;
    assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
    take(&f, 0, &p);
    assert_memory_equal(p.m.tid, stream + 12 * i, FIRN_STUN_TID_SIZE);
  }
  assert_int_equal(cs.calls, 1);
  assert_int_equal(cs.bytes, 256);
  uint64_t id;
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK); /* the 22nd refills */
  assert_int_equal(cs.calls, 2);
  /* the source breaks: the 20 IDs left in the pool still go out, then start() fails */
  cs.fail = 1;
  for (int i = 0; i < 20; i++) assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_OK);
  assert_int_equal(firn_stun_client_start(f.c, &req, 0, &id), FIRN_ERR_RANDOM);
  assert_int_equal(firn_stun_client_pending(f.c), 42);
  teardown(&f);
}

/* ------------------------------------------------------------------------------------------ */
/* Allocation failure                                                                          */

typedef struct failing {
  int start_failed;   /* runs where firn_stun_client_start reported NOMEM */
  int retry_failed;   /* runs where the 401 retry could not be built (NOMEM via callback) */
  long calls;
  long fail_at;  /* the n-th allocation fails (1-based) */
  int hit;
  long live;
} failing;

static void *fa_malloc(size_t size, void *user) {
  failing *fa = user;
  if (++fa->calls == fa->fail_at) {
    fa->hit = 1;
    return NULL;
  }
  void *p = malloc(size);
  if (p) fa->live++;
  return p;
}

static void *fa_calloc(size_t n, size_t size, void *user) {
  failing *fa = user;
  if (++fa->calls == fa->fail_at) {
    fa->hit = 1;
    return NULL;
  }
  void *p = calloc(n, size);
  if (p) fa->live++;
  return p;
}

static void *fa_realloc(void *ptr, size_t size, void *user) {
  failing *fa = user;
  if (++fa->calls == fa->fail_at) {
    fa->hit = 1;
    return NULL;
  }
  void *p = realloc(ptr, size);
  if (p && !ptr) fa->live++;
  return p;
}

static void fa_free(void *ptr, void *user) {
  failing *fa = user;
  if (ptr) fa->live--;
  free(ptr);
}

/* The whole long-term flow plus a short-term request under an allocator that fails once.
 * Every step either succeeds or reports FIRN_ERR_NOMEM; nothing crashes or leaks. */
static void alloc_scenario(failing *fa) {
  firn_allocator al = {fa_malloc, fa_calloc, fa_realloc, fa_free, fa};
  fixture f;
  fixture_init(&f);
  firn_stun_client_settings s;
  settings_for(&f, &s);
  s.alloc = &al;
  s.software = "firn";
  int rc = firn_stun_client_new(&f.c, &s);
  if (rc == FIRN_ERR_NOMEM) return;
  assert_int_equal(rc, FIRN_OK);
  firn_stun_auth *auth = NULL;
  rc = firn_stun_auth_new(&auth, &al, "alice", "secret");
  if (rc == FIRN_ERR_NOMEM) {
    teardown(&f);
    return;
  }
  assert_int_equal(rc, FIRN_OK);
  firn_stun_key *key = lt_key(FIRN_STUN_PASSWORD_ALG_NONE, "alice", "example.org", "secret");
  firn_stun_key *st = NULL;
  assert_int_equal(firn_stun_key_new_short_term(&st, NULL, "pw", 2), FIRN_OK);

  for (int round = 0; round < 2; round++) {
    firn_stun_request req = allocate(&f, auth);
    uint64_t id;
    int n0 = f.n;
    rc = firn_stun_client_start(f.c, &req, 0, &id);
    if (rc == FIRN_ERR_NOMEM) {
      fa->start_failed++;
      continue;
    }
    assert_int_equal(rc, FIRN_OK);
    pkt p;
    take(&f, 0, &p);
    if (p.m.mi_off == 0) {
      assert_int_equal(deliver(&f, &p, &(resp){.cls = FIRN_STUN_ERROR, .code = 401,
                                               .realm = "example.org", .nonce = "n1"}, NULL, 0),
                       FIRN_OK);
      if (f.n > n0) { /* the retry could not be built */
        assert_int_equal(f.r[f.n - 1].status, FIRN_ERR_NOMEM);
        assert_int_equal(firn_stun_client_pending(f.c), 0);
        fa->retry_failed++;
        continue;
      }
      take(&f, 0, &p);
    }
    assert_int_equal(deliver(&f, &p, &(resp){.cls = FIRN_STUN_SUCCESS, .key = key}, NULL, 0), FIRN_OK);
    assert_int_equal(f.n, n0 + 1);
    assert_int_equal(f.r[f.n - 1].status, FIRN_OK);
  }
  firn_stun_request req = binding(&f);
  req.short_term = st;
  req.short_term_username = "a:b";
  req.fingerprint = 1;
  uint64_t id;
  rc = firn_stun_client_start(f.c, &req, 0, &id);
  if (rc == FIRN_OK) {
    pkt p;
    take(&f, 0, &p);
    assert_int_equal(deliver(&f, &p, &(resp){.cls = FIRN_STUN_SUCCESS, .key = st}, NULL, 0), FIRN_OK);
  } else {
    assert_int_equal(rc, FIRN_ERR_NOMEM);
  }
  /* one left in flight when everything is freed */
  req = allocate(&f, auth);
  rc = firn_stun_client_start(f.c, &req, 0, &id);
  assert_true(rc == FIRN_OK || rc == FIRN_ERR_NOMEM);
  firn_stun_auth_free(auth);
  teardown(&f);
  firn_stun_key_free(key);
  firn_stun_key_free(st);
}

static void test_allocation_failure(void **state) {
  (void)state;
  long n;
  int start_failed = 0, retry_failed = 0;
  for (n = 1; n < 1000; n++) {
    failing fa;
    memset(&fa, 0, sizeof fa);
    fa.fail_at = n;
    alloc_scenario(&fa);
    assert_int_equal(fa.live, 0);
    start_failed += fa.start_failed;
    retry_failed += fa.retry_failed;
    if (!fa.hit) break; /* ran to the end without a failure: every allocation was covered */
  }
  assert_true(n > 5 && n < 1000);
  /* both failure paths were really exercised: start() returning NOMEM, and the 401 retry
   * (message buffer or long-term key) failing inside the transaction */
  assert_true(start_failed > 0);
  assert_true(retry_failed > 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_udp_schedule_default),
      cmocka_unit_test(test_udp_schedule_configured),
      cmocka_unit_test(test_late_poll_no_burst),
      cmocka_unit_test(test_reliable_single_timeout),
      cmocka_unit_test(test_huge_rto_still_times_out),
      cmocka_unit_test(test_ipv6_and_parsed_entry),
      cmocka_unit_test(test_failed_parse_refused),
      cmocka_unit_test(test_integrity_failures),
      cmocka_unit_test(test_success_matched),
      cmocka_unit_test(test_drops_then_success),
      cmocka_unit_test(test_error_responses),
      cmocka_unit_test(test_401_then_success),
      cmocka_unit_test(test_438_stale_nonce),
      cmocka_unit_test(test_438_without_realm),
      cmocka_unit_test(test_key_per_attempt),
      cmocka_unit_test(test_401_same_nonce_fails),
      cmocka_unit_test(test_sha256_password_algorithm),
      cmocka_unit_test(test_password_algorithm_md5_and_refusals),
      cmocka_unit_test(test_password_algorithms_first_supported),
      cmocka_unit_test(test_nonce_cookie_bid_down),
      cmocka_unit_test(test_userhash),
      cmocka_unit_test(test_table_bound),
      cmocka_unit_test(test_cancel),
      cmocka_unit_test(test_callback_reentrancy),
      cmocka_unit_test(test_callback_starts_next),
      cmocka_unit_test(test_free_inside_callback),
      cmocka_unit_test(test_invalid_arguments),
      cmocka_unit_test(test_start_error_codes),
      cmocka_unit_test(test_random_batched),
      cmocka_unit_test(test_allocation_failure),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
