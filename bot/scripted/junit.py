"""JUnit XML for `recochat test --junit FILE`: one <testcase> per script."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree as ET

from .report import ScriptResult, display_path, format_details
from .script import script_stem

_INVALID_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub("?", text)


def junit_tree(
    results: list[ScriptResult], suite: str = "recochat conversations", llm: str = "template"
) -> ET.ElementTree:
    failures = sum(r.outcome == "failed" for r in results)
    errors = sum(r.outcome == "error" for r in results)
    total = sum(r.seconds for r in results)
    root = ET.Element(
        "testsuites", tests=str(len(results)), failures=str(failures), errors=str(errors), time=f"{total:.3f}"
    )
    suite_el = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        time=f"{total:.3f}",
    )
    properties = ET.SubElement(suite_el, "properties")
    ET.SubElement(properties, "property", name="writer", value=llm)
    for result in results:
        shown_path = display_path(result.path)
        classname = str(Path(shown_path).parent / script_stem(Path(shown_path))).replace("/", ".").replace("\\", ".")
        case = ET.SubElement(
            suite_el,
            "testcase",
            classname=classname,
            name=_clean(result.name),
            file=shown_path,
            time=f"{result.seconds:.3f}",
        )
        if result.outcome != "passed":
            tag = "failure" if result.outcome == "failed" else "error"
            element = ET.SubElement(case, tag, message=_clean(result.message()), type=tag)
            element.text = _clean(format_details(result))
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(
    results: list[ScriptResult], path: Path, suite: str = "recochat conversations", llm: str = "template"
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    junit_tree(results, suite, llm).write(path, encoding="utf-8", xml_declaration=True)
