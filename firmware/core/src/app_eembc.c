/*
 * MLPerf Tiny / EEMBC device-under-test text commands (mlcommons/tiny benchmark API):
 *
 *   name%          m-name-dut-[tinyfleet]
 *   profile%       m-profile-[ULPMark for tinyML Firmware V0.0.1], m-model-[kws01|vww01|ic01|ad01|NAME]
 *   timestamp%     m-lap-us-<microseconds>
 *   db load N%     m-[Expecting N bytes]            (N <= the model's input size)
 *   db HEX%        appends bytes; m-load-done once N bytes are in
 *   db print%      m-buffer-<hex of the staged bytes>
 *   infer N W%     (N, W <= 100000) m-warmup-start-W, m-warmup-done, m-infer-start-N, m-lap-us-T0, m-lap-us-T1,
 *                  m-infer-done, m-results-[...]
 *   results%       m-results-[s0,s1,...]: dequantized outputs with 3 decimals
 *
 * Every command ends with m-ready; errors are lines starting e-[. Lines end with CR LF.
 */
#include <string.h>

#include "app_priv.h"

/* Upper bound of N and W in `infer N W` (the runner asks for a few hundred at most). */
#define TF_EEMBC_MAX_RUNS 100000u

static void out(const char *s) { tf_app.env.uart_write((const uint8_t *)s, strlen(s)); }

static char *fmt_u32(char *p, uint32_t v)
{
    char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n) *p++ = tmp[--n];
    *p = '\0';
    return p;
}

static void line(const char *a, uint32_t v, const char *b)
{
    char buf[TF_TEXT_MAX_LINE + 24];
    size_t n = strlen(a);
    if (n > TF_TEXT_MAX_LINE) n = TF_TEXT_MAX_LINE;
    memcpy(buf, a, n);
    fmt_u32(buf + n, v);
    out(buf);
    out(b);
}

static uint32_t now_us(void)
{
    uint64_t t = (uint64_t)tf_app.env.ticks() * 1000000u;
    return tf_app.env.tick_hz ? (uint32_t)(t / tf_app.env.tick_hz) : 0u;
}

/* Parses a decimal number; returns the text after it, or NULL. */
static const char *parse_u32(const char *s, uint32_t *v)
{
    uint64_t acc = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9') {
        acc = acc * 10u + (uint64_t)(*p++ - '0');
        if (acc > 0xFFFFFFFFu) return NULL;
    }
    if (p == s) return NULL;
    *v = (uint32_t)acc;
    return p;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static uint32_t model_input_bytes(void)
{
    return tf_app_has_model() ? tf_app.ota.view.manifest.input_bytes : 0u;
}

static void cmd_profile(void)
{
    static const char *const KNOWN[] = { "kws", "vww", "ic", "ad" };
    out("m-profile-[ULPMark for tinyML Firmware V0.0.1]\r\nm-model-[");
    const char *name = tf_app_has_model() ? tf_app.ota.view.manifest.name : "none";
    const char *tag = NULL;
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++) {
        if (strncmp(name, KNOWN[i], strlen(KNOWN[i])) == 0) tag = KNOWN[i];
    }
    if (tag) {
        out(tag);
        out("01");
    } else {
        out(name);
    }
    out("]\r\n");
}

static void cmd_db(const char *arg)
{
    uint32_t n;
    if (strncmp(arg, "load ", 5) == 0) {
        const char *end = parse_u32(arg + 5, &n);
        if (end == NULL || *end != '\0' || n == 0) {
            out("e-[db load needs a byte count]\r\n");
        } else if (n > model_input_bytes()) {
            line("e-[db load: the model input has ", model_input_bytes(), " bytes]\r\n");
        } else {
            tf_app.db_expected = n;
            tf_app.db_loaded = 0;
            line("m-[Expecting ", n, " bytes]\r\n");
        }
        return;
    }
    if (strcmp(arg, "print") == 0) {
        static const char HEX[] = "0123456789abcdef";
        char pair[3] = { 0, 0, 0 };
        out("m-buffer-");
        for (uint32_t i = 0; i < tf_app.db_loaded; i++) {
            pair[0] = HEX[(uint8_t)tf_app.input[i] >> 4];
            pair[1] = HEX[(uint8_t)tf_app.input[i] & 0xF];
            out(pair);
        }
        out("\r\n");
        return;
    }
    size_t len = strlen(arg);
    if (tf_app.db_expected == 0 || len == 0 || len % 2 != 0) {
        out("e-[db: send db load N first, then pairs of hex digits]\r\n");
        return;
    }
    for (size_t i = 0; i < len; i += 2) {
        int hi = hexval(arg[i]), lo = hexval(arg[i + 1]);
        if (hi < 0 || lo < 0) {
            out("e-[db: not a hex byte]\r\n");
            return;
        }
        if (tf_app.db_loaded >= tf_app.db_expected) {
            out("e-[db: more bytes than announced]\r\n");
            return;
        }
        tf_app.input[tf_app.db_loaded++] = (int8_t)(uint8_t)(hi * 16 + lo);
    }
    if (tf_app.db_loaded == tf_app.db_expected) out("m-load-done\r\n");
}

