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
        features=features_dir,
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


if clip_files():

    rule clip_checkpoint:
        """The CLIP weights of `init: {from: clip}`. No model hub is reachable from the nodes, so this job
        only stops, saying where the file must go; once the file is there, it never runs."""
        output:
            clip_files(),
        log:
            "logs/clip_checkpoint.log",
        benchmark:
            "logs/benchmarks/clip_checkpoint.tsv"
        localrule: True
        shell:
            "echo 'missing {output}: save an open_clip ViT-B/16 state dict there (torch.save of"
            " model.state_dict()); see src/mmrobust/models/clip_init.py' | tee {log} >&2; exit 1"
