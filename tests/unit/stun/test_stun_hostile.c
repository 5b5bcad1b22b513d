/* Hostile STUN input: every malformation a peer can send gets its specific error code, and
 * nothing reads outside the datagram (each input is parsed from a heap block of exactly its
 * length, so ASan flags any overread). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "firn/stun.h"
#include "common/bytes.h"

static const uint8_t TID[12] = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

/* RFC 5769 2.1 (short-term, MI + FINGERPRINT). */
static const uint8_t REQ[108] = {
    0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
    0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74,
    0x65, 0x73, 0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24, 0x00, 0x04, 0x6e,
    0x00, 0x01, 0xff, 0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
    0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76, 0x59, 0x20, 0x20,
    0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e,
    0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5,
    0x7a, 0x3b, 0xcf};
static const char PASSWORD[] = "VOkJxbRl1RmTxUk/WvJxBt";

/* Parse from a heap copy of exactly `len` bytes. The copy lives until the next call, so
 * `m` stays usable in between. */
static uint8_t *g_copy;

static int parse_exact(firn_stun_msg *m, const uint8_t *data, size_t len) {
  free(g_copy);
  g_copy = malloc(len ? len : 1);
  assert_non_null(g_copy);
  if (len) memcpy(g_copy, data, len);
  int rc = firn_stun_msg_parse(m, g_copy, len);
  int is = firn_stun_is_stun(g_copy, len);
  /* A message that parses is recognised as STUN by the demultiplexing test, unless its first
   * byte is past RFC 7983's STUN range (a method over 0xFF). */
  if (rc == 0) assert_int_equal(is, len && g_copy[0] <= 3);
  return rc;
}

static int parse_code(const uint8_t *data, size_t len) {
  firn_stun_msg m;
  return parse_exact(&m, data, len);
}

/* Hand-written wire bytes: a Binding request header, then attributes appended with
 * append_attr(). The builder refuses values the parser would refuse (that is its job), so
 * hostile messages are made here byte by byte. */
static size_t raw_header(uint8_t *buf) {
  firn_put_u16(buf, 0x0001);
  firn_put_u16(buf + 2, 0);
  firn_put_u32(buf + 4, FIRN_STUN_MAGIC_COOKIE);
  memcpy(buf + 8, TID, FIRN_STUN_TID_SIZE);
  return FIRN_STUN_HEADER_SIZE;
}

static size_t append_attr(uint8_t *buf, size_t len, size_t cap, uint16_t type, const void *value,
                          size_t vlen) {
  size_t padded = (vlen + 3) & ~(size_t)3;
  assert_true(len + 4 + padded <= cap && vlen <= 0xFFFF);
  firn_put_u16(buf + len, type);
  firn_put_u16(buf + len + 2, (uint16_t)vlen);
  if (vlen) memcpy(buf + len + 4, value, vlen);
  memset(buf + len + 4 + vlen, 0, padded - vlen);
  len += 4 + padded;
  firn_put_u16(buf + 2, (uint16_t)(len - FIRN_STUN_HEADER_SIZE));
  return len;
}

/* A Binding request holding one attribute with a raw value. */
static size_t one_attr(uint8_t *buf, size_t cap, uint16_t type, const void *value, size_t len) {
  return append_attr(buf, raw_header(buf), cap, type, value, len);
}

static int attr_code(uint16_t type, const void *value, size_t len) {
  uint8_t buf[2048];
  return parse_code(buf, one_attr(buf, sizeof buf, type, value, len));
}

/* ---------------------------------------------------------------------------------------- */

static void test_truncated_prefixes(void **state) {
  (void)state;
  assert_int_equal(parse_code(REQ, sizeof REQ), 0);
  for (size_t len = 0; len < sizeof REQ; len++) assert_int_equal(parse_code(REQ, len), FIRN_ERR_STUN_TRUNCATED);
  firn_stun_msg m;
  assert_int_equal(firn_stun_msg_parse(&m, NULL, 0), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_stun_msg_parse(NULL, REQ, sizeof REQ), FIRN_ERR_INVALID_ARG);
}

