/* Test harness for the TURN client: a scripted TURN server built with the STUN codec, a
 * virtual clock and a seeded random source. Each test pulls the client's requests with
 * h_poll() and answers them with the h_reply_* helpers, so every byte on the wire is visible
 * and every answer (signed, unsigned, malformed) is chosen by the test. */
#ifndef FIRN_TURN_HARNESS_H
#define FIRN_TURN_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/bytes.h"
#include "firn/stun.h"
#include "turn/turn.h"

#define MS FIRN_NS_PER_MS
#define SEC FIRN_NS_PER_S
#define H_USER "alice"
#define H_PASS "s3cret"
#define H_REALM "firn.test"

typedef struct h {
  firn_turn *t;
  firn_turn_settings s;
  uint64_t seed;
  uint64_t now;
  firn_addr server, local, relayed, mapped;
  firn_stun_key *key;      /* the server's long-term key (MD5 of user:realm:pass) */
  /* the last request polled */
  uint8_t out[70000];
  size_t out_len;
  firn_addr out_dest;
  firn_stun_msg req;
  int req_is_stun;
  /* what the client reported */
  int states[64];
  int nstates;
  int ndata;
  firn_addr data_peer;
  uint8_t data[2048];
  size_t data_len;
  int nconnect, nclose;
  int free_in_state;       /* free the object from on_state when it reaches this state */
  int free_in_data;
} h;

static inline int h_random(void *user, uint8_t *buf, size_t len) {
  uint64_t *s = user;
  for (size_t i = 0; i < len; i++) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    buf[i] = (uint8_t)(*s >> 32);
  }
  return 0;
}

static inline void h_on_state(void *user, firn_turn *t, firn_turn_state st) {
  h *x = user;
  if (x->nstates < 64) x->states[x->nstates++] = (int)st;
  if (x->free_in_state && (int)st == x->free_in_state) {
    firn_turn_free(t);
    x->t = NULL;
  }
}

static inline void h_on_data(void *user, firn_turn *t, const firn_addr *peer, const uint8_t *data, size_t len,
                      uint64_t now) {
  (void)now;
  h *x = user;
  x->ndata++;
  x->data_peer = *peer;
  x->data_len = len < sizeof x->data ? len : sizeof x->data;
  if (len) memcpy(x->data, data, x->data_len);
  if (x->free_in_data) {
    firn_turn_free(t);
    x->t = NULL;
  }
}

static inline void h_on_connect(void *user, firn_turn *t, const firn_addr *server) {
  (void)t;
  (void)server;
  ((h *)user)->nconnect++;
}

static inline void h_on_close(void *user, firn_turn *t) {
  (void)t;
  ((h *)user)->nclose++;
}

static inline void h_addr(firn_addr *a, const char *s) { assert_int_equal(firn_addr_parse(a, s, 0), FIRN_OK); }

/* Settings for a UDP allocation to 203.0.113.1:3478 from 192.0.2.10:5000. */
static inline void h_init(h *x, firn_transport tr) {
  memset(x, 0, sizeof *x);
  x->seed = 0x1234567887654321ull;
  x->now = 1000 * SEC;
  h_addr(&x->server, "203.0.113.1:3478");
  h_addr(&x->local, "192.0.2.10:5000");
  h_addr(&x->relayed, "203.0.113.1:49152");
  h_addr(&x->mapped, "198.51.100.7:6000");
  firn_turn_settings_default(&x->s);
  x->s.random = h_random;
  x->s.random_user = &x->seed;
  x->s.server = x->server;
  x->s.local = x->local;
  x->s.transport = tr;
  x->s.username = H_USER;
  x->s.password = H_PASS;
  x->s.software = "firn test";
  x->s.callbacks.on_state = h_on_state;
  x->s.callbacks.on_data = h_on_data;
  x->s.callbacks.on_connect = h_on_connect;
  x->s.callbacks.on_close_connection = h_on_close;
  x->s.user = x;
  assert_int_equal(firn_stun_key_new_long_term(&x->key, NULL, FIRN_STUN_PASSWORD_ALG_NONE, H_USER,
                                               strlen(H_USER), H_REALM, strlen(H_REALM), H_PASS,
                                               strlen(H_PASS)),
                   FIRN_OK);
}

