/* Builder round trips for every attribute kind, buffer exhaustion at every size, ordering
 * rules, accessor errors, keys and HMAC cross-checked against OpenSSL's HMAC(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "firn/stun.h"
#include "common/bytes.h"

static const uint8_t TID[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

static firn_stun_key *key_of(const char *pw) {
  firn_stun_key *k = NULL;
  assert_int_equal(firn_stun_key_new_short_term(&k, NULL, pw, strlen(pw)), 0);
  return k;
}

static firn_addr addr_of(const char *s) {
  firn_addr a;
  assert_int_equal(firn_addr_parse(&a, s, 0), 0);
  return a;
}

/* Every attribute kind the builder has a helper for, plus raw ones for the rest. */
static void build_everything(firn_stun_builder *b, const firn_stun_key *k) {
  firn_addr v4 = addr_of("192.0.2.1:32853"), v6 = addr_of("[2001:db8::1:2]:3478");
  firn_addr p4 = addr_of("198.51.100.7:6000"), p6 = addr_of("[2001:db8:ffff::9]:65535");
  static const uint16_t unknown[3] = {0x0031, 0x0032, 0x7fff};
  static const uint8_t algs[] = {0, 2, 0, 0, 0, 1, 0, 0};
  static const uint8_t even[1] = {0x80};
  /* ICMP type 3 in the top 7 bits of byte 2, code 13 in the 9 bits after it */
  static const uint8_t icmp[8] = {0, 0, 3 << 1, 0x0d, 0xde, 0xad, 0xbe, 0xef};
  static const uint8_t aerr[12] = {0x02, 0, 4, 40, 'n', 'o', ' ', 'v', '6', '!', '!', '!'};
  firn_stun_add_addr(b, FIRN_STUN_ATTR_MAPPED_ADDRESS, &v4);
  firn_stun_add_addr(b, FIRN_STUN_ATTR_ALTERNATE_SERVER, &v6);
  firn_stun_add_xor_addr(b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &v6);
  firn_stun_add_xor_addr(b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, &p4);
  firn_stun_add_xor_addr(b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, &p6);
  firn_stun_add_xor_addr(b, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, &v4);
  firn_stun_add_xor_addr(b, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, &v6);
  firn_stun_add_error(b, 438, NULL);
  firn_stun_add_string(b, FIRN_STUN_ATTR_USERNAME, "user:name", 9);
  firn_stun_add_string(b, FIRN_STUN_ATTR_REALM, "example.org", 11);
  firn_stun_add_string(b, FIRN_STUN_ATTR_NONCE, "n", 1);
  firn_stun_add_string(b, FIRN_STUN_ATTR_SOFTWARE, "", 0);
  firn_stun_add_string(b, FIRN_STUN_ATTR_ALTERNATE_DOMAIN, "turn.example.org", 16);
  firn_stun_add_unknown_attrs(b, unknown, 3);
  firn_stun_add_u32(b, FIRN_STUN_ATTR_PRIORITY, 0x6e0001ff);
  firn_stun_add_u32(b, FIRN_STUN_ATTR_LIFETIME, 600);
  firn_stun_add_u32(b, FIRN_STUN_ATTR_CONNECTION_ID, 0xabcdef01);
  firn_stun_add_u64(b, FIRN_STUN_ATTR_ICE_CONTROLLING, UINT64_C(0x0123456789abcdef));
  firn_stun_add_u64(b, FIRN_STUN_ATTR_RESERVATION_TOKEN, UINT64_C(0xfedcba9876543210));
  firn_stun_add_flag(b, FIRN_STUN_ATTR_USE_CANDIDATE);
  firn_stun_add_flag(b, FIRN_STUN_ATTR_DONT_FRAGMENT);
  firn_stun_add_channel(b, 0x4001);
  firn_stun_add_requested_transport(b, 17);
  firn_stun_add_family(b, FIRN_STUN_ATTR_REQUESTED_ADDRESS_FAMILY, FIRN_AF_INET6);
  firn_stun_add_family(b, FIRN_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, FIRN_AF_INET);
  firn_stun_add_password_alg(b, FIRN_STUN_PASSWORD_ALG_SHA256);
  firn_stun_add_raw(b, FIRN_STUN_ATTR_PASSWORD_ALGORITHMS, algs, sizeof algs);
  firn_stun_add_raw(b, FIRN_STUN_ATTR_EVEN_PORT, even, 1);
  firn_stun_add_raw(b, FIRN_STUN_ATTR_ICMP, icmp, 8);
  firn_stun_add_raw(b, FIRN_STUN_ATTR_ADDRESS_ERROR_CODE, aerr, sizeof aerr);
  firn_stun_add_raw(b, FIRN_STUN_ATTR_DATA, "\x01\x02\x03", 3);
  firn_stun_add_raw(b, 0x0777, "x", 1);  /* unknown comprehension-required */
  firn_stun_add_raw(b, 0xC0DE, "yy", 2); /* unknown comprehension-optional */
  firn_stun_add_integrity(b, k);
  firn_stun_add_integrity_sha256(b, k);
  firn_stun_add_fingerprint(b);
}

