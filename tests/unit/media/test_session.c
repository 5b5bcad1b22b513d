/* firn_session on a virtual clock: two sessions in one process, datagrams moved by the test
 * with a fixed delay, time jumping to the next delivery or expiry. No sockets, no sleeps.
 * (DTLS retransmission follows the wall clock, see src/dtls/dtls.h; these runs lose no
 * packets, so no handshake ever needs one.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "firn/media.h"

#define MS FIRN_NS_PER_MS
#define SEC FIRN_NS_PER_S
#define MAXQ 2048

typedef struct node {
  firn_session *s;
  firn_addr addr;
  uint64_t rng;
  int events[16];
  int nevents;
  int connected, secure, failed, closed;
  int fail_error;
  firn_srtp_profile profile;
  unsigned rtp_rx, rtcp_rx;
  uint8_t last[1500];
  size_t last_len;
  int destroy_on_media;
  int destroyed;
} node;

typedef struct pkt {
  uint64_t at;
  int to;
  firn_path path;
  size_t len;
  uint8_t data[1500];
} pkt;

typedef struct world {
  uint64_t now;
  node n[2];
  pkt *q;
  int nq;
  /* the last SRTP/RTP datagram each node sent, as it went on the wire */
  uint8_t wire[2][1500];
  size_t wire_len[2];
  firn_path wire_path[2];
  uint64_t resp_delay; /* extra delay for STUN Binding success responses */
} world;

static int rng_fill(void *user, uint8_t *buf, size_t len) {
  uint64_t *s = user;
  for (size_t i = 0; i < len; i++) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    buf[i] = (uint8_t)(z ^ (z >> 31));
  }
  return 0;
}

static void on_event(void *user, firn_session *s, const firn_session_event *ev) {
  (void)s;
  node *n = user;
  if (n->nevents < 16) n->events[n->nevents++] = ev->type;
  if (ev->type == FIRN_SESSION_EV_CONNECTED) n->connected++;
  if (ev->type == FIRN_SESSION_EV_SECURE) {
    n->secure++;
    n->profile = ev->profile;
  }
  if (ev->type == FIRN_SESSION_EV_FAILED) {
    n->failed++;
    n->fail_error = ev->error;
  }
  if (ev->type == FIRN_SESSION_EV_CLOSED) n->closed++;
}

static void on_media(void *user, firn_session *s, firn_media_kind kind, unsigned comp, const uint8_t *d,
                     size_t len, uint64_t now) {
  (void)now;
  node *n = user;
  assert_int_equal(comp, 1);
  if (kind == FIRN_MEDIA_RTP) n->rtp_rx++;
  else n->rtcp_rx++;
  n->last_len = len < sizeof n->last ? len : sizeof n->last;
  memcpy(n->last, d, n->last_len);
  if (n->destroy_on_media && !n->destroyed) {
    firn_session_destroy(s);
    n->destroyed = 1;
  }
}

typedef void (*tweak_fn)(firn_session_settings *s, int idx);

static firn_addr addr_of(const char *s) {
  firn_addr a;
  assert_int_equal(firn_addr_parse(&a, s, 0), 0);
  return a;
}

static void w_init(world *w, uint64_t seed, tweak_fn tweak) {
  memset(w, 0, sizeof *w);
  w->q = calloc(MAXQ, sizeof *w->q);
  assert_non_null(w->q);
  w->now = 1 * SEC;
  const char *addrs[2] = {"10.0.0.1:5000", "10.0.0.2:6000"};
  for (int i = 0; i < 2; i++) {
    node *n = &w->n[i];
    n->rng = seed * 131 + (uint64_t)i;
    n->addr = addr_of(addrs[i]);
    firn_session_settings s;
    firn_session_settings_default(&s);
    s.agent.random = rng_fill;
    s.agent.random_user = &n->rng;
    s.role = i == 0 ? FIRN_SESSION_OFFERER : FIRN_SESSION_ANSWERER;
    s.callbacks.on_event = on_event;
    s.callbacks.on_media = on_media;
    s.user = n;
    if (tweak) tweak(&s, i);
    assert_int_equal(firn_session_new(&n->s, &s), 0);
    firn_local_address la;
    memset(&la, 0, sizeof la);
    la.addr = n->addr;
    la.transport = FIRN_TRANSPORT_UDP;
    la.ifname = "eth0";
    assert_int_equal(firn_agent_add_local_address(firn_session_agent(n->s), firn_session_stream(n->s), 1, &la, w->now), 0);
    assert_int_equal(firn_session_gather(n->s, w->now), 0);
  }
}

