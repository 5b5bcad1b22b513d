/* The whole-session SDP helper: the contract's exact shape, round trips, peers' SDP with
 * lines firn does not use, and bad SDP with a clear reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "firn/media.h"

static const char *FP =
    "sha-256 C5:80:13:72:1D:53:B6:43:7A:DF:FD:4C:ED:3A:C1:06:35:80:5E:7E:C4:84:98:C0:A2:EF:6B:19:4A:89:89:D7";

static void sample(firn_media_desc *d) {
  firn_media_desc_default(d);
  d->session_id = 1234567890123ull;
  d->port = 5000;
  assert_int_equal(firn_addr_parse(&d->connection, "10.0.0.1", 0), 0);
  snprintf(d->ice_ufrag, sizeof d->ice_ufrag, "BpQc");
  snprintf(d->ice_pwd, sizeof d->ice_pwd, "tKIsQPlKDp3zYE4HjXNXqNY0");
  snprintf(d->fingerprint, sizeof d->fingerprint, "%s", FP);
  d->setup = FIRN_MEDIA_SETUP_ACTPASS;
  assert_int_equal(firn_candidate_parse(&d->candidates[0], "candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host",
                                        strlen("candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host")), 0);
  const char *tcp = "candidate:2 1 tcp 1518280447 10.0.0.1 9 typ host tcptype active";
  assert_int_equal(firn_candidate_parse(&d->candidates[1], tcp, strlen(tcp)), 0);
  d->n_candidates = 2;
  d->end_of_candidates = 1;
}

static void test_format_matches_contract(void **state) {
  (void)state;
  firn_media_desc d;
  sample(&d);
  char sdp[4096];
  int n = firn_sdp_media_format(&d, sdp, sizeof sdp);
  assert_true(n > 0);
  assert_int_equal((size_t)n, strlen(sdp));
  const char *expect =
      "v=0\r\n"
      "o=- 1234567890123 1 IN IP4 10.0.0.1\r\n"
      "s=-\r\n"
      "t=0 0\r\n"
      "m=audio 5000 RTP/SAVPF 0\r\n"
      "c=IN IP4 10.0.0.1\r\n"
      "a=mid:0\r\n"
      "a=sendrecv\r\n"
      "a=rtcp-mux\r\n"
      "a=rtpmap:0 PCMU/8000\r\n"
      "a=ptime:20\r\n"
      "a=ice-ufrag:BpQc\r\n"
      "a=ice-pwd:tKIsQPlKDp3zYE4HjXNXqNY0\r\n";
  assert_memory_equal(sdp, expect, strlen(expect));
  assert_non_null(strstr(sdp, "\r\na=fingerprint:sha-256 C5:80:"));
  assert_non_null(strstr(sdp, "\r\na=setup:actpass\r\na=candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host\r\n"));
  assert_non_null(strstr(sdp, "tcptype active\r\na=end-of-candidates\r\n"));
  assert_null(strstr(sdp, "a=rtcp:"));
  assert_null(strstr(sdp, "ice-lite"));
  /* every line ends in CRLF, no bare LF */
  for (int i = 0; i < n; i++)
    if (sdp[i] == '\n') assert_int_equal(sdp[i - 1], '\r');
  /* lite goes at session level, before m= */
  d.ice_lite = 1;
  n = firn_sdp_media_format(&d, sdp, sizeof sdp);
  assert_true(n > 0);
  assert_true(strstr(sdp, "a=ice-lite\r\n") < strstr(sdp, "m=audio"));
  /* IPv6 */
  assert_int_equal(firn_addr_parse(&d.connection, "2001:db8::1", 0), 0);
  n = firn_sdp_media_format(&d, sdp, sizeof sdp);
  assert_non_null(strstr(sdp, "c=IN IP6 2001:db8::1\r\n"));
  /* too small a buffer */
  assert_int_equal(firn_sdp_media_format(&d, sdp, 100), FIRN_ERR_NOBUF);
  assert_string_equal(sdp, "");
  /* bad input from the application */
  d.ice_pwd[3] = '\0';
  assert_int_equal(firn_sdp_media_format(&d, sdp, sizeof sdp), FIRN_ERR_INVALID_ARG);
}

