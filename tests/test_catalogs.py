"""Catalogs: the official files of AudioSet, Kinetics-400, ImageNet-Captions, HowTo100M, YouTube-8M
(fixtures in their exact formats) become sorted clip requests; bad input is one line naming the
file, the line and the field."""

from __future__ import annotations

import shutil
from collections import Counter

import pytest
from catalog_configs import CATALOGS as FIXTURE_CATALOGS
from catalog_configs import FIXTURES, dataset

from mmrobust.data.catalog import CATALOGS, ClipRequest, requests
from mmrobust.errors import MmrobustError


def by_id(found: list[ClipRequest]) -> dict[str, ClipRequest]:
    return {r.id: r for r in found}


def test_every_format_is_registered_and_has_a_fixture():
    assert sorted(CATALOGS) == sorted(FIXTURE_CATALOGS)
    for name in CATALOGS:
        found = requests(dataset(name))
        assert found == sorted(found, key=lambda r: (r.split, r.id))
        assert found == requests(dataset(name))  # deterministic
        assert len({r.id for r in found}) == len(found)


def test_audioset_segments_labels_and_titles():
    found = requests(dataset("audioset"))
    assert Counter(r.split for r in found) == {"balanced_train": 5, "eval": 4, "unbalanced_train": 8}
    clips = by_id(found)
    first = clips["yt_--PJHxphWEs_30000_40000"]
    assert (first.video_id, first.start, first.end, first.path) == ("--PJHxphWEs", 30.0, 40.0, "")
    assert first.labels == ("/m/09x0r", "/t/dd00088")  # the quoted, comma-separated mids
    assert first.text == "Grandpa's speech, at the wedding"
    assert clips["yt_--aE2O5G5WE_0_10000"].text == 'Goats singing "Happy Birthday"'
    assert clips["yt_---EDNidJUA_30000_40000"].text == "Audiobook: chapter 1 (read by the author)"
    assert clips["yt_---2_BBVHAA_30000_40000"].text == ""  # empty title: no text modality
    assert clips["yt_--ZhevVpy1s_50000_60000"].text == ""  # not in the titles file
    assert clips["yt_--i-y1v8Hy8_0_9000"].end == 9.0
    without_titles = requests(dataset("audioset", titles=None))
    assert [r.id for r in without_titles] == [r.id for r in found] and not any(r.text for r in without_titles)


def test_kinetics_files_quoted_labels_and_optional_is_cc():
    found = requests(dataset("kinetics400"))
    assert Counter(r.split for r in found) == {"train": 10, "val": 4, "test": 2}
    clips = by_id(found)
    assert clips["yt_--nQbRBEz2s_104000_114000"].labels == ("air drumming",)
    assert clips["yt__dbcJuKJQNs_40000_50000"].split == "val"
    assert clips["yt__dbcJuKJQNs_40000_50000"].text == "drum solo"
    assert clips["yt_-0DCvj_Xyu8_35000_45000"].text == 'Air drums, Rush, "YYZ"'
    assert clips["yt_0pwkxbpERV8_37000_47000"].labels == ("applying cream",)  # test.csv has no is_cc column


def test_imagenet_captions_images_and_caption_text():
    found = requests(dataset("imagenet_captions", random_split=None))
    assert {r.split for r in found} == {"all"} and len(found) == 10
    clips = by_id(found)
    tench = clips["n01440764_10026"]
    assert tench.path == "/nonexistent/ILSVRC2012/train/n01440764/n01440764_10026.JPEG"
    assert (tench.video_id, tench.start, tench.end, tench.labels) == ("", None, None, ("n01440764",))
    assert tench.text == "Tench Caught this one at the lake & let it go. fish tench angling"
    assert (
        clips["n01443537_10007"].text == "Goldfish Our new goldfish in the tank goldfish aquarium"
    )  # HTML stripped
    assert clips["n01491361_1007"].text == ""  # no title, description or tags: no text modality
    titles_only = by_id(requests(dataset("imagenet_captions", text_fields=["title"])))
    assert titles_only["n01440764_10026"].text == "Tench"