static void w_free(world *w) {
  for (int i = 0; i < 2; i++)
    if (!w->n[i].destroyed) firn_session_free(w->n[i].s);
  free(w->q);
}

/* Offer/answer through the SDP text, as two softphones would. `mangle` may edit the
 * description node `to` receives. */
typedef void (*mangle_fn)(firn_media_desc *d, int to);

static void signal_one(world *w, int from, int to, mangle_fn mangle) {
  firn_media_desc d, back;
  char sdp[8192];
  const char *why = NULL;
  assert_int_equal(firn_session_get_local_description(w->n[from].s, &d), 0);
  int len = firn_sdp_media_format(&d, sdp, sizeof sdp);
  assert_true(len > 0);
  assert_int_equal(firn_sdp_media_parse(&back, sdp, (size_t)len, &why), 0);
  if (mangle) mangle(&back, to);
  assert_int_equal(firn_session_set_remote_description(w->n[to].s, &back, w->now), 0);
}

static void w_signal(world *w, mangle_fn mangle) {
  signal_one(w, 0, 1, mangle);
  signal_one(w, 1, 0, mangle);
}

static int node_at(world *w, const firn_addr *a) {
  for (int i = 0; i < 2; i++)
    if (firn_addr_equal(&w->n[i].addr, a)) return i;
  return -1;
}

static void w_flush(world *w) {
  for (int i = 0; i < 2; i++) {
    node *n = &w->n[i];
    if (n->destroyed) continue;
    uint8_t buf[1500];
    firn_path path;
    for (;;) {
      firn_ssize len = firn_session_poll_transmit(n->s, w->now, buf, sizeof buf, &path);
      if (len == FIRN_ERR_WOULDBLOCK) break;
      assert_true(len > 0);
      if (buf[0] >= 128 && buf[0] <= 191) {
        memcpy(w->wire[i], buf, (size_t)len);
        w->wire_len[i] = (size_t)len;
        w->wire_path[i] = path;
      }
      int to = node_at(w, &path.remote);
      if (to < 0 || w->nq >= MAXQ) continue;
      pkt *p = &w->q[w->nq++];
      p->at = w->now + 5 * MS;
      if (len >= 20 && buf[0] == 0x01 && buf[1] == 0x01) p->at += w->resp_delay;
      p->to = to;
      memset(&p->path, 0, sizeof p->path);
      p->path.local = path.remote;
      p->path.remote = path.local;
      p->path.transport = path.transport;
      p->len = (size_t)len;
      memcpy(p->data, buf, (size_t)len);
    }
  }
}

static int w_step(world *w, uint64_t until) {
  w_flush(w);
  uint64_t next = FIRN_TIME_NEVER;
  for (int i = 0; i < w->nq; i++)
    if (w->q[i].at < next) next = w->q[i].at;
  for (int i = 0; i < 2; i++) {
    if (w->n[i].destroyed) continue;
    uint64_t e = firn_session_expiry(w->n[i].s);
    if (e < next) next = e;
  }
  if (next > until) {
    w->now = until;
    return 0;
  }
  if (next > w->now) w->now = next;
  for (;;) {
    int best = -1;
    for (int i = 0; i < w->nq; i++)
      if (w->q[i].at <= w->now && (best < 0 || w->q[i].at < w->q[best].at)) best = i;
    if (best < 0) break;
    pkt p = w->q[best];
    w->q[best] = w->q[--w->nq];
    if (!w->n[p.to].destroyed) firn_session_handle_datagram(w->n[p.to].s, &p.path, p.data, p.len, w->now);
    w_flush(w);
  }
  for (int i = 0; i < 2; i++)
    if (!w->n[i].destroyed && firn_session_expiry(w->n[i].s) <= w->now)
      firn_session_handle_expiry(w->n[i].s, w->now);
  w_flush(w);
  return 1;
}

