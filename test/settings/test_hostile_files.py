"""Configuration files that must not be trusted: every fleet and parameter file goes through one bounded
loader (size, aliases, duplicate keys, depth), and a fleet limit must be able to bind (finite, typed)."""
import math
import os
import subprocess
import sys

import pytest

from commands import run_main
from paths import ROOT
from peak_memory import run_measured
from rs_vla_guard.settings.yaml_files import MAX_BYTES, YamlFileError, load_yaml_file, load_yaml_text

ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8))


def fleet(text_limits="", robots="  bot: {}\n", defaults=""):
    return f"limits:\n{text_limits}defaults:\n{defaults or '  sigma: 0.25'}\nrobots:\n{robots}"


def hostile_files(tmp_path):
    """name -> (path, what its one-line error must say)."""
    files = {}
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("limits:\n  certify_mode: {allowed: [betting, fixed]}\n  oracle: {allowed: &q [keyword]}\n"
                    "defaults: {}\nrobots:\n  bot: {}\n" + ALIAS_BOMB.replace("a: &a", "z: &a"))
    alias = tmp_path / "alias.yaml"
    alias.write_text("defaults: {}\nrobots:\n  bot: {}\n" + "nested:\n" + "".join("  " + line + "\n"
                                                                           for line in ALIAS_BOMB.splitlines()))
    files["alias bomb"] = (alias, "anchors and aliases are not allowed")
    files["alias in a limit"] = (bomb, "anchors and aliases are not allowed")
    big = tmp_path / "big.yaml"
    with open(big, "w") as handle:
        handle.write("defaults: {}\nrobots:\n  bot: {}\nfiller:\n")
        line = "  - " + "x" * 95 + "\n"
        handle.write(line * (50_000_000 // len(line)))
    files["50 MB"] = (big, f"more than the {MAX_BYTES}")
    twice = tmp_path / "twice.yaml"
    twice.write_text(fleet(robots="  carter: {radius_threshold: 0.3}\n  carter: {radius_threshold: 0.25}\n"))
    files["duplicate robot"] = (twice, "key 'carter' appears twice")
    deep = tmp_path / "deep.yaml"
    deep.write_text("defaults: {}\nrobots:\n  bot: {}\nx: " + "[" * 5000 + "]" * 5000 + "\n")
    files["5000-deep list"] = (deep, "nested more than")
    deep_map = tmp_path / "deep_map.yaml"
    deep_map.write_text("defaults: {}\nrobots:\n  bot: {}\nx: " + "{a: " * 5000 + "1" + "}" * 5000 + "\n")
    files["5000-deep mapping"] = (deep_map, "nested more than")
    return files


@pytest.mark.parametrize("command", ["check", "render"])
def test_fleet_commands_refuse_hostile_files_in_one_line_quickly_and_in_bounded_memory(tmp_path, command):
    for name, (path, says) in hostile_files(tmp_path).items():
        args = [sys.executable, "-m", "rs_vla_guard", "fleet", command, str(path)] + (
            ["--robot", "bot"] if command == "render" else [])
        run = run_measured(args, tmp_path, cwd=ROOT)
        lines = run.stderr.strip().splitlines()
        assert run.code != 0 and len(lines) == 1, (name, run.stderr[-500:])
        assert says in lines[0] and str(path) in lines[0], (name, lines[0])
        assert run.seconds < 15, (name, run.seconds)  # a bound, not a speed goal: the bomb once ran for minutes
        assert run.peak_kb < 1_000_000, (name, run.peak_kb)  # the alias bomb once grew past 3 GB


def test_replay_and_budget_refuse_a_hostile_parameter_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("/**/rs_vla_guard:\n  ros__parameters:\n    sigma: &s 0.25\n    n0: *s\n")
    for args in (["replay", str(tmp_path / "nobag"), "--image-topic", "/x", "--instruction", "go", "--params", str(path)],
                 ["budget", "--params", str(path)]):
        result = run_main(*args)
        assert result.returncode == 2 and "anchors and aliases are not allowed" in result.stderr, args
        assert len(result.stderr.strip().splitlines()) == 1


NON_FINITE = ["{min: .nan}", "{max: .nan}", "{max_abs: .nan}", "{max_abs: .inf}", "{min: -.inf}", "{max: .inf}",
              "{allowed: [.nan]}"]


@pytest.mark.parametrize("rule", NON_FINITE)
def test_every_non_finite_limit_is_refused(tmp_path, rule):
    path = tmp_path / "fleet.yaml"
    path.write_text(fleet(text_limits=f"  radius_threshold: {rule}\n", robots="  bot: {radius_threshold: 0.0}\n"))
    for command in (["fleet", "check", str(path)], ["fleet", "render", str(path), "--robot", "bot"]):
        result = run_main(*command)
        assert result.returncode != 0 and "limits.radius_threshold" in result.stderr, (rule, result.stderr)
        assert "finite" in result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("rule,says", [("{min: '0.2'}", "must be a finite number, got '0.2'"),
                                       ("{allowed: 5}", "must be a non-empty list"),
                                       ("{min: [0.1]}", "must be a finite number, got [0.1]"),
                                       ("{max_abs: -1}", "must be >= 0"),
                                       ("{equals: fast}", "expected a number")])
def test_badly_typed_limits_are_named_not_crashed_on(tmp_path, rule, says):
    path = tmp_path / "fleet.yaml"
    path.write_text(fleet(text_limits=f"  radius_threshold: {rule}\n"))
    result = run_main("fleet", "check", str(path))
    assert result.returncode != 0 and says in result.stderr and "TypeError" not in result.stderr, result.stderr


def test_an_envelope_dimension_the_policy_does_not_have_is_refused_by_fleet_check(tmp_path):
    path = tmp_path / "fleet.yaml"
    path.write_text(fleet(defaults="  envelope_limits: 'angular_zz: 0.3'",
                          robots="  bot: {}\n  other: {envelope_limits: 'linear_x: 0.1, angular_zz: 0.3'}\n"))
    result = run_main("fleet", "check", str(path))
    assert result.returncode != 0
    assert "bot: envelope_limits: angular_zz not among the action dimensions" in result.stdout
    assert "other: envelope_limits: angular_zz not among" in result.stdout


def test_the_loader_reads_ordinary_files_and_names_the_place_of_a_problem(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("a: {b: [1, 2.5, .inf]}\nc: text\n")
    document = load_yaml_file(str(good))
    assert document["a"]["b"][:2] == [1, 2.5] and math.isinf(document["a"]["b"][2]) and document["c"] == "text"
    with pytest.raises(YamlFileError, match=r"x\.yaml: line 3, column 3: key 'q' appears twice"):
        load_yaml_text("r:\n  q: 1\n  q: 2\n", "x.yaml")
    with pytest.raises(YamlFileError, match="cannot read"):
        load_yaml_file(str(tmp_path / "missing.yaml"))
    assert os.path.getsize(good) < MAX_BYTES


def test_fleet_commands_never_import_torch(tmp_path):
    """A fleet check is a configuration check: it once took 3.5 s and 330 MB because the CLI imported torch."""
    path = tmp_path / "fleet.yaml"
    path.write_text(fleet())
    probe = ("import sys\nfrom rs_vla_guard.tools.cli import main\ncode = main(['fleet', 'check', sys.argv[1]])\n"
             "print(code, 'torch' in sys.modules, 'transformers' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "0 False False", done.stdout + done.stderr
