/**
 * @file common.h
 * @brief Types shared by every firn module: error codes, allocator hooks, logging,
 *        socket addresses, injected randomness and time.
 *
 * Conventions used across the whole API:
 * - Functions that can fail return an `int`: 0 (`FIRN_OK`) on success or a negative
 *   `FIRN_ERR_*` code. `firn_strerror()` turns a code into a message.
 * - Constructors write the new object through an out-pointer and return an error code.
 * - Settings structs carry a `size` field set by their `*_default()` initialiser, so the
 *   structs can grow without breaking the ABI.
 * - Time is a `uint64_t` count of nanoseconds from an arbitrary, monotonic origin chosen by
 *   the caller. The core never reads a clock.
 * - Randomness comes from an injected `firn_random_fn`; the default is OpenSSL's CSPRNG.
 */
#ifndef FIRN_COMMON_H
#define FIRN_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Export macro: marks the public symbols of the shared library. */
#if defined(FIRN_STATIC)
#define FIRN_API
#elif defined(_WIN32)
#ifdef FIRN_BUILDING
#define FIRN_API __declspec(dllexport)
#else
#define FIRN_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) && defined(FIRN_BUILDING)
#define FIRN_API __attribute__((visibility("default")))
#else
#define FIRN_API
#endif

/** Signed size type for lengths that can also carry a negative error code. */
typedef ptrdiff_t firn_ssize;

/** Nanoseconds. */
#define FIRN_NS_PER_MS UINT64_C(1000000)
#define FIRN_NS_PER_S UINT64_C(1000000000)
/** An expiry value meaning "never". */
#define FIRN_TIME_NEVER UINT64_MAX

/**
 * Error codes. All are negative; 0 is success.
 * Ranges: -1..-99 general, -100..-199 STUN codec, -200..-299 STUN transactions and
 * credentials, -300..-399 ICE, -400..-499 TURN, -500..-599 DTLS/SRTP.
 */