typedef int (*pred_fn)(world *w);

static int w_run(world *w, pred_fn pred, uint64_t dur) {
  uint64_t until = w->now + dur;
  for (int guard = 0; guard < 1000000; guard++) {
    if (pred && pred(w)) return 1;
    if (!w_step(w, until)) return pred ? pred(w) : 0;
  }
  fail_msg("livelock");
  return 0;
}

static int both_secure(world *w) { return w->n[0].secure && w->n[1].secure; }
static int both_connected(world *w) { return w->n[0].connected && w->n[1].connected; }
static int any_failed(world *w) { return w->n[0].failed || w->n[1].failed; }

static void make_rtp(uint8_t *p, size_t len, uint16_t seq) {
  memset(p, 0, len);
  p[0] = 0x80;
  p[1] = 0;
  p[2] = (uint8_t)(seq >> 8);
  p[3] = (uint8_t)seq;
  p[11] = 0x42;
  for (size_t i = 12; i < len; i++) p[i] = (uint8_t)(i * 7 + seq);
}

/* ---------------------------------------------------------------------------------------- */

static void test_connect_secure_exchange(void **state) {
  (void)state;
  world w;
  w_init(&w, 1, NULL);
  uint8_t rtp[172];
  make_rtp(rtp, sizeof rtp, 1);
  /* before anything: no keys */
  assert_int_equal(firn_session_send_rtp(w.n[0].s, rtp, sizeof rtp, w.now), FIRN_ERR_NOT_SECURE);
  assert_int_equal(firn_session_get_state(w.n[0].s), FIRN_SESSION_NEW);
  w_signal(&w, NULL);
  assert_true(w_run(&w, both_secure, 10 * SEC));
  assert_int_equal(w.n[0].profile, FIRN_SRTP_AEAD_AES_256_GCM);
  assert_int_equal(w.n[1].profile, FIRN_SRTP_AEAD_AES_256_GCM);
  assert_int_equal(firn_session_srtp_profile(w.n[0].s), FIRN_SRTP_AEAD_AES_256_GCM);
  /* CONNECTED came before SECURE, once each */
  for (int i = 0; i < 2; i++) {
    assert_int_equal(w.n[i].connected, 1);
    assert_int_equal(w.n[i].events[0], FIRN_SESSION_EV_CONNECTED);
    assert_int_equal(w.n[i].events[1], FIRN_SESSION_EV_SECURE);
  }
  /* RTP both ways, then RTCP */
  for (uint16_t k = 0; k < 20; k++) {
    make_rtp(rtp, sizeof rtp, k);
    assert_int_equal(firn_session_send_rtp(w.n[0].s, rtp, sizeof rtp, w.now), 0);
    assert_int_equal(firn_session_send_rtp(w.n[1].s, rtp, sizeof rtp, w.now), 0);
    w_run(&w, NULL, 20 * MS);
  }
  w_run(&w, NULL, 100 * MS);
  assert_int_equal(w.n[0].rtp_rx, 20);
  assert_int_equal(w.n[1].rtp_rx, 20);
  assert_int_equal(w.n[1].last_len, sizeof rtp);
  assert_memory_equal(w.n[1].last, rtp, sizeof rtp);
  /* what went on the wire was protected: longer than the plaintext, payload differs */
  assert_true(w.wire_len[0] > sizeof rtp);
  assert_memory_not_equal(w.wire[0] + 12, rtp + 12, 32);
  uint8_t rtcp[28] = {0x80, 200, 0, 6, 0, 0, 0, 0x42};
  assert_int_equal(firn_session_send_rtcp(w.n[1].s, rtcp, sizeof rtcp, w.now), 0);
  w_run(&w, NULL, 50 * MS);
  assert_int_equal(w.n[0].rtcp_rx, 1);
  assert_memory_equal(w.n[0].last, rtcp, sizeof rtcp);
  firn_session_stats st;
  assert_int_equal(firn_session_get_stats(w.n[1].s, &st), 0);
  assert_int_equal(st.rtp_sent, 20);
  assert_int_equal(st.rtp_received, 20);
  assert_int_equal(st.srtp_auth_failures + st.srtp_replays + st.srtp_other_failures, 0);
  /* closing sends close_notify: the peer reports CLOSED */
  assert_int_equal(firn_session_close(w.n[0].s, w.now), 0);
  assert_int_equal(w.n[0].closed, 1);
  w_run(&w, NULL, 100 * MS);
  assert_int_equal(w.n[1].closed, 1);
  assert_int_equal(firn_session_get_state(w.n[1].s), FIRN_SESSION_CLOSED);
  assert_int_equal(firn_session_send_rtp(w.n[1].s, rtp, sizeof rtp, w.now), FIRN_ERR_CLOSED);
  /* the side closed by the peer still releases its agent (TURN allocations, TCP) when the
   * application closes it, and only then */
  assert_int_equal(firn_agent_get_state(firn_session_agent(w.n[0].s), firn_session_stream(w.n[0].s)), FIRN_ICE_CLOSED);
  assert_int_not_equal(firn_agent_get_state(firn_session_agent(w.n[1].s), firn_session_stream(w.n[1].s)), FIRN_ICE_CLOSED);
  assert_int_equal(firn_session_close(w.n[1].s, w.now), 0);
  assert_int_equal(firn_agent_get_state(firn_session_agent(w.n[1].s), firn_session_stream(w.n[1].s)), FIRN_ICE_CLOSED);
  assert_int_equal(firn_session_close(w.n[1].s, w.now), 0); /* twice is harmless */
  w_free(&w);
}

