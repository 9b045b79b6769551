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
    # Error pages (parvis.problems.ERROR_PAGES, templates/error.html)
    "Access refused": "Accès refusé",
    "You cannot see this page with the account you are signed in with. Sign in with "
    "another account, or ask the town hall if you think you should have access.": "Vous ne "
    "pouvez pas voir cette page avec le compte avec lequel vous êtes connecté. Connectez-vous "
    "avec un autre compte, ou adressez-vous à la mairie si vous pensez devoir y avoir accès.",
    "Page not found": "Page introuvable",
    "This page does not exist or has moved. Check the address, or start again from the "
    "home page.": "Cette page n’existe pas ou a été déplacée. Vérifiez l’adresse, ou repartez "
    "de la page d’accueil.",
    "Action not possible here": "Action impossible ici",
    "This address cannot be used this way. Go back to the previous page and use its "
    "links and buttons.": "Cette adresse ne s’utilise pas de cette façon. Revenez à la page "
    "précédente et utilisez ses liens et ses boutons.",
    "Something went wrong": "Une erreur est survenue",
    "The page could not be shown because of an error on our side. It has been recorded. "
    "Please try again in a few minutes.": "La page n’a pas pu être affichée à cause d’une "
    "erreur de notre côté. Elle a été enregistrée. Veuillez réessayer dans quelques minutes.",
    "You need to sign in to see this page. Sign in, then open the page again.": "Vous devez "
    "vous connecter pour voir cette page. Connectez-vous, puis ouvrez de nouveau la page.",
    "Information not accepted": "Informations non acceptées",
    "What was sent could not be used: a field is missing or is not in the expected "
    "form. Go back, check the form and send it again.": "Les informations envoyées n’ont pas "
    "pu être utilisées : un champ manque ou n’a pas la forme attendue. Revenez en arrière, "
    "vérifiez le formulaire et envoyez-le de nouveau.",
    "Form expired": "Formulaire expiré",
    "This form has expired, for example because it stayed open too long. Go back, reload "
    "the page and send the form again.": "Ce formulaire a expiré, par exemple parce qu’il est "
    "resté ouvert trop longtemps. Revenez en arrière, rechargez la page et envoyez à nouveau "
    "le formulaire.",
    "Error code:": "Code d’erreur :",
    "Back to the home page": "Retour à la page d’accueil",
    # The staff pages' guard (parvis.problems.STAFF_SIGN_IN_NEEDED)
    "Sign-in required": "Connexion nécessaire",
    "This page is for city staff. Sign in with a staff account that holds the role it "
    "needs.": "Cette page est réservée aux agents de la ville. Connectez-vous avec un compte "
    "d’agent qui a le rôle nécessaire.",
    "Staff sign-in": "Connexion des agents",
}

register_catalog("fr", MESSAGES)
