/* DTLS-SRTP endpoints: two in one process, datagrams moved by the test, virtual `now`.
 * Handshakes in both role assignments and for every SRTP profile, SRTP media both ways
 * from the exported keys, fingerprint mismatch, garbage and replayed datagrams,
 * renegotiation, close_notify, the handshake timeout, MTU, failing allocations, and what
 * the layer can and cannot do about OpenSSL's wall-clock retransmission timer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dtls/cert_impl.h"
#include "dtls/demux.h"
#include "dtls/dtls.h"
#include "dtls_pair.h"
#include "test_helpers.h"

static const firn_srtp_profile all_profiles[] = {
    FIRN_SRTP_AEAD_AES_256_GCM, FIRN_SRTP_AEAD_AES_128_GCM, FIRN_SRTP_AES128_CM_SHA1_80,
    FIRN_SRTP_AES128_CM_SHA1_32};

static void cfgs_default(firn_dtls_config *a, firn_dtls_config *b) {
  firn_dtls_config_default(a);
  firn_dtls_config_default(b);
}

/* Send RTP and RTCP from `tx` to `rx` and check the payload arrives intact. */
static void media_one_way(firn_srtp *tx, firn_srtp *rx, uint32_t ssrc, uint16_t seq0) {
  for (uint16_t i = 0; i < 20; i++) {
    uint8_t pkt[12 + 160 + FIRN_SRTP_MAX_TRAILER], ref[12 + 160];
    uint16_t seq = (uint16_t)(seq0 + i);
    size_t n = build_rtp(pkt, seq, 160u * i, ssrc, 160, (uint8_t)(i * 7)), out, plain;
    memcpy(ref, pkt, n);
    assert_int_equal(firn_srtp_protect_rtp(tx, pkt, n, sizeof pkt, &out), FIRN_OK);
    assert_int_equal(firn_demux_classify(pkt, out), FIRN_DEMUX_RTP);
    assert_int_equal(firn_srtp_unprotect_rtp(rx, pkt, out, &plain), FIRN_OK);
    assert_int_equal(plain, n);
    assert_memory_equal(pkt, ref, n);
  }
  uint8_t r[32 + FIRN_SRTP_MAX_TRAILER], rref[32];
  size_t rn = build_rtcp_rr(r, ssrc, 5), out, plain;
  memcpy(rref, r, rn);
  assert_int_equal(firn_srtp_protect_rtcp(tx, r, rn, sizeof r, &out), FIRN_OK);
  assert_int_equal(firn_demux_classify(r, out), FIRN_DEMUX_RTCP);
  assert_int_equal(firn_srtp_unprotect_rtcp(rx, r, out, &plain), FIRN_OK);
  assert_int_equal(plain, rn);
  assert_memory_equal(r, rref, rn);
}

static void media_both_ways(pair *p) {
  firn_srtp *s0, *s1;
  assert_int_equal(firn_srtp_new_from_dtls(&s0, NULL, p->d[0]), FIRN_OK);
  assert_int_equal(firn_srtp_new_from_dtls(&s1, NULL, p->d[1]), FIRN_OK);
  assert_int_equal(firn_srtp_get_profile(s0), firn_dtls_srtp_profile(p->d[0]));
  media_one_way(s0, s1, 0x1000aaaau, 1);
  media_one_way(s1, s0, 0x2000bbbbu, 60000); /* wraps past 65535 */
  firn_srtp_free(s0);
  firn_srtp_free(s1);
}

static void test_handshake_both_roles(void **state) {
  (void)state;
  for (int r = 0; r < 2; r++) {
    pair p;
    memset(&p, 0, sizeof p);
    firn_dtls_config c0, c1;
    cfgs_default(&c0, &c1);
    assert_int_equal(pair_setup(&p, r ? FIRN_DTLS_SERVER : FIRN_DTLS_CLIENT, &c0, &c1, NULL), FIRN_OK);
    assert_int_equal(firn_dtls_expiry(p.d[0]), FIRN_TIME_NEVER); /* not started */
    int jumps = pair_run(&p, 100);
    assert_int_equal(jumps, 0); /* no loss, no timer needed */
    for (int i = 0; i < 2; i++) {
      assert_int_equal(firn_dtls_get_state(p.d[i]), FIRN_DTLS_CONNECTED);
      assert_int_equal(firn_dtls_error(p.d[i]), 0);
      /* both prefer AEAD_AES_256_GCM by default */
      assert_int_equal(firn_dtls_srtp_profile(p.d[i]), FIRN_SRTP_AEAD_AES_256_GCM);
      firn_dtls_stats st;
      firn_dtls_get_stats(p.d[i], &st);
      assert_int_equal(st.renegotiations_refused, 0);
      assert_int_equal(st.retransmissions, 0);
    }
    assert_true(p.max_len <= 1200);
    /* the exported keys agree crosswise */
    firn_srtp_keys k0, k1;
    assert_int_equal(firn_dtls_export_srtp_keys(p.d[0], &k0), FIRN_OK);
    assert_int_equal(firn_dtls_export_srtp_keys(p.d[1], &k1), FIRN_OK);
    assert_memory_equal(k0.local_key, k1.remote_key, 32);
    assert_memory_equal(k0.remote_key, k1.local_key, 32);
    assert_memory_equal(k0.local_salt, k1.remote_salt, 12);
    assert_memory_not_equal(k0.local_key, k0.remote_key, 32);
    /* and follow RFC 5764 section 4.2 byte for byte: OpenSSL's exporter on the peer's own
     * SSL object, label "EXTRACTOR-dtls_srtp", no context, 2 * (32 + 12) bytes, laid out
     * client_key | server_key | client_salt | server_salt */
    uint8_t raw[88];
    static const char label[] = "EXTRACTOR-dtls_srtp";
    assert_int_equal(SSL_export_keying_material(firn_dtls_test_ssl(p.d[1]), raw, sizeof raw, label,
                                                sizeof label - 1, NULL, 0, 0), 1);
    const firn_srtp_keys *client = r ? &k1 : &k0, *server = r ? &k0 : &k1;
    assert_memory_equal(raw, client->local_key, 32);
    assert_memory_equal(raw + 32, server->local_key, 32);
    assert_memory_equal(raw + 64, client->local_salt, 12);
    assert_memory_equal(raw + 76, server->local_salt, 12);
    firn_srtp_keys_wipe(&k0);
    firn_srtp_keys_wipe(&k1);
    media_both_ways(&p);
    pair_free(&p);
  }
}

