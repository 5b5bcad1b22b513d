/* TURN client (RFC 8656, RFC 6156): one allocation, sans-I/O. See turn.h for the model and
 * the decisions on unsigned errors, ALTERNATE-SERVER and 437.
 *
 * Requests go through a firn_stun_client (retransmissions, 401/438 long-term flow). Every
 * request we start is tracked in a `req` slot: its transaction id (for the result callback)
 * and, learnt when the datagram is polled, its STUN transaction ID and whether that attempt
 * carried MESSAGE-INTEGRITY. That lets us (1) refuse a success to an unauthenticated request
 * and (2) accept coturn's unsigned error responses for exactly the request in flight.
 *
 * Tables are fixed arrays sized at creation (max_permissions, max_channels): nothing a peer or
 * the server sends can grow them. Timers are plain deadlines scanned in expiry(); the tables
 * are small. */
#include <string.h>

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/log.h"
#include "common/random.h"
#include "turn/turn.h"
#include "turn/turn_tls.h"

#define MOD "turn"

#define CHANNEL_MIN 0x4000u
#define CHANNEL_MAX 0x4FFFu
#define MAX_LIFETIME_S 3600u     /* refresh at least hourly whatever the server grants */
#define DEFAULT_LIFETIME_S 600u  /* when a success omits LIFETIME */
#define CTRL_MAX 2048            /* our own requests are small */
#define TLS_OVERHEAD 128         /* record header + tag/padding, generous */

enum { K_ALLOC = 1, K_REFRESH = 2, K_PERM = 3, K_CHAN = 4 };
enum { E_FREE = 0, E_PENDING = 1, E_OK = 2, E_FAILED = 3 };

typedef struct req {
  uint64_t id;        /* firn_stun_client transaction id */
  uint8_t active;
  uint8_t have_tid;
  uint8_t authed;     /* the attempt with `tid` carried MESSAGE-INTEGRITY */
  uint8_t tid[FIRN_STUN_TID_SIZE];
} req;

typedef struct perm {
  uint8_t state;      /* E_* */
  uint8_t ever_ok;
  firn_addr ip;       /* port 0 */
  uint64_t refresh_at;
  req r;
} perm;

typedef struct chan {
  uint8_t state;
  uint8_t ever_ok;
  uint16_t number;
  firn_addr peer;
  uint64_t refresh_at;
  req r;
} chan;

struct firn_turn {
  firn_allocator alloc;
  firn_logger log;
  firn_rng_pool rng;
  firn_turn_callbacks cb;
  void *user;
  firn_stun_client *client;
  firn_stun_auth *auth;
  char *username, *password;
  char *software;
  firn_turn_tls *tls;

  firn_transport transport;
  firn_addr configured_server, server, local;
  firn_family family;
  int dual;
  uint32_t lifetime_req;
  uint64_t connect_timeout, perm_refresh, chan_refresh, close_timeout;
  size_t max_frame;

  firn_turn_state state;
  firn_turn_failure failure;
  int error_code, status;
  int redirected;
  int connected;     /* stream transports: connection open (and TLS done) */
  int conn_open;     /* stream transports: connection requested and not closed */
  unsigned conn_gen; /* bumped when a connection is released: stale loops stop */

  firn_addr mapped, relayed[2];
  unsigned nrelayed;
  int additional_error;
  uint32_t lifetime;
  uint64_t expires_at, refresh_at, connect_deadline, close_deadline;
  req alloc_r, refresh_r;

  perm *perms;
  unsigned nperms_max;
  chan *chans;
  unsigned nchans_max;
  uint16_t next_channel;

  uint8_t *fbuf; /* stream reassembly, max_frame bytes */
  size_t flen;

  uint64_t now;  /* `now` of the call in progress (results carry none) */
  unsigned depth;
  int free_pending;
  firn_turn_stats stats;
};

/* ------------------------------------------------------------------------------------------ */
/* Names, settings                                                                             */

const char *firn_turn_state_name(firn_turn_state s) {
  switch (s) {
  case FIRN_TURN_NEW: return "new";
  case FIRN_TURN_CONNECTING: return "connecting";
  case FIRN_TURN_ALLOCATING: return "allocating";
  case FIRN_TURN_READY: return "ready";
  case FIRN_TURN_CLOSING: return "closing";
  case FIRN_TURN_CLOSED: return "closed";
  case FIRN_TURN_FAILED: return "failed";
  }
  return "unknown";
}

const char *firn_turn_failure_name(firn_turn_failure f) {
  switch (f) {
  case FIRN_TURN_FAIL_NONE: return "none";
  case FIRN_TURN_FAIL_TIMEOUT: return "timeout";
  case FIRN_TURN_FAIL_REFUSED: return "refused";
  case FIRN_TURN_FAIL_AUTH: return "authentication failed";
  case FIRN_TURN_FAIL_INTEGRITY: return "bad integrity";
  case FIRN_TURN_FAIL_MISMATCH: return "allocation mismatch";
  case FIRN_TURN_FAIL_REDIRECT: return "redirect refused";
  case FIRN_TURN_FAIL_CONNECT: return "connection failed";
  case FIRN_TURN_FAIL_TLS: return "tls failed";
  case FIRN_TURN_FAIL_PROTOCOL: return "protocol error";
  case FIRN_TURN_FAIL_INTERNAL: return "internal error";
  }
  return "unknown";
}

void firn_turn_settings_default(firn_turn_settings *s) {
  if (!s) return;
  memset(s, 0, sizeof *s);
  s->size = sizeof *s;
  s->log_level = FIRN_LOG_INFO;
  s->transport = FIRN_TRANSPORT_UDP;
  s->family = FIRN_AF_INET;
  s->callbacks.size = sizeof s->callbacks;
}

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - 1 - b ? UINT64_MAX - 1 : a + b; }
static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }
static int is_stream(const firn_turn *t) { return t->transport != FIRN_TRANSPORT_UDP; }
static void *ctx_of(int kind, unsigned idx) { return (void *)(uintptr_t)(((uintptr_t)kind << 16) | idx); }

static char *dup_str(const firn_allocator *a, const char *s) {
  return s ? firn_memdup(a, s, strlen(s) + 1) : NULL;
}

static void wipe_str(const firn_allocator *a, char *s) {
  if (!s) return;
  firn_wipe(s, strlen(s));
  firn_free(a, s);
}

/* ------------------------------------------------------------------------------------------ */
/* Lifetime of the object                                                                      */

static void on_result(void *user, const firn_stun_result *r);

static int make_client(firn_turn *t, const firn_turn_settings *s) {
  firn_stun_client_settings cs;
  firn_stun_client_settings_default(&cs);
  cs.alloc = &t->alloc;
  cs.random = firn_rng_pool_fn; /* the STUN client draws from this object's pool */
  cs.random_user = &t->rng;
  cs.log = t->log.fn;
  cs.log_user = t->log.user;
  cs.log_level = t->log.level;
  if (s->rto_ns) cs.rto_ns = s->rto_ns;
  if (s->rc) cs.rc = s->rc;
  if (s->ti_ns) cs.ti_ns = s->ti_ns;
  cs.max_transactions = 2 + t->nperms_max + t->nchans_max;
  cs.software = t->software;
  cs.on_result = on_result;
  cs.user = t;
  return firn_stun_client_new(&t->client, &cs);
}

static void destroy(firn_turn *t) {
  firn_allocator al = t->alloc;
  firn_stun_client_free(t->client);
  firn_stun_auth_free(t->auth);
  firn_turn_tls_free(t->tls);
  wipe_str(&al, t->password);
  firn_free(&al, t->username);
  firn_free(&al, t->software);
  firn_free(&al, t->perms);
  firn_free(&al, t->chans);
  firn_free(&al, t->fbuf);
  firn_rng_pool_free(&t->rng);
  firn_free(&al, t);
}

