/*
 * The device application: boot through the OTA slots, then answer frames (docs/serial-protocol.md)
 * and EEMBC text commands (app_eembc.c) from one UART.
 */
#include <string.h>

#include "app.h"
#include "app_priv.h"

tf_app_t tf_app;

const tf_ota_t *tf_app_ota(void) { return &tf_app.ota; }
const tf_tm_t *tf_app_telemetry(void) { return &tf_app.tm; }
bool tf_app_has_model(void) { return tf_app.ota.running >= 0; }

/* Boot hook: load the slot's model; a trial must also pass the golden self-test. */
static tf_status_t start_model(void *ctx, const tf_slot_view_t *view)
{
    const tf_runner_t *r = (const tf_runner_t *)ctx;
    uint32_t in_bytes = 0, out_bytes = 0, failed = 0;
    if (r->load(r->ctx, view->model, view->manifest.model_size) != TF_OK) return TF_E_MODEL;
    if (r->input(r->ctx, &in_bytes) == NULL || r->output(r->ctx, &out_bytes) == NULL ||
        in_bytes != view->manifest.input_bytes || out_bytes != view->manifest.output_bytes) {
        return TF_E_MODEL;
    }
    /* the input is staged in the arena bytes the model leaves free (the runtime may reuse the
     * input tensor's memory during an inference, so the staged copy must be elsewhere) */
    uint32_t room = 0;
    if (r->staging(r->ctx, &room) == NULL || room < in_bytes) return TF_E_MODEL;
    if (!view->trial) return TF_OK;
    return tf_selftest_run(r, &view->manifest, view->golden, &failed);
}

void tf_app_init(const tf_app_env_t *env)
{
    memset(&tf_app, 0, sizeof tf_app);
    tf_app.env = *env;
    tf_rx_init(&tf_app.rx);
    tf_tm_init(&tf_app.tm, 1, (uint32_t)env->ticks());
    if (tf_ota_open(&tf_app.ota, env->flash, env->pubkey) == TF_OK) {
        tf_ota_boot(&tf_app.ota, start_model, (void *)env->runner);
    }
    if (tf_app_has_model()) {
        tf_tm_set_classes(&tf_app.tm, tf_app.ota.view.manifest.output_bytes);
        tf_app.input = env->runner->staging(env->runner->ctx, &tf_app.input_cap);
    }
}

tf_status_t tf_app_infer_once(const int8_t *src, uint32_t *ticks)
{
    const tf_runner_t *r = tf_app.env.runner;
    uint32_t n_in = 0, n_out = 0;
    if (!tf_app_has_model()) return TF_E_NO_MODEL;
    int8_t *in = r->input(r->ctx, &n_in);
    if (in == NULL) return TF_E_NO_MODEL;
    memcpy(in, src, n_in);
    uint64_t t0 = tf_app.env.ticks();
    tf_status_t st = r->invoke(r->ctx);
    *ticks = (uint32_t)(tf_app.env.ticks() - t0);
    const int8_t *out = r->output(r->ctx, &n_out);
    if (st != TF_OK || out == NULL) {
        tf_tm_error(&tf_app.tm);
        return TF_E_INFER;
    }
    tf_tm_record(&tf_app.tm, src, n_in, out, n_out, *ticks);
    return TF_OK;
}

/* ---- frame handlers: each fills tf_app.reply[1..] and returns (status, length) ---- */

static void put_str(uint8_t *p, const char *s, size_t field)
{
    memset(p, 0, field);
    size_t n = s ? strlen(s) : 0;
    memcpy(p, s, n < field ? n : field - 1);
}

#define INFO_SIZE 172u

