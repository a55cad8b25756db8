"""The VASP oracle: MatPES-style static inputs (pymatgen), Custodian's VaspJob with numeric handlers only.

VASP is licensed software and cannot run on the development machines: the inputs and the parsing of recorded
outputs are tested; a real run needs ``vasp_std`` and the PAW POTCARs (``$PMG_VASP_PSP_DIR``).
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from ase import Atoms
from pydantic import Field

from pyacemaker.config.schema import OracleSettings
from pyacemaker.oracle.base import Oracle, OracleFailure
from pyacemaker.oracle.checks import close_contact
from pyacemaker.plugins import ORACLES
from pyacemaker.proc import GRACE_S, Proc, ProcTimeout

# Errors of custodian's VaspErrorHandler whose fixes change numerics only (algorithms, mixing, bands,
# projection). Left out on purpose: smearing/tetrahedron fixes (tet, dentet, algo_tet, tetirr), k-point and
# symmetry changes (ksymm, brmix, pricel, ibzkpt, incorrect_shift, ...), ionic-step fixes (brions, zbrent, zpotrf).
NUMERIC_VASP_ERRORS = [
    "subspacematrix", "real_optlay", "rspher", "too_few_bands", "pssyevx", "pdsyevx", "eddrmm", "edddav",
    "grad_not_orth", "nicht_konv", "zheev", "eddiag", "rhosyg", "posmap", "point_group", "symprec_noise",
    "nbands_not_sufficient", "auto_nbands", "amin", "coef",
]  # fmt: skip


class VaspSettings(OracleSettings):
    """VASP through Custodian. Physics from pymatgen's MatPESStaticSet (a standard for training data)."""

    cost: ClassVar[Literal["cheap", "dft"]] = "dft"

    type: Literal["vasp"] = "vasp"
    command: str = Field("vasp_std", description='VASP executable (with its launcher, e.g. "srun vasp_std")')
    potcar_dir: str | None = Field(None, description="PAW POTCAR root (else $PMG_VASP_PSP_DIR)")
    potcars: dict[str, str] | None = Field(None, description="element -> POTCAR label, e.g. {Fe: Fe_pv}")
    incar: dict[str, Any] = Field(
        default_factory=dict, description="INCAR settings on top of MatPESStaticSet"
    )
    min_distance_factor: float = Field(0.5, ge=0, le=1.5)
    max_corrections: int = Field(8, ge=0, le=50)
    timeout_s: float | None = Field(
        43200.0,
        gt=0,
        description="hard wall-clock limit per VASP run (12 h): then SIGTERM, SIGKILL 10 s later, and the "
        "structure is rejected; null: none",
    )

    def resolve(self, elements: list[str]) -> tuple[VaspSettings, dict[str, str]]:
        return resolve_vasp(self, elements)


def potcar_root(cfg: VaspSettings) -> Path | None:
    root = cfg.potcar_dir or os.environ.get("PMG_VASP_PSP_DIR")
    return Path(root).expanduser() if root else None


def resolve_vasp(cfg: VaspSettings, elements: list[str]) -> tuple[VaspSettings, dict[str, str]]:
    """POTCAR labels (pymatgen's PBE_64 choices) and the INCAR of MatPESStaticSet, with notes."""
    import yaml
    from pymatgen.io.vasp import sets

    out = cfg.model_copy(deep=True)
    notes: dict[str, str] = {}
    if out.potcars is None:
        base = yaml.safe_load((Path(sets.__file__).parent / "PBE64Base.yaml").read_text())["POTCAR"]
        out.potcars = {el: base.get(el, el) for el in elements}
        notes["potcars"] = "pymatgen's PBE_64 recommendations (PBE64Base.yaml)"
    root = potcar_root(out)
    notes["potcar_dir"] = (f"{root}" if root and root.is_dir() else
                           "not found: set potcar_dir or $PMG_VASP_PSP_DIR before running VASP")  # fmt: skip
    notes["incar"] = (
        "on top of MatPESStaticSet: ENCUT 680, PREC Accurate, ISMEAR 0, SIGMA 0.05, KSPACING 0.22, LREAL False"
    )
    return out, notes


