"""The README and docs/ explain what a user needs without leaving the repository, and stay in step with
the code's own lists."""
import glob
import os
import re

import pytest

from paths import ROOT
from rs_vla_guard import actions, params

PAGES = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=[os.path.relpath(p, ROOT) for p in PAGES])
def test_every_link_stays_inside_the_repository_and_resolves(page):
    text = open(page).read()
    assert not re.search(r"https?://", text), "links or addresses outside the repository"
    for target in LINK.findall(text):
        path = os.path.normpath(os.path.join(os.path.dirname(page), target.split("#")[0]))
        assert path.startswith(ROOT + os.sep) and os.path.exists(path), f"{target} in {os.path.basename(page)}"


def test_the_readme_links_the_theory_page():
    assert "(docs/theory.md)" in open(os.path.join(ROOT, "README.md")).read()


def test_the_readme_names_every_decision_reason():
    text = open(os.path.join(ROOT, "README.md")).read()
    missing = [reason for reason in actions.REASONS if f"`{reason}`" not in text]
    assert not missing, missing


def test_the_readme_and_guard_yaml_know_every_parameter():
    guard_yaml = open(os.path.join(ROOT, "config", "guard.yaml")).read()
    missing = [p.name for p in params.PARAMETERS if f"    {p.name}:" not in guard_yaml]
    assert not missing, missing
    # the documentation names every parameter a user can set (as `name` or `name: value`)
    text = open(os.path.join(ROOT, "README.md")).read() + "".join(
        open(os.path.join(ROOT, "docs", name)).read() for name in os.listdir(os.path.join(ROOT, "docs"))
        if name.endswith(".md"))
    undocumented = [p.name for p in params.PARAMETERS if not re.search(rf"`{p.name}[`:]", text)]
    assert not undocumented, undocumented
