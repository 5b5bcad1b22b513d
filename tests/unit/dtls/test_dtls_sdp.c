/* Fingerprint parse/format (RFC 8122), a=setup role mapping (RFC 5763/8842), RFC 7983
 * demultiplexing, SRTP profile names and the RFC 5764 key layout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "dtls/demux.h"
#include "dtls/dtls.h"

static void test_fingerprint_roundtrip(void **state) {
  (void)state;
  static const struct {
    firn_fingerprint_alg alg;
    size_t len;
  } algs[] = {{FIRN_FP_SHA1, 20}, {FIRN_FP_SHA224, 28}, {FIRN_FP_SHA256, 32},
              {FIRN_FP_SHA384, 48}, {FIRN_FP_SHA512, 64}};
  for (size_t k = 0; k < sizeof algs / sizeof algs[0]; k++) {
    firn_fingerprint fp = {.alg = algs[k].alg, .len = (uint8_t)algs[k].len};
    for (size_t i = 0; i < fp.len; i++) fp.bytes[i] = (uint8_t)(i * 37 + k * 11 + 0xa5);
    char buf[FIRN_DTLS_FINGERPRINT_STRLEN];
    int n = firn_fingerprint_format(&fp, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(buf));
    assert_int_equal((size_t)n, strlen(firn_fingerprint_alg_name(fp.alg)) + 1 + fp.len * 3 - 1);
    firn_fingerprint back;
    assert_int_equal(firn_fingerprint_parse(&back, buf, (size_t)n), FIRN_OK);
    assert_true(firn_fingerprint_equal(&fp, &back));
    /* lower-case hex and an upper-case hash name parse to the same value */
    for (char *p = buf; *p; p++) *p = (char)((*p >= 'A' && *p <= 'F') ? *p - 'A' + 'a' : *p);
    buf[0] = 'S', buf[1] = 'H', buf[2] = 'A';
    assert_int_equal(firn_fingerprint_parse(&back, buf, (size_t)n), FIRN_OK);
    assert_true(firn_fingerprint_equal(&fp, &back));
    /* one byte too small for the NUL */
    assert_int_equal(firn_fingerprint_format(&fp, buf, (size_t)n), FIRN_ERR_NOBUF);
  }
  /* the SHA-512 string needs exactly FIRN_DTLS_FINGERPRINT_STRLEN bytes */
  firn_fingerprint big = {.alg = FIRN_FP_SHA512, .len = 64};
  char buf[FIRN_DTLS_FINGERPRINT_STRLEN];
  assert_int_equal(firn_fingerprint_format(&big, buf, sizeof buf), FIRN_DTLS_FINGERPRINT_STRLEN - 1);
}

static void test_fingerprint_known_value(void **state) {
  (void)state;
  const char *s = "sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:3C:FA:FF:"
                  "2C:7E:B0:9D:61:F8:BE:28:8F\r\n";
  firn_fingerprint fp;
  assert_int_equal(firn_fingerprint_parse(&fp, s, strlen(s)), FIRN_OK);
  assert_int_equal(fp.alg, FIRN_FP_SHA256);
  assert_int_equal(fp.len, 32);
  assert_int_equal(fp.bytes[0], 0x4a);
  assert_int_equal(fp.bytes[31], 0x8f);
  char out[FIRN_DTLS_FINGERPRINT_STRLEN];
  assert_int_equal(firn_fingerprint_format(&fp, out, sizeof out), (int)strlen(s) - 2);
  assert_memory_equal(out, s, strlen(s) - 2);
  /* several blanks between name and value, and a tab */
  const char *t = "sha-1 \t 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33";
  assert_int_equal(firn_fingerprint_parse(&fp, t, strlen(t)), FIRN_OK);
  assert_int_equal(fp.alg, FIRN_FP_SHA1);
  /* equality is by algorithm and bytes */
  firn_fingerprint a = fp, b = fp;
  b.bytes[19] ^= 1;
  assert_false(firn_fingerprint_equal(&a, &b));
  b = fp;
  b.alg = FIRN_FP_SHA256;
  assert_false(firn_fingerprint_equal(&a, &b));
}

