"""Every job line the READMEs print (`python -m pipelines.jobs.<job> ...`, locally or after
`ray job submit ... --`) names a real job and gives it arguments its command line accepts."""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest

from pipelines.jobs import job_parser

REPO = Path(__file__).resolve().parents[2]
DOCS = ["README.md", "cluster/README.md"]


LINE = re.compile(r"python -m (pipelines\.jobs\.\w+)([^`\n|]*)")


def job_lines() -> list[tuple[str, str]]:
    """(doc, "python -m pipelines.jobs.X ARGS") for each job line, in code blocks or inline code."""
    return [(doc, m[0].strip()) for doc in DOCS for m in LINE.finditer((REPO / doc).read_text())]


@pytest.mark.parametrize("doc,line", job_lines())
def test_readme_job_line_parses(doc, line):
    words = shlex.split(line.rstrip(". "), comments=True)
    at = words.index("-m") + 1
    module = words[at]
    argv = []
    for w in words[at + 1:]:
        if w in ("&&", ";", "|", "||"):
            break
        argv.append(w)
    job = importlib.import_module(module)
    try:
        job_parser(job).parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"{doc}: `{line}` is refused by {module}'s command line (exit {exc.code})")


def test_the_readmes_have_job_lines():
    assert len({re.search(r"pipelines\.jobs\.(\w+)", line)[1] for _, line in job_lines()}) >= 6
