rule curriculum:
    """Warm-up model (plain VATT), then each pretraining triplet's gradient-conflict score."""
    input:
        unpack(pretrain_inputs),
    output:
        scores="results/{experiment}/curriculum/scores.csv",
        warmup="checkpoints/{experiment}/warmup.pt",
        curves="results/{experiment}/curriculum/warmup_curves.csv",
    params:
        spec=experiment_param("curriculum"),
        features=features_dir,
    threads: config["features"]["workers"]
    resources:
        **cluster_resources("curriculum"),
    log:
        "logs/curriculum/{experiment}.log",
    benchmark:
        "logs/benchmarks/curriculum/{experiment}.tsv"
    shell:
        "mmrobust curriculum --spec {params.spec:q} --features {params.features} --scores {output.scores}"
        " --warmup {output.warmup} --curves {output.curves} --workers {threads} > {log} 2>&1"
