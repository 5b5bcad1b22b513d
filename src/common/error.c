#include "firn/common.h"

const char *firn_strerror(int err) {
  switch ((firn_error)err) {
  case FIRN_OK: return "success";
  case FIRN_ERR_INVALID_ARG: return "invalid argument";
  case FIRN_ERR_NOMEM: return "out of memory";
  case FIRN_ERR_NOBUF: return "buffer too small";
  case FIRN_ERR_STATE: return "operation not allowed in the current state";
  case FIRN_ERR_NOT_FOUND: return "not found";
  case FIRN_ERR_LIMIT: return "configured limit reached";
  case FIRN_ERR_RANDOM: return "random source failed";
  case FIRN_ERR_CRYPTO: return "cryptographic operation failed";
  case FIRN_ERR_PARSE: return "could not parse input";
  case FIRN_ERR_UNSUPPORTED: return "not supported";
  case FIRN_ERR_IO: return "socket or DNS operation failed";
  case FIRN_ERR_WOULDBLOCK: return "nothing to do now";
  case FIRN_ERR_CLOSED: return "object is closed";
  case FIRN_ERR_STUN_TRUNCATED: return "STUN: message truncated (shorter than header or its length)";
  case FIRN_ERR_STUN_NOT_STUN: return "STUN: not a STUN message";
  case FIRN_ERR_STUN_RFC3489: return "STUN: classic RFC 3489 message without magic cookie";
  case FIRN_ERR_STUN_BAD_LENGTH: return "STUN: message length not a multiple of 4 or not matching the datagram";
  case FIRN_ERR_STUN_ATTR_OVERRUN: return "STUN: attribute length runs past the end of the message";
  case FIRN_ERR_STUN_BAD_ATTR: return "STUN: malformed attribute value";
  case FIRN_ERR_STUN_BAD_ADDR_FAMILY: return "STUN: address attribute with unknown family or wrong length";
  case FIRN_ERR_STUN_BAD_ERROR_CODE: return "STUN: malformed ERROR-CODE";
  case FIRN_ERR_STUN_ATTR_TOO_LONG: return "STUN: attribute value longer than allowed";
  case FIRN_ERR_STUN_AFTER_FINGERPRINT: return "STUN: attribute after FINGERPRINT";
  case FIRN_ERR_STUN_BAD_FINGERPRINT: return "STUN: FINGERPRINT does not match";
  case FIRN_ERR_STUN_TOO_MANY_ATTRS: return "STUN: too many attributes";
  case FIRN_ERR_STUN_NO_INTEGRITY: return "STUN: MESSAGE-INTEGRITY missing";
  case FIRN_ERR_STUN_BAD_INTEGRITY: return "STUN: MESSAGE-INTEGRITY does not verify";
  case FIRN_ERR_STUN_UNKNOWN_ATTRS: return "STUN: unknown comprehension-required attributes";
  case FIRN_ERR_STUN_BAD_PADDING: return "STUN: bad attribute padding";
  case FIRN_ERR_STUN_BAD_CLASS: return "STUN: message class not allowed here";
  case FIRN_ERR_STUN_DUPLICATE_ATTR: return "STUN: duplicate attribute";
  case FIRN_ERR_STUN_TIMEOUT: return "STUN: transaction timed out";
  case FIRN_ERR_STUN_ERROR_RESPONSE: return "STUN: error response";
  case FIRN_ERR_STUN_AUTH_FAILED: return "STUN: authentication failed";
  case FIRN_ERR_STUN_CANCELLED: return "STUN: transaction cancelled";
  case FIRN_ERR_STUN_TOO_MANY_TXNS: return "STUN: too many transactions in progress";
  case FIRN_ERR_STUN_MISMATCH: return "STUN: response matches no transaction";
  case FIRN_ERR_ICE_BAD_CREDENTIALS: return "ICE: invalid ufrag or password";
  case FIRN_ERR_ICE_ROLE_CONFLICT: return "ICE: role conflict";
  case FIRN_ERR_ICE_BAD_CANDIDATE: return "ICE: malformed candidate";
  case FIRN_ERR_ICE_FAILED: return "ICE: failed";
  case FIRN_ERR_TURN_ALLOCATION: return "TURN: allocation failed";
  case FIRN_ERR_TURN_PERMISSION: return "TURN: no permission for peer";
  case FIRN_ERR_TURN_TLS: return "TURN: TLS connection failed";
  case FIRN_ERR_DTLS_HANDSHAKE: return "DTLS: handshake failed";
  case FIRN_ERR_DTLS_FINGERPRINT: return "DTLS: peer certificate does not match fingerprint";
  case FIRN_ERR_SRTP: return "SRTP: libsrtp2 error";
  case FIRN_ERR_SRTP_AUTH: return "SRTP: authentication failed";
  case FIRN_ERR_SRTP_REPLAY: return "SRTP: replayed packet";
  case FIRN_ERR_NOT_SECURE: return "media not secure yet";
  }
  return "unknown error";
}
