"""The guard over recorded bags: serially, in local worker processes, or on Ray, with identical results.

A bag is read twice: a scan of its times and small topics (instructions, states, commands), then its
frames, decoding only those a decision needs. Decisions follow :mod:`.timeline`; inputs are paired with
each decision as the node pairs them (the latest instruction, state and command at that moment, the
same timeouts and stop reasons). Deadlines are not applied: a replay decides every frame in full, so its
result does not depend on the machine that runs it.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .. import actions as A
from .. import settings as P
from ..control.chunks import holdable, sent_trajectory
from ..settings.chunks import state_joint_names
from ..frames import InvalidImage
from ..control.rules import input_stop
from ..guard import Guard, certificate_values, stop_decision
from ..oracles import BinningOracle
from . import bags as B
from .pairing import recorded_inputs
from .timeline import NS, Tick, frame_seed, latest_at, plan_ticks


@dataclass
class ReplayOptions:
    """What to read from each bag, and when to decide (see :mod:`.timeline`)."""
    image_topic: str
    instruction: Optional[str] = None  # one instruction for the whole bag, or
    instruction_topic: Optional[str] = None  # std_msgs/String, the latest one at each decision
    state_topic: Optional[str] = None  # sensor_msgs/JointState or std_msgs/Float32MultiArray
    cmd_topic: Optional[str] = None  # the recorded command (Twist or TwistStamped), for agreement
    every: int = 1
    rate_hz: Optional[float] = None

    def check(self) -> None:
        if (self.instruction is None) == (self.instruction_topic is None):
            raise ValueError("give exactly one of an instruction and an instruction topic")


@dataclass
class Scan:
    """A bag's times and small topics: everything but the frames."""
    name: str
    image_type: str
    frame_times: List[int]
    instructions: List[Tuple[int, str]] = field(default_factory=list)
    states: List[Tuple[int, Optional[List[float]], str]] = field(default_factory=list)
    commands: List[Tuple[int, Tuple[float, float]]] = field(default_factory=list)


def scan(path: str, options: ReplayOptions, params: Dict[str, Any]) -> Scan:
    """The times of the frames and the instructions, states and commands of one bag (BagError if it lacks
    a topic asked for)."""
    joints = state_joint_names(params)
    with B.BagReader(path) as bag:
        image_type = bag.require(options.image_topic, (B.IMAGE, B.COMPRESSED_IMAGE), "image")
        topics = {B.topic_name(options.image_topic): "image"}
        if options.instruction_topic:
            bag.require(options.instruction_topic, (B.STRING,), "instruction")
            topics[B.topic_name(options.instruction_topic)] = "instruction"
        if options.state_topic:
            bag.require(options.state_topic, (B.JOINT_STATE, B.FLOAT_ARRAY), "state")
            topics[B.topic_name(options.state_topic)] = "state"
        if options.cmd_topic:
            bag.require(options.cmd_topic, (B.TWIST, B.TWIST_STAMPED), "command")
            topics[B.topic_name(options.cmd_topic)] = "command"
        result = Scan(bag.name, image_type, [])
        for connection, time_ns, data in bag.raw(list(topics)):
            role = topics[connection.topic]
            if role == "image":
                result.frame_times.append(time_ns)
                continue
            msg = bag.deserialize(data, connection.msgtype)
            if role == "instruction":
                result.instructions.append((time_ns, msg.data))
            elif role == "state":
                result.states.append((time_ns, *B.state_values(msg, connection.msgtype, joints)))
            else:
                result.commands.append((time_ns, B.twist_values(msg, connection.msgtype)))
    if not result.frame_times:
        raise B.BagError(f"image topic {B.topic_name(options.image_topic)} has no messages in bag {path}")
    return result


def ticks_of(found: Scan, options: ReplayOptions, params: Dict[str, Any]) -> List[Tick]:
    return plan_ticks(found.frame_times, image_timeout_s=params["image_timeout_s"],
                      control_rate_hz=params["control_rate_hz"], every=options.every, rate_hz=options.rate_hz)


