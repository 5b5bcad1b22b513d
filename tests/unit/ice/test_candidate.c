/* RFC 8839 candidate attributes: real lines from Chrome, Firefox, libnice, aiortc/aioice and
 * pjnath; hostile and truncated input; round trips; priorities; VPN interface names.
 *
 * Every parse goes through parse_tail(), which puts the input at the very end of a malloc'd
 * block of exactly `len` bytes, so AddressSanitizer reports any read past `len`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "firn/ice.h"
#include "firn/sdp.h"

static int parse_tail(firn_candidate *c, const char *s, size_t n, const char **reason) {
  char *block = malloc(n ? n : 1);
  assert_non_null(block);
  char *in = n ? block : block + 1; /* len 0: a pointer one past the block */
  if (n) memcpy(in, s, n);
  int rc = firn_candidate_parse_ex(c, in, n, reason);
  free(block);
  return rc;
}

static int parse_str(firn_candidate *c, const char *s) { return parse_tail(c, s, strlen(s), NULL); }

static int cand_equal(const firn_candidate *a, const firn_candidate *b) {
  return strcmp(a->foundation, b->foundation) == 0 && a->component == b->component &&
         a->transport == b->transport && a->type == b->type && a->tcptype == b->tcptype &&
         a->priority == b->priority && firn_addr_equal(&a->addr, &b->addr) &&
         a->addr.scope_id == b->addr.scope_id && a->related.family == b->related.family &&
         (a->related.family == FIRN_AF_NONE || firn_addr_equal(&a->related, &b->related));
}

/* Format, parse again, compare. */
static void assert_round_trip(const firn_candidate *c) {
  char buf[FIRN_CANDIDATE_STRLEN];
  int n = firn_candidate_format(c, buf, sizeof buf);
  assert_true(n > 0);
  assert_int_equal((size_t)n, strlen(buf));
  firn_candidate back;
  assert_int_equal(parse_tail(&back, buf, (size_t)n, NULL), FIRN_OK);
  assert_true(cand_equal(c, &back));
}

typedef struct real_line {
  const char *source;
  const char *line;
  int rc;
  const char *foundation;
  unsigned component;
  int transport;
  uint32_t priority;
  const char *addr;    /* "ip:port" / "[ip]:port" for firn_addr_parse */
  int type;
  int tcptype;
  const char *related; /* NULL: none */
  const char *formatted;
} real_line;

#define UDP FIRN_TRANSPORT_UDP
#define TCP FIRN_TRANSPORT_TCP

