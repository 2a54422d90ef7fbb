/* Drift telemetry: the contract's bins, groups, arg-max, latency and the encoded layout. */
#include <stdint.h>

#include "core_check.h"
#include "tf_proto.h"
#include "tf_telemetry.h"

static tf_tm_t tm;

static void test_bins_and_groups(void)
{
    tf_tm_init(&tm, 2, 1000);
    const int8_t in[6] = { -128, -113, -112, 0, 127, 15 };
    const int8_t out[4] = { -100, 90, 90, -5 }; /* first maximum wins: class 1 */
    tf_tm_record(&tm, in, 6, out, 4, 40);
    /* group 0 gets elements 0, 2, 4; group 1 gets 1, 3, 5 */
    CHECK_EQ(tm.input_hist[0][0], 1);  /* -128 */
    CHECK_EQ(tm.input_hist[0][1], 1);  /* -112: (16 >> 4) */
    CHECK_EQ(tm.input_hist[0][15], 1); /* 127 */
    CHECK_EQ(tm.input_hist[1][0], 1);  /* -113: (15 >> 4) */
    CHECK_EQ(tm.input_hist[1][8], 2);  /* 0 and 15 */
    tf_tm_set_classes(&tm, 4);
    tf_tm_record(&tm, in, 6, out, 4, 60);
    CHECK_EQ(tm.class_counts[1], 1);
    CHECK_EQ(tm.class_counts[2], 0);
    CHECK_EQ(tm.confidence[(90 + 128) >> 4], 2);
    CHECK(tm.inferences == 2 && tm.lat_min == 40 && tm.lat_max == 60 && tm.lat_sum == 100);
    tf_tm_error(&tm);
    tf_tm_frame_error(&tm);
    CHECK(tm.errors == 1 && tm.frame_errors == 1);
    /* outputs with more elements than TF_TM_MAX_CLASSES are not counted as classes */
    tf_tm_set_classes(&tm, 640);
    CHECK_EQ(tm.classes, 0);
    tf_tm_init(&tm, 99, 0);
    CHECK_EQ(tm.groups, TF_TM_MAX_GROUPS);
    tf_tm_init(&tm, 0, 0);
    CHECK_EQ(tm.groups, 1);
}

static void test_encode(void)
{
    uint8_t buf[TF_TM_MAX_ENCODED];
    tf_tm_init(&tm, 1, 500);
    tf_tm_set_classes(&tm, 10);
    int8_t in[16], out[10];
    for (int i = 0; i < 16; i++) in[i] = (int8_t)(i * 16 - 128);
    for (int j = 0; j < 10; j++) out[j] = (int8_t)(j == 7 ? 100 : -50);
    tf_tm_record(&tm, in, 16, out, 10, 1234);
    size_t n = tf_tm_encode(&tm, 2500, 25000000u, buf, sizeof buf);
    CHECK_EQ(n, 40 + 64 + 40 + 64);
    CHECK(buf[0] == 1 && buf[1] == 1 && buf[2] == 10 && buf[3] == 0);
    CHECK_EQ(tf_get_u32(buf + 4), 0);    /* period */
    CHECK_EQ(tf_get_u32(buf + 8), 2000); /* period length */
    CHECK_EQ(tf_get_u32(buf + 12), 1);   /* inferences */
    CHECK_EQ(tf_get_u32(buf + 24), 1234);
    CHECK_EQ(tf_get_u32(buf + 36), 25000000u);
    for (int b = 0; b < 16; b++) CHECK_EQ(tf_get_u32(buf + 40 + 4 * b), 1); /* one element per bin */
    CHECK_EQ(tf_get_u32(buf + 104 + 4 * 7), 1);                               /* class 7 */
    CHECK_EQ(tf_get_u32(buf + 144 + 4 * ((100 + 128) >> 4)), 1);               /* confidence bin 14 */
    CHECK_EQ(tf_tm_encode(&tm, 0, 1, buf, 100), 0);
    /* the next period starts from zero and keeps groups and classes */
    tf_tm_next_period(&tm, 0, 3000);
    n = tf_tm_encode(&tm, 3100, 1, buf, sizeof buf);
    CHECK(n == 208 && tf_get_u32(buf + 4) == 1 && tf_get_u32(buf + 8) == 100 && tf_get_u32(buf + 12) == 0);
    tf_tm_next_period(&tm, 4, 3000);
    CHECK_EQ(tf_tm_encode(&tm, 3100, 1, buf, sizeof buf), 40 + 4 * 64 + 40 + 64);
    CHECK(TF_TM_MAX_ENCODED <= 1000); /* fits one reply frame */
}

int main(void)
{
    test_bins_and_groups();
    test_encode();
    return core_report("test_telemetry");
}