static void test_lengths(void **state) {
  (void)state;
  uint8_t b[sizeof REQ + 8];
  memcpy(b, REQ, sizeof REQ);
  /* Header length not a multiple of 4 (whatever the datagram). */
  for (unsigned d = 1; d < 4; d++) {
    firn_put_u16(b + 2, (uint16_t)(0x58 + d));
    assert_int_equal(parse_code(b, sizeof REQ), FIRN_ERR_STUN_BAD_LENGTH);
    assert_int_equal(parse_code(b, sizeof REQ + d), FIRN_ERR_STUN_BAD_LENGTH);
    assert_false(firn_stun_is_stun(b, sizeof REQ + d));
  }
  /* Header length larger than the datagram. */
  firn_put_u16(b + 2, 0x5c);
  assert_int_equal(parse_code(b, sizeof REQ), FIRN_ERR_STUN_TRUNCATED);
  firn_put_u16(b + 2, 0xFFFC);
  assert_int_equal(parse_code(b, sizeof REQ), FIRN_ERR_STUN_TRUNCATED);
  /* Header length smaller than the datagram. */
  firn_put_u16(b + 2, 0x54);
  assert_int_equal(parse_code(b, sizeof REQ), FIRN_ERR_STUN_BAD_LENGTH);
  firn_put_u16(b + 2, 0);
  assert_int_equal(parse_code(b, sizeof REQ), FIRN_ERR_STUN_BAD_LENGTH);
  /* Trailing bytes after a complete message, aligned or not. */
  memcpy(b, REQ, sizeof REQ);
  memset(b + sizeof REQ, 0, 8);
  for (size_t extra = 1; extra <= 8; extra++)
    assert_int_equal(parse_code(b, sizeof REQ + extra), FIRN_ERR_STUN_BAD_LENGTH);
  /* A datagram over the 65535-byte limit. */
  size_t big = FIRN_STUN_MAX_MESSAGE + 1;
  uint8_t *huge = calloc(1, big);
  assert_non_null(huge);
  memcpy(huge, REQ, 20);
  firn_put_u16(huge + 2, 0xFFFC);
  assert_int_equal(parse_code(huge, big), FIRN_ERR_STUN_BAD_LENGTH);
  free(huge);
}

static void test_header(void **state) {
  (void)state;
  uint8_t b[sizeof REQ];
  /* Top two bits set: RTP/RTCP/DTLS/ChannelData territory, not STUN. */
  for (int bit = 6; bit < 8; bit++) {
    memcpy(b, REQ, sizeof REQ);
    b[0] |= (uint8_t)(1u << bit);
    assert_int_equal(parse_code(b, sizeof b), FIRN_ERR_STUN_NOT_STUN);
    assert_false(firn_stun_is_stun(b, sizeof b));
  }
  /* Classic RFC 3489: a 128-bit transaction ID instead of the magic cookie. */
  static const uint8_t classic[20] = {0x00, 0x01, 0x00, 0x00, 0x5a, 0x3c, 0x11, 0x9e, 0x01, 0x02,
                                      0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c};
  assert_int_equal(parse_code(classic, sizeof classic), FIRN_ERR_STUN_RFC3489);
  assert_false(firn_stun_is_stun(classic, sizeof classic));
  /* RFC 7983: only first bytes 0..3 demultiplex as STUN; a method over 0xFF parses but is
   * not recognised by the demultiplexing test */
  for (unsigned first = 0; first < 0x40; first++) {
    memcpy(b, REQ, sizeof REQ);
    b[0] = (uint8_t)first;
    assert_int_equal(firn_stun_is_stun(b, sizeof b), first <= 3);
  }
  memcpy(b, REQ, sizeof REQ);
  b[7] ^= 1;
  assert_int_equal(parse_code(b, sizeof b), FIRN_ERR_STUN_RFC3489);
  /* No cookie and a first byte past RFC 7983's STUN range (0..3): not STUN, not RFC 3489. */
  for (int first = 4; first < 0x40; first += 9) {
    b[0] = (uint8_t)first;
    assert_int_equal(parse_code(b, sizeof b), FIRN_ERR_STUN_NOT_STUN);
  }
  b[0] = 0x03;
  assert_int_equal(parse_code(b, sizeof b), FIRN_ERR_STUN_RFC3489);
  /* A bare header is a valid, empty message. */
  uint8_t empty[20];
  memcpy(empty, REQ, 20);
  firn_put_u16(empty + 2, 0);
  firn_stun_msg m;
  assert_int_equal(parse_exact(&m, empty, 20), 0);
  assert_int_equal(m.nattrs, 0);
}