static const real_line real_lines[] = {
    {"Chrome host, trickled", "candidate:138613430 1 udp 2122260223 10.10.10.232 61421 typ host generation 0 ufrag /9uN network-id 1 network-cost 10",
     0, "138613430", 1, UDP, 2122260223u, "10.10.10.232:61421", FIRN_CAND_HOST, FIRN_TCP_NONE, NULL,
     "candidate:138613430 1 udp 2122260223 10.10.10.232 61421 typ host"},
    {"Chrome srflx", "a=candidate:842163049 1 udp 1686052607 1.2.3.4 46154 typ srflx raddr 10.0.0.17 rport 46154 generation 0 ufrag EEtu network-id 3 network-cost 10\r\n",
     0, "842163049", 1, UDP, 1686052607u, "1.2.3.4:46154", FIRN_CAND_SRFLX, FIRN_TCP_NONE, "10.0.0.17:46154",
     "candidate:842163049 1 udp 1686052607 1.2.3.4 46154 typ srflx raddr 10.0.0.17 rport 46154"},
    {"Chrome relay, RTCP", "a=candidate:2450556863 2 udp 41820158 34.247.32.107 15034 typ relay raddr 88.209.89.112 rport 54357 generation 0 network-id 1 network-cost 10",
     0, "2450556863", 2, UDP, 41820158u, "34.247.32.107:15034", FIRN_CAND_RELAY, FIRN_TCP_NONE, "88.209.89.112:54357",
     "candidate:2450556863 2 udp 41820158 34.247.32.107 15034 typ relay raddr 88.209.89.112 rport 54357"},
    {"Chrome TCP passive", "a=candidate:4060103081 1 tcp 1518214911 192.168.69.102 50250 typ host tcptype passive generation 0 network-id 1 network-cost 10",
     0, "4060103081", 1, TCP, 1518214911u, "192.168.69.102:50250", FIRN_CAND_HOST, FIRN_TCP_PASSIVE, NULL,
     "candidate:4060103081 1 tcp 1518214911 192.168.69.102 50250 typ host tcptype passive"},
    {"Chrome TCP passive IPv6 loopback", "candidate:1876313031 1 tcp 1518091519 ::1 34945 typ host tcptype passive generation 0 ufrag 83oP network-id 5",
     0, "1876313031", 1, TCP, 1518091519u, "[::1]:34945", FIRN_CAND_HOST, FIRN_TCP_PASSIVE, NULL,
     "candidate:1876313031 1 tcp 1518091519 ::1 34945 typ host tcptype passive"},
    {"Chrome TCP active (aioice test)", "candidate:1936595596 1 tcp 1518214911 1.2.3.4 9 typ host tcptype active generation 0 network-id 1 network-cost 10",
     0, "1936595596", 1, TCP, 1518214911u, "1.2.3.4:9", FIRN_CAND_HOST, FIRN_TCP_ACTIVE, NULL,
     "candidate:1936595596 1 tcp 1518214911 1.2.3.4 9 typ host tcptype active"},
    {"Chrome srflx, privacy raddr", "a=candidate:842163049 1 udp 1677729535 186.50.9.10 52200 typ srflx raddr 0.0.0.0 rport 0 generation 0 network-cost 999",
     0, "842163049", 1, UDP, 1677729535u, "186.50.9.10:52200", FIRN_CAND_SRFLX, FIRN_TCP_NONE, "0.0.0.0:0",
     "candidate:842163049 1 udp 1677729535 186.50.9.10 52200 typ srflx raddr 0.0.0.0 rport 0"},
    {"Firefox host", "a=candidate:0 1 UDP 2122252543 192.168.1.5 55317 typ host",
     0, "0", 1, UDP, 2122252543u, "192.168.1.5:55317", FIRN_CAND_HOST, FIRN_TCP_NONE, NULL,
     "candidate:0 1 udp 2122252543 192.168.1.5 55317 typ host"},
    {"Firefox TCP active", "a=candidate:1 1 TCP 2105524479 192.168.1.5 9 typ host tcptype active",
     0, "1", 1, TCP, 2105524479u, "192.168.1.5:9", FIRN_CAND_HOST, FIRN_TCP_ACTIVE, NULL,
     "candidate:1 1 tcp 2105524479 192.168.1.5 9 typ host tcptype active"},
    {"Firefox srflx", "a=candidate:1 1 UDP 1686052863 84.60.72.107 59170 typ srflx raddr 0.0.0.0 rport 0",
     0, "1", 1, UDP, 1686052863u, "84.60.72.107:59170", FIRN_CAND_SRFLX, FIRN_TCP_NONE, "0.0.0.0:0",
     "candidate:1 1 udp 1686052863 84.60.72.107 59170 typ srflx raddr 0.0.0.0 rport 0"},
    {"Firefox relay", "a=candidate:2 1 UDP 92216319 127.0.0.1 52831 typ relay raddr 127.0.0.1 rport 52831",
     0, "2", 1, UDP, 92216319u, "127.0.0.1:52831", FIRN_CAND_RELAY, FIRN_TCP_NONE, "127.0.0.1:52831",
     "candidate:2 1 udp 92216319 127.0.0.1 52831 typ relay raddr 127.0.0.1 rport 52831"},
    {"Firefox IPv6 host", "a=candidate:1 1 UDP 2122187007 2001:db8:3::5 50032 typ host",
     0, "1", 1, UDP, 2122187007u, "[2001:db8:3::5]:50032", FIRN_CAND_HOST, FIRN_TCP_NONE, NULL,
     "candidate:1 1 udp 2122187007 2001:db8:3::5 50032 typ host"},
    {"libnice UDP host", "a=candidate:1 1 UDP 2013266431 10.34.42.237 60618 typ host",
     0, "1", 1, UDP, 2013266431u, "10.34.42.237:60618", FIRN_CAND_HOST, FIRN_TCP_NONE, NULL,
     "candidate:1 1 udp 2013266431 10.34.42.237 60618 typ host"},
    {"libnice TCP active", "a=candidate:2 1 TCP 1019216383 10.34.42.237 9 typ host tcptype active",
     0, "2", 1, TCP, 1019216383u, "10.34.42.237:9", FIRN_CAND_HOST, FIRN_TCP_ACTIVE, NULL,
     "candidate:2 1 tcp 1019216383 10.34.42.237 9 typ host tcptype active"},
    {"libnice TCP passive link-local IPv6", "a=candidate:3 1 TCP 1015022079 fe80::b49a:e5c9:46f0:fd8b 60117 typ host tcptype passive",
     0, "3", 1, TCP, 1015022079u, "[fe80::b49a:e5c9:46f0:fd8b]:60117", FIRN_CAND_HOST, FIRN_TCP_PASSIVE, NULL,
     "candidate:3 1 tcp 1015022079 fe80::b49a:e5c9:46f0:fd8b 60117 typ host tcptype passive"},
    {"libnice-style TCP so srflx", "candidate:6 2 TCP 1694236670 90.237.24.157 32790 typ srflx raddr 172.20.10.2 rport 61466 tcptype so",
     0, "6", 2, TCP, 1694236670u, "90.237.24.157:32790", FIRN_CAND_SRFLX, FIRN_TCP_SO, "172.20.10.2:61466",
     "candidate:6 2 tcp 1694236670 90.237.24.157 32790 typ srflx raddr 172.20.10.2 rport 61466 tcptype so"},
    {"aioice bare value", "6815297761 1 udp 659136 1.2.3.4 31102 typ host generation 0",
     0, "6815297761", 1, UDP, 659136u, "1.2.3.4:31102", FIRN_CAND_HOST, FIRN_TCP_NONE, NULL,
     "candidate:6815297761 1 udp 659136 1.2.3.4 31102 typ host"},
    {"aioice srflx bare value", "1 1 UDP 1686052863 1.2.3.4 42705 typ srflx raddr 192.168.1.101 rport 42705",
     0, "1", 1, UDP, 1686052863u, "1.2.3.4:42705", FIRN_CAND_SRFLX, FIRN_TCP_NONE, "192.168.1.101:42705",
     "candidate:1 1 udp 1686052863 1.2.3.4 42705 typ srflx raddr 192.168.1.101 rport 42705"},
    {"aiortc host, 32-character md5 foundation", "a=candidate:423575c52a898925419c4fb6eade8462 1 udp 2130706431 192.168.1.10 50000 typ host\r\n",
     0, "423575c52a898925419c4fb6eade8462", 1, UDP, 2130706431u, "192.168.1.10:50000", FIRN_CAND_HOST, FIRN_TCP_NONE, NULL,
     "candidate:423575c52a898925419c4fb6eade8462 1 udp 2130706431 192.168.1.10 50000 typ host"},
    {"aiortc srflx", "a=candidate:bf40f675bbf91b2a49027dade2654183 1 udp 1694498815 203.0.113.7 50000 typ srflx raddr 192.168.1.10 rport 50000",
     0, "bf40f675bbf91b2a49027dade2654183", 1, UDP, 1694498815u, "203.0.113.7:50000", FIRN_CAND_SRFLX, FIRN_TCP_NONE, "192.168.1.10:50000",
     "candidate:bf40f675bbf91b2a49027dade2654183 1 udp 1694498815 203.0.113.7 50000 typ srflx raddr 192.168.1.10 rport 50000"},
    {"aioice TCP: tcptype before generation", "488cb3cfb4543420b1d95846b251049f 1 tcp 1518214911 192.168.1.10 9 typ host tcptype active generation 0",
     0, "488cb3cfb4543420b1d95846b251049f", 1, TCP, 1518214911u, "192.168.1.10:9", FIRN_CAND_HOST, FIRN_TCP_ACTIVE, NULL,
     "candidate:488cb3cfb4543420b1d95846b251049f 1 tcp 1518214911 192.168.1.10 9 typ host tcptype active"},
    {"pjnath host", "a=candidate:Hc0a800c5 1 UDP 2130706431 192.168.0.197 36931 typ host\r\n",
     0, "Hc0a800c5", 1, UDP, 2130706431u, "192.168.0.197:36931", FIRN_CAND_HOST, FIRN_TCP_NONE, NULL,
     "candidate:Hc0a800c5 1 udp 2130706431 192.168.0.197 36931 typ host"},
    {"pjnath srflx", "a=candidate:Sc0a800c5 1 UDP 1694498815 192.168.123.249 36931 typ srflx raddr 192.168.0.197 rport 36931\r\n",
     0, "Sc0a800c5", 1, UDP, 1694498815u, "192.168.123.249:36931", FIRN_CAND_SRFLX, FIRN_TCP_NONE, "192.168.0.197:36931",
     "candidate:Sc0a800c5 1 udp 1694498815 192.168.123.249 36931 typ srflx raddr 192.168.0.197 rport 36931"},
    {"pjnath relay", "a=candidate:Rc0a87bfb 1 UDP 16777215 192.168.123.251 33078 typ relay raddr 192.168.123.249 rport 36931\r\n",
     0, "Rc0a87bfb", 1, UDP, 16777215u, "192.168.123.251:33078", FIRN_CAND_RELAY, FIRN_TCP_NONE, "192.168.123.249:36931",
     "candidate:Rc0a87bfb 1 udp 16777215 192.168.123.251 33078 typ relay raddr 192.168.123.249 rport 36931"},
    {"libwebrtc test: ice-chars + and / in foundation, TCP so", "candidate:a0+B/1 1 tcp 2130706432 192.168.1.5 9 typ host tcptype so generation 2",
     0, "a0+B/1", 1, TCP, 2130706432u, "192.168.1.5:9", FIRN_CAND_HOST, FIRN_TCP_SO, NULL,
     "candidate:a0+B/1 1 tcp 2130706432 192.168.1.5 9 typ host tcptype so"},
    {"Chrome prflx", "a=candidate:750991856 2 udp 25108222 237.30.30.30 51472 typ prflx raddr 47.61.61.61 rport 54763 generation 0",
     0, "750991856", 2, UDP, 25108222u, "237.30.30.30:51472", FIRN_CAND_PRFLX, FIRN_TCP_NONE, "47.61.61.61:54763",
     "candidate:750991856 2 udp 25108222 237.30.30.30 51472 typ prflx raddr 47.61.61.61 rport 54763"},
    /* Unsupported, but well-formed */
    {"Chrome mDNS host", "a=candidate:1560499547 1 udp 2113937151 2cf0b2c0-0842-4fe3-aaa0-4556a2dfbadc.local 33192 typ host generation 0 network-cost 999",
     FIRN_ERR_UNSUPPORTED, NULL, 0, 0, 0, NULL, 0, 0, NULL, NULL},
    {"Firefox mDNS TCP", "a=candidate:3 1 TCP 2105524479 84a78e7e-fe7a-7445-b8b5-2a579cbd5515.local 9 typ host tcptype active",
     FIRN_ERR_UNSUPPORTED, NULL, 0, 0, 0, NULL, 0, 0, NULL, NULL},
    {"Chime unknown type", "a=candidate:750991856 2 udp 25108222 237.30.30.30 51472 typ unknown raddr 47.61.61.61 rport 54763 generation 0",
     FIRN_ERR_UNSUPPORTED, NULL, 0, 0, 0, NULL, 0, 0, NULL, NULL},
};

