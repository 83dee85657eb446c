"""pytest plugin (entry point `pytest11`): collects `*.convo.yaml` files as test items.

    pytest tests/conversations                 # one test item per script
    pytest tests/conversations --convo-llm embedded
    pytest -m conversation                     # only the scripts
    pytest -p no:recochat_conversations        # turn the plugin off

A failing script shows the turn, the expectation and what was shown; a malformed one
shows `file:line: key 'x': message`. Neither shows a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .script import ConversationScript, ScriptError, is_script, load_script, script_stem

_RUNNER = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("recochat", "recochat conversation scripts")
    group.addoption(
        "--convo-llm",
        default="template",
        help="reply writer for *.convo.yaml scripts: template (default, deterministic), embedded, openai or an endpoint URL",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conversation: a scripted recochat conversation (*.convo.yaml)")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_script(file_path):
        return ConversationFile.from_parent(parent, path=file_path)
    return None


class ConversationFailed(Exception):
    """A script ran and an expectation failed; the message is the runner's report."""


class ConversationFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            script = load_script(self.path)
        except ScriptError as error:  # still one item, which fails with the message
            yield ConversationItem.from_parent(self, name=script_stem(self.path), script=None, error=error)
            return
        yield ConversationItem.from_parent(self, name=_node_name(script.name), script=script, error=None)


def _node_name(name: str) -> str:
    return " ".join(name.replace("::", ":").split()) or "conversation"


class ConversationItem(pytest.Item):
    def __init__(self, *, script: ConversationScript | None, error: ScriptError | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.script = script
        self.error = error
        self.add_marker(pytest.mark.conversation)

    def runtest(self) -> None:
        from ..errors import SetupError
        from .report import format_details

        if self.error is not None:
            raise self.error
        assert self.script is not None
        try:
            result = _runner(self.config).run(self.script)
        except SetupError as error:  # no encoder, bad --convo-llm or settings: not the script's fault
            raise ConversationFailed(f"cannot run conversation scripts: {error}") from None
        if not result.passed:
            raise ConversationFailed(format_details(result))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, (ConversationFailed, ScriptError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, 0, f"conversation: {self.name}"


def _runner(config: pytest.Config) -> Any:
    from .runner import Runner

    if _RUNNER not in config.stash:
        config.stash[_RUNNER] = Runner(config.getoption("--convo-llm"))
    return config.stash[_RUNNER]