static void test_each_profile_alone(void **state) {
  (void)state;
  for (size_t k = 0; k < 4; k++) {
    for (int r = 0; r < 2; r++) {
      pair p;
      memset(&p, 0, sizeof p);
      firn_dtls_config c0, c1;
      cfgs_default(&c0, &c1);
      c0.profiles[0] = c1.profiles[0] = all_profiles[k];
      c0.num_profiles = c1.num_profiles = 1;
      assert_int_equal(pair_setup(&p, r ? FIRN_DTLS_SERVER : FIRN_DTLS_CLIENT, &c0, &c1, NULL), FIRN_OK);
      pair_run(&p, 100);
      assert_int_equal(firn_dtls_get_state(p.d[0]), FIRN_DTLS_CONNECTED);
      assert_int_equal(firn_dtls_get_state(p.d[1]), FIRN_DTLS_CONNECTED);
      assert_int_equal(firn_dtls_srtp_profile(p.d[0]), all_profiles[k]);
      assert_int_equal(firn_dtls_srtp_profile(p.d[1]), all_profiles[k]);
      media_both_ways(&p);
      pair_free(&p);
    }
  }
}

/* The server picks its most preferred profile among the client's; no overlap fails. */
static void test_profile_negotiation(void **state) {
  (void)state;
  pair p;
  memset(&p, 0, sizeof p);
  firn_dtls_config c0, c1;
  cfgs_default(&c0, &c1);
  c0.profiles[0] = FIRN_SRTP_AES128_CM_SHA1_80; /* client */
  c0.profiles[1] = FIRN_SRTP_AEAD_AES_128_GCM;
  c0.num_profiles = 2;
  c1.profiles[0] = FIRN_SRTP_AEAD_AES_128_GCM; /* server */
  c1.profiles[1] = FIRN_SRTP_AES128_CM_SHA1_80;
  c1.num_profiles = 2;
  assert_int_equal(pair_setup(&p, FIRN_DTLS_CLIENT, &c0, &c1, NULL), FIRN_OK);
  pair_run(&p, 100);
  assert_int_equal(firn_dtls_srtp_profile(p.d[0]), FIRN_SRTP_AEAD_AES_128_GCM);
  assert_int_equal(firn_dtls_srtp_profile(p.d[1]), FIRN_SRTP_AEAD_AES_128_GCM);
  pair_free(&p);

  memset(&p, 0, sizeof p);
  cfgs_default(&c0, &c1);
  c0.profiles[0] = FIRN_SRTP_AES128_CM_SHA1_32;
  c0.num_profiles = 1;
  c1.profiles[0] = FIRN_SRTP_AEAD_AES_256_GCM;
  c1.num_profiles = 1;
  assert_int_equal(pair_setup(&p, FIRN_DTLS_CLIENT, &c0, &c1, NULL), FIRN_OK);
  pair_run(&p, 100);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(firn_dtls_get_state(p.d[i]), FIRN_DTLS_FAILED);
    firn_srtp_keys k;
    assert_int_equal(firn_dtls_export_srtp_keys(p.d[i], &k), FIRN_ERR_STATE);
  }
  assert_int_equal(firn_dtls_error(p.d[1]), FIRN_ERR_DTLS_HANDSHAKE);
  pair_free(&p);
}

/* The peer's certificate does not match the fingerprint from its SDP. */
static void test_fingerprint_mismatch(void **state) {
  (void)state;
  firn_dtls_cert *other;
  assert_int_equal(firn_dtls_cert_generate(&other, NULL, NULL, NULL), FIRN_OK);
  for (int checker = 0; checker < 2; checker++) {
    for (int r = 0; r < 2; r++) {
      pair p;
      memset(&p, 0, sizeof p);
      firn_dtls_config c[2];
      cfgs_default(&c[0], &c[1]);
      /* `checker` expects a different certificate than the one the peer presents */
      assert_int_equal(firn_dtls_cert_get_fingerprint(other, FIRN_FP_SHA256, &c[checker].remote_fingerprint), FIRN_OK);
      assert_int_equal(pair_setup(&p, r ? FIRN_DTLS_SERVER : FIRN_DTLS_CLIENT, &c[0], &c[1], NULL), FIRN_OK);
      pair_run(&p, 100);
      assert_int_equal(firn_dtls_get_state(p.d[checker]), FIRN_DTLS_FAILED);
      assert_int_equal(firn_dtls_error(p.d[checker]), FIRN_ERR_DTLS_FINGERPRINT);
      /* the peer learns through the alert; it never reaches CONNECTED either */
      assert_int_not_equal(firn_dtls_get_state(p.d[1 - checker]), FIRN_DTLS_CONNECTED);
      for (int i = 0; i < 2; i++) {
        firn_srtp_keys k;
        memset(&k, 0x5a, sizeof k);
        assert_int_equal(firn_dtls_export_srtp_keys(p.d[i], &k), FIRN_ERR_STATE);
        static const firn_srtp_keys zero;
        assert_memory_equal(&k, &zero, sizeof k); /* nothing leaked into the struct */
        firn_srtp *s = (firn_srtp *)&k;
        assert_int_equal(firn_srtp_new_from_dtls(&s, NULL, p.d[i]), FIRN_ERR_STATE);
        assert_null(s);
        firn_dtls_stats st;
        firn_dtls_get_stats(p.d[i], &st);
        assert_int_equal(st.keys_exported, 0);
        assert_int_equal(firn_dtls_srtp_profile(p.d[i]), FIRN_SRTP_NONE);
        /* later datagrams are refused, the state stays failed */
        uint8_t junk[40] = {22, 0xfe, 0xfd};
        assert_int_equal(firn_dtls_handle_datagram(p.d[i], junk, sizeof junk, p.now), FIRN_ERR_STATE);
      }
      assert_int_equal(firn_dtls_expiry(p.d[checker]), FIRN_TIME_NEVER);
      pair_free(&p);
    }
  }
  /* the same bytes under another hash name is a mismatch, and every hash works */
  const firn_fingerprint_alg algs[] = {FIRN_FP_SHA1, FIRN_FP_SHA384, FIRN_FP_SHA512};
  for (size_t a = 0; a < 3; a++) {
    pair p;
    memset(&p, 0, sizeof p);
    firn_dtls_config c0, c1;
    cfgs_default(&c0, &c1);
    assert_int_equal(firn_dtls_cert_generate(&p.cert[1], NULL, NULL, NULL), FIRN_OK);
    assert_int_equal(firn_dtls_cert_get_fingerprint(p.cert[1], algs[a], &c0.remote_fingerprint), FIRN_OK);
    assert_int_equal(pair_setup(&p, FIRN_DTLS_CLIENT, &c0, &c1, NULL), FIRN_OK);
    pair_run(&p, 100);
    assert_int_equal(firn_dtls_get_state(p.d[0]), FIRN_DTLS_CONNECTED);
    pair_free(&p);
  }
  firn_dtls_cert_free(other);
}

