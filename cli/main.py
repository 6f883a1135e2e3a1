"""Entry point of the ``countersign`` command.

Exit codes (see :mod:`core.errors`): 0 ok; 1 a check failed; 2 bad usage or input (nothing written); 3 not
authenticated or not permitted (only the refusal event written); 4 database unavailable (nothing written).
"""

from __future__ import annotations

import getpass
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cli import words
from cli.output import emit_json, error, error_lines, say, say_block, stdin_is_tty, table, usage_error
from core.api.countersign import Countersign
from core.catalog.datasets import CsvDialect
from core.display.words import human, role_words, when
from core.errors import BadInput, CheckFailed, CountersignError, NotAuthenticated
from core.evaluation.engines import Engine
from core.identity.roles import ALL_ROLES
from core.identity.users import Session


class _State:
    def __init__(self) -> None:
        self.db: str | None = None
        self.user: str | None = None


def _db_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db", "db", default=None, metavar="PATH|URI",
        help="Database: a DuckDB file or postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE (default: "
             "$COUNTERSIGN_DB, else ~/.local/share/countersign/countersign.duckdb).",
    )(fn)


def _json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")(fn)


def _as_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--as", "as_user", default=None, metavar="USER",
                        help="Acting user (default: $COUNTERSIGN_USER).")(fn)


def command(group: click.Group, name: str, *, auth: bool = False, **kwargs: Any) -> Callable[..., Any]:  # noqa: ANN401
    """Register a command with the common ``--db`` / ``--json`` (and ``--as``) options."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        decorated = _json_option(_db_option(fn))
        if auth:
            decorated = _as_option(decorated)
        return group.command(name, **kwargs)(click.pass_obj(decorated))

    return wrap


def _service(state: _State, db: str | None) -> Countersign:
    return Countersign(db or state.db)


def _password(user: str) -> str:
    """``user``'s password: COUNTERSIGN_PASSWORD, else a prompt on a terminal; else say whose password is needed."""
    password = os.environ.get("COUNTERSIGN_PASSWORD")
    if password:
        return password
    if stdin_is_tty():
        return getpass.getpass(f"Password for {user}: ")
    raise NotAuthenticated(f"this command acts as {user} and needs {user}'s password: set COUNTERSIGN_PASSWORD to it "
                           "(or run the command in a terminal, which asks for it)")


def _acting_user(state: _State, as_user: str | None) -> str:
    user = as_user or state.user or os.environ.get("COUNTERSIGN_USER")
    if not user:
        raise NotAuthenticated("this command acts as a user: pass --as USER (or set COUNTERSIGN_USER), and give "
                               "that user's password in COUNTERSIGN_PASSWORD or at the prompt")
    return user


def _login(state: _State, cs: Countersign, as_user: str | None) -> Session:
    user = _acting_user(state, as_user)
    return cs.login(user, _password(user))


def _new_password(from_stdin: bool, what: str) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise BadInput(f"--password-stdin given but standard input is empty ({what})")
        return line.rstrip("\r\n")
    if not stdin_is_tty():
        raise BadInput(f"no password for {what}: pass --password-stdin and pipe it in")
    first = getpass.getpass(f"New password for {what}: ")
    if getpass.getpass("Repeat: ") != first:
        raise BadInput("the two passwords differ")
    return first


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", default=None, metavar="PATH", help="Database file (also per command).")
@click.option("--as", "as_user", default=None, metavar="USER", help="Acting user (also per command).")
@click.version_option(package_name="countersign")
@click.pass_context
def cli(ctx: click.Context, db: str | None, as_user: str | None) -> None:
    """Countersign: model governance with a signed, tamper-evident audit ledger."""
    state = ctx.ensure_object(_State)
    state.db, state.user = db, as_user


# ------------------------------------------------------------------------------------------------- init
@command(cli, "init")
@click.option("--admin", required=True, metavar="NAME", help="Name of the first administrator.")
@click.option("--origin", default=None, help="Log origin named in checkpoints (default: countersign.local/<random>).")
@click.option("--checkpoint-interval", default=1000, show_default=True, type=click.IntRange(1, 2**62),
              help="Write a signed checkpoint every N entries.")
def init_cmd(state: _State, db: str | None, as_json: bool, admin: str, origin: str | None,
             checkpoint_interval: int) -> None:
    """Create a new database, its service key and the first admin (password from COUNTERSIGN_PASSWORD)."""
    password = os.environ.get("COUNTERSIGN_PASSWORD") or (
        _new_password(False, admin) if stdin_is_tty() else ""
    )
    if not password:
        raise BadInput("set COUNTERSIGN_PASSWORD to the first admin's password")
    cs = Countersign.init(db or state.db, admin=admin, password=password, origin=origin,
                          checkpoint_interval=checkpoint_interval)
    keys = cs.keys()
    result = {"database": cs.location, "origin": cs.origin, "admin": admin,
              "service_verifier_key": keys["service"]["verifier_key"]}
    if as_json:
        emit_json(result)
    else:
        say(f"Created {cs.location}", f"  origin: {cs.origin}", f"  admin: {admin}",
            f"  service key: {result['service_verifier_key']}")


# ------------------------------------------------------------------------------------------------- users
@cli.group("user")
def user_group() -> None:
    """Manage users, roles, passwords and keys."""


@command(user_group, "add", auth=True)
@click.argument("name")
@click.option("--role", "roles", multiple=True, type=click.Choice(ALL_ROLES), required=True,
              help="Role to grant (repeatable).")
@click.option("--password-stdin", is_flag=True, hidden=True)
def user_add(state: _State, db: str | None, as_json: bool, as_user: str | None, name: str,
             roles: tuple[str, ...], password_stdin: bool) -> None:
    """Add a user with one or more roles (admin only) and print their one-time enrolment code.

    Give the code to the person over a separate channel; they run 'countersign user enroll NAME' and choose their
    own password. An admin never sets or knows another person's password.
    """
    if password_stdin:
        raise BadInput("an admin does not set passwords: 'user add' prints a one-time enrolment code; the new user "
                       "chooses their password with 'countersign user enroll'")
    cs = _service(state, db)
    session = _login(state, cs, as_user)
    result = cs.add_user(session, name, list(roles))
    emit_json(result) if as_json else say(
        f"Added {name} ({words.roles(result['roles'])}), ledger seq {result['seq']}",
        f"Enrolment code (works once, until {when(result['enrolment_expires_at'])}): {result['enrolment_code']}",
        f"Give it to {name} over a separate channel; they run: countersign user enroll {name}")


@command(user_group, "reissue", auth=True)
@click.argument("name")
def user_reissue(state: _State, db: str | None, as_json: bool, as_user: str | None, name: str) -> None:
    """Issue a new enrolment code for a user who has not enrolled yet (admin only; the old code stops working)."""
    cs = _service(state, db)
    result = cs.reissue_enrolment(_login(state, cs, as_user), name)
    emit_json(result) if as_json else say(
        f"Enrolment code for {name} (works once, until {when(result['enrolment_expires_at'])}): "
        f"{result['enrolment_code']}")


@command(user_group, "enroll")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
def user_enroll(state: _State, db: str | None, as_json: bool, name: str, password_stdin: bool) -> None:
    """Redeem your enrolment code (COUNTERSIGN_ENROLMENT_CODE or a prompt) and choose your own password."""
    code = os.environ.get("COUNTERSIGN_ENROLMENT_CODE")
    if not code:
        if not stdin_is_tty():
            raise BadInput("no enrolment code: set COUNTERSIGN_ENROLMENT_CODE or run interactively")
        code = getpass.getpass("Enrolment code: ")
    password = _new_password(password_stdin, name)
    session = _service(state, db).enroll(name, code, password)
    result = {"name": session.name, "roles": list(session.roles), "key_id": session.signer.key_id}
    emit_json(result) if as_json else say(
        f"Enrolled {name} ({words.roles(session.roles)}): your key {session.signer.key_id} signed its own registration")


