"""Concepts and clip plans of the synthetic world.

A concept is one label class. Its `carriers` say which modalities show it: a `V` concept is a
coloured shape moving in the frame, an `A` concept a tone with its own pitch and pulse rate, a `T`
concept its name in the caption. Concepts carried by several modalities give the redundancy that
lets one modality stand in for another; concepts carried by one modality only are what is lost
when that modality goes missing at test time, and what adding it brings back.

Everything random is drawn from a generator seeded by (seed, split, clip index), so a clip does
not depend on which worker renders it or on the other splits' sizes.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

CARRIER_SETS = ("VAT", "VA", "VT", "AT", "V", "A", "T")
TASKS = ("multilabel", "singlelabel")
SPLITS = ("pretrain", "multilabel_train", "multilabel_eval", "singlelabel_train", "singlelabel_eval")
NAMES = (
    "anchor", "bagpipe", "beacon", "bicycle", "bonfire", "canoe", "cello", "compass", "cricket",
    "drum", "ferry", "fountain", "glacier", "hammer", "harbor", "kettle", "kite", "lantern",
    "meadow", "mill", "orchard", "owl", "parrot", "piano", "quarry", "robot", "saw", "siren",
    "sled", "tractor", "trumpet", "tunnel", "typewriter", "violin", "volcano", "walrus", "whistle",
    "windmill", "wolf", "zeppelin",
)
SHAPES = ("circle", "square", "triangle", "cross", "ring", "diamond", "bar")
COLORS = {
    "red": (220, 40, 40), "green": (40, 180, 60), "blue": (50, 80, 230), "yellow": (230, 210, 40),
    "magenta": (200, 50, 200), "cyan": (40, 200, 210), "white": (240, 240, 240),
}
PULSES_HZ = (0.0, 2.0, 3.0, 5.0)
TONE_RANGE_HZ = (300.0, 3600.0)
TONES = 12
NOISE_KINDS = {"audio": "A", "text": "T"}  # corrupted modality -> its letter
CAPTION_OPENERS = ("a short clip of", "footage showing", "someone filmed", "a video with", "recording of")
CAPTION_FILLERS = ("today", "outdoors", "at home", "again", "up close", "in the evening", "for a while")


@dataclass(frozen=True)
class Concept:
    name: str
    task: str
    carriers: str
    shape: str
    color: str
    tone_hz: float
    pulse_hz: float


@dataclass
class ClipPlan:
    id: str
    split: str
    seed: tuple[int, ...]
    concepts: list[str]
    labels: list[str]
    shown: dict[str, list[str]]
    noise: str = "none"
    has_audio: bool = True
    has_text: bool = True
    caption: str = ""
    distractors: list[str] = field(default_factory=list)


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(list(key)))


def split_code(split: str) -> int:
    return zlib.crc32(split.encode())


def build_world(seed: int, concepts: dict[str, dict[str, int]]) -> list[Concept]:
    """Give every concept a name, a look and a sound; all distinct, assigned by `seed`."""
    rng = _rng(seed, split_code("world"))
    wanted = [(task, carriers) for task in TASKS for carriers in CARRIER_SETS
              for _ in range(concepts.get(task, {}).get(carriers, 0))]
    looks = [(s, c) for s in SHAPES for c in COLORS]
    tones = np.geomspace(*TONE_RANGE_HZ, TONES)
    sounds = [(float(t), p) for t in tones for p in PULSES_HZ]
    if len(wanted) > min(len(NAMES), len(looks), len(sounds)):
        raise ValueError(f"{len(wanted)} concepts configured; the synthetic world has room for {min(len(NAMES), len(looks), len(sounds))}")
    names = rng.permutation(len(NAMES))
    look_order = rng.permutation(len(looks))
    sound_order = rng.permutation(len(sounds))
    world = []
    for i, (task, carriers) in enumerate(wanted):
        shape, color = looks[look_order[i]]
        tone, pulse = sounds[sound_order[i]]
        world.append(Concept(NAMES[names[i]], task, carriers, shape, color, round(tone, 2), pulse))
    return world


def carrier_shares(world: list[Concept]) -> dict[str, dict[str, float]]:
    """Per task, the fraction of classes each modality shows (the documented proportions)."""
    shares = {}
    for task in TASKS:
        classes = [c for c in world if c.task == task]
        shares[task] = {m: round(sum(m in c.carriers for c in classes) / len(classes), 4) for m in "VAT"} if classes else {}
    return shares


def _shown(rng: np.random.Generator, concepts: list[Concept], dropout: float) -> dict[str, list[str]]:
    return {m: [c.name for c in concepts if m in c.carriers and rng.random() >= dropout] for m in "VAT"}


def _caption(rng: np.random.Generator, words: list[str]) -> str:
    opener = CAPTION_OPENERS[rng.integers(len(CAPTION_OPENERS))]
    body = " and ".join(f"a {w}" for w in words) if words else "something"
    tail = f" {CAPTION_FILLERS[rng.integers(len(CAPTION_FILLERS))]}" if rng.random() < 0.5 else ""
    return f"{opener} {body}{tail}"


def plan_clip(seed: int, split: str, index: int, world: list[Concept], spec: dict) -> ClipPlan:
    """Draw one clip's concepts, what each modality shows, its noise and its missing modalities."""
    key = (seed, split_code(split), index)
    rng = _rng(*key)
    by_task = {t: [c for c in world if c.task == t] for t in TASKS}
    low, high = spec["concepts_per_clip"]

    def draw(pool: list[Concept], k: int, exclude=()) -> list[Concept]:
        pool = [c for c in pool if c.name not in exclude]
        return [pool[i] for i in sorted(rng.choice(len(pool), size=min(k, len(pool)), replace=False))]

    distractors: list[Concept] = []
    if split == "pretrain":
        count = int(rng.integers(low, high + 1))
        if spec["pretrain_anchor"]:
            # One concept all three modalities show: a clean triplet's modalities agree, as in
            # narrated video (seed 001), and the planted noise is what breaks the agreement.
            anchor = draw([c for c in world if c.carriers == "VAT"], 1)
            chosen = sorted(anchor + draw(world, count - 1, exclude={anchor[0].name}), key=lambda c: c.name)
        else:
            chosen = draw(world, count)
        labels: list[str] = []
    elif split.startswith("multilabel"):
        chosen = draw(by_task["multilabel"], int(rng.integers(low, high + 1)))
        labels = [c.name for c in chosen]
    else:
        chosen = draw(by_task["singlelabel"], 1)
        labels = [chosen[0].name]
        if by_task["multilabel"] and rng.random() < 0.5:
            distractors = draw(by_task["multilabel"], 1)
    shown = _shown(rng, chosen + distractors, spec["carrier_dropout"])

    noise = "none"
    if split == "pretrain" and rng.random() < spec["noise_fraction"]:
        # Temporally aligned but semantically wrong: the corrupted modality shows other concepts.
        noise = sorted(NOISE_KINDS)[int(rng.integers(len(NOISE_KINDS)))]
        others = draw(world, int(rng.integers(low, high + 1)), exclude={c.name for c in chosen})
        letter = NOISE_KINDS[noise]
        shown[letter] = _shown(rng, others, spec["carrier_dropout"])[letter]

    plan = ClipPlan(
        id=f"{split}_{index:05d}", split=split, seed=key, concepts=[c.name for c in chosen], labels=labels,
        shown=shown, noise=noise, distractors=[c.name for c in distractors],
        has_audio=bool(rng.random() >= spec["missing"]["audio"]),
        has_text=bool(rng.random() >= spec["missing"]["text"]),
    )
    plan.caption = _caption(rng, shown["T"]) if plan.has_text else ""
    return plan
