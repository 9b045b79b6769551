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
    "decrypting": "en cours de déchiffrement",
    "The ballots were encrypted: no ballot was ever decrypted, only these totals, by the trustees numbered": "Les bulletins étaient chiffrés : aucun bulletin n’a jamais été déchiffré, seulement ces totaux, par les garants numéros",
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
    "of an envelope of": "sur une enveloppe de",
    "How the winner is decided: the option with the most votes wins. When several "
    "options have the same highest number of votes, they all win; options with as many "
    "votes are listed in the order of the ballot.": "Comment le gagnant est désigné : "
    "l’option qui a le plus de voix l’emporte. Si plusieurs options ont le même nombre de "
    "voix le plus élevé, elles l’emportent toutes ; les options à égalité de voix sont "
    "présentées dans l’ordre du bulletin.",
    "How projects are funded: projects are taken from the most voted to the least "
    "voted; between projects with as many votes, the cheaper one comes first, then the "
    "order of the ballot. A project with at least one vote is funded if its cost fits in "
    "what is left of the envelope; otherwise it is skipped and the next one is "
    "considered, until the maximum number of projects is funded.": "Comment les projets "
    "sont financés : on prend les projets du plus voté au moins voté ; entre projets à "
    "égalité de voix, le moins cher passe d’abord, puis l’ordre du bulletin. Un projet qui "
    "a au moins une voix est financé si son coût tient dans ce qui reste de l’enveloppe ; "
    "sinon il est passé et l’on examine le suivant, jusqu’au nombre maximal de projets "
    "financés.",
    "How the winner is decided: options are ranked by their majority grade, the grade "
    "of the median voter (the lower one when there are two). When two options have the "
    "same majority grade, one median vote is set aside for each and their majority "
    "grades are compared again, as many times as needed (Balinski and Laraki's rule).": ""
    "Comment le gagnant est désigné : les options sont classées selon leur mention "
    "majoritaire, celle de l’électeur médian (la plus basse s’il y en a deux). Si deux "
    "options ont la même mention majoritaire, on retire à chacune une voix médiane et l’on "
    "compare de nouveau leurs mentions majoritaires, autant de fois que nécessaire (règle "
    "de Balinski et Laraki).",
    "How the winner is decided: among n options, an option ranked r-th on a ballot gets "
    "n − r points, an unranked option none (Borda count); the most points wins. Between "
    "options with as many points, the one ranked first on more ballots comes first, "
    "then the order of the ballot.": "Comment le gagnant est désigné : parmi n options, "
    "une option classée au rang r sur un bulletin reçoit n − r points, une option non "
    "classée aucun (méthode de Borda) ; le plus de points l’emporte. Entre options à "
    "égalité de points, celle classée première sur le plus de bulletins passe d’abord, "
    "puis l’ordre du bulletin.",
    "Paper ballots (counted separately)": "Bulletins papier (comptés à part)",
}


def register() -> None:
    """Add the ballot messages to the French catalogue (idempotent)."""
    register_catalog("fr", MESSAGES)