static void test_fingerprint_rejects(void **state) {
  (void)state;
  static const struct {
    const char *s;
    int err;
  } bad[] = {
      {"", FIRN_ERR_PARSE},
      {"sha-256", FIRN_ERR_PARSE},
      {"sha-256 ", FIRN_ERR_PARSE},
      {" sha-256 AB", FIRN_ERR_PARSE},
      {"md5 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF", FIRN_ERR_UNSUPPORTED},
      {"sha-3 AB:CD", FIRN_ERR_UNSUPPORTED},
      /* 19 bytes for sha-1 */
      {"sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22", FIRN_ERR_PARSE},
      /* 21 bytes for sha-1 */
      {"sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44", FIRN_ERR_PARSE},
      /* trailing colon */
      {"sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:", FIRN_ERR_PARSE},
      /* non-hex digit */
      {"sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FG:00:11:22:33", FIRN_ERR_PARSE},
      /* dash instead of colon */
      {"sha-1 00:11:22:33:44:55:66:77:88:99-AA:BB:CC:DD:EE:FF:00:11:22:33", FIRN_ERR_PARSE},
      /* no separators */
      {"sha-1 00112233445566778899AABBCCDDEEFF0011223300112233445566778", FIRN_ERR_PARSE},
      /* single-digit byte (shifts everything) */
      {"sha-1 0:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:4", FIRN_ERR_PARSE},
      /* space inside the value */
      {"sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22 33", FIRN_ERR_PARSE},
      {"sha\x01-1 00", FIRN_ERR_PARSE},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    firn_fingerprint fp = {.alg = FIRN_FP_SHA1, .len = 1};
    int rc = firn_fingerprint_parse(&fp, bad[i].s, strlen(bad[i].s));
    if (rc != bad[i].err) fail_msg("input %zu \"%s\": got %d want %d", i, bad[i].s, rc, bad[i].err);
    assert_int_equal(fp.len, 1); /* untouched on failure */
  }
  firn_fingerprint fp;
  assert_int_equal(firn_fingerprint_parse(NULL, "x", 1), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_fingerprint_parse(&fp, NULL, 1), FIRN_ERR_INVALID_ARG);
  /* a length that stops before the end of a valid string */
  const char *ok = "sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33";
  assert_int_equal(firn_fingerprint_parse(&fp, ok, strlen(ok) - 1), FIRN_ERR_PARSE);
  /* formatting garbage is refused */
  firn_fingerprint junk = {.alg = 99, .len = 32};
  char buf[FIRN_DTLS_FINGERPRINT_STRLEN];
  assert_int_equal(firn_fingerprint_format(&junk, buf, sizeof buf), FIRN_ERR_INVALID_ARG);
  junk.alg = FIRN_FP_SHA256;
  junk.len = 20;
  assert_int_equal(firn_fingerprint_format(&junk, buf, sizeof buf), FIRN_ERR_INVALID_ARG);
}

