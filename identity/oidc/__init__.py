"""identity.oidc: the OpenID provider that participation platforms sign citizens in with
(issue 8). Pure protocol parts (``claims``, ``pairwise``) are separate from the Authlib
server (``provider``), its Starlette adapter (``starlette``) and the HTTP routes (``web``)."""
