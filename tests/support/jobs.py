"""Tiny job bodies for FireWorks ``PyTask`` in tests (importable by workers started from the repository)."""

from pyacemaker.oracle.base import OracleInterrupted


def interrupted() -> None:
    """A label job whose allocation ran out: its work is saved, a re-run continues it."""
    raise OracleInterrupted("the allocation ends in 12 s: pw.x stopped with its state saved")


def server_error() -> None:
    """A job that met the database server's own "internal server error" (as pymongo raises it)."""
    from pymongo.errors import OperationFailure

    raise OperationFailure("internal server error", 1, {"ok": 0.0, "errmsg": "internal server error", "code": 1,
                                                        "codeName": "InternalError"})  # fmt: skip


def broken() -> None:
    raise ValueError("a real failure")
