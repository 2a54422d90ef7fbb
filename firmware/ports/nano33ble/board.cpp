/*
 * board.cpp — tinyfleet port for the Arduino Nano 33 BLE Sense (nRF52840, Arduino mbed core).
 *
 * Builds only with PlatformIO's registry platform `nordicnrf52` + framework `arduino`, which
 * must be installed once with network access (docs/firmware.md); it is not part of `make test`.
 *
 * Flash map (1 MiB, 4 KiB pages, memory-mapped at 0):
 *   0x00000-0x0FFFF  Arduino bootloader (64 KiB)
 *   0x10000-0x2DFFF  this sketch (120 KiB; platformio.ini sets board_upload.maximum_size)
 *   0x2E000-0xFFFFF  model store: 2 state sectors + two 416 KiB model slots (boards.toml)
 * The UART is the USB CDC port (Serial). Ticks are micros().
 *
 * The sketch calls tinyfleet_begin() from setup() and tinyfleet_poll() from loop() (tinyfleet.h):
 * main.cpp for the PlatformIO build, the example sketch of `tinyfleet firmware export --arduino`.
 */
#include <Arduino.h>
#include <FlashIAP.h>

#include <stdio.h>
#include <string.h>

#include "tinyfleet.h"

extern "C" {
#include "app.h"
#include "hal.h"
}

#if defined(__has_include)
#if __has_include("tf_build_config.h")
#include "tf_build_config.h"
#endif
#endif

namespace {

constexpr uint32_t kSector = 4096u;
constexpr uint32_t kSlot = 425984u;                 /* 416 KiB, tinyfleet/boards.toml */
constexpr uint32_t kStoreSize = 2u * kSector + 2u * kSlot;
constexpr uint32_t kStoreBase = 0x100000u - kStoreSize; /* the top of the 1 MiB flash */
static_assert(kStoreBase == 0x2E000u, "model store must start right after the 120 KiB sketch");

mbed::FlashIAP flash;
bool flash_ok = false;
char device_id[32];

bool in_range(uint32_t offset, uint32_t len)
{
    return offset <= kStoreSize && len <= kStoreSize - offset;
}

}  // namespace

extern "C" {

size_t hal_uart_read(uint8_t *buf, size_t max)
{
    size_t n = 0;
    while (n < max && Serial.available() > 0) {
        int c = Serial.read();
        if (c < 0) {
            break;
        }
        buf[n++] = (uint8_t)c;
    }
    return n;
}

void hal_uart_write(const uint8_t *buf, size_t len)
{
    Serial.write(buf, len);
}

void hal_flash_geometry(hal_flash_geometry_t *out)
{
    out->size = kStoreSize;
    out->sector_size = kSector;
    out->write_align = 4u; /* nRF52 NVMC programs 32-bit words */
}

int hal_flash_read(uint32_t offset, void *dst, uint32_t len)
{
    if (!flash_ok || !in_range(offset, len)) {
        return -1;
    }
    return flash.read(dst, kStoreBase + offset, len) == 0 ? 0 : -1;
}

int hal_flash_write(uint32_t offset, const void *src, uint32_t len)
{
    if (!flash_ok || !in_range(offset, len) || offset % 4u != 0u || len % 4u != 0u) {
        return -1;
    }
    return flash.program(src, kStoreBase + offset, len) == 0 ? 0 : -1;
}

int hal_flash_erase(uint32_t offset, uint32_t len)
{
    if (!flash_ok || !in_range(offset, len) || offset % kSector != 0u || len % kSector != 0u) {
        return -1;
    }
    return flash.erase(kStoreBase + offset, len) == 0 ? 0 : -1;
}

const uint8_t *hal_flash_map(void)
{
    return flash_ok ? reinterpret_cast<const uint8_t *>(kStoreBase) : nullptr;
}

uint64_t hal_ticks(void)
{
    /* micros() wraps every 71.6 min: count the wraps (device_poll calls this far more often). */
    static uint32_t last;
    static uint32_t high;
    uint32_t now = micros();
    if (now < last) high++;
    last = now;
    return (static_cast<uint64_t>(high) << 32) | now;
}

uint32_t hal_tick_hz(void)
{
    return 1000000u;
}

const char *hal_device_id(void)
{
    return device_id;
}

bool hal_ota_public_key(uint8_t out[32])
{
#ifdef TF_OTA_PUBKEY
    static const uint8_t key[32] = TF_OTA_PUBKEY;
    memcpy(out, key, sizeof key);
    return true;
#else
    (void)out;
    return false;
#endif
}

void hal_reset(void)
{
    Serial.flush();
    NVIC_SystemReset();
}

}  // extern "C"

extern "C" void tinyfleet_begin(void)
{
    Serial.begin(115200);
#ifdef TF_DEVICE_ID
    strncpy(device_id, TF_DEVICE_ID, sizeof device_id - 1u);
#else
    snprintf(device_id, sizeof device_id, "nano33ble-%08lx%08lx", (unsigned long)NRF_FICR->DEVICEID[1],
             (unsigned long)NRF_FICR->DEVICEID[0]);
#endif
    flash_ok = flash.init() == 0 && flash.get_sector_size(kStoreBase) == kSector;
    device_init();
}

extern "C" void tinyfleet_poll(void)
{
    device_poll();
}
