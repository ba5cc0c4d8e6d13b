# mmrobust workflow: download -> features -> curriculum -> pretrain -> embed -> finetune -> evaluate -> report.
# Stages live in workflow/rules/; config keys are documented in config/README.md.
# No conda: or container: directives: every rule runs in the locked .venv (requirements.lock);
# `make lint` (scripts/lint) accepts that one lint and fails on any other.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


# One line naming the key on a bad config, before any job starts; then Snakemake's own check.
check_config(config)
validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/download.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/curriculum.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/embed.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/keep.smk"


rule all:
    input:
        expand("features/{dataset}/summary.json", dataset=sorted(config["datasets"])),
        expand("checkpoints/{experiment}/model.pt", experiment=sorted(config["experiments"])),
        "results/metrics.json",
    default_target: True