static void check_everything(const firn_stun_msg *m, const firn_stun_key *k) {
  firn_addr a;
  firn_addr v4 = addr_of("192.0.2.1:32853"), v6 = addr_of("[2001:db8::1:2]:3478");
  firn_addr p4 = addr_of("198.51.100.7:6000"), p6 = addr_of("[2001:db8:ffff::9]:65535");
  assert_int_equal(m->method, FIRN_STUN_ALLOCATE);
  assert_int_equal(m->cls, FIRN_STUN_ERROR);
  assert_memory_equal(m->tid, TID, 12);
  assert_int_equal(firn_stun_msg_get_addr(m, FIRN_STUN_ATTR_MAPPED_ADDRESS, &a), 0);
  assert_true(firn_addr_equal(&a, &v4));
  assert_int_equal(firn_stun_msg_get_addr(m, FIRN_STUN_ATTR_ALTERNATE_SERVER, &a), 0);
  assert_true(firn_addr_equal(&a, &v6));
  assert_int_equal(firn_stun_msg_get_xor_addr(m, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, 0, &a), 0);
  assert_true(firn_addr_equal(&a, &v6));
  assert_int_equal(firn_stun_msg_get_xor_addr(m, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, 0, &a), 0);
  assert_true(firn_addr_equal(&a, &p4));
  assert_int_equal(firn_stun_msg_get_xor_addr(m, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, 1, &a), 0);
  assert_true(firn_addr_equal(&a, &p6));
  assert_int_equal(firn_stun_msg_get_xor_addr(m, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, 2, &a), FIRN_ERR_NOT_FOUND);
  assert_int_equal(firn_stun_msg_get_xor_addr(m, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, 0, &a), 0);
  assert_true(firn_addr_equal(&a, &v4));
  assert_int_equal(firn_stun_msg_get_xor_addr(m, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, 1, &a), 0);
  assert_true(firn_addr_equal(&a, &v6));

  int code;
  const char *s;
  size_t n;
  assert_int_equal(firn_stun_msg_get_error(m, &code, &s, &n), 0);
  assert_int_equal(code, 438);
  assert_int_equal(n, strlen("Stale Nonce"));
  assert_memory_equal(s, "Stale Nonce", n);
  assert_int_equal(firn_stun_msg_get_error(m, &code, NULL, NULL), 0);

  assert_int_equal(firn_stun_msg_get_string(m, FIRN_STUN_ATTR_USERNAME, &s, &n), 0);
  assert_int_equal(n, 9);
  assert_memory_equal(s, "user:name", 9);
  assert_int_equal(firn_stun_msg_get_string(m, FIRN_STUN_ATTR_REALM, &s, &n), 0);
  assert_int_equal(n, 11);
  assert_int_equal(firn_stun_msg_get_string(m, FIRN_STUN_ATTR_NONCE, &s, &n), 0);
  assert_int_equal(n, 1);
  assert_int_equal(firn_stun_msg_get_string(m, FIRN_STUN_ATTR_SOFTWARE, &s, &n), 0);
  assert_int_equal(n, 0);
  assert_int_equal(firn_stun_msg_get_string(m, FIRN_STUN_ATTR_ALTERNATE_DOMAIN, &s, &n), 0);
  assert_int_equal(n, 16);

  uint16_t types[8];
  assert_int_equal(firn_stun_msg_get_unknown_attrs(m, types, 8, &n), 0);
  assert_int_equal(n, 3);
  assert_int_equal(types[0], 0x0031);
  assert_int_equal(types[2], 0x7fff);
  assert_int_equal(firn_stun_msg_get_unknown_attrs(m, types, 1, &n), 0);
  assert_int_equal(n, 3);

  uint32_t u32;
  uint64_t u64;
  assert_int_equal(firn_stun_msg_get_u32(m, FIRN_STUN_ATTR_PRIORITY, &u32), 0);
  assert_int_equal(u32, 0x6e0001ff);
  assert_int_equal(firn_stun_msg_get_u32(m, FIRN_STUN_ATTR_LIFETIME, &u32), 0);
  assert_int_equal(u32, 600);
  assert_int_equal(firn_stun_msg_get_u32(m, FIRN_STUN_ATTR_CONNECTION_ID, &u32), 0);
  assert_int_equal(u32, 0xabcdef01);
  assert_int_equal(firn_stun_msg_get_u64(m, FIRN_STUN_ATTR_ICE_CONTROLLING, &u64), 0);
  assert_true(u64 == UINT64_C(0x0123456789abcdef));
  assert_int_equal(firn_stun_msg_get_u64(m, FIRN_STUN_ATTR_RESERVATION_TOKEN, &u64), 0);
  assert_true(u64 == UINT64_C(0xfedcba9876543210));
  assert_true(firn_stun_msg_has(m, FIRN_STUN_ATTR_USE_CANDIDATE));
  assert_true(firn_stun_msg_has(m, FIRN_STUN_ATTR_DONT_FRAGMENT));

  uint16_t ch;
  uint8_t proto, t8, c8;
  firn_family fam;
  assert_int_equal(firn_stun_msg_get_channel(m, &ch), 0);
  assert_int_equal(ch, 0x4001);
  assert_int_equal(firn_stun_msg_get_requested_transport(m, &proto), 0);
  assert_int_equal(proto, 17);
  assert_int_equal(firn_stun_msg_get_family(m, FIRN_STUN_ATTR_REQUESTED_ADDRESS_FAMILY, &fam), 0);
  assert_int_equal(fam, FIRN_AF_INET6);
  assert_int_equal(firn_stun_msg_get_family(m, FIRN_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, &fam), 0);
  assert_int_equal(fam, FIRN_AF_INET);

  const uint8_t *v;
  assert_int_equal(firn_stun_msg_find(m, FIRN_STUN_ATTR_PASSWORD_ALGORITHM, &v, &n), 0);
  assert_int_equal(n, 4);
  assert_int_equal(firn_get_u16(v), FIRN_STUN_PASSWORD_ALG_SHA256);
  uint16_t algs[4];
  assert_int_equal(firn_stun_msg_get_password_algs(m, algs, 4, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(algs[0], 2);
  assert_int_equal(algs[1], 1);

  int reserve;
  assert_int_equal(firn_stun_msg_get_even_port(m, &reserve), 0);
  assert_int_equal(reserve, 1);
  assert_int_equal(firn_stun_msg_get_icmp(m, &t8, &c8, &u32), 0);
  assert_int_equal(t8, 3);
  assert_int_equal(c8, 13);
  assert_int_equal(u32, 0xdeadbeef);
  assert_int_equal(firn_stun_msg_get_address_error(m, &fam, &code, &s, &n), 0);
  assert_int_equal(fam, FIRN_AF_INET6);
  assert_int_equal(code, 440);
  assert_int_equal(n, 8);
  assert_int_equal(firn_stun_msg_find(m, FIRN_STUN_ATTR_DATA, &v, &n), 0);
  assert_int_equal(n, 3);
  assert_memory_equal(v, "\x01\x02\x03", 3);

  /* Unknown comprehension-required attributes are reported; optional ones are not. */
  assert_int_equal(m->n_unknown, 1);
  assert_int_equal(m->unknown[0], 0x0777);
  assert_true(firn_stun_msg_has(m, 0xC0DE));

  assert_true(m->mi_off && m->mi256_off && m->fp_off);
  assert_int_equal(firn_stun_msg_verify_sha1(m, k), 0);
  assert_int_equal(firn_stun_msg_verify_sha256(m, k), 0);
  assert_int_equal(firn_stun_msg_verify(m, k), 0);
  assert_int_equal(firn_stun_msg_get_u32(m, FIRN_STUN_ATTR_FINGERPRINT, &u32), 0);
  assert_int_equal(u32, firn_stun_fingerprint(m->data, m->fp_off));
}

static void test_round_trip_everything(void **state) {
  (void)state;
  firn_stun_key *k = key_of("secret-password");
  uint8_t buf[1024];
  firn_stun_builder b;
  firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_ALLOCATE, FIRN_STUN_ERROR, TID);
  build_everything(&b, k);
  firn_ssize n = firn_stun_builder_finish(&b);
  assert_true(n > 0);
  assert_int_equal(b.len, (size_t)n);
  assert_int_equal(firn_get_u16(buf + 2), n - 20);
  firn_stun_msg m;
  assert_int_equal(firn_stun_msg_parse(&m, buf, (size_t)n), 0);
  check_everything(&m, k);
  /* A different key fails both MACs. */
  firn_stun_key *other = key_of("secret-passworD");
  assert_int_equal(firn_stun_msg_verify_sha1(&m, other), FIRN_ERR_STUN_BAD_INTEGRITY);
  assert_int_equal(firn_stun_msg_verify_sha256(&m, other), FIRN_ERR_STUN_BAD_INTEGRITY);
  firn_stun_key_free(other);
  firn_stun_key_free(k);
}

/* Padding is zeros, values of every length 0..9 round-trip. */
static void test_padding(void **state) {
  (void)state;
  uint8_t buf[128];
  for (size_t len = 0; len < 10; len++) {
    memset(buf, 0xAA, sizeof buf);
    firn_stun_builder b;
    firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_INDICATION, TID);
    firn_stun_add_string(&b, FIRN_STUN_ATTR_SOFTWARE, "abcdefghij", len);
    firn_ssize n = firn_stun_builder_finish(&b);
    assert_int_equal(n, 20 + 4 + ((len + 3) & ~(size_t)3));
    for (size_t i = 24 + len; i < (size_t)n; i++) assert_int_equal(buf[i], 0);
    firn_stun_msg m;
    assert_int_equal(firn_stun_msg_parse(&m, buf, (size_t)n), 0);
    assert_int_equal(m.cls, FIRN_STUN_INDICATION);
    const char *s;
    size_t sl;
    assert_int_equal(firn_stun_msg_get_string(&m, FIRN_STUN_ATTR_SOFTWARE, &s, &sl), 0);
    assert_int_equal(sl, len);
    if (len) assert_memory_equal(s, "abcdefghij", len);
  }
}

