/* semihost.c — the handful of ARM semihosting calls the flash file needs. */
#include "semihost.h"

#include <string.h>

int32_t semihost_call(uint32_t op, void *args)
{
    register uint32_t r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = args;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return (int32_t)r0;
}

int32_t semihost_open(const char *path, uint32_t mode)
{
    uint32_t args[3] = {(uint32_t)(uintptr_t)path, mode, (uint32_t)strlen(path)};
    return semihost_call(SH_SYS_OPEN, args);
}

static int32_t seek(int32_t fd, uint32_t pos)
{
    uint32_t args[2] = {(uint32_t)fd, pos};
    return semihost_call(SH_SYS_SEEK, args);
}

int32_t semihost_write_at(int32_t fd, uint32_t pos, const void *src, uint32_t len)
{
    if (seek(fd, pos) != 0) {
        return -1;
    }
    uint32_t args[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)src, len};
    return semihost_call(SH_SYS_WRITE, args) == 0 ? 0 : -1; /* returns bytes NOT written */
}

int32_t semihost_read_at(int32_t fd, uint32_t pos, void *dst, uint32_t len)
{
    if (seek(fd, pos) != 0) {
        return -1;
    }
    uint32_t args[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)dst, len};
    return semihost_call(SH_SYS_READ, args) == 0 ? 0 : -1; /* returns bytes NOT read */
}

int32_t semihost_flen(int32_t fd)
{
    uint32_t args[1] = {(uint32_t)fd};
    return semihost_call(SH_SYS_FLEN, args);
}

int32_t semihost_cmdline(char *buf, uint32_t cap)
{
    uint32_t args[2] = {(uint32_t)(uintptr_t)buf, cap};
    return semihost_call(SH_SYS_GET_CMDLINE, args);
}
