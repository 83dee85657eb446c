"""The conversation script format (`*.convo.yaml`): YAML with line numbers, strict validation.

One conversation per file:

    name: comedy, then no horror
    catalog: catalogs/books.csv   # relative to this file, or "demo"
    user: alice                   # optional; every run starts from a fresh profile
    turns:
      - say: "something funny but smart"
        expect: {items_min: 3, any_have: {genres: [comedy]}}
      - feedback: {rank: 1, value: dislike}

Every problem is reported as `file:line: key 'x': message` (a `ScriptError` holding all of
them), never as a traceback.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

SCRIPT_SUFFIXES = (".convo.yaml", ".convo.yml")
CATALOG_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson")
DEMO = "demo"
DEFAULT_USER = "tester"
ReplyKind = Literal["recommend", "cold_start", "about", "why", "smalltalk", "empty", "reset"]


def is_script(path: Path) -> bool:
    return path.name.endswith(SCRIPT_SUFFIXES)


def script_stem(path: Path) -> str:
    for suffix in SCRIPT_SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.stem


# -- errors ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    line: int | None
    key: str | None
    message: str

    def format(self, path: Path | str) -> str:
        where = f"{path}:{self.line}" if self.line else f"{path}"
        return f"{where}: key '{self.key}': {self.message}" if self.key else f"{where}: {self.message}"


class ScriptError(Exception):
    """A script that cannot run as written; the message names file, line and key of each problem."""

    def __init__(self, path: Path | str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(p.format(path) for p in problems))

    @property
    def line(self) -> int | None:
        return self.problems[0].line if self.problems else None


# -- YAML with line numbers ----------------------------------------------------------------------

_BOOL = "tag:yaml.org,2002:bool"


class _Loader(yaml.SafeLoader):
    """SafeLoader where only true/false are booleans: `say: no` stays the string "no"."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))

Loc = tuple[str | int, ...]


def _yaml_problem(error: yaml.YAMLError) -> Problem:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        context = error.context or ""
        if context and error.context_mark is not None and error.problem_mark is not None:
            context += f" (from line {error.context_mark.line + 1})"
        text = ": ".join(t for t in (context, error.problem) if t) or "invalid YAML"
        return Problem(mark.line + 1 if mark else None, None, f"invalid YAML: {text}")
    return Problem(None, None, f"invalid YAML: {error}")


