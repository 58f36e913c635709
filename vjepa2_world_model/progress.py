"""Progress bars with an ETA for long jobs (tqdm on stderr; sparse when not a terminal)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def progress(
    iterable: Iterable[T] | None = None,
    *,
    desc: str,
    total: int | None = None,
    unit: str = "it",
    initial: int = 0,
    **kwargs: Any,
) -> Any:
    """A tqdm bar (rate and ETA) on stderr. In a log file (not a terminal) it writes a
    line at most every 30 s instead of redrawing. Use as an iterator or call
    ``.update(n)``; ``.close()`` it (or iterate to the end)."""
    from tqdm.auto import tqdm

    tty = sys.stderr.isatty()
    return tqdm(
        iterable,
        desc=desc,
        total=total,
        unit=unit,
        initial=initial,
        file=sys.stderr,
        dynamic_ncols=tty,
        mininterval=0.5 if tty else 30.0,
        ascii=not tty,
        **kwargs,
    )


def iterate(
    iterable: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it"
) -> Iterator[T]:
    """``for x in iterate(xs, desc=...)``: the bar closes when the loop ends or breaks."""
    bar = progress(iterable, desc=desc, total=total, unit=unit)
    try:
        yield from bar
    finally:
        bar.close()


def outputs(job: str, **paths: Any) -> None:
    """One line saying where a job's outputs went."""
    print(f"[{job}] outputs: " + ", ".join(f"{k} -> {v}" for k, v in paths.items()), flush=True)
