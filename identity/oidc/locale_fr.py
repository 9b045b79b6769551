"""French catalogue of the OpenID provider's pages (message id = English text)."""

from __future__ import annotations

from parvis.kernel.i18n import register_catalog

MESSAGES = {
    "Agree and continue": "Accepter et continuer",
    "Refuse": "Refuser",
    "Platforms you have connected": "Plateformes que vous avez connectées",
    "Purpose:": "Finalité :",
    "Share with a platform?": "Partager avec une plateforme ?",
    "Shared for a task in the public interest: it does not need your consent.": "Partagé pour une mission d'intérêt public : votre consentement n'est pas nécessaire.",
    "Shared only if you agree.": "Partagé seulement si vous l'acceptez.",
    "This platform will receive an identifier that only it knows, and:": "Cette plateforme recevra un identifiant qu'elle seule connaît, et :",
    "asks to sign you in with Parvis": "demande à vous connecter avec Parvis",
    "legal basis:": "base légale :",
    "Go back to the platform and start again; if this keeps happening, contact the platform.": "Revenez sur la plateforme et recommencez ; si le problème persiste, contactez la plateforme.",
    "Sign-in request refused": "Demande de connexion refusée",
    "You have been signed out of the platform. Sign out of Parvis and FranceConnect too:": "Vous êtes déconnecté de la plateforme. Déconnectez-vous aussi de Parvis et de FranceConnect :",
    "This signs you out in this browser only: your other browsers and devices stay signed in.": "La déconnexion ne vaut que pour ce navigateur : vos autres navigateurs et appareils restent connectés.",
    "Return to the platform": "Revenir à la plateforme",
    "Connected platforms": "Plateformes connectées",
    "Disconnect this platform": "Déconnecter cette plateforme",
    "You have not signed in to any platform with Parvis.": "Vous ne vous êtes connecté à aucune plateforme avec Parvis.",
    "This platform is not registered with Parvis.": "Cette plateforme n'est pas enregistrée auprès de Parvis.",
    "The platform asked to send you back to an address it has not registered.": "La plateforme demande à vous renvoyer vers une adresse qu'elle n'a pas enregistrée.",
    "The platform's sign-in request is not valid.": "La demande de connexion de la plateforme n'est pas valide.",
    "Your session has ended. Please start again.": "Votre session a pris fin. Veuillez recommencer.",
    "This sign-out request is not valid.": "Cette demande de déconnexion n'est pas valide.",
    "Technical detail for the platform:": "Détail technique pour la plateforme :",
    # Claim groups on the consent screen and the platforms page (identity/oidc/claims.py).
    "The votes and consultations you can take part in now (not how this was proven)": "Les votes et consultations auxquels vous pouvez participer aujourd'hui (pas la façon dont cela a été prouvé)",
    "Whether you are over 11, 15, 16 and 18 (never your date of birth)": "Si vous avez plus de 11, 15, 16 et 18 ans (jamais votre date de naissance)",
    "The INSEE code of the commune where you live": "Le code INSEE de la commune où vous habitez",
    "Your first names and birth name": "Vos prénoms et votre nom de naissance",
    "The e-mail address of your FranceConnect account": "L'adresse électronique de votre compte FranceConnect",
}

register_catalog("fr", MESSAGES)
