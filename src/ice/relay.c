/* Relay candidates (TURN): not yet. */
#include "ice/agent_internal.h"

void firn_ice_relay_conn_connected(firn_agent *ag, ice_tcp_conn *c, int ok, uint64_t now) {
  (void)ag; (void)c; (void)ok; (void)now;
}
void firn_ice_relay_conn_bytes(firn_agent *ag, ice_tcp_conn *c, const uint8_t *data, size_t len, uint64_t now) {
  (void)ag; (void)c; (void)data; (void)len; (void)now;
}
void firn_ice_relay_conn_closed(firn_agent *ag, struct ice_relay *r, uint64_t now) {
  (void)ag; (void)r; (void)now;
}
