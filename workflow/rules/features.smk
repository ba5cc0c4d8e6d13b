rule features:
    """Decode once: frames at the stored short side, log-mel, caption tokens -> tar shards + index."""
    input:
        manifest="data/{dataset}/manifest.csv",
        media="data/{dataset}/media",
        skipped="data/{dataset}/skipped.csv",
    output:
        shards=directory("features/{dataset}/shards"),
        index="features/{dataset}/index.csv",
        skipped="features/{dataset}/skipped.csv",
        summary="features/{dataset}/summary.json",
    params:
        spec=stage_param("features"),
        data=subpath(input.manifest, parent=True),
        out=subpath(output.index, parent=True),
    threads: config["features"]["workers"]
    resources:
        **cluster_resources("features"),
    log:
        "logs/features/{dataset}.log",
    benchmark:
        "logs/benchmarks/features/{dataset}.tsv"
    shell:
        "mmrobust features --spec {params.spec:q} --data {params.data} --out {params.out} --workers {threads} > {log} 2>&1"
