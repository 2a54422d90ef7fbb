/*
 * Ed25519 verification (RFC 8032, section 5.1.7): k = SHA-512(R || A || M) mod L, then
 * [S]B = R + [k]A. The hash is ours (crypto_sha512.c); the reduction mod L and the check
 * equation (which also rejects S >= L and points off the curve) are Monocypher's.
 */
#include "tf_crypto.h"

#include "monocypher.h"

bool tf_ed25519_verify(const uint8_t sig[64], const uint8_t public_key[32], const void *msg, size_t len)
{
    tf_sha512_t ctx;
    uint8_t digest[64];
    uint8_t k[32];
    tf_sha512_init(&ctx);
    tf_sha512_update(&ctx, sig, 32);        /* R */
    tf_sha512_update(&ctx, public_key, 32); /* A */
    tf_sha512_update(&ctx, msg, len);       /* M */
    tf_sha512_final(&ctx, digest);
    crypto_eddsa_reduce(k, digest);
    return crypto_eddsa_check_equation(sig, public_key, k) == 0;
}

bool tf_ct_equal(const void *a, const void *b, size_t len)
{
    const volatile uint8_t *x = (const volatile uint8_t *)a;
    const volatile uint8_t *y = (const volatile uint8_t *)b;
    uint8_t diff = 0;
    for (size_t i = 0; i < len; i++) diff |= (uint8_t)(x[i] ^ y[i]);
    return diff == 0;
}
