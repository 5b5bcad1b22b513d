/**
 * @file stun.h
 * @brief STUN (RFC 8489, RFC 5389 compatible): zero-copy parser, builder, credentials,
 *        and a sans-I/O client transaction layer.
 *
 * Parsing validates the whole message first (header, length, alignment, every attribute's
 * bounds, the value of every known attribute, FINGERPRINT position) and then exposes the
 * attributes through typed accessors that point into the caller's buffer. Nothing is copied
 * and nothing is allocated. Integrity is verified separately with a firn_stun_key, because
 * which key to use depends on USERNAME/REALM read from the message.
 *
 * Building writes into a caller-provided buffer. Errors are sticky: add attributes in a row
 * and check once in firn_stun_builder_finish().
 */
#ifndef FIRN_STUN_H
#define FIRN_STUN_H

#include "firn/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FIRN_STUN_HEADER_SIZE 20
#define FIRN_STUN_MAGIC_COOKIE UINT32_C(0x2112A442)
#define FIRN_STUN_TID_SIZE 12
/** Most attributes a message may hold; more is rejected with FIRN_ERR_STUN_TOO_MANY_ATTRS. */
#define FIRN_STUN_MAX_ATTRS 64
/** Most unknown comprehension-required attributes reported for a 420 answer. */
#define FIRN_STUN_MAX_UNKNOWN 16
/** Largest STUN message the codec accepts (UDP datagram limit; TCP frames are capped too). */
#define FIRN_STUN_MAX_MESSAGE 65535
/**
 * @name String limits, in bytes
 * RFC 8489 14.3: USERNAME "MUST contain a UTF-8-encoded sequence of fewer than 509 bytes"
 * and an implementation "MUST be able to parse a UTF-8-encoded sequence of 763 or fewer
 * octets" (RFC 5389 compatibility). 14.8 (reason phrase), 14.9 (REALM), 14.10 (NONCE) and
 * 14.14 (SOFTWARE): "fewer than 128 characters (which can be as long as 509 bytes when
 * encoding them and as long as 763 bytes when decoding them)". ALTERNATE-DOMAIN (14.16) is a
 * DNS name of up to 255 characters.
 *
 * firn_stun_msg_parse() accepts up to the PARSE limits and refuses longer values with
 * FIRN_ERR_STUN_ATTR_TOO_LONG; the builder and the client write at most the BUILD limits and
 * refuse longer values with FIRN_ERR_STUN_ATTR_TOO_LONG (builder) or FIRN_ERR_INVALID_ARG
 * (configuration). The character count (< 128) is the application's to respect; the codec
 * counts bytes.
 * @{
 */
#define FIRN_STUN_PARSE_MAX_USERNAME 763
#define FIRN_STUN_PARSE_MAX_REALM 763
#define FIRN_STUN_PARSE_MAX_NONCE 763
#define FIRN_STUN_PARSE_MAX_REASON 763
#define FIRN_STUN_PARSE_MAX_SOFTWARE 763
#define FIRN_STUN_BUILD_MAX_USERNAME 508 /**< "fewer than 509 bytes" */
#define FIRN_STUN_BUILD_MAX_REALM 509
#define FIRN_STUN_BUILD_MAX_NONCE 509
#define FIRN_STUN_BUILD_MAX_REASON 509
#define FIRN_STUN_BUILD_MAX_SOFTWARE 509
#define FIRN_STUN_MAX_ALTERNATE_DOMAIN 255 /**< both ways */
/** Older names: the parse limits (what a received value may be; size read buffers with them). */
#define FIRN_STUN_MAX_USERNAME FIRN_STUN_PARSE_MAX_USERNAME
#define FIRN_STUN_MAX_REALM FIRN_STUN_PARSE_MAX_REALM
#define FIRN_STUN_MAX_NONCE FIRN_STUN_PARSE_MAX_NONCE
#define FIRN_STUN_MAX_REASON FIRN_STUN_PARSE_MAX_REASON
#define FIRN_STUN_MAX_SOFTWARE FIRN_STUN_PARSE_MAX_SOFTWARE
/** @} */

/** Message classes. */
typedef enum firn_stun_class {
  FIRN_STUN_REQUEST = 0,
  FIRN_STUN_INDICATION = 1,
  FIRN_STUN_SUCCESS = 2,
  FIRN_STUN_ERROR = 3
} firn_stun_class;

