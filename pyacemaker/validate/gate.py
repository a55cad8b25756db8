"""The quality gate: the potential's properties against the oracle's own (same functions, oracle calculator).

Comparing with the oracle rather than with experiment isolates what active learning can fix: the fitting error.
Each check carries its value, threshold and a sentence saying why it passed or failed; a No-Go also yields
"targeted structures" (the strained cells, displaced supercells or MD frame behind the failure) for the next
iteration to label. The properties are the validators registered in :data:`pyacemaker.plugins.VALIDATORS`
(:class:`pyacemaker.validate.base.Validator`); this module only loops over them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from ase import Atoms

from pyacemaker.config.schema import GateSettings, ValidationThresholds
from pyacemaker.plugins import VALIDATORS
from pyacemaker.schemas.records import AtomsData
from pyacemaker.schemas.stages import Check
from pyacemaker.validate.base import CalculatorFactory, GateReport, GateVerdict, PropertyReport, validators

__all__ = [
    "Check",
    "GateReport",
    "GateSettings",
    "GateVerdict",
    "PropertyReport",
    "ValidationThresholds",
    "compare",
    "compute_properties",
    "run_gate",
    "targeted_structures",
]


def compute_properties(
    calc_factory: CalculatorFactory,
    atoms: Atoms,
    *,
    label: str = "",
    properties: Iterable[str] | None = None,
    settings: GateSettings | None = None,
    thresholds: ValidationThresholds | None = None,
) -> PropertyReport:
    """Run the validators of ``properties`` (default: all registered); an exception in one (an unknown name
    included) is recorded in ``errors`` and does not stop the others."""
    s, th = settings or GateSettings(), thresholds or ValidationThresholds()
    rep = PropertyReport(label=label, structure=AtomsData.from_atoms(atoms))
    for name in [v.name for v in validators()] if properties is None else properties:
        t0 = time.perf_counter()
        try:
            setattr(rep, name, VALIDATORS.get_plugin(name).compute(calc_factory, atoms, s, th))
        except Exception as exc:  # one broken property must not hide the others
            rep.errors[name] = f"{type(exc).__name__}: {exc}"
        rep.timings_s[name] = round(time.perf_counter() - t0, 3)
    return rep


def compare(
    candidate: PropertyReport, reference: PropertyReport, thresholds: ValidationThresholds | None = None
) -> GateVerdict:
    """Checks of every property the candidate computed (or failed to); a property missing from the reference
    fails its check with the reason, since nothing can vouch for it."""
    th = thresholds or ValidationThresholds()
    checks: list[Check] = []
    for v in validators():
        if candidate.result(v.name) is not None or v.name in candidate.errors:
            checks += v.compare(candidate, reference, th)
    failed = [k.name for k in checks if not k.passed]
    go = bool(checks) and not failed
    summary = ("Go: all checks passed" if go else "No-Go: no checks ran" if not checks else
               "No-Go: " + "; ".join(f"{k.name} ({k.reason})" for k in checks if not k.passed))  # fmt: skip
    return GateVerdict(go=go, checks=checks, failed=failed, summary=summary)


def _oracle_runs(name: str) -> bool:
    v = VALIDATORS.load().get(name)
    return (
        v is None or v.oracle_runs
    )  # an unknown name is recorded as an error on both sides, as it always was


def run_gate(
    candidate: CalculatorFactory,
    reference: CalculatorFactory | PropertyReport,
    atoms: Atoms,
    *,
    thresholds: ValidationThresholds | None = None,
    settings: GateSettings | None = None,
    properties: Iterable[str] | None = None,
    candidate_label: str = "potential",
    reference_label: str = "oracle",
) -> GateReport:
    """Validate ``candidate`` against ``reference`` on ``atoms`` and return the full report with the verdict.

    ``reference`` may be an oracle calculator factory or a stored :class:`PropertyReport` (the oracle's
    properties do not change between iterations, so they are computed once). The oracle never runs the
    validators that check the potential alone (``oracle_runs=False``: MD stability).
    """
    th, s = thresholds or ValidationThresholds(), settings or GateSettings()
    props = [v.name for v in validators()] if properties is None else list(properties)
    cand = compute_properties(
        candidate, atoms, label=candidate_label, properties=props, settings=s, thresholds=th
    )
    if isinstance(reference, PropertyReport):
        ref = reference
    else:
        ref = compute_properties(reference, atoms, label=reference_label, settings=s, thresholds=th,
                                 properties=[p for p in props if _oracle_runs(p)])  # fmt: skip
    return GateReport(
        candidate=cand, reference=ref, thresholds=th, settings=s, verdict=compare(cand, ref, th)
    )


def targeted_structures(report: GateReport, max_structures: int | None = None) -> list[tuple[Atoms, str]]:
    """Structures behind each failed check, for the oracle to label in the next iteration: each validator with a
    failed check names its own (EOS cells, strained cells, displaced supercells, the MD frame...)."""
    failed_checks = [k for k in report.verdict.checks if not k.passed]
    failed = {k.name for k in failed_checks}
    props = {k.property for k in failed_checks}
    out: list[tuple[Atoms, str]] = []
    for v in validators():
        if v.name in props:
            out += v.targets(report, failed)
    return out[:max_structures] if max_structures else out
