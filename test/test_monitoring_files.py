"""The Foxglove layout and the diagnostic_aggregator analyzers that ship in config/ name what the guard node
really publishes: its topics (as launch/guard.launch.py leaves them by default) and its status name."""
import json
import os
import re

from paths import ROOT
from rs_vla_guard import settings as P
from rs_vla_guard.settings.yaml_files import load_yaml_file

GUARD_STATUS = f"{P.NODE_NAME}: guard"  # guard_node names its /diagnostics status so (node_diagnostics.py)


def published_topics():
    """The guard node's publishers, read from its source: (topic, message type) as created."""
    found = {}
    for name in ("guard_node.py", "node_trajectory.py", "node_diagnostics.py"):
        with open(os.path.join(ROOT, "rs_vla_guard", "ros", name)) as handle:
            for kind, topic in re.findall(r"create_(?:lifecycle_)?publisher\((\w+), \"([~/\w]+)\"", handle.read()):
                found["/" + topic.lstrip("/")] = kind
    return found


def test_the_foxglove_layout_shows_the_guards_topics_and_status():
    with open(os.path.join(ROOT, "config", "foxglove_layout.json")) as handle:
        layout = json.load(handle)
    panels = layout["configById"]
    text = json.dumps(panels)
    used = set(re.findall(r"\"(/[a-z_]+)[.\"]", text))
    published = published_topics()
    assert {"/action", "/certificate", "/cmd_vel", "/joint_trajectory", "/diagnostics"} <= set(published)
    assert used - {"/image", "/move_base_simple", "/clicked_point", "/initialpose"} <= set(published), used
    assert panels["Image!guardcamera"]["imageMode"]["imageTopic"] == "/image"  # the node's input, not remapped
    assert panels["DiagnosticStatusPanel!guardstatus"]["selectedName"] == GUARD_STATUS

    def leaves(node):
        return [node] if isinstance(node, str) else leaves(node["first"]) + leaves(node["second"])
    assert sorted(leaves(layout["layout"])) == sorted(panels)  # every panel placed once


def test_the_analyzers_yaml_expects_the_guards_status():
    document = load_yaml_file(os.path.join(ROOT, "config", "diagnostic_aggregator.yaml"))
    guard = document["analyzers"]["ros__parameters"]["guard"]
    assert guard["type"] == "diagnostic_aggregator/GenericAnalyzer"
    assert guard["expected"] == [GUARD_STATUS] and GUARD_STATUS.startswith(tuple(guard["startswith"]))
    assert guard["timeout"] > 0