/** Methods (STUN, TURN RFC 8656, RFC 6062). */
typedef enum firn_stun_method {
  FIRN_STUN_BINDING = 0x001,
  FIRN_STUN_ALLOCATE = 0x003,
  FIRN_STUN_REFRESH = 0x004,
  FIRN_STUN_SEND = 0x006,
  FIRN_STUN_DATA = 0x007,
  FIRN_STUN_CREATE_PERMISSION = 0x008,
  FIRN_STUN_CHANNEL_BIND = 0x009,
  FIRN_STUN_CONNECT = 0x00a,
  FIRN_STUN_CONNECTION_BIND = 0x00b,
  FIRN_STUN_CONNECTION_ATTEMPT = 0x00c
} firn_stun_method;

/** Attribute types. */
typedef enum firn_stun_attr_type {
  /* comprehension-required (0x0000-0x7FFF) */
  FIRN_STUN_ATTR_MAPPED_ADDRESS = 0x0001,
  FIRN_STUN_ATTR_USERNAME = 0x0006,
  FIRN_STUN_ATTR_MESSAGE_INTEGRITY = 0x0008,
  FIRN_STUN_ATTR_ERROR_CODE = 0x0009,
  FIRN_STUN_ATTR_UNKNOWN_ATTRIBUTES = 0x000A,
  FIRN_STUN_ATTR_CHANNEL_NUMBER = 0x000C,
  FIRN_STUN_ATTR_LIFETIME = 0x000D,
  FIRN_STUN_ATTR_XOR_PEER_ADDRESS = 0x0012,
  FIRN_STUN_ATTR_DATA = 0x0013,
  FIRN_STUN_ATTR_REALM = 0x0014,
  FIRN_STUN_ATTR_NONCE = 0x0015,
  FIRN_STUN_ATTR_XOR_RELAYED_ADDRESS = 0x0016,
  FIRN_STUN_ATTR_REQUESTED_ADDRESS_FAMILY = 0x0017,
  FIRN_STUN_ATTR_EVEN_PORT = 0x0018,
  FIRN_STUN_ATTR_REQUESTED_TRANSPORT = 0x0019,
  FIRN_STUN_ATTR_DONT_FRAGMENT = 0x001A,
  FIRN_STUN_ATTR_MESSAGE_INTEGRITY_SHA256 = 0x001C,
  FIRN_STUN_ATTR_PASSWORD_ALGORITHM = 0x001D,
  FIRN_STUN_ATTR_USERHASH = 0x001E,
  FIRN_STUN_ATTR_XOR_MAPPED_ADDRESS = 0x0020,
  FIRN_STUN_ATTR_RESERVATION_TOKEN = 0x0022,
  FIRN_STUN_ATTR_PRIORITY = 0x0024,
  FIRN_STUN_ATTR_USE_CANDIDATE = 0x0025,
  FIRN_STUN_ATTR_CONNECTION_ID = 0x002A,
  /* comprehension-optional (0x8000-0xFFFF) */
  FIRN_STUN_ATTR_ADDITIONAL_ADDRESS_FAMILY = 0x8000,
  FIRN_STUN_ATTR_ADDRESS_ERROR_CODE = 0x8001,
  FIRN_STUN_ATTR_PASSWORD_ALGORITHMS = 0x8002,
  FIRN_STUN_ATTR_ALTERNATE_DOMAIN = 0x8003,
  FIRN_STUN_ATTR_ICMP = 0x8004,
  FIRN_STUN_ATTR_SOFTWARE = 0x8022,
  FIRN_STUN_ATTR_ALTERNATE_SERVER = 0x8023,
  FIRN_STUN_ATTR_FINGERPRINT = 0x8028,
  FIRN_STUN_ATTR_ICE_CONTROLLED = 0x8029,
  FIRN_STUN_ATTR_ICE_CONTROLLING = 0x802A
} firn_stun_attr_type;

/** PASSWORD-ALGORITHM values (RFC 8489 18.5). */
typedef enum firn_stun_password_alg {
  FIRN_STUN_PASSWORD_ALG_NONE = 0,   /**< not negotiated (RFC 5389 behaviour: MD5 key) */
  FIRN_STUN_PASSWORD_ALG_MD5 = 1,
  FIRN_STUN_PASSWORD_ALG_SHA256 = 2
} firn_stun_password_alg;

/** Compose a 16-bit message type from method and class. */
FIRN_API uint16_t firn_stun_type(uint16_t method, firn_stun_class cls);

/**
 * A parsed, validated STUN message: a view into the caller's buffer, which must outlive it.
 * Fields are read-only for applications.
 */
