/* RFC 8839 5.1 candidate attributes, RFC 8445 5.1.2.1 priorities, ICE credential checks and
 * VPN interface names.
 *
 * The parser is deliberately liberal where real peers differ and strict where a mistake could
 * mislead the agent:
 * - "a=" and "candidate:" are optional, trailing CR/LF is ignored, tokens may be separated by
 *   runs of SP/HTAB; keywords and values (UDP, typ, host, raddr, tcptype, passive...) are
 *   matched case-insensitively, as ABNF literals are (RFC 5234 2.3).
 * - raddr, rport and tcptype are recognised anywhere among the name/value pairs after
 *   "typ <type>" (RFC 6544 makes tcptype an extension); any other well-formed pair
 *   (generation, ufrag, network-id, network-cost, ...) is skipped.
 * - A host name as raddr (informational only, RFC 8839 5.1) is tolerated and dropped; a host
 *   name as connection address is FIRN_ERR_UNSUPPORTED (firn resolves no mDNS names).
 * - tcptype on a UDP candidate is ignored; a TCP candidate without one is rejected
 *   (RFC 6544 4.5).
 * - Each of raddr, rport, tcptype may appear once; a name without a value is an error.
 * When a line is both malformed and unsupported, it is reported as malformed. */
#include "firn/ice.h"
#include "firn/sdp.h"

#include "ice/sdp_internal.h"

#include <string.h>

static int fail(const char **reason, const char *why) {
  if (reason) *reason = why;
  return FIRN_ERR_ICE_BAD_CANDIDATE;
}

static const char *const type_names[] = {"host", "srflx", "prflx", "relay"};
static const char *const tcp_type_names[] = {"", "active", "passive", "so"};

const char *firn_cand_type_name(firn_cand_type type) {
  if ((unsigned)type < sizeof type_names / sizeof type_names[0]) return type_names[type];
  return "unknown";
}

