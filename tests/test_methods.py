"""The method registry (mmrobust.downstream.methods): the default specs it gives, and a method added
through the registry alone (a toy, registered here) reaching config validation, the specs, the
Snakemake input functions, the CLI, the finetune and evaluate stages and the report."""

from __future__ import annotations

import copy
import json
import re

import pytest
import torch

from mmrobust import config as config_module
from mmrobust.cli import build_parser
from mmrobust.config import load_config, parse_spec, study_spec, study_spec_json
from mmrobust.downstream import methods
from mmrobust.downstream.methods import Method
from mmrobust.errors import MmrobustError
from mmrobust.evaluate.matrix import read_matrix
from mmrobust.modalities import SUBSETS
from mmrobust.models import checkpoint
from mmrobust.report.build import build_report
from mmrobust.report.readout import task_readout

TASK = {"dataset": "synthetic", "train": "multilabel_train", "eval": "multilabel_eval", "kind": "multilabel"}


def test_the_registry_gives_the_specs_of_the_four_methods(tiny_config):
    """Their spec strings trigger Snakemake's reruns: each method's jobs hold exactly these settings."""
    study = tiny_config["study"]
    seed_003 = ("lp", "ft", "masd", "wiseft")
    assert methods.names()[:4] == seed_003
    common = {"seed", "features", "task", "batch_size", "method"}
    finetune = {m: study_spec("finetune", tiny_config, "multilabel", m) for m in seed_003}
    assert {m: set(s) - common for m, s in finetune.items()} == {
        "lp": {"validation_fraction", "lp"},
        "ft": {"validation_fraction", "ft"},
        "masd": {"validation_fraction", "ft", "masd", "distill"},
        "wiseft": {"validation_fraction", "wiseft"},
    }
    assert finetune["wiseft"]["wiseft"] == {"alpha": study["wiseft"]["alpha"]}
    evaluate = {m: study_spec("evaluate", tiny_config, "multilabel", m) for m in seed_003}
    assert {m: set(s) - common for m, s in evaluate.items()} == {
        "lp": set(),
        "ft": set(),
        "masd": set(),
        "wiseft": {"wiseft"},
    }
    assert evaluate["wiseft"]["wiseft"] == study["wiseft"]
    assert {"seed", "experiments", "tasks", "wiseft"} <= set(study_spec("report", tiny_config))
    assert "wiseft" in methods.swept() and {"lp", "masd"} <= set(methods.dependencies())


def test_registering_checks_the_entry():
    with pytest.raises(ValueError, match="registered already"):
        methods.register(Method("lp", train="x:y"))
    with pytest.raises(ValueError, match="starts from"):
        methods.register(Method("later", train="x:y", starts_from=("nosuch",)))
    with pytest.raises(ValueError, match="not one of"):
        methods.register(Method("embeddings", train="x:y"))
    with pytest.raises(ValueError, match="sweep"):
        methods.register(
            Method("swept", train="x:y", evaluated_on="embeddings", sweep=methods.Sweep("x:y", (), "", ""))
        )
    assert "later" not in methods.REGISTRY and "swept" not in methods.REGISTRY
    with pytest.raises(MmrobustError, match="method 'nosuch': not one of lp, ft, masd, wiseft"):
        methods.get("nosuch")


# --- a method added through the registry alone: the 4 files of docs/study.md, "Adding a fine-tuning method"


def train_toy(job, subset: str) -> dict:
    """The toy method: lp's head for the training set, scaled by the toy's setting."""
    head = checkpoint.read(job.models["lp"] / f"{subset}.pt")["head"]
    scale = job.spec["toy"]["scale"]
    return {
        "head": {k: scale * v for k, v in head.items()},
        "selection": [{"train_set": subset, "candidate": f"scale={scale:g}", "selected": 1}],
    }


TOY = Method(
    "toy",
    train=f"{__name__}:train_toy",
    settings=("toy", "ft.lr"),
    starts_from=("lp",),
    evaluated_on="embeddings",
    color="tab:purple",
)
TOY_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "default": {},
    "properties": {"scale": {"type": "number", "exclusiveMinimum": 0, "default": 1.0}},
}


@pytest.fixture()
def toy(monkeypatch):
    """The toy registered, and its section in the config schema (workflow/schemas/config.schema.yaml)."""
    schema = copy.deepcopy(config_module.load_schema("config.schema.yaml"))
    schema["$defs"]["study"]["properties"]["toy"] = TOY_SCHEMA
    monkeypatch.setattr(config_module, "load_schema", lambda name: copy.deepcopy(schema))
    monkeypatch.setitem(methods.REGISTRY, "toy", TOY)
    return TOY


