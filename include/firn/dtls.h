/**
 * @file dtls.h
 * @brief DTLS-SRTP identity for an application: the local certificate, its SDP fingerprint,
 *        and the SRTP protection profiles firn can negotiate.
 *
 * The DTLS handshake and SRTP processing themselves are driven by the agent; an application
 * only needs this header to create or load the certificate it wants to present (one per
 * agent is typical), to put its fingerprint into SDP (`a=fingerprint:`, RFC 8122), and to
 * name the negotiated SRTP profile. No OpenSSL or libsrtp2 type appears here.
 */
#ifndef FIRN_DTLS_H
#define FIRN_DTLS_H

#include "firn/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A certificate and its private key, used as the local DTLS identity. Opaque; immutable
 *  once created, so one certificate may be shared by several agents and threads. Every
 *  DTLS endpoint takes its own reference to the OpenSSL objects, so the application may
 *  free the certificate as soon as the endpoints using it have been created. */
typedef struct firn_dtls_cert firn_dtls_cert;

/** Hash functions for certificate fingerprints (RFC 8122 section 5; "hash-func" tokens). */
typedef enum firn_fingerprint_alg {
  FIRN_FP_SHA1 = 1,   /**< "sha-1" (20 bytes; accepted from peers, not recommended) */
  FIRN_FP_SHA224 = 2, /**< "sha-224" (28 bytes) */
  FIRN_FP_SHA256 = 3, /**< "sha-256" (32 bytes): what firn puts in SDP */
  FIRN_FP_SHA384 = 4, /**< "sha-384" (48 bytes) */
  FIRN_FP_SHA512 = 5  /**< "sha-512" (64 bytes) */
} firn_fingerprint_alg;

/** Longest fingerprint attribute value firn_dtls_cert_fingerprint() can write, with NUL:
 *  "sha-512 " followed by 64 colon-separated hex bytes. */
#define FIRN_DTLS_FINGERPRINT_STRLEN 200

/** SRTP protection profiles (RFC 5764, RFC 7714). The values are the IANA
 *  "DTLS-SRTP Protection Profiles" code points. */
typedef enum firn_srtp_profile {
  FIRN_SRTP_NONE = 0,                 /**< no profile (not negotiated yet) */
  FIRN_SRTP_AES128_CM_SHA1_80 = 0x01, /**< AES-128 counter mode, HMAC-SHA1 80-bit tag */
  FIRN_SRTP_AES128_CM_SHA1_32 = 0x02, /**< as above with a 32-bit RTP tag (RTCP keeps 80) */
  FIRN_SRTP_AEAD_AES_128_GCM = 0x07,  /**< AES-128 GCM, 16-byte tag (RFC 7714) */
  FIRN_SRTP_AEAD_AES_256_GCM = 0x08   /**< AES-256 GCM, 16-byte tag (RFC 7714) */
} firn_srtp_profile;

/**
 * Generate a fresh ECDSA P-256 key and a self-signed certificate for it (SHA-256
 * signature, subject and issuer CN "firn", random 64-bit serial).
 *
 * The validity period is fixed (2020-01-01 to 9999-12-31, RFC 5280's "no well-defined
 * expiration") so that generation reads no clock; DTLS-SRTP peers authenticate the
 * certificate by its fingerprint, not by its dates.
 *
 * @param out       receives the certificate; free with firn_dtls_cert_free().
 * @param alloc     allocator for firn's own memory, NULL for malloc.
 * @param rnd       random source for the serial number, NULL for the default CSPRNG.
 *                  The key pair always comes from OpenSSL's CSPRNG.
 * @param rnd_user  passed to `rnd`.
 * @return 0, FIRN_ERR_INVALID_ARG, FIRN_ERR_NOMEM, FIRN_ERR_RANDOM or FIRN_ERR_CRYPTO.
 */
FIRN_API int firn_dtls_cert_generate(firn_dtls_cert **out, const firn_allocator *alloc,
                                     firn_random_fn rnd, void *rnd_user);

/**
 * Load a certificate and its private key supplied by the application in PEM form.
 * Any key type OpenSSL accepts for TLS 1.2 works (ECDSA P-256 recommended; RSA is
 * accepted). The key must match the certificate.
 *
 * @param out       receives the certificate; free with firn_dtls_cert_free().
 * @param alloc     allocator for firn's own memory, NULL for malloc.
 * @param cert_pem  PEM text of the certificate (the first certificate is used).
 * @param cert_len  its length in bytes.
 * @param key_pem   PEM text of the private key (unencrypted).
 * @param key_len   its length in bytes.
 * @return 0, FIRN_ERR_INVALID_ARG, FIRN_ERR_NOMEM, FIRN_ERR_PARSE (not PEM, or the key
 *         does not match the certificate) or FIRN_ERR_CRYPTO.
 */
FIRN_API int firn_dtls_cert_from_pem(firn_dtls_cert **out, const firn_allocator *alloc,
                                     const char *cert_pem, size_t cert_len,
                                     const char *key_pem, size_t key_len);

/** Free a certificate. NULL is ignored. Endpoints created with it keep working. */
FIRN_API void firn_dtls_cert_free(firn_dtls_cert *cert);

/**
 * Write the certificate's fingerprint as the value of an SDP `a=fingerprint:` attribute
 * (RFC 8122): the hash name, one space, then uppercase hex bytes separated by colons,
 * e.g. "sha-256 4A:AD:...:8F". NUL-terminated.
 *
 * @param cert  the certificate.
 * @param alg   hash function; use FIRN_FP_SHA256 for SDP.
 * @param buf   output buffer; FIRN_DTLS_FINGERPRINT_STRLEN bytes are always enough.
 * @param size  its size.
 * @return the number of characters written (without the NUL), FIRN_ERR_INVALID_ARG,
 *         FIRN_ERR_NOBUF or FIRN_ERR_CRYPTO.
 */
FIRN_API int firn_dtls_cert_fingerprint(const firn_dtls_cert *cert, firn_fingerprint_alg alg,
                                        char *buf, size_t size);

/** The RFC 8122 token for a hash ("sha-256"), or NULL for an unknown value. */
FIRN_API const char *firn_fingerprint_alg_name(firn_fingerprint_alg alg);

/** The profile's name as OpenSSL and RFC 5764 spell it, e.g. "SRTP_AES128_CM_SHA1_80"
 *  or "SRTP_AEAD_AES_128_GCM"; "none" for FIRN_SRTP_NONE; NULL for an unknown value. */
FIRN_API const char *firn_srtp_profile_name(firn_srtp_profile profile);

/**
 * Look a profile up by the name firn_srtp_profile_name() returns (exact match).
 * @return 0 or FIRN_ERR_NOT_FOUND (or FIRN_ERR_INVALID_ARG for NULL arguments).
 */
FIRN_API int firn_srtp_profile_from_name(const char *name, firn_srtp_profile *out);

#ifdef __cplusplus
}
#endif
#endif /* FIRN_DTLS_H */