int firn_turn_new(firn_turn **out, const firn_turn_settings *s) {
  if (!out) return FIRN_ERR_INVALID_ARG;
  *out = NULL;
  if (!s || s->size < sizeof *s || !s->username || !s->password || !s->username[0]) return FIRN_ERR_INVALID_ARG;
  if (s->callbacks.size != 0 && s->callbacks.size < sizeof s->callbacks) return FIRN_ERR_INVALID_ARG;
  if (s->server.family != FIRN_AF_INET && s->server.family != FIRN_AF_INET6) return FIRN_ERR_INVALID_ARG;
  if (s->server.port == 0) return FIRN_ERR_INVALID_ARG;
  if (s->transport > FIRN_TRANSPORT_TLS) return FIRN_ERR_INVALID_ARG;
  firn_family fam = s->family == FIRN_AF_NONE ? FIRN_AF_INET : s->family;
  if (fam != FIRN_AF_INET && fam != FIRN_AF_INET6) return FIRN_ERR_INVALID_ARG;
  if (s->dual && fam != FIRN_AF_INET) return FIRN_ERR_INVALID_ARG; /* RFC 8656 7.2 */
  if (s->max_channels > CHANNEL_MAX - CHANNEL_MIN + 1) return FIRN_ERR_INVALID_ARG;
  if (s->max_frame && (s->max_frame < 256 || s->max_frame > 65536 + 4)) return FIRN_ERR_INVALID_ARG;

  firn_allocator al;
  firn_alloc_init(&al, s->alloc);
  firn_turn *t = firn_calloc(&al, 1, sizeof *t);
  if (!t) return FIRN_ERR_NOMEM;
  t->alloc = al;
  t->log.fn = s->log;
  t->log.user = s->log_user;
  t->log.level = s->log_level;
  firn_rng_pool_init(&t->rng, s->random, s->random_user);
  if (s->callbacks.size) t->cb = s->callbacks;
  t->user = s->user;
  t->transport = s->transport;
  t->configured_server = t->server = s->server;
  t->local = s->local;
  t->family = fam;
  t->dual = s->dual != 0;
  t->lifetime_req = s->lifetime_s;
  t->connect_timeout = s->connect_timeout_ns ? s->connect_timeout_ns : 10 * FIRN_NS_PER_S;
  t->perm_refresh = s->permission_refresh_ns ? s->permission_refresh_ns : 240 * FIRN_NS_PER_S;
  t->chan_refresh = s->channel_refresh_ns ? s->channel_refresh_ns : 540 * FIRN_NS_PER_S;
  t->close_timeout = s->close_timeout_ns ? s->close_timeout_ns : 5 * FIRN_NS_PER_S;
  t->max_frame = s->max_frame ? s->max_frame : 8192;
  t->nperms_max = s->max_permissions ? s->max_permissions : 64;
  t->nchans_max = s->max_channels ? s->max_channels : 64;
  if (t->nperms_max > 4096) t->nperms_max = 4096;
  t->next_channel = CHANNEL_MIN;
  t->expires_at = t->refresh_at = t->connect_deadline = t->close_deadline = FIRN_TIME_NEVER;

  int rc = FIRN_ERR_NOMEM;
  t->username = dup_str(&al, s->username);
  t->password = dup_str(&al, s->password);
  t->software = dup_str(&al, s->software);
  t->perms = firn_calloc(&al, t->nperms_max, sizeof *t->perms);
  t->chans = firn_calloc(&al, t->nchans_max, sizeof *t->chans);
  if (!t->username || !t->password || (s->software && !t->software) || !t->perms || !t->chans) goto fail;
  if (is_stream(t) && !(t->fbuf = firn_malloc(&al, t->max_frame))) goto fail;
  if ((rc = firn_stun_auth_new(&t->auth, &al, s->username, s->password)) < 0) goto fail;
  if ((rc = make_client(t, s)) < 0) goto fail;
  if (t->transport == FIRN_TRANSPORT_TLS) {
    firn_turn_tls_config tc = {s->tls_ca_file, s->tls_ca_dir, s->tls_server_name, &t->server,
                               s->tls_insecure};
    if ((rc = firn_turn_tls_new(&t->tls, &al, &t->log, &tc)) < 0) goto fail;
  }
  *out = t;
  return FIRN_OK;
fail:
  destroy(t);
  return rc;
}

/* Entry points bracket their work so a free from inside a callback waits until the
 * outermost call is about to return. */
static void enter(firn_turn *t, uint64_t now) {
  t->depth++;
  t->now = now;
}

/* Returns 1 if the object was destroyed. */
static int leave(firn_turn *t) {
  if (--t->depth == 0 && t->free_pending) {
    destroy(t);
    return 1;
  }
  return 0;
}

void firn_turn_free(firn_turn *t) {
  if (!t) return;
  if (t->depth) {
    t->free_pending = 1;
    return;
  }
  destroy(t);
}

void *firn_turn_get_user(const firn_turn *t) { return t ? t->user : NULL; }
firn_turn_state firn_turn_get_state(const firn_turn *t) { return t ? t->state : FIRN_TURN_FAILED; }

/* ------------------------------------------------------------------------------------------ */
/* State changes                                                                               */

static int dead(const firn_turn *t) {
  return t->free_pending || t->state == FIRN_TURN_CLOSED || t->state == FIRN_TURN_FAILED;
}

static void set_state(firn_turn *t, firn_turn_state s) {
  if (t->state == s) return;
  firn_log(&t->log, FIRN_LOG_DEBUG, MOD, "state %s -> %s", firn_turn_state_name(t->state),
           firn_turn_state_name(s));
  t->state = s;
  if (t->cb.on_state && !t->free_pending) t->cb.on_state(t->user, t, s);
}

static void cancel_req(firn_turn *t, req *r) {
  if (!r->active) return;
  r->active = 0; /* first: the CANCELLED result then matches no slot */
  firn_stun_client_cancel(t->client, r->id);
}

static void cancel_all(firn_turn *t) {
  cancel_req(t, &t->alloc_r);
  cancel_req(t, &t->refresh_r);
  for (unsigned i = 0; i < t->nperms_max; i++) cancel_req(t, &t->perms[i].r);
  for (unsigned i = 0; i < t->nchans_max; i++) cancel_req(t, &t->chans[i].r);
}

static void close_connection(firn_turn *t) {
  if (!is_stream(t) || !t->conn_open) return;
  t->conn_open = 0;
  t->connected = 0;
  t->flen = 0;
  t->conn_gen++;
  if (t->cb.on_close_connection && !t->free_pending) t->cb.on_close_connection(t->user, t);
}

static void fail(firn_turn *t, firn_turn_failure f, int code, int status) {
  if (t->state == FIRN_TURN_FAILED || t->state == FIRN_TURN_CLOSED) return;
  firn_log(&t->log, FIRN_LOG_INFO, MOD, "allocation failed: %s (code %d, %s)", firn_turn_failure_name(f),
           code, firn_strerror(status));
  t->failure = f;
  t->error_code = code;
  t->status = status;
  t->refresh_at = t->connect_deadline = t->close_deadline = FIRN_TIME_NEVER;
  cancel_all(t);
  close_connection(t);
  set_state(t, FIRN_TURN_FAILED);
}

static void finish_close(firn_turn *t) {
  t->refresh_at = t->connect_deadline = t->close_deadline = FIRN_TIME_NEVER;
  cancel_all(t);
  close_connection(t);
  set_state(t, FIRN_TURN_CLOSED);
}

