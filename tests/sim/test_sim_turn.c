/* The in-process TURN server: long-term authentication (401, 438), Allocate and its errors,
 * permissions, Send/Data indications, channels, refresh, expiry, clients over TCP, and the
 * case TURN exists for: two clients behind symmetric NATs. Clients are written with the raw
 * codec here, so the server is checked independently of firn's TURN client. */
#include "sim_test.h"

#include <stdbool.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "firn/stun.h"

#define MS FIRN_NS_PER_MS
#define SEC FIRN_NS_PER_S

/*   C 192.168.1.10 --lan-- NAT 192.168.1.1 | 198.51.100.1 --wan-- T 203.0.113.3 (TURN 3478),
 *   P 203.0.113.7 (a peer) */
typedef struct world {
  sim_net *s;
  sim_segment *lan, *wan;
  sim_nat *nat;
  sim_host *c, *t, *p;
  sim_turn_server *srv;
  sim_udp *uc, *up;
  sim_recorder *rc, *rp;
  firn_addr ac, at, ap;
  firn_stun_key *key;
  char nonce[128];
  uint8_t next_tid;
  sim_turn_config cfg;
} world;

static void world_new(world *w, const sim_nat_config *natcfg, const sim_turn_config *cfg) {
  memset(w, 0, sizeof *w);
  assert_int_equal(sim_new(&w->s, NULL), FIRN_OK);
  assert_int_equal(sim_segment_new(w->s, "lan", &w->lan), FIRN_OK);
  assert_int_equal(sim_segment_new(w->s, "wan", &w->wan), FIRN_OK);
  assert_int_equal(sim_nat_new(w->s, "nat", natcfg, w->lan, "192.168.1.1", w->wan, "198.51.100.1",
                               &w->nat), FIRN_OK);
  assert_int_equal(sim_host_new(w->s, "C", &w->c), FIRN_OK);
  assert_int_equal(sim_host_new(w->s, "T", &w->t), FIRN_OK);
  assert_int_equal(sim_host_new(w->s, "P", &w->p), FIRN_OK);
  assert_int_equal(sim_host_add_iface(w->c, w->lan, "192.168.1.10", NULL), FIRN_OK);
  assert_int_equal(sim_host_add_iface(w->t, w->wan, "203.0.113.3", NULL), FIRN_OK);
  assert_int_equal(sim_host_add_iface(w->p, w->wan, "203.0.113.7", NULL), FIRN_OK);
  w->ac = sim_addr("192.168.1.10:5000");
  w->at = sim_addr("203.0.113.3:3478");
  w->ap = sim_addr("203.0.113.7:7000");
  sim_turn_config_default(&w->cfg);
  if (cfg) w->cfg = *cfg;
  assert_int_equal(sim_turn_server_new(w->t, &w->at, &w->at, &w->cfg, &w->srv), FIRN_OK);
  w->rc = sim_recorder_new();
  w->rp = sim_recorder_new();
  assert_int_equal(sim_udp_open(w->c, &w->ac, sim_recorder_cb, w->rc, &w->uc), FIRN_OK);
  assert_int_equal(sim_udp_open(w->p, &w->ap, sim_recorder_cb, w->rp, &w->up), FIRN_OK);
  assert_int_equal(firn_stun_key_new_long_term(&w->key, NULL, FIRN_STUN_PASSWORD_ALG_MD5, "user", 4,
                                               "firn.test", 9, "pass", 4), FIRN_OK);
}

static void world_free(world *w) {
  firn_stun_key_free(w->key);
  sim_free(w->s);
  test_free(w->rc);
  test_free(w->rp);
}

static void settle(world *w) { assert_int_equal(sim_run_until(w->s, NULL, NULL, FIRN_TIME_NEVER), SIM_IDLE); }

static void req_start(world *w, firn_stun_builder *b, uint8_t *buf, size_t cap, uint16_t method,
                      firn_stun_class cls) {
  uint8_t tid[FIRN_STUN_TID_SIZE];
  memset(tid, ++w->next_tid, sizeof tid);
  firn_stun_builder_init(b, buf, cap, method, cls, tid);
}

/* USERNAME, REALM, NONCE (as last learnt), MESSAGE-INTEGRITY, FINGERPRINT. */
static size_t req_finish(world *w, firn_stun_builder *b, int auth) {
  if (auth) {
    firn_stun_add_string(b, FIRN_STUN_ATTR_USERNAME, "user", 4);
    firn_stun_add_string(b, FIRN_STUN_ATTR_REALM, "firn.test", 9);
    firn_stun_add_string(b, FIRN_STUN_ATTR_NONCE, w->nonce, strlen(w->nonce));
    firn_stun_add_integrity(b, w->key);
  }
  firn_stun_add_fingerprint(b);
  firn_ssize n = firn_stun_builder_finish(b);
  assert_true(n > 0);
  return (size_t)n;
}

/* The last datagram C received, parsed; `copy` must outlive `m`. */
static void last_msg(world *w, firn_stun_msg *m, uint8_t *copy) {
  assert_true(w->rc->n > 0);
  const sim_rx *r = &w->rc->rx[w->rc->n - 1];
  assert_true(r->len <= SIM_REC_DATA);
  memcpy(copy, r->data, r->len);
  assert_int_equal(firn_stun_msg_parse(m, copy, r->len), FIRN_OK);
}

static int error_code(const firn_stun_msg *m) {
  int code = 0;
  if (m->cls != FIRN_STUN_ERROR) return 0;
  assert_int_equal(firn_stun_msg_get_error(m, &code, NULL, NULL), FIRN_OK);
  return code;
}

/* Send an Allocate (authenticated with what we know) and return the response's error code. */
static int allocate(world *w, sim_udp *u, int auth, uint8_t transport, firn_stun_msg *m, uint8_t *copy) {
  uint8_t buf[512];
  firn_stun_builder b;
  req_start(w, &b, buf, sizeof buf, FIRN_STUN_ALLOCATE, FIRN_STUN_REQUEST);
  firn_stun_add_requested_transport(&b, transport);
  size_t n = req_finish(w, &b, auth);
  size_t before = w->rc->total;
  assert_int_equal(sim_udp_send(u, &w->at, buf, n), FIRN_OK);
  settle(w);
  SIM_ASSERT_EQ(w->s, w->rc->total, before + 1);
  last_msg(w, m, copy);
  SIM_ASSERT_EQ(w->s, m->tid[0], w->next_tid);
  return error_code(m);
}

/* 401 first (learning REALM and NONCE), then a success with integrity. Returns the relay;
 * `mapped` (may be NULL) gets XOR-MAPPED-ADDRESS. */
