/* STUN client transactions (RFC 8489 6.2, 6.3, 9.1, 9.2), sans-I/O.
 *
 * A firn_stun_client is a small table of requests in flight. It never reads a clock and never
 * touches a socket: the application passes `now` into every entry point, pulls datagrams out
 * of poll_transmit(), offers received datagrams to handle_response() and asks expiry() when it
 * next needs to call handle_expiry()/poll_transmit().
 *
 * Schedule (RFC 8489 6.2.1): over UDP a request is sent Rc times; the gap after the k-th
 * transmission is RTO * 2^(k-1), and after the last one the client waits Rm * RTO before it
 * gives up (defaults 500 ms, 7, 16: sends at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s, timeout at
 * 39.5 s). Gaps are measured from the time the datagram was actually polled, so a late poll
 * never causes a burst. Over a reliable transport the request is sent once and times out
 * after Ti.
 *
 * Matching: a response must carry the transaction ID of a request in flight (96 random bits
 * from the injected source), the same method, come from the address the request was sent to,
 * and, when the request carried MESSAGE-INTEGRITY(-SHA256), verify with the key the request
 * was signed with (short-term: the same kind of integrity, RFC 8489 9.1.4; long-term: either
 * kind, MI-SHA256 preferred, 9.2.5). Anything else is dropped with FIRN_ERR_STUN_MISMATCH and the
 * transaction keeps waiting. The one exception, required by RFC 8489 9.2.5, is 401 and 438
 * error responses to long-term requests: the server cannot sign them when it rejects our
 * credentials, so they are accepted unsigned, but only to drive the challenge flow; they never
 * complete a transaction as a success.
 *
 * Long-term flow: without a cached challenge the first request carries no credentials; a 401
 * with REALM and NONCE makes the client retry with USERNAME, REALM, NONCE (and PASSWORD-
 * ALGORITHM plus the echoed PASSWORD-ALGORITHMS when the server offered them: the first
 * algorithm of the server's list that we support) and MESSAGE-INTEGRITY or, once the server
 * sent PASSWORD-ALGORITHMS, MESSAGE-INTEGRITY-SHA256 only (RFC 8489 9.2.5); USERHASH
 * replaces USERNAME when the nonce cookie asks for username anonymity. A 438 retries
 * with the new nonce. A 401 after credentials were sent stops with FIRN_ERR_STUN_AUTH_FAILED
 * when it repeats the nonce we used or when this transaction was already challenged once.
 * Retries use a new transaction ID under the same public id.
 *
 * Callbacks: a transaction is unlinked from the table before its callback runs, so a callback
 * may start new transactions, cancel others, or free the client (the free is deferred until
 * the outermost callback returns). Every loop that delivers results re-scans the table after
 * each callback instead of holding an iterator across it.
 *
 * Lifetimes: a firn_stun_auth is reference counted by the transactions that use it, so the
 * application may free it while requests are in flight. The long-term key an attempt was
 * signed with is reference counted too (the attempt keeps it to verify the answer), so a
 * challenge to one transaction that changes realm or algorithm never changes the key another
 * verifies with. A short-term key (req->short_term) is not copied and must outlive the
 * transactions that use it.
 */
#include "firn/stun.h"

#include "common/alloc.h"
#include "common/bytes.h"
#include "common/log.h"
#include "common/random.h"
#include "stun/stun_internal.h"

#include <string.h>

#define MOD "stun"

/* How many 401/438 retries one transaction may make, in total. Bounds a server (or an
 * attacker on the path) that keeps answering with fresh challenges. */
#define AUTH_MAX_RETRIES 4
/* Largest PASSWORD-ALGORITHMS value we store and echo (4 bytes per parameterless entry). */
#define ALGS_RAW_MAX 128
/* RFC 8489 9.2: the nonce cookie that marks a server's security feature bits. */
#define NONCE_COOKIE "obMatJos2"
#define NONCE_COOKIE_LEN 9

enum { MI_NONE = 0, MI_SHA1 = 1, MI_SHA256 = 2 };

struct firn_stun_auth {
  firn_allocator alloc;
  unsigned refs;               /* the application's (until auth_free) + one per transaction */
  char *username;
  size_t username_len;
  char *password;
  size_t password_len;
  int have_challenge;          /* realm and nonce learnt from a 401/438 */
  int userhash;                /* the nonce asks for username anonymity: USERHASH */
  char realm[FIRN_STUN_BUILD_MAX_REALM]; /* what we can echo (longer: refused) */
  size_t realm_len;
  char nonce[FIRN_STUN_BUILD_MAX_NONCE];
  size_t nonce_len;
  uint8_t algs_raw[ALGS_RAW_MAX]; /* PASSWORD-ALGORITHMS as offered, echoed verbatim */
  size_t algs_raw_len;         /* 0: none offered (RFC 5389 behaviour, MD5 key) */
  firn_stun_password_alg alg;  /* chosen algorithm, NONE when not negotiated */
  firn_stun_key *key;          /* cached key for (realm, alg); NULL until needed. Each
                                  attempt signed with it holds its own reference, so a
                                  challenge that changes realm or algorithm does not change
                                  the key other transactions verify their answers with. */
};