/* Every buffer size short of the message fails with NOBUF and writes nothing past the
 * buffer (heap blocks of exactly `cap` bytes); the exact size succeeds byte-identically. */
static void test_nobuf_every_size(void **state) {
  (void)state;
  firn_stun_key *k = key_of("pw");
  uint8_t ref[1024];
  firn_stun_builder b;
  firn_stun_builder_init(&b, ref, sizeof ref, FIRN_STUN_ALLOCATE, FIRN_STUN_ERROR, TID);
  build_everything(&b, k);
  firn_ssize full = firn_stun_builder_finish(&b);
  assert_true(full > 0);
  for (size_t cap = 0; cap <= (size_t)full; cap++) {
    uint8_t *buf = malloc(cap ? cap : 1);
    assert_non_null(buf);
    firn_stun_builder_init(&b, buf, cap, FIRN_STUN_ALLOCATE, FIRN_STUN_ERROR, TID);
    build_everything(&b, k);
    firn_ssize n = firn_stun_builder_finish(&b);
    if (cap < (size_t)full) {
      assert_int_equal(n, FIRN_ERR_NOBUF);
    } else {
      assert_int_equal(n, full);
      assert_memory_equal(buf, ref, cap);
    }
    free(buf);
  }
  firn_stun_key_free(k);
}

static void test_order_rules(void **state) {
  (void)state;
  firn_stun_key *k = key_of("pw");
  uint8_t buf[256];
  firn_stun_builder b;

  /* Anything after FINGERPRINT. */
  for (int what = 0; what < 5; what++) {
    firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, TID);
    firn_stun_add_fingerprint(&b);
    switch (what) {
    case 0: firn_stun_add_u32(&b, FIRN_STUN_ATTR_PRIORITY, 1); break;
    case 1: firn_stun_add_fingerprint(&b); break;
    case 2: firn_stun_add_integrity(&b, k); break;
    case 3: firn_stun_add_integrity_sha256(&b, k); break;
    default: firn_stun_add_flag(&b, FIRN_STUN_ATTR_USE_CANDIDATE); break;
    }
    assert_int_equal(firn_stun_builder_finish(&b), FIRN_ERR_STATE);
    assert_int_equal(b.len, 28); /* nothing written past the refused call */
  }
  /* Ordinary attributes after MESSAGE-INTEGRITY (receivers would ignore them). */
  firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, TID);
  firn_stun_add_integrity(&b, k);
  firn_stun_add_string(&b, FIRN_STUN_ATTR_USERNAME, "u", 1);
  assert_int_equal(firn_stun_builder_finish(&b), FIRN_ERR_STATE);
  /* MI after MI-SHA256, or twice. */
  firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, TID);
  firn_stun_add_integrity_sha256(&b, k);
  firn_stun_add_integrity(&b, k);
  assert_int_equal(firn_stun_builder_finish(&b), FIRN_ERR_STATE);
  firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, TID);
  firn_stun_add_integrity(&b, k);
  firn_stun_add_integrity(&b, k);
  assert_int_equal(firn_stun_builder_finish(&b), FIRN_ERR_STATE);
  /* MI, MI-SHA256, FINGERPRINT is the allowed order; both MACs verify. */
  firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, TID);
  firn_stun_add_integrity(&b, k);
  firn_stun_add_integrity_sha256(&b, k);
  firn_stun_add_fingerprint(&b);
  firn_ssize n = firn_stun_builder_finish(&b);
  assert_int_equal(n, 20 + 24 + 36 + 8);
  firn_stun_msg m;
  assert_int_equal(firn_stun_msg_parse(&m, buf, (size_t)n), 0);
  assert_int_equal(firn_stun_msg_verify_sha1(&m, k), 0);
  assert_int_equal(firn_stun_msg_verify_sha256(&m, k), 0);
  firn_stun_key_free(k);
}