typedef enum firn_error {
  FIRN_OK = 0,
  FIRN_ERR_INVALID_ARG = -1,      /**< an argument from the application is invalid */
  FIRN_ERR_NOMEM = -2,            /**< the allocator returned NULL */
  FIRN_ERR_NOBUF = -3,            /**< the caller's buffer is too small */
  FIRN_ERR_STATE = -4,            /**< the call is not allowed in the object's current state */
  FIRN_ERR_NOT_FOUND = -5,        /**< the requested item does not exist */
  FIRN_ERR_LIMIT = -6,            /**< a configured bound was reached */
  FIRN_ERR_RANDOM = -7,           /**< the random source failed */
  FIRN_ERR_CRYPTO = -8,           /**< a cryptographic library call failed */
  FIRN_ERR_PARSE = -9,            /**< text input (address, URI, SDP) could not be parsed */
  FIRN_ERR_UNSUPPORTED = -10,     /**< the feature or value is not supported */
  FIRN_ERR_IO = -11,              /**< a runtime socket/DNS operation failed */
  FIRN_ERR_WOULDBLOCK = -12,      /**< nothing to do now (e.g. no datagram to send) */
  FIRN_ERR_CLOSED = -13,          /**< the object is closed or closing */

  /* STUN codec */
  FIRN_ERR_STUN_TRUNCATED = -100,     /**< shorter than a STUN header, or length exceeds datagram */
  FIRN_ERR_STUN_NOT_STUN = -101,      /**< first two bits not zero: not a STUN message */
  FIRN_ERR_STUN_RFC3489 = -102,       /**< no magic cookie: classic RFC 3489 message, rejected */
  FIRN_ERR_STUN_BAD_LENGTH = -103,    /**< header length is not a multiple of 4 or != datagram - 20 */
  FIRN_ERR_STUN_ATTR_OVERRUN = -104,  /**< an attribute's length runs past the message */
  FIRN_ERR_STUN_BAD_ATTR = -105,      /**< an attribute's value is malformed for its type */
  FIRN_ERR_STUN_BAD_ADDR_FAMILY = -106, /**< address attribute with unknown family */
  FIRN_ERR_STUN_BAD_ERROR_CODE = -107, /**< ERROR-CODE too short or class out of range */
  FIRN_ERR_STUN_ATTR_TOO_LONG = -108, /**< USERNAME/REALM/NONCE/reason/SOFTWARE over its limit */
  FIRN_ERR_STUN_AFTER_FINGERPRINT = -109, /**< an attribute follows FINGERPRINT */
  FIRN_ERR_STUN_BAD_FINGERPRINT = -110, /**< FINGERPRINT CRC mismatch */
  FIRN_ERR_STUN_TOO_MANY_ATTRS = -111, /**< more attributes than FIRN_STUN_MAX_ATTRS */
  FIRN_ERR_STUN_NO_INTEGRITY = -112,  /**< MESSAGE-INTEGRITY(-SHA256) required but absent */
  FIRN_ERR_STUN_BAD_INTEGRITY = -113, /**< MESSAGE-INTEGRITY(-SHA256) does not verify */
  FIRN_ERR_STUN_UNKNOWN_ATTRS = -114, /**< unknown comprehension-required attributes present */
  FIRN_ERR_STUN_BAD_PADDING = -115,   /**< reserved for strict padding checks */
  FIRN_ERR_STUN_BAD_CLASS = -116,     /**< message class not allowed for this method/use */
  FIRN_ERR_STUN_DUPLICATE_ATTR = -117, /**< reserved */

  /* STUN transactions and credentials */
  FIRN_ERR_STUN_TIMEOUT = -200,       /**< transaction timed out (Rc retransmissions / Ti) */
  FIRN_ERR_STUN_ERROR_RESPONSE = -201, /**< the server answered with an error response */
  FIRN_ERR_STUN_AUTH_FAILED = -202,   /**< credentials rejected (401 again with the same nonce) */
  FIRN_ERR_STUN_CANCELLED = -203,     /**< transaction cancelled by the application */
  FIRN_ERR_STUN_TOO_MANY_TXNS = -204, /**< transaction table full */
  FIRN_ERR_STUN_MISMATCH = -205,      /**< response does not match any transaction (dropped) */

  /* ICE */
  FIRN_ERR_ICE_BAD_CREDENTIALS = -300, /**< ufrag/pwd of invalid length or characters */
  FIRN_ERR_ICE_ROLE_CONFLICT = -301,   /**< 487 role conflict */
  FIRN_ERR_ICE_BAD_CANDIDATE = -302,   /**< candidate attribute could not be parsed */
  FIRN_ERR_ICE_FAILED = -303,          /**< ICE processing failed */

  /* TURN */
  FIRN_ERR_TURN_ALLOCATION = -400,     /**< allocation failed */
  FIRN_ERR_TURN_PERMISSION = -401,     /**< no permission for the peer */
  FIRN_ERR_TURN_TLS = -402,            /**< TLS connection to the server failed */

  /* DTLS / SRTP */
  FIRN_ERR_DTLS_HANDSHAKE = -500,      /**< DTLS handshake failed */
  FIRN_ERR_DTLS_FINGERPRINT = -501,    /**< peer certificate does not match the SDP fingerprint */
  FIRN_ERR_SRTP = -502,                /**< libsrtp2 reported an error */
  FIRN_ERR_SRTP_AUTH = -503,           /**< SRTP authentication failed */
  FIRN_ERR_SRTP_REPLAY = -504,         /**< SRTP replay detected */
  FIRN_ERR_NOT_SECURE = -505           /**< media sent before DTLS-SRTP is established */
} firn_error;

/** A human-readable message for an error code (static string, never NULL). */
FIRN_API const char *firn_strerror(int err);

/** Allocator hooks. Any object that takes a `const firn_allocator *` accepts NULL to mean
 *  the C library's malloc/free. The struct is copied; `user` is passed to every hook. */
typedef struct firn_allocator {
  void *(*malloc)(size_t size, void *user);
  void *(*calloc)(size_t nmemb, size_t size, void *user);
  void *(*realloc)(void *ptr, size_t size, void *user);
  void (*free)(void *ptr, void *user);
  void *user;
} firn_allocator;

