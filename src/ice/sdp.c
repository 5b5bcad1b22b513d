/* RFC 8839 / RFC 8840 ICE SDP attributes other than "candidate", plus the text helpers the
 * candidate parser shares. Nothing here trusts a length or a NUL terminator: every input is
 * (pointer, length) and is read only inside it. */
#include "firn/sdp.h"

#include "ice/sdp_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* ------------------------------------------------------------------------------------------ */
/* Character classes and small parsers                                                         */

int firn_sdp_is_token_char(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return 1;
  switch (c) {
  case '-': case '.': case '!': case '%': case '*': case '_': case '+': case '`': case '\'':
  case '~':
    return 1;
  default:
    return 0;
  }
}

int firn_sdp_is_token(const char *s, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (!firn_sdp_is_token_char((unsigned char)s[i])) return 0;
  return 1;
}

int firn_sdp_is_ice_chars(const char *s, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (!firn_sdp_is_ice_char((unsigned char)s[i])) return 0;
  return 1;
}

int firn_sdp_is_vchars(const char *s, size_t n) {
  if (n == 0) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x21 || c > 0x7e) return 0;
  }
  return 1;
}

static unsigned char lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

int firn_sdp_ieq(const char *s, size_t n, const char *lit) {
  size_t i = 0;
  for (; i < n; i++) {
    if (lit[i] == 0) return 0;
    if (lower((unsigned char)s[i]) != lower((unsigned char)lit[i])) return 0;
  }
  return lit[i] == 0;
}

int firn_sdp_strip_line(const char **p, const char **end) {
  while (*end > *p && ((*end)[-1] == '\r' || (*end)[-1] == '\n')) (*end)--;
  if (*end - *p >= 2 && (*p)[0] == 'a' && (*p)[1] == '=') {
    *p += 2;
    return 1;
  }
  return 0;
}

int firn_sdp_parse_uint(const char *s, size_t n, unsigned max_digits, uint64_t max, uint64_t *out) {
  if (n == 0 || n > max_digits || max_digits > 19) return FIRN_ERR_PARSE;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!firn_sdp_is_digit((unsigned char)s[i])) return FIRN_ERR_PARSE;
    v = v * 10 + (uint64_t)(s[i] - '0'); /* at most 19 digits: cannot overflow */
  }
  if (v > max) return FIRN_ERR_PARSE;
  *out = v;
  return FIRN_OK;
}

/* A syntactically valid DNS name (RFC 1123 letters, digits, hyphens, dots) with a letter. */
static int looks_like_hostname(const char *s, size_t n) {
  if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-') return 0;
  int alpha = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) alpha = 1;
    else if (!firn_sdp_is_digit(c) && c != '-' && c != '.') return 0;
  }
  return alpha;
}

int firn_sdp_parse_ip(const char *s, size_t n, firn_addr *out) {
  char tmp[INET6_ADDRSTRLEN];
  uint8_t bin[16];
  int colon = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == ':') colon = 1;
    else if (!firn_sdp_is_digit(c) && c != '.' && !(lower(c) >= 'a' && lower(c) <= 'f')) {
      colon = -1; /* a character no IP literal has */
      break;
    }
  }
  if (colon >= 0 && n > 0 && n < sizeof tmp) {
    memcpy(tmp, s, n);
    tmp[n] = 0;
    if (!colon && inet_pton(AF_INET, tmp, bin) == 1) {
      firn_addr_set_ipv4(out, bin, 0);
      return FIRN_OK;
    }
    if (colon && inet_pton(AF_INET6, tmp, bin) == 1) {
      firn_addr_set_ipv6(out, bin, 0);
      return FIRN_OK;
    }
  }
  if (colon <= 0 && looks_like_hostname(s, n)) return FIRN_ERR_UNSUPPORTED;
  return FIRN_ERR_PARSE;
}

