"""The old path of :mod:`parvis_verifier.encrypted_ballot`, which ships in the standalone verifier
distribution (``verifier/``, ADR 0020). This module *is* that module (the same object in
``sys.modules``), so the server's imports, its monkeypatches and ``python -m`` keep working
and no code is copied.
"""

import sys

from parvis_verifier import encrypted_ballot as _module
from parvis_verifier.encrypted_ballot import *  # noqa: F403

sys.modules[__name__] = _module