@command(user_group, "list", auth=True)
def user_list(state: _State, db: str | None, as_json: bool, as_user: str | None) -> None:
    """List users, their roles, and whether they enrolled or were deactivated."""
    cs = _service(state, db)
    users = cs.users(_login(state, cs, as_user))
    if as_json:
        emit_json(users)
        return
    table([{**u, "roles": words.roles(u["roles"]), "status": words.user_status(u), "created": when(u["created_at"])}
           for u in users],
          ["name", "roles", "status", "key_id", "created"])


@command(user_group, "deactivate", auth=True)
@click.argument("name")
@click.option("--reason", required=True, help="Why (recorded in the ledger).")
def user_deactivate(state: _State, db: str | None, as_json: bool, as_user: str | None, name: str,
                    reason: str) -> None:
    """Deactivate NAME for good (admin only): no sign-in, no roles, no key to sign with; past signatures stay valid
    and approvals NAME gave on open requests no longer count."""
    cs = _service(state, db)
    result = cs.deactivate_user(_login(state, cs, as_user), name, reason)
    emit_json(result) if as_json else say(
        f"Deactivated {name} (ledger seq {result['seq']}); roles removed: "
        f"{words.roles(result['roles_removed'], 'none')}")


@command(user_group, "grant", auth=True)
@click.argument("name")
@click.argument("role", type=click.Choice(ALL_ROLES))
def user_grant(state: _State, db: str | None, as_json: bool, as_user: str | None, name: str, role: str) -> None:
    """Grant ROLE to NAME (admin only)."""
    cs = _service(state, db)
    result = cs.grant(_login(state, cs, as_user), name, role)
    emit_json(result) if as_json else say(f"{name} now holds: {words.roles(result['roles'])}")


@command(user_group, "revoke", auth=True)
@click.argument("name")
@click.argument("role", type=click.Choice(ALL_ROLES))
def user_revoke(state: _State, db: str | None, as_json: bool, as_user: str | None, name: str, role: str) -> None:
    """Revoke ROLE from NAME (admin only)."""
    cs = _service(state, db)
    result = cs.revoke(_login(state, cs, as_user), name, role)
    emit_json(result) if as_json else say(f"{name} now holds: {words.roles(result['roles'])}")


@command(user_group, "passwd", auth=True)
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input.")
def user_passwd(state: _State, db: str | None, as_json: bool, as_user: str | None, password_stdin: bool) -> None:
    """Change your own password (current one from COUNTERSIGN_PASSWORD or a prompt)."""
    cs = _service(state, db)
    session = _login(state, cs, as_user)
    result = cs.change_password(session, _new_password(password_stdin, session.name))
    emit_json(result) if as_json else say(f"Password changed for {session.name}")


@command(user_group, "rotate-key", auth=True)
def user_rotate_key(state: _State, db: str | None, as_json: bool, as_user: str | None) -> None:
    """Replace your signing key (the old key signs the handover)."""
    cs = _service(state, db)
    user = _acting_user(state, as_user)
    password = _password(user)
    session = cs.login(user, password)
    _, result = cs.rotate_key(session, password)
    emit_json(result) if as_json else say(
        f"New key {result['key_id']} for {session.name} (replaces {result['previous_key_id']})")


# ------------------------------------------------------------------------------------------------- ledger
@command(cli, "log", auth=True)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 2**62))
@click.option("--offset", default=0, type=click.IntRange(0, 2**62))
@click.option("--actor", default=None, help="Only entries by this user (any case; trailing * for a prefix).")
@click.option("--action", default=None,
              help="Only this action or family: 'promotion' finds promotion.*; a trailing * matches a prefix.")
@click.option("--subject", default=None, help="Only this subject (trailing * for a prefix).")
@click.option("--since", default=None, metavar="DATE|TIME",
              help="Only entries at or after this moment (ISO 8601, UTC unless an offset is given).")
@click.option("--until", default=None, metavar="DATE|TIME",
              help="Only entries up to this moment; a date includes the whole day.")
def log_cmd(state: _State, db: str | None, as_json: bool, as_user: str | None, limit: int, offset: int,
            actor: str | None, action: str | None, subject: str | None, since: str | None,
            until: str | None) -> None:
    """Show ledger entries, newest first (times in UTC).

    --actor is a whole user name in any case; --action matches whole dotted segments ('promotion' finds
    promotion.requested and promotion.approved); a trailing * on either, or on --subject, matches a plain prefix.
    A bad --since/--until (say 'yesterday') exits 2 naming it."""
    from core.api.countersign import parse_log_time

    for label, value, end in (("--since", since, False), ("--until", until, True)):
        if value is not None:
            parse_log_time(value, label, end=end)  # refuse before asking for a password
    cs = _service(state, db)
    rows = cs.log(_login(state, cs, as_user), limit=limit, offset=offset, actor=actor, action=action,
                  subject=subject, since=since, until=until)
    if as_json:
        emit_json(rows)
    else:
        table([{**r, "ts": when(r["ts"]), "role": role_words(r["role"]) if r["role"] else None,
                "key": r["key_id"][:8]} for r in rows],
              ["seq", "ts", "actor", "role", "action", "subject", "key"])


@command(cli, "checkpoint", auth=True)
def checkpoint_cmd(state: _State, db: str | None, as_json: bool, as_user: str | None) -> None:
    """Write a fresh signed checkpoint and print the signed note (save it outside the database)."""
    cs = _service(state, db)
    cp = cs.checkpoint(_login(state, cs, as_user))
    if as_json:
        emit_json({"size": cp["size"], "root": cp["root"], "note": cp["note"]})
    else:
        say_block(cp["note"], nl=False)


@command(cli, "keys")
def keys_cmd(state: _State, db: str | None, as_json: bool) -> None:
    """Public keys: the service's C2SP verifier key and every user's key."""
    keys = _service(state, db).keys()
    if as_json:
        emit_json(keys)
        return
    say(f"service  {keys['service']['verifier_key']}")
    table(keys["users"], ["owner", "key_id", "public_key", "valid_from_seq"])


@command(cli, "verify")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A checkpoint saved earlier, outside the database: prove the log only grew since.")
@click.option("--jobs", type=click.IntRange(1, 1024), default=None,
              help="Parallel slices for the per-entry checks; 1 checks everything in this process "
                   "(default: cores; how many worker processes run them is COUNTERSIGN_WORKERS).")
def verify_cmd(state: _State, db: str | None, as_json: bool, checkpoint_file: Path | None,
               jobs: int | None) -> None:
    """Recompute every hash, link, signature and checkpoint; exit 1 naming the first bad entry."""
    note = None
    if checkpoint_file is not None:
        try:
            note = checkpoint_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise BadInput(f"cannot read checkpoint file {checkpoint_file}: {exc.strerror}") from None
    report = _service(state, db).verify(note, jobs=jobs)
    if as_json:
        emit_json(report.to_dict())
    elif report.ok:
        extra = ""
        if report.external_checkpoint:
            extra = f"; append-only since the saved checkpoint at size {report.external_checkpoint['size']}"
        say(f"OK: {report.size} entries intact, root {report.root}, "
                   f"{report.checkpoints_verified} checkpoints verified{extra}")
    else:
        say(f"FAILED: {report.first_problem}", err=True)
        for problem in report.problems[1:20]:
            say(f"  also: {problem}", err=True)
    if not report.ok:
        raise _Quiet(1)


# ------------------------------------------------------------------------------------------------- datasets
@cli.group("dataset")
def dataset_group() -> None:
    """Register and inspect datasets (content-addressed, immutable NAME@VERSION)."""


