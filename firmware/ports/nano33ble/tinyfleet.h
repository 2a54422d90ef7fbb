/*
 * tinyfleet.h — the Arduino sketch's view of the tinyfleet device firmware: call
 * tinyfleet_begin() from setup() and tinyfleet_poll() from loop(). The board then answers the
 * serial protocol (binary frames and the MLPerf Tiny text commands) on Serial at 115200 baud.
 */
#ifndef TINYFLEET_H
#define TINYFLEET_H

#ifdef __cplusplus
extern "C" {
#endif

void tinyfleet_begin(void); /* Serial, the model-store flash, then boot the confirmed model */
void tinyfleet_poll(void);  /* drain the UART, answer frames and text commands */

#ifdef __cplusplus
}
#endif

#endif /* TINYFLEET_H */
