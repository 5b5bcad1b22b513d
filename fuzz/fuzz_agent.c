/*
 * libFuzzer target for the ICE agent (include/firn/ice.h, sans-I/O) fed arbitrary input from
 * the network: datagrams on any path, TCP streams, TURN server answers, clock jumps.
 *
 * Each input is a program. An agent is created with a counting allocator and a seeded random
 * source (the seed comes from the input's first bytes, so a run replays exactly), given one
 * stream (one or two components), local UDP addresses on two interfaces and IPv6, optionally
 * an ICE-TCP listener, a STUN server and a TURN server (UDP), the remote credentials and
 * remote host/srflx/IPv6 (and TCP) candidates, and gathers. Then the program's operations run.
 *
 * To reach the deep states (checks answered, nomination, role conflicts, consent, prflx,
 * relay allocation and relayed checks) the harness can build *valid* messages the way a
 * real peer or server would: authenticated Binding requests (USERNAME "local:remote",
 * MESSAGE-INTEGRITY(-SHA256) with our pwd, PRIORITY, ICE-CONTROLLING/-CONTROLLED with an
 * input tie-breaker, USE-CANDIDATE, input attributes, FINGERPRINT), responses to a request
 * the agent sent (its transaction ID, XOR-MAPPED-ADDRESS, signed with the remote pwd, or a
 * 487/400/... error), and TURN server answers signed with the long-term key (401 with
 * REALM/NONCE, Allocate success with relayed/mapped addresses, Refresh, CreatePermission,
 * ChannelBind), and it can wrap any of them in a Data indication or ChannelData from the
 * TURN server, or frame it (RFC 4571) on a TCP connection.
 *
 * Checked, besides ASan/UBSan/LSan:
 *   - states and roles are values of their enums, callbacks carry valid stream/component;
 *   - every datagram poll_transmit returns parses as STUN (directly, inside RFC 4571 framing,
 *     inside a Send indication or ChannelData to the TURN server), or is TURN ChannelData;
 *   - write_data output is exactly the harness's payload (plus framing) on a selected path;
 *   - stats: datagrams_sent equals what the harness pulled, counters never decrease, pairs
 *     and remote candidates within their bounds, pair stats agree with the agent stats;
 *   - the agent's live heap stays under MEM_CAP whatever the input, and every allocation is
 *     freed when the agent is (also when destroyed from inside a callback).
 *
 * Program format (big-endian, everything past the end reads as zero):
 *   u8 options: bit 0 controlled (else controlling), bit 1 lite, bit 2 two components,
 *     bit 3 ICE-TCP listener + remote TCP candidates, bit 4 STUN server, bit 5 TURN server,
 *     bit 6 remote is lite, bit 7 relay-only policy
 *   u8 seed (random source; bit 7: the TURN server is reached over TCP)
 *   u8 fail: bits 0-6 n, the n-th allocation after setup fails (0: none), bit 7: and every
 *     one after it (the agent must keep its invariants, report FIRN_ERR_NOMEM and free all)
 *   then operations, u8 opcode % FUZZ_AGENT_N_OPS (see fuzz.h).
 */
#include "fuzz.h"
#include "fuzz_alloc.h"

