/* Conversions between firn_addr and the OS socket address types. */
#include "uv/uv_internal.h"

#include <netinet/in.h>
#include <string.h>

socklen_t firn_uv_to_sockaddr(const firn_addr *a, struct sockaddr_storage *ss) {
  /* Built in typed locals and copied, so no pointer cast needs sockaddr_storage's alignment
   * to be visible to the compiler (clang -Wcast-align). */
  memset(ss, 0, sizeof *ss);
  if (a->family == FIRN_AF_INET) {
    struct sockaddr_in s4;
    memset(&s4, 0, sizeof s4);
    s4.sin_family = AF_INET;
    s4.sin_port = htons(a->port);
    memcpy(&s4.sin_addr, a->addr, 4);
    memcpy(ss, &s4, sizeof s4);
    return sizeof s4;
  }
  if (a->family == FIRN_AF_INET6) {
    struct sockaddr_in6 s6;
    memset(&s6, 0, sizeof s6);
    s6.sin6_family = AF_INET6;
    s6.sin6_port = htons(a->port);
    s6.sin6_scope_id = a->scope_id;
    memcpy(&s6.sin6_addr, a->addr, 16);
    memcpy(ss, &s6, sizeof s6);
    return sizeof s6;
  }
  return 0;
}

int firn_uv_from_sockaddr(firn_addr *a, const struct sockaddr *sa) {
  memset(a, 0, sizeof *a);
  if (sa->sa_family == AF_INET) {
    struct sockaddr_in s4;
    memcpy(&s4, sa, sizeof s4);
    firn_addr_set_ipv4(a, (const uint8_t *)&s4.sin_addr, ntohs(s4.sin_port));
    return FIRN_OK;
  }
  if (sa->sa_family == AF_INET6) {
    struct sockaddr_in6 s6;
    memcpy(&s6, sa, sizeof s6);
    firn_addr_set_ipv6(a, (const uint8_t *)&s6.sin6_addr, ntohs(s6.sin6_port));
    a->scope_id = s6.sin6_scope_id;
    return FIRN_OK;
  }
  return FIRN_ERR_INVALID_ARG;
}
