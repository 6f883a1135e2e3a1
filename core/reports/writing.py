"""Writing an evaluation's CI reports: the paths checked before anything is evaluated, then every report written
whole or none (each to a temporary file beside its target, renamed into place only once all are written)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from core.errors import BadInput
from core.reports.junit import junit_xml
from core.reports.outcomes import check_outcomes
from core.reports.sarif import sarif_log

__all__ = ["check_report_paths", "policy_location", "write_reports"]


#: How a file this report may replace begins (after a byte-order mark and white space): an earlier report of its kind.
_REPORT_START = {"--junit": ((b"<?xml", b"<testsuites", b"<testsuite"), "JUnit XML report"),
                 "--sarif": ((b"{",), "SARIF log")}


def check_report_paths(junit: Path | None, sarif: Path | None, inputs: tuple[Path, ...] = ()) -> None:
    """Refuse (:class:`~core.errors.BadInput`) report paths that could not be written, or must not be — a folder, a
    missing or read-only parent folder, the same file twice, one of the evaluation's ``inputs`` (the policy file), or
    an existing file that is not an earlier report of that kind (a database, a key, a dataset: never replaced) —
    before the evaluation runs (and is ledgered)."""
    given = [(flag, path) for flag, path in (("--junit", junit), ("--sarif", sarif)) if path is not None]
    if len(given) == 2 and given[0][1].resolve() == given[1][1].resolve():
        raise BadInput(f"--junit and --sarif name the same file {str(given[0][1])!r}: give each report its own")
    protected = {i.resolve() for i in inputs}
    for flag, path in given:
        if path.is_dir():
            raise BadInput(f"{flag} {str(path)!r} is a folder: name the report file to write")
        if not path.parent.is_dir():
            raise BadInput(f"{flag} {str(path)!r}: the folder {str(path.parent)!r} does not exist")
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise BadInput(f"{flag} {str(path)!r}: the folder {str(path.parent)!r} is not writable")
        if path.resolve() in protected:
            raise BadInput(f"{flag} {str(path)!r} is the policy file being evaluated: name another file")
        if path.is_file() and not path.is_symlink():  # a symlink is replaced itself, never what it points to
            starts, kind = _REPORT_START[flag]
            try:
                with path.open("rb") as existing:
                    head = existing.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
            except OSError as exc:
                raise BadInput(f"{flag} {str(path)!r} cannot be read ({exc.strerror or exc}): name another file") \
                    from None
            if head and not head.startswith(starts):
                raise BadInput(f"{flag} {str(path)!r} exists and is not a {kind}: it is never replaced (name a new "
                               "file, or remove that one)")


def policy_location(given: str, registered: bool, cwd: Path | None = None) -> tuple[str | None, str | None]:
    """Where the evaluated policy's text is, for the reports: ``(file as the user named it, SARIF URI)``.

    A registered policy (``NAME[@V]``) has no file: ``(None, None)``. A policy file inside the working folder (a
    repository's checkout, in CI) is a relative URI reference (``policies/credit.yaml``), as code scanning expects;
    one outside it is an absolute ``file:`` URI."""
    if registered:
        return None, None
    path = Path(given)
    here = (cwd or Path.cwd()).resolve()
    absolute = path if path.is_absolute() else here / path
    try:
        relative = absolute.resolve().relative_to(here)
    except ValueError:
        return given, absolute.resolve().as_uri()
    return given, quote(relative.as_posix(), errors="surrogateescape")


def _replace_all(contents: dict[Path, bytes]) -> None:
    temporary: list[tuple[Path, Path]] = []
    try:
        for target, data in contents.items():
            handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            temporary.append((Path(name), target))
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        for written, target in temporary:
            os.replace(written, target)
    finally:
        for written, _target in temporary:
            written.unlink(missing_ok=True)


def write_reports(result: dict[str, Any], waivers: list[dict[str, Any]], *, policy_given: str,
                  junit: Path | None = None, sarif: Path | None = None) -> list[Path]:
    """Write ``result``'s JUnit XML report to ``junit`` and its SARIF 2.1.0 log to ``sarif`` (either may be ``None``),
    all or nothing; return the paths written. ``waivers`` are the model version's waiver records
    (:func:`~core.reports.outcomes.check_outcomes`); ``policy_given`` is the ``--policy`` argument."""
    outcomes = check_outcomes(result, waivers)
    policy_file, policy_uri = policy_location(policy_given, bool(result["policy"].get("registered")))
    contents: dict[Path, bytes] = {}
    if junit is not None:
        contents[junit] = junit_xml(result, outcomes, policy_file)
    if sarif is not None:
        # ASCII JSON: user text (names, the embedded policy) never reaches a terminal or a viewer as raw characters
        contents[sarif] = (json.dumps(sarif_log(result, outcomes, policy_uri), indent=2, ensure_ascii=True,
                                      allow_nan=False) + "\n").encode("ascii")
    _replace_all(contents)
    return list(contents)