@command(dataset_group, "register", auth=True)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", required=True)
@click.option("--version", "version", required=True)
@click.option("--datasheet", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="YAML datasheet (Gebru et al.'s seven sections).")
@click.option("--derived-from", "derived_from", multiple=True, metavar="REF", help="Parent dataset (repeatable).")
@click.option("--source-uri", default=None, help="Where the data came from (default: the file's URI).")
@click.option("--delimiter", default=None, metavar="CHAR",
              help="CSV field delimiter instead of DuckDB's guess ('tab' and 'space' accepted).")
@click.option("--header/--no-header", default=None, help="Whether the CSV's first line holds column names.")
@click.option("--columns", default=None, metavar="A,B,...", help="CSV column names, in order (comma-separated).")
@click.option("--spark-master", default=None, metavar="URL",
              help="Spark master that reads a spark-table:NAME (default: $COUNTERSIGN_SPARK_MASTER, else local[*]).")
def dataset_register(state: _State, db: str | None, as_json: bool, as_user: str | None, path: Path, name: str,
                     version: str, datasheet: Path | None, derived_from: tuple[str, ...],
                     source_uri: str | None, delimiter: str | None, header: bool | None,
                     columns: str | None, spark_master: str | None) -> None:
    """Register a CSV file, a Parquet file, a folder of Parquet files, or a table of the Spark catalog given as
    spark-table:[CATALOG.]DATABASE.TABLE (digested by its content through Spark; see docs/engines.md)."""
    delimiter = {"tab": "\t", "\\t": "\t", "space": " "}.get(delimiter or "", delimiter)
    names = tuple(c.strip() for c in columns.split(",")) if columns is not None else ()
    csv = CsvDialect(delimiter, header, names)
    cs = _service(state, db)
    result = cs.register_dataset(_login(state, cs, as_user), path, name=name, version=version, datasheet=datasheet,
                                 derived_from=derived_from, source_uri=source_uri, csv=csv,
                                 spark_master=spark_master)
    if as_json:
        emit_json(result)
    else:
        verb = "Registered" if result["created"] else "Already registered (same content)"
        say(f"{verb} {result['ref']}: {result['rows']} rows, sha256 {result['digest']}")


@command(dataset_group, "show", auth=True)
@click.argument("ref")
def dataset_show(state: _State, db: str | None, as_json: bool, as_user: str | None, ref: str) -> None:
    """Show a dataset: digest, schema, profile, datasheet and its history."""
    cs = _service(state, db)
    info = cs.dataset(_login(state, cs, as_user), ref)
    if as_json:
        emit_json(info)
        return
    say(f"{info['ref']}  sha256 {info['digest']}", f"  {info['format']}, {info['rows']} rows, "
        f"{info['size_bytes']} bytes, registered by {info['registered_by']} at {when(info['registered_at'])}")
    say(f"  source: {info['source_uri']}")
    if info.get("csv"):
        say(f"  read as CSV with: {words.csv_dialect(info['csv'])}")
    if info["derived_from"]:
        say(f"  derived from: {', '.join(info['derived_from'])}")
    table([{"column": k, **v} for k, v in info["profile"]["columns"].items()],
          ["column", "type", "nulls", "distinct_approx", "min", "max", "mean", "top"])
    if info["datasheet"]:
        say(f"Datasheet (revision {info['datasheet_history'][-1]['revision']}):")
        for section, text in info["datasheet"].items():
            say(f"  {section}: {text}")


@command(dataset_group, "list", auth=True)
def dataset_list(state: _State, db: str | None, as_json: bool, as_user: str | None) -> None:
    """List registered datasets."""
    cs = _service(state, db)
    rows = cs.datasets(_login(state, cs, as_user))
    emit_json(rows) if as_json else table(rows, ["ref", "format", "rows", "digest", "registered_by"])


@command(dataset_group, "datasheet", auth=True)
@click.argument("ref")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def dataset_datasheet(state: _State, db: str | None, as_json: bool, as_user: str | None, ref: str,
                      file: Path) -> None:
    """Replace a dataset's datasheet with FILE (a new revision; history kept)."""
    cs = _service(state, db)
    result = cs.edit_datasheet(_login(state, cs, as_user), ref, file)
    emit_json(result) if as_json else say(
        f"Datasheet of {ref} is now revision {result['revision']} (changed: {human(result['sections_changed'])})")


@command(dataset_group, "check", auth=True)
@click.argument("ref")
@click.option("--spark-master", default=None, metavar="URL",
              help="Spark master that re-digests a Spark table (default: $COUNTERSIGN_SPARK_MASTER, else local[*]).")
def dataset_check(state: _State, db: str | None, as_json: bool, as_user: str | None, ref: str,
                  spark_master: str | None) -> None:
    """Re-hash a registered dataset's file (a Spark table: its content, through Spark); exit 2 if it changed since
    registration."""
    cs = _service(state, db)
    record, path = cs.use_dataset(_login(state, cs, as_user), ref, spark_master)
    emit_json({"ref": ref, "path": str(path), "digest": record["digest"], "unchanged": True}) if as_json else \
        say(f"{ref}: {path} unchanged (sha256 {record['digest']})")


# ------------------------------------------------------------------------------------------------- models
@cli.group("model")
def model_group() -> None:
    """Register and inspect model versions."""


@command(model_group, "register", auth=True)
@click.argument("artifact", required=False, type=click.Path(path_type=Path))
@click.option("--name", required=True)
@click.option("--version", "version", required=True)
@click.option("--trained-on", "trained_on", multiple=True, required=True, metavar="DATASET_REF")
@click.option("--card", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="YAML model card (Mitchell et al.'s sections).")
@click.option("--code-ref", default=None, metavar="URL@COMMIT")
@click.option("--risk-tier", type=click.Choice(["high", "medium", "low"]), default=None)
@click.option("--external", is_flag=True, help="A model known only through its predictions (no artifact).")
@click.option("--feature", "features", multiple=True,
              help="Input feature (repeatable, in training order): of an external model, or of a model fitted on "
                   "arrays without feature names.")
@click.option("--trust-pickle", is_flag=True,
              help="Load a pickle/joblib artifact although it can run code (recorded in the ledger).")
@click.option("--policy", "policy", default=None, metavar="NAME", help="Governing policy of this model name.")
def model_register(state: _State, db: str | None, as_json: bool, as_user: str | None, artifact: Path | None,
                   name: str, version: str, trained_on: tuple[str, ...], card: Path | None, code_ref: str | None,
                   risk_tier: str | None, external: bool, features: tuple[str, ...], trust_pickle: bool,
                   policy: str | None) -> None:
    """Register a model artifact (.skops) or an --external model."""
    cs = _service(state, db)
    session = _login(state, cs, as_user)
    result = cs.register_model(session, artifact, name=name, version=version, trained_on=trained_on, card=card,
                               code_ref=code_ref, risk_tier=risk_tier, external=external,
                               trust_pickle=trust_pickle, features=features, policy=policy)
    if as_json:
        emit_json(result)
    else:
        verb = "Registered" if result["created"] else "Already registered"
        trust = "  [TRUSTED PICKLE]" if result["trusted_pickle"] else ""
        artifact = (f"artifact sha256 {result['artifact_digest']}" if result["artifact_digest"]
                    else "no artifact (external model, known by its predictions)")
        say(f"{verb} {result['ref']}: {result['estimator'] or 'external'}, {artifact}{trust}")


#: How ``model show`` reads a lineage edge into the version, from the version's side.
_UPSTREAM = {"imported_as": "imported from", "trained_on": "trained on, by reference only:"}


