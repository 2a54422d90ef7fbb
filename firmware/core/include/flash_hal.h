/*
 * flash_hal.h — the flash device the OTA code writes through.
 *
 * A tf_flash_t is a table of operations over one region (offsets from its start). On a board it
 * wraps hal_flash_*() (app_flash.c: tf_flash_board()); host tests pass a simulated flash that
 * can cut power at the N-th write or erase. Operations return 0 or a negative error.
 */
#ifndef TF_FLASH_HAL_H
#define TF_FLASH_HAL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tf_flash {
    int (*read)(void *ctx, uint32_t offset, void *dst, uint32_t len);
    int (*write)(void *ctx, uint32_t offset, const void *src, uint32_t len);
    int (*erase)(void *ctx, uint32_t offset, uint32_t len);
    const uint8_t *(*map)(void *ctx); /* memory-mapped base, or NULL */
    void *ctx;
    uint32_t size;
    uint32_t sector_size;
    uint32_t write_align;
} tf_flash_t;

/* The board's model-store region through hal.h. */
const tf_flash_t *tf_flash_board(void);

#ifdef __cplusplus
}
#endif

#endif /* TF_FLASH_HAL_H */
