/* TURN client over TCP and TLS: RFC 8656 stream framing reassembled across every split
 * point, the bounded reassembly buffer (oversized and non-TURN frames fail the stream), the
 * connection plumbing (connect request, failure, loss, timeout, close), and TLS over memory
 * BIOs against an in-test OpenSSL server with a generated certificate: verification on with
 * the right name, a wrong name failing, the insecure option, a missing CA file. */
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "turn_harness.h"

/* ------------------------------------------------------------------------------------------ */
/* Framing                                                                                     */

static void test_frame_length(void **state) {
  (void)state;
  uint8_t b[8] = {0};
  assert_int_equal(firn_turn_frame_length(b, 3, 100), 0);
  firn_put_u16(b, 0x0101);
  firn_put_u16(b + 2, 8);
  assert_int_equal(firn_turn_frame_length(b, 4, 100), 0);
  assert_int_equal(firn_turn_frame_length(b, 28, 100), 28);
  assert_int_equal(firn_turn_frame_length(b, 28, 27), FIRN_ERR_LIMIT);
  firn_put_u16(b, 0x4000);
  firn_put_u16(b + 2, 5);
  assert_int_equal(firn_turn_frame_length(b, 12, 100), 12); /* padded */
  assert_int_equal(firn_turn_frame_length(b, 11, 100), 0);
  firn_put_u16(b + 2, 0xffff);
  assert_int_equal(firn_turn_frame_length(b, 8, 70000), 0);
  assert_int_equal(firn_turn_frame_length(b, 8, 8192), FIRN_ERR_LIMIT);
  b[0] = 0x80;
  assert_int_equal(firn_turn_frame_length(b, 8, 100), FIRN_ERR_STUN_NOT_STUN);
  b[0] = 0xc0;
  assert_int_equal(firn_turn_frame_length(b, 8, 100), FIRN_ERR_STUN_NOT_STUN);
}

/* Over a stream, server bytes go through handle_stream. */
static int s_deliver(h *x, const uint8_t *b, size_t n) { return firn_turn_handle_stream(x->t, b, n, x->now); }

static int s_reply_401(h *x) {
  resp r;
  r_begin(&r, x, FIRN_STUN_ERROR);
  firn_stun_add_error(&r.b, 401, NULL);
  firn_stun_add_string(&r.b, FIRN_STUN_ATTR_REALM, H_REALM, strlen(H_REALM));
  firn_stun_add_string(&r.b, FIRN_STUN_ATTR_NONCE, "sn", 2);
  firn_ssize n = r_end(&r, x, 0);
  return s_deliver(x, r.buf, (size_t)n);
}

static int s_reply_ok(h *x, long lifetime) {
  resp r;
  r_begin(&r, x, FIRN_STUN_SUCCESS);
  if (lifetime >= 0) firn_stun_add_u32(&r.b, FIRN_STUN_ATTR_LIFETIME, (uint32_t)lifetime);
  firn_ssize n = r_end(&r, x, 1);
  return s_deliver(x, r.buf, (size_t)n);
}

/* Start a TCP allocation up to the signed Allocate (the answer is the caller's). */
static void tcp_to_signed_allocate(h *x) {
  h_new(x);
  assert_int_equal(firn_turn_start(x->t, x->now), FIRN_OK);
  assert_int_equal(x->nconnect, 1);
  assert_int_equal(firn_turn_get_state(x->t), FIRN_TURN_CONNECTING);
  assert_int_equal(h_poll(x), FIRN_ERR_WOULDBLOCK); /* nothing before the connection */
  assert_int_equal(firn_turn_connected(x->t, 1, x->now), FIRN_OK);
  assert_int_equal(firn_turn_get_state(x->t), FIRN_TURN_ALLOCATING);
  h_expect(x, FIRN_STUN_ALLOCATE);
  assert_int_equal(s_reply_401(x), FIRN_OK);
  h_expect(x, FIRN_STUN_ALLOCATE);
  assert_true(h_req_signed(x));
}

/* The Allocate success split at every point. */
static void test_tcp_allocate_every_split(void **state) {
  (void)state;
  h x;
  h_init(&x, FIRN_TRANSPORT_TCP);
  tcp_to_signed_allocate(&x);
  resp r;
  size_t n = (size_t)h_build_alloc_ok(&x, &r, 600, 1);
  h_done(&x);
  for (size_t k = 0; k <= n; k++) {
    h_init(&x, FIRN_TRANSPORT_TCP);
    tcp_to_signed_allocate(&x);
    n = (size_t)h_build_alloc_ok(&x, &r, 600, 1); /* same bytes but this run's tid */
    assert_int_equal(s_deliver(&x, r.buf, k), FIRN_OK);
    assert_int_equal(firn_turn_get_state(x.t), k == n ? FIRN_TURN_READY : FIRN_TURN_ALLOCATING);
    assert_int_equal(s_deliver(&x, r.buf + k, n - k), FIRN_OK);
    assert_int_equal(firn_turn_get_state(x.t), FIRN_TURN_READY);
    h_done(&x);
  }
}