#define N_REAL (sizeof real_lines / sizeof real_lines[0])

static void check_real_line(const real_line *r) {
  firn_candidate c;
  const char *reason = NULL;
  int rc = parse_tail(&c, r->line, strlen(r->line), &reason);
  if (rc != r->rc) fail_msg("%s: rc %d (%s), expected %d", r->source, rc, reason ? reason : "", r->rc);
  if (rc != FIRN_OK) {
    assert_non_null(reason);
    return;
  }
  assert_string_equal(c.foundation, r->foundation);
  assert_int_equal(c.component, r->component);
  assert_int_equal(c.transport, r->transport);
  assert_int_equal(c.priority, r->priority);
  assert_int_equal(c.type, r->type);
  assert_int_equal(c.tcptype, r->tcptype);
  firn_addr want;
  assert_int_equal(firn_addr_parse(&want, r->addr, 0), FIRN_OK);
  assert_true(firn_addr_equal(&c.addr, &want));
  if (r->related) {
    assert_int_equal(firn_addr_parse(&want, r->related, 0), FIRN_OK);
    assert_true(firn_addr_equal(&c.related, &want));
  } else {
    assert_int_equal(c.related.family, FIRN_AF_NONE);
  }
  char buf[FIRN_CANDIDATE_STRLEN];
  int n = firn_candidate_format(&c, buf, sizeof buf);
  assert_int_equal(n, (int)strlen(r->formatted));
  assert_string_equal(buf, r->formatted);
  assert_round_trip(&c);
}