static void test_round_trip(void **state) {
  (void)state;
  firn_media_desc d, back;
  sample(&d);
  char sdp[4096];
  int n = firn_sdp_media_format(&d, sdp, sizeof sdp);
  const char *why = NULL;
  assert_int_equal(firn_sdp_media_parse(&back, sdp, (size_t)n, &why), 0);
  assert_int_equal(back.session_id, d.session_id);
  assert_string_equal(back.media, "audio");
  assert_int_equal(back.port, 5000);
  assert_string_equal(back.proto, "RTP/SAVPF");
  assert_int_equal(back.payload_type, 0);
  assert_string_equal(back.encoding, "PCMU");
  assert_int_equal(back.clock_rate, 8000);
  assert_int_equal(back.ptime, 20);
  assert_true(firn_addr_equal(&back.connection, &d.connection));
  assert_string_equal(back.mid, "0");
  assert_int_equal(back.rtcp_mux, 1);
  assert_string_equal(back.ice_ufrag, d.ice_ufrag);
  assert_string_equal(back.ice_pwd, d.ice_pwd);
  assert_string_equal(back.fingerprint, FP);
  assert_int_equal(back.setup, FIRN_MEDIA_SETUP_ACTPASS);
  assert_int_equal(back.n_candidates, 2);
  assert_int_equal(back.candidates[1].tcptype, FIRN_TCP_ACTIVE);
  assert_int_equal(back.end_of_candidates, 1);
  assert_int_equal(back.skipped_candidates, 0);
  /* LF-only line ends parse the same */
  char lf[4096];
  size_t k = 0;
  for (int i = 0; i < n; i++)
    if (sdp[i] != '\r') lf[k++] = sdp[i];
  assert_int_equal(firn_sdp_media_parse(&back, lf, k, &why), 0);
  assert_int_equal(back.n_candidates, 2);
}

/* Shaped like a browser/aiortc offer: BUNDLE, extra codecs, several fingerprints,
 * a=rtcp, an mDNS candidate, a second m= section, unknown attributes. */