static inline void h_new(h *x) { assert_int_equal(firn_turn_new(&x->t, &x->s), FIRN_OK); }

static inline void h_done(h *x) {
  firn_turn_free(x->t);
  x->t = NULL;
  firn_stun_key_free(x->key);
}

static inline int h_last_state(const h *x) { return x->nstates ? x->states[x->nstates - 1] : -1; }

/* Pull the next output at the current time; returns its length or the error. */
static inline firn_ssize h_poll(h *x) {
  firn_ssize n = firn_turn_poll_transmit(x->t, x->now, x->out, sizeof x->out, &x->out_dest);
  x->out_len = n > 0 ? (size_t)n : 0;
  x->req_is_stun = n > 0 && firn_stun_msg_parse(&x->req, x->out, x->out_len) == FIRN_OK;
  return n;
}

/* Poll and require a request of `method`. */
static inline void h_expect(h *x, uint16_t method) {
  firn_ssize n = h_poll(x);
  if (n <= 0) fail_msg("expected request 0x%03x, poll gave %s", (unsigned)method, firn_strerror((int)n));
  assert_true(x->req_is_stun);
  assert_int_equal(x->req.cls, FIRN_STUN_REQUEST);
  if (x->req.method != method) fail_msg("expected method 0x%03x, got 0x%03x", (unsigned)method, (unsigned)x->req.method);
}

static inline int h_req_signed(const h *x) { return x->req.mi_off != 0; }

/* Move the clock to the client's expiry (bounded) and run it. */
static inline void h_advance_to(h *x, uint64_t when) {
  if (when > x->now) x->now = when;
  firn_turn_handle_expiry(x->t, x->now);
}

static inline void h_run_expiry(h *x) {
  uint64_t e = firn_turn_expiry(x->t);
  assert_true(e != FIRN_TIME_NEVER);
  h_advance_to(x, e);
}

/* Deliver bytes as from the server (UDP). */
static inline int h_deliver(h *x, const uint8_t *b, size_t n) {
  return firn_turn_handle_datagram(x->t, &x->server, b, n, x->now);
}

/* A response to the last request: class SUCCESS or ERROR. */
typedef struct resp {
  uint8_t buf[2048];
  firn_stun_builder b;
} resp;

static inline void r_begin(resp *r, const h *x, firn_stun_class cls) {
  firn_stun_builder_init(&r->b, r->buf, sizeof r->buf, x->req.method, cls, x->req.tid);
}

static inline firn_ssize r_end(resp *r, const h *x, int sign) {
  if (sign) firn_stun_add_integrity(&r->b, x->key);
  firn_stun_add_fingerprint(&r->b);
  firn_ssize n = firn_stun_builder_finish(&r->b);
  assert_true(n > 0);
  return n;
}

static inline int h_reply_401(h *x, const char *nonce) {
  resp r;
  r_begin(&r, x, FIRN_STUN_ERROR);
  firn_stun_add_error(&r.b, 401, NULL);
  firn_stun_add_string(&r.b, FIRN_STUN_ATTR_REALM, H_REALM, strlen(H_REALM));
  firn_stun_add_string(&r.b, FIRN_STUN_ATTR_NONCE, nonce, strlen(nonce));
  firn_ssize n = r_end(&r, x, 0);
  return h_deliver(x, r.buf, (size_t)n);
}

