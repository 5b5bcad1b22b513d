/* An in-process STUN server (RFC 8489 Binding over UDP), built on firn's own codec. */
#include "sim_internal.h"

#include <stdlib.h>

#include "firn/stun.h"

struct sim_stun_server {
  sim_cleanup cleanup; /* first: sim_free() frees servers still open */
  sim_udp *sock;
  uint64_t requests;
};

static void on_recv(void *user, const firn_addr *local, const firn_addr *remote,
                    const uint8_t *data, size_t len, uint64_t now) {
  (void)local;
  (void)now;
  sim_stun_server *srv = user;
  firn_stun_msg msg;
  if (firn_stun_msg_parse(&msg, data, len) != FIRN_OK) return; /* not STUN, or malformed */
  if (msg.cls != FIRN_STUN_REQUEST) return;                     /* indications, responses */
  uint8_t out[512];
  firn_stun_builder b;
  if (msg.n_unknown) {
    firn_stun_builder_init(&b, out, sizeof out, msg.method, FIRN_STUN_ERROR, msg.tid);
    firn_stun_add_error(&b, 420, NULL);
    firn_stun_add_unknown_attrs(&b, msg.unknown, msg.n_unknown);
  } else if (msg.method != FIRN_STUN_BINDING) {
    firn_stun_builder_init(&b, out, sizeof out, msg.method, FIRN_STUN_ERROR, msg.tid);
    firn_stun_add_error(&b, 400, NULL);
  } else {
    firn_stun_builder_init(&b, out, sizeof out, FIRN_STUN_BINDING, FIRN_STUN_SUCCESS, msg.tid);
    firn_stun_add_xor_addr(&b, FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS, remote);
  }
  if (msg.fp_off) firn_stun_add_fingerprint(&b);
  firn_ssize n = firn_stun_builder_finish(&b);
  if (n < 0) return;
  srv->requests++;
  sim_udp_send(srv->sock, remote, out, (size_t)n);
}

static void server_destroy(sim_stun_server *srv) {
  sim_udp_close(srv->sock);
  free(srv);
}

static void cleanup_fn(sim_cleanup *c) { server_destroy((sim_stun_server *)(void *)c); }

int sim_stun_server_new(sim_host *h, const firn_addr *local, sim_stun_server **out) {
  if (!h || !local || !out) return FIRN_ERR_INVALID_ARG;
  sim_stun_server *srv = calloc(1, sizeof *srv);
  if (!srv) return FIRN_ERR_NOMEM;
  int rc = sim_udp_open(h, local, on_recv, srv, &srv->sock);
  if (rc < 0) {
    free(srv);
    return rc;
  }
  srv->cleanup.fn = cleanup_fn;
  sim_cleanup_add(h->s, &srv->cleanup);
  *out = srv;
  return FIRN_OK;
}

const firn_addr *sim_stun_server_local(const sim_stun_server *srv) { return sim_udp_local(srv->sock); }

uint64_t sim_stun_server_requests(const sim_stun_server *srv) { return srv->requests; }

void sim_stun_server_free(sim_stun_server *srv) {
  if (!srv) return;
  sim_cleanup_remove(srv->sock->host->s, &srv->cleanup);
  server_destroy(srv);
}