class BagReplay:
    """The decisions of one guard on one bag's ticks (a range of them, for shards)."""

    def __init__(self, guard: Guard, path: str, options: ReplayOptions, found: Optional[Scan] = None):
        self.guard, self.path, self.options = guard, path, options
        self.params = guard.params
        self.scan = found or scan(path, options, self.params)
        self.ticks = ticks_of(self.scan, options, self.params)
        # times of the paired topics, once (looked up per decision)
        self._times = {kind: [entry[0] for entry in getattr(self.scan, kind)]
                       for kind in ("instructions", "states", "commands")}
        actions = self.params["actions"]
        self.command_oracle = BinningOracle(actions) if A.STOP in actions else None  # binned as gate mode bins

    def run(self, start: int = 0, stop: Optional[int] = None, progress: Callable[[int], None] = lambda n: None
            ) -> List[Dict[str, Any]]:
        ticks = self.ticks[start:stop]
        by_frame: Dict[int, List[Tick]] = {}
        records = []
        for tick in ticks:  # stale ticks too: an undecodable frame is invalid_image before it is stale
            by_frame.setdefault(tick.frame, []).append(tick)
        if by_frame:
            topic = B.topic_name(self.options.image_topic)
            last = max(by_frame)
            with B.BagReader(self.path) as bag:
                for index, (connection, _, data) in enumerate(bag.raw([topic])):
                    if index in by_frame:
                        try:
                            frame = B.decode_frame(bag.deserialize(data, connection.msgtype), connection.msgtype,
                                                      self.params["max_image_pixels"])
                        except InvalidImage as error:
                            frame = error
                        except Exception as error:  # a message that does not even deserialise
                            frame = InvalidImage(f"undecodable message: {error}")
                        for tick in by_frame[index]:
                            records.append(self._record(tick, frame))
                            progress(1)
                    if index >= last:
                        break
        return sorted(records, key=lambda r: (r["time_ns"], r["frame"]))

    def _trajectory(self, time_ns: int, decision) -> Optional[Dict[str, Any]]:
        states = self.scan.states
        newest_first = (states[i][1:] for i in range(latest_at(self._times["states"], time_ns), -1, -1))
        return executed_trajectory(self.params, decision, newest_first)

    def _latest(self, kind: str, time_ns: int):
        """The latest of the scan's ``kind`` (instructions, states, commands) at or before ``time_ns``."""
        index = latest_at(self._times[kind], time_ns)
        return getattr(self.scan, kind)[index] if index >= 0 else None

    def _decide(self, tick: Tick, frame):
        """The decision at ``tick`` on ``frame`` (an InvalidImage when it could not be decoded): the node's
        input rules (control.rules.input_stop) on the recorded inputs of that moment, then the guard. No
        deadline: a replay decides every frame in full, whatever the machine's speed."""
        params, guard = self.params, self.guard
        inputs = recorded_inputs(self.scan, self._times, tick.time_ns, tick.frame, instruction=self.options.instruction,
                                 state_dim=guard.state_dim,
                                 frame_problem=str(frame) if isinstance(frame, Exception) else "")
        stop = input_stop(inputs, params, 0.0)
        if stop is not None:
            return stop_decision(params, stop.reason, stop.detail, model_id=guard.policy.model_id, mode=guard.mode)
        guard.generator.manual_seed(frame_seed(params["seed"], self.scan.name, B.topic_name(self.options.image_topic),
                                               tick.frame))
        return guard.decide(frame, inputs.instruction.text,
                            state=inputs.state.values if inputs.state is not None else None)

    def _record(self, tick: Tick, frame) -> Dict[str, Any]:
        decision = self._decide(tick, frame)
        age = (tick.time_ns - self.scan.frame_times[tick.frame]) / NS
        record = {"bag": self.scan.name, "time_ns": tick.time_ns, "frame": tick.frame, "action": decision.action,
                  "certified": bool(decision.certified), "reason": decision.reason,
                  "radius": float(min(decision.radius, 1e9)), "candidate": decision.candidate,
                  "n_samples": int(decision.n_samples), "latency_ms": round(float(decision.latency_ms), 3),
                  "linear_x": float(decision.twist[0]), "angular_z": float(decision.twist[1]),
                  "certificate": certificate_values(decision.to_dict(), image_age_s=age)}
        if self.params["chunk_execute_steps"]:
            record["joint_trajectory"] = self._trajectory(tick.time_ns, decision)
        recorded = None
        if self.command_oracle is not None:
            # the command this frame led to: the latest before the next frame arrived (else the one in force)
            times = self.scan.frame_times
            until = times[tick.frame + 1] - 1 if tick.frame + 1 < len(times) else tick.time_ns + NS
            latest = self._latest("commands", max(until, tick.time_ns))
            if latest is not None:
                recorded = {"label": self.command_oracle.label_of(*latest[1]), "linear_x": latest[1][0],
                            "angular_z": latest[1][1]}
        record["recorded"] = recorded
        return record


