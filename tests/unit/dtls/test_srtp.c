/* SRTP sessions on libsrtp2 with fixed keys: every profile (GCM included, on whatever
 * crypto backend this libsrtp2 was built with; Debian's is NSS), RTP and RTCP both ways,
 * replayed and tampered packets, buffer capacity rules, failing allocations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "dtls/dtls.h"
#include "test_helpers.h"

static const firn_srtp_profile all_profiles[] = {
    FIRN_SRTP_AES128_CM_SHA1_80, FIRN_SRTP_AES128_CM_SHA1_32, FIRN_SRTP_AEAD_AES_128_GCM,
    FIRN_SRTP_AEAD_AES_256_GCM};

/* Two sessions keyed from one exporter output as client and server would be. */
static void make_pair(firn_srtp_profile p, firn_srtp **a, firn_srtp **b, const firn_allocator *al) {
  size_t kl, sl;
  assert_int_equal(firn_srtp_profile_lengths(p, &kl, &sl), FIRN_OK);
  uint8_t m[2 * (FIRN_SRTP_MAX_KEY + FIRN_SRTP_MAX_SALT)];
  for (size_t i = 0; i < sizeof m; i++) m[i] = (uint8_t)(i * 13 + p);
  firn_srtp_keys ka, kb;
  assert_int_equal(firn_srtp_keys_from_material(&ka, p, FIRN_DTLS_CLIENT, m, 2 * (kl + sl)), FIRN_OK);
  assert_int_equal(firn_srtp_keys_from_material(&kb, p, FIRN_DTLS_SERVER, m, 2 * (kl + sl)), FIRN_OK);
  assert_int_equal(firn_srtp_new(a, al, &ka), FIRN_OK);
  assert_int_equal(firn_srtp_new(b, al, &kb), FIRN_OK);
  firn_srtp_keys_wipe(&ka);
  firn_srtp_keys_wipe(&kb);
}

static void test_backend_reported(void **state) {
  (void)state;
  assert_int_equal(firn_srtp_global_init(), FIRN_OK);
  assert_int_equal(firn_srtp_global_init(), FIRN_OK); /* idempotent */
  const char *v = firn_srtp_version();
  assert_non_null(v);
  assert_non_null(strstr(v, "libsrtp2"));
  printf("# %s\n", v);
}

static void test_all_profiles_both_ways(void **state) {
  (void)state;
  for (size_t k = 0; k < 4; k++) {
    firn_srtp *a, *b;
    make_pair(all_profiles[k], &a, &b, NULL);
    assert_int_equal(firn_srtp_get_profile(a), all_profiles[k]);
    for (int dir = 0; dir < 2; dir++) {
      firn_srtp *tx = dir ? b : a, *rx = dir ? a : b;
      for (uint16_t seq = 100; seq < 110; seq++) {
        uint8_t buf[12 + 160 + FIRN_SRTP_MAX_TRAILER], ref[12 + 160];
        size_t n = build_rtp(buf, seq, seq * 160u, 0x11223344u + (uint32_t)dir, 160, (uint8_t)seq);
        memcpy(ref, buf, n);
        size_t out;
        assert_int_equal(firn_srtp_protect_rtp(tx, buf, n, sizeof buf, &out), FIRN_OK);
        size_t tag = all_profiles[k] == FIRN_SRTP_AES128_CM_SHA1_32 ? 4
                     : all_profiles[k] == FIRN_SRTP_AES128_CM_SHA1_80 ? 10 : 16;
        assert_int_equal(out, n + tag);
        assert_memory_not_equal(buf + 12, ref + 12, 160); /* payload encrypted */
        size_t plain;
        assert_int_equal(firn_srtp_unprotect_rtp(rx, buf, out, &plain), FIRN_OK);
        assert_int_equal(plain, n);
        assert_memory_equal(buf, ref, n);
      }
      uint8_t r[32 + FIRN_SRTP_MAX_TRAILER], rref[32];
      size_t rn = build_rtcp_rr(r, 0x55667788u, (uint8_t)dir);
      memcpy(rref, r, rn);
      size_t out, plain;
      assert_int_equal(firn_srtp_protect_rtcp(tx, r, rn, sizeof r, &out), FIRN_OK);
      assert_true(out > rn + 4);
      assert_int_equal(firn_srtp_unprotect_rtcp(rx, r, out, &plain), FIRN_OK);
      assert_int_equal(plain, rn);
      assert_memory_equal(r, rref, rn);
    }
    firn_srtp_stats st;
    firn_srtp_get_stats(b, &st);
    assert_int_equal(st.rtp_unprotected, 10);
    assert_int_equal(st.rtp_protected, 10);
    assert_int_equal(st.rtcp_protected, 1);
    assert_int_equal(st.rtcp_unprotected, 1);
    assert_int_equal(st.auth_failures + st.replays + st.other_failures, 0);
    firn_srtp_free(a);
    firn_srtp_free(b);
  }
}

