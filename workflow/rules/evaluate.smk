rule evaluate:
    """The 7 x 7 matrix p(M_E, M_T) of a method without a sweep (from the cached embeddings or by encoding the
    evaluation split, as its entry in mmrobust.downstream.methods says)."""
    input:
        unpack(evaluate_inputs),
    output:
        "results/{experiment}/{task}/{method}/matrix.csv",
    wildcard_constraints:
        method=methods.alternatives(tuple(m for m in methods.names() if m not in methods.swept())),
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


# Any method with a sweep; named for the one that has one today, since the name is a key of
# config cluster.resources.
rule evaluate_wiseft:
    """The matrix of a method with a sweep at its configured setting, and the sweep (every value evaluated)."""
    input:
        unpack(sweep_inputs),
    output:
        matrix="results/{experiment}/{task}/{method}/matrix.csv",
        sweep="results/{experiment}/{task}/{method}/sweep.csv",
    wildcard_constraints:
        method=methods.alternatives(methods.swept()),
    params:
        spec=study_param("evaluate"),
        features=features_dir,
        dirs=sweep_flags,
    threads: 1
    resources:
        **cluster_resources("evaluate_wiseft"),
    log:
        "logs/evaluate/{experiment}/{task}/{method}.log",
    benchmark:
        "logs/benchmarks/evaluate/{experiment}/{task}/{method}.tsv"
    shell:
        "mmrobust evaluate --spec {params.spec:q} --embeddings {input.embeddings} {params.dirs} --features {params.features}"
        " --pretrained {input.model}"
        " --out {output.matrix} --sweep {output.sweep} --workers {threads} > {log} 2>&1"