int firn_sdp_format_ip(const firn_addr *a, char *buf, size_t size) {
  if (a->family == FIRN_AF_INET) {
    if (!inet_ntop(AF_INET, a->addr, buf, (socklen_t)size)) return FIRN_ERR_INVALID_ARG;
  } else if (a->family == FIRN_AF_INET6) {
    if (!inet_ntop(AF_INET6, a->addr, buf, (socklen_t)size)) return FIRN_ERR_INVALID_ARG;
  } else {
    return FIRN_ERR_INVALID_ARG;
  }
  return (int)strlen(buf);
}

/* ------------------------------------------------------------------------------------------ */
/* Bounded output                                                                              */

void firn_sdp_out_init(firn_sdp_out *o, char *buf, size_t size) {
  o->buf = buf;
  o->size = size;
  o->len = 0;
  o->err = 0;
}

void firn_sdp_out_mem(firn_sdp_out *o, const char *s, size_t n) {
  if (o->err) return;
  if (o->size == 0 || n >= o->size - o->len) { /* keep room for the NUL */
    o->err = FIRN_ERR_NOBUF;
    return;
  }
  memcpy(o->buf + o->len, s, n);
  o->len += n;
}

void firn_sdp_out_str(firn_sdp_out *o, const char *s) { firn_sdp_out_mem(o, s, strlen(s)); }

void firn_sdp_out_uint(firn_sdp_out *o, uint64_t v) {
  char tmp[20];
  size_t i = sizeof tmp;
  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  firn_sdp_out_mem(o, tmp + i, sizeof tmp - i);
}

int firn_sdp_out_finish(firn_sdp_out *o) {
  if (o->err || o->size == 0) {
    if (o->size > 0) o->buf[0] = 0;
    return FIRN_ERR_NOBUF;
  }
  o->buf[o->len] = 0;
  return (int)o->len;
}

/* ------------------------------------------------------------------------------------------ */
/* Lines, attributes, tokens                                                                   */

static void set_reason(const char **reason, const char *why) {
  if (reason) *reason = why;
}

static int is_ws(char c) { return c == ' ' || c == '\t'; }

static void trim_ws(const char **p, const char **end) {
  while (*p < *end && is_ws(**p)) (*p)++;
  while (*end > *p && is_ws((*end)[-1])) (*end)--;
}

int firn_sdp_attr_split(firn_sdp_attr *attr, const char *line, size_t len) {
  if (!attr || (!line && len)) return FIRN_ERR_INVALID_ARG;
  memset(attr, 0, sizeof *attr);
  if (!line) return FIRN_ERR_PARSE;
  const char *p = line, *end = line + len;
  firn_sdp_strip_line(&p, &end);
  const char *colon = p;
  while (colon < end && *colon != ':') colon++;
  if (!firn_sdp_is_token(p, (size_t)(colon - p))) return FIRN_ERR_PARSE;
  if (colon < end) {
    for (const char *q = colon + 1; q < end; q++)
      if (*q == 0 || *q == '\r' || *q == '\n') return FIRN_ERR_PARSE;
    attr->value = colon + 1;
    attr->value_len = (size_t)(end - colon - 1);
  }
  attr->name = p;
  attr->name_len = (size_t)(colon - p);
  return FIRN_OK;
}

int firn_sdp_attr_is(const firn_sdp_attr *attr, const char *name) {
  if (!attr || !name || !attr->name) return 0;
  return firn_sdp_ieq(attr->name, attr->name_len, name);
}

int firn_sdp_next_line(const char **pos, const char *end, const char **line, size_t *line_len) {
  if (!pos || !line || !line_len || (!*pos && end)) return FIRN_ERR_INVALID_ARG;
  const char *p = *pos;
  if (!p || p >= end) return 0;
  const char *q = p;
  while (q < end && *q != '\n') q++;
  const char *stop = q;
  if (stop > p && stop[-1] == '\r') stop--;
  *line = p;
  *line_len = (size_t)(stop - p);
  *pos = q < end ? q + 1 : end;
  return 1;
}

