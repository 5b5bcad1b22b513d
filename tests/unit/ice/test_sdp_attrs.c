/* RFC 8839 / RFC 8840 ICE SDP attributes other than candidate: the line splitter, ice-ufrag,
 * ice-pwd, ice-options, ice-lite, end-of-candidates, remote-candidates; credential checks.
 *
 * Inputs are copied to the end of a malloc'd block of exactly their length, so
 * AddressSanitizer reports any read past it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "firn/sdp.h"

/* A copy of s[0..n) at the end of its own allocation. */
typedef struct tail {
  char *block;
  const char *p;
  size_t n;
} tail;

static tail tail_new(const char *s, size_t n) {
  tail t;
  t.block = malloc(n ? n : 1);
  assert_non_null(t.block);
  if (n) memcpy(t.block, s, n);
  t.p = n ? t.block : t.block + 1;
  t.n = n;
  return t;
}

static tail tail_str(const char *s) { return tail_new(s, strlen(s)); }

static void tail_free(tail *t) { free(t->block); }

/* ------------------------------------------------------------------------------------------ */

static void test_split(void **state) {
  (void)state;
  firn_sdp_attr a;
  tail t = tail_str("a=ice-ufrag:abcd\r\n");
  assert_int_equal(firn_sdp_attr_split(&a, t.p, t.n), FIRN_OK);
  assert_int_equal(a.name_len, 9);
  assert_memory_equal(a.name, "ice-ufrag", 9);
  assert_int_equal(a.value_len, 4);
  assert_memory_equal(a.value, "abcd", 4);
  assert_true(firn_sdp_attr_is(&a, "ice-ufrag"));
  assert_true(firn_sdp_attr_is(&a, "ICE-UFRAG"));
  assert_false(firn_sdp_attr_is(&a, "ice-ufra"));
  assert_false(firn_sdp_attr_is(&a, "ice-ufragx"));
  tail_free(&t);

  /* property attribute: no value */
  t = tail_str("a=ice-lite");
  assert_int_equal(firn_sdp_attr_split(&a, t.p, t.n), FIRN_OK);
  assert_null(a.value);
  assert_int_equal(a.value_len, 0);
  assert_true(firn_sdp_attr_is(&a, "ice-lite"));
  tail_free(&t);

  /* empty value is not the same as no value */
  t = tail_str("ice-ufrag:\n");
  assert_int_equal(firn_sdp_attr_split(&a, t.p, t.n), FIRN_OK);
  assert_non_null(a.value);
  assert_int_equal(a.value_len, 0);
  tail_free(&t);

  /* the value keeps everything after the first ':' */
  t = tail_str("a=fingerprint:sha-256 AB:CD:EF");
  assert_int_equal(firn_sdp_attr_split(&a, t.p, t.n), FIRN_OK);
  assert_int_equal(a.value_len, strlen("sha-256 AB:CD:EF"));
  tail_free(&t);

  static const char *const bad[] = {"", "a=", "\r\n", "a=:x", ":x", "a=bad name:x", "m=audio 9 RTP/AVP 0",
                                    "v=0", "a=x:a\rb", "a=x:a\nb", "a=na\xffme:v", "a=a=b"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    t = tail_str(bad[i]);
    if (firn_sdp_attr_split(&a, t.p, t.n) != FIRN_ERR_PARSE) fail_msg("accepted \"%s\"", bad[i]);
    tail_free(&t);
  }
  static const char nul[] = "a=x:va\0lue";
  t = tail_new(nul, sizeof nul - 1);
  assert_int_equal(firn_sdp_attr_split(&a, t.p, t.n), FIRN_ERR_PARSE);
  tail_free(&t);
  assert_int_equal(firn_sdp_attr_split(NULL, "a=x", 3), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_sdp_attr_split(&a, NULL, 3), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_sdp_attr_split(&a, NULL, 0), FIRN_ERR_PARSE);
  assert_false(firn_sdp_attr_is(NULL, "x"));
}

