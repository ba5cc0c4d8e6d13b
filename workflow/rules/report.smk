# `snakemake --report report.html` (workflow/report/): one category per task, a subcategory for the
# tables and figures over all experiments and one per experiment (its heatmaps and headline metrics),
# and "All tasks" for the read-out, the provenance and metrics.json. Each file's wildcards come from the
# patterns below (its name in results/tables/ and results/plots/); tagging changes no output.
STUDY_CATEGORY = "All tasks"
ALL_EXPERIMENTS = "All experiments"
TASK_RE = "|".join(sorted(config["study"]["tasks"]))
# A method's sweep (mmrobust.downstream.methods) is <method>_sweep_<task>, titled as in its figure.
RESULT_TITLES = {"table1": "Table 1: P and R per stratum", "table2": "Table 2: best M_E per M_T",
                 "fig4": "Fig. 4: more modalities", "fig5": "Fig. 5: shared modalities",
                 "fig6": "Fig. 6: R against P per M_T",
                 **{f"{m}_sweep": methods.get(m).sweep.title for m in methods.swept()},
                 "heatmap": "Heatmaps p(M_E, M_T)", "readout": "Read-out", "provenance": "Provenance"}
TABLE_RE = "|".join(name for name in RESULT_TITLES if name not in ("heatmap", "readout", "provenance"))


# What a tagged file is, from its pattern's wildcards (lambdas: `snakemake --lint` wants no function
# beside a rule). Category: its task, else "All tasks"; subcategory: its experiment, else "All
# experiments" (or "All tasks"). One label, not two: with two results in a subcategory (an
# experiment's heatmaps and headline metrics), a second label of two values makes Snakemake 9.27's
# report a toggle between them that fails to show either.
REPORT_FORMATS = {"readout": "Markdown", "provenance": "JSON"}
report_category = lambda wildcards: wildcards.get("task") or STUDY_CATEGORY
report_subcategory = lambda wildcards: (wildcards.get("experiment") or ALL_EXPERIMENTS) if wildcards.get("task") else STUDY_CATEGORY
report_labels = lambda file_format: lambda wildcards: {
    "result": f"{RESULT_TITLES.get(wildcards.get('name'), 'Headline metrics: overall P and R per method')}"
              f" ({REPORT_FORMATS.get(wildcards.get('name'), file_format)})"}


rule report:
    """Tables (Markdown + CSV), figures (PNG), metrics.json, the headline metrics (headline/<task>/<experiment>.json,
    what `dvc metrics show` prints) and the read-out of every experiment and task."""
    input:
        matrices=expand("results/{experiment}/{task}/{method}/matrix.csv", experiment=sorted(config["experiments"]),
                        task=sorted(config["study"]["tasks"]), method=methods.names()),
        sweeps=expand("results/{experiment}/{task}/{method}/sweep.csv", experiment=sorted(config["experiments"]),
                      task=sorted(config["study"]["tasks"]), method=methods.swept()),
        summaries=sorted({f"features/{t['dataset']}/summary.json" for t in config["study"]["tasks"].values()}),
        # the tasks' labels: their chance levels (mmrobust.report.chance)
        labels=sorted({f"features/{t['dataset']}/index.csv" for t in config["study"]["tasks"].values()}),
    output:
        metrics=report("results/metrics.json", caption="../report/metrics.rst", category=STUDY_CATEGORY,
                       subcategory=STUDY_CATEGORY, labels={"result": "Every metric, every stratum (JSON)"}),
        headline=report(directory("results/headline"), patterns=[f"{{task,{TASK_RE}}}/{{experiment}}.json"],
                        caption="../report/headline.rst", category=report_category, subcategory=report_subcategory,
                        labels=report_labels("JSON")),
        tables=report(directory("results/tables"),
                      patterns=[f"{{name,{TABLE_RE}}}_{{task,{TASK_RE}}}.csv", "{name,readout}.md", "{name,provenance}.json"],
                      caption="../report/tables.rst", category=report_category, subcategory=report_subcategory,
                      labels=report_labels("CSV")),
        plots=report(directory("results/plots"),
                     patterns=[f"{{name,{TABLE_RE}}}_{{task,{TASK_RE}}}.png", f"{{name,heatmap}}_{{task,{TASK_RE}}}_{{experiment}}.png"],
                     caption="../report/plots.rst", category=report_category, subcategory=report_subcategory,
                     labels=report_labels("PNG")),
    params:
        spec=study_param("report"),
    localrule: True
    log:
        "logs/report/report.log",
    benchmark:
        "logs/benchmarks/report/report.tsv"
    shell:
        "mmrobust report --spec {params.spec:q} --results results --out results --provenance {input.summaries} --labels {input.labels} > {log} 2>&1"
