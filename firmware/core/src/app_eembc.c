/*
 * MLPerf Tiny / EEMBC device-under-test text commands, as the reference firmware of
 * mlcommons/tiny (benchmark/api) answers them and its runner (benchmark/runner) parses them:
 *
 *   name%          m-name-dut-[tinyfleet]
 *   profile%       m-profile-[ULPMark for tinyML Firmware V0.0.1], m-model-[kws01|vww01|ic01|ad01|NAME]
 *   help%          the command list
 *   timestamp%     m-lap-us-<microseconds>   (64-bit: no wrap)
 *   db load N%     m-[Expecting N bytes]     (N <= the db buffer of the model, below)
 *   db HEX%        appends bytes; m-load-done once N bytes are in (the rest of that line is ignored)
 *   db print%      m-buffer-xx-xx-...: the N announced bytes, 8 per line
 *   infer [N [W]]% N inferences after W warm-ups (defaults 1 and 10; each at most 100000):
 *                  m-warmup-start-W, m-warmup-done, m-infer-start-N, m-lap-us-T0, m-lap-us-T1,
 *                  m-infer-done, m-results-[...]
 *   results%       m-results-[s0,s1,...]: dequantized outputs with 3 decimals
 *
 * Commands are split on spaces; a line longer than 80 characters is cut to its first 80 (the
 * splitter in proto_frame.c) and answered. Every command ends with m-ready; errors are lines
 * starting e-[. Lines end with CR LF.
 *
 * Input contract per benchmark (the runner sends what the reference firmware expects): KWS, VWW
 * and IC send the model's int8 input bytes. AD (a model announced as ad01) sends float32
 * little-endian values, 4 bytes per input element (2560 bytes for the 640-value reference
 * input); `infer` quantizes them with the model's input scale and zero point,
 * q = clamp(round(x / scale) + zero_point, -128, 127), and `results` prints one anomaly score:
 * the mean over the output elements of (dequantized output - x)^2.
 */
#include <math.h>
#include <string.h>

#include "app_priv.h"

#define EE_CMD_SIZE 80u          /* the reference's command buffer */
#define TF_EEMBC_MAX_RUNS 100000u /* upper bound of N and W in `infer N W` */
#define EE_MAX_TOKENS 4u

static void out(const char *s) { tf_app.env.uart_write((const uint8_t *)s, strlen(s)); }

static char *fmt_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n) *p++ = tmp[--n];
    *p = '\0';
    return p;
}

static void line(const char *a, uint64_t v, const char *b)
{
    char buf[24];
    out(a);
    fmt_u64(buf, v);
    out(buf);
    out(b);
}

/* Microseconds since boot from the 64-bit tick counter, without overflowing t * 10^6. */
static uint64_t now_us(void)
{
    uint64_t t = tf_app.env.ticks(), hz = tf_app.env.tick_hz;
    if (hz == 0) return 0;
    return t / hz * 1000000u + t % hz * 1000000u / hz;
}

/* A decimal count as the reference reads it (atoi): the leading digits, 0 when there are none;
 * saturates at UINT32_MAX. Returns false when something other than digits follows. */
