/* STUN/TURN server URIs (RFC 7064, RFC 7065). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "firn/uv.h"

static void expect(const char *s, int turn, int transport, const char *host, unsigned port) {
  firn_server_uri u;
  int rc = firn_server_uri_parse(&u, s);
  if (rc != FIRN_OK) fail_msg("%s: %s", s, firn_strerror(rc));
  assert_int_equal(u.turn, turn);
  assert_int_equal(u.transport, transport);
  assert_string_equal(u.host, host);
  assert_int_equal(u.port, port);
}

static void test_valid(void **state) {
  (void)state;
  expect("stun:192.0.2.1", 0, FIRN_TRANSPORT_UDP, "192.0.2.1", 3478);
  expect("stun:stun.example.org:19302", 0, FIRN_TRANSPORT_UDP, "stun.example.org", 19302);
  expect("STUN:[2001:db8::5]:3479", 0, FIRN_TRANSPORT_UDP, "2001:db8::5", 3479);
  expect("stuns:example.org", 0, FIRN_TRANSPORT_TLS, "example.org", 5349);
  expect("turn:203.0.113.9", 1, FIRN_TRANSPORT_UDP, "203.0.113.9", 3478);
  expect("turn:turn.example.org?transport=tcp", 1, FIRN_TRANSPORT_TCP, "turn.example.org", 3478);
  expect("turn:turn.example.org:80?transport=udp", 1, FIRN_TRANSPORT_UDP, "turn.example.org", 80);
  expect("turns:turn.example.org:443", 1, FIRN_TRANSPORT_TLS, "turn.example.org", 443);
  expect("turns:turn.example.org:443?transport=tcp", 1, FIRN_TRANSPORT_TLS, "turn.example.org", 443);
  expect("turn:[::1]:3478?transport=tcp", 1, FIRN_TRANSPORT_TCP, "::1", 3478);
}

static void test_invalid(void **state) {
  (void)state;
  firn_server_uri u;
  const char *parse_err[] = {"", "stun:", "stun::3478", "stun:host:", "stun:host:0", "stun:host:65536",
                             "stun:host:12a", "stun://host", "stun:host?transport=udp",
                             "turn:host?foo=bar", "stun:[::1", "stun:::1", "stun:ho st",
                             "192.0.2.1:3478", "turn:[]:1"};
  for (size_t i = 0; i < sizeof parse_err / sizeof *parse_err; i++) {
    int rc = firn_server_uri_parse(&u, parse_err[i]);
    if (rc != FIRN_ERR_PARSE) fail_msg("'%s' gave %d", parse_err[i], rc);
  }
  const char *unsupported[] = {"http:example.org", "turn:host?transport=sctp", "turns:host?transport=udp",
                               "sip:alice@example.org"};
  for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++) {
    int rc = firn_server_uri_parse(&u, unsupported[i]);
    if (rc != FIRN_ERR_UNSUPPORTED) fail_msg("'%s' gave %d", unsupported[i], rc);
  }
  assert_int_equal(firn_server_uri_parse(NULL, "stun:a"), FIRN_ERR_INVALID_ARG);
  assert_int_equal(firn_server_uri_parse(&u, NULL), FIRN_ERR_INVALID_ARG);
  char longhost[400];
  memset(longhost, 'a', sizeof longhost);
  memcpy(longhost, "stun:", 5);
  longhost[sizeof longhost - 1] = 0;
  assert_int_equal(firn_server_uri_parse(&u, longhost), FIRN_ERR_PARSE);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_valid), cmocka_unit_test(test_invalid)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