#include "firn/ice.h"
#include "firn/stun.h"
#include "turn/turn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                              \
  do {                                                                                           \
    if (!(cond)) {                                                                               \
      fprintf(stderr, "fuzz_agent: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);      \
      abort();                                                                                   \
    }                                                                                            \
  } while (0)

#define MAX_OPS 384
#define BUF_MAX 2048
#define MAX_RECORDS 16
#define MAX_CONNS 40
#define MAX_CHANNELS 8
/* The agent's heap, whatever the input: tables are bounded (pairs, remote candidates,
 * triggered checks, TCP connections, outgoing queue). */
#define MEM_CAP (256u * 1024u)

/* ---------------------------------------------------------------------------------------- */
/* Fixed world                                                                               */

/* The peer's credentials; an ICE restart by the peer (RESTART with bit 1) moves to the next. */
static const char *const k_remote_ufrag[2] = {"RmUf", "RmU2"};
static const char *const k_remote_pwd[2] = {"remotepasswordremotepwd0", "remotepasswordrestarted1"};
#define REMOTE_UFRAG k_remote_ufrag[0]
#define REMOTE_PWD k_remote_pwd[0]
#define TURN_USER "fuzzuser"
#define TURN_PASS "fuzzpass"
#define TURN_REALM "firn.example"
#define RELAYED "198.51.100.1:49152"
#define MAPPED "203.0.113.5:34567"

enum { L_ETH0, L_WLAN0, L_V6, L_COMP2, L_TCP, L_UNKNOWN, L_RELAYED, N_LOCALS };
enum { R_HOST, R_SRFLX, R_V6, R_COMP2, R_TCP_PASSIVE, R_TCP_ACTIVE, R_UNKNOWN, R_STUN, R_TURN,
       N_REMOTES };

static firn_addr g_local[N_LOCALS], g_remote[N_REMOTES], g_mapped;
static int g_trace; /* FUZZ_AGENT_TRACE=1: print events, to see what a seed reaches */

static firn_addr addr_of(const char *s) {
  firn_addr a;
  CHECK(firn_addr_parse(&a, s, 0) == 0);
  return a;
}

static void init_globals(void) {
  static int done;
  if (done)
    return;
  done = 1;
  g_local[L_ETH0] = addr_of("10.0.0.1:5000");
  g_local[L_WLAN0] = addr_of("10.0.1.1:5001");
  g_local[L_V6] = addr_of("[2001:db8::1]:5002");
  g_local[L_COMP2] = addr_of("10.0.0.1:5003");
  g_local[L_TCP] = addr_of("10.0.0.1:5010");
  g_local[L_UNKNOWN] = addr_of("10.9.9.9:4000");
  g_local[L_RELAYED] = addr_of(RELAYED);
  g_remote[R_HOST] = addr_of("10.0.0.2:6000");
  g_remote[R_SRFLX] = addr_of("198.51.100.7:6001");
  g_remote[R_V6] = addr_of("[2001:db8::2]:6002");
  g_remote[R_COMP2] = addr_of("10.0.0.2:6003");
  g_remote[R_TCP_PASSIVE] = addr_of("10.0.0.2:6010");
  g_remote[R_TCP_ACTIVE] = addr_of("10.0.0.2:9");
  g_remote[R_UNKNOWN] = addr_of("203.0.113.77:7000");
  g_remote[R_STUN] = addr_of("192.0.2.1:3478");
  g_remote[R_TURN] = addr_of("198.51.100.1:3478");
  g_mapped = addr_of(MAPPED);
  g_trace = getenv("FUZZ_AGENT_TRACE") != NULL;
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

/* ---------------------------------------------------------------------------------------- */
/* Harness state                                                                             */

/* A request the agent sent, so a response can carry its TID. */
typedef struct record {
  firn_path path;        /* as sent (local = our base, remote = destination) */
  int relayed;           /* sent through the TURN server: path.local is the relayed address */
  uint16_t method;
  uint8_t tid[FIRN_STUN_TID_SIZE];
  char realm[64];        /* REALM of a TURN request, "" if none */
  unsigned gen;          /* the peer's credentials when it was sent */
  firn_path carrier;     /* relayed: the path to the TURN server it left on */
} record;

typedef struct conn {
  uint32_t id;
  int open, closed, requested;
  firn_addr local, remote;
} conn;

typedef struct harness {
  firn_agent *ag;
  counting_alloc mem;
  firn_allocator alloc;
  uint64_t rng;
  uint64_t now;
  unsigned stream;
  unsigned ncomp;
  uint8_t options;
  record rec[MAX_RECORDS];
  unsigned nrec, rec_next;
  conn conns[MAX_CONNS];
  unsigned nconns;
  struct {
    uint16_t number;
    firn_addr peer;
  } channels[MAX_CHANNELS];
  unsigned nchannels;
  uint64_t polled;
  unsigned remote_gen; /* which k_remote_* credentials the agent has */
  int turn_tcp;        /* the TURN server is reached over TCP (seed byte bit 7) */
  char old_ufrag[257], old_pwd[257]; /* local credentials before the last restart */
  unsigned old_remote_gen;
  firn_agent_stats last;
  int destroy_in_callback, destroyed;
  int in_data;
} harness;

static conn *conn_find(harness *h, uint32_t id) {
  for (unsigned i = 0; i < h->nconns; i++)
    if (h->conns[i].id == id)
      return &h->conns[i];
  return NULL;
}

static conn *conn_add(harness *h, uint32_t id) {
  conn *c = conn_find(h, id);
  if (c)
    return c;
  if (h->nconns == MAX_CONNS) {
    /* reuse the oldest closed slot */
    for (unsigned i = 0; i < h->nconns; i++)
      if (h->conns[i].closed) {
        memset(&h->conns[i], 0, sizeof h->conns[i]);
        h->conns[i].id = id;
        return &h->conns[i];
      }
    return NULL;
  }
  c = &h->conns[h->nconns++];
  memset(c, 0, sizeof *c);
  c->id = id;
  return c;
}

/* The agent's TCP connection to the TURN server (TURN over TCP), or NULL. */
static conn *turn_conn(harness *h) {
  for (unsigned i = 0; i < h->nconns; i++)
    if (!h->conns[i].closed && (firn_addr_equal(&h->conns[i].remote, &g_remote[R_TURN]) ||
                                firn_addr_equal(&h->conns[i].remote, &g_remote[R_STUN])))
      return &h->conns[i];
  return NULL;
}

static void maybe_destroy(harness *h) {
  if (h->destroy_in_callback && !h->destroyed) {
    h->destroy_in_callback = 0;
    firn_agent_destroy(h->ag);
    h->destroyed = 1;
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Callbacks                                                                                 */

static void check_cand(const firn_candidate *c) {
  CHECK(c->type <= FIRN_CAND_RELAY);
  CHECK(c->transport == FIRN_TRANSPORT_UDP || c->transport == FIRN_TRANSPORT_TCP);
  CHECK(c->tcptype <= FIRN_TCP_SO);
  CHECK(c->component >= 1 && c->component <= 2);
  CHECK(c->addr.family == FIRN_AF_INET || c->addr.family == FIRN_AF_INET6);
  CHECK(memchr(c->foundation, 0, sizeof c->foundation) != NULL);
}

static void on_candidate(void *user, unsigned stream, const firn_candidate *c) {
  harness *h = user;
  CHECK(stream == h->stream);
  check_cand(c);
}

static void on_gathering_done(void *user, unsigned stream) {
  harness *h = user;
  CHECK(stream == h->stream);
}

static void on_state(void *user, unsigned stream, firn_ice_state state) {
  harness *h = user;
  CHECK(stream == h->stream);
  CHECK(state <= FIRN_ICE_CLOSED);
  CHECK(firn_ice_state_name(state) != NULL);
  if (g_trace)
    fprintf(stderr, "  state %s\n", firn_ice_state_name(state));
  if (state == FIRN_ICE_CONNECTED || state == FIRN_ICE_FAILED)
    maybe_destroy(h);
}

static void on_selected_pair(void *user, unsigned stream, unsigned component,
                             const firn_candidate *local, const firn_candidate *remote) {
  harness *h = user;
  CHECK(stream == h->stream);
  CHECK(component >= 1 && component <= h->ncomp);
  check_cand(local);
  check_cand(remote);
  CHECK(local->component == component && remote->component == component);
  if (g_trace) {
    char l[FIRN_CANDIDATE_STRLEN], r[FIRN_CANDIDATE_STRLEN];
    (void)firn_candidate_format(local, l, sizeof l);
    (void)firn_candidate_format(remote, r, sizeof r);
    fprintf(stderr, "  selected %u: %s <-> %s\n", component, l, r);
  }
}

static void on_data(void *user, unsigned stream, unsigned component, const uint8_t *data, size_t len,
                    const firn_path *path, uint64_t now) {
  harness *h = user;
  CHECK(stream == h->stream);
  CHECK(component >= 1 && component <= h->ncomp);
  CHECK(path != NULL && data != NULL && len > 0);
  CHECK(now == h->now);
  /* RFC 7983: STUN is never application data. */
  CHECK(data[0] >= 4 || !firn_stun_is_stun(data, len));
  if (g_trace)
    fprintf(stderr, "  data %zu bytes on component %u\n", len, component);
  volatile uint8_t sink = data[len - 1]; /* the whole range must be readable */
  (void)sink;
  maybe_destroy(h);
}

static void on_tcp_connect(void *user, const firn_path *path) {
  harness *h = user;
  CHECK(path->transport == FIRN_TRANSPORT_TCP);
  CHECK(path->conn != 0);
  conn *c = conn_add(h, path->conn);
  if (g_trace) {
    char dst[FIRN_ADDR_STRLEN];
    (void)firn_addr_format(&path->remote, 1, dst, sizeof dst);
    fprintf(stderr, "  tcp connect %u to %s\n", path->conn, dst);
  }
  if (c) {
    c->requested = 1;
    c->local = path->local;
    c->remote = path->remote;
  }
}

static void on_tcp_close(void *user, uint32_t id) {
  harness *h = user;
  conn *c = conn_find(h, id);
  if (c)
    c->closed = 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Input reader                                                                              */

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

static uint32_t get32(reader *r) {
  uint32_t hi = get16(r);
  return (hi << 16) | get16(r);
}

static uint64_t get64(reader *r) {
  uint64_t hi = get32(r);
  return (hi << 32) | get32(r);
}

static size_t get_bytes(reader *r, uint8_t *out, size_t len) {
  size_t n = len < r->left ? len : r->left;
  memcpy(out, r->p, n);
  r->p += n;
  r->left -= n;
  return n;
}

/* ---------------------------------------------------------------------------------------- */
/* Output checks                                                                             */

static void record_request(harness *h, const firn_path *path, int relayed, const uint8_t *d,
                           size_t len, const firn_path *carrier) {
  firn_stun_msg m;
  if (firn_stun_msg_parse(&m, d, len) != 0 || m.cls != FIRN_STUN_REQUEST)
    return;
  if (g_trace)
    fprintf(stderr, "  record %u: method %u%s\n", h->rec_next, (unsigned)m.method,
            relayed ? " relayed" : "");
  record *rc = &h->rec[h->rec_next];
  h->rec_next = (h->rec_next + 1) % MAX_RECORDS;
  if (h->nrec < MAX_RECORDS)
    h->nrec++;
  memset(rc, 0, sizeof *rc);
  rc->path = *path;
  rc->relayed = relayed;
  rc->method = m.method;
  rc->gen = h->remote_gen;
  if (carrier)
    rc->carrier = *carrier;
  memcpy(rc->tid, m.tid, FIRN_STUN_TID_SIZE);
  const char *realm;
  size_t realm_len;
  if (firn_stun_msg_get_string(&m, FIRN_STUN_ATTR_REALM, &realm, &realm_len) == 0 &&
      realm_len < sizeof rc->realm) {
    memcpy(rc->realm, realm, realm_len);
    rc->realm[realm_len] = 0;
  }
  if (m.method == FIRN_STUN_CHANNEL_BIND) {
    uint16_t ch;
    firn_addr peer;
    if (firn_stun_msg_get_channel(&m, &ch) == 0 &&
        firn_stun_msg_get_xor_addr(&m, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, 0, &peer) == 0) {
      unsigned i = 0;
      while (i < h->nchannels && h->channels[i].number != ch)
        i++;
      if (i == h->nchannels && h->nchannels < MAX_CHANNELS)
        h->nchannels++;
      if (i < h->nchannels) {
        h->channels[i].number = ch;
        h->channels[i].peer = peer;
      }
    }
  }
}

static const firn_addr *channel_peer(const harness *h, uint16_t ch) {
  for (unsigned i = 0; i < h->nchannels; i++)
    if (h->channels[i].number == ch)
      return &h->channels[i].peer;
  return NULL;
}

/* Something the agent sends over UDP to the TURN server: STUN for the server itself, a Send
 * indication or ChannelData carrying a check or response to a peer. */
static void check_to_turn(harness *h, const firn_path *path, const uint8_t *d, size_t len) {
  if (len >= 4 && d[0] >= 0x40 && d[0] <= 0x4f) {
    size_t dlen = (size_t)((d[2] << 8) | d[3]);
    CHECK(4 + dlen <= len && len <= 4 + dlen + 3);
    const firn_addr *peer = channel_peer(h, (uint16_t)((d[0] << 8) | d[1]));
    if (peer && firn_stun_is_stun(d + 4, dlen)) {
      firn_path p = {.local = g_local[L_RELAYED], .remote = *peer};
      record_request(h, &p, 1, d + 4, dlen, path);
    }
    return;
  }
  firn_stun_msg m;
  int rc = firn_stun_msg_parse(&m, d, len);
  if (rc != 0) {
    fprintf(stderr, "fuzz_agent: invalid STUN to the TURN server: %s\n", firn_strerror(rc));
    abort();
  }
  if (m.method == FIRN_STUN_SEND && m.cls == FIRN_STUN_INDICATION) {
    const uint8_t *inner;
    size_t inner_len;
    firn_addr peer;
    CHECK(firn_stun_msg_get_xor_addr(&m, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, 0, &peer) == 0);
    CHECK(firn_stun_msg_find(&m, FIRN_STUN_ATTR_DATA, &inner, &inner_len) == 0);
    if (firn_stun_is_stun(inner, inner_len)) {
      firn_path p = {.local = g_local[L_RELAYED], .remote = peer};
      record_request(h, &p, 1, inner, inner_len, path);
    }
    return;
  }
  record_request(h, path, 0, d, len, NULL);
}

static void check_output(harness *h, const firn_path *path, const uint8_t *d, size_t len) {
  CHECK(len > 0);
  if (path->transport == FIRN_TRANSPORT_TCP) {
    CHECK(path->conn != 0);
    conn *c = conn_find(h, path->conn);
    if (c && (firn_addr_equal(&c->remote, &g_remote[R_TURN]) ||
              firn_addr_equal(&c->remote, &g_remote[R_STUN]))) { /* or redirected there */
      /* TURN over TCP: STUN messages and padded ChannelData back to back (fuzz_turn checks
       * the framing across splits; here each poll holds whole frames) */
      size_t off = 0;
      while (off < len) {
        firn_ssize fl = firn_turn_frame_length(d + off, len - off, 65536 + 8);
        CHECK(fl >= 0);
        if (fl == 0)
          break;
        size_t flen = (size_t)fl;
        if (d[off] >= 0x40 && d[off] <= 0x4f)
          flen = 4 + (size_t)((d[off + 2] << 8) | d[off + 3]);
        check_to_turn(h, path, d + off, flen);
        off += (size_t)fl;
      }
      return;
    }
    /* ICE-TCP: whole RFC 4571 frames, each a STUN message */
    size_t off = 0;
    while (off < len) {
      CHECK(off + 2 <= len);
      size_t flen = (size_t)((d[off] << 8) | d[off + 1]);
      CHECK(off + 2 + flen <= len);
      firn_stun_msg m;
      CHECK(firn_stun_msg_parse(&m, d + off + 2, flen) == 0);
      record_request(h, path, 0, d + off + 2, flen, NULL);
      off += 2 + flen;
    }
    return;
  }
  CHECK(path->transport == FIRN_TRANSPORT_UDP);
  /* the TURN server, or the STUN server's address after a 300 ALTERNATE-SERVER pointing
   * the TURN client there */
  if (firn_addr_equal(&path->remote, &g_remote[R_TURN]) ||
      firn_addr_equal(&path->remote, &g_remote[R_STUN])) {
    check_to_turn(h, path, d, len);
    return;
  }
  firn_stun_msg m;
  int rc = firn_stun_msg_parse(&m, d, len);
  if (rc != 0) {
    fprintf(stderr, "fuzz_agent: the agent sent an invalid STUN message: %s\n", firn_strerror(rc));
    abort();
  }
  CHECK(m.method == FIRN_STUN_BINDING);
  record_request(h, path, 0, d, len, NULL);
}

static void drain(harness *h) {
  static uint8_t buf[BUF_MAX];
  for (int i = 0; i < 4096 && !h->destroyed; i++) {
    firn_path path;
    firn_ssize n = firn_agent_poll_transmit(h->ag, h->now, buf, sizeof buf, &path);
    if (n == FIRN_ERR_WOULDBLOCK)
      return;
    CHECK(n > 0);
    h->polled++;
    if (g_trace) {
      char dst[FIRN_ADDR_STRLEN], src[FIRN_ADDR_STRLEN];
      (void)firn_addr_format(&path.local, 1, src, sizeof src);
      (void)firn_addr_format(&path.remote, 1, dst, sizeof dst);
      fprintf(stderr, "  out %zd bytes %s -> %s%s\n", n, src, dst, path.transport ? " tcp" : "");
    }
    check_output(h, &path, buf, (size_t)n);
  }
  CHECK(h->destroyed || !"poll_transmit never said WOULDBLOCK");
}

static void check_invariants(harness *h) {
  if (h->destroyed)
    return;
  CHECK(h->mem.live < MEM_CAP);
  firn_ice_state st = firn_agent_get_state(h->ag, h->stream);
  CHECK(st <= FIRN_ICE_CLOSED);
  firn_ice_role role = firn_agent_get_role(h->ag);
  CHECK(role == FIRN_ICE_CONTROLLING || role == FIRN_ICE_CONTROLLED);
  firn_agent_stats s;
  CHECK(firn_agent_get_stats(h->ag, &s) == 0);
  /* Every datagram counted was pulled, exactly once (relay_drain() once counted TURN
   * requests twice; seed agent-turn-relay-only covers it). */
  if (s.datagrams_sent != h->polled)
    fprintf(stderr, "fuzz_agent: datagrams_sent %llu, pulled %llu\n",
            (unsigned long long)s.datagrams_sent, (unsigned long long)h->polled);
  CHECK(s.datagrams_sent == h->polled);
  CHECK(s.datagrams_received >= h->last.datagrams_received);
  CHECK(s.stun_dropped >= h->last.stun_dropped);
  CHECK(s.data_dropped >= h->last.data_dropped);
  CHECK(s.role_conflicts >= h->last.role_conflicts);
  CHECK(s.pairs <= 100);
  CHECK(s.remote_candidates <= 100 + 32); /* signalled + peer-reflexive */
  h->last = s;
  static firn_pair_stats ps[128];
  size_t n = 0;
  CHECK(firn_agent_get_pair_stats(h->ag, h->stream, ps, 128, &n) == 0);
  CHECK(n == s.pairs);
  unsigned selected[3] = {0, 0, 0};
  for (size_t i = 0; i < n; i++) {
    CHECK(ps[i].state <= 4);
    check_cand(&ps[i].local);
    check_cand(&ps[i].remote);
    CHECK(ps[i].local.component == ps[i].remote.component);
    if (ps[i].selected)
      selected[ps[i].local.component]++;
  }
  for (unsigned c = 1; c <= h->ncomp; c++) {
    CHECK(selected[c] <= 1);
    firn_candidate l, r;
    int rc = firn_agent_get_selected_pair(h->ag, h->stream, c, &l, &r, NULL);
    CHECK(rc == 0 || rc == FIRN_ERR_NOT_FOUND);
  }
}

/* ---------------------------------------------------------------------------------------- */
/* Building what a peer or a server would send                                               */

/* Append the input's attributes (TLV, u16 type, u8 len, value) to `b`, at most `n`. */
static void add_input_attrs(firn_stun_builder *b, reader *r, unsigned n) {
  for (unsigned i = 0; i < n; i++) {
    uint8_t v[64];
    uint16_t type = get16(r);
    size_t len = get8(r) % sizeof v;
    len = get_bytes(r, v, len);
    if (type == FIRN_STUN_ATTR_MESSAGE_INTEGRITY || type == FIRN_STUN_ATTR_MESSAGE_INTEGRITY_SHA256 ||
        type == FIRN_STUN_ATTR_FINGERPRINT)
      continue;
    firn_stun_add_raw(b, type, v, len);
  }
}

/* Wrap `d` for delivery from the TURN server: ChannelData (when `peer` has a channel) or a
 * Data indication. */
static size_t wrap_turn(harness *h, const firn_addr *peer, int channel, const uint8_t *d,
                        size_t len, uint8_t *out, size_t cap) {
  if (channel) {
    for (unsigned i = 0; i < h->nchannels; i++)
      if (firn_addr_equal(&h->channels[i].peer, peer) && len + 4 <= cap) {
        out[0] = (uint8_t)(h->channels[i].number >> 8);
        out[1] = (uint8_t)h->channels[i].number;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        memcpy(out + 4, d, len);
        return len + 4;
      }
  }
  uint8_t tid[FIRN_STUN_TID_SIZE];
  memset(tid, 0x5a, sizeof tid);
  tid[0] = (uint8_t)h->polled;
  firn_stun_builder b;
  firn_stun_builder_init(&b, out, cap, FIRN_STUN_DATA, FIRN_STUN_INDICATION, tid);
  firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, peer);
  firn_stun_add_raw(&b, FIRN_STUN_ATTR_DATA, d, len);
  firn_ssize n = firn_stun_builder_finish(&b);
  return n > 0 ? (size_t)n : 0;
}

static firn_stun_key *short_key(const char *pwd) {
  firn_stun_key *k = NULL;
  if (firn_stun_key_new_short_term(&k, NULL, pwd, strlen(pwd)) != 0)
    return NULL;
  return k;
}

static firn_stun_key *turn_key(const char *realm) {
  firn_stun_key *k = NULL;
  if (!realm || !*realm)
    realm = TURN_REALM;
  if (firn_stun_key_new_long_term(&k, NULL, FIRN_STUN_PASSWORD_ALG_MD5, TURN_USER, strlen(TURN_USER),
                                  realm, strlen(realm), TURN_PASS, strlen(TURN_PASS)) != 0)
    return NULL;
  return k;
}

/* How a built message reaches the agent. */
typedef enum via { VIA_UDP, VIA_TURN_DATA, VIA_TURN_CHANNEL, VIA_TCP, N_VIA } via;

static void deliver(harness *h, const firn_path *path, const uint8_t *d, size_t len) {
  /* exact-size copy so ASan sees overreads */
  uint8_t *copy = malloc(len ? len : 1);
  CHECK(copy != NULL);
  memcpy(copy, d, len);
  int rc;
  if (path->transport == FIRN_TRANSPORT_TCP) {
    rc = firn_agent_handle_stream(h->ag, path->conn, copy, len, h->now);
    CHECK(rc == 0 || rc == FIRN_ERR_NOT_FOUND || rc == FIRN_ERR_CLOSED || rc == FIRN_ERR_NOMEM);
  } else {
    rc = firn_agent_handle_datagram(h->ag, path, copy, len, h->now);
    CHECK(rc == 0 || rc == FIRN_ERR_CLOSED || rc == FIRN_ERR_NOMEM);
  }
  free(copy);
}

/* Send `d` (a message from the peer at `path->remote` to our `path->local`) the chosen way. */
static void send_via(harness *h, via v, firn_path path, const uint8_t *d, size_t len,
                     unsigned conn_sel, const firn_path *carrier) {
  static uint8_t out[BUF_MAX + 64];
  switch (v) {
  case VIA_TURN_DATA:
  case VIA_TURN_CHANNEL: {
    size_t n = wrap_turn(h, &path.remote, v == VIA_TURN_CHANNEL, d, len, out, sizeof out);
    firn_path p = {.local = g_local[L_ETH0], .remote = g_remote[R_TURN],
                   .transport = FIRN_TRANSPORT_UDP};
    conn *c = h->turn_tcp ? turn_conn(h) : NULL;
    if (carrier && carrier->remote.family) {
      p = *carrier; /* back the way the relayed message left */
      while (p.transport == FIRN_TRANSPORT_TCP && (n & 3) && n < sizeof out)
        out[n++] = 0;
    } else if (c) {
      while ((n & 3) && n < sizeof out) /* ChannelData is padded on streams */
        out[n++] = 0;
      p.local = c->local;
      p.transport = FIRN_TRANSPORT_TCP;
      p.conn = c->id;
    }
    deliver(h, &p, out, n);
    return;
  }
  case VIA_TCP: {
    if (!h->nconns || len > 0xffff || len + 2 > sizeof out)
      return;
    conn *c = &h->conns[conn_sel % h->nconns];
    out[0] = (uint8_t)(len >> 8);
    out[1] = (uint8_t)len;
    memcpy(out + 2, d, len);
    firn_path p = {.local = c->local, .remote = c->remote, .transport = FIRN_TRANSPORT_TCP,
                   .conn = c->id};
    deliver(h, &p, out, len + 2);
    return;
  }
  default:
    deliver(h, &path, d, len);
    return;
  }
}

static firn_path path_from(uint8_t sel, uint16_t unknown_port) {
  firn_path p;
  memset(&p, 0, sizeof p);
  p.local = g_local[(sel & 7) % N_LOCALS];
  p.remote = g_remote[((sel >> 3) & 15) % N_REMOTES];
  if (((sel >> 3) & 15) % N_REMOTES == R_UNKNOWN)
    p.remote.port = unknown_port ? unknown_port : 7000;
  p.transport = FIRN_TRANSPORT_UDP;
  return p;
}

/* Request flags */
#define REQ_USERNAME_WRONG 0x01
#define REQ_NO_PRIORITY 0x02
#define REQ_CONTROLLING 0x04
#define REQ_CONTROLLED 0x08
#define REQ_USE_CANDIDATE 0x10
#define REQ_SHA256 0x20
#define REQ_NO_INTEGRITY 0x40
#define REQ_NO_FINGERPRINT 0x80

/* A Binding request from the peer: u8 path, u8 flags, u8 via|conn, u8 tiebreaker pick,
 * [u64 tiebreaker], u32 priority, u8 attrs, attrs... */
static void op_request(harness *h, reader *r) {
  uint8_t sel = get8(r), flags = get8(r), how = get8(r), tb_pick = get8(r);
  uint64_t tiebreaker = tb_pick & 1 ? get64(r) : (tb_pick & 2 ? UINT64_MAX : 1);
  uint32_t prio = get32(r);
  if (!prio)
    prio = 1862270975u;
  firn_path path = path_from(sel, (uint16_t)(1024 + tb_pick));
  const char *lu, *lp;
  if (firn_agent_get_local_credentials(h->ag, h->stream, &lu, &lp) != 0)
    return;
  char user[600];
  const char *ru = k_remote_ufrag[h->remote_gen];
  if ((flags & REQ_USERNAME_WRONG) && (tb_pick & 4) && h->old_ufrag[0]) {
    /* a check still using the credentials from before the last restart */
    lu = h->old_ufrag;
    lp = h->old_pwd;
    ru = k_remote_ufrag[h->old_remote_gen];
  } else if (flags & REQ_USERNAME_WRONG) {
    lu = "nope";
  }
  snprintf(user, sizeof user, "%s:%s", lu, ru);
  uint8_t tid[FIRN_STUN_TID_SIZE];
  for (int i = 0; i < FIRN_STUN_TID_SIZE; i++)
    tid[i] = (uint8_t)(h->polled * 31 + h->now / FIRN_NS_PER_MS + (unsigned)i * 7);
  tid[0] = get8(r);
  static uint8_t buf[BUF_MAX];
  firn_stun_builder b;
  firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, tid);
  firn_stun_add_string(&b, FIRN_STUN_ATTR_USERNAME, user, strlen(user));
  if (!(flags & REQ_NO_PRIORITY))
    firn_stun_add_u32(&b, FIRN_STUN_ATTR_PRIORITY, prio);
  if (flags & REQ_CONTROLLING)
    firn_stun_add_u64(&b, FIRN_STUN_ATTR_ICE_CONTROLLING, tiebreaker);
  if (flags & REQ_CONTROLLED)
    firn_stun_add_u64(&b, FIRN_STUN_ATTR_ICE_CONTROLLED, tiebreaker);
  if (flags & REQ_USE_CANDIDATE)
    firn_stun_add_flag(&b, FIRN_STUN_ATTR_USE_CANDIDATE);
  add_input_attrs(&b, r, get8(r) % 4);
  if (!(flags & REQ_NO_INTEGRITY)) {
    firn_stun_key *k = short_key(lp);
    CHECK(k != NULL);
    if (flags & REQ_SHA256)
      firn_stun_add_integrity_sha256(&b, k);
    else
      firn_stun_add_integrity(&b, k);
    firn_stun_key_free(k);
  }
  if (!(flags & REQ_NO_FINGERPRINT))
    firn_stun_add_fingerprint(&b);
  firn_ssize n = firn_stun_builder_finish(&b);
  if (n <= 0)
    return;
  send_via(h, (via)(how % N_VIA), path, buf, (size_t)n, how >> 2, NULL);
}

/* Response flags */
#define RSP_ERROR 0x01
#define RSP_OTHER_MAPPED 0x02
#define RSP_WRONG_KEY 0x04
#define RSP_NO_INTEGRITY 0x08
#define RSP_SHA256 0x10
#define RSP_NO_FINGERPRINT 0x20
#define RSP_FROM_ELSEWHERE 0x40
#define RSP_CHANNEL 0x80

/* A response to a request the agent sent: u8 record, u8 flags, u8 error pick, u8 attrs, attrs.
 * To a peer: Binding success/error signed with the remote pwd. To the TURN server: what a
 * server says to that method, signed with the long-term key. To the STUN server: unsigned. */
static void op_response(harness *h, reader *r) {
  uint8_t idx = get8(r), flags = get8(r), err_pick = get8(r);
  if (!h->nrec) {
    (void)get8(r);
    return;
  }
  const record *rc = &h->rec[idx % h->nrec];
  static const int codes[] = {487, 400, 401, 438, 500, 420, 437, 403, 486, 508, 300, 441};
  int code = codes[err_pick % (sizeof codes / sizeof codes[0])];
  int to_turn = !rc->relayed && (firn_addr_equal(&rc->path.remote, &g_remote[R_TURN]) ||
                                 rc->method != FIRN_STUN_BINDING);
  int to_stun = !rc->relayed && !to_turn && firn_addr_equal(&rc->path.remote, &g_remote[R_STUN]);
  static uint8_t buf[BUF_MAX];
  firn_stun_builder b;
  int is_error = (flags & RSP_ERROR) != 0;
  firn_stun_builder_init(&b, buf, sizeof buf, rc->method, is_error ? FIRN_STUN_ERROR : FIRN_STUN_SUCCESS,
                         rc->tid);
  firn_stun_key *key = NULL;
  if (is_error) {
    firn_stun_add_error(&b, code, NULL);
    if (to_turn && (code == 401 || code == 438)) {
      char nonce[32];
      snprintf(nonce, sizeof nonce, "nonce%u", (unsigned)(err_pick >> 4));
      firn_stun_add_string(&b, FIRN_STUN_ATTR_REALM, TURN_REALM, strlen(TURN_REALM));
      firn_stun_add_string(&b, FIRN_STUN_ATTR_NONCE, nonce, strlen(nonce));
      flags |= RSP_NO_INTEGRITY;
    }
    if (code == 300) {
      firn_addr alt = g_remote[R_STUN];
      firn_stun_add_addr(&b, FIRN_STUN_ATTR_ALTERNATE_SERVER, &alt);
    }
  } else if (to_turn && rc->method == FIRN_STUN_ALLOCATE) {
    firn_addr relayed = g_local[L_RELAYED];
    firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, &relayed);
    firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &g_mapped);
    firn_stun_add_u32(&b, FIRN_STUN_ATTR_LIFETIME, 600u >> (err_pick & 7));
  } else if (to_turn && rc->method == FIRN_STUN_REFRESH) {
    firn_stun_add_u32(&b, FIRN_STUN_ATTR_LIFETIME, (err_pick & 1) ? 0 : 600);
  } else if (!to_turn) {
    /* Binding success: where the peer (or STUN server) saw us */
    firn_addr mapped = rc->path.local;
    if (flags & RSP_OTHER_MAPPED) {
      mapped = g_mapped;
      mapped.port = (uint16_t)(30000 + err_pick);
    }
    if (to_stun && !(flags & RSP_OTHER_MAPPED))
      mapped = g_mapped;
    firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped);
  }
  add_input_attrs(&b, r, get8(r) % 4);
  if (!(flags & RSP_NO_INTEGRITY) && !to_stun) {
    if (to_turn)
      key = turn_key(rc->realm);
    else
      key = short_key((flags & RSP_WRONG_KEY) ? "wrongpasswordwrongpassword" : k_remote_pwd[rc->gen]);
    CHECK(key != NULL);
    if (flags & RSP_SHA256)
      firn_stun_add_integrity_sha256(&b, key);
    else
      firn_stun_add_integrity(&b, key);
    firn_stun_key_free(key);
  }
  if (!(flags & RSP_NO_FINGERPRINT) && !to_turn)
    firn_stun_add_fingerprint(&b);
  firn_ssize n = firn_stun_builder_finish(&b);
  if (n <= 0)
    return;
  firn_path back = rc->path;
  if (flags & RSP_FROM_ELSEWHERE)
    back.remote = g_remote[R_UNKNOWN];
  if (rc->relayed) {
    send_via(h, (flags & RSP_CHANNEL) ? VIA_TURN_CHANNEL : VIA_TURN_DATA, back, buf, (size_t)n, 0,
             &rc->carrier);
  } else if (back.transport == FIRN_TRANSPORT_TCP && to_turn) {
    deliver(h, &back, buf, (size_t)n); /* TURN framing: the message as it is */
  } else if (back.transport == FIRN_TRANSPORT_TCP) {
    if (rc->path.conn && !conn_find(h, rc->path.conn))
      return;
    static uint8_t framed[BUF_MAX + 2];
    framed[0] = (uint8_t)(n >> 8);
    framed[1] = (uint8_t)n;
    memcpy(framed + 2, buf, (size_t)n);
    deliver(h, &back, framed, (size_t)n + 2);
  } else {
    deliver(h, &back, buf, (size_t)n);
  }
}

/* Raw bytes on a path: u8 path, u8 via|conn, u16 len, bytes. */
static void op_raw(harness *h, reader *r) {
  uint8_t sel = get8(r), how = get8(r);
  size_t len = get16(r) % (BUF_MAX - 64);
  static uint8_t buf[BUF_MAX];
  len = get_bytes(r, buf, len);
  firn_path path = path_from(sel, (uint16_t)(how + 1));
  via v = (via)(how % N_VIA);
  if (v == VIA_TCP) {
    /* raw stream bytes, no framing added */
    if (!h->nconns)
      return;
    conn *c = &h->conns[(how >> 2) % h->nconns];
    firn_path p = {.local = c->local, .remote = c->remote, .transport = FIRN_TRANSPORT_TCP,
                   .conn = c->id};
    deliver(h, &p, buf, len);
    return;
  }
  send_via(h, v, path, buf, len, 0, NULL);
}

static void op_write(harness *h, reader *r) {
  unsigned comp = 1 + get8(r) % 2;
  size_t len = get8(r);
  static uint8_t data[300], out[BUF_MAX];
  len = get_bytes(r, data, len);
  if (len && data[0] < 4)
    data[0] |= 0x80; /* application data (RTP-like), not STUN */
  firn_path path;
  firn_ssize n = firn_agent_write_data(h->ag, h->stream, comp, data, len, out, sizeof out, &path, h->now);
  if (n < 0) {
    CHECK(n == FIRN_ERR_STATE || n == FIRN_ERR_CLOSED || n == FIRN_ERR_INVALID_ARG || n == FIRN_ERR_NOMEM ||
          n == FIRN_ERR_NOBUF || n == FIRN_ERR_TURN_PERMISSION);
    CHECK(n != FIRN_ERR_INVALID_ARG || comp > h->ncomp);
    return;
  }
  CHECK(comp <= h->ncomp);
  firn_path sel;
  CHECK(firn_agent_get_selected_pair(h->ag, h->stream, comp, NULL, NULL, &sel) == 0);
  int to_server = firn_addr_equal(&path.remote, &g_remote[R_TURN]) ||
                  firn_addr_equal(&path.remote, &g_remote[R_STUN]);
  if (to_server) {
    CHECK((size_t)n >= len);
  } else if (path.transport == FIRN_TRANSPORT_TCP) {
    CHECK((size_t)n == len + 2);
    CHECK(memcmp(out + 2, data, len) == 0);
  } else if (0) {
    CHECK((size_t)n >= len);
  } else {
    CHECK((size_t)n == len);
    CHECK(memcmp(out, data, len) == 0);
  }
  /* in place, as the runtime may do it */
  memcpy(out, data, len);
  n = firn_agent_write_data(h->ag, h->stream, comp, out, len, out, sizeof out, &path, h->now);
  /* a relay pair copies the payload first when wrapping in place: NOMEM under failures */
  CHECK(n >= (firn_ssize)len || (n == FIRN_ERR_NOMEM && h->mem.fail_at));
}

static void op_candidate(harness *h, reader *r) {
  char line[300];
  size_t len = get8(r);
  len = get_bytes(r, (uint8_t *)line, len);
  firn_candidate c;
  if (firn_candidate_parse(&c, line, len) != 0)
    return;
  int rc = firn_agent_add_remote_candidate(h->ag, h->stream, &c, h->now);
  CHECK(rc == 0 || rc == FIRN_ERR_LIMIT || rc == FIRN_ERR_INVALID_ARG || rc == FIRN_ERR_CLOSED ||
        rc == FIRN_ERR_NOMEM ||
        rc == FIRN_ERR_UNSUPPORTED || rc == FIRN_ERR_STATE);
}

static void op_tcp(harness *h, reader *r) {
  uint8_t what = get8(r), arg = get8(r);
  if (g_trace)
    fprintf(stderr, "  tcp op %u arg %u (%u conns)\n", what % 4, arg, h->nconns);
  switch (what % 4) {
  case 0: { /* the listener accepts a connection */
    firn_addr remote = g_remote[(arg & 1) ? R_TCP_ACTIVE : R_UNKNOWN];
    remote.port = (uint16_t)(40000 + arg);
    firn_addr local = g_local[(arg & 2) ? L_ETH0 : L_TCP];
    uint32_t id = 0;
    int rc = firn_agent_tcp_accepted(h->ag, &local, &remote, &id, h->now);
    CHECK(rc == 0 || rc == FIRN_ERR_NOT_FOUND || rc == FIRN_ERR_LIMIT || rc == FIRN_ERR_CLOSED ||
          rc == FIRN_ERR_NOMEM);
    if (rc == 0) {
      CHECK(id != 0);
      conn *c = conn_add(h, id);
      if (c) {
        c->open = 1;
        c->closed = 0;
        c->local = local;
        c->remote = remote;
      }
    }
    break;
  }
  case 1: /* a requested connection is open (or failed) */
  case 2: { /* closed by the peer */
    if (!h->nconns)
      return;
    conn *c = &h->conns[(arg >> 1) % h->nconns];
    /* A runtime should report each requested connection once, but the agent must survive
     * one that reports again or reports connections it never asked for (a second failure
     * report for an open TURN connection once left the relay READY with conn 0; seeds
     * regress-relay-conn0-* cover it). */
    int rc = (what % 4) == 1 ? firn_agent_tcp_connected(h->ag, c->id, arg & 1, h->now)
                              : firn_agent_tcp_closed(h->ag, c->id, h->now);
    CHECK(rc == 0 || rc == FIRN_ERR_NOT_FOUND || rc == FIRN_ERR_CLOSED || rc == FIRN_ERR_NOMEM);
    if ((what % 4) == 2)
      c->closed = 1;
    else if (rc == 0 && (arg & 1))
      c->open = 1;
    else if (rc == 0)
      c->closed = 1; /* failed to open */
    break;
  }
  default: { /* an unknown connection id */
    uint8_t b[4] = {0, 2, 0x80, 0};
    int rc = firn_agent_handle_stream(h->ag, 0xfff00000u + arg, b, sizeof b, h->now);
    CHECK(rc == FIRN_ERR_NOT_FOUND || rc == FIRN_ERR_CLOSED);
    break;
  }
  }
}

/* ---------------------------------------------------------------------------------------- */

static int s_lite(const harness *h) { return (h->options >> 1) & 1; }

static int setup(harness *h) {
  firn_agent_settings s;
  firn_agent_settings_default(&s);
  s.alloc = &h->alloc;
  s.random = test_random;
  s.random_user = &h->rng;
  s.role = (h->options & 1) ? FIRN_ICE_CONTROLLED : FIRN_ICE_CONTROLLING;
  s.lite = (h->options >> 1) & 1;
  s.policy = (h->options & 0x80) ? FIRN_ICE_POLICY_RELAY : FIRN_ICE_POLICY_ALL;
  s.software = (h->options & 0x40) ? "firn fuzz" : NULL;
  s.callbacks.on_candidate = on_candidate;
  s.callbacks.on_gathering_done = on_gathering_done;
  s.callbacks.on_state = on_state;
  s.callbacks.on_selected_pair = on_selected_pair;
  s.callbacks.on_data = on_data;
  s.callbacks.on_tcp_connect = on_tcp_connect;
  s.callbacks.on_tcp_close = on_tcp_close;
  s.user = h;
  if (firn_agent_new(&h->ag, &s) != 0)
    return -1;
  h->ncomp = (h->options & 4) ? 2 : 1;
  CHECK(firn_agent_add_stream(h->ag, h->ncomp, &h->stream) == 0);

  firn_local_address la;
  memset(&la, 0, sizeof la);
  la.transport = FIRN_TRANSPORT_UDP;
  la.addr = g_local[L_ETH0];
  la.ifname = "eth0";
  CHECK(firn_agent_add_local_address(h->ag, h->stream, 1, &la, h->now) == 0);
  la.addr = g_local[L_WLAN0];
  la.ifname = "wlan0";
  CHECK(firn_agent_add_local_address(h->ag, h->stream, 1, &la, h->now) == 0);
  la.addr = g_local[L_V6];
  la.ifname = "eth0";
  CHECK(firn_agent_add_local_address(h->ag, h->stream, 1, &la, h->now) == 0);
  if (h->ncomp == 2) {
    la.addr = g_local[L_COMP2];
    CHECK(firn_agent_add_local_address(h->ag, h->stream, 2, &la, h->now) == 0);
  }
  if (h->options & 8) {
    la.addr = g_local[L_TCP];
    la.transport = FIRN_TRANSPORT_TCP;
    int rc = firn_agent_add_local_address(h->ag, h->stream, 1, &la, h->now);
    CHECK(rc == 0 || rc == FIRN_ERR_UNSUPPORTED || rc == FIRN_ERR_STATE);
  }
  if (h->options & 0x10) {
    firn_ice_server srv;
    memset(&srv, 0, sizeof srv);
    srv.addr = g_remote[R_STUN];
    srv.transport = FIRN_TRANSPORT_UDP;
    CHECK(firn_agent_add_server(h->ag, &srv) == 0);
  }
  if (h->options & 0x20) {
    firn_ice_server srv;
    memset(&srv, 0, sizeof srv);
    srv.addr = g_remote[R_TURN];
    srv.transport = h->turn_tcp ? FIRN_TRANSPORT_TCP : FIRN_TRANSPORT_UDP;
    srv.turn = 1;
    srv.username = TURN_USER;
    srv.password = TURN_PASS;
    CHECK(firn_agent_add_server(h->ag, &srv) == 0);
  }
  int rc = firn_agent_gather(h->ag, h->now);
  CHECK(rc == 0);
  if (h->options & 0x40) {
    /* two lite agents cannot talk: refused when we are lite too */
    rc = firn_agent_set_remote_lite(h->ag, 1);
    CHECK(rc == 0 || (s_lite(h) && rc != 0));
  }
  CHECK(firn_agent_set_remote_credentials(h->ag, h->stream, REMOTE_UFRAG, REMOTE_PWD, h->now) == 0);

  static const char *cands[] = {
      "candidate:1 1 udp 2130706431 10.0.0.2 6000 typ host",
      "candidate:2 1 udp 1694498815 198.51.100.7 6001 typ srflx raddr 10.0.0.2 rport 6000",
      "candidate:3 1 udp 2130706175 2001:db8::2 6002 typ host",
      "candidate:1 2 udp 2130706430 10.0.0.2 6003 typ host",
      "candidate:4 1 tcp 1518280447 10.0.0.2 6010 typ host tcptype passive",
      "candidate:5 1 tcp 1518214911 10.0.0.2 9 typ host tcptype active",
  };
  size_t ncands = (h->options & 8) ? 6 : 4;
  for (size_t i = 0; i < ncands; i++) {
    firn_candidate c;
    CHECK(firn_candidate_parse(&c, cands[i], strlen(cands[i])) == 0);
    if (c.component > h->ncomp)
      continue;
    rc = firn_agent_add_remote_candidate(h->ag, h->stream, &c, h->now);
    CHECK(rc == 0);
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_globals();
  harness *h = calloc(1, sizeof *h);
  CHECK(h != NULL);
  reader r = {data, size};
  h->options = get8(&r);
  uint8_t seed = get8(&r);
  h->rng = 0x9e3779b97f4a7c15u ^ ((uint64_t)seed << 8) ^ h->options;
  h->turn_tcp = (seed & 0x80) != 0;
  uint8_t fail = get8(&r);
  h->mem.fail_at = fail & 0x7f;
  h->mem.fail_after = (fail & 0x80) != 0;
  fuzz_alloc_hooks(&h->alloc, &h->mem);
  h->now = 1000 * FIRN_NS_PER_S;
  if (setup(h) != 0) {
    CHECK(h->mem.blocks == 0);
    free(h);
    return 0;
  }
  drain(h);
  check_invariants(h);
  h->mem.armed = 1; /* allocation failures from here on */

  for (int op = 0; op < MAX_OPS && r.left && !h->destroyed; op++) {
    switch (get8(&r) % FUZZ_AGENT_N_OPS) {
    case FUZZ_AGENT_OP_RAW: op_raw(h, &r); break;
    case FUZZ_AGENT_OP_REQUEST: op_request(h, &r); break;
    case FUZZ_AGENT_OP_RESPONSE: op_response(h, &r); break;
    case FUZZ_AGENT_OP_ADVANCE: {
      h->now += (uint64_t)get16(&r) * FIRN_NS_PER_MS;
      int rc = firn_agent_handle_expiry(h->ag, h->now);
      CHECK(rc == 0 || rc == FIRN_ERR_NOMEM || h->destroyed);
      break;
    }
    case FUZZ_AGENT_OP_TO_EXPIRY: {
      uint64_t e = firn_agent_expiry(h->ag);
      if (e != FIRN_TIME_NEVER) {
        /* every timer is due within a day of the last input, never long in the past */
        if (e + 1000 * FIRN_NS_PER_S < h->now || e > h->now + 86400 * FIRN_NS_PER_S)
          fprintf(stderr, "fuzz_agent: expiry %llu, now %llu\n", (unsigned long long)e,
                  (unsigned long long)h->now);
        CHECK(e + 1000 * FIRN_NS_PER_S >= h->now);
        CHECK(e <= h->now + 86400 * FIRN_NS_PER_S);
        if (e > h->now)
          h->now = e;
      }
      int rc = firn_agent_handle_expiry(h->ag, h->now);
      CHECK(rc == 0 || rc == FIRN_ERR_CLOSED || rc == FIRN_ERR_NOMEM || h->destroyed);
      break;
    }
    case FUZZ_AGENT_OP_POLL: drain(h); break;
    case FUZZ_AGENT_OP_WRITE: op_write(h, &r); break;
    case FUZZ_AGENT_OP_RESTART: {
      const char *ou, *opw;
      if (firn_agent_get_local_credentials(h->ag, h->stream, &ou, &opw) == 0) {
        snprintf(h->old_ufrag, sizeof h->old_ufrag, "%s", ou);
        snprintf(h->old_pwd, sizeof h->old_pwd, "%s", opw);
        h->old_remote_gen = h->remote_gen;
      }
      int rc = firn_agent_restart(h->ag, h->stream, h->now);
      CHECK(rc == 0 || rc == FIRN_ERR_CLOSED || rc == FIRN_ERR_STATE || rc == FIRN_ERR_NOMEM ||
            rc == FIRN_ERR_RANDOM);
      uint8_t how = get8(&r);
      if (how & 2) /* the peer restarts too: new remote credentials */
        h->remote_gen ^= 1;
      if (how & 3) {
        rc = firn_agent_set_remote_credentials(h->ag, h->stream, k_remote_ufrag[h->remote_gen],
                                               k_remote_pwd[h->remote_gen], h->now);
        CHECK(rc == 0 || rc == FIRN_ERR_CLOSED || rc == FIRN_ERR_STATE || rc == FIRN_ERR_NOMEM);
      }
      break;
    }
    case FUZZ_AGENT_OP_CANDIDATE: op_candidate(h, &r); break;
    case FUZZ_AGENT_OP_TCP: op_tcp(h, &r); break;
    case FUZZ_AGENT_OP_END_OF_CANDIDATES: {
      int rc = firn_agent_end_of_remote_candidates(h->ag, h->stream, h->now);
      CHECK(rc == 0 || rc == FIRN_ERR_CLOSED || rc == FIRN_ERR_NOMEM);
      break;
    }
    case FUZZ_AGENT_OP_DESTROY_IN_CALLBACK: h->destroy_in_callback = 1; break;
    default: { /* close */
      int rc = firn_agent_close(h->ag, h->now);
      CHECK(rc == 0 || rc == FIRN_ERR_CLOSED);
      CHECK(firn_agent_get_state(h->ag, h->stream) == FIRN_ICE_CLOSED);
      break;
    }
    }
    if (!h->destroyed) {
      drain(h);
      check_invariants(h);
    }
  }
  h->mem.armed = 0;
  if (!h->destroyed) {
    /* run the clock out a little: timers must stay bounded */
    for (int i = 0; i < 32 && !h->destroyed; i++) {
      uint64_t e = firn_agent_expiry(h->ag);
      if (e == FIRN_TIME_NEVER)
        break;
      if (e > h->now)
        h->now = e;
      (void)firn_agent_handle_expiry(h->ag, h->now);
      drain(h);
      check_invariants(h);
    }
    if (!h->destroyed)
      firn_agent_free(h->ag);
  }
  if (g_trace)
    fprintf(stderr, "  peak heap %zu bytes\n", h->mem.peak);
  CHECK(h->mem.blocks == 0);
  CHECK(h->mem.live == 0);
  free(h);
  return 0;
}
