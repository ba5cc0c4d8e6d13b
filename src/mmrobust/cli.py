"""`mmrobust` command line: one subcommand per pipeline stage, each called by a Snakemake rule.

A stage gets its settings either as `--spec JSON` (what the Snakemake rule passes: exactly the
config part the stage depends on) or from `--config FILE ...` (merged left to right, validated).
User errors print one line naming the file and key and exit 2; no traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from .config import load_config, parse_spec, stage_spec, study_spec
from .downstream import methods
from .errors import MmrobustError

DEFAULT_CONFIG = ["config/config.yaml"]


def _spec(args: argparse.Namespace, stage: str) -> dict:
    if args.spec is not None:
        return parse_spec(stage, args.spec)
    config = load_config(args.config or DEFAULT_CONFIG)
    if stage in ("pretrain", "curriculum"):
        return stage_spec(stage, config, args.experiment or _only(config, "experiments"))
    if stage in ("embed", "finetune", "evaluate", "report"):
        task = None if stage == "report" else args.task or _only(config["study"], "tasks")
        return study_spec(stage, config, task, getattr(args, "method", None))
    return stage_spec(stage, config, args.dataset or _only(config, "datasets"))


def _only(config: dict, section: str) -> str:
    names = sorted(config[section])
    if len(names) != 1:
        flag = {"experiments": "--experiment", "tasks": "--task"}.get(section, "--dataset")
        raise MmrobustError(
            f"config: {section}: {len(names)} configured ({', '.join(names)}); choose one with {flag}"
        )
    return names[0]


# The option naming which part of the config a stage runs on (with --config): each stage reads one.
_NAME_HELP = {
    "--dataset": "dataset name in the config (needed when several are configured)",
    "--experiment": "experiment name in the config (needed when several are configured)",
    "--task": "study.tasks name (needed when several are configured)",
}


def _stage_args(parser: argparse.ArgumentParser, name: str | None, workers: bool = True) -> None:
    """The options every pipeline stage has; `name` is --dataset, --experiment, --task or None (report)."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--spec", help="JSON settings of this stage (as passed by the Snakemake rule)")
    source.add_argument(
        "--config",
        nargs="+",
        metavar="FILE",
        help="config files, merged left to right (default: config/config.yaml)",
    )
    if name:
        parser.add_argument(name, help=f"(with --config) {_NAME_HELP[name]}")
    if workers:
        parser.add_argument(
            "--workers",
            type=int,
            default=1,
            help="worker processes or threads (speed only; outputs are identical)",
        )


def _method_args(parser: argparse.ArgumentParser, pretrained_required: bool) -> None:
    """The inputs of the finetune and evaluate stages, which both read all of them: --<method> is
    the folder of the models of a method another one starts from (downstream.methods)."""
    _stage_args(parser, "--task")
    parser.add_argument("--method", choices=methods.names(), help="(with --config; a --spec names it)")
    parser.add_argument("--pretrained", required=pretrained_required, help="pretrained checkpoint")
    parser.add_argument("--embeddings", required=True, help="the task's embeddings file (embed stage)")
    parser.add_argument(
        "--features",
        help="features folder of the task's dataset ("
        + ", ".join(
            m for m in methods.names() if methods.get(m).clips or methods.get(m).evaluated_on == "clips"
        )
        + ")",
    )
    for dep in methods.dependencies():
        users = [m for m in methods.names() if dep in methods.get(m).starts_from]
        parser.add_argument(
            f"--{dep}", dest=_models_dest(dep), help=f"folder of the {dep} models ({', '.join(users)})"
        )


def _models_dest(method: str) -> str:
    return f"models_of_{method}"


def _models(args: argparse.Namespace) -> dict[str, Path | None]:
    return {dep: _path(getattr(args, _models_dest(dep))) for dep in methods.dependencies()}


def cmd_check_config(args: argparse.Namespace) -> None:
    config = load_config(args.config or DEFAULT_CONFIG)
    print(
        f"ok: {', '.join(args.config or DEFAULT_CONFIG)} ({len(config['datasets'])} dataset(s): "
        f"{', '.join(sorted(config['datasets']))})"
    )


