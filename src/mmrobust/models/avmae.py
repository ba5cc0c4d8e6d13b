"""AV-MAE (the audio-visual masked autoencoder baseline of Gong et al. 2022, CAV-MAE paper), seed
003's masked-reconstruction arm, extended to text.

Encoder. Each modality is tokenized as for VATT (models/tokenizers.py: video tubelets, 16x16
spectrogram patches at base, text tokens; each with its own learned positions) and gets a learned
modality token added to every token (CAV-MAE). Per clip, a random `mask_ratio` of the video and
of the audio tokens is hidden (AV-MAE: 0.75); the visible ones run through `depth - 1`
modality-specific blocks, then, concatenated, through one shared block and a LayerNorm
(CAV-MAE's unified block). The shared block also holds a LayerNorm pair per modality, used when
one modality passes it alone (CAV-MAE's `blocks_u(x, 'a')`): that is how `embed` runs.

Decoder. Linear width -> decoder_width, a shared mask token put back at every hidden position,
decoder positions and modality tokens per modality, `decoder_depth` blocks over all modalities
together, a LayerNorm, one linear prediction head per modality (Gong et al.: 512 wide, 8 blocks,
16 heads). Positions are learned here (CAV-MAE: fixed sin-cos), as in the tokenizers.

Loss, per clip and modality (CAV-MAE sums the modalities' means):
  video, audio  mean over the hidden patches of the squared error between the prediction and the
                patch of the model's normalised input, itself normalised by the patch's own mean
                and variance (MAE's norm_pix_loss);
  text [ours]   cross-entropy over the (hashed) vocabulary at the hidden caption tokens.
Only hidden positions count; a clip lacking a modality (has_<m> False) has no term for it, and its
tokens are no keys of the shared block or the decoder, so they reach no other modality either.

Text [ours]: AV-MAE has no text branch. We follow the multimodal MAE of Geng et al. 2022 (M3AE):
text tokens are masked like patches, at `text_mask_ratio` (M3AE: 0.5) of the caption's own
tokens (padding is never hidden nor predicted; a one-token caption hides none), and predicted
with a cross-entropy. Hidden text tokens are not removed from the sequence but zeroed and taken
out of every attention's keys, which is the same function as removing them (captions are short,
so nothing is saved by gathering them; their lengths differ per clip).

Masks are drawn per clip from that clip's own generator (as DropToken's `sample_keep`), video
noise, then audio, then text, always all three: a clip's mask depends on neither the other clips
of the batch nor which modalities it has.

Embeddings E_m (seed 003, Eq. 7) [ours, after CAV-MAE's single-modality outputs]: no masking;
modality m alone through its blocks and the shared block with m's own LayerNorms, then m's final
LayerNorm, mean-pooled over its tokens (captions: over the non-padding ones); `width` wide, not
normalised. AV-MAE's pretraining never runs a modality alone, so those per-modality LayerNorms
keep their initial (identity) affine until fine-tuning trains them, as in CAV-MAE.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..features.audio import AUDIO_MEAN, AUDIO_STD
from ..losses import masked_mean
from .block import Block
from .config import MAEConfig
from .tokenizers import AudioPatches, TextTokens, VideoTubelets
from .vatt import VIDEO_MEAN, VIDEO_STD

MODALITIES = ("video", "audio", "text")
PATCHED = ("video", "audio")  # modalities whose hidden tokens are gathered out of the encoder


@dataclass(frozen=True)
class Masks:
    """One batch's masks: `keep` (B, K) sorted indices of the visible video / audio tokens;
    `text_hidden` (B, L) True at the caption tokens hidden from the encoder and predicted."""

    keep: dict[str, torch.Tensor]
    text_hidden: torch.Tensor

    def to(self, device: torch.device | str) -> "Masks":
        return Masks({m: k.to(device) for m, k in self.keep.items()}, self.text_hidden.to(device))

    def hidden(self, modality: str, count: int) -> torch.Tensor:
        """(B, count) bool: the hidden tokens of a patched modality."""
        keep = self.keep[modality]
        out = torch.ones(keep.shape[0], count, dtype=torch.bool, device=keep.device)
        return out.scatter(1, keep, False)


def sample_masks(
    token_counts: dict[str, int],
    mask_ratio: float,
    text_mask_ratio: float,
    text: torch.Tensor,
    generators: Sequence[torch.Generator],
) -> Masks:
    """The masks of a batch without the model (data-loading workers can draw them): clip i's from
    generators[i] and its own caption `text[i]` alone."""
    keep: dict[str, list[torch.Tensor]] = {m: [] for m in token_counts}
    hidden = torch.zeros(text.shape, dtype=torch.bool)
    for i, g in enumerate(generators):
        for m, count in token_counts.items():  # argsort of uniform noise, as MAE
            k = max(1, round(count * (1 - mask_ratio)))
            keep[m].append(torch.rand(count, generator=g).argsort()[:k].sort().values)
        noise = torch.rand(text.shape[1], generator=g)
        real = text[i].cpu() != 0
        n = int(real.sum())
        n_hide = min(max(round(n * text_mask_ratio), 1), n - 1) if n >= 2 else 0
        order = noise.masked_fill(~real, 2.0).argsort()  # the caption's own tokens first, in random order
        hidden[i, order[:n_hide]] = True
    return Masks({m: torch.stack(k) for m, k in keep.items()}, hidden)


def draw_masks(
    token_counts: dict[str, int],
    mask_ratio: float,
    text_mask_ratio: float,
    batch: dict[str, torch.Tensor],
    generators: Sequence[torch.Generator],
) -> dict[str, torch.Tensor]:
    """`sample_masks` as the plain tensors pretraining's loader passes to the forward (the `keep`
    argument): {"video": keep, "audio": keep, "text_hidden": hidden}."""
    masks = sample_masks(token_counts, mask_ratio, text_mask_ratio, batch["text"], generators)
    return {**masks.keep, "text_hidden": masks.text_hidden}


def attention_mask(keys: torch.Tensor) -> torch.Tensor:
    """(B, N) bool keys -> timm's attn_mask (B, 1, 1, N). A row without any key attends to all
    (its output is unused; an all-False row would give NaN, which a backward spreads)."""
    keys = keys | ~keys.any(dim=1, keepdim=True)
    return keys[:, None, None, :]


class SharedBlock(nn.Module):
    """CAV-MAE's unified block: a Block; a modality passing it alone uses its own LayerNorms."""

    def __init__(self, width: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.block = Block(width, heads, mlp_ratio, qkv_bias=True)
        self.norm1 = nn.ModuleDict({m: nn.LayerNorm(width, eps=1e-6) for m in MODALITIES})
        self.norm2 = nn.ModuleDict({m: nn.LayerNorm(width, eps=1e-6) for m in MODALITIES})

    def forward(
        self, x: torch.Tensor, modality: str | None = None, attn_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        b = self.block
        norm1, norm2 = (
            (b.norm1, b.norm2) if modality is None else (self.norm1[modality], self.norm2[modality])
        )
        x = x + b.attn(norm1(x), attn_mask=attn_mask)
        return x + b.mlp(norm2(x))


def _blocks(width: int, heads: int, mlp_ratio: float, count: int) -> nn.ModuleList:
    return nn.ModuleList([Block(width, heads, mlp_ratio, qkv_bias=True) for _ in range(count)])


class AVMAE(nn.Module):
    def __init__(self, cfg: MAEConfig):
        super().__init__()
        if cfg.architecture != "avmae":
            raise ValueError(f"AVMAE needs an MAEConfig (architecture 'avmae'), not {cfg.architecture!r}")
        if cfg.depth < 1:
            raise ValueError(f"AV-MAE needs depth >= 1 (the shared block), not {cfg.depth}")
        self.cfg = cfg
        width, dec = cfg.width, cfg.decoder_width
        self.video = VideoTubelets(width, cfg.tubelet, cfg.num_frames, cfg.crop_size)
        self.audio = AudioPatches(width, cfg.audio_patch, cfg.n_mels, cfg.audio_frames)
        self.text = TextTokens(width, cfg.vocab_size, cfg.context_length)
        self.modality = nn.ParameterDict({m: nn.Parameter(torch.zeros(1, 1, width)) for m in MODALITIES})
        self.blocks = nn.ModuleDict(
            {m: _blocks(width, cfg.heads, cfg.mlp_ratio, cfg.depth - 1) for m in MODALITIES}
        )
        self.shared = SharedBlock(width, cfg.heads, cfg.mlp_ratio)
        self.norm = nn.LayerNorm(width, eps=1e-6)  # after the joint pass
        self.norms = nn.ModuleDict({m: nn.LayerNorm(width, eps=1e-6) for m in MODALITIES})  # alone
        counts = {**self.token_counts(), "text": cfg.context_length}
        self.decoder_embed = nn.Linear(width, dec)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dec))
        self.decoder_pos = nn.ParameterDict(
            {m: nn.Parameter(torch.zeros(1, n, dec)) for m, n in counts.items()}
        )
        self.decoder_modality = nn.ParameterDict(
            {m: nn.Parameter(torch.zeros(1, 1, dec)) for m in MODALITIES}
        )
        self.decoder_blocks = _blocks(dec, cfg.decoder_heads, cfg.mlp_ratio, cfg.decoder_depth)
        self.decoder_norm = nn.LayerNorm(dec, eps=1e-6)
        t, h, w = cfg.tubelet
        self.predict = nn.ModuleDict(
            {
                "video": nn.Linear(dec, 3 * t * h * w),
                "audio": nn.Linear(dec, cfg.audio_patch[0] * cfg.audio_patch[1]),
                "text": nn.Linear(dec, cfg.vocab_size),
            }
        )
        self.register_buffer("video_mean", torch.tensor(VIDEO_MEAN).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("video_std", torch.tensor(VIDEO_STD).view(1, 3, 1, 1, 1), persistent=False)
        self._init_weights()

    def _init_weights(self) -> None:
        # MAE's: xavier-uniform linear layers and patch projections (as linear maps), zero biases.
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for proj in (self.video.proj, self.audio.proj):
            nn.init.xavier_uniform_(proj.weight.view(proj.weight.shape[0], -1))
        for p in [self.mask_token, *self.modality.values(), *self.decoder_modality.values()]:
            nn.init.normal_(p, std=0.02)
        for p in self.decoder_pos.values():
            nn.init.trunc_normal_(p, std=0.02)

    def token_counts(self) -> dict[str, int]:
        return {
            "video": self.video.pos_time.shape[0] * self.video.pos_space.shape[1],
            "audio": self.audio.pos.shape[1],
        }

    def sample_masks(self, text: torch.Tensor, generators: Sequence[torch.Generator]) -> Masks:
        """This batch's masks, clip i's from generators[i] (see `sample_masks`)."""
        masks = sample_masks(
            self.token_counts(), self.cfg.mask_ratio, self.cfg.text_mask_ratio, text, generators
        )
        return masks.to(text.device)

    def mask_sampler(self) -> Callable[[dict, Sequence[torch.Generator]], dict[str, torch.Tensor]]:
        """(batch, per-clip generators) -> the masks as `forward` takes them; picklable, so that
        data-loading workers can draw them (train/loader.py: their own generator stream)."""
        return partial(draw_masks, self.token_counts(), self.cfg.mask_ratio, self.cfg.text_mask_ratio)

    # --- inputs ------------------------------------------------------------------------------------

    def normalised(self, batch: dict[str, torch.Tensor], modality: str) -> torch.Tensor:
        """The input the tokenizer sees (and the reconstruction targets are cut from)."""
        if modality == "video":
            return (batch["video"] - self.video_mean) / self.video_std
        return ((batch["audio"] - AUDIO_MEAN) / AUDIO_STD)[..., : self.audio.frames]

    def tokens(self, batch: dict[str, torch.Tensor], modality: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N, width) tokens with positions and the modality token; (B, N) bool non-padding."""
        if modality == "text":
            x, real = self.text(batch["text"])
        else:
            x = getattr(self, modality)(self.normalised(batch, modality))
            real = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        return x + self.modality[modality], real

    def patches(self, batch: dict[str, torch.Tensor], modality: str) -> torch.Tensor:
        """(B, N, patch size): the normalised input cut into the tokens' patches, in token order."""
        x = self.normalised(batch, modality)
        if modality == "video":
            t, h, w = self.cfg.tubelet
            b, c, frames, rows, cols = x.shape
            x = x.reshape(b, c, frames // t, t, rows // h, h, cols // w, w)
            return x.permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(b, -1, c * t * h * w)
        fh, fw = self.cfg.audio_patch
        b, _, mels, frames = x.shape
        x = x.reshape(b, mels // fh, fh, frames // fw, fw)
        return x.permute(0, 1, 3, 2, 4).reshape(b, -1, fh * fw)

    def targets(self, batch: dict[str, torch.Tensor], modality: str) -> torch.Tensor:
        target = self.patches(batch, modality)
        if self.cfg.norm_pix_loss:  # MAE's: unbiased variance, eps 1e-6
            mean, var = target.mean(dim=-1, keepdim=True), target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1e-6) ** 0.5
        return target

    # --- encoder -----------------------------------------------------------------------------------

    def encode_visible(
        self, batch: dict[str, torch.Tensor], masks: Masks
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """The joint pass over the visible tokens: (B, N_visible, width) after the shared block and
        its norm; (B, N_visible) bool keys (visible, non-padding, modality present); and per
        modality its visible-token positions (video / audio: `keep`; text: (B, L) bool)."""
        parts, keys, visible = [], [], {}
        for m in MODALITIES:
            x, real = self.tokens(batch, m)
            if m in PATCHED:
                idx = masks.keep[m]
                x = torch.gather(x, 1, idx[..., None].expand(-1, -1, x.shape[-1]))
                real = torch.gather(real, 1, idx)
                visible[m] = idx
            else:  # hidden caption tokens: zeroed and no key anywhere, i.e. removed
                real = real & ~masks.text_hidden
                x = x * real[..., None]
                visible[m] = real
            mask = attention_mask(real) if m == "text" else None
            for block in self.blocks[m]:
                x = block(x, attn_mask=mask)
            parts.append(x)
            keys.append(real & batch[f"has_{m}"][:, None])
        key = torch.cat(keys, dim=1)
        x = self.shared(torch.cat(parts, dim=1), attn_mask=attention_mask(key))
        return self.norm(x), key, visible

    def embed(self, batch: dict[str, torch.Tensor], modalities) -> dict[str, torch.Tensor]:
        """E_m (B, width) of seed 003's Eq. 7 for each of `modalities`: unmasked, alone through its
        blocks and the shared block (its own LayerNorms), mean-pooled over its non-padding tokens."""
        out = {}
        for m in modalities:
            x, real = self.tokens(batch, m)
            mask = attention_mask(real) if m == "text" else None
            for block in self.blocks[m]:
                x = block(x, attn_mask=mask)
            x = self.norms[m](self.shared(x, m, mask))
            weights = real.to(x.dtype)[..., None]
            out[m] = (x * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1)
        return out

    def embed_dim(self) -> int:
        """Width of the embeddings E_m (downstream.Classifier sizes its head by it)."""
        return self.cfg.width

    # --- decoder and loss --------------------------------------------------------------------------

    def decode(
        self, batch: dict[str, torch.Tensor], encoded: torch.Tensor, visible: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Predictions per modality at every position: video / audio (B, N, patch), text (B, L, vocab)."""
        y = self.decoder_embed(encoded)
        size = y.shape[0], y.shape[-1]
        seqs, keys, start = [], [], 0
        for m in MODALITIES:
            n = self.decoder_pos[m].shape[1]
            if m in PATCHED:
                idx = visible[m]
                part = y[:, start : start + idx.shape[1]]
                seq = self.mask_token.expand(size[0], n, size[1]).scatter(
                    1, idx[..., None].expand(-1, -1, size[1]), part
                )
                real = torch.ones(size[0], n, dtype=torch.bool, device=y.device)
                start += idx.shape[1]
            else:
                seq = torch.where(visible[m][..., None], y[:, start : start + n], self.mask_token)
                real = batch["text"] != 0
                start += n
            seqs.append(seq + self.decoder_pos[m] + self.decoder_modality[m])
            keys.append(real & batch[f"has_{m}"][:, None])
        x = torch.cat(seqs, dim=1)
        mask = attention_mask(torch.cat(keys, dim=1))
        for block in self.decoder_blocks:
            x = block(x, attn_mask=mask)
        x = self.decoder_norm(x)
        out, start = {}, 0
        for m in MODALITIES:
            n = self.decoder_pos[m].shape[1]
            out[m] = self.predict[m](x[:, start : start + n])
            start += n
        return out

    def terms(
        self, batch: dict[str, torch.Tensor], masks: Masks, predictions: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Per-clip reconstruction terms {m: (B,)} (zero where invalid) and {valid_m: (B,) bool}: a
        clip's term is valid when it has the modality and hides at least one of its tokens."""
        out = {}
        for m in MODALITIES:
            if m in PATCHED:
                hidden = masks.hidden(m, predictions[m].shape[1])
                per_token = (predictions[m] - self.targets(batch, m)).pow(2).mean(dim=-1)
            else:
                hidden = masks.text_hidden & (batch["text"] != 0)
                target = batch["text"] % self.cfg.vocab_size
                per_token = F.cross_entropy(predictions[m].transpose(1, 2), target, reduction="none")
            count = hidden.sum(dim=1)
            term = (per_token * hidden).sum(dim=1) / count.clamp_min(1)
            valid = batch[f"has_{m}"] & (count > 0)
            out[m] = torch.where(valid, term, torch.zeros_like(term))
            out[f"valid_{m}"] = valid
        return out

    def forward(
        self, batch: dict[str, torch.Tensor], keep: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Pretraining's forward (objectives/mae.py): the per-clip terms `mae_<m>` (B,), zero where a
        clip has no term, under the masks `keep` ({"video", "audio": visible indices, "text_hidden"}:
        `mask_sampler`'s draw)."""
        if keep is None:
            raise ValueError("AV-MAE's forward needs the batch's masks (mask_sampler)")
        masks = Masks({m: keep[m] for m in PATCHED}, keep["text_hidden"])
        encoded, _, visible = self.encode_visible(batch, masks)
        terms = self.terms(batch, masks, self.decode(batch, encoded, visible))
        return {f"mae_{m}": terms[m] for m in MODALITIES}

    def forward_loss(
        self, batch: dict[str, torch.Tensor], generators: Sequence[torch.Generator]
    ) -> dict[str, torch.Tensor]:
        """Masks from the per-clip generators, encoder, decoder, and the per-clip terms (`terms`)."""
        masks = self.sample_masks(batch["text"], generators)
        encoded, _, visible = self.encode_visible(batch, masks)
        return self.terms(batch, masks, self.decode(batch, encoded, visible))


def batch_loss(terms: dict[str, torch.Tensor]) -> torch.Tensor:
    """CAV-MAE's loss: the sum over modalities of the mean term over the clips where it is valid."""
    return sum(masked_mean(terms[m], terms[f"valid_{m}"]) for m in MODALITIES)


def create_avmae(cfg: MAEConfig) -> AVMAE:
    return AVMAE(cfg)
