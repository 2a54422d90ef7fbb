"""The model compiler: train → int8 quantize → convert → verify → signed package.

Modules (one concept each):

    spec          the SPEC.toml format (dataclasses, validation)
    datasets      built-in digits, user .npz/.csv, the deterministic split, the dataset digest
    architectures dense / cnn / ds_cnn templates and user .keras models
    train         deterministic training into a run folder
    quantize      full-integer int8 post-training quantization (representative data)
    flatbuffer    what a .tflite holds: ops, tensors, quantization (no interpreter)
    carray        the model as an aligned C array (model.c / model.h)
    pipeline      the stages over a run folder (what the commands and build share)
    onnx_export   ONNX float (tf2onnx) and ONNX int8 QDQ (onnxruntime.quantization)
    runtimes      TFLM (oracle), LiteRT BUILTIN_REF and onnxruntime runners; arena bisection
    arena_probe   the child process that probes TFLM arenas (TFLM can crash on too-small ones)
    verify        the verification report and the board check
    baseline      golden vectors and the drift baseline
    packaging     the manifest and the signed package
    report        report.json, the readable table, the confusion-matrix plot
    build         the whole pipeline with progress
    cli           the `tinyfleet model ...` commands
    testing       helpers behind the shared `digits_package` test fixture
"""
