"""HowTo100M: HowTo100M_v1.csv (`video_id,category_1,category_2,rank,task_id`, the video list) and
caption.json (`{video_id: {"start": [...], "end": [...], "text": [...]}}`, the ASR segments).

One clip per ASR segment (HowTo100M's own clip definition, 136M of them), widened around its
centre to at least `min_seconds` (default 8 s, the audio window of the features, which a 4 s
segment would leave half empty). The text is every ASR segment overlapping the clip, in time
order: the neighbouring narrations MIL-NCE treats as candidate positives, joined into the one
caption a clip has here. Unlabeled (pretraining data); videos without captions give no clips.
"""
from __future__ import annotations

from bisect import bisect_left

from ...errors import MmrobustError
from .reading import clean_text, clip_id, csv_records, read_json, span, youtube_id
from .request import ClipRequest

COLUMNS = ("video_id", "category_1", "category_2", "rank", "task_id")


def _videos(path: str) -> list[str]:
    videos = []
    for where, record in csv_records(path, "videos", COLUMNS):
        for field in ("rank", "task_id"):
            if not record[field].strip().isdigit():
                raise MmrobustError(f"{where}: {field}: {record[field]!r} is not a whole number")
        videos.append(youtube_id(record["video_id"], where, "video_id"))
    return videos


def _segments(entry: object, where: str) -> list[tuple[float, float, str]]:
    """(start, end, text) sorted by time."""
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), list) for k in ("start", "end", "text")):
        raise MmrobustError(f"{where}: expected {{\"start\": [...], \"end\": [...], \"text\": [...]}}")
    if not len(entry["start"]) == len(entry["end"]) == len(entry["text"]):
        raise MmrobustError(f"{where}: start, end and text have different lengths "
                            f"({len(entry['start'])}, {len(entry['end'])}, {len(entry['text'])})")
    segments = []
    for i, (start, end, text) in enumerate(zip(entry["start"], entry["end"], entry["text"])):
        first, last = span(start, end, f"{where}[{i}]", ("start", "end"))
        if not isinstance(text, str):
            raise MmrobustError(f"{where}[{i}]: text: expected a string, got {type(text).__name__}")
        segments.append((first, last, clean_text(text)))
    return sorted(segments)


def _clips(video: str, segments: list[tuple[float, float, str]], min_seconds: float, split: str) -> list[ClipRequest]:
    starts = [s for s, _, _ in segments]
    longest = max((e - s for s, e, _ in segments), default=0.0)
    clips = {}
    for first, last, _ in segments:
        length = max(last - first, min_seconds)
        start = round(max(0.0, (first + last - length) / 2), 3)  # ms, as in the id
        end = round(start + length, 3)
        # overlapping segments start before `end` and, being at most `longest` long, after start - longest
        near = segments[bisect_left(starts, start - longest):bisect_left(starts, end)]
        text = " ".join(t for s, e, t in near if e > start and t)
        request = ClipRequest(clip_id(video, start, end), split, video, start=start, end=end, text=text)
        clips[request.id] = request  # equal spans are the same clip
    return list(clips.values())


def build(cfg: dict) -> list[ClipRequest]:
    videos, captions = _videos(cfg["videos"]), read_json(cfg["captions"], "captions")
    if not isinstance(captions, dict):
        raise MmrobustError(f"{cfg['captions']}: <top level>: expected an object {{video_id: segments}}")
    requests = []
    for video in sorted(set(videos)):
        if video in captions:
            segments = _segments(captions[video], f"{cfg['captions']}: {video}")
            requests += _clips(video, segments, cfg["min_seconds"], cfg["split"])
    return requests