/* ------------------------------------------------------------------------------------------ */
/* Requests                                                                                    */

static int start_req(firn_turn *t, req *r, uint16_t method, const uint8_t *attrs, size_t attrs_len,
                     void *ctx) {
  firn_stun_request rq;
  memset(&rq, 0, sizeof rq);
  rq.method = method;
  rq.attrs = attrs;
  rq.attrs_len = attrs_len;
  rq.dest = t->server;
  rq.reliable = is_stream(t);
  rq.long_term = t->auth;
  rq.fingerprint = 1;
  rq.ctx = ctx;
  uint64_t id;
  int rc = firn_stun_client_start(t->client, &rq, t->now, &id);
  if (rc < 0) {
    firn_log(&t->log, FIRN_LOG_WARN, MOD, "cannot start request 0x%03x: %s", (unsigned)method, firn_strerror(rc));
    return rc;
  }
  r->id = id;
  r->active = 1;
  r->have_tid = 0;
  r->authed = 0;
  return FIRN_OK;
}

/* Attributes are built in a scratch message; the request takes the part after the header. */
typedef struct attrs_buf {
  uint8_t buf[256];
  firn_stun_builder b;
} attrs_buf;

static void attrs_init(attrs_buf *a) {
  static const uint8_t zero_tid[FIRN_STUN_TID_SIZE];
  firn_stun_builder_init(&a->b, a->buf, sizeof a->buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, zero_tid);
}

static int attrs_start(firn_turn *t, attrs_buf *a, req *r, uint16_t method, void *ctx) {
  firn_ssize n = firn_stun_builder_finish(&a->b);
  if (n < 0) return (int)n;
  return start_req(t, r, method, a->buf + FIRN_STUN_HEADER_SIZE, (size_t)n - FIRN_STUN_HEADER_SIZE, ctx);
}

static int send_allocate(firn_turn *t) {
  attrs_buf a;
  attrs_init(&a);
  firn_stun_add_requested_transport(&a.b, 17);
  if (t->family == FIRN_AF_INET6) firn_stun_add_family(&a.b, FIRN_STUN_ATTR_REQUESTED_ADDRESS_FAMILY, FIRN_AF_INET6);
  if (t->dual) firn_stun_add_family(&a.b, FIRN_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, FIRN_AF_INET6);
  if (t->lifetime_req) firn_stun_add_u32(&a.b, FIRN_STUN_ATTR_LIFETIME, t->lifetime_req);
  t->stats.allocate_requests++;
  return attrs_start(t, &a, &t->alloc_r, FIRN_STUN_ALLOCATE, ctx_of(K_ALLOC, 0));
}

static int send_refresh(firn_turn *t, uint32_t lifetime, int explicit_lifetime) {
  attrs_buf a;
  attrs_init(&a);
  if (explicit_lifetime) firn_stun_add_u32(&a.b, FIRN_STUN_ATTR_LIFETIME, lifetime);
  return attrs_start(t, &a, &t->refresh_r, FIRN_STUN_REFRESH, ctx_of(K_REFRESH, 0));
}

static int send_permission(firn_turn *t, unsigned i) {
  attrs_buf a;
  attrs_init(&a);
  firn_stun_add_xor_addr(&a.b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, &t->perms[i].ip);
  return attrs_start(t, &a, &t->perms[i].r, FIRN_STUN_CREATE_PERMISSION, ctx_of(K_PERM, i));
}

static int send_channel_bind(firn_turn *t, unsigned i) {
  attrs_buf a;
  attrs_init(&a);
  firn_stun_add_channel(&a.b, t->chans[i].number);
  firn_stun_add_xor_addr(&a.b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, &t->chans[i].peer);
  return attrs_start(t, &a, &t->chans[i].r, FIRN_STUN_CHANNEL_BIND, ctx_of(K_CHAN, i));
}

static req *req_of_ctx(firn_turn *t, void *ctx) {
  uintptr_t v = (uintptr_t)ctx;
  unsigned kind = (unsigned)(v >> 16), idx = (unsigned)(v & 0xffff);
  switch (kind) {
  case K_ALLOC: return &t->alloc_r;
  case K_REFRESH: return &t->refresh_r;
  case K_PERM: return idx < t->nperms_max ? &t->perms[idx].r : NULL;
  case K_CHAN: return idx < t->nchans_max ? &t->chans[idx].r : NULL;
  default: return NULL;
  }
}

/* The slot of an active request by id or STUN transaction ID; `*kind`/`*idx` say which. */
static req *find_req(firn_turn *t, const uint64_t *id, const uint8_t *tid, int *kind, unsigned *idx) {
#define MATCH(r) ((r)->active && ((id && (r)->id == *id) || \
                  (tid && (r)->have_tid && memcmp((r)->tid, tid, FIRN_STUN_TID_SIZE) == 0)))
  *idx = 0;
  if (MATCH(&t->alloc_r)) { *kind = K_ALLOC; return &t->alloc_r; }
  if (MATCH(&t->refresh_r)) { *kind = K_REFRESH; return &t->refresh_r; }
  for (unsigned i = 0; i < t->nperms_max; i++)
    if (MATCH(&t->perms[i].r)) { *kind = K_PERM; *idx = i; return &t->perms[i].r; }
  for (unsigned i = 0; i < t->nchans_max; i++)
    if (MATCH(&t->chans[i].r)) { *kind = K_CHAN; *idx = i; return &t->chans[i].r; }
#undef MATCH
  return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Permissions and channels                                                                    */

static perm *find_perm(const firn_turn *t, const firn_addr *ip) {
  for (unsigned i = 0; i < t->nperms_max; i++)
    if (t->perms[i].state != E_FREE && firn_addr_equal_ip(&t->perms[i].ip, ip)) return &t->perms[i];
  return NULL;
}

static chan *find_chan_peer(const firn_turn *t, const firn_addr *peer) {
  for (unsigned i = 0; i < t->nchans_max; i++)
    if (t->chans[i].state != E_FREE && firn_addr_equal(&t->chans[i].peer, peer)) return &t->chans[i];
  return NULL;
}

static chan *find_chan_number(const firn_turn *t, uint16_t number) {
  for (unsigned i = 0; i < t->nchans_max; i++)
    if (t->chans[i].state != E_FREE && t->chans[i].number == number) return &t->chans[i];
  return NULL;
}

static int family_relayed(const firn_turn *t, const firn_addr *a) {
  for (unsigned i = 0; i < t->nrelayed; i++)
    if (t->relayed[i].family == a->family) return 1;
  return 0;
}

static int valid_peer(const firn_addr *a) {
  return (a->family == FIRN_AF_INET || a->family == FIRN_AF_INET6) && !firn_addr_is_any(a);
}

/* Send what waits for the allocation: every pending permission and channel. */
static void kick_pending(firn_turn *t) {
  for (unsigned i = 0; i < t->nperms_max && t->state == FIRN_TURN_READY; i++) {
    perm *p = &t->perms[i];
    if (p->state != E_PENDING || p->r.active) continue;
    if (!family_relayed(t, &p->ip) || send_permission(t, i) < 0) p->state = E_FAILED;
  }
  for (unsigned i = 0; i < t->nchans_max && t->state == FIRN_TURN_READY; i++) {
    chan *c = &t->chans[i];
    if (c->state != E_PENDING || c->r.active) continue;
    if (!family_relayed(t, &c->peer) || send_channel_bind(t, i) < 0) c->state = E_FAILED;
  }
}