static firn_addr allocate_ok(world *w, firn_addr *mapped_out) {
  firn_stun_msg m;
  uint8_t copy[SIM_REC_DATA];
  SIM_ASSERT_EQ(w->s, allocate(w, w->uc, 0, 17, &m, copy), 401);
  SIM_ASSERT(w->s, m.mi_off == 0);
  const char *realm, *nonce;
  size_t rl, nl;
  assert_int_equal(firn_stun_msg_get_string(&m, FIRN_STUN_ATTR_REALM, &realm, &rl), FIRN_OK);
  assert_int_equal(firn_stun_msg_get_string(&m, FIRN_STUN_ATTR_NONCE, &nonce, &nl), FIRN_OK);
  assert_memory_equal(realm, "firn.test", 9);
  assert_true(nl > 0 && nl < sizeof w->nonce);
  memcpy(w->nonce, nonce, nl);
  w->nonce[nl] = 0;
  SIM_ASSERT_EQ(w->s, allocate(w, w->uc, 1, 17, &m, copy), 0);
  SIM_ASSERT_EQ(w->s, m.cls, FIRN_STUN_SUCCESS);
  assert_int_equal(firn_stun_msg_verify(&m, w->key), FIRN_OK);
  SIM_ASSERT(w->s, m.fp_off != 0);
  firn_addr relay, mapped;
  uint32_t life;
  assert_int_equal(firn_stun_msg_get_xor_addr(&m, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, 0, &relay), FIRN_OK);
  assert_int_equal(firn_stun_msg_get_xor_addr(&m, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, 0, &mapped), FIRN_OK);
  assert_int_equal(firn_stun_msg_get_u32(&m, FIRN_STUN_ATTR_LIFETIME, &life), FIRN_OK);
  SIM_ASSERT_EQ(w->s, life, w->cfg.default_lifetime_ns / SEC);
  if (mapped_out) *mapped_out = mapped;
  firn_addr tip = sim_addr("203.0.113.3");
  SIM_ASSERT(w->s, firn_addr_equal_ip(&relay, &tip) && relay.port != 3478);
  return relay;
}

/* An authenticated request with one XOR-PEER-ADDRESS (and a channel when non-zero). */
static int peer_request(world *w, uint16_t method, const firn_addr *peer, uint16_t channel) {
  uint8_t buf[512];
  firn_stun_builder b;
  req_start(w, &b, buf, sizeof buf, method, FIRN_STUN_REQUEST);
  if (channel) firn_stun_add_channel(&b, channel);
  firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, peer);
  size_t n = req_finish(w, &b, 1);
  assert_int_equal(sim_udp_send(w->uc, &w->at, buf, n), FIRN_OK);
  settle(w);
  firn_stun_msg m;
  uint8_t copy[SIM_REC_DATA];
  last_msg(w, &m, copy);
  SIM_ASSERT_EQ(w->s, m.tid[0], w->next_tid);
  assert_int_equal(firn_stun_msg_verify(&m, w->key), FIRN_OK);
  return m.cls == FIRN_STUN_SUCCESS ? 0 : error_code(&m);
}

static int refresh(world *w, uint32_t lifetime_s) {
  uint8_t buf[512];
  firn_stun_builder b;
  req_start(w, &b, buf, sizeof buf, FIRN_STUN_REFRESH, FIRN_STUN_REQUEST);
  firn_stun_add_u32(&b, FIRN_STUN_ATTR_LIFETIME, lifetime_s);
  size_t n = req_finish(w, &b, 1);
  assert_int_equal(sim_udp_send(w->uc, &w->at, buf, n), FIRN_OK);
  settle(w);
  firn_stun_msg m;
  uint8_t copy[SIM_REC_DATA];
  last_msg(w, &m, copy);
  return error_code(&m);
}

/* Authentication and Allocate's answers. */
static void test_turn_allocate(void **state) {
  (void)state;
  world w;
  world_new(&w, NULL, NULL);
  firn_addr mapped;
  firn_addr relay = allocate_ok(&w, &mapped);
  char abuf[FIRN_ADDR_STRLEN];
  assert_string_equal(sim_addr_str(&mapped, abuf), "198.51.100.1:5000");
  firn_stun_msg m;
  uint8_t copy[SIM_REC_DATA];
  /* The same 5-tuple again: 437, with integrity (the request was authenticated). */
  SIM_ASSERT_EQ(w.s, allocate(&w, w.uc, 1, 17, &m, copy), 437);
  assert_int_equal(firn_stun_msg_verify(&m, w.key), FIRN_OK);
  /* But a retransmission of the Allocate that made it (same transaction ID) gets its success
   * again, with the same relayed address. */
  w.next_tid -= 2; /* the successful Allocate's ID */
  SIM_ASSERT_EQ(w.s, allocate(&w, w.uc, 1, 17, &m, copy), 0);
  firn_addr again;
  assert_int_equal(firn_stun_msg_get_xor_addr(&m, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, 0, &again), FIRN_OK);
  SIM_ASSERT(w.s, firn_addr_equal(&again, &relay));
  w.next_tid++;
  /* Another local port: TCP relays are not offered (442); a wrong password gets 401. */
  sim_udp *u2;
  firn_addr a2 = sim_addr("192.168.1.10:5002");
  assert_int_equal(sim_udp_open(w.c, &a2, sim_recorder_cb, w.rc, &u2), FIRN_OK);
  SIM_ASSERT_EQ(w.s, allocate(&w, u2, 1, 6, &m, copy), 442);
  firn_stun_key *wrong;
  assert_int_equal(firn_stun_key_new_long_term(&wrong, NULL, FIRN_STUN_PASSWORD_ALG_MD5, "user", 4,
                                               "firn.test", 9, "nope", 4), FIRN_OK);
  firn_stun_key *good = w.key;
  w.key = wrong;
  SIM_ASSERT_EQ(w.s, allocate(&w, u2, 1, 17, &m, copy), 401);
  w.key = good;
  firn_stun_key_free(wrong);
  /* A Binding request is answered without authentication. */
  uint8_t buf[128];
  firn_stun_builder b;
  req_start(&w, &b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST);
  sim_udp_send(u2, &w.at, buf, req_finish(&w, &b, 0));
  settle(&w);
  last_msg(&w, &m, copy);
  SIM_ASSERT_EQ(w.s, m.cls, FIRN_STUN_SUCCESS);
  sim_turn_stats st;
  sim_turn_server_stats(w.srv, &st);
  SIM_ASSERT_EQ(w.s, st.allocations, 1);
  SIM_ASSERT_EQ(w.s, st.active, 1);
  SIM_ASSERT_EQ(w.s, st.unauthorized, 2);
  SIM_ASSERT_EQ(w.s, st.errors, 2);
  world_free(&w);

  /* A server configured to refuse: 486 with integrity; quota of one allocation. */
  sim_turn_config cfg;
  sim_turn_config_default(&cfg);
  cfg.allocate_error = 486;
  world_new(&w, NULL, &cfg);
  SIM_ASSERT_EQ(w.s, allocate(&w, w.uc, 0, 17, &m, copy), 401);
  const char *nonce;
  size_t nl;
  assert_int_equal(firn_stun_msg_get_string(&m, FIRN_STUN_ATTR_NONCE, &nonce, &nl), FIRN_OK);
  memcpy(w.nonce, nonce, nl);
  SIM_ASSERT_EQ(w.s, allocate(&w, w.uc, 1, 17, &m, copy), 486);
  assert_int_equal(firn_stun_msg_verify(&m, w.key), FIRN_OK);
  world_free(&w);
  sim_turn_config_default(&cfg);
  cfg.max_allocations = 1;
  world_new(&w, NULL, &cfg);
  allocate_ok(&w, NULL);
  assert_int_equal(sim_udp_open(w.c, &a2, sim_recorder_cb, w.rc, &u2), FIRN_OK);
  SIM_ASSERT_EQ(w.s, allocate(&w, u2, 1, 17, &m, copy), 486);
  world_free(&w);
}