typedef struct txn {
  struct txn *next;
  uint64_t id;
  uint8_t tid[FIRN_STUN_TID_SIZE];
  uint16_t method;
  int reliable;
  int fingerprint;
  int mi_type;                 /* integrity sent in the current attempt (MI_*) */
  int challenged;              /* a 401 already made this transaction send credentials */
  unsigned auth_retries;
  unsigned bad_integrity;      /* answers to the current attempt dropped for integrity (UDP) */
  firn_addr dest;
  void *ctx;
  uint64_t rto;                /* initial RTO for this request */
  const firn_stun_key *st_key; /* short-term key, owned by the application */
  firn_stun_auth *auth;        /* long-term credentials, one reference held */
  firn_stun_key *lt_key;       /* the long-term key the current attempt was signed with
                                  (a reference), NULL when it carried no credentials */
  uint8_t *msg;                /* the encoded request of the current attempt */
  size_t msg_len;
  unsigned sent;               /* transmissions of the current attempt */
  unsigned total_sent;         /* transmissions over all attempts */
  uint64_t next_send;          /* FIRN_TIME_NEVER once all transmissions are done */
  uint64_t deadline;           /* timeout, armed after the last transmission */
  uint64_t last_sent;
  size_t attrs_len;
  uint8_t attrs[];             /* the application's attributes, for rebuilding on retry */
} txn;

struct firn_stun_client {
  firn_allocator alloc;
  firn_rng_pool rng;           /* transaction IDs, 256 random bytes per source call */
  firn_logger log;
  uint64_t rto;
  uint64_t ti;
  unsigned rc;
  unsigned rm;
  size_t max;
  char *software;
  size_t software_len;
  firn_stun_result_fn on_result;
  void *user;
  txn *head;                   /* in start order, so equal deadlines fire first-started first */
  size_t count;
  uint64_t next_id;
  unsigned depth;              /* callbacks currently running */
  int free_pending;            /* firn_stun_client_free() was called from a callback */
};

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                               */

static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

static uint64_t sat_mul(uint64_t a, uint64_t b) {
  if (a && b > UINT64_MAX / a) return UINT64_MAX;
  return a * b;
}

/* rto * 2^shift without overflow. */
static uint64_t sat_shl(uint64_t rto, unsigned shift) {
  while (shift--) rto = sat_add(rto, rto);
  return rto;
}

static size_t pad4(size_t n) { return (n + 3) & ~(size_t)3; }

