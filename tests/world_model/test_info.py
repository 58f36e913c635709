"""`vjepa2 info MODEL` prints the architecture and parameter count (meta device)."""

import json

from vjepa2_world_model.info import main


def test_info_giant_models(capsys):
    assert main(["ac_vit_giant"]) == 0
    out = capsys.readouterr().out
    assert "ACPredictor" in out and "305,220,992" in out and "extrinsics_encoder" in out
    assert main(["vit_giant", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "encoder" and abs(info["params"] - 1012e6) / 1012e6 < 0.01
    assert info["config"]["depth"] == 40 and info["config"]["heads"] == 22


def test_info_file_and_unknown(tmp_path, capsys):
    from vjepa2_world_model.checkpoints import build_model, save_model

    p = save_model(build_model("ac_tiny"), tmp_path / "ac.safetensors")
    assert main([str(p)]) == 0
    assert "ac_predictor" in capsys.readouterr().out
    assert main(["nope"]) == 2
    assert "unknown model" in capsys.readouterr().out