def cmd_download(args: argparse.Namespace) -> None:
    from .data.sources import download

    provenance = download(_spec(args, "download"), Path(args.out), max(1, args.workers))
    print(json.dumps(provenance, sort_keys=True))


def cmd_features(args: argparse.Namespace) -> None:
    from .features.extract import extract

    summary = extract(
        Path(args.data), Path(args.out), _spec(args, "features")["features"], max(1, args.workers)
    )
    print(json.dumps({k: summary[k] for k in ("clips_in", "clips_out", "report")}, sort_keys=True))


@contextmanager
def _process_group() -> Iterator:
    """The distributed world of this process (torchrun or srun; one process otherwise), joined for the
    stage."""
    from .distributed import init, shutdown, world_from_env

    world = world_from_env()
    init(world)
    try:
        yield world
    finally:
        shutdown()


def cmd_pretrain(args: argparse.Namespace) -> None:
    from .train.stages import run_pretrain

    spec = _spec(args, "pretrain")
    if spec["pretrain"]["curriculum"]["enabled"] and not args.scores:
        raise MmrobustError("pretrain: curriculum.enabled is true but no --scores table was given")
    with _process_group() as world:
        run_pretrain(
            spec,
            Path(args.features),
            Path(args.out),
            Path(args.curves),
            Path(args.scores) if args.scores else None,
            max(1, args.workers),
            world,
        )


def cmd_curriculum(args: argparse.Namespace) -> None:
    from .train.stages import run_curriculum

    run_curriculum(
        _spec(args, "curriculum"),
        Path(args.features),
        Path(args.scores),
        Path(args.warmup),
        Path(args.curves),
        max(1, args.workers),
    )


