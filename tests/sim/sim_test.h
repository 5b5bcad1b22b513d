/* Helpers for cmocka tests on the simulator: assertions that print the seed (so a failure
 * replays with FIRN_SIM_SEED=<seed> FIRN_SIM_TRACE=1), and a UDP receiver that records. */
#ifndef FIRN_TESTS_SIM_TEST_H
#define FIRN_TESTS_SIM_TEST_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "sim.h"

#define SIM_FAIL_MSG(s, what)                                                                      \
  print_error("%s:%d: %s (seed %" PRIu64 ", virtual time %" PRIu64                                 \
              " ns); replay: FIRN_SIM_SEED=%" PRIu64 " FIRN_SIM_TRACE=1\n",                        \
              __FILE__, __LINE__, what, sim_seed(s), sim_now(s), sim_seed(s))

/** Assert `cond`; on failure print the seed and time, then fail the test. */
#define SIM_ASSERT(s, cond)                                                                        \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      SIM_FAIL_MSG(s, "assertion failed: " #cond);                                                 \
      fail();                                                                                      \
    }                                                                                              \
  } while (0)

/** Assert two integers are equal; on failure print both, the seed and time. */
#define SIM_ASSERT_EQ(s, a, b)                                                                     \
  do {                                                                                             \
    uint64_t sim_a_ = (uint64_t)(a), sim_b_ = (uint64_t)(b);                                       \
    if (sim_a_ != sim_b_) {                                                                        \
      print_error("%s:%d: %s == %" PRIu64 ", expected %s == %" PRIu64 "\n", __FILE__, __LINE__,   \
                  #a, sim_a_, #b, sim_b_);                                                         \
      SIM_FAIL_MSG(s, "values differ");                                                            \
      fail();                                                                                      \
    }                                                                                              \
  } while (0)

#define SIM_REC_MAX 4096
#define SIM_REC_DATA 256

/** One received datagram. */
typedef struct sim_rx {
  firn_addr local, remote;
  uint64_t at;
  size_t len;
  uint8_t data[SIM_REC_DATA]; /* first bytes only */
} sim_rx;

/** A UDP receive callback target that keeps what arrives (up to SIM_REC_MAX). */
typedef struct sim_recorder {
  sim_rx rx[SIM_REC_MAX];
  size_t n;       /* recorded */
  size_t total;   /* received, including those past the cap */
} sim_recorder;

static inline void sim_recorder_cb(void *user, const firn_addr *local, const firn_addr *remote,
                                   const uint8_t *data, size_t len, uint64_t now) {
  sim_recorder *r = user;
  r->total++;
  if (r->n >= SIM_REC_MAX) return;
  sim_rx *x = &r->rx[r->n++];
  x->local = *local;
  x->remote = *remote;
  x->at = now;
  x->len = len;
  memcpy(x->data, data, len < SIM_REC_DATA ? len : SIM_REC_DATA);
}

/** Predicate: the recorder passed as user has at least one datagram. */
static inline int sim_recorder_any(void *user) { return ((sim_recorder *)user)->total > 0; }

/** Allocate a zeroed recorder (too big for the stack); free with test_free(). */
static inline sim_recorder *sim_recorder_new(void) {
  sim_recorder *r = test_calloc(1, sizeof *r);
  assert_non_null(r);
  return r;
}

#endif