int firn_candidate_parse_ex(firn_candidate *cand, const char *line, size_t len,
                            const char **reason) {
  if (!cand || (!line && len)) {
    if (reason) *reason = "NULL argument";
    return FIRN_ERR_INVALID_ARG;
  }
  memset(cand, 0, sizeof *cand);
  if (!line) return fail(reason, "empty line");

  firn_candidate c;
  memset(&c, 0, sizeof c);
  const char *p = line, *end = line + len;
  int had_a = firn_sdp_strip_line(&p, &end);
  static const char prefix[] = "candidate:";
  const size_t plen = sizeof prefix - 1;
  if ((size_t)(end - p) >= plen && firn_sdp_ieq(p, plen, prefix)) p += plen;
  else if (had_a) return fail(reason, "not a candidate attribute");

  const char *unsupported = NULL; /* reported only if the line is otherwise well-formed */
  const char *tok;
  size_t tlen;
  uint64_t num;
  int rc;

  /* foundation: 1*32 ice-char */
  if (firn_sdp_next_token(&p, end, &tok, &tlen) != 1) return fail(reason, "empty candidate");
  if (tlen > FIRN_ICE_FOUNDATION_MAX - 1) return fail(reason, "foundation longer than 32 characters");
  if (!firn_sdp_is_ice_chars(tok, tlen))
    return fail(reason, "foundation holds a character other than ALPHA / DIGIT / + / /");
  memcpy(c.foundation, tok, tlen);

  /* component-id: 1*3 DIGIT, 1..256 */
  if (firn_sdp_next_token(&p, end, &tok, &tlen) != 1) return fail(reason, "missing component-id");
  if (firn_sdp_parse_uint(tok, tlen, 3, 256, &num) < 0 || num == 0)
    return fail(reason, "component-id not 1..256");
  c.component = (uint16_t)num;

  /* transport: "UDP" / "TCP" / token */
  if (firn_sdp_next_token(&p, end, &tok, &tlen) != 1) return fail(reason, "missing transport");
  if (firn_sdp_ieq(tok, tlen, "udp")) c.transport = FIRN_TRANSPORT_UDP;
  else if (firn_sdp_ieq(tok, tlen, "tcp")) c.transport = FIRN_TRANSPORT_TCP;
  else if (firn_sdp_is_token(tok, tlen)) unsupported = "transport other than UDP or TCP";
  else return fail(reason, "transport is not a token");

  /* priority: 1*10 DIGIT, within uint32 */
  if (firn_sdp_next_token(&p, end, &tok, &tlen) != 1) return fail(reason, "missing priority");
  if (firn_sdp_parse_uint(tok, tlen, 10, UINT32_MAX, &num) < 0)
    return fail(reason, "priority not 0..4294967295");
  c.priority = (uint32_t)num;

  /* connection-address: IPv4 / IPv6 (host names unsupported) */
  if (firn_sdp_next_token(&p, end, &tok, &tlen) != 1) return fail(reason, "missing connection-address");
  rc = firn_sdp_parse_ip(tok, tlen, &c.addr);
  if (rc == FIRN_ERR_UNSUPPORTED) {
    if (!unsupported) unsupported = "connection-address is a host name (e.g. mDNS), not an IP address";
  } else if (rc < 0) {
    return fail(reason, "connection-address is not an IPv4 or IPv6 address");
  }

  /* port */
  if (firn_sdp_next_token(&p, end, &tok, &tlen) != 1) return fail(reason, "missing port");
  if (firn_sdp_parse_uint(tok, tlen, 5, 65535, &num) < 0) return fail(reason, "port not 0..65535");
  c.addr.port = (uint16_t)num;

  /* "typ" cand-type */
  if (firn_sdp_next_token(&p, end, &tok, &tlen) != 1 || !firn_sdp_ieq(tok, tlen, "typ"))
    return fail(reason, "missing \"typ\"");
  if (firn_sdp_next_token(&p, end, &tok, &tlen) != 1) return fail(reason, "missing candidate type");
  int type = -1;
  for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
    if (firn_sdp_ieq(tok, tlen, type_names[i])) type = (int)i;
  if (type >= 0) c.type = (uint8_t)type;
  else if (firn_sdp_is_token(tok, tlen)) {
    if (!unsupported) unsupported = "candidate type other than host, srflx, prflx or relay";
  } else {
    return fail(reason, "candidate type is not a token");
  }

  /* name/value pairs: raddr, rport, tcptype, and extensions */
  int have_raddr = 0, raddr_ip = 0, have_rport = 0, have_tcptype = 0;
  firn_addr raddr;
  uint16_t rport = 0;
  memset(&raddr, 0, sizeof raddr);
  while (firn_sdp_next_token(&p, end, &tok, &tlen) == 1) {
    const char *name = tok;
    size_t nlen = tlen;
    if (!firn_sdp_is_token(name, nlen)) return fail(reason, "extension name is not a token");
    if (firn_sdp_next_token(&p, end, &tok, &tlen) != 1)
      return fail(reason, "extension attribute without a value");
    if (firn_sdp_ieq(name, nlen, "raddr")) {
      if (have_raddr) return fail(reason, "raddr given twice");
      have_raddr = 1;
      rc = firn_sdp_parse_ip(tok, tlen, &raddr);
      if (rc == 0) raddr_ip = 1;
      else if (rc != FIRN_ERR_UNSUPPORTED) /* a host name is tolerated and dropped */
        return fail(reason, "raddr is not an IPv4 or IPv6 address");
    } else if (firn_sdp_ieq(name, nlen, "rport")) {
      if (have_rport) return fail(reason, "rport given twice");
      have_rport = 1;
      if (firn_sdp_parse_uint(tok, tlen, 5, 65535, &num) < 0) return fail(reason, "rport not 0..65535");
      rport = (uint16_t)num;
    } else if (firn_sdp_ieq(name, nlen, "tcptype")) {
      if (have_tcptype) return fail(reason, "tcptype given twice");
      have_tcptype = 1;
      int t = 0;
      for (size_t i = 1; i < sizeof tcp_type_names / sizeof tcp_type_names[0]; i++)
        if (firn_sdp_ieq(tok, tlen, tcp_type_names[i])) t = (int)i;
      if (!t) return fail(reason, "tcptype not active, passive or so");
      c.tcptype = (uint8_t)t;
    } else if (!firn_sdp_is_vchars(tok, tlen)) {
      return fail(reason, "extension value holds a non-printable character");
    }
  }

  if (unsupported) {
    if (reason) *reason = unsupported;
    return FIRN_ERR_UNSUPPORTED;
  }
  if (c.transport == FIRN_TRANSPORT_TCP) {
    if (!have_tcptype) return fail(reason, "TCP candidate without tcptype");
  } else {
    c.tcptype = FIRN_TCP_NONE; /* tcptype on UDP means nothing: ignored */
  }
  if (raddr_ip) {
    c.related = raddr;
    c.related.port = rport; /* raddr without rport: port 0 */
  }
  *cand = c;
  return FIRN_OK;
}

int firn_candidate_parse(firn_candidate *cand, const char *line, size_t len) {
  return firn_candidate_parse_ex(cand, line, len, NULL);
}

