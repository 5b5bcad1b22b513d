/*
 * STUN benchmark: build and validate a typical ICE connectivity check, with firn and, in the
 * same run, with libnice's STUN library as the anchor.
 *
 * The message is an ICE Binding request as a controlling agent sends it when nominating:
 * USE-CANDIDATE, PRIORITY, ICE-CONTROLLING, USERNAME "abcd:efgh", MESSAGE-INTEGRITY
 * (HMAC-SHA1, short-term credentials) and FINGERPRINT: 92 bytes, in the attribute order
 * libnice's stun_usage_ice_conncheck_create() writes, so both sides do the same work.
 *
 *   build     firn: a fresh transaction ID from the default CSPRNG, the builder, MI, FP.
 *             libnice: stun_usage_ice_conncheck_create() (its own random transaction ID),
 *             then stun_agent_forget_transaction() so the agent's table never fills up.
 *   validate  firn: firn_stun_msg_parse() (structure + FINGERPRINT), the USERNAME lookup,
 *             firn_stun_msg_verify_sha1() with a prepared firn_stun_key.
 *             libnice: stun_agent_validate() with a callback that looks the USERNAME up and
 *             hands back the password (FINGERPRINT required by the agent's usage flags).
 *
 * Modes:
 *   bench_stun [--count N] [--runs R]
 *       cross-checks the two messages (same attributes, each validates with both
 *       libraries), then R runs (default 5) of N messages (default 200000) per operation,
 *       and prints the median messages/second for firn, libnice and their ratio.
 *   bench_stun --only firn-build|firn-validate|nice-build|nice-validate --count N
 *       only the setup and N operations of one kind, nothing else, for exact instruction
 *       counts: run under `valgrind --tool=callgrind` with two counts and divide the
 *       difference of the totals by the difference of the counts (scripts/bench.sh), or use
 *       --toggle-collect=bench_<impl>_<op> (one call per message).
 */
#include "firn/stun.h"

#include <stun/stunagent.h>
#include <stun/usages/ice.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define USERNAME "abcd:efgh"
#define PASSWORD "ZJ4kYJgV3n+0wL4pJ6yQ9r" /* 22 characters, as ICE passwords are */
#define PRIORITY UINT32_C(0x6e7f1eff)
#define TIEBREAKER UINT64_C(0x932ff9b151263b36)
#define BUF_SIZE 256

#define NOINLINE __attribute__((noinline))

static volatile size_t g_sink;

/* ---------------------------------------------------------------------------------------- */
/* firn                                                                                      */

typedef struct firn_side {
  firn_stun_key *key;
  uint8_t msg[BUF_SIZE]; /* a message to validate */
  size_t msg_len;
} firn_side;

static NOINLINE size_t bench_firn_build(const firn_side *f, uint8_t *buf, size_t cap) {
  uint8_t tid[FIRN_STUN_TID_SIZE];
  if (firn_random_default(NULL, tid, sizeof tid) != 0)
    return 0;
  firn_stun_builder b;
  firn_stun_builder_init(&b, buf, cap, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, tid);
  firn_stun_add_flag(&b, FIRN_STUN_ATTR_USE_CANDIDATE);
  firn_stun_add_u32(&b, FIRN_STUN_ATTR_PRIORITY, PRIORITY);
  firn_stun_add_u64(&b, FIRN_STUN_ATTR_ICE_CONTROLLING, TIEBREAKER);
  firn_stun_add_string(&b, FIRN_STUN_ATTR_USERNAME, USERNAME, sizeof USERNAME - 1);
  firn_stun_add_integrity(&b, f->key);
  firn_stun_add_fingerprint(&b);
  firn_ssize n = firn_stun_builder_finish(&b);
  return n < 0 ? 0 : (size_t)n;
}

