"""Reading a campaign config: YAML (safe loader) into :class:`CampaignConfig`, with one readable line per problem
and the nearest valid key suggested for a misspelt one."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from pyacemaker.config.schema import (
    UNION_TAGS,
    CampaignConfig,
    ConfigError,
    OracleSettings,
    oracle_settings_model,
)


def _list_item_model(ann: Any) -> type[BaseModel] | None:
    """The model of ``list[Model] | None`` annotations (None for anything else)."""
    for arg in (ann, *get_args(ann)):
        inner = get_args(arg)
        if getattr(arg, "__origin__", None) is list and inner and isinstance(inner[0], type) \
                and issubclass(inner[0], BaseModel):  # fmt: skip
            return inner[0]
    return None


def _model_at(loc: tuple[Any, ...], data: Any) -> type[BaseModel] | None:
    """The model class that owns the field at ``loc`` (for suggesting the nearest valid key); ``data`` is the
    input, whose ``type`` names the plugin that owns an ``oracle`` section."""
    model: type[BaseModel] | None = CampaignConfig
    node = data
    for part in loc[:-1]:
        tags = {k: v for d in UNION_TAGS.values() for k, v in d.items()}
        if part in tags:  # discriminated-union tag inserted by pydantic into the location
            model = tags[part]
            continue
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and -len(node) <= part < len(node) else None
            if model is not None:
                continue  # an item of a list of models (e.g. explore.conditions.0): the model stays
        else:
            node = node.get(part) if isinstance(node, dict) else None
        field = model.model_fields.get(str(part)) if model else None
        ann = field.annotation if field else None
        item = _list_item_model(ann)
        if ann is OracleSettings:  # the plugin's own settings model
            try:
                model = oracle_settings_model(node.get("type") if isinstance(node, dict) else None)
            except ValueError:
                return None
        elif item is not None:
            model = item
        elif isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        elif str(part) in UNION_TAGS:
            model = None  # the next part of the location is the union's tag
        else:
            return None
    return model


def _format_error(err: dict[str, Any], data: Any = None) -> str:
    loc = tuple(err.get("loc", ()))
    tags = {k for d in UNION_TAGS.values() for k in d}
    dotted = ".".join(str(p) for i, p in enumerate(loc) if not (i == 1 and p in tags)) or "(top level)"
    if err["type"] == "extra_forbidden":
        key = str(loc[-1])
        owner = _model_at(loc, data)
        valid = sorted(owner.model_fields) if owner else []
        close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
        hint = (
            f"; did you mean {close[0]!r}?"
            if close
            else (f"; valid keys: {', '.join(valid)}" if valid else "")
        )
        return f"unknown key {dotted!r}{hint}"
    if err["type"] == "missing":
        return f"missing required key {dotted!r}"
    if err["type"] == "union_tag_invalid":
        known = UNION_TAGS.get(str(loc[0]) if loc else "", {})
        return f"{dotted}: unknown type {err.get('input', {}).get('type')!r}; known: {', '.join(known)}"
    msg = err.get("msg", "invalid value").removeprefix("Value error, ")
    return f"{dotted}: {msg}" if loc else msg


def parse_config(data: Any, source: str = "config") -> CampaignConfig:
    """Validate a mapping, turning pydantic's report into one readable line per problem."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: expected a mapping at the top level, e.g.\n  elements: [Cu]\n  oracle: {{type: emt}}"
        )
    try:
        return CampaignConfig.model_validate(data)
    except ValidationError as exc:
        lines = [_format_error(e, data) for e in exc.errors()]
        raise ConfigError(f"{source}: " + "; ".join(dict.fromkeys(lines))) from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """Where and what the YAML parser choked on, in one line."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or problem is None:
        return " ".join(str(exc).split())
    context, cmark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and cmark is not None and cmark.line != mark.line:
        context += f" that starts on line {cmark.line + 1}"
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" + (f", {context}" if context else "")


def load_config(path: str | Path) -> CampaignConfig:
    """Read and validate a campaign YAML file (safe loader); the name defaults to the file's stem."""
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a config file" if path.is_dir() else "not found"
        raise ConfigError(f"config file {str(path)!r} {what}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = "it is not a text file" if isinstance(exc, UnicodeDecodeError) else exc.strerror or exc
        raise ConfigError(f"cannot read config file {str(path)!r}: {why}; give a YAML text file") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({_yaml_problem(exc)})") from None
    cfg = parse_config(data, str(path))
    if cfg.name is None:
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem)[:64] or "campaign"
        cfg.name = stem
    return cfg
