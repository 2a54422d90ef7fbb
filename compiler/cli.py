"""The `tinyfleet model train|quantize|convert|verify|package|build` commands (thin: parse, call, print)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from tinyfleet.errors import BudgetError, PackageError, UsageError

__all__ = ["build", "convert", "package", "quantize", "train", "verify"]

_err = Console(stderr=True)


def _replaceable(out: Path) -> Path:
    """``out`` may be made or replaced: absent, an empty folder, or an earlier run/build folder.

    Anything else (a file, a folder of other things) is refused, so a mistyped --out never deletes work.
    """
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise UsageError(f"--out {out} exists and is not a folder; choose another path")
    if out.is_dir() and any(out.iterdir()) and not (out / "train.json").is_file():
        raise UsageError(
            f"--out {out} is a folder that tinyfleet did not make; choose another path "
            "(an earlier run or build folder is replaced)"
        )
    return out


def _run_dir(path: Path) -> Path:
    if not path.is_dir():
        raise UsageError(f"{path} is not a run folder (make one with `tinyfleet model train SPEC --out DIR`)")
    return path


def mlflow_option(fn: Any) -> Any:
    """``--mlflow [URI]``: log to MLflow (default the local store ./mlruns; docs/mlops.md)."""
    return click.option(
        "--mlflow",
        "mlflow_uri",
        is_flag=False,
        flag_value="",
        default=None,
        metavar="[URI]",
        help="Log the run to MLflow (default store ./mlruns; or a tracking URI). Overrides [tracking].",
    )(fn)


def _tracker(spec: Any, mlflow_uri: str | None) -> Any:
    """A Tracker when --mlflow or the spec's [tracking] asks for one, else None (MLflow not imported)."""
    from tinyfleet.compiler.tracking import tracking_for

    tracking = tracking_for(spec, mlflow_uri)
    if tracking is None:
        return None
    from tinyfleet.compiler.tracking import Tracker

    return Tracker(tracking, spec.name)


@click.command()
@click.argument("spec_path", metavar="SPEC.toml", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), help="Run folder to write (default: runs/NAME).")
@mlflow_option
@click.option(
    "--json", "as_json", is_flag=True, help="Print the result as one JSON object (progress stays on stderr)."
)
def train(spec_path: Path, out: Path | None, mlflow_uri: str | None, as_json: bool = False) -> None:
    """Train the float model a SPEC describes, into a run folder."""
    from tinyfleet.compiler.spec import load_spec
    from tinyfleet.compiler.train import train as do_train
    from tinyfleet.compiler.train import write_run
    from tinyfleet.fsutil import atomic_dir

    spec = load_spec(spec_path)
    out = _replaceable(out or Path("runs") / spec.name)
    tracker = _tracker(spec, mlflow_uri)
    if tracker is not None:
        _train_tracked(spec, out, tracker)
        return
    with _err.status(
        f"training {spec.name} ({spec.train.architecture}, {spec.train.epochs} epochs)"
    ) as status:
        run = do_train(
            spec,
            on_epoch=lambda n, total, acc: status.update(
                f"training {spec.name}: epoch {n}/{total} (accuracy {acc:.3f})"
            ),
        )
        with atomic_dir(out) as tmp:
            write_run(run, tmp)
    if as_json:
        click.echo(json.dumps({"run_dir": str(out), "record": run.record}, default=str))
        return
    click.echo(
        f"trained {spec.name}: float accuracy {run.record['accuracy_float']:.4f} on "
        f"{run.record['dataset']['n_val']} validation samples → {out}"
    )