/* 1 if the message is an authentic check for our USERNAME with a FINGERPRINT. */
static NOINLINE int bench_firn_validate(const firn_side *f, const uint8_t *data, size_t len) {
  firn_stun_msg m;
  const char *user;
  size_t user_len;
  if (firn_stun_msg_parse(&m, data, len) != 0 || m.fp_off == 0)
    return 0;
  if (firn_stun_msg_get_string(&m, FIRN_STUN_ATTR_USERNAME, &user, &user_len) != 0 ||
      user_len != sizeof USERNAME - 1 || memcmp(user, USERNAME, user_len) != 0)
    return 0;
  return firn_stun_msg_verify_sha1(&m, f->key) == 0;
}

static int firn_setup(firn_side *f) {
  if (firn_stun_key_new_short_term(&f->key, NULL, PASSWORD, sizeof PASSWORD - 1) != 0) {
    fprintf(stderr, "bench_stun: firn_stun_key_new_short_term failed\n");
    return -1;
  }
  f->msg_len = bench_firn_build(f, f->msg, sizeof f->msg);
  if (f->msg_len == 0) {
    fprintf(stderr, "bench_stun: firn build failed\n");
    return -1;
  }
  return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* libnice                                                                                   */

typedef struct nice_side {
  StunAgent agent;
  uint8_t msg[BUF_SIZE];
  size_t msg_len;
} nice_side;

/* The comprehension-required attributes an ICE agent understands. */
static const uint16_t k_nice_known[] = {
  STUN_ATTRIBUTE_MAPPED_ADDRESS, STUN_ATTRIBUTE_USERNAME, STUN_ATTRIBUTE_MESSAGE_INTEGRITY,
  STUN_ATTRIBUTE_ERROR_CODE, STUN_ATTRIBUTE_UNKNOWN_ATTRIBUTES,
  STUN_ATTRIBUTE_XOR_MAPPED_ADDRESS, STUN_ATTRIBUTE_PRIORITY, STUN_ATTRIBUTE_USE_CANDIDATE, 0,
};

static bool nice_password_for(StunAgent *agent, StunMessage *message, uint8_t *username,
                              uint16_t username_len, uint8_t **password, size_t *password_len,
                              void *user_data) {
  (void)agent;
  (void)message;
  (void)user_data;
  if (username_len != sizeof USERNAME - 1 || memcmp(username, USERNAME, username_len) != 0)
    return false;
  *password = (uint8_t *)PASSWORD;
  *password_len = sizeof PASSWORD - 1;
  return true;
}

static NOINLINE size_t bench_nice_build(nice_side *n, uint8_t *buf, size_t cap) {
  StunMessage msg;
  StunTransactionId id;
  size_t len = stun_usage_ice_conncheck_create(
      &n->agent, &msg, buf, cap, (const uint8_t *)USERNAME, sizeof USERNAME - 1,
      (const uint8_t *)PASSWORD, sizeof PASSWORD - 1, true, true, PRIORITY, TIEBREAKER, NULL,
      STUN_USAGE_ICE_COMPATIBILITY_RFC5245);
  if (len == 0)
    return 0;
  /* A real agent forgets the transaction when it completes; without this the agent's table
   * of 200 sent IDs fills up and building fails. */
  stun_message_id(&msg, id);
  stun_agent_forget_transaction(&n->agent, id);
  return len;
}

static NOINLINE int bench_nice_validate(nice_side *n, const uint8_t *data, size_t len) {
  StunMessage msg;
  return stun_agent_validate(&n->agent, &msg, data, len, nice_password_for, NULL) ==
         STUN_VALIDATION_SUCCESS;
}

static int nice_setup(nice_side *n) {
  stun_agent_init(&n->agent, k_nice_known, STUN_COMPATIBILITY_RFC5389,
                  STUN_AGENT_USAGE_SHORT_TERM_CREDENTIALS | STUN_AGENT_USAGE_USE_FINGERPRINT);
  n->msg_len = bench_nice_build(n, n->msg, sizeof n->msg);
  if (n->msg_len == 0) {
    fprintf(stderr, "bench_stun: stun_usage_ice_conncheck_create failed\n");
    return -1;
  }
  return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Cross-check: the two messages carry the same attributes and each validates with both.     */

static int describe(const char *who, const uint8_t *data, size_t len, uint16_t *types,
                    size_t *ntypes) {
  firn_stun_msg m;
  int rc = firn_stun_msg_parse(&m, data, len);
  if (rc != 0) {
    fprintf(stderr, "bench_stun: %s message does not parse: %s\n", who, firn_strerror(rc));
    return -1;
  }
  printf("  %-8s %zu bytes:", who, len);
  for (unsigned i = 0; i < m.nattrs; i++) {
    types[i] = (uint16_t)((data[m.attr_off[i]] << 8) | data[m.attr_off[i] + 1]);
    printf(" %04x", types[i]);
  }
  printf("\n");
  *ntypes = m.nattrs;
  return 0;
}

static int cross_check(firn_side *f, nice_side *n) {
  uint16_t ft[FIRN_STUN_MAX_ATTRS], nt[FIRN_STUN_MAX_ATTRS];
  size_t fn = 0, nn = 0;
  printf("message: ICE Binding request (USE-CANDIDATE 0025, PRIORITY 0024, ICE-CONTROLLING "
         "802a, USERNAME 0006, MESSAGE-INTEGRITY 0008, FINGERPRINT 8028)\n");
  if (describe("firn", f->msg, f->msg_len, ft, &fn) != 0 ||
      describe("libnice", n->msg, n->msg_len, nt, &nn) != 0)
    return -1;
  int ok = 1;
  if (fn != nn || memcmp(ft, nt, fn * sizeof ft[0]) != 0 || f->msg_len != n->msg_len) {
    fprintf(stderr, "bench_stun: the two messages differ in attributes or size\n");
    ok = 0;
  }
  int a = bench_firn_validate(f, f->msg, f->msg_len);
  int b = bench_firn_validate(f, n->msg, n->msg_len);
  int c = bench_nice_validate(n, n->msg, n->msg_len);
  int d = bench_nice_validate(n, f->msg, f->msg_len);
  printf("  firn validates firn's: %s, libnice's: %s; libnice validates libnice's: %s, "
         "firn's: %s\n", a ? "ok" : "FAIL", b ? "ok" : "FAIL", c ? "ok" : "FAIL",
         d ? "ok" : "FAIL");
  /* A tampered copy must fail on both sides. */
  uint8_t bad[BUF_SIZE];
  memcpy(bad, f->msg, f->msg_len);
  bad[f->msg_len - 30] ^= 1; /* inside MESSAGE-INTEGRITY; the CRC is fixed up below */
  uint32_t crc = firn_stun_fingerprint(bad, f->msg_len - 8);
  bad[f->msg_len - 4] = (uint8_t)(crc >> 24);
  bad[f->msg_len - 3] = (uint8_t)(crc >> 16);
  bad[f->msg_len - 2] = (uint8_t)(crc >> 8);
  bad[f->msg_len - 1] = (uint8_t)crc;
  int e = bench_firn_validate(f, bad, f->msg_len);
  int g = bench_nice_validate(n, bad, f->msg_len);
  printf("  tampered MESSAGE-INTEGRITY rejected by firn: %s, by libnice: %s\n",
         e ? "NO" : "yes", g ? "NO" : "yes");
  if (!(a && b && c && d) || e || g)
    ok = 0;
  return ok ? 0 : -1;
}

/* ---------------------------------------------------------------------------------------- */
/* Loops                                                                                     */

typedef enum op { FIRN_BUILD, FIRN_VALIDATE, NICE_BUILD, NICE_VALIDATE, N_OPS } op;
static const char *const k_op_names[N_OPS] = {"firn-build", "firn-validate", "nice-build",
                                              "nice-validate"};

/* Run `count` operations; returns the number that succeeded. */
static size_t run(op which, firn_side *f, nice_side *n, size_t count) {
  uint8_t buf[BUF_SIZE];
  size_t good = 0;
  switch (which) {
  case FIRN_BUILD:
    for (size_t i = 0; i < count; i++)
      good += bench_firn_build(f, buf, sizeof buf) != 0;
    break;
  case FIRN_VALIDATE:
    for (size_t i = 0; i < count; i++)
      good += (size_t)bench_firn_validate(f, f->msg, f->msg_len);
    break;
  case NICE_BUILD:
    for (size_t i = 0; i < count; i++)
      good += bench_nice_build(n, buf, sizeof buf) != 0;
    break;
  case NICE_VALIDATE:
    for (size_t i = 0; i < count; i++)
      good += (size_t)bench_nice_validate(n, n->msg, n->msg_len);
    break;
  default:
    break;
  }
  g_sink = good;
  return good;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median messages/second over `runs` timed runs. */
static double median_rate(op which, firn_side *f, nice_side *n, size_t count, int runs,
                          int *failed) {
  double rates[64];
  run(which, f, n, count / 10 + 1); /* warm caches and the CSPRNG */
  for (int r = 0; r < runs; r++) {
    double t0 = now_s();
    size_t good = run(which, f, n, count);
    double dt = now_s() - t0;
    if (good != count)
      *failed = 1;
    rates[r] = dt > 0 ? (double)count / dt : 0;
  }
  qsort(rates, (size_t)runs, sizeof rates[0], cmp_double);
  return rates[runs / 2];
}

static void usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [--count N] [--runs R]\n"
          "       %s --only firn-build|firn-validate|nice-build|nice-validate --count N\n",
          argv0, argv0);
}

int main(int argc, char **argv) {
  size_t count = 200000;
  int runs = 5;
  int only = -1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
      char *end;
      count = strtoul(argv[++i], &end, 10);
      if (*end || count == 0) {
        usage(argv[0]);
        return 2;
      }
    } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
      runs = atoi(argv[++i]);
      if (runs < 1 || runs > 64) {
        usage(argv[0]);
        return 2;
      }
    } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      i++;
      for (int o = 0; o < N_OPS; o++)
        if (strcmp(argv[i], k_op_names[o]) == 0)
          only = o;
      if (only < 0) {
        usage(argv[0]);
        return 2;
      }
    } else {
      usage(argv[0]);
      return 2;
    }
  }

  firn_side f = {0};
  nice_side n;
  memset(&n, 0, sizeof n);
  int status = 0;
  if (only == FIRN_BUILD || only == FIRN_VALIDATE) {
    if (firn_setup(&f) != 0)
      return 1;
  } else if (only == NICE_BUILD || only == NICE_VALIDATE) {
    if (nice_setup(&n) != 0)
      return 1;
  } else if (firn_setup(&f) != 0 || nice_setup(&n) != 0) {
    return 1;
  }

  if (only >= 0) {
    size_t good = run((op)only, &f, &n, count);
    if (good != count) {
      fprintf(stderr, "bench_stun: %s: %zu of %zu operations failed\n", k_op_names[only],
              count - good, count);
      status = 1;
    }
  } else {
    if (cross_check(&f, &n) != 0) {
      fprintf(stderr, "bench_stun: cross-check failed\n");
      status = 1;
    }
    int failed = 0;
    double fb = median_rate(FIRN_BUILD, &f, &n, count, runs, &failed);
    double nb = median_rate(NICE_BUILD, &f, &n, count, runs, &failed);
    double fv = median_rate(FIRN_VALIDATE, &f, &n, count, runs, &failed);
    double nv = median_rate(NICE_VALIDATE, &f, &n, count, runs, &failed);
    if (failed) {
      fprintf(stderr, "bench_stun: some operations failed during the timed runs\n");
      status = 1;
    }
    printf("\nmedian of %d runs x %zu messages (messages/second, higher is better)\n", runs,
           count);
    printf("  %-10s %14s %14s %12s\n", "operation", "firn", "libnice", "speed-up");
    printf("  %-10s %14.0f %14.0f %11.2fx\n", "build", fb, nb, nb > 0 ? fb / nb : 0);
    printf("  %-10s %14.0f %14.0f %11.2fx\n", "validate", fv, nv, nv > 0 ? fv / nv : 0);
  }
  firn_stun_key_free(f.key);
  return status;
}
