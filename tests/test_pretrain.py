"""Pretraining: deterministic on CPU, resumes after a real SIGKILL to the same parameters, curves logged."""

import csv
import json
import math
import signal
import subprocess
import sys
import time

import pytest
import torch

from mmrobust.config import parse_spec, stage_spec
from mmrobust.models.checkpoint import read
from mmrobust.objectives import create
from mmrobust.train.pretrain import curve_fields, pretrain
from mmrobust.train.stages import clips_for, run_curriculum

pytestmark = pytest.mark.slow


def spec_for(config, experiment="vatt", **changes):
    spec = stage_spec("pretrain", config, experiment)
    spec["pretrain"].update(changes)
    return spec


def train(spec, features, out_dir, name="m"):
    pretrain(
        spec,
        clips_for(spec, features),
        out_dir / f"{name}.pt",
        out_dir / f"{name}.csv",
        out_dir / f".{name}",
        None,
        1,
    )
    return read(out_dir / f"{name}.pt")["state_dict"], (out_dir / f"{name}.csv").read_bytes()


def pretrain_args(spec, features, out) -> list[str]:
    """The CLI arguments of `mmrobust pretrain` writing out/m.pt and out/m.csv."""
    args = ["pretrain", "--spec", json.dumps(spec), "--features", str(features)]
    return args + ["--out", str(out / "m.pt"), "--curves", str(out / "m.csv")]