def _train_tracked(spec: Any, out: Path, tracker: Any) -> None:
    from tinyfleet.compiler.tracking import record_params, spec_params
    from tinyfleet.compiler.train import train as do_train
    from tinyfleet.compiler.train import write_run
    from tinyfleet.fsutil import atomic_dir, atomic_write_text

    ref = tracker.start(f"{spec.name}-{spec.version}-train", {"tinyfleet.model": spec.name})
    ok = False
    try:
        tracker.log_params(spec_params(spec))
        with _err.status(f"training {spec.name} (MLflow run {ref.run_id})"):
            run = do_train(spec)
        tracker.log_params(record_params(run.record))
        tracker.log_metrics({"accuracy_float": float(run.record["accuracy_float"])})
        with atomic_dir(out) as tmp:
            write_run(run, tmp)
            info = {**ref.as_dict(), "experiment": tracker.experiment}
            atomic_write_text(tmp / "mlflow.json", json.dumps(info, indent=2) + "\n")
            for fname in ("train.json", "spec.toml"):
                if (tmp / fname).is_file():
                    tracker.log_file(tmp / fname, "report")
        ok = True
    finally:
        tracker.end(ok)
    click.echo(
        f"trained {spec.name}: float accuracy {run.record['accuracy_float']:.4f} on "
        f"{run.record['dataset']['n_val']} validation samples → {out} (MLflow run {ref.run_id})"
    )