/* Relaying: no permission, no data; Send/Data indications; channels both ways; expiry of
 * permissions. */
static void test_turn_relay(void **state) {
  (void)state;
  world w;
  world_new(&w, NULL, NULL);
  firn_addr relay = allocate_ok(&w, NULL);
  size_t base = w.rc->total;

  assert_int_equal(sim_udp_send(w.up, &relay, "early", 5), FIRN_OK);
  settle(&w);
  SIM_ASSERT_EQ(w.s, w.rc->total, base); /* no permission yet */

  SIM_ASSERT_EQ(w.s, peer_request(&w, FIRN_STUN_CREATE_PERMISSION, &w.ap, 0), 0);
  base = w.rc->total;
  assert_int_equal(sim_udp_send(w.up, &relay, "hello", 5), FIRN_OK);
  settle(&w);
  SIM_ASSERT_EQ(w.s, w.rc->total, base + 1);
  firn_stun_msg m;
  uint8_t copy[SIM_REC_DATA];
  last_msg(&w, &m, copy);
  SIM_ASSERT_EQ(w.s, m.cls, FIRN_STUN_INDICATION);
  SIM_ASSERT_EQ(w.s, m.method, FIRN_STUN_DATA);
  firn_addr from;
  const uint8_t *data;
  size_t len;
  assert_int_equal(firn_stun_msg_get_xor_addr(&m, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, 0, &from), FIRN_OK);
  SIM_ASSERT(w.s, firn_addr_equal(&from, &w.ap));
  assert_int_equal(firn_stun_msg_find(&m, FIRN_STUN_ATTR_DATA, &data, &len), FIRN_OK);
  SIM_ASSERT(w.s, len == 5 && memcmp(data, "hello", 5) == 0);

  /* Send indication: the peer hears it from the relayed address. */
  uint8_t buf[512];
  firn_stun_builder b;
  req_start(&w, &b, buf, sizeof buf, FIRN_STUN_SEND, FIRN_STUN_INDICATION);
  firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, &w.ap);
  firn_stun_add_raw(&b, FIRN_STUN_ATTR_DATA, "world", 5);
  sim_udp_send(w.uc, &w.at, buf, req_finish(&w, &b, 0));
  settle(&w);
  SIM_ASSERT_EQ(w.s, w.rp->n, 1);
  SIM_ASSERT(w.s, firn_addr_equal(&w.rp->rx[0].remote, &relay));
  SIM_ASSERT(w.s, w.rp->rx[0].len == 5 && memcmp(w.rp->rx[0].data, "world", 5) == 0);

  /* Channel 0x4001: ChannelData both ways. */
  SIM_ASSERT_EQ(w.s, peer_request(&w, FIRN_STUN_CHANNEL_BIND, &w.ap, 0x4001), 0);
  base = w.rc->total;
  sim_udp_send(w.up, &relay, "chan", 4);
  settle(&w);
  SIM_ASSERT_EQ(w.s, w.rc->total, base + 1);
  const sim_rx *r = &w.rc->rx[w.rc->n - 1];
  SIM_ASSERT_EQ(w.s, r->len, 8);
  SIM_ASSERT(w.s, memcmp(r->data, "\x40\x01\x00\x04" "chan", 8) == 0);
  sim_udp_send(w.uc, &w.at, "\x40\x01\x00\x03" "abc", 7);
  sim_udp_send(w.uc, &w.at, "\x40\x02\x00\x03" "xyz", 7);  /* unbound channel: dropped */
  sim_udp_send(w.uc, &w.at, "\x40\x01\x00\x09" "abc", 7);  /* length past the datagram */
  settle(&w);
  SIM_ASSERT_EQ(w.s, w.rp->n, 2);
  SIM_ASSERT(w.s, w.rp->rx[1].len == 3 && memcmp(w.rp->rx[1].data, "abc", 3) == 0);
  /* Rebinding the channel to another peer, or the peer to another channel: 400. */
  firn_addr other = sim_addr("203.0.113.8:1");
  SIM_ASSERT_EQ(w.s, peer_request(&w, FIRN_STUN_CHANNEL_BIND, &other, 0x4001), 400);
  SIM_ASSERT_EQ(w.s, peer_request(&w, FIRN_STUN_CHANNEL_BIND, &w.ap, 0x4002), 400);
  firn_addr v6 = sim_addr("[2001:db8::7]:1");
  SIM_ASSERT_EQ(w.s, peer_request(&w, FIRN_STUN_CREATE_PERMISSION, &v6, 0), 443);

  /* Permissions last 300 s, channels 600 s; refreshed channel binding refreshes both. Let the
   * allocation live (refresh at 500 s), let the channel and permission lapse (no rebind). */
  sim_run_for(w.s, 500 * SEC);
  SIM_ASSERT_EQ(w.s, refresh(&w, 600), 0);
  sim_run_for(w.s, 150 * SEC);
  base = w.rc->total;
  sim_udp_send(w.up, &relay, "late", 4);
  settle(&w);
  SIM_ASSERT_EQ(w.s, w.rc->total, base);
  sim_turn_stats st;
  sim_turn_server_stats(w.srv, &st);
  SIM_ASSERT_EQ(w.s, st.to_client_data, 1);
  SIM_ASSERT_EQ(w.s, st.to_client_channel, 1);
  SIM_ASSERT_EQ(w.s, st.to_peer, 2);
  SIM_ASSERT_EQ(w.s, st.dropped, 4);
  world_free(&w);
}

/* Lifetimes: refresh keeps an allocation, LIFETIME 0 deletes it, silence lets it expire. A
 * stale nonce gets 438 with the new nonce. */
