"""Who a process is in a data-parallel job: torchrun's variables, srun's behind an explicit switch."""

import pytest

from mmrobust.distributed import World, world_from_env
from mmrobust.errors import MmrobustError

MASTER = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}


def test_no_launcher_is_one_process():
    assert world_from_env({}) == World() and not World().active and World().main


def test_torchrun_variables():
    world = world_from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", **MASTER})
    assert world == World(3, 4, 1) and world.active and not world.main


def test_slurm_needs_the_switch():
    """The batch step of a 4-task allocation also sees SLURM_NTASKS=4 and SLURM_PROCID=0: without
    MMROBUST_DISTRIBUTED=slurm (set by the rule's srun launch) it stays one process."""
    slurm = {"SLURM_PROCID": "2", "SLURM_NTASKS": "4", "SLURM_LOCALID": "0", **MASTER}
    assert world_from_env(slurm) == World()
    assert world_from_env({**slurm, "MMROBUST_DISTRIBUTED": "slurm"}) == World(2, 4, 0)


@pytest.mark.parametrize(
    "env, message",
    [
        ({"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}, "MASTER_ADDR and MASTER_PORT must be set"),
        ({"WORLD_SIZE": "2", "RANK": "x", "LOCAL_RANK": "0", **MASTER}, "missing or not an integer"),
        ({"MMROBUST_DISTRIBUTED": "slurm", "SLURM_NTASKS": "2", **MASTER}, "'SLURM_PROCID' missing"),
    ],
)
def test_broken_launch_is_a_clear_error(env, message):
    with pytest.raises(MmrobustError, match=message):
        world_from_env(env)


def test_shards_are_equal_contiguous_slices():
    assert [World(r, 3).shard(12, "b") for r in range(3)] == [slice(0, 4), slice(4, 8), slice(8, 12)]
    with pytest.raises(MmrobustError, match="b: a batch of 10 does not split over 3 processes"):
        World(0, 3).shard(10, "b")


def test_only_training_stages_run_distributed(tmp_path, monkeypatch, capsys):
    from mmrobust.cli import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    for key, value in {"RANK": "0", "LOCAL_RANK": "0", **MASTER}.items():
        monkeypatch.setenv(key, value)
    assert main(["embed", "--pretrained", "x", "--features", "y", "--out", str(tmp_path / "e.pt")]) == 2
    assert "embed: runs in one process; only pretrain and finetune run distributed" in capsys.readouterr().err
    assert not (tmp_path / "e.pt").exists()
