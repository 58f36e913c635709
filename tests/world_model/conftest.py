"""Shared settings for the world-model tests: one CPU thread (shared 2-core machine)."""

import torch

torch.set_num_threads(1)