static void test_turn_lifetime_and_nonce(void **state) {
  (void)state;
  sim_turn_config cfg;
  sim_turn_config_default(&cfg);
  cfg.nonce_lifetime_ns = 100 * SEC;
  world w;
  world_new(&w, NULL, &cfg);
  firn_addr relay = allocate_ok(&w, NULL);
  SIM_ASSERT_EQ(w.s, peer_request(&w, FIRN_STUN_CREATE_PERMISSION, &w.ap, 0), 0);
  sim_run_for(w.s, 150 * SEC);
  /* The nonce is stale now: 438 with a fresh one, then the retry works. */
  SIM_ASSERT_EQ(w.s, refresh(&w, 600), 438);
  firn_stun_msg m;
  uint8_t copy[SIM_REC_DATA];
  last_msg(&w, &m, copy);
  const char *nonce;
  size_t nl;
  assert_int_equal(firn_stun_msg_get_string(&m, FIRN_STUN_ATTR_NONCE, &nonce, &nl), FIRN_OK);
  SIM_ASSERT(w.s, nl != strlen(w.nonce) || memcmp(nonce, w.nonce, nl) != 0);
  memcpy(w.nonce, nonce, nl);
  w.nonce[nl] = 0;
  SIM_ASSERT_EQ(w.s, refresh(&w, 600), 0);
  sim_turn_stats st;
  sim_turn_server_stats(w.srv, &st);
  SIM_ASSERT_EQ(w.s, st.stale_nonce, 1);
  /* Deallocate: LIFETIME 0. Then the relay is gone and refresh gets 437. */
  SIM_ASSERT_EQ(w.s, refresh(&w, 0), 0);
  sim_udp_send(w.up, &relay, "x", 1);
  SIM_ASSERT_EQ(w.s, refresh(&w, 600), 437);
  sim_turn_server_stats(w.srv, &st);
  SIM_ASSERT_EQ(w.s, st.active, 0);
  SIM_ASSERT_EQ(w.s, st.deallocations, 1);
  world_free(&w);

  /* Silence: the allocation expires after its lifetime (600 s). The client's NAT keeps its
   * mapping longer here (its default 120 s would drop the server's packets first). */
  sim_nat_config longnat;
  sim_nat_config_default(&longnat);
  longnat.udp_timeout_ns = 3600 * SEC;
  world_new(&w, &longnat, NULL);
  relay = allocate_ok(&w, NULL);
  SIM_ASSERT_EQ(w.s, peer_request(&w, FIRN_STUN_CREATE_PERMISSION, &w.ap, 0), 0);
  SIM_ASSERT_EQ(w.s, peer_request(&w, FIRN_STUN_CHANNEL_BIND, &w.ap, 0x4000), 0);
  sim_run_for(w.s, 299 * SEC);
  size_t base = w.rc->total;
  sim_udp_send(w.up, &relay, "alive", 5);
  settle(&w);
  SIM_ASSERT_EQ(w.s, w.rc->total, base + 1);
  sim_run_for(w.s, 301 * SEC); /* 600 s after the allocation */
  sim_udp_send(w.up, &relay, "dead", 4);
  settle(&w);
  SIM_ASSERT_EQ(w.s, w.rc->total, base + 1);
  sim_turn_server_stats(w.srv, &st);
  SIM_ASSERT_EQ(w.s, st.active, 0);
  world_free(&w);
}

/* Clients over TCP: requests and ChannelData framed on the stream (split at random by the
 * stream model), ChannelData padded to 4 bytes; closing the connection deallocates. */
typedef struct stream_client {
  uint8_t buf[8192];
  size_t len;
  int connected;
} stream_client;

static void sc_connect(void *user, sim_tcp *c, int status, uint64_t now) {
  (void)c;
  (void)now;
  ((stream_client *)user)->connected = status == 0 ? 1 : -1;
}

static void sc_data(void *user, sim_tcp *c, const uint8_t *d, size_t n, uint64_t now) {
  (void)c;
  (void)now;
  stream_client *sc = user;
  assert_true(sc->len + n <= sizeof sc->buf);
  memcpy(sc->buf + sc->len, d, n);
  sc->len += n;
}

/* Take one frame off the stream: its length, 0 if incomplete. */
static size_t sc_frame(stream_client *sc, uint8_t *out) {
  if (sc->len < 4) return 0;
  size_t total = (sc->buf[0] & 0xC0) == 0 ? 20 + (size_t)(sc->buf[2] << 8 | sc->buf[3])
                                          : 4 + (((size_t)(sc->buf[2] << 8 | sc->buf[3]) + 3) & ~(size_t)3);
  if (sc->len < total) return 0;
  memcpy(out, sc->buf, total);
  memmove(sc->buf, sc->buf + total, sc->len - total);
  sc->len -= total;
  return total;
}

static void test_turn_over_tcp(void **state) {
  (void)state;
  world w;
  world_new(&w, NULL, NULL);
  stream_client sc;
  memset(&sc, 0, sizeof sc);
  static const sim_tcp_callbacks cbs = {sc_connect, sc_data, NULL};
  sim_tcp *c;
  firn_addr ctcp = sim_addr("192.168.1.10:0");
  assert_int_equal(sim_tcp_connect(w.c, &ctcp, &w.at, &cbs, &sc, &c), FIRN_OK);
  settle(&w);
  SIM_ASSERT_EQ(w.s, sc.connected, 1);

  /* Two requests in one write (they may be split and joined any way on the stream). */
  uint8_t buf[1024], frame[1024];
  firn_stun_builder b;
  req_start(&w, &b, buf, sizeof buf, FIRN_STUN_ALLOCATE, FIRN_STUN_REQUEST);
  firn_stun_add_requested_transport(&b, 17);
  size_t n1 = req_finish(&w, &b, 0);
  req_start(&w, &b, buf + n1, sizeof buf - n1, FIRN_STUN_BINDING, FIRN_STUN_REQUEST);
  size_t n2 = req_finish(&w, &b, 0);
  assert_int_equal(sim_tcp_send(c, buf, n1 + n2), FIRN_OK);
  settle(&w);
  firn_stun_msg m;
  size_t fl = sc_frame(&sc, frame);
  assert_true(fl > 0);
  assert_int_equal(firn_stun_msg_parse(&m, frame, fl), FIRN_OK);
  SIM_ASSERT_EQ(w.s, error_code(&m), 401);
  const char *nonce;
  size_t nl;
  assert_int_equal(firn_stun_msg_get_string(&m, FIRN_STUN_ATTR_NONCE, &nonce, &nl), FIRN_OK);
  memcpy(w.nonce, nonce, nl);
  fl = sc_frame(&sc, frame);
  assert_int_equal(firn_stun_msg_parse(&m, frame, fl), FIRN_OK);
  SIM_ASSERT_EQ(w.s, m.cls, FIRN_STUN_SUCCESS); /* the Binding */
  firn_addr mapped;
  assert_int_equal(firn_stun_msg_get_xor_addr(&m, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, 0, &mapped), FIRN_OK);
  char abuf[FIRN_ADDR_STRLEN];
  assert_string_equal(sim_addr_str(&mapped, abuf), "198.51.100.1:49152"); /* the NAT's mapping */

  req_start(&w, &b, buf, sizeof buf, FIRN_STUN_ALLOCATE, FIRN_STUN_REQUEST);
  firn_stun_add_requested_transport(&b, 17);
  n1 = req_finish(&w, &b, 1);
  req_start(&w, &b, buf + n1, sizeof buf - n1, FIRN_STUN_CHANNEL_BIND, FIRN_STUN_REQUEST);
  firn_stun_add_channel(&b, 0x4000);
  firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, &w.ap);
  n2 = req_finish(&w, &b, 1);
  /* ChannelData of 3 bytes, padded to 4 on a stream. */
  memcpy(buf + n1 + n2, "\x40\x00\x00\x03" "tcp\0", 8);
  assert_int_equal(sim_tcp_send(c, buf, n1 + n2 + 8), FIRN_OK);
  settle(&w);
  fl = sc_frame(&sc, frame);
  assert_int_equal(firn_stun_msg_parse(&m, frame, fl), FIRN_OK);
  SIM_ASSERT_EQ(w.s, m.cls, FIRN_STUN_SUCCESS);
  firn_addr relay;
  assert_int_equal(firn_stun_msg_get_xor_addr(&m, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, 0, &relay), FIRN_OK);
  fl = sc_frame(&sc, frame);
  assert_int_equal(firn_stun_msg_parse(&m, frame, fl), FIRN_OK);
  SIM_ASSERT_EQ(w.s, m.method, FIRN_STUN_CHANNEL_BIND);
  SIM_ASSERT_EQ(w.s, m.cls, FIRN_STUN_SUCCESS);
  SIM_ASSERT_EQ(w.s, w.rp->n, 1);
  SIM_ASSERT(w.s, w.rp->rx[0].len == 3 && memcmp(w.rp->rx[0].data, "tcp", 3) == 0);

  /* Peer -> client: 5 bytes of ChannelData arrive padded to 8 on the stream. */
  sim_udp_send(w.up, &relay, "12345", 5);
  settle(&w);
  fl = sc_frame(&sc, frame);
  SIM_ASSERT_EQ(w.s, fl, 12);
  SIM_ASSERT(w.s, memcmp(frame, "\x40\x00\x00\x05" "12345", 9) == 0);
  SIM_ASSERT_EQ(w.s, sc.len, 0);

  /* Closing the connection deallocates. */
  sim_tcp_close(c);
  settle(&w);
  sim_turn_stats st;
  sim_turn_server_stats(w.srv, &st);
  SIM_ASSERT_EQ(w.s, st.active, 0);
  SIM_ASSERT_EQ(w.s, st.deallocations, 1);
  world_free(&w);
}