static void test_setup_roles(void **state) {
  (void)state;
  /* local, remote -> role (or error) */
  static const struct {
    firn_dtls_setup local, remote;
    int rc;
    firn_dtls_role role;
  } table[] = {
      {FIRN_SETUP_ACTIVE, FIRN_SETUP_PASSIVE, FIRN_OK, FIRN_DTLS_CLIENT},
      {FIRN_SETUP_ACTIVE, FIRN_SETUP_ACTPASS, FIRN_OK, FIRN_DTLS_CLIENT},
      {FIRN_SETUP_PASSIVE, FIRN_SETUP_ACTIVE, FIRN_OK, FIRN_DTLS_SERVER},
      {FIRN_SETUP_PASSIVE, FIRN_SETUP_ACTPASS, FIRN_OK, FIRN_DTLS_SERVER},
      {FIRN_SETUP_ACTPASS, FIRN_SETUP_ACTIVE, FIRN_OK, FIRN_DTLS_SERVER},
      {FIRN_SETUP_ACTPASS, FIRN_SETUP_PASSIVE, FIRN_OK, FIRN_DTLS_CLIENT},
      {FIRN_SETUP_ACTPASS, FIRN_SETUP_ACTPASS, FIRN_ERR_PARSE, 0},
      {FIRN_SETUP_ACTIVE, FIRN_SETUP_ACTIVE, FIRN_ERR_PARSE, 0},
      {FIRN_SETUP_PASSIVE, FIRN_SETUP_PASSIVE, FIRN_ERR_PARSE, 0},
      {FIRN_SETUP_HOLDCONN, FIRN_SETUP_ACTIVE, FIRN_ERR_UNSUPPORTED, 0},
      {FIRN_SETUP_ACTPASS, FIRN_SETUP_HOLDCONN, FIRN_ERR_UNSUPPORTED, 0},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    firn_dtls_role role = (firn_dtls_role)7;
    assert_int_equal(firn_dtls_role_from_setup(table[i].local, table[i].remote, &role), table[i].rc);
    if (table[i].rc == FIRN_OK) {
      assert_int_equal(role, table[i].role);
      /* the other side, with the values swapped, gets the other role */
      firn_dtls_role peer;
      assert_int_equal(firn_dtls_role_from_setup(table[i].remote, table[i].local, &peer), FIRN_OK);
      assert_int_not_equal(peer, role);
    }
  }
  /* offer -> answer -> roles on both sides are complementary */
  for (int o = FIRN_SETUP_ACTPASS; o <= FIRN_SETUP_PASSIVE; o++) {
    firn_dtls_setup ans;
    assert_int_equal(firn_dtls_setup_answer((firn_dtls_setup)o, &ans), FIRN_OK);
    firn_dtls_role offerer, answerer;
    assert_int_equal(firn_dtls_role_from_setup((firn_dtls_setup)o, ans, &offerer), FIRN_OK);
    assert_int_equal(firn_dtls_role_from_setup(ans, (firn_dtls_setup)o, &answerer), FIRN_OK);
    assert_int_not_equal(offerer, answerer);
  }
  firn_dtls_setup ans;
  assert_int_equal(firn_dtls_setup_answer(FIRN_SETUP_ACTPASS, &ans), FIRN_OK);
  assert_int_equal(ans, FIRN_SETUP_ACTIVE); /* RFC 8842: the answerer SHOULD be active */
  assert_int_equal(firn_dtls_setup_answer(FIRN_SETUP_HOLDCONN, &ans), FIRN_ERR_UNSUPPORTED);
  firn_dtls_role r;
  assert_int_equal(firn_dtls_role_from_setup(9, FIRN_SETUP_ACTIVE, &r), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_dtls_role_from_setup(FIRN_SETUP_ACTIVE, FIRN_SETUP_PASSIVE, NULL),
                   FIRN_ERR_INVALID_ARG);
}

static void test_setup_parse(void **state) {
  (void)state;
  const char *names[] = {"actpass", "active", "passive", "holdconn"};
  for (int i = 0; i < 4; i++) {
    firn_dtls_setup s;
    assert_int_equal(firn_dtls_setup_parse(names[i], strlen(names[i]), &s), FIRN_OK);
    assert_int_equal(s, i);
    assert_string_equal(firn_dtls_setup_name(s), names[i]);
  }
  firn_dtls_setup s;
  assert_int_equal(firn_dtls_setup_parse("ACTPASS", 7, &s), FIRN_OK);
  assert_int_equal(s, FIRN_SETUP_ACTPASS);
  assert_int_equal(firn_dtls_setup_parse("act", 3, &s), FIRN_ERR_PARSE);
  assert_int_equal(firn_dtls_setup_parse("actives", 7, &s), FIRN_ERR_PARSE);
  assert_int_equal(firn_dtls_setup_parse("activex", 6, &s), FIRN_OK); /* length-bounded */
  assert_int_equal(firn_dtls_setup_parse("", 0, &s), FIRN_ERR_PARSE);
  assert_null(firn_dtls_setup_name(4));
}

