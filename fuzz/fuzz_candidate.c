/*
 * libFuzzer target for the RFC 8839 SDP attribute parsers: candidate, ice-ufrag, ice-pwd,
 * ice-options, ice-lite, end-of-candidates, remote-candidates and the line splitter.
 *
 * The whole input is offered to every parser as one attribute line, then split into lines
 * (CRLF or LF) and each line is offered again, as an SDP reader would. For every successful
 * parse the target checks the invariants the headers promise, formats the value, parses the
 * text again and requires the same value; formatting into a buffer that is too small must
 * fail cleanly with FIRN_ERR_NOBUF. Failures must use the documented error codes and, where
 * a reason out-parameter exists, set it.
 *
 * The input arrives in a heap buffer of exactly its size (libFuzzer and replay.c both do
 * this), so AddressSanitizer catches a parser reading one byte past `len`.
 *
 * Any broken invariant calls abort() with a message on stderr, which libFuzzer reports as a
 * crash and the replay test as a failure.
 */
#include "fuzz.h"

#include "firn/ice.h"
#include "firn/sdp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                          \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      fprintf(stderr, "fuzz_candidate: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                               \
    }                                                                                        \
  } while (0)

/* Lines offered one by one; a bound keeps a pathological input linear. */
#define MAX_LINES 256
#define REMOTE_MAX 8

static int is_ice_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

static int cand_equal(const firn_candidate *a, const firn_candidate *b) {
  return strcmp(a->foundation, b->foundation) == 0 && a->component == b->component &&
         a->transport == b->transport && a->type == b->type && a->tcptype == b->tcptype &&
         a->priority == b->priority && firn_addr_equal(&a->addr, &b->addr) &&
         a->addr.scope_id == b->addr.scope_id && a->related.family == b->related.family &&
         (a->related.family == FIRN_AF_NONE || firn_addr_equal(&a->related, &b->related));
}

static void check_candidate(const firn_candidate *c) {
  const char *nul = memchr(c->foundation, 0, sizeof c->foundation);
  CHECK(nul != NULL);
  size_t flen = (size_t)(nul - c->foundation);
  CHECK(flen >= 1 && flen <= FIRN_ICE_FOUNDATION_MAX - 1);
  for (size_t i = 0; i < flen; i++) CHECK(is_ice_char(c->foundation[i]));
  CHECK(c->component >= 1 && c->component <= 256);
  CHECK(c->transport == FIRN_TRANSPORT_UDP || c->transport == FIRN_TRANSPORT_TCP);
  CHECK(c->type <= FIRN_CAND_RELAY);
  if (c->transport == FIRN_TRANSPORT_TCP) CHECK(c->tcptype >= FIRN_TCP_ACTIVE && c->tcptype <= FIRN_TCP_SO);
  else CHECK(c->tcptype == FIRN_TCP_NONE);
  CHECK(c->addr.family == FIRN_AF_INET || c->addr.family == FIRN_AF_INET6);
  CHECK(c->addr.scope_id == 0);
  CHECK(c->related.family == FIRN_AF_NONE || c->related.family == FIRN_AF_INET ||
        c->related.family == FIRN_AF_INET6);
}

static void run_candidate(const char *line, size_t len) {
  firn_candidate c, again;
  const char *reason = NULL;
  int rc = firn_candidate_parse_ex(&c, line, len, &reason);
  CHECK(firn_candidate_parse(&again, line, len) == rc);
  if (rc != FIRN_OK) {
    CHECK(rc == FIRN_ERR_ICE_BAD_CANDIDATE || rc == FIRN_ERR_UNSUPPORTED);
    CHECK(reason != NULL);
    return;
  }
  check_candidate(&c);

  char buf[FIRN_CANDIDATE_STRLEN];
  int n = firn_candidate_format(&c, buf, sizeof buf);
  CHECK(n > 0 && n < FIRN_CANDIDATE_STRLEN);
  CHECK((size_t)n == strlen(buf));
  /* parse the formatted text from a buffer of exactly its length */
  char *exact = malloc((size_t)n);
  CHECK(exact != NULL);
  memcpy(exact, buf, (size_t)n);
  memset(&again, 0xa5, sizeof again);
  CHECK(firn_candidate_parse(&again, exact, (size_t)n) == FIRN_OK);
  free(exact);
  CHECK(cand_equal(&c, &again));

  char small[FIRN_CANDIDATE_STRLEN];
  CHECK(firn_candidate_format(&c, small, (size_t)n) == FIRN_ERR_NOBUF);
  CHECK(small[0] == 0);
  CHECK(firn_candidate_format(&c, small, 0) == FIRN_ERR_NOBUF);
}

