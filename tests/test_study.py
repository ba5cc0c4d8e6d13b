"""The study stages through the CLI on the tiny features: embed, the four methods, the matrices, the
report."""

import csv
import json

import pytest
import torch
from conftest import dump_config, run_cli

from mmrobust.config import study_spec
from mmrobust.downstream.embed import split_embeddings
from mmrobust.downstream.model import Classifier, column
from mmrobust.evaluate.matrix import read_matrix
from mmrobust.features.clips import ClipSet
from mmrobust.modalities import SUBSETS
from mmrobust.models import checkpoint
from mmrobust.models.config import ModelConfig
from mmrobust.models.vatt import create_model
from mmrobust.train.pretrain import build_model


@pytest.fixture(scope="module")
def study(tiny_config, tiny_features, tmp_path_factory):
    """A (random) pretrained model, then every study stage of the multilabel task, run once."""
    root = tmp_path_factory.mktemp("study")
    spec = {"seed": 0, "features": tiny_config["features"], "pretrain": tiny_config["pretrain"]}
    return run_study(root, tiny_config, tiny_features, spec)


def test_an_mae_checkpoint_goes_through_every_study_stage(tiny_config, tiny_features, tmp_path):
    """Objective mae: embed, lp / ft / masd / wiseft and evaluate load AV-MAE from its checkpoint
    (models/build.py); E_m is `width` wide."""
    from mmrobust.config import experiment_settings
    from mmrobust.downstream.model import load_classifier
    from mmrobust.models.avmae import AVMAE

    spec = {"seed": 0, "features": tiny_config["features"], **experiment_settings(tiny_config, "mae")}
    root = run_study(tmp_path, tiny_config, tiny_features, spec)
    emb = checkpoint.read(root / "emb.pt")
    width = build_model(spec).cfg.width
    for part in ("train", "eval"):
        assert {m: e.shape[1] for m, e in emb[part]["embeddings"].items()} == dict.fromkeys(
            ("video", "audio", "text"), width
        )
    for method in ("lp", "ft", "masd", "wiseft"):
        matrix = read_matrix(root / f"{method}_matrix.csv")
        assert len(matrix) == len(SUBSETS) ** 2
    model, _ = load_classifier(root / "ft" / "VAT.pt")
    assert isinstance(model.encoder, AVMAE) and model.head.in_features == width


def run_study(root, tiny_config, tiny_features, spec):
    """Save build_model(spec) as the pretrained model, then run every study stage of the multilabel task."""
    config = dump_config(root / "config.json", tiny_config)
    checkpoint.save(root / "model.pt", checkpoint.model_payload(build_model(spec)))
    common = ["--config", str(config), "--task", "multilabel"]

    def cli(*args):
        result = run_cli(*args, *common)
        assert result.returncode == 0, result.stderr[-2000:]

    cli(
        "embed",
        "--pretrained",
        str(root / "model.pt"),
        "--features",
        str(tiny_features),
        "--out",
        str(root / "emb.pt"),
    )
    base = ["--pretrained", str(root / "model.pt"), "--embeddings", str(root / "emb.pt")]
    extra = {
        "lp": [],
        "ft": ["--features", str(tiny_features), "--lp", str(root / "lp")],
        "masd": [
            "--features",
            str(tiny_features),
            "--distill-features",
            str(tiny_features),
            "--lp",
            str(root / "lp"),
        ],
        "wiseft": ["--lp", str(root / "lp"), "--masd", str(root / "masd")],
    }
    for method in ("lp", "ft", "masd", "wiseft"):
        cli(
            "finetune",
            "--method",
            method,
            *base,
            "--out",
            str(root / method),
            "--selection",
            str(root / f"{method}.csv"),
            *extra[method],
        )
    for method in ("lp", "ft", "masd"):
        cli(
            "evaluate",
            "--method",
            method,
            "--embeddings",
            str(root / "emb.pt"),
            "--models",
            str(root / method),
            "--features",
            str(tiny_features),
            "--out",
            str(root / f"{method}_matrix.csv"),
        )
    cli(
        "evaluate",
        "--method",
        "wiseft",
        "--embeddings",
        str(root / "emb.pt"),
        "--models",
        str(root / "wiseft"),
        "--features",
        str(tiny_features),
        "--out",
        str(root / "wiseft_matrix.csv"),
        "--sweep",
        str(root / "sweep.csv"),
        "--pretrained",
        str(root / "model.pt"),
        "--lp",
        str(root / "lp"),
        "--masd",
        str(root / "masd"),
    )
    return root


