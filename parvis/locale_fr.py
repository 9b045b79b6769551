"""French catalogue of the kernel's layout and home page (message id = English text)."""

from __future__ import annotations

from parvis.kernel.i18n import register_catalog

MESSAGES = {
    "Skip to content": "Aller au contenu",
    "Main menu": "Menu principal",
    "Home": "Accueil",
    "Welcome": "Bienvenue",
    "Votes and consultations": "Votes et consultations",
    "My account": "Mon compte",
    "My data": "Mes données",
    "Staff": "Espace agents",
    "Sign in": "Se connecter",
    "See the open votes and consultations": "Voir les votes et consultations ouverts",
    "Sign in with FranceConnect": "S’identifier avec FranceConnect",
    "See and manage your consents and personal data": "Voir et gérer vos consentements et vos données personnelles",
    "Welcome to Parvis": "Bienvenue sur Parvis",
    "Parvis: identity, consent and secure voting for local authorities.": "Parvis : identité, consentement et vote sécurisé pour les collectivités.",
    "Sign in once with FranceConnect, take part in your town's consultations and participatory "
    "budgets, and check that your vote was counted, without anyone being able to link your "
    "ballot to you.": "Connectez-vous une fois avec FranceConnect, participez aux consultations et aux budgets "
    "participatifs de votre commune, et vérifiez que votre vote a été compté, sans que "
    "personne ne puisse relier votre bulletin à vous.",
}

register_catalog("fr", MESSAGES)
