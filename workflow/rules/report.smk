rule report:
    """Tables (Markdown + CSV), figures (PNG), metrics.json, the headline metrics (headline/<task>/<experiment>.json,
    what `dvc metrics show` prints) and the read-out of every experiment and task."""
    input:
        matrices=expand("results/{experiment}/{task}/{method}/matrix.csv", experiment=sorted(config["experiments"]),
                        task=sorted(config["study"]["tasks"]), method=methods.names()),
        sweeps=expand("results/{experiment}/{task}/{method}/sweep.csv", experiment=sorted(config["experiments"]),
                      task=sorted(config["study"]["tasks"]), method=methods.swept()),
        summaries=sorted({f"features/{t['dataset']}/summary.json" for t in config["study"]["tasks"].values()}),
    output:
        metrics="results/metrics.json",
        headline=directory("results/headline"),
        tables=directory("results/tables"),
        plots=directory("results/plots"),
    params:
        spec=study_param("report"),
    localrule: True
    log:
        "logs/report/report.log",
    benchmark:
        "logs/benchmarks/report/report.tsv"
    shell:
        "mmrobust report --spec {params.spec:q} --results results --out results --provenance {input.summaries} > {log} 2>&1"