static void test_lines_and_tokens(void **state) {
  (void)state;
  static const char sdp[] = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n\r\na=ice-lite\nlast";
  tail t = tail_new(sdp, sizeof sdp - 1);
  const char *pos = t.p, *end = t.p + t.n, *line;
  size_t len;
  static const char *const want[] = {"v=0", "o=- 1 1 IN IP4 0.0.0.0", "", "a=ice-lite", "last"};
  for (size_t i = 0; i < 5; i++) {
    assert_int_equal(firn_sdp_next_line(&pos, end, &line, &len), 1);
    assert_int_equal(len, strlen(want[i]));
    assert_memory_equal(line, want[i], len);
  }
  assert_int_equal(firn_sdp_next_line(&pos, end, &line, &len), 0);
  assert_int_equal(firn_sdp_next_line(&pos, end, &line, &len), 0);
  tail_free(&t);
  assert_int_equal(firn_sdp_next_line(NULL, NULL, &line, &len), FIRN_ERR_INVALID_ARG);

  static const char val[] = "  trickle\tice2   renomination ";
  t = tail_new(val, sizeof val - 1);
  pos = t.p;
  end = t.p + t.n;
  const char *tok;
  static const char *const toks[] = {"trickle", "ice2", "renomination"};
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(firn_sdp_next_token(&pos, end, &tok, &len), 1);
    assert_int_equal(len, strlen(toks[i]));
    assert_memory_equal(tok, toks[i], len);
  }
  assert_int_equal(firn_sdp_next_token(&pos, end, &tok, &len), 0);
  tail_free(&t);
}

/* ------------------------------------------------------------------------------------------ */

static void make_chars(char *buf, size_t n) {
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";
  for (size_t i = 0; i < n; i++) buf[i] = alphabet[i % (sizeof alphabet - 1)];
  buf[n] = 0;
}

static void test_credential_checks(void **state) {
  (void)state;
  char s[300];
  make_chars(s, 257);
  assert_int_equal(firn_ice_check_ufrag(s, 3), FIRN_ERR_ICE_BAD_CREDENTIALS);
  assert_int_equal(firn_ice_check_ufrag(s, 4), FIRN_OK);
  assert_int_equal(firn_ice_check_ufrag(s, 256), FIRN_OK);
  assert_int_equal(firn_ice_check_ufrag(s, 257), FIRN_ERR_ICE_BAD_CREDENTIALS);
  assert_int_equal(firn_ice_check_ufrag(s, 0), FIRN_ERR_ICE_BAD_CREDENTIALS);
  assert_int_equal(firn_ice_check_ufrag(NULL, 4), FIRN_ERR_ICE_BAD_CREDENTIALS);
  assert_int_equal(firn_ice_check_pwd(s, 21), FIRN_ERR_ICE_BAD_CREDENTIALS);
  assert_int_equal(firn_ice_check_pwd(s, 22), FIRN_OK);
  assert_int_equal(firn_ice_check_pwd(s, 256), FIRN_OK);
  assert_int_equal(firn_ice_check_pwd(s, 257), FIRN_ERR_ICE_BAD_CREDENTIALS);
  /* real credentials */
  assert_int_equal(firn_ice_check_ufrag("/9uN", 4), FIRN_OK);
  assert_int_equal(firn_ice_check_pwd("qEA+KCGezaoGknNYbpAADXBK", 24), FIRN_OK);
  assert_int_equal(firn_ice_check_pwd("50644d54", 8), FIRN_ERR_ICE_BAD_CREDENTIALS); /* old pjnath */
  /* characters outside ALPHA / DIGIT / + / / */
  static const char bad_chars[] = {'-', '_', '=', ' ', ':', '.', 0, '\r', (char)0xc3};
  for (size_t i = 0; i < sizeof bad_chars; i++) {
    char u[8] = "abcdefg";
    u[3] = bad_chars[i];
    assert_int_equal(firn_ice_check_ufrag(u, 7), FIRN_ERR_ICE_BAD_CREDENTIALS);
  }
  /* only len bytes are looked at */
  tail t = tail_new("abcd-", 4);
  assert_int_equal(firn_ice_check_ufrag(t.p, t.n), FIRN_OK);
  tail_free(&t);
}

