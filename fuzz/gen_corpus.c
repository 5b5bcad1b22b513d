/*
 * Writes the STUN seed corpus: the RFC 5769 and RFC 8489 test vectors, messages made with
 * the firn builder covering the ICE and TURN exchanges a client and server really send, and
 * a handful of malformed messages. Output is deterministic (fixed transaction IDs and
 * values), so regenerating gives the same files; the result is committed in
 * fuzz/corpus/stun/ and the generator is not run by the tests.
 *
 * Every valid message is parsed back and every malformed one must be rejected; a surprise is
 * reported and makes the exit status 1 (the files are written anyway).
 *
 * It also writes seed programs for fuzz_stun_client (fuzz/corpus/stun_client/): ICE and TCP
 * transactions answered, 401 -> retry -> success with MD5 and SHA-256 keys, 438, a repeated
 * 401, a bid-down attempt, retransmission and timeout, a full table, cancel and free from the
 * callback, and allocation failures at each of the first allocations.
 *
 * Usage: gen_corpus CORPUS_DIR     (e.g. build-x/fuzz/gen_corpus fuzz/corpus)
 */
#include "fuzz.h"

#include "firn/stun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *g_dir;
static int g_surprises;
static unsigned g_seq;
static firn_stun_key *g_short, *g_lt_md5, *g_lt_sha;

#define ICE_USERNAME "abcd:efgh"
#define NONCE "obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA"

/* ---------------------------------------------------------------------------------------- */

static void write_file_in(const char *sub, const char *name, const uint8_t *data, size_t len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s/%s.bin", g_dir, sub, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
    perror(path);
    exit(2);
  }
}

static void write_file(const char *name, const uint8_t *data, size_t len) {
  write_file_in("stun", name, data, len);
}

/* Write a message that must parse. */
static void emit_valid(const char *name, const uint8_t *data, size_t len) {
  firn_stun_msg m;
  int rc = firn_stun_msg_parse(&m, data, len);
  if (rc != 0) {
    fprintf(stderr, "gen_corpus: %s: valid message rejected: %s\n", name, firn_strerror(rc));
    g_surprises++;
  }
  write_file(name, data, len);
}

/* Write a message that must be rejected. */
static void emit_invalid(const char *name, const uint8_t *data, size_t len) {
  firn_stun_msg m;
  if (firn_stun_msg_parse(&m, data, len) == 0) {
    fprintf(stderr, "gen_corpus: %s: malformed message accepted\n", name);
    g_surprises++;
  }
  write_file(name, data, len);
}

static void next_tid(uint8_t tid[FIRN_STUN_TID_SIZE]) {
  g_seq++;
  for (unsigned i = 0; i < FIRN_STUN_TID_SIZE; i++)
    tid[i] = (uint8_t)(g_seq * 29u + i * 7u + 1u);
}

/* Builder helpers: one message per call of begin() ... end(). */
static uint8_t g_buf[4096];
static firn_stun_builder g_b;

static firn_stun_builder *begin(uint16_t method, firn_stun_class cls) {
  uint8_t tid[FIRN_STUN_TID_SIZE];
  next_tid(tid);
  firn_stun_builder_init(&g_b, g_buf, sizeof g_buf, method, cls, tid);
  return &g_b;
}

static size_t end(const char *name) {
  firn_ssize n = firn_stun_builder_finish(&g_b);
  if (n < 0) {
    fprintf(stderr, "gen_corpus: %s: builder failed: %s\n", name, firn_strerror((int)n));
    g_surprises++;
    return 0;
  }
  emit_valid(name, g_buf, (size_t)n);
  return (size_t)n;
}

static firn_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
  firn_addr x;
  const uint8_t ip[4] = {a, b, c, d};
  firn_addr_set_ipv4(&x, ip, port);
  return x;
}

static firn_addr v6(const char *text) {
  firn_addr x;
  if (firn_addr_parse(&x, text, 0) != 0) {
    fprintf(stderr, "gen_corpus: cannot parse %s\n", text);
    exit(2);
  }
  return x;
}

static void add_str(firn_stun_builder *b, uint16_t type, const char *s) {
  firn_stun_add_string(b, type, s, strlen(s));
}

static void short_term_creds(firn_stun_builder *b) {
  add_str(b, FIRN_STUN_ATTR_USERNAME, ICE_USERNAME);
}

static void long_term_creds(firn_stun_builder *b) {
  add_str(b, FIRN_STUN_ATTR_USERNAME, FUZZ_LT_USERNAME);
  add_str(b, FIRN_STUN_ATTR_REALM, FUZZ_LT_REALM);
  add_str(b, FIRN_STUN_ATTR_NONCE, NONCE);
}

static void sign_lt(firn_stun_builder *b) {
  firn_stun_add_integrity(b, g_lt_md5);
  firn_stun_add_fingerprint(b);
}

static void sign_st(firn_stun_builder *b) {
  firn_stun_add_integrity(b, g_short);
  firn_stun_add_fingerprint(b);
}

/* ---------------------------------------------------------------------------------------- */
/* Hand-assembled messages, for the malformed seeds the builder (rightly) refuses to make.    */

typedef struct raw_msg {
  uint8_t buf[4096];
  size_t len;
} raw_msg;

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v) {
  put16(p, (uint16_t)(v >> 16));
  put16(p + 2, (uint16_t)v);
}

static void raw_begin(raw_msg *r, uint16_t type) {
  uint8_t tid[FIRN_STUN_TID_SIZE];
  next_tid(tid);
  memset(r->buf, 0, sizeof r->buf);
  put16(r->buf, type);
  put32(r->buf + 4, FIRN_STUN_MAGIC_COOKIE);
  memcpy(r->buf + 8, tid, FIRN_STUN_TID_SIZE);
  r->len = FIRN_STUN_HEADER_SIZE;
}