static int permit(firn_turn *t, const firn_addr *peer) {
  if (!valid_peer(peer)) return FIRN_ERR_INVALID_ARG;
  if (t->state != FIRN_TURN_NEW && t->state != FIRN_TURN_CONNECTING && t->state != FIRN_TURN_ALLOCATING &&
      t->state != FIRN_TURN_READY)
    return FIRN_ERR_STATE;
  if (t->state == FIRN_TURN_READY && !family_relayed(t, peer)) return FIRN_ERR_INVALID_ARG;
  perm *p = find_perm(t, peer);
  if (p) {
    if (p->state == E_FAILED) p->state = E_PENDING; /* asked again: retry */
  } else {
    for (unsigned i = 0; i < t->nperms_max && !p; i++)
      if (t->perms[i].state == E_FREE) p = &t->perms[i];
    if (!p) return FIRN_ERR_LIMIT;
    memset(p, 0, sizeof *p);
    p->ip = *peer;
    p->ip.port = 0;
    p->state = E_PENDING;
    p->refresh_at = FIRN_TIME_NEVER;
  }
  kick_pending(t);
  return FIRN_OK;
}

int firn_turn_permit(firn_turn *t, const firn_addr *peer, uint64_t now) {
  if (!t || !peer) return FIRN_ERR_INVALID_ARG;
  enter(t, now);
  int rc = permit(t, peer);
  leave(t);
  return rc;
}

int firn_turn_remove_permission(firn_turn *t, const firn_addr *peer) {
  if (!t || !peer) return FIRN_ERR_INVALID_ARG;
  perm *p = find_perm(t, peer);
  if (!p) return FIRN_ERR_NOT_FOUND;
  enter(t, t->now);
  cancel_req(t, &p->r);
  p->state = E_FREE;
  for (unsigned i = 0; i < t->nchans_max; i++) {
    chan *c = &t->chans[i];
    if (c->state != E_FREE && firn_addr_equal_ip(&c->peer, peer)) {
      cancel_req(t, &c->r);
      c->state = E_FREE; /* number and peer kept: a later bind to this peer reuses them */
    }
  }
  leave(t);
  return FIRN_OK;
}

static int bind_channel(firn_turn *t, const firn_addr *peer, uint16_t *number) {
  if (!valid_peer(peer) || peer->port == 0) return FIRN_ERR_INVALID_ARG;
  chan *c = find_chan_peer(t, peer);
  int reuse = 0;
  if (!c) {
    /* A removed binding may still live on the server (RFC 8656 12: a channel and a peer stay
     * tied for 10 minutes): the same peer gets its old number back. Otherwise prefer slots
     * never used, so remembered numbers survive as long as the table allows. */
    for (unsigned i = 0; i < t->nchans_max && !c; i++)
      if (t->chans[i].state == E_FREE && t->chans[i].number && firn_addr_equal(&t->chans[i].peer, peer)) c = &t->chans[i];
    reuse = c != NULL;
    if (!c && t->next_channel > CHANNEL_MAX) return FIRN_ERR_LIMIT;
    for (unsigned i = 0; i < t->nchans_max && !c; i++)
      if (t->chans[i].state == E_FREE && !t->chans[i].number) c = &t->chans[i];
    for (unsigned i = 0; i < t->nchans_max && !c; i++)
      if (t->chans[i].state == E_FREE) c = &t->chans[i];
    if (!c) return FIRN_ERR_LIMIT;
  }
  int rc = permit(t, peer); /* ChannelBind installs one too; we keep refreshing it at 240 s */
  if (rc < 0) return rc;
  if (c->state == E_FREE) {
    uint16_t old = c->number;
    memset(c, 0, sizeof *c);
    c->peer = *peer;
    c->number = reuse ? old : t->next_channel++;
    c->state = E_PENDING;
    c->refresh_at = FIRN_TIME_NEVER;
  } else if (c->state == E_FAILED) {
    c->state = E_PENDING;
  }
  if (number) *number = c->number;
  kick_pending(t);
  return FIRN_OK;
}

int firn_turn_bind_channel(firn_turn *t, const firn_addr *peer, uint64_t now, uint16_t *channel) {
  if (!t || !peer) return FIRN_ERR_INVALID_ARG;
  enter(t, now);
  int rc = bind_channel(t, peer, channel);
  leave(t);
  return rc;
}

int firn_turn_has_permission(const firn_turn *t, const firn_addr *peer) {
  if (!t || !peer) return 0;
  const perm *p = find_perm(t, peer);
  return p && p->ever_ok && p->state == E_OK;
}

