"""Frozen-encoder feature cache: features of every frame, computed once per encoder.

Layout: ``<cache_root>/<encoder_hash>/<episode>.npz`` with ``features`` (T, N, D) float16
(raw encoder output, not layer-normed), ``states`` (T, 7) float64; plus ``manifest.json``.
The key is a hash of the encoder's weights (names + values), so a new encoder never reuses
stale features, while re-saving the same weights in another file format keeps the cache.
Building is resumable (existing episode files are skipped).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch


def file_hash(path: str | Path, n: int = 16) -> str:
    """First ``n`` hex digits of the SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:n]


def module_hash(module: torch.nn.Module, n: int = 16) -> str:
    """First ``n`` hex digits of a SHA-256 over the module's config and state dict."""
    import dataclasses

    h = hashlib.sha256()
    cfg = getattr(module, "cfg", None)
    if dataclasses.is_dataclass(cfg):
        h.update(json.dumps(dataclasses.asdict(cfg), sort_keys=True).encode())
    for k, v in sorted(module.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:n]


def load_encoder(path: str | Path) -> torch.nn.Module:
    """Encoder from a checkpoint saved with checkpoints.save_model."""
    from vjepa2_world_model.checkpoints import load_model

    path = Path(path)
    if not path.exists():
        raise ValueError(f"encoder checkpoint not found: {path}")
    return load_model(path).eval()


def cache_dir_for(cache_root: str | Path, encoder: torch.nn.Module | str | Path) -> Path:
    """Cache directory of an encoder (module or checkpoint path)."""
    if not isinstance(encoder, torch.nn.Module):
        encoder = load_encoder(encoder)
    return Path(cache_root) / module_hash(encoder)


@torch.no_grad()
def encode_frames(
    encode: Callable[[torch.Tensor], torch.Tensor], frames: np.ndarray, batch: int = 32
) -> np.ndarray:
    """frames (T,H,W,3) uint8 -> (T, N, D) float16 through ``encode`` (encode_images)."""
    out = []
    for i in range(0, len(frames), batch):
        x = torch.from_numpy(np.ascontiguousarray(frames[i : i + batch]))
        out.append(encode(x).float().numpy().astype(np.float16))
    return np.concatenate(out, axis=0)


def episode_source(
    root: str | Path, fmt: str = "auto", fps: float = 4.0
) -> tuple[list[Path], Callable]:
    """(episode paths, reader) under ``root``: ``bags`` (MCAP episode dirs), ``droid`` (raw
    DROID: trajectory.h5 + MP4 + metadata JSON, resampled to ``fps``) or ``auto``
    (DROID when ``root`` holds any trajectory.h5, else bags)."""
    from .bags import list_episodes, read_episode
    from .droid import list_droid_episodes, read_droid_episode

    if fmt not in ("auto", "bags", "droid"):
        raise ValueError(f"episode format must be auto, bags or droid, got {fmt!r}")
    if fmt == "auto":
        fmt = "droid" if list_droid_episodes(root) else "bags"
    if fmt == "droid":
        return list_droid_episodes(root), lambda p: read_droid_episode(p, fps=fps)
    return list_episodes(root), read_episode


def build_cache(
    episodes: list[Path],
    encoder: torch.nn.Module,
    out_dir: Path,
    batch: int = 32,
    log: Callable[[str], None] = print,
    reader: Callable | None = None,
) -> Path:
    """Encode every episode's frames into ``out_dir`` (skips done episodes)."""
    from .bags import read_episode

    reader = reader or read_episode
    out_dir.mkdir(parents=True, exist_ok=True)
    encoder.eval()
    t0, n_new = time.time(), 0
    from vjepa2_world_model.progress import iterate

    for k, ep_path in enumerate(iterate(episodes, desc="cache-features", unit="episode")):
        dst = out_dir / f"{ep_path.name}.npz"
        if dst.exists():
            continue
        ep = reader(ep_path)
        feats = encode_frames(encoder.encode_images, ep.frames, batch)
        tmp = out_dir / f"{ep_path.name}.tmp.npz"
        np.savez(tmp, features=feats, states=ep.states)
        tmp.replace(dst)
        n_new += 1
        if n_new % 10 == 0 or k == len(episodes) - 1:
            log(f"cache: {k + 1}/{len(episodes)} episodes ({time.time() - t0:.0f}s)")
    return out_dir


def load_cache(
    cache_dir: str | Path, names: list[str] | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (features (T,N,D) float16, states (T,7)) for the cached episodes."""
    cache_dir = Path(cache_dir)
    files = sorted(p for p in cache_dir.glob("*.npz") if not p.name.endswith(".tmp.npz"))
    if not files:
        raise ValueError(f"feature cache {cache_dir} is empty or missing")
    out = {}
    for f in files:
        name = f.name[:-4]
        if names is not None and name not in names:
            continue
        with np.load(f) as z:
            out[name] = (z["features"], z["states"])
    return out


def main(argv: list[str] | None = None) -> int:
    """`vjepa2 cache-features`: encode all episodes with a saved encoder."""
    ap = argparse.ArgumentParser(prog="vjepa2 cache-features")
    ap.add_argument("--episodes", default="data/sim/episodes")
    ap.add_argument("--encoder", default="weights/sim_tiny/encoder.safetensors")
    ap.add_argument("--cache-root", default="data/features")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--format",
        default="auto",
        choices=["auto", "bags", "droid"],
        help="episode layout: MCAP bags or raw DROID (auto: DROID if "
        "trajectory.h5 files are found)",
    )
    ap.add_argument("--fps", type=float, default=4.0, help="DROID resampling rate (15 Hz in)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    encoder = load_encoder(args.encoder)
    eps, reader = episode_source(args.episodes, args.format, args.fps)
    if not eps:
        print(f"vjepa2 cache-features: no episodes under {args.episodes}")
        return 1
    out = cache_dir_for(args.cache_root, encoder)
    build_cache(eps, encoder, out, args.batch, reader=reader)
    (out / "manifest.json").write_text(
        json.dumps(
            {"encoder": str(args.encoder), "hash": out.name, "episodes": [e.name for e in eps]}
        )
    )
    print(f"cache ready: {out} ({len(eps)} episodes, manifest.json)")
    return 0
