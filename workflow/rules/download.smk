rule download:
    """Manifest + media of one dataset from its source (synthetic, local folder/CSV, http shards)."""
    output:
        manifest="data/{dataset}/manifest.csv",
        media=directory("data/{dataset}/media"),
        skipped="data/{dataset}/skipped.csv",
        meta=directory("data/{dataset}/meta"),
    params:
        spec=stage_param("download"),
        out=subpath(output.manifest, parent=True),
    threads: config["features"]["workers"]
    resources:
        **cluster_resources("download"),
    log:
        "logs/download/{dataset}.log",
    benchmark:
        "logs/benchmarks/download/{dataset}.tsv"
    shell:
        "mmrobust download --spec {params.spec:q} --out {params.out} --workers {threads} > {log} 2>&1"
