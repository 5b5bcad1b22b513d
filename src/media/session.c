/* A secure media session: one ICE stream (one component, rtcp-mux) with DTLS-SRTP on its
 * selected pair. Sans-I/O like the agent it owns: the session installs its own callbacks on
 * the agent, forwards the ones the application asked for, and consumes on_data, where
 * packets are demultiplexed by first byte (RFC 7983). DTLS and SRTP are taken only from the
 * selected pair; outgoing DTLS and SRTP go through firn_agent_write_data() so they follow
 * the selected pair across pair switches and restarts (and get TURN/ICE-TCP framing). */
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "dtls/demux.h"
#include "dtls/dtls.h"
#include "firn/media.h"

#define MEDIA_MAX_PLAIN 1400
#define SLOT_SIZE 2048 /* plaintext + SRTP trailer + TURN/TCP framing */
#define RX_SIZE 2048

/* A protected packet or DTLS datagram waiting to be sent. It is wrapped for the selected
 * pair (TURN framing, TLS to the TURN server, RFC 4571) only when it leaves through
 * poll_transmit, right after the agent's own queue: a stream's TLS records are then
 * encrypted in the order they are sent, and packets queued before a pair switch take the
 * new pair. */
typedef struct tx_slot {
  size_t len;
  uint8_t data[SLOT_SIZE];
} tx_slot;

struct firn_session {
  firn_allocator alloc;
  firn_logger log;
  firn_session_settings cfg;
  firn_agent_callbacks app_cb; /* the application's agent callbacks */
  void *app_user;
  firn_agent *agent;
  unsigned stream;
  firn_dtls_cert *own_cert;
  const firn_dtls_cert *cert;
  char fp_str[FIRN_DTLS_FINGERPRINT_STRLEN];
  firn_dtls *dtls;
  firn_srtp *srtp;
  firn_session_state state;
  int error;
  firn_srtp_profile profile;
  int remote_set;
  int restart_local;
  int agent_close_pending;       /* close the agent once the queue (close_notify) is out */
  int agent_closed;              /* firn_agent_close() was called (TURN deallocated, TCP closed) */
  char rufrag[FIRN_ICE_CRED_MAX + 1], rpwd[FIRN_ICE_CRED_MAX + 1];
  firn_fingerprint remote_fp;
  int gathering_done;
  int connected;
  firn_media_setup local_setup;
  uint64_t session_id;
  uint64_t now; /* `now` of the current entry point, for callbacks that lack one */
  /* one early DTLS datagram from a validated pair that was not (yet) the selected one */
  size_t stash_len;
  firn_path stash_path;
  uint8_t stash[SLOT_SIZE];
  /* media and DTLS datagrams waiting for poll_transmit */
  tx_slot *q;
  unsigned q_cap, q_head, q_count;
  uint8_t scratch[SLOT_SIZE];
  uint8_t rx[RX_SIZE];
  unsigned depth;
  int destroy_pending;
  firn_session_stats st;
};

static void free_now(firn_session *s);

static void enter(firn_session *s, uint64_t now) {
  s->depth++;
  s->now = now;
}
static int leave(firn_session *s, int rc) {
  if (--s->depth == 0 && s->destroy_pending) free_now(s);
  return rc;
}

const char *firn_session_state_name(firn_session_state st) {
  switch (st) {
  case FIRN_SESSION_NEW: return "new";
  case FIRN_SESSION_CONNECTED: return "connected";
  case FIRN_SESSION_SECURE: return "secure";
  case FIRN_SESSION_CLOSED: return "closed";
  case FIRN_SESSION_FAILED: return "failed";
  }
  return "unknown";
}

void firn_session_settings_default(firn_session_settings *s) {
  if (!s) return;
  memset(s, 0, sizeof *s);
  s->size = sizeof *s;
  firn_agent_settings_default(&s->agent);
  s->role = FIRN_SESSION_OFFERER;
  s->dtls = 1;
  s->answer_setup = FIRN_MEDIA_SETUP_ACTIVE;
  s->mtu = 1200;
  s->dtls_timeout_ns = 30 * FIRN_NS_PER_S;
  s->tx_queue = 64;
  s->callbacks.size = sizeof s->callbacks;
}

/* ---------------------------------------------------------------------------------------- */
/* events                                                                                    */

static void emit(firn_session *s, firn_session_event_type type, int err, const char *msg) {
  if (s->destroy_pending || !s->cfg.callbacks.on_event) return;
  firn_session_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = type;
  ev.error = err;
  ev.message = msg;
  ev.profile = s->profile;
  s->cfg.callbacks.on_event(s->cfg.user, s, &ev);
}

