# Helpers shared by the rules. The package decides what each stage depends on (stage_spec), so
# Snakemake reruns a stage exactly when its part of the config changes (the params trigger).
import sys

from mmrobust.config import experiment_settings, spec_json, validate_config
from mmrobust.errors import MmrobustError


wildcard_constraints:
    dataset="[a-z0-9][a-z0-9_-]*",


def check_config(config):
    # Name the files the user gave: the Snakefile's configfile plus any --configfile.
    given = [str(f) for f in workflow.overwrite_configfiles or []]
    files = given if workflow.config_settings.replace_workflow_config else ["config/config.yaml", *given]
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


def pretrain_inputs(wildcards):
    """The pretraining split's features, and the CLIP checkpoint when the model starts from one."""
    pre = experiment_pretrain(wildcards)
    inputs = {"index": f"features/{pre['dataset']}/index.csv", "shards": f"features/{pre['dataset']}/shards"}
    if pre["init"]["from"] == "clip":
        inputs["clip"] = pre["init"]["path"]
    return inputs


def curriculum_scores(wildcards):
    """The scores table when the experiment samples by curriculum."""
    if experiment_pretrain(wildcards)["curriculum"]["enabled"]:
        return {"scores": f"results/{wildcards.experiment}/curriculum/scores.csv"}
    return {}