def test_every_method_writes_seven_models_and_a_selection(study):
    for method in ("lp", "ft", "masd", "wiseft"):
        assert sorted(p.stem for p in (study / method).glob("*.pt")) == sorted(SUBSETS)
        with open(study / f"{method}.csv") as fh:
            rows = list(csv.DictReader(fh))
        assert {r["train_set"] for r in rows if r["selected"] == "1"} == set(SUBSETS)
        assert not any(p.name.startswith(".") for p in study.iterdir())  # the resume folder is gone


def test_masd_on_all_modalities_trains_exactly_as_ft(study):
    ft, masd = (checkpoint.read(study / m / "VAT.pt")["state_dict"] for m in ("ft", "masd"))
    assert all(torch.equal(ft[k], masd[k]) for k in ft)
    ft_va, masd_va = (checkpoint.read(study / m / "VA.pt")["state_dict"] for m in ("ft", "masd"))
    assert not all(torch.equal(ft_va[k], masd_va[k]) for k in ft_va)  # distillation changed the others


def test_masd_on_two_processes_trains_as_on_one(study, tiny_features):
    """torchrun, gloo: each process takes half of every task and D_SD batch (4 = 2 x 2). One step per
    training set here, which moves every weight by about lr = 1e-3 (AdamW's first update is about
    lr x sign(gradient)); the two runs agree within lr / 5, the slack being float-noise gradients of
    parameters whose true gradient is zero (test_pretrain compares the gradient itself)."""
    result = run_cli(
        "finetune",
        "--method",
        "masd",
        "--config",
        str(study / "config.json"),
        "--task",
        "multilabel",
        "--pretrained",
        str(study / "model.pt"),
        "--embeddings",
        str(study / "emb.pt"),
        "--out",
        str(study / "masd2"),
        "--selection",
        str(study / "masd2.csv"),
        "--features",
        str(tiny_features),
        "--distill-features",
        str(tiny_features),
        "--lp",
        str(study / "lp"),
        processes=2,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for subset in SUBSETS:
        one, two = (
            checkpoint.read(study / folder / f"{subset}.pt")["state_dict"] for folder in ("masd", "masd2")
        )
        assert max(float((one[k] - two[k]).abs().max()) for k in one) < 2e-4, subset
    with open(study / "masd.csv") as a, open(study / "masd2.csv") as b:
        for row_one, row_two in zip(csv.DictReader(a), csv.DictReader(b), strict=True):
            assert row_one["candidate"] == row_two["candidate"]
            assert float(row_one["val_metric"]) == pytest.approx(float(row_two["val_metric"]), abs=1e-3)


def read_sweep(path) -> dict[tuple[str, str, str], float]:
    with open(path) as fh:
        return {(r["alpha"], r["eval_set"], r["train_set"]): float(r["value"]) for r in csv.DictReader(fh)}


def test_matrices_are_complete_and_the_sweep_ends_are_lp_and_masd(study):
    """The sweep evaluates the interpolated model at every α; the lp matrix comes from the cached
    embeddings and the masd matrix from the masd checkpoints, so the ends agreeing is a check."""
    matrices = {m: read_matrix(study / f"{m}_matrix.csv") for m in ("lp", "ft", "masd", "wiseft")}
    for matrix in matrices.values():
        assert len(matrix) == 49 and all(0 <= v <= 1 for v in matrix.values())
    sweep = read_sweep(study / "sweep.csv")
    assert {a for a, _, _ in sweep} == {"0", "0.25", "0.5", "0.75", "1"}
    for alpha, method in (("0", "lp"), ("1", "masd"), ("0.75", "wiseft")):
        assert all(sweep[alpha, e, t] == pytest.approx(v, abs=1e-6) for (e, t), v in matrices[method].items())
    # the two ends differ, so matching each of them is not a coincidence of a flat sweep
    assert any(sweep["0", e, t] != sweep["1", e, t] for e in SUBSETS for t in SUBSETS)


def test_sweep_rows_are_the_model_built_here_by_plain_arithmetic(study, tiny_config, tiny_features):
    """θ = α θ_masd + (1 - α) θ_lp, computed here from the pretrained model + lp head and the masd
    checkpoint (not with the project's lerp), encoded and scored, is the sweep's row at each α."""
    spec = study_spec("evaluate", tiny_config, "multilabel", "wiseft")
    cache = checkpoint.read(study / "emb.pt")
    clips = ClipSet(tiny_features, spec["task"]["eval"], spec["features"])
    pretrained = checkpoint.read(study / "model.pt")
    sweep = read_sweep(study / "sweep.csv")
    for train_set in ("VA", "T"):
        head = checkpoint.read(study / "lp" / f"{train_set}.pt")["head"]
        lp = {f"encoder.{k}": v for k, v in pretrained["state_dict"].items()} | {
            f"head.{k}": v for k, v in head.items()
        }
        masd = checkpoint.read(study / "masd" / f"{train_set}.pt")["state_dict"]
        assert lp.keys() == masd.keys()
        for alpha in (0.0, 0.25, 0.75, 1.0):
            theta = {
                k: alpha * masd[k] + (1 - alpha) * lp[k]
                if lp[k].is_floating_point()
                else (masd[k] if alpha >= 0.5 else lp[k])
                for k in lp
            }
            model = Classifier(
                create_model(ModelConfig.from_dict(pretrained["model_config"])), len(cache["classes"])
            )
            model.load_state_dict(theta)
            with torch.no_grad():
                embeddings, has = split_embeddings(model.encoder, clips, spec["batch_size"])
                expected = column(
                    model.head, embeddings, has, cache["eval"]["targets"], cache["kind"], train_set
                )
            for (eval_set, _), value in expected.items():
                assert sweep[f"{alpha:g}", eval_set, train_set] == pytest.approx(value, abs=2e-6), (
                    alpha,
                    eval_set,
                    train_set,
                )


def test_report_writes_tables_figures_and_metrics(study, tiny_config, tiny_features, tmp_path):
    for method in ("lp", "ft", "masd", "wiseft"):
        folder = tmp_path / "results" / "vatt" / "multilabel" / method
        folder.mkdir(parents=True)
        (folder / "matrix.csv").write_bytes((study / f"{method}_matrix.csv").read_bytes())
    (tmp_path / "results/vatt/multilabel/wiseft/sweep.csv").write_bytes((study / "sweep.csv").read_bytes())
    config = dict(
        tiny_config,
        experiments={"vatt": {}},
        study={**tiny_config["study"], "tasks": {"multilabel": tiny_config["study"]["tasks"]["multilabel"]}},
    )
    args = [
        "report",
        "--config",
        str(dump_config(tmp_path / "c.json", config)),
        "--results",
        str(tmp_path / "results"),
        "--out",
        str(tmp_path / "out"),
        "--provenance",
        str(tiny_features / "summary.json"),
    ]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr[-2000:]
    out = tmp_path / "out"
    table1 = (out / "tables/table1_multilabel.md").read_text().splitlines()
    assert table1[0] == "Numbers: mAP in %." and table1[2].startswith(
        "| experiment"
    )  # no --labels: no chance
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["multilabel"]["vatt"]) == {"lp", "ft", "masd", "wiseft"}
    assert set(metrics["multilabel"]["vatt"]["masd"]) == {"overall", "missing", "added", "transfer"}
    assert {p.name for p in (out / "plots").glob("*.png")} >= {
        "fig4_multilabel.png",
        "fig5_multilabel.png",
        "fig6_multilabel.png",
        "heatmap_multilabel_vatt.png",
        "wiseft_sweep_multilabel.png",
    }
    assert "MASD vs lp" in (out / "tables/readout.md").read_text()
    # a broken matrix: one line naming the file, earlier outputs intact
    before = (out / "metrics.json").read_bytes()
    (tmp_path / "results/vatt/multilabel/ft/matrix.csv").write_text("eval_set,VAT\nVAT,0.5\n")
    result = run_cli(*args)
    assert (
        result.returncode == 2
        and "ft/matrix.csv: not a 7 x 7 matrix" in result.stderr
        and "Traceback" not in result.stderr
    )
    assert (out / "metrics.json").read_bytes() == before


