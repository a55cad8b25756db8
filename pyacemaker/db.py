"""Database access: where the campaign lives, its collections, and provenance queries.

One MongoDB database holds everything: FireWorks' collections (the LaunchPad), jobflow's outputs (JobStore with a
GridFS store for bulky data), and pyacemaker's own collections:

- ``records``    structure records (unique per campaign and content hash)
- ``potentials`` one document per trained potential (files in the ``potential_files`` GridFS bucket)
- ``campaigns``  campaign state: config, iterations, end state, counters

The target is, in order: ``PYACEMAKER_DB_URI`` (+ ``PYACEMAKER_DB_NAME``), a FireWorks launchpad file, else the
embedded server (:mod:`pyacemaker.server`). Credentials stay in the environment or the user's launchpad file:
nothing here prints, logs or writes them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo import ASCENDING, DESCENDING, MongoClient, UpdateOne
from pymongo.database import Database as MongoDatabase
from pymongo.errors import PyMongoError

from pyacemaker.schemas.records import StructureRecord
from pyacemaker.server import EmbeddedServer, default_data_dir

DEFAULT_DB_NAME = "pyacemaker"


class DatabaseError(RuntimeError):
    """The database cannot be reached or is misconfigured (message says how to fix it)."""


def redact(uri: str) -> str:
    """A URI with any password replaced, safe to print."""
    return re.sub(r"(mongodb(?:\+srv)?://)([^@/]+)@", r"\1***@", uri)


@dataclass
class DbTarget:
    """How to reach the database. ``uri`` may hold credentials: print ``describe`` instead."""

    uri: str | None
    name: str
    describe: str
    launchpad_file: str | None = None
    embedded_root: Path | None = None
    has_credentials: bool = False

    def client(self, timeout_ms: int = 5000) -> MongoClient:
        if self.launchpad_file:
            lp = self.launchpad()
            return lp.connection
        return MongoClient(self.uri, serverSelectionTimeoutMS=timeout_ms)

    def launchpad(self):
        """A FireWorks LaunchPad on this database."""
        from fireworks import LaunchPad

        if self.launchpad_file:
            return LaunchPad.from_file(self.launchpad_file)
        return LaunchPad(host=self.uri, name=self.name, uri_mode=True, strm_lvl="ERROR")

    def job_store(self):
        """jobflow JobStore on this database: outputs in a MongoStore, bulky ``data`` in GridFS."""
        from jobflow import JobStore
        from maggma.stores import GridFSStore, MongoStore

        if self.launchpad_file:
            lp = self.launchpad()
            kw = {
                "host": lp.host,
                "port": lp.port,
                "username": lp.username or "",
                "password": lp.password or "",
            }
            if lp.uri_mode:
                docs = MongoStore.from_uri(lp.host, "jobflow_outputs", database=lp.name)
                data = GridFSStore.from_uri(lp.host, "jobflow_data", database=lp.name)
            else:
                docs = MongoStore(lp.name, "jobflow_outputs", **kw)
                data = GridFSStore(lp.name, "jobflow_data", **kw)
        else:
            docs = MongoStore.from_uri(self.uri, "jobflow_outputs", database=self.name)
            data = GridFSStore.from_uri(self.uri, "jobflow_data", database=self.name)
        return JobStore(docs, additional_stores={"data": data})

    def jobflow_store_spec(self) -> dict[str, Any]:
        """The ``JOB_STORE`` section of a jobflow.yaml for this target (only for targets without credentials)."""
        if self.has_credentials:
            raise DatabaseError("refusing to write credentials into a jobflow config file")
        uri, name = self.uri, self.name
        if self.launchpad_file:
            lp = self.launchpad()
            uri = lp.host if lp.uri_mode else f"mongodb://{lp.host}:{lp.port}/"
            name = lp.name
        return {
            "docs_store": {"type": "MongoStore", "uri": uri, "database": name,
                           "collection_name": "jobflow_outputs"},
            "additional_stores": {"data": {"type": "GridFSStore", "uri": uri, "database": name,
                                           "collection_name": "jobflow_data"}},
        }  # fmt: skip

    def launchpad_spec(self) -> dict[str, Any]:
        """A my_launchpad.yaml for this target (only for targets without credentials)."""
        if self.has_credentials:
            raise DatabaseError("refusing to write credentials into a launchpad file")
        return {"host": self.uri, "name": self.name, "uri_mode": True, "strm_lvl": "INFO"}


def resolve_target(
    launchpad: str | None = None,
    name: str | None = None,
    start_embedded: bool = True,
    data_dir: Path | None = None,
) -> DbTarget:
    """Find the database: $PYACEMAKER_DB_URI, a launchpad file, else the embedded server (started if needed)."""
    name = os.environ.get("PYACEMAKER_DB_NAME") or name or DEFAULT_DB_NAME
    uri = os.environ.get("PYACEMAKER_DB_URI")
    if uri:
        creds = bool(re.match(r"mongodb(\+srv)?://[^@/]+@", uri))
        return DbTarget(
            uri, name, f"PYACEMAKER_DB_URI ({redact(uri)}), database {name!r}", has_credentials=creds
        )
    if launchpad:
        path = Path(launchpad).expanduser()
        if not path.is_file():
            raise DatabaseError(f"launchpad file {str(path)!r} not found")
        import yaml

        try:
            spec = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise DatabaseError(f"launchpad file {path} is not valid YAML: {exc}") from None
        creds = bool(spec.get("username") or spec.get("password") or "@" in str(spec.get("host", "")))
        host = spec.get("host", "localhost")
        where = redact(str(host)) if spec.get("uri_mode") else f"{host}:{spec.get('port', 27017)}"
        return DbTarget(
            None, spec.get("name") or name, f"launchpad file {path} ({where}, database {spec.get('name')!r})",
            launchpad_file=str(path.resolve()), has_credentials=creds,
        )  # fmt: skip
    root = data_dir or default_data_dir()
    server = EmbeddedServer(root)
    if start_embedded:
        uri = server.start()
    else:
        st = server.status()
        if not st:
            raise DatabaseError(
                f"the embedded database is not running (data in {root}); start it: pyacemaker db start"
            )
        uri = st["uri"]
    return DbTarget(uri, name, f"embedded server {uri} (data in {root / 'db'})", embedded_root=root)


# ----------------------------------------------------------------------------------------------- collections
class Database:
    """pyacemaker's collections on one MongoDB database, with the queries the campaign and the CLI need."""

    def __init__(self, db: MongoDatabase):
        self.db = db
        self.records = db["records"]
        self.potentials = db["potentials"]
        self.campaigns = db["campaigns"]

    @classmethod
    def connect(cls, target: DbTarget, timeout_ms: int = 5000) -> Database:
        try:
            client = target.client(timeout_ms)
            client.admin.command("ping")
        except PyMongoError as exc:
            raise DatabaseError(
                f"cannot reach the database ({target.describe}): {type(exc).__name__}. "
                "Check that the server runs and the address is right (pyacemaker db status)."
            ) from None
        me = cls(client[target.name])
        me.ensure_indexes()
        return me

    @classmethod
    def from_job_store(cls, store) -> Database:
        """The database behind a connected jobflow JobStore (how jobs find it inside a FireWorks worker)."""
        docs = store.docs_store
        coll = docs._collection  # maggma keeps the pymongo collection here once connected
        return cls(coll.database)

    def ensure_indexes(self) -> None:
        self.records.create_index([("campaign", ASCENDING), ("hash", ASCENDING)], unique=True)
        self.records.create_index([("campaign", ASCENDING), ("status", ASCENDING)])
        self.records.create_index([("campaign", ASCENDING), ("provenance.iteration", ASCENDING)])
        self.records.create_index([("provenance.parent", ASCENDING)])
        self.potentials.create_index([("campaign", ASCENDING), ("iteration", DESCENDING)])
        self.campaigns.create_index([("name", ASCENDING)])

    # ------------------------------------------------------------------------------------------- records
    def insert_records(self, records: Iterable[StructureRecord]) -> list[str]:
        """Insert records; a known (campaign, hash) is left as it is. Returns the ids of newly inserted records."""
        ops, ids = [], []
        for r in records:
            doc = r.model_dump(mode="python")
            doc["_id"] = doc.pop("id")
            ops.append(
                UpdateOne({"campaign": r.campaign, "hash": r.hash}, {"$setOnInsert": doc}, upsert=True)
            )
            ids.append(r.id)
        if not ops:
            return []
        res = self.records.bulk_write(ops, ordered=False)
        new = set(res.upserted_ids.values())
        return [i for i in ids if i in new]

    def get_records(self, ids: Sequence[str]) -> list[StructureRecord]:
        """Records by id, in the order asked."""
        docs = {d["_id"]: d for d in self.records.find({"_id": {"$in": list(ids)}})}
        missing = [i for i in ids if i not in docs]
        if missing:
            raise KeyError(f"records not found: {missing[:5]}{'...' if len(missing) > 5 else ''}")
        return [_to_record(docs[i]) for i in ids]

    def find_records(self, query: dict[str, Any], sort: list | None = None) -> list[StructureRecord]:
        cur = self.records.find(query)
        if sort:
            cur = cur.sort(sort)
        return [_to_record(d) for d in cur]

    def set_labels(self, record: StructureRecord) -> None:
        self.records.update_one(
            {"_id": record.id},
            {"$set": {"labels": record.labels.model_dump(mode="python") if record.labels else None,
                      "status": record.status, "reject_reason": record.reject_reason}},
        )  # fmt: skip

    def set_status(self, ids: Sequence[str], status: str) -> None:
        self.records.update_many({"_id": {"$in": list(ids)}}, {"$set": {"status": status}})

    def training_records(self, campaign: str, settings_hash: str | None = None) -> list[StructureRecord]:
        q: dict[str, Any] = {"campaign": campaign, "status": "labelled"}
        if settings_hash:
            q["labels.settings_hash"] = settings_hash
        return self.find_records(q, sort=[("created", ASCENDING), ("_id", ASCENDING)])

    # ------------------------------------------------------------------------------------------- potentials
    def save_potential(self, doc: dict[str, Any], files: dict[str, Path]) -> str:
        """Store a potential document and its files (GridFS bucket ``potential_files``); returns its id."""
        import gridfs

        fs = gridfs.GridFS(self.db, collection="potential_files")
        doc = dict(doc)
        doc["files"] = {}
        for kind, path in files.items():
            fid = fs.put(Path(path).read_bytes(), filename=f"{doc['_id']}/{Path(path).name}")
            doc["files"][kind] = {"gridfs_id": fid, "name": Path(path).name, "path": str(path)}
        doc.setdefault("created", datetime.now(UTC))
        self.potentials.replace_one({"_id": doc["_id"]}, doc, upsert=True)
        return doc["_id"]

    def fetch_potential_files(self, potential_id: str, directory: Path) -> dict[str, Path]:
        """Write a potential's files into ``directory`` (for workers on other machines); returns their paths."""
        import gridfs

        doc = self.potentials.find_one({"_id": potential_id})
        if doc is None:
            raise KeyError(f"potential {potential_id!r} not found")
        fs = gridfs.GridFS(self.db, collection="potential_files")
        directory.mkdir(parents=True, exist_ok=True)
        out = {}
        for kind, meta in doc["files"].items():
            target = directory / meta["name"]
            if not target.exists():
                target.write_bytes(fs.get(meta["gridfs_id"]).read())
            out[kind] = target
        return out

    def latest_potential(self, campaign: str) -> dict[str, Any] | None:
        return self.potentials.find_one({"campaign": campaign}, sort=[("iteration", DESCENDING)])

    # ------------------------------------------------------------------------------------------- campaign state
    def campaign(self, name: str) -> dict[str, Any] | None:
        return self.campaigns.find_one({"_id": name})

    def update_campaign(self, name: str, set_: dict[str, Any] | None = None, inc: dict[str, Any] | None = None,
                        push: dict[str, Any] | None = None) -> None:  # fmt: skip
        upd: dict[str, Any] = {"$set": {"updated": datetime.now(UTC), **(set_ or {})}}
        if inc:
            upd["$inc"] = inc
        if push:
            upd["$push"] = push
        self.campaigns.update_one({"_id": name}, upd, upsert=True)

    def set_iteration(self, name: str, iteration: int, values: dict[str, Any]) -> None:
        """Merge values into ``iterations.<n>`` of the campaign document."""
        self.update_campaign(name, {f"iterations.{iteration}.{k}": v for k, v in values.items()})


def _to_record(doc: dict[str, Any]) -> StructureRecord:
    doc = dict(doc)
    doc["id"] = doc.pop("_id")
    if doc.get("created") and doc["created"].tzinfo is None:
        doc["created"] = doc["created"].replace(tzinfo=UTC)
    return StructureRecord.model_validate(doc)