@command(model_group, "show", auth=True)
@click.argument("ref")
def model_show(state: _State, db: str | None, as_json: bool, as_user: str | None, ref: str) -> None:
    """Show a model version: artifact, estimator, features, training data and card."""
    cs = _service(state, db)
    session = _login(state, cs, as_user)
    info = cs.model(session, ref)
    if as_json:
        emit_json(info)
        return
    trust = ["  WARNING: pickle artifact loaded on the registrant's explicit trust"] if info["trusted_pickle"] else []
    stage = (cs.version_stages(session, info["ref"].rsplit("@", 1)[0]).get(info["ref"])
             or {"stage": "registered"})
    say(f"{info['ref']}  {'external model' if info['external'] else info['estimator']}", *trust,
        f"  stage {_stage_words(stage)}",
        f"  artifact sha256 {info['artifact_digest']}" if info["artifact_digest"] else
        "  no artifact (external model, known by its predictions)",
        f"  framework {info['framework'] or '-'}, risk tier {info['risk_tier'] or '-'}, owner {info['owner']}, "
        f"code {info['code_ref'] or '-'}",
        f"  trained on {', '.join(info['trained_on']) or '- (no registered dataset)'}",
        *(f"  {_UPSTREAM.get(u['kind'], u['kind'] + ' from')} {u['label']} ({u['node']})" for u in info["upstream"]))
    table(info["features"], ["name", "type"])
    if info["card"]:
        say(f"Model card (revision {info['card_history'][-1]['revision']}):")
        for section, text in info["card"].items():
            say(f"  {section}: {text}")


@command(model_group, "list", auth=True)
def model_list(state: _State, db: str | None, as_json: bool, as_user: str | None) -> None:
    """List model versions."""
    cs = _service(state, db)
    session = _login(state, cs, as_user)
    rows = cs.models(session)
    stages = cs.version_stages(session)
    rows = [{**r, "stage": (stages.get(r["ref"]) or {"stage": "registered"})["stage"],
             **({"suspension_reason": stages[r["ref"]].get("reason")}
                if (stages.get(r["ref"]) or {}).get("stage") == "suspended" else {})} for r in rows]
    emit_json(rows) if as_json else table(
        [{**r, "estimator": r["estimator"] or "external", "trusted_pickle": "yes" if r["trusted_pickle"] else "no",
          "stage": _stage_words(stages.get(r["ref"]) or {"stage": "registered"})} for r in rows],
        ["ref", "stage", "estimator", "risk_tier", "owner", "trusted_pickle"])


@command(model_group, "card", auth=True)
@click.argument("ref")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def model_card(state: _State, db: str | None, as_json: bool, as_user: str | None, ref: str, file: Path) -> None:
    """Replace a model's card with FILE (a new revision; history kept)."""
    cs = _service(state, db)
    result = cs.edit_card(_login(state, cs, as_user), ref, file)
    emit_json(result) if as_json else say(
        f"Card of {ref} is now revision {result['revision']} (changed: {human(result['sections_changed'])})")


# ------------------------------------------------------------------------------------------------- lineage
class _LineageGroup(click.Group):
    """``lineage REF`` shows a graph; ``lineage import FILE`` imports OpenLineage events."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:  # noqa: ANN401
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args.insert(0, "show")
        return super().resolve_command(ctx, args)


@cli.group("lineage", cls=_LineageGroup)
def lineage_group() -> None:
    """Lineage graphs (lineage REF) and OpenLineage import (lineage import FILE.jsonl)."""


@command(lineage_group, "show", auth=True)
@click.argument("ref")
@click.option("--upstream", "direction", flag_value="upstream", help="Only what REF came from.")
@click.option("--downstream", "direction", flag_value="downstream", help="Only what came from REF.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "dot"]), default="text")
def lineage_show(state: _State, db: str | None, as_json: bool, as_user: str | None, ref: str,
                 direction: str | None, fmt: str) -> None:
    """The lineage graph around REF (a dataset or model NAME@VERSION), every node with its digest."""
    cs = _service(state, db)
    graph = cs.lineage(_login(state, cs, as_user), ref, direction or "both")
    if as_json or fmt == "json":
        emit_json(graph)
    elif fmt == "dot":
        from core.catalog.lineage import to_dot

        say_block(to_dot(graph), nl=False)
    else:
        for node in graph["nodes"]:
            state = (node["attributes"] or {}).get("state") if node["kind"] == "run" else None
            say(f"{node['id']}  sha256:{node['digest']}" + (f"  [{state}]" if state else ""))
        for edge in graph["edges"]:
            say(f"  {edge['from']} --{edge['kind']}--> {edge['to']}")
        for link in graph.get("columns", []):
            how = f" ({link['transformation']})" if link["transformation"] else ""
            say(f"  column {link['from_dataset']}.{link['from_field'] or '*'} --> "
                f"{link['dataset']}.{link['field'] or '*'}{how}")


@command(lineage_group, "import", auth=True)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def lineage_import(state: _State, db: str | None, as_json: bool, as_user: str | None, file: Path) -> None:
    """Import OpenLineage 2-0-2 events (RunEvent, JobEvent, DatasetEvent) from a JSON-lines file (all or nothing).

    Later events merge into what is stored: runs move through START, RUNNING and COMPLETE/FAIL/ABORT, schema
    versions accumulate, symlinks join a dataset's names, column lineage is kept."""
    cs = _service(state, db)
    result = cs.import_openlineage(_login(state, cs, as_user), file)
    extra = "".join(f", {result[k]} {label}" for k, label in (
        ("nodes_updated", "nodes updated"), ("nodes_merged", "nodes merged by symlinks"),
        ("column_links_created", "new column links")) if result.get(k))
    emit_json(result) if as_json else say(
        f"Imported {result['events']} events: {len(result['runs'])} runs, {len(result['jobs'])} jobs, "
        f"{len(result['datasets'])} datasets ({result['nodes_created']} new nodes, {result['edges_created']} new "
        f"edges{extra})")


# ------------------------------------------------------------------------------------------------- policies
@cli.group("policy")
def policy_group() -> None:
    """Validate, store and compare policy files."""