static void fail(firn_session *s, int err, const char *msg) {
  if (s->state == FIRN_SESSION_FAILED || s->state == FIRN_SESSION_CLOSED) return;
  s->state = FIRN_SESSION_FAILED;
  s->error = err;
  firn_log(&s->log, FIRN_LOG_WARN, "media", "session failed: %s (%s)", msg, firn_strerror(err));
  emit(s, FIRN_SESSION_EV_FAILED, err, msg);
}

/* ---------------------------------------------------------------------------------------- */
/* paths and the transmit queue                                                              */

static int path_equal(const firn_path *a, const firn_path *b) {
  return a->transport == b->transport && a->conn == b->conn && firn_addr_equal(&a->local, &b->local) &&
         firn_addr_equal(&a->remote, &b->remote);
}

static int on_selected_path(const firn_session *s, const firn_path *p) {
  firn_path sel;
  if (firn_agent_get_selected_pair(s->agent, s->stream, 1, NULL, NULL, &sel) < 0) return 0;
  return path_equal(&sel, p);
}

/* Queue `len` bytes of s->scratch for the selected pair. */
static int enqueue_scratch(firn_session *s, size_t len) {
  if (s->q_count >= s->q_cap) return FIRN_ERR_LIMIT;
  if (len > sizeof s->q[0].data) return FIRN_ERR_INVALID_ARG;
  tx_slot *slot = &s->q[(s->q_head + s->q_count) % s->q_cap];
  memcpy(slot->data, s->scratch, len);
  slot->len = len;
  s->q_count++;
  return FIRN_OK;
}

/* Move the DTLS endpoint's queued flights onto the selected pair. */
static void drain_dtls(firn_session *s) {
  if (!s->dtls) return;
  for (;;) {
    if (s->q_count >= s->q_cap) return; /* stays in the DTLS queue until there is room */
    firn_ssize n = firn_dtls_poll_transmit(s->dtls, s->scratch, sizeof s->scratch);
    if (n < 0) return;
    if (enqueue_scratch(s, (size_t)n) == FIRN_OK) s->st.dtls_datagrams_out++;
  }
}

/* ---------------------------------------------------------------------------------------- */
/* DTLS                                                                                      */

static void dtls_state(void *user, firn_dtls *d, firn_dtls_state state, int err) {
  firn_session *s = user;
  if (state == FIRN_DTLS_CONNECTED) {
    int rc = firn_srtp_new_from_dtls(&s->srtp, &s->alloc, d);
    if (rc < 0) {
      fail(s, rc, "cannot create the SRTP sessions");
      return;
    }
    s->profile = firn_srtp_get_profile(s->srtp);
    if (s->state == FIRN_SESSION_CONNECTED || s->state == FIRN_SESSION_NEW) {
      s->state = FIRN_SESSION_SECURE;
      firn_log(&s->log, FIRN_LOG_INFO, "media", "secure: %s", firn_srtp_profile_name(s->profile));
      emit(s, FIRN_SESSION_EV_SECURE, 0, NULL);
    }
  } else if (state == FIRN_DTLS_FAILED) {
    fail(s, err ? err : FIRN_ERR_DTLS_HANDSHAKE,
         err == FIRN_ERR_DTLS_FINGERPRINT ? "the peer's certificate does not match the SDP fingerprint"
                                          : "DTLS handshake failed");
  } else if (state == FIRN_DTLS_CLOSED) {
    if (err) {
      fail(s, FIRN_ERR_CLOSED, "the peer sent a fatal DTLS alert");
    } else if (s->state != FIRN_SESSION_CLOSED && s->state != FIRN_SESSION_FAILED) {
      s->state = FIRN_SESSION_CLOSED;
      emit(s, FIRN_SESSION_EV_CLOSED, 0, "the peer closed the DTLS session");
    }
  }
}

static firn_dtls_setup to_dtls_setup(firn_media_setup m) {
  return m == FIRN_MEDIA_SETUP_ACTIVE ? FIRN_SETUP_ACTIVE
         : m == FIRN_MEDIA_SETUP_PASSIVE ? FIRN_SETUP_PASSIVE
                                         : FIRN_SETUP_ACTPASS;
}

