"""The downstream model (Eq. 7), MASD (Eq. 8), WiSE-FT (Eq. 9) and the evaluation's modality isolation."""

import numpy as np
import pytest
import torch
from torch import nn

from mmrobust.downstream.data import distill_ids, targets, validation_split
from mmrobust.downstream.finetune import masd_step_loss
from mmrobust.downstream.model import Classifier, column, represent
from mmrobust.downstream.objectives import distill_loss, task_loss
from mmrobust.downstream.wiseft import interpolate
from mmrobust.errors import MmrobustError
from mmrobust.models.config import model_config
from mmrobust.models.vatt import create_model

FEATURES = {
    "video": {"num_frames": 4, "crop_size": 32},
    "text": {"context_length": 16},
    "audio": {"sample_rate": 16000, "seconds": 1.0, "n_mels": 32, "win_ms": 25, "hop_ms": 10},
}
KINDS = ("multilabel", "singlelabel")


def classifier(classes=5, seed=0):
    torch.manual_seed(seed)
    encoder = create_model(
        model_config(
            {
                "preset": "tiny",
                "architecture": "ma",
                "tubelet": [2, 16, 16],
                "audio_patch": [16, 16],
                "drop_token": 0.0,
            },
            FEATURES,
        )
    )
    return Classifier(encoder, classes)