/* A TCP allocation with a bound channel and a permission for `peer`. */
static void tcp_ready_with_channel(h *x, const firn_addr *peer) {
  tcp_to_signed_allocate(x);
  resp r;
  firn_ssize n = h_build_alloc_ok(x, &r, 600, 1);
  assert_int_equal(s_deliver(x, r.buf, (size_t)n), FIRN_OK);
  assert_int_equal(firn_turn_bind_channel(x->t, peer, x->now, NULL), FIRN_OK);
  h_expect(x, FIRN_STUN_CREATE_PERMISSION);
  assert_int_equal(s_reply_ok(x, -1), FIRN_OK);
  h_expect(x, FIRN_STUN_CHANNEL_BIND);
  assert_int_equal(s_reply_ok(x, -1), FIRN_OK);
  assert_int_equal(firn_turn_channel(x->t, peer), 0x4000);
}

/* Four frames back to back (Data indication, padded ChannelData, empty ChannelData, Data
 * indication), split at every point and fed byte by byte. */
static void test_tcp_data_every_split(void **state) {
  (void)state;
  firn_addr peer;
  h_addr(&peer, "198.51.100.20:7000");
  uint8_t blob[512];
  size_t n = 0;
  n += h_data_ind(blob + n, sizeof blob - n, &peer, "first", 5, 1, 1);
  n += h_channel_data(blob + n, 0x4000, "abcde", 5, 1);
  n += h_channel_data(blob + n, 0x4000, "", 0, 1);
  n += h_data_ind(blob + n, sizeof blob - n, &peer, "last!", 5, 1, 1);
  for (size_t k = 0; k <= n + 1; k++) {
    h x;
    h_init(&x, FIRN_TRANSPORT_TCP);
    tcp_ready_with_channel(&x, &peer);
    if (k <= n) {
      assert_int_equal(s_deliver(&x, blob, k), FIRN_OK);
      assert_int_equal(s_deliver(&x, blob + k, n - k), FIRN_OK);
    } else {
      for (size_t i = 0; i < n; i++) assert_int_equal(s_deliver(&x, blob + i, 1), FIRN_OK);
    }
    assert_int_equal(x.ndata, 4);
    assert_int_equal(x.data_len, 5);
    assert_memory_equal(x.data, "last!", 5);
    firn_turn_stats st;
    firn_turn_get_stats(x.t, &st);
    assert_int_equal(st.channel_data_in, 2);
    assert_int_equal(st.dropped, 0);
    h_done(&x);
  }
}

/* Over TCP ChannelData goes out padded to 4; Send indications are already aligned. */
static void test_tcp_wrap_padding(void **state) {
  (void)state;
  firn_addr peer;
  h_addr(&peer, "198.51.100.20:7000");
  h x;
  h_init(&x, FIRN_TRANSPORT_TCP);
  tcp_ready_with_channel(&x, &peer);
  uint8_t out[64];
  assert_int_equal(firn_turn_wrap(x.t, &peer, (const uint8_t *)"hello", 5, out, sizeof out), 12);
  assert_int_equal(firn_get_u16(out + 2), 5);
  assert_int_equal(out[9], 0);
  assert_int_equal(firn_turn_wrap(x.t, &peer, (const uint8_t *)"hello", 5, out, 11), FIRN_ERR_NOBUF);
  assert_int_equal(firn_turn_wrap(x.t, &peer, (const uint8_t *)"abcd", 4, out, sizeof out), 8);
  /* a datagram entry point is refused on a stream object */
  assert_int_equal(firn_turn_handle_datagram(x.t, &x.server, out, 8, x.now), FIRN_ERR_STATE);
  h_done(&x);
}

/* The reassembly buffer is bounded: an oversized frame, or bytes that are neither STUN nor
 * ChannelData, fail the stream (it cannot be resynchronised) and close the connection. */
