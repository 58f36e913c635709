"""Where the data files are: config/, goals/, weights/ and the ROS message definitions.

From a source checkout they are in the repository; a normal (non-editable) ``pip install``
puts them in ``<prefix>/share/vjepa2`` (pyproject ``data-files``) with the same layout.
"""

from __future__ import annotations

import sys
from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def data_root() -> Path:
    """The directory holding config/, goals/, weights/ (checkout first, then the install)."""
    if (_SOURCE_ROOT / "config" / "sim_cell.yaml").is_file():
        return _SOURCE_ROOT
    share = Path(sys.prefix) / "share" / "vjepa2"
    return share if (share / "config").is_dir() else _SOURCE_ROOT


def data_path(*parts: str) -> Path:
    """``data_root() / parts``, e.g. ``data_path("config", "sim_cell.yaml")``."""
    return data_root().joinpath(*parts)
