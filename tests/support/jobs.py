"""Tiny job bodies for FireWorks ``PyTask`` in tests (importable by workers started from the repository)."""

from pyacemaker.oracle.base import OracleInterrupted


def interrupted() -> None:
    """A label job whose allocation ran out: its work is saved, a re-run continues it."""
    raise OracleInterrupted("the allocation ends in 12 s: pw.x stopped with its state saved")


def broken() -> None:
    raise ValueError("a real failure")
