/**
 * @file sdp.h
 * @brief RFC 8839 / RFC 8840 ICE attribute helpers for SDP: ice-ufrag, ice-pwd, ice-options,
 *        ice-lite, end-of-candidates, remote-candidates, a generic attribute-line splitter,
 *        and a candidate parser that also reports why a line was rejected.
 *
 * The candidate attribute itself (firn_candidate_parse(), firn_candidate_format()) is declared
 * in firn/ice.h; this header adds the other ICE attributes in the same style.
 *
 * Conventions shared by every function here:
 * - Input is (pointer, length) and is never assumed to be NUL-terminated; nothing is read
 *   outside [line, line + len). `line` may be NULL only when `len` is 0.
 * - An input line may carry a leading "a=" and trailing CR and/or LF; both are ignored.
 * - Parsers take an optional `reason` out-parameter (may be NULL). On failure it is set to a
 *   short static English string saying what was wrong (e.g. "ice-ufrag shorter than 4
 *   characters"); on success it is left untouched.
 * - Parsers return FIRN_ERR_NOT_FOUND when the line is a well-formed attribute of another
 *   name (so a caller can offer one line to several parsers), FIRN_ERR_PARSE when it is the
 *   right attribute but malformed, and FIRN_ERR_INVALID_ARG for NULL pointers.
 * - Formatters write the attribute without "a=" and without CRLF, NUL-terminated, and return
 *   its length (excluding the NUL), or FIRN_ERR_NOBUF when `size` is too small (the buffer
 *   then holds an empty string when size > 0), or FIRN_ERR_INVALID_ARG.
 * - Everything formatted here parses back to the same value.
 * - No function allocates memory, logs, or keeps state; all are thread-safe.
 */
#ifndef FIRN_SDP_H
#define FIRN_SDP_H

#include "firn/common.h"
#include "firn/ice.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Lines and attributes                                                                        */

/** One SDP attribute, split into name and value. Both point into the caller's input. */
typedef struct firn_sdp_attr {
  const char *name;  /**< attribute name (a token), not NUL-terminated */
  size_t name_len;
  const char *value; /**< text after the first ':'; NULL for a property attribute (no ':') */
  size_t value_len;  /**< 0 for "name:" with an empty value, and for property attributes */
} firn_sdp_attr;

/**
 * Split an attribute line "a=name:value" (or "name:value", or a property attribute "a=name")
 * into name and value. Strips a leading "a=" and trailing CR/LF. The name must be a non-empty
 * token (RFC 8866 att-field); the value may hold any byte except NUL, CR and LF.
 * @return 0, FIRN_ERR_PARSE (empty, bad name, or NUL/CR/LF inside), FIRN_ERR_INVALID_ARG.
 */
FIRN_API int firn_sdp_attr_split(firn_sdp_attr *attr, const char *line, size_t len);

/** 1 if `attr` has the name `name` (NUL-terminated, compared case-insensitively), else 0. */
FIRN_API int firn_sdp_attr_is(const firn_sdp_attr *attr, const char *name);

/**
 * Iterate over the lines of an SDP blob: on each call, sets `*line`/`*line_len` to the next
 * line (without its CR/LF terminator) and advances `*pos`. Accepts CRLF and bare LF line ends
 * (and a last line without one).
 * @return 1 when a line was produced, 0 at the end of the blob, FIRN_ERR_INVALID_ARG.
 */
FIRN_API int firn_sdp_next_line(const char **pos, const char *end, const char **line,
                                size_t *line_len);

/**
 * Iterate over the whitespace-separated tokens of a value: skips SP/HTAB, sets `*tok` and
 * `*tok_len` to the next run of other bytes and advances `*pos`.
 * @return 1 when a token was produced, 0 at the end, FIRN_ERR_INVALID_ARG.
 */
FIRN_API int firn_sdp_next_token(const char **pos, const char *end, const char **tok,
                                 size_t *tok_len);

/* ------------------------------------------------------------------------------------------ */
/* candidate (RFC 8839 5.1) with a reason                                                      */

/**
 * firn_candidate_parse() with a reason: on failure `*reason` (if not NULL) says which field
 * was wrong, e.g. "priority out of range" or "TCP candidate without tcptype".
 * Also accepts the bare attribute value (as aioice writes it), without "candidate:".
 * On failure `*cand` is zeroed.
 * @return 0, FIRN_ERR_ICE_BAD_CANDIDATE, FIRN_ERR_UNSUPPORTED (transport other than UDP/TCP,
 *         candidate type other than host/srflx/prflx/relay, or a host name as connection
 *         address, e.g. mDNS "x.local"), FIRN_ERR_INVALID_ARG.
 */
FIRN_API int firn_candidate_parse_ex(firn_candidate *cand, const char *line, size_t len,
                                     const char **reason);

/* ------------------------------------------------------------------------------------------ */
/* ice-ufrag, ice-pwd (RFC 8839 5.4)                                                           */