# --- the voting booth and the tracker (ballot/booth_pages.py, templates/booth*.html and
# tracker*.html, the scripts' messages); tests/browser/test_booth.py checks none is missing.
BOOTH_MESSAGES = {
    # pages
    "Voting booth": "Isoloir",
    "Ballot tracker": "Suivi de bulletin",
    "Voting is open until": "Le vote est ouvert jusqu’au",
    "Back to the participation platform": "Revenir à la plateforme de participation",
    "Your ballot": "Votre bulletin",
    "How your vote stays secret": "Comment votre vote reste secret",
    "Your device prepares an anonymous voting right: Parvis signs it without seeing it, so nobody — not even Parvis — can link your ballot to you. Your ballot is sent without your session, after a short random wait, and recorded on a public board that anyone can check.": "Votre appareil prépare un droit de vote anonyme : Parvis le signe sans le voir, si bien que personne — pas même Parvis — ne peut relier votre bulletin à vous. Votre bulletin est envoyé sans votre session, après une courte attente aléatoire, et inscrit sur un tableau d’affichage public que chacun peut vérifier.",
    "The voting right is kept in this browser so that you can change your vote until the close. Do not vote from a shared computer.": "Le droit de vote est conservé dans ce navigateur pour que vous puissiez modifier votre vote jusqu’à la clôture. Ne votez pas depuis un ordinateur partagé.",
    "Your browser receives the voting right as soon as you open this page, before you fill in the ballot: the moment the right is given and the moment your ballot arrives are not linked. If you lose this device or clear this browser's data before voting, the right is lost: it is issued only once.": "Votre navigateur reçoit le droit de vote dès l’ouverture de cette page, avant que vous ne remplissiez le bulletin : le moment où le droit est remis et celui où votre bulletin arrive ne sont pas liés. Si vous perdez cet appareil ou effacez les données de ce navigateur avant de voter, le droit est perdu : il n’est délivré qu’une fois.",
    "Ballots appear on the public board in batches, in a random order: your tracking code shows when yours will appear.": "Les bulletins apparaissent sur le tableau d’affichage public par lots, dans un ordre aléatoire : votre code de suivi indique quand le vôtre apparaîtra.",
    # election page (vote later on this device)
    "Vote later on this device": "Voter plus tard sur cet appareil",
    "Parvis can give this browser your anonymous voting right now. You then fill in and cast your ballot later, in the voting booth of this same browser, even without signing in again.": "Parvis peut remettre dès maintenant votre droit de vote anonyme à ce navigateur. Vous remplissez et déposez ensuite votre bulletin plus tard, dans l’isoloir de ce même navigateur, même sans vous reconnecter.",
    "Keep this device and this browser until you have voted: if you lose the device or clear this browser's data before casting your ballot, your voting right is lost. It is issued only once.": "Gardez cet appareil et ce navigateur jusqu’à ce que vous ayez voté : si vous perdez l’appareil ou effacez les données de ce navigateur avant de déposer votre bulletin, votre droit de vote est perdu. Il n’est délivré qu’une fois.",
    "Getting the voting right needs JavaScript: the cryptography that keeps your vote secret runs in your browser.": "Obtenir le droit de vote nécessite JavaScript : la cryptographie qui garde votre vote secret s’exécute dans votre navigateur.",
    "The button appears once the page's script has started in your browser.": "Le bouton s’affiche une fois le script de la page démarré dans votre navigateur.",
    "Get my voting right now, vote later on this device": "Obtenir mon droit de vote maintenant, voter plus tard sur cet appareil",
    "Go to the voting booth": "Aller à l’isoloir",
    "Done: your anonymous voting right is kept in this browser. Vote when you wish before the close, from this device and this browser.": "C’est fait : votre droit de vote anonyme est conservé dans ce navigateur. Votez quand vous le souhaitez avant la clôture, depuis cet appareil et ce navigateur.",
    "Your voting right is already kept in this browser. Vote when you wish before the close, from this device and this browser.": "Votre droit de vote est déjà conservé dans ce navigateur. Votez quand vous le souhaitez avant la clôture, depuis cet appareil et ce navigateur.",
    "You have already voted from this browser. If this election allows it, you can change your vote in the booth until the close.": "Vous avez déjà voté depuis ce navigateur. Si ce scrutin le permet, vous pouvez modifier votre vote dans l’isoloir jusqu’à la clôture.",
    "Sign in to get your voting right now.": "Connectez-vous pour obtenir votre droit de vote maintenant.",
    "This browser cannot keep a voting right: vote directly in the voting booth.": "Ce navigateur ne peut pas conserver de droit de vote : votez directement dans l’isoloir.",
    "Your voting right was issued, but this browser refused to keep it: it is lost. Please contact the town hall.": "Votre droit de vote a été délivré, mais ce navigateur a refusé de le conserver : il est perdu. Veuillez contacter la mairie.",
    "The voting booth needs JavaScript: the cryptography that keeps your vote secret runs in your browser. Enable JavaScript, or vote on paper at the town hall.": "L’isoloir a besoin de JavaScript : la cryptographie qui garde votre vote secret s’exécute dans votre navigateur. Activez JavaScript, ou votez sur papier à la mairie.",
    "Sign in to vote": "Se connecter pour voter",
    "The ballot appears once the voting booth has started in your browser. If it does not, reload the page or try another browser.": "Le bulletin s’affiche une fois l’isoloir démarré dans votre navigateur. Sinon, rechargez la page ou essayez un autre navigateur.",
    "The form appears once the tracker has started in your browser. If it does not, reload the page or try another browser.": "Le formulaire s’affiche une fois la page de suivi démarrée dans votre navigateur. Sinon, rechargez la page ou essayez un autre navigateur.",
    "Cast my vote": "Valider mon vote",
    "Change my vote": "Modifier mon vote",
    "Move up:": "Monter :",
    "Move down:": "Descendre :",
    "Your ballot is in the ballot box": "Votre bulletin est dans l’urne",
    "Your tracking code:": "Votre code de suivi :",
    "Write it down: it lets you check, now and after the count, that your ballot is on the public board. It does not reveal your vote to anyone.": "Notez-le : il vous permet de vérifier, maintenant et après le dépouillement, que votre bulletin figure sur le tableau d’affichage public. Il ne révèle votre vote à personne.",
    "Check my ballot on the tracker": "Vérifier mon bulletin sur la page de suivi",
    "You can vote again until the close, from this browser: only your last ballot counts.": "Vous pouvez voter à nouveau jusqu’à la clôture, depuis ce navigateur : seul votre dernier bulletin compte.",
    "Enter the tracking code you received when voting. Your browser downloads the proof that the public board holds your ballot and checks it itself, with the board's key published in the election manifest.": "Saisissez le code de suivi reçu lors de votre vote. Votre navigateur télécharge la preuve que le tableau d’affichage public contient votre bulletin et la vérifie lui-même, avec la clé du tableau publiée dans le manifeste du scrutin.",
    "The tracker needs JavaScript to check the proof in your browser. Without it, anyone can check the whole board with the command parvis verify-board.": "La page de suivi a besoin de JavaScript pour vérifier la preuve dans votre navigateur. Sans JavaScript, chacun peut vérifier tout le tableau d’affichage avec la commande parvis verify-board.",
    "Tracking code": "Code de suivi",
    "16 letters and digits, for example NBSM-OIJZ-WZM2-UBGA.": "16 lettres et chiffres, par exemple NBSM-OIJZ-WZM2-UBGA.",
    "Check": "Vérifier",
    "The public board (JSON)": "Le tableau d’affichage public (JSON)",
    "See the results": "Voir les résultats",
    # unavailable booth
    "Election not found": "Scrutin introuvable",
    "There is no election at this address.": "Il n’y a pas de scrutin à cette adresse.",
    "Voting has not started": "Le vote n’a pas commencé",
    "This election is not open yet. Come back when it opens.": "Ce scrutin n’est pas encore ouvert. Revenez à son ouverture.",
    "Voting is closed": "Le vote est clos",
    "This election is closed: ballots are no longer accepted. You can still check your ballot on the tracker.": "Ce scrutin est clos : les bulletins ne sont plus acceptés. Vous pouvez toujours vérifier votre bulletin sur la page de suivi.",
    "The tracker opens with the election.": "La page de suivi ouvre avec le scrutin.",
    # hints
    "Choose one option.": "Choisissez une option.",
    "Choose exactly {k} options.": "Choisissez exactement {k} options.",
    "Choose up to {max} options.": "Choisissez jusqu’à {max} options.",
    "Choose between {min} and {max} options.": "Choisissez entre {min} et {max} options.",
    "Choose the projects you support: their total cost must fit within {envelope}.": "Choisissez les projets que vous soutenez : leur coût total doit tenir dans l’enveloppe de {envelope}.",
    "At most {max} projects.": "{max} projets au plus.",
    "Give every project a grade, from “{best}” (best) to “{worst}” (worst).": "Attribuez une mention à chaque projet, de « {best} » (la meilleure) à « {worst} » (la moins bonne).",
    "Tick between {min} and {max} options, then put them in order with the ↑ and ↓ buttons: the first is your favourite.": "Cochez entre {min} et {max} options, puis classez-les avec les boutons ↑ et ↓ : la première est votre préférée.",
    # booth script
    "Loading the ballot…": "Chargement du bulletin…",
    "The election manifest could not be loaded, so nothing was sent. Please try again later. ({detail})": "Le manifeste du scrutin n’a pas pu être chargé : rien n’a été envoyé. Veuillez réessayer plus tard. ({detail})",
    "Voting is stopped on this device: the encryption key in the election's public manifest is not valid, so no ballot can be encrypted. Nothing was sent. Please report this to the town hall. ({detail})": "Le vote est arrêté sur cet appareil : la clé de chiffrement du manifeste public du scrutin n’est pas valide, aucun bulletin ne peut donc être chiffré. Rien n’a été envoyé. Veuillez le signaler à la mairie. ({detail})",
    "Voting is stopped on this device: the election key offered is not the one committed in the public manifest. Nothing was sent. Please report this to the town hall. ({detail})": "Le vote est arrêté sur cet appareil : la clé de scrutin proposée n’est pas celle engagée dans le manifeste public. Rien n’a été envoyé. Veuillez le signaler à la mairie. ({detail})",
    "You have already voted from this browser; this election does not allow changing a vote.": "Vous avez déjà voté depuis ce navigateur ; ce scrutin ne permet pas de modifier un vote.",
    "You have already voted from this browser. You can vote again until the close: only your last ballot counts.": "Vous avez déjà voté depuis ce navigateur. Vous pouvez voter à nouveau jusqu’à la clôture : seul votre dernier bulletin compte.",
    "Your last tracking code: {code}.": "Votre dernier code de suivi : {code}.",
    "Vote again": "Voter à nouveau",
    "To vote, sign in first: Parvis checks that you may take part, then gives your browser an anonymous voting right.": "Pour voter, connectez-vous d’abord : Parvis vérifie que vous pouvez participer, puis remet à votre navigateur un droit de vote anonyme.",
    "This browser does not let Parvis keep your voting right: you can vote, but you will not be able to change your vote later.": "Ce navigateur ne permet pas à Parvis de conserver votre droit de vote : vous pouvez voter, mais vous ne pourrez pas modifier votre vote ensuite.",
    "Your ballot is not complete": "Votre bulletin n’est pas complet",
    "Choose at least {min} options.": "Choisissez au moins {min} options.",
    "Choose at most {max} options.": "Choisissez au plus {max} options.",
    "Choose at most {max} projects.": "Choisissez au plus {max} projets.",
    "The projects you chose cost {total}, more than the envelope of {envelope}. Untick a project.": "Les projets choisis coûtent {total}, plus que l’enveloppe de {envelope}. Décochez un projet.",
    "Give a grade to every project; missing: {options}.": "Attribuez une mention à chaque projet ; il manque : {options}.",
    "Rank at least {min} options.": "Classez au moins {min} options.",
    "Rank at most {max} options.": "Classez au plus {max} options.",
    "This answer is not valid; please choose again.": "Cette réponse n’est pas valide ; veuillez choisir à nouveau.",
    "Total: {total} of {envelope}.": "Total : {total} sur {envelope}.",
    "{amount} left.": "Reste {amount}.",
    "Over the envelope by {amount}.": "Dépassement de l’enveloppe : {amount}.",
    "{count} of {max} projects at most.": "{count} projets sur {max} au plus.",
    "{option}: position {position} of {count}.": "{option} : position {position} sur {count}.",
    "{option}: not ranked.": "{option} : non classé.",
    "Checking that you may vote…": "Vérification de votre droit de participer…",
    "Preparing your anonymous voting right on this device…": "Préparation de votre droit de vote anonyme sur cet appareil…",
    "Your anonymous voting right is ready and kept in this browser.": "Votre droit de vote anonyme est prêt et conservé dans ce navigateur.",
    "Your voting right is kept in this browser: vote now, or close this page and come back to vote later from this device and this browser. If you lose this device or clear this browser's data before voting, the right is lost: it is issued only once.": "Votre droit de vote est conservé dans ce navigateur : votez maintenant, ou fermez cette page et revenez voter plus tard depuis cet appareil et ce navigateur. Si vous perdez cet appareil ou effacez les données de ce navigateur avant de voter, le droit est perdu : il n’est délivré qu’une fois.",
    "Recorded — will appear on the board at about {time}. Your browser checked the board's signed promise; check your ballot on the tracker after that time.": "Enregistré — apparaîtra sur le tableau vers {time}. Votre navigateur a vérifié la promesse signée du tableau d’affichage ; vérifiez votre bulletin sur la page de suivi après cette heure.",
    "Encrypting your ballot on this device…": "Chiffrement de votre bulletin sur cet appareil…",
    "Sending your ballot… (a short random wait protects your anonymity)": "Envoi de votre bulletin… (une courte attente aléatoire protège votre anonymat)",
    "Your ballot was recorded.": "Votre bulletin a été enregistré.",
    "Checked by your browser: your ballot is entry {index} of the public board, in a checkpoint of {size} entries signed with the board's key.": "Vérifié par votre navigateur : votre bulletin est l’entrée {index} du tableau d’affichage public, dans un point de contrôle de {size} entrées signé avec la clé du tableau.",
    "The board signed a promise to include your ballot by {time}; check it on the tracker after that.": "Le tableau d’affichage a signé la promesse d’inclure votre bulletin avant le {time} ; vérifiez-le sur la page de suivi ensuite.",
    "You cannot vote in this election under its eligibility rule. Your account page explains what you can do.": "Vous ne pouvez pas voter à ce scrutin selon sa règle d’éligibilité. La page de votre compte explique ce que vous pouvez faire.",
    "A voting right was already given to you for this election, perhaps in another browser. Vote from that browser, where it is kept. If this browser's data was cleared, the right is lost: it is issued only once.": "Un droit de vote vous a déjà été remis pour ce scrutin, peut-être dans un autre navigateur. Votez depuis ce navigateur, où il est conservé. Si les données de ce navigateur ont été effacées, le droit est perdu : il n’est délivré qu’une fois.",
    "You voted on paper for this election: you cannot also vote online.": "Vous avez voté sur papier à ce scrutin : vous ne pouvez pas aussi voter en ligne.",
    "This election is not open for voting.": "Ce scrutin n’est pas ouvert au vote.",
    "This voting right has already been used, and this election does not allow changing a vote.": "Ce droit de vote a déjà été utilisé, et ce scrutin ne permet pas de modifier un vote.",
    "A more recent ballot from this voting right is already in the ballot box. Reload the page and vote again if you wish.": "Un bulletin plus récent de ce droit de vote est déjà dans l’urne. Rechargez la page et votez à nouveau si vous le souhaitez.",
    "The ballot box refused the encrypted ballot: one of its proofs did not verify. Nothing was counted. Please try again; if it happens again, report it to the town hall.": "L’urne a refusé le bulletin chiffré : l’une de ses preuves n’a pas été vérifiée. Rien n’a été compté. Veuillez réessayer ; si cela se reproduit, signalez-le à la mairie.",
    "The ballot box refused this ballot as not valid for the election's rules. Please check your answers.": "L’urne a refusé ce bulletin, non conforme aux règles du scrutin. Veuillez vérifier vos réponses.",
    "Too many attempts: please wait a few minutes and try again.": "Trop de tentatives : veuillez patienter quelques minutes puis réessayer.",
    "Parvis could not be reached. Check your connection and try again: your voting right is kept.": "Parvis est injoignable. Vérifiez votre connexion et réessayez : votre droit de vote est conservé.",
    "The ballot box refused the request: {detail}": "L’urne a refusé la demande : {detail}",
    "The receipt does not match the ballot your browser sent. Keep this page and report it to the town hall. ({detail})": "Le reçu ne correspond pas au bulletin envoyé par votre navigateur. Conservez cette page et signalez-le à la mairie. ({detail})",
    "Your browser could not complete the cryptography: {detail}": "Votre navigateur n’a pas pu mener à bien la cryptographie : {detail}",
    # tracker script
    "A tracking code has 16 letters and digits, for example NBSM-OIJZ-WZM2-UBGA.": "Un code de suivi compte 16 lettres et chiffres, par exemple NBSM-OIJZ-WZM2-UBGA.",
    "Checking the proof…": "Vérification de la preuve…",
    "Replaced by a more recent vote: this ballot is not counted.": "Remplacé par un vote plus récent : ce bulletin n’est pas compté.",
    "The ballot with tracking code {code} is on the public board, but you voted again with the same voting right and only your last ballot counts. Check the tracking code of your last ballot.": "Le bulletin de code de suivi {code} figure sur le tableau d’affichage public, mais vous avez voté à nouveau avec le même droit de vote et seul votre dernier bulletin compte. Vérifiez le code de suivi de votre dernier bulletin.",
    "Included: the ballot with tracking code {code} is on the public board, and your browser verified the proof.": "Inclus : le bulletin de code de suivi {code} figure sur le tableau d’affichage public, et votre navigateur a vérifié la preuve.",
    "Entry {index} of a board of {size} entries.": "Entrée {index} d’un tableau d’affichage de {size} entrées.",
    "Checkpoint signed by {origin} (key {keyid}).": "Point de contrôle signé par {origin} (clé {keyid}).",
    "Root of the board: {root}.": "Racine du tableau d’affichage : {root}.",
    "Recorded — will appear on the board at about {time} (the ballot with tracking code {code}).": "Enregistré — apparaîtra sur le tableau vers {time} (le bulletin de code de suivi {code}).",
    "Recorded — the ballot with tracking code {code} will appear on the board with the next batch.": "Enregistré — le bulletin de code de suivi {code} apparaîtra sur le tableau avec le prochain lot.",
    "Ballots are added to the public board in batches, in a random order, so that nobody can tell when each one was cast. This page checks again after that time, and your browser then verifies the proof.": "Les bulletins sont ajoutés au tableau d’affichage public par lots, dans un ordre aléatoire, pour que personne ne puisse savoir quand chacun a été déposé. Cette page vérifie à nouveau après cette heure, et votre navigateur vérifie alors la preuve.",
    "Warning: the board's key or name differs from the one this browser saw when you voted. Report it to the town hall.": "Attention : la clé ou le nom du tableau d’affichage diffère de celui que ce navigateur a vu lors de votre vote. Signalez-le à la mairie.",
    "No ballot on this board has the tracking code {code}. Check the code you typed.": "Aucun bulletin de ce tableau d’affichage n’a le code de suivi {code}. Vérifiez le code saisi.",
    "The proof did not verify: the board did not prove that it includes this ballot. Report it to the town hall.": "La preuve n’a pas été vérifiée : le tableau d’affichage n’a pas prouvé qu’il contient ce bulletin. Signalez-le à la mairie.",
    "The board's answer is about another ballot.": "La réponse du tableau d’affichage concerne un autre bulletin.",
    "The board's answer does not give back this tracking code.": "La réponse du tableau d’affichage ne redonne pas ce code de suivi.",
    "The inclusion proof does not lead to the state of the board it signed.": "La preuve d’inclusion ne mène pas à l’état du tableau d’affichage qu’il a signé.",
    "The board's signed state is not signed with the board key published for this vote.": "L’état signé du tableau d’affichage n’est pas signé avec la clé publiée pour ce vote.",
    "The proof and the board's signed state do not count the same entries.": "La preuve et l’état signé du tableau d’affichage ne comptent pas les mêmes entrées.",
    "The board's signed promise is not valid.": "La promesse signée du tableau d’affichage n’est pas valide.",
    "The check could not be completed. Please try again later.": "La vérification n’a pas pu aboutir. Veuillez réessayer plus tard.",
}
MESSAGES.update(BOOTH_MESSAGES)
