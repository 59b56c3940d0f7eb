"""Certified chunk tubes of a chunked policy (docs/theory.md, chunk tubes) and what they let the arm
execute (:mod:`rs_vla_guard.control.chunks`). A part of :class:`~.guard.Guard`."""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

from .. import actions as A
from .. import certification
from ..control.chunks import ChunkRules, chunk_record, hold_waypoints
from ..sampling import NoisySampler
from ..settings.chunks import joint_problems, state_joint_names


class ChunkMixin:
    """Tubes over the first ``chunk_execute_steps`` waypoints of every joint, and their verdict."""

    def _chunk_problems(self, params: Dict[str, Any]) -> List[str]:
        steps = params["chunk_execute_steps"]
        if not steps:
            return []
        horizon = int(getattr(self.policy, "chunk_size", 0) or 0)
        if self.mode != "action" or not horizon:
            return [f"chunk_execute_steps: {self.policy.model_id} does not output action chunks"]
        if steps > horizon:
            return [f"chunk_execute_steps: {steps} > the policy's chunk of {horizon} steps"]
        if len(self.dimensions) != self.state_dim:
            return [f"chunk_execute_steps: the policy's {len(self.dimensions)} joints need a robot state of as many "
                    f"positions (it takes {self.state_dim})"]
        if state_joint_names(params) != list(self.dimensions):
            return [f"state_joints: a chunked policy reads and commands its joints by name, in its order: "
                    f"{', '.join(self.dimensions)} (got {params['state_joints']!r})"]
        return joint_problems(params, self.dimensions)

    def _chunk_tube(self, sampler: NoisySampler, chunks: List[torch.Tensor],
                    out_of_time: Optional[Callable[[], bool]], hypotheses: int) -> Optional[certification.ChunkTube]:
        """The tube at ``radius_threshold`` from the first ``envelope_samples`` noisy chunks of the decision
        (:meth:`_fixed_count`); None when the deadline comes first."""
        p = self.params
        samples = self._fixed_count(sampler, chunks, p["envelope_samples"], out_of_time)
        if samples is None:
            return None
        steps = self.chunk_rules.steps
        return certification.certify_tube(samples, steps, p["radius_threshold"], p["sigma"], p["alpha"],
                                          joint_names=self.dimensions, hypotheses=hypotheses - steps * len(self.dimensions))

    def _chunk_verdict(self, certificate, label: Optional[str], tube, state: Optional[np.ndarray]
                       ) -> Tuple[bool, str, Optional[str], Dict[str, Any], str]:
        """(certified, reason, label, the decision's ``chunk`` record, detail). The class test must certify
        too unless ``certify_target`` is envelope (then the label is the executed chunk's own class)."""
        rules: ChunkRules = self.chunk_rules
        hold = hold_waypoints(state) if state is not None else np.zeros((0, len(self.dimensions)))
        if tube is None:  # the deadline came before the tube's samples were drawn
            return False, A.DEADLINE_EXCEEDED, label, chunk_record(hold, None, rules.dt_s, self.dimensions, hold), ""
        stop, waypoints, detail = rules.execute(tube, state)
        if self.params["certify_target"] == "envelope":
            index = int(self.oracle(waypoints[None])[0])
            label = self.actions[index] if index >= 0 else label
            class_ok = index >= 0
        else:
            class_ok = certificate.certified
        if stop is None and class_ok:
            return True, A.CERTIFIED, label, chunk_record(waypoints, tube, rules.dt_s, self.dimensions, hold), ""
        reason = stop or (certificate.reason if certificate.reason != A.CERTIFIED else A.ABSTAIN)
        return False, reason, label, chunk_record(hold, tube, rules.dt_s, self.dimensions, hold), detail
