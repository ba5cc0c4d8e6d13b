"""Pretraining: deterministic on CPU, resumes after a real SIGKILL to the same parameters, curves logged."""
import csv
import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from mmrobust.config import parse_spec, stage_spec
from mmrobust.train.checkpoint import read
from mmrobust.train.stages import clips_for, run_curriculum
from mmrobust.train.pretrain import CURVE_FIELDS, pretrain

pytestmark = pytest.mark.slow


def spec_for(config, experiment="vatt", **changes):
    spec = stage_spec("pretrain", config, experiment)
    spec["pretrain"].update(changes)
    return spec


def train(spec, features, out_dir, name="m"):
    pretrain(spec, clips_for(spec, features), out_dir / f"{name}.pt", out_dir / f"{name}.csv", out_dir / f".{name}", None, 1)
    return read(out_dir / f"{name}.pt")["state_dict"], (out_dir / f"{name}.csv").read_bytes()


def same_params(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_parameters_and_curves(tiny_config, tiny_features, tmp_path):
    spec = spec_for(tiny_config, epochs=2)
    a, curve_a = train(spec, tiny_features, tmp_path / "a")
    b, curve_b = train(spec, tiny_features, tmp_path / "b")
    assert same_params(a, b) and curve_a == curve_b
    assert (tmp_path / "a" / "m.pt").read_bytes() == (tmp_path / "b" / "m.pt").read_bytes()
    rows = list(csv.DictReader(curve_a.decode().splitlines()))
    assert tuple(rows[0]) == CURVE_FIELDS and len(rows) == 2 * 12 // 6
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
    cmd = [sys.executable, "-m", "mmrobust", "pretrain", "--spec", json.dumps(spec), "--features", str(tiny_features),
           "--out", str(out), "--curves", str(tmp_path / "run" / "m.csv"), "--workers", "1"]
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
    keys = {resume_key(spec, tiny_features, None), resume_key(spec, tiny_features, tmp_path / "a.csv"),
            resume_key(spec, tiny_features, tmp_path / "b.csv"), resume_key({**spec, "seed": 9}, tiny_features, None)}
    assert len(keys) == 4
    assert resume_key(spec, tiny_features, None) == resume_key(spec, tiny_features, None)


def test_curriculum_stage_scores_every_clip(tiny_config, tiny_features, tmp_path):
    spec = parse_spec("curriculum", json.dumps(stage_spec("curriculum", tiny_config, "curriculum")))
    run_curriculum(spec, tiny_features, tmp_path / "scores.csv", tmp_path / "warm.pt", tmp_path / "warm.csv", 1)
    rows = list(csv.DictReader((tmp_path / "scores.csv").open()))
    ids = clips_for(spec, tiny_features).ids
    assert [r["id"] for r in rows] == ids
    assert sorted(int(r["rank"]) for r in rows) == list(range(len(ids)))
    scored = [float(r["cosine"]) for r in rows if r["cosine"]]
    assert scored and all(-1 <= c <= 1 for c in scored)