static void test_attr_overrun(void **state) {
  (void)state;
  uint8_t b[sizeof REQ];
  /* FINGERPRINT (last attribute) claiming 8 bytes. */
  memcpy(b, REQ, sizeof REQ);
  firn_put_u16(b + 102, 8);
  assert_int_equal(parse_code(b, sizeof b), FIRN_ERR_STUN_ATTR_OVERRUN);
  /* Length 5 needs 8 with padding: still past the end. */
  firn_put_u16(b + 102, 5);
  assert_int_equal(parse_code(b, sizeof b), FIRN_ERR_STUN_ATTR_OVERRUN);
  /* A middle attribute (SOFTWARE) claiming everything. */
  for (uint32_t l = 89; l <= 0xFFFF; l = l * 3 + 1) {
    memcpy(b, REQ, sizeof REQ);
    firn_put_u16(b + 22, (uint16_t)l);
    assert_int_equal(parse_code(b, sizeof b), FIRN_ERR_STUN_ATTR_OVERRUN);
  }
  /* A USERNAME whose padding would run one byte past the message. */
  uint8_t m2[28];
  memcpy(m2, REQ, 20);
  firn_put_u16(m2 + 2, 8);
  firn_put_u16(m2 + 20, FIRN_STUN_ATTR_USERNAME);
  firn_put_u16(m2 + 22, 5);
  memcpy(m2 + 24, "abcd", 4);
  assert_int_equal(parse_code(m2, sizeof m2), FIRN_ERR_STUN_ATTR_OVERRUN);
  firn_put_u16(m2 + 22, 4);
  assert_int_equal(parse_code(m2, sizeof m2), 0);
}

static void test_error_code(void **state) {
  (void)state;
  uint8_t v[800] = {0, 0, 4, 1};
  assert_int_equal(attr_code(FIRN_STUN_ATTR_ERROR_CODE, v, 4), 0);
  assert_int_equal(attr_code(FIRN_STUN_ATTR_ERROR_CODE, v, 0), FIRN_ERR_STUN_BAD_ERROR_CODE);
  assert_int_equal(attr_code(FIRN_STUN_ATTR_ERROR_CODE, v, 2), FIRN_ERR_STUN_BAD_ERROR_CODE);
  assert_int_equal(attr_code(FIRN_STUN_ATTR_ERROR_CODE, v, 3), FIRN_ERR_STUN_BAD_ERROR_CODE);
  for (int cls = 0; cls < 8; cls++) {
    v[2] = (uint8_t)cls;
    int want = (cls >= 3 && cls <= 6) ? 0 : FIRN_ERR_STUN_BAD_ERROR_CODE;
    assert_int_equal(attr_code(FIRN_STUN_ATTR_ERROR_CODE, v, 4), want);
  }
  v[2] = 4;
  v[3] = 99;
  assert_int_equal(attr_code(FIRN_STUN_ATTR_ERROR_CODE, v, 4), 0);
  v[3] = 100;
  assert_int_equal(attr_code(FIRN_STUN_ATTR_ERROR_CODE, v, 4), FIRN_ERR_STUN_BAD_ERROR_CODE);
  v[3] = 255;
  assert_int_equal(attr_code(FIRN_STUN_ATTR_ERROR_CODE, v, 4), FIRN_ERR_STUN_BAD_ERROR_CODE);
  /* Reason phrase: up to 763 bytes. */
  v[3] = 0;
  memset(v + 4, 'x', sizeof v - 4);
  assert_int_equal(attr_code(FIRN_STUN_ATTR_ERROR_CODE, v, 4 + 763), 0);
  assert_int_equal(attr_code(FIRN_STUN_ATTR_ERROR_CODE, v, 4 + 763 + 1),
                   FIRN_ERR_STUN_ATTR_TOO_LONG);
  /* ADDRESS-ERROR-CODE: family, then the same code rules. */
  uint8_t ae[8] = {0x01, 0, 4, 40, 'n', 'o', 'p', 'e'};
  assert_int_equal(attr_code(FIRN_STUN_ATTR_ADDRESS_ERROR_CODE, ae, 8), 0);
  assert_int_equal(attr_code(FIRN_STUN_ATTR_ADDRESS_ERROR_CODE, ae, 2), FIRN_ERR_STUN_BAD_ERROR_CODE);
  ae[2] = 7;
  assert_int_equal(attr_code(FIRN_STUN_ATTR_ADDRESS_ERROR_CODE, ae, 8), FIRN_ERR_STUN_BAD_ERROR_CODE);
  ae[2] = 4;
  ae[0] = 3;
  assert_int_equal(attr_code(FIRN_STUN_ATTR_ADDRESS_ERROR_CODE, ae, 8), FIRN_ERR_STUN_BAD_ADDR_FAMILY);
}