static int create_dtls(firn_session *s, firn_dtls_role role, const firn_fingerprint *fp) {
  firn_dtls_config c;
  firn_dtls_config_default(&c);
  c.role = role;
  c.cert = s->cert;
  c.remote_fingerprint = *fp;
  if (s->cfg.num_profiles) {
    for (size_t i = 0; i < s->cfg.num_profiles; i++) c.profiles[i] = s->cfg.profiles[i];
    c.num_profiles = s->cfg.num_profiles;
  }
  if (s->cfg.mtu) c.mtu = s->cfg.mtu;
  c.handshake_timeout = s->cfg.dtls_timeout_ns;
  c.callbacks.on_state = dtls_state;
  c.callbacks.user = s;
  c.log_fn = s->log.fn;
  c.log_user = s->log.user;
  c.log_level = s->log.level;
  return firn_dtls_new(&s->dtls, &s->alloc, &c);
}

static void feed_dtls(firn_session *s, const uint8_t *data, size_t len, uint64_t now) {
  s->st.dtls_datagrams_in++;
  firn_dtls_handle_datagram(s->dtls, data, len, now); /* failures arrive through dtls_state */
  if (!s->destroy_pending) drain_dtls(s);
}

/* ---------------------------------------------------------------------------------------- */
/* agent callbacks                                                                           */

static void cb_candidate(void *user, unsigned stream, const firn_candidate *c) {
  firn_session *s = user;
  if (!s->destroy_pending && s->app_cb.on_candidate) s->app_cb.on_candidate(s->app_user, stream, c);
}

static void cb_gathering_done(void *user, unsigned stream) {
  firn_session *s = user;
  s->gathering_done = 1;
  if (!s->destroy_pending && s->app_cb.on_gathering_done) s->app_cb.on_gathering_done(s->app_user, stream);
}

static void cb_state(void *user, unsigned stream, firn_ice_state st) {
  firn_session *s = user;
  if (s->destroy_pending) return;
  if (s->app_cb.on_state) s->app_cb.on_state(s->app_user, stream, st);
  if (st == FIRN_ICE_FAILED && !s->destroy_pending) fail(s, FIRN_ERR_ICE_FAILED, "ICE failed (no working path, or consent lost)");
}

static void cb_selected(void *user, unsigned stream, unsigned comp, const firn_candidate *l,
                        const firn_candidate *r) {
  firn_session *s = user;
  if (s->destroy_pending) return;
  if (s->app_cb.on_selected_pair) s->app_cb.on_selected_pair(s->app_user, stream, comp, l, r);
  if (s->destroy_pending || s->state == FIRN_SESSION_FAILED || s->state == FIRN_SESSION_CLOSED) return;
  if (s->connected) {
    emit(s, FIRN_SESSION_EV_PAIR_CHANGED, 0, NULL);
    return;
  }
  s->connected = 1;
  s->state = s->cfg.dtls ? FIRN_SESSION_CONNECTED : FIRN_SESSION_SECURE;
  emit(s, FIRN_SESSION_EV_CONNECTED, 0, NULL);
  if (s->destroy_pending || !s->dtls || s->state != FIRN_SESSION_CONNECTED) return;
  if (firn_dtls_get_state(s->dtls) == FIRN_DTLS_NEW) {
    int rc = firn_dtls_start(s->dtls, s->now);
    if (rc < 0 && rc != FIRN_ERR_STATE) {
      fail(s, rc, "cannot start DTLS");
      return;
    }
  }
  if (s->stash_len && on_selected_path(s, &s->stash_path)) {
    size_t n = s->stash_len;
    s->stash_len = 0;
    feed_dtls(s, s->stash, n, s->now);
  } else {
    drain_dtls(s);
  }
}

static void deliver(firn_session *s, firn_media_kind kind, const uint8_t *p, size_t n, uint64_t now) {
  if (kind == FIRN_MEDIA_RTP) s->st.rtp_received++;
  else s->st.rtcp_received++;
  if (s->cfg.callbacks.on_media) s->cfg.callbacks.on_media(s->cfg.user, s, kind, 1, p, n, now);
}

