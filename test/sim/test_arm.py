"""The arm issue's acceptance in the arm world: the built-in chunked policy reaches the named block and
holds when the colour is absent; the guard returns a chunk of K >= 5 waypoints inside its tube; 4 clean
episodes guarded succeed within one of unguarded; PGD on the chunk at eps = radius_threshold induces no
executed chunk beyond the tube limits and no joint-limit violation in the guarded arm; a recorded
episode replays to the same chunks. Full figures: `rs-vla-guard sim --world arm` (README)."""
import json

import numpy as np
import pytest

from rs_vla_guard.guard import Guard
from rs_vla_guard.policies.builtin_arm import PARAMETERS
from rs_vla_guard.sim import arm
from rs_vla_guard.sim import arm_episodes

pytestmark = [pytest.mark.sim, pytest.mark.model]
SEEDS = (200, 201, 202, 203)


@pytest.fixture(scope="module")
def arm_guard():
    return Guard.from_config(dict(PARAMETERS))


@pytest.fixture(scope="module")
def arm_world():
    world = arm.ArmWorld()
    yield world
    world.close()


def test_the_world_kinematics_match_mujoco_and_the_expert_reaches(arm_world):
    rng = np.random.default_rng(0)
    for _ in range(20):
        q = arm.random_start(rng)
        arm_world.set_joints(q)
        assert np.allclose(arm_world.tip(), arm.tip_position(q), atol=1e-6)
    blocks, target = arm.random_scene(rng, absent_fraction=0.0)
    arm_world.reset(blocks, arm.HOME)
    for _ in range(12):
        arm_world.follow(arm_world.expert(target, 5, 0.1), 0.1)
        if arm_world.reached(target):
            break
    assert arm_world.reached(target)
    assert not arm_world.outside_limits(arm_world.joints())


def test_a_certified_decision_is_a_chunk_of_five_waypoints_inside_its_tube(arm_guard, arm_world):
    rng = np.random.default_rng(5)
    blocks, target = arm.random_scene(rng, absent_fraction=0.0)
    arm_world.reset(blocks, arm.HOME)
    decision = arm_guard.decide(arm_world.frame(), arm.instruction_for(target), state=arm_world.joints())
    record = decision.to_dict()
    assert decision.certified, record
    chunk = record["chunk"]
    waypoints, tube = np.asarray(chunk["waypoints"]), np.asarray(chunk["tube"], dtype=float)
    assert waypoints.shape == (5, 4) and tube.shape == (5, 4, 2) and chunk["joint_names"] == list(arm.JOINTS)
    assert ((waypoints >= tube[..., 0]) & (waypoints <= tube[..., 1])).all()
    assert (tube[..., 1] - tube[..., 0]).max() <= 0.15 and chunk["dt_s"] == 0.1
    json.dumps(record, allow_nan=False)  # what certify --json prints and a replay writes


def test_the_named_colour_absent_the_arm_holds(arm_guard, arm_world):
    rng = np.random.default_rng(9)
    blocks, target = arm.random_scene(rng, absent_fraction=1.0)
    arm_world.reset(blocks, arm.HOME)
    decision = arm_guard.decide(arm_world.frame(), arm.instruction_for(target), state=arm_world.joints())
    waypoints = np.asarray(decision.chunk["waypoints"])
    assert np.abs(waypoints - np.asarray(arm.HOME)).max() < 0.02, (decision.reason, waypoints)


def test_clean_episodes_guarded_succeed_within_one_of_unguarded(arm_guard, arm_world):
    runs = {guarded: [arm_episodes.run_episode(arm_guard, arm_world, seed, guarded=guarded) for seed in SEEDS]
            for guarded in (True, False)}
    guarded, unguarded = (arm_episodes.summarise(runs[g]) for g in (True, False))
    assert unguarded["successes"] >= 3, runs[False]
    assert guarded["successes"] >= unguarded["successes"] - 1, runs[True]
    assert guarded["joint_limit_violations"] == 0


def test_pgd_on_the_chunk_induces_nothing_within_the_radius_and_is_a_real_attack_beyond_it(arm_guard, arm_world):
    """At eps = radius_threshold the guarded arm executes no chunk beyond its tube limits and no joint-limit
    violation. The same PGD is a real attack: at 12 x the radius (no certificate covers it) it moves the bare
    policy's chunk beyond the limits. (Within the radius it moves the bare policy too little to count:
    about 0.01 rad, README.)"""
    eps = arm_guard.params["radius_threshold"]
    options = dict(attack="pgd", max_decisions=3, pgd_steps=10)
    guarded = arm_episodes.run_episode(arm_guard, arm_world, SEEDS[0], guarded=True, eps=eps, **options)
    assert guarded.attack_l2_max <= eps + 1e-6 and guarded.decisions > guarded.stops
    assert guarded.induced == 0 and guarded.joint_limit_violations == 0, guarded
    assert guarded.deviation_max <= 0.15  # chunk_tube_limits
    beyond = arm_episodes.run_episode(arm_guard, arm_world, SEEDS[0], guarded=False, eps=12 * eps, **options)
    assert beyond.induced > 0, beyond


