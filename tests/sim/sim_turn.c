/* An in-process TURN server (RFC 8656) on the simulated network, built on firn's codec:
 * long-term credentials with 401/438, Allocate/Refresh/CreatePermission/ChannelBind, Send and
 * Data indications, ChannelData, clients over UDP or TCP (RFC 8656 framing with padding),
 * UDP relays. Small on purpose: enough for the TURN client and ICE relay scenarios. */
#include "sim_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "firn/stun.h"

#define TURN_TCP_BUF (FIRN_STUN_MAX_MESSAGE + 4)
#define TURN_MAX_RELAYED 65000u

typedef struct turn_perm {
  firn_addr peer; /* IP only matters */
  uint64_t expires;
} turn_perm;

typedef struct turn_chan {
  uint16_t num;
  firn_addr peer;
  uint64_t expires;
} turn_chan;

typedef struct turn_conn turn_conn;

typedef struct turn_alloc {
  sim_turn_server *srv;
  struct turn_alloc *next;
  uint8_t transport;
  firn_addr client, local; /* the 5-tuple (with transport) */
  turn_conn *conn;         /* TCP clients */
  sim_udp *relay;
  uint64_t expires;
  uint8_t tid[FIRN_STUN_TID_SIZE]; /* of the Allocate that made it: retransmissions match */
  turn_perm *perms;
  size_t n_perms;
  turn_chan *chans;
  size_t n_chans;
} turn_alloc;

struct turn_conn {
  sim_turn_server *srv;
  sim_tcp *c;
  SSL *ssl; /* TLS clients: the session over memory BIOs; NULL over plain TCP */
  uint8_t *buf; /* grows up to TURN_TCP_BUF */
  size_t len, cap;
  struct turn_conn *next;
};

struct sim_turn_server {
  sim_cleanup cleanup; /* first: sim_free() frees servers still open */
  sim_net *s;
  sim_host *h;
  sim_turn_config cfg;
  sim_udp *udp;
  sim_tcp_listener *listener;
  sim_tcp_listener *tls_listener;
  SSL_CTX *tls_ctx;
  char *cert_pem;
  firn_stun_key *key;
  char nonce[17];
  uint64_t nonce_at;
  sim_rng rng;
  turn_alloc *allocs;
  turn_conn *conns;
  size_t n_conns;
  sim_turn_stats st;
};

/* Where a request came from and how to answer. */
typedef struct turn_ctx {
  uint8_t transport;
  firn_addr client, local;
  turn_conn *conn;
  int fingerprint;
} turn_ctx;

void sim_turn_config_default(sim_turn_config *c) {
  memset(c, 0, sizeof *c);
  c->size = sizeof *c;
  snprintf(c->realm, sizeof c->realm, "firn.test");
  snprintf(c->username, sizeof c->username, "user");
  snprintf(c->password, sizeof c->password, "pass");
  c->default_lifetime_ns = 600 * FIRN_NS_PER_S;
  c->max_lifetime_ns = 3600 * FIRN_NS_PER_S;
  c->permission_lifetime_ns = 300 * FIRN_NS_PER_S;
  c->channel_lifetime_ns = 600 * FIRN_NS_PER_S;
  c->max_allocations = 64;
  c->max_permissions = 64;
  c->max_channels = 64;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

void sim_turn_server_new_nonce(sim_turn_server *srv) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < sizeof srv->nonce - 1; i++)
    srv->nonce[i] = hex[sim_rng_below(&srv->rng, 16)];
  srv->nonce[sizeof srv->nonce - 1] = 0;
  srv->nonce_at = srv->s->now;
}

static void ctx_of_alloc(const turn_alloc *a, turn_ctx *x) {
  memset(x, 0, sizeof *x);
  x->transport = a->transport;
  x->client = a->client;
  x->local = a->local;
  x->conn = a->conn;
}

/* Move what OpenSSL wrote for the peer onto the stream. */
static void tls_flush(turn_conn *tc) {
  BIO *w = SSL_get_wbio(tc->ssl);
  uint8_t buf[4096];
  int n;
  while ((n = BIO_read(w, buf, sizeof buf)) > 0) sim_tcp_send(tc->c, buf, (size_t)n);
}

static void to_client(sim_turn_server *srv, const turn_ctx *x, const uint8_t *d, size_t n) {
  if (x->transport == FIRN_TRANSPORT_UDP) {
    sim_udp_send_from(srv->udp, &x->local, &x->client, d, n);
  } else if (x->conn && x->conn->ssl) {
    if (n <= INT32_MAX && SSL_write(x->conn->ssl, d, (int)n) > 0) tls_flush(x->conn);
  } else if (x->conn) {
    sim_tcp_send(x->conn->c, d, n);
  }
}