static void test_address_attrs(void **state) {
  (void)state;
  static const uint16_t types[] = {FIRN_STUN_ATTR_MAPPED_ADDRESS, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS,
                                   FIRN_STUN_ATTR_XOR_PEER_ADDRESS, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS,
                                   FIRN_STUN_ATTR_ALTERNATE_SERVER};
  uint8_t v[24] = {0};
  for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
    for (unsigned fam = 0; fam < 256; fam++) {
      v[1] = (uint8_t)fam;
      for (size_t len = 0; len <= 24; len++) {
        int ok = (fam == 1 && len == 8) || (fam == 2 && len == 20);
        assert_int_equal(attr_code(types[t], v, len), ok ? 0 : FIRN_ERR_STUN_BAD_ADDR_FAMILY);
      }
    }
  }
}

/* Fixed-size attributes: any other length is FIRN_ERR_STUN_BAD_ATTR. */
static void test_fixed_sizes(void **state) {
  (void)state;
  static const struct {
    uint16_t type;
    size_t len;
  } fixed[] = {
      {FIRN_STUN_ATTR_PRIORITY, 4},          {FIRN_STUN_ATTR_LIFETIME, 4},
      {FIRN_STUN_ATTR_ICE_CONTROLLING, 8},   {FIRN_STUN_ATTR_ICE_CONTROLLED, 8},
      {FIRN_STUN_ATTR_FINGERPRINT, 4},       {FIRN_STUN_ATTR_MESSAGE_INTEGRITY, 20},
      {FIRN_STUN_ATTR_USE_CANDIDATE, 0},     {FIRN_STUN_ATTR_CHANNEL_NUMBER, 4},
      {FIRN_STUN_ATTR_REQUESTED_TRANSPORT, 4}, {FIRN_STUN_ATTR_EVEN_PORT, 1},
      {FIRN_STUN_ATTR_RESERVATION_TOKEN, 8}, {FIRN_STUN_ATTR_DONT_FRAGMENT, 0},
      {FIRN_STUN_ATTR_CONNECTION_ID, 4},     {FIRN_STUN_ATTR_REQUESTED_ADDRESS_FAMILY, 4},
      {FIRN_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, 4}, {FIRN_STUN_ATTR_ICMP, 8},
      {FIRN_STUN_ATTR_USERHASH, 32},
  };
  uint8_t v[40] = {0x01};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
    for (size_t len = 0; len <= 36; len++) {
      int rc = attr_code(fixed[i].type, v, len);
      if (len == fixed[i].len) {
        /* a FINGERPRINT of zeros is well-formed but its CRC is wrong */
        assert_int_equal(rc, fixed[i].type == FIRN_STUN_ATTR_FINGERPRINT ? FIRN_ERR_STUN_BAD_FINGERPRINT : 0);
      } else {
        assert_int_equal(rc, FIRN_ERR_STUN_BAD_ATTR);
      }
    }
  }
  /* MESSAGE-INTEGRITY-SHA256: 16..32 bytes, multiple of 4. */
  for (size_t len = 0; len <= 40; len++) {
    int ok = len >= 16 && len <= 32 && len % 4 == 0;
    assert_int_equal(attr_code(FIRN_STUN_ATTR_MESSAGE_INTEGRITY_SHA256, v, len), ok ? 0 : FIRN_ERR_STUN_BAD_ATTR);
  }
  /* UNKNOWN-ATTRIBUTES: a list of 16-bit types. */
  assert_int_equal(attr_code(FIRN_STUN_ATTR_UNKNOWN_ATTRIBUTES, v, 3), FIRN_ERR_STUN_BAD_ATTR);
  assert_int_equal(attr_code(FIRN_STUN_ATTR_UNKNOWN_ATTRIBUTES, v, 6), 0);
  /* PASSWORD-ALGORITHM(S): {alg, param length, params} entries that must fit. */
  static const uint8_t algs_ok[] = {0, 1, 0, 0, 0, 2, 0, 3, 9, 9, 9, 0};
  static const uint8_t algs_bad[] = {0, 1, 0, 0, 0, 2, 0, 9, 9, 9, 9, 0};
  assert_int_equal(attr_code(FIRN_STUN_ATTR_PASSWORD_ALGORITHMS, algs_ok, sizeof algs_ok), 0);
  assert_int_equal(attr_code(FIRN_STUN_ATTR_PASSWORD_ALGORITHMS, algs_bad, sizeof algs_bad), FIRN_ERR_STUN_BAD_ATTR);
  assert_int_equal(attr_code(FIRN_STUN_ATTR_PASSWORD_ALGORITHMS, algs_ok, 6), FIRN_ERR_STUN_BAD_ATTR);
  assert_int_equal(attr_code(FIRN_STUN_ATTR_PASSWORD_ALGORITHMS, algs_ok, 0), FIRN_ERR_STUN_BAD_ATTR);
  assert_int_equal(attr_code(FIRN_STUN_ATTR_PASSWORD_ALGORITHM, algs_ok, 4), 0);
  assert_int_equal(attr_code(FIRN_STUN_ATTR_PASSWORD_ALGORITHM, algs_ok, 2), FIRN_ERR_STUN_BAD_ATTR);
  assert_int_equal(attr_code(FIRN_STUN_ATTR_PASSWORD_ALGORITHM, algs_bad + 4, 8), FIRN_ERR_STUN_BAD_ATTR);
  /* exactly one entry: trailing bytes after it are malformed; parameters may be padded */
  static const uint8_t alg_trailing[8] = {0, 2, 0, 0, 0xAA, 0xBB, 0xCC, 0xDD};
  static const uint8_t alg_param[8] = {0, 2, 0, 3, 0xAA, 0xBB, 0xCC, 0};
  assert_int_equal(attr_code(FIRN_STUN_ATTR_PASSWORD_ALGORITHM, alg_trailing, 8), FIRN_ERR_STUN_BAD_ATTR);
  assert_int_equal(attr_code(FIRN_STUN_ATTR_PASSWORD_ALGORITHM, alg_param, 7), 0);
  assert_int_equal(attr_code(FIRN_STUN_ATTR_PASSWORD_ALGORITHM, alg_param, 8), 0);
  assert_int_equal(attr_code(FIRN_STUN_ATTR_PASSWORD_ALGORITHM, alg_trailing, 5), FIRN_ERR_STUN_BAD_ATTR);
}

