"""Prompt files in `prompts/`: system text, few-shot pairs, then the user template.

File format, parts separated by a line `---`:
  1. the system message;
  2. any number of few-shot examples, each `user text` / a line `===` / `assistant text`;
  3. the user message template, with `{placeholders}`.
Few-shot examples become literal messages, so braces in them are never template fields.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate

PURPOSES = ("recommend", "clarify", "about_item", "smalltalk")


@cache
def load_prompt(purpose: str) -> ChatPromptTemplate:
    import recochat.prompts

    text = (Path(recochat.prompts.__file__).parent / f"{purpose}.txt").read_text(encoding="utf-8")
    parts = [p.strip("\n") for p in text.split("\n---\n")]
    if len(parts) < 2:
        raise ValueError(f"prompts/{purpose}.txt: expected a system part and a user part separated by '---'")
    system, *examples, user = parts
    messages: list = [("system", system)]
    for example in examples:
        human, _, ai = example.partition("\n===\n")
        messages += [HumanMessage(human.strip()), AIMessage(ai.strip())]
    messages.append(("human", user))
    # The system text may hold placeholders too ({domain}); examples are literal.
    return ChatPromptTemplate.from_messages([SystemMessage(system)] + messages[1:] if "{" not in system else messages)
