/* DTLS 1.2 endpoint over in-memory datagrams (OpenSSL), for DTLS-SRTP (RFC 5763/5764).
 * See dtls.h for the I/O model and for how the retransmission timer is kept in `now` time. */
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <sys/time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/srtp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/alloc.h"
#include "common/log.h"
#include "dtls/cert_impl.h"
#include "dtls/dtls.h"

#define MOD "dtls"

/* ECDHE key exchange only, AEAD first; ECDSA suites for our certificates, RSA suites for
 * applications or peers with RSA certificates. */
#define FIRN_DTLS_CIPHERS                                                                    \
  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"                             \
  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"    \
  "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:"                \
  "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA"
#define FIRN_DTLS_GROUPS "X25519:P-256:P-384"
#define FIRN_DTLS_EXPORTER_LABEL "EXTRACTOR-dtls_srtp"

/* Bounds on what we queue and accept. */
#define MAX_QUEUED_DATAGRAMS 64
#define MAX_DATAGRAM 65535
#define MIN_MTU 256
/* OpenSSL treats a deadline closer than 15 ms as expired; keep our timeouts well above. */
#define MIN_RTO (50 * FIRN_NS_PER_MS)
#define MAX_RTO_CAP (3600 * FIRN_NS_PER_S)

typedef struct dgram {
  struct dgram *next;
  size_t len;
  uint8_t data[];
} dgram;

struct firn_dtls {
  firn_allocator alloc;
  firn_logger log;
  firn_dtls_role role;
  firn_fingerprint remote_fp;
  firn_dtls_callbacks cb;
  unsigned int initial_rto_us, max_rto_us;
  uint64_t handshake_timeout;

  SSL_CTX *ctx;
  SSL *ssl;

  firn_dtls_state state;
  int err;
  uint64_t now;            /* `now` of the call in progress */
  uint64_t timer_expiry;   /* OpenSSL's retransmission deadline, in `now` time */
  uint64_t hs_deadline;    /* handshake timeout deadline */
  unsigned int cur_rto_us; /* duration OpenSSL's running timer was armed with */

  /* the datagram being handed to OpenSSL (our BIO's read side) */
  const uint8_t *in_data;
  size_t in_len;
  /* datagrams OpenSSL wrote (our BIO's write side), oldest first */
  dgram *out_head, *out_tail;
  size_t out_count;
  bool out_nomem; /* a write failed for lack of memory */

  bool verified;    /* the peer certificate matched remote_fp */
  bool fp_mismatch; /* the peer certificate did not match */
  firn_srtp_profile profile;
  firn_dtls_stats stats;
};

/* ---------------------------------------------------------------------------------------
 * Our BIO: one write = one datagram; a read returns the datagram being processed.
 * ------------------------------------------------------------------------------------- */

static pthread_once_t bio_once = PTHREAD_ONCE_INIT;
static BIO_METHOD *bio_method;

static int bio_write(BIO *b, const char *data, int len) {
  firn_dtls *d = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (!d || len < 0) return -1;
  if (d->out_count >= MAX_QUEUED_DATAGRAMS) {
    d->stats.datagrams_dropped++; /* like loss on the wire; DTLS retransmits */
    return len;
  }
  dgram *g = firn_malloc(&d->alloc, sizeof *g + (size_t)len);
  if (!g) {
    d->out_nomem = true;
    return -1;
  }
  g->next = NULL;
  g->len = (size_t)len;
  if (len) memcpy(g->data, data, (size_t)len);
  if (d->out_tail)
    d->out_tail->next = g;
  else
    d->out_head = g;
  d->out_tail = g;
  d->out_count++;
  return len;
}

static int bio_read(BIO *b, char *buf, int size) {
  firn_dtls *d = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  if (!d || !d->in_data) {
    BIO_set_retry_read(b);
    return -1;
  }
  size_t n = d->in_len;
  if (size < 0) return -1;
  if (n > (size_t)size) n = (size_t)size; /* truncated: the record layer will drop it */
  memcpy(buf, d->in_data, n);
  d->in_data = NULL;
  d->in_len = 0;
  return (int)n;
}

