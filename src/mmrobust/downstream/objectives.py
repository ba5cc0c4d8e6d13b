"""Task loss (Eq. 2) and MASD's self-distillation (Eq. 8).

Multi-label heads are per-class sigmoids: the task loss is binary cross-entropy, and the
distillation is the same cross-entropy with the teacher's probabilities σ(t_c) as soft targets,
    L_sd = -mean_c [σ(t_c) log σ(s_c) + (1 - σ(t_c)) log(1 - σ(s_c))].
Single-label heads are a softmax: cross-entropy, and L_sd = -Σ_y softmax(t)_y log softmax(s)_y
(seed 003's Σ_y f(y; x|M_T) log f(y; x|M \\ M_T), with the sign of a loss). Both average over clips.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def task_loss(logits: torch.Tensor, target: torch.Tensor, kind: str, reduction: str = "mean") -> torch.Tensor:
    """`target`: (N, C) {0, 1} or probabilities for multilabel; (N,) indices or (N, C) probabilities for
    singlelabel. `reduction="sum"` sums the clips' losses (a process's share of a batch; the caller
    divides by the batch)."""
    if kind == "multilabel":
        if reduction == "sum":
            return (
                F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype), reduction="none")
                .mean(1)
                .sum()
            )
        return F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype))
    return F.cross_entropy(logits, target, reduction=reduction)


def distill_loss(
    teacher_logits: torch.Tensor, student_logits: torch.Tensor, kind: str, reduction: str = "mean"
) -> torch.Tensor:
    """Self-distillation: the student's task loss against the teacher's probabilities, gradient stopped."""
    teacher = teacher_logits.detach()
    probs = torch.sigmoid(teacher) if kind == "multilabel" else torch.softmax(teacher, dim=-1)
    return task_loss(student_logits, probs, kind, reduction)
