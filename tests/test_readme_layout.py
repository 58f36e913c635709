"""The README's layout section matches the code: every file its camera-to-command picture
names exists, every box names one file, and every module of the node and eval packages is
named in the layout table."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOXES = ["camera", "image codec", "encoder", "predictor", "energy", "CEM", "EE delta", "bridge"]


def layout_section() -> str:
    text = (ROOT / "README.md").read_text()
    return text[text.index("## Layout\n") :]


def test_picture_names_existing_files_one_per_box() -> None:
    section = layout_section()
    picture = section[section.index("```\n", section.index("camera to command")) :]
    picture = picture[4 : picture.index("```", 4)]
    paths = re.findall(r"(vjepa2_[a-z_]+/[\w/]+\.py)", picture)
    assert len(paths) >= len(BOXES)
    assert [p for p in paths if not (ROOT / p).is_file()] == []
    for box in BOXES:  # a box line: its name, then exactly one full path
        line = next((ln for ln in picture.splitlines() if ln.startswith(box)), None)
        assert line is not None, f"no box {box!r} in the picture"
        assert len(re.findall(r"vjepa2_[a-z_]+/[\w/]+\.py", line)) == 1, line


def test_layout_table_names_every_node_and_eval_module() -> None:
    section = layout_section()
    rows = {
        m.group(1): m.group(2) for m in re.finditer(r"^\| `([\w/]+)/` \| (.*) \|$", section, re.M)
    }
    for pkg in ("vjepa2_planner_node", "vjepa2_eval"):
        mods = [p.stem for p in (ROOT / pkg).glob("*.py") if p.stem != "__init__"]
        missing = [m for m in mods if not re.search(rf"`{m}(\.py)?`", rows[pkg])]
        assert not missing, f"README layout row of {pkg} does not name {missing}"
