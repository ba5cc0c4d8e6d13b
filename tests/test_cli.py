"""The command line itself: --version, each subcommand's options, and the workflow's command lines."""

import re
import shlex
import subprocess
import sys
import tomllib
from collections import Counter

import pytest
from conftest import REPO, copy_workflow, snakemake_env

from mmrobust.cli import build_parser


def test_version_prints_the_project_version():
    result = subprocess.run(
        [sys.executable, "-m", "mmrobust", "--version"], capture_output=True, text=True, timeout=120
    )
    expected = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"mmrobust {expected}\n"


def options(command: str, capsys) -> set[str]:
    """The options `mmrobust COMMAND --help` lists (the first option of each line of the options list)."""
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args([command, "--help"])
    assert exit_.value.code == 0
    return set(re.findall(r"^  (--[a-z-]+)", capsys.readouterr().out, re.M))


STAGE = {"--spec", "--config"}


@pytest.mark.parametrize(
    "command, expected",
    [
        ("download", STAGE | {"--dataset", "--workers", "--out"}),
        ("features", STAGE | {"--dataset", "--workers", "--data", "--out"}),
        (
            "curriculum",
            STAGE | {"--experiment", "--workers", "--features", "--scores", "--warmup", "--curves"},
        ),
        ("pretrain", STAGE | {"--experiment", "--workers", "--features", "--out", "--curves", "--scores"}),
        ("embed", STAGE | {"--task", "--workers", "--pretrained", "--features", "--out"}),
        (
            "finetune",
            STAGE
            | {
                "--task",
                "--method",
                "--workers",
                "--pretrained",
                "--embeddings",
                "--features",
                "--lp",
                "--masd",
                "--out",
                "--selection",
                "--distill-features",
            },
        ),
        (
            "evaluate",
            STAGE
            | {
                "--task",
                "--method",
                "--workers",
                "--pretrained",
                "--embeddings",
                "--features",
                "--lp",
                "--masd",
                "--models",
                "--out",
                "--sweep",
            },
        ),
        ("report", STAGE | {"--results", "--out", "--provenance", "--labels"}),
    ],
)
def test_help_lists_exactly_the_options_the_command_reads(command, expected, capsys):
    assert options(command, capsys) == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["download", "--experiment", "vatt", "--out", "x"],
        ["pretrain", "--task", "multilabel", "--features", "f", "--out", "o", "--curves", "c"],
        ["report", "--workers", "2", "--results", "r", "--out", "o"],
    ],
)
def test_an_option_the_command_ignores_is_refused(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv)
    assert exit_.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_every_command_line_of_the_workflow_parses(tmp_path):
    """What the rules run (the tiny config's 81 jobs, every rule and method), parsed as the CLI will."""
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-p", "--configfile", "config/tiny.yaml"],
        cwd=copy_workflow(tmp_path),
        capture_output=True,
        text=True,
        env=snakemake_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [
        line.removeprefix("Shell command: ")
        for line in result.stdout.splitlines()
        if line.startswith("Shell command: ")
    ]
    parsed = Counter()
    for line in lines:
        if line == "None":  # rule all: no command
            continue
        words = shlex.split(line)
        words = words[
            words.index("mmrobust") + 1 : words.index(">")
        ]  # after scripts/launch N; before the log redirect
        args = build_parser().parse_args(words)
        assert args.spec, line
        parsed[args.command] += 1
    assert parsed == {
        "download": 1,
        "features": 1,
        "curriculum": 2,
        "pretrain": 6,  # vatt, realign, curriculum, harmonized, pairwise, mae
        "embed": 12,  # 6 experiments x 2 tasks
        "finetune": 48,  # x 4 methods
        "evaluate": 48,  # x (lp, ft, masd) + the wiseft evaluation
        "report": 1,
    }
