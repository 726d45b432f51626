"""Loading a validated pack into the database, and dumping the database back out as a pack.

Rules of `load_pack` (documented in messages/packs/README.md):

- Idempotent: loading the same files twice changes nothing and reports every message unchanged.
- A changed body gets a new version and a TranslationRevision (created_by "pack:<name>").
- The pack is reviewed content kept in version control, so a translation's status in the file
  is taken as written, also for a changed body: `approved` with a new body loads as an approved
  new version (the reviewer signed the file). Editing in the database (translator import, edit)
  is the path that sends an approved translation back to needs_review.
- A translation edited in the database since the last pack load (its latest revision was not
  made by a pack) is not overwritten by a different body in the file: it is reported as a
  conflict and kept, unless `overwrite=True` (dump first to merge).
- Same body, different status: a file saying `approved` approves; a file lagging behind (saying
  needs_review for words a reviewer approved in the database) does not undo the approval.
- A changed Spanish body sends the approved translations made from the old one back to
  needs_review ("source changed"); the file's `approved` for an unchanged translation does not
  approve it again (it was signed for the old Spanish), a new body marked approved does.
- Validation happens before anything is written; any problem loads nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from messages import library
from messages.models import Message, Translation, TranslationStatus
from messages.packs import MessageSpec, Pack, TranslationSpec, read_pack, spec_to_dict, to_yaml

PACK_AUTHOR_PREFIX = "pack:"
_RANK = {"draft": 0, "needs_review": 1, "approved": 2}


@dataclass
class LoadReport:
    """What a load did: message slugs added/changed/unchanged, and refused translation updates."""

    pack: str
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    new_versions: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "pack": self.pack, "added": self.added, "changed": self.changed,
            "unchanged": self.unchanged, "conflicts": self.conflicts, "new_versions": self.new_versions,
        }


_MESSAGE_FIELDS = (
    "topic", "channels", "title", "description", "audiences", "variables", "safety_flags",
    "segment_budget", "slot_seconds", "whatsapp_category",
)
# Set from the file when it gives them (a file without them leaves the database's values alone).
_TRANSLATION_FIELDS = ("reviewer", "notes", "pronunciation", "content_sid", "content_variables")


def load_pack(
    session: Session, directory: Path | str | None = None, *, now: datetime, overwrite: bool = False
) -> LoadReport:
    """Validates a pack directory, then adds or updates its messages (flushes, never commits).

    Raises PackInvalid (nothing written) when any file has a problem.
    """
    pack = read_pack(directory)
    return load_specs(session, pack, now=now, overwrite=overwrite)


def load_specs(session: Session, pack: Pack, *, now: datetime, overwrite: bool = False) -> LoadReport:
    """Adds or updates the messages of an already validated pack. Flushes."""
    report = LoadReport(pack=pack.name)
    existing = {
        m.slug: m
        for m in session.scalars(
            select(Message)
            .where(Message.slug.in_(list(pack.messages)))
            .options(selectinload(Message.translations).selectinload(Translation.revisions))
        )
    }
    author = PACK_AUTHOR_PREFIX + pack.name
    for slug, spec in sorted(pack.messages.items()):
        message = existing.get(slug)
        if message is None:
            message = Message(slug=slug, pack=pack.name, created_at=now, updated_at=now)
            _copy_fields(message, spec)
            session.add(message)
            session.flush()
            for tspec in _source_first(spec):
                added = library.add_translation(
                    session, message, language=tspec.language, body=tspec.body, status=tspec.status,
                    now=now, by=author, script=tspec.script, pronunciation=tspec.pronunciation,
                    reviewer=tspec.reviewer, notes=tspec.notes,
                )
                added.content_sid, added.content_variables = tspec.content_sid, tspec.content_variables
            report.added.append(slug)
            continue
        changed = _copy_fields(message, spec)
        for tspec in _source_first(spec):
            outcome = _update_translation(session, message, tspec, now=now, author=author,
                                          overwrite=overwrite, report=report)
            changed = changed or outcome
        if changed:
            message.updated_at = now
            report.changed.append(slug)
        else:
            report.unchanged.append(slug)
    session.flush()
    return report


def _source_first(spec: MessageSpec) -> list[TranslationSpec]:
    """Spanish first, so the other languages record the new source's fingerprint."""
    return sorted(spec.translations.values(), key=lambda t: (t.language != library.SOURCE_LANGUAGE,
                                                             t.language))


