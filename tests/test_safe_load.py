"""A .pt file from elsewhere cannot run code: checkpoints and CLIP files load weights-only.

The evil file's pickle calls os.system to create a marker file. Each test first shows the payload
is live (a plain torch.load runs it), then that the project refuses the file in one line and the
marker stays absent.
"""

import os
import shlex

import pytest
import torch
from conftest import TINY, run_cli
from test_clip_init import model as clip_model

from mmrobust.errors import MmrobustError
from mmrobust.models import checkpoint
from mmrobust.models.clip_init import init_from_clip


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


@pytest.fixture()
def evil(tmp_path):
    """(evil.pt, marker): a checkpoint-shaped file whose state dict is the payload."""
    marker = tmp_path / "payload_ran"
    path = tmp_path / "evil.pt"
    torch.save({"model_config": {}, "state_dict": Payload(marker)}, path)
    torch.load(path, weights_only=False)  # the payload is live: an unsafe load runs it
    assert marker.exists()
    marker.unlink()
    return path, marker


def test_embed_refuses_a_checkpoint_that_runs_code(evil, tmp_path):
    path, marker = evil
    result = run_cli(
        "embed",
        "--config",
        *map(str, TINY),
        "--task",
        "multilabel",
        "--pretrained",
        str(path),
        "--features",
        str(tmp_path / "features"),
        "--out",
        str(tmp_path / "emb.pt"),
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"mmrobust: error: {path}: refused to load this checkpoint: its pickle calls posix.system (only "
        "tensors, "
        "dicts, lists, str, numbers, bool and None load; nothing in the file was run)"
    ]
    assert not marker.exists()
    assert not (tmp_path / "emb.pt").exists()


def test_checkpoint_read_refuses_it_too(evil):
    path, marker = evil
    with pytest.raises(
        MmrobustError, match=r"refused to load this checkpoint: its pickle calls posix\.system"
    ):
        checkpoint.read(path)
    assert not marker.exists()


def test_clip_init_refuses_a_file_that_runs_code(tmp_path):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "clip.pt"
    torch.save({"state_dict": {"visual.conv1.weight": torch.zeros(1), "x": Payload(marker)}}, path)
    torch.load(path, weights_only=False)
    assert marker.exists()
    marker.unlink()
    with pytest.raises(MmrobustError) as info:
        init_from_clip(clip_model("ms"), path)
    assert str(info.value).startswith(
        f"{path}: init.path: refused to load this CLIP checkpoint: its pickle calls posix.system"
    )
    assert "\n" not in str(info.value)
    assert not marker.exists()


def test_a_checkpoint_that_is_not_a_dict_is_refused(tmp_path):
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    with pytest.raises(
        MmrobustError, match="list.pt: not an mmrobust checkpoint \\(holds a list, not a dict\\)"
    ):
        checkpoint.read(tmp_path / "list.pt")