@command(policy_group, "check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path), metavar="FILE...")
def policy_check(state: _State, db: str | None, as_json: bool, files: tuple[Path, ...]) -> None:
    """Validate policy files; every error names the file, line and field (exit 2 if any file is invalid).

    Several files (as a pre-commit hook passes them) are each checked, and every invalid one is reported."""
    from core.policy.rules import kind_of, load_policy_file

    def summary(file: Path) -> dict[str, Any]:
        policy, _text, sha = load_policy_file(file)
        return {"file": str(file), "policy": policy.policy, "version": policy.version, "sha256": sha,
                "checks": [{"id": c.id, "kind": kind_of(c)} for c in policy.checks]}

    if len(files) == 1:
        one = summary(files[0])
        emit_json(one) if as_json else say(
            f"OK: {one['file']} is policy {one['policy']}@{one['version']} with {len(one['checks'])} checks "
            f"(sha256 {one['sha256']})")
        return
    valid, invalid = [], []
    for file in files:
        try:
            valid.append(summary(file))
        except CountersignError as exc:
            invalid.append({"file": str(file), "error": exc.message})
        except OSError as exc:
            invalid.append({"file": str(file), "error": f"cannot read {file}: {exc.strerror or exc}"})
    if as_json:
        emit_json({"valid": valid, "invalid": invalid})
    else:
        for one in valid:
            say(f"OK: {one['file']} is policy {one['policy']}@{one['version']} with {len(one['checks'])} checks")
        for bad in invalid:
            say(*(f"error: {line}" for line in str(bad["error"]).splitlines()), err=True)
    if invalid:
        raise _Quiet(2)


@command(policy_group, "schema")
def policy_schema(state: _State, db: str | None, as_json: bool) -> None:
    """Print the policy JSON Schema (for editors)."""
    from core.policy.rules import schema_text

    say_block(schema_text())


@command(policy_group, "add", auth=True)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def policy_add(state: _State, db: str | None, as_json: bool, as_user: str | None, file: Path) -> None:
    """Store an immutable policy version (compliance officers)."""
    cs = _service(state, db)
    result = cs.add_policy(_login(state, cs, as_user), file)
    emit_json(result) if as_json else say(
        f"{'Added' if result['created'] else 'Already present'} policy {result['name']}@{result['version']} "
        f"(sha256 {result['sha256']})")


@command(policy_group, "list", auth=True)
def policy_list(state: _State, db: str | None, as_json: bool, as_user: str | None) -> None:
    """List stored policy versions."""
    cs = _service(state, db)
    rows = cs.policies(_login(state, cs, as_user))
    emit_json(rows) if as_json else table(rows, ["name", "version", "sha256", "added_by", "added_at"])


@command(policy_group, "show", auth=True)
@click.argument("spec", metavar="NAME[@VERSION]")
def policy_show(state: _State, db: str | None, as_json: bool, as_user: str | None, spec: str) -> None:
    """Show a stored policy version (latest if no version)."""
    cs = _service(state, db)
    record = cs.policy(_login(state, cs, as_user), spec)
    if as_json:
        emit_json(record)
    else:
        say(f"# {record['name']}@{record['version']}  sha256 {record['sha256']}  added by {record['added_by']} "
                   f"at {when(record['added_at'])}")
        say_block(record["text"], nl=False)


@command(policy_group, "diff", auth=True)
@click.argument("left", metavar="NAME@V1")
@click.argument("right", metavar="NAME@V2")
def policy_diff(state: _State, db: str | None, as_json: bool, as_user: str | None, left: str, right: str) -> None:
    """Unified diff between two stored policy versions."""
    cs = _service(state, db)
    diff = cs.policy_diff(_login(state, cs, as_user), left, right)
    emit_json({"left": left, "right": right, "diff": diff}) if as_json else say_block(diff or "(identical)",
                                                                                     nl=bool(not diff))


@command(policy_group, "assign", auth=True)
@click.argument("model_name")
@click.argument("policy_name")
def policy_assign(state: _State, db: str | None, as_json: bool, as_user: str | None, model_name: str,
                  policy_name: str) -> None:
    """Make POLICY_NAME govern MODEL_NAME (compliance officers)."""
    cs = _service(state, db)
    result = cs.assign_policy(_login(state, cs, as_user), model_name, policy_name)
    emit_json(result) if as_json else say(
        f"{model_name} is governed by {policy_name}" + ("" if result["changed"] else " (unchanged)"))


# ------------------------------------------------------------------------------------------------- releases
@command(cli, "promote", auth=True)
@click.argument("model_ref")
@click.option("--to", "to", required=True, type=click.Choice(["staging", "production"]))
@click.option("--reason", required=True)
def promote_cmd(state: _State, db: str | None, as_json: bool, as_user: str | None, model_ref: str, to: str,
                reason: str) -> None:
    """Request a promotion; refused (exit 1, with every reason) unless the policy gate allows it."""
    cs = _service(state, db)
    try:
        result = cs.promote(_login(state, cs, as_user), model_ref, to=to, reason=reason)
    except CheckFailed as exc:
        if as_json:
            emit_json({"refused": True, "reasons": getattr(exc, "reasons", [exc.message])})
            raise _Quiet(1) from None
        raise
    emit_json(result) if as_json else say(
        f"Request {result['request_id']}: {model_ref} → {to}, awaiting {words.roles(result['required_roles'])}"
        + (f" (waivers used: {', '.join(w['check'] for w in result['waivers'])})" if result["waivers"] else ""))


@command(cli, "reinstate", auth=True)
@click.argument("model_ref")
@click.option("--reason", required=True)
def reinstate_cmd(state: _State, db: str | None, as_json: bool, as_user: str | None, model_ref: str,
                  reason: str) -> None:
    """Request that a suspended version return to production (a new approval round)."""
    cs = _service(state, db)
    result = cs.reinstate(_login(state, cs, as_user), model_ref, reason=reason)
    emit_json(result) if as_json else say(
        f"Request {result['request_id']}: reinstate {model_ref}, awaiting {words.roles(result['required_roles'])}")


def _decision_cmd(decision: str) -> Callable[..., None]:
    def run(state: _State, db: str | None, as_json: bool, as_user: str | None, request_id: str, comment: str) -> None:
        cs = _service(state, db)
        session = _login(state, cs, as_user)
        act = cs.approve if decision == "approve" else cs.reject
        result = act(session, request_id, comment=comment)
        if as_json:
            emit_json(result)
        elif result["status"] == "approved":
            name = result["model"].rsplit("@", 1)[0]
            stage = result.get("to_stage") or (cs.version_stages(session, name).get(result["model"]) or {}).get(
                "stage", "its target stage")
            say(f"Approved as {role_words(result['role'])}: {result['model']} promoted to {stage}")
        elif result["status"] == "rejected":
            say(f"Rejected as {role_words(result['role'])}: request {request_id} closed")
        else:
            say(f"Approved as {role_words(result['role'])}; still awaiting "
                f"{words.roles(result['remaining_roles'], 'nobody')}")
        if not as_json and result.get("lapsed_approvals"):
            say("Approvals that no longer count: " + ", ".join(
                f"{a['approver']} ({role_words(a['role'])})" for a in result["lapsed_approvals"]))
        _mlflow_notes(result, as_json)

    return run


for _name, _help in (("approve", "Approve a promotion request (signed with your key)."),
                     ("reject", "Reject a promotion request (closes it).")):
    _fn = _decision_cmd(_name)
    _fn.__doc__ = _help
    _fn = click.option("--comment", required=True, help="Why (required).")(click.argument("request_id")(_fn))
    command(cli, _name, auth=True)(_fn)


@command(cli, "request-changes", auth=True)
@click.argument("request_id")
@click.option("--comment", required=True, help="What must change (required).")
def request_changes_cmd(state: _State, db: str | None, as_json: bool, as_user: str | None, request_id: str,
                        comment: str) -> None:
    """Send a pending request back to its requester: neither approval nor rejection (reviewers who could decide it)."""
    cs = _service(state, db)
    result = cs.request_changes(_login(state, cs, as_user), request_id, comment=comment)
    emit_json(result) if as_json else say(
        f"Changes requested as {role_words(result['role'])}: request {request_id} ({result['model']}) waits for "
        f"{result['requested_by']}'s answer")


@command(cli, "answer", auth=True)
@click.argument("request_id")
@click.option("--comment", required=True, help="What you changed, or why nothing needs to (required).")
def answer_cmd(state: _State, db: str | None, as_json: bool, as_user: str | None, request_id: str,
               comment: str) -> None:
    """Answer a request for changes (the requester): the gate runs again and the request returns to review — the
    same request if the evidence is unchanged, a new one (superseding it) if it changed. Exit 1 with the reasons
    when the gate refuses."""
    cs = _service(state, db)
    result = cs.answer(_login(state, cs, as_user), request_id, comment=comment)
    if as_json:
        emit_json(result)
    elif result["supersedes"]:
        say(f"Request {result['request_id']} opened on the new evidence (supersedes {result['supersedes']}; "
            f"approvals voided: {human(result['approvals_voided'])})")
    else:
        say(f"Request {result['request_id']} is back in review (evidence unchanged; earlier approvals stand)")


@command(cli, "comment", auth=True)
@click.argument("request_id")
@click.option("--comment", required=True, help="The comment (required).")
def comment_cmd(state: _State, db: str | None, as_json: bool, as_user: str | None, request_id: str,
                comment: str) -> None:
    """Add a comment to an open request's review thread (its requester or a reviewer)."""
    cs = _service(state, db)
    result = cs.comment(_login(state, cs, as_user), request_id, comment=comment)
    emit_json(result) if as_json else say(
        f"Commented on request {request_id} as {role_words(result['role'])} (seq {result['seq']})")


@command(cli, "inbox", auth=True)
def inbox_cmd(state: _State, db: str | None, as_json: bool, as_user: str | None) -> None:
    """What awaits me: requests I may decide, and my requests sent back for changes."""
    cs = _service(state, db)
    items = cs.inbox(_login(state, cs, as_user))
    if as_json:
        emit_json(items)
    elif not items:
        say("Nothing awaits you.")
    else:
        table([{**i, "since": when(i["since"])} for i in items],
              ["request_id", "kind", "model", "target_stage", "since", "what"])


@command(cli, "review", auth=True)
@click.argument("request_id")
def review_cmd(state: _State, db: str | None, as_json: bool, as_user: str | None, request_id: str) -> None:
    """A request with its decision context: stage path, the model's stage now (and a suspension), the evidence, its
    age and whether it still holds, the comparison with the version in production, approvals (counting and lapsed),
    the roles still open and who may fill them, and the thread (all of it as JSON with --json)."""
    cs = _service(state, db)
    review = cs.review(_login(state, cs, as_user), request_id)
    emit_json(review) if as_json else say(*words.review_lines(review))


@command(cli, "requests", auth=True)
@click.option("--pending", is_flag=True, help="Only open requests.")
@click.option("--mine", is_flag=True, help="Only requests I made or can decide.")
def requests_cmd(state: _State, db: str | None, as_json: bool, as_user: str | None, pending: bool,
                 mine: bool) -> None:
    """List promotion requests, newest first."""
    cs = _service(state, db)
    rows = cs.requests(_login(state, cs, as_user), pending=pending, mine=mine)
    if as_json:
        emit_json(rows)
        return
    table([{**r, "model": f"{r['model_name']}@{r['model_version']}", "status": words.status(r["status"]),
            "awaiting": words.roles(r["open_roles"], "-"),
            "approved_by": ", ".join(f"{d['approver']} ({role_words(d['role'])})" for d in r["decisions"]
                                     if d["decision"] == "approve") or "-",
            "awaiting_me": human(bool(r["awaiting_me"]))} for r in rows],
          ["id", "model", "target_stage", "status", "requested_by", "awaiting", "approved_by", "awaiting_me"])


@command(cli, "waive", auth=True)
@click.argument("model_ref")
@click.option("--check", "check", required=True, help="Id of the policy check to waive.")
@click.option("--until", "until", required=True, metavar="YYYY-MM-DD")
@click.option("--justification", required=True)
def waive_cmd(state: _State, db: str | None, as_json: bool, as_user: str | None, model_ref: str, check: str,
              until: str, justification: str) -> None:
    """Waive a failing check for a model version until a date (compliance officers)."""
    cs = _service(state, db)
    result = cs.waive(_login(state, cs, as_user), model_ref, check=check, until=until, justification=justification)
    emit_json(result) if as_json else say(f"Waiver {result['id']}: {check} on {model_ref} until {until}")


@cli.group("waiver")
def waiver_group() -> None:
    """List and revoke waivers."""


@command(waiver_group, "list", auth=True)
@click.argument("model", required=False)
def waiver_list(state: _State, db: str | None, as_json: bool, as_user: str | None, model: str | None) -> None:
    """List waivers (optionally of MODEL or MODEL@VERSION)."""
    cs = _service(state, db)
    rows = cs.waivers(_login(state, cs, as_user), model)
    emit_json(rows) if as_json else table(
        [{**w, "model": f"{w['model_name']}@{w['model_version']}", "active": words.waiver_state(w)} for w in rows],
        ["id", "model", "check_id", "until", "active", "granted_by", "justification"])


@command(waiver_group, "revoke", auth=True)
@click.argument("waiver_id")
@click.option("--reason", required=True)
def waiver_revoke(state: _State, db: str | None, as_json: bool, as_user: str | None, waiver_id: str,
                  reason: str) -> None:
    """Revoke a waiver (compliance officers)."""
    cs = _service(state, db)
    result = cs.revoke_waiver(_login(state, cs, as_user), waiver_id, reason=reason)
    emit_json(result) if as_json else say(f"Waiver {waiver_id} revoked")


@command(cli, "suspend", auth=True)
@click.argument("model_ref")
@click.option("--reason", required=True)
def suspend_cmd(state: _State, db: str | None, as_json: bool, as_user: str | None, model_ref: str,
                reason: str) -> None:
    """Take a production version out of service at once (EU AI Act Art. 14)."""
    cs = _service(state, db)
    result = cs.suspend(_login(state, cs, as_user), model_ref, reason=reason)
    emit_json(result) if as_json else say(f"{model_ref} suspended")
    _mlflow_notes(result, as_json)


def _mlflow_notes(result: dict[str, Any], as_json: bool) -> None:
    """What MLflow's aliases did after a decision (or why they could not follow: a warning, the decision stands)."""
    if as_json:
        return
    for change in result.get("mlflow", []):
        say(f"MLflow: {change['mlflow_name']} alias {change['alias']} -> "
            f"{'version ' + change['version'] if change['version'] else '(removed)'}")
    if result.get("mlflow_error"):
        say(f"warning: {result['mlflow_error']}", err=True)


def _engine_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--engine`` and ``--spark-master`` (evaluate, monitor): where an evaluation's statistics are computed."""
    fn = click.option("--spark-master", default=None, metavar="URL",
                      help="Spark master for --engine spark (default: $COUNTERSIGN_SPARK_MASTER, else local[*]).")(fn)
    return click.option("--engine", "engine_name", type=click.Choice(["duckdb", "spark"], case_sensitive=False),
                        default="duckdb", show_default=True,
                        help="Where the statistics are computed: DuckDB on this machine, or Apache Spark (Parquet "
                             "datasets; predictions in the data).")(fn)


@command(cli, "monitor", auth=True)
@click.argument("model_ref")
@click.option("--data", "data", required=True, metavar="DATASET_REF")
@click.option("--label", default=None)
@click.option("--prediction-column", default=None)
@click.option("--score-column", default=None)
@click.option("--reference", default=None, metavar="DATASET_REF")
@click.option("--trust-pickle", is_flag=True,
              help="Vouch for this pickle/joblib artifact's exact bytes yourself (ledgered) so it may run, isolated.")
@_engine_options
def monitor_cmd(state: _State, db: str | None, as_json: bool, as_user: str | None, model_ref: str, data: str,
                label: str | None, prediction_column: str | None, score_column: str | None,
                reference: str | None, trust_pickle: bool, engine_name: str, spark_master: str | None) -> None:
    """Run the governing policy's drift and performance checks on production data (exit 1 if a block check fails)."""
    engine = Engine.of(engine_name, spark_master)
    cs = _service(state, db)
    result = cs.monitor(_login(state, cs, as_user), model_ref, data=data, label=label,
                        prediction_column=prediction_column, score_column=score_column, reference=reference,
                        trust_pickle=trust_pickle, engine=engine)
    if as_json:
        emit_json(result)
    else:
        _print_evaluation(result)
        if result.get("revalidation_required"):
            say(f"{model_ref} is flagged: revalidation required")
    if not result["passed"]:
        raise _Quiet(1)


@command(cli, "history", auth=True)
@click.argument("model_name")
@click.option("--at", "at", default=None, metavar="TIMESTAMP", help="Show the state at this moment (ISO 8601).")
def history_cmd(state: _State, db: str | None, as_json: bool, as_user: str | None, model_name: str,
                at: str | None) -> None:
    """Which version held which stage, who requested and approved it, on what evidence (from the ledger)."""
    cs = _service(state, db)
    result = cs.history(_login(state, cs, as_user), model_name, at)
    if as_json:
        emit_json(result)
        return
    say(f"{model_name}" + (f" at {when(result['at'])}" if result["at"] else "") +
        f": production = {result['production'] or 'none'}")
    for version, s in result["versions"].items():
        approvers = ", ".join(f"{a['name']} ({role_words(a['role'])})" for a in s.get("approvers") or [])
        say(f"  {version}: {words.stage(s['stage'])} since {when(s['since'])}"
            + (f", requested by {s['requested_by']}" if s.get("requested_by") else "")
            + (f", approved by {approvers}" if approvers else "")
            + (f", evaluation {s['evaluation_id']}" if s.get("evaluation_id") else "")
            + (f" under {s['policy']['name']}@{s['policy']['version']}" if s.get("policy") else ""))
    if not at:
        say("Timeline:")
        for t in result["timeline"]:
            by = f"{t['actor']} ({role_words(t['role'])})" if t.get("role") else t["actor"]
            say(f"  seq {t['seq']} {when(t['ts'])}  {t['version']}: {words.stage(t['from_stage'])} → "
                f"{words.stage(t['to_stage'])}  by {by}" + (f"  ({t['reason']})" if t.get("reason") else ""))


# ------------------------------------------------------------------------------------------------- evaluation
@command(cli, "evaluate", auth=True)
@click.argument("model_ref")
@click.option("--data", "data", required=True, metavar="DATASET_REF")
@click.option("--policy", "policy", required=True, metavar="NAME[@V]|FILE")
@click.option("--reference", default=None, metavar="DATASET_REF", help="Drift reference (default: training data).")
@click.option("--label", default=None, help="Label column (default: a column named label, target or y).")
@click.option("--prediction-column", default=None)
@click.option("--score-column", default=None)
@click.option("--positive-label", default=None,
              help="The positive class (default: the policy's positive_label, else scikit-learn's 1).")
@click.option("--trust-pickle", is_flag=True,
              help="Vouch for this pickle/joblib artifact's exact bytes yourself (ledgered) so it may run, isolated.")
@click.option("--junit", "junit", default=None, metavar="FILE",
              help="Also write a JUnit XML report: one test case per check (failed checks as failures, waived ones "
                   "as skipped).")
@click.option("--sarif", "sarif", default=None, metavar="FILE",
              help="Also write a SARIF 2.1.0 log: one result per failing or waived check, at its line in the policy "
                   "file.")
@_engine_options
def evaluate_cmd(state: _State, db: str | None, as_json: bool, as_user: str | None, model_ref: str, data: str,
                 policy: str, reference: str | None, label: str | None, prediction_column: str | None,
                 score_column: str | None, positive_label: str | None, trust_pickle: bool, junit: str | None,
                 sarif: str | None, engine_name: str, spark_master: str | None) -> None:
    """Evaluate a model against a policy: exit 0 if every block check passes, 1 if any fails, 2 on bad input.

    With --junit/--sarif the reports are written whole or not at all, whatever the verdict; a waiver changes the
    reports (skipped, suppressed), never the exit code (a waiver is honoured when promoting)."""
    from core.reports.writing import prepare_reports

    engine = Engine.of(engine_name, spark_master)
    reports = None
    asked = junit is not None or sarif is not None
    cancelled = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)} if asked else {}
    try:
        for sig in cancelled:  # before any temporary report file exists: a cancelled CI job still removes them
            signal.signal(sig, _exit_on_signal)
        if asked:
            reports = prepare_reports(junit, sarif, policy_given=policy,
                                      inputs=(Path(policy),) if Path(policy).is_file() else ())
        cs = _service(state, db)
        session = _login(state, cs, as_user)
        result = cs.evaluate(session, model_ref, data=data, policy=policy, reference=reference,
                             label=label, prediction_column=prediction_column, score_column=score_column,
                             positive_label=positive_label, trust_pickle=trust_pickle, engine=engine)
        if not as_json:
            _print_evaluation(result)  # shown even if a report then cannot be written (the evaluation is ledgered)
        written = []
        if reports is not None:
            stored = cs.evaluation(session, result["id"])
            written = reports.save({**result, "result_sha256": stored.get("result_sha256")},
                                   cs.waivers(session, result["model"]["ref"]))
    finally:
        if reports is not None:
            reports.discard()
        for sig, handler in cancelled.items():
            signal.signal(sig, handler)
    if as_json:
        emit_json(result)
    elif written:
        say(f"Reports written: {', '.join(str(path) for path in written)}")
    if not result["passed"]:
        raise _Quiet(1)


