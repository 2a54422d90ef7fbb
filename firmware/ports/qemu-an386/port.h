/* port.h — what the qemu-an386 port's files share (not part of the HAL). */
#ifndef TF_QEMU_AN386_PORT_H
#define TF_QEMU_AN386_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include "hal.h"

/* board.c */
void board_setup(void);
void board_idle(void); /* sleep (WFI) until an interrupt when no UART byte is pending */
void port_puts(const char *s);
__attribute__((noreturn)) void port_panic(const char *what, uint32_t value);

/* flash.c: opens the flash file through semihosting and reloads the region from it. Returns
 * true when writes persist (the host file is there), false when flash lives in RAM only. */
bool flash_port_init(void);

#endif /* TF_QEMU_AN386_PORT_H */
