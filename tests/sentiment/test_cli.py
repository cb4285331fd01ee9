"""``meridian sentiment score``: text and JSON output, each model, the FinBERT fallback, bad input."""

from __future__ import annotations

import json

import pytest

from pipelines.cli import main

LINES = ["Operating profit rose to a record", "", "The company cut jobs after a heavy loss",
         "The annual meeting is held in Helsinki"]


@pytest.fixture()
def corpus(tmp_path):
    p = tmp_path / "texts.txt"
    p.write_text("\n".join(LINES) + "\n")
    return p


def test_vader_text_output(corpus, capsys):
    assert main(["sentiment", "score", str(corpus), "--model", "vader"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["1", out[0].split()[1], "positive"] and float(out[0].split()[1]) > 0
    assert out[1].split()[0] == "3" and out[1].split()[2] == "negative"
    assert out[-1].startswith("3 texts scored with vader")


def test_finbert_json_from_a_local_checkpoint(corpus, tiny_finbert, capsys):
    rc = main(["sentiment", "score", str(corpus), "--model", "composite", "--finbert-path", str(tiny_finbert),
               "--device", "cpu", "--batch-size", "2", "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res["model"]["active"] == "composite" and res["model"]["notice"] is None
    assert [i["line"] for i in res["items"]] == [1, 3, 4] and res["n"] == 3
    for i in res["items"]:
        assert i["score"] == pytest.approx(0.7 * i["finbert"] + 0.3 * i["vader"], abs=1e-5)
        assert i["label"] in ("positive", "negative", "neutral")


def test_finbert_without_weights_falls_back(corpus, tmp_path, capsys):
    rc = main(["sentiment", "score", str(corpus), "--model", "finbert", "--finbert-path", str(tmp_path / "none"),
               "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res["model"]["active"] == "vader" and "Falling back to VADER" in res["model"]["notice"]
    assert all(i["finbert"] is None and i["score"] == i["vader"] for i in res["items"])


def test_bad_input_is_a_clear_error(tmp_path, capsys):
    assert main(["sentiment", "score", str(tmp_path / "missing.txt")]) == 1
    assert "no such file" in capsys.readouterr().err
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Nokia 's net sales rose 5 % to EUR 10 m , Tiistai\xe4\n".encode("latin-1"))
    assert main(["sentiment", "score", str(latin)]) == 1
    assert "--encoding latin-1" in capsys.readouterr().err
    assert main(["sentiment", "score", str(latin), "--encoding", "latin-1", "--model", "vader", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["items"][0]["text"].endswith("Tiistaiä")