static void test_ufrag_pwd(void **state) {
  (void)state;
  char out[FIRN_ICE_CRED_MAX + 1];
  const char *reason = NULL;
  tail t = tail_str("a=ice-ufrag:gydc\r\n");
  assert_int_equal(firn_sdp_parse_ice_ufrag(t.p, t.n, out, sizeof out, &reason), 4);
  assert_string_equal(out, "gydc");
  tail_free(&t);
  t = tail_str("a=ice-pwd:qEA+KCGezaoGknNYbpAADXBK");
  assert_int_equal(firn_sdp_parse_ice_pwd(t.p, t.n, out, sizeof out, &reason), 24);
  assert_string_equal(out, "qEA+KCGezaoGknNYbpAADXBK");
  tail_free(&t);
  /* whitespace around the value is tolerated */
  t = tail_str("ice-ufrag: 8042d877 ");
  assert_int_equal(firn_sdp_parse_ice_ufrag(t.p, t.n, out, sizeof out, NULL), 8);
  assert_string_equal(out, "8042d877");
  tail_free(&t);

  /* boundaries */
  char v[300], line[400];
  for (size_t n = 2; n <= 258; n++) {
    make_chars(v, n);
    snprintf(line, sizeof line, "a=ice-ufrag:%s", v);
    t = tail_str(line);
    int rc = firn_sdp_parse_ice_ufrag(t.p, t.n, out, sizeof out, &reason);
    if (n >= 4 && n <= 256) {
      assert_int_equal(rc, (int)n);
      assert_string_equal(out, v);
    } else {
      assert_int_equal(rc, FIRN_ERR_ICE_BAD_CREDENTIALS);
      assert_non_null(reason);
    }
    tail_free(&t);
    snprintf(line, sizeof line, "a=ice-pwd:%s", v);
    t = tail_str(line);
    rc = firn_sdp_parse_ice_pwd(t.p, t.n, out, sizeof out, NULL);
    assert_int_equal(rc, n >= 22 && n <= 256 ? (int)n : FIRN_ERR_ICE_BAD_CREDENTIALS);
    tail_free(&t);
  }
  reason = NULL;
  t = tail_str("a=ice-ufrag:abc");
  assert_int_equal(firn_sdp_parse_ice_ufrag(t.p, t.n, out, sizeof out, &reason),
                   FIRN_ERR_ICE_BAD_CREDENTIALS);
  assert_non_null(strstr(reason, "shorter"));
  tail_free(&t);
  t = tail_str("a=ice-ufrag:ab-cd");
  assert_int_equal(firn_sdp_parse_ice_ufrag(t.p, t.n, out, sizeof out, NULL),
                   FIRN_ERR_ICE_BAD_CREDENTIALS);
  tail_free(&t);
  t = tail_str("a=ice-ufrag:ab cd");
  assert_int_equal(firn_sdp_parse_ice_ufrag(t.p, t.n, out, sizeof out, NULL),
                   FIRN_ERR_ICE_BAD_CREDENTIALS);
  tail_free(&t);
  /* no value, another attribute, too small a buffer, bad arguments */
  t = tail_str("a=ice-ufrag");
  assert_int_equal(firn_sdp_parse_ice_ufrag(t.p, t.n, out, sizeof out, NULL), FIRN_ERR_PARSE);
  tail_free(&t);
  t = tail_str("a=ice-pwd:qEA+KCGezaoGknNYbpAADXBK");
  assert_int_equal(firn_sdp_parse_ice_ufrag(t.p, t.n, out, sizeof out, NULL), FIRN_ERR_NOT_FOUND);
  tail_free(&t);
  t = tail_str("a=ice-ufrag:abcd");
  assert_int_equal(firn_sdp_parse_ice_ufrag(t.p, t.n, out, 4, NULL), FIRN_ERR_NOBUF);
  assert_int_equal(out[0], 0);
  assert_int_equal(firn_sdp_parse_ice_ufrag(t.p, t.n, out, 5, NULL), 4);
  assert_int_equal(firn_sdp_parse_ice_ufrag(t.p, t.n, NULL, 5, NULL), FIRN_ERR_INVALID_ARG);
  tail_free(&t);
  assert_int_equal(firn_sdp_parse_ice_ufrag(NULL, 3, out, sizeof out, NULL), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_sdp_parse_ice_ufrag("x\0", 2, out, sizeof out, NULL), FIRN_ERR_PARSE);
}