#: The termination signal received, if any: whatever a library turns the exit into on its way up (click makes an
#: ``Abort`` of some), the command still exits 128 + its number.
_TERMINATED: list[int] = []


def _exit_on_signal(signum: int, _frame: object) -> None:
    """A termination signal as an exit (128 + the signal's number), so that cleanup in ``finally`` blocks runs."""
    _TERMINATED.append(signum)
    sys.exit(128 + signum)


def _print_evaluation(result: dict[str, Any]) -> None:
    say(*words.evaluation_lines(result))


@cli.group("store")
def store_group() -> None:
    """The site's database as a whole (moving between DuckDB and PostgreSQL)."""


@store_group.command("copy")
@click.argument("source")
@click.argument("dest")
@_json_option
def store_copy(source: str, dest: str, as_json: bool) -> None:
    """Copy a whole site from SOURCE to the empty DEST (DuckDB files or postgresql:// URIs), all or nothing.

    Every table row for row (the ledger byte-identical: same Merkle root at the same size, so checkpoints saved from
    SOURCE verify against DEST), the service secret (unless COUNTERSIGN_SERVICE_SECRET[_FILE] serves both) and the
    model artifact files. DEST must be empty; SOURCE is only read. Then run 'countersign verify --db DEST'.
    """
    from core.api.site_copy import copy_site

    report = copy_site(source, dest, progress=None if as_json else (lambda line: say(f"  {line}")))
    if as_json:
        emit_json(report)
    else:
        say(f"Copied {report['source']} to {report['dest']} in {report['seconds']} s: "
            f"{report['ledger_size']} ledger entries, Merkle root {report['root']}, "
            f"{report['artifacts']} artifact file(s); service secret: {report['secret']}")


