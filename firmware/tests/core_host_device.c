/*
 * A host build of the device application for the Python protocol tests
 * (tests/serialproto/test_device_roundtrip.py): the UART is stdin/stdout, the model-store flash
 * is a file mapped MAP_SHARED (killing the process is a power cut: the file keeps exactly the
 * writes that were made), the model runtime is the fake one of core_sim.h, RESET exits.
 *
 *     core_host_device FLASH_FILE PUBKEY_HEX|-
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core_sim.h"
#include "tf_app.h"

#define HOST_SECTOR 1024u
#define HOST_SECTORS 24u
#define HOST_SIZE (HOST_SECTOR * HOST_SECTORS)

static uint8_t *flash_mem;
static int stdin_closed;

static int host_read(void *ctx, uint32_t off, void *dst, uint32_t len)
{
    (void)ctx;
    if (off > HOST_SIZE || len > HOST_SIZE - off) return -1;
    memcpy(dst, flash_mem + off, len);
    return 0;
}

static int host_write(void *ctx, uint32_t off, const void *src, uint32_t len)
{
    const uint8_t *p = (const uint8_t *)src;
    (void)ctx;
    if (off > HOST_SIZE || len > HOST_SIZE - off || off % 4u || len % 4u) return -1;
    for (uint32_t i = 0; i < len; i++) flash_mem[off + i] &= p[i]; /* NOR: clears bits only */
    return 0;
}

static int host_erase(void *ctx, uint32_t off, uint32_t len)
{
    (void)ctx;
    if (off > HOST_SIZE || len > HOST_SIZE - off || off % HOST_SECTOR || len % HOST_SECTOR) return -1;
    memset(flash_mem + off, 0xFF, len);
    return 0;
}

static const uint8_t *host_map(void *ctx)
{
    (void)ctx;
    return flash_mem;
}

static size_t uart_read(uint8_t *buf, size_t max)
{
    ssize_t n = read(STDIN_FILENO, buf, max);
    if (n == 0) stdin_closed = 1;
    return n > 0 ? (size_t)n : 0u;
}

static void uart_write(const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDOUT_FILENO, buf, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) exit(3);
        buf += n;
        len -= (size_t)n;
    }
}

static uint64_t ticks(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void reset(void) { exit(0); }

static int open_flash(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) return -1;
    int fresh = st.st_size == 0;
    if (fresh && ftruncate(fd, HOST_SIZE) != 0) return -1;
    if (!fresh && st.st_size != HOST_SIZE) return -1;
    flash_mem = mmap(NULL, HOST_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (flash_mem == MAP_FAILED) return -1;
    if (fresh) memset(flash_mem, 0xFF, HOST_SIZE);
    return 0;
}

int main(int argc, char **argv)
{
    static fake_rt_t rt;
    static uint8_t key[32];
    const uint8_t *pubkey = NULL;
    if (argc != 3 || open_flash(argv[1]) != 0) {
        fprintf(stderr, "usage: core_host_device FLASH_FILE PUBKEY_HEX|-\n");
        return 2;
    }
    if (strcmp(argv[2], "-") != 0) {
        if (strlen(argv[2]) != 64) return 2;
        for (int i = 0; i < 32; i++) {
            unsigned v;
            if (sscanf(argv[2] + 2 * i, "%2x", &v) != 1) return 2;
            key[i] = (uint8_t)v;
        }
        pubkey = key;
    }
    fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
    static tf_flash_t flash = { host_read, host_write, host_erase, host_map, NULL, HOST_SIZE, HOST_SECTOR, 4u };
    static tf_runner_t runner;
    runner = fake_runner(&rt);
    tf_app_env_t env = { uart_read, uart_write, ticks, 1000000u, "host-0001", pubkey, reset, &flash, &runner };
    tf_app_init(&env);
    while (!stdin_closed) {
        struct pollfd p = { STDIN_FILENO, POLLIN, 0 };
        poll(&p, 1, 100);
        tf_app_poll();
    }
    return 0;
}
