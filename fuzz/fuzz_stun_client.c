/*
 * libFuzzer target for the STUN client transaction layer (sans-I/O): hostile responses,
 * time jumps, cancellations, allocation failures and freeing the client from its callback.
 *
 * Each input is a program. A client is created with a deterministic random source and an
 * allocator that can fail the n-th call; it starts three transactions (short-term ICE
 * Binding over UDP, long-term TURN Allocate over UDP, plain Binding over TCP), then the
 * program's operations run: datagrams offered as responses, clock advances, transmissions
 * pulled, cancels, new transactions. To get past the transaction-ID lookup, a datagram can
 * take the TID, method and class of a pending request, and can be re-signed by the harness
 * (MESSAGE-INTEGRITY or -SHA256 with the right key, FINGERPRINT) the way a real server
 * would, so the fuzzer reaches the authenticated paths and the 401/438 retry flow.
 *
 * Checked, besides ASan/UBSan:
 *   - each transaction's result is delivered exactly once, with a documented status;
 *   - a success for a transaction with credentials carries a response that verifies with
 *     those credentials (only authenticated responses complete a transaction);
 *   - every datagram the client emits parses as a STUN request;
 *   - pending() matches the transactions started and not yet delivered;
 *   - when the clock then runs on, every transaction ends within Ti / the Rc schedule;
 *   - at the end every allocation is freed.
 *
 * Program format (all fields big-endian, everything past the end reads as zero):
 *   u8 fail_alloc (0: never, n: the n-th allocation fails), u8 options (bit 0: a table of 4,
 *   bit 1: SOFTWARE, bit 2: RTO 100 ms; the bits also seed the random source)
 *   then operations, each u8 opcode % 8:
 *     0 datagram: u16 len, u8 fixups, u8 txn, len bytes      (FUZZ_CLIENT_FIX_* in fuzz.h)
 *     1 advance: u16 milliseconds, then handle_expiry
 *     2 transmit: pull every due datagram
 *     3 cancel: u8 txn
 *     4 start: u8 kind
 *     5 free the client from inside the next result callback
 *     6 advance to the client's expiry, then handle_expiry
 *     7 datagram through firn_stun_client_handle_msg (pre-parsed), same fields as 0
 */
#include "fuzz.h"

#include "firn/stun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                     \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      fprintf(stderr, "fuzz_stun_client: check failed at %s:%d: %s\n", __FILE__, __LINE__, \
              #cond);                                                                   \
      abort();                                                                          \
    }                                                                                   \
  } while (0)

#define MAX_TXNS 16
#define MAX_OPS 256
#define DGRAM_MAX 1500

#define FIX_TID FUZZ_CLIENT_FIX_TID
#define FIX_TYPE FUZZ_CLIENT_FIX_TYPE
#define FIX_ERROR FUZZ_CLIENT_FIX_ERROR
#define FIX_SIGN FUZZ_CLIENT_FIX_SIGN
#define FIX_MI256 FUZZ_CLIENT_FIX_MI256
#define FIX_FP FUZZ_CLIENT_FIX_FP
#define FIX_WRONG_SRC FUZZ_CLIENT_FIX_WRONG_SRC
#define FIX_SHA256_KEY FUZZ_CLIENT_FIX_SHA256_KEY

#define ICE_USERNAME "abcd:efgh"

/* ---------------------------------------------------------------------------------------- */
/* Allocator that counts live blocks and can fail the n-th call                             */

typedef struct counting_alloc {
  unsigned calls;
  unsigned fail_at; /* 0: never */
  long live;
} counting_alloc;

static int alloc_should_fail(counting_alloc *a) {
  a->calls++;
  return a->fail_at && a->calls == a->fail_at;
}

static void *ca_malloc(size_t size, void *user) {
  counting_alloc *a = user;
  if (alloc_should_fail(a))
    return NULL;
  void *p = malloc(size ? size : 1);
  if (p)
    a->live++;
  return p;
}