/* Finish with MESSAGE-INTEGRITY (when authenticated) and FINGERPRINT (when asked), send. */
static void finish_send(sim_turn_server *srv, const turn_ctx *x, firn_stun_builder *b, int integrity) {
  if (integrity) firn_stun_add_integrity(b, srv->key);
  if (x->fingerprint) firn_stun_add_fingerprint(b);
  firn_ssize n = firn_stun_builder_finish(b);
  if (n > 0) to_client(srv, x, b->buf, (size_t)n);
}

static void send_error(sim_turn_server *srv, const turn_ctx *x, const firn_stun_msg *m, int code,
                       int integrity) {
  uint8_t out[512];
  firn_stun_builder b;
  firn_stun_builder_init(&b, out, sizeof out, m->method, FIRN_STUN_ERROR, m->tid);
  firn_stun_add_error(&b, code, NULL);
  if (code == 401 || code == 438) {
    firn_stun_add_string(&b, FIRN_STUN_ATTR_REALM, srv->cfg.realm, strlen(srv->cfg.realm));
    firn_stun_add_string(&b, FIRN_STUN_ATTR_NONCE, srv->nonce, strlen(srv->nonce));
  }
  if (code == 401) srv->st.unauthorized++;
  else if (code == 438) srv->st.stale_nonce++;
  else srv->st.errors++;
  finish_send(srv, x, &b, integrity);
}

static bool str_is(const char *s, size_t n, const char *want) {
  return n == strlen(want) && memcmp(s, want, n) == 0;
}