static void test_tcp_oversized_and_garbage(void **state) {
  (void)state;
  firn_addr peer;
  h_addr(&peer, "198.51.100.20:7000");
  for (int c = 0; c < 4; c++) {
    h x;
    h_init(&x, FIRN_TRANSPORT_TCP);
    x.s.max_frame = 256;
    tcp_ready_with_channel(&x, &peer);
    uint8_t b[300];
    memset(b, 0, sizeof b);
    size_t n;
    int expect_fail = 1;
    if (c == 0) { /* ChannelData claiming 1000 bytes */
      firn_put_u16(b, 0x4000);
      firn_put_u16(b + 2, 1000);
      n = 8;
    } else if (c == 1) { /* STUN header claiming 2000 bytes */
      firn_put_u16(b, 0x0017);
      firn_put_u16(b + 2, 2000);
      firn_put_u32(b + 4, FIRN_STUN_MAGIC_COOKIE);
      n = 20;
    } else if (c == 2) { /* neither */
      b[0] = 0xc0;
      n = 8;
    } else { /* exactly the bound: accepted */
      static const uint8_t payload[252];
      n = h_channel_data(b, 0x4000, payload, sizeof payload, 1);
      assert_int_equal(n, 256);
      expect_fail = 0;
    }
    int rc = s_deliver(&x, b, n);
    if (expect_fail) {
      assert_true(rc < 0);
      firn_turn_info info;
      firn_turn_get_info(x.t, &info);
      assert_int_equal(info.state, FIRN_TURN_FAILED);
      assert_int_equal(info.failure, FIRN_TURN_FAIL_PROTOCOL);
      assert_int_equal(x.nclose, 1);
      assert_int_equal(s_deliver(&x, b, n), FIRN_ERR_STATE);
    } else {
      assert_int_equal(rc, FIRN_OK);
      assert_int_equal(x.ndata, 1);
      assert_int_equal(x.data_len, 252);
      assert_int_equal(firn_turn_get_state(x.t), FIRN_TURN_READY);
    }
    h_done(&x);
  }
}

