"""What a replay says, for people: a summary (``report.json``), plots, an annotated MCAP, and two
configurations side by side.

The certified-accuracy curve is the standard one of the randomized-smoothing literature: the fraction of
decisions certified at radius >= r, against r (with recorded commands, also the fraction certified at
>= r *and* agreeing with what the robot did). At r = ``radius_threshold`` it is the share the guard lets
through; its tail says how much margin the configuration leaves.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .. import actions as A
from . import bags as B
from .timeline import NS

PLOTS = ("stops_by_reason.png", "radius_histogram.png", "certified_accuracy.png", "latency_histogram.png")
AGREEMENT_PLOT = "agreement.png"


def _agrees(record: Dict[str, Any], params: Dict[str, Any]) -> Optional[bool]:
    recorded = record.get("recorded")
    if not recorded or not record["certified"]:
        return None
    return recorded["label"] in A.members_of(params, record["action"])


def summarise(result: Dict[str, Any], params: Dict[str, Any]) -> Dict[str, Any]:
    """Counts, shares, radii, latencies and agreement of a replay's decisions."""
    records = result["decisions"]
    count = len(records)
    certified = [r for r in records if r["certified"]]
    stops = Counter(r["reason"] for r in records if not r["certified"])
    radii = np.array([r["radius"] for r in certified], float)
    latencies = np.array([r["latency_ms"] for r in records if r["n_samples"] > 0], float)
    grid = np.round(np.linspace(0.0, 2.0 * params["radius_threshold"], 21), 6)
    summary: Dict[str, Any] = {
        "decisions": count,
        "certified": len(certified),
        "certified_share": round(len(certified) / count, 4) if count else 0.0,
        "stop_rate": round((count - len(certified)) / count, 4) if count else 0.0,
        "stops_by_reason": dict(sorted(stops.items())),
        "actions": dict(sorted(Counter(r["action"] for r in records).items())),
        "radius_certified": {"mean": round(float(radii.mean()), 4), "median": round(float(np.median(radii)), 4),
                             "min": round(float(radii.min()), 4)} if radii.size else None,
        "latency_ms": {"p50": round(float(np.percentile(latencies, 50)), 2),
                       "p99": round(float(np.percentile(latencies, 99)), 2)} if latencies.size else None,
        "certified_accuracy_curve": {"radius": grid.tolist(),
                                     "certified": [round(float(np.mean([r["certified"] and r["radius"] >= g
                                                                        for r in records])), 4) if count else 0.0
                                                   for g in grid]},
        "per_bag": {bag: {"decisions": n, "stop_rate": round(sum(1 for r in records if r["bag"] == bag
                                                                and not r["certified"]) / n, 4)}
                    for bag, n in Counter(r["bag"] for r in records).items()},
    }
    if any("episode_index" in r for r in records):  # datasets: a row per episode, a curve per dataset
        summary["per_episode"] = per_episode(records, params)
        for name in summary["per_bag"]:
            own = [r for r in records if r["bag"] == name]
            summary["per_bag"][name]["certified_accuracy_curve"] = [
                round(float(np.mean([r["certified"] and r["radius"] >= g for r in own])), 4) for g in grid]
    with_command = [r for r in records if r.get("recorded")]
    if with_command:
        judged = [_agrees(r, params) for r in with_command]
        agreeing = [a for a in judged if a is not None]
        confusion: Dict[str, Dict[str, int]] = {}
        for r in with_command:
            row = confusion.setdefault(r["action"], {})
            label = r["recorded"]["label"] or "unmapped"
            row[label] = row.get(label, 0) + 1
        summary["agreement"] = {
            "with_recorded_command": len(with_command),
            "certified_and_agreeing": sum(agreeing),
            "agreement_when_certified": round(sum(agreeing) / len(agreeing), 4) if agreeing else None,
            "confusion": confusion,  # guard's published action -> recorded command's class -> count
        }
        summary["certified_accuracy_curve"]["certified_and_agreeing"] = [
            round(float(np.mean([bool(r["certified"] and r["radius"] >= g and _agrees(r, params))
                                 for r in with_command])), 4) for g in grid]
    return summary


