/* STUN/TURN server URIs (RFC 7064, RFC 7065). */
#include "firn/uv.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>

static int starts(const char *s, const char *prefix, size_t *n) {
  *n = strlen(prefix);
  return strncasecmp(s, prefix, *n) == 0;
}

int firn_server_uri_parse(firn_server_uri *out, const char *uri) {
  if (!out || !uri) return FIRN_ERR_INVALID_ARG;
  memset(out, 0, sizeof *out);
  size_t n;
  int secure = 0;
  if (starts(uri, "stuns:", &n)) { secure = 1; }
  else if (starts(uri, "stun:", &n)) { }
  else if (starts(uri, "turns:", &n)) { secure = 1; out->turn = 1; }
  else if (starts(uri, "turn:", &n)) { out->turn = 1; }
  else {
    /* "scheme:" of another kind (http:, sip:, ...) is unsupported; anything else is no URI */
    size_t sl = strspn(uri, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
    return (sl > 0 && uri[sl] == ':' && !isdigit((unsigned char)uri[sl + 1])) ? FIRN_ERR_UNSUPPORTED
                                                                              : FIRN_ERR_PARSE;
  }
  const char *p = uri + n;
  if (!strncmp(p, "//", 2)) return FIRN_ERR_PARSE; /* RFC 7064 has no authority part */
  const char *query = strchr(p, '?');
  size_t hostport_len = query ? (size_t)(query - p) : strlen(p);
  if (hostport_len == 0 || hostport_len >= sizeof out->host + 8) return FIRN_ERR_PARSE;
  char hp[sizeof out->host + 8];
  memcpy(hp, p, hostport_len);
  hp[hostport_len] = 0;

  char *port_str = NULL;
  if (hp[0] == '[') {
    char *end = strchr(hp, ']');
    if (!end || end == hp + 1) return FIRN_ERR_PARSE;
    *end = 0;
    if (end[1] == ':') port_str = end + 2;
    else if (end[1]) return FIRN_ERR_PARSE;
    if (strlen(hp + 1) >= sizeof out->host) return FIRN_ERR_PARSE;
    strcpy(out->host, hp + 1);
  } else {
    char *colon = strchr(hp, ':');
    if (colon) {
      if (strchr(colon + 1, ':')) return FIRN_ERR_PARSE; /* bare IPv6 must be bracketed */
      *colon = 0;
      port_str = colon + 1;
    }
    if (!hp[0] || strlen(hp) >= sizeof out->host) return FIRN_ERR_PARSE;
    for (const char *c = hp; *c; c++)
      if (!(isalnum((unsigned char)*c) || *c == '-' || *c == '.' || *c == '_')) return FIRN_ERR_PARSE;
    strcpy(out->host, hp);
  }
  out->port = secure ? 5349 : 3478;
  if (port_str) {
    if (!*port_str || strlen(port_str) > 5) return FIRN_ERR_PARSE;
    unsigned long v = 0;
    for (const char *c = port_str; *c; c++) {
      if (*c < '0' || *c > '9') return FIRN_ERR_PARSE;
      v = v * 10 + (unsigned long)(*c - '0');
    }
    if (v == 0 || v > 65535) return FIRN_ERR_PARSE;
    out->port = (uint16_t)v;
  }
  out->transport = secure ? FIRN_TRANSPORT_TLS : FIRN_TRANSPORT_UDP;
  if (query) {
    if (!out->turn) return FIRN_ERR_PARSE; /* RFC 7064: no query for stun URIs */
    const char *q = query + 1;
    if (!strcasecmp(q, "transport=udp")) {
      if (secure) return FIRN_ERR_UNSUPPORTED; /* DTLS to the TURN server: not supported */
      out->transport = FIRN_TRANSPORT_UDP;
    } else if (!strcasecmp(q, "transport=tcp")) {
      out->transport = secure ? FIRN_TRANSPORT_TLS : FIRN_TRANSPORT_TCP;
    } else if (!strncasecmp(q, "transport=", 10)) {
      return FIRN_ERR_UNSUPPORTED;
    } else {
      return FIRN_ERR_PARSE;
    }
  }
  return FIRN_OK;
}
