"""French catalogue of the ballot pages (message id = English text; French first)."""

from __future__ import annotations

from parvis.kernel.i18n import register_catalog

__all__ = ["MESSAGES", "register"]

MESSAGES = {
    "Votes and consultations": "Votes et consultations",
    "No vote is planned at the moment.": "Aucun vote n’est prévu pour le moment.",
    "Status:": "État :",
    "from": "du",
    "to": "au",
    "scheduled": "programmé",
    "open": "ouvert",
    "closed": "clos",
    "tallied": "dépouillé",
    "published": "publié",
    "Vote": "Voter",
    "Check my receipt": "Vérifier mon reçu",
    "Bulletin board (JSON)": "Tableau d’affichage (JSON)",
    "Results": "Résultats",
    "The results of this vote are not published yet. Nothing is shown before the close: not even a partial count.": "Les résultats de ce vote ne sont pas encore publiés. Rien n’est montré avant la clôture, pas même un décompte partiel.",
    "All votes and consultations": "Tous les votes et consultations",
    "Voting tokens issued": "Jetons de vote délivrés",
    "Ballots counted online": "Bulletins comptés en ligne",
    "Paper voters": "Votants sur papier",
    "Fewer ballots than the minimum anonymity set were cast: individual ballots are not published, only these totals.": "Moins de bulletins que le seuil d’anonymat ont été déposés : les bulletins ne sont pas publiés un à un, seulement ces totaux.",
    "Anyone can check these results:": "Chacun peut vérifier ces résultats :",
    "download the bulletin board": "téléchargez le tableau d’affichage",
    "and run": "et lancez",
    "Grades given to each option, and its majority grade": "Mentions données à chaque option, et sa mention majoritaire",
    "Option": "Option",
    "Majority grade": "Mention majoritaire",
    "Points (Borda count) and how many ballots ranked each option at each rank": "Points (méthode de Borda) et nombre de bulletins classant chaque option à chaque rang",
    "Points": "Points",
    "Rank": "Rang",
    "Votes per project; ★ funded within the envelope": "Votes par projet ; ★ financé dans l’enveloppe",
    "Votes per option; ★ winner": "Votes par option ; ★ gagnant",
    "Votes": "Votes",
    "Cost": "Coût",
    "Spent:": "Dépensé :",
    "Paper ballots (counted separately)": "Bulletins papier (comptés à part)",
}


def register() -> None:
    """Add the ballot messages to the French catalogue (idempotent)."""
    register_catalog("fr", MESSAGES)