static void cb_data(void *user, unsigned stream, unsigned comp, const uint8_t *data, size_t len,
                    const firn_path *path, uint64_t now) {
  firn_session *s = user;
  (void)stream;
  (void)comp;
  if (s->destroy_pending) return;
  firn_demux_kind kind = firn_demux_classify(data, len);
  if (kind == FIRN_DEMUX_DTLS) {
    if (!s->dtls || s->state == FIRN_SESSION_FAILED) {
      s->st.dropped_other++;
      return;
    }
    if (!s->connected || !on_selected_path(s, path)) {
      /* validated (the agent says so) but not selected: keep the newest in case this pair
       * becomes the selected one (a ClientHello can overtake the nomination response) */
      s->st.dropped_not_selected++;
      if (len <= sizeof s->stash) {
        memcpy(s->stash, data, len);
        s->stash_len = len;
        s->stash_path = *path;
      }
      return;
    }
    feed_dtls(s, data, len, now);
    return;
  }
  if (kind != FIRN_DEMUX_RTP && kind != FIRN_DEMUX_RTCP) {
    s->st.dropped_other++;
    return;
  }
  if (!s->connected || !on_selected_path(s, path)) {
    s->st.dropped_not_selected++;
    return;
  }
  if (s->state != FIRN_SESSION_SECURE) {
    s->st.dropped_not_secure++;
    return;
  }
  firn_media_kind mk = kind == FIRN_DEMUX_RTP ? FIRN_MEDIA_RTP : FIRN_MEDIA_RTCP;
  if (!s->cfg.dtls) {
    deliver(s, mk, data, len, now);
    return;
  }
  if (len > sizeof s->rx) {
    s->st.dropped_other++;
    return;
  }
  memcpy(s->rx, data, len);
  size_t out = 0;
  int rc = mk == FIRN_MEDIA_RTP ? firn_srtp_unprotect_rtp(s->srtp, s->rx, len, &out)
                                : firn_srtp_unprotect_rtcp(s->srtp, s->rx, len, &out);
  if (rc == FIRN_ERR_SRTP_AUTH) s->st.srtp_auth_failures++;
  else if (rc == FIRN_ERR_SRTP_REPLAY) s->st.srtp_replays++;
  else if (rc < 0) s->st.srtp_other_failures++;
  if (rc < 0) return;
  deliver(s, mk, s->rx, out, now);
}

static void cb_tcp_connect(void *user, const firn_path *p) {
  firn_session *s = user;
  if (!s->destroy_pending && s->app_cb.on_tcp_connect) s->app_cb.on_tcp_connect(s->app_user, p);
}

static void cb_tcp_close(void *user, uint32_t conn) {
  firn_session *s = user;
  if (!s->destroy_pending && s->app_cb.on_tcp_close) s->app_cb.on_tcp_close(s->app_user, conn);
}

/* ---------------------------------------------------------------------------------------- */
/* lifecycle                                                                                 */

int firn_session_new(firn_session **out, const firn_session_settings *cfg) {
  if (!out || !cfg || cfg->size < sizeof *cfg) return FIRN_ERR_INVALID_ARG;
  if (cfg->num_profiles > FIRN_SESSION_MAX_PROFILES) return FIRN_ERR_INVALID_ARG;
  if (cfg->answer_setup != FIRN_MEDIA_SETUP_ACTIVE && cfg->answer_setup != FIRN_MEDIA_SETUP_PASSIVE)
    return FIRN_ERR_INVALID_ARG;
  *out = NULL;
  firn_allocator alloc;
  firn_alloc_init(&alloc, cfg->agent.alloc);
  firn_session *s = firn_calloc(&alloc, 1, sizeof *s);
  if (!s) return FIRN_ERR_NOMEM;
  s->alloc = alloc;
  s->cfg = *cfg;
  s->log.fn = cfg->agent.log;
  s->log.user = cfg->agent.log_user;
  s->log.level = cfg->agent.log_level;
  s->app_cb = cfg->agent.callbacks;
  s->app_user = cfg->agent.user;
  s->q_cap = cfg->tx_queue ? cfg->tx_queue : 64;
  int rc = FIRN_ERR_NOMEM;
  s->q = firn_calloc(&alloc, s->q_cap, sizeof *s->q);
  if (!s->q) goto fail;

  firn_random_fn rnd = cfg->agent.random ? cfg->agent.random : firn_random_default;
  uint8_t id[8];
  rc = rnd(cfg->agent.random_user, id, sizeof id);
  if (rc < 0) goto fail;
  for (int i = 0; i < 8; i++) s->session_id = (s->session_id << 8) | id[i];
  s->session_id &= INT64_MAX; /* RFC 8866: a 63-bit value is safe everywhere */

  if (cfg->dtls) {
    s->cert = cfg->cert;
    if (!s->cert) {
      rc = firn_dtls_cert_generate(&s->own_cert, &alloc, cfg->agent.random, cfg->agent.random_user);
      if (rc < 0) goto fail;
      s->cert = s->own_cert;
    }
    rc = firn_dtls_cert_fingerprint(s->cert, FIRN_FP_SHA256, s->fp_str, sizeof s->fp_str);
    if (rc < 0) goto fail;
    s->local_setup = cfg->role == FIRN_SESSION_OFFERER ? FIRN_MEDIA_SETUP_ACTPASS : cfg->answer_setup;
  }

  firn_agent_settings as = cfg->agent;
  memset(&as.callbacks, 0, sizeof as.callbacks);
  as.callbacks.size = sizeof as.callbacks;
  as.callbacks.on_candidate = cb_candidate;
  as.callbacks.on_gathering_done = cb_gathering_done;
  as.callbacks.on_state = cb_state;
  as.callbacks.on_selected_pair = cb_selected;
  as.callbacks.on_data = cb_data;
  as.callbacks.on_tcp_connect = cb_tcp_connect;
  as.callbacks.on_tcp_close = cb_tcp_close;
  as.user = s;
  as.role = cfg->role == FIRN_SESSION_OFFERER && !cfg->agent.lite ? FIRN_ICE_CONTROLLING : FIRN_ICE_CONTROLLED;
  rc = firn_agent_new(&s->agent, &as);
  if (rc < 0) goto fail;
  rc = firn_agent_add_stream(s->agent, 1, &s->stream);
  if (rc < 0) goto fail;
  *out = s;
  return FIRN_OK;
fail:
  free_now(s);
  return rc;
}