/* An attribute with `len` in its header but `vlen` value bytes (plus padding) written. */
static void raw_attr_len(raw_msg *r, uint16_t type, uint16_t len, const void *value, size_t vlen) {
  put16(r->buf + r->len, type);
  put16(r->buf + r->len + 2, len);
  memcpy(r->buf + r->len + 4, value, vlen);
  r->len += 4 + ((vlen + 3) & ~(size_t)3);
}

static void raw_attr(raw_msg *r, uint16_t type, const void *value, size_t len) {
  raw_attr_len(r, type, (uint16_t)len, value, len);
}

/* Set the header length from the content, optionally append a correct FINGERPRINT. */
static void raw_finish(raw_msg *r, int fingerprint) {
  if (fingerprint) {
    put16(r->buf + 2, (uint16_t)(r->len + 8 - FIRN_STUN_HEADER_SIZE));
    uint32_t crc = firn_stun_fingerprint(r->buf, r->len);
    uint8_t v[4];
    put32(v, crc);
    raw_attr(r, FIRN_STUN_ATTR_FINGERPRINT, v, 4);
  }
  put16(r->buf + 2, (uint16_t)(r->len - FIRN_STUN_HEADER_SIZE));
}

/* ---------------------------------------------------------------------------------------- */
/* RFC test vectors                                                                          */

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

static void emit_hex(const char *name, const char *hex) {
  uint8_t out[512];
  size_t n = 0;
  for (const char *p = hex; *p;) {
    if (*p == ' ') {
      p++;
      continue;
    }
    int hi = hex_value(p[0]), lo = hex_value(p[1]);
    if (hi < 0 || lo < 0 || n == sizeof out) {
      fprintf(stderr, "gen_corpus: bad hex in %s\n", name);
      exit(2);
    }
    out[n++] = (uint8_t)(hi * 16 + lo);
    p += 2;
  }
  emit_valid(name, out, n);
}

static void rfc_vectors(void) {
  /* RFC 5769 2.1: Sample Request (short-term, SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME,
   * MESSAGE-INTEGRITY, FINGERPRINT; USERNAME padded with spaces). */
  emit_hex("rfc5769-2.1-request",
           "00010058 2112a442 b7e7a701 bc34d686 fa87dfae"
           "80220010 5354554e 20746573 7420636c 69656e74"
           "00240004 6e0001ff"
           "80290008 932ff9b1 51263b36"
           "00060009 6576746a 3a683676 59202020"
           "00080014 9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2"
           "80280004 e57a3bcf");
  /* RFC 5769 2.2: Sample IPv4 Response (192.0.2.1:32853). */
  emit_hex("rfc5769-2.2-ipv4-response",
           "0101003c 2112a442 b7e7a701 bc34d686 fa87dfae"
           "8022000b 74657374 20766563 746f7220"
           "00200008 0001a147 e112a643"
           "00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7"
           "80280004 c07d4c96");
  /* RFC 5769 2.3: Sample IPv6 Response ([2001:db8:1234:5678:11:2233:4455:6677]:32853). */
  emit_hex("rfc5769-2.3-ipv6-response",
           "01010048 2112a442 b7e7a701 bc34d686 fa87dfae"
           "8022000b 74657374 20766563 746f7220"
           "00200014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9"
           "00080014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41"
           "80280004 c8fb0b4c");
  /* RFC 5769 2.4: Sample Request with Long-Term Authentication. */
  emit_hex("rfc5769-2.4-long-term-request",
           "00010060 2112a442 78ad3433 c6ad72c0 29da412e"
           "00060012 e3839ee3 8388e383 aae38383 e382afe3 82b90000"
           "0015001c 662f2f34 39396b39 35346436 4f4c3334 6f4c3946 53547679 36347341"
           "0014000b 6578616d 706c652e 6f726700"
           "00080014 f6702465 6dd64a3e 02b8e071 2e85c9a2 8ca89666");
  /* RFC 8489 B.1: Long-Term Authentication with MESSAGE-INTEGRITY-SHA256, PASSWORD-ALGORITHM
   * and USERHASH. */
  emit_hex("rfc8489-b1-sha256-request",
           "00010090 2112a442 78ad3433 c6ad72c0 29da412e"
           "001e0020 4a3cf38f ef6992bd a952c678 0417da0f 24819415 569e60b2 05c46e41 407f1704"
           "00150029 6f624d61 744a6f73 32414141 43662f2f 3439396b 39353464 364f4c33 346f4c39"
           "46535476 79363473 41000000"
           "0014000b 6578616d 706c652e 6f726700"
           "001d0004 00020000"
           "001c0020 b5c7bf00 5b6c52a2 1c51c5e8 92f81924 136296cb 927c4314 9309278c c6518e65");
}

/* ---------------------------------------------------------------------------------------- */
/* ICE                                                                                       */