def executed_trajectory(params: Dict[str, Any], decision, states_newest_first) -> Optional[Dict[str, Any]]:
    """A replay record's ``joint_trajectory``: what the node sends a chunked policy's arm controller for
    ``decision`` (:func:`~rs_vla_guard.control.chunks.sent_trajectory`), holding at the newest holdable of
    ``states_newest_first`` ((values, problem) pairs, read only as far back as needed)."""
    hold_at = next((p for p in (holdable(values, problem) for values, problem in states_newest_first)
                    if p is not None), None)
    sent = sent_trajectory(decision, state_joint_names(params), params["chunk_dt_s"], hold_at)
    return None if sent is None else dict(zip(("joint_names", "points", "dt_s"), sent))


# ---------------------------------------------------------------- running many bags

@dataclass
class Job:
    """A shard: ticks [start, stop) of one bag, with the bag's scan (read once, by the planner)."""
    path: str
    start: int
    stop: int
    scan: Scan

    def run(self, guard: Guard, options: ReplayOptions, progress: Callable[[int], None] = lambda n: None
            ) -> List[Dict[str, Any]]:
        return BagReplay(guard, self.path, options, self.scan).run(self.start, self.stop, progress=progress)


_WORKER: Dict[str, Any] = {}


def _worker_init(overrides: Dict[str, Any], options: Any, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    _WORKER["guard"] = Guard.from_config(overrides)
    _WORKER["options"] = options


def _timed_run(job, guard: Guard, options: Any, progress: Callable[[int], None] = lambda n: None
               ) -> Tuple[float, float, List[Dict[str, Any]]]:
    started = time.time()  # wall clock: comparable across the worker processes of one machine
    records = job.run(guard, options, progress)
    return started, time.time(), records


def _worker_model_id() -> str:
    return _WORKER["guard"].policy.model_id


def _worker_run(job) -> Tuple[float, float, List[Dict[str, Any]]]:
    """A shard (a bag's :class:`Job` or a dataset's ``DatasetJob``) on this worker's guard, with its start
    and end times."""
    return _timed_run(job, _WORKER["guard"], _WORKER["options"])


def plan_jobs(scans: Dict[str, Scan], options: ReplayOptions, params: Dict[str, Any], shards: int
              ) -> Tuple[List[Job], int]:
    """Shards of about equal tick counts over every scanned bag (a bag split into frame ranges when there
    are fewer bags than shards), and the total tick count."""
    counts = [(path, found, len(ticks_of(found, options, params))) for path, found in scans.items()]
    total = sum(count for _, _, count in counts)
    size = max(1, -(-total // max(1, shards)))
    jobs = [Job(path, start, min(start + size, count), found) for path, found, count in counts
            for start in range(0, count, size)]
    return jobs, total


def replay(paths: Sequence[str], overrides: Dict[str, Any], options: ReplayOptions, *, workers: int = 1,
           ray_address: Optional[str] = None, progress: Callable[[int, int], None] = lambda done, total: None
           ) -> Dict[str, Any]:
    """Every decision of the guard configured by ``overrides`` on the bags ``paths``, in bag then time order,
    with the settings and the wall time. ``workers`` > 1: local processes, each loading the guard once;
    ``ray_address`` ('local' or a cluster address): Ray tasks on actors that load it once each."""
    options.check()
    started = time.perf_counter()
    params = P.effective(overrides)
    scans = {path: scan(path, options, params) for path in paths}  # a missing topic fails before the model loads
    parallel = workers > 1 or bool(ray_address)
    jobs, total = plan_jobs(scans, options, params, shards=max(workers, 1) * 2 if parallel else 1)
    records, model_id, span = run_jobs(jobs, overrides, options, workers=workers, ray_address=ray_address,
                                       total=total, progress=progress)
    wall = time.perf_counter() - started
    order = {B.bag_name(p): i for i, p in enumerate(paths)}
    records.sort(key=lambda r: (order[r["bag"]], r["time_ns"], r["frame"]))
    return {"settings": {"bags": [os.path.abspath(p) for p in paths], **asdict(options), "seed": params["seed"],
                         "model_id": model_id, "workers": workers, "ray": ray_address,
                         "radius_threshold": params["radius_threshold"], "sigma": params["sigma"],
                         "alpha": params["alpha"]},
            "wall_s": round(wall, 3), "throughput": throughput(records, span, max(1, workers)), "decisions": records}


def throughput(records: Sequence[Dict[str, Any]], wall_s: float, workers: int) -> Dict[str, Any]:
    """Decisions per second over ``wall_s`` (the deciding span, model loading excluded), per worker, and the
    scaling efficiency: the workers' summed decision time over ``workers`` x the span (1.0: every worker
    decided all the time; reading, decoding, waiting and uneven shards lower it)."""
    rate = len(records) / wall_s if wall_s > 0 else 0.0
    deciding = sum(r["latency_ms"] for r in records) / 1000.0
    return {"decisions_per_second": round(rate, 2), "decisions_per_second_per_worker": round(rate / workers, 2),
            "workers": workers,
            "scaling_efficiency": round(min(1.0, deciding / (workers * wall_s)), 3) if wall_s > 0 else None}


def run_jobs(jobs: Sequence[Any], overrides: Dict[str, Any], options: Any, *, workers: int = 1,
             ray_address: Optional[str] = None, total: int = 0,
             progress: Callable[[int, int], None] = lambda done, total: None
             ) -> Tuple[List[Dict[str, Any]], str, float]:
    """The records of every job (anything with ``run(guard, options)``), the model id, and the seconds from
    the first job's start to the last one's end (model loading excluded): in this process (``workers`` 1,
    no Ray), in ``workers`` local processes that each load the guard once, or on Ray actors
    (``ray_address`` 'local' or a cluster's)."""
    done = [0]
    spans: List[Tuple[float, float]] = []
    records: List[Dict[str, Any]] = []

    def advance(n: int) -> None:
        done[0] += n
        progress(done[0], total)

    def collect(result, counted: bool = False) -> None:
        started, ended, part = result
        spans.append((started, ended))
        records.extend(part)
        if not counted:
            advance(len(part))

    if ray_address:
        model_id = _ray_replay(list(jobs), overrides, options, ray_address, workers, collect)
    elif workers <= 1:  # here, decision by decision on the progress bar
        guard = Guard.from_config(overrides)
        for job in jobs:
            collect(_timed_run(job, guard, options, advance), counted=True)
        model_id = guard.policy.model_id
    else:
        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(workers, initializer=_worker_init, initargs=(overrides, options, threads)) as pool:
            for result in pool.map(_worker_run, jobs):
                collect(result)
        model_id = records[0]["certificate"]["model_id"] if records else ""
    span = max(e for _, e in spans) - min(s for s, _ in spans) if spans else 0.0
    return records, model_id, span


def check_ray_address(address: str) -> None:
    """ValueError (one line, saying what to do) unless ``address`` is ``local`` or a Ray cluster that answers:
    ``host:port`` (the cluster's GCS, reachable from here) or ``ray://host:port`` (Ray Client, needs the
    ``ray[client]`` install). Checked before ``ray.init``, which would otherwise wait a minute and more on a
    wrong address."""
    import socket

    if address in ("local", "auto"):
        return
    client = address.startswith("ray://")
    host, separator, port = address.removeprefix("ray://").rpartition(":")
    if not separator or not host or not port.isdigit():
        raise ValueError(f"--ray {address!r}: give 'local', a cluster's host:port (its GCS, e.g. 10.0.0.5:6379) or "
                         f"ray://host:port (Ray Client)")
    if client:
        import importlib.util

        if importlib.util.find_spec("grpc") is None:
            raise ValueError(f"--ray {address}: a ray:// address is Ray Client, which needs pip install "
                             f"'ray[client]==2.60.0'; or give the cluster's host:port from a machine of the cluster")
    try:
        socket.create_connection((host, int(port)), timeout=3.0).close()
    except OSError as error:
        raise ValueError(f"--ray {address}: no Ray cluster answers at {host}:{port} "
                         f"({error.strerror or type(error).__name__}); is the head node up and the port open?") from None


def _ray_replay(jobs: List[Any], overrides, options: Any, address: str, workers: int, collect) -> str:
    check_ray_address(address)
    import ray

    if not ray.is_initialized():
        if address == "local":
            ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    try:
        import torch

        gpus = 1 if torch.cuda.is_available() else 0

        @ray.remote(num_gpus=gpus)
        class ReplayActor:  # loads the guard once, then takes shards
            def __init__(self, overrides, options, threads):
                _worker_init(overrides, options, threads)

            def run(self, job):
                return _worker_run(job)

            def model_id(self):
                return _worker_model_id()

        cpus = int(ray.available_resources().get("CPU", 1))
        count = max(1, min(workers if workers > 1 else cpus, len(jobs)))
        threads = max(1, cpus // count)
        actors = [ReplayActor.remote(overrides, options, threads) for _ in range(count)]
        pending = [actors[i % count].run.remote(job) for i, job in enumerate(jobs)]
        for result in ray.get(pending):
            collect(result)
        return ray.get(actors[0].model_id.remote())
    finally:
        if address == "local":
            ray.shutdown()