static void test_invalid_args(void **state) {
  (void)state;
  uint8_t buf[256];
  firn_stun_builder b;
  firn_addr none;
  memset(&none, 0, sizeof none);
  firn_addr v4 = addr_of("10.0.0.1:1");
#define EXPECT_BUILD_ERR(stmt, err)                                                        \
  do {                                                                                     \
    firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, TID); \
    stmt;                                                                                  \
    firn_stun_add_u32(&b, FIRN_STUN_ATTR_PRIORITY, 1); /* sticky: first error stays */      \
    assert_int_equal(firn_stun_builder_finish(&b), (err));                                 \
  } while (0)
  EXPECT_BUILD_ERR(firn_stun_add_error(&b, 299, NULL), FIRN_ERR_INVALID_ARG);
  EXPECT_BUILD_ERR(firn_stun_add_error(&b, 700, "x"), FIRN_ERR_INVALID_ARG);
  EXPECT_BUILD_ERR(firn_stun_add_addr(&b, FIRN_STUN_ATTR_MAPPED_ADDRESS, &none), FIRN_ERR_INVALID_ARG);
  EXPECT_BUILD_ERR(firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, NULL), FIRN_ERR_INVALID_ARG);
  EXPECT_BUILD_ERR(firn_stun_add_channel(&b, 0x3fff), FIRN_ERR_INVALID_ARG);
  EXPECT_BUILD_ERR(firn_stun_add_channel(&b, 0x5000), FIRN_ERR_INVALID_ARG);
  EXPECT_BUILD_ERR(firn_stun_add_family(&b, FIRN_STUN_ATTR_REQUESTED_ADDRESS_FAMILY, FIRN_AF_NONE), FIRN_ERR_INVALID_ARG);
  EXPECT_BUILD_ERR(firn_stun_add_password_alg(&b, FIRN_STUN_PASSWORD_ALG_NONE), FIRN_ERR_INVALID_ARG);
  EXPECT_BUILD_ERR(firn_stun_add_raw(&b, FIRN_STUN_ATTR_DATA, NULL, 4), FIRN_ERR_INVALID_ARG);
  EXPECT_BUILD_ERR(firn_stun_add_unknown_attrs(&b, NULL, 2), FIRN_ERR_INVALID_ARG);
  EXPECT_BUILD_ERR(firn_stun_add_integrity(&b, NULL), FIRN_ERR_INVALID_ARG);
  EXPECT_BUILD_ERR(firn_stun_add_integrity_sha256(&b, NULL), FIRN_ERR_INVALID_ARG);
  EXPECT_BUILD_ERR(firn_stun_add_raw(&b, FIRN_STUN_ATTR_DATA, buf, 300), FIRN_ERR_NOBUF);
  EXPECT_BUILD_ERR(firn_stun_add_addr(&b, FIRN_STUN_ATTR_MAPPED_ADDRESS, &v4), 20 + 12 + 8);
#undef EXPECT_BUILD_ERR
  firn_stun_builder_init(&b, NULL, 100, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, TID);
  assert_int_equal(firn_stun_builder_finish(&b), FIRN_ERR_INVALID_ARG);
  firn_stun_builder_init(&b, buf, sizeof buf, 0x1000, FIRN_STUN_REQUEST, TID);
  assert_int_equal(firn_stun_builder_finish(&b), FIRN_ERR_INVALID_ARG);
  firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, NULL);
  assert_int_equal(firn_stun_builder_finish(&b), FIRN_ERR_INVALID_ARG);
  firn_stun_builder_init(&b, buf, 19, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, TID);
  assert_int_equal(firn_stun_builder_finish(&b), FIRN_ERR_NOBUF);
  assert_int_equal(firn_stun_builder_finish(NULL), FIRN_ERR_INVALID_ARG);
  /* Calls on a NULL builder are harmless. */
  firn_stun_builder_init(NULL, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, TID);
  firn_stun_add_u32(NULL, FIRN_STUN_ATTR_PRIORITY, 1);
  firn_stun_add_error(NULL, 400, NULL);
  firn_stun_add_fingerprint(NULL);
}

/* A message whose body would exceed the 16-bit length field. */
static void test_length_field_limit(void **state) {
  (void)state;
  size_t cap = 70000;
  uint8_t *buf = malloc(cap), *val = calloc(1, 40000);
  assert_non_null(buf);
  assert_non_null(val);
  firn_stun_builder b;
  firn_stun_builder_init(&b, buf, cap, FIRN_STUN_SEND, FIRN_STUN_INDICATION, TID);
  firn_stun_add_raw(&b, FIRN_STUN_ATTR_DATA, val, 40000);
  firn_stun_add_raw(&b, FIRN_STUN_ATTR_DATA, val, 30000);
  assert_int_equal(firn_stun_builder_finish(&b), FIRN_ERR_NOBUF);
  firn_stun_builder_init(&b, buf, cap, FIRN_STUN_SEND, FIRN_STUN_INDICATION, TID);
  firn_stun_add_raw(&b, FIRN_STUN_ATTR_DATA, val, 40000);
  firn_stun_add_raw(&b, FIRN_STUN_ATTR_DATA, val, 25000);
  firn_ssize n = firn_stun_builder_finish(&b);
  assert_int_equal(n, 20 + 40004 + 25004);
  firn_stun_msg m;
  assert_int_equal(firn_stun_msg_parse(&m, buf, (size_t)n), 0);
  free(buf);
  free(val);
}

