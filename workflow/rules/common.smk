# Helpers shared by the rules. The package decides what each stage depends on (stage_spec), so
# Snakemake reruns a stage exactly when its part of the config changes (the params trigger).
import functools
import os
import sys

from mmrobust.config import experiment_settings, spec_json, study_spec_json, validate_config
from mmrobust.downstream import methods
from mmrobust.errors import MmrobustError
from mmrobust.modalities import SUBSETS


# Names are lower-case slugs (they become folder names); a method is one of the registered ones.
wildcard_constraints:
    dataset="[a-z0-9][a-z0-9_-]*",
    experiment="[a-z0-9][a-z0-9_-]*",
    task="[a-z0-9][a-z0-9_-]*",
    method=methods.alternatives(methods.names()),


# A rule's cluster request when config `cluster.resources` names neither it nor `default`.
RESOURCE_FALLBACK = {"gpus": 0, "tasks": 1, "nodes": 1, "cpus_per_task": 1, "mem_mb": 2000, "runtime": 60}


def cluster_resources(rule_name):
    """The job's SLURM request in the executor plugin's names, from config `cluster` (local runs
    ignore them). tasks > 1: `mpi` keeps the plugin from wrapping the job in `srun -n1`, because
    scripts/launch starts the processes with its own srun; GPU jobs get one process per GPU."""
    cluster = config["cluster"]
    res = {**RESOURCE_FALLBACK, **cluster["resources"].get("default", {}), **cluster["resources"].get(rule_name, {})}
    out = {k: res[k] for k in ("tasks", "nodes", "cpus_per_task", "mem_mb", "runtime")}
    if res["gpus"]:
        out |= {"gpu": res["gpus"], "tasks_per_gpu": 1}
    if res["tasks"] > 1:
        out["mpi"] = "srun"
    partition = os.environ.get("MMROBUST_SLURM_PARTITION") or cluster["partition"]
    account = os.environ.get("MMROBUST_SLURM_ACCOUNT") or cluster["account"]
    return out | ({"slurm_partition": partition} if partition else {}) | ({"slurm_account": account} if account else {})


def config_files():
    # Name the files the user gave: the Snakefile's configfile plus any --configfile.
    given = [str(f) for f in workflow.overwrite_configfiles or []]
    return "+".join(given if workflow.config_settings.replace_workflow_config else ["config/config.yaml", *given])


def check_config(config):
    try:
        validate_config(config, config_files())
    except MmrobustError as exc:
        sys.exit(f"mmrobust: error: {exc}")


# wildcard -> (config field, its names). Constraints built from these names would only make
# Snakemake say "No rule to produce ..."; the input functions below say which names exist.
NAMED = {"experiment": ("experiments", lambda: config["experiments"]),
         "task": ("study.tasks", lambda: config["study"]["tasks"]),
         "dataset": ("datasets", lambda: config["datasets"])}


def known_names(function):
    """An input or params function that first stops the run in one line when the job's experiment,
    task or dataset is not in the config (a target such as checkpoints/nosuch/model.pt), and turns
    MmrobustError into one line as well; Snakemake would print an exception block for either.
    sys.exit because SystemExit passes through Snakemake's handling of input-function errors."""
    @functools.wraps(function)
    def checked(wildcards, *args, **kwargs):
        for wildcard, (field, names) in NAMED.items():
            value = wildcards.get(wildcard)
            if value is not None and value not in names():
                sys.exit(f"mmrobust: error: {config_files()}: {field}: a target asks for {wildcard} {value!r}, "
                         f"which is not configured (known: {', '.join(sorted(names()))})")
        try:
            return function(wildcards, *args, **kwargs)
        except MmrobustError as exc:
            sys.exit(f"mmrobust: error: {exc}")
    return checked


def stage_param(stage):
    return known_names(lambda wildcards: spec_json(stage, config, wildcards.dataset))


@known_names
def experiment_pretrain(wildcards):
    """The experiment's merged pretrain settings (pretrain + its overrides)."""
    return experiment_settings(config, wildcards.experiment)["pretrain"]


def experiment_param(stage):
    return known_names(lambda wildcards: spec_json(stage, config, wildcards.experiment))


@known_names
def pretrain_inputs(wildcards):
    """The pretraining split's features, and the CLIP checkpoint when the model starts from one."""
    pre = experiment_pretrain(wildcards)
    inputs = {"index": f"features/{pre['dataset']}/index.csv", "shards": f"features/{pre['dataset']}/shards"}
    if pre["init"]["from"] == "clip":
        inputs["clip"] = pre["init"]["path"]
    return inputs


def clip_files():
    """The CLIP checkpoints the experiments start from (init.from: clip)."""
    inits = (experiment_settings(config, e)["pretrain"]["init"] for e in sorted(config["experiments"]))
    return sorted({init["path"] for init in inits if init["from"] == "clip"})


@known_names
def curriculum_scores(wildcards):
    """The scores table when the experiment samples by curriculum."""
    if experiment_pretrain(wildcards)["curriculum"]["enabled"]:
        return {"scores": f"results/{wildcards.experiment}/curriculum/scores.csv"}
    return {}


# --- the robustness study (embed -> finetune -> evaluate -> report) ---


def study_param(stage):
    return known_names(lambda wildcards: study_spec_json(stage, config, wildcards.get("task"), wildcards.get("method")))


def features_dir(wildcards, input):
    """The features folder of a rule's `index` input (the CLI's --features)."""
    return subpath(input.index, parent=True)


def features_of(dataset):
    return {"index": f"features/{dataset}/index.csv", "shards": f"features/{dataset}/shards"}


@known_names
def task_features(wildcards):
    return features_of(config["study"]["tasks"][wildcards.task]["dataset"])


# What a method's jobs read comes from its entry in mmrobust.downstream.methods (the registry).
@known_names
def finetune_inputs(wildcards):
    """The cached embeddings; the task's clips, D_SD's clips and the models of the methods it starts
    from when the method reads them (lp: none; ft: clips, lp; masd: clips, D_SD, lp; wiseft: lp, masd)."""
    return methods.finetune_inputs(config, wildcards.experiment, wildcards.task, wildcards.method)


def finetune_flags(wildcards, input):
    """The CLI flags of the inputs this method has."""
    return methods.finetune_flags(wildcards.method, {key: input[key] for key in input.keys()})


@known_names
def evaluate_inputs(wildcards):
    return {**task_features(wildcards), "embeddings": f"embeddings/{wildcards.experiment}/{wildcards.task}.pt",
            "models": methods.models(wildcards.experiment, wildcards.task, wildcards.method)}


@known_names
def sweep_inputs(wildcards):
    return methods.sweep_inputs(config, wildcards.experiment, wildcards.task, wildcards.method)


def sweep_flags(wildcards, input):
    return methods.sweep_flags(wildcards.method, {key: input[key] for key in input.keys()})