static void test_string_limits(void **state) {
  (void)state;
  /* RFC 8489 14.3/14.9/14.10/14.14: a receiver parses up to 763 bytes of each string
   * (USERNAME included: "MUST be able to parse ... 763 or fewer octets"). */
  static const struct {
    uint16_t type;
    size_t max;
  } lim[] = {
      {FIRN_STUN_ATTR_USERNAME, 763}, {FIRN_STUN_ATTR_REALM, 763},
      {FIRN_STUN_ATTR_NONCE, 763},    {FIRN_STUN_ATTR_SOFTWARE, 763},
      {FIRN_STUN_ATTR_ALTERNATE_DOMAIN, 255},
  };
  assert_int_equal(FIRN_STUN_PARSE_MAX_USERNAME, 763);
  assert_int_equal(FIRN_STUN_PARSE_MAX_REALM, 763);
  assert_int_equal(FIRN_STUN_PARSE_MAX_NONCE, 763);
  assert_int_equal(FIRN_STUN_PARSE_MAX_SOFTWARE, 763);
  assert_int_equal(FIRN_STUN_PARSE_MAX_REASON, 763);
  static uint8_t v[2000];
  memset(v, 'a', sizeof v);
  for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++) {
    assert_int_equal(attr_code(lim[i].type, v, lim[i].max), 0);
    assert_int_equal(attr_code(lim[i].type, v, lim[i].max + 1), FIRN_ERR_STUN_ATTR_TOO_LONG);
    assert_int_equal(attr_code(lim[i].type, v, sizeof v), FIRN_ERR_STUN_ATTR_TOO_LONG);
  }
}

