"""Every expression in docs/control.md's ``filter`` and ``boost`` blocks compiles against
the demo catalog, and every filter there lets some demo item through."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from pulserec.control import Env, Properties, UserView, compile_expression
from pulserec.demo import load_demo_items

DOC = Path(__file__).resolve().parents[3] / "docs" / "control.md"
BLOCK = re.compile(r"```(filter|boost)\n(.*?)```", re.S)


def examples() -> list[tuple[str, str]]:
    found = [(kind, line.strip()) for kind, body in BLOCK.findall(DOC.read_text())
             for line in body.splitlines() if line.strip()]  # fmt: skip
    assert len(found) >= 10
    return found


@pytest.fixture(scope="module")
def props() -> Properties:
    items = load_demo_items()
    p = Properties()
    p.set(np.arange(len(items)), items)
    return p


@pytest.mark.parametrize(("purpose", "text"), examples())
def test_a_documented_expression_compiles_and_selects(
    props: Properties, purpose: str, text: str
) -> None:
    compiled = compile_expression(text, props, purpose)  # type: ignore[arg-type]
    user = UserView("ana", recent=[0, 1, 150], seen=np.array([0, 1, 150]))
    product = next(j for j in range(props.n) if props.value("kind", j) == "product")
    values = compiled(Env(props, None, 1_767_225_600.0, user, context=product))
    assert values.shape == (props.n,)
    if purpose == "filter":
        assert values.any(), text
