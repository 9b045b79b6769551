"""The old path of :mod:`parvis_verifier.verify`, which ships in the standalone verifier
distribution (``verifier/``, ADR 0020). This module *is* that module (the same object in
``sys.modules``), so the server's imports, its monkeypatches and ``python -m`` keep working
and no code is copied.
"""

import sys

from parvis_verifier import verify as _module
from parvis_verifier.verify import *  # noqa: F403

if __name__ == "__main__":
    raise SystemExit(_module.main())

sys.modules[__name__] = _module