static void test_real_lines(void **state) {
  (void)state;
  for (size_t i = 0; i < N_REAL; i++) check_real_line(&real_lines[i]);
}

/* Every prefix of every real line: no crash, no read past the prefix, and either an error
 * with a reason or a candidate that formats and parses back to itself. */
static void test_truncated_prefixes(void **state) {
  (void)state;
  for (size_t i = 0; i < N_REAL; i++) {
    size_t n = strlen(real_lines[i].line);
    for (size_t k = 0; k <= n; k++) {
      firn_candidate c;
      const char *reason = NULL;
      int rc = parse_tail(&c, real_lines[i].line, k, &reason);
      if (rc == FIRN_OK) {
        assert_round_trip(&c);
      } else {
        assert_true(rc == FIRN_ERR_ICE_BAD_CANDIDATE || rc == FIRN_ERR_UNSUPPORTED);
        assert_non_null(reason);
      }
    }
  }
}

/* Each byte flipped to a few hostile values: still no crash, no overread. */
static void test_mutated_bytes(void **state) {
  (void)state;
  static const char hostile[] = {0, '\r', '\n', ' ', '\t', ':', '%', (char)0xff, 'x', '9'};
  for (size_t i = 0; i < N_REAL; i++) {
    size_t n = strlen(real_lines[i].line);
    char *copy = malloc(n);
    assert_non_null(copy);
    for (size_t k = 0; k < n; k++) {
      for (size_t h = 0; h < sizeof hostile; h++) {
        memcpy(copy, real_lines[i].line, n);
        copy[k] = hostile[h];
        firn_candidate c;
        int rc = parse_tail(&c, copy, n, NULL);
        if (rc == FIRN_OK) assert_round_trip(&c);
        else assert_true(rc == FIRN_ERR_ICE_BAD_CANDIDATE || rc == FIRN_ERR_UNSUPPORTED);
      }
    }
    free(copy);
  }
}

static void expect_rc(const char *line, int want) {
  firn_candidate c;
  const char *reason = NULL;
  int rc = parse_tail(&c, line, strlen(line), &reason);
  if (rc != want) fail_msg("\"%s\": rc %d (%s), expected %d", line, rc, reason ? reason : "-", want);
  if (rc != FIRN_OK) {
    assert_non_null(reason);
    /* a failed parse leaves a zeroed candidate */
    assert_int_equal(c.foundation[0], 0);
    assert_int_equal(c.priority, 0);
  }
}

static void test_bad_numbers(void **state) {
  (void)state;
  const int B = FIRN_ERR_ICE_BAD_CANDIDATE;
  /* priority: 1*10 DIGIT within uint32 */
  expect_rc("candidate:1 1 udp 4294967295 192.0.2.1 1 typ host", FIRN_OK);
  expect_rc("candidate:1 1 udp 4294967296 192.0.2.1 1 typ host", B);
  expect_rc("candidate:1 1 udp 9999999999 192.0.2.1 1 typ host", B);
  expect_rc("candidate:1 1 udp 12345678901 192.0.2.1 1 typ host", B);
  expect_rc("candidate:1 1 udp 00000000001 192.0.2.1 1 typ host", B);
  expect_rc("candidate:1 1 udp 0 192.0.2.1 1 typ host", FIRN_OK);
  expect_rc("candidate:1 1 udp -1 192.0.2.1 1 typ host", B);
  expect_rc("candidate:1 1 udp +1 192.0.2.1 1 typ host", B);
  expect_rc("candidate:1 1 udp 1e5 192.0.2.1 1 typ host", B);
  expect_rc("candidate:1 1 udp 0x10 192.0.2.1 1 typ host", B);
  /* component-id: 1*3 DIGIT, 1..256 */
  expect_rc("candidate:1 0 udp 1 192.0.2.1 1 typ host", B);
  expect_rc("candidate:1 257 udp 1 192.0.2.1 1 typ host", B);
  expect_rc("candidate:1 256 udp 1 192.0.2.1 1 typ host", FIRN_OK);
  expect_rc("candidate:1 001 udp 1 192.0.2.1 1 typ host", FIRN_OK);
  expect_rc("candidate:1 0001 udp 1 192.0.2.1 1 typ host", B);
  expect_rc("candidate:1 65537 udp 1 192.0.2.1 1 typ host", B);
  expect_rc("candidate:1 1a udp 1 192.0.2.1 1 typ host", B);
  /* port */
  expect_rc("candidate:1 1 udp 1 192.0.2.1 65535 typ host", FIRN_OK);
  expect_rc("candidate:1 1 udp 1 192.0.2.1 0 typ host", FIRN_OK);
  expect_rc("candidate:1 1 udp 1 192.0.2.1 65536 typ host", B);
  expect_rc("candidate:1 1 udp 1 192.0.2.1 123456 typ host", B);
  expect_rc("candidate:1 1 udp 1 192.0.2.1 -5 typ host", B);
  expect_rc("candidate:1 1 udp 1 192.0.2.1 http typ host", B);
  expect_rc("candidate:1 1 udp 1 192.0.2.1 5 typ srflx raddr 10.0.0.1 rport 65536", B);
  expect_rc("candidate:1 1 udp 1 192.0.2.1 5 typ srflx raddr 10.0.0.1 rport x", B);
}