static void test_accessor_errors(void **state) {
  (void)state;
  uint8_t buf[128];
  firn_stun_builder b;
  firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_SUCCESS, TID);
  firn_stun_add_string(&b, FIRN_STUN_ATTR_USERNAME, "abc", 3);
  firn_stun_add_raw(&b, FIRN_STUN_ATTR_CHANNEL_NUMBER, "\x30\x00\x00\x00", 4);
  firn_stun_add_raw(&b, FIRN_STUN_ATTR_REQUESTED_ADDRESS_FAMILY, "\x03\x00\x00\x00", 4);
  firn_ssize n = firn_stun_builder_finish(&b);
  assert_true(n > 0);
  firn_stun_msg m;
  assert_int_equal(firn_stun_msg_parse(&m, buf, (size_t)n), 0);
  assert_int_equal(m.n_unknown, 0);

  firn_addr a;
  uint32_t u32;
  uint64_t u64;
  int code, r;
  const char *s;
  size_t len;
  const uint8_t *v;
  uint16_t list[4], ch;
  uint8_t u8, u8b;
  firn_family f;
  assert_int_equal(firn_stun_msg_find(&m, FIRN_STUN_ATTR_REALM, &v, &len), FIRN_ERR_NOT_FOUND);
  assert_false(firn_stun_msg_has(&m, FIRN_STUN_ATTR_REALM));
  assert_int_equal(firn_stun_msg_get_u32(&m, FIRN_STUN_ATTR_PRIORITY, &u32), FIRN_ERR_NOT_FOUND);
  assert_int_equal(firn_stun_msg_get_u64(&m, FIRN_STUN_ATTR_ICE_CONTROLLED, &u64), FIRN_ERR_NOT_FOUND);
  assert_int_equal(firn_stun_msg_get_addr(&m, FIRN_STUN_ATTR_MAPPED_ADDRESS, &a), FIRN_ERR_NOT_FOUND);
  assert_int_equal(firn_stun_msg_get_xor_addr(&m, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, 0, &a), FIRN_ERR_NOT_FOUND);
  assert_int_equal(firn_stun_msg_get_error(&m, &code, &s, &len), FIRN_ERR_NOT_FOUND);
  assert_int_equal(firn_stun_msg_get_string(&m, FIRN_STUN_ATTR_NONCE, &s, &len), FIRN_ERR_NOT_FOUND);
  assert_int_equal(firn_stun_msg_get_unknown_attrs(&m, list, 4, &len), FIRN_ERR_NOT_FOUND);
  assert_int_equal(firn_stun_msg_get_password_algs(&m, list, 4, &len), FIRN_ERR_NOT_FOUND);
  assert_int_equal(firn_stun_msg_get_requested_transport(&m, &u8), FIRN_ERR_NOT_FOUND);
  assert_int_equal(firn_stun_msg_get_family(&m, FIRN_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, &f), FIRN_ERR_NOT_FOUND);
  assert_int_equal(firn_stun_msg_get_address_error(&m, &f, &code, &s, &len), FIRN_ERR_NOT_FOUND);
  assert_int_equal(firn_stun_msg_get_icmp(&m, &u8, &u8b, &u32), FIRN_ERR_NOT_FOUND);
  assert_int_equal(firn_stun_msg_get_even_port(&m, &r), FIRN_ERR_NOT_FOUND);
  assert_int_equal(firn_stun_msg_verify(&m, NULL), FIRN_ERR_INVALID_ARG);
  /* An ICMP code with its 9th bit set is not an ICMPv4/v6 code. */
  {
    uint8_t ib[64];
    firn_stun_builder ibld;
    firn_stun_builder_init(&ibld, ib, sizeof ib, FIRN_STUN_DATA, FIRN_STUN_INDICATION, TID);
    firn_stun_add_raw(&ibld, FIRN_STUN_ATTR_ICMP, "\0\0\x07\x01\0\0\0\0", 8);
    firn_stun_msg im;
    assert_int_equal(firn_stun_msg_parse(&im, ib, (size_t)firn_stun_builder_finish(&ibld)), 0);
    assert_int_equal(firn_stun_msg_get_icmp(&im, &u8, &u8b, &u32), FIRN_ERR_STUN_BAD_ATTR);
  }
  /* Wrong shape for the accessor. */
  assert_int_equal(firn_stun_msg_get_u32(&m, FIRN_STUN_ATTR_USERNAME, &u32), FIRN_ERR_STUN_BAD_ATTR);
  assert_int_equal(firn_stun_msg_get_u64(&m, FIRN_STUN_ATTR_USERNAME, &u64), FIRN_ERR_STUN_BAD_ATTR);
  assert_int_equal(firn_stun_msg_get_addr(&m, FIRN_STUN_ATTR_USERNAME, &a), FIRN_ERR_STUN_BAD_ADDR_FAMILY);
  /* Values the parser accepts but the accessor's contract rules out. */
  assert_int_equal(firn_stun_msg_get_channel(&m, &ch), FIRN_ERR_STUN_BAD_ATTR);
  assert_int_equal(firn_stun_msg_get_family(&m, FIRN_STUN_ATTR_REQUESTED_ADDRESS_FAMILY, &f),
                   FIRN_ERR_STUN_BAD_ADDR_FAMILY);
  /* NULL arguments. */
  assert_int_equal(firn_stun_msg_get_u32(NULL, FIRN_STUN_ATTR_PRIORITY, &u32), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_stun_msg_get_u32(&m, FIRN_STUN_ATTR_PRIORITY, NULL), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_stun_msg_get_string(&m, FIRN_STUN_ATTR_USERNAME, NULL, &len), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_stun_msg_has(NULL, FIRN_STUN_ATTR_USERNAME), 0);
  /* No integrity at all. */
  firn_stun_key *k = key_of("pw");
  assert_int_equal(firn_stun_msg_verify(&m, k), FIRN_ERR_STUN_NO_INTEGRITY);
  assert_int_equal(firn_stun_msg_verify_sha1(&m, k), FIRN_ERR_STUN_NO_INTEGRITY);
  assert_int_equal(firn_stun_msg_verify_sha256(&m, k), FIRN_ERR_STUN_NO_INTEGRITY);
  firn_stun_key_free(k);
  /* A failed parse leaves a message the accessors refuse. */
  assert_int_equal(firn_stun_msg_parse(&m, buf, 10), FIRN_ERR_STUN_TRUNCATED);
  assert_int_equal(firn_stun_msg_find(&m, FIRN_STUN_ATTR_USERNAME, &v, &len), FIRN_ERR_INVALID_ARG);
}