static size_t handle_info(uint8_t *p)
{
    const tf_ota_t *o = &tf_app.ota;
    const tf_runner_t *r = tf_app.env.runner;
    bool model = tf_app_has_model();
    memset(p, 0, INFO_SIZE);
    p[0] = 1;
    p[1] = (uint8_t)((model ? 0x01 : 0) | (model && o->rec.state[o->running] == TF_SLOT_TRIAL ? 0x02 : 0) | (o->selftest_passed ? 0x04 : 0) |
                     (o->has_key ? 0x08 : 0) | (o->rx_slot >= 0 ? 0x10 : 0));
    p[2] = o->boot_events;
    p[3] = (uint8_t)(int8_t)o->running;
    p[4] = o->rec.state[0];
    p[5] = o->rec.state[1];
    tf_put_u32(p + 8, o->rec.security_counter);
    tf_put_u32(p + 12, o->slot_size ? tf_ota_slot_capacity(o) : 0);
    tf_put_u32(p + 16, r->arena_size);
    tf_put_u32(p + 20, model ? r->arena_used(r->ctx) : 0);
    tf_put_u32(p + 24, tf_app.env.tick_hz);
    tf_put_u32(p + 28, o->rx_slot >= 0 ? o->rx_pos : 0);
    tf_put_u32(p + 32, o->rx_slot >= 0 ? o->rx_total : 0);
    put_str(p + 36, tf_app.env.device_id, 32);
    put_str(p + 68, TF_FIRMWARE_VERSION, 16);
    if (model) {
        const tf_manifest_t *m = &o->view.manifest;
        put_str(p + 84, m->name, 32);
        for (int i = 0; i < 3; i++) tf_put_u16(p + 116 + 2 * i, m->version[i]);
        tf_put_u32(p + 124, m->security_counter);
        memcpy(p + 128, m->model_sha256, 32);
        tf_put_u32(p + 160, m->input_bytes);
        tf_put_u32(p + 164, m->output_bytes);
        tf_put_u32(p + 168, m->model_size);
    }
    return INFO_SIZE;
}

static tf_status_t handle_infer(const tf_frame_t *f, uint8_t *p, size_t *len)
{
    const tf_runner_t *r = tf_app.env.runner;
    uint32_t n_in = 0, n_out = 0, ticks = 0;
    if (f->len < 5) return TF_E_BAD_LENGTH;
    if (!tf_app_has_model() || r->input(r->ctx, &n_in) == NULL || tf_app.input == NULL) return TF_E_NO_MODEL;
    uint32_t offset = tf_get_u32(f->payload);
    uint8_t flags = f->payload[4];
    uint32_t n = (uint32_t)f->len - 5u;
    if (offset > n_in || n > n_in - offset) return TF_E_BAD_LENGTH;
    memcpy(tf_app.input + offset, f->payload + 5, n);
    tf_put_u32(p, 0);
    tf_put_u32(p + 4, 0);
    *len = 8;
    if (!(flags & 0x01)) return TF_OK;
    tf_status_t st = tf_app_infer_once(tf_app.input, &ticks);
    if (st != TF_OK) return st;
    const int8_t *out = r->output(r->ctx, &n_out);
    if (n_out > TF_FRAME_MAX_PAYLOAD - 9u) return TF_E_TOO_LARGE;
    tf_put_u32(p, ticks);
    tf_put_u32(p + 4, n_out);
    memcpy(p + 8, out, n_out);
    *len = 8u + n_out;
    return TF_OK;
}

static tf_status_t handle_ota_begin(const tf_frame_t *f, uint8_t *p, size_t *len)
{
    uint32_t resume = 0;
    if (f->len != TF_OTA_BEGIN_SIZE) return TF_E_BAD_LENGTH;
    tf_status_t st = tf_ota_begin(&tf_app.ota, f->payload, &resume);
    tf_put_u32(p, resume);
    tf_put_u32(p + 4, st == TF_OK ? tf_app.ota.rx_total : 0);
    tf_put_u32(p + 8, TF_OTA_MAX_CHUNK);
    *len = 12;
    return st;
}