@click.command()
@click.argument("run_dir", metavar="RUN", type=click.Path(path_type=Path))
@click.option(
    "--samples", type=click.IntRange(1, 100000), help="Representative samples (default: the spec's)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
def quantize(run_dir: Path, samples: int | None, as_json: bool) -> None:
    """Full-integer int8 quantization of a trained RUN folder (writes RUN/model.tflite)."""
    from tinyfleet.compiler.pipeline import quantize_stage, run_spec
    from tinyfleet.compiler.train import load_run

    run = load_run(_run_dir(run_dir))
    spec = run_spec(run)
    n = samples or (spec.quantize.representative_samples if spec else 200)
    seed = int(run.record.get("seeds", {}).get("numpy", 0))
    with _err.status("quantizing to int8"):
        _, rec = quantize_stage(run, run_dir, n, seed)
    if as_json:
        click.echo(json.dumps(rec))
        return
    click.echo(
        f"int8 model {run_dir / 'model.tflite'} ({rec['model_bytes']} bytes); accuracy float "
        f"{rec['accuracy_float']:.4f} → int8 {rec['accuracy_int8']:.4f} (TFLM, "
        f"{rec['representative_samples']} representative samples)"
    )


@click.command()
@click.argument("source", metavar="RUN|MODEL.tflite", type=click.Path(path_type=Path))
@click.option("--name", help="C identifier prefix (default: the model name).")
@click.option(
    "--out", type=click.Path(path_type=Path), help="Folder for model.c/model.h when SOURCE is a .tflite."
)
@click.option("--json", "as_json", is_flag=True, help="Print the files written as one JSON object.")
def convert(source: Path, name: str | None, out: Path | None, as_json: bool = False) -> None:
    """Write model.c/model.h (aligned C array), and for a RUN folder also ONNX float and int8 QDQ."""
    from tinyfleet.compiler.flatbuffer import read_tflite
    from tinyfleet.compiler.pipeline import c_files, convert_stage, load_model_file, run_spec
    from tinyfleet.compiler.train import load_run
    from tinyfleet.fsutil import atomic_write_bytes

    if source.is_dir():
        run = load_run(source)
        blob = load_model_file(source / "model.tflite")
        read_tflite(blob, str(source / "model.tflite")).require_int8(str(source / "model.tflite"))
        spec = run_spec(run)
        n = spec.quantize.representative_samples if spec else 200
        seed = int(run.record.get("seeds", {}).get("numpy", 0))
        with _err.status("converting (C array, ONNX float, ONNX int8 QDQ)"):
            files = convert_stage(run, blob, source, name or str(run.record.get("name", "model")), n, seed)
        dest = source
    else:
        blob = load_model_file(source)
        read_tflite(blob, str(source)).require_int8(str(source))
        files = c_files(name or _safe_name(source.stem), blob)
        dest = out or source.parent
        for fname, data in files.items():
            atomic_write_bytes(dest / fname, data)
    if as_json:
        click.echo(json.dumps({"files": {str(dest / f): len(d) for f, d in files.items()}}))
        return
    click.echo("wrote " + ", ".join(f"{dest / f} ({len(d)} B)" for f, d in files.items()))


def _safe_name(stem: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]", "-", stem).strip("-._")[:31] or "model"
    return name if name[0].isalnum() else f"m{name[:30]}"


def _model_and_data(source: Path, data: Path | None) -> tuple[bytes, Any, dict[str, bytes], Any]:
    """(tflite bytes, VerifyData or None, ONNX models, Run or None) for a .tflite or a run folder."""
    from tinyfleet.compiler.flatbuffer import read_tflite
    from tinyfleet.compiler.pipeline import ONNX_ARTIFACTS, load_model_file, load_npz_data, validation_data
    from tinyfleet.compiler.train import load_run

    if source.is_dir():
        run = load_run(source, with_model=False)
        blob = load_model_file(source / "model.tflite")
        read_tflite(blob, str(source / "model.tflite")).require_int8(str(source / "model.tflite"))
        onnx = {n: (source / n).read_bytes() for n in ONNX_ARTIFACTS if (source / n).is_file()}
        vdata = load_npz_data(data, blob) if data else validation_data(run, blob)
        return blob, vdata, onnx, run
    if source.suffix == ".onnx":
        raise UsageError(
            f"{source}: give the int8 .tflite or the run folder; ONNX models are verified from "
            "their run folder, against the TFLite model they were made from"
        )
    blob = load_model_file(source)
    read_tflite(blob, str(source)).require_int8(str(source))
    return blob, (load_npz_data(data, blob) if data else None), {}, None


@click.command()
@click.argument("model", metavar="MODEL", type=click.Path(path_type=Path))
@click.option("--board", required=True, help="Board from the catalogue (tinyfleet/boards.toml).")
@click.option(
    "--data", type=click.Path(path_type=Path), help=".npz with x (int8 or float) and optional y labels."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def verify(model: Path, board: str, data: Path | None, as_json: bool) -> None:
    """Run MODEL (.tflite or run folder) in TFLM, LiteRT-REF (and onnxruntime) and check a board budget."""
    from tinyfleet.boards import get_board
    from tinyfleet.compiler.baseline import golden_bytes, golden_count
    from tinyfleet.compiler.spec import PackageSpec
    from tinyfleet.compiler.verify import board_check, evaluate

    b = get_board(board)
    blob, vdata, onnx, _ = _model_and_data(model, data)
    ev = evaluate(blob, vdata, onnx, str(model))
    record = ev.info.input.size + ev.info.output.size
    n_golden = golden_count(PackageSpec.golden_count, ev.info.size, record, [b.model_slot_bytes])
    check = board_check(ev, b, golden_bytes(n_golden, record))
    result = {"model": str(model), **ev.report, **check, "golden_bytes": golden_bytes(n_golden, record)}
    if as_json:
        click.echo(json.dumps(result))
    else:
        _print_verify(result)
    if not check["fits"]:
        raise BudgetError(f"{model} does not fit {b.name}: {'; '.join(check['reasons'])}")


def _print_verify(r: dict[str, Any]) -> None:
    from rich.table import Table

    con = Console()
    con.print(
        f"[bold]{r['model']}[/bold] on {r['board']}: {'[green]fits[/green]' if r['fits'] else '[red]does not fit[/red]'}"
    )
    con.print(
        f"ops: {', '.join(r['ops'])} ({r['op_count']} operators); "
        f"unsupported: {', '.join(r['unsupported_ops']) or 'none'}"
    )
    con.print(
        f"model {r['model_bytes']} B + golden {r['golden_bytes']} B = {r['flash_bytes']} B (slot "
        f"{r['model_slot_bytes']} B); TFLM arena {r['tflm_arena_bytes']} B "
        f"(budget {r['arena_budget']} B)"
    )
    t = Table(
        "runtime vs TFLM",
        "bit-exact",
        "max |diff|",
        "mismatches",
        "accuracy",
        title=f"{r['samples']} {r['data']} inputs",
        title_justify="left",
    )
    acc = r["accuracy"] or {}
    t.add_row("tflm", "-", "-", "-", f"{acc['tflm']:.4f}" if "tflm" in acc else "-")
    for rt, a in r["agreement"].items():
        t.add_row(
            rt,
            "yes" if a["bitexact"] else "no",
            str(a["max_abs_diff"]),
            f"{a['mismatches']}/{a['values']}",
            f"{acc[rt]:.4f}" if rt in acc else "-",
        )
    con.print(t)
    if not r["bitexact"]:
        con.print(
            "LiteRT-REF rounds some requantizations once where TFLM rounds twice; TFLM is the reference "
            "(the difference becomes the package's litert tolerance)"
        )
    for reason in r["reasons"]:
        con.print(f"[red]- {reason}[/red]")


@click.command()
@click.argument("source", metavar="RUN|MODEL.tflite", type=click.Path(path_type=Path))
@click.option("--name", help="Model name (default: the spec's, or the file name).")
@click.option("--version", "version", help="Semantic version (default: the spec's, or 1.0.0).")
@click.option(
    "--security-counter",
    type=click.IntRange(1, 0xFFFFFFFF),
    help="Anti-rollback counter (default: the spec's, or 1).",
)
@click.option(
    "--board", "boards", multiple=True, help="Board the model must fit (repeatable; default: the spec's)."
)
@click.option(
    "--key", type=click.Path(path_type=Path), help="Ed25519 private key (default: the keys folder's)."
)
@click.option(
    "--data", type=click.Path(path_type=Path), help=".npz for golden vectors and the drift baseline."
)
@click.option("--golden-count", type=click.IntRange(1, 1000), help="Golden vectors (default 8).")
@click.option(
    "--drift-groups",
    type=click.IntRange(1, 4096),
    help="Feature groups of the input drift histogram (default 1).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Package file, or a folder for NAME-VERSION.tfpkg (default: beside SOURCE).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the package written as one JSON object.")
def package(
    source: Path,
    name: str | None,
    version: str | None,
    security_counter: int | None,
    boards: tuple[str, ...],
    key: Path | None,
    data: Path | None,
    golden_count: int | None,
    drift_groups: int | None,
    out: Path | None,
    as_json: bool = False,
) -> None:
    """Verify SOURCE and pack it with golden vectors and a drift baseline into one signed package."""
    from tinyfleet.boards import get_board
    from tinyfleet.compiler.build import metrics_of, training_of
    from tinyfleet.compiler.packaging import assemble, package_bytes
    from tinyfleet.compiler.pipeline import C_ARTIFACTS, c_files, run_spec
    from tinyfleet.compiler.spec import PackageSpec
    from tinyfleet.compiler.verify import evaluate
    from tinyfleet.device_manifest import parse_semver
    from tinyfleet.fsutil import atomic_write_bytes
    from tinyfleet.signing import load_signing_key

    signing_key = load_signing_key(key)
    blob, vdata, onnx, run = _model_and_data(source, data)
    spec = run_spec(run) if run else None
    pspec = spec.package if spec else PackageSpec(boards=("qemu-an386",))
    name = name or (spec.name if spec else _safe_name(source.stem))
    version = version or (spec.version if spec else "1.0.0")
    try:
        parse_semver(version)
    except PackageError as exc:
        raise UsageError(str(exc)) from None
    counter = security_counter or (spec.security_counter if spec else 1)
    board_list = [get_board(b) for b in (boards or pspec.boards)]
    extra = {}
    if run is not None:
        extra.update({n: (source / n).read_bytes() for n in C_ARTIFACTS if (source / n).is_file()})
        extra.update(onnx)
    else:
        extra.update(c_files(name, blob))
    ev = evaluate(blob, vdata, onnx, str(source))
    manifest, artifacts, checks = assemble(
        name=name,
        version=version,
        security_counter=counter,
        boards=board_list,
        blob=blob,
        ev=ev,
        extra_artifacts=extra,
        labels=run.labels if run else None,
        metrics=metrics_of(run.record if run else None, ev.report),
        training=training_of(run.record) if run else {"source": source.name},
        golden_count_wanted=golden_count or pspec.golden_count,
        drift_groups=drift_groups or pspec.drift_groups,
    )
    if run is not None and (source / "mlflow.json").is_file():
        try:
            info = json.loads((source / "mlflow.json").read_text("utf-8"))
            manifest["tracking"] = {
                "mlflow_run_id": str(info["run_id"]),
                "mlflow_experiment_id": str(info["experiment_id"]),
            }
        except (ValueError, KeyError, TypeError):
            raise UsageError(f"{source / 'mlflow.json'} is damaged") from None
    pkg = package_bytes(manifest, artifacts, signing_key)
    fname = f"{name}-{version}.tfpkg"
    dest = (
        (out / fname if out.is_dir() else out)
        if out
        else (source if source.is_dir() else source.parent) / fname
    )
    atomic_write_bytes(dest, pkg)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "package": str(dest),
                    "bytes": len(pkg),
                    "sha256": hashlib.sha256(pkg).hexdigest(),
                    "name": name,
                    "version": version,
                    "security_counter": counter,
                    "boards": [c["board"] for c in checks],
                    "arena_bytes": ev.arena_bytes,
                }
            )
        )
        return
    click.echo(
        f"wrote {dest} ({len(pkg)} bytes; {name} {version}, security counter {counter}; "
        f"boards {', '.join(c['board'] for c in checks)}; arena {ev.arena_bytes} B)"
    )


