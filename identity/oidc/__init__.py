"""identity.oidc: the OpenID provider that participation platforms sign citizens in with
(docs/oidc-integration.md). Pure protocol parts (``claims``, ``pairwise``) are separate from the
Authlib server (``provider``), its Starlette adapter (``starlette``) and the HTTP routes
(``web``)."""
