/*
 * device_init()/device_poll() (app.h) for a board: the application's environment from hal.h,
 * the model runtime from tfrt.h. Ports compile core/src, core/bind and Monocypher.
 */
#include "app.h"
#include "hal.h"
#include "tf_app.h"

void device_init(void)
{
    static uint8_t key[32];
    tf_app_env_t env = {
        hal_uart_read,
        hal_uart_write,
        hal_ticks,
        hal_tick_hz(),
        hal_device_id(),
        hal_ota_public_key(key) ? key : 0,
        hal_reset,
        tf_flash_board(),
        tf_runner_tfrt(),
    };
    tf_app_init(&env);
}

void device_poll(void) { tf_app_poll(); }
