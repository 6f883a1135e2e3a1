"""Command-line hints the app shows (evaluating stays in the command line, where the data is).

An ``evaluate`` hint names every option the command needs on the demo data, ``--label`` included (it fails without
it when the label column cannot be guessed): the values of the model's last evaluation where there is one, else
placeholders. ``--as`` names the signed-in user only when they may evaluate (``user.can(Permission.EVALUATE)``, asked
of a session holding the user's roles as of now: :func:`app.session.acting`); otherwise the hint says who runs it
and keeps the ``USER`` placeholder.
"""

from __future__ import annotations

import shlex
from typing import Any

from core.display.words import role_words
from core.errors import CountersignError
from core.identity.roles import PERMISSIONS, Permission
from core.identity.users import Session

#: The roles that evaluate, in core's order (for words only: whether a user may is asked of their session).
EVALUATORS: tuple[str, ...] = tuple(str(r) for r in PERMISSIONS[Permission.EVALUATE])


def may_evaluate(user: Session) -> bool:
    """Whether ``user`` may run ``countersign evaluate`` (core's answer: :meth:`Session.can`)."""
    return user.can(Permission.EVALUATE)


def who_evaluates() -> str:
    """The roles that evaluate, in words ("a data scientist or an ML lead")."""
    def article(words: str) -> str:
        return ("an " if words[:1].lower() in "aeiou" or words.startswith("ML") else "a ") + words

    return " or ".join(article(role_words(r)) for r in EVALUATORS)


def last_evaluation(cs: Any, user: Session, ref: str | None) -> dict[str, Any] | None:  # noqa: ANN401 - the facade
    """The model version's newest evaluation, whole (``label``, ``data``, ``policy``), or ``None``."""
    if not ref:
        return None
    try:
        listed = cs.evaluations(user, ref)
        if not listed:
            return None
        newest = max(listed, key=lambda e: str(e.get("evaluated_at") or ""))
        return cs.evaluation(user, newest["id"])
    except CountersignError:
        return None


def evaluate_command(user: Session, *, model: str | None = None, data: str | None = None,
                     policy: str | None = None, label: str | None = None,
                     evaluation: dict[str, Any] | None = None) -> str:
    """``countersign evaluate`` with every option it needs; known values filled in (from ``evaluation``, the model's
    last one, where not given), placeholders for the rest."""
    if evaluation:
        data = data or (evaluation.get("data") or {}).get("ref")
        label = label or evaluation.get("label")
        given = evaluation.get("policy") or {}
        policy = policy or (f"{given['name']}@{given['version']}" if given.get("name") else None)
    words = ["countersign", "evaluate", model or "MODEL@VERSION", "--data", data or "DATASET@VERSION",
             "--policy", policy or "POLICY", "--label", label or "COLUMN",
             "--as", user.name if may_evaluate(user) else "USER"]
    return " ".join(w if w.isupper() or w in ("MODEL@VERSION", "DATASET@VERSION") else shlex.quote(w)
                    for w in words)


def evaluate_hint(user: Session) -> str:
    """Who runs the command, in words ("" when the user may run it themselves)."""
    return "" if may_evaluate(user) else f"{who_evaluates()[0].upper()}{who_evaluates()[1:]} runs it, as themselves: "
