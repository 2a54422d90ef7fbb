/*
 * Ed25519 verification (RFC 8032, PureEdDSA with SHA-512): Monocypher's own
 * crypto_ed25519_check (third_party/monocypher/monocypher-ed25519.c, vendored unmodified),
 * and a constant-time comparison for digests.
 */
#include "tf_crypto.h"

#include "monocypher-ed25519.h"

bool tf_ed25519_verify(const uint8_t sig[64], const uint8_t public_key[32], const void *msg, size_t len)
{
    return crypto_ed25519_check(sig, public_key, (const uint8_t *)msg, len) == 0;
}

bool tf_ct_equal(const void *a, const void *b, size_t len)
{
    const volatile uint8_t *x = (const volatile uint8_t *)a;
    const volatile uint8_t *y = (const volatile uint8_t *)b;
    uint8_t diff = 0;
    for (size_t i = 0; i < len; i++) diff |= (uint8_t)(x[i] ^ y[i]);
    return diff == 0;
}
