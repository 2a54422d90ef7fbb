/*
 * flash.c — the model-store flash of the qemu-an386 port.
 *
 * QEMU's "flash" on mps2-an386 is RAM: it is lost when QEMU exits and restored to its load-time
 * contents on a guest reset. So the region mirrors a host file (`tfflash.bin` in QEMU's working
 * directory, also loaded with `-device loader`): at boot the region is re-read from the file,
 * and every erase or write is written through to it with semihosting before it returns. QEMU
 * killed in the middle of an update leaves the file exactly as far as the update got — the
 * same as a power cut on a real board. Writes follow NOR rules (they can only clear bits).
 */
#include <string.h>

#include "port.h"
#include "semihost.h"

#define FLASH_FILE "tfflash.bin"
#define SECTOR_SIZE 4096u
#define WRITE_ALIGN 4u

/* Defined by the linker script from the board budget (--defsym). */
extern uint8_t __tf_store_start[];
extern uint8_t __tf_store_size[];

static int32_t flash_fd = -1;

static uint32_t store_size(void)
{
    return (uint32_t)(uintptr_t)__tf_store_size;
}

bool flash_port_init(void)
{
    int32_t fd = semihost_open(FLASH_FILE, SH_MODE_RPB);
    if (fd < 0) {
        return false;
    }
    if (semihost_flen(fd) != (int32_t)store_size() ||
        semihost_read_at(fd, 0u, __tf_store_start, store_size()) != 0) {
        port_puts("\r\nflash file has the wrong size; flash lives in RAM only\r\n");
        return false;
    }
    flash_fd = fd;
    return true;
}

void hal_flash_geometry(hal_flash_geometry_t *out)
{
    out->size = store_size();
    out->sector_size = SECTOR_SIZE;
    out->write_align = WRITE_ALIGN;
}

static bool in_range(uint32_t offset, uint32_t len)
{
    return offset <= store_size() && len <= store_size() - offset;
}

static int write_through(uint32_t offset, uint32_t len)
{
    if (flash_fd < 0) {
        return 0;
    }
    return semihost_write_at(flash_fd, offset, __tf_store_start + offset, len) == 0 ? 0 : -1;
}

int hal_flash_read(uint32_t offset, void *dst, uint32_t len)
{
    if (!in_range(offset, len)) {
        return -1;
    }
    memcpy(dst, __tf_store_start + offset, len);
    return 0;
}

int hal_flash_write(uint32_t offset, const void *src, uint32_t len)
{
    if (!in_range(offset, len) || offset % WRITE_ALIGN != 0u || len % WRITE_ALIGN != 0u) {
        return -1;
    }
    const uint8_t *s = src;
    uint8_t *d = __tf_store_start + offset;
    for (uint32_t i = 0; i < len; i++) {
        d[i] &= s[i]; /* NOR: programming only clears bits */
    }
    return write_through(offset, len);
}

int hal_flash_erase(uint32_t offset, uint32_t len)
{
    if (!in_range(offset, len) || offset % SECTOR_SIZE != 0u || len % SECTOR_SIZE != 0u) {
        return -1;
    }
    memset(__tf_store_start + offset, 0xFF, len);
    return write_through(offset, len);
}

const uint8_t *hal_flash_map(void)
{
    return __tf_store_start;
}
