/*
 * app.h — the board-independent device application (firmware/core/src/app_*.c).
 *
 * A port's main() calls device_init() once, then device_poll() forever (see hal.h). The
 * application answers the binary frames of docs/serial-protocol.md (INFO, INFER, OTA_*,
 * CONFIRM, TELEMETRY, RESET) and the MLPerf Tiny text commands on the same UART, keeps the A/B
 * model slots (firmware/docs/ota.md) and runs the golden self-test of a model on trial.
 */
#ifndef TF_APP_H
#define TF_APP_H

#ifdef __cplusplus
extern "C" {
#endif

/* The firmware version reported by INFO; the build may override it (-DTF_FIRMWARE_VERSION=...). */
#ifndef TF_FIRMWARE_VERSION
#define TF_FIRMWARE_VERSION "0.1.0"
#endif

/* Read the slot state record, decide which model boots (a trial reverts here when it was not
 * confirmed), load it and run its golden self-test when it is on trial. Never fails: a device
 * without a usable model still answers INFO and accepts an OTA. */
void device_init(void);

/* Drain the UART and answer everything complete; returns quickly when nothing is pending. */
void device_poll(void);

#ifdef __cplusplus
}
#endif

#endif /* TF_APP_H */