static void test_overlong_fields(void **state) {
  (void)state;
  const int B = FIRN_ERR_ICE_BAD_CANDIDATE;
  char line[2048];
  char f32[33], f33[34];
  memset(f32, 'a', 32);
  f32[32] = 0;
  memset(f33, 'b', 33);
  f33[33] = 0;
  snprintf(line, sizeof line, "candidate:%s 1 udp 1 192.0.2.1 1 typ host", f32);
  expect_rc(line, FIRN_OK);
  firn_candidate c;
  assert_int_equal(parse_str(&c, line), FIRN_OK);
  assert_string_equal(c.foundation, f32);
  assert_round_trip(&c);
  snprintf(line, sizeof line, "candidate:%s 1 udp 1 192.0.2.1 1 typ host", f33);
  expect_rc(line, B);
  /* a 1,000-character address, extension name and value */
  char big[1001];
  memset(big, '1', 1000);
  big[1000] = 0;
  snprintf(line, sizeof line, "candidate:1 1 udp 1 %s 1 typ host", big);
  expect_rc(line, B);
  memset(big, 'a', 1000);
  snprintf(line, sizeof line, "candidate:1 1 udp 1 192.0.2.1 1 typ host %s 1", big);
  expect_rc(line, FIRN_OK);
  snprintf(line, sizeof line, "candidate:1 1 udp 1 192.0.2.1 1 typ host x %s", big);
  expect_rc(line, FIRN_OK);
  /* a long run of extensions is fine */
  size_t n = (size_t)snprintf(line, sizeof line, "candidate:1 1 udp 1 192.0.2.1 1 typ host");
  while (n + 16 < sizeof line) n += (size_t)snprintf(line + n, sizeof line - n, " generation 0");
  expect_rc(line, FIRN_OK);
  /* host name over 253 characters is plain garbage, not an unsupported FQDN */
  char host[300];
  memset(host, 'h', 299);
  host[299] = 0;
  snprintf(line, sizeof line, "candidate:1 1 udp 1 %s 1 typ host", host);
  expect_rc(line, B);
}

static void test_malformed(void **state) {
  (void)state;
  const int B = FIRN_ERR_ICE_BAD_CANDIDATE;
  const char *bad[] = {
      "",
      "a=",
      "candidate:",
      "a=candidate:",
      "a=candidate: ",
      "a=foo:1 1 udp 1 192.0.2.1 1 typ host",
      "candidate:ab-c 1 udp 1 192.0.2.1 1 typ host",    /* '-' not an ice-char */
      "candidate:a=b 1 udp 1 192.0.2.1 1 typ host",
      "candidate:1 1 u/dp 1 192.0.2.1 1 typ host",      /* transport not a token */
      "candidate:1 1 udp 1 1.2.3 1 typ host",
      "candidate:1 1 udp 1 300.1.1.1 1 typ host",
      "candidate:1 1 udp 1 01.2.3.4 1 typ host",
      "candidate:1 1 udp 1 ::g 1 typ host",
      "candidate:1 1 udp 1 [::1] 1 typ host",
      "candidate:1 1 udp 1 1.2.3.4:5 1 typ host",
      "candidate:1 1 udp 1 fe80::1%eth0 1 typ host",
      "candidate:1 1 udp 1 fe80::1%2 1 typ host",
      "candidate:1 1 udp 1 192.0.2.1 1 host",            /* no "typ" */
      "candidate:1 1 udp 1 192.0.2.1 1 type host",
      "candidate:1 1 udp 1 192.0.2.1 1 typ",
      "candidate:1 1 udp 1 192.0.2.1 1 typ ho/st",
      "candidate:1 1 udp 1 192.0.2.1",
      "candidate:1 1 udp 1",
      "candidate:1 1 tcp 1 192.0.2.1 9 typ host",        /* TCP without tcptype */
      "candidate:1 1 tcp 1 192.0.2.1 9 typ host generation 0",
      "candidate:1 1 tcp 1 192.0.2.1 9 typ host tcptype invalid",
      "candidate:1 1 tcp 1 192.0.2.1 9 typ host tcptype",
      "candidate:1 1 tcp 1 192.0.2.1 9 typ host tcptype active tcptype passive",
      "candidate:1 1 udp 1 192.0.2.1 1 typ srflx raddr 10.0.0.1 rport 1 raddr 10.0.0.2",
      "candidate:1 1 udp 1 192.0.2.1 1 typ srflx raddr 10.0.0.1 rport 1 rport 2",
      "candidate:1 1 udp 1 192.0.2.1 1 typ srflx raddr ::g rport 1",
      "candidate:1 1 udp 1 192.0.2.1 1 typ srflx raddr 1.2.3 rport 1",
      "candidate:1 1 udp 1 192.0.2.1 1 typ srflx raddr",
      "candidate:1 1 udp 1 192.0.2.1 1 typ host generation",  /* name without value */
      "candidate:1 1 udp 1 192.0.2.1 1 typ host gen/eration 0",
      "candidate:1 1 udp 1 192.0.2.1 1 typ host generation 0\x01",
      "candidate:1 1 udp 1 192.0.2.1 1 typ host generation \x7f",
      "candidate:1 1 udp 1 192.0.2.1 1 typ host x \xc3\xa9",
      "candidate:\xff 1 udp 1 192.0.2.1 1 typ host",
      "candidate:1 1 udp 1 192.0.2.1 1 typ host\r\ngeneration 0",  /* CR LF inside */
      "candidate:1 1 udp 1 192.0.2.1\r 1 typ host",
      "candidate:1 1 dccp 1 192.0.2.1 99999 typ host",   /* unsupported AND malformed: malformed */
      "candidate:1 1 udp 1 x.local 99999 typ host",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) expect_rc(bad[i], B);

  /* an embedded NUL inside the given length */
  static const char with_nul[] = "candidate:1 1 udp 1 192.0.2.1\0 1 typ host";
  firn_candidate c;
  assert_int_equal(parse_tail(&c, with_nul, sizeof with_nul - 1, NULL), B);
  static const char nul_found[] = "candidate:1\0 1 udp 1 192.0.2.1 1 typ host";
  assert_int_equal(parse_tail(&c, nul_found, sizeof nul_found - 1, NULL), B);

  /* arguments */
  assert_int_equal(firn_candidate_parse(NULL, "x", 1), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_candidate_parse(&c, NULL, 5), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_candidate_parse(&c, NULL, 0), B);
}

