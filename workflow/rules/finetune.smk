rule finetune:
    """One method (mmrobust.downstream.methods) trained on each of the 7 training modality sets M_T of a task."""
    input:
        unpack(finetune_inputs),
    output:
        models=expand("checkpoints/{{experiment}}/{{task}}/{{method}}/{train_set}.pt", train_set=SUBSETS),
        selection="results/{experiment}/{task}/{method}/selection.csv",
    params:
        spec=study_param("finetune"),
        out=lambda wildcards, output: subpath(output.models[0], parent=True),
        flags=finetune_flags,
    threads: 1
    resources:
        **cluster_resources("finetune"),
    log:
        "logs/finetune/{experiment}/{task}/{method}.log",
    benchmark:
        "logs/benchmarks/finetune/{experiment}/{task}/{method}.tsv"
    shell:
        "scripts/launch {resources.tasks} mmrobust finetune --spec {params.spec:q} --pretrained {input.model} --embeddings {input.embeddings}"
        " --out {params.out} --selection {output.selection} {params.flags} --workers {threads} > {log} 2>&1"
