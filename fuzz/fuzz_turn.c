/*
 * libFuzzer target for the TURN client (src/turn/turn.h, sans-I/O) fed what a server, or
 * someone spoofing one, can send: datagrams, stream bytes in any split, and answers the
 * harness signs with the long-term key like a real server so the allocation, refresh,
 * permission and channel paths succeed and the fuzzer explores what follows.
 *
 * Each input is a program. A firn_turn is created (UDP, TCP or TLS to the server, IPv4 or
 * IPv6 relayed family, dual allocation, small or default tables) with a counting allocator
 * and a seeded random source, and started. Operations then feed raw bytes, signed answers
 * to the client's last requests, Data indications and ChannelData from peers, clock jumps,
 * permit/bind/wrap/unwrap calls, connection events, close, and freeing from a callback.
 *
 * Checked, besides ASan/UBSan/LSan:
 *   - state and failure are enum values; READY has a relayed address of a requested
 *     family; FAILED has a failure reason and CLOSED/FAILED never come back to READY;
 *   - UDP output goes to the current server and parses as STUN or ChannelData; TCP output is
 *     a sequence of whole frames (firn_turn_frame_length) holding STUN or ChannelData;
 *   - wrap() output carries the payload: ChannelData on the bound channel, else a Send
 *     indication with XOR-PEER-ADDRESS and DATA; unwrap() never changes state, returns a
 *     payload inside the input from a permitted peer / bound channel;
 *   - on_data only for peers with a permission (or a bound channel);
 *   - frame_length() on any bytes returns 0, a length within [4, avail] and <= max, or a
 *     documented error;
 *   - stats never decrease; the heap stays under MEM_CAP; everything is freed at the end.
 *
 * Program format (big-endian, past the end reads as zero):
 *   u8 options: bits 0-1 transport (0 UDP, 1 TCP, 2 TLS, 3 UDP), bit 2 IPv6 relayed,
 *     bit 3 dual, bit 4 small tables (4 permissions, 2 channels, 1500-byte frames),
 *     bit 5 LIFETIME 60, bit 6 SOFTWARE, bit 7 free the object from a callback on READY
 *   u8 seed
 *   operations: u8 opcode % FUZZ_TURN_N_OPS (fuzz.h).
 */
#include "fuzz.h"
#include "fuzz_alloc.h"

