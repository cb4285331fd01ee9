"""Every file of the bad-input corpus is refused with one line naming it and the problem, a
non-zero exit, and a store left exactly as it was (both stores)."""

from __future__ import annotations

import pytest

from tests.cli.conftest import CORPUS, lake_files_digest

# (file, extra arguments, words the one-line message must contain)
CASES = [
    ("truncated_last_field.csv", ["--tz", "UTC"], "last line looks cut"),
    ("truncated_last_line.csv", ["--tz", "UTC"], "last line is cut"),
    ("truncated.csv.gz", ["--tz", "UTC"], "gzip stream is cut short"),
    ("empty.csv", ["--tz", "UTC"], "empty"),
    ("header_only.csv", ["--tz", "UTC"], "header but no rows"),
    ("random_bytes.csv", ["--tz", "UTC"], "binary content"),
    ("random_bytes.parquet", [], "not a readable Parquet file"),
    ("naive_no_zone.csv", [], "--tz"),
    ("unknown_zone.csv", [], "unknown time zone 'XYZ'"),
    ("duplicates_two_series.csv", ["--tz", "UTC"], "two different bars"),
    ("nan_prices.csv", ["--tz", "UTC"], "nan_price: 6"),
    # the stored daily series again, its dates read as New York midnights: 5 h later in UTC
    ("../good/STOCK_1d.csv", ["--tz", "America/New_York"], "meridian data delete --symbol STOCK"),
]


@pytest.mark.parametrize("name,extra,words", CASES, ids=[c[0].split("/")[-1] for c in CASES])
def test_bad_file_is_refused_and_store_unchanged(cli_store, capsys, name, extra, words):
    for seed, tz in (("SEED_1h.csv", "UTC"), ("STOCK_1d.csv", "UTC")):
        assert cli_store.run("import", str(CORPUS / "good" / seed), "--asset-class", "stock", "--tz", tz) == 0
    capsys.readouterr()
    before = cli_store.digest()
    files_before = lake_files_digest(cli_store.config.parent / "lake") if cli_store.kind == "parquet" else ""
    path = CORPUS / "bad_files" / name
    rc = cli_store.run("import", str(path), "--asset-class", "stock", *extra)
    out, err = capsys.readouterr()
    assert rc == 1
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"meridian: error: {path.name}: ") and words in lines[0], lines[0]
    assert "Traceback" not in err and out == ""
    assert cli_store.digest() == before
    if cli_store.kind == "parquet":
        assert lake_files_digest(cli_store.config.parent / "lake") == files_before


def test_corpus_is_all_covered():
    names = {c[0] for c in CASES}
    assert {p.name for p in (CORPUS / "bad_files").iterdir()} <= names
