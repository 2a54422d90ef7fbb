/*
 * tfrt.h — tinyfleet micro runtime: runs a standard int8 .tflite flatbuffer in place.
 *
 * Memory: no heap. The caller owns three things and keeps them alive while the model is used:
 *   - the model bytes (read in place, e.g. straight from a memory-mapped flash slot: weights and
 *     quantization vectors are never copied),
 *   - a tfrt_model (fixed size, sizeof(tfrt_model); static or on the caller's stack),
 *   - the tensor arena (activations plus per-channel requantization data), any alignment.
 *
 * Trust: the model bytes are NOT trusted. tfrt_load() bounds-checks every flatbuffer offset,
 * vector length and table field against model_size and validates every tensor, shape and
 * operator before anything runs; a corrupt or hostile model gets an error code, never a crash,
 * a hang or an out-of-bounds read. API arguments (pointers, sizes) are checked for NULL and
 * for the obvious, not more (firmware/docs/error_handling.md).
 *
 * Typical use:
 *     static tfrt_model m;
 *     static uint8_t arena[64 * 1024];
 *     tfrt_status s = tfrt_load(&m, slot, slot_size, arena, sizeof arena);
 *     if (s == TFRT_E_ARENA_TOO_SMALL) report(tfrt_arena_required(&m));
 *     size_t n; int8_t *in = tfrt_input(&m, &n);  memcpy(in, x, n);
 *     s = tfrt_invoke(&m);
 *     int type; const void *out = tfrt_output(&m, &n, &type);
 *
 * Limits (a model beyond them is refused with TFRT_E_LIMIT): TFRT_MAX_TENSORS tensors,
 * TFRT_MAX_OPS operators, TFRT_MAX_DIMS dimensions, TFRT_MAX_OP_INPUTS inputs per operator,
 * one subgraph (the first), exactly one int8 model input, output 0 is the one exposed.
 */
#ifndef TFRT_H
#define TFRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A build may lower the table limits to save RAM (sizeof(tfrt_model) is about 72 bytes per
 * tensor plus 92 per operator on a 32-bit core); the MLPerf Tiny models need 89 tensors, 31 ops.
 * Tensor indices are stored in a byte, so TFRT_MAX_TENSORS is at most 255. */
#ifndef TFRT_MAX_TENSORS
#define TFRT_MAX_TENSORS 128
#endif
#ifndef TFRT_MAX_OPS
#define TFRT_MAX_OPS 96
#endif
#define TFRT_MAX_DIMS 6
#define TFRT_MAX_OP_INPUTS 10

typedef enum {
    TFRT_OK = 0,
    TFRT_E_FORMAT,           /* not a valid .tflite flatbuffer (bounds, offsets, identifiers) */
    TFRT_E_UNSUPPORTED_OP,   /* an operator (or an option of one) this runtime does not run */
    TFRT_E_UNSUPPORTED_TYPE, /* a tensor type / quantization this runtime does not handle */
    TFRT_E_ARENA_TOO_SMALL,  /* tfrt_arena_required() tells how many bytes are needed */
    TFRT_E_BAD_ARG,          /* NULL pointer, or a call on a model that is not loaded */
    TFRT_E_LIMIT,            /* more tensors/ops/dims/op inputs than the fixed limits above */
    TFRT_E_SHAPE,            /* tensor shapes inconsistent with the operator */
    TFRT_E_NOT_LOADED,       /* tfrt_invoke() after a failed or missing tfrt_load() */
} tfrt_status;

/* Tensor element types reported by tfrt_output()/tfrt_io_info() (values of the TFLite schema). */
enum { TFRT_FLOAT32 = 0, TFRT_INT32 = 2, TFRT_INT8 = 9 };

/* ---- internal state: the fields below are private; the struct is public for sizeof ---- */
typedef struct {
    int32_t dims[TFRT_MAX_DIMS];
    uint8_t ndim;
    uint8_t type;          /* TFRT_INT8, TFRT_INT32, TFRT_FLOAT32 */
    uint8_t is_const;      /* data lives in the model */
    uint8_t alias_of;      /* planner: shares the buffer of this tensor (0xFF: none) */
    int32_t zero_point;
    float scale;
    uint32_t nscales;      /* 1 for per-tensor quantization, #channels for per-channel */
    const uint8_t *scales; /* float32 little-endian vector inside the model (per-channel) */
    uint32_t bytes;
    const uint8_t *cdata;  /* constant data inside the model */
    uint8_t *data;         /* activation data inside the arena (NULL for constants) */
    uint32_t arena_offset;
    int16_t first_op;      /* planner: lifetime */
    int16_t last_op;
    uint8_t qdim;          /* quantized dimension of per-channel scales */
} tfrt_tensor;

