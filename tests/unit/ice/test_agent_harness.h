/* A two-agent harness for the ICE agent unit tests: a hand-written packet shuttle with a
 * fixed one-way delay, optional loss/cuts, and a virtual clock that jumps to the next event
 * (packet delivery or agent expiry). No sockets, no sleeps; everything is seeded. */
#ifndef FIRN_TEST_AGENT_HARNESS_H
#define FIRN_TEST_AGENT_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "firn/ice.h"
#include "firn/stun.h"

#define MS FIRN_NS_PER_MS
#define SEC FIRN_NS_PER_S
#define H_MAX_PKTS 4096
#define H_MAX_STATES 64

typedef struct h_rng {
  uint64_t s;
} h_rng;

static inline uint64_t h_rng_next(h_rng *r) {
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static inline int h_rng_fill(void *user, uint8_t *buf, size_t len) {
  h_rng *r = user;
  for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)h_rng_next(r);
  return 0;
}

struct h_world;

typedef struct h_node {
  struct h_world *w;
  int idx;
  firn_agent *ag;
  h_rng rng;
  unsigned stream;
  firn_addr addr;
  firn_ice_state states[H_MAX_STATES];
  uint64_t state_at[H_MAX_STATES];
  int nstates;
  int selected;
  firn_candidate sel_local, sel_remote;
  unsigned data_rx;
  unsigned last_stream, last_comp;
  int destroy_on_data;
  uint8_t last_data[256];
  size_t last_len;
  int gathering_done;
  int ncands;
  int destroy_on_state; /* destroy the agent from on_state when this state is reached (-1 off) */
  int destroyed;
} h_node;

typedef struct h_pkt {
  uint64_t at;
  int to;
  firn_path path; /* as the receiver sees it */
  size_t len;
  uint8_t data[1500];
} h_pkt;

typedef struct h_world {
  uint64_t now;
  h_node n[2];
  h_pkt *q;
  int nq;
  uint64_t delay;
  unsigned loss_pct;        /* random loss on every packet */
  int cut[2];               /* 1: drop everything sent by node i */
  h_rng net;
  uint64_t last_resp_at[2]; /* last Binding success response delivered to node i */
  unsigned sent[2];         /* packets sent by node i */
  unsigned mutate;          /* deliver this many mutated copies before each packet */
} h_world;

static h_world *g_w; /* for callbacks that need the clock */

static inline void h_on_candidate(void *user, unsigned stream, const firn_candidate *c) {
  (void)stream; (void)c;
  ((h_node *)user)->ncands++;
}
static inline void h_on_gathering_done(void *user, unsigned stream) {
  (void)stream;
  ((h_node *)user)->gathering_done = 1;
}
static inline void h_on_state(void *user, unsigned stream, firn_ice_state st) {
  (void)stream;
  h_node *n = user;
  if (n->nstates < H_MAX_STATES) {
    n->states[n->nstates] = st;
    n->state_at[n->nstates] = n->w->now;
    n->nstates++;
  }
  if ((int)st == n->destroy_on_state && !n->destroyed) {
    firn_agent_destroy(n->ag);
    n->destroyed = 1;
  }
}
static inline void h_on_selected(void *user, unsigned stream, unsigned comp, const firn_candidate *l,
                                 const firn_candidate *r) {
  (void)stream; (void)comp;
  h_node *n = user;
  n->selected++;
  n->sel_local = *l;
  n->sel_remote = *r;
}
static inline void h_on_data(void *user, unsigned stream, unsigned comp, const uint8_t *data, size_t len,
                             const firn_path *path, uint64_t now) {
  (void)path; (void)now;
  h_node *n = user;
  n->data_rx++;
  n->last_stream = stream;
  n->last_comp = comp;
  if (n->destroy_on_data && !n->destroyed) {
    firn_agent_destroy(n->ag);
    n->destroyed = 1;
  }
  n->last_len = len < sizeof n->last_data ? len : sizeof n->last_data;
  memcpy(n->last_data, data, n->last_len);
}

static inline void h_settings(h_node *n, firn_agent_settings *s, firn_ice_role role) {
  firn_agent_settings_default(s);
  s->random = h_rng_fill;
  s->random_user = &n->rng;
  s->role = role;
  s->callbacks.on_candidate = h_on_candidate;
  s->callbacks.on_gathering_done = h_on_gathering_done;
  s->callbacks.on_state = h_on_state;
  s->callbacks.on_selected_pair = h_on_selected;
  s->callbacks.on_data = h_on_data;
  s->user = n;
}

static inline firn_addr h_addr(const char *s) {
  firn_addr a;
  if (firn_addr_parse(&a, s, 0) != 0) abort();
  return a;
}