/* Stream bounds: connections beyond the cap are reset; a frame that is neither STUN nor
 * ChannelData ends the connection. */
typedef struct closer {
  int connected, closed, reason;
} closer;

static void cl_connect(void *user, sim_tcp *c, int status, uint64_t now) {
  (void)c;
  (void)now;
  ((closer *)user)->connected = status == 0 ? 1 : status;
}

static void cl_close(void *user, sim_tcp *c, int reason, uint64_t now) {
  (void)c;
  (void)now;
  closer *cl = user;
  cl->closed = 1;
  cl->reason = reason;
}

static void test_turn_tcp_bounds(void **state) {
  (void)state;
  sim_turn_config cfg;
  sim_turn_config_default(&cfg);
  cfg.max_allocations = 1;
  world w;
  world_new(&w, NULL, &cfg);
  static const sim_tcp_callbacks cbs = {cl_connect, NULL, cl_close};
  closer c1 = {0}, c2 = {0};
  sim_tcp *t1, *t2;
  firn_addr any = sim_addr("192.168.1.10:0");
  assert_int_equal(sim_tcp_connect(w.c, &any, &w.at, &cbs, &c1, &t1), FIRN_OK);
  settle(&w);
  assert_int_equal(sim_tcp_connect(w.c, &any, &w.at, &cbs, &c2, &t2), FIRN_OK);
  settle(&w);
  SIM_ASSERT(w.s, c1.connected == 1 && !c1.closed);
  SIM_ASSERT(w.s, c2.closed && c2.reason == SIM_ERR_RESET);
  assert_int_equal(sim_tcp_send(t1, "\xff\xff\xff\xff", 4), FIRN_OK);
  settle(&w);
  SIM_ASSERT(w.s, c1.closed && c1.reason == 0);
  sim_turn_stats st;
  sim_turn_server_stats(w.srv, &st);
  SIM_ASSERT_EQ(w.s, st.dropped, 1);
  sim_tcp_close(t1);
  sim_tcp_close(t2);
  world_free(&w);
}

/* TURN over TLS ("turns:"): a client verifying the server's certificate and name runs the
 * same 401 / Allocate flow over the TLS stream and gets relayed data back through it. A wrong
 * name fails verification; a client that does not speak TLS is hung up on. */
typedef struct tls_client {
  SSL_CTX *ctx;
  SSL *ssl;
  sim_tcp *c;
  int connected, handshake, closed;
  uint8_t plain[8192];
  size_t plen;
} tls_client;

static void tlc_flush(tls_client *k) {
  uint8_t b[4096];
  int n;
  while ((n = BIO_read(SSL_get_wbio(k->ssl), b, sizeof b)) > 0)
    assert_int_equal(sim_tcp_send(k->c, b, (size_t)n), FIRN_OK);
}

static void tlc_pump(tls_client *k) {
  if (!SSL_is_init_finished(k->ssl)) {
    int r = SSL_do_handshake(k->ssl);
    tlc_flush(k);
    if (r != 1) {
      if (SSL_get_error(k->ssl, r) != SSL_ERROR_WANT_READ) k->handshake = -1;
      ERR_clear_error();
      return;
    }
    k->handshake = 1;
  }
  int n;
  while ((n = SSL_read(k->ssl, k->plain + k->plen, (int)(sizeof k->plain - k->plen))) > 0)
    k->plen += (size_t)n;
  ERR_clear_error();
  tlc_flush(k);
}

static void tlc_connect(void *user, sim_tcp *c, int status, uint64_t now) {
  (void)c;
  (void)now;
  tls_client *k = user;
  k->connected = status == 0 ? 1 : -1;
  if (status == 0) tlc_pump(k);
}

static void tlc_data(void *user, sim_tcp *c, const uint8_t *d, size_t n, uint64_t now) {
  (void)c;
  (void)now;
  tls_client *k = user;
  assert_int_equal(BIO_write(SSL_get_rbio(k->ssl), d, (int)n), (int)n);
  tlc_pump(k);
}

static void tlc_close(void *user, sim_tcp *c, int reason, uint64_t now) {
  (void)c;
  (void)reason;
  (void)now;
  ((tls_client *)user)->closed = 1;
}

