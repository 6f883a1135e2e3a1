"""Text that no store can keep is refused where it is read: a NUL character written as a YAML escape."""

from __future__ import annotations

import pytest

from core.errors import BadInput
from core.inputs.yamlfile import parse_yaml


@pytest.mark.parametrize("text", ['description: "toy \\0 policy"\n', 'a:\n  - "x\\x00y"\n', '"k\\0": 1\n'])
def test_a_nul_escape_in_yaml_is_refused_naming_the_line(text: str) -> None:
    with pytest.raises(BadInput, match=r"policy.yaml:\d+: text holds a NUL character \(U\+0000\)"):
        parse_yaml(text, "policy.yaml")


def test_other_escapes_still_read() -> None:
    data, _ = parse_yaml('description: "tab\\there \\u00e9"\n', "policy.yaml")
    assert data == {"description": "tab\there é"}