static void ice_messages(void) {
  firn_stun_builder *b;
  firn_addr host4 = v4(192, 168, 1, 20, 50000);
  firn_addr srflx6 = v6("[2001:db8:85a3::8a2e:370:7334]:61000");

  b = begin(FIRN_STUN_BINDING, FIRN_STUN_REQUEST);
  short_term_creds(b);
  firn_stun_add_u32(b, FIRN_STUN_ATTR_PRIORITY, 0x6e7f1eff);
  firn_stun_add_u64(b, FIRN_STUN_ATTR_ICE_CONTROLLING, UINT64_C(0x932ff9b151263b36));
  firn_stun_add_flag(b, FIRN_STUN_ATTR_USE_CANDIDATE);
  sign_st(b);
  end("ice-binding-request-controlling-nominate");

  b = begin(FIRN_STUN_BINDING, FIRN_STUN_REQUEST);
  short_term_creds(b);
  firn_stun_add_u32(b, FIRN_STUN_ATTR_PRIORITY, 0x7e7f00ff);
  firn_stun_add_u64(b, FIRN_STUN_ATTR_ICE_CONTROLLED, UINT64_C(0x0123456789abcdef));
  sign_st(b);
  end("ice-binding-request-controlled");

  b = begin(FIRN_STUN_BINDING, FIRN_STUN_REQUEST);
  add_str(b, FIRN_STUN_ATTR_SOFTWARE, "firn 0.1.0");
  short_term_creds(b);
  firn_stun_add_u32(b, FIRN_STUN_ATTR_PRIORITY, 0x6e7f1eff);
  firn_stun_add_u64(b, FIRN_STUN_ATTR_ICE_CONTROLLING, UINT64_C(0xfedcba9876543210));
  firn_stun_add_integrity(b, g_short);
  firn_stun_add_integrity_sha256(b, g_short);
  firn_stun_add_fingerprint(b);
  end("ice-binding-request-mi-and-mi256");

  b = begin(FIRN_STUN_BINDING, FIRN_STUN_REQUEST);
  short_term_creds(b);
  firn_stun_add_u32(b, FIRN_STUN_ATTR_PRIORITY, 0x6e7f1eff);
  firn_stun_add_u64(b, FIRN_STUN_ATTR_ICE_CONTROLLING, 1);
  firn_stun_add_integrity(b, g_short);
  end("ice-binding-request-no-fingerprint");

  b = begin(FIRN_STUN_BINDING, FIRN_STUN_SUCCESS);
  firn_stun_add_xor_addr(b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &host4);
  sign_st(b);
  end("ice-binding-success-ipv4");

  b = begin(FIRN_STUN_BINDING, FIRN_STUN_SUCCESS);
  firn_stun_add_xor_addr(b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &srflx6);
  sign_st(b);
  end("ice-binding-success-ipv6");

  b = begin(FIRN_STUN_BINDING, FIRN_STUN_ERROR);
  firn_stun_add_error(b, 487, NULL);
  sign_st(b);
  end("ice-binding-error-487-role-conflict");

  b = begin(FIRN_STUN_BINDING, FIRN_STUN_ERROR);
  firn_stun_add_error(b, 400, "Bad Request: missing PRIORITY");
  firn_stun_add_fingerprint(b);
  end("ice-binding-error-400");

  b = begin(FIRN_STUN_BINDING, FIRN_STUN_INDICATION);
  firn_stun_add_fingerprint(b);
  end("ice-binding-indication-keepalive");
}

/* ---------------------------------------------------------------------------------------- */
/* Plain STUN                                                                                */

static void stun_messages(void) {
  firn_stun_builder *b;
  firn_addr mapped = v4(203, 0, 113, 9, 40000);
  firn_addr alt = v4(198, 51, 100, 2, 3478);

  b = begin(FIRN_STUN_BINDING, FIRN_STUN_REQUEST);
  end("stun-binding-request-empty");

  b = begin(FIRN_STUN_BINDING, FIRN_STUN_REQUEST);
  add_str(b, FIRN_STUN_ATTR_SOFTWARE, "firn gen_corpus");
  firn_stun_add_fingerprint(b);
  end("stun-binding-request-software");

  b = begin(FIRN_STUN_BINDING, FIRN_STUN_SUCCESS);
  firn_stun_add_xor_addr(b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped);
  firn_stun_add_addr(b, FIRN_STUN_ATTR_MAPPED_ADDRESS, &mapped);
  add_str(b, FIRN_STUN_ATTR_SOFTWARE, "Coturn-4.6.1 'Gorst'");
  firn_stun_add_fingerprint(b);
  end("stun-binding-success-mapped-and-xor");

  b = begin(FIRN_STUN_BINDING, FIRN_STUN_ERROR);
  firn_stun_add_error(b, 300, NULL);
  firn_stun_add_addr(b, FIRN_STUN_ATTR_ALTERNATE_SERVER, &alt);
  add_str(b, FIRN_STUN_ATTR_ALTERNATE_DOMAIN, "turn2.example.org");
  firn_stun_add_fingerprint(b);
  end("stun-binding-error-300-alternate-server");

  b = begin(FIRN_STUN_BINDING, FIRN_STUN_ERROR);
  firn_stun_add_error(b, 500, "Server Error: the reason phrase may be long and in UTF-8 \xc3\xa9\xe2\x82\xac");
  end("stun-binding-error-500-utf8-reason");

  /* Unknown attributes: one comprehension-required (reported for 420), one optional. */
  b = begin(FIRN_STUN_BINDING, FIRN_STUN_REQUEST);
  firn_stun_add_u32(b, 0x7ff0, 0xdeadbeef);
  firn_stun_add_raw(b, 0xfff0, "opt", 3);
  firn_stun_add_fingerprint(b);
  end("stun-binding-request-unknown-attrs");

  /* Many attributes, up to the limit. */
  b = begin(FIRN_STUN_BINDING, FIRN_STUN_REQUEST);
  for (unsigned i = 0; i < FIRN_STUN_MAX_ATTRS - 1; i++)
    firn_stun_add_u32(b, (uint16_t)(0xc000 + i), i);
  firn_stun_add_fingerprint(b);
  end("stun-binding-request-many-attrs");

  /* Long values at the limits. */
  static char big[FIRN_STUN_MAX_NONCE + 1];
  memset(big, 'n', FIRN_STUN_MAX_NONCE);
  b = begin(FIRN_STUN_BINDING, FIRN_STUN_ERROR);
  firn_stun_add_error(b, 401, NULL);
  add_str(b, FIRN_STUN_ATTR_REALM, FUZZ_LT_REALM);
  firn_stun_add_string(b, FIRN_STUN_ATTR_NONCE, big, FIRN_STUN_MAX_NONCE);
  end("stun-binding-error-401-max-nonce");
}

/* ---------------------------------------------------------------------------------------- */
/* TURN (RFC 8656, RFC 6156, RFC 6062)                                                       */