static bool parse_count(const char *s, uint32_t *v)
{
    uint64_t acc = 0;
    while (*s >= '0' && *s <= '9') {
        acc = acc * 10u + (uint64_t)(*s++ - '0');
        if (acc > 0xFFFFFFFFu) acc = 0xFFFFFFFFu;
    }
    *v = (uint32_t)acc;
    return *s == '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The benchmark tag of the running model: "kws", "vww", "ic", "ad" (by name prefix) or NULL. */
static const char *benchmark_tag(void)
{
    static const char *const KNOWN[] = { "kws", "vww", "ic", "ad" };
    if (!tf_app_has_model()) return NULL;
    const char *name = tf_app.ota.view.manifest.name;
    for (size_t i = 0; i < sizeof KNOWN / sizeof KNOWN[0]; i++) {
        if (strncmp(name, KNOWN[i], strlen(KNOWN[i])) == 0) return KNOWN[i];
    }
    return NULL;
}

static uint32_t model_input_bytes(void)
{
    return tf_app_has_model() ? tf_app.ota.view.manifest.input_bytes : 0u;
}

/* AD: float32 in (4 bytes per input element), when the staging buffer holds both the floats and
 * their quantized copy. */
static bool float_input(void)
{
    const char *tag = benchmark_tag();
    uint32_t n = model_input_bytes();
    return tag != NULL && strcmp(tag, "ad") == 0 && n > 0 && n <= tf_app.input_cap / 5u;
}

static uint32_t db_capacity(void) { return float_input() ? 4u * model_input_bytes() : model_input_bytes(); }

static float get_f32(const int8_t *p)
{
    uint32_t bits = tf_get_u32((const uint8_t *)p);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* The reference's QuantizeFloatToInt8; NaN reads as the lowest value. */
static int8_t quantize(float x, float scale, int32_t zero_point)
{
    float r = roundf(x / scale);
    if (!(r > -1000.0f)) r = -1000.0f;
    if (r > 1000.0f) r = 1000.0f;
    int32_t q = (int32_t)r + zero_point;
    return (int8_t)(q < -128 ? -128 : q > 127 ? 127 : q);
}

static void cmd_profile(void)
{
    const char *tag = benchmark_tag();
    out("m-profile-[ULPMark for tinyML Firmware V0.0.1]\r\nm-model-[");
    if (tag) {
        out(tag);
        out("01");
    } else {
        out(tf_app_has_model() ? tf_app.ota.view.manifest.name : "none");
    }
    out("]\r\n");
}

static void cmd_help(void)
{
    out("ULPMark for tinyML Firmware V0.0.1\r\n\r\n"
        "help         : Print this information\r\n"
        "name         : Print the name of the device\r\n"
        "timestamp    : Generate a timestamp\r\n"
        "db SUBCMD    : Manipulate a generic byte buffer\r\n"
        "  load N     : Allocate N bytes and set load counter\r\n"
        "  db HH[HH]* : Load 8-bit hex byte(s) until N bytes\r\n"
        "  print      : Print the N bytes as hex\r\n"
        "infer N [W=10]: Load input, execute N inferences after W warmup loops\r\n"
        "results      : Return the result fp32 vector\r\n");
}

static void cmd_db_print(void)
{
    static const char HEX[] = "0123456789abcdef";
    const uint8_t *b = (const uint8_t *)tf_app.input;
    for (uint32_t i = 0; i < tf_app.db_expected; i++) {
        char cell[4] = { HEX[b[i] >> 4], HEX[b[i] & 0xF], '-', '\0' };
        if (i % 8u == 0) out("m-buffer-");
        if ((i + 1) % 8u == 0 || i + 1 == tf_app.db_expected) {
            cell[2] = '\0';
            out(cell);
            out("\r\n");
        } else {
            out(cell);
        }
    }
}

static void cmd_db(char *const *tok, size_t ntok)
{
    uint32_t n = 0;
    if (ntok < 2) {
        out("e-[Command 'db' requires a subcommand]\r\n");
    } else if (strcmp(tok[1], "load") == 0) {
        if (ntok < 3) {
            out("e-[Command 'db load' requires the # of bytes]\r\n");
        } else if (!parse_count(tok[2], &n) || n == 0) {
            out("e-[Command 'db load' must be >0 bytes]\r\n");
        } else if (n > db_capacity()) {
            line("e-[Command 'db load': at most ", db_capacity(), " bytes for this model]\r\n");
        } else {
            tf_app.db_expected = n;
            tf_app.db_loaded = 0;
            line("m-[Expecting ", n, " bytes]\r\n");
        }
    } else if (strcmp(tok[1], "print") == 0) {
        cmd_db_print();
    } else {
        const char *hex = tok[1];
        size_t len = strlen(hex);
        if (len % 2 != 0) {
            out("e-[Insufficient number of hex digits]\r\n");
            return;
        }
        if (tf_app.db_loaded >= tf_app.db_expected) {
            out("e-[db: send db load N first; N bytes are already loaded]\r\n");
            return;
        }
        for (size_t i = 0; i < len; i += 2) {
            int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
            if (hi < 0 || lo < 0) {
                char pair[3] = { hex[i], hex[i + 1], '\0' };
                out("e-[Invalid hex digit '");
                out(pair);
                out("']\r\n");
                return;
            }
            tf_app.input[tf_app.db_loaded++] = (int8_t)(uint8_t)(hi * 16 + lo);
            if (tf_app.db_loaded == tf_app.db_expected) {
                out("m-load-done\r\n"); /* the rest of the line is disregarded, as the reference does */
                return;
            }
        }
    }
}

/* One value with 3 decimals as printf("%0.3f") writes it, without printf's float support
 * (absent from newlib-nano). */
static char *fmt_milli(char *p, float v)
{
    if (v != v) return strcpy(p, "nan") + 3;
    if (v < 0) *p++ = '-';
    double a = fabs((double)v);
    if (a > 1.8e16) return strcpy(p, "inf") + 3;
    uint64_t milli = (uint64_t)floor(a * 1000.0 + 0.5);
    p = fmt_u64(p, milli / 1000u);
    uint32_t frac = (uint32_t)(milli % 1000u);
    *p++ = '.';
    *p++ = (char)('0' + frac / 100u);
    *p++ = (char)('0' + frac / 10u % 10u);
    *p++ = (char)('0' + frac % 10u);
    *p = '\0';
    return p;
}

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
    char buf[32];
    r->output_quant(r->ctx, &scale, &zp);
    out("m-results-[");
    if (float_input()) {
        /* AD: the anomaly score, mean squared error between the output and the float input */
        uint32_t n_in = model_input_bytes();
        float sum = 0.0f;
        for (uint32_t i = 0; i < n; i++) {
            float d = ((float)o[i] - (float)zp) * scale - get_f32(tf_app.input + 4u * (i % n_in));
            sum += d * d;
        }
        fmt_milli(buf, n ? sum / (float)n : 0.0f);
        out(buf);
    } else {
        for (uint32_t i = 0; i < n; i++) {
            char *p = fmt_milli(buf, ((float)o[i] - (float)zp) * scale);
            if (i + 1 < n) strcpy(p, ",");
            out(buf);
        }
    }
    out("]\r\n");
}

/* The model input for `infer`: the db bytes, or (AD) their quantized float values, written after
 * the floats in the staging buffer. NULL (after an error line) when the AD input is incomplete. */
static const int8_t *load_tensor(void)
{
    if (!float_input()) return tf_app.input;
    uint32_t n = model_input_bytes();
    if (tf_app.db_loaded != 4u * n) {
        line("e-[AD input: db load ", 4u * n, " bytes of float32 first]\r\n");
        return NULL;
    }
    const tf_runner_t *r = tf_app.env.runner;
    float scale = 1.0f;
    int32_t zp = 0;
    r->input_quant(r->ctx, &scale, &zp);
    int8_t *q = tf_app.input + 4u * n;
    for (uint32_t i = 0; i < n; i++) q[i] = quantize(get_f32(tf_app.input + 4u * i), scale, zp);
    return q;
}

static void cmd_infer(char *const *tok, size_t ntok)
{
    uint32_t n = 1, w = 10, ticks;
    if (ntok > 1 && (!parse_count(tok[1], &n) || n == 0)) {
        out("e-[Inference iterations must be >0]\r\n");
        return;
    }
    if (ntok > 2 && !parse_count(tok[2], &w)) {
        out("e-[Inference warmup must be >=0]\r\n");
        return;
    }
    if (n > TF_EEMBC_MAX_RUNS || w > TF_EEMBC_MAX_RUNS) {
        line("e-[infer N W: each at most ", TF_EEMBC_MAX_RUNS, "]\r\n");
        return;
    }
    if (!tf_app_has_model()) {
        out("e-[no model]\r\n");
        return;
    }
    const int8_t *in = load_tensor();
    if (in == NULL) return;
    line("m-warmup-start-", w, "\r\n");
    for (uint32_t i = 0; i < w; i++) {
        if (tf_app_infer_once(in, &ticks) != TF_OK) goto failed;
    }
    out("m-warmup-done\r\n");
    line("m-infer-start-", n, "\r\n");
    line("m-lap-us-", now_us(), "\r\n");
    for (uint32_t i = 0; i < n; i++) {
        if (tf_app_infer_once(in, &ticks) != TF_OK) goto failed;
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
    char buf[EE_CMD_SIZE + 1];
    char *tok[EE_MAX_TOKENS];
    size_t ntok = 0;
    size_t len = strlen(cmd);
    if (len > EE_CMD_SIZE) len = EE_CMD_SIZE;
    memcpy(buf, cmd, len);
    buf[len] = '\0';
    /* split on spaces, as strtok(p, " ") does */
    for (char *p = buf; *p != '\0' && ntok < EE_MAX_TOKENS;) {
        while (*p == ' ') *p++ = '\0';
        if (*p == '\0') break;
        tok[ntok++] = p;
        while (*p != '\0' && *p != ' ') p++;
    }
    const char *c = ntok ? tok[0] : "";
    if (strcmp(c, "name") == 0) {
        out("m-name-dut-[tinyfleet]\r\n");
    } else if (strcmp(c, "timestamp") == 0) {
        line("m-lap-us-", now_us(), "\r\n");
    } else if (strcmp(c, "profile") == 0) {
        cmd_profile();
    } else if (strcmp(c, "help") == 0) {
        cmd_help();
    } else if (strcmp(c, "db") == 0) {
        cmd_db(tok, ntok);
    } else if (strcmp(c, "infer") == 0) {
        cmd_infer(tok, ntok);
    } else if (strcmp(c, "results") == 0) {
        cmd_results();
    } else {
        out("e-[Unknown command: ");
        out(c);
        out("]\r\n");
    }
    out("m-ready\r\n");
}
