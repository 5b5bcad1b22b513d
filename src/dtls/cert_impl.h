/* Private to src/dtls: the certificate object's layout (needs OpenSSL types). */
#ifndef FIRN_DTLS_CERT_IMPL_H
#define FIRN_DTLS_CERT_IMPL_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "firn/dtls.h"

struct firn_dtls_cert {
  firn_allocator alloc;
  X509 *x509;    /* owned reference */
  EVP_PKEY *key; /* owned reference */
};

/* The OpenSSL digest for a fingerprint algorithm, NULL if unknown. */
const EVP_MD *firn_fingerprint_md(firn_fingerprint_alg alg);

#endif