typedef struct firn_stun_msg {
  const uint8_t *data;          /**< the whole message */
  size_t len;                   /**< 20 + body length */
  uint16_t method;              /**< firn_stun_method */
  uint8_t cls;                  /**< firn_stun_class */
  uint8_t tid[FIRN_STUN_TID_SIZE];
  uint16_t nattrs;              /**< number of attributes */
  /** Offsets (from `data`) of each attribute's 4-byte header, in message order. */
  uint16_t attr_off[FIRN_STUN_MAX_ATTRS];
  uint16_t mi_off;              /**< offset of MESSAGE-INTEGRITY header, 0 if absent */
  uint16_t mi256_off;           /**< offset of MESSAGE-INTEGRITY-SHA256 header, 0 if absent */
  uint16_t fp_off;              /**< offset of FINGERPRINT header, 0 if absent */
  uint8_t n_unknown;            /**< unknown comprehension-required attributes seen */
  uint16_t unknown[FIRN_STUN_MAX_UNKNOWN];
} firn_stun_msg;

/**
 * Cheap test used for demultiplexing (RFC 7983): 1 if `data` starts like an RFC 5389+ STUN
 * message (first byte 0..3, magic cookie, length multiple of 4 and within `len`), else 0.
 * RFC 7983 gives first bytes 4..63 to nothing, so a message of a method above 0xFF (which
 * firn_stun_msg_parse() accepts: methods are 12 bits) is not recognised here.
 */
FIRN_API int firn_stun_is_stun(const uint8_t *data, size_t len);

/**
 * Validate `data` as a complete STUN message and fill `msg`.
 * Checks: header size, top bits, magic cookie (a message without it is classic RFC 3489 and
 * is rejected with FIRN_ERR_STUN_RFC3489 when its first byte is 0..3, else with
 * FIRN_ERR_STUN_NOT_STUN), length == datagram - 20 and a multiple of 4,
 * every attribute within bounds with padding, known attributes well-formed (address families
 * and lengths, fixed sizes, ERROR-CODE class 3..6 and number < 100, the
 * FIRN_STUN_PARSE_MAX_* limits on USERNAME/REALM/NONCE/SOFTWARE/reason and 255 bytes of
 * ALTERNATE-DOMAIN), nothing after FINGERPRINT, and the FINGERPRINT CRC
 * when present. Attributes after MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256 and
 * FINGERPRINT are ignored (not visible through the accessors). Unknown comprehension-required
 * attributes do not fail parsing; they are listed in `msg->unknown` for a 420 answer.
 *
 * @return 0, or FIRN_ERR_STUN_TRUNCATED, _NOT_STUN, _RFC3489, _BAD_LENGTH, _ATTR_OVERRUN,
 *         _BAD_ATTR, _BAD_ADDR_FAMILY, _BAD_ERROR_CODE, _ATTR_TOO_LONG, _AFTER_FINGERPRINT,
 *         _BAD_FINGERPRINT, _TOO_MANY_ATTRS, FIRN_ERR_INVALID_ARG. After a failure (other
 *         than INVALID_ARG for a NULL `msg`), `msg->data` is NULL and `msg->nattrs` 0; every
 *         other field is unspecified, and the accessors, verify and
 *         firn_stun_client_handle_msg() refuse the message with FIRN_ERR_INVALID_ARG.
 */
FIRN_API int firn_stun_msg_parse(firn_stun_msg *msg, const uint8_t *data, size_t len);

/**
 * Find the first attribute of `type` among the visible attributes.
 * @return 0 with `*value`/`*len` pointing into the message, FIRN_ERR_NOT_FOUND, or
 *         FIRN_ERR_INVALID_ARG (`msg` NULL or from a failed parse).
 *
 * The typed accessors below return the same codes, plus FIRN_ERR_INVALID_ARG for a NULL
 * output pointer, and FIRN_ERR_STUN_BAD_ATTR / _BAD_ADDR_FAMILY / _BAD_ERROR_CODE when the
 * attribute found does not have the layout the accessor decodes (only possible when it is
 * read as a type the parser did not validate it as, e.g. get_u32() on an unknown type, or a
 * CHANNEL-NUMBER outside 0x4000..0x4FFF, an ICMP code over 255).
 */
FIRN_API int firn_stun_msg_find(const firn_stun_msg *msg, uint16_t type, const uint8_t **value,
                                size_t *len);
/** 1 if a visible attribute of `type` is present. */
FIRN_API int firn_stun_msg_has(const firn_stun_msg *msg, uint16_t type);
/** Read a 32-bit attribute (PRIORITY, LIFETIME, FINGERPRINT, ...). */
FIRN_API int firn_stun_msg_get_u32(const firn_stun_msg *msg, uint16_t type, uint32_t *out);
/** Read a 64-bit attribute (ICE-CONTROLLING, ICE-CONTROLLED, RESERVATION-TOKEN). */
FIRN_API int firn_stun_msg_get_u64(const firn_stun_msg *msg, uint16_t type, uint64_t *out);
/** Read a plain address attribute (MAPPED-ADDRESS, ALTERNATE-SERVER). */
FIRN_API int firn_stun_msg_get_addr(const firn_stun_msg *msg, uint16_t type, firn_addr *out);
/** Read an XOR'ed address attribute (XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS,
 *  XOR-RELAYED-ADDRESS). With several of one type (RFC 8656 dual allocation), `index`
 *  selects the n-th (0-based). */
