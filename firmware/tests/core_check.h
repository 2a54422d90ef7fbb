/* Minimal checks for the core's host tests (firmware/tests/test_{ota,proto,crypto,telemetry}*.c). */
#ifndef CORE_CHECK_H
#define CORE_CHECK_H

#include <stdio.h>
#include <string.h>

static int core_failures;
static int core_checks;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        core_checks++;                                                               \
        if (!(cond)) {                                                               \
            core_failures++;                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

#define CHECK_EQ(a, b)                                                                       \
    do {                                                                                     \
        long long ca_ = (long long)(a), cb_ = (long long)(b);                                \
        core_checks++;                                                                       \
        if (ca_ != cb_) {                                                                    \
            core_failures++;                                                                 \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s = %lld, %s = %lld\n", __FILE__, __LINE__, \
                    #a, ca_, #b, cb_);                                                       \
        }                                                                                    \
    } while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

static inline int core_report(const char *name)
{
    if (core_failures) {
        fprintf(stderr, "%s: %d of %d checks FAILED\n", name, core_failures, core_checks);
        return 1;
    }
    printf("%s: %d checks passed\n", name, core_checks);
    return 0;
}

static inline void core_hex(const char *hex, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (unsigned char)v;
    }
}

#endif /* CORE_CHECK_H */
