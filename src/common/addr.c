#include "firn/common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void firn_addr_set_ipv4(firn_addr *a, const uint8_t ip[4], uint16_t port) {
  memset(a, 0, sizeof *a);
  a->family = FIRN_AF_INET;
  a->port = port;
  memcpy(a->addr, ip, 4);
}

void firn_addr_set_ipv6(firn_addr *a, const uint8_t ip[16], uint16_t port) {
  memset(a, 0, sizeof *a);
  a->family = FIRN_AF_INET6;
  a->port = port;
  memcpy(a->addr, ip, 16);
}

static int parse_port(const char *s, uint16_t *port) {
  if (!*s) return FIRN_ERR_PARSE;
  unsigned long v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return FIRN_ERR_PARSE;
    v = v * 10 + (unsigned long)(*p - '0');
    if (v > 65535) return FIRN_ERR_PARSE;
  }
  *port = (uint16_t)v;
  return FIRN_OK;
}

int firn_addr_parse(firn_addr *a, const char *str, uint16_t default_port) {
  if (!a || !str) return FIRN_ERR_INVALID_ARG;
  char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
  const char *port_str = NULL;
  size_t n = strlen(str);
  if (n == 0 || n >= 128) return FIRN_ERR_PARSE;
  if (str[0] == '[') {
    const char *end = strchr(str, ']');
    if (!end) return FIRN_ERR_PARSE;
    size_t hl = (size_t)(end - str - 1);
    if (hl == 0 || hl >= sizeof host) return FIRN_ERR_PARSE;
    memcpy(host, str + 1, hl);
    host[hl] = 0;
    if (end[1] == ':') port_str = end + 2;
    else if (end[1] != 0) return FIRN_ERR_PARSE;
  } else {
    const char *colon = strchr(str, ':');
    if (colon && strchr(colon + 1, ':')) {
      /* bare IPv6 without port */
      if (n >= sizeof host) return FIRN_ERR_PARSE;
      memcpy(host, str, n + 1);
    } else {
      size_t hl = colon ? (size_t)(colon - str) : n;
      if (hl == 0 || hl >= sizeof host) return FIRN_ERR_PARSE;
      memcpy(host, str, hl);
      host[hl] = 0;
      if (colon) port_str = colon + 1;
    }
  }
  uint16_t port = default_port;
  if (port_str && parse_port(port_str, &port) < 0) return FIRN_ERR_PARSE;

  uint32_t scope = 0;
  char *pct = strchr(host, '%');
  if (pct) {
    *pct = 0;
    const char *zone = pct + 1;
    if (!*zone) return FIRN_ERR_PARSE;
    char *endp;
    errno = 0;
    unsigned long v = strtoul(zone, &endp, 10);
    if (*endp == 0 && errno == 0 && v <= UINT32_MAX) scope = (uint32_t)v;
    else {
      scope = if_nametoindex(zone);
      if (scope == 0) return FIRN_ERR_PARSE;
    }
  }
  uint8_t buf[16];
  if (inet_pton(AF_INET, host, buf) == 1) {
    if (pct) return FIRN_ERR_PARSE;
    firn_addr_set_ipv4(a, buf, port);
    return FIRN_OK;
  }
  if (inet_pton(AF_INET6, host, buf) == 1) {
    firn_addr_set_ipv6(a, buf, port);
    a->scope_id = scope;
    return FIRN_OK;
  }
  return FIRN_ERR_PARSE;
}

int firn_addr_format(const firn_addr *a, int with_port, char *buf, size_t size) {
  char ip[INET6_ADDRSTRLEN + 16];
  if (!a || !buf) return FIRN_ERR_INVALID_ARG;
  int n;
  if (a->family == FIRN_AF_INET) {
    if (!inet_ntop(AF_INET, a->addr, ip, sizeof ip)) return FIRN_ERR_INVALID_ARG;
    n = with_port ? snprintf(buf, size, "%s:%u", ip, a->port) : snprintf(buf, size, "%s", ip);
  } else if (a->family == FIRN_AF_INET6) {
    if (!inet_ntop(AF_INET6, a->addr, ip, sizeof ip)) return FIRN_ERR_INVALID_ARG;
    char scope[16] = "";
    if (a->scope_id) snprintf(scope, sizeof scope, "%%%u", (unsigned)a->scope_id);
    n = with_port ? snprintf(buf, size, "[%s%s]:%u", ip, scope, a->port)
                  : snprintf(buf, size, "%s%s", ip, scope);
  } else {
    n = snprintf(buf, size, "(none)");
  }
  if (n < 0 || (size_t)n >= size) return FIRN_ERR_NOBUF;
  return n;
}

static size_t addr_len(const firn_addr *a) { return a->family == FIRN_AF_INET ? 4 : 16; }

int firn_addr_equal_ip(const firn_addr *a, const firn_addr *b) {
  if (a->family != b->family) return 0;
  if (a->family == FIRN_AF_NONE) return 1;
  return memcmp(a->addr, b->addr, addr_len(a)) == 0;
}

int firn_addr_equal(const firn_addr *a, const firn_addr *b) {
  return firn_addr_equal_ip(a, b) && a->port == b->port;
}

int firn_addr_is_loopback(const firn_addr *a) {
  static const uint8_t v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  if (a->family == FIRN_AF_INET) return a->addr[0] == 127;
  if (a->family == FIRN_AF_INET6) return memcmp(a->addr, v6lo, 16) == 0;
  return 0;
}

int firn_addr_is_link_local(const firn_addr *a) {
  if (a->family == FIRN_AF_INET6) return a->addr[0] == 0xfe && (a->addr[1] & 0xc0) == 0x80;
  if (a->family == FIRN_AF_INET) return a->addr[0] == 169 && a->addr[1] == 254;
  return 0;
}

int firn_addr_is_any(const firn_addr *a) {
  static const uint8_t zero[16];
  if (a->family == FIRN_AF_NONE) return 0;
  return memcmp(a->addr, zero, addr_len(a)) == 0;
}

int firn_addr_is_v4mapped(const firn_addr *a) {
  static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return a->family == FIRN_AF_INET6 && memcmp(a->addr, prefix, 12) == 0;
}