FIRN_API int firn_stun_msg_get_xor_addr(const firn_stun_msg *msg, uint16_t type, unsigned index,
                                        firn_addr *out);
/** Read ERROR-CODE: `*code` is class*100+number; `reason` points into the message (UTF-8,
 *  not NUL-terminated) and may be NULL if not wanted. */
FIRN_API int firn_stun_msg_get_error(const firn_stun_msg *msg, int *code, const char **reason,
                                     size_t *reason_len);
/** Read a string attribute (USERNAME, REALM, NONCE, SOFTWARE, ALTERNATE-DOMAIN): points into
 *  the message, not NUL-terminated. */
FIRN_API int firn_stun_msg_get_string(const firn_stun_msg *msg, uint16_t type, const char **str,
                                      size_t *len);
/** Read UNKNOWN-ATTRIBUTES into `types` (up to `max`); `*count` gets the number present. */
FIRN_API int firn_stun_msg_get_unknown_attrs(const firn_stun_msg *msg, uint16_t *types, size_t max,
                                             size_t *count);
/** Read PASSWORD-ALGORITHMS: the algorithm numbers in order (parameters skipped). */
FIRN_API int firn_stun_msg_get_password_algs(const firn_stun_msg *msg, uint16_t *algs, size_t max,
                                             size_t *count);
/** Read CHANNEL-NUMBER (0x4000..0x4FFF enforced). */
FIRN_API int firn_stun_msg_get_channel(const firn_stun_msg *msg, uint16_t *channel);
/** Read REQUESTED-TRANSPORT's protocol number (17 = UDP, 6 = TCP). */
FIRN_API int firn_stun_msg_get_requested_transport(const firn_stun_msg *msg, uint8_t *proto);
/** Read REQUESTED-ADDRESS-FAMILY / ADDITIONAL-ADDRESS-FAMILY as a firn_family. */
FIRN_API int firn_stun_msg_get_family(const firn_stun_msg *msg, uint16_t type, firn_family *out);
/** Read ADDRESS-ERROR-CODE: family and code (class*100+number). */
FIRN_API int firn_stun_msg_get_address_error(const firn_stun_msg *msg, firn_family *family, int *code,
                                             const char **reason, size_t *reason_len);
/** Read ICMP (RFC 8656 18.13): type and code, and the error data. */
FIRN_API int firn_stun_msg_get_icmp(const firn_stun_msg *msg, uint8_t *type, uint8_t *code,
                                    uint32_t *data);
/** Read EVEN-PORT: `*reserve` gets the R bit. */
FIRN_API int firn_stun_msg_get_even_port(const firn_stun_msg *msg, int *reserve);

/* ------------------------------------------------------------------------------------------ */
/* Keys and integrity                                                                          */

/** A MESSAGE-INTEGRITY key with prepared HMAC contexts (re-initialised per message, which is
 *  several times faster than one-shot HMAC). The key bytes are wiped when freed.
 *
 *  Threads: HMAC-SHA1 (MESSAGE-INTEGRITY, the ICE fast path) only reads the key, so one key
 *  may sign and verify MESSAGE-INTEGRITY from several threads at once. HMAC-SHA256
 *  (MESSAGE-INTEGRITY-SHA256: firn_stun_add_integrity_sha256(), firn_stun_msg_verify_sha256(),
 *  and firn_stun_msg_verify() on a message carrying it) mutates a cache inside the key (the
 *  HMAC-SHA256 context, created on first use and re-initialised for every message), as does
 *  HMAC-SHA1 in builds with FIRN_STUN_NO_FAST_HMAC: one key must not be used for those from
 *  two threads at once (use one key per thread, or a lock). Freeing is never concurrent with
 *  use. */
typedef struct firn_stun_key firn_stun_key;

/** Short-term credential key (ICE): the password's bytes, any length (see _new_raw()). The
 *  password must already be in its OpaqueString form (RFC 8265); ASCII passwords are
 *  unchanged by it. @return 0, FIRN_ERR_INVALID_ARG, FIRN_ERR_NOMEM, FIRN_ERR_CRYPTO. */
FIRN_API int firn_stun_key_new_short_term(firn_stun_key **out, const firn_allocator *alloc,
                                          const char *password, size_t password_len);