@pytest.fixture()
def toy_config(toy, tmp_path):
    from conftest import TINY

    extra = tmp_path / "toy.yaml"
    extra.write_text("study:\n  toy: {scale: 2.0}\n")
    return load_config([*TINY, extra])


def test_a_registered_method_has_its_config_section_and_spec(toy, toy_config, tmp_path):
    from conftest import TINY

    assert toy_config["study"]["toy"] == {"scale": 2.0}
    bad = tmp_path / "bad.yaml"
    bad.write_text("study:\n  toy: {scal: 2.0}\n")
    with pytest.raises(MmrobustError, match=r"study\.toy\.scal: unknown key"):
        load_config([*TINY, bad])
    spec = study_spec("finetune", toy_config, "multilabel", "toy")
    assert spec["method"] == "toy" and spec["toy"] == {"scale": 2.0}
    assert spec["ft"] == {"lr": toy_config["study"]["ft"]["lr"]}
    assert "lp" not in spec and "wiseft" not in spec
    for stage in ("finetune", "evaluate"):
        text = study_spec_json(stage, toy_config, "multilabel", "toy")
        assert parse_spec(stage, text)["method"] == "toy"
    # the other methods' specs do not change with the toy's settings
    assert study_spec_json("finetune", toy_config, "multilabel", "masd") == study_spec_json(
        "finetune", load_config(TINY), "multilabel", "masd"
    )


def test_a_registered_method_reaches_the_rules_and_the_cli(toy, toy_config):
    inputs = methods.finetune_inputs(toy_config, "vatt", "multilabel", "toy")
    assert inputs == {
        "model": "checkpoints/vatt/model.pt",
        "embeddings": "embeddings/vatt/multilabel.pt",
        "lp": [f"checkpoints/vatt/multilabel/lp/{t}.pt" for t in SUBSETS],
    }
    assert methods.finetune_flags("toy", inputs) == "--lp checkpoints/vatt/multilabel/lp"
    # the wildcard constraints of the evaluate rules (workflow/rules/evaluate.smk)
    plain = methods.alternatives(tuple(m for m in methods.names() if m not in methods.swept()))
    assert re.fullmatch(plain, "toy") and not re.fullmatch(plain, "wiseft")
    assert re.fullmatch(methods.alternatives(methods.swept()), "wiseft")
    assert not re.fullmatch(methods.alternatives(()), "")
    args = build_parser().parse_args(
        ["finetune", "--method", "toy", "--pretrained", "p", "--embeddings", "e", "--out", "o"]
        + ["--selection", "s", "--lp", "l"]
    )
    assert args.method == "toy"


def fake_cache(path, n_train: int = 16, n_eval: int = 12, dim: int = 8, classes: int = 3):
    """An embed stage's output of random embeddings (every modality present)."""
    generator = torch.Generator().manual_seed(0)

    def part(n, offset):
        return {
            "ids": [f"clip{offset + i}" for i in range(n)],
            "targets": (torch.rand(n, classes, generator=generator) > 0.5).long(),
            "embeddings": {m: torch.randn(n, dim, generator=generator) for m in ("video", "audio", "text")},
            "has": {m: torch.ones(n, dtype=torch.bool) for m in ("video", "audio", "text")},
        }

    checkpoint.save(
        path,
        {
            "classes": [f"c{i}" for i in range(classes)],
            "kind": "multilabel",
            "train": part(n_train, 0),
            "eval": part(n_eval, n_train),
        },
    )


def test_a_registered_method_trains_and_evaluates(toy, toy_config, tmp_path):
    from mmrobust.downstream.stages import run_evaluate, run_finetune

    fake_cache(tmp_path / "emb.pt")
    (tmp_path / "model.pt").write_bytes(b"not read by lp or toy")
    for method in ("lp", "toy"):
        spec = study_spec("finetune", toy_config, "multilabel", method)
        run_finetune(
            spec,
            tmp_path / "model.pt",
            tmp_path / "emb.pt",
            tmp_path / method,
            tmp_path / f"{method}.csv",
            models={"lp": tmp_path / "lp"},
        )
        run_evaluate(
            study_spec("evaluate", toy_config, "multilabel", method),
            tmp_path / "emb.pt",
            tmp_path / method,
            tmp_path / f"{method}_matrix.csv",
        )
    for t in SUBSETS:
        lp, toy_head = (checkpoint.read(tmp_path / m / f"{t}.pt") for m in ("lp", "toy"))
        assert toy_head["method"] == "toy" and toy_head["train_set"] == t
        assert all(torch.equal(2 * lp["head"][k], toy_head["head"][k]) for k in lp["head"])
    assert (tmp_path / "toy.csv").read_text().splitlines()[1] == "VAT,scale=2,,1"
    # mAP ranks the clips per class: a positive scale of the head keeps every ranking
    assert read_matrix(tmp_path / "toy_matrix.csv") == pytest.approx(read_matrix(tmp_path / "lp_matrix.csv"))
    with pytest.raises(MmrobustError, match="finetune toy: needs --lp"):
        run_finetune(
            study_spec("finetune", toy_config, "multilabel", "toy"),
            tmp_path / "model.pt",
            tmp_path / "emb.pt",
            tmp_path / "toy2",
            tmp_path / "toy2.csv",
        )


