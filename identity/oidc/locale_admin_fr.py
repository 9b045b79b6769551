"""French catalogue of the OpenID client administration pages (message id = English text)."""

from __future__ import annotations

from parvis.kernel.i18n import register_catalog

__all__ = ["MESSAGES"]

MESSAGES = {
    "3 to 48 lowercase letters, digits or hyphens; the platform enters it as its client_id.": "3 à 48 lettres minuscules, chiffres ou tirets ; la plateforme le saisit comme client_id.",
    "In service": "En service",
    "All platforms": "Toutes les plateformes",
    "Allowed scopes": "Scopes autorisés",
    "Authentication": "Authentification",
    "Back-channel logout URI": "URI de déconnexion back-channel",
    "Back-channel logout URI (optional)": "URI de déconnexion back-channel (facultatif)",
    "Citizens can no longer sign in to it with Parvis; its access tokens are revoked and its sessions end.": "Les habitants ne peuvent plus s'y connecter avec Parvis ; ses jetons d'accès sont révoqués et ses sessions prennent fin.",
    "Client identifier": "Identifiant client",
    "Client secret": "Secret client",
    "Client type": "Type de client",
    "Confidential": "Confidentiel",
    "Confidential (a server that keeps a secret or a private key)": "Confidentiel (un serveur qui garde un secret ou une clé privée)",
    "Consent purposes": "Finalités de consentement",
    "Consent purposes (from the register)": "Finalités de consentement (du registre)",
    "Copy it into the platform's settings now: it is shown only once and Parvis keeps only a fingerprint of it.": "Copiez-le maintenant dans les réglages de la plateforme : il n'est affiché qu'une fois et Parvis n'en garde qu'une empreinte.",
    "Create a new secret": "Créer un nouveau secret",
    "Disable": "Désactiver",
    "Disable this platform": "Désactiver cette plateforme",
    "Disabled": "Désactivée",
    "ID token signature": "Signature du jeton d'identité",
    "Name": "Nom",
    "Name shown to citizens": "Nom affiché aux habitants",
    "New secret created.": "Nouveau secret créé.",
    "No platform is registered yet.": "Aucune plateforme n'est encore enregistrée.",
    "No platform with this identifier.": "Aucune plateforme ne porte cet identifiant.",
    "Platform disabled.": "Plateforme désactivée.",
    "Platform registered.": "Plateforme enregistrée.",
    "Platforms (OpenID clients)": "Plateformes (clients OpenID)",
    "Platforms of one sector receive the same pairwise identifier for a citizen; by default the sector is the host of the redirect URIs.": "Les plateformes d'un même secteur reçoivent le même identifiant sectoriel pour un habitant ; par défaut, le secteur est l'hôte des URI de redirection.",
    "Post-logout redirect URIs": "URI de redirection après déconnexion",
    "Post-logout redirect URIs, one per line": "URI de redirection après déconnexion, une par ligne",
    "Public (PKCE only)": "Public (PKCE uniquement)",
    "Public (PKCE only, no secret)": "Public (PKCE uniquement, sans secret)",
    "Public keys (JWKS)": "Clés publiques (JWKS)",
    "Public keys (JWKS) for private_key_jwt": "Clés publiques (JWKS) pour private_key_jwt",
    "Redirect URIs (exact match)": "URI de redirection (correspondance exacte)",
    "Redirect URIs, one per line (compared character for character)": "URI de redirection, une par ligne (comparées caractère par caractère)",
    "Register": "Enregistrer la plateforme",
    "Register a platform": "Enregistrer une plateforme",
    "Registered platforms": "Plateformes enregistrées",
    "Rotate the secret": "Renouveler le secret",
    "Sector identifier URI (optional)": "URI d'identifiant de secteur (facultatif)",
    "Sector of the pairwise identifiers": "Secteur des identifiants sectoriels",
    "Signed JWT": "JWT signé",
    "State": "État",
    "The current secret stops working at once: update the platform's settings straight away.": "Le secret actuel cesse aussitôt de fonctionner : mettez à jour les réglages de la plateforme sans attendre.",
    "The platform was not registered:": "La plateforme n'a pas été enregistrée :",
    "Token endpoint authentication": "Authentification au point de terminaison token",
    "Token endpoint authentication (confidential clients)": "Authentification au point de terminaison token (clients confidentiels)",
    "Unknown action.": "Action inconnue.",
    "Userinfo response": "Réponse userinfo",
}

register_catalog("fr", MESSAGES)
