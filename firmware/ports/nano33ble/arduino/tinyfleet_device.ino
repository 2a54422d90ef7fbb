// tinyfleet_device — an Arduino Nano 33 BLE Sense running the tinyfleet device firmware.
//
// Over Serial (USB, 115200 baud) the board answers the tinyfleet serial protocol: INFO,
// INFER, the resumable signed model OTA (OTA_BEGIN / OTA_CHUNK / OTA_COMMIT), CONFIRM,
// TELEMETRY, RESET, and the MLPerf Tiny benchmark runner's text commands (name%, profile%,
// db load N%, infer N W%, results%). Install a model with `tinyfleet firmware flash --port PORT
// --model PKG`, or let a tinyfleet gateway manage the board.
#include <tinyfleet.h>

void setup() {
  tinyfleet_begin();
}

void loop() {
  tinyfleet_poll();
}