/* Scores with 3 decimals, without printf's float support (absent from newlib-nano). */
static void cmd_results(void)
{
    const tf_runner_t *r = tf_app.env.runner;
    uint32_t n = 0;
    const int8_t *o = tf_app_has_model() ? r->output(r->ctx, &n) : NULL;
    if (o == NULL) {
        out("e-[no model]\r\n");
        return;
    }
    float scale = 1.0f;
    int32_t zp = 0;
    r->output_quant(r->ctx, &scale, &zp);
    out("m-results-[");
    for (uint32_t i = 0; i < n; i++) {
        char buf[24];
        float v = ((float)o[i] - (float)zp) * scale;
        int32_t milli = (int32_t)(v * 1000.0f + (v < 0 ? -0.5f : 0.5f));
        char *p = buf;
        if (milli < 0) {
            *p++ = '-';
            milli = -milli;
        }
        p = fmt_u32(p, (uint32_t)milli / 1000u);
        *p++ = '.';
        uint32_t frac = (uint32_t)milli % 1000u;
        *p++ = (char)('0' + frac / 100u);
        *p++ = (char)('0' + frac / 10u % 10u);
        *p++ = (char)('0' + frac % 10u);
        *p++ = i + 1 < n ? ',' : '\0';
        *p = '\0';
        out(buf);
    }
    out("]\r\n");
}

static void cmd_infer(const char *arg)
{
    uint32_t n = 0, w = 0, ticks;
    const char *p = parse_u32(arg, &n);
    if (p != NULL && *p == ' ') p = parse_u32(p + 1, &w);
    if (p == NULL || *p != '\0' || n == 0 || n > TF_EEMBC_MAX_RUNS || w > TF_EEMBC_MAX_RUNS) {
        line("e-[infer needs N [W], each at most ", TF_EEMBC_MAX_RUNS, "]\r\n");
        return;
    }
    if (!tf_app_has_model()) {
        out("e-[no model]\r\n");
        return;
    }
    line("m-warmup-start-", w, "\r\n");
    for (uint32_t i = 0; i < w; i++) {
        if (tf_app_infer_once(&ticks) != TF_OK) goto failed;
    }
    out("m-warmup-done\r\n");
    line("m-infer-start-", n, "\r\n");
    line("m-lap-us-", now_us(), "\r\n");
    for (uint32_t i = 0; i < n; i++) {
        if (tf_app_infer_once(&ticks) != TF_OK) goto failed;
    }
    line("m-lap-us-", now_us(), "\r\n");
    out("m-infer-done\r\n");
    cmd_results();
    return;
failed:
    out("e-[inference failed]\r\n");
}

void tf_app_text_command(const char *cmd)
{
    if (strcmp(cmd, "name") == 0) {
        out("m-name-dut-[tinyfleet]\r\n");
    } else if (strcmp(cmd, "profile") == 0) {
        cmd_profile();
    } else if (strcmp(cmd, "timestamp") == 0) {
        line("m-lap-us-", now_us(), "\r\n");
    } else if (strncmp(cmd, "db ", 3) == 0) {
        cmd_db(cmd + 3);
    } else if (strncmp(cmd, "infer ", 6) == 0) {
        cmd_infer(cmd + 6);
    } else if (strcmp(cmd, "results") == 0) {
        cmd_results();
    } else {
        out("e-[Unknown command: ");
        out(cmd);
        out("]\r\n");
    }
    out("m-ready\r\n");
}