static void test_fingerprint_rules(void **state) {
  (void)state;
  uint8_t b[sizeof REQ + 8];
  /* Bad CRC: every single-bit error in the CRC value is caught. */
  for (int bit = 0; bit < 32; bit++) {
    memcpy(b, REQ, sizeof REQ);
    b[104 + bit / 8] ^= (uint8_t)(1u << (bit % 8));
    assert_int_equal(parse_code(b, sizeof REQ), FIRN_ERR_STUN_BAD_FINGERPRINT);
  }
  /* An attribute after FINGERPRINT (header length fixed up to include it). */
  memcpy(b, REQ, sizeof REQ);
  firn_put_u16(b + 2, 0x58 + 8);
  firn_put_u16(b + 108, FIRN_STUN_ATTR_PRIORITY);
  firn_put_u16(b + 110, 4);
  memset(b + 112, 0, 4);
  assert_int_equal(parse_code(b, sizeof b), FIRN_ERR_STUN_AFTER_FINGERPRINT);
  /* ...even a second, correct-looking FINGERPRINT. */
  firn_put_u16(b + 108, FIRN_STUN_ATTR_FINGERPRINT);
  assert_int_equal(parse_code(b, sizeof b), FIRN_ERR_STUN_AFTER_FINGERPRINT);
}

static void test_too_many_attrs(void **state) {
  (void)state;
  static uint8_t buf[4096];
  for (size_t count = 60; count <= 400; count += (count < 70 ? 1 : 110)) {
    size_t n = raw_header(buf);
    for (size_t i = 0; i < count; i++) n = append_attr(buf, n, sizeof buf, (uint16_t)(0x8100 + i % 7), NULL, 0);
    firn_stun_msg m;
    int rc = parse_exact(&m, buf, n);
    if (count <= FIRN_STUN_MAX_ATTRS) {
      assert_int_equal(rc, 0);
      assert_int_equal(m.nattrs, count);
    } else {
      assert_int_equal(rc, FIRN_ERR_STUN_TOO_MANY_ATTRS);
    }
  }
}

/* Unknown comprehension-required attributes are collected (up to the cap), optional ones
 * are not, and neither fails parsing. */
static void test_unknown_attrs(void **state) {
  (void)state;
  uint8_t buf[1024];
  firn_stun_builder b;
  firn_stun_builder_init(&b, buf, sizeof buf, FIRN_STUN_BINDING, FIRN_STUN_REQUEST, TID);
  for (uint16_t t = 0x0100; t < 0x0100 + 20; t++) firn_stun_add_flag(&b, t);
  firn_stun_add_flag(&b, 0xC001);
  firn_stun_add_flag(&b, 0x0003); /* RFC 3489 CHANGE-REQUEST: unknown to an RFC 8489 stack */
  firn_ssize n = firn_stun_builder_finish(&b);
  assert_true(n > 0);
  firn_stun_msg m;
  assert_int_equal(parse_exact(&m, buf, (size_t)n), 0);
  assert_int_equal(m.n_unknown, FIRN_STUN_MAX_UNKNOWN);
  for (unsigned i = 0; i < FIRN_STUN_MAX_UNKNOWN; i++) assert_int_equal(m.unknown[i], 0x0100 + i);
  assert_int_equal(m.nattrs, 22);
}

/* Past MESSAGE-INTEGRITY only MI-SHA256 and FINGERPRINT count; the rest is skipped but
 * still bounds-checked. Past MI-SHA256 only FINGERPRINT counts. */
static void test_after_integrity(void **state) {
  (void)state;
  uint8_t buf[256];
  uint8_t mi[20] = {0}, bogus[2] = {1, 2};
  firn_stun_msg m;
  size_t n = raw_header(buf);
  n = append_attr(buf, n, sizeof buf, FIRN_STUN_ATTR_MESSAGE_INTEGRITY, mi, 20);
  n = append_attr(buf, n, sizeof buf, FIRN_STUN_ATTR_PRIORITY, bogus, 2); /* malformed, but ignored */
  n = append_attr(buf, n, sizeof buf, 0x0777, NULL, 0);                   /* unknown, but ignored */
  n = append_attr(buf, n, sizeof buf, FIRN_STUN_ATTR_USERNAME, "late", 4);
  n = append_attr(buf, n, sizeof buf, FIRN_STUN_ATTR_MESSAGE_INTEGRITY_SHA256, mi, 20);
  n = append_attr(buf, n, sizeof buf, FIRN_STUN_ATTR_REALM, "late", 4);
  n = append_attr(buf, n, sizeof buf, FIRN_STUN_ATTR_MESSAGE_INTEGRITY, mi, 20);
  assert_int_equal(parse_exact(&m, buf, n), 0);
  assert_int_equal(m.nattrs, 2);
  assert_int_equal(m.n_unknown, 0);
  assert_int_equal(m.mi_off, 20);
  assert_int_equal(m.mi256_off, 20 + 24 + 8 + 4 + 8);
  assert_false(firn_stun_msg_has(&m, FIRN_STUN_ATTR_PRIORITY));
  assert_false(firn_stun_msg_has(&m, FIRN_STUN_ATTR_USERNAME));
  assert_false(firn_stun_msg_has(&m, FIRN_STUN_ATTR_REALM));
  /* An ignored attribute that overruns the message is still an overrun. */
  firn_put_u16(buf + 20 + 24 + 2, 200);
  assert_int_equal(parse_exact(&m, buf, n), FIRN_ERR_STUN_ATTR_OVERRUN);
}