static tf_status_t handle_ota_chunk(const tf_frame_t *f, uint8_t *p, size_t *len)
{
    uint32_t next = 0;
    tf_status_t st;
    if (f->len < 4 || f->len - 4u > TF_OTA_MAX_CHUNK) {
        st = TF_E_BAD_LENGTH;
        next = tf_app.ota.rx_slot >= 0 ? tf_app.ota.rx_pos : 0;
    } else {
        st = tf_ota_chunk(&tf_app.ota, tf_get_u32(f->payload), f->payload + 4, (uint32_t)f->len - 4u, &next);
    }
    tf_put_u32(p, next);
    *len = 4;
    return st;
}

static tf_status_t handle_telemetry(const tf_frame_t *f, uint8_t *p, size_t *len)
{
    uint8_t flags = f->len > 0 ? f->payload[0] : 0;
    uint8_t groups = f->len > 1 ? f->payload[1] : 0;
    uint32_t now = (uint32_t)tf_app.env.ticks(); /* telemetry periods: 32-bit differences */
    if (f->len > 2) return TF_E_BAD_LENGTH;
    *len = tf_tm_encode(&tf_app.tm, now, tf_app.env.tick_hz, p, TF_FRAME_MAX_PAYLOAD - 1u);
    if (*len == 0) return TF_E_TOO_LARGE;
    if ((flags & 0x01) || groups != 0) {
        tf_tm_next_period(&tf_app.tm, groups, now);
        if ((flags & 0x01) == 0) *len = 0; /* only a reconfiguration: nothing read */
    }
    return TF_OK;
}

static void send_reply(uint8_t type, uint16_t req_id, tf_status_t st, size_t len)
{
    tf_app.reply[0] = (uint8_t)st;
    size_t n = tf_frame_encode((uint8_t)(type | TF_MSG_REPLY), req_id, tf_app.reply, len + 1u, tf_app.scratch,
                               tf_app.wire, sizeof tf_app.wire);
    if (n > 0) tf_app.env.uart_write(tf_app.wire, n);
}

static void handle_frame(const tf_frame_t *f)
{
    uint8_t *p = tf_app.reply + 1;
    size_t len = 0;
    tf_status_t st = TF_OK;
    if (f->type & TF_MSG_REPLY) return; /* never answer a reply */
    switch (f->type) {
    case TF_MSG_INFO:
        len = f->len == 0 ? handle_info(p) : 0;
        st = f->len == 0 ? TF_OK : TF_E_BAD_LENGTH;
        break;
    case TF_MSG_INFER: st = handle_infer(f, p, &len); break;
    case TF_MSG_OTA_BEGIN: st = handle_ota_begin(f, p, &len); break;
    case TF_MSG_OTA_CHUNK: st = handle_ota_chunk(f, p, &len); break;
    case TF_MSG_OTA_COMMIT: st = f->len == 0 ? tf_ota_commit(&tf_app.ota) : TF_E_BAD_LENGTH; break;
    case TF_MSG_CONFIRM: st = f->len == 0 ? tf_ota_confirm(&tf_app.ota) : TF_E_BAD_LENGTH; break;
    case TF_MSG_TELEMETRY: st = handle_telemetry(f, p, &len); break;
    case TF_MSG_RESET:
        send_reply(f->type, f->req_id, TF_OK, 0);
        tf_app.env.reset();
        return;
    default: st = TF_E_UNKNOWN_TYPE; break;
    }
    send_reply(f->type, f->req_id, st, len);
}

void tf_app_poll(void)
{
    uint8_t buf[64];
    size_t n;
    while ((n = tf_app.env.uart_read(buf, sizeof buf)) > 0) {
        for (size_t i = 0; i < n; i++) {
            switch (tf_rx_push(&tf_app.rx, buf[i])) {
            case TF_RX_FRAME: handle_frame(&tf_app.rx.frame); break;
            case TF_RX_TEXT: tf_app_text_command(tf_app.rx.text); break;
            case TF_RX_BAD_FRAME: tf_tm_frame_error(&tf_app.tm); break;
            case TF_RX_NONE: break;
            }
        }
    }
}