static void *ca_calloc(size_t n, size_t size, void *user) {
  counting_alloc *a = user;
  if (alloc_should_fail(a))
    return NULL;
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (p)
    a->live++;
  return p;
}

static void *ca_realloc(void *ptr, size_t size, void *user) {
  counting_alloc *a = user;
  if (alloc_should_fail(a))
    return NULL;
  void *p = realloc(ptr, size ? size : 1);
  if (p && !ptr)
    a->live++;
  return p;
}

static void ca_free(void *ptr, void *user) {
  counting_alloc *a = user;
  if (ptr)
    a->live--;
  free(ptr);
}

/* ---------------------------------------------------------------------------------------- */
/* State                                                                                     */

typedef enum kind { KIND_ICE, KIND_TURN, KIND_TCP, N_KINDS } kind;

typedef struct slot {
  int used;
  kind kind;
  uint64_t id;
  int delivered;
  uint16_t method;
  uint8_t last[DGRAM_MAX]; /* its last transmission */
  size_t last_len;
} slot;

typedef struct harness {
  firn_stun_client *client;
  counting_alloc alloc_state;
  firn_allocator alloc;
  firn_stun_auth *auth;
  uint64_t rng;
  uint64_t now;
  slot slots[MAX_TXNS];
  size_t started, delivered;
  int free_in_callback;
  int freed;
} harness;

static firn_stun_key *g_short;
static firn_addr g_server4, g_turn4, g_server6, g_other;
static int g_trace; /* FUZZ_CLIENT_TRACE=1: print each result, to check what a seed does */

static void free_globals(void) {
  firn_stun_key_free(g_short);
  g_short = NULL;
}

static void init_globals(void) {
  static int done;
  if (done)
    return;
  done = 1;
  CHECK(firn_stun_key_new_short_term(&g_short, NULL, FUZZ_SHORT_TERM_PASSWORD,
                                     strlen(FUZZ_SHORT_TERM_PASSWORD)) == 0);
  CHECK(firn_addr_parse(&g_server4, "192.0.2.1:3478", 0) == 0);
  CHECK(firn_addr_parse(&g_turn4, "198.51.100.1:3478", 0) == 0);
  CHECK(firn_addr_parse(&g_server6, "[2001:db8::1]:3478", 0) == 0);
  CHECK(firn_addr_parse(&g_other, "203.0.113.66:3478", 0) == 0);
  g_trace = getenv("FUZZ_CLIENT_TRACE") != NULL;
  atexit(free_globals);
}

static int test_random(void *user, uint8_t *buf, size_t len) {
  uint64_t *s = user;
  for (size_t i = 0; i < len; i++) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    buf[i] = (uint8_t)*s;
  }
  return 0;
}

static slot *slot_by_id(harness *h, uint64_t id) {
  for (int i = 0; i < MAX_TXNS; i++)
    if (h->slots[i].used && h->slots[i].id == id)
      return &h->slots[i];
  return NULL;
}

static const firn_addr *server_of(kind k) {
  return k == KIND_ICE ? &g_server4 : k == KIND_TURN ? &g_turn4 : &g_server6;
}

/* The long-term key a TURN server with our credentials would use for `msg`. */
static int long_term_key(const firn_stun_msg *msg, int sha256, firn_stun_key **out) {
  const char *realm = FUZZ_LT_REALM;
  size_t realm_len = strlen(FUZZ_LT_REALM);
  (void)firn_stun_msg_get_string(msg, FIRN_STUN_ATTR_REALM, &realm, &realm_len);
  return firn_stun_key_new_long_term(
      out, NULL, sha256 ? FIRN_STUN_PASSWORD_ALG_SHA256 : FIRN_STUN_PASSWORD_ALG_MD5,
      FUZZ_LT_USERNAME, strlen(FUZZ_LT_USERNAME), realm, realm_len, FUZZ_LT_PASSWORD,
      strlen(FUZZ_LT_PASSWORD));
}