static void tweak_profiles(firn_session_settings *s, int idx) {
  /* the offerer (DTLS server) prefers CM-80; the answerer offers GCM-128 and CM-80 */
  if (idx == 0) {
    s->profiles[0] = FIRN_SRTP_AES128_CM_SHA1_80;
    s->profiles[1] = FIRN_SRTP_AEAD_AES_128_GCM;
    s->num_profiles = 2;
  } else {
    s->profiles[0] = FIRN_SRTP_AEAD_AES_128_GCM;
    s->profiles[1] = FIRN_SRTP_AES128_CM_SHA1_80;
    s->num_profiles = 2;
  }
}

static void test_profile_order(void **state) {
  (void)state;
  world w;
  w_init(&w, 2, tweak_profiles);
  w_signal(&w, NULL);
  assert_true(w_run(&w, both_secure, 10 * SEC));
  assert_int_equal(w.n[0].profile, FIRN_SRTP_AES128_CM_SHA1_80);
  assert_int_equal(w.n[1].profile, FIRN_SRTP_AES128_CM_SHA1_80);
  uint8_t rtp[172];
  make_rtp(rtp, sizeof rtp, 9);
  assert_int_equal(firn_session_send_rtp(w.n[0].s, rtp, sizeof rtp, w.now), 0);
  w_run(&w, NULL, 50 * MS);
  assert_int_equal(w.n[1].rtp_rx, 1);
  w_free(&w);
}

static void mangle_fp(firn_media_desc *d, int to) {
  /* the answerer is told a different fingerprint for the offerer */
  if (to != 1) return;
  char *p = strchr(d->fingerprint, ' ');
  assert_non_null(p);
  p[1] = p[1] == 'A' ? 'B' : 'A';
}

