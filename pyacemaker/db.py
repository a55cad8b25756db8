"""Database access: where the campaign lives, its collections, and provenance queries.

One MongoDB database holds everything: FireWorks' collections (the LaunchPad), jobflow's outputs (JobStore with a
GridFS store for bulky data), and pyacemaker's own collections:

- ``records``    structure records (unique per campaign and content hash)
- ``potentials`` one document per trained potential (files in the ``potential_files`` GridFS bucket)
- ``campaigns``  campaign state: config, iterations, end state, counters

Readers get typed documents (:meth:`Database.campaign_doc`, :meth:`Database.potential`); writers take pydantic
models and store them as JSON (:meth:`Database.set_iteration_part`), so both sides agree on one schema.

The target is, in order: ``PYACEMAKER_DB_URI`` (+ ``PYACEMAKER_DB_NAME``), a FireWorks launchpad file, else the
embedded server (:mod:`pyacemaker.server`, which runs with authentication). The user's credentials stay in the
environment or the user's launchpad file: nothing here prints, logs or writes them. The embedded server's generated
credentials live in its data directory (0700): ``credentials.json`` and the launchpad/jobflow files derived from it
(:meth:`DbTarget.private_files`, 0600); URIs are printed only masked (:func:`redact`) or without them.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from pydantic import BaseModel
from pymongo import ASCENDING, DESCENDING, MongoClient, UpdateOne
from pymongo.database import Database as MongoDatabase
from pymongo.errors import OperationFailure, PyMongoError

from pyacemaker import fw_ids
from pyacemaker.schemas.campaign import CampaignDoc
from pyacemaker.schemas.potential import PotentialDoc, PotentialFile
from pyacemaker.schemas.records import StructureRecord
from pyacemaker.schemas.stages import ExploreOut
from pyacemaker.server import EmbeddedServer, default_data_dir, write_private

DEFAULT_DB_NAME = "pyacemaker"


class DatabaseError(RuntimeError):
    """The database cannot be reached or is misconfigured (message says how to fix it)."""


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://)(.*)$", re.S)
_HOSTS = re.compile(r"^[A-Za-z0-9._\-:\[\],%]+$")  # what may follow the userinfo's "@": a host list


def _split_userinfo(uri: str) -> tuple[str, str | None, str]:
    """``(scheme://, userinfo or None, the rest)``. The userinfo ends at the last "@" that a plausible host list
    follows, so a password holding "@", ":", "/" or "?" (URL-encoded or not) is never cut short."""
    m = _SCHEME.match(uri)
    if not m:
        return "", None, uri
    scheme, body = m.group(1), m.group(2)
    ats = [i for i, ch in enumerate(body) if ch == "@"]
    if not ats:
        return scheme, None, body
    for i in reversed(ats):
        host = re.split(r"[/?]", body[i + 1 :], maxsplit=1)[0]
        if host and _HOSTS.match(host):
            return scheme, body[:i], body[i + 1 :]
    return scheme, body[: ats[-1]], body[ats[-1] + 1 :]  # nothing host-like: hide up to the last "@"


def has_userinfo(uri: str) -> bool:
    """Whether a URI carries a user (and password) before its host."""
    return bool(_split_userinfo(uri)[1])


def strip_userinfo(uri: str) -> str:
    """The URI without user and password (and without the authSource option that came with them)."""
    scheme, userinfo, rest = _split_userinfo(uri)
    if userinfo is None:
        return uri
    rest = re.sub(r"([?&])authSource=[^&]*&?", r"\1", rest).rstrip("?&")
    return f"{scheme}{rest}"


def redact(uri: str) -> str:
    """A URI with its user and password replaced by ``***``, safe to print, whatever characters the password holds
    (``mongodb://alice:p@ss@host/`` -> ``mongodb://***@host/``); an AWS session token in the options too."""
    scheme, userinfo, rest = _split_userinfo(uri)
    out = f"{scheme}***@{rest}" if userinfo is not None else uri
    return re.sub(r"(AWS_SESSION_TOKEN(?::|%3A))[^&,]*", r"\1***", out, flags=re.I)


def _host_port(uri: str) -> tuple[str, int] | None:
    """The single host and port of a credential-free ``mongodb://`` URI (None for anything else)."""
    m = re.match(r"^mongodb://(\[[^\]]+\]|[^/:?@,]+)(?::(\d+))?(?:/[^?]*)?(?:[?].*)?$", uri)
    return (m.group(1), int(m.group(2) or 27017)) if m else None


def _login(uri: str) -> tuple[str | None, str | None]:
    """(user, password) of a URI's userinfo, URL-decoded; (None, None) without one."""
    userinfo = _split_userinfo(uri)[1]
    if not userinfo:
        return None, None
    user, _, pwd = userinfo.partition(":")
    return unquote_plus(user), unquote_plus(pwd)


@dataclass
class DbTarget:
    """How to reach the database. ``uri`` may hold credentials: print ``describe`` instead.

    ``has_credentials``: the user's credentials (in PYACEMAKER_DB_URI or the user's launchpad file); pyacemaker writes
    them into no file, and workers get them from the environment or that launchpad file. ``auth_root``: the data
    directory of the embedded server whose generated credentials ``uri`` carries (found from the data directory even
    when the target was given as a plain ``mongodb://127.0.0.1:PORT/``); they are written only into private files
    (0600, in a 0700 directory) of that data directory (:meth:`private_files`)."""

    uri: str | None
    name: str
    describe: str
    launchpad_file: str | None = None
    embedded_root: Path | None = None
    has_credentials: bool = False
    auth_root: Path | None = None

    def __post_init__(self) -> None:
        if self.auth_root is None and not self.has_credentials:
            self._find_embedded_credentials()

    def _find_embedded_credentials(self) -> None:
        """The address of a running embedded server, without credentials or with exactly that server's: log in
        with the credentials of its data directory (any other credentials are left as they are)."""
        from pyacemaker.server import ServerError, find_running

        login: tuple[str | None, str | None] = (None, None)
        if self.uri:
            where, login = _host_port(strip_userinfo(self.uri)), _login(self.uri)
        elif self.launchpad_file:
            try:
                spec = _read_launchpad(Path(self.launchpad_file))
            except DatabaseError:
                return
            host = str(spec.get("host", "localhost"))
            if spec.get("uri_mode"):
                where, login = _host_port(strip_userinfo(host)), _login(host)
            else:
                where = (host, int(spec.get("port") or 27017))
                login = (spec.get("username"), spec.get("password"))
        else:
            return
        if where is None:
            return
        try:
            server = find_running(*where)
            creds = server.credentials() if server else None
            uri = server.client_uri() if server else None
        except ServerError:
            return
        if not server or not creds or not uri:
            return
        if login != (None, None) and login != (creds["user"], creds["password"]):
            return  # someone's own login on that server: theirs to keep
        self.uri, self.auth_root = uri, server.root

    @property
    def private(self) -> bool:
        """Its URI holds the embedded server's generated credentials (see the class docstring)."""
        return self.auth_root is not None

    @property
    def public_uri(self) -> str | None:
        """The URI without credentials (safe to put into a file or an environment variable)."""
        return strip_userinfo(self.uri) if self.uri else None

    def _own_launchpad_file(self) -> bool:
        """Whether FireWorks should read the user's launchpad file itself (else ``uri`` has what is needed)."""
        return bool(self.launchpad_file) and not self.private

    def client(self, timeout_ms: int = 5000) -> MongoClient:
        if self._own_launchpad_file():
            lp = self.launchpad()
            return lp.connection
        return MongoClient(self.uri, serverSelectionTimeoutMS=timeout_ms)

    def launchpad(self):
        """A FireWorks LaunchPad on this database (its ids taken safely: :mod:`pyacemaker.fw_ids`)."""
        from fireworks import LaunchPad

        fw_ids.install()

        if self._own_launchpad_file():
            return LaunchPad.from_file(self.launchpad_file)
        if self.launchpad_file:  # the user's launchpad file on the embedded server: its settings, our login
            spec = _read_launchpad(Path(self.launchpad_file))
            spec.update(host=self.uri, name=self.name, uri_mode=True, port=None, username=None, password=None,
                        authsource=None)  # fmt: skip
            return LaunchPad.from_dict(spec)
        return LaunchPad(host=self.uri, name=self.name, uri_mode=True, strm_lvl="ERROR")

    def job_store(self):
        """jobflow JobStore on this database: outputs in a MongoStore, bulky ``data`` in GridFS."""
        from jobflow import JobStore
        from maggma.stores import GridFSStore, MongoStore

        if self._own_launchpad_file():
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
        """The ``JOB_STORE`` section of a jobflow.yaml for this target. Never for the user's credentials; with the
        embedded server's it holds them (write it only with :func:`write_private`, see :meth:`private_files`)."""
        if self.has_credentials:
            raise DatabaseError("refusing to write credentials into a jobflow config file")
        uri, name = self.uri, self.name
        if self._own_launchpad_file():
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
        """A my_launchpad.yaml for this target. Never for the user's credentials; with the embedded server's it holds
        them (write it only with :func:`write_private`, see :meth:`private_files`)."""
        if self.has_credentials:
            raise DatabaseError("refusing to write credentials into a launchpad file")
        return {"host": self.uri, "name": self.name, "uri_mode": True, "strm_lvl": "INFO"}

    def private_files(self) -> dict[str, Path]:
        """my_launchpad.yaml and jobflow.yaml for plain FireWorks tools (lpad, rlaunch, qlaunch) on the embedded
        server, written with its credentials into ``DATA_DIR/launchpads/<database>/`` (directories 0700, files
        0600) and refreshed on every call (the port may have changed). Only for :attr:`private` targets."""
        import yaml

        from pyacemaker.server import private_dir

        if self.auth_root is None:
            raise DatabaseError(
                "only the embedded server's credentials are written, and only into its data directory"
            )
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", self.name)
        where = private_dir(private_dir(self.auth_root / "launchpads") / safe)
        lp, jf = where / "my_launchpad.yaml", where / "jobflow.yaml"
        for path, text in ((lp, yaml.safe_dump(self.launchpad_spec())),
                           (jf, yaml.safe_dump({"JOB_STORE": self.jobflow_store_spec()}))):  # fmt: skip
            if not path.is_file() or path.read_text() != text:
                write_private(path, text)
        return {"launchpad": lp, "jobflow": jf}

    def worker_env(self) -> dict[str, str]:
        """What a worker process started from here needs in its environment to reach this database with
        :func:`resolve_target` (``python -m pyacemaker.campaign.workers``). No credentials, except the user's own
        PYACEMAKER_DB_URI, which a child process inherits anyway; give it to processes only, never to a file."""
        env = {"PYACEMAKER_DB_NAME": self.name}
        if self.private:
            env["PYACEMAKER_DATA_DIR"] = str(self.auth_root)  # where the credentials are
            if not self.launchpad_file:
                env["PYACEMAKER_DB_URI"] = self.public_uri or ""
        elif self.uri:
            env["PYACEMAKER_DB_URI"] = self.uri
        return env


def _read_launchpad(path: Path) -> dict[str, Any]:
    import yaml

    try:
        spec = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DatabaseError(f"launchpad file {path} is not valid YAML: {exc}") from None
    except OSError as exc:
        raise DatabaseError(f"launchpad file {path} cannot be read: {exc.strerror}") from None
    if not isinstance(spec, dict):
        raise DatabaseError(f"launchpad file {path} is not a mapping of settings")
    return spec


def _user_or_embedded(uri: str | None, name: str, describe: str, creds: bool, **kw: Any) -> DbTarget:
    """A target of the user's: an embedded server's address (with no login or its own) uses that server's
    credentials (:attr:`DbTarget.private`); other credentials are the user's (``has_credentials``)."""
    target = DbTarget(uri, name, describe, **kw)
    if target.private or not creds:
        return target
    return DbTarget(uri, name, describe, has_credentials=True, **kw)


def resolve_target(
    launchpad: str | None = None,
    name: str | None = None,
    start_embedded: bool = True,
    data_dir: Path | str | None = None,
) -> DbTarget:
    """Find the database: $PYACEMAKER_DB_URI, a launchpad file, else the embedded server (started if needed)."""
    name = os.environ.get("PYACEMAKER_DB_NAME") or name or DEFAULT_DB_NAME
    uri = os.environ.get("PYACEMAKER_DB_URI")
    if uri:
        return _user_or_embedded(uri, name, f"PYACEMAKER_DB_URI ({redact(uri)}), database {name!r}",
                                 has_userinfo(uri))  # fmt: skip
    if launchpad:
        path = Path(launchpad).expanduser()
        if not path.is_file():
            raise DatabaseError(f"launchpad file {str(path)!r} not found")
        spec = _read_launchpad(path)
        host = str(spec.get("host", "localhost"))
        creds = bool(spec.get("username") or spec.get("password") or has_userinfo(host))
        where = redact(host) if spec.get("uri_mode") else f"{host}:{spec.get('port', 27017)}"
        return _user_or_embedded(
            None, spec.get("name") or name, f"launchpad file {path} ({where}, database {spec.get('name')!r})",
            creds, launchpad_file=str(path.resolve()),
        )  # fmt: skip
    root = Path(data_dir) if data_dir else default_data_dir()
    server = EmbeddedServer(root)
    if start_embedded:
        server.start()
    st = server.status()
    uri = server.client_uri(st) if st else None
    if not st or not uri:
        raise DatabaseError(
            f"the embedded database is not running (data in {root}); start it: pyacemaker db start"
        )
    return DbTarget(uri, name, f"embedded server {st['uri']} (data in {root / 'db'})", embedded_root=root,
                    auth_root=root)  # fmt: skip


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
        except OperationFailure as exc:
            if exc.code in (13, 18):  # Unauthorized, AuthenticationFailed
                raise DatabaseError(
                    f"authentication failed for the database ({target.describe}): check the user name and password "
                    "in PYACEMAKER_DB_URI or in your launchpad file"
                ) from None
            raise DatabaseError(f"the database ({target.describe}) refused a command: {exc.code}") from None
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
        self.records.create_index([("hash", ASCENDING)])  # labels shared across campaigns (shared_labels)
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

    def shared_labels(
        self, hashes: Sequence[str], settings_hash: str, campaign: str
    ) -> dict[str, tuple[str, Any]]:
        """Labels other campaigns hold for these structures (content hashes), computed with the same oracle
        settings: ``{hash: (record id, Labels)}``. A structure labelled once is never computed again."""
        from pyacemaker.schemas.records import Labels

        if not hashes:
            return {}
        out: dict[str, tuple[str, Any]] = {}
        query = {"hash": {"$in": list(hashes)}, "campaign": {"$ne": campaign},
                 "labels.settings_hash": settings_hash, "status": {"$in": ["labelled", "test"]}}  # fmt: skip
        for d in self.records.find(query, {"hash": 1, "labels": 1}).sort("_id", ASCENDING):
            out.setdefault(d["hash"], (d["_id"], Labels.model_validate(d["labels"])))
        return out

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

    def labelled_hashes(self, campaign: str) -> set[str]:
        """Content hashes of the campaign's structures that carry labels (a candidate equal to one is not new)."""
        return {
            d["hash"] for d in self.records.find({"campaign": campaign, "labels": {"$ne": None}}, {"hash": 1})
        }

    def count_records(
        self, campaign: str, status: str | None = None, settings_hash: str | None = None
    ) -> int:
        q: dict[str, Any] = {"campaign": campaign}
        if status is not None:
            q["status"] = status
        if settings_hash is not None:
            q["labels.settings_hash"] = settings_hash
        return self.records.count_documents(q)

    # ------------------------------------------------------------------------------------------- potentials
    def save_potential(self, doc: PotentialDoc | Mapping[str, Any], files: Mapping[str, Path]) -> str:
        """Store a potential document and its files (GridFS bucket ``potential_files``) with each file's sha256
        and size, so a copy on disk can be checked before it is reused; returns its id.

        A mapping is checked against :class:`PotentialDoc` and stored with its own keys; a PotentialDoc is stored
        without its ``None`` fields (older readers take a missing key for "not recorded")."""
        if isinstance(doc, PotentialDoc):
            out = doc.model_dump(mode="python", by_alias=True, exclude_none=True)
        else:
            PotentialDoc.model_validate(doc)
            out = dict(doc)
        out["files"] = {
            kind: self.put_file("potential_files", f"{out['_id']}/{Path(path).name}", Path(path)).model_dump(
                mode="python"
            )
            for kind, path in files.items()
        }
        if out.get("created") is None:
            out["created"] = datetime.now(UTC)
        self.potentials.replace_one({"_id": out["_id"]}, out, upsert=True)
        return out["_id"]

    def fetch_potential_files(self, potential_id: str, directory: Path) -> dict[str, Path]:
        """Write a potential's files into ``directory`` (for workers on other machines); returns their paths.

        A file already there is reused only when its size and sha256 match the stored ones (a truncated copy or
        another potential's file of the same name is fetched again)."""
        doc = self.potential(potential_id)
        if doc is None:
            raise KeyError(f"potential {potential_id!r} not found")
        return {kind: self.fetch_file("potential_files", meta, directory) for kind, meta in doc.files.items()}

    def put_file(self, bucket: str, name: str, path: Path) -> PotentialFile:
        """Store a file in GridFS bucket ``bucket``; its record (id, name, where it was written, sha256, size)."""
        import gridfs

        data = path.read_bytes()
        fid = gridfs.GridFS(self.db, collection=bucket).put(data, filename=name)
        return PotentialFile(gridfs_id=fid, name=path.name, path=str(path), sha256=hashlib.sha256(data).hexdigest(),
                             size=len(data))  # fmt: skip

    def fetch_file(self, bucket: str, meta: PotentialFile, directory: Path) -> Path:
        """The stored file written into ``directory``; a copy already there is reused only when its size and
        sha256 match (a truncated copy or another file of the same name is fetched again)."""
        import gridfs

        directory.mkdir(parents=True, exist_ok=True)
        target = directory / meta.name
        if not file_matches(target, meta):
            part = target.with_name(f"{target.name}.part{os.getpid()}")
            part.write_bytes(gridfs.GridFS(self.db, collection=bucket).get(meta.gridfs_id).read())
            part.replace(target)  # a reader never sees a half-written file
        return target

    def potential(self, potential_id: str) -> PotentialDoc | None:
        doc = self.potentials.find_one({"_id": potential_id})
        return PotentialDoc.model_validate(doc) if doc is not None else None

    def latest_potential(self, campaign: str, iteration: int | None = None) -> PotentialDoc | None:
        """The campaign's potential of the highest iteration (of ``iteration`` when given)."""
        q: dict[str, Any] = {"campaign": campaign}
        if iteration is not None:
            q["iteration"] = iteration
        # a distillation's base potential shares iteration 0 with the first fit, which is the later one
        doc = self.potentials.find_one(q, sort=[("iteration", DESCENDING), ("created", DESCENDING)])
        return PotentialDoc.model_validate(doc) if doc is not None else None

    def final_potentials(self, campaign: str) -> int:
        """How many final fits (of every label) the campaign has stored."""
        return self.potentials.count_documents({"campaign": campaign, "final": True})

    def potentials_trained_on(self, record_id: str) -> list[str]:
        """Ids of the potentials whose training set holds the record, oldest first."""
        cur = self.potentials.find({"dataset_ids": record_id}, {"_id": 1}).sort("iteration", ASCENDING)
        return [d["_id"] for d in cur]

    # ------------------------------------------------------------------------------------------- campaign state
    def campaign(self, name: str) -> dict[str, Any] | None:
        """The stored campaign document as it is (readers: :meth:`campaign_doc`)."""
        return self.campaigns.find_one({"_id": name})

    def campaign_doc(self, name: str) -> CampaignDoc | None:
        """The campaign document, validated (unknown keys ignored)."""
        doc = self.campaigns.find_one({"_id": name})
        return CampaignDoc.model_validate(doc) if doc is not None else None

    def campaign_docs(self, name: str | None = None) -> list[CampaignDoc]:
        """Every campaign (or the one named), by name."""
        q = {"_id": name} if name is not None else {}
        return [CampaignDoc.model_validate(d) for d in self.campaigns.find(q).sort("_id", ASCENDING)]

    def update_campaign(self, name: str, set_: dict[str, Any] | None = None, inc: dict[str, Any] | None = None,
                        push: dict[str, Any] | None = None) -> None:  # fmt: skip
        """``$set`` (pydantic models dumped as JSON), ``$inc`` and ``$push`` on the campaign document."""
        upd: dict[str, Any] = {
            "$set": {"updated": datetime.now(UTC), **{k: to_stored(v) for k, v in (set_ or {}).items()}}
        }
        if inc:
            upd["$inc"] = inc
        if push:
            upd["$push"] = {k: to_stored(v) for k, v in push.items()}
        self.campaigns.update_one({"_id": name}, upd, upsert=True)

    def set_campaign_part(self, name: str, **parts: BaseModel | Any) -> None:
        """Set top-level parts of the campaign document (``final_fit=FinalFit(...)``, ``stage="train"``)."""
        self.update_campaign(name, parts)

    def set_iteration(self, name: str, iteration: int, values: dict[str, Any]) -> None:
        """Merge values into ``iterations.<n>`` of the campaign document."""
        self.update_campaign(name, {f"iterations.{iteration}.{k}": v for k, v in values.items()})

    def set_iteration_part(self, name: str, iteration: int, **parts: BaseModel | Any) -> None:
        """Set parts of ``iterations.<n>`` (``train=TrainOut(...)``, ``decision="continue"``); models are stored
        as JSON, so :class:`~pyacemaker.schemas.campaign.IterationDoc` reads them back."""
        self.set_iteration(name, iteration, parts)

    def set_explore_run(self, name: str, iteration: int, index: int, run: ExploreOut) -> None:
        """``iterations.<n>.explore.<index>``: one exploration run (its candidate ids stay in the workflow)."""
        self.set_iteration(
            name, iteration, {f"explore.{index}": run.model_dump(mode="json", exclude={"candidate_ids"})}
        )


def to_stored(value: Any) -> Any:
    """A value as the campaign document stores it: pydantic models (also inside lists and dicts) as JSON."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {k: to_stored(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_stored(v) for v in value]
    return value


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_matches(path: Path, meta: PotentialFile) -> bool:
    """Whether ``path`` holds the stored file (size and sha256; only existence for files stored without them)."""
    if not path.is_file():
        return False
    if meta.size is not None and path.stat().st_size != meta.size:
        return False
    return meta.sha256 is None or sha256_file(path) == meta.sha256


def _to_record(doc: dict[str, Any]) -> StructureRecord:
    doc = dict(doc)
    doc["id"] = doc.pop("_id")
    if doc.get("created") and doc["created"].tzinfo is None:
        doc["created"] = doc["created"].replace(tzinfo=UTC)
    return StructureRecord.model_validate(doc)
