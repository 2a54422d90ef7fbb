/* Internal to firmware/core/src/crypto_*.c. */
#ifndef TF_CRYPTO_PRIV_H
#define TF_CRYPTO_PRIV_H

#include <stddef.h>
#include <stdint.h>

/* Merkle–Damgård buffering shared by SHA-256 and SHA-512 (in crypto_sha256.c): feeds `compress` every full block of
 * `block_size` bytes, keeping the rest in `block` (`*used` bytes). */
void tf_md_update(void *state, void (*compress)(void *state, const uint8_t *block), uint8_t *block,
                  uint32_t *used, uint32_t block_size, const uint8_t *p, size_t len);

#endif /* TF_CRYPTO_PRIV_H */