/* RFC 8489 9.2.4, in its order. 0 when authenticated; otherwise the answer has been sent. */
static int authenticate(sim_turn_server *srv, const turn_ctx *x, const firn_stun_msg *m) {
  if (!m->mi_off && !m->mi256_off) {
    send_error(srv, x, m, 401, 0);
    return -1;
  }
  const char *user, *realm, *nonce;
  size_t ul, rl, nl;
  if (firn_stun_msg_get_string(m, FIRN_STUN_ATTR_USERNAME, &user, &ul) != FIRN_OK ||
      firn_stun_msg_get_string(m, FIRN_STUN_ATTR_REALM, &realm, &rl) != FIRN_OK ||
      firn_stun_msg_get_string(m, FIRN_STUN_ATTR_NONCE, &nonce, &nl) != FIRN_OK) {
    send_error(srv, x, m, 400, 0);
    return -1;
  }
  if (!str_is(nonce, nl, srv->nonce)) {
    send_error(srv, x, m, 438, 0);
    return -1;
  }
  if (!str_is(user, ul, srv->cfg.username) || !str_is(realm, rl, srv->cfg.realm) ||
      firn_stun_msg_verify(m, srv->key) != FIRN_OK) {
    send_error(srv, x, m, 401, 0);
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Allocations                                                                                 */

static void alloc_delete(turn_alloc *a) {
  sim_turn_server *srv = a->srv;
  turn_alloc **pp = &srv->allocs;
  while (*pp && *pp != a) pp = &(*pp)->next;
  if (*pp) *pp = a->next;
  sim_udp_close(a->relay);
  free(a->perms);
  free(a->chans);
  free(a);
  srv->st.active--;
}

/* Reap what has expired (lazily, at each client event). */
static void sweep(sim_turn_server *srv) {
  uint64_t now = srv->s->now;
  turn_alloc *a = srv->allocs;
  while (a) {
    turn_alloc *next = a->next;
    if (a->expires <= now) {
      sim_tracef(srv->s, "turn %s: allocation expired", srv->h->name);
      alloc_delete(a);
    } else {
      size_t w = 0;
      for (size_t i = 0; i < a->n_perms; i++)
        if (a->perms[i].expires > now) a->perms[w++] = a->perms[i];
      a->n_perms = w;
      w = 0;
      for (size_t i = 0; i < a->n_chans; i++)
        if (a->chans[i].expires > now) a->chans[w++] = a->chans[i];
      a->n_chans = w;
    }
    a = next;
  }
}

static turn_alloc *find_alloc(sim_turn_server *srv, const turn_ctx *x) {
  for (turn_alloc *a = srv->allocs; a; a = a->next) {
    if (a->transport != x->transport) continue;
    if (x->transport == FIRN_TRANSPORT_TCP) {
      if (a->conn == x->conn) return a;
    } else if (firn_addr_equal(&a->client, &x->client) && firn_addr_equal(&a->local, &x->local)) {
      return a;
    }
  }
  return NULL;
}

static bool has_perm(const turn_alloc *a, const firn_addr *peer, uint64_t now) {
  for (size_t i = 0; i < a->n_perms; i++)
    if (a->perms[i].expires > now && firn_addr_equal_ip(&a->perms[i].peer, peer)) return true;
  return false;
}

static int add_perm(turn_alloc *a, const firn_addr *peer, uint64_t expires) {
  for (size_t i = 0; i < a->n_perms; i++) {
    if (firn_addr_equal_ip(&a->perms[i].peer, peer)) {
      a->perms[i].expires = expires;
      return 0;
    }
  }
  if (a->n_perms >= a->srv->cfg.max_permissions) return -1;
  a->perms[a->n_perms].peer = *peer;
  a->perms[a->n_perms].expires = expires;
  a->n_perms++;
  return 0;
}

/* A datagram from a peer to a relayed address. */
static void relay_recv(void *user, const firn_addr *local, const firn_addr *remote,
                       const uint8_t *data, size_t len, uint64_t now) {
  (void)local;
  turn_alloc *a = user;
  sim_turn_server *srv = a->srv;
  if (a->expires <= now) {
    alloc_delete(a); /* closes the socket whose callback this is: nothing touches it after */
    srv->st.dropped++;
    return;
  }
  if (!has_perm(a, remote, now) || len > TURN_MAX_RELAYED) {
    srv->st.dropped++;
    return;
  }
  turn_ctx x;
  ctx_of_alloc(a, &x);
  for (size_t i = 0; i < a->n_chans; i++) {
    turn_chan *c = &a->chans[i];
    if (c->expires > now && firn_addr_equal(&c->peer, remote)) {
      size_t padded = a->transport == FIRN_TRANSPORT_TCP ? (len + 3) & ~(size_t)3 : len;
      uint8_t *buf = calloc(1, 4 + padded);
      if (!buf) return;
      buf[0] = (uint8_t)(c->num >> 8);
      buf[1] = (uint8_t)c->num;
      buf[2] = (uint8_t)(len >> 8);
      buf[3] = (uint8_t)len;
      memcpy(buf + 4, data, len);
      srv->st.to_client_channel++;
      to_client(srv, &x, buf, 4 + padded);
      free(buf);
      return;
    }
  }
  size_t cap = len + 64;
  uint8_t *buf = malloc(cap);
  if (!buf) return;
  uint8_t tid[FIRN_STUN_TID_SIZE];
  sim_rng_fill(&srv->rng, tid, sizeof tid);
  firn_stun_builder b;
  firn_stun_builder_init(&b, buf, cap, FIRN_STUN_DATA, FIRN_STUN_INDICATION, tid);
  firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, remote);
  firn_stun_add_raw(&b, FIRN_STUN_ATTR_DATA, data, len);
  firn_ssize n = firn_stun_builder_finish(&b);
  if (n > 0) {
    srv->st.to_client_data++;
    to_client(srv, &x, buf, (size_t)n);
  }
  free(buf);
}

static uint64_t clamp_lifetime(const sim_turn_server *srv, const firn_stun_msg *m) {
  uint32_t secs;
  uint64_t want = srv->cfg.default_lifetime_ns;
  if (firn_stun_msg_get_u32(m, FIRN_STUN_ATTR_LIFETIME, &secs) == FIRN_OK) {
    if (secs == 0) return 0;
    want = (uint64_t)secs * FIRN_NS_PER_S;
    if (want < srv->cfg.default_lifetime_ns) want = srv->cfg.default_lifetime_ns;
  }
  if (want > srv->cfg.max_lifetime_ns) want = srv->cfg.max_lifetime_ns;
  return want;
}

static void allocate_success(sim_turn_server *srv, const turn_ctx *x, const firn_stun_msg *m,
                             const turn_alloc *a) {
  uint64_t left = a->expires - srv->s->now;
  uint8_t out[512];
  firn_stun_builder b;
  firn_stun_builder_init(&b, out, sizeof out, FIRN_STUN_ALLOCATE, FIRN_STUN_SUCCESS, m->tid);
  firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, sim_udp_local(a->relay));
  firn_stun_add_u32(&b, FIRN_STUN_ATTR_LIFETIME, (uint32_t)(left / FIRN_NS_PER_S));
  firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &x->client);
  finish_send(srv, x, &b, 1);
}

