/* The umbrella header compiles in-tree (generated version.h included) and its version
 * macros agree with the version string. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "firn/firn.h"

static void test_version(void **state) {
  (void)state;
  char v[32];
  snprintf(v, sizeof v, "%d.%d.%d", FIRN_VERSION_MAJOR, FIRN_VERSION_MINOR, FIRN_VERSION_PATCH);
  assert_string_equal(v, FIRN_VERSION_STRING);
  assert_int_equal(FIRN_VERSION_NUM,
                   FIRN_VERSION_MAJOR * 10000 + FIRN_VERSION_MINOR * 100 + FIRN_VERSION_PATCH);
  /* one symbol from each public header the umbrella pulls in */
  assert_non_null(firn_strerror(FIRN_OK));
  assert_int_equal(firn_stun_type(FIRN_STUN_BINDING, FIRN_STUN_REQUEST), 0x0001);
  assert_string_equal(firn_ice_state_name(FIRN_ICE_CONNECTED), "connected");
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_version)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