def test_howto100m_clips_are_asr_segments_widened_with_the_overlapping_narration():
    found = requests(dataset("howto100m"))
    assert {r.split for r in found} == {"pretrain"} and not any(r.labels for r in found)
    assert {r.video_id for r in found} == {
        "-2ZS1O9jDzE",
        "nVbIUDjzWY4",
    }  # not in the CSV: ignored; no captions: no clips
    clips = by_id(found)
    assert len([r for r in found if r.video_id == "-2ZS1O9jDzE"]) == 5  # one per segment
    # segment [10.23, 13.02] widened to 8 s around its centre, with the segments it overlaps
    widened = clips["yt_-2ZS1O9jDzE_7625_15625"]
    assert (widened.start, widened.end) == (7.625, 15.625)
    assert widened.text == "the oil on a 2010 honda civic first jack the car up"
    assert clips["yt_-2ZS1O9jDzE_0_8000"].start == 0.0  # clamped at the video start, still 8 s long
    long_segment = clips["yt_nVbIUDjzWY4_3800_19200"]  # longer than 8 s: kept as it is
    assert long_segment.text == "we are going to replace the chain"  # whitespace collapsed
    exact = by_id(requests(dataset("howto100m", min_seconds=0)))
    assert exact["yt_-2ZS1O9jDzE_10230_13020"].text == "first jack the car up"


def test_youtube8m_whole_videos_with_vocabulary_names_or_indices():
    found = requests(dataset("youtube8m"))
    assert Counter(r.split for r in found) == {"train": 4, "validate": 1}
    clips = by_id(found)
    assert clips["yt_-0e1Ccre5k4"].labels == ("Game", "Video game")
    assert (clips["yt_-0e1Ccre5k4"].start, clips["yt_-0e1Ccre5k4"].end) == (None, None)
    assert clips["yt_0B0bb2Cu4C8"].text == "Test drive: the new hatchback"
    indices = by_id(requests(dataset("youtube8m", vocabulary=None)))
    assert indices["yt_5Gu4nNbM_l0"].labels == ("3", "4")


