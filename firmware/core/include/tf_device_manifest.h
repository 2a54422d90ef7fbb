/* Generated from tinyfleet/device_manifest.py (LAYOUT) by `python -m tinyfleet.reference`.
 * Do not edit: tests/contract/test_reference.py fails when this file and the Python layout differ.
 * device.bin, little-endian: the signed binary manifest of a model package. */
#ifndef TF_DEVICE_MANIFEST_H
#define TF_DEVICE_MANIFEST_H

#define TF_DM_SIZE 160u
#define TF_DM_FORMAT_VERSION 1u
#define TF_DM_MAGIC "TFDM"

#define TF_DM_MAGIC_OFF 0u /* bytes: "TFDM" */
#define TF_DM_MAGIC_LEN 4u
#define TF_DM_FORMAT_VERSION_OFF 4u /* u16: format of this layout = 1 */
#define TF_DM_FORMAT_VERSION_LEN 2u
#define TF_DM_HEADER_SIZE_OFF 6u /* u16: size of device.bin = 160 */
#define TF_DM_HEADER_SIZE_LEN 2u
#define TF_DM_SECURITY_COUNTER_OFF 8u /* u32: anti-rollback counter (manifest `security_counter`) */
#define TF_DM_SECURITY_COUNTER_LEN 4u
#define TF_DM_VERSION_MAJOR_OFF 12u /* u16: model version MAJOR */
#define TF_DM_VERSION_MAJOR_LEN 2u
#define TF_DM_VERSION_MINOR_OFF 14u /* u16: model version MINOR */
#define TF_DM_VERSION_MINOR_LEN 2u
#define TF_DM_VERSION_PATCH_OFF 16u /* u16: model version PATCH */
#define TF_DM_VERSION_PATCH_LEN 2u
#define TF_DM_FLAGS_OFF 18u /* u16: 0 (reserved for future use) */
#define TF_DM_FLAGS_LEN 2u
#define TF_DM_NAME_OFF 20u /* bytes: model name, 1..31 bytes UTF-8, NUL-padded */
#define TF_DM_NAME_LEN 32u
#define TF_DM_MODEL_SIZE_OFF 52u /* u32: bytes of model.tflite */
#define TF_DM_MODEL_SIZE_LEN 4u
#define TF_DM_MODEL_SHA256_OFF 56u /* bytes: SHA-256 of model.tflite */
#define TF_DM_MODEL_SHA256_LEN 32u
#define TF_DM_GOLDEN_SIZE_OFF 88u /* u32: bytes of golden.bin */
#define TF_DM_GOLDEN_SIZE_LEN 4u
#define TF_DM_GOLDEN_SHA256_OFF 92u /* bytes: SHA-256 of golden.bin */
#define TF_DM_GOLDEN_SHA256_LEN 32u
#define TF_DM_ARENA_BYTES_OFF 124u /* u32: tensor arena the model needs (manifest `requirements.arena_bytes`) */
#define TF_DM_ARENA_BYTES_LEN 4u
#define TF_DM_INPUT_BYTES_OFF 128u /* u32: bytes of one input (int8) */
#define TF_DM_INPUT_BYTES_LEN 4u
#define TF_DM_OUTPUT_BYTES_OFF 132u /* u32: bytes of one output (int8) */
#define TF_DM_OUTPUT_BYTES_LEN 4u
#define TF_DM_GOLDEN_COUNT_OFF 136u /* u32: golden vectors in golden.bin (1..65535) */
#define TF_DM_GOLDEN_COUNT_LEN 4u
#define TF_DM_RESERVED_OFF 140u /* bytes: zero */
#define TF_DM_RESERVED_LEN 20u

/* golden.bin header (tinyfleet/golden.py), then count x (input, output) int8 records */
#define TF_GV_HEADER_SIZE 16u
#define TF_GV_MAGIC_OFF 0u /* bytes: "TFGV" */
#define TF_GV_MAGIC_LEN 4u
#define TF_GV_VERSION_OFF 4u /* u16: format = 1 */
#define TF_GV_VERSION_LEN 2u
#define TF_GV_COUNT_OFF 6u /* u16: records (1..65535) */
#define TF_GV_COUNT_LEN 2u
#define TF_GV_INPUT_BYTES_OFF 8u /* u32: bytes of one input (int8) */
#define TF_GV_INPUT_BYTES_LEN 4u
#define TF_GV_OUTPUT_BYTES_OFF 12u /* u32: bytes of one expected output (int8, TFLM's) */
#define TF_GV_OUTPUT_BYTES_LEN 4u

#endif
