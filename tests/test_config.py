"""Config validation: one line naming the file and the key, before any work, from CLI and Snakemake."""

import json
import subprocess
import sys

import pytest
import yaml
from conftest import REPO, TINY, copy_workflow, run_cli, snakemake_env

from mmrobust.config import experiment_settings, load_config, parse_spec, spec_json, study_spec_json
from mmrobust.errors import MmrobustError


def write(tmp_path, text):
    path = tmp_path / "override.yaml"
    path.write_text(text)
    return path


def test_defaults_are_filled_and_both_configs_load():
    config = load_config(TINY)
    assert config["datasets"]["synthetic"]["synthetic"]["splits"]["pretrain"] == 12
    assert config["features"]["audio"]["n_mels"] == 128  # from config.yaml, not overridden
    default = load_config([REPO / "config" / "config.yaml"])
    assert default["datasets"]["synthetic"]["synthetic"]["splits"]["pretrain"] > 12


@pytest.mark.parametrize(
    "text, key, words",
    [
        ("seed: -1\n", "seed", "minimum"),
        (
            "features:\n  video:\n    num_frames: eight\n",
            "features.video.num_frames",
            "not of type 'integer'",
        ),
        ("features:\n  vidoe: {}\n", "features.vidoe", "unknown key"),
        ("datasets:\n  synthetic:\n    source: vimeo\n", "datasets.synthetic.source", "is not one of"),
        ("datasets:\n  x:\n    source: youtube\n    youtube: {}\n", "datasets.x.catalog", "missing key"),
        ("datasets:\n  synthetic:\n    source: local\n", "datasets.synthetic.local", "missing key"),
        (
            "datasets:\n  x:\n    source: local\n    local: {path: a, manifest: b}\n",
            "datasets.x.local",
            "exactly one of path or manifest",
        ),
        ("features:\n  video:\n    crop_size: 500\n", "features.video.crop_size", "does not fit"),
        (
            "features:\n  video:\n    train_short_side: [80, 64]\n",
            "features.video.train_short_side",
            "above max",
        ),
        (
            "datasets:\n  synthetic:\n    synthetic:\n      concepts_per_clip: [3, 1]\n",
            "datasets.synthetic.synthetic.concepts_per_clip",
            "above max",
        ),
        (
            "study:\n  tasks:\n    audioset: {dataset: audioset, train: a, eval: b, kind: multilabel}\n",
            "study.tasks.audioset.dataset",
            "not a configured dataset",
        ),
        (
            "study:\n  tasks:\n    multilabel: {kind: ranking}\n",
            "study.tasks.multilabel.kind",
            "is not one of",
        ),
        ("study:\n  wiseft: {alpha: 1.5}\n", "study.wiseft.alpha", "maximum"),
        ("study:\n  validation_fraction: 1\n", "study.validation_fraction", "maximum"),
        # objective mae: nothing to compare, no CLIP init, its model keys only for it
        (
            "experiments:\n  mae: {curriculum: {enabled: true}}\n",
            "experiments.mae (merged over pretrain): curriculum.enabled",
            "true needs a contrastive objective (mae has no pair of terms to compare)",
        ),
        (
            "experiments:\n  mae: {init: {from: clip, path: x.pt}}\n",
            "experiments.mae (merged over pretrain): init.from",
            "clip: objective mae starts from scratch",
        ),
        (
            "experiments:\n  vatt: {model: {mask_ratio: 0.5}}\n",
            "experiments.vatt (merged over pretrain): model.mask_ratio",
            "only for objective mae",
        ),
        (
            "experiments:\n  mae: {loss_weights: {va: 1.0}}\n",
            "experiments.mae (merged over pretrain): loss_weights.va",
            "unknown key (allowed: audio, text, video)",
        ),
    ],
)
def test_bad_config_names_file_and_key(tmp_path, text, key, words):
    override = write(tmp_path, text)
    with pytest.raises(MmrobustError) as info:
        load_config([REPO / "config" / "config.yaml", override])
    message = str(info.value)
    assert "\n" not in message
    assert f"{override}: {key}: " in message
    assert words in message


def test_cli_prints_one_line_and_exits_2(tmp_path):
    override = write(tmp_path, "features:\n  shard_size: many\n")
    result = run_cli("check-config", "--config", str(REPO / "config" / "config.yaml"), str(override))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "features.shard_size: 'many' is not of type 'integer'" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_rejects_bad_spec_before_work(tmp_path):
    result = run_cli(
        "features",
        "--spec",
        '{"features": {"video": {"num_frames": 0}}}',
        "--data",
        str(tmp_path / "none"),
        "--out",
        str(tmp_path / "out"),
    )
    assert result.returncode == 2
    assert "--spec: features.video.num_frames: 0 is less than the minimum of 1" in result.stderr
    assert not (tmp_path / "out").exists()


