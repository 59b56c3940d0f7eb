"""The command examples of the README and docs/ that show their output: ```console blocks.

In such a block a line starting with ``$ `` is a command (a trailing backslash continues it on the next
line); the lines after it, up to the next command, are what it prints on stdout. When an example is run,
``.venv/bin/rs-vla-guard`` (or ``rs-vla-guard``) is this Python's ``-m rs_vla_guard``, and the commands of
one block share a fresh folder in which ``config/`` and ``rs_vla_guard/`` are the repository's.

Comparing what a command printed with what the page shows, line by line, token by token:
  * a line ``...`` stands for any number of lines;
  * a token ``*`` stands for any one token (a time, a rate: what depends on the machine), ``*,`` for one
    ending in a comma;
  * numbers agree within 15% or 0.05 (numbers vary a little with the CPU's precision, bf16 or int8);
  * every other token must be equal.
"""
from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

FENCE = re.compile(r"^```console\s*$")
NUMBER = re.compile(r"^[-+]?\(?\[?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?[%,;:)\]]*$")
RELATIVE, ABSOLUTE = 0.15, 0.05


@dataclass
class Step:
    command: str
    expected: List[str] = field(default_factory=list)


@dataclass
class Example:
    page: str
    line: int
    steps: List[Step]

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"


def examples_of(path: str, label: str) -> List[Example]:
    lines = open(path).read().split("\n")
    found, index = [], 0
    while index < len(lines):
        if not FENCE.match(lines[index]):
            index += 1
            continue
        start, steps, index = index + 1, [], index + 1
        while index < len(lines) and not lines[index].startswith("```"):
            line = lines[index]
            if line.startswith("$ "):
                command = line[2:]
                while command.endswith("\\"):
                    index += 1
                    command = command[:-1] + " " + lines[index].strip()
                steps.append(Step(command))
            elif steps:
                steps[-1].expected.append(line)
            index += 1
        found.append(Example(label, start, steps))
        index += 1
    return found


def _number(token: str) -> Optional[float]:
    if not NUMBER.match(token):
        return None
    try:
        return float(re.sub(r"[^\d.eE+-]", "", token))
    except ValueError:
        return None


def tokens_agree(expected: str, actual: str) -> bool:
    if expected == actual or (expected.startswith("*") and actual.endswith(expected[1:])):  # "*," any token + ","
        return True
    a, b = _number(expected), _number(actual)
    if a is None or b is None:
        return False
    return math.isclose(a, b, rel_tol=RELATIVE, abs_tol=ABSOLUTE)


def lines_agree(expected: str, actual: str) -> bool:
    e, a = expected.split(), actual.split()
    return len(e) == len(a) and all(tokens_agree(x, y) for x, y in zip(e, a))


def match(expected: List[str], actual: List[str]) -> Optional[str]:
    """None when ``actual`` fits ``expected`` (with ``...`` lines), else what differs."""
    expected = [line for line in expected if line.strip() or False] or []
    actual = [line for line in actual if line.strip()]

    def fits(i: int, j: int) -> bool:
        if i == len(expected):
            return j == len(actual)
        if expected[i].strip() == "...":
            return any(fits(i + 1, k) for k in range(j, len(actual) + 1))
        return j < len(actual) and lines_agree(expected[i], actual[j]) and fits(i + 1, j + 1)

    if fits(0, 0):
        return None
    return "expected:\n  " + "\n  ".join(expected) + "\nprinted:\n  " + "\n  ".join(actual)


def run(example: Example, root: str, folder: str, timeout: float = 600) -> List[Tuple[Step, str, str, int]]:
    """Run the example's commands in ``folder``; (step, stdout, stderr, exit code) each."""
    for name in ("config", "rs_vla_guard"):  # the repository's files, as from its root
        os.symlink(os.path.join(root, name), os.path.join(folder, name))
    env = {**os.environ, "RS_VLA_GUARD_NO_PROGRESS": "1", "MUJOCO_GL": "egl", "PYTHONPATH": root}
    results = []
    for step in example.steps:
        python = shlex.quote(sys.executable)
        command = re.sub(r"(^|\s)(\.venv/bin/)?rs-vla-guard(?=\s)", rf"\1{python} -m rs_vla_guard", step.command)
        done = subprocess.run(["bash", "-c", command], cwd=folder, env=env, capture_output=True, text=True,
                              timeout=timeout)
        results.append((step, done.stdout, done.stderr, done.returncode))
        if done.returncode != 0:
            break
    return results