uint16_t firn_turn_channel(const firn_turn *t, const firn_addr *peer) {
  if (!t || !peer) return 0;
  const chan *c = find_chan_peer(t, peer);
  return c && c->ever_ok && c->state == E_OK ? c->number : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Results                                                                                     */

static firn_turn_failure failure_of(int status, int code) {
  switch (status) {
  case FIRN_ERR_STUN_TIMEOUT: return FIRN_TURN_FAIL_TIMEOUT;
  case FIRN_ERR_STUN_AUTH_FAILED: return FIRN_TURN_FAIL_AUTH;
  case FIRN_ERR_STUN_ERROR_RESPONSE:
    if (code == 437) return FIRN_TURN_FAIL_MISMATCH;
    if (code == 401) return FIRN_TURN_FAIL_AUTH;
    return FIRN_TURN_FAIL_REFUSED;
  case FIRN_ERR_STUN_UNKNOWN_ATTRS: return FIRN_TURN_FAIL_REFUSED;
  case FIRN_ERR_STUN_NO_INTEGRITY:
  case FIRN_ERR_STUN_BAD_INTEGRITY: return FIRN_TURN_FAIL_INTEGRITY;
  default: return FIRN_TURN_FAIL_INTERNAL;
  }
}

static int is_redirect_target_ok(const firn_turn *t, const firn_addr *alt) {
  if (alt->family != t->server.family || alt->port == 0) return 0;
  if (firn_addr_equal(alt, &t->server) || firn_addr_equal(alt, &t->configured_server)) return 0;
  if (firn_addr_is_any(alt) || firn_addr_is_link_local(alt) || firn_addr_is_v4mapped(alt)) return 0;
  if (firn_addr_is_loopback(alt) && !firn_addr_is_loopback(&t->configured_server)) return 0;
  if (alt->family == FIRN_AF_INET) {
    if (alt->addr[0] == 0 || alt->addr[0] >= 224) return 0; /* 0/8, multicast, reserved, broadcast */
  } else if (alt->addr[0] == 0xff) {
    return 0; /* multicast */
  }
  return 1;
}

/* Restart allocating at `alt` with fresh credentials. */
static void follow_redirect(firn_turn *t, const firn_addr *alt) {
  char a[FIRN_ADDR_STRLEN];
  firn_addr_format(alt, 1, a, sizeof a);
  firn_log(&t->log, FIRN_LOG_INFO, MOD, "following ALTERNATE-SERVER to %s", a);
  t->redirected = 1;
  t->server = *alt;
  firn_stun_auth *fresh = NULL;
  int rc = firn_stun_auth_new(&fresh, &t->alloc, t->username, t->password);
  if (rc < 0) {
    fail(t, FIRN_TURN_FAIL_INTERNAL, 0, rc);
    return;
  }
  firn_stun_auth_free(t->auth);
  t->auth = fresh;
  if (!is_stream(t)) {
    set_state(t, FIRN_TURN_ALLOCATING);
    if (!dead(t) && (rc = send_allocate(t)) < 0) fail(t, FIRN_TURN_FAIL_INTERNAL, 0, rc);
    return;
  }
  close_connection(t);
  t->connect_deadline = sat_add(t->now, t->connect_timeout);
  set_state(t, FIRN_TURN_CONNECTING);
  if (dead(t)) return;
  t->conn_open = 1;
  if (t->cb.on_connect) t->cb.on_connect(t->user, t, &t->server);
}

static void schedule_refresh(firn_turn *t, uint32_t lifetime) {
  if (lifetime > MAX_LIFETIME_S) lifetime = MAX_LIFETIME_S;
  t->lifetime = lifetime;
  uint64_t life = (uint64_t)lifetime * FIRN_NS_PER_S;
  uint64_t in = lifetime >= 240 ? life - 60 * FIRN_NS_PER_S : life / 4 * 3;
  t->expires_at = sat_add(t->now, life);
  t->refresh_at = sat_add(t->now, in);
}

static void alloc_done(firn_turn *t, int status, int code, const firn_stun_msg *msg, int authed) {
  if (t->state != FIRN_TURN_ALLOCATING) return;
  if (status == FIRN_OK) {
    if (!authed) {
      fail(t, FIRN_TURN_FAIL_INTEGRITY, 0, FIRN_ERR_STUN_NO_INTEGRITY);
      return;
    }
    /* relayed[0] is the requested family; relayed[1] the additional one (dual) */
    firn_addr rel[2];
    memset(rel, 0, sizeof rel);
    unsigned n = 0;
    for (unsigned i = 0; i < 2; i++) {
      firn_addr a;
      if (firn_stun_msg_get_xor_addr(msg, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, i, &a) != FIRN_OK) break;
      if (!valid_peer(&a) || a.port == 0) continue;
      if (a.family == t->family && rel[0].family == FIRN_AF_NONE) rel[0] = a;
      else if (t->dual && a.family == FIRN_AF_INET6 && rel[1].family == FIRN_AF_NONE) rel[1] = a;
    }
    if (rel[0].family != FIRN_AF_NONE) n = rel[1].family != FIRN_AF_NONE ? 2 : 1;
    if (n == 0) {
      fail(t, FIRN_TURN_FAIL_PROTOCOL, 0, FIRN_ERR_STUN_BAD_ATTR);
      return;
    }
    memcpy(t->relayed, rel, sizeof rel);
    t->nrelayed = n;
    memset(&t->mapped, 0, sizeof t->mapped);
    firn_stun_msg_get_xor_addr(msg, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, 0, &t->mapped);
    firn_family ef;
    int ecode = 0;
    if (firn_stun_msg_get_address_error(msg, &ef, &ecode, NULL, NULL) == FIRN_OK) t->additional_error = ecode;
    uint32_t life = DEFAULT_LIFETIME_S;
    firn_stun_msg_get_u32(msg, FIRN_STUN_ATTR_LIFETIME, &life);
    if (life == 0) life = DEFAULT_LIFETIME_S;
    schedule_refresh(t, life);
    char a[FIRN_ADDR_STRLEN];
    firn_addr_format(&t->relayed[0], 1, a, sizeof a);
    firn_log(&t->log, FIRN_LOG_INFO, MOD, "allocated %s (%u relayed), lifetime %u s", a, n, (unsigned)life);
    set_state(t, FIRN_TURN_READY);
    if (!dead(t) && t->state == FIRN_TURN_READY) kick_pending(t);
    return;
  }
  if (status == FIRN_ERR_STUN_ERROR_RESPONSE && code == 300) {
    firn_addr alt;
    if (!t->redirected && !authed && msg &&
        firn_stun_msg_get_addr(msg, FIRN_STUN_ATTR_ALTERNATE_SERVER, &alt) == FIRN_OK &&
        is_redirect_target_ok(t, &alt)) {
      follow_redirect(t, &alt);
      return;
    }
    fail(t, FIRN_TURN_FAIL_REDIRECT, 300, status);
    return;
  }
  fail(t, failure_of(status, code), code, status);
}

static void refresh_done(firn_turn *t, int status, int code, const firn_stun_msg *msg) {
  if (t->state == FIRN_TURN_CLOSING) {
    firn_log(&t->log, FIRN_LOG_DEBUG, MOD, "deallocation: %s (code %d)", firn_strerror(status), code);
    finish_close(t);
    return;
  }
  if (t->state != FIRN_TURN_READY) return;
  if (status == FIRN_OK) {
    uint32_t life = DEFAULT_LIFETIME_S;
    firn_stun_msg_get_u32(msg, FIRN_STUN_ATTR_LIFETIME, &life);
    if (life == 0) {
      fail(t, FIRN_TURN_FAIL_REFUSED, 0, FIRN_ERR_TURN_ALLOCATION);
      return;
    }
    schedule_refresh(t, life);
    t->stats.refreshes++;
    firn_log(&t->log, FIRN_LOG_DEBUG, MOD, "refreshed, lifetime %u s", (unsigned)life);
    return;
  }
  fail(t, failure_of(status, code), code, status);
}

static void perm_done(firn_turn *t, unsigned i, int status, int code) {
  perm *p = &t->perms[i];
  if (p->state == E_FREE) return;
  if (status == FIRN_OK) {
    if (p->ever_ok) t->stats.permission_refreshes++;
    p->ever_ok = 1;
    p->state = E_OK;
    p->refresh_at = sat_add(t->now, t->perm_refresh);
    return;
  }
  char a[FIRN_ADDR_STRLEN];
  firn_addr_format(&p->ip, 0, a, sizeof a);
  firn_log(&t->log, FIRN_LOG_INFO, MOD, "permission for %s failed: %s (code %d)", a, firn_strerror(status), code);
  if (code == 437) {
    fail(t, FIRN_TURN_FAIL_MISMATCH, code, status);
    return;
  }
  p->state = E_FAILED;
  p->refresh_at = FIRN_TIME_NEVER;
}

static void chan_done(firn_turn *t, unsigned i, int status, int code) {
  chan *c = &t->chans[i];
  if (c->state == E_FREE) return;
  if (status == FIRN_OK) {
    if (c->ever_ok) t->stats.channel_refreshes++;
    c->ever_ok = 1;
    c->state = E_OK;
    c->refresh_at = sat_add(t->now, t->chan_refresh);
    /* a ChannelBind installs (refreshes) the permission as well (RFC 8656 11.2) */
    perm *p = find_perm(t, &c->peer);
    if (p && p->state == E_PENDING && !p->r.active) {
      p->ever_ok = 1;
      p->state = E_OK;
      p->refresh_at = sat_add(t->now, t->perm_refresh);
    }
    return;
  }
  firn_log(&t->log, FIRN_LOG_INFO, MOD, "channel 0x%04x failed: %s (code %d)", (unsigned)c->number,
           firn_strerror(status), code);
  if (code == 437) {
    fail(t, FIRN_TURN_FAIL_MISMATCH, code, status);
    return;
  }
  c->state = E_FAILED;
  c->refresh_at = FIRN_TIME_NEVER;
}

static void dispatch(firn_turn *t, int kind, unsigned idx, int status, int code, const firn_stun_msg *msg,
                     int authed) {
  switch (kind) {
  case K_ALLOC: alloc_done(t, status, code, msg, authed); break;
  case K_REFRESH: refresh_done(t, status, code, msg); break;
  case K_PERM: perm_done(t, idx, status, code); break;
  case K_CHAN: chan_done(t, idx, status, code); break;
  default: break;
  }
}

static void on_result(void *user, const firn_stun_result *r) {
  firn_turn *t = user;
  int kind;
  unsigned idx;
  req *slot = find_req(t, &r->id, NULL, &kind, &idx);
  if (!slot) return; /* cancelled by us */
  slot->active = 0;
  /* A success only counts if the attempt it answers carried MESSAGE-INTEGRITY: the
   * transaction layer verified the answer then. */
  int authed = r->response && slot->have_tid && slot->authed &&
               memcmp(slot->tid, r->response->tid, FIRN_STUN_TID_SIZE) == 0;
  int status = r->status;
  if (status == FIRN_OK && !authed && kind != K_ALLOC) status = FIRN_ERR_STUN_NO_INTEGRITY;
  dispatch(t, kind, idx, status, r->error_code, r->response, authed);
}

/* ------------------------------------------------------------------------------------------ */
/* Input                                                                                       */

/* Parse relayed data. `msg` gets the parsed STUN message when the result is 0. */
static int unwrap(const firn_turn *t, const uint8_t *data, size_t len, firn_addr *peer,
                  const uint8_t **payload, size_t *payload_len, firn_stun_msg *msg) {
  if (len < 4) return FIRN_ERR_STUN_TRUNCATED;
  uint8_t top = data[0] >> 6;
  if (top == 1) {
    uint16_t number = firn_get_u16(data);
    size_t l = firn_get_u16(data + 2);
    if (number > CHANNEL_MAX) return FIRN_ERR_STUN_NOT_STUN; /* reserved range */
    if (l > len - 4) return FIRN_ERR_STUN_TRUNCATED;
    if (len - 4 - l > 3) return FIRN_ERR_STUN_BAD_LENGTH; /* only padding may follow */
    const chan *c = find_chan_number(t, number);
    if (!c || !c->ever_ok || c->state != E_OK) return FIRN_ERR_TURN_PERMISSION;
    *peer = c->peer;
    *payload = data + 4;
    *payload_len = l;
    return 1;
  }
  if (top != 0) return FIRN_ERR_STUN_NOT_STUN;
  int rc = firn_stun_msg_parse(msg, data, len);
  if (rc < 0) return rc;
  if (msg->method != FIRN_STUN_DATA || msg->cls != FIRN_STUN_INDICATION) return 0;
  if (msg->n_unknown) return FIRN_ERR_STUN_UNKNOWN_ATTRS;
  firn_addr from;
  const uint8_t *d;
  size_t dl;
  if (firn_stun_msg_get_xor_addr(msg, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, 0, &from) != FIRN_OK)
    return FIRN_ERR_STUN_BAD_ATTR;
  if (firn_stun_msg_find(msg, FIRN_STUN_ATTR_DATA, &d, &dl) != FIRN_OK) return FIRN_ERR_STUN_BAD_ATTR;
  const perm *p = find_perm(t, &from);
  if (!p || !p->ever_ok || p->state != E_OK) return FIRN_ERR_TURN_PERMISSION;
  *peer = from;
  *payload = d;
  *payload_len = dl;
  return 1;
}

int firn_turn_unwrap(const firn_turn *t, const uint8_t *data, size_t len, firn_addr *peer,
                     const uint8_t **payload, size_t *payload_len) {
  if (!t || !data || !peer || !payload || !payload_len) return FIRN_ERR_INVALID_ARG;
  firn_stun_msg msg;
  return unwrap(t, data, len, peer, payload, payload_len, &msg);
}

/* Error responses the server did not sign, for the request in flight (see turn.h). */
static int unsigned_error(firn_turn *t, const firn_stun_msg *msg) {
  int code;
  if (msg->cls != FIRN_STUN_ERROR || firn_stun_msg_get_error(msg, &code, NULL, NULL) < 0) return FIRN_ERR_STUN_MISMATCH;
  if (code == 300 || code == 401 || code == 438) return FIRN_ERR_STUN_MISMATCH;
  int kind;
  unsigned idx;
  req *slot = find_req(t, NULL, msg->tid, &kind, &idx);
  if (!slot || !slot->authed) return FIRN_ERR_STUN_MISMATCH;
  static const uint16_t methods[] = {0, FIRN_STUN_ALLOCATE, FIRN_STUN_REFRESH, FIRN_STUN_CREATE_PERMISSION,
                                     FIRN_STUN_CHANNEL_BIND};
  if (msg->method != methods[kind]) return FIRN_ERR_STUN_MISMATCH;
  firn_log(&t->log, FIRN_LOG_DEBUG, MOD, "unsigned error %d accepted for the request in flight", code);
  cancel_req(t, slot);
  dispatch(t, kind, idx, FIRN_ERR_STUN_ERROR_RESPONSE, code, msg, 0);
  return FIRN_OK;
}

static int handle_frame(firn_turn *t, const uint8_t *data, size_t len) {
  firn_addr peer;
  const uint8_t *payload;
  size_t plen;
  firn_stun_msg msg;
  int rc = unwrap(t, data, len, &peer, &payload, &plen, &msg);
  if (rc < 0) {
    t->stats.dropped++;
    firn_log(&t->log, FIRN_LOG_DEBUG, MOD, "dropped %zu bytes: %s", len, firn_strerror(rc));
    return rc;
  }
  if (rc == 1) {
    if (t->state != FIRN_TURN_READY) {
      t->stats.dropped++;
      return FIRN_ERR_STATE;
    }
    t->stats.data_in++;
    if ((data[0] >> 6) == 1) t->stats.channel_data_in++;
    if (t->cb.on_data) t->cb.on_data(t->user, t, &peer, payload, plen, t->now);
    return FIRN_OK;
  }
  if (msg.cls != FIRN_STUN_SUCCESS && msg.cls != FIRN_STUN_ERROR) {
    t->stats.dropped++;
    return FIRN_ERR_STUN_BAD_CLASS;
  }
  int code = 0;
  if (msg.cls == FIRN_STUN_ERROR && firn_stun_msg_get_error(&msg, &code, NULL, NULL) < 0) code = 0;
  rc = firn_stun_client_handle_msg(t->client, &msg, &t->server, t->now);
  if (rc == FIRN_OK && code == 438) t->stats.stale_nonces++;
  if (rc == FIRN_ERR_STUN_MISMATCH) rc = unsigned_error(t, &msg);
  if (rc < 0) t->stats.dropped++;
  return rc;
}

int firn_turn_handle_datagram(firn_turn *t, const firn_addr *from, const uint8_t *data, size_t len,
                              uint64_t now) {
  if (!t || !from || (!data && len)) return FIRN_ERR_INVALID_ARG;
  if (is_stream(t)) return FIRN_ERR_STATE;
  if (!firn_addr_equal(from, &t->server)) {
    t->stats.dropped++;
    return FIRN_ERR_NOT_FOUND;
  }
  enter(t, now);
  int rc = handle_frame(t, data, len);
  leave(t);
  return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Streams                                                                                     */

firn_ssize firn_turn_frame_length(const uint8_t *p, size_t avail, size_t max) {
  if (avail < 4) return 0;
  size_t n;
  switch (p[0] >> 6) {
  case 0: n = FIRN_STUN_HEADER_SIZE + (size_t)firn_get_u16(p + 2); break;
  case 1: n = 4 + (((size_t)firn_get_u16(p + 2) + 3) & ~(size_t)3); break;
  default: return FIRN_ERR_STUN_NOT_STUN;
  }
  if (n > max) return FIRN_ERR_LIMIT;
  return n <= avail ? (firn_ssize)n : 0;
}

static void begin_allocating(firn_turn *t) {
  set_state(t, FIRN_TURN_ALLOCATING);
  if (dead(t) || t->state != FIRN_TURN_ALLOCATING) return;
  int rc = send_allocate(t);
  if (rc < 0) fail(t, FIRN_TURN_FAIL_INTERNAL, 0, rc);
}

/* Plaintext stream bytes: reassemble and handle whole frames. */
static int feed_frames(firn_turn *t, const uint8_t *data, size_t len) {
  unsigned gen = t->conn_gen;
  while (len) {
    size_t take = t->max_frame - t->flen;
    if (take > len) take = len;
    memcpy(t->fbuf + t->flen, data, take);
    t->flen += take;
    data += take;
    len -= take;
    for (;;) {
      firn_ssize n = firn_turn_frame_length(t->fbuf, t->flen, t->max_frame);
      if (n < 0) {
        t->stats.dropped++;
        fail(t, FIRN_TURN_FAIL_PROTOCOL, 0, (int)n);
        return (int)n;
      }
      if (n == 0) break;
      handle_frame(t, t->fbuf, (size_t)n);
      /* a callback or the frame itself may have closed, failed or replaced the connection */
      if (t->free_pending || !t->conn_open || t->conn_gen != gen) return FIRN_OK;
      memmove(t->fbuf, t->fbuf + n, t->flen - (size_t)n);
      t->flen -= (size_t)n;
    }
  }
  return FIRN_OK;
}

static int tls_progress(firn_turn *t) {
  if (!t->connected) {
    int hs = firn_turn_tls_handshake(t->tls);
    if (hs < 0) {
      fail(t, FIRN_TURN_FAIL_TLS, 0, FIRN_ERR_TURN_TLS);
      return FIRN_ERR_TURN_TLS;
    }
    if (hs == 0) return FIRN_OK;
    t->connected = 1;
    t->connect_deadline = FIRN_TIME_NEVER;
    begin_allocating(t);
    if (dead(t)) return FIRN_OK;
  }
  uint8_t buf[4096];
  for (;;) {
    firn_ssize n = firn_turn_tls_read(t->tls, buf, sizeof buf);
    if (n == FIRN_ERR_WOULDBLOCK) return FIRN_OK;
    if (n < 0) {
      if (t->state == FIRN_TURN_CLOSING) finish_close(t);
      else fail(t, n == FIRN_ERR_CLOSED ? FIRN_TURN_FAIL_CONNECT : FIRN_TURN_FAIL_TLS, 0, (int)n);
      return (int)n;
    }
    unsigned gen = t->conn_gen;
    int rc = feed_frames(t, buf, (size_t)n);
    if (rc < 0) return rc;
    if (t->free_pending || !t->conn_open || t->conn_gen != gen) return FIRN_OK;
  }
}

int firn_turn_connected(firn_turn *t, int ok, uint64_t now) {
  if (!t) return FIRN_ERR_INVALID_ARG;
  if (!is_stream(t) || t->state != FIRN_TURN_CONNECTING || !t->conn_open || t->connected) return FIRN_ERR_STATE;
  enter(t, now);
  int rc = FIRN_OK;
  if (!ok) {
    t->conn_open = 0; /* nothing to close */
    fail(t, FIRN_TURN_FAIL_CONNECT, 0, FIRN_ERR_IO);
  } else if (t->transport == FIRN_TRANSPORT_TCP) {
    t->connected = 1;
    t->connect_deadline = FIRN_TIME_NEVER;
    begin_allocating(t);
  } else {
    rc = firn_turn_tls_start(t->tls);
    if (rc < 0) fail(t, FIRN_TURN_FAIL_TLS, 0, rc);
  }
  leave(t);
  return rc;
}

int firn_turn_handle_stream(firn_turn *t, const uint8_t *data, size_t len, uint64_t now) {
  if (!t || (!data && len)) return FIRN_ERR_INVALID_ARG;
  if (!is_stream(t) || !t->conn_open) return FIRN_ERR_STATE;
  enter(t, now);
  int rc;
  if (t->transport == FIRN_TRANSPORT_TLS) {
    rc = firn_turn_tls_feed(t->tls, data, len);
    if (rc == FIRN_OK) rc = tls_progress(t);
    else fail(t, FIRN_TURN_FAIL_INTERNAL, 0, rc);
  } else if (!t->connected) {
    rc = FIRN_ERR_STATE;
  } else {
    rc = feed_frames(t, data, len);
  }
  leave(t);
  return rc;
}

int firn_turn_connection_closed(firn_turn *t, uint64_t now) {
  if (!t) return FIRN_ERR_INVALID_ARG;
  if (!is_stream(t) || !t->conn_open) return FIRN_ERR_STATE;
  enter(t, now);
  t->conn_open = 0;
  t->connected = 0;
  t->flen = 0;
  t->conn_gen++;
  if (t->state == FIRN_TURN_CLOSING) finish_close(t);
  else fail(t, FIRN_TURN_FAIL_CONNECT, 0, FIRN_ERR_CLOSED);
  leave(t);
  return FIRN_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Start, close, timers                                                                        */

int firn_turn_start(firn_turn *t, uint64_t now) {
  if (!t) return FIRN_ERR_INVALID_ARG;
  if (t->state != FIRN_TURN_NEW) return FIRN_ERR_STATE;
  enter(t, now);
  int rc = FIRN_OK;
  if (!is_stream(t)) {
    t->state = FIRN_TURN_ALLOCATING; /* no callback for the first step */
    rc = send_allocate(t);
    if (rc < 0) t->state = FIRN_TURN_NEW;
  } else {
    t->state = FIRN_TURN_CONNECTING;
    t->connect_deadline = sat_add(now, t->connect_timeout);
    t->conn_open = 1;
    if (t->cb.on_connect) t->cb.on_connect(t->user, t, &t->server);
  }
  leave(t);
  return rc;
}

int firn_turn_close(firn_turn *t, uint64_t now) {
  if (!t) return FIRN_ERR_INVALID_ARG;
  enter(t, now);
  if (t->state == FIRN_TURN_READY) {
    cancel_all(t);
    t->refresh_at = FIRN_TIME_NEVER;
    t->close_deadline = sat_add(now, t->close_timeout);
    set_state(t, FIRN_TURN_CLOSING);
    if (!dead(t) && t->state == FIRN_TURN_CLOSING && send_refresh(t, 0, 1) < 0) finish_close(t);
  } else if (t->state != FIRN_TURN_CLOSING && t->state != FIRN_TURN_CLOSED) {
    finish_close(t);
  }
  leave(t);
  return FIRN_OK;
}

uint64_t firn_turn_expiry(const firn_turn *t) {
  if (!t || t->free_pending) return FIRN_TIME_NEVER;
  uint64_t e = firn_stun_client_expiry(t->client);
  e = min_u64(e, t->connect_deadline);
  e = min_u64(e, t->close_deadline);
  if (t->state != FIRN_TURN_READY) return e;
  if (!t->refresh_r.active) e = min_u64(e, t->refresh_at);
  for (unsigned i = 0; i < t->nperms_max; i++)
    if (t->perms[i].state == E_OK && !t->perms[i].r.active) e = min_u64(e, t->perms[i].refresh_at);
  for (unsigned i = 0; i < t->nchans_max; i++)
    if (t->chans[i].state == E_OK && !t->chans[i].r.active) e = min_u64(e, t->chans[i].refresh_at);
  return e;
}

static void run_timers(firn_turn *t, uint64_t now) {
  firn_stun_client_handle_expiry(t->client, now);
  if (dead(t)) return;
  if (t->state == FIRN_TURN_CONNECTING && now >= t->connect_deadline) {
    fail(t, t->connected ? FIRN_TURN_FAIL_TLS : FIRN_TURN_FAIL_TIMEOUT, 0, FIRN_ERR_STUN_TIMEOUT);
    return;
  }
  if (t->state == FIRN_TURN_CLOSING && now >= t->close_deadline) {
    finish_close(t);
    return;
  }
  if (t->state != FIRN_TURN_READY) return;
  int rc;
  if (!t->refresh_r.active && now >= t->refresh_at) {
    t->refresh_at = FIRN_TIME_NEVER;
    if ((rc = send_refresh(t, t->lifetime_req, t->lifetime_req != 0)) < 0) {
      fail(t, FIRN_TURN_FAIL_INTERNAL, 0, rc);
      return;
    }
  }
  for (unsigned i = 0; i < t->nperms_max; i++) {
    perm *p = &t->perms[i];
    if (p->state == E_OK && !p->r.active && now >= p->refresh_at && send_permission(t, i) < 0)
      p->refresh_at = sat_add(now, FIRN_NS_PER_S); /* table full: try again shortly */
  }
  for (unsigned i = 0; i < t->nchans_max; i++) {
    chan *c = &t->chans[i];
    if (c->state == E_OK && !c->r.active && now >= c->refresh_at && send_channel_bind(t, i) < 0)
      c->refresh_at = sat_add(now, FIRN_NS_PER_S);
  }
}

void firn_turn_handle_expiry(firn_turn *t, uint64_t now) {
  if (!t) return;
  enter(t, now);
  run_timers(t, now);
  leave(t);
}

/* ------------------------------------------------------------------------------------------ */
/* Output                                                                                      */

/* Note the STUN transaction ID and integrity of a request as it leaves. */
static void note_sent(firn_turn *t, void *ctx, const uint8_t *msg, size_t len) {
  req *r = req_of_ctx(t, ctx);
  firn_stun_msg m;
  if (!r || firn_stun_msg_parse(&m, msg, len) < 0) return;
  memcpy(r->tid, m.tid, FIRN_STUN_TID_SIZE);
  r->have_tid = 1;
  r->authed = m.mi_off != 0 || m.mi256_off != 0;
}

firn_ssize firn_turn_poll_transmit(firn_turn *t, uint64_t now, uint8_t *buf, size_t cap, firn_addr *dest) {
  if (!t || !buf) return FIRN_ERR_INVALID_ARG;
  if (t->free_pending) return FIRN_ERR_WOULDBLOCK;
  if (dest) *dest = t->server;
  if (t->transport == FIRN_TRANSPORT_TLS) {
    if (!t->conn_open) return FIRN_ERR_WOULDBLOCK;
    size_t have = firn_turn_tls_pending(t->tls);
    if (have == 0 && t->connected) {
      uint8_t msg[CTRL_MAX];
      void *ctx = NULL;
      firn_ssize n = firn_stun_client_poll_transmit(t->client, now, msg, sizeof msg, NULL, &ctx);
      if (n < 0) return n;
      note_sent(t, ctx, msg, (size_t)n);
      int rc = firn_turn_tls_write(t->tls, msg, (size_t)n);
      if (rc < 0) return rc;
    }
    size_t got = firn_turn_tls_drain(t->tls, buf, cap);
    return got ? (firn_ssize)got : FIRN_ERR_WOULDBLOCK;
  }
  if (is_stream(t) && !t->connected) return FIRN_ERR_WOULDBLOCK;
  void *ctx = NULL;
  firn_ssize n = firn_stun_client_poll_transmit(t->client, now, buf, cap, NULL, &ctx);
  if (n > 0) note_sent(t, ctx, buf, (size_t)n);
  return n;
}

firn_ssize firn_turn_wrap(firn_turn *t, const firn_addr *peer, const uint8_t *data, size_t len, uint8_t *out,
                          size_t cap) {
  if (!t || !peer || !out || (!data && len)) return FIRN_ERR_INVALID_ARG;
  if (t->state != FIRN_TURN_READY || t->free_pending) return FIRN_ERR_STATE;
  if (is_stream(t) && !t->connected) return FIRN_ERR_STATE;
  if (len > 0xFFFF - 64) return FIRN_ERR_INVALID_ARG;
  const perm *p = find_perm(t, peer);
  if (!p || p->state == E_FAILED) return FIRN_ERR_TURN_PERMISSION;
  const chan *c = find_chan_peer(t, peer);
  int tls = t->transport == FIRN_TRANSPORT_TLS;
  size_t pending = tls ? firn_turn_tls_pending(t->tls) : 0;
  uint8_t local[CTRL_MAX + 128];
  /* Over TLS the frame is built in a scratch buffer, encrypted, and drained after whatever
   * ciphertext was already queued; otherwise it is built in place. */
  uint8_t *frame = out;
  size_t fcap = cap;
  uint8_t *heap = NULL;
  if (tls) {
    if (cap < pending + len + 64 + TLS_OVERHEAD) return FIRN_ERR_NOBUF;
    fcap = len + 64;
    if (fcap <= sizeof local) {
      frame = local;
    } else {
      heap = firn_malloc(&t->alloc, fcap);
      if (!heap) return FIRN_ERR_NOMEM;
      frame = heap;
    }
  }
  firn_ssize n;
  if (c && c->ever_ok && c->state == E_OK) {
    size_t total = 4 + len, padded = is_stream(t) ? (total + 3) & ~(size_t)3 : total;
    if (fcap < padded) {
      n = FIRN_ERR_NOBUF;
    } else {
      firn_put_u16(frame, c->number);
      firn_put_u16(frame + 2, (uint16_t)len);
      if (len) memcpy(frame + 4, data, len);
      if (padded > total) memset(frame + total, 0, padded - total);
      n = (firn_ssize)padded;
      t->stats.channel_data_out++;
    }
  } else {
    uint8_t tid[FIRN_STUN_TID_SIZE];
    if (firn_rng_pool_bytes(&t->rng, tid, sizeof tid) < 0) {
      n = FIRN_ERR_RANDOM;
    } else {
      firn_stun_builder b;
      firn_stun_builder_init(&b, frame, fcap, FIRN_STUN_SEND, FIRN_STUN_INDICATION, tid);
      firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, peer);
      firn_stun_add_raw(&b, FIRN_STUN_ATTR_DATA, data, len);
      n = firn_stun_builder_finish(&b);
    }
  }
  if (n > 0 && tls) {
    int rc = firn_turn_tls_write(t->tls, frame, (size_t)n);
    if (rc < 0) {
      n = rc;
    } else {
      size_t got = firn_turn_tls_drain(t->tls, out, cap);
      n = (firn_ssize)got;
      if (firn_turn_tls_pending(t->tls)) n = FIRN_ERR_TURN_TLS; /* cannot happen: cap checked */
    }
  }
  firn_free(&t->alloc, heap);
  if (n > 0) t->stats.data_out++;
  return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Introspection                                                                               */

int firn_turn_get_info(const firn_turn *t, firn_turn_info *info) {
  if (!t || !info) return FIRN_ERR_INVALID_ARG;
  memset(info, 0, sizeof *info);
  info->state = t->state;
  info->failure = t->failure;
  info->error_code = t->error_code;
  info->status = t->status;
  info->transport = t->transport;
  info->server = t->server;
  info->local = t->local;
  info->mapped = t->mapped;
  memcpy(info->relayed, t->relayed, sizeof info->relayed);
  info->nrelayed = t->nrelayed;
  info->additional_error = t->additional_error;
  info->lifetime_s = t->lifetime;
  info->expires_at = t->expires_at;
  info->refresh_at = t->refresh_at;
  return FIRN_OK;
}

int firn_turn_get_stats(const firn_turn *t, firn_turn_stats *stats) {
  if (!t || !stats) return FIRN_ERR_INVALID_ARG;
  *stats = t->stats;
  return FIRN_OK;
}