@click.command()
@click.argument("spec_path", metavar="SPEC.toml", type=click.Path(path_type=Path))
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="Output folder (replaced on success)."
)
@click.option(
    "--key",
    type=click.Path(path_type=Path),
    help="Ed25519 private key (default: the keys folder's; made when absent).",
)
@mlflow_option
@click.option(
    "--json", "as_json", is_flag=True, help="Print the result as one JSON object (progress stays on stderr)."
)
def build(
    spec_path: Path, out: Path, key: Path | None, mlflow_uri: str | None, as_json: bool = False
) -> None:
    """The whole pipeline: train → quantize → convert → verify → package, with a report."""
    from tinyfleet.compiler.spec import load_spec
    from tinyfleet.signing import PRIVATE_NAME, default_keys_dir, init_keys, load_signing_key

    spec = load_spec(spec_path)
    _replaceable(out)
    tracker = _tracker(spec, mlflow_uri)
    if key is None and not (default_keys_dir() / PRIVATE_NAME).exists():
        priv, _ = init_keys()
        _err.print(f"no signing key yet: made one at {priv} (`tinyfleet keys init`)")
    signing_key = load_signing_key(key)
    _build_with_progress(spec, out, signing_key, tracker, as_json=as_json)


def _build_with_progress(
    spec: Any,
    out: Path,
    signing_key: Any,
    tracker: Any,
    build_fn: Any = None,
    as_json: bool = False,
    **extra: Any,
) -> Any:
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from tinyfleet.compiler.build import STAGES
    from tinyfleet.compiler.build import build as do_build

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=_err,
        transient=False,
    ) as bar:
        task = bar.add_task(f"building {spec.name}", total=len(STAGES))
        seen: list[str] = []

        def progress(stage: str) -> None:
            if seen:
                bar.advance(task)
            seen.append(stage)
            bar.update(task, description=f"{spec.name}: {stage}")

        def epoch(n: int, total: int, acc: float) -> None:
            bar.update(task, description=f"{spec.name}: train epoch {n}/{total} (accuracy {acc:.3f})")

        result = (build_fn or do_build)(spec, out, signing_key, progress, epoch, tracker=tracker, **extra)
        bar.update(task, completed=len(STAGES), description=f"{spec.name}: done")
    if as_json:
        click.echo(
            json.dumps(
                {
                    "out_dir": str(result.out_dir),
                    "package": str(result.package_path),
                    "report": result.report,
                },
                default=str,
            )
        )
        return result
    click.echo(result.table, nl=False)
    click.echo(
        f"wrote {result.out_dir} (package {result.package_path}, report.json, report.txt, confusion.png)"
    )
    t = result.report.get("tracking")
    if t:
        reg = (
            f"; registry {t['registered_model']} version {t['registry_version']}"
            if "registry_version" in t
            else ""
        )
        click.echo(f"MLflow run {t['run_id']} in experiment {t['experiment']} ({t['tracking_uri']}){reg}")
    return result
