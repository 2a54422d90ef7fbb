/*
 * tf_crypto.h — SHA-256 (FIPS 180-4) and Ed25519 signature verification (RFC 8032).
 *
 * SHA-256 is our own, written from FIPS 180-4 (the package digests). Ed25519 is Monocypher's
 * crypto_ed25519_check with its SHA-512, vendored unmodified in firmware/third_party/monocypher
 * (Monocypher 3.1.2 with its optional Ed25519 file). No heap; contexts live on the caller's stack.
 */
#ifndef TF_CRYPTO_H
#define TF_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t h[8];
    uint64_t total;     /* bytes hashed so far */
    uint8_t block[64];
    uint32_t used;      /* bytes waiting in block */
} tf_sha256_t;

void tf_sha256_init(tf_sha256_t *ctx);
void tf_sha256_update(tf_sha256_t *ctx, const void *data, size_t len);
void tf_sha256_final(tf_sha256_t *ctx, uint8_t out[32]);
void tf_sha256(const void *data, size_t len, uint8_t out[32]);

/* Standard Ed25519 (RFC 8032, PureEdDSA with SHA-512): true only when `sig` is a valid signature
 * of `msg` by `public_key`. Rejects S >= L and points not on the curve. */
bool tf_ed25519_verify(const uint8_t sig[64], const uint8_t public_key[32], const void *msg, size_t len);

/* Constant-time comparison; true when equal. */
bool tf_ct_equal(const void *a, const void *b, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* TF_CRYPTO_H */