static int count_states;
static firn_dtls_state seen[8];
static void on_state(void *user, firn_dtls *d, firn_dtls_state st, int err) {
  (void)d;
  (void)err;
  int *n = user;
  if (*n < 8) seen[*n] = st;
  (*n)++;
}

static void test_state_callback_and_close(void **state) {
  (void)state;
  pair p;
  memset(&p, 0, sizeof p);
  firn_dtls_config c0, c1;
  cfgs_default(&c0, &c1);
  count_states = 0;
  c0.callbacks.on_state = on_state;
  c0.callbacks.user = &count_states;
  assert_int_equal(pair_setup(&p, FIRN_DTLS_CLIENT, &c0, &c1, NULL), FIRN_OK);
  pair_run(&p, 100);
  assert_int_equal(count_states, 2);
  assert_int_equal(seen[0], FIRN_DTLS_HANDSHAKING);
  assert_int_equal(seen[1], FIRN_DTLS_CONNECTED);
  assert_int_equal(firn_dtls_start(p.d[0], p.now), FIRN_ERR_STATE);
  /* close: close_notify reaches the peer, which closes cleanly too */
  assert_int_equal(firn_dtls_close(p.d[0], p.now), FIRN_OK);
  assert_int_equal(count_states, 3);
  assert_int_equal(seen[2], FIRN_DTLS_CLOSED);
  assert_int_equal(pair_flush(&p, 0), 1);
  assert_int_equal(firn_dtls_get_state(p.d[1]), FIRN_DTLS_CLOSED);
  assert_int_equal(firn_dtls_error(p.d[1]), 0);
  assert_int_equal(firn_dtls_expiry(p.d[0]), FIRN_TIME_NEVER);
  assert_int_equal(firn_dtls_expiry(p.d[1]), FIRN_TIME_NEVER);
  firn_srtp_keys k;
  assert_int_equal(firn_dtls_export_srtp_keys(p.d[1], &k), FIRN_ERR_STATE);
  assert_int_equal(firn_dtls_close(p.d[0], p.now), FIRN_OK); /* idempotent */
  pair_free(&p);
}

/* Datagrams that are not valid DTLS records for this association. */
static size_t make_garbage(uint8_t *g, int i) {
  size_t n;
  switch (i % 6) {
  case 0: /* random bytes with a DTLS first byte and a bogus version */
    n = (size_t)(1 + (i * 37) % 200);
    for (size_t k = 0; k < n; k++) g[k] = (uint8_t)(k * 73 + (size_t)i * 11);
    g[0] = (uint8_t)(20 + i % 44);
    if (n > 2) g[1] = 0x12, g[2] = 0x34;
    return n;
  case 1: /* a header alone */
    memcpy(g, (const uint8_t[]){22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9, 0, 50}, 13);
    return 13;
  case 2: /* length field past the end of the datagram */
    memcpy(g, (const uint8_t[]){22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9, 0x40, 0}, 13);
    memset(g + 13, 0xaa, 30);
    return 43;
  case 3: /* epoch 1 "ciphertext" of random bytes: fails the record MAC */
  case 4:
    memcpy(g, (const uint8_t[]){23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, (uint8_t)(40 + i), 0, 64}, 13);
    if (i % 6 == 4) g[0] = 21; /* an "alert" that does not decrypt */
    for (size_t k = 0; k < 64; k++) g[13 + k] = (uint8_t)(k * 29 + (size_t)i);
    return 77;
  default: /* a very short one */
    g[0] = 20;
    return 1;
  }
}

static bool inject_garbage(void *user, int from, int index, const uint8_t *pkt, size_t len) {
  (void)pkt;
  (void)len;
  (void)index;
  pair *p = user;
  /* before each real datagram, the receiver also gets three bad ones */
  for (int k = 0; k < 3; k++) {
    uint8_t g[300];
    size_t n = make_garbage(g, p->sent[from] * 3 + k);
    int rc = firn_dtls_handle_datagram(p->d[1 - from], g, n, p->now);
    assert_int_equal(rc, FIRN_OK);
  }
  return false;
}