static void test_type_and_phrases(void **state) {
  (void)state;
  static const uint16_t methods[] = {FIRN_STUN_BINDING, FIRN_STUN_ALLOCATE, FIRN_STUN_REFRESH,
                                     FIRN_STUN_SEND, FIRN_STUN_DATA, FIRN_STUN_CREATE_PERMISSION,
                                     FIRN_STUN_CHANNEL_BIND, FIRN_STUN_CONNECT,
                                     FIRN_STUN_CONNECTION_BIND, FIRN_STUN_CONNECTION_ATTEMPT, 0xfff};
  assert_int_equal(firn_stun_type(FIRN_STUN_BINDING, FIRN_STUN_REQUEST), 0x0001);
  assert_int_equal(firn_stun_type(FIRN_STUN_BINDING, FIRN_STUN_SUCCESS), 0x0101);
  assert_int_equal(firn_stun_type(FIRN_STUN_BINDING, FIRN_STUN_ERROR), 0x0111);
  assert_int_equal(firn_stun_type(FIRN_STUN_SEND, FIRN_STUN_INDICATION), 0x0016);
  assert_int_equal(firn_stun_type(FIRN_STUN_ALLOCATE, FIRN_STUN_ERROR), 0x0113);
  assert_int_equal(firn_stun_type(0xfff, FIRN_STUN_ERROR), 0x3fff);
  uint8_t buf[32];
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
    for (int c = 0; c < 4; c++) {
      firn_stun_builder b;
      firn_stun_builder_init(&b, buf, sizeof buf, methods[i], (firn_stun_class)c, TID);
      firn_stun_msg m;
      assert_int_equal(firn_stun_msg_parse(&m, buf, (size_t)firn_stun_builder_finish(&b)), 0);
      assert_int_equal(m.method, methods[i]);
      assert_int_equal(m.cls, c);
    }
  }
  assert_string_equal(firn_stun_reason_phrase(401), "Unauthorized");
  assert_string_equal(firn_stun_reason_phrase(420), "Unknown Attribute");
  assert_string_equal(firn_stun_reason_phrase(438), "Stale Nonce");
  assert_string_equal(firn_stun_reason_phrase(487), "Role Conflict");
  assert_non_null(firn_stun_reason_phrase(499));
  assert_non_null(firn_stun_reason_phrase(-1));
  /* A custom reason is used as given. */
  firn_stun_builder b;
  firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_ERROR, TID);
  firn_stun_add_error(&b, 699, "");
  firn_stun_msg m;
  assert_int_equal(firn_stun_msg_parse(&m, buf, (size_t)firn_stun_builder_finish(&b)), 0);
  int code;
  const char *s;
  size_t n;
  assert_int_equal(firn_stun_msg_get_error(&m, &code, &s, &n), 0);
  assert_int_equal(code, 699);
  assert_int_equal(n, 0);
}

/* The fast HMAC-SHA1 path against OpenSSL's HMAC() for every key length 0..64 and message
 * prefix lengths across SHA-1 block and padding boundaries. */
static void test_hmac_cross_check(void **state) {
  (void)state;
  uint8_t keyb[64], val[300], buf[512], mac[32];
  for (size_t i = 0; i < sizeof keyb; i++) keyb[i] = (uint8_t)(i * 7 + 3);
  for (size_t i = 0; i < sizeof val; i++) val[i] = (uint8_t)(i * 13 + 1);
  static const size_t klens[] = {0, 1, 2, 3, 4, 17, 20, 32, 55, 56, 63, 64};
  for (size_t ki = 0; ki < sizeof klens / sizeof klens[0]; ki++) {
    size_t klen = klens[ki];
    firn_stun_key *k = NULL;
    assert_int_equal(firn_stun_key_new_raw(&k, NULL, keyb, klen), 0);
    for (size_t dlen = 0; dlen <= 260; dlen += 4) {
      for (int sha256 = 0; sha256 < 2; sha256++) {
        firn_stun_builder b;
        firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, TID);
        if (dlen) firn_stun_add_raw(&b, FIRN_STUN_ATTR_DATA, val, dlen - 4);
        size_t prefix = b.len;
        if (sha256) firn_stun_add_integrity_sha256(&b, k);
        else firn_stun_add_integrity(&b, k);
        firn_ssize n = firn_stun_builder_finish(&b);
        assert_true(n > 0);
        /* The header already carries the length through the MAC attribute. */
        unsigned ml = 0;
        assert_non_null(HMAC(sha256 ? EVP_sha256() : EVP_sha1(), klen ? keyb : (const uint8_t *)"",
                             (int)klen, buf, prefix, mac, &ml));
        assert_memory_equal(buf + prefix + 4, mac, ml);
        firn_stun_msg m;
        assert_int_equal(firn_stun_msg_parse(&m, buf, (size_t)n), 0);
        assert_int_equal(firn_stun_msg_verify(&m, k), 0);
      }
    }
    firn_stun_key_free(k);
  }
  firn_stun_key *k = NULL;
  assert_int_equal(firn_stun_key_new_raw(&k, NULL, NULL, 3), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_stun_key_new_raw(NULL, NULL, keyb, 3), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_stun_key_new_long_term(&k, NULL, (firn_stun_password_alg)7, "u", 1, "r", 1,
                                               "p", 1), FIRN_ERR_INVALID_ARG);
  firn_stun_key_free(NULL);
}

/* Keys longer than the 64-byte block (ICE passwords may have up to 256 characters, RFC 8839
 * 5.4) are hashed first (RFC 2104 2): both HMACs against OpenSSL's HMAC() given the whole
 * key, for the raw and the short-term constructors, signing and verifying. */
static void test_long_keys(void **state) {
  (void)state;
  uint8_t keyb[300], val[100], buf[512], mac[32];
  for (size_t i = 0; i < sizeof keyb; i++) keyb[i] = (uint8_t)(i * 11 + 5);
  for (size_t i = 0; i < sizeof val; i++) val[i] = (uint8_t)(i * 3 + 1);
  static const size_t klens[] = {63, 64, 65, 100, 128, 129, 256, 300};
  for (size_t ki = 0; ki < sizeof klens / sizeof klens[0]; ki++) {
    size_t klen = klens[ki];
    for (int ctor = 0; ctor < 2; ctor++) {
      firn_stun_key *k = NULL;
      if (ctor) assert_int_equal(firn_stun_key_new_short_term(&k, NULL, (const char *)keyb, klen), 0);
      else assert_int_equal(firn_stun_key_new_raw(&k, NULL, keyb, klen), 0);
      for (int sha256 = 0; sha256 < 2; sha256++) {
        firn_stun_builder b;
        firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, TID);
        firn_stun_add_raw(&b, FIRN_STUN_ATTR_DATA, val, sizeof val);
        size_t prefix = b.len;
        if (sha256) firn_stun_add_integrity_sha256(&b, k);
        else firn_stun_add_integrity(&b, k);
        firn_ssize n = firn_stun_builder_finish(&b);
        assert_true(n > 0);
        unsigned ml = 0;
        assert_non_null(HMAC(sha256 ? EVP_sha256() : EVP_sha1(), keyb, (int)klen, buf, prefix, mac, &ml));
        assert_int_equal(ml, sha256 ? 32 : 20);
        assert_memory_equal(buf + prefix + 4, mac, ml);
        firn_stun_msg m;
        assert_int_equal(firn_stun_msg_parse(&m, buf, (size_t)n), 0);
        assert_int_equal(firn_stun_msg_verify(&m, k), 0);
      }
      firn_stun_key_free(k);
    }
  }
}

