"""`vjepa2 bench plan --device cpu` at tiny sizes: rows for `paper` and `reference` with
ms per step, roofline ratio, peak memory and the cached-vs-naive speed-up."""

from __future__ import annotations

import re

from vjepa2_world_model.cli import main as cli


def test_bench_plan_runs_tiny_on_cpu(capsys):
    rc = cli(
        [
            "bench",
            "plan",
            "--device",
            "cpu",
            "--presets",
            "paper,reference",
            "--set",
            "num_samples=12",
            "--set",
            "iterations=2",
            "--set",
            "top_k=3",
            "--repeats",
            "1",
            "--threads",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "vit_tiny + ac_tiny" in out and "torch.float32" in out
    assert "x roof" in out and "peak MB" in out and "naive ms" in out
    rows = {}
    for line in out.splitlines():
        m = re.match(r"(paper|reference)\s+(\d+)/\s*(\d+)/\s*(\d+)/(\d) +(.*)", line)
        if m:
            rows[m.group(1)] = (
                [int(m.group(i)) for i in range(2, 6)],
                m.group(6).replace("|", " ").split(),
            )
    assert rows["paper"][0] == [12, 2, 3, 1] and rows["reference"][0] == [12, 2, 3, 2]
    for _, cols in rows.values():
        ms, hz = float(cols[0]), float(cols[1])
        assert ms > 0 and abs(hz - 1e3 / ms) < 0.02 * hz + 0.01
        # ms Hz enc GFLOP GFLOP/s xroof peak | naive-ms GFLOP peak speedup |dplan|
        assert cols[5].endswith("x") and float(cols[5][:-1]) > 1  # slower than H100 peak
        assert float(cols[6]) >= 0 and float(cols[7]) > 0  # peak MB, naive ms
        assert cols[10].endswith("x") and float(cols[10][:-1]) > 0  # speed-up over naive
    assert "roofline: paper preset, ac_vit_giant" in out