static void turn_messages(void) {
  firn_stun_builder *b;
  firn_addr relay4 = v4(198, 51, 100, 7, 49152);
  firn_addr relay6 = v6("[2001:db8::7]:49153");
  firn_addr mapped = v4(203, 0, 113, 9, 40000);
  firn_addr peer4 = v4(192, 0, 2, 150, 6000);
  firn_addr peer4b = v4(192, 0, 2, 151, 6002);
  firn_addr peer6 = v6("[2001:db8:1::150]:6000");
  /* PASSWORD-ALGORITHMS: MD5 (1) and SHA-256 (2), no parameters. */
  const uint8_t algs[] = {0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00};
  uint8_t payload[172];
  for (size_t i = 0; i < sizeof payload; i++)
    payload[i] = (uint8_t)(i * 7 + 3);
  payload[0] = 0x80; /* an RTP header's first byte */

  b = begin(FIRN_STUN_ALLOCATE, FIRN_STUN_REQUEST);
  firn_stun_add_requested_transport(b, 17);
  firn_stun_add_u32(b, FIRN_STUN_ATTR_LIFETIME, 3600);
  firn_stun_add_flag(b, FIRN_STUN_ATTR_DONT_FRAGMENT);
  add_str(b, FIRN_STUN_ATTR_SOFTWARE, "firn 0.1.0");
  firn_stun_add_fingerprint(b);
  end("turn-allocate-request-unauthenticated");

  b = begin(FIRN_STUN_ALLOCATE, FIRN_STUN_ERROR);
  firn_stun_add_error(b, 401, NULL);
  add_str(b, FIRN_STUN_ATTR_REALM, FUZZ_LT_REALM);
  add_str(b, FIRN_STUN_ATTR_NONCE, NONCE);
  firn_stun_add_raw(b, FIRN_STUN_ATTR_PASSWORD_ALGORITHMS, algs, sizeof algs);
  add_str(b, FIRN_STUN_ATTR_SOFTWARE, "Coturn-4.6.1 'Gorst'");
  firn_stun_add_fingerprint(b);
  end("turn-allocate-error-401-password-algorithms");

  b = begin(FIRN_STUN_ALLOCATE, FIRN_STUN_REQUEST);
  firn_stun_add_requested_transport(b, 17);
  long_term_creds(b);
  sign_lt(b);
  end("turn-allocate-request-long-term-md5");

  {
    uint8_t userhash[32];
    firn_stun_userhash(FUZZ_LT_USERNAME, strlen(FUZZ_LT_USERNAME), FUZZ_LT_REALM,
                       strlen(FUZZ_LT_REALM), userhash);
    b = begin(FIRN_STUN_ALLOCATE, FIRN_STUN_REQUEST);
    firn_stun_add_requested_transport(b, 17);
    firn_stun_add_raw(b, FIRN_STUN_ATTR_USERHASH, userhash, sizeof userhash);
    add_str(b, FIRN_STUN_ATTR_REALM, FUZZ_LT_REALM);
    add_str(b, FIRN_STUN_ATTR_NONCE, NONCE);
    firn_stun_add_password_alg(b, FIRN_STUN_PASSWORD_ALG_SHA256);
    firn_stun_add_raw(b, FIRN_STUN_ATTR_PASSWORD_ALGORITHMS, algs, sizeof algs);
    firn_stun_add_integrity_sha256(b, g_lt_sha);
    firn_stun_add_fingerprint(b);
    end("turn-allocate-request-long-term-sha256-userhash");
  }

  b = begin(FIRN_STUN_ALLOCATE, FIRN_STUN_REQUEST);
  firn_stun_add_requested_transport(b, 17);
  firn_stun_add_family(b, FIRN_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY, FIRN_AF_INET6);
  long_term_creds(b);
  sign_lt(b);
  end("turn-allocate-request-dual-stack");

  b = begin(FIRN_STUN_ALLOCATE, FIRN_STUN_REQUEST);
  firn_stun_add_requested_transport(b, 17);
  firn_stun_add_family(b, FIRN_STUN_ATTR_REQUESTED_ADDRESS_FAMILY, FIRN_AF_INET6);
  {
    const uint8_t even_port = 0x80; /* R bit: reserve the next port too */
    firn_stun_add_raw(b, FIRN_STUN_ATTR_EVEN_PORT, &even_port, 1);
  }
  long_term_creds(b);
  sign_lt(b);
  end("turn-allocate-request-ipv6-even-port");

  b = begin(FIRN_STUN_ALLOCATE, FIRN_STUN_REQUEST);
  firn_stun_add_requested_transport(b, 17);
  firn_stun_add_u64(b, FIRN_STUN_ATTR_RESERVATION_TOKEN, UINT64_C(0x1122334455667788));
  long_term_creds(b);
  sign_lt(b);
  end("turn-allocate-request-reservation-token");

  b = begin(FIRN_STUN_ALLOCATE, FIRN_STUN_REQUEST);
  firn_stun_add_requested_transport(b, 6);
  long_term_creds(b);
  sign_lt(b);
  end("turn-allocate-request-tcp-rfc6062");

  b = begin(FIRN_STUN_ALLOCATE, FIRN_STUN_SUCCESS);
  firn_stun_add_xor_addr(b, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, &relay4);
  firn_stun_add_xor_addr(b, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, &relay6);
  firn_stun_add_xor_addr(b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped);
  firn_stun_add_u32(b, FIRN_STUN_ATTR_LIFETIME, 600);
  firn_stun_add_u64(b, FIRN_STUN_ATTR_RESERVATION_TOKEN, UINT64_C(0x8877665544332211));
  add_str(b, FIRN_STUN_ATTR_SOFTWARE, "Coturn-4.6.1 'Gorst'");
  sign_lt(b);
  end("turn-allocate-success-dual-stack");

  b = begin(FIRN_STUN_ALLOCATE, FIRN_STUN_SUCCESS);
  firn_stun_add_xor_addr(b, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, &relay4);
  firn_stun_add_xor_addr(b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped);
  {
    /* ADDRESS-ERROR-CODE: family IPv6, 440 Address Family not Supported. */
    const uint8_t v[] = {0x02, 0x00, 0x04, 40, 'A', 'd', 'd', 'r', 'e', 's', 's', ' ', 'F',
                         'a', 'm', 'i', 'l', 'y', ' ', 'n', 'o', 't', ' ', 'S', 'u', 'p',
                         'p', 'o', 'r', 't', 'e', 'd'};
    firn_stun_add_raw(b, FIRN_STUN_ATTR_ADDRESS_ERROR_CODE, v, sizeof v);
  }
  firn_stun_add_u32(b, FIRN_STUN_ATTR_LIFETIME, 600);
  sign_lt(b);
  end("turn-allocate-success-address-error-code");

  b = begin(FIRN_STUN_ALLOCATE, FIRN_STUN_ERROR);
  firn_stun_add_error(b, 438, NULL);
  add_str(b, FIRN_STUN_ATTR_REALM, FUZZ_LT_REALM);
  add_str(b, FIRN_STUN_ATTR_NONCE, "bm9uY2UtMg==");
  firn_stun_add_fingerprint(b);
  end("turn-allocate-error-438-stale-nonce");

  {
    const uint16_t unknown[] = {0x7ff0, 0x0031, 0x0005};
    b = begin(FIRN_STUN_ALLOCATE, FIRN_STUN_ERROR);
    firn_stun_add_error(b, 420, NULL);
    firn_stun_add_unknown_attrs(b, unknown, 3);
    firn_stun_add_fingerprint(b);
    end("turn-allocate-error-420-unknown-attributes");
  }

  b = begin(FIRN_STUN_ALLOCATE, FIRN_STUN_ERROR);
  firn_stun_add_error(b, 437, NULL);
  long_term_creds(b);
  sign_lt(b);
  end("turn-allocate-error-437-mismatch");

  b = begin(FIRN_STUN_REFRESH, FIRN_STUN_REQUEST);
  firn_stun_add_u32(b, FIRN_STUN_ATTR_LIFETIME, 600);
  long_term_creds(b);
  sign_lt(b);
  end("turn-refresh-request");

  b = begin(FIRN_STUN_REFRESH, FIRN_STUN_REQUEST);
  firn_stun_add_u32(b, FIRN_STUN_ATTR_LIFETIME, 0);
  long_term_creds(b);
  sign_lt(b);
  end("turn-refresh-request-delete");

  b = begin(FIRN_STUN_REFRESH, FIRN_STUN_SUCCESS);
  firn_stun_add_u32(b, FIRN_STUN_ATTR_LIFETIME, 600);
  sign_lt(b);
  end("turn-refresh-success");

  b = begin(FIRN_STUN_CREATE_PERMISSION, FIRN_STUN_REQUEST);
  firn_stun_add_xor_addr(b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, &peer4);
  firn_stun_add_xor_addr(b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, &peer4b);
  firn_stun_add_xor_addr(b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, &peer6);
  long_term_creds(b);
  sign_lt(b);
  end("turn-createpermission-request-three-peers");

  b = begin(FIRN_STUN_CREATE_PERMISSION, FIRN_STUN_SUCCESS);
  sign_lt(b);
  end("turn-createpermission-success");

  b = begin(FIRN_STUN_CREATE_PERMISSION, FIRN_STUN_ERROR);
  firn_stun_add_error(b, 403, NULL);
  sign_lt(b);
  end("turn-createpermission-error-403");

  b = begin(FIRN_STUN_CHANNEL_BIND, FIRN_STUN_REQUEST);
  firn_stun_add_channel(b, 0x4001);
  firn_stun_add_xor_addr(b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, &peer4);
  long_term_creds(b);
  sign_lt(b);
  end("turn-channelbind-request");

  b = begin(FIRN_STUN_CHANNEL_BIND, FIRN_STUN_SUCCESS);
  sign_lt(b);
  end("turn-channelbind-success");

  b = begin(FIRN_STUN_CHANNEL_BIND, FIRN_STUN_ERROR);
  firn_stun_add_error(b, 400, NULL);
  sign_lt(b);
  end("turn-channelbind-error-400");

  b = begin(FIRN_STUN_SEND, FIRN_STUN_INDICATION);
  firn_stun_add_xor_addr(b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, &peer4);
  firn_stun_add_flag(b, FIRN_STUN_ATTR_DONT_FRAGMENT);
  firn_stun_add_raw(b, FIRN_STUN_ATTR_DATA, payload, sizeof payload);
  end("turn-send-indication");

  b = begin(FIRN_STUN_DATA, FIRN_STUN_INDICATION);
  firn_stun_add_xor_addr(b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, &peer6);
  firn_stun_add_raw(b, FIRN_STUN_ATTR_DATA, payload, 37); /* odd length: padding */
  end("turn-data-indication-ipv6");

  b = begin(FIRN_STUN_DATA, FIRN_STUN_INDICATION);
  firn_stun_add_xor_addr(b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, &peer4);
  {
    /* ICMP: reserved(2) type(1) code(1) error data(4): port unreachable. */
    const uint8_t icmp[] = {0, 0, 3, 3, 0, 0, 0, 0};
    firn_stun_add_raw(b, FIRN_STUN_ATTR_ICMP, icmp, sizeof icmp);
  }
  end("turn-data-indication-icmp");

  b = begin(FIRN_STUN_CONNECT, FIRN_STUN_REQUEST);
  firn_stun_add_xor_addr(b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, &peer4);
  long_term_creds(b);
  sign_lt(b);
  end("turn-connect-request");

  b = begin(FIRN_STUN_CONNECT, FIRN_STUN_SUCCESS);
  firn_stun_add_u32(b, FIRN_STUN_ATTR_CONNECTION_ID, 0x0badcafe);
  sign_lt(b);
  end("turn-connect-success");

  b = begin(FIRN_STUN_CONNECTION_BIND, FIRN_STUN_REQUEST);
  firn_stun_add_u32(b, FIRN_STUN_ATTR_CONNECTION_ID, 0x0badcafe);
  long_term_creds(b);
  sign_lt(b);
  end("turn-connectionbind-request");

  b = begin(FIRN_STUN_CONNECTION_ATTEMPT, FIRN_STUN_INDICATION);
  firn_stun_add_xor_addr(b, FIRN_STUN_ATTR_XOR_PEER_ADDRESS, &peer4b);
  firn_stun_add_u32(b, FIRN_STUN_ATTR_CONNECTION_ID, 0x0badcaff);
  end("turn-connectionattempt-indication");
}