/** Long-term credential key (RFC 8489 9.2.2): MD5 or SHA-256 of "username:realm:password".
 *  FIRN_STUN_PASSWORD_ALG_NONE means MD5 (RFC 5389). Inputs must already be prepared
 *  (OpaqueString for the password, the realm as received).
 *  @return 0, FIRN_ERR_INVALID_ARG, FIRN_ERR_NOMEM, FIRN_ERR_CRYPTO. */
FIRN_API int firn_stun_key_new_long_term(firn_stun_key **out, const firn_allocator *alloc,
                                         firn_stun_password_alg alg, const char *username,
                                         size_t username_len, const char *realm, size_t realm_len,
                                         const char *password, size_t password_len);
/** A key from raw bytes, any length. A key longer than 64 bytes (the SHA-1 and SHA-256
 *  block size) is hashed first as RFC 2104 prescribes, so ICE passwords of 65..256
 *  characters (RFC 8839) work; the key object holds only the derived state.
 *  @return 0, FIRN_ERR_INVALID_ARG, FIRN_ERR_NOMEM, FIRN_ERR_CRYPTO. */
FIRN_API int firn_stun_key_new_raw(firn_stun_key **out, const firn_allocator *alloc,
                                   const uint8_t *key, size_t key_len);
/** Free (and wipe) a key; NULL is fine. A client transaction that signed with one of the
 *  client's own long-term keys keeps it alive until it is done. */
FIRN_API void firn_stun_key_free(firn_stun_key *key);

/**
 * Verify MESSAGE-INTEGRITY-SHA256 if present, else MESSAGE-INTEGRITY, in constant time.
 * @return 0, FIRN_ERR_STUN_NO_INTEGRITY (neither present), FIRN_ERR_STUN_BAD_INTEGRITY,
 *         FIRN_ERR_INVALID_ARG (`msg` or `key` NULL, or `msg` from a failed parse),
 *         FIRN_ERR_CRYPTO (OpenSSL failed to create or run the HMAC).
 */
FIRN_API int firn_stun_msg_verify(const firn_stun_msg *msg, const firn_stun_key *key);
/** Verify only MESSAGE-INTEGRITY (HMAC-SHA1). Same returns. */
FIRN_API int firn_stun_msg_verify_sha1(const firn_stun_msg *msg, const firn_stun_key *key);
/** Verify only MESSAGE-INTEGRITY-SHA256. Same returns. */
FIRN_API int firn_stun_msg_verify_sha256(const firn_stun_msg *msg, const firn_stun_key *key);

/** CRC-32 (ISO-HDLC) XOR 0x5354554E over `data`, as FINGERPRINT wants. */
FIRN_API uint32_t firn_stun_fingerprint(const uint8_t *data, size_t len);
/** USERHASH (RFC 8489 14.4): SHA-256("username:realm").
 *  @return 0, FIRN_ERR_INVALID_ARG, FIRN_ERR_CRYPTO. */
FIRN_API int firn_stun_userhash(const char *username, size_t username_len, const char *realm,
                                size_t realm_len, uint8_t out[32]);

/* ------------------------------------------------------------------------------------------ */
/* Builder                                                                                     */

/** Builder state: writes into `buf`. Errors are sticky in `err`. */
typedef struct firn_stun_builder {
  uint8_t *buf;
  size_t cap;
  size_t len;
  int err;
  uint8_t integrity_added; /**< MI added: only MI-SHA256 and FINGERPRINT may follow */
  uint16_t nattrs;         /**< attributes written (at most FIRN_STUN_MAX_ATTRS) */
} firn_stun_builder;

/** Start a message of `method` and `cls` with transaction ID `tid` (12 bytes). */
FIRN_API void firn_stun_builder_init(firn_stun_builder *b, uint8_t *buf, size_t cap, uint16_t method,
                                     firn_stun_class cls, const uint8_t tid[FIRN_STUN_TID_SIZE]);
/** Any attribute from raw value bytes (padding added).
 *
 * Every adder runs the parser's validation on the value it wrote (address family and length,
 * fixed sizes, ERROR-CODE class and number, PASSWORD-ALGORITHM(S) layout, string limits) and
 * fails with the code firn_stun_msg_parse() would return (FIRN_ERR_STUN_BAD_ATTR,
 * _BAD_ADDR_FAMILY, _BAD_ERROR_CODE, _ATTR_TOO_LONG). MESSAGE-INTEGRITY,
 * MESSAGE-INTEGRITY-SHA256 and FINGERPRINT are refused here (FIRN_ERR_INVALID_ARG): they are
 * written only by firn_stun_add_integrity(), _integrity_sha256() and _fingerprint(). */