/* One flipped bit anywhere in an authenticated message: either the structure breaks (a
 * parse error) or integrity fails. Never success. */
static void test_integrity_bitflips(void **state) {
  (void)state;
  firn_stun_key *k = NULL;
  assert_int_equal(firn_stun_key_new_short_term(&k, NULL, PASSWORD, strlen(PASSWORD)), 0);
  /* RFC 5769 2.1 without FINGERPRINT, so flips are judged by MESSAGE-INTEGRITY alone. */
  uint8_t base[100], b[100];
  memcpy(base, REQ, 100);
  firn_put_u16(base + 2, 80);
  firn_stun_msg m;
  assert_int_equal(parse_exact(&m, base, 100), 0);
  assert_int_equal(firn_stun_msg_verify(&m, k), 0);
  unsigned bad_integrity = 0, parse_fail = 0;
  for (size_t bit = 0; bit < sizeof b * 8; bit++) {
    memcpy(b, base, sizeof b);
    b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    int rc = firn_stun_msg_parse(&m, b, sizeof b);
    if (rc) {
      parse_fail++;
      continue;
    }
    int v = firn_stun_msg_verify(&m, k);
    size_t byte = bit / 8;
    if (byte >= 76 && byte < 78) {
      /* the MI attribute's type: it stops being MESSAGE-INTEGRITY */
      assert_int_equal(v, FIRN_ERR_STUN_NO_INTEGRITY);
    } else {
      assert_int_equal(v, FIRN_ERR_STUN_BAD_INTEGRITY);
      bad_integrity++;
    }
  }
  /* Flips in the header length, the cookie, the top bits or an attribute's length break the
   * structure; everything else (type, transaction ID, values, padding, the MAC) is caught
   * by MESSAGE-INTEGRITY. */
  printf("integrity bit flips: %u BAD_INTEGRITY, %u parse errors of %zu\n", bad_integrity,
         parse_fail, sizeof b * 8);
  assert_true(bad_integrity > 600);
  firn_stun_key_free(k);
}

/* Calls every accessor: they must cope with whatever a successful parse exposes. */
static void poke_accessors(const firn_stun_msg *m) {
  firn_addr a;
  uint32_t u32;
  uint64_t u64;
  int code, r;
  const char *s;
  size_t n;
  uint16_t list[8];
  uint8_t u8, u8b;
  firn_family f;
  for (unsigned i = 0; i < m->nattrs; i++) {
    uint16_t t = firn_get_u16(m->data + m->attr_off[i]);
    (void)firn_stun_msg_get_u32(m, t, &u32);
    (void)firn_stun_msg_get_u64(m, t, &u64);
    (void)firn_stun_msg_get_addr(m, t, &a);
    (void)firn_stun_msg_get_xor_addr(m, t, 0, &a);
    (void)firn_stun_msg_get_string(m, t, &s, &n);
    (void)firn_stun_msg_get_family(m, t, &f);
  }
  (void)firn_stun_msg_get_error(m, &code, &s, &n);
  (void)firn_stun_msg_get_unknown_attrs(m, list, 8, &n);
  (void)firn_stun_msg_get_password_algs(m, list, 8, &n);
  (void)firn_stun_msg_get_channel(m, list);
  (void)firn_stun_msg_get_requested_transport(m, &u8);
  (void)firn_stun_msg_get_address_error(m, &f, &code, &s, &n);
  (void)firn_stun_msg_get_icmp(m, &u8, &u8b, &u32);
  (void)firn_stun_msg_get_even_port(m, &r);
}