def corrupt(tmp_path, name: str, file: str, old: str, new: str) -> dict:
    """The fixture dataset `name` with `old` replaced by `new` in a copy of its `file`."""
    folder = tmp_path / name
    shutil.copytree(FIXTURES / name, folder)
    text = (folder / file).read_text(encoding="utf-8")
    assert old in text
    (folder / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    catalog = dataset(name)["catalog"]
    for key, value in catalog.items():
        if isinstance(value, str) and value.startswith(str(FIXTURES)):
            catalog[key] = value.replace(str(FIXTURES / name), str(folder))
        elif key in ("segments", "files"):
            catalog[key] = {k: v.replace(str(FIXTURES / name), str(folder)) for k, v in value.items()}
    return {"catalog": catalog}


@pytest.mark.parametrize(
    "name, file, old, new, message",
    [
        (
            "audioset",
            "eval_segments.csv",
            '--BfvyPmVMo, 20.000, 30.000, "/m/03l9g"',
            "--BfvyPmVMo, 20.000, 30.000",
            "eval_segments.csv:5: expected 4 fields",
        ),
        (
            "audioset",
            "eval_segments.csv",
            "--U7joUcTCo, 0.000,",
            "--U7joUcTCo, O.000,",
            "eval_segments.csv:6: start_seconds: 'O.000'",
        ),
        (
            "audioset",
            "eval_segments.csv",
            "--U7joUcTCo, 0.000, 10.000",
            "--U7joUcTCo, 10.000, 10.000",
            "eval_segments.csv:6: end_seconds: 10 is not after start_seconds 10",
        ),
        (
            "audioset",
            "eval_segments.csv",
            '"/m/01b_21"',
            '"/m/01b_21,/m/0zzzzz"',
            "eval_segments.csv:6: positive_labels: '/m/0zzzzz' is not in",
        ),
        (
            "audioset",
            "balanced_train_segments.csv",
            "--ZhevVpy1s,",
            "--Zhev,",
            "balanced_train_segments.csv:5: YTID: '--Zhev'",
        ),
        (
            "audioset",
            "class_labels_indices.csv",
            "index,mid,display_name",
            "index,display_name",
            "class_labels_indices.csv:1: header: missing column 'mid'",
        ),
        ("audioset", "titles.csv", "My dog barking", '"My dog barking', "titles.csv:4: not valid CSV"),
        (
            "kinetics400",
            "validate.csv",
            "time_end",
            "end",
            "validate.csv:1: header: missing column 'time_end'",
        ),
        (
            "kinetics400",
            "train.csv",
            "-0Ou6TxUWB4,0,10",
            "-0Ou6TxUWB4,zero,10",
            "train.csv:6: time_start: 'zero'",
        ),
        (
            "kinetics400",
            "train.csv",
            "abseiling,--33Lscn6sk,4,14,train,0",
            "abseiling,--33Lscn6sk,4,14,train",
            "train.csv:3: expected 6 fields",
        ),
        (
            "kinetics400",
            "titles.csv",
            "_dbcJuKJQNs,drum solo",
            "--07WQ2iBlw,drum solo",
            "titles.csv:4: youtube_id: '--07WQ2iBlw' appears twice",
        ),
        (
            "imagenet_captions",
            "imagenet_captions.json",
            '"wnid": "n01443537"}, {"filename": "n01443537_10014.JPEG"',
            '"wnid": "n0144"}, {"filename": "n01443537_10014.JPEG"',
            "imagenet_captions.json: [2].wnid: 'n0144'",
        ),
        (
            "imagenet_captions",
            "imagenet_captions.json",
            '"tags": ["fish", "tench", "angling"]',
            '"tags": "fish"',
            "imagenet_captions.json: [0].tags: expected a list of strings",
        ),
        (
            "imagenet_captions",
            "imagenet_captions.json",
            "n01484850_10036.JPEG",
            "n01484850_10036.jpg",
            "imagenet_captions.json: [5].filename: 'n01484850_10036.jpg'",
        ),
        (
            "imagenet_captions",
            "imagenet_captions.json",
            '"n01494475"}]',
            '"n01494475"}',
            "imagenet_captions.json:1: not valid JSON",
        ),
        (
            "howto100m",
            "HowTo100M_v1.csv",
            "Cars,4,12148",
            "Cars,four,12148",
            "HowTo100M_v1.csv:3: rank: 'four'",
        ),
        (
            "howto100m",
            "caption.json",
            '"end": [3.8, 19.2]',
            '"end": [3.8]',
            "caption.json: nVbIUDjzWY4: start, end and text have different lengths (2, 1, 2)",
        ),
        (
            "howto100m",
            "caption.json",
            '"end": [3.8, 19.2]',
            '"end": [3.8, "x"]',
            "caption.json: nVbIUDjzWY4[1]: end: 'x'",
        ),
        (
            "youtube8m",
            "train.csv",
            "5Gu4nNbM_l0,3 4",
            "5Gu4nNbM_l0,3 9",
            "train.csv:4: labels: '9' is not an index of",
        ),
        (
            "youtube8m",
            "vocabulary.csv",
            "Index,TrainVideoCount",
            "Idx,TrainVideoCount",
            "vocabulary.csv:1: header: missing column 'Index'",
        ),
    ],
)
def test_bad_input_names_file_line_and_field(tmp_path, name, file, old, new, message):
    with pytest.raises(MmrobustError) as info:
        requests(corrupt(tmp_path, name, file, old, new))
    text = str(info.value)
    assert message in text and "\n" not in text
    assert str(tmp_path) in text  # the file is named by its path


def test_missing_file_names_the_config_key(tmp_path):
    broken = dataset("kinetics400", files={"train": str(tmp_path / "nope.csv")})
    with pytest.raises(MmrobustError, match=r"nope\.csv: catalog\.files\.train: file not found"):
        requests(broken)
    with pytest.raises(MmrobustError, match=r"catalog: missing key"):
        requests({"source": "youtube"})


def test_not_utf8_and_unknown_keys(tmp_path):
    path = tmp_path / "train.csv"
    path.write_bytes(b"label,youtube_id,time_start,time_end\n\xff\xfe,abc,1,2\n")
    with pytest.raises(MmrobustError, match=r"train\.csv: not UTF-8 text"):
        requests(dataset("kinetics400", files={"train": str(path)}))
    with pytest.raises(MmrobustError, match=r"catalog: titel: unknown key"):
        requests(dataset("kinetics400", titel="x.csv"))


def test_a_clip_listed_in_two_splits_is_an_error(tmp_path):
    broken = dataset(
        "kinetics400",
        files={
            "train": FIXTURE_CATALOGS["kinetics400"]["files"]["train"],
            "again": FIXTURE_CATALOGS["kinetics400"]["files"]["train"],
        },
    )
    with pytest.raises(
        MmrobustError, match=r"clip 'yt_--07WQ2iBlw_1000_11000' is listed twice \(splits again and train\)"
    ):
        requests(broken)


def test_a_byte_order_mark_is_not_part_of_the_header(tmp_path):
    titles = tmp_path / "titles.csv"
    titles.write_text(
        "\ufeffyoutube_id,title\n--07WQ2iBlw,Dover cliffs\n", encoding="utf-8"
    )  # as spreadsheets export
    found = by_id(requests(dataset("kinetics400", titles=str(titles))))
    assert found["yt_--07WQ2iBlw_1000_11000"].text == "Dover cliffs"