int firn_candidate_format(const firn_candidate *cand, char *buf, size_t size) {
  if (!buf) return FIRN_ERR_INVALID_ARG;
  if (size) buf[0] = 0;
  if (!cand) return FIRN_ERR_INVALID_ARG;
  size_t flen = strnlen(cand->foundation, sizeof cand->foundation);
  char ip[FIRN_ADDR_STRLEN], rip[FIRN_ADDR_STRLEN];
  if (flen == 0 || flen >= sizeof cand->foundation ||
      !firn_sdp_is_ice_chars(cand->foundation, flen) || cand->component < 1 ||
      cand->component > 256 ||
      (cand->transport != FIRN_TRANSPORT_UDP && cand->transport != FIRN_TRANSPORT_TCP) ||
      cand->type > FIRN_CAND_RELAY || cand->tcptype > FIRN_TCP_SO ||
      (cand->transport == FIRN_TRANSPORT_TCP && cand->tcptype == FIRN_TCP_NONE) ||
      firn_sdp_format_ip(&cand->addr, ip, sizeof ip) < 0 ||
      (cand->related.family != FIRN_AF_NONE &&
       firn_sdp_format_ip(&cand->related, rip, sizeof rip) < 0))
    return FIRN_ERR_INVALID_ARG;

  firn_sdp_out o;
  firn_sdp_out_init(&o, buf, size);
  firn_sdp_out_str(&o, "candidate:");
  firn_sdp_out_mem(&o, cand->foundation, flen);
  firn_sdp_out_mem(&o, " ", 1);
  firn_sdp_out_uint(&o, cand->component);
  firn_sdp_out_str(&o, cand->transport == FIRN_TRANSPORT_TCP ? " tcp " : " udp ");
  firn_sdp_out_uint(&o, cand->priority);
  firn_sdp_out_mem(&o, " ", 1);
  firn_sdp_out_str(&o, ip);
  firn_sdp_out_mem(&o, " ", 1);
  firn_sdp_out_uint(&o, cand->addr.port);
  firn_sdp_out_str(&o, " typ ");
  firn_sdp_out_str(&o, type_names[cand->type]);
  if (cand->related.family != FIRN_AF_NONE) {
    firn_sdp_out_str(&o, " raddr ");
    firn_sdp_out_str(&o, rip);
    firn_sdp_out_str(&o, " rport ");
    firn_sdp_out_uint(&o, cand->related.port);
  }
  if (cand->transport == FIRN_TRANSPORT_TCP) {
    firn_sdp_out_str(&o, " tcptype ");
    firn_sdp_out_str(&o, tcp_type_names[cand->tcptype]);
  }
  return firn_sdp_out_finish(&o);
}

/* ------------------------------------------------------------------------------------------ */

int firn_ice_cred_check(const char *s, size_t len, size_t min, const char **reason,
                        const char *too_short) {
  const char *why = NULL;
  if (!s || len < min) why = too_short ? too_short : "credential too short";
  else if (len > FIRN_ICE_CRED_MAX) why = "credential longer than 256 characters";
  else if (!firn_sdp_is_ice_chars(s, len))
    why = "credential holds a character other than ALPHA / DIGIT / + / /";
  if (!why) return FIRN_OK;
  if (reason) *reason = why;
  return FIRN_ERR_ICE_BAD_CREDENTIALS;
}

int firn_ice_check_ufrag(const char *ufrag, size_t len) {
  return firn_ice_cred_check(ufrag, len, FIRN_ICE_UFRAG_MIN, NULL, NULL);
}

int firn_ice_check_pwd(const char *pwd, size_t len) {
  return firn_ice_cred_check(pwd, len, FIRN_ICE_PWD_MIN, NULL, NULL);
}

/* RFC 8445 5.1.2.1. Out-of-range inputs are clamped so the result stays a valid priority:
 * type_pref to 126, component to 1..256. */
uint32_t firn_ice_priority(uint8_t type_pref, uint16_t local_pref, uint16_t component) {
  if (type_pref > 126) type_pref = 126;
  if (component < 1) component = 1;
  if (component > 256) component = 256;
  return ((uint32_t)type_pref << 24) + ((uint32_t)local_pref << 8) + (uint32_t)(256 - component);
}

/* An interface name looks like a VPN tunnel when it starts with one of these prefixes
 * (ASCII case ignored) followed by the end of the name, a digit, or one of '-', '_', '.':
 * "tun0", "wg0", "wg-mullvad", "utun3", "ppp0", "ipsec0", "TAP-Windows Adapter" are tunnels;
 * "tunnelx", "tunl0", "wlan0", "eth0", "lo", "tailscale0" are not (a letter after the prefix
 * makes it another word, so "tap" does not swallow "tapestry"). */
int firn_ice_ifname_is_vpn(const char *ifname) {
  static const char *const prefixes[] = {"tun", "tap", "wg", "ppp", "ipsec", "utun"};
  if (!ifname) return 0;
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
    size_t n = strlen(prefixes[i]);
    if (strnlen(ifname, n) < n || !firn_sdp_ieq(ifname, n, prefixes[i])) continue;
    unsigned char next = (unsigned char)ifname[n];
    if (next == 0 || firn_sdp_is_digit(next) || next == '-' || next == '_' || next == '.') return 1;
  }
  return 0;
}
