/* tf_flash_t over the board's hal_flash_*() functions. */
#include "flash_hal.h"
#include "hal.h"

static int board_read(void *ctx, uint32_t offset, void *dst, uint32_t len)
{
    (void)ctx;
    return hal_flash_read(offset, dst, len);
}

static int board_write(void *ctx, uint32_t offset, const void *src, uint32_t len)
{
    (void)ctx;
    return hal_flash_write(offset, src, len);
}

static int board_erase(void *ctx, uint32_t offset, uint32_t len)
{
    (void)ctx;
    return hal_flash_erase(offset, len);
}

static const uint8_t *board_map(void *ctx)
{
    (void)ctx;
    return hal_flash_map();
}

const tf_flash_t *tf_flash_board(void)
{
    static tf_flash_t flash;
    static int ready;
    if (!ready) {
        hal_flash_geometry_t g;
        hal_flash_geometry(&g);
        flash.read = board_read;
        flash.write = board_write;
        flash.erase = board_erase;
        flash.map = board_map;
        flash.ctx = 0;
        flash.size = g.size;
        flash.sector_size = g.sector_size;
        flash.write_align = g.write_align;
        ready = 1;
    }
    return &flash;
}
