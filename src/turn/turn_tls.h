/* TLS to a TURN server over memory BIOs (OpenSSL), for src/turn/turn.c. The runtime only
 * moves bytes: ciphertext read from the connection goes in with firn_turn_tls_feed(),
 * ciphertext to write comes out of firn_turn_tls_drain(). */
#ifndef FIRN_TURN_TLS_H
#define FIRN_TURN_TLS_H

#include "common/log.h"
#include "firn/common.h"

typedef struct firn_turn_tls firn_turn_tls;

typedef struct firn_turn_tls_config {
  const char *ca_file;
  const char *ca_dir;
  const char *server_name; /* verified and sent as SNI; NULL: verify `server_ip` */
  const firn_addr *server_ip;
  int insecure;
} firn_turn_tls_config;

/* Load the trust store (FIRN_ERR_TURN_TLS if the CA file/dir cannot be used). */
int firn_turn_tls_new(firn_turn_tls **out, const firn_allocator *alloc, const firn_logger *log,
                      const firn_turn_tls_config *cfg);
void firn_turn_tls_free(firn_turn_tls *tls);
/* Start a new client session (discarding any previous one): the ClientHello is queued. */
int firn_turn_tls_start(firn_turn_tls *tls);
/* Ciphertext from the connection. */
int firn_turn_tls_feed(firn_turn_tls *tls, const uint8_t *data, size_t len);
/* Advance the handshake: 1 done, 0 in progress, FIRN_ERR_TURN_TLS on failure. */
int firn_turn_tls_handshake(firn_turn_tls *tls);
/* Plaintext received: length, FIRN_ERR_WOULDBLOCK, FIRN_ERR_CLOSED (close_notify),
 * FIRN_ERR_TURN_TLS. */
firn_ssize firn_turn_tls_read(firn_turn_tls *tls, uint8_t *buf, size_t cap);
/* Encrypt `len` bytes (queued for drain). FIRN_ERR_TURN_TLS, FIRN_ERR_NOBUF (queue bound). */
int firn_turn_tls_write(firn_turn_tls *tls, const uint8_t *data, size_t len);
/* Ciphertext waiting to be written. */
size_t firn_turn_tls_pending(const firn_turn_tls *tls);
/* Move up to `cap` bytes of queued ciphertext into `buf`; returns the count (0 if none). */
size_t firn_turn_tls_drain(firn_turn_tls *tls, uint8_t *buf, size_t cap);
/* A short description of the last failure (verification result or OpenSSL error). */
const char *firn_turn_tls_error(const firn_turn_tls *tls);

#endif
