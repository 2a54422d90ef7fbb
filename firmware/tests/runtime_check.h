/* runtime_check.h — a few assertion macros for the runtime's host tests (test_runtime_*.c).
 * Each TEST is a function whose name says the behaviour; main() runs them and reports. */
#ifndef RUNTIME_CHECK_H
#define RUNTIME_CHECK_H

#include <stdio.h>

static int rt_failures, rt_checks;

#define EXPECT(cond)                                                                      \
    do {                                                                                  \
        rt_checks++;                                                                      \
        if (!(cond)) {                                                                    \
            rt_failures++;                                                                \
            fprintf(stderr, "%s:%d: EXPECT failed: %s\n", __FILE__, __LINE__, #cond);     \
        }                                                                                 \
    } while (0)

#define EXPECT_EQ(a, b)                                                                   \
    do {                                                                                  \
        long long a_ = (long long)(a), b_ = (long long)(b);                               \
        rt_checks++;                                                                      \
        if (a_ != b_) {                                                                   \
            rt_failures++;                                                                \
            fprintf(stderr, "%s:%d: EXPECT_EQ failed: %s = %lld, %s = %lld\n", __FILE__,  \
                    __LINE__, #a, a_, #b, b_);                                            \
        }                                                                                 \
    } while (0)

#define RUN(test)                                                                         \
    do {                                                                                  \
        int before_ = rt_failures;                                                        \
        test();                                                                           \
        printf("  %-60s %s\n", #test, rt_failures == before_ ? "ok" : "FAILED");          \
    } while (0)

static inline int rt_report(const char *name) {
    printf("%s: %d checks, %d failed\n", name, rt_checks, rt_failures);
    return rt_failures ? 1 : 0;
}

#endif /* RUNTIME_CHECK_H */
