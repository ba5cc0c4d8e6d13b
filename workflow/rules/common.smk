# Helpers shared by the rules. The package decides what each stage depends on (stage_spec), so
# Snakemake reruns a stage exactly when its part of the config changes (the params trigger).
import sys

from mmrobust.config import experiment_settings, spec_json, validate_config
from mmrobust.errors import MmrobustError


wildcard_constraints:
    dataset="[a-z0-9][a-z0-9_-]*",


def check_config(config):
    # Name the files the user gave: the Snakefile's configfile plus any --configfile.
    files = ["config/config.yaml", *map(str, workflow.overwrite_configfiles or [])]
    try:
        validate_config(config, "+".join(files))
    except MmrobustError as exc:
        sys.exit(f"mmrobust: error: {exc}")


def stage_param(stage):
    return lambda wildcards: spec_json(stage, config, wildcards.dataset)


wildcard_constraints:
    experiment="[a-z0-9][a-z0-9_-]*",


def experiment_pretrain(wildcards):
    """The experiment's merged pretrain settings (pretrain + its overrides)."""
    return experiment_settings(config, wildcards.experiment)["pretrain"]


def experiment_param(stage):
    return lambda wildcards: spec_json(stage, config, wildcards.experiment)


def pretrain_features(wildcards):
    dataset = experiment_pretrain(wildcards)["dataset"]
    return {"index": f"features/{dataset}/index.csv", "shards": f"features/{dataset}/shards"}
