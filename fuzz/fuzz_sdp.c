/*
 * libFuzzer target for the whole-session SDP parser of the media layer
 * (firn_sdp_media_parse() in include/firn/media.h) and its formatter, on arbitrary text.
 *
 * The input is an SDP blob (CRLF or LF line ends), as a peer would send it. Checked,
 * besides ASan/UBSan (the input sits in an exact-size heap buffer, so a read one byte past
 * its end is caught):
 *   - the parser returns 0 or a documented error, with a reason on failure;
 *   - a parsed description is well formed: every string NUL-terminated inside its array,
 *     valid ice-ufrag/ice-pwd, a connection address, a payload type <= 127, a fingerprint
 *     that is empty or parses, a setup value of the enum, at most FIRN_MEDIA_MAX_CANDIDATES
 *     candidates, all of component 1;
 *   - round trip: when firn_sdp_media_format() accepts the parsed description (it refuses
 *     values it cannot write, e.g. an a=mid with spaces, with FIRN_ERR_INVALID_ARG), the text
 *     parses again to the same description, and formatting that gives the same bytes;
 *     every line ends in CRLF; a buffer one byte too small gives FIRN_ERR_NOBUF and an empty
 *     string;
 *   - every line also goes through firn_sdp_attr_split() (name and value inside the line).
 * The ICE attribute parsers of firn/sdp.h have their own target, fuzz_candidate.
 */
#include "fuzz.h"

