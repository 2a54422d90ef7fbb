/*
 * tf_app.h — the device application with its environment injected.
 *
 * device_init()/device_poll() (app.h, core/bind/board_app.c) build a tf_app_env_t from the
 * board's hal.h functions and the micro runtime; host tests build one from fakes. The
 * application is a singleton (one UART, one model): tf_app_init() starts it over.
 */
#ifndef TF_APP_H_INTERNAL
#define TF_APP_H_INTERNAL

#include <stddef.h>
#include <stdint.h>

#include "flash_hal.h"
#include "tf_ota.h"
#include "tf_runner.h"
#include "tf_telemetry.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Message types (docs/serial-protocol.md). A reply carries type | TF_MSG_REPLY. */
enum {
    TF_MSG_INFO = 0x01,
    TF_MSG_INFER = 0x02,
    TF_MSG_OTA_BEGIN = 0x03,
    TF_MSG_OTA_CHUNK = 0x04,
    TF_MSG_OTA_COMMIT = 0x05,
    TF_MSG_CONFIRM = 0x06,
    TF_MSG_TELEMETRY = 0x07,
    TF_MSG_RESET = 0x08,
    TF_MSG_REPLY = 0x80,
};

#define TF_OTA_MAX_CHUNK 1008u /* payload bytes per OTA_CHUNK (a multiple of 16) */

typedef struct {
    size_t (*uart_read)(uint8_t *buf, size_t max); /* non-blocking */
    void (*uart_write)(const uint8_t *buf, size_t len);
    uint64_t (*ticks)(void); /* hal_ticks(): 64-bit, monotonic */
    uint32_t tick_hz;
    const char *device_id;
    const uint8_t *pubkey; /* 32 bytes, or NULL: OTA refused */
    void (*reset)(void);   /* after the RESET reply is sent */
    const tf_flash_t *flash;
    const tf_runner_t *runner;
} tf_app_env_t;

void tf_app_init(const tf_app_env_t *env);
void tf_app_poll(void);

/* Read-only views for tests and the board binding. */
const tf_ota_t *tf_app_ota(void);
const tf_tm_t *tf_app_telemetry(void);

#ifdef __cplusplus
}
#endif

#endif /* TF_APP_H_INTERNAL */