/* ---------------------------------------------------------------------------------------- */
/* Malformed                                                                                 */

static void malformed_messages(void) {
  /* A valid, signed ICE request to damage. */
  firn_stun_builder *b = begin(FIRN_STUN_BINDING, FIRN_STUN_REQUEST);
  short_term_creds(b);
  firn_stun_add_u32(b, FIRN_STUN_ATTR_PRIORITY, 0x6e7f1eff);
  firn_stun_add_u64(b, FIRN_STUN_ATTR_ICE_CONTROLLING, 42);
  firn_stun_add_flag(b, FIRN_STUN_ATTR_USE_CANDIDATE);
  sign_st(b);
  firn_ssize n = firn_stun_builder_finish(b);
  if (n < 0) {
    fprintf(stderr, "gen_corpus: base message for malformed seeds failed\n");
    g_surprises++;
    return;
  }
  uint8_t base[512], m[520];
  size_t len = (size_t)n;
  memcpy(base, g_buf, len);

  emit_invalid("bad-truncated-header", base, 12);
  emit_invalid("bad-truncated-body", base, len - 10);
  emit_invalid("bad-truncated-aligned", base, len - 8 - 24); /* cut before MI, length lies */

  memcpy(m, base, len);
  m[3] = (uint8_t)(m[3] + 2);
  emit_invalid("bad-length-not-multiple-of-4", m, len);

  memcpy(m, base, len);
  m[3] = (uint8_t)(m[3] + 4);
  emit_invalid("bad-length-larger-than-datagram", m, len);

  memcpy(m, base, len);
  memset(m + len, 0, 4);
  emit_invalid("bad-trailing-bytes", m, len + 4);

  memcpy(m, base, len);
  m[len - 1] ^= 0x01;
  emit_invalid("bad-fingerprint-crc", m, len);

  memcpy(m, base, len);
  m[40] ^= 0x20; /* inside USERNAME/PRIORITY: the CRC catches it */
  emit_invalid("bad-fingerprint-after-bitflip", m, len);

  memcpy(m, base, len);
  memset(m + 4, 0, 4);
  emit_invalid("bad-rfc3489-no-cookie", m, len);

  memcpy(m, base, len);
  m[0] |= 0x80;
  emit_invalid("bad-not-stun-top-bits", m, len);

  raw_msg r;
  uint8_t zeros[1024] = {0};

  raw_begin(&r, 0x0001);
  raw_attr_len(&r, FIRN_STUN_ATTR_USERNAME, 200, "abcd:efgh", 9);
  raw_finish(&r, 0);
  emit_invalid("bad-attr-length-overrun", r.buf, r.len);

  raw_begin(&r, 0x0111);
  raw_attr(&r, FIRN_STUN_ATTR_ERROR_CODE, zeros, 0);
  raw_finish(&r, 1);
  emit_invalid("bad-error-code-length-0", r.buf, r.len);

  raw_begin(&r, 0x0111);
  raw_attr(&r, FIRN_STUN_ATTR_ERROR_CODE, "\0\0", 2);
  raw_finish(&r, 1);
  emit_invalid("bad-error-code-length-2", r.buf, r.len);

  raw_begin(&r, 0x0111);
  raw_attr(&r, FIRN_STUN_ATTR_ERROR_CODE, "\0\0\x09\x01", 4);
  raw_finish(&r, 1);
  emit_invalid("bad-error-code-class-9", r.buf, r.len);

  raw_begin(&r, 0x0101);
  raw_attr(&r, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, "\0\x03\x12\x34\x01\x02\x03\x04", 8);
  raw_finish(&r, 1);
  emit_invalid("bad-address-family-3", r.buf, r.len);

  raw_begin(&r, 0x0101);
  raw_attr(&r, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, "\0\x02\x12\x34\x01\x02\x03\x04", 8);
  raw_finish(&r, 1);
  emit_invalid("bad-address-ipv6-length-8", r.buf, r.len);

  raw_begin(&r, 0x0001);
  raw_attr(&r, FIRN_STUN_ATTR_PRIORITY, "\x6e\x7f\x1e\xff\0\0\0\0", 8);
  raw_finish(&r, 1);
  emit_invalid("bad-priority-length-8", r.buf, r.len);

  raw_begin(&r, 0x0001);
  raw_attr(&r, FIRN_STUN_ATTR_ICE_CONTROLLING, "\1\2\3\4", 4);
  raw_finish(&r, 1);
  emit_invalid("bad-ice-controlling-length-4", r.buf, r.len);

  raw_begin(&r, 0x0003);
  raw_attr(&r, FIRN_STUN_ATTR_LIFETIME, "\0\0\x02", 3);
  raw_finish(&r, 0);
  emit_invalid("bad-lifetime-length-3", r.buf, r.len);

  raw_begin(&r, 0x0001);
  raw_attr(&r, FIRN_STUN_ATTR_SOFTWARE, "x", 1);
  raw_finish(&r, 1);
  raw_attr(&r, FIRN_STUN_ATTR_PRIORITY, "\0\0\0\1", 4);
  put16(r.buf + 2, (uint16_t)(r.len - FIRN_STUN_HEADER_SIZE));
  emit_invalid("bad-attribute-after-fingerprint", r.buf, r.len);

  raw_begin(&r, 0x0001);
  for (unsigned i = 0; i < 200; i++)
    raw_attr(&r, (uint16_t)(0xc000 + i), zeros, 0);
  raw_finish(&r, 0);
  emit_invalid("bad-too-many-attributes", r.buf, r.len);

  raw_begin(&r, 0x0001);
  memset(zeros, 'u', FIRN_STUN_MAX_USERNAME + 1);
  raw_attr(&r, FIRN_STUN_ATTR_USERNAME, zeros, FIRN_STUN_MAX_USERNAME + 1);
  raw_finish(&r, 0);
  emit_invalid("bad-username-too-long", r.buf, r.len);
}

