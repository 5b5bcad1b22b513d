/* Local DTLS identity: ECDSA P-256 self-signed certificate generation, PEM loading,
 * fingerprints (RFC 8122). */
#include "dtls/cert_impl.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "common/alloc.h"
#include "common/random.h"
#include "dtls/dtls.h"

/* Fixed validity so that generation reads no clock (see firn_dtls_cert_generate). */
#define CERT_NOT_BEFORE "20200101000000Z"
#define CERT_NOT_AFTER "99991231235959Z"

const EVP_MD *firn_fingerprint_md(firn_fingerprint_alg alg) {
  switch (alg) {
  case FIRN_FP_SHA1: return EVP_sha1();
  case FIRN_FP_SHA224: return EVP_sha224();
  case FIRN_FP_SHA256: return EVP_sha256();
  case FIRN_FP_SHA384: return EVP_sha384();
  case FIRN_FP_SHA512: return EVP_sha512();
  }
  return NULL;
}

static int cert_wrap(firn_dtls_cert **out, const firn_allocator *alloc, X509 *x509,
                     EVP_PKEY *key) {
  firn_allocator a;
  firn_alloc_init(&a, alloc);
  firn_dtls_cert *c = firn_calloc(&a, 1, sizeof *c);
  if (!c) return FIRN_ERR_NOMEM;
  c->alloc = a;
  c->x509 = x509;
  c->key = key;
  *out = c;
  return FIRN_OK;
}

static int build_self_signed(EVP_PKEY *key, const uint8_t serial[8], X509 **out) {
  int rc = FIRN_ERR_CRYPTO;
  X509 *x = X509_new();
  BIGNUM *bn = BN_bin2bn(serial, 8, NULL);
  ASN1_INTEGER *sn = NULL;
  if (!x || !bn) goto done;
  if (!(sn = BN_to_ASN1_INTEGER(bn, NULL))) goto done;
  if (X509_set_version(x, 2) != 1 || X509_set_serialNumber(x, sn) != 1) goto done;
  X509_NAME *name = X509_get_subject_name(x);
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"firn", -1,
                                 -1, 0) != 1)
    goto done;
  if (X509_set_issuer_name(x, name) != 1) goto done;
  if (ASN1_TIME_set_string_X509(X509_getm_notBefore(x), CERT_NOT_BEFORE) != 1 ||
      ASN1_TIME_set_string_X509(X509_getm_notAfter(x), CERT_NOT_AFTER) != 1)
    goto done;
  if (X509_set_pubkey(x, key) != 1) goto done;
  if (X509_sign(x, key, EVP_sha256()) <= 0) goto done;
  *out = x;
  x = NULL;
  rc = FIRN_OK;
done:
  ASN1_INTEGER_free(sn);
  BN_free(bn);
  X509_free(x);
  return rc;
}

int firn_dtls_cert_generate(firn_dtls_cert **out, const firn_allocator *alloc,
                            firn_random_fn rnd, void *rnd_user) {
  if (!out) return FIRN_ERR_INVALID_ARG;
  *out = NULL;
  firn_rng rng;
  firn_rng_init(&rng, rnd, rnd_user);
  uint8_t serial[8];
  if (firn_rng_bytes(&rng, serial, sizeof serial) < 0) return FIRN_ERR_RANDOM;
  serial[0] &= 0x7f; /* positive */
  serial[0] |= 0x01; /* non-zero, fixed length */

  EVP_PKEY *key = EVP_EC_gen("P-256");
  if (!key) return FIRN_ERR_CRYPTO;
  X509 *x = NULL;
  int rc = build_self_signed(key, serial, &x);
  if (rc == FIRN_OK) rc = cert_wrap(out, alloc, x, key);
  if (rc != FIRN_OK) {
    X509_free(x);
    EVP_PKEY_free(key);
  }
  return rc;
}

int firn_dtls_cert_from_pem(firn_dtls_cert **out, const firn_allocator *alloc,
                            const char *cert_pem, size_t cert_len, const char *key_pem,
                            size_t key_len) {
  if (!out || !cert_pem || !key_pem || cert_len == 0 || key_len == 0 ||
      cert_len > INT32_MAX || key_len > INT32_MAX)
    return FIRN_ERR_INVALID_ARG;
  *out = NULL;
  int rc = FIRN_ERR_PARSE;
  X509 *x = NULL;
  EVP_PKEY *key = NULL;
  BIO *cb = BIO_new_mem_buf(cert_pem, (int)cert_len);
  BIO *kb = BIO_new_mem_buf(key_pem, (int)key_len);
  if (!cb || !kb) {
    rc = FIRN_ERR_CRYPTO;
    goto done;
  }
  x = PEM_read_bio_X509(cb, NULL, NULL, NULL);
  key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
  if (!x || !key) goto done;
  if (X509_check_private_key(x, key) != 1) goto done;
  rc = cert_wrap(out, alloc, x, key);
done:
  if (rc != FIRN_OK) {
    X509_free(x);
    EVP_PKEY_free(key);
  }
  BIO_free(cb);
  BIO_free(kb);
  ERR_clear_error();
  return rc;
}

void firn_dtls_cert_free(firn_dtls_cert *cert) {
  if (!cert) return;
  X509_free(cert->x509);
  EVP_PKEY_free(cert->key);
  firn_allocator a = cert->alloc;
  firn_free(&a, cert);
}

int firn_dtls_cert_get_fingerprint(const firn_dtls_cert *cert, firn_fingerprint_alg alg,
                                   firn_fingerprint *fp) {
  const EVP_MD *md = firn_fingerprint_md(alg);
  if (!cert || !fp || !md) return FIRN_ERR_INVALID_ARG;
  unsigned int n = 0;
  memset(fp, 0, sizeof *fp);
  if (X509_digest(cert->x509, md, fp->bytes, &n) != 1 || n != firn_fingerprint_alg_len(alg))
    return FIRN_ERR_CRYPTO;
  fp->alg = alg;
  fp->len = (uint8_t)n;
  return FIRN_OK;
}

int firn_dtls_cert_fingerprint(const firn_dtls_cert *cert, firn_fingerprint_alg alg, char *buf,
                               size_t size) {
  if (!buf) return FIRN_ERR_INVALID_ARG;
  firn_fingerprint fp;
  int rc = firn_dtls_cert_get_fingerprint(cert, alg, &fp);
  if (rc < 0) return rc;
  return firn_fingerprint_format(&fp, buf, size);
}