/* Create world with two agents; `sa`/`sb` may be NULL for defaults. */
static inline void h_init(h_world *w, uint64_t seed, const firn_agent_settings *sa, const firn_agent_settings *sb,
                          firn_ice_role ra, firn_ice_role rb) {
  memset(w, 0, sizeof *w);
  g_w = w;
  w->q = calloc(H_MAX_PKTS, sizeof *w->q);
  assert_non_null(w->q);
  w->delay = 5 * MS;
  w->net.s = seed * 7919 + 1;
  w->now = 1 * SEC;
  const char *addrs[2] = {"10.0.0.1:5000", "10.0.0.2:6000"};
  for (int i = 0; i < 2; i++) {
    h_node *n = &w->n[i];
    n->w = w;
    n->idx = i;
    n->rng.s = seed * 31 + (uint64_t)i + 1;
    n->destroy_on_state = -1;
    n->addr = h_addr(addrs[i]);
    firn_agent_settings s;
    const firn_agent_settings *given = i == 0 ? sa : sb;
    if (given) {
      s = *given;
      s.random = h_rng_fill;
      s.random_user = &n->rng;
      s.user = n;
    } else {
      h_settings(n, &s, i == 0 ? ra : rb);
    }
    assert_int_equal(firn_agent_new(&n->ag, &s), 0);
    assert_int_equal(firn_agent_add_stream(n->ag, 1, &n->stream), 0);
    firn_local_address la;
    memset(&la, 0, sizeof la);
    la.addr = n->addr;
    la.transport = FIRN_TRANSPORT_UDP;
    la.ifname = "eth0";
    assert_int_equal(firn_agent_add_local_address(n->ag, n->stream, 1, &la, w->now), 0);
    assert_int_equal(firn_agent_gather(n->ag, w->now), 0);
  }
}

static inline void h_free(h_world *w) {
  for (int i = 0; i < 2; i++)
    if (w->n[i].ag && !w->n[i].destroyed) firn_agent_free(w->n[i].ag);
  free(w->q);
  g_w = NULL;
}

static inline int h_alive(const h_node *n) { return n->ag && !n->destroyed; }

/* Give node `to` the credentials (and, if `cands`, the candidates) of node `from`. */
static inline void h_signal(h_world *w, int from, int to, int cands) {
  h_node *f = &w->n[from], *t = &w->n[to];
  const char *u, *p;
  if (!h_alive(f) || !h_alive(t)) return;
  assert_int_equal(firn_agent_get_local_credentials(f->ag, f->stream, &u, &p), 0);
  assert_int_equal(firn_agent_set_remote_credentials(t->ag, t->stream, u, p, w->now), 0);
  if (!cands || !h_alive(t)) return;
  firn_candidate c[16];
  size_t n = 0;
  assert_int_equal(firn_agent_get_local_candidates(f->ag, f->stream, c, 16, &n), 0);
  for (size_t i = 0; i < n && h_alive(t); i++)
    assert_int_equal(firn_agent_add_remote_candidate(t->ag, t->stream, &c[i], w->now), 0);
  if (h_alive(t)) assert_int_equal(firn_agent_end_of_remote_candidates(t->ag, t->stream, w->now), 0);
}

static inline h_node *h_node_at(h_world *w, const firn_addr *a) {
  for (int i = 0; i < 2; i++)
    if (firn_addr_equal_ip(&w->n[i].addr, a)) return &w->n[i];
  return NULL;
}

/* Queue a datagram from node `from` (path as the sender gives it). */
static inline void h_queue(h_world *w, int from, const firn_path *path, const uint8_t *data, size_t len) {
  w->sent[from]++;
  if (w->cut[from]) return;
  if (w->loss_pct && h_rng_next(&w->net) % 100 < w->loss_pct) return;
  h_node *to = h_node_at(w, &path->remote);
  if (!to || w->nq >= H_MAX_PKTS || len > sizeof w->q[0].data) return;
  h_pkt *p = &w->q[w->nq++];
  p->at = w->now + w->delay;
  p->to = to->idx;
  memset(&p->path, 0, sizeof p->path);
  p->path.local = path->remote;
  p->path.remote = path->local;
  p->path.transport = path->transport;
  p->len = len;
  memcpy(p->data, data, len);
}

static inline void h_flush(h_world *w) {
  for (int i = 0; i < 2; i++) {
    h_node *n = &w->n[i];
    if (!h_alive(n)) continue;
    uint8_t buf[1500];
    firn_path path;
    for (;;) {
      firn_ssize len = firn_agent_poll_transmit(n->ag, w->now, buf, sizeof buf, &path);
      if (len == FIRN_ERR_WOULDBLOCK) break;
      assert_true(len > 0);
      assert_true(firn_addr_equal_ip(&path.local, &n->addr));
      h_queue(w, i, &path, buf, (size_t)len);
    }
  }
}