int firn_sdp_next_token(const char **pos, const char *end, const char **tok, size_t *tok_len) {
  if (!pos || !tok || !tok_len || (!*pos && end)) return FIRN_ERR_INVALID_ARG;
  const char *p = *pos;
  if (!p) return 0;
  while (p < end && is_ws(*p)) p++;
  if (p >= end) {
    *pos = p;
    return 0;
  }
  const char *q = p;
  while (q < end && !is_ws(*q)) q++;
  *tok = p;
  *tok_len = (size_t)(q - p);
  *pos = q;
  return 1;
}

int firn_sdp_match_attr(const char *line, size_t len, const char *name, const char **value,
                        size_t *value_len, const char **reason) {
  firn_sdp_attr a;
  if (firn_sdp_attr_split(&a, line, len) < 0) {
    set_reason(reason, "not an SDP attribute line");
    return FIRN_ERR_PARSE;
  }
  if (!firn_sdp_attr_is(&a, name)) {
    set_reason(reason, "a different attribute");
    return FIRN_ERR_NOT_FOUND;
  }
  *value = a.value;
  *value_len = a.value_len;
  return FIRN_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* ice-ufrag, ice-pwd                                                                          */

static int parse_cred(const char *line, size_t len, const char *name, size_t min,
                      const char *too_short, char *out, size_t size, const char **reason) {
  if (!out || (!line && len)) return FIRN_ERR_INVALID_ARG;
  const char *v;
  size_t vlen;
  int rc = firn_sdp_match_attr(line, len, name, &v, &vlen, reason);
  if (rc < 0) return rc;
  if (!v) {
    set_reason(reason, "attribute without a value");
    return FIRN_ERR_PARSE;
  }
  const char *end = v + vlen;
  trim_ws(&v, &end);
  vlen = (size_t)(end - v);
  rc = firn_ice_cred_check(v, vlen, min, reason, too_short);
  if (rc < 0) return rc;
  if (size <= vlen) {
    if (size) out[0] = 0;
    set_reason(reason, "output buffer too small");
    return FIRN_ERR_NOBUF;
  }
  memcpy(out, v, vlen);
  out[vlen] = 0;
  return (int)vlen;
}

int firn_sdp_parse_ice_ufrag(const char *line, size_t len, char *ufrag, size_t size,
                             const char **reason) {
  return parse_cred(line, len, "ice-ufrag", FIRN_ICE_UFRAG_MIN,
                    "ice-ufrag shorter than 4 characters", ufrag, size, reason);
}

int firn_sdp_parse_ice_pwd(const char *line, size_t len, char *pwd, size_t size,
                           const char **reason) {
  return parse_cred(line, len, "ice-pwd", FIRN_ICE_PWD_MIN,
                    "ice-pwd shorter than 22 characters", pwd, size, reason);
}

static int format_cred(const char *name, const char *v, size_t vlen, size_t min, char *buf,
                       size_t size) {
  if (!buf) return FIRN_ERR_INVALID_ARG;
  int rc = firn_ice_cred_check(v, vlen, min, NULL, NULL);
  if (rc < 0) {
    if (size) buf[0] = 0;
    return rc;
  }
  firn_sdp_out o;
  firn_sdp_out_init(&o, buf, size);
  firn_sdp_out_str(&o, name);
  firn_sdp_out_mem(&o, ":", 1);
  firn_sdp_out_mem(&o, v, vlen);
  return firn_sdp_out_finish(&o);
}

int firn_sdp_format_ice_ufrag(const char *ufrag, size_t ufrag_len, char *buf, size_t size) {
  return format_cred("ice-ufrag", ufrag, ufrag_len, FIRN_ICE_UFRAG_MIN, buf, size);
}

int firn_sdp_format_ice_pwd(const char *pwd, size_t pwd_len, char *buf, size_t size) {
  return format_cred("ice-pwd", pwd, pwd_len, FIRN_ICE_PWD_MIN, buf, size);
}

/* ------------------------------------------------------------------------------------------ */
/* ice-options, ice-lite, end-of-candidates                                                    */

static const struct {
  const char *tag;
  unsigned bit;
} ice_option_tags[] = {
    {"trickle", FIRN_ICE_OPTION_TRICKLE},
    {"ice2", FIRN_ICE_OPTION_ICE2},
};

int firn_sdp_parse_ice_options(const char *line, size_t len, unsigned *options,
                               unsigned *unknown, const char **reason) {
  if (!line && len) return FIRN_ERR_INVALID_ARG;
  const char *v;
  size_t vlen;
  int rc = firn_sdp_match_attr(line, len, "ice-options", &v, &vlen, reason);
  if (rc < 0) return rc;
  if (!v) {
    set_reason(reason, "ice-options without a value");
    return FIRN_ERR_PARSE;
  }
  unsigned opts = 0, unk = 0, tags = 0;
  const char *pos = v, *end = v + vlen, *tok;
  size_t tlen;
  while (firn_sdp_next_token(&pos, end, &tok, &tlen) == 1) {
    /* RFC 8839 says 1*ice-char; token characters are tolerated too, so that tags such as
     * old Chrome's "google-ice" do not make the whole description unusable. */
    for (size_t i = 0; i < tlen; i++) {
      unsigned char ch = (unsigned char)tok[i];
      if (!firn_sdp_is_ice_char(ch) && !firn_sdp_is_token_char(ch)) {
        set_reason(reason, "ice-options tag holds a character that is neither ice-char nor token");
        return FIRN_ERR_PARSE;
      }
    }
    tags++;
    unsigned bit = 0;
    for (size_t i = 0; i < sizeof ice_option_tags / sizeof ice_option_tags[0]; i++)
      if (firn_sdp_ieq(tok, tlen, ice_option_tags[i].tag)) bit = ice_option_tags[i].bit;
    if (bit) opts |= bit;
    else unk++;
  }
  if (tags == 0) {
    set_reason(reason, "ice-options without a tag");
    return FIRN_ERR_PARSE;
  }
  if (options) *options = opts;
  if (unknown) *unknown = unk;
  return FIRN_OK;
}

int firn_sdp_format_ice_options(unsigned options, char *buf, size_t size) {
  if (!buf) return FIRN_ERR_INVALID_ARG;
  if (options == 0 || (options & ~FIRN_ICE_OPTION_ALL)) {
    if (size) buf[0] = 0;
    return FIRN_ERR_INVALID_ARG;
  }
  firn_sdp_out o;
  firn_sdp_out_init(&o, buf, size);
  firn_sdp_out_str(&o, "ice-options:");
  int first = 1;
  for (size_t i = 0; i < sizeof ice_option_tags / sizeof ice_option_tags[0]; i++) {
    if (!(options & ice_option_tags[i].bit)) continue;
    if (!first) firn_sdp_out_mem(&o, " ", 1);
    firn_sdp_out_str(&o, ice_option_tags[i].tag);
    first = 0;
  }
  return firn_sdp_out_finish(&o);
}

static int parse_flag_attr(const char *line, size_t len, const char *name, const char **reason) {
  if (!line && len) return FIRN_ERR_INVALID_ARG;
  const char *v;
  size_t vlen;
  int rc = firn_sdp_match_attr(line, len, name, &v, &vlen, reason);
  if (rc < 0) return rc;
  if (v) {
    set_reason(reason, "property attribute with a value");
    return FIRN_ERR_PARSE;
  }
  return FIRN_OK;
}

static int format_flag_attr(const char *name, char *buf, size_t size) {
  if (!buf) return FIRN_ERR_INVALID_ARG;
  firn_sdp_out o;
  firn_sdp_out_init(&o, buf, size);
  firn_sdp_out_str(&o, name);
  return firn_sdp_out_finish(&o);
}

int firn_sdp_parse_ice_lite(const char *line, size_t len, const char **reason) {
  return parse_flag_attr(line, len, "ice-lite", reason);
}

int firn_sdp_format_ice_lite(char *buf, size_t size) {
  return format_flag_attr("ice-lite", buf, size);
}

int firn_sdp_parse_end_of_candidates(const char *line, size_t len, const char **reason) {
  return parse_flag_attr(line, len, "end-of-candidates", reason);
}

int firn_sdp_format_end_of_candidates(char *buf, size_t size) {
  return format_flag_attr("end-of-candidates", buf, size);
}

/* ------------------------------------------------------------------------------------------ */
/* remote-candidates                                                                           */

int firn_sdp_parse_remote_candidates(const char *line, size_t len, firn_remote_candidate *out,
                                     size_t max, size_t *count, const char **reason) {
  if ((!line && len) || !count || (!out && max)) return FIRN_ERR_INVALID_ARG;
  *count = 0;
  const char *v;
  size_t vlen;
  int rc = firn_sdp_match_attr(line, len, "remote-candidates", &v, &vlen, reason);
  if (rc < 0) return rc;
  if (!v) {
    set_reason(reason, "remote-candidates without a value");
    return FIRN_ERR_PARSE;
  }
  const char *pos = v, *end = v + vlen, *tok;
  size_t tlen, n = 0;
  while (firn_sdp_next_token(&pos, end, &tok, &tlen) == 1) {
    firn_remote_candidate rcand;
    uint64_t num;
    memset(&rcand, 0, sizeof rcand);
    if (firn_sdp_parse_uint(tok, tlen, 3, 256, &num) < 0 || num == 0) {
      set_reason(reason, "remote-candidates component not 1..256");
      return FIRN_ERR_PARSE;
    }
    rcand.component = (uint16_t)num;
    if (firn_sdp_next_token(&pos, end, &tok, &tlen) != 1) {
      set_reason(reason, "remote-candidates triple without an address");
      return FIRN_ERR_PARSE;
    }
    rc = firn_sdp_parse_ip(tok, tlen, &rcand.addr);
    if (rc == FIRN_ERR_UNSUPPORTED) {
      set_reason(reason, "remote-candidates address is a host name");
      return rc;
    }
    if (rc < 0) {
      set_reason(reason, "remote-candidates address is not an IPv4 or IPv6 address");
      return FIRN_ERR_PARSE;
    }
    if (firn_sdp_next_token(&pos, end, &tok, &tlen) != 1) {
      set_reason(reason, "remote-candidates triple without a port");
      return FIRN_ERR_PARSE;
    }
    if (firn_sdp_parse_uint(tok, tlen, 5, 65535, &num) < 0) {
      set_reason(reason, "remote-candidates port not 0..65535");
      return FIRN_ERR_PARSE;
    }
    rcand.addr.port = (uint16_t)num;
    if (n == max) {
      set_reason(reason, "more remote-candidates than the caller's table holds");
      *count = n;
      return FIRN_ERR_LIMIT;
    }
    out[n++] = rcand;
    *count = n;
  }
  if (n == 0) {
    set_reason(reason, "remote-candidates without a triple");
    return FIRN_ERR_PARSE;
  }
  return FIRN_OK;
}

int firn_sdp_format_remote_candidates(const firn_remote_candidate *rc, size_t n, char *buf,
                                      size_t size) {
  if (!buf) return FIRN_ERR_INVALID_ARG;
  if (size) buf[0] = 0;
  if (!rc || n == 0) return FIRN_ERR_INVALID_ARG;
  firn_sdp_out o;
  firn_sdp_out_init(&o, buf, size);
  firn_sdp_out_str(&o, "remote-candidates:");
  for (size_t i = 0; i < n; i++) {
    char ip[FIRN_ADDR_STRLEN];
    if (rc[i].component < 1 || rc[i].component > 256 ||
        firn_sdp_format_ip(&rc[i].addr, ip, sizeof ip) < 0) {
      if (size) buf[0] = 0;
      return FIRN_ERR_INVALID_ARG;
    }
    if (i) firn_sdp_out_mem(&o, " ", 1);
    firn_sdp_out_uint(&o, rc[i].component);
    firn_sdp_out_mem(&o, " ", 1);
    firn_sdp_out_str(&o, ip);
    firn_sdp_out_mem(&o, " ", 1);
    firn_sdp_out_uint(&o, rc[i].addr.port);
  }
  return firn_sdp_out_finish(&o);
}