static void timer_notify(firn_dtls *d, const struct timeval *tv) {
  if (!tv || (tv->tv_sec == 0 && tv->tv_usec == 0))
    d->timer_expiry = FIRN_TIME_NEVER; /* OpenSSL stopped its timer */
  else
    d->timer_expiry = d->now + (uint64_t)d->cur_rto_us * 1000u;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  firn_dtls *d = BIO_get_data(b);
  switch (cmd) {
  case BIO_CTRL_FLUSH: return 1;
  case BIO_CTRL_PENDING: return (d && d->in_data) ? (long)d->in_len : 0;
  case BIO_CTRL_WPENDING: return 0;
  case BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT:
    if (d) timer_notify(d, ptr);
    return 1;
  case BIO_CTRL_DGRAM_QUERY_MTU: return 0;         /* never asked: SSL_OP_NO_QUERY_MTU */
  case BIO_CTRL_DGRAM_GET_FALLBACK_MTU: return 0;  /* idem */
  case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD: return 0;  /* the link MTU is the payload size */
  case BIO_CTRL_DGRAM_MTU_EXCEEDED: return 0;
  default: (void)num; return 0;
  }
}

static int bio_create(BIO *b) {
  BIO_set_init(b, 1);
  BIO_set_data(b, NULL);
  return 1;
}

static int bio_destroy(BIO *b) {
  BIO_set_data(b, NULL);
  return 1;
}

static void bio_method_init(void) {
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "firn-dtls");
  if (!m) return;
  if (!BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) ||
      !BIO_meth_set_ctrl(m, bio_ctrl) || !BIO_meth_set_create(m, bio_create) ||
      !BIO_meth_set_destroy(m, bio_destroy)) {
    BIO_meth_free(m);
    return;
  }
  bio_method = m; /* kept for the life of the process */
}

/* ---------------------------------------------------------------------------------------
 * State
 * ------------------------------------------------------------------------------------- */

static const char *state_name(firn_dtls_state s) {
  switch (s) {
  case FIRN_DTLS_NEW: return "new";
  case FIRN_DTLS_HANDSHAKING: return "handshaking";
  case FIRN_DTLS_CONNECTED: return "connected";
  case FIRN_DTLS_FAILED: return "failed";
  case FIRN_DTLS_CLOSED: return "closed";
  }
  return "?";
}

static void set_state(firn_dtls *d, firn_dtls_state st, int err) {
  if (d->state == st) return;
  firn_log(&d->log, st == FIRN_DTLS_FAILED ? FIRN_LOG_WARN : FIRN_LOG_INFO, MOD,
           "state %s -> %s%s%s", state_name(d->state), state_name(st), err ? ": " : "",
           err ? firn_strerror(err) : "");
  d->state = st;
  if (err) d->err = err;
  if (st == FIRN_DTLS_FAILED || st == FIRN_DTLS_CLOSED || st == FIRN_DTLS_CONNECTED)
    d->hs_deadline = FIRN_TIME_NEVER;
  if (st == FIRN_DTLS_FAILED || st == FIRN_DTLS_CLOSED) d->timer_expiry = FIRN_TIME_NEVER;
  if (d->cb.on_state) d->cb.on_state(d->cb.user, d, st, err);
}

/* Log and clear OpenSSL's thread-local error queue. */
static void drain_openssl_errors(firn_dtls *d, const char *what) {
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    firn_log(&d->log, FIRN_LOG_DEBUG, MOD, "%s: %s", what, buf);
  }
}

static int fail(firn_dtls *d, int err, const char *what) {
  drain_openssl_errors(d, what);
  if (d->out_nomem && err == FIRN_ERR_DTLS_HANDSHAKE) err = FIRN_ERR_NOMEM;
  set_state(d, FIRN_DTLS_FAILED, err);
  return err;
}

/* ---------------------------------------------------------------------------------------
 * OpenSSL callbacks
 * ------------------------------------------------------------------------------------- */

/* Replaces chain verification: DTLS-SRTP peers use self-signed certificates authenticated
 * by the fingerprint from the signalled SDP (RFC 5763 section 5, RFC 8122). Any chain is
 * accepted; only the leaf's fingerprint counts. */
