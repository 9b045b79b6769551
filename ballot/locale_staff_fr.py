"""French catalogue of the staff election pages (ballot/staff_pages.py and
templates/ballot/staff/). Message id = English text; ids shared with other pages ("Status",
"Results", "Publish", "Voting tokens issued", …) are not repeated here: they keep the one
translation :mod:`parvis.kernel.i18n` allows."""

from __future__ import annotations

from parvis.kernel.i18n import register_catalog

__all__ = ["MESSAGES", "register"]

MESSAGES = {
    # statuses (the others are in ballot/locale_fr.py)
    "draft": "brouillon",
    # list
    "Elections": "Scrutins",
    "New election": "Nouveau scrutin",
    "Counts only: no page shows a ballot or a running total before the close.": "Des décomptes seulement : aucune page ne montre un bulletin ou un résultat partiel avant la clôture.",
    "No election yet.": "Aucun scrutin pour l’instant.",
    "Voting period (UTC)": "Période de vote (UTC)",
    "Ballots received": "Bulletins reçus",
    "Back to the elections": "Retour aux scrutins",
    # definition form
    "Edit the draft": "Modifier le brouillon",
    "The definition is not valid; nothing was saved:": "La définition n’est pas valide ; rien n’a été enregistré :",
    "The same format as the command parvis election create: YAML or JSON with title, opens_at, closes_at (UTC, ending in Z), eligibility (rule; the eligible population is counted from the census when the election opens), revote, min_anonymity_set, paper and questions (docs/ballot-api.md). If you choose a file, it is used instead of the text.": "Le même format que la commande parvis election create : YAML ou JSON avec title, opens_at, closes_at (UTC, terminés par Z), eligibility (rule ; la population éligible est comptée d’après le recensement à l’ouverture), revote, min_anonymity_set, paper et questions (docs/ballot-api.md). Si vous choisissez un fichier, il remplace le texte.",
    "Definition file (YAML or JSON)": "Fichier de définition (YAML ou JSON)",
    "Or the definition as text": "Ou la définition sous forme de texte",
    "Save the draft": "Enregistrer le brouillon",
    "Create the draft": "Créer le brouillon",
    "Cancel": "Annuler",
    # election page
    "The election refused this step:": "Le scrutin a refusé cette étape :",
    "Eligibility rule": "Règle d’éligibilité",
    "eligible population:": "population éligible :",
    "counted from the census when it opens": "comptée d’après le recensement à l’ouverture",
    "Changing one's vote": "Modification du vote",
    "Paper channel": "Vote sur papier",
    "Minimum anonymity set": "Seuil d’anonymat",
    "Tokens issued: the count last published on the bulletin board. No page shows a ballot or a running total before the close.": "Jetons délivrés : le dernier nombre publié sur le tableau d’affichage. Aucune page ne montre un bulletin ou un résultat partiel avant la clôture.",
    "Next step": "Étape suivante",
    "You will be asked to confirm: this step cannot be undone.": "Une confirmation vous sera demandée : cette étape est irréversible.",
    "The results are published: there is no further step.": "Les résultats sont publiés : il n’y a plus d’étape.",
    "Paper votes": "Votes sur papier",
    "Citizens marked as having voted on paper:": "Personnes enregistrées comme ayant voté sur papier :",
    "Citizen's identifier (pseudonym)": "Identifiant de la personne (pseudonyme)",
    "Record it once the citizen has put their paper ballot in the box. Refused if a voting token was already issued to them; afterwards they cannot get one.": "À enregistrer une fois le bulletin papier déposé dans l’urne. Refusé si un jeton de vote lui a déjà été délivré ; ensuite, elle ne peut plus en obtenir.",
    "Paper totals entered:": "Totaux papier saisis :",
    "voters:": "votants :",
    "Paper totals": "Totaux papier",
    "Save the paper totals": "Enregistrer les totaux papier",
    "Paper totals appear in the results separately from the ballots cast online.": "Les totaux papier figurent dans les résultats, séparément des bulletins déposés en ligne.",
    "Questions": "Questions",
    "Public pages and verification": "Pages publiques et vérification",
    "Public status (JSON)": "État public (JSON)",
    "Manifest (JSON)": "Manifeste (JSON)",
    "Latest signed checkpoint": "Dernier point de contrôle signé",
    "Anyone can check the board with:": "Chacun peut vérifier le tableau d’affichage avec :",
    "Before publication the board holds commitments only; after it, the command also recounts the results.": "Avant la publication, le tableau ne contient que des engagements ; ensuite, la commande recompte aussi les résultats.",
    "The bulletin board exists once the election is open.": "Le tableau d’affichage existe dès l’ouverture du scrutin.",
    # confirmation
    "Confirm this step": "Confirmer cette étape",
    "This step cannot be undone.": "Cette étape est irréversible.",
    "The planned closing time has not come yet:": "L’heure de clôture prévue n’est pas encore arrivée :",
    "Close now, before the planned closing time (recorded as a forced close)": "Clore maintenant, avant l’heure prévue (enregistré comme clôture forcée)",
    "Confirm:": "Confirmer :",
    # steps (ballot/staff_pages.py, STEPS)
    "Schedule": "Programmer",
    "Open": "Ouvrir",
    "Close": "Clore",
    "Tally": "Dépouiller",
    "Scheduling freezes the definition: it can no longer be edited. The eligibility rule must exist.": "La programmation fige la définition : elle ne peut plus être modifiée. La règle d’éligibilité doit exister.",
    "Opening generates the election's keys and publishes the manifest as entry 0 of the bulletin board; citizens can then get voting tokens and vote.": "L’ouverture génère les clés du scrutin et publie le manifeste comme entrée 0 du tableau d’affichage ; les personnes peuvent alors obtenir un jeton de vote et voter.",
    "Closing stops token issuance and voting for good and appends the close entry to the bulletin board.": "La clôture arrête définitivement la délivrance des jetons et le vote, et ajoute l’entrée de clôture au tableau d’affichage.",
    "Tallying counts the ballots on the board and appends the signed results entry (and the paper totals, if any). Paper totals can no longer be changed.": "Le dépouillement compte les bulletins du tableau et ajoute l’entrée signée des résultats (et les totaux papier, s’il y en a). Les totaux papier ne peuvent plus être modifiés.",
    "Publishing makes the results and the full bulletin board public.": "La publication rend publics les résultats et le tableau d’affichage complet.",
    "The election is scheduled: its definition is final.": "Le scrutin est programmé : sa définition est définitive.",
    "The election is open: its manifest is on the bulletin board.": "Le scrutin est ouvert : son manifeste est sur le tableau d’affichage.",
    "The election is closed.": "Le scrutin est clos.",
    "The election is tallied: the results entry is on the bulletin board.": "Le scrutin est dépouillé : l’entrée des résultats est sur le tableau d’affichage.",
    "The results are published.": "Les résultats sont publiés.",
    # notices and refusals
    "The draft election is saved.": "Le brouillon du scrutin est enregistré.",
    "The draft is updated.": "Le brouillon est mis à jour.",
    "The paper vote is recorded: this citizen can no longer get a voting token.": "Le vote papier est enregistré : cette personne ne peut plus obtenir de jeton de vote.",
    "The paper totals are saved.": "Les totaux papier sont enregistrés.",
    "Access refused": "Accès refusé",
    "This action needs the agent role.": "Cette action demande le rôle d’agent d’accueil.",
    "This action needs the election officer role.": "Cette action demande le rôle de responsable des scrutins.",
    "These pages are for election officers and agents.": "Ces pages sont réservées aux responsables des scrutins et aux agents d’accueil.",
    "The form's security token is missing or does not match your session. Go back, reload the page and submit the form again.": "Le jeton de sécurité du formulaire manque ou ne correspond pas à votre session. Revenez en arrière, rechargez la page et envoyez à nouveau le formulaire.",
    "Page not found": "Page introuvable",
    "There is no page at this address.": "Il n’y a pas de page à cette adresse.",
    "Only a draft can be edited.": "Seul un brouillon peut être modifié.",
    "This step is not possible in the election's current status.": "Cette étape n’est pas possible dans l’état actuel du scrutin.",
    "Give the citizen's identifier (1 to 64 characters).": "Indiquez l’identifiant de la personne (1 à 64 caractères).",
    "No citizen has this identifier. Check it with the citizen.": "Aucune personne n’a cet identifiant. Vérifiez-le avec elle.",
    "Refused: a voting token was already issued to this citizen for this election, so they cannot also vote on paper.": "Refusé : un jeton de vote a déjà été délivré à cette personne pour ce scrutin ; elle ne peut pas aussi voter sur papier.",
    "A paper vote is already recorded for this citizen in this election.": "Un vote papier est déjà enregistré pour cette personne à ce scrutin.",
    "Each count is a whole number, 0 or more:": "Chaque nombre est un entier positif ou nul :",
}


def register() -> None:
    """Add the staff election messages to the French catalogue (idempotent)."""
    register_catalog("fr", MESSAGES)