/* Did the slot's current attempt carry credentials, and if so, does `msg` verify with them
 * (short-term: the same kind of integrity as the request, RFC 8489 9.1.4; long-term: either
 * kind, MI-SHA256 when both are present, 9.2.5)? */
static int authentic(const slot *s, const firn_stun_msg *msg) {
  firn_stun_msg req;
  CHECK(firn_stun_msg_parse(&req, s->last, s->last_len) == 0);
  int sha256 = req.mi256_off != 0;
  if (!req.mi_off && !sha256)
    return 1; /* sent without credentials: nothing to authenticate */
  if (s->kind == KIND_ICE)
    return (sha256 ? firn_stun_msg_verify_sha256(msg, g_short)
                   : firn_stun_msg_verify_sha1(msg, g_short)) == 0;
  for (int alg = 0; alg < 2; alg++) {
    firn_stun_key *key = NULL;
    if (long_term_key(msg, alg, &key) != 0)
      continue;
    int ok = firn_stun_msg_verify(msg, key) == 0;
    firn_stun_key_free(key);
    if (ok)
      return 1;
  }
  return 0;
}

static void on_result(void *user, const firn_stun_result *r) {
  harness *h = user;
  slot *s = slot_by_id(h, r->id);
  CHECK(s != NULL);
  CHECK(!s->delivered);
  s->delivered = 1;
  h->delivered++;
  if (g_trace)
    fprintf(stderr, "  slot %d kind %d: %s (code %d, %u sent)\n", (int)(s - h->slots), (int)s->kind,
            firn_strerror(r->status), r->error_code, r->transmissions);
  CHECK(firn_strerror(r->status) != NULL);
  switch (r->status) {
  case 0:
    CHECK(r->response != NULL);
    CHECK(r->response->cls == FIRN_STUN_SUCCESS);
    CHECK(r->response->method == s->method);
    CHECK(firn_addr_equal(&r->from, server_of(s->kind)));
    CHECK(authentic(s, r->response));
    CHECK(r->transmissions >= 1);
    break;
  case FIRN_ERR_STUN_ERROR_RESPONSE:
    CHECK(r->response != NULL && r->response->cls == FIRN_STUN_ERROR);
    CHECK(r->error_code >= 300 && r->error_code <= 699);
    break;
  case FIRN_ERR_STUN_UNKNOWN_ATTRS:
    CHECK(r->response != NULL && r->response->n_unknown > 0);
    break;
  case FIRN_ERR_STUN_TIMEOUT:
  case FIRN_ERR_STUN_CANCELLED:
  case FIRN_ERR_STUN_BAD_INTEGRITY: /* RFC 8489 9.1.4/9.2.5 integrity violation: no response */
    CHECK(r->response == NULL);
    break;
  case FIRN_ERR_STUN_AUTH_FAILED:
  case FIRN_ERR_NOMEM:
  case FIRN_ERR_RANDOM:
  case FIRN_ERR_NOBUF:
  case FIRN_ERR_CRYPTO:
    break;
  default:
    fprintf(stderr, "fuzz_stun_client: unexpected status %d (%s)\n", r->status,
            firn_strerror(r->status));
    abort();
  }
  if (r->response) {
    /* The response must be a usable parsed message during the callback. */
    const uint8_t *v;
    size_t len;
    (void)firn_stun_msg_find(r->response, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &v, &len);
    CHECK(r->response->len >= FIRN_STUN_HEADER_SIZE);
  }
  if (h->free_in_callback) {
    h->free_in_callback = 0;
    firn_stun_client_free(h->client);
    h->freed = 1;
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Operations                                                                                */

typedef struct reader {
  const uint8_t *p;
  size_t left;
} reader;

static uint8_t get8(reader *r) {
  if (!r->left)
    return 0;
  r->left--;
  return *r->p++;
}

static uint16_t get16(reader *r) {
  uint16_t hi = get8(r);
  return (uint16_t)((hi << 8) | get8(r));
}

static void start(harness *h, kind k) {
  int free_slot = -1;
  for (int i = 0; i < MAX_TXNS && free_slot < 0; i++)
    if (!h->slots[i].used)
      free_slot = i;
  if (free_slot < 0)
    return;
  slot *s = &h->slots[free_slot];
  static const uint8_t requested_udp[] = {0x00, 0x19, 0x00, 0x04, 17, 0, 0, 0};
  firn_stun_request req;
  memset(&req, 0, sizeof req);
  req.method = FIRN_STUN_BINDING;
  req.dest = *server_of(k);
  req.fingerprint = 1;
  req.ctx = s;
  switch (k) {
  case KIND_ICE:
    req.short_term = g_short;
    req.short_term_username = ICE_USERNAME;
    break;
  case KIND_TURN:
    req.method = FIRN_STUN_ALLOCATE;
    req.attrs = requested_udp;
    req.attrs_len = sizeof requested_udp;
    req.long_term = h->auth;
    req.fingerprint = 0;
    break;
  default:
    req.reliable = 1;
    break;
  }
  uint64_t id = 0;
  int rc = firn_stun_client_start(h->client, &req, h->now, &id);
  if (rc != 0) {
    CHECK(rc == FIRN_ERR_NOMEM || rc == FIRN_ERR_STUN_TOO_MANY_TXNS || rc == FIRN_ERR_RANDOM);
    return;
  }
  CHECK(slot_by_id(h, id) == NULL);
  memset(s, 0, sizeof *s);
  s->used = 1;
  s->kind = k;
  s->id = id;
  s->method = req.method;
  h->started++;
}

static void transmit(harness *h) {
  uint8_t buf[DGRAM_MAX];
  for (int i = 0; i < 4 * MAX_TXNS; i++) {
    firn_addr dest;
    void *ctx = NULL;
    firn_ssize n = firn_stun_client_poll_transmit(h->client, h->now, buf, sizeof buf, &dest, &ctx);
    if (n == FIRN_ERR_WOULDBLOCK)
      return;
    CHECK(n > 0);
    slot *s = ctx;
    CHECK(s != NULL && s->used && !s->delivered);
    CHECK(firn_addr_equal(&dest, server_of(s->kind)));
    firn_stun_msg m;
    int rc = firn_stun_msg_parse(&m, buf, (size_t)n);
    if (rc != 0) {
      fprintf(stderr, "fuzz_stun_client: the client sent an invalid message: %s\n",
              firn_strerror(rc));
      abort();
    }
    CHECK(m.cls == FIRN_STUN_REQUEST && m.method == s->method);
    memcpy(s->last, buf, (size_t)n);
    s->last_len = (size_t)n;
  }
}

/* Apply the fixups to `d` (in place or by rebuilding into `out`); returns the length. */
static size_t fix_up(uint8_t *d, size_t len, uint8_t fix, const slot *s, uint8_t *out,
                     size_t cap) {
  if (len < FIRN_STUN_HEADER_SIZE)
    return len;
  if ((fix & FIX_TID) && s->last_len >= FIRN_STUN_HEADER_SIZE)
    memcpy(d + 8, s->last + 8, FIRN_STUN_TID_SIZE);
  if (fix & FIX_TYPE) {
    uint16_t type = firn_stun_type(s->method, (fix & FIX_ERROR) ? FIRN_STUN_ERROR
                                                                 : FIRN_STUN_SUCCESS);
    d[0] = (uint8_t)(type >> 8);
    d[1] = (uint8_t)type;
    /* a plausible header: cookie and length */
    d[4] = 0x21, d[5] = 0x12, d[6] = 0xa4, d[7] = 0x42;
    d[2] = (uint8_t)((len - FIRN_STUN_HEADER_SIZE) >> 8);
    d[3] = (uint8_t)(len - FIRN_STUN_HEADER_SIZE);
  }
  if (!(fix & (FIX_SIGN | FIX_FP)))
    return len;
  firn_stun_msg m;
  if (firn_stun_msg_parse(&m, d, len) != 0)
    return len;
  /* Rebuild the visible attributes, then sign as the server would. */
  size_t end = m.len;
  if (m.mi_off && m.mi_off < end)
    end = m.mi_off;
  if (m.mi256_off && m.mi256_off < end)
    end = m.mi256_off;
  if (m.fp_off && m.fp_off < end)
    end = m.fp_off;
  firn_stun_builder b;
  firn_stun_builder_init(&b, out, cap, m.method, (firn_stun_class)m.cls, m.tid);
  for (unsigned i = 0; i < m.nattrs && m.attr_off[i] < end; i++) {
    const uint8_t *a = d + m.attr_off[i];
    firn_stun_add_raw(&b, (uint16_t)((a[0] << 8) | a[1]), a + 4, (size_t)((a[2] << 8) | a[3]));
  }
  firn_stun_key *lt = NULL;
  if (fix & FIX_SIGN) {
    const firn_stun_key *key = g_short;
    if (s->kind == KIND_TURN && long_term_key(&m, (fix & FIX_SHA256_KEY) != 0, &lt) == 0)
      key = lt;
    if (fix & FIX_MI256)
      firn_stun_add_integrity_sha256(&b, key);
    else
      firn_stun_add_integrity(&b, key);
  }
  if (fix & FIX_FP)
    firn_stun_add_fingerprint(&b);
  firn_stun_key_free(lt);
  firn_ssize n = firn_stun_builder_finish(&b);
  if (n < 0)
    return len;
  memcpy(d, out, (size_t)n);
  return (size_t)n;
}

static void datagram(harness *h, reader *r, int preparsed) {
  static uint8_t d[DGRAM_MAX + 64], out[DGRAM_MAX + 128];
  size_t len = get16(r) % (DGRAM_MAX + 1);
  uint8_t fix = get8(r);
  slot *s = &h->slots[get8(r) % MAX_TXNS];
  for (size_t i = 0; i < len; i++)
    d[i] = get8(r);
  if (s->used)
    len = fix_up(d, len, fix, s, out, sizeof out);
  const firn_addr *from = (fix & FIX_WRONG_SRC) || !s->used ? &g_other : server_of(s->kind);
  /* An exact-size copy so ASan sees overreads. */
  uint8_t *copy = malloc(len ? len : 1);
  CHECK(copy != NULL);
  memcpy(copy, d, len);
  if (preparsed) {
    firn_stun_msg m;
    if (firn_stun_msg_parse(&m, copy, len) == 0)
      (void)firn_stun_client_handle_msg(h->client, &m, from, h->now);
  } else {
    (void)firn_stun_client_handle_response(h->client, copy, len, from, h->now);
  }
  free(copy);
}

static void check_pending(const harness *h) {
  CHECK(firn_stun_client_pending(h->client) == h->started - h->delivered);
}

/* Let the clock run: every transaction must end. UDP gives up after Rc transmissions and
 * Rm*RTO (39.5 s with the defaults), TCP after Ti (39.5 s); a 401/438 retry restarts the
 * schedule, so allow a few minutes of virtual time. */
static void run_out(harness *h) {
  uint64_t limit = h->now + 600 * FIRN_NS_PER_S;
  for (int i = 0; i < 10000 && !h->freed && firn_stun_client_pending(h->client); i++) {
    transmit(h);
    uint64_t e = firn_stun_client_expiry(h->client);
    CHECK(e != FIRN_TIME_NEVER);
    if (e > h->now)
      h->now = e;
    CHECK(h->now <= limit);
    firn_stun_client_handle_expiry(h->client, h->now);
  }
  if (!h->freed) {
    CHECK(firn_stun_client_pending(h->client) == 0);
    CHECK(firn_stun_client_expiry(h->client) == FIRN_TIME_NEVER);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_globals();
  harness *h = calloc(1, sizeof *h);
  CHECK(h != NULL);
  reader r = {data, size};
  h->alloc_state.fail_at = get8(&r);
  uint8_t options = get8(&r);
  h->alloc.malloc = ca_malloc;
  h->alloc.calloc = ca_calloc;
  h->alloc.realloc = ca_realloc;
  h->alloc.free = ca_free;
  h->alloc.user = &h->alloc_state;
  h->rng = 0x9e3779b97f4a7c15u ^ options;
  h->now = 1000 * FIRN_NS_PER_S;

  firn_stun_client_settings st;
  firn_stun_client_settings_default(&st);
  st.alloc = &h->alloc;
  st.random = test_random;
  st.random_user = &h->rng;
  st.on_result = on_result;
  st.user = h;
  st.max_transactions = (options & 1) ? 4 : 0;
  st.software = (options & 2) ? "firn fuzz" : NULL;
  if (options & 4)
    st.rto_ns = 100 * FIRN_NS_PER_MS;
  if (firn_stun_client_new(&h->client, &st) != 0) {
    CHECK(h->alloc_state.live == 0);
    free(h);
    return 0;
  }
  if (firn_stun_auth_new(&h->auth, &h->alloc, FUZZ_LT_USERNAME, FUZZ_LT_PASSWORD) != 0)
    h->auth = NULL;
  start(h, KIND_ICE);
  if (h->auth)
    start(h, KIND_TURN);
  start(h, KIND_TCP);
  check_pending(h);

  for (int op = 0; op < MAX_OPS && r.left && !h->freed; op++) {
    switch (get8(&r) % FUZZ_CLIENT_N_OPS) {
    case FUZZ_CLIENT_OP_DATAGRAM: datagram(h, &r, 0); break;
    case FUZZ_CLIENT_OP_ADVANCE:
      h->now += (uint64_t)get16(&r) * FIRN_NS_PER_MS;
      firn_stun_client_handle_expiry(h->client, h->now);
      break;
    case FUZZ_CLIENT_OP_TRANSMIT: transmit(h); break;
    case FUZZ_CLIENT_OP_CANCEL: {
      slot *s = &h->slots[get8(&r) % MAX_TXNS];
      if (s->used) {
        int rc = firn_stun_client_cancel(h->client, s->id);
        CHECK(rc == 0 || rc == FIRN_ERR_NOT_FOUND);
        CHECK(rc != 0 || s->delivered || h->freed);
        CHECK(rc == 0 || s->delivered);
      }
      break;
    }
    case FUZZ_CLIENT_OP_START: {
      kind k = (kind)(get8(&r) % N_KINDS);
      if (k != KIND_TURN || h->auth)
        start(h, k);
      break;
    }
    case FUZZ_CLIENT_OP_FREE_IN_CALLBACK: h->free_in_callback = 1; break;
    case FUZZ_CLIENT_OP_TO_EXPIRY: {
      uint64_t e = firn_stun_client_expiry(h->client);
      if (e != FIRN_TIME_NEVER && e > h->now)
        h->now = e;
      firn_stun_client_handle_expiry(h->client, h->now);
      break;
    }
    default: datagram(h, &r, 1); break;
    }
    if (!h->freed)
      check_pending(h);
  }
  /* Allocation failures end here, so the clock can run out cleanly. */
  h->alloc_state.fail_at = 0;
  if (!h->freed) {
    h->free_in_callback = 0;
    run_out(h);
    firn_stun_client_free(h->client);
  }
  firn_stun_auth_free(h->auth);
  CHECK(h->alloc_state.live == 0);
  free(h);
  return 0;
}