static int cert_verify_cb(X509_STORE_CTX *sctx, void *arg) {
  firn_dtls *d = arg;
  X509 *peer = X509_STORE_CTX_get0_cert(sctx);
  const EVP_MD *md = firn_fingerprint_md(d->remote_fp.alg);
  firn_fingerprint got;
  unsigned int n = 0;
  memset(&got, 0, sizeof got);
  if (peer && md && X509_digest(peer, md, got.bytes, &n) == 1 && n == d->remote_fp.len) {
    got.alg = d->remote_fp.alg;
    got.len = (uint8_t)n;
    if (firn_fingerprint_equal(&got, &d->remote_fp)) {
      d->verified = true;
      return 1;
    }
  }
  d->fp_mismatch = true;
  d->verified = false;
  firn_log(&d->log, FIRN_LOG_WARN, MOD, "peer certificate does not match the %s fingerprint",
           firn_fingerprint_alg_name(d->remote_fp.alg));
  X509_STORE_CTX_set_error(sctx, X509_V_ERR_CERT_REJECTED);
  return 0;
}

/* Chooses OpenSSL's retransmission timeout: initial RTO, then doubled up to the cap. */
static unsigned int timer_cb(SSL *ssl, unsigned int prev_us) {
  firn_dtls *d = SSL_get_app_data(ssl);
  unsigned int next;
  if (prev_us == 0) {
    next = d->initial_rto_us;
  } else {
    next = prev_us > d->max_rto_us / 2 ? d->max_rto_us : prev_us * 2;
    d->stats.retransmissions++;
    firn_log(&d->log, FIRN_LOG_DEBUG, MOD, "retransmission timeout, next in %u ms", next / 1000);
  }
  d->cur_rto_us = next;
  return next;
}

static void info_cb(const SSL *ssl, int where, int ret) {
  firn_dtls *d = SSL_get_app_data(ssl);
  if (!d) return;
  if ((where & SSL_CB_WRITE_ALERT) == SSL_CB_WRITE_ALERT && (ret & 0xff) == SSL_AD_NO_RENEGOTIATION)
    d->stats.renegotiations_refused++;
  if (where & SSL_CB_ALERT)
    firn_log(&d->log, FIRN_LOG_DEBUG, MOD, "alert %s: %s %s", (where & SSL_CB_READ) ? "in" : "out",
             SSL_alert_type_string_long(ret), SSL_alert_desc_string_long(ret));
}

/* ---------------------------------------------------------------------------------------
 * Construction
 * ------------------------------------------------------------------------------------- */

void firn_dtls_config_default(firn_dtls_config *cfg) {
  if (!cfg) return;
  memset(cfg, 0, sizeof *cfg);
  cfg->size = sizeof *cfg;
  cfg->role = FIRN_DTLS_CLIENT;
  cfg->profiles[0] = FIRN_SRTP_AEAD_AES_256_GCM;
  cfg->profiles[1] = FIRN_SRTP_AEAD_AES_128_GCM;
  cfg->profiles[2] = FIRN_SRTP_AES128_CM_SHA1_80;
  cfg->profiles[3] = FIRN_SRTP_AES128_CM_SHA1_32;
  cfg->num_profiles = 4;
  cfg->mtu = 1200;
  cfg->initial_rto = FIRN_NS_PER_S;
  cfg->max_rto = 60 * FIRN_NS_PER_S;
  cfg->handshake_timeout = 30 * FIRN_NS_PER_S;
  cfg->callbacks.size = sizeof cfg->callbacks;
  cfg->log_level = FIRN_LOG_INFO;
}

/* "SRTP_A:SRTP_B" for SSL_CTX_set_tlsext_use_srtp; checks for unknown or repeated values. */
static int profile_list(const firn_dtls_config *cfg, char *buf, size_t size) {
  if (cfg->num_profiles == 0 || cfg->num_profiles > FIRN_DTLS_MAX_PROFILES)
    return FIRN_ERR_INVALID_ARG;
  size_t used = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < cfg->num_profiles; i++) {
    firn_srtp_profile p = cfg->profiles[i];
    if (p == FIRN_SRTP_NONE || firn_srtp_profile_lengths(p, NULL, NULL) < 0)
      return FIRN_ERR_INVALID_ARG;
    for (size_t j = 0; j < i; j++)
      if (cfg->profiles[j] == p) return FIRN_ERR_INVALID_ARG;
    const char *name = firn_srtp_profile_name(p);
    size_t n = strlen(name);
    if (used + n + 2 > size) return FIRN_ERR_INVALID_ARG;
    if (i) buf[used++] = ':';
    memcpy(buf + used, name, n + 1);
    used += n;
  }
  return FIRN_OK;
}

