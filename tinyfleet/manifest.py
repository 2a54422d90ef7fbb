"""The package manifest (`manifest.json` of a `.tfpkg`) as one frozen, typed model.

Every writer (compiler, test kits, HIL) builds a :class:`ManifestBody`; ``tinyfleet.package`` adds the
fields only it knows (``schema``, ``key_id``, ``artifacts``) and signs the canonical JSON of the whole
:class:`Manifest`. Every reader gets the manifest through ``read_package``, which checks it against
this model: a field missing or of the wrong type or out of its limits is refused with one error that
names it (``manifest: requirements.arena_bytes: Expected `int`, got `str```).

Adding a field: give it a default of ``None`` (absent from the JSON when unset), so packages written
before it still read, and readers that predate it ignore it (unknown fields are ignored).
The reference in ``docs/reference/`` is generated from these types.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, TypeVar

import msgspec

from tinyfleet.errors import PackageError
from tinyfleet.wire import Sha256Hex, Version, pattern

__all__ = [
    "N_BINS",
    "SCHEMA",
    "U32",
    "ArtifactEntry",
    "Bins",
    "BoardName",
    "Calibration",
    "ConfidenceHistogram",
    "Count",
    "DriftBaseline",
    "Golden",
    "InputHistogram",
    "Manifest",
    "ManifestBody",
    "MemberName",
    "OpName",
    "OutputClasses",
    "PackageName",
    "Requirements",
    "RuntimeName",
    "TensorSpec",
    "Text",
    "Tracking",
    "parse_manifest",
]

SCHEMA: Final = "tinyfleet.model-package/1"
N_BINS: Final = 16  # tinyfleet.drift: int8 value q falls in bin (q + 128) >> 4

PackageName = Annotated[
    str,
    msgspec.Meta(
        pattern=pattern("[A-Za-z0-9][A-Za-z0-9._-]{0,30}"),
        description="1–31 characters; fits the 32-byte name field of device.bin",
    ),
]
BoardName = Annotated[str, msgspec.Meta(pattern=pattern("[A-Za-z0-9][A-Za-z0-9._-]{0,63}"))]
RuntimeName = BoardName
MemberName = Annotated[str, msgspec.Meta(pattern=pattern("[A-Za-z0-9][A-Za-z0-9._-]{0,63}"))]
OpName = Annotated[str, msgspec.Meta(pattern=pattern("[A-Z][A-Z0-9_]{0,63}"), description="builtin op name")]
U32 = Annotated[int, msgspec.Meta(ge=0, le=0xFFFFFFFF)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
Text = Annotated[str, msgspec.Meta(max_length=200)]


class _Part(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    pass


class TensorSpec(_Part, frozen=True, kw_only=True, omit_defaults=True):
    """A model input or output: int8 with its quantization (real = scale × (q − zero_point))."""

    shape: Annotated[
        list[Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]], msgspec.Meta(min_length=1, max_length=8)
    ]
    dtype: Literal["int8"]
    scale: Annotated[float, msgspec.Meta(gt=0)]
    zero_point: Annotated[int, msgspec.Meta(ge=-128, le=127)]


class Requirements(_Part, frozen=True, kw_only=True, omit_defaults=True):
    """What a device needs to run the model."""

    ops: Annotated[list[OpName], msgspec.Meta(max_length=256, description="builtin op names the model uses")]
    arena_bytes: Annotated[U32, msgspec.Meta(description="TFLM tensor arena, measured")]
    flash_bytes: Annotated[U32, msgspec.Meta(description="model.tflite + golden.bin")]


class Golden(_Part, frozen=True, kw_only=True, omit_defaults=True):
    """The golden vectors of ``golden.bin`` and how closely each runtime must reproduce them."""

    count: Annotated[int, msgspec.Meta(ge=1, le=0xFFFF, description="vectors in golden.bin")]
    tolerance: Annotated[
        dict[RuntimeName, Annotated[int, msgspec.Meta(ge=0, le=255)]],
        msgspec.Meta(
            min_length=1, max_length=32, description="runtime name → largest allowed |difference| in int8 LSB"
        ),
    ]


Bins = Annotated[list[Count], msgspec.Meta(min_length=N_BINS, max_length=N_BINS)]


class InputHistogram(_Part, frozen=True, kw_only=True, omit_defaults=True):
    bins: Literal[16]
    groups: Annotated[int, msgspec.Meta(ge=1, le=4096, description="element i is in group i % groups")]
    hist: Annotated[list[Bins], msgspec.Meta(min_length=1, max_length=4096, description="groups × 16 counts")]

    def __post_init__(self) -> None:
        if len(self.hist) != self.groups:
            raise ValueError(f"hist has {len(self.hist)} groups, groups says {self.groups}")


class OutputClasses(_Part, frozen=True, kw_only=True, omit_defaults=True):
    counts: Annotated[
        list[Count], msgspec.Meta(min_length=1, max_length=65536, description="arg-max count per class")
    ]


class ConfidenceHistogram(_Part, frozen=True, kw_only=True, omit_defaults=True):
    bins: Literal[16]
    hist: Bins


class Calibration(_Part, frozen=True, kw_only=True, omit_defaults=True):
    """Top-output confidence calibration on labelled validation data: per confidence bin, the
    samples and the correct arg-max predictions (the server's label-free accuracy estimate)."""

    bins: Literal[16]
    n: Bins
    correct: Bins

    def __post_init__(self) -> None:
        if any(c > k for c, k in zip(self.correct, self.n, strict=True)):
            raise ValueError("calibration: correct exceeds n in a bin")


class DriftBaseline(_Part, frozen=True, kw_only=True, omit_defaults=True):
    """What the model's inputs and outputs looked like on the data it was validated on."""

    n: Annotated[int, msgspec.Meta(ge=1, le=2**53, description="samples the baseline was computed on")]
    input: InputHistogram
    confidence: ConfidenceHistogram
    output_classes: OutputClasses | None = None
    calibration: Calibration | None = None
    source: (
        Annotated[
            Text, msgspec.Meta(description="`validation`, a data file's name, or `random` (placeholder)")
        ]
        | None
    ) = None


class Tracking(_Part, frozen=True, kw_only=True, omit_defaults=True):
    """The experiment-tracking run the model came from."""

    mlflow_run_id: Annotated[str, msgspec.Meta(max_length=64)]
    mlflow_experiment_id: Annotated[str, msgspec.Meta(max_length=64)]


class ArtifactEntry(_Part, frozen=True, kw_only=True, omit_defaults=True):
    sha256: Sha256Hex
    size: Annotated[int, msgspec.Meta(ge=0, le=2**53)]


class ManifestBody(_Part, frozen=True, kw_only=True, omit_defaults=True):
    """What a package writer states; ``tinyfleet.package.build_package`` completes it into a Manifest."""

    name: PackageName
    version: Annotated[Version, msgspec.Meta(description="MAJOR.MINOR.PATCH, each ≤ 65535")]
    security_counter: Annotated[
        int,
        msgspec.Meta(
            ge=1, le=0xFFFFFFFF, description="anti-rollback counter; never lower than the model's last"
        ),
    ]
    boards: Annotated[
        list[BoardName],
        msgspec.Meta(min_length=1, max_length=64, description="boards the model was checked against"),
    ]
    input: TensorSpec
    output: TensorSpec
    requirements: Requirements
    golden: Golden
    labels: (
        Annotated[list[Annotated[str, msgspec.Meta(max_length=128)]], msgspec.Meta(max_length=65536)] | None
    ) = None
    drift_baseline: DriftBaseline | None = None
    metrics: (
        Annotated[dict[str, Any], msgspec.Meta(description="accuracy and agreement (informational)")] | None
    ) = None
    training: (
        Annotated[
            dict[str, Any],
            msgspec.Meta(description="seeds, dataset digest, library versions (informational)"),
        ]
        | None
    ) = None
    tracking: Tracking | None = None
    lineage: (
        Annotated[
            list[dict[str, Any]],
            msgspec.Meta(max_length=1024, description="data added since the spec's dataset"),
        ]
        | None
    ) = None

    def __post_init__(self) -> None:
        if any(int(p) > 0xFFFF for p in self.version.split(".")):
            raise ValueError("version: each part must be at most 65535")
        classes = 1
        for d in self.output.shape:  # batch 1
            classes *= d
        if self.labels is not None and len(self.labels) != classes:
            raise ValueError(f"labels: {len(self.labels)} labels for {classes} output classes")

    @property
    def semver(self) -> tuple[int, int, int]:
        major, minor, patch = (int(p) for p in self.version.split("."))
        return major, minor, patch


class Manifest(ManifestBody, frozen=True, kw_only=True, omit_defaults=True):
    """A complete, signed manifest as read from a package."""

    schema: Literal["tinyfleet.model-package/1"]
    key_id: Annotated[
        str, msgspec.Meta(pattern=pattern("[0-9a-f]{16}"), description="sha256(public key)[:16] in hex")
    ]
    artifacts: Annotated[
        dict[MemberName, ArtifactEntry],
        msgspec.Meta(description="every member except manifest.json and manifest.sig"),
    ]


_AT = " - at `$"


def _error(exc: msgspec.ValidationError) -> PackageError:
    text = str(exc)
    reason, _, where = text.partition(_AT)
    path = where.rstrip("`").lstrip(".")
    missing = reason.startswith("Object missing required field `")
    if missing:
        leaf = reason.split("`")[1]
        path = f"{path}.{leaf}" if path else leaf
        reason = "missing"
    return PackageError(f"manifest: {path}: {reason}" if path else f"manifest: {reason}")


M = TypeVar("M", bound=msgspec.Struct)


def parse_manifest(data: Any, cls: type[M]) -> M:
    """Check ``data`` (parsed JSON or builtins) against the model; one PackageError naming the field."""
    try:
        return msgspec.convert(data, cls, strict=True)
    except msgspec.ValidationError as exc:
        raise _error(exc) from None
    except RecursionError:
        raise PackageError("manifest: nested too deeply") from None