@cli.group("evaluation")
def evaluation_group() -> None:
    """Stored evaluation results."""


@command(evaluation_group, "schema")
def evaluation_schema(state: _State, db: str | None, as_json: bool) -> None:
    """Print the JSON Schema of evaluation results (the stored evidence; Draft 2020-12)."""
    from core.evaluation.result import schema_text

    say_block(schema_text())


@command(evaluation_group, "show", auth=True)
@click.argument("evaluation_id")
def evaluation_show(state: _State, db: str | None, as_json: bool, as_user: str | None, evaluation_id: str) -> None:
    """Show a stored evaluation (and whether it still matches its ledgered digest)."""
    cs = _service(state, db)
    result = cs.evaluation(_login(state, cs, as_user), evaluation_id)
    if as_json:
        emit_json(result)
        return
    _print_evaluation(result)
    say(f"Recorded by {result['evaluated_by']} at {when(result['evaluated_at'])} (ledger seq {result['seq']}); "
               f"result sha256 {result['result_sha256']} {'intact' if result['result_intact'] else 'ALTERED'}")


@command(evaluation_group, "list", auth=True)
@click.argument("model", required=False)
def evaluation_list(state: _State, db: str | None, as_json: bool, as_user: str | None, model: str | None) -> None:
    """List evaluations, newest first (optionally of one MODEL or MODEL@VERSION)."""
    cs = _service(state, db)
    rows = cs.evaluations(_login(state, cs, as_user), model)
    emit_json(rows) if as_json else table(
        [{**r, "model": f"{r['model_name']}@{r['model_version']}",
          "policy": f"{r['policy_name']}@{r['policy_version']}", "verdict": "pass" if r["passed"] else "fail",
          "evaluated_at": when(r["evaluated_at"])}
         for r in rows],
        ["id", "model", "dataset_ref", "policy", "verdict", "evaluated_by", "evaluated_at"])


