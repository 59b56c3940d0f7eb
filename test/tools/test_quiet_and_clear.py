"""A newcomer's first hour: successful commands are quiet, failures are one line that says what was expected,
a closed pipe is not a traceback, and a missing package is named with how to install it."""
import json
import os
import subprocess
import sys

import pytest

from paths import ROOT

ENV = {k: v for k, v in os.environ.items() if k not in ("TRANSFORMERS_VERBOSITY", "PYTHONWARNINGS")}


def cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "rs_vla_guard", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**ENV, **kwargs.pop("env", {})}, timeout=300, **kwargs)


@pytest.mark.model
def test_certify_json_on_success_writes_nothing_to_stderr(tmp_path):
    image = str(tmp_path / "scene.png")
    assert cli("scene", "--target", "red", "--x", "0.2", "-o", image).returncode == 0
    done = cli("certify", image, "--instruction", "go to the red block", "--json")
    assert done.returncode == 0 and done.stderr == ""  # transformers prints a loading bar and advisories here
    assert json.loads(done.stdout)["action"] == "turn_left"


def test_oracle_eval_on_an_image_is_one_line_saying_what_it_expected(tmp_path):
    image = tmp_path / "scene.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    done = cli("oracle-eval", str(image))
    assert done.returncode != 0 and done.stdout == ""
    line = done.stderr.strip()
    assert "\n" not in line and "JSON Lines" in line and "not UTF-8" in line


def test_plans_alpha_range_is_the_one_the_guard_accepts(capsys):
    from rs_vla_guard.settings import ConfigError, effective
    from rs_vla_guard.tools.cli import main

    for alpha in ("0", "0.5", "0.7"):
        with pytest.raises(SystemExit) as caught:
            main(["plan", "--radius", "0.25", "--p", "0.99", "--alpha", alpha])
        assert caught.value.code == 2 and "(0, 0.5)" in capsys.readouterr().err.strip().splitlines()[-1]
        with pytest.raises(ConfigError):  # the guard refuses the same values
            effective({"alpha": float(alpha)})
    assert main(["plan", "--radius", "0.25", "--p", "0.99", "--alpha", "0.01"]) == 0
    effective({"alpha": 0.01})


def test_a_closed_pipe_ends_the_command_without_a_traceback(tmp_path):
    # a fleet of 5,000 robots: `fleet check` prints far more than a pipe holds, and the reader leaves at once
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("limits: {}\ndefaults: {}\nrobots:\n" + "".join(f"  robot_{i:05d}: {{}}\n" for i in range(5000)))
    reader = subprocess.Popen([sys.executable, "-m", "rs_vla_guard", "fleet", "check", str(fleet)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    first = reader.stdout.readline()
    reader.stdout.close()  # what `| head -1` does
    error = reader.stderr.read().decode()
    assert reader.wait(timeout=120) != 0 and first.startswith(b"robot_00000")
    assert "Traceback" not in error and "BrokenPipe" not in error, error


def test_a_missing_package_is_named_with_how_to_install_it(tmp_path):
    # guard_node's console entry point on a machine without ROS 2: rclpy made unimportable
    code = ("import sys; sys.modules['rclpy'] = None; sys.argv = ['guard_node']; "
            "from rs_vla_guard.ros.entry import guard_node; guard_node()")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    line = done.stderr.strip()
    assert "\n" not in line and "rclpy" in line and "setup.bash" in line
    # and for the command line: a missing optional package (the replay's pyarrow) in one line
    dataset = tmp_path / "dataset"
    (dataset / "meta").mkdir(parents=True)
    (dataset / "meta" / "info.json").write_text(json.dumps({"codebase_version": "v3.0", "fps": 10, "features": {},
                                                           "data_path": "data/{chunk_index}/{file_index}.parquet"}))
    (dataset / "meta" / "tasks.parquet").write_bytes(b"PAR1")  # reading it needs pyarrow
    code = ("import sys; sys.modules['pyarrow'] = None; sys.modules['pyarrow.parquet'] = None; "
            "from rs_vla_guard.tools.cli import main; "
            f"sys.exit(main(['convert', {str(dataset)!r}, {str(tmp_path / 'bags')!r}, '--to', 'rosbag2']))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    line = done.stderr.strip()
    assert done.returncode == 2 and "\n" not in line and "pyarrow" in line and "[replay]" in line, line
