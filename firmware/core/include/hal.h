/*
 * hal.h — what a board port provides to the portable core (firmware/core).
 *
 * The core never touches registers. A port (qemu-an386, host, nano33ble, esp32dev) implements
 * every function below and its main() does:
 *
 *     int main(void) {
 *         board_setup();            // clocks, UART, SysTick: the port's own business
 *         device_init();            // core: reads the slot state record, boots a model (app.h)
 *         for (;;) {
 *             device_poll();        // core: drains the UART, answers frames and text commands
 *             // optional: sleep until the next UART interrupt (WFI)
 *         }
 *     }
 *
 * Threading: every hal_* function is called from device_poll()/device_init() only, never from an
 * interrupt. Only hal_uart_read() must be non-blocking.
 */
#ifndef TF_HAL_H
#define TF_HAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- UART (the one serial link: binary frames and MLPerf Tiny text commands share it) ---- */

/* Copy up to `max` received bytes into `buf` and return how many; 0 when nothing is pending.
 * Never blocks. The port should buffer received bytes (an RX interrupt + ring buffer of at
 * least 512 bytes) so nothing is lost while the core is busy with an inference. */
size_t hal_uart_read(uint8_t *buf, size_t max);

/* Send all `len` bytes; may block until they are queued or sent. */
void hal_uart_write(const uint8_t *buf, size_t len);

/* ---- Model store flash ----
 * One contiguous region reserved for models: the core puts its slot state record in the first
 * two sectors and splits the rest into two equal model slots (docs: firmware/docs/ota.md).
 * Offsets are relative to the start of that region. */
typedef struct {
    uint32_t size;        /* bytes in the region; a multiple of sector_size, >= 6 sectors (tf_ota_open) */
    uint32_t sector_size; /* erase unit in bytes (power of two) */
    uint32_t write_align; /* program unit in bytes: 1, 2, 4, 8 or 16; offsets and lengths of
                             hal_flash_write are multiples of it */
} hal_flash_geometry_t;

void hal_flash_geometry(hal_flash_geometry_t *out);

/* Each returns 0 on success, a negative value on failure. Writes only turn erased bytes (0xFF)
 * into data (NOR semantics: the core never writes a byte twice without an erase between). */
int hal_flash_read(uint32_t offset, void *dst, uint32_t len);
int hal_flash_write(uint32_t offset, const void *src, uint32_t len);
int hal_flash_erase(uint32_t offset, uint32_t len); /* offset, len: multiples of sector_size */

/* The address where region offset 0 is readable as memory (execute-in-place flash), so the
 * runtime reads a model in place without copying it; NULL if the flash is not memory-mapped
 * (then the board cannot run models from flash and device_init() reports no model). */
const uint8_t *hal_flash_map(void);

/* ---- Time ---- */

/* A free-running, monotonically increasing 64-bit tick counter (never wraps in practice: 2^64
 * ticks at 1 GHz is 584 years). On Cortex-M: SysTick counted up in software (reload interrupt +
 * current value); a port whose clock is 32 bits wide extends it (see ports/nano33ble). The
 * MLPerf Tiny `m-lap-us` timestamps come from it, so they do not wrap after 2^32 ticks
 * (171.8 s at 25 MHz). hal_tick_hz() is its rate. */
uint64_t hal_ticks(void);
uint32_t hal_tick_hz(void);

/* ---- Identity, keys, reset ---- */

/* A stable ASCII device id, NUL-terminated, 1..31 characters of [A-Za-z0-9._-]. */
const char *hal_device_id(void);

/* The Ed25519 public key (32 raw bytes) that model manifests must be signed with: compiled in
 * by the build or provisioned by the factory. Return false if the board has no key: every
 * OTA_COMMIT is then refused (fail closed). */
bool hal_ota_public_key(uint8_t out[32]);

/* Reset the MCU (Cortex-M: SCB->AIRCR SYSRESETREQ). Called after a reply is fully sent. */
void hal_reset(void);

#ifdef __cplusplus
}
#endif

#endif /* TF_HAL_H */
