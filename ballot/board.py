"""The old path of :mod:`parvis_verifier.board`, which ships in the standalone verifier
distribution (``verifier/``, ADR 0020). This module *is* that module (the same object in
``sys.modules``), so the server's imports, its monkeypatches and ``python -m`` keep working
and no code is copied.
"""

import sys

from parvis_verifier import board as _module
from parvis_verifier.board import *  # noqa: F403

# Names outside its __all__ that the server imports from this path (explicit re-exports).
from parvis_verifier.board import normalise_tracking_code as normalise_tracking_code  # noqa: PLC0414 - explicit re-export

sys.modules[__name__] = _module