def test_a_failed_job_keeps_its_trained_sets_and_resumes(study, tiny_config, tmp_path):
    config = dump_config(tmp_path / "config.json", tiny_config)
    args = [
        "finetune",
        "--config",
        str(config),
        "--task",
        "multilabel",
        "--method",
        "lp",
        "--pretrained",
        str(study / "model.pt"),
        "--embeddings",
        str(study / "emb.pt"),
        "--out",
        str(tmp_path / "lp"),
    ]
    (tmp_path / "taken").mkdir()  # the selection table cannot be written: the job fails after training
    failed = run_cli(*args, "--selection", str(tmp_path / "taken"))
    assert failed.returncode == 2 and "Is a directory" in failed.stderr and "Traceback" not in failed.stderr
    assert len(list((tmp_path / ".lp.cells").glob("*.pt"))) == 7
    resumed = run_cli(*args, "--selection", str(tmp_path / "lp.csv"))
    assert resumed.returncode == 0 and resumed.stdout.count("reusing") == 7
    assert (tmp_path / "lp.csv").read_bytes() == (study / "lp.csv").read_bytes()
    assert all(
        (tmp_path / "lp" / f"{t}.pt").read_bytes() == (study / "lp" / f"{t}.pt").read_bytes() for t in SUBSETS
    )
    assert not (tmp_path / ".lp.cells").exists()