static void handle_allocate(sim_turn_server *srv, const turn_ctx *x, const firn_stun_msg *m) {
  turn_alloc *existing = find_alloc(srv, x);
  if (existing) {
    /* A retransmission whose success response was lost gets that success again; any other
     * Allocate on a 5-tuple in use is a mismatch (RFC 8656 7.2). */
    if (memcmp(existing->tid, m->tid, FIRN_STUN_TID_SIZE) == 0) allocate_success(srv, x, m, existing);
    else send_error(srv, x, m, 437, 1);
    return;
  }
  uint8_t proto;
  if (firn_stun_msg_get_requested_transport(m, &proto) != FIRN_OK) {
    send_error(srv, x, m, 400, 1);
    return;
  }
  if (proto != 17) {
    send_error(srv, x, m, 442, 1);
    return;
  }
  if (srv->cfg.allocate_error) {
    send_error(srv, x, m, srv->cfg.allocate_error, 1);
    return;
  }
  firn_family fam = FIRN_AF_INET;
  if (firn_stun_msg_has(m, FIRN_STUN_ATTR_REQUESTED_ADDRESS_FAMILY) &&
      firn_stun_msg_get_family(m, FIRN_STUN_ATTR_REQUESTED_ADDRESS_FAMILY, &fam) != FIRN_OK) {
    send_error(srv, x, m, 440, 1);
    return;
  }
  firn_addr any;
  memset(&any, 0, sizeof any);
  any.family = (uint8_t)fam;
  sim_iface *i = sim_host_iface_for(srv->h, &any);
  if (!i) {
    send_error(srv, x, m, 440, 1);
    return;
  }
  if (srv->st.active >= srv->cfg.max_allocations) {
    send_error(srv, x, m, 486, 1);
    return;
  }
  turn_alloc *a = calloc(1, sizeof *a);
  if (a) {
    a->perms = calloc(srv->cfg.max_permissions, sizeof *a->perms);
    a->chans = calloc(srv->cfg.max_channels, sizeof *a->chans);
  }
  firn_addr relay_at = i->addr;
  relay_at.port = 0;
  if (!a || !a->perms || !a->chans ||
      sim_udp_open(srv->h, &relay_at, relay_recv, a, &a->relay) != FIRN_OK) {
    if (a) {
      free(a->perms);
      free(a->chans);
      free(a);
    }
    send_error(srv, x, m, 508, 1);
    return;
  }
  uint64_t life = clamp_lifetime(srv, m);
  if (life == 0) life = srv->cfg.default_lifetime_ns;
  a->srv = srv;
  a->transport = x->transport;
  a->client = x->client;
  a->local = x->local;
  a->conn = x->conn;
  a->expires = srv->s->now + life;
  memcpy(a->tid, m->tid, FIRN_STUN_TID_SIZE);
  a->next = srv->allocs;
  srv->allocs = a;
  srv->st.allocations++;
  srv->st.active++;
  if (sim_tracing(srv->s)) {
    char c[FIRN_ADDR_STRLEN], r[FIRN_ADDR_STRLEN];
    sim_tracef(srv->s, "turn %s: allocation for %s relayed at %s", srv->h->name,
               sim_addr_str(&x->client, c), sim_addr_str(sim_udp_local(a->relay), r));
  }
  allocate_success(srv, x, m, a);
}

static void handle_refresh(sim_turn_server *srv, const turn_ctx *x, const firn_stun_msg *m) {
  turn_alloc *a = find_alloc(srv, x);
  if (!a) {
    send_error(srv, x, m, 437, 1);
    return;
  }
  uint64_t life = clamp_lifetime(srv, m);
  srv->st.refreshes++;
  if (life == 0) {
    srv->st.deallocations++;
    alloc_delete(a);
  } else {
    a->expires = srv->s->now + life;
  }
  uint8_t out[512];
  firn_stun_builder b;
  firn_stun_builder_init(&b, out, sizeof out, FIRN_STUN_REFRESH, FIRN_STUN_SUCCESS, m->tid);
  firn_stun_add_u32(&b, FIRN_STUN_ATTR_LIFETIME, (uint32_t)(life / FIRN_NS_PER_S));
  finish_send(srv, x, &b, 1);
}

static void handle_permission(sim_turn_server *srv, const turn_ctx *x, const firn_stun_msg *m) {
  turn_alloc *a = find_alloc(srv, x);
  if (!a) {
    send_error(srv, x, m, 437, 1);
    return;
  }
  const firn_addr *relay = sim_udp_local(a->relay);
  firn_addr peers[FIRN_STUN_MAX_ATTRS];
  unsigned n = 0;
  while (n < FIRN_STUN_MAX_ATTRS &&
         firn_stun_msg_get_xor_addr(m, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, n, &peers[n]) == FIRN_OK)
    n++;
  if (n == 0) {
    send_error(srv, x, m, 400, 1);
    return;
  }
  for (unsigned i = 0; i < n; i++) {
    if (peers[i].family != relay->family) {
      send_error(srv, x, m, 443, 1);
      return;
    }
  }
  uint64_t exp = srv->s->now + srv->cfg.permission_lifetime_ns;
  for (unsigned i = 0; i < n; i++) {
    if (add_perm(a, &peers[i], exp) < 0) {
      send_error(srv, x, m, 508, 1);
      return;
    }
  }
  srv->st.permissions++;
  uint8_t out[256];
  firn_stun_builder b;
  firn_stun_builder_init(&b, out, sizeof out, FIRN_STUN_CREATE_PERMISSION, FIRN_STUN_SUCCESS, m->tid);
  finish_send(srv, x, &b, 1);
}

