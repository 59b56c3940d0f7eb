"""The Guard: one frame + one instruction -> a certified :class:`Decision`.

Pipeline per decision: frame -> policy input once (resize, [0,1]) -> candidate = f(clean input) ->
noisy batches on the device -> policy -> oracle -> counts -> sequential (or fixed) certification.
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
from .. import params as P
from ..oracles import UNMAPPED, make_oracle
from ..policies.base import PolicyError, Probes, generic_probe_frames
from ..policies.factory import make_policy
from ..certification import extent
from ..certification.extent import ExtentCertificate
from ..control.budget import Budget, budget_for
from ..control.deadline import BatchTimeEstimate, DecisionTimer
from ..control.inputs import instruction_problem, state_problem
from ..sampling import (NoisySampler, TransformSampler, apply_torch_threads, auto_batch_size, compile_batch_sizes,
                       frame_to_input, make_generator, predict_clean, resolve_device)
from ..text import printable
from .precision import choose_precision
from .decision import BlindPolicyError, Decision, stop_decision

ATTACK_NOISE_DRAWS = 8  # fixed draws of a continuous policy's own noise that attack scores average over
ATTACK_SMOOTHING_DRAWS = 16  # fixed Gaussian draws an attack on the smoothed command averages over

def _labels_of_scores(scores: torch.Tensor, batch: int, classes: int) -> torch.Tensor:
    if tuple(scores.shape) != (batch, classes):
        raise PolicyError(f"policy returned scores of shape {tuple(scores.shape)}, expected {(batch, classes)}")
    labels = scores.argmax(dim=1)
    return torch.where(torch.isfinite(scores).all(dim=1), labels, torch.full_like(labels, UNMAPPED))


class Guard:
    """Policy + oracle + noisy sampler + certifier, configured by the parameters of :mod:`.params`."""

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
        self.batch_size = params["batch_size"] or self._auto_batch_size()
        self.compiled_sizes: Tuple[int, ...] = ()  # batch sizes a compiled policy is warmed at (none: eager)
        self.compiled_instructions: frozenset = frozenset()  # the instructions decided with compiled forwards
        self.compile_report: Dict[str, Any] = {"backend": "off"}
        self.precision_report = choose_precision(self)  # int8 on a CPU without native bfloat16, when it agrees
        if params["torch_compile"] != "off":
            self._compile(params["torch_compile"])

    # ------------------------------------------------------------------ torch.compile

    def _compile(self, backend: str) -> None:
        """``torch_compile``: compile the policy's forwards and warm every batch size a decision can run
        (:func:`~.sampling.compile_batch_sizes`) under every probe instruction (the prompt's shape is part
        of a graph) now, at configure, on noisy copies of the probe frames, checking the compiled labels
        against the uncompiled ones on the same inputs.

        Success: decisions under those instructions run compiled, any other instruction runs the original
        forwards, and no decision compiles (batches are padded to a warmed size); :attr:`compile_report`
        holds the sizes, instructions, seconds and label agreement. Failure (a model that does not
        compile, generate mode, agreement below 0.99): PolicyError with the reason, so configure fails and
        says why instead of the robot running a slower or different policy."""
        if self.mode == "generate":
            raise PolicyError("torch_compile needs policy_mode score or action: generation would compile at "
                              "every answer length")
        started = time.perf_counter()
        sizes = compile_batch_sizes(self.batch_size, self._first_batch_rows())
        probes = self.probes()
        clean = torch.from_numpy(np.stack([self._input(f) for f in probes.frames])).to(self.policy.device)
        generator = make_generator(self.policy.device, 0)
        batches = []
        for size in sizes:
            rows = clean[torch.arange(size, device=clean.device) % clean.shape[0]]
            noise = torch.randn(rows.shape, generator=generator, device=rows.device, dtype=rows.dtype)
            batches.append(rows + self.params["sigma"] * noise)
        instructions = list(dict.fromkeys(text.strip() for text in probes.instructions))
        reference = [self._fixed_labels(batch, text) for text in instructions for batch in batches]
        try:
            self.policy.compile(backend)
            compiled = [self._fixed_labels(batch, text) for text in instructions for batch in batches]
        except PolicyError:
            raise
        except Exception as error:  # dynamo and inductor raise many types; the operator needs the message
            raise PolicyError(f"torch_compile {backend} failed for {self.policy.model_id}: "
                              f"{type(error).__name__}: {printable(str(error), 300)}; set torch_compile: off") from error
        agreement = float(np.mean(torch.cat(reference).numpy() == torch.cat(compiled).numpy()))
        if agreement < 0.99:
            raise PolicyError(f"torch_compile {backend} changed {1 - agreement:.1%} of {self.policy.model_id}'s "
                              f"labels on noisy probe frames (at most 1% allowed); set torch_compile: off")
        self.compiled_sizes = sizes
        self.compiled_instructions = frozenset(instructions)
        self.compile_report = {"backend": backend, "batch_sizes": list(sizes), "instructions": instructions,
                               "label_agreement": round(agreement, 4), "seconds": round(time.perf_counter() - started, 1)}

    def _first_batch_rows(self) -> int:
        """Rows of a decision's first forward: the betting test's first look (at most ``batch_size``) plus
        the clean frame; 1 (the clean frame alone) for the other tests."""
        p = self.params
        if p["certify_mode"] != "betting":
            return 1
        first = certification.betting.decision_first_look(
            sigma=p["sigma"], alpha=p["alpha"] / self._hypotheses(), radius_threshold=p["radius_threshold"],
            n_max=p["n_max"], oracle_error=p["oracle_error"], symmetric_oracle=p["symmetric_oracle"],
            hypotheses=1 + len(self._fallback_labels))
        return min(first or p["n_max"], self.batch_size) + 1

    def _fixed_labels(self, pixels: torch.Tensor, instruction: str) -> torch.Tensor:
        """Labels of ``pixels`` with a policy's own noise held fixed: the same inputs give the same labels
        unless the forward itself changed (the compile check)."""
        with torch.inference_mode():
            if self.mode == "action":
                vectors = self.oracle.reduce(self.policy.act(pixels, instruction, self._probe_state(),
                                                             self._fixed_noise()))
                return torch.as_tensor(self.oracle(vectors)).cpu()
            return _labels_of_scores(self.policy.score(pixels, instruction, self.phrases), pixels.shape[0],
                                     len(self.phrases)).cpu()

    def _forward(self, method: Callable[..., Any], pixels: torch.Tensor, instruction: str, *args) -> Any:
        """``method(pixels, instruction, *args)``. With a compiled policy and a warmed instruction the batch
        is padded (its last row repeated) to the next warmed size and the padding cut from the output; any
        other instruction runs the original forwards. Either way a decision never compiles."""
        if not self.compiled_sizes:
            return method(pixels, instruction, *args)
        if instruction not in self.compiled_instructions:
            with self.policy.uncompiled():
                return method(pixels, instruction, *args)
        rows = pixels.shape[0]
        size = next((s for s in self.compiled_sizes if s >= rows), rows)
        if size == rows:
            return method(pixels, instruction, *args)
        padding = pixels[-1:].expand(size - rows, *pixels.shape[1:])
        return method(torch.cat([pixels, padding]), instruction, *args)[:rows]

    def _auto_batch_size(self) -> int:
        """``batch_size: 0``: the largest batch that fits (CUDA), found once when the guard is built."""
        classify = self.classifier(self.probes().instructions[0], self._probe_state())
        return auto_batch_size(classify, (self.channels, *self.policy.input_size), self.policy.device,
                               limit=self.params["n_max"])

    @property
    def channels(self) -> int:
        """Channels of the policy input: 3 per camera."""
        return int(getattr(self.policy, "channels", 3))

    def _probe_state(self) -> Optional[torch.Tensor]:
        return torch.zeros(1, self.state_dim) if self.state_dim else None

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

    def _fixed_noise(self) -> torch.Generator:
        """A generator seeded alike on every call: a policy's own noise held fixed (sensitivity, attacks)."""
        return make_generator(self.policy.device, 0)

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
                   record: Optional[List[torch.Tensor]] = None) -> Callable[[torch.Tensor], torch.Tensor]:
        """f = oracle o policy for one instruction: B noisy inputs -> B action indices (-1 unmapped).
        ``record`` (action mode): a list that every batch's reduced action vectors (B x D) are appended to.

        Scores must be one finite row per input: a row with a NaN or infinity maps to -1 (counted against
        the candidate, never for it), and a wrong shape is a policy error."""
        if self.mode == "score":
            return lambda pixels: _labels_of_scores(self._forward(self.policy.score, pixels, instruction,
                                                                  self.phrases), pixels.shape[0], len(self.phrases))
        if self.mode == "generate":
            return lambda pixels: torch.from_numpy(self.oracle(self.policy.generate(pixels, instruction)))
        # action mode: the policy's own noise comes from the guard's generator
        def classify_actions(pixels: torch.Tensor) -> torch.Tensor:
            vectors = self.oracle.reduce(self._forward(self.policy.act, pixels, instruction, state, self.generator))
            if record is not None:
                record.append(vectors.detach().float())
            return torch.as_tensor(self.oracle(vectors))
        return classify_actions

    def attack_scores(self, instruction: str, state: Optional[torch.Tensor] = None
                      ) -> Callable[[torch.Tensor], torch.Tensor]:
        """Differentiable B x C scores of the actions for ``instruction`` whose argmax is (about) f's label:
        what attacks ascend. Phrase policies: the phrases' log-likelihoods; continuous policies: the binning
        oracle's class scores of the actions, differentiated through the policy (every flow-matching step)
        with its own noise held fixed at ``ATTACK_NOISE_DRAWS`` draws and the scores averaged over them (an
        expectation over the policy's randomness: an attack tuned to one draw of the flow noise misses the
        draws the robot actually gets). Only for policies that declare gradients (``Policy.differentiable``)."""
        if not self.policy.differentiable:
            raise PolicyError(f"policy {self.policy.model_id} ({self.mode} mode) offers no differentiable scores")
        device = self.policy.device
        if self.mode == "action":
            def expected_scores(pixels: torch.Tensor) -> torch.Tensor:
                count, draws = pixels.shape[0], ATTACK_NOISE_DRAWS
                copies = pixels.to(device).repeat_interleave(draws, dim=0)
                copy_state = None if state is None else state.to(device).repeat_interleave(draws, dim=0)
                with self.policy.full_precision():  # int8 layers have no gradients
                    scores = self.oracle.scores(self.policy.actions_with_grad(
                        copies, instruction, copy_state, generator=self._fixed_noise()))
                return scores.reshape(count, draws, -1).mean(dim=1)
            return expected_scores
        def phrase_scores(pixels: torch.Tensor) -> torch.Tensor:
            with self.policy.full_precision():  # int8 layers have no gradients
                return self.policy.log_likelihoods(pixels.to(device), instruction, self.phrases)
        return phrase_scores

    def attack_command(self, instruction: str, dimension: str, *, smoothed: bool,
                       state: Optional[torch.Tensor] = None) -> Callable[[torch.Tensor], torch.Tensor]:
        """Differentiable B inputs -> B values of one action dimension, what an attack on the executed command
        moves: with ``smoothed``, the value's expectation under ``ATTACK_SMOOTHING_DRAWS`` fixed draws of the
        guard's Gaussian noise (a smooth stand-in for the smoothed median ``continuous_command: median``
        executes), else under ``ATTACK_NOISE_DRAWS`` fixed draws of the policy's own noise (what the bare
        policy executes). Continuous, differentiable policies only."""
        if self.mode != "action" or not self.policy.differentiable:
            raise PolicyError(f"policy {self.policy.model_id} ({self.mode} mode) offers no differentiable command")
        if dimension not in self.dimensions:
            raise PolicyError(f"policy {self.policy.model_id} has no action dimension {dimension!r}")
        column, device = self.dimensions.index(dimension), self.policy.device
        draws = ATTACK_SMOOTHING_DRAWS if smoothed else ATTACK_NOISE_DRAWS
        sigma = self.params["sigma"]

        def command(pixels: torch.Tensor) -> torch.Tensor:
            count = pixels.shape[0]
            copies = pixels.to(device).repeat_interleave(draws, dim=0)
            if smoothed:
                copies = copies + sigma * torch.randn(copies.shape, device=device, generator=self._fixed_noise())
            copy_state = None if state is None else state.to(device).repeat_interleave(draws, dim=0)
            with self.policy.full_precision():  # int8 layers have no gradients
                actions = self.oracle.reduce(self.policy.actions_with_grad(copies, instruction, copy_state,
                                                                           generator=self._fixed_noise()))
            return actions[:, column].reshape(count, draws).mean(dim=1)
        return command

    def output_signature(self, pixels: torch.Tensor, instruction: str) -> torch.Tensor:
        """A continuous summary of the policy's outputs, used to tell whether inputs change them."""
        if self.mode == "action":  # the policy's own noise held fixed, so only the inputs can move it
            actions = self._forward(self.policy.act, pixels, instruction, self._probe_state(), self._fixed_noise())
            return self.oracle.reduce(actions).float()
        if "score" in self.policy.modes:
            return self._forward(self.policy.score, pixels, instruction, self.phrases).softmax(dim=1)
        labels = self.classifier(instruction)(pixels)
        return torch.nn.functional.one_hot(labels.clamp(min=0), len(self.actions)).float()

    def probes(self) -> Probes:
        """Frames and instructions of the sensitivity check: the policy's own task's when it brings them
        (the built-in policies), else generic frames and the ``probe_instructions`` parameter."""
        if self.policy.probes is not None:
            return self.policy.probes
        return Probes(generic_probe_frames(), list(self.params["probe_instructions"]))

    def check_sensitivity(self, tolerance: float = 0.02) -> Dict[str, float]:
        """Refuse a policy whose outputs do not move with clearly different images or instructions.

        Returns the largest output change seen for images and for instructions.
        """
        probes = self.probes()
        pixels = torch.from_numpy(np.stack([self._input(f) for f in probes.frames])).to(self.policy.device)
        signatures = [self.output_signature(pixels, text) for text in probes.instructions]
        image_change = max(float((s - s[:1]).abs().max()) for s in signatures)
        instruction_change = max(float((s - signatures[0]).abs().max()) for s in signatures[1:])
        if image_change < tolerance:
            raise BlindPolicyError(
                f"policy {self.policy.model_id} ignores its image (largest output change across very different "
                f"frames: {image_change:.2g} < {tolerance}); set allow_blind_policy to override")
        if instruction_change < tolerance:
            raise BlindPolicyError(
                f"policy {self.policy.model_id} ignores its instruction (largest output change across "
                f"instructions: {instruction_change:.2g} < {tolerance}); set allow_blind_policy to override")
        return {"image_change": image_change, "instruction_change": instruction_change}

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

    def _settle(self, params: Dict[str, Any]) -> None:
        """What follows from the parameters, computed once per change rather than per decision."""
        limits = A.parse_envelope_limits(params["envelope_limits"])
        problems = self._envelope_problems(params, limits)
        if problems:
            raise P.ConfigError(problems)
        self.params = params
        self.config_hash = P.config_hash(params)
        self.envelope_limits = limits
        # envelopes are computed when they are executed (median) or certified
        self.envelopes_on = self.mode == "action" and (params["continuous_command"] == "median"
                                                       or params["certify_target"] != "class")
        self.extent_smoothings = P.extent_smoothings(params)
        self.extent_thresholds = P.extent_thresholds(params)
        # fallback set (sorted action indices, as certificates report it) -> its label as configured
        self._fallback_labels = {tuple(sorted(self.actions.index(a) for a in members)): A.set_label(members)
                                 for members in A.fallback_sets(params)}

    def _envelope_problems(self, params: Dict[str, Any], limits: Dict[str, float]) -> List[str]:
        """Envelope settings this guard's policy cannot honour (a phrase policy, an unknown dimension)."""
        if self.mode != "action":
            if params["certify_target"] != "class":
                return [f"certify_target: {params['certify_target']} needs a continuous-action policy "
                        f"({self.policy.model_id} is in {self.mode} mode)"]
            return []
        unknown = [name for name in limits if name not in self.dimensions]
        return [f"envelope_limits: {', '.join(unknown)} not among the policy's action dimensions "
                f"{self.dimensions}"] if unknown else []

    def _decision(self, started: float, reason: str, certificate=None, error: str = "",
                  clean_vector: Optional[Sequence[float]] = None,
                  envelopes: Optional[Sequence[certification.Envelope]] = None,
                  extents: Sequence[ExtentCertificate] = ()) -> Decision:
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
        median_vector = None
        if self.envelopes_on:
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
        twist, vector = self._command(action, clean_vector, median_vector) if certified else ((0.0, 0.0), ())
        return Decision(action, candidate, certified, certificate.radius, certificate.p_lower,
                        certificate.n_samples, counts, reason, latency_ms, p["sigma"], p["alpha"],
                        p["radius_threshold"], self.policy.model_id, self.mode, printable(error), self.config_hash,
                        twist, vector, self.state_dim, self._envelope_records(envelopes),
                        tuple(e.as_record() for e in extents))

    def _envelope_verdict(self, certificate, label: Optional[str], envelopes, median_vector):
        """(certified, reason, label) under ``certify_target`` once envelopes exist.

        ``class``: the class certificate decides (envelopes only bound the executed median). ``envelope``:
        every limited dimension's envelope is at most its limit wide; the label is the median command's own
        class. ``both``: the class is certified, the envelopes are narrow enough, and the median command
        lies in the certified action's class (else the two promises cannot both hold for what executes)."""
        target = self.params["certify_target"]
        if target == "class":
            return certificate.certified, certificate.reason, label
        widths = {envelope.name: envelope.width for envelope in envelopes}
        narrow = all(widths[name] <= limit for name, limit in self.envelope_limits.items())
        index = int(self.oracle(np.asarray([median_vector], dtype=np.float64))[0])
        own = self.actions[index] if index >= 0 else None
        if target == "envelope":
            if narrow and own is not None:
                return True, A.CERTIFIED, own
            return False, A.ENVELOPE_TOO_WIDE, label
        if not certificate.certified:
            return False, certificate.reason, label
        if narrow and own is not None and own in A.members_of(self.params, label):
            return True, A.CERTIFIED, label
        return False, A.ENVELOPE_TOO_WIDE, label

    def _envelope_records(self, envelopes) -> Tuple[Dict[str, Any], ...]:
        if not envelopes:
            return ()
        return tuple({"name": e.name, "low": e.low, "high": e.high, "median": e.median, "width": e.width,
                      "limit": self.envelope_limits.get(e.name, float("inf")), "radius": e.radius,
                      "samples": self.params["envelope_samples"]} for e in envelopes)

    def _command(self, label: str, clean_vector: Optional[Sequence[float]],
                 median_vector: Optional[Sequence[float]] = None):
        """(twist, vector) a certified ``label`` (an action or a fallback set) executes.

        ``continuous_command: table``, and every phrase policy: the label's entry of the action table (a set:
        the mean of its members'). ``clean`` (continuous policies): the policy's own action on the clean
        frame, moved into the bin of its class when that class is the label or one of the set's members (so
        an attacker inside the radius changes neither the class nor pushes past the bin), else the table.
        ``median``: the per-dimension median of the noisy actions, clamped into its certified envelope, when
        its class is one the label stands for (always so under ``certify_target`` envelope or both), else the
        table; then the speed caps."""
        p = self.params
        if self.mode != "action":
            return A.twist_of(p, label), ()
        dimensions, arm = self.oracle.dimensions, p["binning"] == "arm"
        vector = None
        if p["continuous_command"] == "clean" and clean_vector is not None:
            index = int(self.oracle(np.asarray([clean_vector], dtype=np.float64))[0])
            own = self.actions[index] if index >= 0 else None
            if own is not None and own in A.members_of(p, label):
                vector = self.oracle.clamp(clean_vector, own)
        elif p["continuous_command"] == "median" and median_vector is not None:
            index = int(self.oracle(np.asarray([median_vector], dtype=np.float64))[0])
            if index >= 0 and self.actions[index] in A.members_of(p, label):
                vector = list(median_vector)
        if arm:
            vector = A.capped_vector(p, vector if vector is not None else A.vector_of(p, label, dimensions), dimensions)
            return (0.0, 0.0), vector
        if vector is None:
            twist = A.twist_of(p, label)
            vector = [0.0] * len(dimensions)
            vector[self.oracle.index["linear_x"]], vector[self.oracle.index["angular_z"]] = twist
        twist = A.capped(p, vector[self.oracle.index["linear_x"]], vector[self.oracle.index["angular_z"]])
        vector = list(vector)
        vector[self.oracle.index["linear_x"]], vector[self.oracle.index["angular_z"]] = twist
        return twist, tuple(float(v) for v in vector)

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
            certificate, clean_vector, envelopes = self._certify(clean_tensor, instruction.strip(), timer.out_of_time,
                                                                 state_tensor)
            extents = (self._extents(clean_tensor, instruction.strip(), state_tensor, certificate, timer.out_of_time)
                       if certificate.certified and self.extent_smoothings else ())
        except Exception as error:  # any failure of the model must end in a stop, not a crash
            return self._decision(started, A.POLICY_ERROR, error=f"{type(error).__name__}: {error}")
        finally:
            timer.finish()
        return self._decision(started, certificate.reason, certificate, clean_vector=clean_vector,
                              envelopes=envelopes, extents=extents)

    # ------------------------------------------------------------------ real-time budget (DESIGN 2.11)

    def warm_up(self, instruction: Optional[str] = None, repeats: int = 1) -> Dict[str, float]:
        """Run one full sampling batch (``batch_size`` noisy copies of a probe frame) 1 + ``repeats`` times, so
        lazy initialisation and a CUDA warm-up happen now, not in a decision; the median of the timed runs
        (all but the first) seeds the batch-time estimate. Returns (and keeps in :attr:`warmup`)
        ``first_batch_s``, ``batch_seconds`` and ``frame_seconds`` (one probe frame to the policy's input)."""
        probes = self.probes()
        text = (instruction or probes.instructions[0]).strip()
        started = time.perf_counter()
        clean = torch.from_numpy(self._input(probes.frames[0])).to(self.policy.device)
        frame_seconds = time.perf_counter() - started
        generator = make_generator(self.policy.device, 0)
        noise = torch.randn((self.batch_size, *clean.shape), generator=generator, device=clean.device, dtype=clean.dtype)
        pixels = clean.unsqueeze(0) + self.params["sigma"] * noise
        classify = self.classifier(text, self._probe_state())
        times = []
        for _ in range(1 + max(1, repeats)):
            started = time.perf_counter()
            with torch.inference_mode():
                classify(pixels)
            if self.policy.device.type == "cuda":
                torch.cuda.synchronize(self.policy.device)
            times.append(time.perf_counter() - started)
        batch_seconds = float(np.median(times[1:]))
        self.batch_time.seed(batch_seconds)
        self.warmup = {"first_batch_s": times[0], "batch_seconds": batch_seconds, "frame_seconds": frame_seconds}
        return dict(self.warmup)

    def budget(self, params: Optional[Dict[str, Any]] = None, *, frame_seconds: Optional[float] = None,
               batch_seconds: Optional[float] = None) -> Budget:
        """What ``params`` (default: the guard's) can certify within ``deadline_s`` here
        (:mod:`.control.budget`), from the warm-up's batch and frame times unless given, with alpha split as
        decisions split it."""
        if self.warmup is None and (batch_seconds is None or frame_seconds is None):
            self.warm_up()
        params = params if params is not None else self.params
        hypotheses = (1 + (len(self.dimensions) if self.envelopes_on else 0)
                      + len(P.extent_smoothings(params)))
        return budget_for(params, self.warmup["batch_seconds"] if batch_seconds is None else batch_seconds,
                          batch_size=self.batch_size, hypotheses=hypotheses,
                          frame_seconds=self.warmup["frame_seconds"] if frame_seconds is None else frame_seconds)

    def _certify(self, clean: torch.Tensor, instruction: str, out_of_time: Optional[Callable[[], bool]] = None,
                 state: Optional[torch.Tensor] = None):
        """(certificate, the policy's own clean-frame command for action mode else None, the envelopes when
        they are on else None).

        With envelopes on, ``alpha`` is split evenly (Bonferroni) over the class test, every action dimension's
        envelope and every extent check, so everything a decision reports holds together with probability
        >= 1 - alpha."""
        p = self.params
        betting = p["certify_mode"] == "betting"
        vectors: Optional[List[torch.Tensor]] = [] if self.envelopes_on or (betting and self.mode == "action") else None
        classify = self.classifier(instruction, state, record=vectors)
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
                return sampler.clean_label

            certificate = certification.certify_betting(
                sampler, radius_threshold=p["radius_threshold"], n_max=p["n_max"], batch_size=self.batch_size,
                candidate=clean_candidate, n0=p["n0"], out_of_time=out_of_time, **common)
            clean_vector = clean_output.get("vector")
            if vectors is not None and not self.envelopes_on:
                vectors.clear()
            envelopes = self._envelopes(sampler, vectors, out_of_time, hypotheses) if self.envelopes_on else None
            return certificate, clean_vector, envelopes
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
        envelopes = self._envelopes(sampler, vectors, out_of_time, hypotheses) if self.envelopes_on else None
        return certificate, clean_vector, envelopes

    def _hypotheses(self) -> int:
        """The tests one decision's alpha is split over: the class test, each envelope, each extent check."""
        return 1 + (len(self.dimensions) if self.envelopes_on else 0) + len(self.extent_smoothings)

    def _extents(self, clean: torch.Tensor, instruction: str, state: Optional[torch.Tensor], certificate,
                 out_of_time: Optional[Callable[[], bool]] = None) -> Tuple[ExtentCertificate, ...]:
        """Each ``extent_checks`` entry's threshold test for what the L2 certificate certified (its candidate,
        or its fallback set), by transformation smoothing: samples of its own, its share of alpha. Stops at the
        first that fails (the decision is a stop either way)."""
        target = certificate.fallback or (certificate.candidate,)
        classify = self.classifier(instruction, state)
        results = []
        for name, smoothing in self.extent_smoothings.items():
            sampler = TransformSampler(classify, clean, smoothing, batch_size=self.batch_size, generator=self.generator)
            result = extent.certify_extent_threshold(
                sampler, smoothing, extent_threshold=self.extent_thresholds[name],
                alpha=self.params["alpha"] / self._hypotheses(), n_max=self.params["n_max"],
                batch_size=self.batch_size, target=target, out_of_time=out_of_time)
            results.append(result)
            if not result.certified:
                break
        return tuple(results)

    def extent_smoothing(self, transform: str) -> extent.ExtentSmoothing:
        """``transform``'s smoothing under this guard's ``extent_smoothing`` and ``extent_blur_smoothing``."""
        if transform not in extent.TRANSFORMS:
            raise ValueError(f"unknown transform {transform!r}; use {', '.join(extent.TRANSFORMS)}")
        return P.extent_smoothings(self.params, names=[transform])[transform]

    def certify_extent(self, frame_rgb, instruction: str, transform: str, *, n: int, alpha: float,
                       state=None) -> Tuple[Optional[str], ExtentCertificate]:
        """(action, its extent certificate) for ``transform`` on one frame: the action is f on the clean frame
        (None when unmapped: then nothing is certified), the interval the largest that ``n`` transformed
        samples certify at ``alpha`` (``rs-vla-guard extent``)."""
        classify, clean, smoothing = self._extent_inputs(frame_rgb, instruction, transform, state)
        label = predict_clean(classify, clean)
        sampler = TransformSampler(classify, clean, smoothing, batch_size=self.batch_size, generator=self.generator)
        target = () if label is None else (label,)
        return (None if label is None else self.actions[label],
                extent.certify_extent(sampler, smoothing, n=n, alpha=alpha, target=target))

    def extent_sweep(self, frame_rgb, instruction: str, transform: str, offsets: Sequence, *, samples: int,
                     state=None) -> np.ndarray:
        """The smoothed classifier along the parameter: for each offset delta (a number; shift: (dx, dy)), the
        share of ``samples`` transformed samples h(delta + theta) in each action (len(offsets) x actions;
        unmapped samples count in no column). What ``extent --plot`` draws and the brute-force checks sweep."""
        classify, clean, smoothing = self._extent_inputs(frame_rgb, instruction, transform, state)
        shares = np.zeros((len(offsets), len(self.actions)))
        for row, offset in enumerate(offsets):
            sampler = TransformSampler(classify, clean, smoothing, batch_size=self.batch_size,
                                       generator=self.generator, offset=offset)
            labels = sampler(samples)
            shares[row] = np.bincount(labels[labels >= 0], minlength=len(self.actions)) / samples
        return shares

    def _extent_inputs(self, frame_rgb, instruction: str, transform: str, state):
        """(f for the instruction, the clean input, the smoothing); ValueError for a bad frame or instruction."""
        problem = instruction_problem(instruction, self.params)
        if problem is not None:
            raise ValueError(problem[1])
        smoothing = self.extent_smoothing(transform)
        clean = torch.from_numpy(self._input(frame_rgb)).to(self.policy.device)
        return self.classifier(instruction.strip(), self._state_tensor(state)), clean, smoothing

    def _envelopes(self, sampler: NoisySampler, vectors: List[torch.Tensor],
                   out_of_time: Optional[Callable[[], bool]], hypotheses: int
                   ) -> Optional[List[certification.Envelope]]:
        """Each action dimension's certified envelope at ``radius_threshold`` from the first
        ``envelope_samples`` noisy actions of the decision (drawing the rest when the class test stopped
        sooner): a count fixed in advance, so the order-statistic bounds hold whatever the class test did.
        None when the deadline comes first."""
        p = self.params
        needed = p["envelope_samples"]
        have = sum(int(rows.shape[0]) for rows in vectors)
        while have < needed:
            if out_of_time is not None and out_of_time():
                return None
            size = min(self.batch_size, needed - have)
            sampler(size)
            have += size
        samples = torch.cat(vectors)[:needed].to("cpu", torch.float64).numpy()
        return certification.certify_envelopes(samples, p["radius_threshold"], p["sigma"], p["alpha"],
                                               names=self.dimensions, hypotheses=hypotheses - len(self.dimensions))

    def release(self) -> None:
        self.policy.release()
        if self.compiled_sizes:  # compiled graphs hold the model's weights alive
            torch._dynamo.reset()
            self.compiled_sizes, self.compiled_instructions = (), frozenset()