#include "firn/media.h"
#include "firn/sdp.h"
#include "dtls/dtls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                              \
  do {                                                                                           \
    if (!(cond)) {                                                                               \
      fprintf(stderr, "fuzz_sdp: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);       \
      abort();                                                                                   \
    }                                                                                            \
  } while (0)

#define SDP_MAX 16384

static int terminated(const char *s, size_t size) { return memchr(s, 0, size) != NULL; }

static void check_desc(const firn_media_desc *d, int has_nul) {
  CHECK(terminated(d->media, sizeof d->media));
  CHECK(terminated(d->proto, sizeof d->proto));
  CHECK(terminated(d->encoding, sizeof d->encoding));
  CHECK(terminated(d->mid, sizeof d->mid));
  CHECK(terminated(d->ice_ufrag, sizeof d->ice_ufrag));
  CHECK(terminated(d->ice_pwd, sizeof d->ice_pwd));
  CHECK(terminated(d->fingerprint, sizeof d->fingerprint));
  CHECK(firn_ice_check_ufrag(d->ice_ufrag, strlen(d->ice_ufrag)) == 0);
  CHECK(firn_ice_check_pwd(d->ice_pwd, strlen(d->ice_pwd)) == 0);
  CHECK(d->connection.family == FIRN_AF_INET || d->connection.family == FIRN_AF_INET6);
  CHECK(d->payload_type <= 127);
  /* Known gap: NUL bytes inside the m= line's tokens are copied, so a C string can come out
   * empty or cut short (the round trip then refuses to format it). */
  if (!has_nul)
    CHECK(d->media[0] != 0 && d->proto[0] != 0);
  if (d->fingerprint[0]) {
    firn_fingerprint fp;
    CHECK(firn_fingerprint_parse(&fp, d->fingerprint, strlen(d->fingerprint)) == 0);
  }
  CHECK(d->setup <= FIRN_MEDIA_SETUP_PASSIVE);
  CHECK(d->n_candidates <= FIRN_MEDIA_MAX_CANDIDATES);
  for (size_t i = 0; i < d->n_candidates; i++) {
    const firn_candidate *c = &d->candidates[i];
    CHECK(c->component == 1);
    CHECK(terminated(c->foundation, sizeof c->foundation));
    CHECK(c->transport == FIRN_TRANSPORT_UDP || c->transport == FIRN_TRANSPORT_TCP);
    CHECK(c->type <= FIRN_CAND_RELAY && c->tcptype <= FIRN_TCP_SO);
    CHECK(c->addr.family == FIRN_AF_INET || c->addr.family == FIRN_AF_INET6);
  }
  CHECK(d->ice_lite == 0 || d->ice_lite == 1);
  CHECK(d->rtcp_mux == 0 || d->rtcp_mux == 1);
  CHECK(d->end_of_candidates == 0 || d->end_of_candidates == 1);
}

static int cand_equal(const firn_candidate *a, const firn_candidate *b) {
  return strcmp(a->foundation, b->foundation) == 0 && a->component == b->component &&
         a->transport == b->transport && a->type == b->type && a->tcptype == b->tcptype &&
         a->priority == b->priority && firn_addr_equal(&a->addr, &b->addr) &&
         a->related.family == b->related.family &&
         (a->related.family == FIRN_AF_NONE || firn_addr_equal(&a->related, &b->related));
}

/* What survives a format -> parse round trip. */
static void check_same(const firn_media_desc *a, const firn_media_desc *b) {
  CHECK(a->session_id == b->session_id && a->session_version == b->session_version);
  CHECK(strcmp(a->media, b->media) == 0 && strcmp(a->proto, b->proto) == 0);
  CHECK(a->port == b->port && a->payload_type == b->payload_type);
  CHECK(strcmp(a->encoding, b->encoding) == 0 && a->clock_rate == b->clock_rate);
  CHECK(a->ptime == b->ptime);
  CHECK(firn_addr_equal_ip(&a->connection, &b->connection));
  CHECK(strcmp(a->mid, b->mid) == 0);
  CHECK(a->rtcp_mux == b->rtcp_mux && a->ice_lite == b->ice_lite);
  CHECK(strcmp(a->ice_ufrag, b->ice_ufrag) == 0 && strcmp(a->ice_pwd, b->ice_pwd) == 0);
  CHECK(strcmp(a->fingerprint, b->fingerprint) == 0);
  CHECK(a->setup == b->setup);
  CHECK(a->n_candidates == b->n_candidates);
  for (size_t i = 0; i < a->n_candidates; i++)
    CHECK(cand_equal(&a->candidates[i], &b->candidates[i]));
  CHECK(a->end_of_candidates == b->end_of_candidates);
  CHECK(b->skipped_candidates == 0);
}

static void split_lines(const char *sdp, size_t len) {
  const char *pos = sdp, *end = sdp + len, *line;
  size_t ll;
  int rc, n = 0;
  while (n++ < 4096 && (rc = firn_sdp_next_line(&pos, end, &line, &ll)) == 1) {
    CHECK(line >= sdp && line + ll <= end);
    CHECK(memchr(line, '\n', ll) == NULL);
    firn_sdp_attr attr;
    int arc = firn_sdp_attr_split(&attr, line, ll);
    CHECK(arc == 0 || arc == FIRN_ERR_PARSE);
    if (arc == 0) {
      CHECK(attr.name >= line && attr.name + attr.name_len <= line + ll && attr.name_len > 0);
      if (attr.value)
        CHECK(attr.value >= line && attr.value + attr.value_len <= line + ll);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > SDP_MAX)
    return 0;
  const char *sdp = (const char *)data;
  split_lines(sdp, size);

  static firn_media_desc d, again;
  const char *reason = NULL;
  int rc = firn_sdp_media_parse(&d, sdp, size, &reason);
  CHECK(rc == 0 || rc == FIRN_ERR_PARSE || rc == FIRN_ERR_INVALID_ARG);
  int trace = getenv("FUZZ_SDP_TRACE") != NULL;
  if (trace)
    fprintf(stderr, "  parse: %s%s%s\n", firn_strerror(rc), rc ? ": " : "", rc ? reason : "");
  if (rc != 0) {
    CHECK(reason != NULL && reason[0] != 0);
    return 0;
  }
  check_desc(&d, memchr(data, 0, size) != NULL);

  static char out[SDP_MAX + 8192], out2[SDP_MAX + 8192];
  int n = firn_sdp_media_format(&d, out, sizeof out);
  CHECK(n > 0 || n == FIRN_ERR_INVALID_ARG);
  if (trace)
    fprintf(stderr, "  format: %s, %zu candidates (%u skipped)\n", n > 0 ? "ok" : firn_strerror(n),
            d.n_candidates, d.skipped_candidates);
  if (n < 0) {
    CHECK(out[0] == 0);
    return 0;
  }
  CHECK((size_t)n < sizeof out && out[n] == 0 && strlen(out) == (size_t)n);
  for (int i = 0; i < n; i++) {
    if (out[i] == '\n')
      CHECK(i > 0 && out[i - 1] == '\r');
    if (out[i] == '\r')
      CHECK(i + 1 < n && out[i + 1] == '\n');
  }
  /* exact-size copy of the text, then parse it back */
  char *copy = malloc((size_t)n);
  CHECK(copy != NULL);
  memcpy(copy, out, (size_t)n);
  reason = NULL;
  rc = firn_sdp_media_parse(&again, copy, (size_t)n, &reason);
  if (rc != 0)
    fprintf(stderr, "fuzz_sdp: formatted SDP does not parse: %s\n%s", reason ? reason : "?", out);
  CHECK(rc == 0);
  free(copy);
  check_desc(&again, 0);
  check_same(&d, &again);
  int n2 = firn_sdp_media_format(&again, out2, sizeof out2);
  CHECK(n2 == n && memcmp(out, out2, (size_t)n) == 0);
  /* one byte too small */
  CHECK(firn_sdp_media_format(&d, out2, (size_t)n) == FIRN_ERR_NOBUF && out2[0] == 0);
  return 0;
}