static void free_now(firn_session *s) {
  firn_allocator a = s->alloc;
  if (s->agent) firn_agent_free(s->agent);
  firn_srtp_free(s->srtp);
  firn_dtls_free(s->dtls);
  firn_dtls_cert_free(s->own_cert);
  if (s->q) {
    firn_wipe(s->q, s->q_cap * sizeof *s->q);
    firn_free(&a, s->q);
  }
  firn_wipe(s, sizeof *s);
  firn_free(&a, s);
}

void firn_session_free(firn_session *s) {
  if (s) free_now(s);
}

void firn_session_destroy(firn_session *s) {
  if (!s) return;
  if (s->depth) s->destroy_pending = 1;
  else free_now(s);
}

firn_agent *firn_session_agent(firn_session *s) { return s ? s->agent : NULL; }
unsigned firn_session_stream(const firn_session *s) { return s ? s->stream : 0; }
firn_session_state firn_session_get_state(const firn_session *s) { return s ? s->state : FIRN_SESSION_CLOSED; }
int firn_session_error(const firn_session *s) { return s ? s->error : FIRN_ERR_INVALID_ARG; }
firn_srtp_profile firn_session_srtp_profile(const firn_session *s) { return s ? s->profile : FIRN_SRTP_NONE; }
const char *firn_session_local_fingerprint(const firn_session *s) {
  return s && s->fp_str[0] ? s->fp_str : NULL;
}

