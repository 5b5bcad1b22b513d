/* Conversions between firn_addr and the OS socket address types. */
#include "uv/uv_internal.h"

#include <netinet/in.h>
#include <string.h>

socklen_t firn_uv_to_sockaddr(const firn_addr *a, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (a->family == FIRN_AF_INET) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(a->port);
    memcpy(&s4->sin_addr, a->addr, 4);
    return sizeof *s4;
  }
  if (a->family == FIRN_AF_INET6) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(a->port);
    s6->sin6_scope_id = a->scope_id;
    memcpy(&s6->sin6_addr, a->addr, 16);
    return sizeof *s6;
  }
  return 0;
}

int firn_uv_from_sockaddr(firn_addr *a, const struct sockaddr *sa) {
  memset(a, 0, sizeof *a);
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    firn_addr_set_ipv4(a, (const uint8_t *)&s4->sin_addr, ntohs(s4->sin_port));
    return FIRN_OK;
  }
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    firn_addr_set_ipv6(a, (const uint8_t *)&s6->sin6_addr, ntohs(s6->sin6_port));
    a->scope_id = s6->sin6_scope_id;
    return FIRN_OK;
  }
  return FIRN_ERR_INVALID_ARG;
}
