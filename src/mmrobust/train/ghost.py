"""Exact per-triplet gradient Gram matrices without per-triplet gradients (issue 17 item 4).

G_i[a, b] = <g_a,i, g_b,i> over the shared parameters (model.shared_parameter_names()), where g_k,i
is triplet i's gradient of compared term k with the other clips' embeddings fixed: the quantity
step.parameter_gradients materialises with torch.func (memory batch x K x parameters), here from
the layers' inputs (forward hooks) and their output gradients, one activation-only backward per
term of the summed `own` terms (losses.py: its row i at any layer is triplet i's alone).

Per layer (x: a sample's input tokens, delta^k: the output gradients of term k; the calls of a
layer, e.g. VATT-MA's backbone run on video, audio and text, concatenated along the tokens):
  Linear, patch Conv2d/Conv3d (stride = kernel: a Linear over the unfolded patches)
      weight  <G^a, G^b> = sum_{t,s} (delta^a_t . delta^b_s)(x_t . x_s)      ghost, O(T^2 (d_in + K d_out))
              or G^k = sum_t delta^k_t x_t^T materialised, then inner products  O(K T d_in d_out)
              whichever costs fewer multiply-adds (`mode` forces one);
      bias    sum_t delta_t (materialised: d_out per sample and term).
  Embedding   the ghost form with x_t . x_s = [id_t == id_s] (a table is never materialised).
  LayerNorm   weight sum_t delta_t * xhat_t, bias sum_t delta_t.
  Position parameters of the tokenizers (VideoTubelets' pos_time / pos_space, AudioPatches' and
  TextTokens' pos): the gradient at the tokenizer's output, summed over the broadcast axis.
  [AGG] tokens (passed to an Encoder): expanded per sample by a pre-hook; their gradient rows.
A shared parameter no rule covers is refused at construction.

Cost over a plain step (forward F, backward about 2F: activation and weight gradients): the hooks
keep tensors autograd saves anyway (the unfolded patches are a copy of the video / audio input);
each of the K activation-only backwards is about F; a materialised weight costs K times its
weight-gradient FLOPs, the token-pair form T^2 (d_in + K d_out), cheaper only while
T < d_in d_out / (d_in + K d_out) (ViT-B, K = 2: about 250-500 tokens, so captions and DropToken'd
audio, not video nor VATT-MA's concatenated calls). Hence about (3 + 2K) / 3 of a plain step's
FLOPs at the paper's size (benchmarks/ghost_cost.py counts it) and no per-triplet gradient in
memory (torch.func's level holds batch x K x shared parameters); it holds instead the K output
gradients of every hooked layer until the products (VATT-MA at the paper's size: about 0.8 GB per
clip, beside 0.7 GB per triplet for torch.func's gradients). `batched` runs the K backwards as
one vmapped pass (is_grads_batched), `gram(total=...)` / gram_and_backward() also the step's own
(K + 1 directions; the terms' batch parameter gradients are computed and dropped): the same or
more FLOPs, fewer, larger operations (what pays at the default, overhead-bound size).

Anchors (objectives.md): the ghost dot products of In-Run Data Shapley (ICLR 2025), the book-keeping
of Bu et al. (ICML 2023).
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..harmonize import pairs
from ..models.tokenizers import AudioPatches, TextTokens, VideoTubelets
from ..models.vatt import Encoder
from ..objectives import Objective
from .step import weighted_terms

MODES = ("auto", "ghost", "materialise")
_EPS = 1e-12


@dataclass
class _Call:
    """One recorded forward call: its output (whose per-term gradients we take) and what the rule needs."""

    name: str  # module name, or the parameter's name for an [AGG] token
    kind: str
    output: torch.Tensor
    data: object = None


def _unfold(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(B, C, *S) -> (B, N, C * prod(kernel)): the patches a stride = kernel convolution sees, in the
    order of its flattened output and of its flattened weight."""
    k = conv.kernel_size
    d = len(k)
    out = [s // kk for s, kk in zip(x.shape[2:], k)]
    x = x[(slice(None), slice(None), *(slice(0, o * kk) for o, kk in zip(out, k)))]
    shape = [x.shape[0], x.shape[1]]
    for o, kk in zip(out, k):
        shape += [o, kk]
    x = x.reshape(shape)
    order = [0, *range(2, 2 + 2 * d, 2), 1, *range(3, 3 + 2 * d, 2)]
    return x.permute(order).reshape(x.shape[0], math.prod(out), -1)


def _is_patch_conv(m: nn.Module) -> bool:
    return (
        isinstance(m, (nn.Conv2d, nn.Conv3d))
        and tuple(m.stride) == tuple(m.kernel_size)
        and all(p == 0 for p in m.padding)
        and all(dl == 1 for dl in m.dilation)
        and m.groups == 1
    )


class GhostGram:
    """Per-sample Gram matrices of K per-sample loss terms over `names` (default: every parameter of
    `model`), from hooks. Use: `with g.record(): out = model(...)`, then `g.gram(terms)`."""

    def __init__(
        self, model: nn.Module, names: Sequence[str] | None = None, mode: str = "auto", batched: bool = False
    ):
        if mode not in MODES:
            raise ValueError(f"ghost mode must be one of {MODES}, not {mode!r}")
        self.model, self.mode, self.batched = model, mode, batched
        self.names = set(n for n, _ in model.named_parameters()) if names is None else set(names)
        self.calls: list[_Call] = []
        # per weight of the last gram(), per sample: its form, multiply-adds and transient bytes
        self.costs: list[dict] = []
        self.delta_bytes = 0  # the per-term output gradients the last gram() held, all samples
        self.modules: dict[str, nn.Module] = {}
        self.aggs: dict[int, str] = {}
        covered: set[str] = set()
        params = {id(p): n for n, p in model.named_parameters()}
        for prefix, m in model.named_modules():
            own = {f"{prefix}.{n}" if prefix else n for n, _ in m.named_parameters(recurse=False)}
            if isinstance(m, Encoder):
                self.modules[prefix] = m
            if not own & self.names:
                continue
            if isinstance(
                m, (nn.Linear, nn.LayerNorm, nn.Embedding, VideoTubelets, AudioPatches, TextTokens)
            ):
                self.modules[prefix] = m
                covered |= own
            elif _is_patch_conv(m):
                self.modules[prefix] = m
                covered |= own
        encoders = any(isinstance(m, Encoder) for m in model.modules())
        for pid, n in params.items():  # [AGG] tokens (VATT.agg): free parameters an Encoder receives
            if encoders and n in self.names and n not in covered and ".agg." in f".{n}":
                self.aggs[pid] = n
                covered.add(n)
        missing = sorted(self.names - covered)
        if missing:
            raise NotImplementedError(f"ghost Gram: no exact rule for the parameters {missing}")

    @contextmanager
    def record(self) -> Iterator[None]:
        """Hooks on while the block runs; the calls of the last forward are kept for gram()."""
        self.calls = []
        handles = []
        try:
            for prefix, m in self.modules.items():
                if isinstance(m, Encoder):
                    if self.aggs:
                        handles.append(m.register_forward_pre_hook(self._agg_hook))
                else:
                    handles.append(m.register_forward_hook(self._hook(prefix)))
            yield
        finally:
            for h in handles:
                h.remove()

    def _agg_hook(self, module, args):
        tokens, agg, *rest = args
        name = self.aggs.get(id(agg))
        if name is None:
            return None
        per_sample = agg.expand(tokens.shape[0], -1, -1)
        self.calls.append(_Call(name, "agg", per_sample))
        return (tokens, per_sample, *rest)

    def _hook(self, prefix: str):
        def hook(m: nn.Module, args, out):
            x = args[0].detach()
            if isinstance(m, nn.Linear):
                self.calls.append(_Call(prefix, "linear", out, x.reshape(x.shape[0], -1, x.shape[-1])))
            elif isinstance(m, nn.LayerNorm):
                xhat = F.layer_norm(x, m.normalized_shape, None, None, m.eps)
                self.calls.append(_Call(prefix, "layernorm", out, xhat.reshape(x.shape[0], -1, x.shape[-1])))
            elif isinstance(m, nn.Embedding):
                self.calls.append(_Call(prefix, "embedding", out, x.reshape(x.shape[0], -1)))
            elif isinstance(m, (nn.Conv2d, nn.Conv3d)):
                self.calls.append(_Call(prefix, "conv", out, _unfold(m, x)))
            elif isinstance(m, TextTokens):
                self.calls.append(_Call(prefix, "positions", out[0]))
            else:
                self.calls.append(_Call(prefix, "positions", out))

        return hook

    def gram(
        self, terms: Sequence[torch.Tensor], retain_graph: bool = True, total: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, K, K) float: G_i[a, b] = <g_a,i, g_b,i> over the parameters `names`. `terms`: K (B,)
        per-sample terms whose sum's gradient at sample i's activations is sample i's own.

        With `total` (the step's loss), its backward is fused in: one backward pass vmapped over the
        K + 1 directions (total, then the terms) adds total's gradient to the parameters' .grad (the
        terms' batch parameter gradients it also computes are dropped)."""
        if not self.calls:
            raise RuntimeError("ghost Gram: no recorded forward (run the model inside record())")
        outputs = [c.output for c in self.calls]
        size, k = outputs[0].shape[0], len(terms)
        if self.batched or total is not None:  # one backward, vmapped over the directions
            sums = torch.stack(([] if total is None else [total]) + [t.sum() for t in terms])
            params = [] if total is None else [p for p in self.model.parameters() if p.requires_grad]
            eye = torch.eye(len(sums), dtype=sums.dtype, device=sums.device)
            with warnings.catch_warnings():  # SDPA's backward has no batching rule: a loop over them
                warnings.filterwarnings("ignore", message=".*batching rule.*")
                grads = torch.autograd.grad(
                    sums,
                    outputs + params,
                    eye,
                    retain_graph=retain_graph,
                    allow_unused=True,
                    is_grads_batched=True,
                )
            for p, g in zip(params, grads[len(outputs) :]):
                if g is not None:
                    p.grad = g[0] if p.grad is None else p.grad + g[0]
            first = len(sums) - k
            deltas = [
                o.new_zeros(size, k, *o.shape[1:]) if g is None else g[first:].transpose(0, 1)
                for g, o in zip(grads, outputs)
            ]
        else:
            per_term = []
            for n, term in enumerate(terms):
                keep = retain_graph or n < k - 1
                grads = torch.autograd.grad(term.sum(), outputs, retain_graph=keep, allow_unused=True)
                per_term.append([torch.zeros_like(o) if g is None else g for g, o in zip(grads, outputs)])
            deltas = [torch.stack(column, dim=1) for column in zip(*per_term)]  # (B, K, *out) per call
        self.costs = []
        self.delta_bytes = sum(d.numel() * d.element_size() for d in deltas)
        direct: dict[str, torch.Tensor] = {}
        pieces: dict[str, list] = {}

        def add(name: str, value: torch.Tensor) -> None:  # value (B, K, ...): a per-sample gradient
            if name in self.names:
                value = value.reshape(size, k, -1)
                direct[name] = direct[name] + value if name in direct else value

        for delta, call in zip(deltas, self.calls):
            m = self.modules.get(call.name)
            prefix = f"{call.name}."
            if call.kind == "agg":
                add(call.name, delta)
            elif call.kind in ("linear", "conv"):
                if call.kind == "conv":
                    delta = delta.flatten(3).transpose(2, 3)  # (B, K, N, width)
                delta = delta.reshape(size, k, -1, delta.shape[-1])
                if prefix + "weight" in self.names:
                    pieces.setdefault(prefix + "weight", []).append((call.data, delta, None))
                if m.bias is not None:
                    add(prefix + "bias", delta.sum(2))
            elif call.kind == "embedding":
                delta = delta.reshape(size, k, -1, delta.shape[-1])
                pieces.setdefault(prefix + "weight", []).append((None, delta, call.data))
            elif call.kind == "layernorm":
                delta = delta.reshape(size, k, -1, delta.shape[-1])
                if m.weight is not None:
                    add(prefix + "weight", (delta * call.data[:, None]).sum(2))
                if m.bias is not None:
                    add(prefix + "bias", delta.sum(2))
            elif isinstance(m, VideoTubelets):
                grid = delta.reshape(size, k, m.grid[0], m.grid[1] * m.grid[2], -1)
                add(prefix + "pos_time", grid.sum(3))
                add(prefix + "pos_space", grid.sum(2))
            elif isinstance(m, AudioPatches):
                add(prefix + "pos", delta)
            else:  # TextTokens: the first L of its position rows
                full = delta.new_zeros(size, k, *m.pos.shape[1:])
                full[:, :, : delta.shape[2]] = delta
                add(prefix + "pos", full)
        gram = torch.zeros(size, k, k, dtype=outputs[0].dtype, device=outputs[0].device)
        for value in direct.values():
            gram = gram + value @ value.transpose(1, 2)
        for name, parts in pieces.items():
            gram = gram + self._weight_gram(name, parts)
        return gram

    def _weight_gram(self, name: str, parts: list) -> torch.Tensor:
        """<G^a, G^b> of one weight over its calls (tokens concatenated), ghost or materialised."""
        delta = torch.cat([d for _, d, _ in parts], dim=2)  # (B, K, T, d_out)
        size, k, t, d_out = delta.shape
        item = delta.element_size()
        cost = {"name": name, "tokens": t, "d_out": d_out}
        if parts[0][2] is not None:  # embedding: one-hot inputs
            ids = torch.cat([i for _, _, i in parts], dim=1)
            inner = (ids[:, :, None] == ids[:, None, :]).to(delta.dtype)
            cost["d_in"] = "one-hot"
        else:
            x = torch.cat([x for x, _, _ in parts], dim=1)  # (B, T, d_in)
            d_in = cost["d_in"] = x.shape[-1]
            ghost_cost = t * t * (d_in + k * d_out) + k * k * t * d_out
            mat_cost = k * t * d_in * d_out + k * k * d_in * d_out
            if self.mode == "materialise" or (self.mode == "auto" and mat_cost < ghost_cost):
                self.costs.append(
                    {**cost, "form": "materialised", "macs": mat_cost, "bytes": k * d_in * d_out * item}
                )
                g = torch.einsum("bktd,bte->bkde", delta, x).reshape(size, k, -1)
                return g @ g.transpose(1, 2)
            inner = x @ x.transpose(1, 2)  # (B, T, T)
        pairs_in = t * t * cost["d_in"] if isinstance(cost["d_in"], int) else 0  # ids: a comparison
        macs = pairs_in + k * t * t * d_out + k * k * t * d_out
        self.costs.append(
            {**cost, "form": "token pairs", "macs": macs, "bytes": (t * t + k * t * d_out) * item}
        )
        flat = delta.transpose(1, 2).reshape(size, t, k * d_out)
        mixed = (inner @ flat).reshape(size, t, k, d_out).transpose(1, 2)  # (B, K, T, d_out)
        return torch.einsum("bktd,bltd->bkl", delta, mixed)


def gram_cosines(gram: torch.Tensor) -> list[torch.Tensor]:
    """The pairwise cosines of harmonize.pairs() order from (B, K, K) Gram matrices."""
    norms = gram.diagonal(dim1=1, dim2=2).clamp_min(0).sqrt()
    return [gram[:, i, j] / (norms[:, i] * norms[:, j]).clamp_min(_EPS) for i, j in pairs(gram.shape[1])]


def gram_score(gram: torch.Tensor) -> torch.Tensor:
    """harmonize.triplet_score from Gram matrices: cos(g_1, g_2) for K = 2, the mean pair cosine else."""
    cos = gram_cosines(gram)
    return cos[0] if len(cos) == 1 else torch.stack(cos).mean(0)


def triplet_gram(
    model,
    batch: dict,
    keep: dict | None,
    objective: Objective,
    flags: dict | None = None,
    mode: str = "auto",
    ghost: GhostGram | None = None,
) -> tuple[torch.Tensor, dict]:
    """Forward of the local batch with hooks, then every triplet's (K, K) Gram matrix of the compared
    terms over the shared parameters, other clips' embeddings fixed. Returns (gram (B, K, K), the
    model's outputs, whose graph is kept for the step's backward). `flags` as in step.py."""
    ghost = ghost or GhostGram(model, model.shared_parameter_names(), mode)
    with ghost.record():
        out = model(batch, keep)
    own = weighted_terms(objective, out, batch if flags is None else flags, own=True)
    return ghost.gram([own[t] for t in objective.compare]), out


def gram_and_backward(
    model,
    batch: dict,
    keep: dict | None,
    objective: Objective,
    ghost: GhostGram | None = None,
    flags: dict | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A step's forward and backward (the loss L of step.py, its gradient added to .grad) with every
    triplet's Gram matrix from the same backward pass (GhostGram.gram's `total`). Returns (gram, L)."""
    ghost = ghost or GhostGram(model, model.shared_parameter_names())
    with ghost.record():
        out = model(batch, keep)
    valid_from = batch if flags is None else flags
    parts = weighted_terms(objective, out, valid_from)
    total = sum(parts[t].sum() for t in objective.terms)
    own = weighted_terms(objective, out, valid_from, own=True)
    gram = ghost.gram([own[t] for t in objective.compare], retain_graph=False, total=total)
    return gram, total.detach()