/* Connection plumbing: refused, lost, connect timeout, clean close. */
static void test_tcp_connection_events(void **state) {
  (void)state;
  h x;
  h_init(&x, FIRN_TRANSPORT_TCP);
  h_new(&x);
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
  assert_int_equal(firn_turn_connected(x.t, 0, x.now), FIRN_OK);
  firn_turn_info info;
  firn_turn_get_info(x.t, &info);
  assert_int_equal(info.failure, FIRN_TURN_FAIL_CONNECT);
  assert_int_equal(x.nclose, 0); /* nothing to close */
  assert_int_equal(firn_turn_connected(x.t, 1, x.now), FIRN_ERR_STATE);
  h_done(&x);

  h_init(&x, FIRN_TRANSPORT_TCP);
  x.s.connect_timeout_ns = 3 * SEC;
  h_new(&x);
  uint64_t t0 = x.now;
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
  h_run_expiry(&x);
  firn_turn_get_info(x.t, &info);
  assert_int_equal(info.failure, FIRN_TURN_FAIL_TIMEOUT);
  assert_int_equal(x.now - t0, 3 * SEC);
  assert_int_equal(x.nclose, 1);
  h_done(&x);

  firn_addr peer;
  h_addr(&peer, "198.51.100.20:7000");
  h_init(&x, FIRN_TRANSPORT_TCP);
  tcp_ready_with_channel(&x, &peer);
  assert_int_equal(firn_turn_connection_closed(x.t, x.now), FIRN_OK);
  firn_turn_get_info(x.t, &info);
  assert_int_equal(info.failure, FIRN_TURN_FAIL_CONNECT);
  assert_int_equal(x.nclose, 0);
  h_done(&x);

  h_init(&x, FIRN_TRANSPORT_TCP);
  tcp_ready_with_channel(&x, &peer);
  assert_int_equal(firn_turn_close(x.t, x.now), FIRN_OK);
  h_expect(&x, FIRN_STUN_REFRESH);
  assert_int_equal(s_reply_ok(&x, 0), FIRN_OK);
  assert_int_equal(firn_turn_get_state(x.t), FIRN_TURN_CLOSED);
  assert_int_equal(x.nclose, 1);
  h_done(&x);

  /* a TCP request times out after Ti, once (no retransmissions over a stream) */
  h_init(&x, FIRN_TRANSPORT_TCP);
  x.s.ti_ns = 5 * SEC;
  h_new(&x);
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
  assert_int_equal(firn_turn_connected(x.t, 1, x.now), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  t0 = x.now;
  h_run_expiry(&x);
  assert_int_equal(h_poll(&x), FIRN_ERR_WOULDBLOCK);
  firn_turn_get_info(x.t, &info);
  assert_int_equal(info.failure, FIRN_TURN_FAIL_TIMEOUT);
  assert_int_equal(x.now - t0, 5 * SEC);
  h_done(&x);
}

/* Random bytes in random splits after valid frames: whatever happens, the object either keeps
 * its allocation or fails cleanly with a protocol error; never anything else. */
static void test_tcp_random_input(void **state) {
  (void)state;
  firn_addr peer;
  h_addr(&peer, "198.51.100.20:7000");
  uint64_t rs = 12345;
  for (int round = 0; round < 200; round++) {
    h x;
    h_init(&x, FIRN_TRANSPORT_TCP);
    x.s.max_frame = 512;
    tcp_ready_with_channel(&x, &peer);
    uint8_t junk[2048];
    h_random(&rs, junk, sizeof junk);
    /* bias towards plausible headers: ChannelData / STUN type bits */
    if (round & 1) junk[0] = (uint8_t)(0x40 | (junk[0] & 0x0f));
    else junk[0] &= 0x3f;
    size_t off = 0;
    while (off < sizeof junk && firn_turn_get_state(x.t) == FIRN_TURN_READY) {
      uint8_t r;
      h_random(&rs, &r, 1);
      size_t n = (size_t)r % 64 + 1;
      if (n > sizeof junk - off) n = sizeof junk - off;
      (void)s_deliver(&x, junk + off, n);
      off += n;
    }
    firn_turn_info info;
    firn_turn_get_info(x.t, &info);
    assert_true(info.state == FIRN_TURN_READY ||
                (info.state == FIRN_TURN_FAILED && info.failure == FIRN_TURN_FAIL_PROTOCOL));
    h_done(&x);
  }
}

/* ALTERNATE-SERVER over TCP: the connection is closed and a new one requested to the
 * alternate; the Allocate starts afresh there. */
static void test_tcp_alternate_server(void **state) {
  (void)state;
  h x;
  h_init(&x, FIRN_TRANSPORT_TCP);
  h_new(&x);
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
  assert_int_equal(firn_turn_connected(x.t, 1, x.now), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  firn_addr alt;
  h_addr(&alt, "203.0.113.9:443");
  resp r;
  r_begin(&r, &x, FIRN_STUN_ERROR);
  firn_stun_add_error(&r.b, 300, NULL);
  firn_stun_add_addr(&r.b, FIRN_STUN_ATTR_ALTERNATE_SERVER, &alt);
  assert_int_equal(s_deliver(&x, r.buf, (size_t)r_end(&r, &x, 0)), FIRN_OK);
  assert_int_equal(x.nclose, 1);
  assert_int_equal(x.nconnect, 2);
  firn_turn_info info;
  firn_turn_get_info(x.t, &info);
  assert_int_equal(info.state, FIRN_TURN_CONNECTING);
  assert_true(firn_addr_equal(&info.server, &alt));
  assert_int_equal(firn_turn_connected(x.t, 1, x.now), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  assert_false(h_req_signed(&x));
  assert_int_equal(s_reply_401(&x), FIRN_OK);
  h_expect(&x, FIRN_STUN_ALLOCATE);
  size_t n = (size_t)h_build_alloc_ok(&x, &r, 600, 1);
  assert_int_equal(s_deliver(&x, r.buf, n), FIRN_OK);
  assert_int_equal(firn_turn_get_state(x.t), FIRN_TURN_READY);
  h_done(&x);
}

/* Freeing the object from inside on_connect (during start) is deferred and safe. */
static void free_in_connect(void *user, firn_turn *t, const firn_addr *server) {
  (void)server;
  h *x = user;
  x->nconnect++;
  firn_turn_free(t);
  x->t = NULL;
}

/* A runtime that fails the connection synchronously, from inside on_connect. */
static void fail_in_connect(void *user, firn_turn *t, const firn_addr *server) {
  (void)server;
  h *x = user;
  x->nconnect++;
  assert_int_equal(firn_turn_connected(t, 0, x->now), FIRN_OK);
}

static void test_sync_connect_failure(void **state) {
  (void)state;
  h x;
  h_init(&x, FIRN_TRANSPORT_TLS);
  x.s.tls_insecure = 1;
  x.s.callbacks.on_connect = fail_in_connect;
  h_new(&x);
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
  firn_turn_info info;
  firn_turn_get_info(x.t, &info);
  assert_int_equal(info.state, FIRN_TURN_FAILED);
  assert_int_equal(info.failure, FIRN_TURN_FAIL_CONNECT);
  assert_int_equal(h_last_state(&x), FIRN_TURN_FAILED);
  assert_int_equal(x.nclose, 0);
  assert_int_equal(firn_turn_expiry(x.t), FIRN_TIME_NEVER);
  assert_int_equal(h_poll(&x), FIRN_ERR_WOULDBLOCK);
  h_done(&x);
}

static void test_free_in_connect(void **state) {
  (void)state;
  h x;
  h_init(&x, FIRN_TRANSPORT_TCP);
  x.s.callbacks.on_connect = free_in_connect;
  h_new(&x);
  firn_turn *t = x.t;
  assert_int_equal(firn_turn_start(t, x.now), FIRN_OK);
  assert_null(x.t);
  assert_int_equal(x.nconnect, 1);
  h_done(&x);
}

/* TCP life under an allocator failing at every allocation: no leak, no crash. */
typedef struct failing {
  long countdown, calls, live;
} failing;
static int should_fail(failing *f) {
  f->calls++;
  return f->countdown >= 0 && f->countdown-- == 0;
}
static void *f_malloc(size_t n, void *u) {
  if (should_fail(u)) return NULL;
  void *p = malloc(n);
  if (p) ((failing *)u)->live++;
  return p;
}
static void *f_calloc(size_t a, size_t b, void *u) {
  if (should_fail(u)) return NULL;
  void *p = calloc(a, b);
  if (p) ((failing *)u)->live++;
  return p;
}
static void *f_realloc(void *p, size_t n, void *u) {
  if (should_fail(u)) return NULL;
  if (!p) ((failing *)u)->live++;
  return realloc(p, n);
}
static void f_free(void *p, void *u) {
  if (p) ((failing *)u)->live--;
  free(p);
}

static int tcp_life(failing *fl) {
  h x;
  h_init(&x, FIRN_TRANSPORT_TCP);
  firn_allocator al = {f_malloc, f_calloc, f_realloc, f_free, fl};
  x.s.alloc = &al;
  int ok = 0;
  firn_addr peer;
  h_addr(&peer, "198.51.100.20:7000");
  if (firn_turn_new(&x.t, &x.s) != FIRN_OK || firn_turn_start(x.t, x.now) != FIRN_OK) goto out;
  if (firn_turn_connected(x.t, 1, x.now) != FIRN_OK || h_poll(&x) <= 0) goto out;
  s_reply_401(&x);
  if (h_poll(&x) <= 0) goto out;
  resp r;
  firn_ssize n = h_build_alloc_ok(&x, &r, 600, 1);
  s_deliver(&x, r.buf, (size_t)n);
  if (firn_turn_bind_channel(x.t, &peer, x.now, NULL) != FIRN_OK) goto out;
  for (int i = 0; i < 2; i++) {
    if (h_poll(&x) <= 0) goto out;
    s_reply_ok(&x, -1);
  }
  uint8_t b[64];
  size_t bn = h_channel_data(b, 0x4000, "abc", 3, 1);
  s_deliver(&x, b, bn);
  ok = x.ndata == 1;
out:
  h_done(&x);
  return ok;
}

static void test_tcp_failing_allocator(void **state) {
  (void)state;
  failing fl = {-1, 0, 0};
  assert_true(tcp_life(&fl));
  assert_int_equal(fl.live, 0);
  for (long i = 0; i < fl.calls; i++) {
    failing f = {i, 0, 0};
    (void)tcp_life(&f);
    if (f.live != 0) fail_msg("leak with allocation %ld failing: %ld live", i, f.live);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* TLS                                                                                         */

typedef struct tls_srv {
  SSL_CTX *ctx;
  SSL *ssl;
  BIO *rbio, *wbio;
  char ca_path[64];
  uint8_t plain[8192]; /* reassembled plaintext from the client */
  size_t plain_len;
} tls_srv;

/* A self-signed P-256 certificate for DNS:turn.test, written to a temp PEM (the CA file). */
static void srv_init(tls_srv *s) {
  memset(s, 0, sizeof *s);
  EVP_PKEY *key = EVP_EC_gen("P-256");
  assert_non_null(key);
  X509 *crt = X509_new();
  assert_non_null(crt);
  X509_set_version(crt, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(crt), 1);
  X509_gmtime_adj(X509_getm_notBefore(crt), -3600);
  X509_gmtime_adj(X509_getm_notAfter(crt), 86400);
  X509_NAME *name = X509_get_subject_name(crt);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"turn.test", -1, -1, 0);
  X509_set_issuer_name(crt, name);
  X509_set_pubkey(crt, key);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, crt, crt, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:turn.test");
  assert_non_null(ext);
  X509_add_ext(crt, ext, -1);
  X509_EXTENSION_free(ext);
  ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
  X509_add_ext(crt, ext, -1);
  X509_EXTENSION_free(ext);
  assert_true(X509_sign(crt, key, EVP_sha256()) > 0);
  snprintf(s->ca_path, sizeof s->ca_path, "/tmp/firn-turn-ca-XXXXXX");
  int fd = mkstemp(s->ca_path);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  PEM_write_X509(f, crt);
  fclose(f);
  s->ctx = SSL_CTX_new(TLS_server_method());
  assert_int_equal(SSL_CTX_use_certificate(s->ctx, crt), 1);
  assert_int_equal(SSL_CTX_use_PrivateKey(s->ctx, key), 1);
  X509_free(crt);
  EVP_PKEY_free(key);
  s->ssl = SSL_new(s->ctx);
  s->rbio = BIO_new(BIO_s_mem());
  s->wbio = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(s->rbio, -1);
  SSL_set_bio(s->ssl, s->rbio, s->wbio);
  SSL_set_accept_state(s->ssl);
}

static void srv_free(tls_srv *s) {
  SSL_free(s->ssl);
  SSL_CTX_free(s->ctx);
  unlink(s->ca_path);
}

/* Move bytes both ways until neither side has anything; `split` feeds the client one byte
 * at a time. Plaintext the server reads is appended to s->plain. */
static void pump(h *x, tls_srv *s, int split) {
  for (int round = 0; round < 50; round++) {
    int moved = 0;
    firn_ssize n;
    while (x->t && (n = firn_turn_poll_transmit(x->t, x->now, x->out, sizeof x->out, NULL)) > 0) {
      BIO_write(s->rbio, x->out, (int)n);
      moved = 1;
    }
    ERR_clear_error();
    if (!SSL_is_init_finished(s->ssl)) {
      SSL_do_handshake(s->ssl);
    }
    if (SSL_is_init_finished(s->ssl)) {
      int r;
      while ((r = SSL_read(s->ssl, s->plain + s->plain_len, (int)(sizeof s->plain - s->plain_len))) > 0)
        s->plain_len += (size_t)r;
    }
    ERR_clear_error();
    uint8_t ct[16384];
    int c;
    while ((c = BIO_read(s->wbio, ct, sizeof ct)) > 0) {
      moved = 1;
      if (!x->t) continue;
      if (split) {
        for (int i = 0; i < c && x->t && firn_turn_get_state(x->t) < FIRN_TURN_CLOSED; i++)
          firn_turn_handle_stream(x->t, ct + i, 1, x->now);
      } else {
        firn_turn_handle_stream(x->t, ct, (size_t)c, x->now);
      }
    }
    if (!moved) return;
  }
}

/* Take the next whole STUN request the server decrypted into x->req. */
static int srv_next_request(h *x, tls_srv *s) {
  firn_ssize fl = firn_turn_frame_length(s->plain, s->plain_len, sizeof s->plain);
  if (fl <= 0) return 0;
  memcpy(x->out, s->plain, (size_t)fl);
  x->out_len = (size_t)fl;
  memmove(s->plain, s->plain + fl, s->plain_len - (size_t)fl);
  s->plain_len -= (size_t)fl;
  x->req_is_stun = firn_stun_msg_parse(&x->req, x->out, x->out_len) == FIRN_OK;
  return 1;
}

static void srv_send(tls_srv *s, const uint8_t *b, size_t n) {
  assert_int_equal(SSL_write(s->ssl, b, (int)n), (int)n);
}

static void srv_expect(h *x, tls_srv *s, uint16_t method) {
  pump(x, s, 0);
  assert_true(srv_next_request(x, s));
  assert_true(x->req_is_stun);
  assert_int_equal(x->req.method, method);
}

/* Allocate over TLS with verification; `name` is the server name the client checks. Returns
 * the final state. */
static int tls_allocate(h *x, tls_srv *s, const char *name, int insecure, int split) {
  srv_init(s);
  x->s.tls_ca_file = s->ca_path;
  x->s.tls_server_name = name;
  x->s.tls_insecure = insecure;
  h_new(x);
  assert_int_equal(firn_turn_start(x->t, x->now), FIRN_OK);
  assert_int_equal(x->nconnect, 1);
  assert_int_equal(firn_turn_connected(x->t, 1, x->now), FIRN_OK);
  pump(x, s, split);
  if (firn_turn_get_state(x->t) != FIRN_TURN_ALLOCATING) return firn_turn_get_state(x->t);
  assert_true(srv_next_request(x, s));
  assert_int_equal(x->req.method, FIRN_STUN_ALLOCATE);
  resp r;
  r_begin(&r, x, FIRN_STUN_ERROR);
  firn_stun_add_error(&r.b, 401, NULL);
  firn_stun_add_string(&r.b, FIRN_STUN_ATTR_REALM, H_REALM, strlen(H_REALM));
  firn_stun_add_string(&r.b, FIRN_STUN_ATTR_NONCE, "tn", 2);
  srv_send(s, r.buf, (size_t)r_end(&r, x, 0));
  pump(x, s, split);
  assert_true(srv_next_request(x, s));
  assert_int_equal(x->req.method, FIRN_STUN_ALLOCATE);
  assert_true(h_req_signed(x));
  srv_send(s, r.buf, (size_t)h_build_alloc_ok(x, &r, 600, 1));
  pump(x, s, split);
  return firn_turn_get_state(x->t);
}

static void test_tls_allocate_and_data(void **state) {
  (void)state;
  for (int split = 0; split < 2; split++) {
    h x;
    tls_srv s;
    h_init(&x, FIRN_TRANSPORT_TLS);
    assert_int_equal(tls_allocate(&x, &s, "turn.test", 0, split), FIRN_TURN_READY);
    firn_addr peer;
    h_addr(&peer, "198.51.100.20:7000");
    assert_int_equal(firn_turn_bind_channel(x.t, &peer, x.now, NULL), FIRN_OK);
    srv_expect(&x, &s, FIRN_STUN_CREATE_PERMISSION);
    resp r;
    r_begin(&r, &x, FIRN_STUN_SUCCESS);
    srv_send(&s, r.buf, (size_t)r_end(&r, &x, 1));
    pump(&x, &s, split);
    assert_true(srv_next_request(&x, &s));
    assert_int_equal(x.req.method, FIRN_STUN_CHANNEL_BIND);
    r_begin(&r, &x, FIRN_STUN_SUCCESS);
    srv_send(&s, r.buf, (size_t)r_end(&r, &x, 1));
    pump(&x, &s, split);
    assert_int_equal(firn_turn_channel(x.t, &peer), 0x4000);
    /* out: encrypted, padded ChannelData */
    uint8_t out[512];
    firn_ssize n = firn_turn_wrap(x.t, &peer, (const uint8_t *)"hello", 5, out, sizeof out);
    assert_true(n > 12);
    BIO_write(s.rbio, out, (int)n);
    pump(&x, &s, split);
    assert_int_equal(s.plain_len, 12);
    assert_int_equal(firn_get_u16(s.plain), 0x4000);
    assert_memory_equal(s.plain + 4, "hello", 5);
    s.plain_len = 0;
    assert_int_equal(firn_turn_wrap(x.t, &peer, (const uint8_t *)"hello", 5, out, 40), FIRN_ERR_NOBUF);
    /* in: ChannelData and a Data indication */
    uint8_t in[128];
    size_t in_len = h_channel_data(in, 0x4000, "world", 5, 1);
    srv_send(&s, in, in_len);
    in_len = h_data_ind(in, sizeof in, &peer, "again", 5, 1, 1);
    srv_send(&s, in, in_len);
    pump(&x, &s, split);
    assert_int_equal(x.ndata, 2);
    assert_memory_equal(x.data, "again", 5);
    /* close: Refresh 0 over TLS, then the connection is released */
    assert_int_equal(firn_turn_close(x.t, x.now), FIRN_OK);
    srv_expect(&x, &s, FIRN_STUN_REFRESH);
    r_begin(&r, &x, FIRN_STUN_SUCCESS);
    firn_stun_add_u32(&r.b, FIRN_STUN_ATTR_LIFETIME, 0);
    srv_send(&s, r.buf, (size_t)r_end(&r, &x, 1));
    pump(&x, &s, split);
    assert_int_equal(firn_turn_get_state(x.t), FIRN_TURN_CLOSED);
    assert_int_equal(x.nclose, 1);
    h_done(&x);
    srv_free(&s);
  }
}

static void test_tls_wrong_name_fails(void **state) {
  (void)state;
  h x;
  tls_srv s;
  h_init(&x, FIRN_TRANSPORT_TLS);
  assert_int_equal(tls_allocate(&x, &s, "other.test", 0, 0), FIRN_TURN_FAILED);
  firn_turn_info info;
  firn_turn_get_info(x.t, &info);
  assert_int_equal(info.failure, FIRN_TURN_FAIL_TLS);
  assert_int_equal(x.nclose, 1);
  h_done(&x);
  srv_free(&s);

  /* no name: the server's IP (203.0.113.1) must be in the certificate; it is not */
  h_init(&x, FIRN_TRANSPORT_TLS);
  assert_int_equal(tls_allocate(&x, &s, NULL, 0, 0), FIRN_TURN_FAILED);
  h_done(&x);
  srv_free(&s);

  /* the explicit insecure option accepts it */
  h_init(&x, FIRN_TRANSPORT_TLS);
  assert_int_equal(tls_allocate(&x, &s, "other.test", 1, 0), FIRN_TURN_READY);
  h_done(&x);
  srv_free(&s);
}

static void test_tls_bad_ca(void **state) {
  (void)state;
  h x;
  h_init(&x, FIRN_TRANSPORT_TLS);
  x.s.tls_ca_file = "/nonexistent/ca.pem";
  x.s.tls_server_name = "turn.test";
  assert_int_equal(firn_turn_new(&x.t, &x.s), FIRN_ERR_TURN_TLS);
  assert_null(x.t);
  h_done(&x);
  /* a TLS server that is not TLS: garbage fails the handshake */
  h_init(&x, FIRN_TRANSPORT_TLS);
  x.s.tls_insecure = 1;
  h_new(&x);
  assert_int_equal(firn_turn_start(x.t, x.now), FIRN_OK);
  assert_int_equal(firn_turn_connected(x.t, 1, x.now), FIRN_OK);
  assert_true(h_poll(&x) > 0); /* ClientHello */
  static const uint8_t junk[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
  assert_true(firn_turn_handle_stream(x.t, junk, sizeof junk - 1, x.now) < 0);
  firn_turn_info info;
  firn_turn_get_info(x.t, &info);
  assert_int_equal(info.failure, FIRN_TURN_FAIL_TLS);
  h_done(&x);
}

/* TLS under an allocator failing at every allocation (firn's own allocations; OpenSSL uses
 * its own): no leak, no crash, and either READY or a clean failure. */
static void test_tls_failing_allocator(void **state) {
  (void)state;
  long total = -1;
  for (long i = -1; total < 0 || i < total; i++) {
    failing f = {i, 0, 0};
    firn_allocator al = {f_malloc, f_calloc, f_realloc, f_free, &f};
    h x;
    tls_srv s;
    h_init(&x, FIRN_TRANSPORT_TLS);
    srv_init(&s);
    x.s.alloc = &al;
    x.s.tls_ca_file = s.ca_path;
    x.s.tls_server_name = "turn.test";
    if (firn_turn_new(&x.t, &x.s) == FIRN_OK && firn_turn_start(x.t, x.now) == FIRN_OK &&
        firn_turn_connected(x.t, 1, x.now) == FIRN_OK) {
      pump(&x, &s, 0);
      if (firn_turn_get_state(x.t) == FIRN_TURN_ALLOCATING && srv_next_request(&x, &s)) {
        resp r;
        r_begin(&r, &x, FIRN_STUN_ERROR);
        firn_stun_add_error(&r.b, 401, NULL);
        firn_stun_add_string(&r.b, FIRN_STUN_ATTR_REALM, H_REALM, strlen(H_REALM));
        firn_stun_add_string(&r.b, FIRN_STUN_ATTR_NONCE, "tn", 2);
        srv_send(&s, r.buf, (size_t)r_end(&r, &x, 0));
        pump(&x, &s, 0);
        if (srv_next_request(&x, &s)) {
          srv_send(&s, r.buf, (size_t)h_build_alloc_ok(&x, &r, 600, 1));
          pump(&x, &s, 0);
        }
      }
      int st = firn_turn_get_state(x.t);
      if (i < 0) assert_int_equal(st, FIRN_TURN_READY);
      else assert_true(st == FIRN_TURN_READY || st == FIRN_TURN_FAILED || st == FIRN_TURN_ALLOCATING);
    }
    h_done(&x);
    srv_free(&s);
    if (f.live != 0) fail_msg("leak with allocation %ld failing: %ld live", i, f.live);
    if (i < 0) total = f.calls;
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_frame_length),
      cmocka_unit_test(test_tcp_allocate_every_split),
      cmocka_unit_test(test_tcp_data_every_split),
      cmocka_unit_test(test_tcp_wrap_padding),
      cmocka_unit_test(test_tcp_oversized_and_garbage),
      cmocka_unit_test(test_tcp_connection_events),
      cmocka_unit_test(test_tcp_random_input),
      cmocka_unit_test(test_tcp_alternate_server),
      cmocka_unit_test(test_free_in_connect),
      cmocka_unit_test(test_sync_connect_failure),
      cmocka_unit_test(test_tcp_failing_allocator),
      cmocka_unit_test(test_tls_allocate_and_data),
      cmocka_unit_test(test_tls_wrong_name_fails),
      cmocka_unit_test(test_tls_bad_ca),
      cmocka_unit_test(test_tls_failing_allocator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
