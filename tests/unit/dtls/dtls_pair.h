/* Two DTLS endpoints in one process: datagrams moved between them by the test, with an
 * optional drop filter, on a virtual clock that jumps to the earliest expiry. */
#ifndef FIRN_TEST_DTLS_PAIR_H
#define FIRN_TEST_DTLS_PAIR_H

#include <string.h>

#include "dtls/dtls.h"

typedef bool (*pair_drop_fn)(void *user, int from, int index, const uint8_t *p, size_t len);

typedef struct pair {
  firn_dtls_cert *cert[2];
  firn_dtls *d[2];
  uint64_t now;
  pair_drop_fn drop;
  void *drop_user;
  int sent[2];      /* datagrams each side emitted */
  int delivered[2]; /* datagrams each side received */
  size_t max_len;   /* largest datagram seen */
  int last_rc[2];   /* last handle_datagram result at each receiver */
  /* every datagram emitted, for replay tests */
  uint8_t log[64][1500];
  size_t log_len[64];
  int log_from[64];
  int log_count;
} pair;

/* Create both endpoints: d[0] gets role0, d[1] the other role. cfg0/cfg1 may pre-set
 * profiles, MTU, ... (cert, role and fingerprint are filled here unless `fp_override`). */
static inline int pair_setup(pair *p, firn_dtls_role role0, firn_dtls_config *cfg0,
                             firn_dtls_config *cfg1, const firn_allocator *alloc) {
  for (int i = 0; i < 2; i++)
    if (!p->cert[i] && firn_dtls_cert_generate(&p->cert[i], NULL, NULL, NULL) != FIRN_OK) return -1;
  firn_dtls_config *cfg[2] = {cfg0, cfg1};
  for (int i = 0; i < 2; i++) {
    cfg[i]->cert = p->cert[i];
    cfg[i]->role = i == 0 ? role0 : (role0 == FIRN_DTLS_CLIENT ? FIRN_DTLS_SERVER : FIRN_DTLS_CLIENT);
    if (cfg[i]->remote_fingerprint.alg == 0 &&
        firn_dtls_cert_get_fingerprint(p->cert[1 - i], FIRN_FP_SHA256, &cfg[i]->remote_fingerprint) != FIRN_OK)
      return -1;
  }
  for (int i = 0; i < 2; i++) {
    int rc = firn_dtls_new(&p->d[i], alloc, cfg[i]);
    if (rc != FIRN_OK) return rc;
  }
  return FIRN_OK;
}

static inline void pair_free(pair *p) {
  for (int i = 0; i < 2; i++) {
    firn_dtls_free(p->d[i]);
    firn_dtls_cert_free(p->cert[i]);
    p->d[i] = NULL;
    p->cert[i] = NULL;
  }
}

/* Move everything `from` has queued to the other side. Returns datagrams moved. */
static inline int pair_flush(pair *p, int from) {
  uint8_t buf[2048];
  int moved = 0;
  for (;;) {
    firn_ssize n = firn_dtls_poll_transmit(p->d[from], buf, sizeof buf);
    if (n == FIRN_ERR_WOULDBLOCK) break;
    if (n <= 0) return -1000;
    int idx = p->sent[from]++;
    moved++;
    if ((size_t)n > p->max_len) p->max_len = (size_t)n;
    if (p->log_count < 64 && (size_t)n <= sizeof p->log[0]) {
      memcpy(p->log[p->log_count], buf, (size_t)n);
      p->log_len[p->log_count] = (size_t)n;
      p->log_from[p->log_count++] = from;
    }
    if (p->drop && p->drop(p->drop_user, from, idx, buf, (size_t)n)) continue;
    p->delivered[1 - from]++;
    p->last_rc[1 - from] = firn_dtls_handle_datagram(p->d[1 - from], buf, (size_t)n, p->now);
  }
  return moved;
}

static inline bool pair_settled(const pair *p) {
  for (int i = 0; i < 2; i++) {
    firn_dtls_state s = firn_dtls_get_state(p->d[i]);
    if (s == FIRN_DTLS_HANDSHAKING || s == FIRN_DTLS_NEW) return false;
  }
  return true;
}

/* Start both (server first) and exchange datagrams, jumping the virtual clock to the next
 * expiry whenever nothing is in flight, until both have left HANDSHAKING or `max_steps`
 * steps passed. Returns the number of clock jumps. */
static inline int pair_run(pair *p, int max_steps) {
  int jumps = 0;
  for (int i = 1; i >= 0; i--)
    if (firn_dtls_get_state(p->d[i]) == FIRN_DTLS_NEW &&
        firn_dtls_get_role(p->d[i]) == FIRN_DTLS_SERVER)
      (void)firn_dtls_start(p->d[i], p->now);
  for (int i = 0; i < 2; i++)
    if (firn_dtls_get_state(p->d[i]) == FIRN_DTLS_NEW) (void)firn_dtls_start(p->d[i], p->now);
  for (int step = 0; step < max_steps; step++) {
    int moved = pair_flush(p, 0) + pair_flush(p, 1);
    if (moved == 0 && pair_settled(p)) break;
    if (moved > 0) continue;
    uint64_t e0 = firn_dtls_expiry(p->d[0]), e1 = firn_dtls_expiry(p->d[1]);
    uint64_t e = e0 < e1 ? e0 : e1;
    if (e == FIRN_TIME_NEVER) break;
    if (e > p->now) p->now = e;
    jumps++;
    (void)firn_dtls_handle_expiry(p->d[0], p->now);
    (void)firn_dtls_handle_expiry(p->d[1], p->now);
  }
  return jumps;
}

#endif