static const char *code_name(int rc) {
  return rc == 0 ? "ok" : firn_strerror(rc);
}

/* Fuzz-ish: flip every bit of valid messages, then random multi-byte mutations from a
 * seeded generator; parse from exact-size heap blocks, verify and read everything that
 * parses. Must never crash or overread; the code histogram is printed. */
static void test_fuzzish(void **state) {
  (void)state;
  firn_stun_key *k = NULL;
  assert_int_equal(firn_stun_key_new_short_term(&k, NULL, PASSWORD, strlen(PASSWORD)), 0);
  int codes[32] = {0}, hist[32] = {0};
  size_t ncodes = 0;
  uint8_t b[sizeof REQ];
  firn_stun_msg m;
#define RECORD(rc_)                                                                        \
  do {                                                                                     \
    size_t i_;                                                                             \
    for (i_ = 0; i_ < ncodes && codes[i_] != (rc_); i_++) {                                \
    }                                                                                      \
    if (i_ == ncodes && ncodes < 32) codes[ncodes++] = (rc_);                              \
    if (i_ < 32) hist[i_]++;                                                               \
  } while (0)
  for (size_t bit = 0; bit < sizeof REQ * 8; bit++) {
    memcpy(b, REQ, sizeof REQ);
    b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    int rc = parse_exact(&m, b, sizeof b);
    RECORD(rc);
    if (rc == 0) {
      /* FINGERPRINT catches every flip it covers. A flip can only leave a well-formed
       * message by making FINGERPRINT disappear: its own type turned into an unknown
       * attribute, or an earlier length swallowing it (USERNAME 9 -> 41 ends exactly at
       * the end). The first is harmless: what MESSAGE-INTEGRITY covers is intact, and an
       * unknown attribute after it is ignored. The second no longer authenticates. */
      assert_int_equal(m.fp_off, 0);
      int v = firn_stun_msg_verify(&m, k);
      if (bit / 8 == 100 || bit / 8 == 101) assert_int_equal(v, 0);
      else assert_int_not_equal(v, 0);
      poke_accessors(&m);
    }
  }

  uint32_t seed = 0x5eed1234u;
  static uint8_t big[1500];
  for (int iter = 0; iter < 20000; iter++) {
    size_t len = sizeof REQ;
    memcpy(big, REQ, sizeof REQ);
    seed = seed * 1664525u + 1013904223u;
    int nmut = 1 + (int)((seed >> 24) % 6);
    for (int j = 0; j < nmut; j++) {
      seed = seed * 1664525u + 1013904223u;
      size_t pos = (seed >> 8) % len;
      big[pos] = (uint8_t)(seed >> 3);
    }
    /* Fix the header length and drop the FINGERPRINT half the time so deeper code runs. */
    seed = seed * 1664525u + 1013904223u;
    if (seed & 0x10000u) {
      len = 100;
      firn_put_u16(big + 2, 80);
      big[0] &= 0x3F;
      firn_put_u32(big + 4, FIRN_STUN_MAGIC_COOKIE);
    }
    int rc = parse_exact(&m, big, len);
    RECORD(rc);
    if (rc == 0) {
      (void)firn_stun_msg_verify(&m, k);
      poke_accessors(&m);
    }
  }
  for (size_t i = 0; i < ncodes; i++) printf("  %6d  %s\n", hist[i], code_name(codes[i]));
  firn_stun_key_free(k);
#undef RECORD
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_truncated_prefixes), cmocka_unit_test(test_lengths),
      cmocka_unit_test(test_header),             cmocka_unit_test(test_attr_overrun),
      cmocka_unit_test(test_error_code),         cmocka_unit_test(test_address_attrs),
      cmocka_unit_test(test_fixed_sizes),        cmocka_unit_test(test_string_limits),
      cmocka_unit_test(test_fingerprint_rules),  cmocka_unit_test(test_too_many_attrs),
      cmocka_unit_test(test_unknown_attrs),      cmocka_unit_test(test_after_integrity),
      cmocka_unit_test(test_integrity_bitflips), cmocka_unit_test(test_fuzzish),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  free(g_copy);
  return rc;
}