static void test_unsupported(void **state) {
  (void)state;
  const int U = FIRN_ERR_UNSUPPORTED;
  expect_rc("candidate:1 1 dccp 1 192.0.2.1 1 typ host", U);
  expect_rc("candidate:1 1 TLS 1 192.0.2.1 1 typ host", U);
  expect_rc("candidate:1 1 sctp 1 192.0.2.1 1 typ host", U);
  expect_rc("candidate:1 1 udp 1 192.0.2.1 1 typ foo", U);
  expect_rc("candidate:1 1 udp 1 example.com 1 typ host", U);
  expect_rc("candidate:1 1 udp 1 abcd 1 typ host", U);
  expect_rc("candidate:1 1 udp 1 a1b2c3d4-0000-4000-8000-000000000000.local 5000 typ host", U);

  const char *reason = NULL;
  firn_candidate c;
  static const char mdns[] = "candidate:1 1 udp 1 x.local 5000 typ host";
  assert_int_equal(parse_tail(&c, mdns, sizeof mdns - 1, &reason), U);
  assert_non_null(strstr(reason, "host name"));
  /* firn_candidate_parse (no reason) agrees */
  assert_int_equal(firn_candidate_parse(&c, mdns, sizeof mdns - 1), U);
}

static void test_tolerated(void **state) {
  (void)state;
  firn_candidate c;
  /* case-insensitive keywords and values */
  assert_int_equal(parse_str(&c, "CANDIDATE:1 1 UdP 1 192.0.2.1 1 TYP HOST"), FIRN_OK);
  assert_int_equal(c.type, FIRN_CAND_HOST);
  assert_int_equal(parse_str(&c, "candidate:2 1 tcp 1671430143 20.42.0.20 443 typ host tcptype PASSIVE"), FIRN_OK);
  assert_int_equal(c.tcptype, FIRN_TCP_PASSIVE);
  /* runs of spaces and tabs, leading and trailing whitespace */
  assert_int_equal(parse_str(&c, "candidate:  2  1 tcp\t1671430143   20.42.0.20 443 typ host tcptype passive  "), FIRN_OK);
  assert_string_equal(c.foundation, "2");
  assert_int_equal(c.addr.port, 443);
  /* line ends */
  assert_int_equal(parse_str(&c, "a=candidate:1 1 udp 1 192.0.2.1 1 typ host\r\n"), FIRN_OK);
  assert_int_equal(parse_str(&c, "a=candidate:1 1 udp 1 192.0.2.1 1 typ host\n"), FIRN_OK);
  assert_int_equal(parse_str(&c, "a=candidate:1 1 udp 1 192.0.2.1 1 typ host\r"), FIRN_OK);
  /* raddr before tcptype, tcptype before raddr, extensions anywhere after typ */
  assert_int_equal(parse_str(&c, "candidate:5 1 tcp 1 192.0.2.1 9 typ srflx tcptype so generation 0 raddr 10.0.0.1 rport 7"), FIRN_OK);
  assert_int_equal(c.tcptype, FIRN_TCP_SO);
  assert_int_equal(c.related.family, FIRN_AF_INET);
  assert_int_equal(c.related.port, 7);
  /* raddr without rport: port 0; rport without raddr: ignored */
  assert_int_equal(parse_str(&c, "candidate:3 1 udp 1677729535 93.184.216.34 40001 typ srflx raddr 192.168.1.5"), FIRN_OK);
  assert_int_equal(c.related.family, FIRN_AF_INET);
  assert_int_equal(c.related.port, 0);
  assert_round_trip(&c);
  assert_int_equal(parse_str(&c, "candidate:3 1 udp 1 93.184.216.34 40001 typ srflx rport 9"), FIRN_OK);
  assert_int_equal(c.related.family, FIRN_AF_NONE);
  assert_round_trip(&c);
  /* a host name as raddr is informational only: dropped */
  assert_int_equal(parse_str(&c, "candidate:3 1 udp 1 93.184.216.34 40001 typ srflx raddr host.local rport 9"), FIRN_OK);
  assert_int_equal(c.related.family, FIRN_AF_NONE);
  /* tcptype on a UDP candidate means nothing */
  assert_int_equal(parse_str(&c, "candidate:3 1 udp 1 192.0.2.1 1 typ host tcptype active"), FIRN_OK);
  assert_int_equal(c.tcptype, FIRN_TCP_NONE);
  assert_round_trip(&c);
  /* browser extensions with odd but printable values */
  assert_int_equal(parse_str(&c, "candidate:1 1 udp 1 192.0.2.1 1 typ host ufrag /9uN+ network-id 1 x-foo \"bar\" z ~!@#$%^&*()"), FIRN_OK);
  /* IPv4-mapped and full-length IPv6 */
  assert_int_equal(parse_str(&c, "candidate:1 1 udp 1 ::ffff:192.0.2.1 1 typ host"), FIRN_OK);
  assert_int_equal(c.addr.family, FIRN_AF_INET6);
  assert_round_trip(&c);
  assert_int_equal(parse_str(&c, "candidate:1 1 udp 1 2001:0db8:85a3:0000:0000:8a2e:0370:7334 1 typ host"), FIRN_OK);
  assert_round_trip(&c);
}