def input_set(atoms: Atoms, cfg: VaspSettings):
    """pymatgen's MatPESStaticSet for this structure with the configured INCAR on top."""
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.io.vasp.sets import MatPESStaticSet

    structure = AseAtomsAdaptor.get_structure(atoms)
    vis = MatPESStaticSet(structure, user_incar_settings=dict(cfg.incar))
    changed = {
        el: label for el, label in (cfg.potcars or {}).items() if vis.CONFIG["POTCAR"].get(el) != label
    }
    if changed:  # only a real deviation from the set's POTCAR choice is passed (pymatgen warns about it)
        vis = MatPESStaticSet(structure, user_incar_settings=dict(cfg.incar), user_potcar_settings=changed)
    return vis


def write_inputs(directory: Path, atoms: Atoms, cfg: VaspSettings) -> None:
    """INCAR and POSCAR always; POTCAR from the PAW library (OracleFailure with the fix when it is missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    vis = input_set(atoms, cfg)
    vis.incar.write_file(directory / "INCAR")
    vis.poscar.write_file(directory / "POSCAR")
    root = potcar_root(cfg)
    if root is None or not root.is_dir():
        raise OracleFailure(
            "VASP POTCARs not found: set oracle.potcar_dir or $PMG_VASP_PSP_DIR to your PAW library"
        )
    parts = []
    for label in vis.potcar_symbols:
        candidates = [
            root / sub / label / "POTCAR" for sub in ("potpaw_PBE_64", "POT_PAW_PBE_64", "potpaw_PBE", "")
        ]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise OracleFailure(
                f"POTCAR {label!r} not found under {root} (looked in {', '.join(map(str, candidates))})"
            )
        parts.append(found.read_text())
    (directory / "POTCAR").write_text("".join(parts))


def handlers():
    from custodian.vasp.handlers import (
        NonConvergingErrorHandler,
        StdErrHandler,
        UnconvergedErrorHandler,
        VaspErrorHandler,
        WalltimeHandler,
    )

    return [VaspErrorHandler(errors_subset_to_catch=NUMERIC_VASP_ERRORS), UnconvergedErrorHandler(),
            NonConvergingErrorHandler(), StdErrHandler(), WalltimeHandler()]  # fmt: skip


TIMEOUT_MARK = "vasp.timeout"  # written when VASP ran past oracle.timeout_s and its process group was stopped
KILL_GRACE_S = GRACE_S


def timed_vasp_job(cmd: list[str], timeout_s: float | None, grace_s: float | None = None):
    """Custodian's VaspJob whose process runs under :class:`pyacemaker.proc.Proc`: in its own process group with
    a hard limit (then SIGTERM, SIGKILL after the grace period, ``vasp.timeout`` left for
    :func:`timeout_handler`); Custodian's ``terminate`` stops the group the same way."""
    from custodian.vasp.jobs import VaspJob

    class TimedVaspJob(VaspJob):
        def _command(self, directory: str) -> list[str]:
            cmd = list(self.vasp_cmd)
            if not self.auto_gamma:
                return cmd
            try:  # as VaspJob.run: a Gamma-only grid runs the gamma build when there is one
                from custodian.vasp.jobs import _gamma_point_only_check
                from pymatgen.io.vasp.inputs import VaspInput

                if _gamma_point_only_check(VaspInput.from_directory(directory)):
                    if self.gamma_vasp_cmd is not None and shutil.which(self.gamma_vasp_cmd[-1]):
                        return list(self.gamma_vasp_cmd)
                    if shutil.which(cmd[-1] + ".gamma"):
                        cmd[-1] += ".gamma"
            except Exception:  # noqa: BLE001  (inputs VaspInput cannot read: the standard build)
                pass
            return cmd

        def run(self, directory: str = "./"):
            d = Path(directory)
            (d / TIMEOUT_MARK).unlink(missing_ok=True)

            def mark(exc: ProcTimeout) -> None:
                (d / TIMEOUT_MARK).write_text(f"VASP {exc}")

            with open(d / self.output_file, "w") as out, open(d / self.stderr_file, "w", buffering=1) as err:
                self._vasp_process = Proc(self._command(directory), cwd=d, stdout=out, stderr=err,
                                          timeout_s=timeout_s, output=d / self.output_file, on_timeout=mark,
                                          grace_s=KILL_GRACE_S if grace_s is None else grace_s)  # fmt: skip
            return self._vasp_process

        def terminate(self, directory: str = "./") -> None:
            self.stop()

        def stop(self) -> None:
            proc = getattr(self, "_vasp_process", None)
            if isinstance(proc, Proc):
                proc.stop()

    return TimedVaspJob(cmd, auto_npar=False)


