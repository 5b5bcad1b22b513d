/* TLS client to a TURN server (RFC 8656 3.1: TURN over TLS) over OpenSSL memory BIOs.
 *
 * Two BIO_s_mem(): the read BIO holds ciphertext the runtime read from the connection, the
 * write BIO collects ciphertext OpenSSL produced until the TURN object drains it into
 * poll_transmit()/wrap(). Nothing here touches a socket. The server certificate is verified
 * against the configured CA file/dir (or the system store) and the server name
 * (SSL_set1_host, also sent as SNI), or the server's IP address when no name is configured;
 * `insecure` turns verification off for tests. TLS 1.2 is the minimum. */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/alloc.h"
#include "turn/turn_tls.h"

#define MOD "turn"
/* Bound on ciphertext waiting to be drained: a caller that never drains gets NOBUF. */
#define MAX_PENDING (256 * 1024)

struct firn_turn_tls {
  firn_allocator alloc;
  const firn_logger *log;
  SSL_CTX *ctx;
  SSL *ssl;
  BIO *rbio, *wbio; /* owned by ssl once set */
  char *server_name;
  firn_addr server_ip;
  int insecure;
  int done;
  char err[160];
};

static void set_err(firn_turn_tls *t, const char *what) {
  unsigned long e = ERR_peek_last_error();
  char ebuf[120] = "";
  if (e) ERR_error_string_n(e, ebuf, sizeof ebuf);
  if (t->ssl) {
    long v = SSL_get_verify_result(t->ssl);
    if (v != X509_V_OK) snprintf(ebuf, sizeof ebuf, "certificate: %s", X509_verify_cert_error_string(v));
  }
  snprintf(t->err, sizeof t->err, "%s%s%s", what, ebuf[0] ? ": " : "", ebuf);
  ERR_clear_error();
  firn_log(t->log, FIRN_LOG_INFO, MOD, "tls: %s", t->err);
}

static int is_ip_literal(const char *s) {
  firn_addr a;
  return firn_addr_parse(&a, s, 0) == FIRN_OK;
}

int firn_turn_tls_new(firn_turn_tls **out, const firn_allocator *alloc, const firn_logger *log,
                      const firn_turn_tls_config *cfg) {
  *out = NULL;
  firn_allocator al;
  firn_alloc_init(&al, alloc);
  firn_turn_tls *t = firn_calloc(&al, 1, sizeof *t);
  if (!t) return FIRN_ERR_NOMEM;
  t->alloc = al;
  t->log = log;
  t->insecure = cfg->insecure != 0;
  if (cfg->server_ip) t->server_ip = *cfg->server_ip;
  if (cfg->server_name && cfg->server_name[0]) {
    t->server_name = firn_memdup(&al, cfg->server_name, strlen(cfg->server_name) + 1);
    if (!t->server_name) {
      firn_turn_tls_free(t);
      return FIRN_ERR_NOMEM;
    }
  }
  ERR_clear_error();
  t->ctx = SSL_CTX_new(TLS_client_method());
  if (!t->ctx) {
    set_err(t, "SSL_CTX_new");
    firn_turn_tls_free(t);
    return FIRN_ERR_NOMEM;
  }
  SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(t->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (!t->insecure) {
    int ok;
    if (cfg->ca_file || cfg->ca_dir)
      ok = SSL_CTX_load_verify_locations(t->ctx, cfg->ca_file, cfg->ca_dir) == 1;
    else
      ok = SSL_CTX_set_default_verify_paths(t->ctx) == 1;
    if (!ok) {
      set_err(t, "loading the CA");
      firn_turn_tls_free(t);
      return FIRN_ERR_TURN_TLS;
    }
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
  } else {
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
  }
  *out = t;
  return FIRN_OK;
}

static void end_session(firn_turn_tls *t) {
  if (t->ssl) SSL_free(t->ssl); /* frees both BIOs */
  t->ssl = NULL;
  t->rbio = t->wbio = NULL;
  t->done = 0;
}

void firn_turn_tls_free(firn_turn_tls *t) {
  if (!t) return;
  end_session(t);
  SSL_CTX_free(t->ctx);
  firn_allocator al = t->alloc;
  firn_free(&al, t->server_name);
  firn_free(&al, t);
}

int firn_turn_tls_start(firn_turn_tls *t) {
  end_session(t);
  ERR_clear_error();
  t->err[0] = 0;
  t->ssl = SSL_new(t->ctx);
  t->rbio = BIO_new(BIO_s_mem());
  t->wbio = BIO_new(BIO_s_mem());
  if (!t->ssl || !t->rbio || !t->wbio) {
    BIO_free(t->rbio);
    BIO_free(t->wbio);
    t->rbio = t->wbio = NULL;
    set_err(t, "SSL_new");
    end_session(t);
    return FIRN_ERR_NOMEM;
  }
  BIO_set_mem_eof_return(t->rbio, -1); /* empty = "retry", not EOF */
  BIO_set_mem_eof_return(t->wbio, -1);
  SSL_set_bio(t->ssl, t->rbio, t->wbio);
  int ok = 1;
  if (t->server_name) {
    if (!is_ip_literal(t->server_name)) ok = SSL_set_tlsext_host_name(t->ssl, t->server_name) == 1;
    if (ok && !t->insecure) {
      if (is_ip_literal(t->server_name))
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), t->server_name) == 1;
      else
        ok = SSL_set1_host(t->ssl, t->server_name) == 1;
    }
  } else if (!t->insecure) {
    size_t iplen = t->server_ip.family == FIRN_AF_INET6 ? 16 : 4;
    ok = t->server_ip.family != FIRN_AF_NONE &&
         X509_VERIFY_PARAM_set1_ip(SSL_get0_param(t->ssl), t->server_ip.addr, iplen) == 1;
  }
  if (!ok) {
    set_err(t, "setting the server name");
    end_session(t);
    return FIRN_ERR_TURN_TLS;
  }
  SSL_set_connect_state(t->ssl);
  return firn_turn_tls_handshake(t) < 0 ? FIRN_ERR_TURN_TLS : FIRN_OK;
}