static void run_credentials(const char *line, size_t len) {
  char out[FIRN_ICE_CRED_MAX + 1], buf[FIRN_ICE_CRED_MAX + 32], back[FIRN_ICE_CRED_MAX + 1];
  const char *reason = NULL;
  int rc = firn_sdp_parse_ice_ufrag(line, len, out, sizeof out, &reason);
  if (rc >= 0) {
    CHECK(rc >= FIRN_ICE_UFRAG_MIN && rc <= FIRN_ICE_CRED_MAX);
    CHECK(strlen(out) == (size_t)rc);
    CHECK(firn_ice_check_ufrag(out, (size_t)rc) == FIRN_OK);
    int n = firn_sdp_format_ice_ufrag(out, (size_t)rc, buf, sizeof buf);
    CHECK(n > 0);
    CHECK(firn_sdp_parse_ice_ufrag(buf, (size_t)n, back, sizeof back, NULL) == rc);
    CHECK(strcmp(out, back) == 0);
    CHECK(firn_sdp_format_ice_ufrag(out, (size_t)rc, buf, (size_t)n) == FIRN_ERR_NOBUF);
  } else {
    CHECK(rc == FIRN_ERR_PARSE || rc == FIRN_ERR_NOT_FOUND || rc == FIRN_ERR_ICE_BAD_CREDENTIALS);
    CHECK(reason != NULL);
  }

  reason = NULL;
  rc = firn_sdp_parse_ice_pwd(line, len, out, sizeof out, &reason);
  if (rc >= 0) {
    CHECK(rc >= FIRN_ICE_PWD_MIN && rc <= FIRN_ICE_CRED_MAX);
    CHECK(firn_ice_check_pwd(out, (size_t)rc) == FIRN_OK);
    int n = firn_sdp_format_ice_pwd(out, (size_t)rc, buf, sizeof buf);
    CHECK(n > 0);
    CHECK(firn_sdp_parse_ice_pwd(buf, (size_t)n, back, sizeof back, NULL) == rc);
    CHECK(strcmp(out, back) == 0);
  } else {
    CHECK(rc == FIRN_ERR_PARSE || rc == FIRN_ERR_NOT_FOUND || rc == FIRN_ERR_ICE_BAD_CREDENTIALS);
    CHECK(reason != NULL);
  }
}

static void run_options_and_flags(const char *line, size_t len) {
  unsigned opts = 0, unknown = 0;
  const char *reason = NULL;
  int rc = firn_sdp_parse_ice_options(line, len, &opts, &unknown, &reason);
  if (rc == FIRN_OK) {
    CHECK((opts & ~FIRN_ICE_OPTION_ALL) == 0);
    CHECK(opts != 0 || unknown != 0);
    if (opts) {
      char buf[64];
      unsigned back = 0, back_unknown = 9;
      int n = firn_sdp_format_ice_options(opts, buf, sizeof buf);
      CHECK(n > 0);
      CHECK(firn_sdp_parse_ice_options(buf, (size_t)n, &back, &back_unknown, NULL) == FIRN_OK);
      CHECK(back == opts && back_unknown == 0);
    }
  } else {
    CHECK(rc == FIRN_ERR_PARSE || rc == FIRN_ERR_NOT_FOUND);
    CHECK(reason != NULL);
  }

  rc = firn_sdp_parse_ice_lite(line, len, NULL);
  CHECK(rc == FIRN_OK || rc == FIRN_ERR_PARSE || rc == FIRN_ERR_NOT_FOUND);
  int eoc = firn_sdp_parse_end_of_candidates(line, len, NULL);
  CHECK(eoc == FIRN_OK || eoc == FIRN_ERR_PARSE || eoc == FIRN_ERR_NOT_FOUND);
  CHECK(!(rc == FIRN_OK && eoc == FIRN_OK));

  firn_sdp_attr a;
  rc = firn_sdp_attr_split(&a, line, len);
  if (rc == FIRN_OK) {
    CHECK(a.name != NULL && a.name_len > 0);
    CHECK(a.name >= line && a.name + a.name_len <= line + len);
    if (a.value) CHECK(a.value >= line && a.value + a.value_len <= line + len);
    else CHECK(a.value_len == 0);
  } else {
    CHECK(rc == FIRN_ERR_PARSE);
  }
}

static void run_remote_candidates(const char *line, size_t len) {
  firn_remote_candidate rc[REMOTE_MAX], back[REMOTE_MAX];
  size_t n = 99, n2 = 0;
  const char *reason = NULL;
  int r = firn_sdp_parse_remote_candidates(line, len, rc, REMOTE_MAX, &n, &reason);
  if (r != FIRN_OK) {
    CHECK(r == FIRN_ERR_PARSE || r == FIRN_ERR_NOT_FOUND || r == FIRN_ERR_UNSUPPORTED ||
          r == FIRN_ERR_LIMIT);
    CHECK(reason != NULL);
    CHECK(n <= REMOTE_MAX);
    return;
  }
  CHECK(n >= 1 && n <= REMOTE_MAX);
  char buf[REMOTE_MAX * 64 + 32];
  int len2 = firn_sdp_format_remote_candidates(rc, n, buf, sizeof buf);
  CHECK(len2 > 0);
  CHECK(firn_sdp_parse_remote_candidates(buf, (size_t)len2, back, REMOTE_MAX, &n2, NULL) == FIRN_OK);
  CHECK(n2 == n);
  for (size_t i = 0; i < n; i++) {
    CHECK(rc[i].component >= 1 && rc[i].component <= 256);
    CHECK(back[i].component == rc[i].component);
    CHECK(firn_addr_equal(&back[i].addr, &rc[i].addr));
  }
}

static void run_all(const char *line, size_t len) {
  run_candidate(line, len);
  run_credentials(line, len);
  run_options_and_flags(line, len);
  run_remote_candidates(line, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  run_all(size ? text : NULL, size);

  /* line by line, as an SDP reader would */
  if (size > 0) {
    const char *pos = text, *end = text + size, *line;
    size_t len, lines = 0;
    while (lines < MAX_LINES && firn_sdp_next_line(&pos, end, &line, &len) == 1) {
      CHECK(line >= text && line + len <= end);
      run_all(len ? line : NULL, len);
      lines++;
    }
  }

  /* interface names: the first line, NUL-terminated */
  char ifname[64];
  size_t n = 0;
  while (n < size && n < sizeof ifname - 1 && text[n] != '\n' && text[n] != 0) {
    ifname[n] = text[n];
    n++;
  }
  ifname[n] = 0;
  int vpn = firn_ice_ifname_is_vpn(ifname);
  CHECK(vpn == 0 || vpn == 1);
  return 0;
}