static void test_tcp_types(void **state) {
  (void)state;
  static const struct {
    const char *word;
    int type;
  } t[] = {{"active", FIRN_TCP_ACTIVE}, {"passive", FIRN_TCP_PASSIVE}, {"so", FIRN_TCP_SO}};
  for (size_t i = 0; i < 3; i++) {
    char line[128], want[128], buf[FIRN_CANDIDATE_STRLEN];
    snprintf(line, sizeof line, "candidate:7 1 TCP 1015022079 2001:db8::7 %s typ host tcptype %s",
             t[i].type == FIRN_TCP_ACTIVE ? "9" : "50000", t[i].word);
    firn_candidate c;
    assert_int_equal(parse_str(&c, line), FIRN_OK);
    assert_int_equal(c.transport, FIRN_TRANSPORT_TCP);
    assert_int_equal(c.tcptype, t[i].type);
    assert_int_equal(c.addr.family, FIRN_AF_INET6);
    snprintf(want, sizeof want, "candidate:7 1 tcp 1015022079 2001:db8::7 %s typ host tcptype %s",
             t[i].type == FIRN_TCP_ACTIVE ? "9" : "50000", t[i].word);
    assert_int_equal(firn_candidate_format(&c, buf, sizeof buf), (int)strlen(want));
    assert_string_equal(buf, want);
  }
}

/* The input is read only within len: bytes after it that would change the result are not
 * seen, whether or not the buffer holds a NUL. */
static void test_reads_only_len(void **state) {
  (void)state;
  static const char full[] = "candidate:1 1 udp 1 192.0.2.1 1 typ host tcptype active";
  const size_t n = strlen("candidate:1 1 udp 1 192.0.2.1 1 typ host");
  firn_candidate c;
  assert_int_equal(parse_tail(&c, full, n, NULL), FIRN_OK);
  /* a TCP line cut before its tcptype is missing it */
  static const char tcp[] = "candidate:1 1 tcp 1 192.0.2.1 9 typ host tcptype active";
  assert_int_equal(parse_tail(&c, tcp, strlen(tcp) - strlen(" tcptype active"), NULL),
                   FIRN_ERR_ICE_BAD_CANDIDATE);
  /* a port cut to its first digit */
  static const char port[] = "candidate:1 1 udp 1 192.0.2.1 65535 typ host";
  const char *cut = strstr(port, "65535");
  assert_int_equal(parse_tail(&c, port, (size_t)(cut - port) + 1, NULL),
                   FIRN_ERR_ICE_BAD_CANDIDATE);
}

static void test_format(void **state) {
  (void)state;
  firn_candidate c;
  assert_int_equal(parse_str(&c, "candidate:842163049 1 udp 1686052607 1.2.3.4 46154 typ srflx raddr 10.0.0.17 rport 46154"), FIRN_OK);
  char buf[FIRN_CANDIDATE_STRLEN];
  int n = firn_candidate_format(&c, buf, sizeof buf);
  assert_true(n > 0);
  /* every buffer too small by one or more: NOBUF and an empty string */
  for (size_t size = 0; size <= (size_t)n; size++) {
    char small[FIRN_CANDIDATE_STRLEN];
    memset(small, 'Z', sizeof small);
    assert_int_equal(firn_candidate_format(&c, small, size), FIRN_ERR_NOBUF);
    if (size) assert_int_equal(small[0], 0);
    assert_int_equal(small[size], 'Z'); /* nothing written past size */
  }
  assert_int_equal(firn_candidate_format(&c, buf, (size_t)n + 1), n);

  /* invalid candidates */
  firn_candidate bad;
  assert_int_equal(firn_candidate_format(NULL, buf, sizeof buf), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_candidate_format(&c, NULL, 10), FIRN_ERR_INVALID_ARG);
  bad = c; bad.foundation[0] = 0;
  assert_int_equal(firn_candidate_format(&bad, buf, sizeof buf), FIRN_ERR_INVALID_ARG);
  bad = c; strcpy(bad.foundation, "a b");
  assert_int_equal(firn_candidate_format(&bad, buf, sizeof buf), FIRN_ERR_INVALID_ARG);
  bad = c; memset(bad.foundation, 'a', sizeof bad.foundation); /* not NUL-terminated */
  assert_int_equal(firn_candidate_format(&bad, buf, sizeof buf), FIRN_ERR_INVALID_ARG);
  bad = c; bad.component = 0;
  assert_int_equal(firn_candidate_format(&bad, buf, sizeof buf), FIRN_ERR_INVALID_ARG);
  bad = c; bad.component = 257;
  assert_int_equal(firn_candidate_format(&bad, buf, sizeof buf), FIRN_ERR_INVALID_ARG);
  bad = c; bad.transport = FIRN_TRANSPORT_TLS;
  assert_int_equal(firn_candidate_format(&bad, buf, sizeof buf), FIRN_ERR_INVALID_ARG);
  bad = c; bad.type = 4;
  assert_int_equal(firn_candidate_format(&bad, buf, sizeof buf), FIRN_ERR_INVALID_ARG);
  bad = c; bad.transport = FIRN_TRANSPORT_TCP; bad.tcptype = FIRN_TCP_NONE;
  assert_int_equal(firn_candidate_format(&bad, buf, sizeof buf), FIRN_ERR_INVALID_ARG);
  bad = c; bad.tcptype = 9;
  assert_int_equal(firn_candidate_format(&bad, buf, sizeof buf), FIRN_ERR_INVALID_ARG);
  bad = c; bad.addr.family = FIRN_AF_NONE;
  assert_int_equal(firn_candidate_format(&bad, buf, sizeof buf), FIRN_ERR_INVALID_ARG);
  bad = c; bad.related.family = 5;
  assert_int_equal(firn_candidate_format(&bad, buf, sizeof buf), FIRN_ERR_INVALID_ARG);

  /* tcptype on a UDP candidate is not written; scope ids are not written */
  bad = c; bad.tcptype = FIRN_TCP_ACTIVE;
  assert_true(firn_candidate_format(&bad, buf, sizeof buf) > 0);
  assert_null(strstr(buf, "tcptype"));
  assert_int_equal(parse_str(&c, "candidate:1 1 udp 1 fe80::1 5 typ host"), FIRN_OK);
  c.addr.scope_id = 3;
  assert_true(firn_candidate_format(&c, buf, sizeof buf) > 0);
  assert_string_equal(buf, "candidate:1 1 udp 1 fe80::1 5 typ host");
}

