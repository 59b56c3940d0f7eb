"""The Guard: one frame + one instruction -> a certified :class:`Decision`.

Pipeline per decision: frame -> policy input once (resize, [0,1]) -> noisy batches on the device (the
clean frame in the first, whose label is the candidate) -> policy -> oracle -> counts -> the configured test
(betting by default; the sequential or fixed Clopper-Pearson tests on request), within ``deadline_s`` by
the rule of :mod:`rs_vla_guard.control.deadline`.
The published action is the candidate when its certified radius reaches ``radius_threshold``; else,
when ``fallback_sets`` are configured, the label of a set containing the candidate whose radius does
(e.g. ``move_forward+turn_left``); otherwise the safe action, with a reason.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .. import actions as A
from .. import certification
from .. import settings as P
from ..oracles import UNMAPPED, make_oracle
from ..policies.base import PolicyError
from ..policies.factory import make_policy
from ..certification.extent import ExtentCertificate
from ..control.chunks import ChunkRules
from ..control.deadline import BatchTimeEstimate, DecisionTimer
from ..control.inputs import instruction_problem, state_problem
from ..sampling import (NoisySampler, apply_torch_threads, frame_to_input, make_generator, predict_clean,
                       resolve_device)
from ..text import printable
from .attack import AttackMixin
from .chunks import ChunkMixin
from .compile import CompileMixin, labels_of_scores
from .decision import Decision, stop_decision
from .envelopes import EnvelopeMixin
from .extents import ExtentMixin
from .precision import choose_precision
from .probes import ProbeMixin


class Guard(CompileMixin, AttackMixin, ProbeMixin, ExtentMixin, EnvelopeMixin, ChunkMixin):
    """Policy + oracle + noisy sampler + certifier, configured by the parameters of :mod:`rs_vla_guard.params`.

    Its parts, one module each: :mod:`.compile` (torch_compile), :mod:`.attack` (what attacks differentiate),
    :mod:`.probes` (sensitivity check, warm-up, budget), :mod:`.extents`, :mod:`.envelopes`, :mod:`.chunks`
    (chunk tubes) and :mod:`.precision` (int8 where bfloat16 is not native)."""

    def __init__(self, policy, params: Dict[str, Any], clock: Callable[[], float] = time.perf_counter):
        self.policy = policy
        self.params = params
        self.clock = clock  # seconds; decisions' latency and deadline (tests pass a fake clock)
        self.batch_time = BatchTimeEstimate()  # one sampling batch's expected seconds (control.deadline)
        self.warmup: Optional[Dict[str, float]] = None  # what warm_up measured (None: not warmed up)
        self.actions: List[str] = list(params["actions"])
        self.mode = self._resolve_mode(params["policy_mode"])
        self.oracle = make_oracle(self.mode, params, getattr(policy, "action_names", None) or None)
        self.state_dim = int(getattr(policy, "state_dim", 0) or 0)
        self.phrases = self.oracle.canonical_phrases() if self.mode != "action" else []
        self.generator = make_generator(policy.device, params["seed"])
        self.dimensions: List[str] = list(getattr(self.oracle, "dimensions", None) or [])
        self.torch_threads = apply_torch_threads(params["torch_threads"])
        self._settle(params)
        self.compiled_sizes: Tuple[int, ...] = ()  # batch sizes a compiled policy is warmed at (none: eager)
        self.compiled_instructions: frozenset = frozenset()  # the instructions decided with compiled forwards
        self.batch_size = params["batch_size"] or self._auto_batch_size()  # its probe runs the eager forwards
        self.compile_report: Dict[str, Any] = {"backend": "off"}
        self.precision_report = choose_precision(self)  # int8 on a CPU without native bfloat16, when it agrees
        if params["torch_compile"] != "off":
            self._compile(params["torch_compile"])

    # ------------------------------------------------------------------ torch.compile

    @property
    def channels(self) -> int:
        """Channels of the policy input: 3 per camera."""
        return int(getattr(self.policy, "channels", 3))

    def _state_tensor(self, state) -> Optional[torch.Tensor]:
        """The robot state as a 1 x S tensor on the device (None for policies that take none); ValueError
        naming the problem (:func:`~rs_vla_guard.control.inputs.state_problem`) when it cannot be used."""
        if not self.state_dim:
            return None
        problem = state_problem(None if state is None else np.asarray(state, dtype=object).reshape(-1).tolist(),
                                self.state_dim) if state is not None else "no state given"
        if problem:
            raise ValueError(f"policy {self.policy.model_id}: {problem}")
        return torch.as_tensor(np.asarray(state, dtype=np.float32).reshape(1, -1), device=self.policy.device)

    @classmethod
    def from_config(cls, overrides: Optional[Dict[str, Any]] = None, *, policy=None, check: bool = True,
                    warm_up: bool = True) -> "Guard":
        """A guard with the defaults of :mod:`.params`, ``overrides`` applied (validated: ConfigError on bad
        values).

        Loads the policy (unless one is given); unless ``allow_blind_policy``, refuses a policy whose output
        ignores the image or the instruction (:class:`BlindPolicyError`); then (``warm_up``) runs one full
        batch so that no decision pays for lazy initialisation, and measures the batch time
        (:meth:`warm_up`, :meth:`budget`).
        """
        params = P.effective(overrides)
        if policy is None:
            policy = make_policy(params, resolve_device(params["device"]))
        guard = cls(policy, params)
        if check and not params["allow_blind_policy"]:
            guard.check_sensitivity()
        if warm_up:
            guard.warm_up()
        return guard

    def _resolve_mode(self, requested: str) -> str:
        modes = tuple(self.policy.modes)
        if requested == "auto":
            for mode in ("score", "action", "generate"):
                if mode in modes:
                    return mode
        if requested not in modes:
            raise PolicyError(f"policy {self.policy.model_id} supports modes {modes}, not {requested!r}")
        return requested

    # ------------------------------------------------------------------ the base classifier

    def classifier(self, instruction: str, state: Optional[torch.Tensor] = None,
                   record: Optional[List[torch.Tensor]] = None,
                   chunks: Optional[List[torch.Tensor]] = None) -> Callable[[torch.Tensor], torch.Tensor]:
        """f = oracle o policy for one instruction: B noisy inputs -> B action indices (-1 unmapped).
        ``record`` (action mode): a list that every batch's reduced action vectors (B x D) are appended to;
        ``chunks``: one that every batch's executed waypoints (B x chunk_execute_steps x D) are appended to.

        Scores must be one finite row per input: a row with a NaN or infinity maps to -1 (counted against
        the candidate, never for it), and a wrong shape is a policy error."""
        if self.mode == "score":
            return lambda pixels: labels_of_scores(self._forward(self.policy.score, pixels, instruction,
                                                                  self.phrases), pixels.shape[0], len(self.phrases))
        if self.mode == "generate":
            return lambda pixels: torch.from_numpy(self.oracle(self.policy.generate(pixels, instruction)))
        # action mode: the policy's own noise comes from the guard's generator
        def classify_actions(pixels: torch.Tensor) -> torch.Tensor:
            outputs = self._forward(self.policy.act, pixels, instruction, state, self.generator)
            if chunks is not None:
                chunks.append(outputs[:, : self.chunk_rules.steps].detach().float())
            vectors = self.oracle.reduce(outputs)
            if record is not None:
                record.append(vectors.detach().float())
            return torch.as_tensor(self.oracle(vectors))
        return classify_actions

    # ------------------------------------------------------------------ deciding

    def update(self, **changes) -> None:
        """Apply runtime parameter changes (validated together with the rest; ConfigError if invalid)."""
        params = dict(self.params)
        params.update(changes)
        self.use(P.effective(params))

    def use(self, params: Dict[str, Any]) -> None:
        """Decide with ``params`` (an effective configuration, e.g. a node's snapshot) from now on;
        ConfigError if a read-only parameter differs from the guard's."""
        if params is self.params:
            return
        read_only = [n for n, p in P.SCHEMA.items() if p.read_only and params[n] != self.params[n]]
        if read_only:
            raise P.ConfigError([f"{n}: read-only, needs a reconfigure" for n in read_only])
        self._settle(params)

    def settings_problems(self, params: Dict[str, Any]) -> List[str]:
        """What this guard's policy cannot run under ``params`` (already valid on their own): envelope settings
        it cannot honour (a phrase policy, a dimension it does not have), or a threshold that cannot be
        certified at the class test's share of alpha as this guard splits it (its own dimensions and mode).
        The node refuses a runtime change with these problems and keeps its settings."""
        limits = A.parse_envelope_limits(params["envelope_limits"])
        problems = self._envelope_problems(params, limits) + self._chunk_problems(params)
        if problems:
            return problems
        hypotheses = P.decision_hypotheses(params, dimensions=len(self.dimensions), action_mode=self.mode == "action")
        return P.certifiable_problems(params, hypotheses=hypotheses)

    def _settle(self, params: Dict[str, Any]) -> None:
        """What follows from the parameters, computed once per change rather than per decision."""
        problems = self.settings_problems(params)
        if problems:
            raise P.ConfigError(problems)
        limits = A.parse_envelope_limits(params["envelope_limits"])
        self.params = params
        self.config_hash = P.config_hash(params)
        self.envelope_limits = limits
        # a chunked policy's tube replaces the envelopes; envelopes are computed when they are executed
        # (median) or certified
        self.chunk_rules = ChunkRules.from_params(params) if params["chunk_execute_steps"] else None
        self.envelopes_on = self.chunk_rules is None and self.mode == "action" and (
            params["continuous_command"] == "median" or params["certify_target"] != "class")
        self.extent_smoothings = P.extent_smoothings(params)
        self.extent_thresholds = P.extent_thresholds(params)
        # fallback set (sorted action indices, as certificates report it) -> its label as configured
        self._fallback_labels = {tuple(sorted(self.actions.index(a) for a in members)): A.set_label(members)
                                 for members in A.fallback_sets(params)}

    def _decision(self, started: float, reason: str, certificate=None, error: str = "",
                  clean_vector: Optional[Sequence[float]] = None,
                  envelopes: Optional[Sequence[certification.Envelope]] = None,
                  extents: Sequence[ExtentCertificate] = (), tube: Optional[certification.ChunkTube] = None,
                  state: Optional[np.ndarray] = None) -> Decision:
        p = self.params
        latency_ms = (self.clock() - started) * 1e3
        if certificate is None:
            return stop_decision(p, reason, error, model_id=self.policy.model_id, mode=self.mode,
                                 latency_ms=latency_ms)
        candidate = self.actions[certificate.candidate] if certificate.candidate is not None else None
        counts = {(self.actions[c] if c != UNMAPPED else "unmapped"): k for c, k in sorted(certificate.counts.items())}
        if certificate.fallback is not None:
            candidate_or_set = self._fallback_labels[certificate.fallback]
        else:
            candidate_or_set = candidate
        certified, reason = certificate.certified, certificate.reason
        median_vector, chunk, chunk_detail = None, None, ""
        if self.chunk_rules is not None:
            certified, reason, candidate_or_set, chunk, chunk_detail = self._chunk_verdict(
                certificate, candidate_or_set, tube, state)
        elif self.envelopes_on:
            if envelopes is None:  # the deadline came before the envelope samples were drawn
                certified, reason = False, A.DEADLINE_EXCEEDED
            else:
                median_vector = [envelope.clamp(envelope.median) for envelope in envelopes]
                certified, reason, candidate_or_set = self._envelope_verdict(certificate, candidate_or_set,
                                                                             envelopes, median_vector)
        if certified and self.extent_smoothings:
            failed = [e for e in extents if not e.certified]
            if failed or not extents:
                certified = False
                reason = (A.DEADLINE_EXCEEDED if any(e.reason == A.DEADLINE_EXCEEDED for e in failed)
                          else A.EXTENT_TOO_SMALL)
        action = candidate_or_set if certified else p["safe_action"]
        if chunk is not None:
            twist, vector = (0.0, 0.0), ()
        else:
            twist, vector = self._command(action, clean_vector, median_vector) if certified else ((0.0, 0.0), ())
        return Decision(action, candidate, certified, certificate.radius, certificate.p_lower,
                        certificate.n_samples, counts, reason, latency_ms, p["sigma"], p["alpha"],
                        p["radius_threshold"], self.policy.model_id, self.mode, printable(error or chunk_detail),
                        self.config_hash, twist, vector, self.state_dim, self._envelope_records(envelopes),
                        tuple(e.as_record() for e in extents), chunk)

    def _input(self, frame) -> np.ndarray:
        """One frame (HxWx3), or one per camera for a multi-camera policy, -> the policy input (3 per camera
        x H x W, in [0, 1]); ValueError/TypeError for anything else."""
        cameras = int(getattr(self.policy, "cameras", 1))
        frames = list(frame) if isinstance(frame, (list, tuple)) else [frame]
        if len(frames) != cameras:
            raise ValueError(f"policy {self.policy.model_id} takes {cameras} camera frame(s), got {len(frames)}")
        return np.concatenate([frame_to_input(f, self.policy.input_size) for f in frames], axis=0)

    def decide(self, frame_rgb, instruction: str, deadline_s: Optional[float] = None, state=None) -> Decision:
        """Certify the policy's action for ``frame_rgb`` (HxWx3 uint8 RGB; a list of one per camera for a
        multi-camera policy: the noise covers them all) under ``instruction`` (and the robot ``state``, for
        policies that take it; the state is not noised: the radius is about the image).

        Never raises for bad input or a failing policy (any ``Exception``): the decision is then the safe
        action with reason ``invalid_image``, ``no_instruction``, ``invalid_instruction``, ``no_state`` or
        ``policy_error``. With ``deadline_s`` (the node passes its own), the sequential test draws no batch
        that would end after the deadline and otherwise stops with reason ``deadline_exceeded``; without
        it, decisions do not depend on timing.
        """
        started = self.clock()
        problem = instruction_problem(instruction, self.params)
        if problem is not None:
            return self._decision(started, problem[0], error=problem[1])
        if self.state_dim and state is None:
            return self._decision(started, A.NO_STATE, error=f"policy {self.policy.model_id} takes the robot state "
                                  f"({self.state_dim} values); none given")
        try:
            state_tensor = self._state_tensor(state)
        except ValueError as error:
            return self._decision(started, A.INVALID_STATE, error=str(error))
        try:
            clean = self._input(frame_rgb)
        except (ValueError, TypeError) as error:
            return self._decision(started, A.INVALID_IMAGE, error=str(error))
        timer = DecisionTimer(deadline_s, self.batch_time, self.clock, started=started)
        try:
            clean_tensor = torch.from_numpy(clean).to(self.policy.device)
            certificate, clean_vector, envelopes, tube = self._certify(clean_tensor, instruction.strip(),
                                                                       timer.out_of_time, state_tensor)
            extents = (self._extents(clean_tensor, instruction.strip(), state_tensor, certificate, timer.out_of_time)
                       if certificate.certified and self.extent_smoothings else ())
        except Exception as error:  # any failure of the model must end in a stop, not a crash
            return self._decision(started, A.POLICY_ERROR, error=f"{type(error).__name__}: {error}")
        finally:
            timer.finish()
        return self._decision(started, certificate.reason, certificate, clean_vector=clean_vector,
                              envelopes=envelopes, extents=extents, tube=tube,
                              state=state_tensor[0].cpu().numpy().astype(np.float64) if state_tensor is not None else None)

    # ------------------------------------------------------------------ real-time budget (docs/theory.md, section 10)

    def _certify(self, clean: torch.Tensor, instruction: str, out_of_time: Optional[Callable[[], bool]] = None,
                 state: Optional[torch.Tensor] = None):
        """(certificate, the policy's own clean-frame command for action mode else None, the envelopes when
        they are on else None, the chunk tube for a chunked policy else None).

        With envelopes on, ``alpha`` is split evenly (Bonferroni) over the class test, every action dimension's
        envelope and every extent check, so everything a decision reports holds together with probability
        >= 1 - alpha."""
        p = self.params
        betting = p["certify_mode"] == "betting"
        vectors: Optional[List[torch.Tensor]] = [] if self.envelopes_on or (betting and self.mode == "action") else None
        chunks: Optional[List[torch.Tensor]] = [] if self.chunk_rules is not None else None
        classify = self.classifier(instruction, state, record=vectors, chunks=chunks)
        sampler = NoisySampler(classify, clean, sigma=p["sigma"], batch_size=self.batch_size, generator=self.generator,
                               include_clean=betting)
        hypotheses = self._hypotheses()
        common = dict(sigma=p["sigma"], alpha=p["alpha"] / hypotheses, oracle_error=p["oracle_error"],
                      symmetric_oracle=p["symmetric_oracle"], fallbacks=list(self._fallback_labels))
        # f(clean input) is chosen without the estimation samples; if unmapped, n0 noisy samples select.
        clean_vector = None
        if betting:
            # The clean frame is row 0 of the first noisy batch; the test asks for its label after that draw.
            clean_output: Dict[str, Any] = {}

            def clean_candidate() -> Optional[int]:
                if vectors is not None and vectors:
                    clean_output["vector"] = [float(v) for v in vectors[0][0].tolist()]
                    vectors[0] = vectors[0][1:]
                if chunks:  # the clean frame's chunk is no noisy sample
                    chunks[0] = chunks[0][1:]
                return sampler.clean_label

            certificate = certification.certify_betting(
                sampler, radius_threshold=p["radius_threshold"], n_max=p["n_max"], batch_size=self.batch_size,
                candidate=clean_candidate, n0=p["n0"], out_of_time=out_of_time, **common)
            clean_vector = clean_output.get("vector")
            if vectors is not None and not self.envelopes_on:
                vectors.clear()
            return (certificate, clean_vector) + self._continuous_bounds(sampler, vectors, chunks, out_of_time,
                                                                         hypotheses)
        if self.mode == "action":
            clean_actions = self.oracle.reduce(self.policy.act(clean[None], instruction, state, self.generator))
            label = int(self.oracle(clean_actions)[0])
            candidate = None if label < 0 else label
            clean_vector = [float(v) for v in clean_actions[0].tolist()]
        if p["certify_mode"] == "fixed":
            certificate = certification.certify_fixed(sampler, n0=p["n0"], n=p["n_max"],
                                                      radius_threshold=p["radius_threshold"], **common)
        else:
            if self.mode != "action":
                candidate = predict_clean(classify, clean)
            certificate = certification.certify_sequential(
                sampler, radius_threshold=p["radius_threshold"], n_max=p["n_max"], batch_size=self.batch_size,
                candidate=candidate, n0=p["n0"], out_of_time=out_of_time, **common)
        return (certificate, clean_vector) + self._continuous_bounds(sampler, vectors, chunks, out_of_time, hypotheses)

    def _continuous_bounds(self, sampler, vectors, chunks, out_of_time, hypotheses):
        """(envelopes when they are on else None, the chunk tube for a chunked policy else None)."""
        envelopes = self._envelopes(sampler, vectors, out_of_time, hypotheses) if self.envelopes_on else None
        tube = self._chunk_tube(sampler, chunks, out_of_time, hypotheses) if chunks is not None else None
        return envelopes, tube

    def _hypotheses(self) -> int:
        """The tests one decision's alpha is split over: the class test, each envelope, each extent check
        (:func:`rs_vla_guard.settings.decision_hypotheses` with this guard's dimensions and mode)."""
        return P.decision_hypotheses(self.params, dimensions=len(self.dimensions), action_mode=self.mode == "action")

    def release(self) -> None:
        self.policy.release()
        if self.compiled_sizes:  # compiled graphs hold the model's weights alive
            torch._dynamo.reset()
            self.compiled_sizes, self.compiled_instructions = (), frozenset()