def test_spec_round_trip_equals_config_part(tiny_config):
    spec = parse_spec("download", spec_json("download", tiny_config, "synthetic"))
    assert spec["dataset"] == tiny_config["datasets"]["synthetic"]
    features = parse_spec("features", spec_json("features", tiny_config, "synthetic"))["features"]
    assert features["video"] == tiny_config["features"]["video"]


def test_workers_do_not_enter_the_features_spec(tiny_config):
    # A different worker count must not make Snakemake rerun the stage.
    other = yaml.safe_load(yaml.safe_dump(tiny_config))
    other["features"]["workers"] = 7
    assert spec_json("features", other, "synthetic") == spec_json("features", tiny_config, "synthetic")


def test_validating_a_config_never_loads_torch():
    # The Snakefile validates at every parse (and SLURM jobs parse it again): it must stay cheap.
    code = (
        "import sys; from mmrobust.config import load_config, stage_spec; "
        f"c = load_config({[str(p) for p in TINY]!r}); stage_spec('pretrain', c, 'vatt'); "
        "print(sorted(m for m in ('torch', 'timm', 'decord') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_snakemake_stops_at_start_on_bad_config(tmp_path):
    copy_workflow(tmp_path)
    override = write(tmp_path, "features:\n  audio:\n    n_mels: lots\n")
    result = subprocess.run(
        ["snakemake", "-n", "--configfile", str(override)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=snakemake_env(),
    )
    assert result.returncode != 0
    assert (
        f"config/config.yaml+{override}: features.audio.n_mels: 'lots' is not of type 'integer'"
        in result.stderr + result.stdout
    )
    assert not (tmp_path / "data").exists()


def test_snakemake_refuses_realignment_with_mae_in_one_line(tmp_path):
    copy_workflow(tmp_path)
    override = write(tmp_path, "experiments:\n  mae: {harmonization: {method: pcgrad}}\n")
    result = subprocess.run(
        ["snakemake", "-n", "--configfile", str(override)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=snakemake_env(),
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    errors = [line for line in output.splitlines() if "rror" in line or "Traceback" in line]
    assert errors == [
        f"mmrobust: error: config/config.yaml+{override}: experiments.mae (merged over pretrain): "
        "harmonization.method: pcgrad needs a contrastive objective (mae has no pair of terms to compare)"
    ], output
    assert not (tmp_path / "data").exists()


def test_mae_experiment_starts_from_its_own_loss_weights_and_mask_ratios():
    config = load_config([REPO / "config" / "config.yaml"])
    mae = experiment_settings(config, "mae")["pretrain"]
    assert mae["objective"] == "mae" and mae["loss_weights"] == {"video": 1.0, "audio": 1.0, "text": 1.0}
    assert (mae["model"]["mask_ratio"], mae["model"]["text_mask_ratio"]) == (0.75, 0.5)
    vatt = experiment_settings(config, "vatt")["pretrain"]
    assert "objective" not in vatt and "mask_ratio" not in vatt["model"]
    assert vatt["loss_weights"] == {"va": 1.0, "vt": 1.0}


@pytest.mark.parametrize(
    "target, field, what, known",
    [
        (
            "checkpoints/nosuch/model.pt",
            "experiments",
            "experiment 'nosuch'",
            "curriculum, harmonized, mae, pairwise, realign, vatt",
        ),
        (
            "results/nosuch/multilabel/wiseft/sweep.csv",
            "experiments",
            "experiment 'nosuch'",
            "curriculum, harmonized, mae, pairwise, realign, vatt",
        ),
        (
            "checkpoints/nosuch/multilabel/lp/VA.pt",
            "experiments",
            "experiment 'nosuch'",
            "curriculum, harmonized, mae, pairwise, realign, vatt",
        ),
        ("embeddings/vatt/nosuch.pt", "study.tasks", "task 'nosuch'", "multilabel, singlelabel"),
        ("features/nosuch/summary.json", "datasets", "dataset 'nosuch'", "synthetic"),
    ],
)
def test_snakemake_target_of_an_unknown_name_is_one_line(tmp_path, target, field, what, known):
    copy_workflow(tmp_path)
    tiny = tmp_path / "config" / "tiny.yaml"
    result = subprocess.run(
        ["snakemake", "-n", "--configfile", str(tiny), "--", target],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=snakemake_env(),
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    errors = [
        line for line in output.splitlines() if "rror" in line or "xception" in line or "Traceback" in line
    ]
    assert errors == [
        f"mmrobust: error: config/config.yaml+{tiny}: {field}: a target asks for {what}, "
        f"which is not configured (known: {known})"
    ], output


# Exponent floats that PyYAML (YAML 1.1) reads as text: no dot, or no sign in the exponent.
TEXT_FLOATS = (
    "pretrain:\n  lr: 3e-4\n  weight_decay: 1.0e2\n"
    "study:\n  lp: {weight_decay: [0.0, 1E-4]}\n  ft: {lr: 5e-5}\n"
    "experiments:\n  realign: {lr: 2e-4}\n"
)
SAME_AS_NUMBERS = (
    "pretrain:\n  lr: 0.0003\n  weight_decay: 100.0\n"
    "study:\n  lp: {weight_decay: [0.0, 0.0001]}\n  ft: {lr: 0.00005}\n"
    "experiments:\n  realign: {lr: 0.0002}\n"
)


def test_yaml_reads_exponent_floats_as_text():
    # the reason for the conversion: without it these keys would fail "is not of type 'number'"
    assert yaml.safe_load(TEXT_FLOATS)["pretrain"] == {"lr": "3e-4", "weight_decay": "1.0e2"}


def test_exponent_floats_are_read_as_numbers(tmp_path):
    config = load_config([*TINY, write(tmp_path, TEXT_FLOATS)])
    assert config["pretrain"]["lr"] == 0.0003 and config["pretrain"]["weight_decay"] == 100.0
    assert config["study"]["lp"]["weight_decay"] == [0.0, 0.0001]
    assert config["study"]["ft"]["lr"] == 0.00005
    assert json.loads(spec_json("pretrain", config, "realign"))["pretrain"]["lr"] == 0.0002
    assert json.loads(spec_json("pretrain", config, "vatt"))["pretrain"]["lr"] == 0.0003


def test_exponent_floats_give_the_specs_of_the_decimal_floats(tmp_path):
    text = load_config([*TINY, write(tmp_path, TEXT_FLOATS)])
    numbers = load_config([*TINY, write(tmp_path, SAME_AS_NUMBERS)])
    for experiment in ("vatt", "realign"):
        assert spec_json("pretrain", text, experiment) == spec_json("pretrain", numbers, experiment)
    assert study_spec_json("finetune", text, "multilabel", "masd") == study_spec_json(
        "finetune", numbers, "multilabel", "masd"
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("pretrain:\n  lr: 3e-4x\n", "pretrain.lr: '3e-4x' is not of type 'number'"),
        ("pretrain:\n  lr: '0.1'\n", "pretrain.lr: '0.1' is not of type 'number'"),  # quoted text stays text
        (
            "features:\n  video:\n    num_frames: 1e1\n",
            "features.video.num_frames: '1e1' is not of type 'integer'",
        ),
    ],
)
def test_other_text_is_still_not_a_number(tmp_path, text, message):
    with pytest.raises(MmrobustError) as info:
        load_config([REPO / "config" / "config.yaml", write(tmp_path, text)])
    assert message in str(info.value)


def test_cli_accepts_exponent_floats(tmp_path):
    result = run_cli(
        "check-config", "--config", str(REPO / "config" / "config.yaml"), str(write(tmp_path, TEXT_FLOATS))
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: ")


def shell_commands(cwd, override) -> list[str]:
    result = subprocess.run(
        ["snakemake", "-n", "-p", "--configfile", "config/tiny.yaml", str(override)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=snakemake_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return sorted(line for line in result.stdout.splitlines() if line.startswith("Shell command: "))


def test_snakemake_runs_exponent_floats_as_the_decimal_floats(tmp_path):
    # Snakemake's own validate comes after check_config, which converts; the jobs' --spec params
    # (what decides reruns) are those of the same config written with decimal floats
    copy_workflow(tmp_path)
    text = shell_commands(tmp_path, write(tmp_path / "config", TEXT_FLOATS))
    numbers = shell_commands(tmp_path, write(tmp_path / "config", SAME_AS_NUMBERS))
    assert text == numbers
    assert any('"lr":0.0003' in line for line in text) and any('"lr":0.0002' in line for line in text)