def test_a_recorded_arm_episode_replays_to_the_live_chunks(arm_guard, arm_world, tmp_path):
    """Replay and recordings carry the chunk: replaying a recorded guarded episode with the arm's parameters
    and its joint states gives the live certificates, chunk and tube included."""
    from rs_vla_guard.replay import engine
    from rs_vla_guard.replay.bags import BagReader, BagWriter, certificate_of

    path = str(tmp_path / "guarded")
    with BagWriter(path) as bag:
        result = arm_episodes.run_episode(arm_guard, arm_world, SEEDS[1], guarded=True, max_decisions=3, bag=bag,
                                          bag_name="guarded")
    live = {}
    with BagReader(path) as bag:
        assert {"/camera/image", "/instruction", "/joint_states", "/guard/certificate"} <= set(bag.types)
        for connection, time_ns, data in bag.raw(["/guard/certificate"]):
            live[time_ns] = certificate_of(bag.deserialize(data, connection.msgtype))
    assert len(live) == result.decisions
    replayed = engine.replay([path], dict(PARAMETERS), engine.ReplayOptions(
        image_topic="/camera/image", instruction_topic="/instruction", state_topic="/joint_states"))
    chunks = [json.loads(r["certificate"]["chunk"]) for r in replayed["decisions"]]
    recorded = [json.loads(values["chunk"]) for _, values in sorted(live.items())]
    assert len(chunks) == len(recorded) and all(c["tube"] for c in chunks)
    for mine, theirs in zip(chunks, recorded):
        assert np.allclose(mine["waypoints"], theirs["waypoints"]) and np.allclose(
            np.asarray(mine["tube"], dtype=float), np.asarray(theirs["tube"], dtype=float))


def test_a_replay_shows_the_arm_what_the_node_would_send_it(arm_guard, arm_world, tmp_path):
    """The annotated MCAP of an arm replay carries /guard/joint_trajectory as the node publishes it: the
    certified chunk (its waypoints at chunk_dt_s, ending at rest), and on every stop (here a NaN joint
    state) a hold at the latest valid measured positions, never an empty trajectory."""
    from rs_vla_guard.replay import engine, report
    from rs_vla_guard.replay.bags import BagReader, BagWriter

    rng = np.random.default_rng(5)
    blocks, target = arm.random_scene(rng, absent_fraction=0.0)
    arm_world.reset(blocks, arm.HOME)
    frame, q = arm_world.frame(), arm_world.joints()
    states = [(0.95, q), (1.45, [float("nan")] * 4), (1.95, q + 0.01)]
    bag_path, out = str(tmp_path / "arm"), str(tmp_path / "annotated.mcap")
    with BagWriter(bag_path) as bag:
        bag.string("/instruction", int(0.5e9), arm.instruction_for(target))
        for seconds, values in states:
            bag.joint_state("/joint_states", int(seconds * 1e9), list(arm.JOINTS), values)
            bag.image("/camera/image", int((seconds + 0.05) * 1e9), frame)
    records = engine.replay([bag_path], dict(PARAMETERS), engine.ReplayOptions(
        image_topic="/camera/image", instruction_topic="/instruction", state_topic="/joint_states"))["decisions"]
    report.write_annotated(bag_path, records, out)
    with BagReader(out) as bag:
        sent = {time_ns: bag.deserialize(data, connection.msgtype)
                for connection, time_ns, data in bag.raw(["/guard/joint_trajectory"])}
    assert len(sent) == len(records) >= 3
    reasons = [r["reason"] for r in records]
    assert any(r["certified"] for r in records) and any(not r["certified"] for r in records), reasons
    for record in records:
        message = sent[record["time_ns"]]
        assert list(message.joint_names) == list(arm.JOINTS)
        points = np.array([point.positions for point in message.points])
        assert list(message.points[-1].velocities) == [0.0] * 4  # ends at rest
        if record["certified"]:
            chunk = json.loads(record["certificate"]["chunk"])
            assert np.allclose(points, chunk["waypoints"]) and len(points) == 5
            assert [p.time_from_start.nanosec for p in message.points] == [k * 100_000_000 for k in range(1, 6)]
        else:  # a hold at the latest finite state at or before the decision
            valid = [values for seconds, values in states
                     if seconds * 1e9 <= record["time_ns"] and np.isfinite(values).all()]
            assert len(points) == 1 and np.allclose(points[0], valid[-1]), (record["reason"], points)