#include "firn/stun.h"
#include "turn/turn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                              \
  do {                                                                                           \
    if (!(cond)) {                                                                               \
      fprintf(stderr, "fuzz_turn: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);       \
      abort();                                                                                   \
    }                                                                                            \
  } while (0)

#define MAX_OPS 384
#define BUF_MAX 4096
#define MAX_RECORDS 8
#define MEM_CAP (256u * 1024u)

#define USER "fuzzuser"
#define PASS "fuzzpass"
#define REALM "firn.example"

/* ---------------------------------------------------------------------------------------- */
/* World                                                                                     */

enum { P_PEER1, P_PEER2, P_PEER1_OTHER_PORT, P_PEER6, P_STRANGER, N_PEERS };

static firn_addr g_server, g_alt_server, g_local, g_relayed4, g_relayed6, g_mapped, g_other;
static firn_addr g_peers[N_PEERS];
static firn_stun_key *g_key_md5, *g_key_sha256;
static int g_trace;

static firn_addr addr_of(const char *s) {
  firn_addr a;
  CHECK(firn_addr_parse(&a, s, 0) == 0);
  return a;
}

static void free_globals(void) {
  firn_stun_key_free(g_key_md5);
  firn_stun_key_free(g_key_sha256);
}

static void init_globals(void) {
  static int done;
  if (done)
    return;
  done = 1;
  g_server = addr_of("198.51.100.1:3478");
  g_alt_server = addr_of("198.51.100.2:3478");
  g_local = addr_of("10.0.0.1:5000");
  g_relayed4 = addr_of("198.51.100.1:49152");
  g_relayed6 = addr_of("[2001:db8::100]:49153");
  g_mapped = addr_of("203.0.113.5:34567");
  g_other = addr_of("203.0.113.66:3478");
  g_peers[P_PEER1] = addr_of("192.0.2.10:6000");
  g_peers[P_PEER2] = addr_of("192.0.2.11:6001");
  g_peers[P_PEER1_OTHER_PORT] = addr_of("192.0.2.10:6500");
  g_peers[P_PEER6] = addr_of("[2001:db8::7]:6002");
  g_peers[P_STRANGER] = addr_of("203.0.113.99:7000");
  CHECK(firn_stun_key_new_long_term(&g_key_md5, NULL, FIRN_STUN_PASSWORD_ALG_MD5, USER, strlen(USER),
                                    REALM, strlen(REALM), PASS, strlen(PASS)) == 0);
  CHECK(firn_stun_key_new_long_term(&g_key_sha256, NULL, FIRN_STUN_PASSWORD_ALG_SHA256, USER,
                                    strlen(USER), REALM, strlen(REALM), PASS, strlen(PASS)) == 0);
  g_trace = getenv("FUZZ_TURN_TRACE") != NULL;
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

typedef struct record {
  uint16_t method;
  uint8_t tid[FIRN_STUN_TID_SIZE];
  int sha256;    /* signed with MESSAGE-INTEGRITY-SHA256 */
  firn_addr peer; /* XOR-PEER-ADDRESS of CreatePermission/ChannelBind */
  uint16_t channel;
} record;

typedef struct harness {
  firn_turn *t;
  counting_alloc mem;
  firn_allocator alloc;
  uint64_t rng, now;
  uint8_t options;
  firn_transport transport;
  record rec[MAX_RECORDS];
  unsigned nrec, rec_next;
  int connect_asked, connected, closed_asked;
  int free_on_ready, freed;
  int was_ready, ended; /* reached READY; reached CLOSED/FAILED */
  firn_turn_stats last;
  uint8_t stream_out[BUF_MAX * 2]; /* TCP output not yet parsed into frames */
  size_t stream_out_len;
} harness;

/* ---------------------------------------------------------------------------------------- */
/* Callbacks                                                                                 */

static void on_state(void *user, firn_turn *t, firn_turn_state st) {
  harness *h = user;
  CHECK(st <= FIRN_TURN_FAILED);
  CHECK(firn_turn_state_name(st) != NULL);
  if (g_trace)
    fprintf(stderr, "  state %s\n", firn_turn_state_name(st));
  firn_turn_info info;
  CHECK(firn_turn_get_info(t, &info) == 0);
  CHECK(info.state == st);
  if (st == FIRN_TURN_READY) {
    CHECK(!h->ended);
    h->was_ready = 1;
    CHECK(info.nrelayed >= 1 && info.nrelayed <= 2);
    for (unsigned i = 0; i < info.nrelayed; i++)
      CHECK(info.relayed[i].family == FIRN_AF_INET || info.relayed[i].family == FIRN_AF_INET6);
    if (h->free_on_ready && !h->freed) {
      firn_turn_free(t);
      h->freed = 1;
    }
  }
  if (st == FIRN_TURN_FAILED) {
    CHECK(info.failure != FIRN_TURN_FAIL_NONE && info.failure <= FIRN_TURN_FAIL_INTERNAL);
    CHECK(firn_turn_failure_name(info.failure) != NULL);
    if (g_trace)
      fprintf(stderr, "  failure %s (%d, %s)\n", firn_turn_failure_name(info.failure),
              info.error_code, firn_strerror(info.status));
  }
  if (st == FIRN_TURN_FAILED || st == FIRN_TURN_CLOSED)
    h->ended = 1;
}

static void on_data(void *user, firn_turn *t, const firn_addr *peer, const uint8_t *data, size_t len,
                    uint64_t now) {
  harness *h = user;
  CHECK(now == h->now);
  CHECK(len == 0 || data != NULL);
  CHECK(firn_turn_has_permission(t, peer) || firn_turn_channel(t, peer) != 0);
  if (len) {
    volatile uint8_t sink = data[len - 1];
    (void)sink;
  }
  if (g_trace)
    fprintf(stderr, "  data %zu bytes\n", len);
}

static void on_connect(void *user, firn_turn *t, const firn_addr *server) {
  harness *h = user;
  (void)t;
  CHECK(h->transport != FIRN_TRANSPORT_UDP);
  CHECK(server->family == FIRN_AF_INET || server->family == FIRN_AF_INET6);
  h->connect_asked++;
  h->stream_out_len = 0; /* a new connection starts a new stream */
}

static void on_close_connection(void *user, firn_turn *t) {
  harness *h = user;
  (void)t;
  CHECK(h->transport != FIRN_TRANSPORT_UDP);
  h->closed_asked++;
  h->connected = 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Input                                                                                     */

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

static size_t get_bytes(reader *r, uint8_t *out, size_t len) {
  size_t n = len < r->left ? len : r->left;
  memcpy(out, r->p, n);
  r->p += n;
  r->left -= n;
  return n;
}

/* ---------------------------------------------------------------------------------------- */
/* Output                                                                                    */

static void record_request(harness *h, const uint8_t *d, size_t len) {
  firn_stun_msg m;
  if (firn_stun_msg_parse(&m, d, len) != 0) {
    fprintf(stderr, "fuzz_turn: the client sent an invalid STUN message\n");
    abort();
  }
  if (m.cls == FIRN_STUN_INDICATION) {
    CHECK(m.method == FIRN_STUN_SEND);
    return;
  }
  CHECK(m.cls == FIRN_STUN_REQUEST);
  CHECK(m.method == FIRN_STUN_ALLOCATE || m.method == FIRN_STUN_REFRESH ||
        m.method == FIRN_STUN_CREATE_PERMISSION || m.method == FIRN_STUN_CHANNEL_BIND);
  record *rc = &h->rec[h->rec_next];
  h->rec_next = (h->rec_next + 1) % MAX_RECORDS;
  if (h->nrec < MAX_RECORDS)
    h->nrec++;
  memset(rc, 0, sizeof *rc);
  rc->method = m.method;
  memcpy(rc->tid, m.tid, FIRN_STUN_TID_SIZE);
  rc->sha256 = m.mi256_off != 0;
  (void)firn_stun_msg_get_xor_addr(&m, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, 0, &rc->peer);
  (void)firn_stun_msg_get_channel(&m, &rc->channel);
  if (g_trace)
    fprintf(stderr, "  request method %u%s\n", (unsigned)m.method, m.mi_off || m.mi256_off ? " signed" : "");
}

/* One frame (UDP datagram or stream frame) the client sent. */
static void check_frame(harness *h, const uint8_t *d, size_t len) {
  CHECK(len >= 4);
  if (d[0] >= 0x40 && d[0] <= 0x7f) {
    uint16_t ch = (uint16_t)((d[0] << 8) | d[1]);
    CHECK(ch >= 0x4000 && ch <= 0x4fff);
    size_t dlen = (size_t)((d[2] << 8) | d[3]);
    CHECK(4 + dlen <= len && len <= ((4 + dlen + 3) & ~(size_t)3));
    return;
  }
  record_request(h, d, len);
}

static void drain(harness *h) {
  static uint8_t buf[BUF_MAX];
  for (int i = 0; i < 1024 && !h->freed; i++) {
    firn_addr dest;
    firn_ssize n = firn_turn_poll_transmit(h->t, h->now, buf, sizeof buf, &dest);
    if (n == FIRN_ERR_WOULDBLOCK)
      return;
    CHECK(n > 0);
    firn_turn_info info;
    CHECK(firn_turn_get_info(h->t, &info) == 0);
    if (h->transport == FIRN_TRANSPORT_UDP) {
      CHECK(firn_addr_equal(&dest, &info.server));
      check_frame(h, buf, (size_t)n);
    } else if (h->transport == FIRN_TRANSPORT_TCP) {
      /* stream bytes: whole frames back to back (a frame may straddle two polls) */
      CHECK(h->stream_out_len + (size_t)n <= sizeof h->stream_out);
      memcpy(h->stream_out + h->stream_out_len, buf, (size_t)n);
      h->stream_out_len += (size_t)n;
      size_t off = 0;
      for (;;) {
        firn_ssize fl = firn_turn_frame_length(h->stream_out + off, h->stream_out_len - off, 65536 + 8);
        CHECK(fl >= 0);
        if (fl == 0)
          break;
        check_frame(h, h->stream_out + off, (size_t)fl);
        off += (size_t)fl;
      }
      memmove(h->stream_out, h->stream_out + off, h->stream_out_len - off);
      h->stream_out_len -= off;
    }
    /* TLS: encrypted records, nothing to parse */
  }
  CHECK(h->freed || !"poll_transmit never said WOULDBLOCK");
}

static void check_invariants(harness *h) {
  if (h->freed)
    return;
  CHECK(h->mem.live < MEM_CAP);
  firn_turn_state st = firn_turn_get_state(h->t);
  CHECK(st <= FIRN_TURN_FAILED);
  if (h->ended)
    CHECK(st == FIRN_TURN_CLOSED || st == FIRN_TURN_FAILED);
  firn_turn_info info;
  CHECK(firn_turn_get_info(h->t, &info) == 0);
  CHECK(info.state == st);
  CHECK(info.failure <= FIRN_TURN_FAIL_INTERNAL);
  CHECK((st == FIRN_TURN_FAILED) == (info.failure != FIRN_TURN_FAIL_NONE) || st != FIRN_TURN_FAILED);
  CHECK(info.nrelayed <= 2);
  if (st == FIRN_TURN_READY)
    CHECK(info.nrelayed >= 1);
  firn_turn_stats s;
  CHECK(firn_turn_get_stats(h->t, &s) == 0);
  CHECK(s.allocate_requests >= h->last.allocate_requests);
  CHECK(s.refreshes >= h->last.refreshes);
  CHECK(s.data_in >= h->last.data_in && s.data_out >= h->last.data_out);
  CHECK(s.channel_data_in >= h->last.channel_data_in);
  CHECK(s.channel_data_out >= h->last.channel_data_out);
  CHECK(s.stale_nonces >= h->last.stale_nonces && s.dropped >= h->last.dropped);
  h->last = s;
  uint64_t e = firn_turn_expiry(h->t);
  CHECK(e == FIRN_TIME_NEVER || e <= h->now + 3600 * FIRN_NS_PER_S);
}

/* ---------------------------------------------------------------------------------------- */
/* Server side                                                                               */

static void deliver(harness *h, const firn_addr *from, const uint8_t *d, size_t len) {
  uint8_t *copy = malloc(len ? len : 1);
  CHECK(copy != NULL);
  memcpy(copy, d, len);
  int rc;
  if (h->transport == FIRN_TRANSPORT_UDP) {
    rc = firn_turn_handle_datagram(h->t, from, copy, len, h->now);
  } else {
    rc = firn_turn_handle_stream(h->t, copy, len, h->now);
  }
  CHECK(rc <= 0);
  CHECK(firn_strerror(rc) != NULL);
  free(copy);
}

/* Stream delivery pads ChannelData to 4 (RFC 8656 12.5). */
static size_t channel_data(uint8_t *out, uint16_t ch, const uint8_t *d, size_t len, int pad) {
  out[0] = (uint8_t)(ch >> 8);
  out[1] = (uint8_t)ch;
  out[2] = (uint8_t)(len >> 8);
  out[3] = (uint8_t)len;
  memcpy(out + 4, d, len);
  size_t n = 4 + len;
  while (pad && (n & 3))
    out[n++] = 0;
  return n;
}

/* The request `back` places before the most recent one (0: the last request sent). */
static const record *recent(const harness *h, uint8_t back) {
  unsigned k = back % h->nrec;
  return &h->rec[(h->rec_next + MAX_RECORDS - 1 - k) % MAX_RECORDS];
}

/* Response flags */
#define RSP_ERROR 0x01
#define RSP_NO_SIGN 0x02
#define RSP_SHA256_KEY 0x04
#define RSP_MI256 0x08
#define RSP_FP 0x10
#define RSP_WRONG_SOURCE 0x20
#define RSP_NO_ADDRS 0x40
#define RSP_DUAL 0x80

/* u8 record (0: the last request, 1: the one before, ...), u8 flags, u8 pick (error code, lifetime, nonce), u8 nattrs, attrs (u16 type,
 * u8 len, value) */
static void op_response(harness *h, reader *r) {
  uint8_t idx = get8(r), flags = get8(r), pick = get8(r), nattrs = get8(r) % 4;
  if (!h->nrec)
    return;
  const record *rc = recent(h, idx);
  static const int codes[] = {401, 438, 437, 300, 400, 403, 420, 440, 441, 442, 443, 446, 447,
                              486, 500, 508};
  static uint8_t buf[BUF_MAX];
  firn_stun_builder b;
  int is_error = flags & RSP_ERROR;
  firn_stun_builder_init(&b, buf, sizeof buf, rc->method, is_error ? FIRN_STUN_ERROR : FIRN_STUN_SUCCESS,
                         rc->tid);
  int sign = !(flags & RSP_NO_SIGN);
  if (is_error) {
    int code = codes[pick % (sizeof codes / sizeof codes[0])];
    firn_stun_add_error(&b, code, NULL);
    if (code == 401 || code == 438) {
      char nonce[32];
      snprintf(nonce, sizeof nonce, "nonce-%u", (unsigned)(pick >> 4));
      firn_stun_add_string(&b, FIRN_STUN_ATTR_REALM, REALM, strlen(REALM));
      firn_stun_add_string(&b, FIRN_STUN_ATTR_NONCE, nonce, strlen(nonce));
      if (pick & 0x80) {
        firn_stun_add_password_alg(&b, FIRN_STUN_PASSWORD_ALG_SHA256);
      }
      sign = 0;
    }
    if (code == 300) {
      const firn_addr *alt = (pick & 0x10) ? &g_other : &g_alt_server;
      firn_stun_add_addr(&b, FIRN_STUN_ATTR_ALTERNATE_SERVER, alt);
      sign = 0;
    }
  } else if (!(flags & RSP_NO_ADDRS)) {
    if (rc->method == FIRN_STUN_ALLOCATE) {
      const firn_addr *rel = (h->options & 4) ? &g_relayed6 : &g_relayed4;
      firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, rel);
      if (flags & RSP_DUAL)
        firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, &g_relayed6);
      firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &g_mapped);
      firn_stun_add_u32(&b, FIRN_STUN_ATTR_LIFETIME, 600u >> (pick & 7));
    } else if (rc->method == FIRN_STUN_REFRESH) {
      firn_stun_add_u32(&b, FIRN_STUN_ATTR_LIFETIME, (pick & 1) ? 0 : 600u >> (pick & 7));
    }
  }
  for (unsigned i = 0; i < nattrs; i++) {
    uint8_t v[64];
    uint16_t type = get16(r);
    size_t len = get_bytes(r, v, get8(r) % sizeof v);
    if (type == FIRN_STUN_ATTR_MESSAGE_INTEGRITY || type == FIRN_STUN_ATTR_MESSAGE_INTEGRITY_SHA256 ||
        type == FIRN_STUN_ATTR_FINGERPRINT)
      continue;
    firn_stun_add_raw(&b, type, v, len);
  }
  if (sign) {
    const firn_stun_key *key = (flags & RSP_SHA256_KEY) ? g_key_sha256 : g_key_md5;
    if ((flags & RSP_MI256) || rc->sha256)
      firn_stun_add_integrity_sha256(&b, key);
    else
      firn_stun_add_integrity(&b, key);
  }
  if (flags & RSP_FP)
    firn_stun_add_fingerprint(&b);
  firn_ssize n = firn_stun_builder_finish(&b);
  if (n <= 0)
    return;
  firn_turn_info info;
  CHECK(firn_turn_get_info(h->t, &info) == 0);
  deliver(h, (flags & RSP_WRONG_SOURCE) ? &g_other : &info.server, buf, (size_t)n);
}

/* Relayed data from a peer: u8 peer|kind, u8 len, bytes. kind 0 Data indication, 1
 * ChannelData on the peer's channel (or a recorded/arbitrary number), 2 Data indication
 * without DATA, 3 ChannelData with a lying length. */
static void op_peer_data(harness *h, reader *r) {
  uint8_t sel = get8(r);
  size_t len = get8(r);
  static uint8_t payload[256], buf[BUF_MAX];
  len = get_bytes(r, payload, len);
  const firn_addr *peer = &g_peers[(sel & 7) % N_PEERS];
  unsigned kind = (sel >> 3) & 3;
  size_t n;
  if (kind == 1 || kind == 3) {
    uint16_t ch = firn_turn_channel(h->t, peer);
    if (!ch)
      ch = (uint16_t)(0x4000 + (sel >> 5));
    n = channel_data(buf, ch, payload, len, h->transport != FIRN_TRANSPORT_UDP);
    if (kind == 3 && n >= 4)
      buf[2] ^= 0x01; /* lie about the length */
  } else {
    uint8_t tid[FIRN_STUN_TID_SIZE];
    memset(tid, sel, sizeof tid);
    firn_stun_builder b;
    firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_DATA, FIRN_STUN_INDICATION, tid);
    firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, peer);
    if (kind == 0)
      firn_stun_add_raw(&b, FIRN_STUN_ATTR_DATA, payload, len);
    if (sel & 0x80)
      firn_stun_add_fingerprint(&b);
    firn_ssize m = firn_stun_builder_finish(&b);
    if (m <= 0)
      return;
    n = (size_t)m;
  }
  firn_turn_stats before;
  CHECK(firn_turn_get_stats(h->t, &before) == 0);
  firn_turn_state st_before = firn_turn_get_state(h->t);
  /* unwrap first: it must not change anything */
  firn_addr from;
  const uint8_t *p = NULL;
  size_t plen = 0;
  int u = firn_turn_unwrap(h->t, buf, n, &from, &p, &plen);
  CHECK(u == 1 || u == 0 || u < 0);
  if (u == 1) {
    CHECK(plen == 0 || (p >= buf && p + plen <= buf + n));
    CHECK(firn_turn_has_permission(h->t, &from) || firn_turn_channel(h->t, &from));
  }
  firn_turn_stats after;
  CHECK(firn_turn_get_stats(h->t, &after) == 0);
  CHECK(memcmp(&before, &after, sizeof before) == 0);
  CHECK(firn_turn_get_state(h->t) == st_before);
  firn_turn_info info;
  CHECK(firn_turn_get_info(h->t, &info) == 0);
  deliver(h, &info.server, buf, n);
}