def batch(n=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    return {
        "video": torch.rand(n, 3, 4, 32, 32, generator=g),
        "audio": torch.randn(n, 1, 32, 98, generator=g),
        "text": torch.randint(1, 4000, (n, 16), generator=g),
        **{f"has_{m}": torch.ones(n, dtype=torch.bool) for m in ("video", "audio", "text")},
    }


def labels(kind, n=4, classes=5):
    return (torch.rand(n, classes) < 0.5) if kind == "multilabel" else torch.arange(n) % classes


def test_eq7_mean_of_present_modalities():
    emb = {
        "video": torch.tensor([[1.0, 0], [1, 0]]),
        "audio": torch.tensor([[0.0, 1], [0, 1]]),
        "text": torch.tensor([[3.0, 3], [3, 3]]),
    }
    has = {
        "video": torch.tensor([True, True]),
        "audio": torch.tensor([True, False]),
        "text": torch.tensor([False, False]),
    }
    assert torch.equal(represent(emb, has, "VA"), torch.tensor([[0.5, 0.5], [1, 0]]))
    assert torch.equal(represent(emb, has, "T"), torch.zeros(2, 2))  # none present: the zero vector


@pytest.mark.parametrize("subset", ["VA", "T", "AT"])
def test_evaluation_on_a_set_reads_only_its_modalities(subset):
    model, b = classifier().eval(), batch()
    changed = {
        **b,
        "video": torch.rand_like(b["video"]),
        "audio": torch.randn_like(b["audio"]),
        "text": torch.randint(1, 4000, b["text"].shape),
    }
    for m, key in (("V", "video"), ("A", "audio"), ("T", "text")):
        if m in subset:
            changed[key] = b[key]  # the set's own modalities stay; the others change
    with torch.no_grad():
        assert torch.equal(model(b, subset), model(changed, subset))


def test_matrix_cells_ignore_absent_embeddings():
    rng = torch.Generator().manual_seed(0)
    emb = {m: torch.randn(20, 8, generator=rng) for m in ("video", "audio", "text")}
    has = {m: torch.ones(20, dtype=torch.bool) for m in emb}
    head, y = nn.Linear(8, 3), torch.arange(20) % 3
    before = column(head, emb, has, y, "singlelabel", "VA")
    after = column(head, {**emb, "text": torch.randn(20, 8, generator=rng)}, has, y, "singlelabel", "VA")
    assert all(before[e, "VA"] == after[e, "VA"] for e in ("VA", "V", "A"))
    assert any(before[e, "VA"] != after[e, "VA"] for e in ("VAT", "T"))


@pytest.mark.parametrize("kind", KINDS)
def test_masd_teacher_gets_no_gradient_and_student_sees_the_complement(kind):
    model, task, sd = classifier(), batch(seed=1), batch(seed=2)
    y = labels(kind)
    sd = {**sd, "video": sd["video"].requires_grad_(), "audio": sd["audio"].requires_grad_()}
    # M_T = V: the teacher sees the video of D_SD (without gradient), the student its audio and text
    loss = masd_step_loss(model, task, y, "V", kind, sd, 1.0) - task_loss(model(task, "V"), y, kind)
    video_grad, audio_grad = torch.autograd.grad(loss, [sd["video"], sd["audio"]], allow_unused=True)
    assert video_grad is None or not video_grad.any()
    assert audio_grad is not None and audio_grad.abs().sum() > 0
    teacher = model(sd, "V")
    assert not teacher.detach().requires_grad and distill_loss(teacher, model(sd, "AT"), kind).requires_grad


@pytest.mark.parametrize("kind", KINDS)
def test_masd_on_all_modalities_is_the_task_loss(kind):
    model, task, sd = classifier(), batch(seed=1), batch(seed=2)
    y = labels(kind)
    assert torch.equal(
        masd_step_loss(model, task, y, "VAT", kind, sd, 1.0), task_loss(model(task, "VAT"), y, kind)
    )


@pytest.mark.parametrize("kind", KINDS)
def test_distillation_is_minimal_when_student_matches_teacher(kind):
    logits = torch.randn(6, 5)
    best = distill_loss(logits, logits, kind)
    for _ in range(5):
        assert distill_loss(logits, logits + torch.randn(6, 5), kind) > best


def bn_model(seed):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    model.train()
    for _ in range(seed + 1):
        model(torch.randn(8, 4))  # moves running_mean / running_var / num_batches_tracked
    return model


def test_wiseft_endpoints_are_exact_buffers_included():
    lp, masd = bn_model(0).state_dict(), bn_model(1).state_dict()
    assert "1.running_mean" in lp and "1.num_batches_tracked" in lp
    for alpha, expected in ((0.0, lp), (1.0, masd)):
        theta = interpolate(lp, masd, alpha)
        assert theta.keys() == expected.keys()
        assert all(torch.equal(theta[k], expected[k]) for k in theta)
    half = interpolate(lp, masd, 0.5)
    assert torch.allclose(half["1.running_var"], (lp["1.running_var"] + masd["1.running_var"]) / 2)
    assert torch.allclose(half["0.weight"], 0.5 * lp["0.weight"] + 0.5 * masd["0.weight"])


def test_wiseft_classifier_endpoints_and_bad_input():
    lp, masd = classifier(seed=0).state_dict(), classifier(seed=1).state_dict()
    assert all(torch.equal(interpolate(lp, masd, 1.0)[k], masd[k]) for k in lp)
    with pytest.raises(MmrobustError, match="alpha"):
        interpolate(lp, masd, 1.5)
    with pytest.raises(MmrobustError, match="differ"):
        interpolate(lp, {k: v for k, v in masd.items() if k != "head.bias"}, 0.5)


def test_validation_split_and_targets():
    train, val = validation_split(20, 0.25, seed=3)
    assert len(val) == 5 and not set(train) & set(val) and sorted([*train, *val]) == list(range(20))
    assert np.array_equal(validation_split(20, 0.25, seed=3)[1], val)
    assert targets([["b"], ["a", "c"]], ["a", "b", "c"], "multilabel").tolist() == [
        [False, True, False],
        [True, False, True],
    ]
    with pytest.raises(MmrobustError, match="exactly 1"):
        targets([["a", "b"]], ["a", "b"], "singlelabel")


def test_distill_set_takes_complete_clips_only():
    rows = [
        {"id": f"c{i}", "split": "pretrain", "video": "1", "audio": "1" if i % 3 else "0", "text": "1"}
        for i in range(12)
    ]
    ids = distill_ids(rows, "pretrain", 5, seed=0, source="index.csv")
    assert len(ids) == 5 and all(int(i[1:]) % 3 for i in ids)
    with pytest.raises(MmrobustError, match="study.distill.size 9"):
        distill_ids(rows, "pretrain", 9, seed=0, source="index.csv")