static void handle_channel_bind(sim_turn_server *srv, const turn_ctx *x, const firn_stun_msg *m) {
  turn_alloc *a = find_alloc(srv, x);
  if (!a) {
    send_error(srv, x, m, 437, 1);
    return;
  }
  uint16_t num;
  firn_addr peer;
  if (firn_stun_msg_get_channel(m, &num) != FIRN_OK ||
      firn_stun_msg_get_xor_addr(m, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, 0, &peer) != FIRN_OK) {
    send_error(srv, x, m, 400, 1);
    return;
  }
  if (peer.family != sim_udp_local(a->relay)->family) {
    send_error(srv, x, m, 443, 1);
    return;
  }
  turn_chan *slot = NULL;
  for (size_t i = 0; i < a->n_chans; i++) {
    turn_chan *c = &a->chans[i];
    bool same_num = c->num == num, same_peer = firn_addr_equal(&c->peer, &peer);
    if (same_num != same_peer) { /* RFC 8656 11.2: one peer per channel and vice versa */
      send_error(srv, x, m, 400, 1);
      return;
    }
    if (same_num) slot = c;
  }
  if (!slot) {
    if (a->n_chans >= srv->cfg.max_channels) {
      send_error(srv, x, m, 508, 1);
      return;
    }
    slot = &a->chans[a->n_chans++];
    slot->num = num;
    slot->peer = peer;
  }
  uint64_t now = srv->s->now;
  if (add_perm(a, &peer, now + srv->cfg.permission_lifetime_ns) < 0) {
    send_error(srv, x, m, 508, 1);
    return;
  }
  slot->expires = now + srv->cfg.channel_lifetime_ns;
  srv->st.channel_binds++;
  uint8_t out[256];
  firn_stun_builder b;
  firn_stun_builder_init(&b, out, sizeof out, FIRN_STUN_CHANNEL_BIND, FIRN_STUN_SUCCESS, m->tid);
  finish_send(srv, x, &b, 1);
}

static void handle_send(sim_turn_server *srv, const turn_ctx *x, const firn_stun_msg *m) {
  turn_alloc *a = find_alloc(srv, x);
  firn_addr peer;
  const uint8_t *data;
  size_t len;
  if (!a || firn_stun_msg_get_xor_addr(m, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, 0, &peer) != FIRN_OK ||
      firn_stun_msg_find(m, FIRN_STUN_ATTR_DATA, &data, &len) != FIRN_OK ||
      !has_perm(a, &peer, srv->s->now) || peer.family != sim_udp_local(a->relay)->family) {
    srv->st.dropped++;
    return;
  }
  srv->st.to_peer++;
  sim_udp_send(a->relay, &peer, data, len);
}

static void handle_binding(sim_turn_server *srv, const turn_ctx *x, const firn_stun_msg *m) {
  uint8_t out[256];
  firn_stun_builder b;
  firn_stun_builder_init(&b, out, sizeof out, FIRN_STUN_BINDING, FIRN_STUN_SUCCESS, m->tid);
  firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &x->client);
  finish_send(srv, x, &b, 0);
}

static void handle_stun(sim_turn_server *srv, turn_ctx *x, const uint8_t *data, size_t len) {
  firn_stun_msg m;
  if (firn_stun_msg_parse(&m, data, len) != FIRN_OK) {
    srv->st.dropped++;
    return;
  }
  x->fingerprint = m.fp_off != 0;
  if (m.cls == FIRN_STUN_INDICATION) {
    if (m.method == FIRN_STUN_SEND) handle_send(srv, x, &m);
    return;
  }
  if (m.cls != FIRN_STUN_REQUEST) return;
  if (m.method == FIRN_STUN_BINDING) {
    handle_binding(srv, x, &m);
    return;
  }
  if (m.n_unknown) {
    uint8_t out[512];
    firn_stun_builder b;
    firn_stun_builder_init(&b, out, sizeof out, m.method, FIRN_STUN_ERROR, m.tid);
    firn_stun_add_error(&b, 420, NULL);
    firn_stun_add_unknown_attrs(&b, m.unknown, m.n_unknown);
    srv->st.errors++;
    finish_send(srv, x, &b, 0);
    return;
  }
  if (srv->cfg.nonce_lifetime_ns && srv->s->now - srv->nonce_at >= srv->cfg.nonce_lifetime_ns)
    sim_turn_server_new_nonce(srv);
  if (authenticate(srv, x, &m) < 0) return;
  switch (m.method) {
  case FIRN_STUN_ALLOCATE: handle_allocate(srv, x, &m); break;
  case FIRN_STUN_REFRESH: handle_refresh(srv, x, &m); break;
  case FIRN_STUN_CREATE_PERMISSION: handle_permission(srv, x, &m); break;
  case FIRN_STUN_CHANNEL_BIND: handle_channel_bind(srv, x, &m); break;
  default: send_error(srv, x, &m, 400, 1); break;
  }
}