/* ---------------------------------------------------------------------------------------- */
/* fuzz_stun_client programs (format in fuzz_stun_client.c)                                  */

typedef struct program {
  uint8_t buf[8192];
  size_t len;
} program;

static void prog_begin(program *p, uint8_t fail_alloc, uint8_t options) {
  p->len = 0;
  p->buf[p->len++] = fail_alloc;
  p->buf[p->len++] = options;
}

static void prog_op(program *p, uint8_t op) { p->buf[p->len++] = op; }

static void prog_advance(program *p, uint16_t ms) {
  prog_op(p, FUZZ_CLIENT_OP_ADVANCE);
  put16(p->buf + p->len, ms);
  p->len += 2;
}

/* The message the builder holds (begin() ... ) as a datagram for `slot`. */
static void prog_datagram(program *p, uint8_t fix, uint8_t slot) {
  firn_ssize n = firn_stun_builder_finish(&g_b);
  if (n < 0) {
    fprintf(stderr, "gen_corpus: client program message failed: %s\n", firn_strerror((int)n));
    g_surprises++;
    return;
  }
  prog_op(p, FUZZ_CLIENT_OP_DATAGRAM);
  put16(p->buf + p->len, (uint16_t)n);
  p->buf[p->len + 2] = fix;
  p->buf[p->len + 3] = slot;
  memcpy(p->buf + p->len + 4, g_buf, (size_t)n);
  p->len += 4 + (size_t)n;
}

