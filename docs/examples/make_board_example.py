"""Regenerate ``docs/examples/board-example.json`` (the worked example of board-format.md).

Run from the repository root: ``.venv/bin/python docs/examples/make_board_example.py``.
It makes a fresh election key, so the values change on every run; the test
``tests/ballot/test_board_format_doc.py`` verifies whatever example is committed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.boards import BoardBuilder

builder = BoardBuilder.create(min_anonymity_set=1)
first = builder.cast(builder.voting_right(), {"parc": "gare", "budget": ["jardin", "velos"]})
builder.checkpoint()
builder.cast(first, {"parc": "tilleuls", "budget": ["jardin", "velos", "bancs"]})  # re-vote
builder.cast(builder.voting_right(), {"parc": "gare", "budget": ["bancs"]})
builder.close()
out = Path(__file__).with_name("board-example.json")
out.write_text(json.dumps(builder.export(), indent=2, ensure_ascii=False) + "\n")
print(f"wrote {out}")
