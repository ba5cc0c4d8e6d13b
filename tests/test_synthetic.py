"""The embedded dataset: deterministic, real media, and each modality carries what the truth says."""

import csv
import json

import av
import numpy as np
import pytest
from conftest import tree_digest

from mmrobust.config import stage_spec
from mmrobust.data.decode import decode_audio, decode_frames, probe
from mmrobust.data.manifest import read_manifest
from mmrobust.data.sources import download
from mmrobust.data.synthetic.world import COLORS, SPLITS, build_world, plan_clip
from mmrobust.features.audio import log_mel


def truth(dataset):
    with open(dataset / "meta" / "synthetic_truth.csv") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


def world_of(dataset):
    return {
        c["name"]: c for c in json.loads((dataset / "meta" / "synthetic_world.json").read_text())["concepts"]
    }


def test_same_seed_same_bytes_whatever_the_worker_count(tiny_config, tiny_dataset, tmp_path):
    again = tmp_path / "synthetic"
    download(stage_spec("download", tiny_config, "synthetic"), again, workers=1)
    assert tree_digest(again) == tree_digest(tiny_dataset)
    for row in read_manifest(again / "manifest.csv")[:5]:
        a, b = again / row.media, tiny_dataset / row.media
        streams = probe(a)
        assert decode_frames(a, streams, 4, 40).tobytes() == decode_frames(b, streams, 4, 40).tobytes()
        if streams.has_audio:
            assert (
                decode_audio(a, streams, 16000, 2.0).tobytes()
                == decode_audio(b, streams, 16000, 2.0).tobytes()
            )


def test_other_seed_other_data(tiny_config, tiny_dataset, tmp_path):
    spec = stage_spec("download", tiny_config, "synthetic")
    spec["seed"] = 1
    download(spec, tmp_path / "s1", workers=2)
    assert (tmp_path / "s1" / "manifest.csv").read_bytes() != (tiny_dataset / "manifest.csv").read_bytes()


def test_manifest_covers_every_split_and_media_is_h264_aac(tiny_config, tiny_dataset):
    rows = read_manifest(tiny_dataset / "manifest.csv")
    sizes = tiny_config["datasets"]["synthetic"]["synthetic"]["splits"]
    assert {s: sum(r.split == s for r in rows) for s in SPLITS} == sizes
    facts = truth(tiny_dataset)
    for row in rows:
        with av.open(str(tiny_dataset / row.media)) as container:
            assert container.streams.video[0].codec_context.name == "h264"
            has_audio = bool(container.streams.audio)
            if has_audio:
                assert container.streams.audio[0].codec_context.name == "aac"
            frames = sum(1 for _ in container.decode(video=0))  # libavcodec (ffmpeg) decodes every frame
        assert frames == 8 * 2
        assert has_audio == (facts[row.id]["has_audio"] == "1")
        assert bool(row.text) == (facts[row.id]["has_text"] == "1")
    assert all(r.labels == () for r in rows if r.split == "pretrain")
    assert all(len(r.labels) == 1 for r in rows if r.split.startswith("singlelabel"))


def test_audio_shows_the_tone_of_its_concept(tiny_dataset):
    world, facts, checked = world_of(tiny_dataset), truth(tiny_dataset), 0

    def to_mel(hz):
        return 2595 * np.log10(1 + np.asarray(hz) / 700)

    centres = np.linspace(0, to_mel(8000), 130)[1:-1]  # HTK-mel filter centres, 128 bins
    for row in read_manifest(tiny_dataset / "manifest.csv"):
        shown = facts[row.id]["shown_audio"]
        if not shown or ";" in shown:  # exactly one tone in the clip
            continue
        if not probe(tiny_dataset / row.media).has_audio:
            continue
        spectrum = log_mel(
            decode_audio(tiny_dataset / row.media, probe(tiny_dataset / row.media), 16000, 2.0)
        ).mean(axis=1)
        peak = centres[int(np.argmax(spectrum))]
        assert abs(peak - to_mel(world[shown]["tone_hz"])) < 3 * (centres[1] - centres[0])
        checked += 1
    assert checked >= 3


def test_video_shows_the_colour_of_its_concept_and_only_then(tiny_dataset):
    world, facts = world_of(tiny_dataset), truth(tiny_dataset)
    seen = {True: 0, False: 0}
    for row in read_manifest(tiny_dataset / "manifest.csv"):
        path = tiny_dataset / row.media
        frames = decode_frames(path, probe(path), 4, 48).astype(int)
        shown = [s for s in facts[row.id]["shown_video"].split(";") if s]
        for name, concept in world.items():
            colour = np.array(COLORS[concept["color"]])
            close = (np.abs(frames - colour).max(axis=-1) < 45).mean()
            if name in shown:
                assert close > 0.002, (row.id, name)  # ~4 px a frame; thin shapes lose chroma to 4:2:0
                seen[True] += 1
        if not shown:
            saturated = (frames.max(-1) - frames.min(-1) > 120).mean()
            assert saturated < 0.001, row.id
            seen[False] += 1
    assert seen[True] >= 5


def test_noise_and_missing_fractions_follow_the_config(tiny_config):
    spec = dict(tiny_config["datasets"]["synthetic"]["synthetic"], missing={"audio": 0.1, "text": 0.05})
    world = build_world(0, spec["concepts"])
    plans = [plan_clip(0, "pretrain", i, world, spec) for i in range(3000)]
    noisy = [p for p in plans if p.noise != "none"]
    assert abs(len(noisy) / len(plans) - spec["noise_fraction"]) < 0.03
    assert {p.noise for p in noisy} == {"audio", "text"}
    for p in noisy:  # the corrupted modality shows none of the clip's own concepts
        assert not set(p.shown["A" if p.noise == "audio" else "T"]) & set(p.concepts)
    carriers = {c.name: c.carriers for c in world}
    assert all(any(carriers[c] == "VAT" for c in p.concepts) for p in plans)  # every clip has its anchor
    assert abs(sum(not p.has_audio for p in plans) / len(plans) - 0.1) < 0.02
    assert abs(sum(not p.has_text for p in plans) / len(plans) - 0.05) < 0.015


def test_label_information_is_split_across_modalities(tiny_config):
    world = build_world(0, tiny_config["datasets"]["synthetic"]["synthetic"]["concepts"])
    for task in ("multilabel", "singlelabel"):
        carriers = [c.carriers for c in world if c.task == task]
        for only in ("V", "A", "T"):
            assert only in carriers, f"{task} has no class that only {only} shows"
        assert "VAT" in carriers
    names = [c.name for c in world]
    assert len(set(names)) == len(names)
    assert len({(c.shape, c.color) for c in world}) == len(world)
    assert len({(c.tone_hz, c.pulse_hz) for c in world}) == len(world)


def test_too_many_concepts_is_a_clear_error():
    with pytest.raises(ValueError, match="room for"):
        build_world(0, {"multilabel": {"VAT": 60}})