static void test_garbage_does_not_tear_down(void **state) {
  (void)state;
  pair p;
  memset(&p, 0, sizeof p);
  firn_dtls_config c0, c1;
  cfgs_default(&c0, &c1);
  assert_int_equal(pair_setup(&p, FIRN_DTLS_CLIENT, &c0, &c1, NULL), FIRN_OK);
  p.drop = inject_garbage;
  p.drop_user = &p;
  pair_run(&p, 200);
  assert_int_equal(firn_dtls_get_state(p.d[0]), FIRN_DTLS_CONNECTED);
  assert_int_equal(firn_dtls_get_state(p.d[1]), FIRN_DTLS_CONNECTED);
  p.drop = NULL;
  firn_srtp *s0, *s1;
  assert_int_equal(firn_srtp_new_from_dtls(&s0, NULL, p.d[0]), FIRN_OK);
  assert_int_equal(firn_srtp_new_from_dtls(&s1, NULL, p.d[1]), FIRN_OK);

  /* after the handshake: garbage, then every handshake datagram replayed to both sides */
  for (int i = 0; i < 60; i++) {
    uint8_t g[300];
    size_t n = make_garbage(g, i);
    assert_int_equal(firn_dtls_handle_datagram(p.d[i & 1], g, n, p.now), FIRN_OK);
  }
  int logged = p.log_count;
  for (int i = 0; i < logged; i++) {
    (void)firn_dtls_handle_datagram(p.d[1 - p.log_from[i]], p.log[i], p.log_len[i], p.now);
    (void)firn_dtls_handle_datagram(p.d[p.log_from[i]], p.log[i], p.log_len[i], p.now);
    pair_flush(&p, 0);
    pair_flush(&p, 1);
  }
  for (int i = 0; i < 2; i++) {
    assert_int_equal(firn_dtls_get_state(p.d[i]), FIRN_DTLS_CONNECTED);
    firn_dtls_stats st;
    firn_dtls_get_stats(p.d[i], &st);
    assert_int_equal(st.renegotiations_refused, 0);
  }
  /* media keyed before the noise still flows both ways */
  media_one_way(s0, s1, 0x77, 10);
  media_one_way(s1, s0, 0x88, 10);
  /* and keys exported now are the same as before */
  firn_srtp *s0b;
  assert_int_equal(firn_srtp_new_from_dtls(&s0b, NULL, p.d[0]), FIRN_OK);
  media_one_way(s0b, s1, 0x99, 10);
  firn_srtp_free(s0b);
  firn_srtp_free(s0);
  firn_srtp_free(s1);
  pair_free(&p);
}

/* Replayed and tampered SRTP from DTLS-derived keys: dropped and counted. */
static void test_srtp_replay_tamper_counted(void **state) {
  (void)state;
  pair p;
  memset(&p, 0, sizeof p);
  firn_dtls_config c0, c1;
  cfgs_default(&c0, &c1);
  c0.profiles[0] = c1.profiles[0] = FIRN_SRTP_AES128_CM_SHA1_80; /* what aiortc offers */
  c0.num_profiles = c1.num_profiles = 1;
  assert_int_equal(pair_setup(&p, FIRN_DTLS_SERVER, &c0, &c1, NULL), FIRN_OK);
  pair_run(&p, 100);
  firn_srtp *s0, *s1;
  assert_int_equal(firn_srtp_new_from_dtls(&s0, NULL, p.d[0]), FIRN_OK);
  assert_int_equal(firn_srtp_new_from_dtls(&s1, NULL, p.d[1]), FIRN_OK);
  uint8_t pkt[12 + 160 + FIRN_SRTP_MAX_TRAILER], copy[sizeof pkt];
  size_t n = build_rtp(pkt, 42, 0, 0xfeedu, 160, 1), out, plain;
  assert_int_equal(firn_srtp_protect_rtp(s0, pkt, n, sizeof pkt, &out), FIRN_OK);
  memcpy(copy, pkt, out);
  assert_int_equal(firn_srtp_unprotect_rtp(s1, pkt, out, &plain), FIRN_OK);
  for (int r = 0; r < 3; r++) {
    memcpy(pkt, copy, out);
    assert_int_equal(firn_srtp_unprotect_rtp(s1, pkt, out, &plain), FIRN_ERR_SRTP_REPLAY);
  }
  n = build_rtp(pkt, 43, 160, 0xfeedu, 160, 2);
  assert_int_equal(firn_srtp_protect_rtp(s0, pkt, n, sizeof pkt, &out), FIRN_OK);
  pkt[30] ^= 0x10;
  assert_int_equal(firn_srtp_unprotect_rtp(s1, pkt, out, &plain), FIRN_ERR_SRTP_AUTH);
  /* the wrong direction's key (our own outbound) does not authenticate either */
  n = build_rtp(pkt, 44, 320, 0xfeedu, 160, 3);
  assert_int_equal(firn_srtp_protect_rtp(s1, pkt, n, sizeof pkt, &out), FIRN_OK);
  assert_int_equal(firn_srtp_unprotect_rtp(s1, pkt, out, &plain), FIRN_ERR_SRTP_AUTH);
  firn_srtp_stats st;
  firn_srtp_get_stats(s1, &st);
  assert_int_equal(st.replays, 3);
  assert_int_equal(st.auth_failures, 2);
  assert_int_equal(st.rtp_unprotected, 1);
  firn_srtp_free(s0);
  firn_srtp_free(s1);
  pair_free(&p);
}