static void test_format_ufrag_pwd(void **state) {
  (void)state;
  char buf[300], out[FIRN_ICE_CRED_MAX + 1];
  assert_int_equal(firn_sdp_format_ice_ufrag("gydc", 4, buf, sizeof buf), 14);
  assert_string_equal(buf, "ice-ufrag:gydc");
  assert_int_equal(firn_sdp_parse_ice_ufrag(buf, 14, out, sizeof out, NULL), 4);
  assert_int_equal(firn_sdp_format_ice_pwd("qEA+KCGezaoGknNYbpAADXBK", 24, buf, sizeof buf), 32);
  assert_string_equal(buf, "ice-pwd:qEA+KCGezaoGknNYbpAADXBK");
  assert_int_equal(firn_sdp_parse_ice_pwd(buf, 32, out, sizeof out, NULL), 24);
  assert_string_equal(out, "qEA+KCGezaoGknNYbpAADXBK");
  assert_int_equal(firn_sdp_format_ice_ufrag("abc", 3, buf, sizeof buf), FIRN_ERR_ICE_BAD_CREDENTIALS);
  assert_int_equal(firn_sdp_format_ice_pwd("short", 5, buf, sizeof buf), FIRN_ERR_ICE_BAD_CREDENTIALS);
  assert_int_equal(firn_sdp_format_ice_ufrag("ab=d", 4, buf, sizeof buf), FIRN_ERR_ICE_BAD_CREDENTIALS);
  assert_int_equal(firn_sdp_format_ice_ufrag("gydc", 4, buf, 14), FIRN_ERR_NOBUF);
  assert_int_equal(buf[0], 0);
  assert_int_equal(firn_sdp_format_ice_ufrag("gydc", 4, buf, 15), 14);
  assert_int_equal(firn_sdp_format_ice_ufrag("gydc", 4, NULL, 15), FIRN_ERR_INVALID_ARG);
  /* the longest credential fits FIRN_ICE_CRED_MAX + strlen("ice-ufrag:") + 1 */
  char v[FIRN_ICE_CRED_MAX + 1];
  make_chars(v, FIRN_ICE_CRED_MAX);
  assert_int_equal(firn_sdp_format_ice_ufrag(v, FIRN_ICE_CRED_MAX, buf, FIRN_ICE_CRED_MAX + 11),
                   FIRN_ICE_CRED_MAX + 10);
}