FIRN_API void firn_stun_add_raw(firn_stun_builder *b, uint16_t type, const void *value, size_t len);
FIRN_API void firn_stun_add_flag(firn_stun_builder *b, uint16_t type); /**< zero-length value */
FIRN_API void firn_stun_add_u32(firn_stun_builder *b, uint16_t type, uint32_t value);
FIRN_API void firn_stun_add_u64(firn_stun_builder *b, uint16_t type, uint64_t value);
FIRN_API void firn_stun_add_string(firn_stun_builder *b, uint16_t type, const char *s, size_t len);
FIRN_API void firn_stun_add_addr(firn_stun_builder *b, uint16_t type, const firn_addr *a);
FIRN_API void firn_stun_add_xor_addr(firn_stun_builder *b, uint16_t type, const firn_addr *a);
/** ERROR-CODE with `code` 300..699 and a reason phrase (may be NULL for the standard one). */
FIRN_API void firn_stun_add_error(firn_stun_builder *b, int code, const char *reason);
FIRN_API void firn_stun_add_unknown_attrs(firn_stun_builder *b, const uint16_t *types, size_t n);
/** REQUESTED-TRANSPORT (17 for UDP). */
FIRN_API void firn_stun_add_requested_transport(firn_stun_builder *b, uint8_t proto);
/** REQUESTED-ADDRESS-FAMILY / ADDITIONAL-ADDRESS-FAMILY. */
FIRN_API void firn_stun_add_family(firn_stun_builder *b, uint16_t type, firn_family family);
/** CHANNEL-NUMBER. */
FIRN_API void firn_stun_add_channel(firn_stun_builder *b, uint16_t channel);
/** PASSWORD-ALGORITHM with no parameters. */
FIRN_API void firn_stun_add_password_alg(firn_stun_builder *b, firn_stun_password_alg alg);
/** MESSAGE-INTEGRITY (HMAC-SHA1, 20 bytes) over the message so far. */
FIRN_API void firn_stun_add_integrity(firn_stun_builder *b, const firn_stun_key *key);
/** MESSAGE-INTEGRITY-SHA256 (32 bytes). */
FIRN_API void firn_stun_add_integrity_sha256(firn_stun_builder *b, const firn_stun_key *key);
/** FINGERPRINT: must be the last attribute. */
FIRN_API void firn_stun_add_fingerprint(firn_stun_builder *b);
/** Finish: returns the message length, or the first error (FIRN_ERR_NOBUF, _INVALID_ARG
 *  (including MESSAGE-INTEGRITY(-SHA256)/FINGERPRINT through an ordinary adder), _STATE for
 *  an attribute after FINGERPRINT or out of integrity order, _CRYPTO,
 *  FIRN_ERR_STUN_ATTR_TOO_LONG for a USERNAME/REALM/NONCE/SOFTWARE/reason/ALTERNATE-DOMAIN
 *  over its FIRN_STUN_BUILD_MAX_* limit, FIRN_ERR_STUN_TOO_MANY_ATTRS past
 *  FIRN_STUN_MAX_ATTRS, FIRN_ERR_STUN_BAD_ATTR / _BAD_ADDR_FAMILY / _BAD_ERROR_CODE for a
 *  value the parser would refuse). The builder never produces a message that
 *  firn_stun_msg_parse() would refuse. */
FIRN_API firn_ssize firn_stun_builder_finish(firn_stun_builder *b);

/** The standard reason phrase for an error code ("Bad Request", "Unauthorized", ...). */
FIRN_API const char *firn_stun_reason_phrase(int code);

/* ------------------------------------------------------------------------------------------ */
/* Client transactions (sans-I/O)                                                              */

/** A client transaction table. It never reads a clock and never touches a socket: requests
 *  go in, datagrams to send come out of firn_stun_client_poll_transmit(), responses go in
 *  through firn_stun_client_handle_response(), timeouts through handle_expiry(). */
typedef struct firn_stun_client firn_stun_client;

/** Long-term credentials for one server. The client learns REALM/NONCE (and
 *  PASSWORD-ALGORITHMS) from 401/438 answers and reuses them for later requests on the
 *  same `firn_stun_auth`, so a TURN client keeps one per server. */
typedef struct firn_stun_auth firn_stun_auth;

