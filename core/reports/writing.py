"""Writing an evaluation's CI reports: everything that could stop a report from being written is settled before the
evaluation runs (and is ledgered) — each target path checked and a temporary file made beside it, where the policy
file is — and then every report is written whole or none is.

Each report is written to its temporary file, then renamed over its target; if a rename fails, the reports already
renamed are put back as they were (an earlier report restored, a new one removed). A report's mode follows the umask,
as any file the user creates (a temporary file alone would be private to the user)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from core.errors import BadInput
from core.reports.junit import junit_xml
from core.reports.outcomes import check_outcomes
from core.reports.sarif import sarif_log

__all__ = ["PreparedReports", "policy_location", "prepare_reports"]

#: An existing SARIF file is parsed to confirm it is an earlier log, up to this size (larger is never replaced).
_SARIF_CONFIRM_BYTES = 256 << 20


def _is_junit(head: bytes) -> bool:
    """Whether a file beginning with ``head`` is a JUnit XML report: after a byte-order mark, white space, an XML
    declaration and comments, its root element is ``testsuites`` or ``testsuite`` (scanned, not matched by a
    pattern: no input can make this slow)."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<?xml"):
        end = text.find(b"?>")
        if end < 0:
            return False
        text = text[end + 2:].lstrip()
    while text.startswith(b"<!--"):
        end = text.find(b"-->", 4)
        if end < 0:
            return False
        text = text[end + 3:].lstrip()
    for root in (b"<testsuites", b"<testsuite"):
        if text.startswith(root) and text[len(root):len(root) + 1] in (b" ", b"\t", b"\r", b"\n", b">", b"/"):
            return True
    return False


def _is_sarif(path: Path) -> bool:
    """Whether ``path`` holds a SARIF 2.1.0 log: a JSON object with ``"version": "2.1.0"`` and a list of ``runs``
    (parsed whole, up to 256 MiB)."""
    if path.stat().st_size > _SARIF_CONFIRM_BYTES:
        return False
    try:
        log = json.loads(path.read_bytes().removeprefix(b"\xef\xbb\xbf"))
    except (ValueError, RecursionError):
        return False
    return isinstance(log, dict) and log.get("version") == "2.1.0" and isinstance(log.get("runs"), list)


_NAME_MAX = 255


#: Where a registered policy is looked for in the working folder (by its SHA-256), and how far.
_POLICY_SUFFIXES = (".yaml", ".yml", ".json")
_SEARCH_DEPTH, _SEARCH_HASHED = 4, 2000


def _find_by_digest(here: Path, sha256: str, sizes: set[int]) -> Path | None:
    """The file under ``here`` whose bytes have this SHA-256: among ``*.yaml``, ``*.yml`` and ``*.json`` regular
    files (not symbolic links) at most 4 folders deep outside hidden folders, only those of one of ``sizes`` bytes
    are read (at most 2,000 of them); the shallowest match wins, then the first by path. ``None`` if none."""
    candidates: list[tuple[int, str, Path]] = []
    for folder, dirs, files in os.walk(here):
        depth = len(Path(folder).relative_to(here).parts)
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "node_modules"] if depth < _SEARCH_DEPTH else []
        for name in files:
            path = Path(folder) / name
            if not name.endswith(_POLICY_SUFFIXES):
                continue
            try:
                status = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(status.st_mode) and status.st_size in sizes:
                candidates.append((depth, str(path), path))
    for _depth, _name, path in sorted(candidates)[:_SEARCH_HASHED]:
        try:
            if hashlib.sha256(path.read_bytes()).hexdigest() == sha256:
                return path
        except OSError:
            continue
    return None