static void test_fingerprint_mismatch(void **state) {
  (void)state;
  world w;
  w_init(&w, 3, NULL);
  w_signal(&w, mangle_fp);
  assert_true(w_run(&w, any_failed, 10 * SEC));
  w_run(&w, NULL, 2 * SEC);
  assert_int_equal(w.n[1].failed, 1);
  assert_int_equal(w.n[1].fail_error, FIRN_ERR_DTLS_FINGERPRINT);
  assert_int_equal(w.n[1].secure, 0);
  assert_int_equal(w.n[0].secure, 0);
  assert_int_equal(firn_session_get_state(w.n[1].s), FIRN_SESSION_FAILED);
  assert_int_equal(firn_session_error(w.n[1].s), FIRN_ERR_DTLS_FINGERPRINT);
  assert_int_equal(firn_session_srtp_profile(w.n[1].s), FIRN_SRTP_NONE);
  uint8_t rtp[172];
  make_rtp(rtp, sizeof rtp, 1);
  assert_int_equal(firn_session_send_rtp(w.n[1].s, rtp, sizeof rtp, w.now), FIRN_ERR_CLOSED);
  /* the offerer got the answerer's alert: its handshake failed too, no keys either */
  assert_int_equal(w.n[0].failed, 1);
  assert_int_equal(w.n[0].fail_error, FIRN_ERR_DTLS_HANDSHAKE);
  assert_int_equal(firn_session_send_rtp(w.n[0].s, rtp, sizeof rtp, w.now), FIRN_ERR_CLOSED);
  /* forged "media" from the offerer's address is not delivered either */
  firn_path p;
  memset(&p, 0, sizeof p);
  p.local = w.n[1].addr;
  p.remote = w.n[0].addr;
  firn_session_handle_datagram(w.n[1].s, &p, rtp, sizeof rtp, w.now);
  assert_int_equal(w.n[1].rtp_rx, 0);
  w_free(&w);
}

static void test_replay_and_tamper_dropped(void **state) {
  (void)state;
  world w;
  w_init(&w, 4, NULL);
  w_signal(&w, NULL);
  assert_true(w_run(&w, both_secure, 10 * SEC));
  uint8_t rtp[172];
  make_rtp(rtp, sizeof rtp, 77);
  assert_int_equal(firn_session_send_rtp(w.n[0].s, rtp, sizeof rtp, w.now), 0);
  w_run(&w, NULL, 50 * MS);
  assert_int_equal(w.n[1].rtp_rx, 1);
  /* the same datagram again, on the same path: a replay */
  firn_path in;
  memset(&in, 0, sizeof in);
  in.local = w.wire_path[0].remote;
  in.remote = w.wire_path[0].local;
  uint8_t copy[1500];
  size_t n = w.wire_len[0];
  memcpy(copy, w.wire[0], n);
  firn_session_handle_datagram(w.n[1].s, &in, copy, n, w.now);
  /* a tampered one (a flipped payload bit in a fresh packet) */
  make_rtp(rtp, sizeof rtp, 78);
  assert_int_equal(firn_session_send_rtp(w.n[0].s, rtp, sizeof rtp, w.now), 0);
  uint8_t buf[1500];
  firn_path path;
  firn_ssize len = firn_session_poll_transmit(w.n[0].s, w.now, buf, sizeof buf, &path);
  assert_true(len > 40);
  buf[30] ^= 0x01;
  firn_session_handle_datagram(w.n[1].s, &in, buf, (size_t)len, w.now);
  firn_session_stats st;
  firn_session_get_stats(w.n[1].s, &st);
  assert_int_equal(st.srtp_replays, 1);
  assert_int_equal(st.srtp_auth_failures, 1);
  assert_int_equal(st.rtp_received, 1);
  assert_int_equal(w.n[1].rtp_rx, 1);
  /* the untampered original still goes through (the failure did not poison the window) */
  buf[30] ^= 0x01;
  firn_session_handle_datagram(w.n[1].s, &in, buf, (size_t)len, w.now);
  assert_int_equal(w.n[1].rtp_rx, 2);
  w_free(&w);
}