static void prog_write(program *p, const char *name) {
  write_file_in("stun_client", name, p->buf, p->len);
}

enum { SLOT_ICE = 0, SLOT_TURN = 1, SLOT_TCP = 2 };
#define RESPONSE (FUZZ_CLIENT_FIX_TID | FUZZ_CLIENT_FIX_TYPE)
#define SIGNED (RESPONSE | FUZZ_CLIENT_FIX_SIGN)

static void turn_401(program *p, const char *nonce, int with_algs) {
  const uint8_t algs[] = {0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00};
  prog_op(p, FUZZ_CLIENT_OP_TRANSMIT);
  begin(FIRN_STUN_ALLOCATE, FIRN_STUN_ERROR);
  firn_stun_add_error(&g_b, 401, NULL);
  add_str(&g_b, FIRN_STUN_ATTR_REALM, FUZZ_LT_REALM);
  add_str(&g_b, FIRN_STUN_ATTR_NONCE, nonce);
  if (with_algs)
    firn_stun_add_raw(&g_b, FIRN_STUN_ATTR_PASSWORD_ALGORITHMS, algs, sizeof algs);
  prog_datagram(p, RESPONSE | FUZZ_CLIENT_FIX_ERROR, SLOT_TURN);
}

static void turn_success(program *p, uint8_t extra_fix) {
  firn_addr relay = v4(198, 51, 100, 7, 49152), mapped = v4(203, 0, 113, 9, 40000);
  prog_op(p, FUZZ_CLIENT_OP_TRANSMIT);
  begin(FIRN_STUN_ALLOCATE, FIRN_STUN_SUCCESS);
  firn_stun_add_xor_addr(&g_b, FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS, &relay);
  firn_stun_add_xor_addr(&g_b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped);
  firn_stun_add_u32(&g_b, FIRN_STUN_ATTR_LIFETIME, 600);
  add_str(&g_b, FIRN_STUN_ATTR_REALM, FUZZ_LT_REALM);
  prog_datagram(p, SIGNED | extra_fix, SLOT_TURN);
}

static void ice_success(program *p, uint8_t fix, int unknown) {
  firn_addr mapped = v4(192, 168, 1, 20, 50000);
  prog_op(p, FUZZ_CLIENT_OP_TRANSMIT);
  begin(FIRN_STUN_BINDING, FIRN_STUN_SUCCESS);
  firn_stun_add_xor_addr(&g_b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped);
  if (unknown)
    firn_stun_add_u32(&g_b, 0x7ff0, 1);
  prog_datagram(p, fix, SLOT_ICE);
}