typedef struct {
    uint8_t kind;       /* internal operator id */
    uint8_t ninputs;
    uint8_t act;        /* fused activation (schema value) */
    uint8_t padding;    /* 0 SAME, 1 VALID */
    uint8_t in[TFRT_MAX_OP_INPUTS]; /* tensor indices, 0xFF = optional input absent */
    uint8_t out;
    uint8_t flags;
    int16_t stride_w, stride_h, dil_w, dil_h;
    int16_t pad_w, pad_h, filter_w, filter_h;
    int16_t depth_mult;
    int16_t axis;
    int32_t act_min, act_max;
    int32_t mult[3];
    int32_t shift[3];
    int32_t misc[4];    /* op-specific: masks, radius, counts */
    uint32_t chan_offset; /* arena offset of per-channel multipliers (int32) then shifts (int8) */
} tfrt_op;

typedef struct tfrt_model {
    const uint8_t *model;
    size_t model_size;
    uint8_t *arena;
    size_t arena_size;
    uint8_t *base;           /* arena rounded up to 4-byte alignment */
    size_t arena_required;   /* alignment slack + activations + persistent + scratch */
    size_t persist_base;     /* offset of the persistent area from base (= activation bytes) */
    size_t arena_persistent; /* per-channel requantization data above the activations */
    size_t scratch_bytes;    /* kernel scratch (largest input patch) above the persistent data */
    uint32_t macs;
    uint16_t ntensors;
    uint16_t nops;
    uint8_t input;
    uint8_t output;
    uint8_t loaded;
    uint8_t failed_kind;     /* 0: builtin code, 1: custom op */
    int32_t failed_code;     /* builtin code of the operator that failed, -1 none */
    const uint8_t *failed_custom; /* custom op name inside the model, with its length */
    uint32_t failed_custom_len;
    tfrt_tensor tensors[TFRT_MAX_TENSORS];
    tfrt_op ops[TFRT_MAX_OPS];
} tfrt_model;

/* Description of the model input (is_output 0) or output 0 (is_output 1). */
typedef struct {
    int type;              /* TFRT_INT8 / TFRT_FLOAT32 / TFRT_INT32 */
    int ndim;
    int32_t dims[TFRT_MAX_DIMS];
    float scale;
    int32_t zero_point;
    size_t bytes;
} tfrt_io;

/* ---- API ---- */

/* Parse and validate `model`, plan the arena, precompute requantization data into `arena`.
 * The model bytes, `m` and `arena` stay owned by the caller and must outlive every later call.
 * On TFRT_E_ARENA_TOO_SMALL the model is valid and tfrt_arena_required() tells the size.
 * On any failure the model is not runnable (tfrt_invoke returns TFRT_E_NOT_LOADED). */
tfrt_status tfrt_load(tfrt_model *m, const uint8_t *model, size_t model_size, uint8_t *arena,
                      size_t arena_size);

/* Bytes of arena the model needs (valid after TFRT_OK or TFRT_E_ARENA_TOO_SMALL, else 0). */
size_t tfrt_arena_required(const tfrt_model *m);

/* Run one inference on the current input. */
tfrt_status tfrt_invoke(tfrt_model *m);

/* The int8 input buffer (inside the arena) and its size in bytes; NULL if not loaded. */
int8_t *tfrt_input(tfrt_model *m, size_t *bytes);

/* Output 0 (inside the arena), its size in bytes and element type (TFRT_INT8 or TFRT_FLOAT32). */
const void *tfrt_output(const tfrt_model *m, size_t *bytes, int *type);

/* Shape and quantization of the input (is_output = 0) or output 0 (is_output = 1). */
tfrt_status tfrt_io_info(const tfrt_model *m, int is_output, tfrt_io *info);

/* Multiply-accumulates per inference (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED). */
uint32_t tfrt_macs(const tfrt_model *m);

/* After TFRT_E_UNSUPPORTED_OP: the operator's name (e.g. "TANH", "BUILTIN_123", a custom
 * name) into `name` (NUL-terminated, truncated to n); returns the full length, 0 if none. */
size_t tfrt_unsupported_op(const tfrt_model *m, char *name, size_t n);

/* Comma-separated names of the operators this runtime runs (the runtime catalogue's list). */
const char *tfrt_supported_ops(void);

/* sizeof(tfrt_model), for language bindings that allocate it themselves. */
size_t tfrt_sizeof_model(void);

/* A short English description of a status. */
const char *tfrt_status_str(tfrt_status s);

#ifdef __cplusplus
}
#endif

#endif /* TFRT_H */