/* A peer that tries to renegotiate after the handshake is refused. */
static void test_renegotiation_refused(void **state) {
  (void)state;
  for (int r = 0; r < 2; r++) {
    pair p;
    memset(&p, 0, sizeof p);
    firn_dtls_config c0, c1;
    cfgs_default(&c0, &c1);
    assert_int_equal(pair_setup(&p, r ? FIRN_DTLS_SERVER : FIRN_DTLS_CLIENT, &c0, &c1, NULL), FIRN_OK);
    pair_run(&p, 100);
    assert_int_equal(firn_dtls_get_state(p.d[0]), FIRN_DTLS_CONNECTED);
    firn_srtp_keys before, after;
    assert_int_equal(firn_dtls_export_srtp_keys(p.d[1], &before), FIRN_OK);

    /* Our own endpoint never starts one. */
    SSL *ssl = firn_dtls_test_ssl(p.d[0]);
    assert_true(SSL_get_options(ssl) & SSL_OP_NO_RENEGOTIATION);
    assert_int_equal(SSL_renegotiate(ssl), 0);
    ERR_clear_error();

    /* A misbehaving peer (d[0] with the option removed) starts one anyway: a ClientHello
     * from a client, a HelloRequest from a server. */
    SSL_clear_options(ssl, SSL_OP_NO_RENEGOTIATION);
    assert_int_equal(SSL_renegotiate(ssl), 1);
    (void)SSL_do_handshake(ssl);
    ERR_clear_error();
    assert_int_equal(pair_flush(&p, 0), 1);
    /* d[1] answers with a no_renegotiation warning and carries on as before */
    assert_int_equal(pair_flush(&p, 1), 1);
    firn_dtls_stats st;
    firn_dtls_get_stats(p.d[1], &st);
    assert_int_equal(st.renegotiations_refused, 1);
    assert_int_equal(firn_dtls_get_state(p.d[1]), FIRN_DTLS_CONNECTED);
    assert_int_equal(SSL_renegotiate_pending(firn_dtls_test_ssl(p.d[1])), 0);
    assert_int_equal(firn_dtls_export_srtp_keys(p.d[1], &after), FIRN_OK);
    assert_memory_equal(&before, &after, sizeof before);
    assert_int_equal(firn_dtls_handle_expiry(p.d[1], p.now + 100 * FIRN_NS_PER_S), FIRN_OK);
    assert_int_equal(firn_dtls_get_state(p.d[1]), FIRN_DTLS_CONNECTED);
    /* OpenSSL's renegotiating peer gives up with a fatal alert: receiving that ends the
     * session (an authenticated peer may always end it), still without new keys. */
    assert_int_equal(firn_dtls_get_state(p.d[0]), FIRN_DTLS_CLOSED);
    assert_int_equal(pair_flush(&p, 0), 1);
    assert_int_equal(firn_dtls_get_state(p.d[1]), FIRN_DTLS_CLOSED);
    assert_int_equal(firn_dtls_error(p.d[1]), FIRN_ERR_CLOSED);
    firn_dtls_get_stats(p.d[1], &st);
    assert_int_equal(st.renegotiations_refused, 1);
    firn_srtp_keys_wipe(&before);
    firn_srtp_keys_wipe(&after);
    pair_free(&p);
  }
}

/* MTU is respected: a small path MTU fragments the handshake and nothing exceeds it. */
static void test_mtu(void **state) {
  (void)state;
  size_t mtus[] = {300, 576, 1200};
  for (size_t m = 0; m < 3; m++) {
    pair p;
    memset(&p, 0, sizeof p);
    firn_dtls_config c0, c1;
    cfgs_default(&c0, &c1);
    c0.mtu = c1.mtu = mtus[m];
    assert_int_equal(pair_setup(&p, FIRN_DTLS_CLIENT, &c0, &c1, NULL), FIRN_OK);
    pair_run(&p, 200);
    assert_int_equal(firn_dtls_get_state(p.d[0]), FIRN_DTLS_CONNECTED);
    assert_int_equal(firn_dtls_get_state(p.d[1]), FIRN_DTLS_CONNECTED);
    assert_true(p.max_len <= mtus[m]);
    assert_true(p.max_len > mtus[m] / 2);
    pair_free(&p);
  }
}

/* Handshake timeout in pure `now` time, and what retransmission does when `now` runs ahead
 * of the wall clock that OpenSSL 3.0 reads (see src/dtls/dtls.h). */
static bool drop_everything(void *u, int from, int idx, const uint8_t *pkt, size_t len) {
  (void)u, (void)from, (void)idx, (void)pkt, (void)len;
  return true;
}

static void test_timers_virtual_clock(void **state) {
  (void)state;
  pair p;
  memset(&p, 0, sizeof p);
  firn_dtls_config c0, c1;
  cfgs_default(&c0, &c1);
  c0.handshake_timeout = 10 * FIRN_NS_PER_S;
  assert_int_equal(pair_setup(&p, FIRN_DTLS_CLIENT, &c0, &c1, NULL), FIRN_OK);
  p.now = 5 * FIRN_NS_PER_S; /* any origin */
  assert_int_equal(firn_dtls_start(p.d[0], p.now), FIRN_OK);
  /* The ClientHello is queued and the retransmission deadline is placed in `now` time:
   * exactly start + the initial RTO (1 s). */
  assert_int_equal(firn_dtls_expiry(p.d[0]), p.now + FIRN_NS_PER_S);
  p.drop = drop_everything;
  assert_int_equal(pair_flush(&p, 0), 1);
  /* Early calls do nothing. */
  assert_int_equal(firn_dtls_handle_expiry(p.d[0], p.now + FIRN_NS_PER_S - 1), FIRN_OK);
  assert_int_equal(firn_dtls_expiry(p.d[0]), p.now + FIRN_NS_PER_S);
  uint8_t buf[1500];
  assert_int_equal(firn_dtls_poll_transmit(p.d[0], buf, sizeof buf), FIRN_ERR_WOULDBLOCK);
  /* At the deadline the layer asks OpenSSL to retransmit. The wall clock has not moved a
   * second, so OpenSSL 3.0 declines; the layer must then reschedule itself in the future
   * (no busy loop) and stay in HANDSHAKING. (If this machine stalled for a second it would
   * retransmit instead, which is also correct.) */
  uint64_t t = p.now + FIRN_NS_PER_S;
  assert_int_equal(firn_dtls_handle_expiry(p.d[0], t), FIRN_OK);
  assert_int_equal(firn_dtls_get_state(p.d[0]), FIRN_DTLS_HANDSHAKING);
  firn_ssize n = firn_dtls_poll_transmit(p.d[0], buf, sizeof buf);
  uint64_t e = firn_dtls_expiry(p.d[0]);
  assert_true(e > t);
  assert_true(e <= t + 2 * FIRN_NS_PER_S);
  printf("# at the virtual deadline OpenSSL %s; next expiry in %llu ms\n",
         n > 0 ? "retransmitted" : "declined (wall clock)", (unsigned long long)((e - t) / FIRN_NS_PER_MS));
  /* The handshake timeout is pure `now` time: 10 s after start the endpoint fails, with
   * no wall time passing at all. */
  int calls = 0;
  while (firn_dtls_get_state(p.d[0]) == FIRN_DTLS_HANDSHAKING && calls < 100) {
    t = firn_dtls_expiry(p.d[0]);
    assert_true(t != FIRN_TIME_NEVER);
    (void)firn_dtls_handle_expiry(p.d[0], t);
    calls++;
  }
  assert_int_equal(firn_dtls_get_state(p.d[0]), FIRN_DTLS_FAILED);
  assert_int_equal(firn_dtls_error(p.d[0]), FIRN_ERR_DTLS_HANDSHAKE);
  assert_true(t >= 15 * FIRN_NS_PER_S);
  assert_true(calls <= 12); /* ~1 s steps: no busy loop */
  assert_int_equal(firn_dtls_expiry(p.d[0]), FIRN_TIME_NEVER);
  pair_free(&p);
}