static void test_replay_and_tamper(void **state) {
  (void)state;
  for (size_t k = 0; k < 4; k++) {
    firn_srtp *a, *b;
    make_pair(all_profiles[k], &a, &b, NULL);
    uint8_t pkt[12 + 100 + FIRN_SRTP_MAX_TRAILER], copy[sizeof pkt];
    size_t n = build_rtp(pkt, 7, 1000, 0xabcdef01u, 100, 3), out, plain;
    assert_int_equal(firn_srtp_protect_rtp(a, pkt, n, sizeof pkt, &out), FIRN_OK);
    memcpy(copy, pkt, out);
    /* tampered: one payload bit, then one tag bit -> authentication failure */
    pkt[20] ^= 0x01;
    assert_int_equal(firn_srtp_unprotect_rtp(b, pkt, out, &plain), FIRN_ERR_SRTP_AUTH);
    memcpy(pkt, copy, out);
    pkt[out - 1] ^= 0x80;
    assert_int_equal(firn_srtp_unprotect_rtp(b, pkt, out, &plain), FIRN_ERR_SRTP_AUTH);
    /* truncated by one byte */
    memcpy(pkt, copy, out);
    assert_int_not_equal(firn_srtp_unprotect_rtp(b, pkt, out - 1, &plain), FIRN_OK);
    /* the genuine packet still passes after the failures, then its replay is refused */
    memcpy(pkt, copy, out);
    assert_int_equal(firn_srtp_unprotect_rtp(b, pkt, out, &plain), FIRN_OK);
    memcpy(pkt, copy, out);
    assert_int_equal(firn_srtp_unprotect_rtp(b, pkt, out, &plain), FIRN_ERR_SRTP_REPLAY);
    /* RTCP replay and tamper */
    uint8_t r[32 + FIRN_SRTP_MAX_TRAILER], rc[sizeof r];
    size_t rn = build_rtcp_rr(r, 0x01020304u, 9), rout;
    assert_int_equal(firn_srtp_protect_rtcp(a, r, rn, sizeof r, &rout), FIRN_OK);
    memcpy(rc, r, rout);
    r[10] ^= 0x40;
    assert_int_equal(firn_srtp_unprotect_rtcp(b, r, rout, &plain), FIRN_ERR_SRTP_AUTH);
    memcpy(r, rc, rout);
    assert_int_equal(firn_srtp_unprotect_rtcp(b, r, rout, &plain), FIRN_OK);
    memcpy(r, rc, rout);
    assert_int_equal(firn_srtp_unprotect_rtcp(b, r, rout, &plain), FIRN_ERR_SRTP_REPLAY);
    /* too short to be RTP at all */
    assert_int_equal(firn_srtp_unprotect_rtp(b, pkt, 5, &plain), FIRN_ERR_SRTP);

    firn_srtp_stats st;
    firn_srtp_get_stats(b, &st);
    assert_int_equal(st.replays, 2);
    assert_true(st.auth_failures >= 3);
    assert_int_equal(st.rtp_unprotected, 1);
    assert_int_equal(st.rtcp_unprotected, 1);
    assert_int_equal(st.auth_failures + st.other_failures, 5); /* 3 tamper + trunc + short */
    firn_srtp_free(a);
    firn_srtp_free(b);
  }
}

static void test_capacity_rules(void **state) {
  (void)state;
  firn_srtp *a, *b;
  make_pair(FIRN_SRTP_AES128_CM_SHA1_80, &a, &b, NULL);
  uint8_t buf[12 + 50 + FIRN_SRTP_MAX_TRAILER];
  size_t n = build_rtp(buf, 1, 1, 1, 50, 0), out;
  /* room for the 10-byte tag but not for libsrtp2's worst case: refused, packet intact */
  uint8_t before[sizeof buf];
  memcpy(before, buf, sizeof buf);
  assert_int_equal(firn_srtp_protect_rtp(a, buf, n, n + 10, &out), FIRN_ERR_NOBUF);
  assert_int_equal(firn_srtp_protect_rtp(a, buf, n, n + FIRN_SRTP_MAX_TRAILER - 1, &out), FIRN_ERR_NOBUF);
  assert_memory_equal(buf, before, sizeof buf);
  assert_int_equal(firn_srtp_protect_rtp(a, buf, n, n + FIRN_SRTP_MAX_TRAILER, &out), FIRN_OK);
  assert_int_equal(firn_srtp_protect_rtcp(a, buf, 4, sizeof buf, &out), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_srtp_protect_rtp(a, buf, 11, sizeof buf, &out), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_srtp_protect_rtp(NULL, buf, n, sizeof buf, &out), FIRN_ERR_INVALID_ARG);
  /* protecting the same sequence number twice is refused (no keystream reuse) */
  n = build_rtp(buf, 1, 1, 1, 50, 0);
  assert_int_equal(firn_srtp_protect_rtp(a, buf, n, sizeof buf, &out), FIRN_ERR_SRTP_REPLAY);
  firn_srtp_keys bad = {.profile = FIRN_SRTP_NONE};
  firn_srtp *c;
  assert_int_equal(firn_srtp_new(&c, NULL, &bad), FIRN_ERR_UNSUPPORTED);
  assert_null(c);
  firn_srtp_free(a);
  firn_srtp_free(b);
}