static void handle_channel_data(sim_turn_server *srv, const turn_ctx *x, const uint8_t *data,
                                size_t len) {
  turn_alloc *a = find_alloc(srv, x);
  if (!a || len < 4) {
    srv->st.dropped++;
    return;
  }
  uint16_t num = rd16(data), dlen = rd16(data + 2);
  if ((size_t)dlen + 4 > len) {
    srv->st.dropped++;
    return;
  }
  uint64_t now = srv->s->now;
  for (size_t i = 0; i < a->n_chans; i++) {
    if (a->chans[i].num == num && a->chans[i].expires > now) {
      srv->st.to_peer++;
      sim_udp_send(a->relay, &a->chans[i].peer, data + 4, dlen);
      return;
    }
  }
  srv->st.dropped++;
}

/* A message or ChannelData from a client (one datagram or one framed unit of a stream). */
static void client_input(sim_turn_server *srv, turn_ctx *x, const uint8_t *data, size_t len) {
  sweep(srv);
  if (len >= 1 && data[0] >= 0x40 && data[0] <= 0x4F) handle_channel_data(srv, x, data, len);
  else handle_stun(srv, x, data, len);
}

static void udp_recv(void *user, const firn_addr *local, const firn_addr *remote,
                     const uint8_t *data, size_t len, uint64_t now) {
  (void)now;
  turn_ctx x;
  memset(&x, 0, sizeof x);
  x.transport = FIRN_TRANSPORT_UDP;
  x.client = *remote;
  x.local = *local;
  client_input(user, &x, data, len);
}

/* ------------------------------------------------------------------------------------------ */
/* Clients over TCP                                                                            */

static void conn_delete(turn_conn *tc) {
  sim_turn_server *srv = tc->srv;
  turn_alloc *a = srv->allocs;
  while (a) {
    turn_alloc *next = a->next;
    if (a->conn == tc) {
      srv->st.deallocations++;
      alloc_delete(a);
    }
    a = next;
  }
  turn_conn **pp = &srv->conns;
  while (*pp && *pp != tc) pp = &(*pp)->next;
  if (*pp) *pp = tc->next;
  srv->n_conns--;
  sim_tcp_close(tc->c);
  SSL_free(tc->ssl); /* frees its BIOs */
  free(tc->buf);
  free(tc);
}

/* Frame the client's byte stream into STUN messages and ChannelData. -1 if the connection was
 * ended (tc is freed). */
static int stream_input(turn_conn *tc, const uint8_t *data, size_t len) {
  sim_turn_server *srv = tc->srv;
  if (len > TURN_TCP_BUF - tc->len) { /* a frame larger than any legal one: hang up */
    srv->st.dropped++;
    conn_delete(tc);
    return -1;
  }
  if (tc->len + len > tc->cap) {
    size_t nc = tc->cap ? tc->cap : 1024;
    while (nc < tc->len + len) nc *= 2;
    if (nc > TURN_TCP_BUF) nc = TURN_TCP_BUF;
    uint8_t *nb = realloc(tc->buf, nc);
    if (!nb) {
      conn_delete(tc);
      return -1;
    }
    tc->buf = nb;
    tc->cap = nc;
  }
  memcpy(tc->buf + tc->len, data, len);
  tc->len += len;
  size_t off = 0;
  while (tc->len - off >= 4) {
    const uint8_t *p = tc->buf + off;
    size_t total;
    if ((p[0] & 0xC0) == 0) {
      total = 20 + (size_t)rd16(p + 2);
    } else if (p[0] >= 0x40 && p[0] <= 0x4F) {
      total = 4 + (((size_t)rd16(p + 2) + 3) & ~(size_t)3);
    } else {
      srv->st.dropped++;
      conn_delete(tc);
      return -1;
    }
    if (tc->len - off < total) break;
    turn_ctx x;
    memset(&x, 0, sizeof x);
    x.transport = FIRN_TRANSPORT_TCP;
    x.client = *sim_tcp_remote(tc->c);
    x.local = *sim_tcp_local(tc->c);
    x.conn = tc;
    client_input(srv, &x, p, total);
    off += total;
  }
  memmove(tc->buf, tc->buf + off, tc->len - off);
  tc->len -= off;
  return 0;
}