static int setup_ctx(firn_dtls *d, const firn_dtls_config *cfg, const char *profiles) {
  SSL_CTX *ctx = SSL_CTX_new(DTLS_method());
  if (!ctx) return FIRN_ERR_CRYPTO;
  d->ctx = ctx;
  if (SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION) != 1)
    return FIRN_ERR_CRYPTO;
  SSL_CTX_set_options(ctx, SSL_OP_NO_QUERY_MTU | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                               SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (SSL_CTX_set_cipher_list(ctx, FIRN_DTLS_CIPHERS) != 1 ||
      SSL_CTX_set1_groups_list(ctx, FIRN_DTLS_GROUPS) != 1)
    return FIRN_ERR_CRYPTO;
  if (SSL_CTX_use_certificate(ctx, cfg->cert->x509) != 1 ||
      SSL_CTX_use_PrivateKey(ctx, cfg->cert->key) != 1 || SSL_CTX_check_private_key(ctx) != 1)
    return FIRN_ERR_CRYPTO;
  /* Both sides demand the peer's certificate: the server asks the client for one (aiortc
   * and browsers require a client certificate too) and fails without it. */
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  SSL_CTX_set_cert_verify_callback(ctx, cert_verify_cb, d);
  if (SSL_CTX_set_tlsext_use_srtp(ctx, profiles) != 0) /* 0 means success here */
    return FIRN_ERR_CRYPTO;
  SSL_CTX_set_info_callback(ctx, info_cb);
  return FIRN_OK;
}

static int setup_ssl(firn_dtls *d, const firn_dtls_config *cfg) {
  pthread_once(&bio_once, bio_method_init);
  if (!bio_method) return FIRN_ERR_CRYPTO;
  SSL *ssl = SSL_new(d->ctx);
  if (!ssl) return FIRN_ERR_CRYPTO;
  d->ssl = ssl;
  SSL_set_app_data(ssl, d);
  BIO *bio = BIO_new(bio_method);
  if (!bio) return FIRN_ERR_CRYPTO;
  BIO_set_data(bio, d);
  SSL_set_bio(ssl, bio, bio); /* one reference, owned by ssl from now on */
  DTLS_set_timer_cb(ssl, timer_cb);
  /* No MTU discovery over a memory BIO: the path MTU is what the caller says. */
  if (SSL_set_mtu(ssl, (long)cfg->mtu) <= 0 || DTLS_set_link_mtu(ssl, (long)cfg->mtu) <= 0)
    return FIRN_ERR_INVALID_ARG;
  if (cfg->role == FIRN_DTLS_CLIENT)
    SSL_set_connect_state(ssl);
  else
    SSL_set_accept_state(ssl);
  return FIRN_OK;
}

int firn_dtls_new(firn_dtls **out, const firn_allocator *alloc, const firn_dtls_config *cfg) {
  if (!out) return FIRN_ERR_INVALID_ARG;
  *out = NULL;
  if (!cfg || cfg->size < sizeof *cfg || !cfg->cert || !cfg->cert->x509 || !cfg->cert->key)
    return FIRN_ERR_INVALID_ARG;
  if (cfg->role != FIRN_DTLS_CLIENT && cfg->role != FIRN_DTLS_SERVER) return FIRN_ERR_INVALID_ARG;
  const firn_fingerprint *fp = &cfg->remote_fingerprint;
  if (!firn_fingerprint_md(fp->alg) || fp->len != firn_fingerprint_alg_len(fp->alg))
    return FIRN_ERR_INVALID_ARG;
  if (cfg->mtu < MIN_MTU || cfg->mtu > MAX_DATAGRAM) return FIRN_ERR_INVALID_ARG;
  if (cfg->initial_rto < MIN_RTO || cfg->max_rto < cfg->initial_rto || cfg->max_rto > MAX_RTO_CAP)
    return FIRN_ERR_INVALID_ARG;
  if (cfg->callbacks.size != 0 && cfg->callbacks.size < sizeof cfg->callbacks)
    return FIRN_ERR_INVALID_ARG;
  char profiles[128];
  int rc = profile_list(cfg, profiles, sizeof profiles);
  if (rc < 0) return rc;

  firn_allocator a;
  firn_alloc_init(&a, alloc);
  firn_dtls *d = firn_calloc(&a, 1, sizeof *d);
  if (!d) return FIRN_ERR_NOMEM;
  d->alloc = a;
  d->log.fn = cfg->log_fn;
  d->log.user = cfg->log_user;
  d->log.level = cfg->log_level;
  d->role = cfg->role;
  d->remote_fp = *fp;
  if (cfg->callbacks.size) d->cb = cfg->callbacks;
  d->initial_rto_us = (unsigned int)(cfg->initial_rto / 1000u);
  d->max_rto_us = (unsigned int)(cfg->max_rto / 1000u);
  d->handshake_timeout = cfg->handshake_timeout;
  d->state = FIRN_DTLS_NEW;
  d->timer_expiry = FIRN_TIME_NEVER;
  d->hs_deadline = FIRN_TIME_NEVER;

  ERR_clear_error();
  rc = setup_ctx(d, cfg, profiles);
  if (rc == FIRN_OK) rc = setup_ssl(d, cfg);
  if (rc != FIRN_OK) {
    drain_openssl_errors(d, "setup");
    firn_dtls_free(d);
    return rc;
  }
  *out = d;
  return FIRN_OK;
}

