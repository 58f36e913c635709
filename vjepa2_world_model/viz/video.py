"""Episode videos (browser-playable MP4, else animated WebP/GIF) and filmstrip PNGs."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from vjepa2_world_model.viz.overlay import EpisodeFrame, compose_frame

log = logging.getLogger(__name__)

# OpenCV FourCCs tried in order, all in an .mp4 container that browsers play: H.264
# (missing from the opencv-python-headless wheels, which have no x264) then VP9.
MP4_FOURCCS = ("avc1", "vp09")
_FAILED_FOURCCS: set[str] = set()  # tried once per process (a failed open logs errors)


def _even(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Pad to even width/height (4:2:0 video needs it)."""
    h, w = frames[0].shape[:2]
    ph, pw = h % 2, w % 2
    if not (ph or pw):
        return frames
    return [np.pad(f, ((0, ph), (0, pw), (0, 0))) for f in frames]


def _imageio_h264(frames: list[np.ndarray], path: Path, fps: float) -> bool:
    """H.264 through imageio-ffmpeg's bundled ffmpeg, when that package is installed."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return False
    h, w = frames[0].shape[:2]
    try:
        writer = imageio_ffmpeg.write_frames(
            str(path),
            (w, h),
            fps=fps,
            codec="libx264",
            pix_fmt_out="yuv420p",
            macro_block_size=1,
            output_params=["-movflags", "+faststart"],
        )
        writer.send(None)
        for f in frames:
            writer.send(np.ascontiguousarray(f))
        writer.close()
    except (OSError, RuntimeError) as e:
        log.info("imageio-ffmpeg H.264 failed: %s", e)
        return False
    return path.is_file() and path.stat().st_size > 0


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence fd 2 (FFmpeg prints its failed encoder probes there, not via Python)."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _opencv_mp4(frames: list[np.ndarray], path: Path, fps: float, fourcc: str) -> bool:
    if fourcc in _FAILED_FOURCCS:
        return False
    h, w = frames[0].shape[:2]
    with _quiet_stderr():
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    if not writer.isOpened():
        _FAILED_FOURCCS.add(fourcc)
        return False
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    # the writer can open and still write nothing readable: check it decodes
    cap = cv2.VideoCapture(str(path))
    ok, _ = cap.read()
    cap.release()
    return ok


def _animated(frames: list[np.ndarray], path: Path, fps: float) -> bool:
    from PIL import Image

    imgs = [Image.fromarray(f) for f in frames]
    imgs[0].save(
        path,
        save_all=True,
        append_images=imgs[1:],
        duration=int(1000 / fps),
        loop=0,
        **({"lossless": False, "quality": 80} if path.suffix == ".webp" else {}),
    )
    return path.is_file()


def write_video(frames: list[np.ndarray], stem: str | Path, fps: float = 2.0) -> Path:
    """Write RGB frames to ``stem.mp4`` (H.264, else VP9) or ``stem.webp``/``.gif``.

    Returns the path written. All frames must have the same size."""
    if not frames:
        raise ValueError("no frames to write")
    if any(f.shape != frames[0].shape for f in frames):
        raise ValueError("all frames must have the same size")
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    frames = _even([np.ascontiguousarray(f, dtype=np.uint8) for f in frames])
    mp4 = stem.with_suffix(".mp4")
    if _imageio_h264(frames, mp4, fps):
        return mp4
    for fourcc in MP4_FOURCCS:
        if _opencv_mp4(frames, mp4, fps, fourcc):
            return mp4
    mp4.unlink(missing_ok=True)
    for suffix in (".webp", ".gif"):
        try:
            if _animated(frames, stem.with_suffix(suffix), fps):
                return stem.with_suffix(suffix)
        except (OSError, ValueError, KeyError) as e:  # Pillow without WebP support
            log.info("animated %s failed: %s", suffix, e)
    raise RuntimeError(f"no video writer worked for {stem} (tried MP4 H.264/VP9, WebP, GIF)")


def video_codec(path: str | Path) -> str:
    """The FourCC OpenCV reads from an MP4 ('avc1', 'h264', 'VP90', ...), else the suffix."""
    path = Path(path)
    if path.suffix != ".mp4":
        return path.suffix.lstrip(".")
    cap = cv2.VideoCapture(str(path))
    code = int(cap.get(cv2.CAP_PROP_FOURCC))
    cap.release()
    return "".join(chr((code >> 8 * k) & 0xFF) for k in range(4))


def read_video(path: str | Path) -> list[np.ndarray]:
    """Every frame of a video (MP4 through OpenCV, WebP/GIF through Pillow) as RGB uint8.

    The one reader of the project (episode videos, DROID's MP4s); raises ``ValueError``
    naming the file when it cannot be opened or holds no frame."""
    path = Path(path)
    if path.suffix.lower() == ".mp4":
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise ValueError(f"cannot open video {path}")
        frames = []
        while True:
            ok, f = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
        cap.release()
    else:
        from PIL import Image, ImageSequence

        try:
            with Image.open(path) as im:
                frames = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)]
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot open video {path}: {e}") from e
    if not frames:
        raise ValueError(f"video {path} has no frames")
    return frames


def write_episode_video(
    frames: list[EpisodeFrame], stem: str | Path, fps: float = 2.0, tile: int = 256
) -> Path:
    """Compose the overlay for every step and write the video."""
    return write_video([compose_frame(f, tile) for f in frames], stem, fps)


def write_filmstrip(
    frames: list[EpisodeFrame],
    path: str | Path,
    thumb: int = 112,
    goal_images: list[np.ndarray] | None = None,
    goal_names: list[str] | None = None,
) -> Path:
    """PNG: a row with the camera frame of every step (labelled with step and energy)
    above a row with the goal images, each goal under the steps that aimed at it."""
    from vjepa2_world_model.viz.overlay import _fit, _text

    if not frames:
        raise ValueError("no frames for a filmstrip")
    n = len(frames)
    label_px = 18
    gap = 4
    cell = thumb + gap
    width = n * cell + gap
    height = 2 * (label_px + thumb) + 3 * gap
    canvas = np.full((height, width, 3), 255, np.uint8)
    for k, f in enumerate(frames):
        x = gap + k * cell
        canvas[label_px + gap : label_px + gap + thumb, x : x + thumb] = _fit(f.rgb, thumb)
        txt = f.label or f"{f.step + 1}"
        if not np.isnan(f.energy):
            txt += f" E{f.energy:.3f}"
        _text(canvas, txt, x + 2, label_px, 0.38, (20, 20, 20))
    # goal row: goal g centred under the span of steps with goal_index == g
    num_goals = max(f.num_goals for f in frames)
    goals = goal_images if goal_images is not None else [None] * num_goals
    for g in range(num_goals):
        idx = [k for k, f in enumerate(frames) if f.goal_index == g]
        img = (
            goals[g]
            if g < len(goals) and goals[g] is not None
            else (frames[idx[0]].goal_rgb if idx else None)
        )
        if img is None:
            continue
        if idx:
            x0, x1 = gap + idx[0] * cell, gap + idx[-1] * cell + thumb
        else:  # a goal never reached in the budget: place it after the others
            x0 = x1 = gap + (n - 1) * cell + thumb
        x = int(np.clip((x0 + x1) // 2 - thumb // 2, gap, width - thumb - gap))
        y = 2 * label_px + thumb + 2 * gap
        canvas[y : y + thumb, x : x + thumb] = _fit(img, thumb)
        if idx and x1 - x0 > thumb:  # bracket over the steps this goal covers
            yb = y - label_px + 3
            canvas[yb : yb + 2, x0:x1] = (90, 90, 90)
        name = (
            goal_names[g]
            if goal_names and g < len(goal_names)
            else next((frames[k].goal_name for k in idx), "")
        )
        _text(
            canvas,
            f"goal {g + 1}" + (f": {name}" if name else ""),
            x + 2,
            y - 4,
            0.38,
            (20, 20, 20),
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    return path
