"""The fast canonical-JSON path writes exactly what the rfc8785 reference writes."""

from __future__ import annotations

from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ballot.jcs import canonical

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(max_size=8), children, max_size=5)
        # ASCII keys take the fast path: most objects must exercise it
        | st.dictionaries(
            st.text(st.characters(max_codepoint=127), max_size=8), children, max_size=5
        )
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_fast_path_equals_reference(value: Any) -> None:
    assert canonical(value) == rfc8785.dumps(value)


def test_control_characters_and_unicode() -> None:
    value = {"b": 'é\u2028\x00\x1f"\\\t', "a": ["💡", 1, True, None], "Z": {"y": -5}}
    assert canonical(value) == rfc8785.dumps(value)
