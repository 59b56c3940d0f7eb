"""Every command example with shown output in the README and docs/ (```console blocks, doc_examples) is run,
and what it prints is compared with what the page shows: no example can drift from the product again.
Commands that succeed print nothing on stderr (quiet by default)."""
import glob
import os

import pytest

from doc_examples import examples_of, match, run, tokens_agree, lines_agree
from paths import ROOT

pytestmark = pytest.mark.model
PAGES = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
EXAMPLES = [e for page in PAGES for e in examples_of(page, os.path.relpath(page, ROOT))]


def test_the_pages_show_examples_with_output():
    assert len(EXAMPLES) >= 6 and all(e.steps for e in EXAMPLES)
    assert any(e.page == "README.md" for e in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_an_example_prints_what_its_page_shows(example, tmp_path):
    for step, out, err, code in run(example, ROOT, str(tmp_path)):
        assert code == 0, f"{example.name}: `{step.command}` exited {code}: {err[-1500:]}"
        assert err == "", f"{example.name}: `{step.command}` wrote to stderr: {err[-800:]}"
        problem = match(step.expected, out.split("\n"))
        assert problem is None, f"{example.name}: `{step.command}`\n{problem}"


def test_the_comparison_itself_tells_drift_from_noise():
    assert tokens_agree("0.475", "0.49") and tokens_agree("*", "12.3ms") and tokens_agree("43", "44")
    assert tokens_agree("*,", "58.6%,") and not tokens_agree("*,", "58.6%")
    assert not tokens_agree("0.475", "0.9") and not tokens_agree("turn_left", "turn_right")
    assert lines_agree("radius 0.31 certified", "radius 0.33 certified")
    assert match(["a 1", "...", "z 2"], ["a 1", "b", "c", "z 2.01"]) is None
    assert match(["a 1", "z 2"], ["a 1", "b", "z 2"]) is not None