static void op_wrap(harness *h, reader *r) {
  uint8_t sel = get8(r);
  size_t len = get8(r);
  static uint8_t payload[256], out[BUF_MAX];
  len = get_bytes(r, payload, len);
  const firn_addr *peer = &g_peers[sel % N_PEERS];
  uint16_t ch = firn_turn_channel(h->t, peer);
  size_t cap = (sel & 0x80) ? len / 2 : sizeof out;
  firn_ssize n = firn_turn_wrap(h->t, peer, payload, len, out, cap);
  if (n < 0) {
    CHECK(n == FIRN_ERR_STATE || n == FIRN_ERR_TURN_PERMISSION || n == FIRN_ERR_NOBUF ||
          n == FIRN_ERR_INVALID_ARG || n == FIRN_ERR_RANDOM || n == FIRN_ERR_TURN_TLS);
    return;
  }
  CHECK((size_t)n <= cap);
  CHECK(firn_turn_get_state(h->t) == FIRN_TURN_READY);
  if (h->transport == FIRN_TRANSPORT_TLS)
    return;
  if (ch) {
    CHECK((size_t)n >= 4 + len);
    CHECK(out[0] == (uint8_t)(ch >> 8) && out[1] == (uint8_t)ch);
    CHECK((size_t)((out[2] << 8) | out[3]) == len);
    CHECK(memcmp(out + 4, payload, len) == 0);
  } else {
    firn_stun_msg m;
    CHECK(firn_stun_msg_parse(&m, out, (size_t)n) == 0);
    CHECK(m.method == FIRN_STUN_SEND && m.cls == FIRN_STUN_INDICATION);
    firn_addr to;
    CHECK(firn_stun_msg_get_xor_addr(&m, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, 0, &to) == 0);
    CHECK(firn_addr_equal(&to, peer));
    const uint8_t *v;
    size_t vlen;
    CHECK(firn_stun_msg_find(&m, FIRN_STUN_ATTR_DATA, &v, &vlen) == 0);
    CHECK(vlen == len && memcmp(v, payload, len) == 0);
  }
}