def policy_location(given: str, policy: dict[str, Any], cwd: Path | None = None) -> tuple[str | None, str]:
    """Where the evaluated policy's text is, for the reports: ``(path, SARIF URI)``.

    A policy file inside the working folder (a repository's checkout, in CI; symbolic links resolved, as the file
    read was) is named relative to it — path and URI reference ``policies/credit.yaml``, as code scanning expects;
    one outside it by its absolute path and ``file:`` URI. A registered policy (``NAME[@V]``) is the file in the
    working folder whose bytes have its SHA-256 when there is one (the checkout holding the policy it registered;
    :func:`_find_by_digest`); else it has no path, and its URI is ``countersign/policies/NAME@V.yaml`` (the log
    embeds its text)."""
    here = Path(os.path.normpath(cwd or os.getcwd()))
    if policy.get("registered"):
        encoded = str(policy.get("text") or "").encode("utf-8", "surrogatepass")
        found = _find_by_digest(here, str(policy.get("sha256")), {len(encoded), len(encoded) + 3})  # + a BOM
        if found is None:
            synthetic = f"countersign/policies/{policy['name']}@{policy['version']}.yaml"
            return None, quote(synthetic, safe="/@", errors="surrogateescape")
        given = str(found)
    real = Path(os.path.realpath(here / given))  # the file read (a "link/.." is resolved as the system does)
    try:
        relative = real.relative_to(Path(os.path.realpath(here)))
    except ValueError:
        return str(real), real.as_uri()
    return relative.as_posix(), quote(relative.as_posix(), safe="/@", errors="surrogateescape")


@dataclass
class PreparedReports:
    """Report targets checked and their temporary files made and held open (:func:`prepare_reports`); :meth:`save`
    fills them, or :meth:`discard` removes the temporary files when nothing is to be written."""

    junit: Path | None
    sarif: Path | None
    policy_given: str
    cwd: Path
    temporary: dict[Path, tuple[Path, int]] = field(default_factory=dict)

    def discard(self) -> None:
        """Close and remove the temporary files, each as far as possible (the targets are untouched)."""
        for temp, handle in self.temporary.values():
            with contextlib.suppress(OSError):
                os.close(handle)
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
        self.temporary.clear()

    def save(self, result: dict[str, Any], waivers: list[dict[str, Any]]) -> list[Path]:
        """Write ``result``'s JUnit XML report and SARIF 2.1.0 log (those asked for), all or nothing; return their
        paths. ``waivers`` are the model version's waiver records (:func:`~core.reports.outcomes.check_outcomes`).
        Each report is written through the file descriptor of its temporary file (never reopened by name), and a
        temporary file that is no longer the one made is not renamed into place."""
        try:
            outcomes = check_outcomes(result, waivers)
            policy_path, policy_uri = policy_location(self.policy_given, result["policy"], self.cwd)
            contents: dict[Path, bytes] = {}
            if self.junit is not None:
                contents[self.junit] = junit_xml(result, outcomes, policy_path)
            if self.sarif is not None:
                # ASCII JSON: no character of user text is raw in the file
                contents[self.sarif] = (json.dumps(sarif_log(result, outcomes, policy_uri), indent=2,
                                                   ensure_ascii=True, allow_nan=False) + "\n").encode("ascii")
            mask = os.umask(0)
            os.umask(mask)
            for target, data in contents.items():
                temp, handle = self.temporary[target]
                view = memoryview(data)
                while view:
                    view = view[os.write(handle, view):]
                os.fchmod(handle, 0o666 & ~mask)
                os.fsync(handle)
                made, now = os.fstat(handle), os.lstat(temp)
                if (made.st_dev, made.st_ino) != (now.st_dev, now.st_ino):
                    raise OSError(f"the temporary file {temp} was replaced while the evaluation ran")
            _replace_all([(self.temporary[target][0], target) for target in contents])
            return list(contents)
        finally:
            self.discard()


def _replace_all(pairs: list[tuple[Path, Path]]) -> None:
    """Rename each temporary file over its target; on a failure, put the targets already replaced back."""
    done: list[tuple[Path, Path | None]] = []  # (target, its earlier content kept aside, or None if it was new)
    try:
        for temp, target in pairs:
            kept = None
            if target.exists():
                kept = target.parent / f".countersign-{uuid.uuid4().hex[:12]}.old"
                try:
                    os.link(target, kept)
                except OSError:  # a file system without hard links
                    shutil.copy2(target, kept)
            try:
                os.replace(temp, target)
            except BaseException:
                if kept is not None:
                    kept.unlink(missing_ok=True)
                raise
            done.append((target, kept))
    except BaseException:
        for target, kept in reversed(done):
            if kept is None:
                target.unlink(missing_ok=True)
            else:
                os.replace(kept, target)
        raise
    finally:
        for _target, kept in done:
            if kept is not None:
                kept.unlink(missing_ok=True)