static void test_unselected_path_ignored(void **state) {
  (void)state;
  world w;
  w_init(&w, 5, NULL);
  w_signal(&w, NULL);
  assert_true(w_run(&w, both_secure, 10 * SEC));
  firn_session_stats before, after;
  firn_session_get_stats(w.n[1].s, &before);
  /* a DTLS ClientHello-looking record and an SRTP packet from a stranger's address */
  firn_path p;
  memset(&p, 0, sizeof p);
  p.local = w.n[1].addr;
  p.remote = addr_of("10.0.0.99:7000");
  uint8_t dtls[64] = {22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 40};
  firn_session_handle_datagram(w.n[1].s, &p, dtls, sizeof dtls, w.now);
  firn_session_handle_datagram(w.n[1].s, &p, w.wire[0], w.wire_len[0] ? w.wire_len[0] : 20, w.now);
  /* and from the right address but another local port (a path ICE never validated) */
  p.remote = w.n[0].addr;
  p.local.port = 5999;
  firn_session_handle_datagram(w.n[1].s, &p, dtls, sizeof dtls, w.now);
  firn_session_get_stats(w.n[1].s, &after);
  assert_int_equal(after.dtls_datagrams_in, before.dtls_datagrams_in);
  assert_int_equal(after.rtp_received, before.rtp_received);
  assert_int_equal(w.n[1].failed, 0);
  assert_int_equal(firn_session_get_state(w.n[1].s), FIRN_SESSION_SECURE);
  firn_agent_stats as;
  firn_agent_get_stats(firn_session_agent(w.n[1].s), &as);
  assert_true(as.data_dropped >= 2);
  /* the session still works */
  uint8_t rtp[172];
  make_rtp(rtp, sizeof rtp, 5);
  assert_int_equal(firn_session_send_rtp(w.n[0].s, rtp, sizeof rtp, w.now), 0);
  w_run(&w, NULL, 50 * MS);
  assert_int_equal(w.n[1].rtp_rx, 1);
  w_free(&w);
}

static void tweak_no_dtls(firn_session_settings *s, int idx) {
  (void)idx;
  s->dtls = 0;
}

static void test_no_dtls_plain_rtp(void **state) {
  (void)state;
  world w;
  w_init(&w, 6, tweak_no_dtls);
  firn_media_desc d;
  assert_int_equal(firn_session_get_local_description(w.n[0].s, &d), 0);
  assert_string_equal(d.fingerprint, "");
  assert_int_equal(d.setup, FIRN_MEDIA_SETUP_NONE);
  w_signal(&w, NULL);
  assert_true(w_run(&w, both_connected, 10 * SEC));
  assert_int_equal(firn_session_get_state(w.n[0].s), FIRN_SESSION_SECURE);
  uint8_t rtp[172];
  make_rtp(rtp, sizeof rtp, 3);
  assert_int_equal(firn_session_send_rtp(w.n[0].s, rtp, sizeof rtp, w.now), 0);
  w_run(&w, NULL, 50 * MS);
  assert_int_equal(w.n[1].rtp_rx, 1);
  /* plain on the wire */
  assert_int_equal(w.wire_len[0], sizeof rtp);
  assert_memory_equal(w.wire[0], rtp, sizeof rtp);
  assert_int_equal(w.n[0].secure + w.n[1].secure, 0);
  w_free(&w);
}

