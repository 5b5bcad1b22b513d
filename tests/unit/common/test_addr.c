/* Socket address parsing, formatting and classification. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "firn/common.h"

static void roundtrip(const char *in, uint16_t defport, const char *expect) {
  firn_addr a;
  char buf[FIRN_ADDR_STRLEN];
  assert_int_equal(firn_addr_parse(&a, in, defport), FIRN_OK);
  assert_true(firn_addr_format(&a, 1, buf, sizeof buf) > 0);
  assert_string_equal(buf, expect);
}

static void test_parse_format(void **state) {
  (void)state;
  roundtrip("192.0.2.1:3478", 0, "192.0.2.1:3478");
  roundtrip("192.0.2.1", 5349, "192.0.2.1:5349");
  roundtrip("[2001:db8::1]:443", 0, "[2001:db8::1]:443");
  roundtrip("2001:db8::1", 7, "[2001:db8::1]:7");
  roundtrip("::1", 1, "[::1]:1");
  roundtrip("[fe80::1%3]:9", 0, "[fe80::1%3]:9");
}

static void test_parse_rejects(void **state) {
  (void)state;
  firn_addr a;
  const char *bad[] = {"", "1.2.3", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:x", "[::1", "[::1]x",
                       "[]:5", "300.1.1.1", "example.org", "1.2.3.4%1", "[::1]:-1", "::g"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_int_equal(firn_addr_parse(&a, bad[i], 0), FIRN_ERR_PARSE);
  assert_int_equal(firn_addr_parse(NULL, "1.2.3.4", 0), FIRN_ERR_INVALID_ARG);
}

static void test_format_nobuf(void **state) {
  (void)state;
  firn_addr a;
  char small[8];
  assert_int_equal(firn_addr_parse(&a, "198.51.100.200:65535", 0), FIRN_OK);
  assert_int_equal(firn_addr_format(&a, 1, small, sizeof small), FIRN_ERR_NOBUF);
  char ip[32];
  assert_int_equal(firn_addr_format(&a, 0, ip, sizeof ip), 14);
  assert_string_equal(ip, "198.51.100.200");
}

static void test_classify(void **state) {
  (void)state;
  firn_addr a, b;
  firn_addr_parse(&a, "127.0.0.5:1", 0);
  assert_true(firn_addr_is_loopback(&a));
  firn_addr_parse(&a, "::1", 0);
  assert_true(firn_addr_is_loopback(&a));
  firn_addr_parse(&a, "fe80::abcd", 0);
  assert_true(firn_addr_is_link_local(&a));
  assert_false(firn_addr_is_loopback(&a));
  firn_addr_parse(&a, "0.0.0.0", 0);
  assert_true(firn_addr_is_any(&a));
  firn_addr_parse(&a, "::ffff:192.0.2.1", 0);
  assert_true(firn_addr_is_v4mapped(&a));
  firn_addr_parse(&a, "203.0.113.1:5", 0);
  firn_addr_parse(&b, "203.0.113.1:6", 0);
  assert_false(firn_addr_equal(&a, &b));
  assert_true(firn_addr_equal_ip(&a, &b));
  b.port = 5;
  assert_true(firn_addr_equal(&a, &b));
  firn_addr_parse(&b, "::ffff:203.0.113.1", 5);
  assert_false(firn_addr_equal(&a, &b));
}

static void test_strerror(void **state) {
  (void)state;
  assert_string_equal(firn_strerror(FIRN_OK), "success");
  assert_non_null(strstr(firn_strerror(FIRN_ERR_STUN_RFC3489), "3489"));
  assert_string_equal(firn_strerror(-9999), "unknown error");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_format), cmocka_unit_test(test_parse_rejects),
      cmocka_unit_test(test_format_nobuf), cmocka_unit_test(test_classify),
      cmocka_unit_test(test_strerror),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