def timeout_handler():
    """A Custodian handler that sees ``vasp.timeout``: no correction, so the structure is rejected."""
    from custodian.custodian import ErrorHandler

    class VaspTimeoutHandler(ErrorHandler):
        def check(self, directory: str = "./") -> bool:
            return (Path(directory) / TIMEOUT_MARK).is_file()

        def correct(self, directory: str = "./") -> dict[str, Any]:
            return {"errors": [(Path(directory) / TIMEOUT_MARK).read_text().strip()], "actions": None}

    return VaspTimeoutHandler()


def parse(directory: Path) -> tuple[float, np.ndarray, np.ndarray | None]:
    """Free energy (consistent with the forces), forces and Voigt stress from vasprun.xml (ASE's reader)."""
    from ase.io import read

    atoms = read(directory / "vasprun.xml", format="vasp-xml", index=-1)
    stress = atoms.get_stress(voigt=True) if all(atoms.pbc) else None
    return float(atoms.get_potential_energy(force_consistent=True)), atoms.get_forces(), stress


@ORACLES.register("vasp")
class VaspOracle(Oracle):
    name = "vasp"
    settings_model = VaspSettings
    config: VaspSettings

    def check_ready(self) -> None:
        cmd = shlex.split(self.config.command)
        if shutil.which(cmd[-1]) is None and shutil.which(cmd[0]) is None:
            raise OracleFailure(
                f"VASP executable {self.config.command!r} not found on PATH (set oracle.command)"
            )
        root = potcar_root(self.config)
        if root is None or not root.is_dir():
            raise OracleFailure(
                "VASP POTCARs not found: set oracle.potcar_dir or $PMG_VASP_PSP_DIR to your PAW library"
            )

    @property
    def settings(self) -> dict[str, Any]:
        keep = {"command", "potcar_dir", "min_distance_factor", "max_corrections", "timeout_s"}
        return {k: v for k, v in self.config.model_dump(mode="json").items() if k not in keep}

    def compute(self, atoms: Atoms, workdir: Path):
        from custodian import Custodian
        from custodian.custodian import CustodianError
        from custodian.vasp.validators import VasprunXMLValidator

        reason = close_contact(atoms, self.config.min_distance_factor)
        if reason:
            raise OracleFailure(reason)
        self.check_ready()
        cmd = shlex.split(self.config.command)
        write_inputs(workdir, atoms, self.config)
        (workdir / TIMEOUT_MARK).unlink(missing_ok=True)  # an earlier run's
        job = timed_vasp_job(cmd, self.config.timeout_s)
        c = Custodian([timeout_handler(), *handlers()], [job], validators=[VasprunXMLValidator()],
                      max_errors=self.config.max_corrections + 1, directory=str(workdir))  # fmt: skip
        try:
            log = c.run()
        except Exception as exc:
            if (workdir / TIMEOUT_MARK).is_file():  # stopped at oracle.timeout_s: rejected, saying so
                raise OracleFailure((workdir / TIMEOUT_MARK).read_text().strip()) from None
            if isinstance(exc, CustodianError):
                raise OracleFailure(f"VASP failed and was not healed: {exc}") from None
            raise
        finally:
            job.stop()  # nothing of VASP outlives this call (an exception or KeyboardInterrupt here included)
        corrections = [
            {"handler": type(corr["handler"]).__name__, "error": ", ".join(map(str, corr.get("errors", []))),
             "action": {k: v for a in corr.get("actions") or [] for k, v in a.get("action", {}).get("_set", {}).items()}}
            for run in log for corr in run.get("corrections", []) if corr.get("actions")
        ]  # fmt: skip
        energy, forces, stress = parse(workdir)
        return energy, forces, stress, corrections

    def reference_energy(self, element: str, workdir: Path) -> float:
        box = Atoms(
            element, positions=[[5.0, 5.5, 6.0]], cell=[10.0, 11.0, 12.0], pbc=True
        )  # symmetry-broken box
        energy, _, _, _ = self.compute(box, workdir / f"isolated_{element}")
        return energy