static void test_destroy_from_media_callback(void **state) {
  (void)state;
  world w;
  w_init(&w, 7, NULL);
  w_signal(&w, NULL);
  assert_true(w_run(&w, both_secure, 10 * SEC));
  w.n[1].destroy_on_media = 1;
  uint8_t rtp[172];
  make_rtp(rtp, sizeof rtp, 1);
  assert_int_equal(firn_session_send_rtp(w.n[0].s, rtp, sizeof rtp, w.now), 0);
  make_rtp(rtp, sizeof rtp, 2);
  assert_int_equal(firn_session_send_rtp(w.n[0].s, rtp, sizeof rtp, w.now), 0);
  w_run(&w, NULL, 100 * MS);
  assert_int_equal(w.n[1].destroyed, 1);
  assert_int_equal(w.n[1].rtp_rx, 1);
  w_free(&w);
}

static void test_queue_limit_and_bad_args(void **state) {
  (void)state;
  world w;
  w_init(&w, 8, NULL);
  w_signal(&w, NULL);
  assert_true(w_run(&w, both_secure, 10 * SEC));
  uint8_t rtp[1500];
  make_rtp(rtp, 172, 1);
  assert_int_equal(firn_session_send_rtp(w.n[0].s, rtp, 11, w.now), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_session_send_rtp(w.n[0].s, rtp, 1401, w.now), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_session_send_rtp(w.n[0].s, NULL, 172, w.now), FIRN_ERR_INVALID_ARG);
  int rc = 0;
  unsigned k;
  for (k = 0; k < 1000 && rc == 0; k++) {
    make_rtp(rtp, 172, (uint16_t)(100 + k));
    rc = firn_session_send_rtp(w.n[0].s, rtp, 172, w.now);
  }
  assert_int_equal(rc, FIRN_ERR_LIMIT);
  assert_int_equal(k - 1, 64);
  /* a too-small buffer keeps the datagram queued */
  uint8_t small[8];
  firn_path p;
  assert_int_equal(firn_session_poll_transmit(w.n[0].s, w.now, small, sizeof small, &p), FIRN_ERR_NOBUF);
  w_run(&w, NULL, 100 * MS);
  assert_int_equal(w.n[1].rtp_rx, 64);
  w_free(&w);
}


static int count_events(const node *n, int type) {
  int c = 0;
  for (int i = 0; i < n->nevents; i++) c += n->events[i] == type;
  return c;
}

/* Send one packet each way every 20 ms for `ms` milliseconds; returns packets sent each way. */
static unsigned talk(world *w, unsigned ms, uint16_t *seq) {
  uint8_t rtp[172];
  unsigned n = 0;
  for (unsigned t = 0; t < ms; t += 20, n++) {
    make_rtp(rtp, sizeof rtp, (*seq)++);
    assert_int_equal(firn_session_send_rtp(w->n[0].s, rtp, sizeof rtp, w->now), 0);
    assert_int_equal(firn_session_send_rtp(w->n[1].s, rtp, sizeof rtp, w->now), 0);
    w_run(w, NULL, 20 * MS);
  }
  w_run(w, NULL, 50 * MS);
  return n;
}

