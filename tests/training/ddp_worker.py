"""Run under torchrun by test_ddp.py: a few steps of train-ac or train-encoder on synthetic
data; rank 0 saves the resulting weights and losses to ``out``."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))


def run(kind: str, run_dir: str, out: str, steps: int) -> None:
    import test_ddp as helpers

    summary, model = helpers.train_once(kind, run_dir, steps)
    if int(__import__("os").environ.get("RANK", "0")) == 0:
        torch.save(
            {
                "losses": torch.tensor(summary["losses"], dtype=torch.float64),
                "state": model.state_dict(),
            },
            out,
        )


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