def per_episode(records: Sequence[Dict[str, Any]], params: Dict[str, Any]) -> List[Dict[str, Any]]:
    """One row per (dataset, episode): decisions, certified share, stops by reason, agreement when certified."""
    groups: Dict[tuple, List[Dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["bag"], r["episode_index"]), []).append(r)
    rows = []
    for (name, episode), own in groups.items():
        judged = [a for a in (_agrees(r, params) for r in own) if a is not None]
        rows.append({"dataset": name, "episode_index": episode, "instruction": own[0].get("instruction", ""),
                     "decisions": len(own),
                     "certified_share": round(sum(r["certified"] for r in own) / len(own), 4),
                     "stops_by_reason": dict(sorted(Counter(r["reason"] for r in own if not r["certified"]).items())),
                     "agreement_when_certified": round(sum(judged) / len(judged), 4) if judged else None})
    return rows


def write_report(result: Dict[str, Any], params: Dict[str, Any], folder: str) -> Dict[str, Any]:
    """``report.json`` (settings, summary, every decision) and the plots in ``folder``; returns the summary."""
    os.makedirs(folder, exist_ok=True)
    summary = summarise(result, params)
    with open(os.path.join(folder, "report.json"), "w") as handle:
        json.dump({"settings": result["settings"], "wall_s": result["wall_s"],
                   "throughput": result.get("throughput"), "summary": summary,
                   "decisions": [{k: v for k, v in r.items() if k != "certificate"} for r in result["decisions"]]},
                  handle, indent=1)
    _plots(result["decisions"], summary, params, folder)
    return summary