static void test_ice_restart_keeps_srtp(void **state) {
  (void)state;
  world w;
  w_init(&w, 9, NULL);
  w_signal(&w, NULL);
  assert_true(w_run(&w, both_secure, 10 * SEC));
  uint16_t seq = 1;
  unsigned sent = talk(&w, 200, &seq);
  firn_session_stats a0, b0;
  firn_session_get_stats(w.n[0].s, &a0);
  firn_session_get_stats(w.n[1].s, &b0);
  firn_media_desc before;
  assert_int_equal(firn_session_get_local_description(w.n[0].s, &before), 0);
  /* A restarts (a network change, say); media keeps flowing while the descriptions travel */
  assert_int_equal(firn_session_restart(w.n[0].s, w.now), 0);
  firn_media_desc after;
  assert_int_equal(firn_session_get_local_description(w.n[0].s, &after), 0);
  assert_string_not_equal(after.ice_ufrag, before.ice_ufrag);
  assert_string_equal(after.fingerprint, before.fingerprint);
  sent += talk(&w, 100, &seq);
  signal_one(&w, 0, 1, NULL); /* B answers the restart: restarts itself */
  sent += talk(&w, 100, &seq);
  signal_one(&w, 1, 0, NULL);
  sent += talk(&w, 3000, &seq);
  /* the same description again is not a restart */
  firn_media_desc again;
  assert_int_equal(firn_session_get_local_description(w.n[1].s, &again), 0);
  assert_int_equal(firn_session_set_remote_description(w.n[0].s, &again, w.now), FIRN_ERR_STATE);
  /* a different fingerprint is not accepted on a live session */
  again.ice_ufrag[0] = again.ice_ufrag[0] == 'x' ? 'y' : 'x';
  char *hex = strchr(again.fingerprint, ' ') + 1;
  hex[0] = hex[0] == 'A' ? 'B' : 'A';
  assert_int_equal(firn_session_set_remote_description(w.n[0].s, &again, w.now), FIRN_ERR_UNSUPPORTED);
  for (int i = 0; i < 2; i++) {
    node *n = &w.n[i];
    assert_int_equal(n->secure, 1);  /* no second SECURE: the same keys */
    assert_int_equal(n->failed, 0);
    assert_true(count_events(n, FIRN_SESSION_EV_PAIR_CHANGED) >= 1); /* the new generation's pair */
    assert_int_equal(n->rtp_rx, sent);                                /* nothing lost on the way */
    firn_ice_state st = firn_agent_get_state(firn_session_agent(n->s), 0);
    assert_true(st == FIRN_ICE_CONNECTED || st == FIRN_ICE_COMPLETED);
  }
  firn_session_stats a1, b1;
  firn_session_get_stats(w.n[0].s, &a1);
  firn_session_get_stats(w.n[1].s, &b1);
  assert_int_equal(a1.dtls_datagrams_in, a0.dtls_datagrams_in); /* no new handshake */
  assert_int_equal(b1.dtls_datagrams_in, b0.dtls_datagrams_in);
  assert_int_equal(a1.dtls_datagrams_out, a0.dtls_datagrams_out);
  assert_int_equal(a1.srtp_replays + a1.srtp_auth_failures + b1.srtp_replays + b1.srtp_auth_failures, 0);
  w_free(&w);
}

/* The answerer (controlled, DTLS client) selects on the nominating check and sends its
 * ClientHello at once; with responses slowed down the ClientHello reaches the offerer
 * before the offerer has selected. It is held (from a validated pair only) and fed once
 * that pair is selected: the handshake does not wait for a retransmission. */
static void test_early_client_hello_held(void **state) {
  (void)state;
  world w;
  w_init(&w, 11, NULL);
  w.resp_delay = 30 * MS;
  w_signal(&w, NULL);
  assert_true(w_run(&w, both_connected, 10 * SEC));
  uint64_t connected_at = w.now;
  /* DTLS retransmission follows the wall clock (see the file comment): a lost or dropped
   * ClientHello would stall this virtual-clock run; finishing shows it was used */
  assert_true(w_run(&w, both_secure, 2 * SEC));
  assert_true(w.now - connected_at < 500 * MS);
  firn_session_stats st;
  firn_session_get_stats(w.n[0].s, &st);
  assert_true(st.dropped_not_selected >= 1); /* it did arrive early */
  w_free(&w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_connect_secure_exchange),
      cmocka_unit_test(test_profile_order),
      cmocka_unit_test(test_fingerprint_mismatch),
      cmocka_unit_test(test_replay_and_tamper_dropped),
      cmocka_unit_test(test_unselected_path_ignored),
      cmocka_unit_test(test_no_dtls_plain_rtp),
      cmocka_unit_test(test_destroy_from_media_callback),
      cmocka_unit_test(test_queue_limit_and_bad_args),
      cmocka_unit_test(test_ice_restart_keeps_srtp),
      cmocka_unit_test(test_early_client_hello_held),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