def _convert(node: yaml.Node, loc: Loc, loader: _Loader, lines: dict[Loc, int], problems: list[Problem]) -> Any:
    """Plain Python values from a composed node tree, recording each key's and item's line."""
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float)) or isinstance(key, bool):
                problems.append(Problem(line, None, f"keys must be plain names, not {key!r}"))
                continue
            key = str(key)
            if key in out:
                problems.append(Problem(line, key, "duplicate key (YAML would silently keep only the last one)"))
                continue
            lines[loc + (key,)] = line
            out[key] = _convert(value_node, loc + (key,), loader, lines, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(child, loc + (i,), loader, lines, problems) for i, child in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def read_yaml(path: Path) -> tuple[Any, dict[Loc, int]]:
    """The document and a map from key/item paths to 1-based lines; ScriptError on bad YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScriptError(path, [Problem(None, None, "no such script file")]) from None
    except UnicodeDecodeError as error:
        raise ScriptError(
            path, [Problem(None, None, f"not UTF-8 text ({error.reason} at byte {error.start})")]
        ) from None
    except OSError as error:
        raise ScriptError(path, [Problem(None, None, f"cannot read: {error.strerror or error}")]) from None
    loader = _Loader(text)
    lines: dict[Loc, int] = {}
    problems: list[Problem] = []
    try:
        node = loader.get_single_node()
        if node is None:
            raise ScriptError(path, [Problem(1, None, "the script is empty; it needs catalog and turns")])
        value = _convert(node, (), loader, lines, problems)
    except yaml.YAMLError as error:
        raise ScriptError(path, [_yaml_problem(error)]) from None
    finally:
        loader.dispose()
    if problems:
        raise ScriptError(path, problems)
    return value, lines


# -- the schema ------------------------------------------------------------------------------------


def _scalar_text(value: Any) -> Any:
    """Ids and metadata values may be written unquoted: `exclude: [42]`, `year: [1999]`."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, (str, int, float)) and not isinstance(value, bool) else value


Text = Annotated[str, BeforeValidator(_scalar_text)]
Texts = Annotated[list[Text], BeforeValidator(_one_or_many), Field(min_length=1)]
FieldValues = Annotated[dict[str, Texts], Field(min_length=1)]
Count = Annotated[StrictInt, Field(ge=0)]


def _problem(key: str, message: str) -> PydanticCustomError:
    return PydanticCustomError("script", message, {"key": key})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expect(_Strict):
    items_min: Count | None = None
    """At least this many items shown."""
    items_max: Count | None = None
    """At most this many items shown (0: nothing fits)."""
    any_have: FieldValues | None = None
    """At least one shown item whose every listed field has one of the listed values."""
    none_have: FieldValues | None = None
    """No shown item has any of the listed values in the listed fields."""
    all_have: FieldValues | None = None
    """Every shown item has, in every listed field, one of the listed values."""
    include: Texts | None = None
    """Ids or titles of which at least one must be shown (within the top `within`, when given)."""
    within: Annotated[StrictInt, Field(ge=1)] | None = None
    exclude: Texts | None = None
    """Ids or exact titles that must not be shown."""
    not_repeated: StrictBool = False
    """Nothing shown in an earlier turn of this conversation."""
    whys_distinct: StrictBool = False
    """No two shown items have the same why: each one says what fits about that item."""
    text_contains: Texts | None = None
    text_not_contains: Texts | None = None
    kind: ReplyKind | None = None
    """The kind of reply: recommend, cold_start, about, why, smalltalk or empty."""

    @model_validator(mode="after")
    def _consistent(self) -> Expect:
        if self.within is not None and not self.include:
            raise _problem("within", "'within' limits 'include'; add include: [ids or titles]")
        if self.items_min is not None and self.items_max is not None and self.items_min > self.items_max:
            raise _problem("items_max", f"items_max {self.items_max} is below items_min {self.items_min}")
        return self


class Feedback(_Strict):
    rank: Annotated[StrictInt, Field(ge=1)] | None = None
    """1-based position in the last reply that showed items."""
    id: Text | None = None
    value: Literal["like", "dislike"]

    @model_validator(mode="after")
    def _one_target(self) -> Feedback:
        if (self.rank is None) == (self.id is None):
            raise _problem("rank", "give exactly one of rank (1-based position in the last reply) or id")
        return self


class Turn(_Strict):
    say: Text | None = None
    feedback: Feedback | None = None
    expect: Expect | None = None

    @model_validator(mode="after")
    def _one_action(self) -> Turn:
        if self.say is None and self.feedback is None:
            raise _problem("say", "each turn needs 'say: <message>' or 'feedback: {rank: N, value: like|dislike}'")
        if self.say is not None and self.feedback is not None:
            raise _problem("feedback", "a turn is either 'say' or 'feedback', not both; split it into two turns")
        if self.feedback is not None and self.expect is not None:
            raise _problem("expect", "'expect' is not allowed on a feedback step; put it on the next 'say' turn")
        return self


class ScriptModel(_Strict):
    name: Text | None = None
    catalog: Text
    user: Text = DEFAULT_USER
    turns: Annotated[list[Turn], Field(min_length=1)]


_FIELDS_UNDER: dict[str | None, type[BaseModel]] = {
    None: ScriptModel,
    "turns": Turn,
    "expect": Expect,
    "feedback": Feedback,
}
_HINTS = {
    "rank": "ranks are 1-based positions in the last reply",
    "catalog": "a path relative to this script (CSV or JSONL), or 'demo'",
    "turns": "a list of turns, each '- say: ...' or '- feedback: {...}'",
}


# -- the loaded script ---------------------------------------------------------------------------


@dataclass
class ConversationScript:
    path: Path
    name: str
    catalog: Path | None
    """None means the packaged demo catalog."""
    user: str
    turns: list[Turn]
    lines: dict[Loc, int]

    def line_of(self, *loc: str | int) -> int | None:
        """The line of a key or item; the nearest enclosing one when it is not written out."""
        path: Loc = tuple(loc)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def error(self, loc: Loc, key: str | None, message: str) -> ScriptError:
        return ScriptError(self.path, [Problem(self.line_of(*loc), key, message)])


def _line_of(lines: dict[Loc, int], loc: Loc) -> int | None:
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def _translate(error: ValidationError, lines: dict[Loc, int]) -> list[Problem]:
    problems = []
    for e in error.errors():
        loc: Loc = tuple(e["loc"])
        kind = e["type"]
        ctx = e.get("ctx") or {}
        names = [part for part in loc if isinstance(part, str)]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            parent = next((p for p in reversed(loc[:-1]) if isinstance(p, str) and p in _FIELDS_UNDER), None)
            known = list(_FIELDS_UNDER[parent].model_fields)
            close = difflib.get_close_matches(key, known, n=1)
            message = f"unknown key; {'did you mean ' + repr(close[0]) + '? ' if close else ''}expected one of: {', '.join(known)}"
            problems.append(Problem(_line_of(lines, loc), key, message))
            continue
        if kind == "missing":
            key = str(loc[-1])
            message = "required key is missing" + (f" ({_HINTS[key]})" if key in _HINTS else "")
            problems.append(Problem(_line_of(lines, loc[:-1]), key, message))
            continue
        if "key" in ctx:
            key = str(ctx["key"])
            line = lines.get(loc + (key,)) or _line_of(lines, loc)
        else:
            key = names[-1] if names else ""
            line = _line_of(lines, loc)
        message = re.sub(r" or instance of \w+", "", e["msg"])
        message = message[:1].lower() + message[1:]
        if key in _HINTS and kind != "script":
            message += f" ({_HINTS[key]})"
        problems.append(Problem(line, key or None, message))
    return problems


def load_script(path: Path) -> ConversationScript:
    """Parse and validate one script file; ScriptError lists every problem with its line."""
    path = Path(path)
    data, lines = read_yaml(path)
    if not isinstance(data, dict):
        raise ScriptError(
            path, [Problem(lines.get(()), None, "a script is a mapping with keys name, catalog, user and turns")]
        )
    try:
        model = ScriptModel.model_validate(data)
    except ValidationError as error:
        raise ScriptError(path, _translate(error, lines)) from None
    catalog: Path | None = None
    if model.catalog.strip().lower() != DEMO:
        catalog = (path.parent / model.catalog).resolve()
        line = lines.get(("catalog",))
        if not catalog.is_file():
            raise ScriptError(
                path,
                [
                    Problem(
                        line,
                        "catalog",
                        f"no catalog file {model.catalog!r} (looked for {catalog}); "
                        f"use a path relative to this script, or 'demo'",
                    )
                ],
            )
        if not catalog.name.lower().endswith(CATALOG_SUFFIXES):
            raise ScriptError(
                path,
                [
                    Problem(
                        line,
                        "catalog",
                        f"{model.catalog!r} is not a catalog file; use {', '.join(CATALOG_SUFFIXES)} or 'demo'",
                    )
                ],
            )
    return ConversationScript(
        path=path,
        name=model.name or script_stem(path),
        catalog=catalog,
        user=model.user,
        turns=list(model.turns),
        lines=lines,
    )
