"""The README is a quickstart and docs/ a mkdocs site that builds strictly; both explain what a user needs
without leaving the repository, and stay in step with the code's own lists."""
import glob
import os
import re
import subprocess
import sys

import pytest

from paths import ROOT
from rs_vla_guard import actions, params
from rs_vla_guard.tools.reference import parameter_table, reason_table

PAGES = [os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCED = re.compile(r"^```.*?^```", re.S | re.M)


def read(*parts):
    with open(os.path.join(ROOT, *parts)) as handle:
        return handle.read()


@pytest.mark.parametrize("page", PAGES, ids=[os.path.relpath(p, ROOT) for p in PAGES])
def test_every_link_stays_inside_the_repository_and_resolves(page):
    text = open(page).read()
    # addresses outside the repository only as commands (a package index in an install step), never as links
    assert not re.search(r"https?://", FENCED.sub("", text)), "links or addresses outside the repository"
    for target in LINK.findall(FENCED.sub("", text)):
        path = os.path.normpath(os.path.join(os.path.dirname(page), target.split("#")[0]))
        assert path.startswith(ROOT + os.sep) and os.path.exists(path), f"{target} in {os.path.basename(page)}"


def test_the_readme_is_a_quickstart():
    text = read("README.md")
    lines = text.split("\n")
    assert len(lines) <= 300
    head = "\n".join(lines[:8])
    assert "make demo" in head and "make test" in head  # the two set-up commands, first
    assert "## Prerequisites" in text and "Python" in text and "GB" in text and "minutes" in text
    assert "(docs/theory.md)" in text
    linked = set(LINK.findall(text))
    missing = [p for p in glob.glob(os.path.join(ROOT, "docs", "*.md"))
               if os.path.basename(p) != "index.md" and f"docs/{os.path.basename(p)}" not in linked]
    assert not missing, missing  # every page of the docs is one click from the README


def test_the_site_builds_strictly(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    built = {os.path.relpath(p, tmp_path / "site") for p in glob.glob(str(tmp_path / "site" / "*" / "index.html"))}
    for page in ("guide", "theory", "policies", "ros", "fleet", "replay", "simulation", "performance", "robot",
                 "safety"):
        assert f"{page}/index.html" in built, page


def test_the_ros_reference_holds_the_generated_tables():
    text = read("docs", "ros.md")
    assert parameter_table() in text, "docs/ros.md's parameter table is stale: python -m rs_vla_guard.tools.reference"
    assert reason_table() in text


def test_the_safety_notes_name_every_reason():
    text = read("docs", "safety.md")
    missing = [reason for reason in actions.REASONS if f"`{reason}`" not in text]
    assert not missing, missing
    assert "IEC 60204-1" in text and "category 2" in text


def test_guard_yaml_knows_every_parameter():
    guard_yaml = read("config", "guard.yaml")
    missing = [p.name for p in params.PARAMETERS if f"    {p.name}:" not in guard_yaml]
    assert not missing, missing
