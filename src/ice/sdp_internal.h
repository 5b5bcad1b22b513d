/* Text helpers shared by the SDP attribute parsers (src/ice/sdp.c) and the candidate
 * parser (src/ice/candidate.c). Every helper takes (pointer, length) and reads nothing
 * outside it. */
#ifndef FIRN_ICE_SDP_INTERNAL_H
#define FIRN_ICE_SDP_INTERNAL_H

#include "firn/common.h"

#include <stddef.h>
#include <stdint.h>

/* RFC 8839 ice-char: ALPHA / DIGIT / "+" / "/". */
static inline int firn_sdp_is_ice_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

static inline int firn_sdp_is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* RFC 8866 / RFC 3261 token character. */
int firn_sdp_is_token_char(unsigned char c);

/* 1 if s[0..n) is a non-empty run of token characters. */
int firn_sdp_is_token(const char *s, size_t n);
/* 1 if s[0..n) is a non-empty run of ice-chars. */
int firn_sdp_is_ice_chars(const char *s, size_t n);
/* 1 if s[0..n) is a non-empty run of VCHAR (0x21..0x7e). */
int firn_sdp_is_vchars(const char *s, size_t n);

/* 1 if s[0..n) equals the NUL-terminated literal `lit`, ignoring ASCII case. */
int firn_sdp_ieq(const char *s, size_t n, const char *lit);

/* Strip trailing CR/LF from [*p, *end) and a leading "a=". Returns 1 if "a=" was present. */
int firn_sdp_strip_line(const char **p, const char **end);

/* Parse 1..max_digits decimal digits as a value <= max. 0 or FIRN_ERR_PARSE. */
int firn_sdp_parse_uint(const char *s, size_t n, unsigned max_digits, uint64_t max, uint64_t *out);

/* Parse an IPv4 or IPv6 literal (no brackets, no zone) into `out` with port 0.
 * Returns 0, FIRN_ERR_UNSUPPORTED when the text is a syntactically valid host name
 * (e.g. an mDNS "uuid.local" name), FIRN_ERR_PARSE otherwise. */
int firn_sdp_parse_ip(const char *s, size_t n, firn_addr *out);

/* Split the attribute in [p, end) (already stripped of "a=" and CR/LF): compares the name
 * with `name` and returns the value. 0 when the name matches (`*value` NULL for a property
 * attribute), FIRN_ERR_NOT_FOUND for another well-formed attribute, FIRN_ERR_PARSE otherwise. */
int firn_sdp_match_attr(const char *line, size_t len, const char *name, const char **value,
                        size_t *value_len, const char **reason);

/* Check an ice-ufrag/ice-pwd: `min`..FIRN_ICE_CRED_MAX ice-chars. On failure sets *reason
 * (when reason is not NULL) to `too_short` or to a length/character message and returns
 * FIRN_ERR_ICE_BAD_CREDENTIALS. Defined in candidate.c. */
int firn_ice_cred_check(const char *s, size_t len, size_t min, const char **reason,
                        const char *too_short);

/* Format an IPv4/IPv6 address without port and without zone into buf (at least
 * FIRN_ADDR_STRLEN bytes). Returns the length or FIRN_ERR_INVALID_ARG. */
int firn_sdp_format_ip(const firn_addr *a, char *buf, size_t size);

/* A bounded string builder: appends never write past `size`; `err` remembers the first
 * overflow. firn_sdp_out_finish() NUL-terminates and returns the length or FIRN_ERR_NOBUF
 * (leaving an empty string when size > 0). */
typedef struct firn_sdp_out {
  char *buf;
  size_t size;
  size_t len;
  int err;
} firn_sdp_out;

void firn_sdp_out_init(firn_sdp_out *o, char *buf, size_t size);
void firn_sdp_out_mem(firn_sdp_out *o, const char *s, size_t n);
void firn_sdp_out_str(firn_sdp_out *o, const char *s);
void firn_sdp_out_uint(firn_sdp_out *o, uint64_t v);
int firn_sdp_out_finish(firn_sdp_out *o);

#endif /* FIRN_ICE_SDP_INTERNAL_H */