/** Result of a transaction, delivered once through the callback. */
typedef struct firn_stun_result {
  uint64_t id;                  /**< the id returned by firn_stun_client_start() */
  /** 0: an (authenticated, when credentials were used) success response. Otherwise:
   *  - FIRN_ERR_STUN_ERROR_RESPONSE: an error response (`error_code`, `response`);
   *  - FIRN_ERR_STUN_TIMEOUT: no acceptable response before the deadline;
   *  - FIRN_ERR_STUN_BAD_INTEGRITY: an integrity violation (RFC 8489 9.1.4/9.2.5): over
   *    TCP/TLS a response whose MESSAGE-INTEGRITY(-SHA256) failed, or a success response
   *    without one, ends the transaction at once; over UDP such responses are discarded and
   *    this replaces FIRN_ERR_STUN_TIMEOUT at the deadline when at least one arrived for the
   *    last attempt. `response` is NULL (it is not authentic). Unsigned error responses do
   *    not count: they are discarded as if never received;
   *  - FIRN_ERR_STUN_AUTH_FAILED: the long-term credentials were refused, or RFC 8489 9.2.5
   *    forbids a retry (no supported password algorithm, a bid-down nonce);
   *  - FIRN_ERR_STUN_UNKNOWN_ATTRS: a success response with unknown comprehension-required
   *    attributes (RFC 8489 6.3.3: a failure; `response` lists them in msg->unknown);
   *  - FIRN_ERR_STUN_CANCELLED: firn_stun_client_cancel();
   *  - FIRN_ERR_NOMEM, FIRN_ERR_RANDOM, FIRN_ERR_CRYPTO, FIRN_ERR_NOBUF,
   *    FIRN_ERR_STUN_TOO_MANY_ATTRS: a 401/438 retry could not be encoded (allocation,
   *    transaction ID, key/HMAC/USERHASH, message size, attribute count with the credentials
   *    added; see firn_stun_client_start()). `response` is the challenge then. */
  int status;
  int error_code;               /**< 300..699 when an error response arrived, else 0 */
  const firn_stun_msg *response; /**< the (authenticated when credentials were used) response,
                                     valid only during the callback; NULL on timeout,
                                     cancel, BAD_INTEGRITY */
  firn_addr from;               /**< where the response came from */
  uint64_t rtt_ns;              /**< time from the last (re)transmission to the response */
  unsigned transmissions;       /**< how many times the request was sent */
} firn_stun_result;

typedef void (*firn_stun_result_fn)(void *user, const firn_stun_result *result);

typedef struct firn_stun_client_settings {
  size_t size;                  /**< sizeof(firn_stun_client_settings), set by _default() */
  const firn_allocator *alloc;  /**< NULL: malloc */
  firn_random_fn random;        /**< NULL: OpenSSL RAND_bytes */
  void *random_user;
  firn_log_fn log;              /**< NULL: no logging */
  void *log_user;
  firn_log_level log_level;
  uint64_t rto_ns;              /**< initial RTO over UDP, default 500 ms */
  unsigned rc;                  /**< max transmissions over UDP, default 7 */
  unsigned rm;                  /**< final wait = rm * RTO, default 16 */
  uint64_t ti_ns;               /**< timeout over TCP/TLS, default 39.5 s */
  size_t max_transactions;      /**< table bound, default 64 */
  const char *software;         /**< SOFTWARE attribute value, NULL for none */
  firn_stun_result_fn on_result;
  void *user;
} firn_stun_client_settings;

FIRN_API void firn_stun_client_settings_default(firn_stun_client_settings *s);
/** @return 0, FIRN_ERR_INVALID_ARG (bad settings size, SOFTWARE over
 *  FIRN_STUN_BUILD_MAX_SOFTWARE), FIRN_ERR_NOMEM. */
FIRN_API int firn_stun_client_new(firn_stun_client **out, const firn_stun_client_settings *s);
/** Free the table; pending transactions are dropped without callbacks. */
FIRN_API void firn_stun_client_free(firn_stun_client *c);

/** Long-term credentials (username/password as configured; prepared per RFC 8265).
 *  @return 0, FIRN_ERR_INVALID_ARG (NULL, empty username or one over
 *  FIRN_STUN_BUILD_MAX_USERNAME), FIRN_ERR_NOMEM. */
FIRN_API int firn_stun_auth_new(firn_stun_auth **out, const firn_allocator *alloc,
                                const char *username, const char *password);
FIRN_API void firn_stun_auth_free(firn_stun_auth *auth);

/** A request to start. `attrs` are extra, pre-encoded attributes (TLVs with padding, as
 *  firn_stun_builder writes them) placed after the header; the layer adds SOFTWARE,
 *  USERNAME/REALM/NONCE/PASSWORD-ALGORITHM, MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT. */
typedef struct firn_stun_request {
  uint16_t method;
  const uint8_t *attrs;
  size_t attrs_len;
  firn_addr dest;               /**< where to send */
  int reliable;                 /**< 1 over TCP/TLS: no retransmissions, single Ti timeout */
  const firn_stun_key *short_term; /**< short-term key (ICE), or NULL */
  const char *short_term_username; /**< USERNAME for short-term credentials, or NULL */
  firn_stun_auth *long_term;    /**< long-term credentials, or NULL */
  int fingerprint;              /**< add FINGERPRINT */
  uint64_t rto_ns;              /**< 0: the client's default RTO */
  void *ctx;                    /**< returned with each datagram from poll_transmit */
} firn_stun_request;