/* TLS: ciphertext in, handshake or plaintext records out to stream_input(). */
static void tls_input(turn_conn *tc, const uint8_t *data, size_t len) {
  if (len > INT32_MAX || BIO_write(SSL_get_rbio(tc->ssl), data, (int)len) != (int)len) {
    conn_delete(tc);
    return;
  }
  if (!SSL_is_init_finished(tc->ssl)) {
    int r = SSL_do_handshake(tc->ssl);
    tls_flush(tc); /* the server's flight, or an alert */
    if (r <= 0) {
      if (SSL_get_error(tc->ssl, r) != SSL_ERROR_WANT_READ) {
        sim_tracef(tc->srv->s, "turn %s: TLS handshake failed", tc->srv->h->name);
        ERR_clear_error();
        conn_delete(tc);
      }
      return;
    }
  }
  uint8_t plain[4096];
  for (;;) {
    int n = SSL_read(tc->ssl, plain, sizeof plain);
    if (n > 0) {
      if (stream_input(tc, plain, (size_t)n) < 0) return;
      continue;
    }
    int e = SSL_get_error(tc->ssl, n);
    tls_flush(tc);
    if (e != SSL_ERROR_WANT_READ) { /* close_notify or a fatal error */
      ERR_clear_error();
      conn_delete(tc);
    }
    return;
  }
}

static void tcp_data(void *user, sim_tcp *c, const uint8_t *data, size_t len, uint64_t now) {
  (void)c;
  (void)now;
  turn_conn *tc = user;
  if (tc->ssl) tls_input(tc, data, len);
  else stream_input(tc, data, len);
}

static void tcp_close(void *user, sim_tcp *c, int reason, uint64_t now) {
  (void)c;
  (void)reason;
  (void)now;
  conn_delete(user);
}

static turn_conn *accept_conn(sim_turn_server *srv, sim_tcp *c, int tls) {
  /* Bounded: as many client connections as allocations (each needs its own). */
  turn_conn *tc = srv->n_conns < srv->cfg.max_allocations ? calloc(1, sizeof *tc) : NULL;
  if (tc && tls) {
    BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
    tc->ssl = SSL_new(srv->tls_ctx);
    if (!tc->ssl || !r || !w) {
      BIO_free(r);
      BIO_free(w);
      SSL_free(tc->ssl);
      free(tc);
      tc = NULL;
    } else {
      SSL_set_bio(tc->ssl, r, w);
      SSL_set_accept_state(tc->ssl);
    }
  }
  if (!tc) {
    srv->st.errors++;
    sim_tcp_abort(c);
    return NULL;
  }
  tc->srv = srv;
  tc->c = c;
  tc->next = srv->conns;
  srv->conns = tc;
  srv->n_conns++;
  static const sim_tcp_callbacks cbs = {NULL, tcp_data, tcp_close};
  sim_tcp_set_callbacks(c, &cbs, tc);
  return tc;
}

static void tcp_accept(void *user, sim_tcp *c, uint64_t now) {
  (void)now;
  accept_conn(user, c, 0);
}

static void tls_accept(void *user, sim_tcp *c, uint64_t now) {
  (void)now;
  accept_conn(user, c, 1);
}

/* ------------------------------------------------------------------------------------------ */
/* TLS: a self-signed Ed25519 certificate made at run time (fixed-size signatures keep the
 * stream's segment sizes, and so the trace, the same for a seed).                            */

static X509 *make_cert(EVP_PKEY *key, const char *name) {
  X509 *x = X509_new();
  if (!x) return NULL;
  char san[300];
  snprintf(san, sizeof san, "DNS:%s", name);
  X509V3_CTX v3;
  X509_EXTENSION *ext = NULL;
  X509_NAME *subj = X509_get_subject_name(x);
  int ok = X509_set_version(x, 2) && ASN1_INTEGER_set(X509_get_serialNumber(x), 1) &&
           X509_gmtime_adj(X509_getm_notBefore(x), -86400) &&
           X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365) && X509_set_pubkey(x, key) &&
           X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (const unsigned char *)name, -1,
                                      -1, 0) &&
           X509_set_issuer_name(x, subj);
  if (ok) {
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
    ok = ext && X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (ok) ok = X509_sign(x, key, NULL) > 0;
  if (!ok) {
    X509_free(x);
    return NULL;
  }
  return x;
}