static void clear_queue(firn_dtls *d) {
  dgram *g = d->out_head;
  while (g) {
    dgram *n = g->next;
    firn_free(&d->alloc, g);
    g = n;
  }
  d->out_head = d->out_tail = NULL;
  d->out_count = 0;
}

void firn_dtls_free(firn_dtls *d) {
  if (!d) return;
  if (d->ssl) {
    BIO *b = SSL_get_rbio(d->ssl);
    if (b) BIO_set_data(b, NULL);
    SSL_set_app_data(d->ssl, NULL);
    SSL_free(d->ssl);
  }
  SSL_CTX_free(d->ctx);
  clear_queue(d);
  firn_allocator a = d->alloc;
  firn_wipe(d, sizeof *d);
  firn_free(&a, d);
}

/* ---------------------------------------------------------------------------------------
 * Driving OpenSSL
 * ------------------------------------------------------------------------------------- */

static int handshake_done(firn_dtls *d) {
  /* Belt and braces: the handshake cannot finish without the verify callback accepting
   * the peer's certificate, but check again before anything can be exported. */
  X509 *peer = SSL_get0_peer_certificate(d->ssl);
  if (!d->verified || d->fp_mismatch || !peer)
    return fail(d, FIRN_ERR_DTLS_FINGERPRINT, "handshake");
  SRTP_PROTECTION_PROFILE *p = SSL_get_selected_srtp_profile(d->ssl);
  if (!p) {
    firn_log(&d->log, FIRN_LOG_WARN, MOD, "peer did not negotiate use_srtp");
    return fail(d, FIRN_ERR_DTLS_HANDSHAKE, "use_srtp");
  }
  firn_srtp_profile prof = (firn_srtp_profile)p->id;
  if (firn_srtp_profile_lengths(prof, NULL, NULL) < 0)
    return fail(d, FIRN_ERR_DTLS_HANDSHAKE, "use_srtp");
  d->profile = prof;
  firn_log(&d->log, FIRN_LOG_INFO, MOD, "handshake done: %s, %s", SSL_get_cipher_name(d->ssl),
           firn_srtp_profile_name(prof));
  set_state(d, FIRN_DTLS_CONNECTED, 0);
  return FIRN_OK;
}

/* Read whatever records OpenSSL has after the handshake: alerts, close_notify, a peer's
 * retransmitted final flight, a renegotiation attempt (refused). Application data is not
 * part of DTLS-SRTP and is discarded. */