int firn_session_get_stats(const firn_session *s, firn_session_stats *out) {
  if (!s || !out) return FIRN_ERR_INVALID_ARG;
  *out = s->st;
  return FIRN_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* descriptions                                                                              */

int firn_session_get_local_description(firn_session *s, firn_media_desc *d) {
  if (!s || !d) return FIRN_ERR_INVALID_ARG;
  firn_media_desc_default(d);
  d->session_id = s->session_id;
  const char *ufrag, *pwd;
  int rc = firn_agent_get_local_credentials(s->agent, s->stream, &ufrag, &pwd);
  if (rc < 0) return rc;
  snprintf(d->ice_ufrag, sizeof d->ice_ufrag, "%s", ufrag);
  snprintf(d->ice_pwd, sizeof d->ice_pwd, "%s", pwd);
  d->ice_lite = s->cfg.agent.lite ? 1 : 0;
  if (s->cfg.dtls) {
    snprintf(d->fingerprint, sizeof d->fingerprint, "%s", s->fp_str);
    d->setup = s->local_setup;
  }
  size_t n = 0;
  rc = firn_agent_get_local_candidates(s->agent, s->stream, d->candidates, FIRN_MEDIA_MAX_CANDIDATES, &n);
  if (rc < 0 && rc != FIRN_ERR_NOBUF && rc != FIRN_ERR_LIMIT) return rc;
  d->n_candidates = n > FIRN_MEDIA_MAX_CANDIDATES ? FIRN_MEDIA_MAX_CANDIDATES : n;
  d->end_of_candidates = s->gathering_done;
  firn_candidate def;
  rc = firn_agent_get_default_candidate(s->agent, s->stream, 1, &def);
  if (rc < 0) return FIRN_ERR_STATE;
  d->connection = def.addr;
  d->connection.port = 0;
  d->port = def.addr.port;
  return FIRN_OK;
}

static void add_remote_candidates(firn_session *s, const firn_media_desc *d, uint64_t now) {
  for (size_t i = 0; i < d->n_candidates && i < FIRN_MEDIA_MAX_CANDIDATES && !s->destroy_pending; i++) {
    int rc = firn_agent_add_remote_candidate(s->agent, s->stream, &d->candidates[i], now);
    if (rc < 0)
      firn_log(&s->log, FIRN_LOG_DEBUG, "media", "remote candidate %zu not added: %s", i, firn_strerror(rc));
  }
  if (d->end_of_candidates && !s->destroy_pending) firn_agent_end_of_remote_candidates(s->agent, s->stream, now);
}

/* A later description: an ICE restart (new credentials) on the same DTLS association. */
static int apply_restart(firn_session *s, const firn_media_desc *d, uint64_t now) {
  if (!strcmp(d->ice_ufrag, s->rufrag) && !strcmp(d->ice_pwd, s->rpwd)) return FIRN_ERR_STATE;
  if (s->cfg.dtls) {
    firn_fingerprint fp;
    if (!d->fingerprint[0] || firn_fingerprint_parse(&fp, d->fingerprint, strlen(d->fingerprint)) < 0 ||
        !firn_fingerprint_equal(&fp, &s->remote_fp)) {
      firn_log(&s->log, FIRN_LOG_WARN, "media", "a new remote fingerprint needs a new session");
      return FIRN_ERR_UNSUPPORTED;
    }
  }
  int rc = FIRN_OK;
  if (!s->restart_local) rc = firn_agent_restart(s->agent, s->stream, now); /* answering a restart */
  s->restart_local = 0;
  if (rc == FIRN_OK) rc = firn_agent_set_remote_credentials(s->agent, s->stream, d->ice_ufrag, d->ice_pwd, now);
  if (rc < 0) return rc;
  snprintf(s->rufrag, sizeof s->rufrag, "%s", d->ice_ufrag);
  snprintf(s->rpwd, sizeof s->rpwd, "%s", d->ice_pwd);
  firn_log(&s->log, FIRN_LOG_INFO, "media", "ICE restart: DTLS-SRTP carries on");
  add_remote_candidates(s, d, now);
  return FIRN_OK;
}

static int apply_remote(firn_session *s, const firn_media_desc *d, uint64_t now) {
  if (s->remote_set) return apply_restart(s, d, now);
  if (!d->rtcp_mux) {
    firn_log(&s->log, FIRN_LOG_WARN, "media", "the remote description lacks a=rtcp-mux");
    return FIRN_ERR_INVALID_ARG;
  }
  if (s->cfg.dtls) {
    if (!d->fingerprint[0] || d->setup == FIRN_MEDIA_SETUP_NONE) {
      firn_log(&s->log, FIRN_LOG_WARN, "media", "the remote description lacks a=fingerprint or a=setup");
      return FIRN_ERR_INVALID_ARG;
    }
    firn_fingerprint fp;
    int rc = firn_fingerprint_parse(&fp, d->fingerprint, strlen(d->fingerprint));
    if (rc < 0) return rc == FIRN_ERR_UNSUPPORTED ? rc : FIRN_ERR_INVALID_ARG;
    if (s->cfg.role == FIRN_SESSION_ANSWERER) {
      /* the offer decides what we can answer */
      if (d->setup == FIRN_MEDIA_SETUP_ACTIVE) s->local_setup = FIRN_MEDIA_SETUP_PASSIVE;
      else if (d->setup == FIRN_MEDIA_SETUP_PASSIVE) s->local_setup = FIRN_MEDIA_SETUP_ACTIVE;
      else s->local_setup = s->cfg.answer_setup;
    }
    firn_dtls_role role;
    rc = firn_dtls_role_from_setup(to_dtls_setup(s->local_setup), to_dtls_setup(d->setup), &role);
    if (rc < 0) {
      firn_log(&s->log, FIRN_LOG_WARN, "media", "a=setup:%s against our %s cannot work",
               firn_media_setup_name(d->setup), firn_media_setup_name(s->local_setup));
      return FIRN_ERR_INVALID_ARG;
    }
    rc = create_dtls(s, role, &fp);
    if (rc < 0) return rc;
    s->remote_fp = fp;
    firn_log(&s->log, FIRN_LOG_DEBUG, "media", "DTLS role %s", role == FIRN_DTLS_CLIENT ? "client" : "server");
  }
  s->remote_set = 1;
  int rc;
  if (d->ice_lite && (rc = firn_agent_set_remote_lite(s->agent, 1)) < 0) return rc;
  rc = firn_agent_set_remote_credentials(s->agent, s->stream, d->ice_ufrag, d->ice_pwd, now);
  if (rc < 0) return rc;
  snprintf(s->rufrag, sizeof s->rufrag, "%s", d->ice_ufrag);
  snprintf(s->rpwd, sizeof s->rpwd, "%s", d->ice_pwd);
  add_remote_candidates(s, d, now);
  return FIRN_OK;
}

int firn_session_restart(firn_session *s, uint64_t now) {
  if (!s) return FIRN_ERR_INVALID_ARG;
  if (!s->remote_set) return FIRN_ERR_STATE;
  enter(s, now);
  int rc = firn_agent_restart(s->agent, s->stream, now);
  if (rc == FIRN_OK) s->restart_local = 1;
  return leave(s, rc);
}

int firn_session_set_remote_description(firn_session *s, const firn_media_desc *d, uint64_t now) {
  if (!s || !d) return FIRN_ERR_INVALID_ARG;
  enter(s, now);
  return leave(s, apply_remote(s, d, now));
}

/* ---------------------------------------------------------------------------------------- */
/* driving                                                                                   */

int firn_session_handle_datagram(firn_session *s, const firn_path *path, const uint8_t *data, size_t len,
                                 uint64_t now) {
  if (!s) return FIRN_ERR_INVALID_ARG;
  enter(s, now);
  return leave(s, firn_agent_handle_datagram(s->agent, path, data, len, now));
}

int firn_session_handle_stream(firn_session *s, uint32_t conn, const uint8_t *data, size_t len, uint64_t now) {
  if (!s) return FIRN_ERR_INVALID_ARG;
  enter(s, now);
  return leave(s, firn_agent_handle_stream(s->agent, conn, data, len, now));
}

int firn_session_tcp_connected(firn_session *s, uint32_t conn, int ok, uint64_t now) {
  if (!s) return FIRN_ERR_INVALID_ARG;
  enter(s, now);
  return leave(s, firn_agent_tcp_connected(s->agent, conn, ok, now));
}

int firn_session_tcp_accepted(firn_session *s, const firn_addr *local, const firn_addr *remote, uint32_t *conn,
                              uint64_t now) {
  if (!s) return FIRN_ERR_INVALID_ARG;
  enter(s, now);
  return leave(s, firn_agent_tcp_accepted(s->agent, local, remote, conn, now));
}

int firn_session_tcp_closed(firn_session *s, uint32_t conn, uint64_t now) {
  if (!s) return FIRN_ERR_INVALID_ARG;
  enter(s, now);
  return leave(s, firn_agent_tcp_closed(s->agent, conn, now));
}

int firn_session_gather(firn_session *s, uint64_t now) {
  if (!s) return FIRN_ERR_INVALID_ARG;
  enter(s, now);
  return leave(s, firn_agent_gather(s->agent, now));
}

firn_ssize firn_session_poll_transmit(firn_session *s, uint64_t now, uint8_t *buf, size_t cap, firn_path *path) {
  if (!s || !buf || !path) return FIRN_ERR_INVALID_ARG;
  if (s->destroy_pending) return FIRN_ERR_WOULDBLOCK;
  s->now = now;
  firn_ssize n = firn_agent_poll_transmit(s->agent, now, buf, cap, path);
  if (n != FIRN_ERR_WOULDBLOCK) return n;
  drain_dtls(s);
  while (s->q_count) {
    tx_slot *slot = &s->q[s->q_head];
    n = firn_agent_write_data(s->agent, s->stream, 1, slot->data, slot->len, buf, cap, path, now);
    if (n == FIRN_ERR_NOBUF) return n; /* stays queued for a bigger buffer */
    s->q_head = (s->q_head + 1) % s->q_cap;
    s->q_count--;
    if (n >= 0) return n;
    /* no usable pair at the moment (consent lost, a relay reconnecting): DTLS retransmits,
     * media is real-time and not worth keeping */
    s->st.dropped_no_pair++;
    firn_log(&s->log, FIRN_LOG_DEBUG, "media", "cannot send %zu bytes on the selected pair: %s", slot->len,
             firn_strerror((int)n));
  }
  if (s->agent_close_pending) {
    s->agent_close_pending = 0;
    s->agent_closed = 1;
    firn_agent_close(s->agent, now);
    return firn_agent_poll_transmit(s->agent, now, buf, cap, path);
  }
  return FIRN_ERR_WOULDBLOCK;
}

uint64_t firn_session_expiry(const firn_session *s) {
  if (!s || s->destroy_pending) return FIRN_TIME_NEVER;
  uint64_t e = firn_agent_expiry(s->agent);
  if (s->dtls && s->connected) {
    uint64_t d = firn_dtls_expiry(s->dtls);
    if (d < e) e = d;
  }
  return e;
}

int firn_session_handle_expiry(firn_session *s, uint64_t now) {
  if (!s) return FIRN_ERR_INVALID_ARG;
  enter(s, now);
  int rc = firn_agent_handle_expiry(s->agent, now);
  if (!s->destroy_pending && s->dtls && s->connected && firn_dtls_expiry(s->dtls) <= now) {
    firn_dtls_handle_expiry(s->dtls, now); /* failures arrive through dtls_state */
    if (!s->destroy_pending) drain_dtls(s);
  }
  return leave(s, rc);
}

static int send_media(firn_session *s, firn_media_kind kind, const uint8_t *p, size_t len, uint64_t now) {
  if (s->state == FIRN_SESSION_FAILED || s->state == FIRN_SESSION_CLOSED) return FIRN_ERR_CLOSED;
  if (s->state != FIRN_SESSION_SECURE) return FIRN_ERR_NOT_SECURE;
  if (!p || len < (kind == FIRN_MEDIA_RTP ? 12u : 8u) || len > MEDIA_MAX_PLAIN) return FIRN_ERR_INVALID_ARG;
  if (s->q_count >= s->q_cap) return FIRN_ERR_LIMIT;
  memcpy(s->scratch, p, len);
  size_t out = len;
  if (s->cfg.dtls) {
    int rc = kind == FIRN_MEDIA_RTP ? firn_srtp_protect_rtp(s->srtp, s->scratch, len, sizeof s->scratch, &out)
                                    : firn_srtp_protect_rtcp(s->srtp, s->scratch, len, sizeof s->scratch, &out);
    if (rc < 0) return rc;
  }
  (void)now;
  int rc = enqueue_scratch(s, out);
  if (rc < 0) return rc;
  if (kind == FIRN_MEDIA_RTP) s->st.rtp_sent++;
  else s->st.rtcp_sent++;
  return FIRN_OK;
}

int firn_session_send_rtp(firn_session *s, const uint8_t *rtp, size_t len, uint64_t now) {
  if (!s) return FIRN_ERR_INVALID_ARG;
  enter(s, now);
  return leave(s, send_media(s, FIRN_MEDIA_RTP, rtp, len, now));
}

int firn_session_send_rtcp(firn_session *s, const uint8_t *rtcp, size_t len, uint64_t now) {
  if (!s) return FIRN_ERR_INVALID_ARG;
  enter(s, now);
  return leave(s, send_media(s, FIRN_MEDIA_RTCP, rtcp, len, now));
}

int firn_session_close(firn_session *s, uint64_t now) {
  if (!s) return FIRN_ERR_INVALID_ARG;
  if (s->state == FIRN_SESSION_CLOSED) {
    /* Closed by the peer's close_notify: the session is over, but the agent still holds
     * TURN allocations and TCP connections that must be released now. */
    if (!s->agent_closed && !s->agent_close_pending) {
      enter(s, now);
      s->agent_closed = 1;
      firn_agent_close(s->agent, now);
      return leave(s, FIRN_OK);
    }
    return FIRN_OK;
  }
  enter(s, now);
  int was_failed = s->state == FIRN_SESSION_FAILED;
  s->state = FIRN_SESSION_CLOSED; /* before DTLS reports its own CLOSED */
  if (s->dtls && s->connected) {
    firn_dtls_state ds = firn_dtls_get_state(s->dtls);
    if (ds == FIRN_DTLS_CONNECTED || ds == FIRN_DTLS_HANDSHAKING) {
      firn_dtls_close(s->dtls, now);
      drain_dtls(s); /* queue close_notify */
    }
  }
  if (s->q_count) {
    s->agent_close_pending = 1; /* poll_transmit sends the queue first */
  } else {
    s->agent_closed = 1;
    firn_agent_close(s->agent, now);
  }
  if (!was_failed) emit(s, FIRN_SESSION_EV_CLOSED, 0, "closed locally");
  return leave(s, FIRN_OK);
}