def _plots(records: List[Dict[str, Any]], summary: Dict[str, Any], params: Dict[str, Any], folder: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    start = min((r["time_ns"] for r in records), default=0)
    times = np.array([(r["time_ns"] - start) / NS for r in records])
    reasons = sorted({r["reason"] for r in records if not r["certified"]})
    figure, axis = plt.subplots(figsize=(7, 3.2))
    if records and reasons:
        bins = np.linspace(0, max(times.max(), 1e-3), 31)
        stacks = [times[[i for i, r in enumerate(records) if not r["certified"] and r["reason"] == reason]]
                  for reason in reasons]
        axis.hist(stacks, bins=bins, stacked=True, label=reasons)
        axis.legend(fontsize=7)
    axis.set(xlabel="time in the recording (s)", ylabel="stops", title="Stops by reason over time")
    _save(figure, folder, PLOTS[0])

    figure, axis = plt.subplots(figsize=(5, 3.2))
    radii = [min(r["radius"], 4 * params["radius_threshold"]) for r in records if r["certified"]]
    axis.hist(radii, bins=30)
    axis.axvline(params["radius_threshold"], color="k", linestyle="--", label="radius_threshold")
    axis.set(xlabel="certified L2 radius", ylabel="decisions", title="Certified radii")
    axis.legend(fontsize=7)
    _save(figure, folder, PLOTS[1])

    curve = summary["certified_accuracy_curve"]
    figure, axis = plt.subplots(figsize=(5, 3.2))
    axis.plot(curve["radius"], curve["certified"], label="certified at radius >= r")
    if "certified_and_agreeing" in curve:
        axis.plot(curve["radius"], curve["certified_and_agreeing"], label="... and agreeing with the robot")
    axis.axvline(params["radius_threshold"], color="k", linestyle="--", linewidth=0.8)
    axis.set(xlabel="radius r", ylabel="fraction of decisions", ylim=(0, 1.02), title="Certified-accuracy curve")
    axis.legend(fontsize=7)
    _save(figure, folder, PLOTS[2])

    figure, axis = plt.subplots(figsize=(5, 3.2))
    axis.hist([r["latency_ms"] for r in records if r["n_samples"] > 0], bins=30)
    axis.set(xlabel="Guard.decide latency (ms)", ylabel="decisions", title="Latency")
    _save(figure, folder, PLOTS[3])

    if "agreement" in summary:
        confusion = summary["agreement"]["confusion"]
        rows = sorted(confusion)
        columns = sorted({c for row in confusion.values() for c in row})
        table = np.array([[confusion[r].get(c, 0) for c in columns] for r in rows])
        figure, axis = plt.subplots(figsize=(5, 4))
        axis.imshow(table, cmap="Blues")
        for (i, j), value in np.ndenumerate(table):
            axis.text(j, i, str(value), ha="center", va="center", fontsize=8)
        axis.set_xticks(range(len(columns)), columns, rotation=30, fontsize=7)
        axis.set_yticks(range(len(rows)), rows, fontsize=7)
        axis.set(xlabel="recorded command (binned as gate mode)", ylabel="guard's action", title="Agreement")
        _save(figure, folder, AGREEMENT_PLOT)


def _save(figure, folder: str, name: str) -> None:
    figure.tight_layout()
    figure.savefig(os.path.join(folder, name), dpi=90)
    import matplotlib.pyplot as plt

    plt.close(figure)


GUARD_TOPICS = {"action": "/guard/action", "cmd_vel": "/guard/cmd_vel", "certificate": "/guard/certificate",
                "joint_trajectory": "/guard/joint_trajectory"}


def write_annotated(bag_path: str, records: Sequence[Dict[str, Any]], out_path: str) -> None:
    """A copy of every topic of ``bag_path`` plus the guard's action, command and certificate per decision
    (and, for a chunked policy, the JointTrajectory the node would send: the chunk, or a hold), stamped at
    the decision times, as one MCAP (Foxglove, ``ros2 bag play``). Guard topics the bag already has (a live
    guard's, recorded) are kept under ``/recorded/...``, beside the replay's."""
    guard = sorted(records, key=lambda r: r["time_ns"])
    position = 0
    with B.BagReader(bag_path) as bag, B.BagWriter(out_path, "mcap") as out:
        def flush(until_ns: Optional[int]) -> None:
            nonlocal position
            while position < len(guard) and (until_ns is None or guard[position]["time_ns"] <= until_ns):
                r = guard[position]
                out.string(GUARD_TOPICS["action"], r["time_ns"], r["action"])
                out.twist_stamped(GUARD_TOPICS["cmd_vel"], r["time_ns"], r["linear_x"], r["angular_z"])
                out.certificate(GUARD_TOPICS["certificate"], r["time_ns"], "guard: certificate", r["action"],
                                r["certified"], r["certificate"], r["certificate"]["model_id"])
                trajectory = r.get("joint_trajectory")
                if trajectory:
                    out.joint_trajectory(GUARD_TOPICS["joint_trajectory"], r["time_ns"], trajectory["joint_names"],
                                         trajectory["points"], trajectory["dt_s"])
                position += 1
        for connection, time_ns, data in bag.raw():
            flush(time_ns)
            clash = connection.topic in GUARD_TOPICS.values()
            out.raw(connection, time_ns, data, topic="/recorded" + connection.topic if clash else None)
        flush(None)


def compare(base: Dict[str, Any], other: Dict[str, Any], base_params: Dict[str, Any],
            other_params: Dict[str, Any]) -> Dict[str, Any]:
    """The same frames under two configurations: both summaries side by side and what changed where."""
    first, second = summarise(base, base_params), summarise(other, other_params)
    keys = ("decisions", "certified_share", "stop_rate")
    changes = Counter()
    where: List[Dict[str, Any]] = []
    key = lambda r: (r["bag"], r.get("episode_index"), r["time_ns"], r["frame"])  # noqa: E731
    index = {key(r): r for r in other["decisions"]}
    for r in base["decisions"]:
        o = index.get(key(r))
        if o is None or (r["action"], r["certified"]) == (o["action"], o["certified"]):
            continue
        changes[f"{r['action']} -> {o['action']}"] += 1
        if len(where) < 200:
            where.append({"bag": r["bag"], "time_ns": r["time_ns"], "frame": r["frame"], "base": r["action"],
                          "base_reason": r["reason"], "other": o["action"], "other_reason": o["reason"]})
    side = {key: {"base": first[key], "other": second[key]} for key in keys}
    side["stops_by_reason"] = {"base": first["stops_by_reason"], "other": second["stops_by_reason"]}
    if "agreement" in first and "agreement" in second:
        side["agreement_when_certified"] = {"base": first["agreement"]["agreement_when_certified"],
                                            "other": second["agreement"]["agreement_when_certified"]}
    return {"side_by_side": side, "changed": dict(changes.most_common()), "changed_decisions": where,
            "settings": {"base": base["settings"], "other": other["settings"]}}