ROW = dict(zip(SUBSETS, (0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)))


def write_results(root, names, offsets=None) -> list:
    """results/<experiment>/multilabel/<method>/matrix.csv (+ sweep.csv) and a features summary."""
    for experiment in ("vatt", "realign"):
        for i, method in enumerate(names):
            folder = root / "results" / experiment / "multilabel" / method
            folder.mkdir(parents=True)
            rows = [f"{e}," + ",".join(f"{ROW[e] + i / 20:.6f}" for _ in SUBSETS) for e in SUBSETS]
            (folder / "matrix.csv").write_text(
                "eval_set," + ",".join(SUBSETS) + "\n" + "\n".join(rows) + "\n"
            )
            if methods.get(method).sweep:
                lines = ["alpha,train_set,eval_set,value"] + [
                    f"{a},{t},{e},{ROW[e] + a / 4:.6f}" for a in (0.0, 1.0) for t in SUBSETS for e in SUBSETS
                ]
                (folder / "sweep.csv").write_text("\n".join(lines) + "\n")
    summary = root / "features" / "synthetic" / "summary.json"
    summary.parent.mkdir(parents=True)
    counts = {"clips": 8, "with_audio": 7, "with_text": 6, "with_video": 8}
    summary.write_text(json.dumps({"splits": {f"multilabel_{p}": counts for p in ("train", "eval")}}))
    return [summary]


def report_spec(config):
    return {**study_spec("report", config), "tasks": {"multilabel": TASK}, "experiments": ["realign", "vatt"]}


def test_the_report_draws_a_registered_method(toy, toy_config, tmp_path):
    summaries = write_results(tmp_path, methods.names())
    build_report(report_spec(toy_config), tmp_path / "results", tmp_path / "out", summaries)
    tables = tmp_path / "out" / "tables"
    rows = (tables / "table1_multilabel.csv").read_text().splitlines()
    assert rows[0].startswith("experiment,objective,method,overall_P,")
    assert [r.split(",")[:3] for r in rows[1:]] == [
        [e, "vatt", m]
        for e in ("vatt", "realign")
        for m in sorted(methods.names())  # the baseline first
    ]
    assert set(json.loads((tmp_path / "out" / "metrics.json").read_text())["multilabel"]["vatt"]) == set(
        methods.names()
    )
    assert (tmp_path / "out" / "plots" / "wiseft_sweep_multilabel.png").exists()
    assert "toy" in methods.names()
    assert f"higher for 0 of {len(methods.names())} methods (lp:" in (tables / "readout.md").read_text()


def test_the_readout_skips_the_comparisons_of_methods_not_registered(monkeypatch, tmp_path):
    monkeypatch.setattr(methods, "REGISTRY", {m: methods.REGISTRY[m] for m in ("lp", "ft")})
    summaries = write_results(tmp_path, ("lp", "ft"))
    spec = {
        "seed": 0,
        "experiments": ["realign", "vatt"],
        "objectives": {"realign": "vatt", "vatt": "vatt"},
        "tasks": {"multilabel": TASK},
    }
    build_report(spec, tmp_path / "results", tmp_path / "out", summaries)
    readout = (tmp_path / "out" / "tables" / "readout.md").read_text()
    assert "MASD" not in readout and "WiSE-FT" not in readout
    assert "(lp, k = 1, 2, 3)" in readout and "of 2 methods" in readout
    assert not list((tmp_path / "out" / "plots").glob("*sweep*"))
    matrices = {("vatt", "lp"): {(e, t): ROW[e] for e in SUBSETS for t in SUBSETS}}
    assert task_readout("multilabel", "mAP", matrices, None)[2].startswith("- More modalities")