static int bytes_equal(const void *a, size_t alen, const void *b, size_t blen) {
  return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Long-term credentials                                                                       */

static void auth_destroy(firn_stun_auth *a) {
  firn_allocator al = a->alloc;
  firn_stun_key_free(a->key);
  if (a->password) firn_wipe(a->password, a->password_len);
  firn_free(&al, a->password);
  firn_free(&al, a->username);
  firn_wipe(a, sizeof *a);
  firn_free(&al, a);
}

static void auth_release(firn_stun_auth *a) {
  if (a && --a->refs == 0) auth_destroy(a);
}

int firn_stun_auth_new(firn_stun_auth **out, const firn_allocator *alloc, const char *username,
                       const char *password) {
  if (!out) return FIRN_ERR_INVALID_ARG;
  *out = NULL;
  if (!username || !password) return FIRN_ERR_INVALID_ARG;
  size_t ulen = strlen(username), plen = strlen(password);
  if (ulen == 0 || ulen > FIRN_STUN_BUILD_MAX_USERNAME) return FIRN_ERR_INVALID_ARG;
  firn_allocator al;
  firn_alloc_init(&al, alloc);
  firn_stun_auth *a = firn_calloc(&al, 1, sizeof *a);
  if (!a) return FIRN_ERR_NOMEM;
  a->alloc = al;
  a->refs = 1;
  a->username = firn_memdup(&al, username, ulen + 1);
  a->password = firn_memdup(&al, password, plen + 1);
  if (!a->username || !a->password) {
    auth_destroy(a);
    return FIRN_ERR_NOMEM;
  }
  a->username_len = ulen;
  a->password_len = plen;
  *out = a;
  return FIRN_OK;
}

void firn_stun_auth_free(firn_stun_auth *auth) { auth_release(auth); }

/* The RFC 8489 9.2 STUN Security Features of a nonce that starts with the nonce cookie:
 * 24 bits in the 4 base64 characters after it; 0 without the cookie. */
static uint32_t nonce_features(const char *nonce, size_t len) {
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (len < NONCE_COOKIE_LEN + 4 || memcmp(nonce, NONCE_COOKIE, NONCE_COOKIE_LEN) != 0) return 0;
  uint32_t bits = 0;
  for (size_t i = 0; i < 4; i++) {
    const char *p = memchr(b64, nonce[NONCE_COOKIE_LEN + i], 64);
    if (!p) return 0;
    bits = (bits << 6) | (uint32_t)(p - b64);
  }
  return bits;
}

/* The feature bits' positions are disputed (the RFC's prose numbers bits from the most
 * significant end, erratum 6290 from the least), so either reading counts; the other bits
 * are reserved (zero), so the readings cannot be confused. */

/* "Password algorithms" (bit 0): decides whether a missing PASSWORD-ALGORITHMS is a
 * bid-down attack. */
static int nonce_requires_algs(const char *nonce, size_t len) {
  uint32_t bits = nonce_features(nonce, len);
  return (bits & 0x800000u) || (bits & 0x000001u);
}

/* "Username anonymity" (bit 1): send USERHASH instead of USERNAME (RFC 8489 9.2.5). */
static int nonce_wants_userhash(const char *nonce, size_t len) {
  uint32_t bits = nonce_features(nonce, len);
  return (bits & 0x400000u) || (bits & 0x000002u);
}

/* RFC 8489 9.2.5: a NONCE with the cookie and the "Password algorithms" bit but no
 * PASSWORD-ALGORITHMS is a bid-down attempt (the attribute was stripped). */
static int bid_down(const firn_stun_msg *msg) {
  const char *nonce;
  size_t nonce_len;
  return firn_stun_msg_get_string(msg, FIRN_STUN_ATTR_NONCE, &nonce, &nonce_len) == FIRN_OK &&
         nonce_requires_algs(nonce, nonce_len) &&
         !firn_stun_msg_has(msg, FIRN_STUN_ATTR_PASSWORD_ALGORITHMS);
}

/* Learn REALM, NONCE and PASSWORD-ALGORITHMS from a 401/438. Returns 0, or
 * FIRN_ERR_STUN_AUTH_FAILED when RFC 8489 9.2.5 forbids a retry (no supported algorithm,
 * or a nonce cookie demanding PASSWORD-ALGORITHMS that the answer lacks). */
static int auth_learn(firn_stun_auth *a, const firn_stun_msg *msg, const char *realm,
                      size_t realm_len, const char *nonce, size_t nonce_len, int is_401) {
  if (realm_len > sizeof a->realm || nonce_len > sizeof a->nonce || nonce_len == 0)
    return FIRN_ERR_STUN_AUTH_FAILED;
  const uint8_t *raw;
  size_t raw_len;
  firn_stun_password_alg alg = a->alg;
  size_t algs_len = a->algs_raw_len;
  uint8_t algs[ALGS_RAW_MAX];
  if (algs_len) memcpy(algs, a->algs_raw, algs_len);
  if (firn_stun_msg_find(msg, FIRN_STUN_ATTR_PASSWORD_ALGORITHMS, &raw, &raw_len) == FIRN_OK) {
    uint16_t list[ALGS_RAW_MAX / 4];
    size_t n = 0;
    if (raw_len == 0 || raw_len > sizeof algs ||
        firn_stun_msg_get_password_algs(msg, list, sizeof list / sizeof list[0], &n) < 0)
      return FIRN_ERR_STUN_AUTH_FAILED;
    /* RFC 8489 9.2.5: "PASSWORD-ALGORITHM attribute with the first algorithm supported on
     * the list" -- the server's order, not ours. */
    alg = FIRN_STUN_PASSWORD_ALG_NONE;
    for (size_t i = 0; i < n && i < sizeof list / sizeof list[0]; i++) {
      if (list[i] == FIRN_STUN_PASSWORD_ALG_SHA256 || list[i] == FIRN_STUN_PASSWORD_ALG_MD5) {
        alg = (firn_stun_password_alg)list[i];
        break;
      }
    }
    if (alg == FIRN_STUN_PASSWORD_ALG_NONE) return FIRN_ERR_STUN_AUTH_FAILED;
    memcpy(algs, raw, raw_len);
    algs_len = raw_len;
  } else {
    /* RFC 8489 9.2.5: "401 or 438 ... nonce cookie ... Password algorithms bit set to 1 but
     * no PASSWORD-ALGORITHMS attribute is present, then the client MUST NOT retry". */
    if (nonce_requires_algs(nonce, nonce_len)) return FIRN_ERR_STUN_AUTH_FAILED;
    if (is_401) {
      alg = FIRN_STUN_PASSWORD_ALG_NONE;
      algs_len = 0;
    }
  }
  /* The key depends on realm and algorithm only; the nonce changes freely. */
  if (alg != a->alg || !a->have_challenge || !bytes_equal(realm, realm_len, a->realm, a->realm_len)) {
    firn_stun_key_free(a->key);
    a->key = NULL;
  }
  /* A 438 without REALM passes a->realm itself (auth_challenge): memmove, not memcpy. */
  memmove(a->realm, realm, realm_len);
  a->realm_len = realm_len;
  memcpy(a->nonce, nonce, nonce_len);
  a->nonce_len = nonce_len;
  if (algs_len) memcpy(a->algs_raw, algs, algs_len);
  a->algs_raw_len = algs_len;
  a->alg = alg;
  a->userhash = nonce_wants_userhash(nonce, nonce_len);
  a->have_challenge = 1;
  return FIRN_OK;
}

static int auth_key(firn_stun_auth *a) {
  if (a->key) return FIRN_OK;
  return firn_stun_key_new_long_term(&a->key, &a->alloc, a->alg, a->username, a->username_len,
                                     a->realm, a->realm_len, a->password, a->password_len);
}

/* ------------------------------------------------------------------------------------------ */
/* Settings and lifetime                                                                       */

void firn_stun_client_settings_default(firn_stun_client_settings *s) {
  if (!s) return;
  memset(s, 0, sizeof *s);
  s->size = sizeof *s;
  s->log_level = FIRN_LOG_INFO;
  s->rto_ns = 500 * FIRN_NS_PER_MS;
  s->rc = 7;
  s->rm = 16;
  s->ti_ns = 39500 * FIRN_NS_PER_MS;
  s->max_transactions = 64;
}

int firn_stun_client_new(firn_stun_client **out, const firn_stun_client_settings *s) {
  if (!out) return FIRN_ERR_INVALID_ARG;
  *out = NULL;
  firn_stun_client_settings st;
  firn_stun_client_settings_default(&st);
  if (s) {
    if (s->size < sizeof s->size || s->size > sizeof st) return FIRN_ERR_INVALID_ARG;
    memcpy(&st, s, s->size);
    st.size = sizeof st;
  }
  size_t sw_len = st.software ? strlen(st.software) : 0;
  if (sw_len > FIRN_STUN_BUILD_MAX_SOFTWARE) return FIRN_ERR_INVALID_ARG;

  firn_allocator al;
  firn_alloc_init(&al, st.alloc);
  firn_stun_client *c = firn_calloc(&al, 1, sizeof *c);
  if (!c) return FIRN_ERR_NOMEM;
  c->alloc = al;
  if (sw_len) {
    c->software = firn_memdup(&al, st.software, sw_len);
    if (!c->software) {
      firn_free(&al, c);
      return FIRN_ERR_NOMEM;
    }
    c->software_len = sw_len;
  }
  firn_rng_pool_init(&c->rng, st.random, st.random_user);
  c->log.fn = st.log;
  c->log.user = st.log_user;
  c->log.level = st.log_level;
  c->rto = st.rto_ns ? st.rto_ns : 500 * FIRN_NS_PER_MS;
  c->rc = st.rc ? st.rc : 7;
  c->rm = st.rm ? st.rm : 16;
  c->ti = st.ti_ns ? st.ti_ns : 39500 * FIRN_NS_PER_MS;
  c->max = st.max_transactions ? st.max_transactions : 64;
  c->on_result = st.on_result;
  c->user = st.user;
  c->next_id = 1;
  *out = c;
  return FIRN_OK;
}

static void txn_free(firn_stun_client *c, txn *t) {
  firn_free(&c->alloc, t->msg);
  firn_stun_key_free(t->lt_key);
  auth_release(t->auth);
  firn_free(&c->alloc, t);
}

static void client_destroy(firn_stun_client *c) {
  txn *t = c->head;
  while (t) {
    txn *next = t->next;
    txn_free(c, t);
    t = next;
  }
  firn_allocator al = c->alloc;
  firn_rng_pool_free(&c->rng); /* wipes the unused random bytes */
  firn_free(&al, c->software);
  firn_free(&al, c);
}

void firn_stun_client_free(firn_stun_client *c) {
  if (!c) return;
  if (c->depth) {
    c->free_pending = 1; /* inside a callback: the outermost delivery frees */
    return;
  }
  client_destroy(c);
}

/* ------------------------------------------------------------------------------------------ */
/* Table                                                                                       */

static void unlink_txn(firn_stun_client *c, txn *t) {
  txn **pp = &c->head;
  while (*pp && *pp != t) pp = &(*pp)->next;
  if (*pp) {
    *pp = t->next;
    t->next = NULL;
    c->count--;
  }
}

static txn *find_tid(const firn_stun_client *c, const uint8_t tid[FIRN_STUN_TID_SIZE]) {
  for (txn *t = c->head; t; t = t->next)
    if (memcmp(t->tid, tid, FIRN_STUN_TID_SIZE) == 0) return t;
  return NULL;
}

static txn *find_id(const firn_stun_client *c, uint64_t id) {
  for (txn *t = c->head; t; t = t->next)
    if (t->id == id) return t;
  return NULL;
}

/* A fresh transaction ID, distinct from every one in flight. From the pool: one call to the
 * source (RAND_bytes by default, ~7,000 instructions) covers 21 IDs. */
static int new_tid(firn_stun_client *c, uint8_t tid[FIRN_STUN_TID_SIZE]) {
  for (int tries = 0; tries < 8; tries++) {
    int rc = firn_rng_pool_bytes(&c->rng, tid, FIRN_STUN_TID_SIZE);
    if (rc < 0) return FIRN_ERR_RANDOM;
    if (!find_tid(c, tid)) return FIRN_OK;
  }
  return FIRN_ERR_RANDOM; /* a source that keeps repeating itself is broken */
}

/* Deliver the result of `t` (already unlinked) and free it. Returns 1 when the client was
 * freed from inside the callback (the caller must return without touching it again). */
static int finish(firn_stun_client *c, txn *t, int status, int error_code, const firn_stun_msg *msg,
                  const firn_addr *from, uint64_t now) {
  firn_stun_result r;
  memset(&r, 0, sizeof r);
  r.id = t->id;
  r.status = status;
  r.error_code = error_code;
  r.response = msg;
  if (from) r.from = *from;
  r.rtt_ns = (msg && now >= t->last_sent) ? now - t->last_sent : 0;
  r.transmissions = t->total_sent;
  firn_log(&c->log, FIRN_LOG_DEBUG, MOD, "transaction %llu done: %s (code %d, %u sent)",
           (unsigned long long)t->id, firn_strerror(status), error_code, t->total_sent);
  if (c->on_result) {
    c->depth++;
    c->on_result(c->user, &r);
    c->depth--;
  }
  txn_free(c, t);
  if (c->free_pending) {
    if (c->depth == 0) client_destroy(c);
    return 1;
  }
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Building requests                                                                           */

static int is_layer_owned(uint16_t type) {
  switch (type) {
  case FIRN_STUN_ATTR_MESSAGE_INTEGRITY:
  case FIRN_STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
  case FIRN_STUN_ATTR_FINGERPRINT:
  case FIRN_STUN_ATTR_USERNAME:
  case FIRN_STUN_ATTR_USERHASH:
  case FIRN_STUN_ATTR_REALM:
  case FIRN_STUN_ATTR_NONCE:
  case FIRN_STUN_ATTR_PASSWORD_ALGORITHM:
  case FIRN_STUN_ATTR_PASSWORD_ALGORITHMS:
    return 1;
  default:
    return 0;
  }
}

/* The application's attributes must be well-formed TLVs with padding, and must not include
 * what this layer adds itself. */
static int check_attrs(const uint8_t *p, size_t len) {
  if (len > FIRN_STUN_MAX_MESSAGE - FIRN_STUN_HEADER_SIZE) return FIRN_ERR_NOBUF;
  size_t off = 0;
  while (off < len) {
    if (len - off < 4) return FIRN_ERR_INVALID_ARG;
    uint16_t type = firn_get_u16(p + off);
    size_t vlen = firn_get_u16(p + off + 2);
    if (pad4(vlen) > len - off - 4) return FIRN_ERR_INVALID_ARG;
    if (is_layer_owned(type)) return FIRN_ERR_INVALID_ARG;
    off += 4 + pad4(vlen);
  }
  return FIRN_OK;
}

/* Encode the current attempt of `t` into a new buffer (replacing the old one on success). */
static int build(firn_stun_client *c, txn *t, const char *st_user, size_t st_user_len) {
  firn_stun_auth *a = t->auth;
  int creds = a && a->have_challenge;
  if (creds) {
    int rc = auth_key(a);
    if (rc < 0) return rc;
  }
  size_t cap = FIRN_STUN_HEADER_SIZE + t->attrs_len + 8 /* FINGERPRINT */;
  if (c->software_len) cap += 4 + pad4(c->software_len);
  if (t->st_key) cap += (st_user ? 4 + pad4(st_user_len) : 0) + 24;
  if (creds)
    cap += 4 + pad4(a->username_len) + 36 /* or USERHASH */ + 4 + pad4(a->realm_len) + 4 +
           pad4(a->nonce_len) + 8 + 4 + pad4(a->algs_raw_len) + 36;
  if (cap > FIRN_STUN_MAX_MESSAGE) cap = FIRN_STUN_MAX_MESSAGE;
  uint8_t *buf = firn_malloc(&c->alloc, cap);
  if (!buf) return FIRN_ERR_NOMEM;

  firn_stun_builder b;
  firn_stun_builder_init(&b, buf, cap, t->method, FIRN_STUN_REQUEST, t->tid);
  for (size_t off = 0; off < t->attrs_len;) {
    uint16_t type = firn_get_u16(t->attrs + off);
    size_t vlen = firn_get_u16(t->attrs + off + 2);
    firn_stun_add_raw(&b, type, t->attrs + off + 4, vlen);
    off += 4 + pad4(vlen);
  }
  if (c->software_len) firn_stun_add_string(&b, FIRN_STUN_ATTR_SOFTWARE, c->software, c->software_len);
  int mi = MI_NONE;
  if (t->st_key) {
    if (st_user) firn_stun_add_string(&b, FIRN_STUN_ATTR_USERNAME, st_user, st_user_len);
    firn_stun_add_integrity(&b, t->st_key);
    mi = MI_SHA1;
  } else if (creds) {
    if (a->userhash) {
      /* RFC 8489 9.2.5: "If the 'nonce cookie' is present and has the STUN Security Feature
       * 'Username anonymity' bit set to 1, then the USERHASH attribute MUST be used". */
      uint8_t uh[32];
      int rc = firn_stun_userhash(a->username, a->username_len, a->realm, a->realm_len, uh);
      if (rc < 0) {
        firn_free(&c->alloc, buf);
        return rc;
      }
      firn_stun_add_raw(&b, FIRN_STUN_ATTR_USERHASH, uh, sizeof uh);
    } else {
      firn_stun_add_string(&b, FIRN_STUN_ATTR_USERNAME, a->username, a->username_len);
    }
    firn_stun_add_string(&b, FIRN_STUN_ATTR_REALM, a->realm, a->realm_len);
    firn_stun_add_string(&b, FIRN_STUN_ATTR_NONCE, a->nonce, a->nonce_len);
    if (a->algs_raw_len) {
      firn_stun_add_password_alg(&b, a->alg);
      firn_stun_add_raw(&b, FIRN_STUN_ATTR_PASSWORD_ALGORITHMS, a->algs_raw, a->algs_raw_len);
    }
    /* RFC 8489 9.2.5: "If the response contains a PASSWORD-ALGORITHMS attribute, all the
     * subsequent requests MUST be authenticated using MESSAGE-INTEGRITY-SHA256 only", with
     * the key of the chosen algorithm (MD5 included). Without the list: RFC 5389, MI. */
    if (a->algs_raw_len) {
      firn_stun_add_integrity_sha256(&b, a->key);
      mi = MI_SHA256;
    } else {
      firn_stun_add_integrity(&b, a->key);
      mi = MI_SHA1;
    }
  }
  if (t->fingerprint) firn_stun_add_fingerprint(&b);
  firn_ssize n = firn_stun_builder_finish(&b);
  if (n < 0) {
    firn_free(&c->alloc, buf);
    return (int)n;
  }
  firn_free(&c->alloc, t->msg);
  t->msg = buf;
  t->msg_len = (size_t)n;
  t->mi_type = mi;
  /* The answer to this attempt is verified with the key it was signed with, whatever later
   * challenges do to a->key. */
  firn_stun_key_free(t->lt_key);
  t->lt_key = creds ? firn_stun_key_ref(a->key) : NULL;
  return FIRN_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Starting, sending, timing out                                                               */

int firn_stun_client_start(firn_stun_client *c, const firn_stun_request *req, uint64_t now,
                           uint64_t *id) {
  if (!c || !req || !id || c->free_pending) return FIRN_ERR_INVALID_ARG;
  if (req->dest.family != FIRN_AF_INET && req->dest.family != FIRN_AF_INET6)
    return FIRN_ERR_INVALID_ARG;
  if (req->short_term && req->long_term) return FIRN_ERR_INVALID_ARG;
  if (req->short_term_username && !req->short_term) return FIRN_ERR_INVALID_ARG;
  if (req->attrs_len && !req->attrs) return FIRN_ERR_INVALID_ARG;
  if (req->method > 0xfff) return FIRN_ERR_INVALID_ARG;
  size_t st_user_len = req->short_term_username ? strlen(req->short_term_username) : 0;
  if (st_user_len > FIRN_STUN_BUILD_MAX_USERNAME) return FIRN_ERR_INVALID_ARG;
  int rc = check_attrs(req->attrs, req->attrs_len);
  if (rc < 0) return rc;
  if (c->count >= c->max) return FIRN_ERR_STUN_TOO_MANY_TXNS;

  txn *t = firn_calloc(&c->alloc, 1, sizeof *t + req->attrs_len);
  if (!t) return FIRN_ERR_NOMEM;
  t->method = req->method;
  t->reliable = req->reliable != 0;
  t->fingerprint = req->fingerprint != 0;
  t->dest = req->dest;
  t->ctx = req->ctx;
  t->rto = req->rto_ns ? req->rto_ns : c->rto;
  t->st_key = req->short_term;
  t->attrs_len = req->attrs_len;
  if (req->attrs_len) memcpy(t->attrs, req->attrs, req->attrs_len);
  rc = new_tid(c, t->tid);
  if (rc == FIRN_OK) {
    /* The key cache lives in the auth: build before taking the reference so a failure here
     * leaves nothing to undo but the allocation. */
    t->auth = req->long_term;
    rc = build(c, t, req->short_term_username, st_user_len);
    t->auth = NULL;
  }
  if (rc < 0) {
    firn_free(&c->alloc, t->msg);
    firn_stun_key_free(t->lt_key);
    firn_free(&c->alloc, t);
    return rc;
  }
  if (req->long_term) {
    t->auth = req->long_term;
    t->auth->refs++;
  }
  t->id = c->next_id++;
  t->next_send = now;
  t->deadline = FIRN_TIME_NEVER;
  txn **pp = &c->head;
  while (*pp) pp = &(*pp)->next;
  *pp = t;
  c->count++;
  *id = t->id;
  firn_log(&c->log, FIRN_LOG_DEBUG, MOD, "transaction %llu: method 0x%03x, %zu bytes%s%s",
           (unsigned long long)t->id, (unsigned)t->method, t->msg_len,
           t->reliable ? ", reliable" : "", t->mi_type ? ", with integrity" : "");
  return FIRN_OK;
}

int firn_stun_client_cancel(firn_stun_client *c, uint64_t id) {
  if (!c) return FIRN_ERR_INVALID_ARG;
  txn *t = find_id(c, id);
  if (!t) return FIRN_ERR_NOT_FOUND;
  unlink_txn(c, t);
  finish(c, t, FIRN_ERR_STUN_CANCELLED, 0, NULL, NULL, 0);
  return FIRN_OK;
}

/* FIRN_TIME_NEVER marks "no more transmissions" and "no deadline", so a schedule that
 * saturates must stop one short of it or the transaction would never time out. */
static uint64_t when(uint64_t t) { return t >= FIRN_TIME_NEVER ? FIRN_TIME_NEVER - 1 : t; }

static void schedule_after_send(const firn_stun_client *c, txn *t, uint64_t now) {
  if (t->reliable) {
    t->next_send = FIRN_TIME_NEVER;
    t->deadline = when(sat_add(now, c->ti));
  } else if (t->sent < c->rc) {
    t->next_send = when(sat_add(now, sat_shl(t->rto, t->sent - 1)));
  } else {
    t->next_send = FIRN_TIME_NEVER;
    t->deadline = when(sat_add(now, sat_mul(c->rm, t->rto)));
  }
}

firn_ssize firn_stun_client_poll_transmit(firn_stun_client *c, uint64_t now, uint8_t *buf,
                                          size_t cap, firn_addr *dest, void **ctx) {
  if (!c || !buf) return FIRN_ERR_INVALID_ARG;
  txn *best = NULL;
  for (txn *t = c->head; t; t = t->next)
    if (t->next_send <= now && (!best || t->next_send < best->next_send)) best = t;
  if (!best) return FIRN_ERR_WOULDBLOCK;
  if (cap < best->msg_len) return FIRN_ERR_NOBUF;
  memcpy(buf, best->msg, best->msg_len);
  if (dest) *dest = best->dest;
  if (ctx) *ctx = best->ctx;
  best->sent++;
  best->total_sent++;
  best->last_sent = now;
  schedule_after_send(c, best, now);
  firn_log(&c->log, FIRN_LOG_TRACE, MOD, "transaction %llu: transmission %u", (unsigned long long)best->id,
           best->sent);
  return (firn_ssize)best->msg_len;
}

uint64_t firn_stun_client_expiry(const firn_stun_client *c) {
  uint64_t e = FIRN_TIME_NEVER;
  if (!c) return e;
  for (const txn *t = c->head; t; t = t->next) {
    uint64_t te = t->next_send != FIRN_TIME_NEVER ? t->next_send : t->deadline;
    if (te < e) e = te;
  }
  return e;
}

void firn_stun_client_handle_expiry(firn_stun_client *c, uint64_t now) {
  if (!c) return;
  for (;;) {
    txn *t = c->head;
    while (t && !(t->next_send == FIRN_TIME_NEVER && t->deadline <= now)) t = t->next;
    if (!t) return;
    unlink_txn(c, t);
    /* RFC 8489 9.1.4/9.2.5: "If all the responses received are discarded, then instead of
     * signaling a timeout after ending the transaction, the layer MUST signal an integrity
     * protection violation to the TU." */
    int status = t->bad_integrity ? FIRN_ERR_STUN_BAD_INTEGRITY : FIRN_ERR_STUN_TIMEOUT;
    if (finish(c, t, status, 0, NULL, NULL, now)) return;
  }
}

size_t firn_stun_client_pending(const firn_stun_client *c) { return c ? c->count : 0; }

/* ------------------------------------------------------------------------------------------ */
/* Responses                                                                                   */

/* 0 when the response is acceptable as authenticated (or no integrity was sent), else
 * FIRN_ERR_STUN_BAD_INTEGRITY / _NO_INTEGRITY. Short-term (RFC 8489 9.1.4): the response
 * must carry the kind of integrity the request did. Long-term (9.2.5): "The client looks
 * for the MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256 attribute", so either is verified,
 * MI-SHA256 when both are present, with the key the attempt was signed with. */
static int check_integrity(const txn *t, const firn_stun_msg *msg) {
  if (t->mi_type == MI_NONE) return FIRN_OK;
  if (t->st_key)
    return t->mi_type == MI_SHA256 ? firn_stun_msg_verify_sha256(msg, t->st_key)
                                   : firn_stun_msg_verify_sha1(msg, t->st_key);
  if (!t->lt_key) return FIRN_ERR_STUN_NO_INTEGRITY;
  return firn_stun_msg_verify(msg, t->lt_key);
}

/* Did the current attempt of `t` carry exactly this realm and nonce? */
static int sent_same_challenge(const txn *t, const char *realm, size_t realm_len, const char *nonce,
                               size_t nonce_len) {
  firn_stun_msg own;
  const char *r, *n;
  size_t rl, nl;
  if (firn_stun_msg_parse(&own, t->msg, t->msg_len) < 0) return 0;
  if (firn_stun_msg_get_string(&own, FIRN_STUN_ATTR_REALM, &r, &rl) < 0) return 0;
  if (firn_stun_msg_get_string(&own, FIRN_STUN_ATTR_NONCE, &n, &nl) < 0) return 0;
  return bytes_equal(r, rl, realm, realm_len) && bytes_equal(n, nl, nonce, nonce_len);
}

/* Send the same request again as a new transaction (new ID, fresh schedule, same public id).
 * `t` stays linked. */
static int restart(firn_stun_client *c, txn *t, uint64_t now) {
  uint8_t old[FIRN_STUN_TID_SIZE], fresh[FIRN_STUN_TID_SIZE];
  int rc = new_tid(c, fresh); /* into a local: t is still in the table it checks against */
  if (rc < 0) return rc;
  memcpy(old, t->tid, sizeof old);
  memcpy(t->tid, fresh, sizeof fresh);
  rc = build(c, t, NULL, 0);
  if (rc < 0) {
    memcpy(t->tid, old, sizeof old);
    return rc;
  }
  t->sent = 0;
  t->bad_integrity = 0;
  t->next_send = now;
  t->deadline = FIRN_TIME_NEVER;
  return FIRN_OK;
}

/* A 401 or 438 to a long-term request. Returns 0 (retrying, or finished with a result). */
static int auth_challenge(firn_stun_client *c, txn *t, const firn_stun_msg *msg, int code,
                          const firn_addr *from, uint64_t now) {
  firn_stun_auth *a = t->auth;
  const char *realm = NULL, *nonce = NULL;
  size_t realm_len = 0, nonce_len = 0;
  int have_realm = firn_stun_msg_get_string(msg, FIRN_STUN_ATTR_REALM, &realm, &realm_len) == FIRN_OK;
  int have_nonce = firn_stun_msg_get_string(msg, FIRN_STUN_ATTR_NONCE, &nonce, &nonce_len) == FIRN_OK;
  int status = FIRN_ERR_STUN_ERROR_RESPONSE;

  if (code == 438 && have_nonce && !have_realm && a->have_challenge) {
    realm = a->realm; /* a 438 should repeat REALM; tolerate one that does not */
    realm_len = a->realm_len;
    have_realm = 1;
  }
  if (!have_realm || !have_nonce) goto done; /* not a usable challenge: plain error */
  if (t->auth_retries >= AUTH_MAX_RETRIES) {
    status = code == 401 ? FIRN_ERR_STUN_AUTH_FAILED : FIRN_ERR_STUN_ERROR_RESPONSE;
    goto done;
  }
  if (code == 401 && t->mi_type != MI_NONE &&
      (t->challenged || sent_same_challenge(t, realm, realm_len, nonce, nonce_len))) {
    status = FIRN_ERR_STUN_AUTH_FAILED; /* the server rejected our credentials */
    goto done;
  }
  int rc = auth_learn(a, msg, realm, realm_len, nonce, nonce_len, code == 401);
  if (rc < 0) {
    status = rc;
    goto done;
  }
  if (code == 401) t->challenged = 1;
  t->auth_retries++;
  rc = restart(c, t, now);
  if (rc < 0) {
    status = rc;
    goto done;
  }
  firn_log(&c->log, FIRN_LOG_DEBUG, MOD, "transaction %llu: %d, retrying with credentials%s",
           (unsigned long long)t->id, code,
           a->alg == FIRN_STUN_PASSWORD_ALG_SHA256 ? " (SHA-256)" : "");
  return FIRN_OK;

done:
  unlink_txn(c, t);
  finish(c, t, status, code, msg, from, now);
  return FIRN_OK;
}

int firn_stun_client_handle_msg(firn_stun_client *c, const firn_stun_msg *msg, const firn_addr *from,
                                uint64_t now) {
  /* A failed firn_stun_msg_parse() leaves data NULL (and the other fields unspecified):
   * nothing else of such a message may be read. */
  if (!c || !msg || !msg->data || !from) return FIRN_ERR_INVALID_ARG;
  if (c->free_pending) return FIRN_ERR_STUN_MISMATCH;
  if (msg->cls != FIRN_STUN_SUCCESS && msg->cls != FIRN_STUN_ERROR) return FIRN_ERR_STUN_MISMATCH;
  txn *t = find_tid(c, msg->tid);
  if (!t || t->sent == 0 || t->method != msg->method) return FIRN_ERR_STUN_MISMATCH;
  if (!firn_addr_equal(from, &t->dest)) {
    firn_log(&c->log, FIRN_LOG_DEBUG, MOD, "transaction %llu: response from the wrong address dropped",
             (unsigned long long)t->id);
    return FIRN_ERR_STUN_MISMATCH;
  }
  int code = 0;
  if (msg->cls == FIRN_STUN_ERROR && firn_stun_msg_get_error(msg, &code, NULL, NULL) < 0)
    return FIRN_ERR_STUN_MISMATCH; /* an error response must carry ERROR-CODE */

  int challenge = t->auth && msg->cls == FIRN_STUN_ERROR && (code == 401 || code == 438);
  if (!challenge && bid_down(msg)) {
    /* RFC 8489 9.2.5: "For all other responses, if the NONCE attribute starts with the
     * nonce cookie with the STUN Security Feature 'Password algorithms' bit set to 1 but
     * PASSWORD-ALGORITHMS is not present, the response MUST be ignored." (A 401/438 like
     * that ends the transaction in auth_learn(): no retry.) */
    firn_log(&c->log, FIRN_LOG_DEBUG, MOD,
             "transaction %llu: response with a nonce demanding PASSWORD-ALGORITHMS but none ignored",
             (unsigned long long)t->id);
    return FIRN_ERR_STUN_MISMATCH;
  }
  if (challenge) return auth_challenge(c, t, msg, code, from, now);
  int irc = check_integrity(t, msg);
  if (irc < 0) {
    if (msg->cls == FIRN_STUN_ERROR && irc == FIRN_ERR_STUN_NO_INTEGRITY) {
      /* An error the server did not sign: discarded as if never received (RFC 8489 9.2.5
       * says so of 400), and not an integrity failure; the caller may still act on it (the
       * TURN client does, for the request in flight). */
      firn_log(&c->log, FIRN_LOG_DEBUG, MOD, "transaction %llu: unsigned error %d dropped",
               (unsigned long long)t->id, code);
      return FIRN_ERR_STUN_MISMATCH;
    }
    if (t->reliable) {
      /* RFC 8489 9.1.4/9.2.5: over a reliable transport "the response MUST be treated as a
       * failure response", at once (nobody can inject into the stream without breaking it). */
      firn_log(&c->log, FIRN_LOG_DEBUG, MOD, "transaction %llu: response failing integrity over a "
               "reliable transport", (unsigned long long)t->id);
      unlink_txn(c, t);
      finish(c, t, FIRN_ERR_STUN_BAD_INTEGRITY, 0, NULL, from, now);
      return FIRN_OK;
    }
    /* Over UDP: discarded, retransmissions go on; remembered for the final result. */
    t->bad_integrity++;
    firn_log(&c->log, FIRN_LOG_DEBUG, MOD, "transaction %llu: response failing integrity dropped",
             (unsigned long long)t->id);
    return FIRN_ERR_STUN_MISMATCH;
  }

  int status = FIRN_OK;
  if (msg->cls == FIRN_STUN_ERROR) status = FIRN_ERR_STUN_ERROR_RESPONSE;
  else if (msg->n_unknown) status = FIRN_ERR_STUN_UNKNOWN_ATTRS; /* RFC 8489 6.3.3: failure */
  unlink_txn(c, t);
  finish(c, t, status, code, msg, from, now);
  return FIRN_OK;
}

int firn_stun_client_handle_response(firn_stun_client *c, const uint8_t *data, size_t len,
                                     const firn_addr *from, uint64_t now) {
  if (!c || !data || !from) return FIRN_ERR_INVALID_ARG;
  firn_stun_msg msg;
  int rc = firn_stun_msg_parse(&msg, data, len);
  if (rc < 0) return rc;
  return firn_stun_client_handle_msg(c, &msg, from, now);
}