/* Keys allocate through the given allocator and report NOMEM when it fails. */
static int g_allocs, g_fail_at;
static void *count_malloc(size_t n, void *u) {
  (void)u;
  if (++g_allocs == g_fail_at) return NULL;
  return malloc(n);
}
static void *count_calloc(size_t a, size_t n, void *u) {
  (void)u;
  if (++g_allocs == g_fail_at) return NULL;
  return calloc(a, n);
}
static void count_free(void *p, void *u) {
  (void)u;
  free(p);
}

static void test_key_allocator(void **state) {
  (void)state;
  firn_allocator al = {count_malloc, count_calloc, NULL, count_free, NULL};
  firn_stun_key *k = NULL;
  g_allocs = 0;
  g_fail_at = -1;
  assert_int_equal(firn_stun_key_new_short_term(&k, &al, "pw", 2), 0);
  assert_int_equal(g_allocs, 1);
  firn_stun_key_free(k);
  g_allocs = 0;
  g_fail_at = 1;
  k = (firn_stun_key *)&al;
  assert_int_equal(firn_stun_key_new_long_term(&k, &al, FIRN_STUN_PASSWORD_ALG_SHA256, "u", 1, "r",
                                               1, "p", 1), FIRN_ERR_NOMEM);
  assert_null(k);
}

/* The builder never produces what the parser would refuse, and stays within the RFC 8489
 * encoding limits (USERNAME fewer than 509 bytes; REALM, NONCE, SOFTWARE and the reason
 * phrase at most 509 bytes; ALTERNATE-DOMAIN 255): one byte more is refused with
 * FIRN_ERR_STUN_ATTR_TOO_LONG, a message at exactly the limits parses. More than
 * FIRN_STUN_MAX_ATTRS attributes are refused too. */
static void test_parser_limits_enforced(void **state) {
  (void)state;
  static uint8_t buf[8192];
  static char text[1024];
  static const uint8_t tid12[FIRN_STUN_TID_SIZE] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  memset(text, 'x', sizeof text);
  assert_int_equal(FIRN_STUN_BUILD_MAX_USERNAME, 508);
  assert_int_equal(FIRN_STUN_BUILD_MAX_REALM, 509);
  assert_int_equal(FIRN_STUN_BUILD_MAX_NONCE, 509);
  assert_int_equal(FIRN_STUN_BUILD_MAX_SOFTWARE, 509);
  assert_int_equal(FIRN_STUN_BUILD_MAX_REASON, 509);
  const struct { uint16_t type; size_t max; } lim[] = {
      {FIRN_STUN_ATTR_USERNAME, 508}, {FIRN_STUN_ATTR_REALM, 509},
      {FIRN_STUN_ATTR_NONCE, 509}, {FIRN_STUN_ATTR_SOFTWARE, 509},
      {FIRN_STUN_ATTR_ALTERNATE_DOMAIN, 255}};
  for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++) {
    firn_stun_builder b;
    firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, tid12);
    firn_stun_add_string(&b, lim[i].type, text, lim[i].max);
    firn_ssize n = firn_stun_builder_finish(&b);
    assert_true(n > 0);
    firn_stun_msg m;
    assert_int_equal(firn_stun_msg_parse(&m, buf, (size_t)n), 0);
    firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, tid12);
    firn_stun_add_string(&b, lim[i].type, text, lim[i].max + 1);
    assert_int_equal(firn_stun_builder_finish(&b), FIRN_ERR_STUN_ATTR_TOO_LONG);
  }
  /* the reason phrase, through add_error and as a raw ERROR-CODE */
  text[509] = '\0';
  firn_stun_builder eb;
  firn_stun_builder_init(&eb, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_ERROR, tid12);
  firn_stun_add_error(&eb, 400, text);
  assert_true(firn_stun_builder_finish(&eb) > 0);
  text[509] = 'x';
  text[510] = '\0';
  firn_stun_builder_init(&eb, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_ERROR, tid12);
  firn_stun_add_error(&eb, 400, text);
  assert_int_equal(firn_stun_builder_finish(&eb), FIRN_ERR_STUN_ATTR_TOO_LONG);
  static uint8_t ev[4 + 600] = {0, 0, 4, 0};
  memset(ev + 4, 'y', 600);
  firn_stun_builder_init(&eb, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_ERROR, tid12);
  firn_stun_add_raw(&eb, FIRN_STUN_ATTR_ERROR_CODE, ev, 4 + 510);
  assert_int_equal(firn_stun_builder_finish(&eb), FIRN_ERR_STUN_ATTR_TOO_LONG);
  memset(text, 'x', sizeof text);
  firn_stun_builder b;
  firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, tid12);
  for (int i = 0; i < FIRN_STUN_MAX_ATTRS; i++) firn_stun_add_u32(&b, 0x8050, (uint32_t)i);
  firn_ssize n = firn_stun_builder_finish(&b);
  assert_true(n > 0);
  firn_stun_msg m;
  assert_int_equal(firn_stun_msg_parse(&m, buf, (size_t)n), 0);
  assert_int_equal(m.nattrs, FIRN_STUN_MAX_ATTRS);
  firn_stun_add_u32(&b, 0x8050, 99);
  assert_int_equal(firn_stun_builder_finish(&b), FIRN_ERR_STUN_TOO_MANY_ATTRS);
}

/* The builder runs the parser's value checks on everything it writes and fails with the
 * parser's code; MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT only come from their own adders.
 * Whatever finish() accepts, the parser accepts. */