static void test_demux(void **state) {
  (void)state;
  for (int b = 0; b < 256; b++) {
    uint8_t p[2] = {(uint8_t)b, 0};
    firn_demux_kind want;
    if (b <= 3) want = FIRN_DEMUX_STUN;
    else if (b >= 16 && b <= 19) want = FIRN_DEMUX_ZRTP;
    else if (b >= 20 && b <= 63) want = FIRN_DEMUX_DTLS;
    else if (b >= 64 && b <= 79) want = FIRN_DEMUX_TURN_CHANNEL;
    else if (b >= 128 && b <= 191) want = FIRN_DEMUX_RTP;
    else want = FIRN_DEMUX_UNKNOWN;
    assert_int_equal(firn_demux_classify(p, 2), want);
  }
  /* boundaries, spelled out */
  const uint8_t stun[] = {0x01, 0x01}, dtls[] = {22, 0xfe}, chan[] = {0x40, 0x00},
                rtp[] = {0x80, 0x00}, rtp_m[] = {0x80, 0xe0}, rtcp_sr[] = {0x80, 200},
                rtcp_lo[] = {0x81, 192}, rtcp_hi[] = {0xbf, 223}, rtp_224[] = {0x80, 224},
                rtp_191[] = {0x80, 191};
  assert_int_equal(firn_demux_classify(stun, 2), FIRN_DEMUX_STUN);
  assert_int_equal(firn_demux_classify(dtls, 2), FIRN_DEMUX_DTLS);
  assert_int_equal(firn_demux_classify(chan, 2), FIRN_DEMUX_TURN_CHANNEL);
  assert_int_equal(firn_demux_classify(rtp, 2), FIRN_DEMUX_RTP);
  assert_int_equal(firn_demux_classify(rtp_m, 2), FIRN_DEMUX_RTP); /* PT 96 + marker */
  assert_int_equal(firn_demux_classify(rtcp_sr, 2), FIRN_DEMUX_RTCP);
  assert_int_equal(firn_demux_classify(rtcp_lo, 2), FIRN_DEMUX_RTCP);
  assert_int_equal(firn_demux_classify(rtcp_hi, 2), FIRN_DEMUX_RTCP);
  assert_int_equal(firn_demux_classify(rtp_224, 2), FIRN_DEMUX_RTP);
  assert_int_equal(firn_demux_classify(rtp_191, 2), FIRN_DEMUX_RTP);
  assert_int_equal(firn_demux_classify(rtp, 1), FIRN_DEMUX_UNKNOWN);
  assert_int_equal(firn_demux_classify(stun, 0), FIRN_DEMUX_UNKNOWN);
  assert_int_equal(firn_demux_classify(NULL, 5), FIRN_DEMUX_UNKNOWN);
}