def same_params(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_parameters_and_curves(tiny_config, tiny_features, tmp_path):
    spec = spec_for(tiny_config, epochs=2)
    a, curve_a = train(spec, tiny_features, tmp_path / "a")
    b, curve_b = train(spec, tiny_features, tmp_path / "b")
    assert same_params(a, b) and curve_a == curve_b
    assert (tmp_path / "a" / "m.pt").read_bytes() == (tmp_path / "b" / "m.pt").read_bytes()
    assert "objective" not in read(tmp_path / "a" / "m.pt")["model_config"]  # vatt, the default, left out
    rows = list(csv.DictReader(curve_a.decode().splitlines()))
    assert tuple(rows[0]) == curve_fields(create("vatt")) and len(rows) == 2 * 12 // 6
    other, _ = train({**spec, "seed": 1}, tiny_features, tmp_path / "c")
    assert not same_params(a, other)


def test_realignment_changes_the_update(tiny_config, tiny_features, tmp_path):
    plain, _ = train(spec_for(tiny_config), tiny_features, tmp_path / "p")
    realigned, curve = train(spec_for(tiny_config, "realign"), tiny_features, tmp_path / "r")
    assert not same_params(plain, realigned)
    rows = list(csv.DictReader(curve.decode().splitlines()))
    assert all(float(r["cos_after"]) >= float(r["cos_before"]) - 1e-6 for r in rows)


def test_killed_run_resumes_to_the_same_parameters(tiny_config, tiny_features, tmp_path):
    spec = spec_for(tiny_config, epochs=6, checkpoint_every=2)
    reference, ref_curve = train(spec, tiny_features, tmp_path / "ref")
    out = tmp_path / "run" / "m.pt"
    cmd = [
        sys.executable,
        "-m",
        "mmrobust",
        *pretrain_args(spec, tiny_features, out.parent),
        "--workers",
        "1",
    ]
    state = out.parent / ".m.resume" / "state.pt"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert state.exists() and not out.exists(), "the run was not killed between a checkpoint and its end"
    killed_at = torch.load(state, weights_only=False)["step"]
    assert 0 < killed_at < 12
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"resuming from step {killed_at} of 12" in result.stdout
    assert same_params(read(out)["state_dict"], reference)
    assert (tmp_path / "run" / "m.csv").read_bytes() == ref_curve
    assert not state.parent.exists()


def test_resume_state_of_other_scores_is_not_used(tiny_config, tiny_features, tmp_path):
    from mmrobust.train.pretrain import resume_key

    spec = spec_for(tiny_config)
    (tmp_path / "a.csv").write_text("id,cosine,rank\n")
    (tmp_path / "b.csv").write_text("id,cosine,rank\nx,0.1,0\n")
    keys = {
        resume_key(spec, tiny_features, None),
        resume_key(spec, tiny_features, tmp_path / "a.csv"),
        resume_key(spec, tiny_features, tmp_path / "b.csv"),
        resume_key({**spec, "seed": 9}, tiny_features, None),
    }
    assert len(keys) == 4
    assert resume_key(spec, tiny_features, None) == resume_key(spec, tiny_features, None)


def test_curriculum_stage_scores_every_clip(tiny_config, tiny_features, tmp_path):
    spec = parse_spec("curriculum", json.dumps(stage_spec("curriculum", tiny_config, "curriculum")))
    run_curriculum(
        spec, tiny_features, tmp_path / "scores.csv", tmp_path / "warm.pt", tmp_path / "warm.csv", 1
    )
    rows = list(csv.DictReader((tmp_path / "scores.csv").open()))
    ids = clips_for(spec, tiny_features).ids
    assert [r["id"] for r in rows] == ids
    assert sorted(int(r["rank"]) for r in rows) == list(range(len(ids)))
    scored = [float(r["cosine"]) for r in rows if r["cosine"]]
    assert scored and all(-1 <= c <= 1 for c in scored)


def test_pairwise_objective_pretrains_scores_and_its_checkpoint_names_it(
    tiny_config, tiny_features, tmp_path
):
    import copy

    from mmrobust.config import validate_config
    from mmrobust.models.checkpoint import load_model

    config = copy.deepcopy(tiny_config)
    config["experiments"]["pairwise"] = {
        "objective": "pairwise",
        "model": {"architecture": "ms"},
        "harmonization": {"method": "gradvac"},
        "curriculum": {"enabled": True},
    }
    validate_config(config, "test")
    spec = parse_spec("pretrain", json.dumps(spec_for(config, "pairwise")))
    assert spec["pretrain"]["objective"] == "pairwise"
    assert spec["pretrain"]["loss_weights"] == {"va": 1.0, "vt": 1.0, "at": 1.0}
    cur = parse_spec("curriculum", json.dumps(stage_spec("curriculum", config, "pairwise")))
    run_curriculum(
        cur, tiny_features, tmp_path / "scores.csv", tmp_path / "warm.pt", tmp_path / "warm.csv", 1
    )
    rows = list(csv.DictReader((tmp_path / "scores.csv").open()))
    scored = [float(r["cosine"]) for r in rows if r["cosine"]]  # the mean of the three pairwise cosines
    assert scored and all(-1 <= c <= 1 for c in scored)
    pretrain(
        spec,
        clips_for(spec, tiny_features),
        tmp_path / "m.pt",
        tmp_path / "m.csv",
        tmp_path / ".m",
        tmp_path / "scores.csv",
        1,
    )
    payload = read(tmp_path / "m.pt")
    assert payload["model_config"]["objective"] == "pairwise"
    assert {k for k in payload["state_dict"] if k.startswith("head_")} == {
        "head_video.weight",
        "head_audio.weight",
        "head_text.weight",
    }
    curve = list(csv.DictReader((tmp_path / "m.csv").open()))
    assert tuple(curve[0]) == curve_fields(create("pairwise")) and "loss_at" in curve[0]
    assert all(math.isfinite(float(r["loss_at"])) for r in curve)
    model, _ = load_model(tmp_path / "m.pt")
    assert model.cfg.objective == "pairwise" and model.cfg.architecture == "ms"
    assert (
        read(tmp_path / "warm.pt")["model_config"]["objective"] == "pairwise"
    )  # the warm-up is pairwise too


def test_mae_objective_pretrains_with_masks_of_their_own_stream_and_loads_as_avmae(
    tiny_config, tiny_features, tmp_path
):
    from mmrobust.distributed import World
    from mmrobust.models.avmae import AVMAE, draw_masks
    from mmrobust.models.checkpoint import load_model
    from mmrobust.seeding import clip_generators
    from mmrobust.train.loader import MASK_STREAM, CurriculumSampler, StepBatches
    from mmrobust.train.pretrain import build_model

    spec = parse_spec("pretrain", json.dumps(spec_for(tiny_config, "mae", epochs=2)))
    assert spec["pretrain"]["objective"] == "mae" and spec["pretrain"]["model"]["mask_ratio"] == 0.75
    assert spec["pretrain"]["loss_weights"] == {"video": 1.0, "audio": 1.0, "text": 1.0}
    # The masks of step 3: stream 3 keyed by each clip's position in the global batch, so that a
    # clip's mask is the same on 1 process as on 2 (where rank 1 holds positions 3..5).
    net = build_model(spec)
    clips = clips_for(spec, tiny_features)
    sampler = CurriculumSampler(spec["seed"], 4, len(clips), 6)
    batch, masks = StepBatches(clips, sampler, World(), 0, None, net.mask_sampler())[3]
    counts, cfg = net.token_counts(), net.cfg
    gens = clip_generators(spec["seed"], 3, MASK_STREAM, range(6))
    expected = draw_masks(counts, cfg.mask_ratio, cfg.text_mask_ratio, batch, gens)
    assert masks.keys() == expected.keys() and all(torch.equal(masks[k], expected[k]) for k in masks)
    _, half = StepBatches(clips, sampler, World(1, 2), 0, None, net.mask_sampler())[3]
    assert all(torch.equal(half[k], masks[k][3:]) for k in masks)

    a, curve_a = train(spec, tiny_features, tmp_path / "a")
    b, curve_b = train(spec, tiny_features, tmp_path / "b")
    assert same_params(a, b) and curve_a == curve_b
    payload = read(tmp_path / "a" / "m.pt")
    assert (payload["model_config"]["objective"], payload["model_config"]["architecture"]) == ("mae", "avmae")
    rows = list(csv.DictReader(curve_a.decode().splitlines()))
    assert tuple(rows[0]) == curve_fields(create("mae")) and len(rows) == 4
    assert all(math.isfinite(float(r[f"loss_{m}"])) for r in rows for m in ("video", "audio", "text"))
    assert all(math.isnan(float(r["cos_before"])) for r in rows)  # nothing compared
    model, _ = load_model(tmp_path / "a" / "m.pt")
    assert isinstance(model, AVMAE) and model.cfg.mask_ratio == 0.75 and model.cfg == net.cfg


def flat_update(state, start, skip_key_bias):
    """All parameters as one vector of their change from `start`; optionally without the attention key
    biases."""
    parts = []
    for name, value in state.items():
        change = (value.float() - start[name].float()).flatten()
        if skip_key_bias and name.endswith("qkv.bias"):  # [q | k | v]: drop k
            third = change.numel() // 3
            change = torch.cat([change[:third], change[2 * third :]])
        parts.append(change)
    return torch.cat(parts)


REALIGNMENTS = [
    {"model": {"drop_token": 0.5}, "harmonization": {"method": "pcgrad", "level": "representation"}},
    {"harmonization": {"method": "gradvac", "level": "parameters", "gradvac_beta": 0.5}},
    {
        "objective": "pairwise",
        "model": {"architecture": "ms"},
        "harmonization": {"method": "pcgrad", "level": "representation"},
    },
    {"experiment": "mae", "harmonization": {"method": "none", "level": "representation"}},
]
REALIGNMENT_IDS = [
    "droptoken-pcgrad-representation",
    "gradvac-parameters",
    "pairwise-pcgrad-representation",
    "mae",
]


def realign_spec(config, changes, **extra):
    spec = spec_for(config, changes.get("experiment", "realign"), **extra)
    spec["pretrain"]["model"].update(changes.get("model", {}))
    spec["pretrain"]["harmonization"].update(changes["harmonization"])
    if "objective" in changes:
        spec["pretrain"]["objective"] = changes["objective"]
        spec["pretrain"]["loss_weights"] = {"va": 1.0, "vt": 1.0, "at": 1.0}
    return spec


def _rank_gradients(rank, spec, features, out, port):
    """One process of a 2-process gloo group: the DDP gradients of step 0, saved by rank 0."""
    import os

    from mmrobust.distributed import World, init, shutdown
    from mmrobust.train.pretrain import data_parallel

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    world = World(rank, 2, rank)
    init(world)
    wrap = lambda net: data_parallel(net, torch.device("cpu"))  # noqa: E731
    torch.save(step_gradients(spec, features, world, wrap), out / f"rank{rank}.pt")
    shutdown()


def step_gradients(spec, features, world, wrap=None):
    from mmrobust.harmonize import Harmonizer
    from mmrobust.models.avmae import AVMAE
    from mmrobust.objectives import from_settings
    from mmrobust.train.loader import CurriculumSampler, StepBatches
    from mmrobust.train.pretrain import build_model
    from mmrobust.train.step import train_step

    pre = spec["pretrain"]
    clips = clips_for(spec, features)
    net = build_model(spec)
    sampler = CurriculumSampler(spec["seed"], 4, len(clips), pre["batch_size"])
    mae = isinstance(net, AVMAE)
    keep = None if mae or net.cfg.drop_token <= 0 else (lambda gens: net.sample_keep(gens))
    batch, keep_idx = StepBatches(clips, sampler, world, 0, keep, net.mask_sampler() if mae else None)[0]
    harmonizer = Harmonizer(pre["harmonization"]["method"], pre["harmonization"]["gradvac_beta"], target=0.3)
    train_step(
        net,
        batch,
        keep_idx,
        from_settings(pre),
        harmonizer,
        pre["harmonization"]["level"],
        world,
        wrap(net) if wrap else None,
    )
    return {n: p.grad for n, p in net.named_parameters()}


@pytest.mark.parametrize("changes", REALIGNMENTS, ids=REALIGNMENT_IDS)
def test_two_processes_compute_the_gradient_of_one(tiny_config, tiny_features, tmp_path, changes):
    """The step's gradient (loss over the global batch, realigned per triplet on the triplet's own
    process, DDP-averaged) equals the 1-process gradient up to float summation order."""
    import multiprocessing
    import socket

    from mmrobust.distributed import World

    spec = realign_spec(tiny_config, changes)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    procs = [
        multiprocessing.get_context("spawn").Process(
            target=_rank_gradients, args=(r, spec, tiny_features, tmp_path, port)
        )
        for r in range(2)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    two = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    one = step_gradients(spec, tiny_features, World())
    scale = max(float(g.abs().max()) for g in one.values() if g is not None)
    for name, grad in one.items():
        if grad is None:  # mae: the per-modality LayerNorms, unused in pretraining, stay without one
            assert two[0][name] is None and two[1][name] is None, name
            continue
        assert torch.equal(two[0][name], two[1][name])  # DDP left every rank the same gradient
        assert float((two[0][name] - grad).abs().max()) < 1e-5 * scale, name


@pytest.mark.parametrize("changes", REALIGNMENTS, ids=REALIGNMENT_IDS)
def test_two_processes_reach_the_parameters_of_one(tiny_config, tiny_features, tmp_path, changes):
    """Through torchrun and the CLI, 4 steps of global batch 6 (2 x 3). Tolerance, stated: AdamW's
    first updates are about lr x sign(gradient), so a parameter whose true gradient is zero (the
    attention key biases: softmax ignores a shift shared by all keys) moves by +-lr on float noise
    in either run. The updates agree to 1% overall and to 0.1% without the key biases."""
    from conftest import run_cli

    from mmrobust.train.pretrain import build_model

    spec = realign_spec(tiny_config, changes, epochs=2)
    runs = {}
    for processes in (1, 2):
        out = tmp_path / str(processes)
        result = run_cli(*pretrain_args(spec, tiny_features, out), processes=processes)
        assert result.returncode == 0, result.stderr[-3000:]
        runs[processes] = read(out / "m.pt")["state_dict"], list(csv.DictReader((out / "m.csv").open()))
    (one, curve_one), (two, curve_two) = runs[1], runs[2]
    start = build_model(spec).state_dict()
    for skip, tolerance in ((False, 1e-2), (True, 1e-3)):
        a, b = flat_update(one, start, skip), flat_update(two, start, skip)
        assert float((a - b).norm() / a.norm()) < tolerance
    assert len(curve_one) == len(curve_two) == 4
    fields = curve_fields(create(spec["pretrain"].get("objective", "vatt")))
    for row_one, row_two in zip(
        curve_one, curve_two
    ):  # the global batch's loss and cosines (mae: NaN), not rank 0's share
        assert all(
            float(row_one[f]) == pytest.approx(float(row_two[f]), rel=1e-3, abs=1e-5, nan_ok=True)
            for f in fields
        )


def test_a_batch_that_does_not_split_is_a_clear_error(tiny_config, tiny_features, tmp_path):
    from conftest import run_cli

    spec = spec_for(tiny_config, batch_size=5)
    result = run_cli(*pretrain_args(spec, tiny_features, tmp_path), processes=2)
    assert result.returncode != 0
    assert (
        "mmrobust: error: pretrain.batch_size: a batch of 5 does not split over 2 processes" in result.stderr
    )
    assert not (tmp_path / "m.pt").exists()