static void test_builder_validates_values(void **state) {
  (void)state;
  uint8_t buf[512], zeros[32] = {0};
  firn_stun_key *k = NULL;
  assert_int_equal(firn_stun_key_new_short_term(&k, NULL, "pw", 2), 0);
  firn_addr a4;
  assert_int_equal(firn_addr_parse(&a4, "192.0.2.1:3478", 0), 0);
  static const uint8_t err_class9[4] = {0, 0, 9, 0}, err_num100[4] = {0, 0, 4, 100};
  static const uint8_t bad_family[8] = {0, 3, 0, 1, 1, 2, 3, 4};
  static const uint8_t algs_short[6] = {0, 1, 0, 4, 0, 0};
#define EXPECT(call, code)                                                                  \
  do {                                                                                      \
    firn_stun_builder b;                                                                    \
    firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, TID); \
    call;                                                                                   \
    firn_ssize n_ = firn_stun_builder_finish(&b);                                          \
    assert_int_equal(n_, code);                                                             \
  } while (0)
  /* fixed sizes, through the typed adders under the wrong type */
  EXPECT(firn_stun_add_u32(&b, FIRN_STUN_ATTR_ICE_CONTROLLING, 1), FIRN_ERR_STUN_BAD_ATTR);
  EXPECT(firn_stun_add_u64(&b, FIRN_STUN_ATTR_PRIORITY, 1), FIRN_ERR_STUN_BAD_ATTR);
  EXPECT(firn_stun_add_flag(&b, FIRN_STUN_ATTR_PRIORITY), FIRN_ERR_STUN_BAD_ATTR);
  EXPECT(firn_stun_add_flag(&b, FIRN_STUN_ATTR_LIFETIME), FIRN_ERR_STUN_BAD_ATTR);
  EXPECT(firn_stun_add_u32(&b, FIRN_STUN_ATTR_USE_CANDIDATE, 0), FIRN_ERR_STUN_BAD_ATTR);
  EXPECT(firn_stun_add_string(&b, FIRN_STUN_ATTR_USERHASH, "short", 5), FIRN_ERR_STUN_BAD_ATTR);
  EXPECT(firn_stun_add_addr(&b, FIRN_STUN_ATTR_PRIORITY, &a4), FIRN_ERR_STUN_BAD_ATTR);
  EXPECT(firn_stun_add_u32(&b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, 0), FIRN_ERR_STUN_BAD_ADDR_FAMILY);
  EXPECT(firn_stun_add_raw(&b, FIRN_STUN_ATTR_MAPPED_ADDRESS, bad_family, 8), FIRN_ERR_STUN_BAD_ADDR_FAMILY);
  EXPECT(firn_stun_add_raw(&b, FIRN_STUN_ATTR_ERROR_CODE, err_class9, 4), FIRN_ERR_STUN_BAD_ERROR_CODE);
  EXPECT(firn_stun_add_raw(&b, FIRN_STUN_ATTR_ERROR_CODE, err_num100, 4), FIRN_ERR_STUN_BAD_ERROR_CODE);
  EXPECT(firn_stun_add_raw(&b, FIRN_STUN_ATTR_ERROR_CODE, zeros, 2), FIRN_ERR_STUN_BAD_ERROR_CODE);
  EXPECT(firn_stun_add_raw(&b, FIRN_STUN_ATTR_PASSWORD_ALGORITHMS, algs_short, 6), FIRN_ERR_STUN_BAD_ATTR);
  EXPECT(firn_stun_add_raw(&b, FIRN_STUN_ATTR_UNKNOWN_ATTRIBUTES, zeros, 3), FIRN_ERR_STUN_BAD_ATTR);
  /* integrity and FINGERPRINT are computed, never copied in */
  EXPECT(firn_stun_add_raw(&b, FIRN_STUN_ATTR_MESSAGE_INTEGRITY, zeros, 20), FIRN_ERR_INVALID_ARG);
  EXPECT(firn_stun_add_raw(&b, FIRN_STUN_ATTR_MESSAGE_INTEGRITY_SHA256, zeros, 32), FIRN_ERR_INVALID_ARG);
  EXPECT(firn_stun_add_raw(&b, FIRN_STUN_ATTR_FINGERPRINT, zeros, 4), FIRN_ERR_INVALID_ARG);
  EXPECT(firn_stun_add_u32(&b, FIRN_STUN_ATTR_FINGERPRINT, 0), FIRN_ERR_INVALID_ARG);
  EXPECT((firn_stun_add_raw(&b, FIRN_STUN_ATTR_MESSAGE_INTEGRITY, zeros, 20), firn_stun_add_integrity(&b, k)),
         FIRN_ERR_INVALID_ARG);
  /* a refused attribute leaves nothing behind; well-formed values still build and parse */
  {
    firn_stun_builder b;
    firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, TID);
    firn_stun_add_u32(&b, FIRN_STUN_ATTR_PRIORITY, 7);
    size_t before = b.len;
    firn_stun_add_u64(&b, FIRN_STUN_ATTR_PRIORITY, 1);
    assert_int_equal(b.len, before);
    assert_int_equal(firn_get_u16(buf + 2), before - FIRN_STUN_HEADER_SIZE);
    assert_int_equal(firn_stun_builder_finish(&b), FIRN_ERR_STUN_BAD_ATTR);
    firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, TID);
    firn_stun_add_u32(&b, FIRN_STUN_ATTR_PRIORITY, 7);
    firn_stun_add_u64(&b, FIRN_STUN_ATTR_ICE_CONTROLLING, 1);
    firn_stun_add_flag(&b, FIRN_STUN_ATTR_USE_CANDIDATE);
    firn_stun_add_u32(&b, 0x7777, 1); /* unknown comprehension-required: parses, reported */
    firn_stun_add_integrity(&b, k);
    firn_stun_add_fingerprint(&b);
    firn_ssize n = firn_stun_builder_finish(&b);
    assert_true(n > 0);
    firn_stun_msg m;
    assert_int_equal(firn_stun_msg_parse(&m, buf, (size_t)n), 0);
    assert_int_equal(m.n_unknown, 1);
    assert_int_equal(firn_stun_msg_verify(&m, k), 0);
  }
#undef EXPECT
  firn_stun_key_free(k);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip_everything),
      cmocka_unit_test(test_padding),
      cmocka_unit_test(test_nobuf_every_size),
      cmocka_unit_test(test_order_rules),
      cmocka_unit_test(test_invalid_args),
      cmocka_unit_test(test_length_field_limit),
      cmocka_unit_test(test_accessor_errors),
      cmocka_unit_test(test_type_and_phrases),
      cmocka_unit_test(test_hmac_cross_check),
      cmocka_unit_test(test_long_keys),
      cmocka_unit_test(test_key_allocator),
      cmocka_unit_test(test_parser_limits_enforced),
      cmocka_unit_test(test_builder_validates_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