def _copy_fields(message: Message, spec: MessageSpec) -> bool:
    changed = False
    for name in _MESSAGE_FIELDS:
        value = getattr(spec, name)
        if getattr(message, name) != value:
            setattr(message, name, value)
            changed = True
    return changed


def _update_translation(
    session: Session, message: Message, tspec: TranslationSpec, *, now: datetime, author: str,
    overwrite: bool, report: LoadReport,
) -> bool:
    current = next((t for t in message.translations if t.language == tspec.language), None)
    if current is None:
        added = library.add_translation(
            session, message, language=tspec.language, body=tspec.body, status=tspec.status, now=now,
            by=author, script=tspec.script, pronunciation=tspec.pronunciation,
            reviewer=tspec.reviewer, notes=tspec.notes,
        )
        added.content_sid, added.content_variables = tspec.content_sid, tspec.content_variables
        report.new_versions += 1
        return True
    changed = False
    if current.body != tspec.body or (tspec.script is not None and current.script != tspec.script):
        last_author = current.revisions[-1].created_by if current.revisions else author
        if not overwrite and not (last_author or "").startswith(PACK_AUTHOR_PREFIX):
            report.conflicts.append(
                f"{message.slug}/{tspec.language}: edited in the database by {last_author or 'someone'} "
                f"(version {current.version}); kept (dump to merge, or load with --overwrite)"
            )
            return False
        library.set_body(session, current, body=tspec.body, script=tspec.script, now=now, by=author,
                         status=tspec.status)
        report.new_versions += 1
        changed = True
    elif _RANK[_file_status(message, current, tspec)] > _RANK[current.status]:
        current.status = TranslationStatus(_file_status(message, current, tspec))
        if current.status == TranslationStatus.APPROVED:
            current.reviewed_at = now
        changed = True
    for name in _TRANSLATION_FIELDS:
        value = getattr(tspec, name)
        if value is not None and getattr(current, name) != value:
            setattr(current, name, value)
            changed = True
    if changed:
        current.updated_at = now
    return changed


def _file_status(message: Message, current: Translation, tspec: TranslationSpec) -> str:
    """The status a file may give an unchanged body: its `approved` was signed for the Spanish
    source of that time, so it does not approve a translation made from an older source."""
    if tspec.status == "approved" and library.is_stale(current, library.source_body(message)):
        return "needs_review"
    return tspec.status


def message_to_spec(message: Message) -> MessageSpec:
    """A database message as a pack spec (for dump, lint and coverage)."""
    spec = MessageSpec(
        slug=message.slug, topic=message.topic, channels=list(message.channels or []),
        title=message.title, description=message.description, audiences=list(message.audiences or []),
        variables=list(message.variables or []), safety_flags=list(message.safety_flags or []),
        segment_budget=message.segment_budget, slot_seconds=message.slot_seconds,
        whatsapp_category=message.whatsapp_category,
    )
    source = library.source_body(message)
    for t in sorted(message.translations, key=lambda t: (t.language != library.SOURCE_LANGUAGE, t.language)):
        spec.translations[t.language] = TranslationSpec(
            language=t.language, status=str(TranslationStatus(t.status).value), body=t.body,
            script=t.script, pronunciation=t.pronunciation, reviewer=t.reviewer, notes=t.notes,
            content_sid=t.content_sid, content_variables=t.content_variables,
            source_changed=library.is_stale(t, source),
        )
    return spec


def dump_pack(session: Session, directory: Path | str, *, pack: str | None = None) -> list[Path]:
    """Writes every message (or those of one pack) to `directory/<slug>.yaml` in the pack schema.

    Returns the files written. Reads only.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for message in library.list_messages(session):
        if pack is not None and message.pack != pack:
            continue
        path = directory / f"{message.slug}.yaml"
        path.write_text(to_yaml(spec_to_dict(message_to_spec(message))), encoding="utf-8")
        written.append(path)
    return written