static void test_tolerant_of_real_peers(void **state) {
  (void)state;
  const char *sdp =
      "v=0\r\n"
      "o=- 3891234 0 IN IP4 0.0.0.0\r\n"
      "s=-\r\n"
      "t=0 0\r\n"
      "a=group:BUNDLE 0\r\n"
      "a=msid-semantic:WMS *\r\n"
      "a=fingerprint:sha-512 11:22\r\n" /* malformed for sha-512 length... */
      "m=audio 40000 UDP/TLS/RTP/SAVPF 111 0 8\r\n"
      "c=IN IP4 192.0.2.7\r\n"
      "a=rtcp:9 IN IP4 0.0.0.0\r\n"
      "a=candidate:1 1 udp 2130706431 abc.local 40000 typ host\r\n"
      "a=candidate:2 1 udp 1694498815 192.0.2.7 40000 typ srflx raddr 10.0.0.5 rport 40000\r\n"
      "a=candidate:3 2 udp 1694498814 192.0.2.7 40001 typ srflx raddr 10.0.0.5 rport 40001\r\n"
      "a=end-of-candidates\r\n"
      "a=sendrecv\r\n"
      "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n"
      "a=mid:0\r\n"
      "a=msid:x y\r\n"
      "a=rtcp-mux\r\n"
      "a=rtpmap:111 opus/48000/2\r\n"
      "a=rtpmap:0 PCMU/8000\r\n"
      "a=rtpmap:8 PCMA/8000\r\n"
      "a=ssrc:1 cname:x\r\n"
      "a=ice-ufrag:abcd\r\n"
      "a=ice-pwd:0123456789012345678901\r\n"
      "a=fingerprint:sha-384 "
      "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:"
      "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99\r\n"
      "a=fingerprint:sha-256 "
      "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF\r\n"
      "a=setup:actpass\r\n"
      "m=video 0 UDP/TLS/RTP/SAVPF 96\r\n"
      "c=IN IP4 198.51.100.1\r\n"
      "a=ice-ufrag:zzzz\r\n"
      "a=candidate:9 1 udp 1 198.51.100.1 1 typ host\r\n";
  firn_media_desc d;
  const char *why = NULL;
  /* a malformed fingerprint is an error even when another one would do */
  assert_int_equal(firn_sdp_media_parse(&d, sdp, strlen(sdp), &why), FIRN_ERR_PARSE);
  assert_string_equal(why, "malformed a=fingerprint");
  const char *body = strstr(sdp, "m=audio");
  char fixed[4096];
  snprintf(fixed, sizeof fixed, "v=0\r\no=- 3891234 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n%s", body);
  assert_int_equal(firn_sdp_media_parse(&d, fixed, strlen(fixed), &why), 0);
  assert_string_equal(d.proto, "UDP/TLS/RTP/SAVPF");
  assert_int_equal(d.payload_type, 0);
  assert_string_equal(d.encoding, "PCMU");
  assert_int_equal(d.clock_rate, 8000);
  assert_int_equal(d.port, 40000);
  char a[64];
  firn_addr_format(&d.connection, 0, a, sizeof a);
  assert_string_equal(a, "192.0.2.7");
  assert_int_equal(d.n_candidates, 1);       /* the srflx for component 1 */
  assert_int_equal(d.skipped_candidates, 2); /* mDNS, component 2; video's not counted */
  assert_int_equal(d.candidates[0].type, FIRN_CAND_SRFLX);
  assert_string_equal(d.ice_ufrag, "abcd"); /* not the video section's */
  assert_true(strncmp(d.fingerprint, "sha-256 01:23:45", 16) == 0); /* sha-256 preferred */
  assert_int_equal(d.rtcp_mux, 1);
  assert_int_equal(d.end_of_candidates, 1);
}

/* A static payload type without a=rtpmap (RFC 3551; libnice's test peer writes this) names
 * its encoding, so what parses also formats again. */
static void test_static_payload_without_rtpmap(void **state) {
  (void)state;
  const char *sdp = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n"
                    "m=audio 5000 RTP/AVP 8\r\nc=IN IP4 10.0.0.1\r\na=mid:0\r\n"
                    "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n";
  firn_media_desc d;
  const char *why = NULL;
  assert_int_equal(firn_sdp_media_parse(&d, sdp, strlen(sdp), &why), 0);
  assert_int_equal(d.payload_type, 8);
  assert_string_equal(d.encoding, "PCMA");
  assert_int_equal(d.clock_rate, 8000);
  char out[4096];
  assert_true(firn_sdp_media_format(&d, out, sizeof out) > 0);
  assert_non_null(strstr(out, "a=rtpmap:8 PCMA/8000\r\n"));
}

static void expect_bad(const char *sdp, const char *reason_part) {
  firn_media_desc d;
  const char *why = NULL;
  assert_int_equal(firn_sdp_media_parse(&d, sdp, strlen(sdp), &why), FIRN_ERR_PARSE);
  assert_non_null(why);
  if (!strstr(why, reason_part)) fail_msg("reason '%s' lacks '%s'", why, reason_part);
}

#define HEAD "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n"
#define CRED "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n"

