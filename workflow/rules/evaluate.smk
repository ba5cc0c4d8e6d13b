rule evaluate:
    """The 7 x 7 matrix p(M_E, M_T) of lp, ft or masd (lp from the cached embeddings)."""
    input:
        unpack(task_features),
        embeddings="embeddings/{experiment}/{task}.pt",
        models=lambda wildcards: method_models(wildcards, wildcards.method),
    output:
        "results/{experiment}/{task}/{method}/matrix.csv",
    wildcard_constraints:
        method="lp|ft|masd",
    params:
        spec=study_param("evaluate"),
        models=lambda wildcards, input: subpath(input.models[0], parent=True),
        features=features_dir,
    threads: 1
    resources:
        **cluster_resources("evaluate"),
    log:
        "logs/evaluate/{experiment}/{task}/{method}.log",
    benchmark:
        "logs/benchmarks/evaluate/{experiment}/{task}/{method}.tsv"
    shell:
        "mmrobust evaluate --spec {params.spec:q} --embeddings {input.embeddings} --models {params.models}"
        " --features {params.features} --out {output} --workers {threads} > {log} 2>&1"


rule evaluate_wiseft:
    """The WiSE-FT matrix at the configured α, and the α sweep (every α evaluated, 0 and 1 too)."""
    input:
        unpack(task_features),
        embeddings="embeddings/{experiment}/{task}.pt",
        model="checkpoints/{experiment}/model.pt",
        models=lambda wildcards: method_models(wildcards, "wiseft"),
        lp=lambda wildcards: method_models(wildcards, "lp"),
        masd=lambda wildcards: method_models(wildcards, "masd"),
    output:
        matrix="results/{experiment}/{task}/wiseft/matrix.csv",
        sweep="results/{experiment}/{task}/wiseft/sweep.csv",
    params:
        spec=lambda wildcards: study_spec_json("evaluate", config, wildcards.task, "wiseft"),
        features=features_dir,
        dirs=lambda wildcards, input: " ".join(f"--{m} {subpath(input[m][0], parent=True)}" for m in ("models", "lp", "masd")),
    threads: 1
    resources:
        **cluster_resources("evaluate_wiseft"),
    log:
        "logs/evaluate/{experiment}/{task}/wiseft.log",
    benchmark:
        "logs/benchmarks/evaluate/{experiment}/{task}/wiseft.tsv"
    shell:
        "mmrobust evaluate --spec {params.spec:q} --embeddings {input.embeddings} {params.dirs} --features {params.features}"
        " --pretrained {input.model}"
        " --out {output.matrix} --sweep {output.sweep} --workers {threads} > {log} 2>&1"
