rule embed:
    """Per-modality embeddings of a task's train and eval splits under one pretrained model (cached for lp)."""
    input:
        unpack(task_features),
        model="checkpoints/{experiment}/model.pt",
    output:
        "embeddings/{experiment}/{task}.pt",
    params:
        spec=study_param("embed"),
        features=features_dir,
    threads: 1
    resources:
        **cluster_resources("embed"),
    log:
        "logs/embed/{experiment}/{task}.log",
    benchmark:
        "logs/benchmarks/embed/{experiment}/{task}.tsv"
    shell:
        "mmrobust embed --spec {params.spec:q} --pretrained {input.model} --features {params.features}"
        " --out {output} --workers {threads} > {log} 2>&1"