static void client_programs(void) {
  program p;
  firn_addr mapped6 = v6("[2001:db8:85a3::8a2e:370:7334]:61000");

  prog_begin(&p, 0, 0);
  ice_success(&p, SIGNED | FUZZ_CLIENT_FIX_FP, 0);
  prog_write(&p, "ice-success");

  prog_begin(&p, 0, 0);
  ice_success(&p, SIGNED | FUZZ_CLIENT_FIX_FP | FUZZ_CLIENT_FIX_WRONG_SRC, 0);
  ice_success(&p, RESPONSE | FUZZ_CLIENT_FIX_FP, 0); /* unsigned: dropped */
  ice_success(&p, SIGNED | FUZZ_CLIENT_FIX_MI256, 0); /* wrong kind of integrity */
  prog_write(&p, "ice-success-rejected");

  prog_begin(&p, 0, 0);
  ice_success(&p, SIGNED | FUZZ_CLIENT_FIX_FP, 1);
  prog_write(&p, "ice-success-unknown-attribute");

  prog_begin(&p, 0, 0);
  prog_op(&p, FUZZ_CLIENT_OP_TRANSMIT);
  begin(FIRN_STUN_BINDING, FIRN_STUN_ERROR);
  firn_stun_add_error(&g_b, 487, NULL);
  prog_datagram(&p, SIGNED | FUZZ_CLIENT_FIX_ERROR | FUZZ_CLIENT_FIX_FP, SLOT_ICE);
  prog_write(&p, "ice-error-487");

  prog_begin(&p, 0, 0);
  prog_op(&p, FUZZ_CLIENT_OP_TRANSMIT);
  begin(FIRN_STUN_BINDING, FIRN_STUN_SUCCESS);
  firn_stun_add_xor_addr(&g_b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped6);
  prog_datagram(&p, RESPONSE, SLOT_TCP);
  prog_write(&p, "tcp-success");

  prog_begin(&p, 0, 0);
  turn_401(&p, NONCE, 0);
  turn_success(&p, 0);
  prog_write(&p, "turn-401-md5-success");

  prog_begin(&p, 0, 0);
  turn_401(&p, NONCE, 1);
  turn_success(&p, FUZZ_CLIENT_FIX_SHA256_KEY);
  turn_success(&p, FUZZ_CLIENT_FIX_SHA256_KEY | FUZZ_CLIENT_FIX_MI256);
  prog_write(&p, "turn-401-sha256-success");

  prog_begin(&p, 0, 0);
  turn_401(&p, NONCE, 0);
  prog_op(&p, FUZZ_CLIENT_OP_TRANSMIT);
  begin(FIRN_STUN_ALLOCATE, FIRN_STUN_ERROR);
  firn_stun_add_error(&g_b, 438, NULL);
  add_str(&g_b, FIRN_STUN_ATTR_REALM, FUZZ_LT_REALM);
  add_str(&g_b, FIRN_STUN_ATTR_NONCE, "bm9uY2UtMg==");
  prog_datagram(&p, SIGNED | FUZZ_CLIENT_FIX_ERROR, SLOT_TURN);
  turn_success(&p, 0);
  prog_write(&p, "turn-401-438-success");

  prog_begin(&p, 0, 0);
  turn_401(&p, NONCE, 0);
  turn_401(&p, NONCE, 0); /* the same nonce again: credentials rejected */
  prog_write(&p, "turn-401-401-auth-failed");

  prog_begin(&p, 0, 0);
  turn_401(&p, "obMatJos2gAAAf//499k954d6OL34oL9FSTvy64sA", 0); /* cookie demands algorithms */
  prog_write(&p, "turn-401-bid-down");

  prog_begin(&p, 0, 4);
  for (int i = 0; i < 12; i++) {
    prog_op(&p, FUZZ_CLIENT_OP_TRANSMIT);
    prog_op(&p, FUZZ_CLIENT_OP_TO_EXPIRY);
  }
  prog_advance(&p, 40000);
  prog_write(&p, "retransmit-and-time-out");

  prog_begin(&p, 0, 1);
  prog_op(&p, FUZZ_CLIENT_OP_START);
  p.buf[p.len++] = 0;
  prog_op(&p, FUZZ_CLIENT_OP_START);
  p.buf[p.len++] = 1;
  prog_op(&p, FUZZ_CLIENT_OP_CANCEL);
  p.buf[p.len++] = SLOT_ICE;
  prog_op(&p, FUZZ_CLIENT_OP_FREE_IN_CALLBACK);
  prog_op(&p, FUZZ_CLIENT_OP_CANCEL);
  p.buf[p.len++] = SLOT_TCP;
  prog_write(&p, "table-full-cancel-free-in-callback");

  for (uint8_t fail = 1; fail <= 12; fail += 1) {
    char name[64];
    prog_begin(&p, fail, 2);
    turn_401(&p, NONCE, 1);
    turn_success(&p, FUZZ_CLIENT_FIX_SHA256_KEY);
    ice_success(&p, SIGNED, 0);
    snprintf(name, sizeof name, "alloc-fail-%02u", fail);
    prog_write(&p, name);
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR   (writes CORPUS_DIR/stun and CORPUS_DIR/stun_client)\n",
            argv[0]);
    return 2;
  }
  g_dir = argv[1];
  char sub[4096];
  snprintf(sub, sizeof sub, "%s/stun", g_dir);
  mkdir(sub, 0777);
  snprintf(sub, sizeof sub, "%s/stun_client", g_dir);
  mkdir(sub, 0777);
  if (firn_stun_key_new_short_term(&g_short, NULL, FUZZ_SHORT_TERM_PASSWORD,
                                   strlen(FUZZ_SHORT_TERM_PASSWORD)) != 0 ||
      firn_stun_key_new_long_term(&g_lt_md5, NULL, FIRN_STUN_PASSWORD_ALG_MD5, FUZZ_LT_USERNAME,
                                  strlen(FUZZ_LT_USERNAME), FUZZ_LT_REALM, strlen(FUZZ_LT_REALM),
                                  FUZZ_LT_PASSWORD, strlen(FUZZ_LT_PASSWORD)) != 0 ||
      firn_stun_key_new_long_term(&g_lt_sha, NULL, FIRN_STUN_PASSWORD_ALG_SHA256,
                                  FUZZ_LT_USERNAME, strlen(FUZZ_LT_USERNAME), FUZZ_LT_REALM,
                                  strlen(FUZZ_LT_REALM), FUZZ_LT_PASSWORD,
                                  strlen(FUZZ_LT_PASSWORD)) != 0) {
    fprintf(stderr, "gen_corpus: cannot create keys\n");
    return 2;
  }
  rfc_vectors();
  ice_messages();
  stun_messages();
  turn_messages();
  malformed_messages();
  client_programs();
  firn_stun_key_free(g_short);
  firn_stun_key_free(g_lt_md5);
  firn_stun_key_free(g_lt_sha);
  printf("gen_corpus: wrote %s/stun and %s/stun_client (%u messages)\n", g_dir, g_dir, g_seq);
  return g_surprises ? 1 : 0;
}