static void op_raw(harness *h, reader *r) {
  uint8_t sel = get8(r);
  size_t len = get16(r) % BUF_MAX;
  static uint8_t buf[BUF_MAX];
  len = get_bytes(r, buf, len);
  firn_turn_info info;
  CHECK(firn_turn_get_info(h->t, &info) == 0);
  const firn_addr *from = (sel & 1) ? &g_other : &info.server;
  if (h->transport != FIRN_TRANSPORT_UDP && (sel & 2)) {
    /* in small pieces, as TCP may split it */
    size_t step = 1 + (sel >> 2) % 7;
    for (size_t off = 0; off < len && !h->freed; off += step) {
      size_t n = len - off < step ? len - off : step;
      deliver(h, from, buf + off, n);
    }
    return;
  }
  deliver(h, from, buf, len);
}

/* A real server's message (e.g. captured from coturn) answering one of our requests: it
 * takes the record's TID and is signed again with our key (the capture used the same
 * credentials, so this is what the server would have sent), keeping its attributes. */
static void op_resigned(harness *h, reader *r) {
  uint8_t idx = get8(r), flags = get8(r);
  size_t len = get16(r) % BUF_MAX;
  static uint8_t in[BUF_MAX], out[BUF_MAX];
  len = get_bytes(r, in, len);
  if (!h->nrec)
    return;
  const record *rc = recent(h, idx);
  firn_stun_msg m;
  if (firn_stun_msg_parse(&m, in, len) != 0)
    return;
  size_t end = m.len;
  if (m.mi_off && m.mi_off < end)
    end = m.mi_off;
  if (m.mi256_off && m.mi256_off < end)
    end = m.mi256_off;
  if (m.fp_off && m.fp_off < end)
    end = m.fp_off;
  firn_stun_builder b;
  firn_stun_builder_init(&b, out, sizeof out, (flags & 1) ? rc->method : m.method,
                         (firn_stun_class)m.cls, rc->tid);
  for (unsigned i = 0; i < m.nattrs && m.attr_off[i] < end; i++) {
    const uint8_t *a = in + m.attr_off[i];
    firn_stun_add_raw(&b, (uint16_t)((a[0] << 8) | a[1]), a + 4, (size_t)((a[2] << 8) | a[3]));
  }
  if ((m.mi_off || m.mi256_off) && !(flags & 2)) {
    if (m.mi256_off || rc->sha256)
      firn_stun_add_integrity_sha256(&b, (flags & 4) ? g_key_sha256 : g_key_md5);
    else
      firn_stun_add_integrity(&b, (flags & 4) ? g_key_sha256 : g_key_md5);
  }
  if (m.fp_off || (flags & 8))
    firn_stun_add_fingerprint(&b);
  firn_ssize n = firn_stun_builder_finish(&b);
  if (n <= 0)
    return;
  firn_turn_info info;
  CHECK(firn_turn_get_info(h->t, &info) == 0);
  deliver(h, &info.server, out, (size_t)n);
}