/** Log levels, most severe first. */
typedef enum firn_log_level {
  FIRN_LOG_ERROR = 0,
  FIRN_LOG_WARN = 1,
  FIRN_LOG_INFO = 2,
  FIRN_LOG_DEBUG = 3,
  FIRN_LOG_TRACE = 4
} firn_log_level;

/** Per-object log callback. `module` is a short static string ("stun", "ice", ...),
 *  `msg` a NUL-terminated line without a trailing newline, valid only during the call. */
typedef void (*firn_log_fn)(void *user, firn_log_level level, const char *module, const char *msg);

/** Random source: fill `buf` with `len` unpredictable bytes; return 0 or a negative error.
 *  The default (when NULL is configured) is OpenSSL's RAND_bytes. Tests inject a seeded
 *  generator to replay runs exactly. */
typedef int (*firn_random_fn)(void *user, uint8_t *buf, size_t len);

/** The default random source (OpenSSL RAND_bytes); `user` is ignored. */
FIRN_API int firn_random_default(void *user, uint8_t *buf, size_t len);

/** Address family of a firn_addr. */
typedef enum firn_family { FIRN_AF_NONE = 0, FIRN_AF_INET = 4, FIRN_AF_INET6 = 6 } firn_family;

/** Transport protocol of a candidate or path. */
typedef enum firn_transport { FIRN_TRANSPORT_UDP = 0, FIRN_TRANSPORT_TCP = 1, FIRN_TRANSPORT_TLS = 2 } firn_transport;

/** A socket address (IPv4 or IPv6 + port) in a form independent of the OS headers.
 *  `addr` holds the address in network byte order (4 or 16 bytes); `port` is host order. */
typedef struct firn_addr {
  uint8_t family;     /**< firn_family */
  uint8_t reserved_;  /**< zero */
  uint16_t port;      /**< host byte order */
  uint32_t scope_id;  /**< IPv6 scope (interface index), 0 otherwise */
  uint8_t addr[16];   /**< network byte order; IPv4 uses the first 4 bytes */
} firn_addr;

/** Longest string firn_addr_format() can produce, including the NUL. */
#define FIRN_ADDR_STRLEN 64

/** Set an IPv4 address from 4 bytes in network order and a host-order port. */
FIRN_API void firn_addr_set_ipv4(firn_addr *a, const uint8_t ip[4], uint16_t port);
/** Set an IPv6 address from 16 bytes in network order and a host-order port. */
FIRN_API void firn_addr_set_ipv6(firn_addr *a, const uint8_t ip[16], uint16_t port);
/** Parse "1.2.3.4", "1.2.3.4:5", "::1", "[::1]:5", "[fe80::1%2]:5". A missing port gives
 *  `default_port`. Returns 0 or FIRN_ERR_PARSE / FIRN_ERR_INVALID_ARG. */
FIRN_API int firn_addr_parse(firn_addr *a, const char *str, uint16_t default_port);
/** Format as "1.2.3.4:5" or "[::1]:5" (with_port != 0) or without the port. Returns the
 *  number of characters written (excluding the NUL) or FIRN_ERR_NOBUF. */
FIRN_API int firn_addr_format(const firn_addr *a, int with_port, char *buf, size_t size);
/** 1 if address and port (and family) are equal, else 0. */
FIRN_API int firn_addr_equal(const firn_addr *a, const firn_addr *b);
/** 1 if the IP addresses are equal, ignoring the port, else 0. */
FIRN_API int firn_addr_equal_ip(const firn_addr *a, const firn_addr *b);
/** 1 for 127.0.0.0/8 and ::1. */
FIRN_API int firn_addr_is_loopback(const firn_addr *a);
/** 1 for fe80::/10. */
FIRN_API int firn_addr_is_link_local(const firn_addr *a);
/** 1 for 0.0.0.0 and ::. */
FIRN_API int firn_addr_is_any(const firn_addr *a);
/** 1 for an IPv4-mapped IPv6 address (::ffff:0:0/96). */
FIRN_API int firn_addr_is_v4mapped(const firn_addr *a);

#ifdef __cplusplus
}
#endif
#endif /* FIRN_COMMON_H */
