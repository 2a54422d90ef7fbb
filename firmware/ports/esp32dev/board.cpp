/*
 * board.cpp — tinyfleet port for the ESP32-DevKitC (ESP32, Arduino-ESP32 core).
 *
 * Builds only with PlatformIO's registry platform `espressif32` + framework `arduino`, which
 * must be installed once with network access (docs/firmware.md); it is not part of `make test`.
 *
 * The model store is the data partition `tfmodels` (partitions.csv beside this file): two state
 * sectors + two 1 MiB model slots (boards.toml). The runtime reads models in place through a
 * read-only memory mapping of the partition (esp_partition_mmap). UART0 (the USB bridge) at
 * 115200 baud; ticks are micros().
 */
#include <Arduino.h>
#include <esp_partition.h>
#include <esp_system.h>
#include <esp_timer.h>

#include <string.h>

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
constexpr uint32_t kSlot = 1048576u; /* tinyfleet/boards.toml */
constexpr uint32_t kStoreSize = 2u * kSector + 2u * kSlot;

const esp_partition_t *store = nullptr;
const void *store_map = nullptr;
spi_flash_mmap_handle_t map_handle;
char device_id[32];

bool in_range(uint32_t offset, uint32_t len)
{
    return store != nullptr && offset <= kStoreSize && len <= kStoreSize - offset;
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
    out->write_align = 4u;
}

int hal_flash_read(uint32_t offset, void *dst, uint32_t len)
{
    if (!in_range(offset, len)) {
        return -1;
    }
    return esp_partition_read(store, offset, dst, len) == ESP_OK ? 0 : -1;
}

int hal_flash_write(uint32_t offset, const void *src, uint32_t len)
{
    if (!in_range(offset, len) || offset % 4u != 0u || len % 4u != 0u) {
        return -1;
    }
    return esp_partition_write(store, offset, src, len) == ESP_OK ? 0 : -1;
}

int hal_flash_erase(uint32_t offset, uint32_t len)
{
    if (!in_range(offset, len) || offset % kSector != 0u || len % kSector != 0u) {
        return -1;
    }
    return esp_partition_erase_range(store, offset, len) == ESP_OK ? 0 : -1;
}

const uint8_t *hal_flash_map(void)
{
    return static_cast<const uint8_t *>(store_map);
}

uint64_t hal_ticks(void)
{
    return static_cast<uint64_t>(esp_timer_get_time()); /* 64-bit microseconds since boot */
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
    esp_restart();
}

}  // extern "C"

void setup()
{
    Serial.begin(115200);
#ifdef TF_DEVICE_ID
    strncpy(device_id, TF_DEVICE_ID, sizeof device_id - 1u);
#else
    uint64_t mac = ESP.getEfuseMac();
    snprintf(device_id, sizeof device_id, "esp32-%012llx", (unsigned long long)(mac & 0xFFFFFFFFFFFFull));
#endif
    store = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, (esp_partition_subtype_t)0x40, "tfmodels");
    if (store != nullptr && store->size >= kStoreSize &&
        esp_partition_mmap(store, 0, kStoreSize, SPI_FLASH_MMAP_DATA, &store_map, &map_handle) != ESP_OK) {
        store_map = nullptr; /* no mapping: device_init() reports no model, OTA still works */
    }
    if (store != nullptr && store->size < kStoreSize) {
        store = nullptr;
    }
    device_init();
}

void loop()
{
    device_poll();
}
