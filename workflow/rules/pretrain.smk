rule pretrain:
    """VATT pretraining of one experiment (realignment and curriculum as configured); resumes after a kill."""
    input:
        unpack(pretrain_inputs),
        unpack(curriculum_scores),
    output:
        model="checkpoints/{experiment}/model.pt",
        curves="results/{experiment}/pretrain/curves.csv",
    params:
        spec=experiment_param("pretrain"),
        features=lambda wildcards, input: subpath(input.index, parent=True),
        scores=lambda wildcards, input: f"--scores {input.scores}" if "scores" in input.keys() else "",
    threads: config["features"]["workers"]
    resources:
        **cluster_resources("pretrain"),
    log:
        "logs/pretrain/{experiment}.log",
    benchmark:
        "logs/benchmarks/pretrain/{experiment}.tsv"
    shell:
        "scripts/launch {resources.tasks} mmrobust pretrain --spec {params.spec:q} --features {params.features} --out {output.model}"
        " --curves {output.curves} {params.scores} --workers {threads} > {log} 2>&1"
