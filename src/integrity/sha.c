/* SHA-256 helpers and Ed25519 key generation (OpenSSL libcrypto). */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <string.h>

#include "protectlambda/integrity.h"

int pl_sha256(const void *data, size_t len, uint8_t out[PL_SHA256_LEN])
{
    unsigned int n = 0;
    if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) || n != PL_SHA256_LEN)
        return pl_raise(PL_ERR_INTEGRITY, "SHA-256 failed");
    return 0;
}

void pl_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void pl_sha256_prefix8(const void *data, size_t len, char out[9])
{
    uint8_t h[PL_SHA256_LEN];
    if (pl_sha256(data, len, h)) {
        memcpy(out, "????????", 9);
        return;
    }
    pl_hex(h, 4, out);
}

static int s_bio_to_buf(BIO *bio, struct pl_buf *out)
{
    char *p = NULL;
    long n = BIO_get_mem_data(bio, &p);
    if (n <= 0 || !p)
        return pl_raise(PL_ERR_INTEGRITY, "key serialization failed");
    return pl_buf_append(out, p, (size_t)n);
}

int pl_ed25519_keygen(struct pl_buf *priv_pem, struct pl_buf *pub_pem)
{
    int ret = -1;
    BIO *b1 = NULL, *b2 = NULL;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (!k) {
        pl_raise(PL_ERR_INTEGRITY, "Ed25519 key generation failed");
        goto out;
    }
    b1 = BIO_new(BIO_s_mem());
    b2 = BIO_new(BIO_s_mem());
    if (!b1 || !b2) {
        pl_raise(PL_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (!PEM_write_bio_PrivateKey(b1, k, NULL, NULL, 0, NULL, NULL) ||
        !PEM_write_bio_PUBKEY(b2, k)) {
        pl_raise(PL_ERR_INTEGRITY, "key serialization failed");
        goto out;
    }
    if (s_bio_to_buf(b1, priv_pem) || s_bio_to_buf(b2, pub_pem))
        goto out;
    ret = 0;
out:
    BIO_free(b1);
    BIO_free(b2);
    EVP_PKEY_free(k);
    return ret;
}