static void tlc_open(tls_client *k, world *w, const firn_addr *to, const char *pem, const char *name) {
  memset(k, 0, sizeof *k);
  k->ctx = SSL_CTX_new(TLS_client_method());
  assert_non_null(k->ctx);
  BIO *pb = BIO_new_mem_buf(pem, -1);
  X509 *ca = PEM_read_bio_X509(pb, NULL, NULL, NULL);
  assert_non_null(ca);
  assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(k->ctx), ca), 1);
  X509_free(ca);
  BIO_free(pb);
  SSL_CTX_set_verify(k->ctx, SSL_VERIFY_PEER, NULL);
  k->ssl = SSL_new(k->ctx);
  SSL_set_bio(k->ssl, BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
  SSL_set_connect_state(k->ssl);
  assert_int_equal(SSL_set1_host(k->ssl, name), 1);
  SSL_set_tlsext_host_name(k->ssl, name);
  static const sim_tcp_callbacks cbs = {tlc_connect, tlc_data, tlc_close};
  firn_addr any = sim_addr("192.168.1.10:0");
  assert_int_equal(sim_tcp_connect(w->c, &any, to, &cbs, k, &k->c), FIRN_OK);
}

static void tlc_free(tls_client *k) {
  sim_tcp_close(k->c);
  SSL_free(k->ssl);
  SSL_CTX_free(k->ctx);
}

static void tlc_write(tls_client *k, const uint8_t *d, size_t n) {
  assert_int_equal(SSL_write(k->ssl, d, (int)n), (int)n);
  tlc_flush(k);
}

/* One frame (STUN message or padded ChannelData) off the plaintext, 0 if incomplete. */
static size_t tlc_frame(tls_client *k, uint8_t *out) {
  if (k->plen < 4) return 0;
  size_t l = (size_t)(k->plain[2] << 8 | k->plain[3]);
  size_t total = (k->plain[0] & 0xC0) == 0 ? 20 + l : 4 + ((l + 3) & ~(size_t)3);
  if (k->plen < total) return 0;
  memcpy(out, k->plain, total);
  memmove(k->plain, k->plain + total, k->plen - total);
  k->plen -= total;
  return total;
}

static void test_turn_over_tls(void **state) {
  (void)state;
  world w;
  world_new(&w, NULL, NULL);
  firn_addr at_tls = sim_addr("203.0.113.3:5349");
  assert_null(sim_turn_server_cert_pem(w.srv));
  assert_int_equal(sim_turn_server_listen_tls(w.srv, &at_tls, "turn.firn.test"), FIRN_OK);
  assert_int_equal(sim_turn_server_listen_tls(w.srv, &at_tls, "turn.firn.test"), FIRN_ERR_STATE);
  const char *pem = sim_turn_server_cert_pem(w.srv);
  assert_non_null(pem);
  assert_non_null(strstr(pem, "BEGIN CERTIFICATE"));

  tls_client k;
  tlc_open(&k, &w, &at_tls, pem, "turn.firn.test");
  settle(&w);
  SIM_ASSERT_EQ(w.s, k.connected, 1);
  SIM_ASSERT_EQ(w.s, k.handshake, 1);

  uint8_t buf[1024], frame[1024];
  firn_stun_builder b;
  req_start(&w, &b, buf, sizeof buf, FIRN_STUN_ALLOCATE, FIRN_STUN_REQUEST);
  firn_stun_add_requested_transport(&b, 17);
  tlc_write(&k, buf, req_finish(&w, &b, 0));
  settle(&w);
  firn_stun_msg m;
  size_t fl = tlc_frame(&k, frame);
  assert_true(fl > 0);
  assert_int_equal(firn_stun_msg_parse(&m, frame, fl), FIRN_OK);
  SIM_ASSERT_EQ(w.s, error_code(&m), 401);
  const char *nonce;
  size_t nl;
  assert_int_equal(firn_stun_msg_get_string(&m, FIRN_STUN_ATTR_NONCE, &nonce, &nl), FIRN_OK);
  memcpy(w.nonce, nonce, nl);

  req_start(&w, &b, buf, sizeof buf, FIRN_STUN_ALLOCATE, FIRN_STUN_REQUEST);
  firn_stun_add_requested_transport(&b, 17);
  size_t n1 = req_finish(&w, &b, 1);
  req_start(&w, &b, buf + n1, sizeof buf - n1, FIRN_STUN_CREATE_PERMISSION, FIRN_STUN_REQUEST);
  firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, &w.ap);
  size_t n2 = req_finish(&w, &b, 1);
  tlc_write(&k, buf, n1 + n2);
  settle(&w);
  fl = tlc_frame(&k, frame);
  assert_int_equal(firn_stun_msg_parse(&m, frame, fl), FIRN_OK);
  SIM_ASSERT_EQ(w.s, m.cls, FIRN_STUN_SUCCESS);
  assert_int_equal(firn_stun_msg_verify(&m, w.key), FIRN_OK);
  firn_addr relay;
  assert_int_equal(firn_stun_msg_get_xor_addr(&m, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, 0, &relay), FIRN_OK);
  fl = tlc_frame(&k, frame);
  assert_int_equal(firn_stun_msg_parse(&m, frame, fl), FIRN_OK);
  SIM_ASSERT_EQ(w.s, m.method, FIRN_STUN_CREATE_PERMISSION);
  SIM_ASSERT_EQ(w.s, m.cls, FIRN_STUN_SUCCESS);

  sim_udp_send(w.up, &relay, "secret", 6);
  settle(&w);
  fl = tlc_frame(&k, frame);
  assert_int_equal(firn_stun_msg_parse(&m, frame, fl), FIRN_OK);
  SIM_ASSERT_EQ(w.s, m.method, FIRN_STUN_DATA);
  const uint8_t *data;
  size_t len;
  assert_int_equal(firn_stun_msg_find(&m, FIRN_STUN_ATTR_DATA, &data, &len), FIRN_OK);
  SIM_ASSERT(w.s, len == 6 && memcmp(data, "secret", 6) == 0);
  tlc_free(&k);
  settle(&w);
  sim_turn_stats st;
  sim_turn_server_stats(w.srv, &st);
  SIM_ASSERT_EQ(w.s, st.deallocations, 1);

  /* The wrong name: the client refuses the certificate. */
  tlc_open(&k, &w, &at_tls, pem, "evil.example");
  settle(&w);
  SIM_ASSERT_EQ(w.s, k.handshake, -1);
  tlc_free(&k);

  /* Plain STUN on the TLS port: not a ClientHello, the server hangs up. */
  stream_client sc;
  memset(&sc, 0, sizeof sc);
  static const sim_tcp_callbacks plain_cbs = {sc_connect, sc_data, NULL};
  sim_tcp *c;
  firn_addr any = sim_addr("192.168.1.10:0");
  assert_int_equal(sim_tcp_connect(w.c, &any, &at_tls, &plain_cbs, &sc, &c), FIRN_OK);
  settle(&w);
  req_start(&w, &b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST);
  assert_int_equal(sim_tcp_send(c, buf, req_finish(&w, &b, 0)), FIRN_OK);
  settle(&w);
  SIM_ASSERT(w.s, !sim_tcp_is_open(c)); /* closed by the server */
  sim_tcp_close(c);
  world_free(&w);
}