int firn_turn_tls_feed(firn_turn_tls *t, const uint8_t *data, size_t len) {
  if (!t->ssl) return FIRN_ERR_STATE;
  while (len) {
    int chunk = len > (1u << 30) ? (1 << 30) : (int)len;
    int n = BIO_write(t->rbio, data, chunk);
    if (n <= 0) return FIRN_ERR_NOMEM;
    data += n;
    len -= (size_t)n;
  }
  return FIRN_OK;
}

int firn_turn_tls_handshake(firn_turn_tls *t) {
  if (!t->ssl) return FIRN_ERR_STATE;
  if (t->done) return 1;
  ERR_clear_error();
  int r = SSL_do_handshake(t->ssl);
  if (r == 1) {
    t->done = 1;
    firn_log(t->log, FIRN_LOG_DEBUG, MOD, "tls: handshake done (%s, %s)", SSL_get_version(t->ssl),
             SSL_get_cipher_name(t->ssl));
    return 1;
  }
  int e = SSL_get_error(t->ssl, r);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  set_err(t, "handshake failed");
  return FIRN_ERR_TURN_TLS;
}

firn_ssize firn_turn_tls_read(firn_turn_tls *t, uint8_t *buf, size_t cap) {
  if (!t->ssl || !t->done) return FIRN_ERR_WOULDBLOCK;
  ERR_clear_error();
  int n = SSL_read(t->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
  if (n > 0) return n;
  int e = SSL_get_error(t->ssl, n);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return FIRN_ERR_WOULDBLOCK;
  if (e == SSL_ERROR_ZERO_RETURN) return FIRN_ERR_CLOSED;
  set_err(t, "read failed");
  return FIRN_ERR_TURN_TLS;
}

int firn_turn_tls_write(firn_turn_tls *t, const uint8_t *data, size_t len) {
  if (!t->ssl || !t->done) return FIRN_ERR_STATE;
  if (firn_turn_tls_pending(t) + len > MAX_PENDING) return FIRN_ERR_NOBUF;
  ERR_clear_error();
  size_t written = 0;
  /* SSL_write_ex without partial writes writes everything into the (growable) memory BIO. */
  if (len == 0) return FIRN_OK;
  if (SSL_write_ex(t->ssl, data, len, &written) != 1 || written != len) {
    set_err(t, "write failed");
    return FIRN_ERR_TURN_TLS;
  }
  return FIRN_OK;
}

size_t firn_turn_tls_pending(const firn_turn_tls *t) {
  return t->wbio ? (size_t)BIO_ctrl_pending(t->wbio) : 0;
}

size_t firn_turn_tls_drain(firn_turn_tls *t, uint8_t *buf, size_t cap) {
  if (!t->wbio || cap == 0) return 0;
  int n = BIO_read(t->wbio, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
  return n > 0 ? (size_t)n : 0;
}

const char *firn_turn_tls_error(const firn_turn_tls *t) { return t->err[0] ? t->err : "none"; }