/* What the layer demands of a peer: a certificate from the client too, DTLS 1.2, ECDHE.
 * The misbehaving peer is a firn endpoint whose SSL object the test reconfigures. */
typedef enum { PEER_NO_CERT, PEER_DTLS10, PEER_NO_ECDHE } peer_flaw;

static void test_peer_policy(void **state) {
  (void)state;
  /* a normal session: DTLS 1.2 with an ECDHE suite */
  pair p;
  memset(&p, 0, sizeof p);
  firn_dtls_config c0, c1;
  cfgs_default(&c0, &c1);
  assert_int_equal(pair_setup(&p, FIRN_DTLS_CLIENT, &c0, &c1, NULL), FIRN_OK);
  pair_run(&p, 100);
  for (int i = 0; i < 2; i++) {
    SSL *ssl = firn_dtls_test_ssl(p.d[i]);
    assert_int_equal(SSL_version(ssl), DTLS1_2_VERSION);
    assert_int_equal(SSL_CIPHER_get_kx_nid(SSL_get_current_cipher(ssl)), NID_kx_ecdhe);
    assert_non_null(SSL_get0_peer_certificate(ssl)); /* both saw a certificate */
    assert_int_equal(firn_dtls_expiry(p.d[i]), FIRN_TIME_NEVER); /* no timer once done */
  }
  pair_free(&p);

  for (int flaw = PEER_NO_CERT; flaw <= PEER_NO_ECDHE; flaw++) {
    memset(&p, 0, sizeof p);
    cfgs_default(&c0, &c1);
    assert_int_equal(pair_setup(&p, FIRN_DTLS_CLIENT, &c0, &c1, NULL), FIRN_OK);
    SSL *bad = firn_dtls_test_ssl(p.d[0]); /* d[0] is the client */
    switch (flaw) {
    case PEER_NO_CERT: SSL_certs_clear(bad); break;
    case PEER_DTLS10:
      assert_int_equal(SSL_set_min_proto_version(bad, DTLS1_VERSION), 1);
      assert_int_equal(SSL_set_max_proto_version(bad, DTLS1_VERSION), 1);
      break;
    case PEER_NO_ECDHE:
      /* RSA/PSK key exchange only: no suite the server (ECDHE only) accepts */
      assert_int_equal(SSL_set_cipher_list(bad, "AES128-GCM-SHA256:AES256-SHA:PSK-AES128-CBC-SHA"), 1);
      break;
    }
    pair_run(&p, 100);
    assert_int_equal(firn_dtls_get_state(p.d[1]), FIRN_DTLS_FAILED);
    assert_int_equal(firn_dtls_error(p.d[1]), FIRN_ERR_DTLS_HANDSHAKE);
    assert_int_not_equal(firn_dtls_get_state(p.d[0]), FIRN_DTLS_CONNECTED);
    firn_srtp_keys k;
    assert_int_equal(firn_dtls_export_srtp_keys(p.d[1], &k), FIRN_ERR_STATE);
    pair_free(&p);
  }
}

/* A server that has not been started yet starts on the peer's ClientHello. */
static void test_server_starts_on_client_hello(void **state) {
  (void)state;
  pair p;
  memset(&p, 0, sizeof p);
  firn_dtls_config c0, c1;
  cfgs_default(&c0, &c1);
  assert_int_equal(pair_setup(&p, FIRN_DTLS_CLIENT, &c0, &c1, NULL), FIRN_OK);
  assert_int_equal(firn_dtls_start(p.d[0], p.now), FIRN_OK);
  assert_int_equal(firn_dtls_get_state(p.d[1]), FIRN_DTLS_NEW);
  assert_int_equal(pair_flush(&p, 0), 1);
  assert_int_equal(p.last_rc[1], FIRN_OK);
  assert_int_equal(firn_dtls_get_state(p.d[1]), FIRN_DTLS_HANDSHAKING);
  pair_run(&p, 100);
  assert_int_equal(firn_dtls_get_state(p.d[0]), FIRN_DTLS_CONNECTED);
  assert_int_equal(firn_dtls_get_state(p.d[1]), FIRN_DTLS_CONNECTED);
  pair_free(&p);
}