static inline void h_deliver(h_world *w, h_pkt *p) {
  h_node *n = &w->n[p->to];
  if (!h_alive(n)) return;
  for (unsigned k = 0; k < w->mutate && h_alive(n); k++) {
    uint8_t m[1500];
    size_t len = p->len;
    memcpy(m, p->data, len);
    unsigned flips = 1 + (unsigned)(h_rng_next(&w->net) % 4);
    for (unsigned f = 0; f < flips && len; f++) m[h_rng_next(&w->net) % len] ^= (uint8_t)(1u << (h_rng_next(&w->net) % 8));
    if (h_rng_next(&w->net) % 4 == 0) len = (size_t)(h_rng_next(&w->net) % (len + 1));
    (void)firn_agent_handle_datagram(n->ag, &p->path, m, len, w->now);
  }
  if (!h_alive(n)) return;
  if (p->len >= 20 && p->data[0] == 0x01 && p->data[1] == 0x01) w->last_resp_at[p->to] = w->now;
  (void)firn_agent_handle_datagram(n->ag, &p->path, p->data, p->len, w->now);
}

/* One step: advance to the next event no later than `until`. Returns 0 when `until` reached. */
static inline int h_step(h_world *w, uint64_t until) {
  h_flush(w);
  uint64_t next = FIRN_TIME_NEVER;
  for (int i = 0; i < w->nq; i++)
    if (w->q[i].at < next) next = w->q[i].at;
  for (int i = 0; i < 2; i++) {
    if (!h_alive(&w->n[i])) continue;
    uint64_t e = firn_agent_expiry(w->n[i].ag);
    if (e < next) next = e;
  }
  if (next > until) {
    w->now = until;
    return 0;
  }
  if (next > w->now) w->now = next;
  /* deliver due packets in order */
  for (;;) {
    int best = -1;
    for (int i = 0; i < w->nq; i++)
      if (w->q[i].at <= w->now && (best < 0 || w->q[i].at < w->q[best].at)) best = i;
    if (best < 0) break;
    h_pkt p = w->q[best];
    w->q[best] = w->q[--w->nq];
    h_deliver(w, &p);
    h_flush(w);
  }
  for (int i = 0; i < 2; i++) {
    h_node *n = &w->n[i];
    if (h_alive(n) && firn_agent_expiry(n->ag) <= w->now) (void)firn_agent_handle_expiry(n->ag, w->now);
  }
  h_flush(w);
  return 1;
}

typedef int (*h_pred)(h_world *w);

/* Run until `pred` holds or `dur` of virtual time passes. Returns 1 if pred held. */
static inline int h_run(h_world *w, h_pred pred, uint64_t dur) {
  uint64_t until = w->now + dur;
  int guard = 0;
  for (;;) {
    if (pred && pred(w)) return 1;
    if (!h_step(w, until)) return pred ? pred(w) : 0;
    if (++guard > 5000000) fail_msg("harness livelock at %llu", (unsigned long long)w->now);
  }
}

static inline int h_both_connected(h_world *w) {
  for (int i = 0; i < 2; i++) {
    firn_ice_state s = firn_agent_get_state(w->n[i].ag, w->n[i].stream);
    if (s != FIRN_ICE_CONNECTED && s != FIRN_ICE_COMPLETED) return 0;
    if (!w->n[i].selected) return 0;
  }
  return 1;
}

static inline int h_both_completed(h_world *w) {
  for (int i = 0; i < 2; i++)
    if (firn_agent_get_state(w->n[i].ag, w->n[i].stream) != FIRN_ICE_COMPLETED) return 0;
  return 1;
}

static inline int h_saw_state(const h_node *n, firn_ice_state s) {
  for (int i = 0; i < n->nstates; i++)
    if (n->states[i] == s) return 1;
  return 0;
}

static inline uint64_t h_state_time(const h_node *n, firn_ice_state s) {
  for (int i = 0; i < n->nstates; i++)
    if (n->states[i] == s) return n->state_at[i];
  return FIRN_TIME_NEVER;
}

/* Send application data from node `from` over its selected pair. */
static inline firn_ssize h_send_data(h_world *w, int from, const char *msg) {
  h_node *n = &w->n[from];
  uint8_t out[256];
  firn_path path;
  firn_ssize len = firn_agent_write_data(n->ag, n->stream, 1, (const uint8_t *)msg, strlen(msg), out, sizeof out,
                                         &path, w->now);
  if (len > 0) h_queue(w, from, &path, out, (size_t)len);
  return len;
}

#endif