/* Two clients behind symmetric NATs: direct packets are filtered, the relay carries them. */
static void test_turn_symmetric_nats(void **state) {
  (void)state;
  sim_nat_config sym;
  sim_nat_config_symmetric(&sym);
  world w;
  world_new(&w, &sym, NULL);
  /* A second site: B behind its own symmetric NAT. */
  sim_segment *lan2;
  sim_nat *nat2;
  sim_host *bh;
  assert_int_equal(sim_segment_new(w.s, "lan2", &lan2), FIRN_OK);
  assert_int_equal(sim_nat_new(w.s, "nat2", &sym, lan2, "10.1.0.1", w.wan, "198.51.100.2", &nat2), FIRN_OK);
  assert_int_equal(sim_host_new(w.s, "B", &bh), FIRN_OK);
  assert_int_equal(sim_host_add_iface(bh, lan2, "10.1.0.10", NULL), FIRN_OK);
  sim_recorder *rb = sim_recorder_new();
  sim_udp *ub;
  firn_addr ab = sim_addr("10.1.0.10:6000");
  assert_int_equal(sim_udp_open(bh, &ab, sim_recorder_cb, rb, &ub), FIRN_OK);

  firn_addr c_srflx;
  firn_addr relay = allocate_ok(&w, &c_srflx);
  /* B learns its server-reflexive address from the TURN server's Binding answer. */
  uint8_t buf[256];
  firn_stun_builder b;
  req_start(&w, &b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST);
  sim_udp_send(ub, &w.at, buf, req_finish(&w, &b, 0));
  settle(&w);
  SIM_ASSERT_EQ(w.s, rb->n, 1);
  firn_stun_msg m;
  uint8_t copy[SIM_REC_DATA];
  memcpy(copy, rb->rx[0].data, rb->rx[0].len);
  assert_int_equal(firn_stun_msg_parse(&m, copy, rb->rx[0].len), FIRN_OK);
  firn_addr b_srflx;
  assert_int_equal(firn_stun_msg_get_xor_addr(&m, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, 0, &b_srflx), FIRN_OK);
  /* Hole punching fails: each NAT maps per destination and filters per address and port. */
  sim_udp_send(w.uc, &b_srflx, "c2b", 3);
  sim_udp_send(ub, &c_srflx, "b2c", 3);
  settle(&w);
  SIM_ASSERT_EQ(w.s, rb->n, 1);
  /* Through the relay: C permits B's NAT address, B sends to C's relayed address. */
  SIM_ASSERT_EQ(w.s, peer_request(&w, FIRN_STUN_CREATE_PERMISSION, &b_srflx, 0), 0);
  size_t base = w.rc->total;
  sim_udp_send(ub, &relay, "via relay", 9);
  settle(&w);
  SIM_ASSERT_EQ(w.s, w.rc->total, base + 1);
  last_msg(&w, &m, copy);
  SIM_ASSERT_EQ(w.s, m.method, FIRN_STUN_DATA);
  sim_stats st;
  sim_get_stats(w.s, &st);
  SIM_ASSERT(w.s, st.drop_nat_filter >= 2);
  test_free(rb);
  world_free(&w);
}

/* firn's own STUN client transactions against this server: the long-term flow (401, retry
 * with REALM/NONCE; 438, retry with the new nonce) works end to end through a NAT. */
typedef struct glue {
  firn_stun_client *c;
  sim_udp *u;
  sim_timer *t;
  sim_rng rng;
  int done, status, error_code;
  unsigned transmissions;
  firn_addr relay;
} glue;

static void glue_flush(glue *g, uint64_t now) {
  uint8_t buf[1500];
  firn_addr dest;
  void *ctx;
  firn_ssize n;
  while ((n = firn_stun_client_poll_transmit(g->c, now, buf, sizeof buf, &dest, &ctx)) > 0)
    assert_int_equal(sim_udp_send(g->u, &dest, buf, (size_t)n), FIRN_OK);
  assert_int_equal(sim_timer_arm(g->t, firn_stun_client_expiry(g->c)), FIRN_OK);
}

static void glue_recv(void *user, const firn_addr *local, const firn_addr *remote,
                      const uint8_t *data, size_t len, uint64_t now) {
  (void)local;
  glue *g = user;
  firn_stun_client_handle_response(g->c, data, len, remote, now);
  glue_flush(g, now);
}

static void glue_timer(void *user, uint64_t now) {
  glue *g = user;
  firn_stun_client_handle_expiry(g->c, now);
  glue_flush(g, now);
}

static void glue_result(void *user, const firn_stun_result *r) {
  glue *g = user;
  g->done = 1;
  g->status = r->status;
  g->error_code = r->error_code;
  g->transmissions = r->transmissions;
  if (r->status == 0 && r->response->method == FIRN_STUN_ALLOCATE)
    assert_int_equal(firn_stun_msg_get_xor_addr(r->response, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, 0,
                                                &g->relay), FIRN_OK);
}

static int glue_done(void *user) { return ((glue *)user)->done; }

static void test_turn_with_firn_stun_client(void **state) {
  (void)state;
  sim_turn_config cfg;
  sim_turn_config_default(&cfg);
  cfg.nonce_lifetime_ns = 30 * SEC;
  world w;
  world_new(&w, NULL, &cfg);
  sim_link wire;
  sim_link_default(&wire);
  wire.delay_ns = 15 * MS;
  sim_iface_set_link(sim_nat_outside(w.nat), SIM_BOTH, &wire);

  glue g;
  memset(&g, 0, sizeof g);
  sim_rng_derive(w.s, 7, &g.rng);
  firn_stun_client_settings cs;
  firn_stun_client_settings_default(&cs);
  cs.random = sim_rng_fill;
  cs.random_user = &g.rng;
  cs.on_result = glue_result;
  cs.user = &g;
  assert_int_equal(firn_stun_client_new(&g.c, &cs), FIRN_OK);
  firn_stun_auth *auth;
  assert_int_equal(firn_stun_auth_new(&auth, NULL, "user", "pass"), FIRN_OK);
  sim_udp_close(w.uc);
  assert_int_equal(sim_udp_open(w.c, &w.ac, glue_recv, &g, &g.u), FIRN_OK);
  assert_int_equal(sim_timer_new(w.s, glue_timer, &g, &g.t), FIRN_OK);

  static const uint8_t udp_transport[] = {0x00, 0x19, 0x00, 0x04, 17, 0, 0, 0};
  firn_stun_request req;
  memset(&req, 0, sizeof req);
  req.method = FIRN_STUN_ALLOCATE;
  req.attrs = udp_transport;
  req.attrs_len = sizeof udp_transport;
  req.dest = w.at;
  req.long_term = auth;
  req.fingerprint = 1;
  uint64_t id;
  assert_int_equal(firn_stun_client_start(g.c, &req, sim_now(w.s), &id), FIRN_OK);
  glue_flush(&g, sim_now(w.s));
  assert_int_equal(sim_run_until(w.s, glue_done, &g, 60 * SEC), SIM_DONE);
  SIM_ASSERT_EQ(w.s, g.status, 0);
  firn_addr tip = sim_addr("203.0.113.3");
  SIM_ASSERT(w.s, firn_addr_equal_ip(&g.relay, &tip));
  sim_turn_stats st;
  sim_turn_server_stats(w.srv, &st);
  SIM_ASSERT_EQ(w.s, st.allocations, 1);
  SIM_ASSERT(w.s, st.unauthorized >= 1);

  /* 40 s later the nonce is stale: Refresh gets 438 and the client retries by itself. */
  sim_run_for(w.s, 40 * SEC);
  g.done = 0;
  req.method = FIRN_STUN_REFRESH;
  req.attrs = NULL;
  req.attrs_len = 0;
  assert_int_equal(firn_stun_client_start(g.c, &req, sim_now(w.s), &id), FIRN_OK);
  glue_flush(&g, sim_now(w.s));
  assert_int_equal(sim_run_until(w.s, glue_done, &g, sim_now(w.s) + 60 * SEC), SIM_DONE);
  SIM_ASSERT_EQ(w.s, g.status, 0);
  sim_turn_server_stats(w.srv, &st);
  SIM_ASSERT_EQ(w.s, st.stale_nonce, 1);
  SIM_ASSERT_EQ(w.s, st.refreshes, 1);

  /* A wrong password: 401 again with the same nonce ends the transaction. */
  firn_stun_auth *bad;
  assert_int_equal(firn_stun_auth_new(&bad, NULL, "user", "wrong"), FIRN_OK);
  g.done = 0;
  req.long_term = bad;
  assert_int_equal(firn_stun_client_start(g.c, &req, sim_now(w.s), &id), FIRN_OK);
  glue_flush(&g, sim_now(w.s));
  assert_int_equal(sim_run_until(w.s, glue_done, &g, sim_now(w.s) + 60 * SEC), SIM_DONE);
  SIM_ASSERT_EQ(w.s, g.status, FIRN_ERR_STUN_AUTH_FAILED);
  firn_stun_client_free(g.c);
  firn_stun_auth_free(auth);
  firn_stun_auth_free(bad);
  world_free(&w);
}