static void test_bad_config(void **state) {
  (void)state;
  firn_dtls_cert *cert;
  assert_int_equal(firn_dtls_cert_generate(&cert, NULL, NULL, NULL), FIRN_OK);
  firn_dtls_config good;
  firn_dtls_config_default(&good);
  good.cert = cert;
  assert_int_equal(firn_dtls_cert_get_fingerprint(cert, FIRN_FP_SHA256, &good.remote_fingerprint), FIRN_OK);
  firn_dtls *d = NULL;
  assert_int_equal(firn_dtls_new(&d, NULL, &good), FIRN_OK);
  firn_dtls_free(d);

  firn_dtls_config c;
  d = (firn_dtls *)&c;
#define EXPECT_INVALID(mutation)                                        \
  do {                                                                  \
    c = good;                                                           \
    mutation;                                                           \
    assert_int_equal(firn_dtls_new(&d, NULL, &c), FIRN_ERR_INVALID_ARG); \
    assert_null(d);                                                     \
  } while (0)
  EXPECT_INVALID(c.cert = NULL);
  EXPECT_INVALID(c.remote_fingerprint.alg = 0);
  EXPECT_INVALID(c.remote_fingerprint.len = 31);
  EXPECT_INVALID(c.mtu = 100);
  EXPECT_INVALID(c.mtu = 70000);
  EXPECT_INVALID(c.initial_rto = FIRN_NS_PER_MS);
  EXPECT_INVALID(c.max_rto = c.initial_rto - 1);
  EXPECT_INVALID(c.num_profiles = 0);
  EXPECT_INVALID(c.num_profiles = 5);
  EXPECT_INVALID(c.profiles[1] = c.profiles[0]);
  EXPECT_INVALID(c.profiles[0] = (firn_srtp_profile)5);
  EXPECT_INVALID(c.role = (firn_dtls_role)2);
  EXPECT_INVALID(c.size = 8);
  assert_int_equal(firn_dtls_new(NULL, NULL, &good), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_dtls_new(&d, NULL, NULL), FIRN_ERR_INVALID_ARG);
  /* calls on a NULL or unstarted endpoint */
  assert_int_equal(firn_dtls_new(&d, NULL, &good), FIRN_OK);
  uint8_t b[4] = {22};
  assert_int_equal(firn_dtls_handle_datagram(d, b, 4, 0), FIRN_ERR_STATE);
  assert_int_equal(firn_dtls_handle_datagram(d, NULL, 4, 0), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_dtls_close(d, 0), FIRN_ERR_STATE);
  assert_int_equal(firn_dtls_poll_transmit(d, b, sizeof b), FIRN_ERR_WOULDBLOCK);
  assert_int_equal(firn_dtls_start(d, 0), FIRN_OK); /* client: ClientHello queued */
  assert_int_equal(firn_dtls_poll_transmit(d, b, sizeof b), FIRN_ERR_NOBUF);
  uint8_t big[1500];
  assert_true(firn_dtls_poll_transmit(d, big, sizeof big) > 4); /* still there */
  firn_dtls_free(d);
  assert_int_equal(firn_dtls_start(NULL, 0), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_dtls_expiry(NULL), FIRN_TIME_NEVER);
  firn_dtls_free(NULL);
  firn_dtls_cert_free(cert);
}

