"""DistributedDataParallel on 2 CPU processes (gloo): own shards per rank, identical weights at the end."""

import os

import torch
import torch.multiprocessing as mp
from safetensors.torch import save_file

from onebyone.train import train
from onebyone.train.checkpoint import load_checkpoint, load_weights
from tests.train.small import small_config


def _rank_main(rank: int, world_size: int, port: int, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    result = train(small_config(out=os.path.join(out, "run"), precision="fp32", epochs=2, batch_size=32))
    state = {k: v.contiguous() for k, v in result.model.state_dict().items()}
    save_file(state, os.path.join(out, f"rank{rank}.safetensors"))
    torch.distributed.destroy_process_group()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_ranks_end_with_identical_weights_and_one_checkpoint(tmp_path):
    mp.spawn(_rank_main, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    rank0 = load_weights(tmp_path / "rank0.safetensors")
    rank1 = load_weights(tmp_path / "rank1.safetensors")
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    # one run folder, written by rank 0, with the weights the ranks agree on
    saved = load_weights(tmp_path / "run" / "model.safetensors")
    assert all(torch.equal(saved[name], rank0[name]) for name in saved)
    _, info = load_checkpoint(tmp_path / "run")
    # 160 images over 2 ranks of batch 32: 2 full steps per epoch (drop_last), not 5
    assert info["epoch"] == 2 and info["step"] == 4
    assert sorted(p.name for p in (tmp_path / "run").iterdir() if p.suffix == ".safetensors") == [
        "checkpoint.safetensors",
        "model.safetensors",
    ]
