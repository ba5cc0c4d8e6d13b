"""Cost of the 49 cells of the 7 x 7 matrix for a frozen-encoder method (lp), against one embedding
pass over the evaluation split (ratios from one run, the variants interleaved round by round).

  one pass    the three per-modality embeddings E_V, E_A, E_T of every evaluation clip;
  ours        one pass, then for each of the 7 M_T heads and 7 M_E: Eq. 7's mean, the head, the metric;
  naive       for each of the 49 cells, a forward pass of the M_E modalities through the encoders.
Goal (issue 5): ours at most 1.5x one pass. Reads the default pipeline's outputs (`make run` first).

Usage: python benchmarks/eval_cost.py [--experiment vatt] [--task multilabel] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from common import machine, timed_interleaved

from mmrobust.config import load_config, study_spec
from mmrobust.downstream.embed import split_embeddings
from mmrobust.downstream.model import Classifier, column
from mmrobust.evaluate.metrics import task_metric
from mmrobust.features.clips import ClipSet
from mmrobust.modalities import SUBSETS
from mmrobust.models import checkpoint
from mmrobust.models.checkpoint import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", nargs="+", default=["config/config.yaml"])
    parser.add_argument("--experiment", default="vatt")
    parser.add_argument("--task", default="multilabel")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/eval_cost.json")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the evaluate jobs run
    spec = study_spec("evaluate", load_config(args.config), args.task, "lp")
    task = spec["task"]
    encoder, _ = load_model(f"checkpoints/{args.experiment}/model.pt")
    clips = ClipSet(Path("features") / task["dataset"], task["eval"], spec["features"])
    cache = checkpoint.read(f"embeddings/{args.experiment}/{args.task}.pt")
    y = cache["eval"]["targets"]
    heads = {}
    for t in SUBSETS:
        heads[t] = torch.nn.Linear(encoder.cfg.vt_dim, len(cache["classes"]))
        heads[t].load_state_dict(
            checkpoint.read(f"checkpoints/{args.experiment}/{args.task}/lp/{t}.pt")["head"]
        )
    batch_size = spec["batch_size"]

    def one_pass():
        return split_embeddings(encoder, clips, batch_size, desc="one pass")

    def ours():
        embeddings, has = one_pass()
        return {
            k: v for t in SUBSETS for k, v in column(heads[t], embeddings, has, y, task["kind"], t).items()
        }

    @torch.no_grad()
    def naive():
        out = {}
        for t in SUBSETS:
            model = Classifier(encoder, len(cache["classes"]))
            model.head = heads[t]
            for e in SUBSETS:
                logits = [
                    model(clips.batch(range(i, min(i + batch_size, len(clips))), None, train=False), e)
                    for i in range(0, len(clips), batch_size)
                ]
                out[e, t] = task_metric(task["kind"], torch.cat(logits).numpy(), y.numpy())
        return out

    assert ours().keys() == naive().keys()
    times = timed_interleaved({"one_pass": one_pass, "ours": ours, "naive": naive}, args.repeats)
    result = {
        "machine": machine(),
        "experiment": args.experiment,
        "task": args.task,
        "eval_clips": len(clips),
        "threads": 1,
        "seconds": {k: round(v, 3) for k, v in times.items()},
        "ours_over_one_pass": round(times["ours"] / times["one_pass"], 2),
        "naive_over_ours": round(times["naive"] / times["ours"], 2),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