static void test_profile_names(void **state) {
  (void)state;
  const firn_srtp_profile all[] = {FIRN_SRTP_AES128_CM_SHA1_80, FIRN_SRTP_AES128_CM_SHA1_32,
                                   FIRN_SRTP_AEAD_AES_128_GCM, FIRN_SRTP_AEAD_AES_256_GCM};
  for (size_t i = 0; i < 4; i++) {
    const char *n = firn_srtp_profile_name(all[i]);
    assert_non_null(n);
    firn_srtp_profile back;
    assert_int_equal(firn_srtp_profile_from_name(n, &back), FIRN_OK);
    assert_int_equal(back, all[i]);
  }
  assert_string_equal(firn_srtp_profile_name(FIRN_SRTP_AES128_CM_SHA1_80), "SRTP_AES128_CM_SHA1_80");
  assert_string_equal(firn_srtp_profile_name(FIRN_SRTP_AEAD_AES_256_GCM), "SRTP_AEAD_AES_256_GCM");
  assert_string_equal(firn_srtp_profile_name(FIRN_SRTP_NONE), "none");
  assert_null(firn_srtp_profile_name(3));
  firn_srtp_profile p;
  assert_int_equal(firn_srtp_profile_from_name("SRTP_NULL_SHA1_80", &p), FIRN_ERR_NOT_FOUND);
  size_t k, s;
  assert_int_equal(firn_srtp_profile_lengths(FIRN_SRTP_AEAD_AES_256_GCM, &k, &s), FIRN_OK);
  assert_int_equal(k, 32);
  assert_int_equal(s, 12);
  assert_int_equal(firn_srtp_profile_lengths(FIRN_SRTP_AES128_CM_SHA1_32, &k, &s), FIRN_OK);
  assert_int_equal(k, 16);
  assert_int_equal(s, 14);
  assert_int_equal(firn_srtp_profile_lengths(FIRN_SRTP_NONE, &k, &s), FIRN_ERR_UNSUPPORTED);
  assert_string_equal(firn_fingerprint_alg_name(FIRN_FP_SHA256), "sha-256");
  assert_null(firn_fingerprint_alg_name(0));
}

/* RFC 5764 section 4.2: client_key | server_key | client_salt | server_salt. */
static void test_key_layout(void **state) {
  (void)state;
  uint8_t m[2 * (16 + 14)];
  for (size_t i = 0; i < sizeof m; i++) m[i] = (uint8_t)i;
  firn_srtp_keys c, s;
  assert_int_equal(firn_srtp_keys_from_material(&c, FIRN_SRTP_AES128_CM_SHA1_80, FIRN_DTLS_CLIENT,
                                                m, sizeof m), FIRN_OK);
  assert_int_equal(firn_srtp_keys_from_material(&s, FIRN_SRTP_AES128_CM_SHA1_80, FIRN_DTLS_SERVER,
                                                m, sizeof m), FIRN_OK);
  assert_int_equal(c.local_key[0], 0);   /* client key */
  assert_int_equal(c.remote_key[0], 16); /* server key */
  assert_int_equal(c.local_salt[0], 32); /* client salt */
  assert_int_equal(c.remote_salt[13], 59);
  assert_memory_equal(c.local_key, s.remote_key, 16);
  assert_memory_equal(c.remote_key, s.local_key, 16);
  assert_memory_equal(c.local_salt, s.remote_salt, 14);
  assert_memory_equal(c.remote_salt, s.local_salt, 14);
  assert_int_equal(firn_srtp_keys_from_material(&c, FIRN_SRTP_AES128_CM_SHA1_80, FIRN_DTLS_CLIENT,
                                                m, sizeof m - 1), FIRN_ERR_INVALID_ARG);
  uint8_t g[2 * (32 + 12)] = {0};
  g[64] = 0xaa; /* first byte of the client salt for AES-256-GCM */
  assert_int_equal(firn_srtp_keys_from_material(&c, FIRN_SRTP_AEAD_AES_256_GCM, FIRN_DTLS_CLIENT,
                                                g, sizeof g), FIRN_OK);
  assert_int_equal(c.local_salt[0], 0xaa);
  firn_srtp_keys_wipe(&c);
  static const firn_srtp_keys zero;
  assert_memory_equal(&c, &zero, sizeof c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fingerprint_roundtrip), cmocka_unit_test(test_fingerprint_known_value),
      cmocka_unit_test(test_fingerprint_rejects),   cmocka_unit_test(test_setup_roles),
      cmocka_unit_test(test_setup_parse),           cmocka_unit_test(test_demux),
      cmocka_unit_test(test_profile_names),         cmocka_unit_test(test_key_layout),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
