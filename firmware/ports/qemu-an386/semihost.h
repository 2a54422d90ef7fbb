/*
 * semihost.h — ARM semihosting calls (BKPT 0xAB on M-profile) used by the qemu-an386 port to
 * keep its emulated flash in a host file. QEMU serves them with
 * `-semihosting-config enable=on,target=native`; without it a BKPT would fault, so the port
 * calls these only after semihost_probe() found the file (see flash.c).
 */
#ifndef TF_QEMU_AN386_SEMIHOST_H
#define TF_QEMU_AN386_SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

#define SH_SYS_OPEN 0x01u
#define SH_SYS_CLOSE 0x02u
#define SH_SYS_WRITE 0x05u
#define SH_SYS_READ 0x06u
#define SH_SYS_SEEK 0x0Au
#define SH_SYS_FLEN 0x0Cu
#define SH_SYS_GET_CMDLINE 0x15u
#define SH_SYS_EXIT 0x18u

/* SYS_OPEN modes (ISO C fopen strings "rb" and "r+b") */
#define SH_MODE_RB 1u
#define SH_MODE_RPB 3u

int32_t semihost_call(uint32_t op, void *args);

/* Returns a handle >= 0 or -1. */
int32_t semihost_open(const char *path, uint32_t mode);
/* Each returns 0 when every byte was transferred. */
int32_t semihost_write_at(int32_t fd, uint32_t pos, const void *src, uint32_t len);
int32_t semihost_read_at(int32_t fd, uint32_t pos, void *dst, uint32_t len);
int32_t semihost_flen(int32_t fd);
/* Copies the command line (kernel path and -append text) into buf; 0 on success. */
int32_t semihost_cmdline(char *buf, uint32_t cap);

#endif /* TF_QEMU_AN386_SEMIHOST_H */