static void op_frame_length(reader *r) {
  static uint8_t buf[BUF_MAX];
  size_t max = get16(r);
  size_t len = get_bytes(r, buf, get8(r));
  uint8_t *copy = malloc(len ? len : 1);
  CHECK(copy != NULL);
  memcpy(copy, buf, len);
  firn_ssize n = firn_turn_frame_length(copy, len, max);
  CHECK(n == 0 || n == FIRN_ERR_STUN_NOT_STUN || n == FIRN_ERR_LIMIT || (n >= 4 && (size_t)n <= len));
  if (n > 0)
    CHECK((size_t)n <= max || max < 4);
  free(copy);
}

/* ---------------------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_globals();
  harness *h = calloc(1, sizeof *h);
  CHECK(h != NULL);
  reader r = {data, size};
  h->options = get8(&r);
  h->rng = 0x9e3779b97f4a7c15u ^ ((uint64_t)get8(&r) << 8) ^ h->options;
  fuzz_alloc_hooks(&h->alloc, &h->mem);
  h->now = 1000 * FIRN_NS_PER_S;
  static const firn_transport transports[] = {FIRN_TRANSPORT_UDP, FIRN_TRANSPORT_TCP,
                                              FIRN_TRANSPORT_TLS, FIRN_TRANSPORT_UDP};
  h->transport = transports[h->options & 3];
  h->free_on_ready = (h->options & 0x80) != 0;

  firn_turn_settings s;
  firn_turn_settings_default(&s);
  s.alloc = &h->alloc;
  s.random = test_random;
  s.random_user = &h->rng;
  s.server = g_server;
  s.local = g_local;
  s.transport = h->transport;
  s.username = USER;
  s.password = PASS;
  s.family = (h->options & 4) ? FIRN_AF_INET6 : FIRN_AF_INET;
  s.dual = (h->options >> 3) & 1;
  if (h->options & 0x10) {
    s.max_permissions = 4;
    s.max_channels = 2;
    s.max_frame = 1500;
  }
  if (h->options & 0x20)
    s.lifetime_s = 60;
  s.software = (h->options & 0x40) ? "firn fuzz" : NULL;
  s.tls_insecure = 1;
  s.tls_server_name = "turn.example";
  s.callbacks.on_state = on_state;
  s.callbacks.on_data = on_data;
  s.callbacks.on_connect = on_connect;
  s.callbacks.on_close_connection = on_close_connection;
  s.user = h;
  int rc = firn_turn_new(&h->t, &s);
  if (rc != 0) {
    CHECK(rc == FIRN_ERR_UNSUPPORTED || rc == FIRN_ERR_INVALID_ARG);
    CHECK(h->mem.blocks == 0);
    free(h);
    return 0;
  }
  CHECK(firn_turn_start(h->t, h->now) == 0);
  CHECK(firn_turn_start(h->t, h->now) == FIRN_ERR_STATE);
  if (h->transport != FIRN_TRANSPORT_UDP) {
    CHECK(h->connect_asked == 1);
    CHECK(firn_turn_connected(h->t, 1, h->now) == 0);
    h->connected = 1;
  }
  drain(h);
  check_invariants(h);

  for (int op = 0; op < MAX_OPS && r.left && !h->freed; op++) {
    switch (get8(&r) % FUZZ_TURN_N_OPS) {
    case FUZZ_TURN_OP_RAW: op_raw(h, &r); break;
    case FUZZ_TURN_OP_RESPONSE: op_response(h, &r); break;
    case FUZZ_TURN_OP_PEER_DATA: op_peer_data(h, &r); break;
    case FUZZ_TURN_OP_ADVANCE:
      h->now += (uint64_t)get16(&r) * 10 * FIRN_NS_PER_MS;
      firn_turn_handle_expiry(h->t, h->now);
      break;
    case FUZZ_TURN_OP_TO_EXPIRY: {
      uint64_t e = firn_turn_expiry(h->t);
      if (e != FIRN_TIME_NEVER && e > h->now)
        h->now = e;
      firn_turn_handle_expiry(h->t, h->now);
      break;
    }
    case FUZZ_TURN_OP_POLL: drain(h); break;
    case FUZZ_TURN_OP_PERMIT: {
      const firn_addr *peer = &g_peers[get8(&r) % N_PEERS];
      rc = firn_turn_permit(h->t, peer, h->now);
      CHECK(rc == 0 || rc == FIRN_ERR_LIMIT || rc == FIRN_ERR_INVALID_ARG || rc == FIRN_ERR_STATE ||
            rc == FIRN_ERR_NOMEM);
      break;
    }
    case FUZZ_TURN_OP_BIND: {
      const firn_addr *peer = &g_peers[get8(&r) % N_PEERS];
      uint16_t ch = 0;
      rc = firn_turn_bind_channel(h->t, peer, h->now, &ch);
      CHECK(rc == 0 || rc == FIRN_ERR_LIMIT || rc == FIRN_ERR_INVALID_ARG || rc == FIRN_ERR_STATE ||
            rc == FIRN_ERR_NOMEM);
      if (rc == 0)
        CHECK(ch >= 0x4000 && ch <= 0x4fff);
      break;
    }
    case FUZZ_TURN_OP_REMOVE: {
      const firn_addr *peer = &g_peers[get8(&r) % N_PEERS];
      rc = firn_turn_remove_permission(h->t, peer);
      CHECK(rc <= 0);
      CHECK(rc != 0 || !firn_turn_has_permission(h->t, peer));
      break;
    }
    case FUZZ_TURN_OP_WRAP: op_wrap(h, &r); break;
    case FUZZ_TURN_OP_FRAME_LENGTH: op_frame_length(&r); break;
    case FUZZ_TURN_OP_CONNECTION: {
      uint8_t what = get8(&r);
      if (h->transport == FIRN_TRANSPORT_UDP)
        break;
      if (what & 1) {
        rc = firn_turn_connection_closed(h->t, h->now);
        h->connected = 0;
      } else {
        rc = firn_turn_connected(h->t, (what >> 1) & 1, h->now);
      }
      CHECK(rc <= 0);
      break;
    }
    case FUZZ_TURN_OP_CLOSE:
      rc = firn_turn_close(h->t, h->now);
      CHECK(rc == 0 || rc == FIRN_ERR_STATE);
      break;
    case FUZZ_TURN_OP_RESIGNED: op_resigned(h, &r); break;
    default: h->free_on_ready = 1; break;
    }
    if (!h->freed) {
      drain(h);
      check_invariants(h);
    }
  }
  if (!h->freed) {
    /* close and let the clock run: the object must reach CLOSED within close_timeout */
    rc = firn_turn_close(h->t, h->now);
    CHECK(rc == 0 || rc == FIRN_ERR_STATE);
    for (int i = 0; i < 64 && !h->freed; i++) {
      drain(h);
      firn_turn_state st = firn_turn_get_state(h->t);
      if (st == FIRN_TURN_CLOSED || st == FIRN_TURN_FAILED)
        break;
      uint64_t e = firn_turn_expiry(h->t);
      CHECK(e != FIRN_TIME_NEVER);
      if (e > h->now)
        h->now = e;
      firn_turn_handle_expiry(h->t, h->now);
    }
    if (!h->freed) {
      firn_turn_state st = firn_turn_get_state(h->t);
      CHECK(st == FIRN_TURN_CLOSED || st == FIRN_TURN_FAILED);
      firn_turn_free(h->t);
    }
  }
  CHECK(h->mem.blocks == 0 && h->mem.live == 0);
  free(h);
  return 0;
}