static void test_bad_sdp(void **state) {
  (void)state;
  expect_bad("", "empty");
  expect_bad("o=- 1 1 IN IP4 1.2.3.4\r\nv=0\r\n", "v=0");
  expect_bad("v=1\r\n", "v=0");
  expect_bad(HEAD CRED "c=IN IP4 10.0.0.1\r\n", "no m= line");
  expect_bad(HEAD "m=audio 5000 RTP/SAVPF 0\r\n" CRED, "missing c=");
  expect_bad(HEAD "m=audio 5000 RTP/SAVPF 0\r\nc=IN IP4 10.0.0.1/127\r\n" CRED, "bad c=");
  expect_bad(HEAD "m=audio 5000 RTP/SAVPF 0\r\nc=IN IP4 ::1\r\n" CRED, "bad c=");
  expect_bad(HEAD "m=audio 5000 RTP/SAVPF 0\r\nc=IN IP4\r\n" CRED, "bad c=");
  expect_bad(HEAD "m=audio 5000 RTP/SAVPF 0\r\nc=IN IP4 10.0.0.1\r\na=ice-pwd:0123456789012345678901\r\n",
             "missing a=ice-ufrag");
  expect_bad(HEAD "m=audio 5000 RTP/SAVPF 0\r\nc=IN IP4 10.0.0.1\r\na=ice-ufrag:abcd\r\n", "missing a=ice-pwd");
  expect_bad(HEAD "m=audio 5000 RTP/SAVPF 0\r\nc=IN IP4 10.0.0.1\r\na=ice-ufrag:ab\r\n", "ufrag");
  expect_bad(HEAD "m=audio 99999 RTP/SAVPF 0\r\nc=IN IP4 10.0.0.1\r\n" CRED, "port");
  expect_bad(HEAD "m=audio 5000 RTP/SAVPF\r\nc=IN IP4 10.0.0.1\r\n" CRED, "payload");
  expect_bad(HEAD "m=audio 5000 RTP/SAVPF 0\r\nc=IN IP4 10.0.0.1\r\n" CRED "a=setup:holdconn\r\n", "holdconn");
  expect_bad(HEAD "m=audio 5000 RTP/SAVPF 0\r\nc=IN IP4 10.0.0.1\r\n" CRED "a=setup:sideways\r\n", "a=setup");
  expect_bad(HEAD "m=audio 5000 RTP/SAVPF 0\r\nc=IN IP4 10.0.0.1\r\n" CRED "a=fingerprint:sha-256 zz\r\n",
             "fingerprint");
  expect_bad(HEAD "this is not sdp\r\n", "form");
  /* NUL and control bytes never end up inside the strings the description keeps */
  static const char nul[] = HEAD "m=au\0dio 5000 RTP/SAVPF 0\r\nc=IN IP4 10.0.0.1\r\n" CRED;
  firn_media_desc dn;
  const char *why = NULL;
  assert_int_equal(firn_sdp_media_parse(&dn, nul, sizeof nul - 1, &why), FIRN_ERR_PARSE);
  assert_string_equal(why, "a line holds a NUL byte");
  expect_bad(HEAD "m=au\x01dio 5000 RTP/SAVPF 0\r\nc=IN IP4 10.0.0.1\r\n" CRED, "media");
  expect_bad(HEAD "m=audio 5000 RTP/\x7fSAVPF 0\r\nc=IN IP4 10.0.0.1\r\n" CRED, "proto");
  expect_bad(HEAD "m=audio 5000 RTP/SAVPF 0\r\nc=IN IP4 10.0.0.1\r\n" CRED "a=mid:\x02\r\n", "a=mid");
  /* arguments */
  firn_media_desc d;
  assert_int_equal(firn_sdp_media_parse(NULL, "v=0", 3, NULL), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_sdp_media_parse(&d, NULL, 3, NULL), FIRN_ERR_INVALID_ARG);
  /* an unknown hash alone is tolerated (no fingerprint), the session then refuses it */
  const char *ok = HEAD "m=audio 5000 RTP/SAVPF 0\r\nc=IN IP4 10.0.0.1\r\n" CRED "a=fingerprint:md5 00:11\r\n";
  assert_int_equal(firn_sdp_media_parse(&d, ok, strlen(ok), NULL), 0);
  assert_string_equal(d.fingerprint, "");
}