/** Start a transaction at `now`; its first transmission is due at once. `*id` gets a
 *  handle for cancel and for the result. The request is encoded here, so encoding errors
 *  come back at once. Returns 0, or:
 *  - FIRN_ERR_INVALID_ARG: NULL arguments, a bad destination, both or inconsistent
 *    credentials, `attrs` not well-formed TLVs or carrying an attribute the layer adds
 *    itself (USERNAME, USERHASH, REALM, NONCE, PASSWORD-ALGORITHM(S), MESSAGE-INTEGRITY(-SHA256),
 *    FINGERPRINT), a method over 0xFFF, a USERNAME over FIRN_STUN_BUILD_MAX_USERNAME;
 *  - FIRN_ERR_STUN_TOO_MANY_TXNS: the table is full (max_transactions);
 *  - FIRN_ERR_NOBUF: the message would exceed FIRN_STUN_MAX_MESSAGE;
 *  - FIRN_ERR_STUN_TOO_MANY_ATTRS: more than FIRN_STUN_MAX_ATTRS attributes with those the
 *    layer adds;
 *  - FIRN_ERR_STUN_ATTR_TOO_LONG, _BAD_ATTR, _BAD_ADDR_FAMILY, _BAD_ERROR_CODE: an attribute
 *    in `attrs` the parser would refuse (over its FIRN_STUN_BUILD_MAX_* limit, wrong size);
 *  - FIRN_ERR_CRYPTO: creating the long-term key, the HMAC or the USERHASH failed;
 *  - FIRN_ERR_NOMEM, FIRN_ERR_RANDOM (the random source failed, or kept repeating IDs).
 *
 *  The same encoding errors can reach the result callback instead (status) when a 401/438
 *  retry cannot be encoded: FIRN_ERR_NOBUF, FIRN_ERR_STUN_TOO_MANY_ATTRS, FIRN_ERR_CRYPTO,
 *  FIRN_ERR_NOMEM, FIRN_ERR_RANDOM. */
FIRN_API int firn_stun_client_start(firn_stun_client *c, const firn_stun_request *req, uint64_t now,
                                    uint64_t *id);
/** Cancel a transaction; its callback fires with FIRN_ERR_STUN_CANCELLED.
 *  @return 0, FIRN_ERR_INVALID_ARG, FIRN_ERR_NOT_FOUND (unknown or already finished). */
FIRN_API int firn_stun_client_cancel(firn_stun_client *c, uint64_t id);
/** The next datagram due at `now`: copies it into `buf` and returns its length, with the
 *  destination in `*dest` and the request's ctx in `*ctx` (may be NULL). Returns
 *  FIRN_ERR_WOULDBLOCK when nothing is due, FIRN_ERR_NOBUF if `cap` is too small. */
FIRN_API firn_ssize firn_stun_client_poll_transmit(firn_stun_client *c, uint64_t now, uint8_t *buf,
                                                   size_t cap, firn_addr *dest, void **ctx);
/** Offer a received datagram. Returns 0 if it completed (or advanced, on a 401/438 retry) a
 *  transaction, a reliable one failing integrity included (result
 *  FIRN_ERR_STUN_BAD_INTEGRITY); FIRN_ERR_STUN_MISMATCH if it matches none, comes from the
 *  wrong address, is an unsigned error response, or fails integrity over UDP (dropped, the
 *  transaction keeps waiting); a parse error if not STUN. */
FIRN_API int firn_stun_client_handle_response(firn_stun_client *c, const uint8_t *data, size_t len,
                                              const firn_addr *from, uint64_t now);
/** Offer an already parsed message (saves a second parse when the caller demultiplexed).
 *  Same returns as handle_response(); FIRN_ERR_INVALID_ARG for a message whose parse failed
 *  (`msg->data` NULL). */
FIRN_API int firn_stun_client_handle_msg(firn_stun_client *c, const firn_stun_msg *msg,
                                         const firn_addr *from, uint64_t now);
/** When the client next needs handle_expiry()/poll_transmit(): FIRN_TIME_NEVER if idle. */
FIRN_API uint64_t firn_stun_client_expiry(const firn_stun_client *c);
/** Process timeouts at `now` (callbacks fire for transactions that gave up). */
FIRN_API void firn_stun_client_handle_expiry(firn_stun_client *c, uint64_t now);
/** Number of transactions in progress. */
FIRN_API size_t firn_stun_client_pending(const firn_stun_client *c);

#ifdef __cplusplus
}
#endif
#endif /* FIRN_STUN_H */