int sim_turn_server_listen_tls(sim_turn_server *srv, const firn_addr *local,
                               const char *server_name) {
  if (!srv || !local || !server_name || !*server_name || strlen(server_name) > 253)
    return FIRN_ERR_INVALID_ARG;
  if (srv->tls_listener) return FIRN_ERR_STATE;
  int rc = FIRN_ERR_CRYPTO;
  EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
  X509 *cert = key ? make_cert(key, server_name) : NULL;
  SSL_CTX *ctx = cert ? SSL_CTX_new(TLS_server_method()) : NULL;
  BIO *pem = ctx ? BIO_new(BIO_s_mem()) : NULL;
  char *text = NULL;
  if (pem && SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) &&
      SSL_CTX_use_certificate(ctx, cert) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1 &&
      PEM_write_bio_X509(pem, cert)) {
    char *p;
    long n = BIO_get_mem_data(pem, &p);
    text = n > 0 ? malloc((size_t)n + 1) : NULL;
    if (text) {
      memcpy(text, p, (size_t)n);
      text[n] = 0;
      rc = sim_tcp_listen(srv->h, local, tls_accept, srv, &srv->tls_listener);
    } else {
      rc = FIRN_ERR_NOMEM;
    }
  }
  BIO_free(pem);
  X509_free(cert);
  EVP_PKEY_free(key);
  ERR_clear_error();
  if (rc != FIRN_OK) {
    SSL_CTX_free(ctx);
    free(text);
    return rc;
  }
  srv->tls_ctx = ctx;
  srv->cert_pem = text;
  return FIRN_OK;
}

const char *sim_turn_server_cert_pem(const sim_turn_server *srv) { return srv->cert_pem; }

/* ------------------------------------------------------------------------------------------ */

static void server_destroy(sim_turn_server *srv) {
  while (srv->allocs) alloc_delete(srv->allocs);
  while (srv->conns) conn_delete(srv->conns);
  sim_tcp_listener_close(srv->listener);
  sim_tcp_listener_close(srv->tls_listener);
  SSL_CTX_free(srv->tls_ctx);
  free(srv->cert_pem);
  sim_udp_close(srv->udp);
  firn_stun_key_free(srv->key);
  free(srv);
}

static void cleanup_fn(sim_cleanup *c) { server_destroy((sim_turn_server *)(void *)c); }

int sim_turn_server_new(sim_host *h, const firn_addr *udp_local, const firn_addr *tcp_local,
                        const sim_turn_config *cfg, sim_turn_server **out) {
  if (!h || !out || (!udp_local && !tcp_local)) return FIRN_ERR_INVALID_ARG;
  sim_turn_config def;
  sim_turn_config_default(&def);
  if (cfg) {
    if (cfg->size < sizeof *cfg || !cfg->max_permissions || !cfg->max_channels ||
        !cfg->max_allocations)
      return FIRN_ERR_INVALID_ARG;
    def = *cfg;
    def.realm[sizeof def.realm - 1] = 0;
    def.username[sizeof def.username - 1] = 0;
    def.password[sizeof def.password - 1] = 0;
  }
  sim_turn_server *srv = calloc(1, sizeof *srv);
  if (!srv) return FIRN_ERR_NOMEM;
  srv->s = h->s;
  srv->h = h;
  srv->cfg = def;
  /* Nonces and Data indication IDs: a stream of its own, named after the host. */
  uint64_t stream = UINT64_C(0xcbf29ce484222325);
  for (const char *p = h->name; *p; p++) stream = (stream ^ (uint8_t)*p) * UINT64_C(0x100000001b3);
  sim_rng_derive(h->s, stream, &srv->rng);
  sim_turn_server_new_nonce(srv);
  int rc = firn_stun_key_new_long_term(&srv->key, NULL, FIRN_STUN_PASSWORD_ALG_MD5, def.username,
                                       strlen(def.username), def.realm, strlen(def.realm),
                                       def.password, strlen(def.password));
  if (rc == FIRN_OK && udp_local) rc = sim_udp_open(h, udp_local, udp_recv, srv, &srv->udp);
  if (rc == FIRN_OK && tcp_local) rc = sim_tcp_listen(h, tcp_local, tcp_accept, srv, &srv->listener);
  if (rc != FIRN_OK) {
    server_destroy(srv);
    return rc;
  }
  srv->cleanup.fn = cleanup_fn;
  sim_cleanup_add(h->s, &srv->cleanup);
  *out = srv;
  return FIRN_OK;
}

void sim_turn_server_stats(const sim_turn_server *srv, sim_turn_stats *out) { *out = srv->st; }

void sim_turn_server_free(sim_turn_server *srv) {
  if (!srv) return;
  sim_cleanup_remove(srv->s, &srv->cleanup);
  server_destroy(srv);
}