/* The longest candidate firn can write fits FIRN_CANDIDATE_STRLEN. */
static void test_format_longest(void **state) {
  (void)state;
  firn_candidate c;
  memset(&c, 0, sizeof c);
  memset(c.foundation, 'F', FIRN_ICE_FOUNDATION_MAX - 1);
  c.component = 256;
  c.transport = FIRN_TRANSPORT_TCP;
  c.tcptype = FIRN_TCP_PASSIVE;
  c.type = FIRN_CAND_SRFLX;
  c.priority = UINT32_MAX;
  uint8_t ip6[16];
  memset(ip6, 0xab, sizeof ip6);
  firn_addr_set_ipv6(&c.addr, ip6, 65535);
  firn_addr_set_ipv6(&c.related, ip6, 65535);
  char buf[FIRN_CANDIDATE_STRLEN];
  int n = firn_candidate_format(&c, buf, sizeof buf);
  assert_true(n > 0 && n < FIRN_CANDIDATE_STRLEN);
  assert_round_trip(&c);
}

static void test_priority(void **state) {
  (void)state;
  /* RFC 8445 5.1.2.2 recommended type preferences, one interface */
  assert_int_equal(firn_ice_priority(126, 65535, 1), 2130706431u);
  assert_int_equal(firn_ice_priority(126, 65535, 2), 2130706430u);
  assert_int_equal(firn_ice_priority(110, 65535, 1), 1862270975u);
  assert_int_equal(firn_ice_priority(100, 65535, 1), 1694498815u);
  assert_int_equal(firn_ice_priority(0, 65535, 1), 16777215u);
  assert_int_equal(firn_ice_priority(0, 0, 256), 0u);
  /* values seen from browsers decompose the same way */
  assert_int_equal(firn_ice_priority(126, 32542, 1), 2122260223u); /* Chrome host */
  assert_int_equal(firn_ice_priority(100, 32542, 1), 1686052607u); /* Chrome srflx */
  /* out of range inputs are clamped to a valid priority */
  assert_int_equal(firn_ice_priority(255, 65535, 1), firn_ice_priority(126, 65535, 1));
  assert_int_equal(firn_ice_priority(126, 65535, 0), firn_ice_priority(126, 65535, 1));
  assert_int_equal(firn_ice_priority(126, 65535, 1000), firn_ice_priority(126, 65535, 256));
  /* ordering: type dominates local preference, which dominates component */
  assert_true(firn_ice_priority(1, 0, 256) > firn_ice_priority(0, 65535, 1));
  assert_true(firn_ice_priority(0, 1, 256) > firn_ice_priority(0, 0, 1));
}

static void test_type_names(void **state) {
  (void)state;
  assert_string_equal(firn_cand_type_name(FIRN_CAND_HOST), "host");
  assert_string_equal(firn_cand_type_name(FIRN_CAND_SRFLX), "srflx");
  assert_string_equal(firn_cand_type_name(FIRN_CAND_PRFLX), "prflx");
  assert_string_equal(firn_cand_type_name(FIRN_CAND_RELAY), "relay");
  assert_string_equal(firn_cand_type_name((firn_cand_type)7), "unknown");
  assert_string_equal(firn_cand_type_name((firn_cand_type)-1), "unknown");
}

static void test_vpn_names(void **state) {
  (void)state;
  static const char *const vpn[] = {"tun0", "tun", "tun12", "tap0", "wg0", "wg", "wg-mullvad",
                                    "wg0-mullvad", "utun3", "utun", "ppp0", "ppp1", "ipsec0",
                                    "ipsec", "TAP-Windows Adapter V9", "Tun0", "tun_vpn",
                                    "tap.1"};
  static const char *const not_vpn[] = {"eth0", "wlan0", "lo", "en0", "enp3s0", "tunnelx",
                                        "tunl0", "tapestry", "wgx", "wlp2s0", "pppoe", "ipsecx",
                                        "utunx", "docker0", "br-1234", "", "t", "tu", "w",
                                        "xtun0", "tailscale0", "veth1"};
  for (size_t i = 0; i < sizeof vpn / sizeof vpn[0]; i++)
    if (!firn_ice_ifname_is_vpn(vpn[i])) fail_msg("%s should be a VPN", vpn[i]);
  for (size_t i = 0; i < sizeof not_vpn / sizeof not_vpn[0]; i++)
    if (firn_ice_ifname_is_vpn(not_vpn[i])) fail_msg("%s should not be a VPN", not_vpn[i]);
  assert_int_equal(firn_ice_ifname_is_vpn(NULL), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_real_lines),
      cmocka_unit_test(test_truncated_prefixes),
      cmocka_unit_test(test_mutated_bytes),
      cmocka_unit_test(test_bad_numbers),
      cmocka_unit_test(test_overlong_fields),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_unsupported),
      cmocka_unit_test(test_tolerated),
      cmocka_unit_test(test_tcp_types),
      cmocka_unit_test(test_reads_only_len),
      cmocka_unit_test(test_format),
      cmocka_unit_test(test_format_longest),
      cmocka_unit_test(test_priority),
      cmocka_unit_test(test_type_names),
      cmocka_unit_test(test_vpn_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