static int read_records(firn_dtls *d) {
  uint8_t sink[2048];
  for (int guard = 0; guard < 64; guard++) {
    ERR_clear_error();
    int r = SSL_read(d->ssl, sink, (int)sizeof sink);
    if (r > 0) {
      firn_log(&d->log, FIRN_LOG_DEBUG, MOD, "discarding %d bytes of application data", r);
      continue;
    }
    int e = SSL_get_error(d->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return FIRN_OK;
    if (e == SSL_ERROR_ZERO_RETURN) {
      firn_log(&d->log, FIRN_LOG_INFO, MOD, "peer sent close_notify");
      ERR_clear_error();
      (void)SSL_shutdown(d->ssl); /* answer with our close_notify */
      drain_openssl_errors(d, "shutdown");
      set_state(d, FIRN_DTLS_CLOSED, 0);
      return FIRN_OK;
    }
    /* A fatal alert from the (authenticated) peer, or a fatal protocol error. */
    drain_openssl_errors(d, "read");
    set_state(d, FIRN_DTLS_CLOSED, FIRN_ERR_CLOSED);
    return FIRN_ERR_CLOSED;
  }
  return FIRN_OK;
}

static int drive(firn_dtls *d) {
  if (d->state == FIRN_DTLS_HANDSHAKING) {
    ERR_clear_error();
    int r = SSL_do_handshake(d->ssl);
    if (r == 1) {
      int rc = handshake_done(d);
      if (rc < 0) return rc;
      return read_records(d);
    }
    int e = SSL_get_error(d->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      ERR_clear_error();
      return FIRN_OK;
    }
    return fail(d, d->fp_mismatch ? FIRN_ERR_DTLS_FINGERPRINT : FIRN_ERR_DTLS_HANDSHAKE,
                "handshake");
  }
  if (d->state == FIRN_DTLS_CONNECTED) return read_records(d);
  return FIRN_OK;
}

int firn_dtls_start(firn_dtls *d, uint64_t now) {
  if (!d) return FIRN_ERR_INVALID_ARG;
  if (d->state != FIRN_DTLS_NEW) return FIRN_ERR_STATE;
  d->now = now;
  if (d->handshake_timeout && now <= FIRN_TIME_NEVER - d->handshake_timeout)
    d->hs_deadline = now + d->handshake_timeout;
  set_state(d, FIRN_DTLS_HANDSHAKING, 0);
  if (d->role == FIRN_DTLS_SERVER) return FIRN_OK; /* wait for the ClientHello */
  return drive(d);
}

int firn_dtls_handle_datagram(firn_dtls *d, const uint8_t *data, size_t len, uint64_t now) {
  if (!d || (!data && len)) return FIRN_ERR_INVALID_ARG;
  if (d->state == FIRN_DTLS_NEW && d->role == FIRN_DTLS_SERVER) {
    /* The peer's ClientHello can overtake our own start (the other ICE agent selected the
     * pair first): a server starts on it. */
    int rc = firn_dtls_start(d, now);
    if (rc < 0) return rc;
  }
  if (d->state != FIRN_DTLS_HANDSHAKING && d->state != FIRN_DTLS_CONNECTED) return FIRN_ERR_STATE;
  d->stats.datagrams_in++;
  if (len == 0 || len > MAX_DATAGRAM) return FIRN_OK; /* nothing a DTLS record can be */
  d->now = now;
  d->in_data = data;
  d->in_len = len;
  int rc = drive(d);
  d->in_data = NULL; /* never keep a pointer into the caller's buffer */
  d->in_len = 0;
  return rc;
}

firn_ssize firn_dtls_poll_transmit(firn_dtls *d, uint8_t *buf, size_t cap) {
  if (!d || (!buf && cap)) return FIRN_ERR_INVALID_ARG;
  dgram *g = d->out_head;
  if (!g) return FIRN_ERR_WOULDBLOCK;
  if (g->len > cap) return FIRN_ERR_NOBUF;
  memcpy(buf, g->data, g->len);
  firn_ssize n = (firn_ssize)g->len;
  d->out_head = g->next;
  if (!d->out_head) d->out_tail = NULL;
  d->out_count--;
  firn_free(&d->alloc, g);
  d->stats.datagrams_out++;
  return n;
}

uint64_t firn_dtls_expiry(const firn_dtls *d) {
  if (!d) return FIRN_TIME_NEVER;
  if (d->state != FIRN_DTLS_HANDSHAKING && d->state != FIRN_DTLS_CONNECTED) return FIRN_TIME_NEVER;
  uint64_t t = d->timer_expiry;
  if (d->state == FIRN_DTLS_HANDSHAKING && d->hs_deadline < t) t = d->hs_deadline;
  return t;
}

int firn_dtls_handle_expiry(firn_dtls *d, uint64_t now) {
  if (!d) return FIRN_ERR_INVALID_ARG;
  if (d->state != FIRN_DTLS_HANDSHAKING && d->state != FIRN_DTLS_CONNECTED) return FIRN_OK;
  d->now = now;
  if (d->state == FIRN_DTLS_HANDSHAKING && now >= d->hs_deadline) {
    firn_log(&d->log, FIRN_LOG_WARN, MOD, "handshake timed out");
    return fail(d, FIRN_ERR_DTLS_HANDSHAKE, "timeout");
  }
  if (d->timer_expiry == FIRN_TIME_NEVER || now < d->timer_expiry) return FIRN_OK;
  ERR_clear_error();
  int r = DTLSv1_handle_timeout(d->ssl);
  if (r < 0) {
    firn_log(&d->log, FIRN_LOG_WARN, MOD, "too many retransmissions");
    return fail(d, d->state == FIRN_DTLS_HANDSHAKING ? FIRN_ERR_DTLS_HANDSHAKE : FIRN_ERR_CLOSED,
                "retransmit");
  }
  if (r == 0) {
    /* OpenSSL's own (wall-clock) deadline has not passed yet: `now` runs ahead of the wall
     * clock, or the wall clock was stepped back. Come back when OpenSSL says it will be
     * due, never sooner than 1 ms and never later than the current RTO. */
    struct timeval tv;
    if (DTLSv1_get_timeout(d->ssl, &tv) == 1) {
      uint64_t left = (uint64_t)tv.tv_sec * FIRN_NS_PER_S + (uint64_t)tv.tv_usec * 1000u;
      uint64_t cap = (uint64_t)d->cur_rto_us * 1000u;
      if (left > cap) left = cap;
      if (left < FIRN_NS_PER_MS) left = FIRN_NS_PER_MS;
      d->timer_expiry = now + left;
      firn_log(&d->log, FIRN_LOG_DEBUG, MOD,
               "retransmission deferred: OpenSSL's clock wants %llu us more",
               (unsigned long long)(left / 1000u));
    } else {
      d->timer_expiry = FIRN_TIME_NEVER;
    }
  }
  ERR_clear_error();
  return FIRN_OK;
}

int firn_dtls_close(firn_dtls *d, uint64_t now) {
  if (!d) return FIRN_ERR_INVALID_ARG;
  if (d->state == FIRN_DTLS_NEW) return FIRN_ERR_STATE;
  if (d->state != FIRN_DTLS_HANDSHAKING && d->state != FIRN_DTLS_CONNECTED) return FIRN_OK;
  d->now = now;
  ERR_clear_error();
  if (d->state == FIRN_DTLS_CONNECTED) (void)SSL_shutdown(d->ssl); /* queues close_notify */
  drain_openssl_errors(d, "shutdown");
  set_state(d, FIRN_DTLS_CLOSED, 0);
  return FIRN_OK;
}

firn_dtls_state firn_dtls_get_state(const firn_dtls *d) { return d ? d->state : FIRN_DTLS_FAILED; }

int firn_dtls_error(const firn_dtls *d) { return d ? d->err : FIRN_ERR_INVALID_ARG; }

firn_dtls_role firn_dtls_get_role(const firn_dtls *d) { return d ? d->role : FIRN_DTLS_CLIENT; }

firn_srtp_profile firn_dtls_srtp_profile(const firn_dtls *d) {
  return (d && d->state == FIRN_DTLS_CONNECTED) ? d->profile : FIRN_SRTP_NONE;
}

void firn_dtls_get_stats(const firn_dtls *d, firn_dtls_stats *stats) {
  if (!stats) return;
  if (d)
    *stats = d->stats;
  else
    memset(stats, 0, sizeof *stats);
}

int firn_dtls_export_srtp_keys(firn_dtls *d, firn_srtp_keys *keys) {
  if (!d || !keys) return FIRN_ERR_INVALID_ARG;
  memset(keys, 0, sizeof *keys);
  if (d->state != FIRN_DTLS_CONNECTED || !d->verified || d->fp_mismatch) return FIRN_ERR_STATE;
  size_t kl, sl;
  if (firn_srtp_profile_lengths(d->profile, &kl, &sl) < 0) return FIRN_ERR_STATE;
  uint8_t material[2 * (FIRN_SRTP_MAX_KEY + FIRN_SRTP_MAX_SALT)];
  size_t n = 2 * (kl + sl);
  ERR_clear_error();
  int rc = FIRN_ERR_CRYPTO;
  if (SSL_export_keying_material(d->ssl, material, n, FIRN_DTLS_EXPORTER_LABEL,
                                 strlen(FIRN_DTLS_EXPORTER_LABEL), NULL, 0, 0) == 1)
    rc = firn_srtp_keys_from_material(keys, d->profile, d->role, material, n);
  firn_wipe(material, sizeof material);
  if (rc == FIRN_OK)
    d->stats.keys_exported++;
  else
    drain_openssl_errors(d, "export");
  return rc;
}

void *firn_dtls_test_ssl(firn_dtls *d) { return d ? d->ssl : NULL; }