static void test_session_rejects_incomplete_remote(void **state) {
  (void)state;
  firn_session_settings s;
  firn_session_settings_default(&s);
  firn_session *sess;
  assert_int_equal(firn_session_new(&sess, &s), 0);
  assert_non_null(firn_session_local_fingerprint(sess));
  firn_media_desc d;
  sample(&d);
  d.fingerprint[0] = '\0';
  assert_int_equal(firn_session_set_remote_description(sess, &d, 1), FIRN_ERR_INVALID_ARG);
  sample(&d);
  d.rtcp_mux = 0;
  assert_int_equal(firn_session_set_remote_description(sess, &d, 1), FIRN_ERR_INVALID_ARG);
  sample(&d); /* an offerer's actpass against our actpass */
  assert_int_equal(firn_session_set_remote_description(sess, &d, 1), FIRN_ERR_INVALID_ARG);
  d.setup = FIRN_MEDIA_SETUP_ACTIVE;
  assert_int_equal(firn_session_set_remote_description(sess, &d, 1), 0);
  assert_int_equal(firn_session_set_remote_description(sess, &d, 1), FIRN_ERR_STATE);
  firn_session_free(sess);
  /* settings checks */
  s.size = 3;
  assert_int_equal(firn_session_new(&sess, &s), FIRN_ERR_INVALID_ARG);
  firn_session_settings_default(&s);
  s.answer_setup = FIRN_MEDIA_SETUP_ACTPASS;
  assert_int_equal(firn_session_new(&sess, &s), FIRN_ERR_INVALID_ARG);
}

/* Hostile SDP: random byte flips, truncations and line duplications of a valid blob never
 * crash the parser, never read past the input (ASan), and either parse or give a reason. */
static void test_mutated_sdp(void **state) {
  (void)state;
  firn_media_desc d;
  sample(&d);
  char sdp[4096];
  int n = firn_sdp_media_format(&d, sdp, sizeof sdp);
  assert_true(n > 0);
  uint64_t r = 0x1234567;
  unsigned ok = 0, bad = 0;
  for (int iter = 0; iter < 20000; iter++) {
    size_t len = (size_t)n;
    char *m = malloc(len * 2 + 1); /* exact-size heap copy: ASan catches overreads */
    assert_non_null(m);
    memcpy(m, sdp, len);
    r = r * 6364136223846793005ull + 1442695040888963407ull;
    unsigned flips = (unsigned)(r >> 60) + 1;
    for (unsigned f = 0; f < flips; f++) {
      r = r * 6364136223846793005ull + 1442695040888963407ull;
      size_t at = (size_t)(r >> 33) % len;
      static const char pool[] = " :=\r\n0123456789abcdefAF./-\x00\xff";
      m[at] = pool[(r >> 20) % (sizeof pool - 1)];
    }
    if ((r >> 10) % 4 == 0) len = (size_t)(r >> 40) % (len + 1); /* truncate */
    if ((r >> 12) % 8 == 0 && len > 40) { /* duplicate a chunk */
      size_t from = (size_t)(r >> 24) % (len - 20);
      memmove(m + len, m + from, 20);
      len += 20;
    }
    char *exact = malloc(len ? len : 1);
    assert_non_null(exact);
    memcpy(exact, m, len);
    const char *why = NULL;
    int rc = firn_sdp_media_parse(&d, exact, len, &why);
    if (rc == 0) {
      ok++;
      assert_true(d.n_candidates <= FIRN_MEDIA_MAX_CANDIDATES);
      assert_true(strlen(d.ice_ufrag) >= 4);
    } else {
      bad++;
      assert_int_equal(rc, FIRN_ERR_PARSE);
      assert_non_null(why);
    }
    free(exact);
    free(m);
  }
  assert_true(ok > 0 && bad > 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_format_matches_contract),
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_tolerant_of_real_peers),
      cmocka_unit_test(test_static_payload_without_rtpmap),
      cmocka_unit_test(test_bad_sdp),
      cmocka_unit_test(test_session_rejects_incomplete_remote),
      cmocka_unit_test(test_mutated_sdp),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