static inline int h_reply_438(h *x, const char *nonce) {
  resp r;
  r_begin(&r, x, FIRN_STUN_ERROR);
  firn_stun_add_error(&r.b, 438, NULL);
  firn_stun_add_string(&r.b, FIRN_STUN_ATTR_REALM, H_REALM, strlen(H_REALM));
  firn_stun_add_string(&r.b, FIRN_STUN_ATTR_NONCE, nonce, strlen(nonce));
  firn_ssize n = r_end(&r, x, 0);
  return h_deliver(x, r.buf, (size_t)n);
}

static inline int h_reply_error(h *x, int code, int sign) {
  resp r;
  r_begin(&r, x, FIRN_STUN_ERROR);
  firn_stun_add_error(&r.b, code, NULL);
  firn_ssize n = r_end(&r, x, sign);
  return h_deliver(x, r.buf, (size_t)n);
}

/* Build an Allocate success (relayed, mapped, lifetime) into r; `bad_mi` corrupts the MI. */
static inline firn_ssize h_build_alloc_ok(h *x, resp *r, uint32_t lifetime, int sign) {
  r_begin(r, x, FIRN_STUN_SUCCESS);
  firn_stun_add_xor_addr(&r->b, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, &x->relayed);
  firn_stun_add_xor_addr(&r->b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &x->mapped);
  firn_stun_add_u32(&r->b, FIRN_STUN_ATTR_LIFETIME, lifetime);
  return r_end(r, x, sign);
}

static inline int h_reply_alloc_ok(h *x, uint32_t lifetime) {
  resp r;
  firn_ssize n = h_build_alloc_ok(x, &r, lifetime, 1);
  return h_deliver(x, r.buf, (size_t)n);
}

/* A plain success (Refresh with LIFETIME when lifetime >= 0, CreatePermission, ChannelBind). */
static inline int h_reply_ok(h *x, long lifetime, int sign) {
  resp r;
  r_begin(&r, x, FIRN_STUN_SUCCESS);
  if (lifetime >= 0) firn_stun_add_u32(&r.b, FIRN_STUN_ATTR_LIFETIME, (uint32_t)lifetime);
  firn_ssize n = r_end(&r, x, sign);
  return h_deliver(x, r.buf, (size_t)n);
}

/* Run the whole allocate flow: unauthenticated Allocate, 401, signed Allocate, success. */
static inline void h_allocate(h *x, uint32_t lifetime) {
  if (firn_turn_get_state(x->t) == FIRN_TURN_NEW) assert_int_equal(firn_turn_start(x->t, x->now), FIRN_OK);
  h_expect(x, FIRN_STUN_ALLOCATE);
  assert_false(h_req_signed(x));
  assert_int_equal(h_reply_401(x, "nonce-1"), FIRN_OK);
  h_expect(x, FIRN_STUN_ALLOCATE);
  assert_true(h_req_signed(x));
  assert_int_equal(h_reply_alloc_ok(x, lifetime), FIRN_OK);
  assert_int_equal(firn_turn_get_state(x->t), FIRN_TURN_READY);
}

/* Build a Data indication from `peer` carrying `data`; include flags choose attributes. */
static inline size_t h_data_ind(uint8_t *buf, size_t cap, const firn_addr *peer, const void *data, size_t len,
                         int with_peer, int with_data) {
  static const uint8_t tid[12] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2};
  firn_stun_builder b;
  firn_stun_builder_init(&b, buf, cap, FIRN_STUN_DATA, FIRN_STUN_INDICATION, tid);
  if (with_peer) firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, peer);
  if (with_data) firn_stun_add_raw(&b, FIRN_STUN_ATTR_DATA, data, len);
  firn_ssize n = firn_stun_builder_finish(&b);
  assert_true(n > 0);
  return (size_t)n;
}

static inline size_t h_channel_data(uint8_t *buf, uint16_t ch, const void *data, size_t len, int pad) {
  firn_put_u16(buf, ch);
  firn_put_u16(buf + 2, (uint16_t)len);
  memcpy(buf + 4, data, len);
  size_t n = 4 + len;
  while (pad && (n & 3)) buf[n++] = 0;
  return n;
}

#endif