def _check_target(flag: str, path: Path, protected: set[Path]) -> None:
    shown = repr(str(path))
    if len(os.fsencode(path.name)) > _NAME_MAX:
        raise BadInput(f"{flag} {shown}: the file name is longer than {_NAME_MAX} bytes")
    if not path.parent.is_dir():
        raise BadInput(f"{flag} {shown}: the folder {str(path.parent)!r} does not exist")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise BadInput(f"{flag} {shown}: the folder {str(path.parent)!r} is not writable")
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(status.st_mode):
        raise BadInput(f"{flag} {shown} is a folder: name the report file to write")
    if not stat.S_ISREG(status.st_mode):  # a device, a pipe, a socket, a symbolic link: never replaced
        raise BadInput(f"{flag} {shown} exists and is not a regular file (a device, pipe or link): name a new file")
    if path.resolve() in protected:
        raise BadInput(f"{flag} {shown} is the policy file being evaluated: name another file")
    if flag == "--junit":
        with path.open("rb") as existing:
            earlier, kind = _is_junit(existing.read(65536)), "JUnit XML report"
    else:
        earlier, kind = _is_sarif(path), "SARIF 2.1.0 log"
    if not earlier:
        raise BadInput(f"{flag} {shown} exists and is not a {kind}: it is never replaced (name a new file, or "
                       "remove that one)")


def prepare_reports(junit: str | None, sarif: str | None, *, policy_given: str,
                    inputs: tuple[Path, ...] = ()) -> PreparedReports:
    """Check the report paths (``--junit``/``--sarif`` as given; ``None`` for a report not asked for) and make a
    temporary file beside each, before anything is evaluated; refuse (:class:`~core.errors.BadInput`) what could not
    or must not be written:

    - a folder (also a path ending in ``/``), a missing or read-only parent folder, a name over 255 bytes;
    - the same file for both, or one of the evaluation's ``inputs`` (the policy file);
    - an existing file that is not a regular file (a device such as ``/dev/null``, a pipe, a symbolic link);
    - an existing file that does not begin as an earlier report of that kind (a database, its lock file, a key, a
      dataset, a ``package.json``): only earlier reports are replaced."""
    try:
        cwd = Path(os.getcwd())
    except OSError as exc:
        raise BadInput(f"the working folder is gone ({exc.strerror or exc}): run from an existing folder") from None
    given = [(flag, text) for flag, text in (("--junit", junit), ("--sarif", sarif)) if text is not None]
    prepared = PreparedReports(None, None, policy_given, cwd)
    try:
        protected = {i.resolve() for i in inputs}
        paths = {}
        for flag, text in given:
            if not text or text in (".", "..") or text.endswith(("/", os.sep, "/.", "/..")):
                raise BadInput(f"{flag} {text!r} names a folder: name the report file to write")
            path = Path(text)
            _check_target(flag, path, protected)
            paths[flag] = path
        if len(paths) == 2 and paths["--junit"].resolve() == paths["--sarif"].resolve():
            raise BadInput(f"--junit and --sarif name the same file {junit!r}: give each report its own")
        prepared.junit, prepared.sarif = paths.get("--junit"), paths.get("--sarif")
        for path in paths.values():
            handle, name = tempfile.mkstemp(prefix=".countersign-", suffix=".tmp", dir=path.parent)
            prepared.temporary[path] = (Path(name), handle)
    except (OSError, RuntimeError) as exc:  # a loop of symbolic links, a file system that refuses
        prepared.discard()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise BadInput(f"a report path cannot be used: {reason}") from None
    except BaseException:
        prepared.discard()
        raise
    return prepared