# ------------------------------------------------------------------------------------------------- reports
@command(cli, "report", auth=True)
@click.argument("model", metavar="MODEL_NAME[@VERSION]")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--from", "since", default=None, metavar="DATE")
@click.option("--to", "until", default=None, metavar="DATE")
@click.option("--since-checkpoint", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A checkpoint from an earlier export: add the consistency proof from it.")
def report_cmd(state: _State, db: str | None, as_json: bool, as_user: str | None, model: str, out: Path,
               since: str | None, until: str | None, since_checkpoint: Path | None) -> None:
    """Write report.pdf, report.html, an evidence/ bundle and verify.py (auditors, compliance officers)."""
    cs = _service(state, db)
    result = cs.report(_login(state, cs, as_user), model, out=out, since=since, until=until,
                       since_checkpoint=str(since_checkpoint) if since_checkpoint else None)
    emit_json(result) if as_json else say(
        f"Wrote {out}: report.pdf, report.html, verify.py and evidence/ ({result['entries']} ledger entries, "
        f"{result['statements']} signed statements, checkpoint size {result['checkpoint_size']}).",
        f"Verify with an independent verifier: countersign verify-bundle {out} (or the verify.py of a release "
        f"whose SHA-256 you know; the bundled copy could be swapped by whoever altered the bundle)")


@command(cli, "card", auth=True)
@click.argument("model_ref")
@click.option("--format", "fmt", type=click.Choice(["md", "json", "html"]), default="md", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def card_cmd(state: _State, db: str | None, as_json: bool, as_user: str | None, model_ref: str, fmt: str,
             out: Path | None) -> None:
    """Export a model card: Markdown (Hugging Face front matter), JSON (Model Card Toolkit v0.0.2) or HTML."""
    cs = _service(state, db)
    text = cs.export_card(_login(state, cs, as_user), model_ref, "json" if as_json else fmt)
    if out is not None:
        out.write_text(text, encoding="utf-8")
        say(f"Wrote {out}")
    else:
        say_block(text)


@command(cli, "verify-bundle")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--trusted-key", default=None, help="Pin the log's service verifier key (name+keyid+base64).")
def verify_bundle_cmd(state: _State, db: str | None, as_json: bool, directory: Path, trusted_key: str | None) -> None:
    """Verify an exported evidence bundle offline (the same checks as its verify.py)."""
    from core.evidence.bundle_verify import BundleError, ok_line, verify_bundle

    try:
        summary = verify_bundle(directory, trusted_key)
    except BundleError as exc:
        raise CheckFailed(f"FAILED: {exc}") from None
    emit_json(summary) if as_json else say(ok_line(summary))


# ------------------------------------------------------------------------------------------------- app
@command(cli, "app")
@click.option("--port", default=8501, show_default=True, type=click.IntRange(1, 65535))
@click.option("--address", default="127.0.0.1", show_default=True)
def app_cmd(state: _State, db: str | None, as_json: bool, port: int, address: str) -> None:
    """Start the Streamlit app on the database."""
    cs = Countersign(db or state.db)
    _serve(cs.context.site.dsn or str(cs.path), cs.location, port, address)


@command(cli, "demo")
@click.option("--port", default=8501, show_default=True, type=click.IntRange(1, 65535))
@click.option("--address", default="127.0.0.1", show_default=True)
@click.option("--no-serve", is_flag=True, help="Only seed the demo database.")
def demo_cmd(state: _State, db: str | None, as_json: bool, port: int, address: str, no_serve: bool) -> None:
    """Seed a demo database from real data (if it does not exist yet) and start the app on it."""
    from core.demo.seed import DEMO_USERS, TRAINING_DATA_NOTE, seed_demo

    cs = Countersign(db or state.db)
    if cs.context.path is None:
        raise BadInput("the demo seeds an embedded DuckDB file; to try it on PostgreSQL, seed a file and copy it: "
                       "'countersign demo --no-serve --db demo.duckdb', then "
                       "'countersign store copy demo.duckdb postgresql://…'")
    seeded = False
    if not cs.path.exists():
        if not as_json:
            say(f"Seeding the demo database {cs.path} from real UCI data (about a minute):")
        cs = seed_demo(cs.path, progress=None if as_json else (lambda line: say(f"  {line}")))
        seeded = True
    users = [{"name": u.name, "roles": list(u.roles), "password": u.password} for u in DEMO_USERS]
    if as_json:
        emit_json({"database": str(cs.path), "seeded": seeded, "url": f"http://{address}:{port}",
                   "users": users})
    else:
        say(f"Demo database: {cs.path} ({'seeded now' if seeded else 'already there'})")
        say("Demo users (one per role):")
        table([{**u, "roles": words.roles(u["roles"])} for u in users], ["name", "roles", "password"])
        say(f"Note: the German credit models are {TRAINING_DATA_NOTE}.")
    if not no_serve:
        _serve(str(cs.path), str(cs.path), port, address)


def _serve(location: str, shown: str, port: int, address: str) -> None:
    """Run the app on ``location`` (a file path or a PostgreSQL URI, passed in ``COUNTERSIGN_DB``); ``shown`` is
    what to print for it (never a password)."""
    import importlib.util

    missing = [m for m in ("streamlit", "altair") if importlib.util.find_spec(m) is None]
    if missing:
        raise CountersignError(f"the app needs the front-end extra ({', '.join(missing)} is not installed): "
                               "pip install 'countersign[app]' (or run ./scripts/demo, which installs everything)")
    import app

    script = Path(app.__file__).parent / "main.py"
    env = {**os.environ, "COUNTERSIGN_DB": location}
    say(f"Countersign app: http://{address}:{port}  (database {shown}; Ctrl-C stops it)")
    sys.stdout.flush()
    args = [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
            "--server.address", address, "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    os.chdir(script.parent)
    os.execve(sys.executable, args, env)


def _stage_words(stage: dict[str, Any]) -> str:
    """``production since 2026-11-01 14:30:05 UTC``, or ``suspended … by chloe: reason``."""
    text = words.stage(stage["stage"]) + (f" since {when(stage['since'])}" if stage.get("since") else "")
    if stage["stage"] == "suspended":
        text += f" by {stage.get('suspended_by') or 'unknown'}: {stage.get('reason') or 'no reason recorded'}"
    if stage.get("revalidation_required"):
        text += f"; revalidation required ({stage.get('revalidation_reason') or 'monitoring flagged it'})"
    return text


EXIT_INTERNAL = 70
"""Exit code of an unexpected failure (``EX_SOFTWARE`` of sysexits.h), distinct from 1 (a check failed)."""


class _Quiet(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


from cli import mlflow_cmds as _mlflow_cmds  # noqa: E402,F401 - registers 'countersign mlflow' on cli


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: maps errors to exit codes and never shows a traceback for user mistakes."""
    as_json = "--json" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="countersign", standalone_mode=False)
    except click.exceptions.UsageError as exc:
        usage_error(exc)
        sys.exit(2)
    except click.exceptions.Abort:
        if _TERMINATED:
            sys.exit(128 + _TERMINATED[0])
        say("aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except _Quiet as exc:
        sys.exit(exc.code)
    except CheckFailed as exc:
        message = exc.message.removeprefix("FAILED: ")
        error(message, exc.exit_code, as_json, error_lines(exc, message))
        sys.exit(exc.exit_code)
    except CountersignError as exc:
        error(exc.message, exc.exit_code, as_json, error_lines(exc))
        sys.exit(exc.exit_code)
    except OSError as exc:  # the file system said no: read-only, full, missing, not permitted …
        reason = exc.strerror or str(exc)
        message = f"cannot use {exc.filename}: {reason}" if exc.filename else f"the file system refused: {reason}"
        error(message, 4, as_json, error_lines(exc, message))
        sys.exit(4)
    except KeyboardInterrupt:
        say("interrupted (a write that had not committed wrote nothing)", err=True)
        sys.exit(130)
    except Exception:  # a bug, not a user's mistake: say so, and never exit 1 (a failed check, to a CI gate)
        import traceback

        traceback.print_exc()
        say(f"internal error: Countersign failed unexpectedly (exit {EXIT_INTERNAL}); please report it with the "
            "text above", err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(0)


