/* main.cpp — the sketch of the PlatformIO build (the Arduino library export ships its own
 * example sketch instead; hil/arduino.py). */
#include <Arduino.h>

#include "tinyfleet.h"

void setup() { tinyfleet_begin(); }

void loop() { tinyfleet_poll(); }
