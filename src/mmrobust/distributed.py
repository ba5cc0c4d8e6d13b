"""Data-parallel training across processes (torchrun, or srun under SLURM): who am I, and the
collectives the training loops need.

A job is distributed when torchrun set RANK / WORLD_SIZE / LOCAL_RANK, or when srun started it with
MMROBUST_DISTRIBUTED=slurm (then SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID; the batch step of a
multi-task allocation also has SLURM_NTASKS, hence the explicit switch). MASTER_ADDR and MASTER_PORT
come from the launcher. Each rank takes a contiguous slice of every global batch; rank 0 alone writes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

import torch
import torch.distributed as dist

from .errors import MmrobustError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1

    def shard(self, n: int, what: str) -> slice:
        """This rank's contiguous part of a global batch of n; equal parts so that gathers line up."""
        if n % self.size:
            raise MmrobustError(
                f"{what}: a batch of {n} does not split over {self.size} processes (make it a multiple)"
            )
        per = n // self.size
        return slice(self.rank * per, (self.rank + 1) * per)

    def device(self) -> torch.device:
        return compute_device(self.local_rank)

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum over ranks (a new tensor; the input is left as it is)."""
        if not self.active:
            return tensor
        tensor = tensor.clone()
        dist.all_reduce(tensor)
        return tensor

    def gather(self, local: torch.Tensor) -> torch.Tensor:
        """Every rank's rows, in rank order; this rank's own rows stay live for autograd, the others are
        constants."""
        if not self.active:
            return local
        parts = [torch.empty_like(local) for _ in range(self.size)]
        dist.all_gather(parts, local.detach().contiguous())
        parts[self.rank] = local
        return torch.cat(parts)


def compute_device(local_rank: int = 0) -> torch.device:
    """This process's GPU when there is one, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def world_from_env(env: Mapping[str, str] = os.environ) -> World:
    if "WORLD_SIZE" in env:
        keys = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
    elif env.get("MMROBUST_DISTRIBUTED") == "slurm":
        keys = ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID")
    else:
        return World()
    try:
        rank, size, local = (int(env[k]) for k in keys)
    except (KeyError, ValueError) as exc:
        raise MmrobustError(
            f"distributed launch: environment variable {exc} missing or not an integer"
        ) from None
    if size > 1 and not {"MASTER_ADDR", "MASTER_PORT"} <= env.keys():
        raise MmrobustError("distributed launch: MASTER_ADDR and MASTER_PORT must be set by the launcher")
    return World(rank, size, local)


def init(world: World) -> None:
    """Join the process group (NCCL on GPUs, gloo on CPU); a no-op for one process."""
    if world.active and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(world.device())
        dist.init_process_group(backend, rank=world.rank, world_size=world.size)
        print(f"distributed: rank {world.rank} of {world.size} ({backend}, {world.device()})", flush=True)


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def to_device(
    tensors: dict[str, torch.Tensor] | None, device: torch.device
) -> dict[str, torch.Tensor] | None:
    """Copies that overlap with compute when the source is pinned."""
    return None if tensors is None else {k: v.to(device, non_blocking=True) for k, v in tensors.items()}