static void test_failing_allocator(void **state) {
  (void)state;
  firn_srtp_keys k;
  memset(&k, 0x42, sizeof k);
  k.profile = FIRN_SRTP_AEAD_AES_128_GCM;
  failing_alloc f = {0, 1, 0};
  firn_allocator al = fa_allocator(&f);
  firn_srtp *s = (firn_srtp *)&f;
  assert_int_equal(firn_srtp_new(&s, &al, &k), FIRN_ERR_NOMEM);
  assert_null(s);
  assert_int_equal(f.live, 0);
  f = (failing_alloc){0, 0, 0};
  assert_int_equal(firn_srtp_new(&s, &al, &k), FIRN_OK);
  assert_int_equal(f.live, 1);
  firn_srtp_free(s);
  assert_int_equal(f.live, 0);
}

/* Sessions created and used from several threads at once. Runs first in this process so
 * the threads race to srtp_init, which runs once under pthread_once. */
static void *thread_body(void *arg) {
  long ok = 0;
  firn_srtp_profile p = all_profiles[(size_t)(uintptr_t)arg % 4];
  for (int round = 0; round < 20; round++) {
    /* no cmocka asserts off the main thread: count successes instead */
    firn_srtp_keys ka, kb;
    size_t kl, sl;
    uint8_t m[2 * (FIRN_SRTP_MAX_KEY + FIRN_SRTP_MAX_SALT)];
    for (size_t i = 0; i < sizeof m; i++) m[i] = (uint8_t)(i + (size_t)round);
    firn_srtp *a = NULL, *b = NULL;
    if (firn_srtp_profile_lengths(p, &kl, &sl) != FIRN_OK ||
        firn_srtp_keys_from_material(&ka, p, FIRN_DTLS_CLIENT, m, 2 * (kl + sl)) != FIRN_OK ||
        firn_srtp_keys_from_material(&kb, p, FIRN_DTLS_SERVER, m, 2 * (kl + sl)) != FIRN_OK ||
        firn_srtp_new(&a, NULL, &ka) != FIRN_OK || firn_srtp_new(&b, NULL, &kb) != FIRN_OK) {
      firn_srtp_free(a);
      firn_srtp_free(b);
      continue;
    }
    for (uint16_t seq = 0; seq < 50; seq++) {
      uint8_t pkt[12 + 40 + FIRN_SRTP_MAX_TRAILER];
      size_t n = build_rtp(pkt, seq, seq, 7, 40, (uint8_t)seq), out, plain;
      if (firn_srtp_protect_rtp(a, pkt, n, sizeof pkt, &out) == FIRN_OK &&
          firn_srtp_unprotect_rtp(b, pkt, out, &plain) == FIRN_OK && plain == n && pkt[12] == (uint8_t)seq)
        ok++;
    }
    firn_srtp_free(a);
    firn_srtp_free(b);
  }
  return (void *)(uintptr_t)ok;
}

static void test_threads(void **state) {
  (void)state;
  pthread_t t[8];
  for (uintptr_t i = 0; i < 8; i++) assert_int_equal(pthread_create(&t[i], NULL, thread_body, (void *)i), 0);
  for (int i = 0; i < 8; i++) {
    void *r;
    assert_int_equal(pthread_join(t[i], &r), 0);
    assert_int_equal((uintptr_t)r, 20 * 50);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_threads), cmocka_unit_test(test_backend_reported),
      cmocka_unit_test(test_all_profiles_both_ways),
      cmocka_unit_test(test_replay_and_tamper), cmocka_unit_test(test_capacity_rules),
      cmocka_unit_test(test_failing_allocator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
