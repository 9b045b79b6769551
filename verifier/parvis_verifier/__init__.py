"""parvis_verifier: the independent verifier of Parvis's bulletin boards and the trustees'
tool, as a distribution of its own (docs/adr/0020-standalone-verifier.md).

Everything here is pure: the standard library, cryptography, PyNaCl and rfc8785 (gmpy2 is
used when present, for issuance only). The formats it checks are specified in
docs/board-format.md; ``parvis-verify`` (:func:`parvis_verifier.verify.main`) checks a board
export and ``parvis-trustee`` (:func:`parvis_verifier.trustee.main`) runs a trustee's key
ceremony and partial decryptions (docs/trustee-tool.md). Parvis's server imports these
modules under their old names (``ballot.verify``, ``audit.merkle``, …), which are the same
module objects.
"""