/* Hostile input: thousands of random and mutated datagrams and stream bytes at the TURN (and
 * STUN) server must not crash it (ASan/UBSan watch), and it still answers afterwards. */
static void test_servers_survive_garbage(void **state) {
  (void)state;
  world w;
  world_new(&w, NULL, NULL);
  sim_stun_server *stun;
  firn_addr as = sim_addr("203.0.113.3:3479");
  assert_int_equal(sim_stun_server_new(w.t, &as, &stun), FIRN_OK);
  firn_addr relay = allocate_ok(&w, NULL);
  SIM_ASSERT_EQ(w.s, peer_request(&w, FIRN_STUN_CHANNEL_BIND, &w.ap, 0x4000), 0);
  sim_rng rng;
  sim_rng_derive(w.s, 99, &rng);
  uint8_t valid[512], buf[600];
  firn_stun_builder b;
  req_start(&w, &b, valid, sizeof valid, FIRN_STUN_CREATE_PERMISSION, FIRN_STUN_REQUEST);
  firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, &w.ap);
  size_t vlen = req_finish(&w, &b, 1);
  /* Without FINGERPRINT, a mutated request gets past the parser to integrity and the methods. */
  uint8_t valid_nofp[512];
  req_start(&w, &b, valid_nofp, sizeof valid_nofp, FIRN_STUN_CHANNEL_BIND, FIRN_STUN_REQUEST);
  firn_stun_add_channel(&b, 0x4001);
  firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, &w.ap);
  firn_stun_add_string(&b, FIRN_STUN_ATTR_USERNAME, "user", 4);
  firn_stun_add_string(&b, FIRN_STUN_ATTR_REALM, "firn.test", 9);
  firn_stun_add_string(&b, FIRN_STUN_ATTR_NONCE, w.nonce, strlen(w.nonce));
  firn_stun_add_integrity(&b, w.key);
  firn_ssize nofp_len = firn_stun_builder_finish(&b);
  assert_true(nofp_len > 0);
  sim_tcp *c;
  firn_addr any = sim_addr("192.168.1.10:0");
  assert_int_equal(sim_tcp_connect(w.c, &any, &w.at, NULL, NULL, &c), FIRN_OK);
  settle(&w);
  for (int i = 0; i < 3000; i++) {
    size_t len;
    uint64_t kind = sim_rng_below(&rng, 4);
    if (kind == 0) { /* random bytes */
      len = (size_t)sim_rng_below(&rng, sizeof buf);
      sim_rng_fill(&rng, buf, len);
    } else { /* a valid request with a few bits flipped, or cut short */
      const uint8_t *src = i % 2 ? valid : valid_nofp;
      size_t slen = i % 2 ? vlen : (size_t)nofp_len;
      memcpy(buf, src, slen);
      len = slen;
      for (int k = 0; k < 3; k++) buf[sim_rng_below(&rng, slen)] ^= (uint8_t)(1u << sim_rng_below(&rng, 8));
      if (kind == 3) len = (size_t)sim_rng_below(&rng, slen + 1);
      if (kind == 2) buf[0] = (uint8_t)(0x40 | sim_rng_below(&rng, 16)); /* ChannelData-like */
    }
    sim_udp_send(w.uc, &w.at, buf, len);
    sim_udp_send(w.uc, &as, buf, len);
    if (sim_tcp_is_open(c) && i % 10 == 0) sim_tcp_send(c, buf, len);
    sim_udp_send(w.up, &relay, buf, len);
  }
  settle(&w);
  sim_turn_stats st;
  sim_turn_server_stats(w.srv, &st);
  SIM_ASSERT(w.s, st.dropped > 1000);    /* the junk reached the parsers and was refused */
  SIM_ASSERT(w.s, st.unauthorized + st.errors + st.stale_nonce > 100); /* mutated requests */
  /* Still serving: a fresh permission request succeeds, the STUN server answers a Binding. */
  SIM_ASSERT_EQ(w.s, peer_request(&w, FIRN_STUN_CREATE_PERMISSION, &w.ap, 0), 0);
  uint64_t before = sim_stun_server_requests(stun);
  req_start(&w, &b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST);
  sim_udp_send(w.uc, &as, buf, req_finish(&w, &b, 0));
  settle(&w);
  SIM_ASSERT_EQ(w.s, sim_stun_server_requests(stun), before + 1);
  sim_tcp_close(c);
  world_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_turn_allocate),
      cmocka_unit_test(test_turn_relay),
      cmocka_unit_test(test_turn_lifetime_and_nonce),
      cmocka_unit_test(test_turn_over_tcp),
      cmocka_unit_test(test_turn_tcp_bounds),
      cmocka_unit_test(test_turn_over_tls),
      cmocka_unit_test(test_turn_symmetric_nats),
      cmocka_unit_test(test_turn_with_firn_stun_client),
      cmocka_unit_test(test_servers_survive_garbage),
  };
  return cmocka_run_group_tests_name("sim_turn", tests, NULL, NULL);
}