static void test_ice_options(void **state) {
  (void)state;
  static const struct {
    const char *line;
    int rc;
    unsigned options, unknown;
  } cases[] = {
      {"a=ice-options:trickle", 0, FIRN_ICE_OPTION_TRICKLE, 0},
      {"a=ice-options:trickle\r\n", 0, FIRN_ICE_OPTION_TRICKLE, 0},
      {"ice-options:ice2", 0, FIRN_ICE_OPTION_ICE2, 0},
      {"a=ice-options:trickle ice2", 0, FIRN_ICE_OPTION_TRICKLE | FIRN_ICE_OPTION_ICE2, 0},
      {"a=ice-options:ice2 trickle", 0, FIRN_ICE_OPTION_TRICKLE | FIRN_ICE_OPTION_ICE2, 0},
      {"a=ice-options:trickle renomination", 0, FIRN_ICE_OPTION_TRICKLE, 1}, /* Chrome */
      {"a=ice-options:google-ice", 0, 0, 1},                                  /* old Chrome */
      {"a=ice-options:TRICKLE", 0, FIRN_ICE_OPTION_TRICKLE, 0},
      {"a=ice-options:  trickle   x y/z+ ", 0, FIRN_ICE_OPTION_TRICKLE, 2},
      {"a=ice-options:trickle trickle", 0, FIRN_ICE_OPTION_TRICKLE, 0},
      {"a=ice-options:", FIRN_ERR_PARSE, 0, 0},
      {"a=ice-options:   ", FIRN_ERR_PARSE, 0, 0},
      {"a=ice-options", FIRN_ERR_PARSE, 0, 0},
      {"a=ice-options:trickle,ice2", FIRN_ERR_PARSE, 0, 0},
      {"a=ice-options:trickle \x01", FIRN_ERR_PARSE, 0, 0},
      {"a=ice-options:tri\"ckle", FIRN_ERR_PARSE, 0, 0},
      {"a=ice-lite", FIRN_ERR_NOT_FOUND, 0, 0},
      {"a=ice-option:trickle", FIRN_ERR_NOT_FOUND, 0, 0},
      {"a=ice-optionsx:trickle", FIRN_ERR_NOT_FOUND, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tail t = tail_str(cases[i].line);
    unsigned opts = 99, unk = 99;
    const char *reason = NULL;
    int rc = firn_sdp_parse_ice_options(t.p, t.n, &opts, &unk, &reason);
    if (rc != cases[i].rc) fail_msg("\"%s\": rc %d, expected %d", cases[i].line, rc, cases[i].rc);
    if (rc == 0) {
      assert_int_equal(opts, cases[i].options);
      assert_int_equal(unk, cases[i].unknown);
    } else {
      assert_non_null(reason);
    }
    tail_free(&t);
  }
  assert_int_equal(firn_sdp_parse_ice_options("ice-options:ice2", 16, NULL, NULL, NULL), 0);

  char buf[64];
  assert_int_equal(firn_sdp_format_ice_options(FIRN_ICE_OPTION_TRICKLE, buf, sizeof buf), 19);
  assert_string_equal(buf, "ice-options:trickle");
  assert_int_equal(firn_sdp_format_ice_options(FIRN_ICE_OPTION_ALL, buf, sizeof buf), 24);
  assert_string_equal(buf, "ice-options:trickle ice2");
  unsigned opts = 0;
  assert_int_equal(firn_sdp_parse_ice_options(buf, 24, &opts, NULL, NULL), 0);
  assert_int_equal(opts, FIRN_ICE_OPTION_ALL);
  assert_int_equal(firn_sdp_format_ice_options(0, buf, sizeof buf), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_sdp_format_ice_options(0x4, buf, sizeof buf), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_sdp_format_ice_options(FIRN_ICE_OPTION_ALL, buf, 24), FIRN_ERR_NOBUF);
  assert_int_equal(firn_sdp_format_ice_options(FIRN_ICE_OPTION_ALL, buf, 25), 24);
}

static void test_flags(void **state) {
  (void)state;
  static const struct {
    const char *line;
    int lite, eoc;
  } cases[] = {
      {"a=ice-lite", 0, FIRN_ERR_NOT_FOUND},
      {"a=ice-lite\r\n", 0, FIRN_ERR_NOT_FOUND},
      {"ice-lite", 0, FIRN_ERR_NOT_FOUND},
      {"a=ICE-LITE", 0, FIRN_ERR_NOT_FOUND},
      {"a=end-of-candidates", FIRN_ERR_NOT_FOUND, 0},
      {"a=end-of-candidates\r\n", FIRN_ERR_NOT_FOUND, 0},
      {"a=ice-lite:yes", FIRN_ERR_PARSE, FIRN_ERR_NOT_FOUND},
      {"a=ice-lite:", FIRN_ERR_PARSE, FIRN_ERR_NOT_FOUND},
      {"a=end-of-candidates:1", FIRN_ERR_NOT_FOUND, FIRN_ERR_PARSE},
      {"a=ice-mismatch", FIRN_ERR_NOT_FOUND, FIRN_ERR_NOT_FOUND},
      {"a=ice-lit", FIRN_ERR_NOT_FOUND, FIRN_ERR_NOT_FOUND},
      {"a=end-of-candidate", FIRN_ERR_NOT_FOUND, FIRN_ERR_NOT_FOUND},
      {"", FIRN_ERR_PARSE, FIRN_ERR_PARSE},
      {"a=ice lite", FIRN_ERR_PARSE, FIRN_ERR_PARSE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tail t = tail_str(cases[i].line);
    const char *reason = NULL;
    int rc = firn_sdp_parse_ice_lite(t.p, t.n, &reason);
    if (rc != cases[i].lite) fail_msg("ice-lite \"%s\": %d", cases[i].line, rc);
    if (rc) assert_non_null(reason);
    rc = firn_sdp_parse_end_of_candidates(t.p, t.n, NULL);
    if (rc != cases[i].eoc) fail_msg("end-of-candidates \"%s\": %d", cases[i].line, rc);
    tail_free(&t);
  }
  char buf[32];
  assert_int_equal(firn_sdp_format_ice_lite(buf, sizeof buf), 8);
  assert_string_equal(buf, "ice-lite");
  assert_int_equal(firn_sdp_parse_ice_lite(buf, 8, NULL), 0);
  assert_int_equal(firn_sdp_format_end_of_candidates(buf, sizeof buf), 17);
  assert_string_equal(buf, "end-of-candidates");
  assert_int_equal(firn_sdp_parse_end_of_candidates(buf, 17, NULL), 0);
  assert_int_equal(firn_sdp_format_ice_lite(buf, 8), FIRN_ERR_NOBUF);
  assert_int_equal(firn_sdp_format_ice_lite(buf, 0), FIRN_ERR_NOBUF);
  assert_int_equal(firn_sdp_format_ice_lite(NULL, 9), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_sdp_parse_ice_lite(NULL, 1, NULL), FIRN_ERR_INVALID_ARG);
}

static void test_remote_candidates(void **state) {
  (void)state;
  firn_remote_candidate rc[4];
  size_t n = 99;
  const char *reason = NULL;
  tail t = tail_str("a=remote-candidates:1 192.0.2.1 5000 2 192.0.2.1 5001\r\n");
  assert_int_equal(firn_sdp_parse_remote_candidates(t.p, t.n, rc, 4, &n, &reason), 0);
  assert_int_equal(n, 2);
  assert_int_equal(rc[0].component, 1);
  assert_int_equal(rc[0].addr.family, FIRN_AF_INET);
  assert_int_equal(rc[0].addr.port, 5000);
  assert_int_equal(rc[1].component, 2);
  assert_int_equal(rc[1].addr.port, 5001);
  char buf[256];
  assert_int_equal(firn_sdp_format_remote_candidates(rc, n, buf, sizeof buf),
                   (int)strlen("remote-candidates:1 192.0.2.1 5000 2 192.0.2.1 5001"));
  assert_string_equal(buf, "remote-candidates:1 192.0.2.1 5000 2 192.0.2.1 5001");
  tail_free(&t);

  /* IPv6, extra whitespace, round trip */
  t = tail_str("remote-candidates: 1  2001:db8::1 9  1 ::ffff:10.0.0.1 65535 ");
  assert_int_equal(firn_sdp_parse_remote_candidates(t.p, t.n, rc, 4, &n, NULL), 0);
  assert_int_equal(n, 2);
  assert_int_equal(rc[0].addr.family, FIRN_AF_INET6);
  int len = firn_sdp_format_remote_candidates(rc, n, buf, sizeof buf);
  assert_true(len > 0);
  firn_remote_candidate back[4];
  size_t n2 = 0;
  assert_int_equal(firn_sdp_parse_remote_candidates(buf, (size_t)len, back, 4, &n2, NULL), 0);
  assert_int_equal(n2, n);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(back[i].component, rc[i].component);
    assert_true(firn_addr_equal(&back[i].addr, &rc[i].addr));
  }
  tail_free(&t);

  /* the caller's table bounds the parse */
  t = tail_str("a=remote-candidates:1 192.0.2.1 1 1 192.0.2.2 2 1 192.0.2.3 3");
  assert_int_equal(firn_sdp_parse_remote_candidates(t.p, t.n, rc, 2, &n, &reason), FIRN_ERR_LIMIT);
  assert_int_equal(n, 2);
  assert_int_equal(firn_sdp_parse_remote_candidates(t.p, t.n, NULL, 0, &n, NULL), FIRN_ERR_LIMIT);
  assert_int_equal(n, 0);
  tail_free(&t);

  static const struct {
    const char *line;
    int rc;
  } bad[] = {
      {"a=remote-candidates:", FIRN_ERR_PARSE},
      {"a=remote-candidates", FIRN_ERR_PARSE},
      {"a=remote-candidates:1", FIRN_ERR_PARSE},
      {"a=remote-candidates:1 192.0.2.1", FIRN_ERR_PARSE},
      {"a=remote-candidates:0 192.0.2.1 1", FIRN_ERR_PARSE},
      {"a=remote-candidates:257 192.0.2.1 1", FIRN_ERR_PARSE},
      {"a=remote-candidates:1 192.0.2.1 65536", FIRN_ERR_PARSE},
      {"a=remote-candidates:1 192.0.2.1 5 2", FIRN_ERR_PARSE},
      {"a=remote-candidates:1 300.0.2.1 5", FIRN_ERR_PARSE},
      {"a=remote-candidates:1 ::g 5", FIRN_ERR_PARSE},
      {"a=remote-candidates:1 x.local 5", FIRN_ERR_UNSUPPORTED},
      {"a=remote-candidate:1 192.0.2.1 5", FIRN_ERR_NOT_FOUND},
      {"a=candidate:1 1 udp 1 192.0.2.1 5 typ host", FIRN_ERR_NOT_FOUND},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    t = tail_str(bad[i].line);
    reason = NULL;
    int r = firn_sdp_parse_remote_candidates(t.p, t.n, rc, 4, &n, &reason);
    if (r != bad[i].rc) fail_msg("\"%s\": %d, expected %d", bad[i].line, r, bad[i].rc);
    assert_non_null(reason);
    tail_free(&t);
  }
  assert_int_equal(firn_sdp_parse_remote_candidates("x", 1, rc, 4, NULL, NULL), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_sdp_parse_remote_candidates("x", 1, NULL, 4, &n, NULL), FIRN_ERR_INVALID_ARG);

  /* format errors */
  firn_remote_candidate one;
  memset(&one, 0, sizeof one);
  one.component = 1;
  assert_int_equal(firn_sdp_format_remote_candidates(&one, 1, buf, sizeof buf), FIRN_ERR_INVALID_ARG);
  const uint8_t ip[4] = {192, 0, 2, 1};
  firn_addr_set_ipv4(&one.addr, ip, 5);
  assert_int_equal(firn_sdp_format_remote_candidates(&one, 1, buf, sizeof buf), 31);
  assert_int_equal(firn_sdp_format_remote_candidates(&one, 1, buf, 31), FIRN_ERR_NOBUF);
  assert_int_equal(firn_sdp_format_remote_candidates(&one, 0, buf, sizeof buf), FIRN_ERR_INVALID_ARG);
  one.component = 0;
  assert_int_equal(firn_sdp_format_remote_candidates(&one, 1, buf, sizeof buf), FIRN_ERR_INVALID_ARG);
  one.component = 257;
  assert_int_equal(firn_sdp_format_remote_candidates(&one, 1, buf, sizeof buf), FIRN_ERR_INVALID_ARG);
}

/* candidate_parse_ex is reachable from this header and agrees with firn_candidate_parse. */
static void test_candidate_reason(void **state) {
  (void)state;
  firn_candidate c;
  const char *reason = NULL;
  tail t = tail_str("a=candidate:1 1 udp 4294967296 192.0.2.1 5 typ host");
  assert_int_equal(firn_candidate_parse_ex(&c, t.p, t.n, &reason), FIRN_ERR_ICE_BAD_CANDIDATE);
  assert_non_null(strstr(reason, "priority"));
  tail_free(&t);
  t = tail_str("a=candidate:1 1 tcp 1 192.0.2.1 5 typ host");
  assert_int_equal(firn_candidate_parse_ex(&c, t.p, t.n, &reason), FIRN_ERR_ICE_BAD_CANDIDATE);
  assert_non_null(strstr(reason, "tcptype"));
  tail_free(&t);
}

/* Every prefix of every valid line through every parser: no crash, no overread, and only
 * the documented error codes. */
static void test_truncated_prefixes(void **state) {
  (void)state;
  static const char *const lines[] = {
      "a=ice-ufrag:gydc\r\n",
      "a=ice-pwd:qEA+KCGezaoGknNYbpAADXBK\r\n",
      "a=ice-options:trickle ice2 renomination\r\n",
      "a=ice-lite\r\n",
      "a=end-of-candidates\r\n",
      "a=remote-candidates:1 192.0.2.1 5000 2 2001:db8::1 5001\r\n",
      "a=candidate:842163049 1 udp 1686052607 1.2.3.4 46154 typ srflx raddr 10.0.0.17 rport 46154 generation 0\r\n",
  };
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
    size_t len = strlen(lines[i]);
    for (size_t k = 0; k <= len; k++) {
      tail t = tail_new(lines[i], k);
      char out[FIRN_ICE_CRED_MAX + 1];
      firn_sdp_attr a;
      int r = firn_sdp_attr_split(&a, t.p, t.n);
      assert_true(r == 0 || r == FIRN_ERR_PARSE);
      r = firn_sdp_parse_ice_ufrag(t.p, t.n, out, sizeof out, NULL);
      assert_true(r >= 0 || r == FIRN_ERR_PARSE || r == FIRN_ERR_NOT_FOUND ||
                  r == FIRN_ERR_ICE_BAD_CREDENTIALS);
      r = firn_sdp_parse_ice_pwd(t.p, t.n, out, sizeof out, NULL);
      assert_true(r >= 0 || r == FIRN_ERR_PARSE || r == FIRN_ERR_NOT_FOUND ||
                  r == FIRN_ERR_ICE_BAD_CREDENTIALS);
      unsigned o, u;
      r = firn_sdp_parse_ice_options(t.p, t.n, &o, &u, NULL);
      assert_true(r == 0 || r == FIRN_ERR_PARSE || r == FIRN_ERR_NOT_FOUND);
      r = firn_sdp_parse_ice_lite(t.p, t.n, NULL);
      assert_true(r == 0 || r == FIRN_ERR_PARSE || r == FIRN_ERR_NOT_FOUND);
      r = firn_sdp_parse_end_of_candidates(t.p, t.n, NULL);
      assert_true(r == 0 || r == FIRN_ERR_PARSE || r == FIRN_ERR_NOT_FOUND);
      firn_remote_candidate rc[4];
      size_t n;
      r = firn_sdp_parse_remote_candidates(t.p, t.n, rc, 4, &n, NULL);
      assert_true(r == 0 || r == FIRN_ERR_PARSE || r == FIRN_ERR_NOT_FOUND ||
                  r == FIRN_ERR_UNSUPPORTED);
      firn_candidate c;
      r = firn_candidate_parse(&c, t.p, t.n);
      assert_true(r == 0 || r == FIRN_ERR_ICE_BAD_CANDIDATE || r == FIRN_ERR_UNSUPPORTED);
      tail_free(&t);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_split),
      cmocka_unit_test(test_lines_and_tokens),
      cmocka_unit_test(test_credential_checks),
      cmocka_unit_test(test_ufrag_pwd),
      cmocka_unit_test(test_format_ufrag_pwd),
      cmocka_unit_test(test_ice_options),
      cmocka_unit_test(test_flags),
      cmocka_unit_test(test_remote_candidates),
      cmocka_unit_test(test_candidate_reason),
      cmocka_unit_test(test_truncated_prefixes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