def _threads(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(max(1, args.workers))


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def cmd_embed(args: argparse.Namespace) -> None:
    from .downstream.stages import run_embed

    _threads(args)
    run_embed(_spec(args, "embed"), Path(args.pretrained), Path(args.features), Path(args.out))


def cmd_finetune(args: argparse.Namespace) -> None:
    from .downstream.stages import run_finetune

    _threads(args)
    with _process_group() as world:
        run_finetune(
            _spec(args, "finetune"),
            Path(args.pretrained),
            Path(args.embeddings),
            Path(args.out),
            Path(args.selection),
            _path(args.features),
            _path(args.distill_features),
            _models(args),
            world,
        )


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .downstream.stages import run_evaluate

    _threads(args)
    run_evaluate(
        _spec(args, "evaluate"),
        Path(args.embeddings),
        Path(args.models),
        Path(args.out),
        _path(args.features),
        _path(args.sweep),
        _path(args.pretrained),
        _models(args),
    )


def cmd_report(args: argparse.Namespace) -> None:
    from .report.build import build_report

    build_report(
        _spec(args, "report"),
        Path(args.results),
        Path(args.out),
        [Path(p) for p in args.provenance],
        [Path(p) for p in args.labels],
    )


def cmd_diff(args: argparse.Namespace) -> int:
    from .report.diff import diff
    from .report.diff_filter import parse_tol

    text, changed = diff(
        Path(args.repo), args.rev_a, args.rev_b, args.table, args.experiment, parse_tol(args.tol)
    )
    print(text)
    return 1 if changed and args.fail_on_change else 0


def cmd_pack(args: argparse.Namespace) -> None:
    from .data.pack import pack

    shards = pack(Path(args.data), Path(args.out), args.shard_size, args.prefix)
    print(f"wrote {len(shards)} shard(s) and SHA256SUMS to {args.out}")


def cmd_estimate(args: argparse.Namespace) -> None:
    from .estimate import estimate

    print(estimate(load_config(args.config or DEFAULT_CONFIG), args.dataset), end="")


def cmd_restore(args: argparse.Namespace) -> None:
    from .keep import KEPT, restore

    restored = restore()
    for out in restored:
        print(f"restored {out}")
    print(f"{len(restored)} output(s) restored from {KEPT}")


def _version() -> str:
    """The installed distribution's version (pyproject.toml); __version__ when run from a source tree."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mmrobust")
    except PackageNotFoundError:
        from . import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmrobust", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"mmrobust {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "check-config", help="validate config files against workflow/schemas/config.schema.yaml"
    )
    p.add_argument("--config", nargs="+", metavar="FILE")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("download", help="write data/<dataset>: manifest.csv, media/, skipped.csv, meta/")
    _stage_args(p, "--dataset")
    p.add_argument("--out", required=True, help="dataset folder, e.g. data/synthetic")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser(
        "features", help="write features/<dataset>: shards/, index.csv, skipped.csv, summary.json"
    )
    _stage_args(p, "--dataset")
    p.add_argument("--data", required=True, help="dataset folder written by download")
    p.add_argument("--out", required=True, help="features folder, e.g. features/synthetic")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser(
        "curriculum", help="train the warm-up model, score every pretraining triplet's gradient conflict"
    )
    _stage_args(p, "--experiment")
    p.add_argument("--features", required=True, help="features folder of the pretraining dataset")
    p.add_argument("--scores", required=True, help="CSV to write: id, cosine, rank")
    p.add_argument("--warmup", required=True, help="warm-up checkpoint to write")
    p.add_argument("--curves", required=True, help="warm-up training curve CSV to write")
    p.set_defaults(func=cmd_curriculum)

    p = sub.add_parser(
        "pretrain", help="pretraining (the configured objective) with optional realignment and curriculum"
    )
    _stage_args(p, "--experiment")
    p.add_argument("--features", required=True, help="features folder of the pretraining dataset")
    p.add_argument("--out", required=True, help="checkpoint to write")
    p.add_argument("--curves", required=True, help="per-step curve CSV to write")
    p.add_argument("--scores", help="curriculum scores (needed when curriculum.enabled)")
    p.set_defaults(func=cmd_pretrain)

    p = sub.add_parser(
        "embed", help="per-modality embeddings of a task's train and eval splits under one pretrained model"
    )
    _stage_args(p, "--task")
    p.add_argument("--pretrained", required=True, help="pretrained checkpoint")
    p.add_argument("--features", required=True, help="features folder of the task's dataset")
    p.add_argument("--out", required=True, help="embeddings file to write")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser(
        "finetune",
        help=f"train one method ({', '.join(methods.names())}) on each of the 7 training modality sets",
    )
    _method_args(p, pretrained_required=True)
    p.add_argument("--out", required=True, help="folder to write <M_T>.pt into")
    p.add_argument(
        "--selection", required=True, help="CSV to write: validation metric per candidate, the selected one"
    )
    p.add_argument(
        "--distill-features",
        help="features folder of D_SD's dataset ("
        + ", ".join(m for m in methods.names() if methods.get(m).distill)
        + ")",
    )
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser(
        "evaluate",
        help="the 7 x 7 matrix p(M_E, M_T) of one method (" + ", ".join(methods.swept()) + ": and its sweep)",
    )
    _method_args(p, pretrained_required=False)
    p.add_argument("--models", required=True, help="folder of the method's <M_T>.pt")
    p.add_argument("--out", required=True, help="matrix CSV to write")
    p.add_argument("--sweep", help="sweep CSV to write (" + ", ".join(methods.swept()) + ")")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "report", help="tables, plots, metrics.json and the headline metrics from every matrix"
    )
    _stage_args(p, None, workers=False)
    p.add_argument("--results", required=True, help="results folder holding <experiment>/<task>/<method>/")
    p.add_argument(
        "--out",
        required=True,
        help="folder to write tables/, plots/, headline/, metrics.json and the read-out into",
    )
    p.add_argument(
        "--provenance", nargs="*", default=[], help="features summary.json files (clip counts per split)"
    )
    p.add_argument(
        "--labels",
        nargs="*",
        default=[],
        help="features index.csv files: the evaluation split's labels give each task's chance level"
        " (a line in the figures, the tables' unit line); without its dataset's, a task has none",
    )
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("diff", help="compare the result tables (results/tables/*.csv) of two git revisions")
    p.add_argument("rev_a", help="the older revision")
    p.add_argument("rev_b", nargs="?", default="HEAD", help="the newer revision (default: HEAD)")
    p.add_argument("--repo", default=".", help="the git repository (default: here)")
    p.add_argument(
        "--table",
        action="append",
        metavar="NAME",
        help="only this table (a name or a glob over the "
        "results/tables/*.csv names, e.g. 'table1_*'); repeatable",
    )
    p.add_argument(
        "--experiment",
        action="append",
        metavar="NAME",
        help="only rows whose experiment column is NAME; "
        "repeatable; tables without an experiment column are kept whole",
    )
    p.add_argument(
        "--tol",
        metavar="T",
        help="hide numeric changes with |new - old| <= T (exact decimals); they do not count as changes",
    )
    p.add_argument(
        "--fail-on-change",
        action="store_true",
        help="exit 1 when a shown cell, row or table differs (after --table, --experiment and --tol)",
    )
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser(
        "estimate",
        help="clips, hours and feature sizes per split of the config's catalog datasets"
        " (reads the catalogs only)",
    )
    p.add_argument(
        "--config",
        nargs="+",
        metavar="FILE",
        help="config files, merged left to right (default: config/config.yaml)",
    )
    p.add_argument("--dataset", help="only this dataset (default: every dataset with a catalog)")
    p.set_defaults(func=cmd_estimate)

    p = sub.add_parser(
        "restore",
        help="put back the previous outputs of the jobs a killed Snakemake was running "
        "(a failed workflow's onerror hook does it by itself)",
    )
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("pack", help="publish a dataset folder as tar shards + SHA256SUMS for the http source")
    p.add_argument("data", help="dataset folder written by download")
    p.add_argument("out", help="folder to write the shards into")
    p.add_argument("--shard-size", type=int, default=256)
    p.add_argument("--prefix", default="shard")
    p.set_defaults(func=cmd_pack)
    return parser


DISTRIBUTED = ("pretrain", "finetune")  # the stages that train data-parallel


def _locked_output(args: argparse.Namespace) -> Path | None:
    """The output a pipeline stage locks for its run (mmrobust.keep); None for other commands."""
    if args.command in ("download", "features", "pretrain", "embed", "finetune", "evaluate", "report"):
        return Path(args.out)
    return Path(args.scores) if args.command == "curriculum" else None


def _launched_world():
    """The distributed world a launcher (torchrun, srun) set up; None when none is in play, so that
    torch is imported only then."""
    if "WORLD_SIZE" in os.environ or "MMROBUST_DISTRIBUTED" in os.environ:
        from .distributed import world_from_env

        return world_from_env()
    return None


def _rank_zero(command: str) -> bool:
    world = _launched_world() if command in DISTRIBUTED else None
    return world is None or world.main


def _run(args: argparse.Namespace) -> int | None:
    """The command; a pipeline stage holds the lock on its output meanwhile, so that a second run on the
    same output stops at once (a distributed job's rank 0 holds it for all ranks)."""
    from .keep import output_lock

    out = _locked_output(args)
    if out is None or not _rank_zero(args.command):
        return args.func(args)
    with output_lock(out):
        return args.func(args)


def _single_process(command: str) -> None:
    if command not in DISTRIBUTED:
        world = _launched_world()
        if world is not None and world.active:
            raise MmrobustError(
                f"{command}: runs in one process; only {' and '.join(DISTRIBUTED)} run distributed"
            )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _single_process(args.command)
        code = _run(args)
    except MmrobustError as exc:
        print(f"mmrobust: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path that cannot be read or written: one line, no traceback
        print(f"mmrobust: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "mmrobust: interrupted; outputs of this run were not written, earlier ones are intact",
            file=sys.stderr,
        )
        return 130
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