/**
 * Parse "ice-ufrag:<ufrag>" and copy the ufrag, NUL-terminated, into `ufrag` (`size` must be
 * at least its length + 1; FIRN_ICE_CRED_MAX + 1 always suffices). SP/HTAB around the value
 * are ignored.
 * @return the ufrag's length, FIRN_ERR_ICE_BAD_CREDENTIALS (not 4..256 ice-chars),
 *         FIRN_ERR_PARSE (no value), FIRN_ERR_NOT_FOUND, FIRN_ERR_NOBUF, FIRN_ERR_INVALID_ARG.
 */
FIRN_API int firn_sdp_parse_ice_ufrag(const char *line, size_t len, char *ufrag, size_t size,
                                      const char **reason);
/** Parse "ice-pwd:<pwd>" like firn_sdp_parse_ice_ufrag() (22..256 ice-chars). */
FIRN_API int firn_sdp_parse_ice_pwd(const char *line, size_t len, char *pwd, size_t size,
                                    const char **reason);
/** Format "ice-ufrag:<ufrag>". FIRN_ERR_ICE_BAD_CREDENTIALS if the ufrag is invalid. */
FIRN_API int firn_sdp_format_ice_ufrag(const char *ufrag, size_t ufrag_len, char *buf,
                                       size_t size);
/** Format "ice-pwd:<pwd>". FIRN_ERR_ICE_BAD_CREDENTIALS if the password is invalid. */
FIRN_API int firn_sdp_format_ice_pwd(const char *pwd, size_t pwd_len, char *buf, size_t size);

/* ------------------------------------------------------------------------------------------ */
/* ice-options (RFC 8839 5.6), ice-lite (5.3), end-of-candidates (RFC 8840)                    */

/** ice-options tags firn knows. */
#define FIRN_ICE_OPTION_TRICKLE 0x01u /**< "trickle" (RFC 8840) */
#define FIRN_ICE_OPTION_ICE2 0x02u    /**< "ice2" (RFC 8445) */
#define FIRN_ICE_OPTION_ALL 0x03u

/**
 * Parse "ice-options:<tag> *(SP <tag>)". Known tags set bits in `*options`; unknown but
 * well-formed tags (e.g. Chrome's "renomination") are ignored and counted in `*unknown`
 * (either out-pointer may be NULL). Use firn_sdp_attr_split() and firn_sdp_next_token() to
 * read the unknown tags themselves.
 * Tags are 1*ice-char (RFC 8839); token characters such as '-' are tolerated as well, so old
 * tags like "google-ice" count as unknown instead of failing the line.
 * @return 0, FIRN_ERR_PARSE (no tag, or a tag with a character that is neither ice-char nor
 *         token), FIRN_ERR_NOT_FOUND, FIRN_ERR_INVALID_ARG.
 */
FIRN_API int firn_sdp_parse_ice_options(const char *line, size_t len, unsigned *options,
                                        unsigned *unknown, const char **reason);
/** Format "ice-options:trickle ice2" from FIRN_ICE_OPTION_* bits (at least one, no others). */
FIRN_API int firn_sdp_format_ice_options(unsigned options, char *buf, size_t size);

/** Parse the property attribute "ice-lite": 0 if the line is exactly that, FIRN_ERR_PARSE
 *  if it carries a value, FIRN_ERR_NOT_FOUND for any other attribute. */
FIRN_API int firn_sdp_parse_ice_lite(const char *line, size_t len, const char **reason);
/** Format "ice-lite". */
FIRN_API int firn_sdp_format_ice_lite(char *buf, size_t size);
/** Parse the property attribute "end-of-candidates" (RFC 8840), like firn_sdp_parse_ice_lite(). */
FIRN_API int firn_sdp_parse_end_of_candidates(const char *line, size_t len, const char **reason);
/** Format "end-of-candidates". */
FIRN_API int firn_sdp_format_end_of_candidates(char *buf, size_t size);

/* ------------------------------------------------------------------------------------------ */
/* remote-candidates (RFC 8839 5.2)                                                            */

/** One "<component-id> <connection-address> <port>" triple of a remote-candidates attribute. */
typedef struct firn_remote_candidate {
  uint16_t component; /**< 1..256 */
  firn_addr addr;     /**< IPv4 or IPv6 address and port */
} firn_remote_candidate;

/**
 * Parse "remote-candidates:<component> <addr> <port> *(SP <component> <addr> <port>)" into
 * `out` (at most `max` entries); `*count` gets the number stored.
 * @return 0, FIRN_ERR_PARSE (malformed triple, component not 1..256, port > 65535),
 *         FIRN_ERR_UNSUPPORTED (a host name as address), FIRN_ERR_LIMIT (more than `max`
 *         triples; `*count` is then `max`), FIRN_ERR_NOT_FOUND, FIRN_ERR_INVALID_ARG.
 */
FIRN_API int firn_sdp_parse_remote_candidates(const char *line, size_t len,
                                              firn_remote_candidate *out, size_t max,
                                              size_t *count, const char **reason);
/** Format "remote-candidates:1 192.0.2.1 5000 2 192.0.2.1 5001" from `n` >= 1 entries. */
FIRN_API int firn_sdp_format_remote_candidates(const firn_remote_candidate *rc, size_t n,
                                               char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif /* FIRN_SDP_H */