static void test_certificates(void **state) {
  (void)state;
  firn_dtls_cert *c;
  assert_int_equal(firn_dtls_cert_generate(&c, NULL, NULL, NULL), FIRN_OK);
  char fp[FIRN_DTLS_FINGERPRINT_STRLEN];
  int n = firn_dtls_cert_fingerprint(c, FIRN_FP_SHA256, fp, sizeof fp);
  assert_int_equal(n, 8 + 32 * 3 - 1);
  assert_memory_equal(fp, "sha-256 ", 8);
  for (int i = 8; i < n; i++)
    assert_true((fp[i] >= '0' && fp[i] <= '9') || (fp[i] >= 'A' && fp[i] <= 'F') || (fp[i] == ':' && (i - 8) % 3 == 2));
  firn_fingerprint parsed, direct;
  assert_int_equal(firn_fingerprint_parse(&parsed, fp, (size_t)n), FIRN_OK);
  assert_int_equal(firn_dtls_cert_get_fingerprint(c, FIRN_FP_SHA256, &direct), FIRN_OK);
  assert_true(firn_fingerprint_equal(&parsed, &direct));
  assert_int_equal(firn_dtls_cert_fingerprint(c, FIRN_FP_SHA256, fp, 20), FIRN_ERR_NOBUF);
  assert_int_equal(firn_dtls_cert_fingerprint(c, (firn_fingerprint_alg)0, fp, sizeof fp), FIRN_ERR_INVALID_ARG);

  /* the generated certificate: ECDSA P-256, self-signed, SHA-256 signature */
  X509 *x = c->x509;
  EVP_PKEY *pub = X509_get0_pubkey(x);
  assert_int_equal(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
  char group[64];
  size_t glen = 0;
  assert_int_equal(EVP_PKEY_get_group_name(pub, group, sizeof group, &glen), 1);
  assert_string_equal(group, "prime256v1");
  assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
  assert_int_equal(X509_check_issued(x, x), X509_V_OK);
  assert_int_equal(X509_verify(x, pub), 1);

  /* two generated certificates differ */
  firn_dtls_cert *c2;
  assert_int_equal(firn_dtls_cert_generate(&c2, NULL, NULL, NULL), FIRN_OK);
  firn_fingerprint f2;
  assert_int_equal(firn_dtls_cert_get_fingerprint(c2, FIRN_FP_SHA256, &f2), FIRN_OK);
  assert_false(firn_fingerprint_equal(&direct, &f2));

  /* PEM: a certificate and key made with OpenSSL directly load, and a mismatched pair or
   * garbage does not */
  EVP_PKEY *key = EVP_EC_gen("P-256");
  assert_non_null(key);
  X509 *cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 7);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC, (const unsigned char *)"app", -1, -1, 0);
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  assert_true(X509_sign(cert, key, EVP_sha256()) > 0);
  BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
  assert_int_equal(PEM_write_bio_X509(cb, cert), 1);
  assert_int_equal(PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL), 1);
  char *cpem, *kpem;
  long clen = BIO_get_mem_data(cb, &cpem), klen = BIO_get_mem_data(kb, &kpem);
  firn_dtls_cert *loaded;
  assert_int_equal(firn_dtls_cert_from_pem(&loaded, NULL, cpem, (size_t)clen, kpem, (size_t)klen), FIRN_OK);
  uint8_t md[32];
  unsigned int mdlen;
  X509_digest(cert, EVP_sha256(), md, &mdlen);
  firn_fingerprint lf;
  assert_int_equal(firn_dtls_cert_get_fingerprint(loaded, FIRN_FP_SHA256, &lf), FIRN_OK);
  assert_memory_equal(lf.bytes, md, 32);
  /* it works as a DTLS identity */
  pair p;
  memset(&p, 0, sizeof p);
  p.cert[0] = loaded;
  firn_dtls_config c0, c1;
  cfgs_default(&c0, &c1);
  assert_int_equal(pair_setup(&p, FIRN_DTLS_SERVER, &c0, &c1, NULL), FIRN_OK);
  pair_run(&p, 100);
  assert_int_equal(firn_dtls_get_state(p.d[1]), FIRN_DTLS_CONNECTED);
  pair_free(&p); /* frees `loaded` */

  EVP_PKEY *other = EVP_EC_gen("P-256");
  BIO *ob = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(ob, other, NULL, NULL, 0, NULL, NULL);
  char *opem;
  long olen = BIO_get_mem_data(ob, &opem);
  firn_dtls_cert *bad = (firn_dtls_cert *)&p;
  assert_int_equal(firn_dtls_cert_from_pem(&bad, NULL, cpem, (size_t)clen, opem, (size_t)olen), FIRN_ERR_PARSE);
  assert_null(bad);
  assert_int_equal(firn_dtls_cert_from_pem(&bad, NULL, "junk", 4, kpem, (size_t)klen), FIRN_ERR_PARSE);
  assert_int_equal(firn_dtls_cert_from_pem(&bad, NULL, cpem, (size_t)clen, "junk", 4), FIRN_ERR_PARSE);
  assert_int_equal(firn_dtls_cert_from_pem(&bad, NULL, NULL, 0, kpem, (size_t)klen), FIRN_ERR_INVALID_ARG);
  BIO_free(cb);
  BIO_free(kb);
  BIO_free(ob);
  EVP_PKEY_free(key);
  EVP_PKEY_free(other);
  X509_free(cert);
  firn_dtls_cert_free(c);
  firn_dtls_cert_free(c2);
}

/* firn's own allocations (endpoint, queued datagrams, certificate wrapper, SRTP sessions)
 * fail one at a time: every failure is reported, nothing leaks. */
static void test_failing_allocator(void **state) {
  (void)state;
  failing_alloc f = {0, 1, 0};
  firn_allocator al = fa_allocator(&f);
  firn_dtls_cert *c = (firn_dtls_cert *)&f;
  assert_int_equal(firn_dtls_cert_generate(&c, &al, NULL, NULL), FIRN_ERR_NOMEM);
  assert_null(c);
  assert_int_equal(f.live, 0);

  int connected_runs = 0, failed_runs = 0;
  for (long fail_at = 1; fail_at < 200; fail_at++) {
    pair p;
    memset(&p, 0, sizeof p);
    f = (failing_alloc){0, fail_at, 0};
    firn_dtls_config c0, c1;
    cfgs_default(&c0, &c1);
    int rc = pair_setup(&p, FIRN_DTLS_CLIENT, &c0, &c1, &al);
    if (rc == FIRN_OK) {
      pair_run(&p, 100);
      bool ok = firn_dtls_get_state(p.d[0]) == FIRN_DTLS_CONNECTED &&
                firn_dtls_get_state(p.d[1]) == FIRN_DTLS_CONNECTED;
      if (ok) {
        firn_srtp *s;
        rc = firn_srtp_new_from_dtls(&s, &al, p.d[0]);
        if (rc == FIRN_OK) firn_srtp_free(s);
        else assert_int_equal(rc, FIRN_ERR_NOMEM);
      } else {
        /* someone's allocation failed: the side that saw it reports NOMEM */
        assert_true(firn_dtls_error(p.d[0]) == FIRN_ERR_NOMEM || firn_dtls_error(p.d[1]) == FIRN_ERR_NOMEM);
      }
      if (f.calls < fail_at) { /* nothing failed: done */
        assert_true(ok);
        pair_free(&p);
        assert_int_equal(f.live, 0);
        connected_runs++;
        break;
      }
      failed_runs++;
    } else {
      assert_int_equal(rc, FIRN_ERR_NOMEM);
      failed_runs++;
    }
    pair_free(&p);
    assert_int_equal(f.live, 0);
  }
  assert_int_equal(connected_runs, 1);
  assert_true(failed_runs > 5);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handshake_both_roles),
      cmocka_unit_test(test_each_profile_alone),
      cmocka_unit_test(test_profile_negotiation),
      cmocka_unit_test(test_fingerprint_mismatch),
      cmocka_unit_test(test_state_callback_and_close),
      cmocka_unit_test(test_garbage_does_not_tear_down),
      cmocka_unit_test(test_srtp_replay_tamper_counted),
      cmocka_unit_test(test_renegotiation_refused),
      cmocka_unit_test(test_mtu),
      cmocka_unit_test(test_timers_virtual_clock),
      cmocka_unit_test(test_peer_policy),
      cmocka_unit_test(test_server_starts_on_client_hello),
      cmocka_unit_test(test_bad_config),
      cmocka_unit_test(test_certificates),
      cmocka_unit_test(test_failing_allocator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
