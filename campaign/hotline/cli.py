"""CLI commands of the hotline area: `campaign users ...` (staff) and `campaign inbox ...` (cases)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from campaign.core.config import get_settings
from campaign.core.console import JSON_OPTION, echo_json, info, print_table, session_scope
from campaign.core.db import utcnow
from campaign.core.errors import Invalid
from campaign.core.i18n import _
from campaign.core.spreadsheets import safe_frame, text_cells
from campaign.hotline.labels import label

users_app = typer.Typer(no_args_is_help=True, help="Staff users of the web app (argon2 password hashes).")
inbox_app = typer.Typer(no_args_is_help=True, help="Hotline cases, for scripts and exports.")


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = typer.prompt(_("Password"), hide_input=True)
    second = typer.prompt(_("Repeat password"), hide_input=True)
    if first != second:
        raise Invalid(_("password"), _("the two passwords differ"))
    return first


@users_app.command("add")
def users_add(
    username: str = typer.Argument(..., help="Login name (lower-case letters, digits, . _ -)."),
    role: str = typer.Option(
        ..., "--role", help="admin, manager, producer, hotline, translator or reviewer."
    ),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Add a staff user (the password is prompted twice, or read from stdin)."""
    from campaign.hotline.users import create_user, parse_role, validate_password

    parse_role(role)  # refuse a bad role before asking for a password
    password = _read_password(password_stdin)
    validate_password(password)
    with session_scope() as session:
        user = create_user(session, username=username, password=password, role=role, now=utcnow())
        result = {"id": user.id, "username": user.username, "role": str(user.role)}
    if json_output:
        echo_json(result)
    else:
        info(_("User %(name)s (%(role)s) added.", name=result["username"], role=label(result["role"])))


@users_app.command("list")
def users_list(json_output: bool = JSON_OPTION) -> None:
    """List staff users."""
    from campaign.hotline.users import list_users

    with session_scope() as session:
        rows = [
            {
                "username": u.username,
                "role": str(u.role),
                "active": u.active,
                "last_login_at": u.last_login_at,
            }
            for u in list_users(session)
        ]
    if json_output:
        echo_json(rows)
    else:
        print_table(
            [_("username"), _("role"), _("active"), _("last login")],
            [
                [r["username"], label(r["role"]), _("yes") if r["active"] else _("no"), r["last_login_at"]]
                for r in rows
            ],
        )


def _user_done(json_output: bool, result: dict[str, Any], message: str) -> None:
    if json_output:
        echo_json(result)
    else:
        info(message)


@users_app.command("disable")
def users_disable(
    username: str = typer.Argument(..., help="Login name."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Stop a user from logging in; their open web sessions end at their next request."""
    from campaign.hotline.users import disable_user

    with session_scope() as session:
        user = disable_user(session, username=username, now=utcnow())
        result = {"username": user.username, "role": str(user.role), "active": user.active}
    message = _("User %(name)s disabled: logged out everywhere.", name=result["username"])
    _user_done(json_output, result, message)


@users_app.command("enable")
def users_enable(
    username: str = typer.Argument(..., help="Login name."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Let a disabled user log in again."""
    from campaign.hotline.users import set_active

    with session_scope() as session:
        user = set_active(session, username=username, active=True, now=utcnow())
        result = {"username": user.username, "role": str(user.role), "active": user.active}
    _user_done(json_output, result, _("User %(name)s enabled.", name=result["username"]))


@users_app.command("role")
def users_role(
    username: str = typer.Argument(..., help="Login name."),
    role: str = typer.Argument(..., help="admin, manager, producer, hotline, translator or reviewer."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Give a user another role (their open sessions end: the new role applies from their next login)."""
    from campaign.hotline.users import change_role, parse_role

    new_role = parse_role(role)
    with session_scope() as session:
        user = change_role(session, username=username, role=new_role, now=utcnow())
        result = {"username": user.username, "role": str(user.role), "active": user.active}
    message = _("User %(name)s is now %(role)s.", name=result["username"], role=label(result["role"]))
    _user_done(json_output, result, message)


@users_app.command("reset-password")
def users_reset_password(
    username: str = typer.Argument(..., help="Login name."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the new password from stdin."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Set a new password for a user (prompted twice, or read from stdin)."""
    from campaign.hotline.users import get_by_username, set_password, validate_password

    with session_scope() as session:
        get_by_username(session, username)  # an unknown user is refused before asking for a password
    password = _read_password(password_stdin)
    validate_password(password)
    with session_scope() as session:
        user = set_password(session, username=username, password=password, now=utcnow())
        result = {"username": user.username, "password_changed": True}
    _user_done(json_output, result, _("Password of %(name)s changed.", name=result["username"]))


CASE_COLUMNS = [
    "id",
    "status",
    "priority",
    "reason",
    "language",
    "phone",
    "campaign",
    "assignee",
    "waiting_since",
    "opened_at",
    "inbound",
    "last_message",
]


def _case_rows(status: str | None, priority: str | None, *, reveal: bool = False) -> list[dict]:
    from sqlalchemy import select

    from audiences.models import Contact
    from campaign.hotline import inbox

    with session_scope() as session:
        cases = inbox.list_cases(session, status=status, priority=priority)
        phones = {}
        if reveal:
            ids = [c.contact_id for c in cases]
            phones = dict(session.execute(select(Contact.id, Contact.phone).where(Contact.id.in_(ids))).all())
        return [
            {
                "id": c.id,
                "status": c.status,
                "priority": c.priority,
                "reason": c.reason,
                "language": c.language,
                "phone": phones.get(c.contact_id, c.phone_masked),
                "campaign": c.campaign_name,
                "assignee": c.assignee,
                "waiting_since": c.waiting_since,
                "opened_at": c.opened_at,
                "inbound": c.inbound_count,
                "last_message": c.last_body,
            }
            for c in cases
        ]


@inbox_app.command("list")
def inbox_list(
    status: str = typer.Option(None, "--status", help="new, open or resolved."),
    priority: str = typer.Option(None, "--priority", help="normal, high or urgent."),
    json_output: bool = JSON_OPTION,
) -> None:
    """List hotline cases, urgent first then the longest waiting (numbers masked)."""
    rows = _case_rows(status, priority)
    if json_output:
        echo_json(rows)  # UTC, ISO 8601: for scripts
        return
    zone = ZoneInfo(get_settings().timezone)
    print_table(
        [
            _("id"),
            _("priority"),
            _("status"),
            _("phone"),
            _("waiting since (%(zone)s)", zone=zone.key),
            _("assignee"),
            _("last message"),
        ],
        [
            [
                r["id"],
                label(r["priority"]),
                label(r["status"]),
                r["phone"],
                r["waiting_since"].astimezone(zone).strftime("%Y-%m-%d %H:%M") if r["waiting_since"] else "",
                r["assignee"],
                (r["last_message"] or "")[:60],
            ]
            for r in rows
        ],
    )


@inbox_app.command("export")
def inbox_export(
    out: Path = typer.Option(..., "--out", help="File to write: .csv or .xlsx."),  # noqa: B008 - typer idiom
    status: str = typer.Option(None, "--status", help="new, open or resolved."),
    priority: str = typer.Option(None, "--priority", help="normal, high or urgent."),
    reveal: bool = typer.Option(False, "--reveal", help="Write full phone numbers (audited)."),
) -> None:
    """Export cases to CSV or XLSX; phone numbers masked unless --reveal (which is audited)."""
    import pandas as pd

    from campaign.core.audit import record_audit

    suffix = out.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise Invalid("--out", _("use a .csv or .xlsx file name, not %(name)r", name=out.name))
    rows = _case_rows(status, priority, reveal=reveal)
    frame = pd.DataFrame(rows, columns=CASE_COLUMNS)
    for column in ("waiting_since", "opened_at"):
        frame[column] = frame[column].map(lambda v: v.isoformat() if v is not None else "")
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        safe_frame(frame).to_csv(out, index=False)
    else:
        with pd.ExcelWriter(out, engine="openpyxl") as writer:
            frame.to_excel(writer, index=False, sheet_name="cases")
            text_cells(writer.book)  # inbound text is written by anyone: never a formula
    with session_scope() as session:
        record_audit(
            session,
            actor="cli",
            action="cases.export",
            now=utcnow(),
            target_type="cases",
            detail={
                "rows": len(rows),
                "revealed": reveal,
                "format": suffix[1:],
                "status": status,
                "priority": priority,
            },
        )
    if reveal:
        info(_("%(num)d cases written to %(path)s (full numbers)", num=len(rows), path=out))
    else:
        info(_("%(num)d cases written to %(path)s (numbers masked)", num=len(rows), path=out))


def _language(value: str | None) -> str | None:
    """The language code `--lang` names (code, name or alias); raises Invalid("--lang")."""
    if value is None:
        return None
    from campaign.core.languages import default_registry

    registry = default_registry()
    found = registry.resolve(value)
    if found is None:
        raise Invalid("--lang", _("unknown language %(value)r; use one of %(codes)s", value=value,
                                  codes=", ".join(registry.codes())))
    return found.code


def _batch_lines(batch: Path) -> list[str]:
    """The messages of a --batch file: one JSON string per line ("-" = standard input)."""
    try:
        text = sys.stdin.read() if str(batch) == "-" else batch.read_text(encoding="utf-8")
    except OSError as exc:
        reason = _("cannot read %(file)s: %(reason)s", file=batch, reason=exc.strerror)
        raise Invalid("--batch", reason) from exc
    messages = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            value = json.loads(line)
        except ValueError:
            value = None
        if not isinstance(value, str):
            raise Invalid(
                f"{batch}:{number}", _("each line must be one JSON string, such as \"me pegan\"")
            )
        messages.append(value)
    return messages


@inbox_app.command("classify")
def inbox_classify(
    text: Annotated[str | None, typer.Argument(help="The message to classify.")] = None,
    batch: Annotated[
        Path | None,
        typer.Option("--batch", help="JSON Lines file: one JSON string per line ('-' reads stdin)."),
    ] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="The sender's language (es, quc, ...).")] = None,
    json_output: bool = JSON_OPTION,
) -> None:
    """Classify inbound text as the hotline does: intent, priority and the cues found.

    With --batch, writes one JSON object per input line, in order: {"intent", "priority", "cues"}.
    """
    from campaign.hotline.intents import pack_lexicon, triage

    if (text is None) == (batch is None):
        raise Invalid("--batch", _("give either a TEXT or --batch FILE"))
    language = _language(lang)
    lexicon = pack_lexicon()
    if batch is not None:
        out = sys.stdout
        for message in _batch_lines(batch):
            out.write(json.dumps(triage(message, language, lexicon).as_dict(), ensure_ascii=False) + "\n")
        out.flush()
        return
    assert text is not None
    result: dict[str, Any] = triage(text, language, lexicon).as_dict()
    if json_output:
        echo_json(result)
        return
    info(_("intent: %(intent)s · priority: %(priority)s", intent=label(result["intent"]),
           priority=label(result["priority"])))
    info(_("cues: %(cues)s", cues="; ".join(result["cues"]) or _("none")))


@inbox_app.command("voice-note")
def inbox_voice_note(
    phone: Annotated[str, typer.Argument(help="The (made-up) number the voice note comes from.")],
    text: Annotated[str, typer.Option("--text", help="Text sent with the voice note (usually none).")] = "",
    json_output: bool = JSON_OPTION,
) -> None:
    """Sandbox only: a contact sends a SYNTHETIC voice note (a short tone), through the signed
    inbound webhook; the scheduler's next tick (or opening the case) downloads it."""
    from sqlalchemy import select

    from campaign.core.console import engine
    from campaign.hotline.models import Inbound
    from campaign.providers.sandbox import SandboxProvider

    settings = get_settings()
    if settings.provider != "sandbox":
        raise Invalid("CAMPAIGN_PROVIDER", _("a simulated voice note needs the sandbox provider"))
    sid = SandboxProvider(settings).simulate_voice_note(
        engine(settings), phone=phone, now=utcnow(), settings=settings, body=text
    )
    with session_scope(settings) as session:
        case_id = session.scalar(select(Inbound.case_id).where(Inbound.provider_sid == sid))
    if json_output:
        echo_json({"message_sid": sid, "case_id": case_id})
        return
    info(_("Synthetic voice note received (a tone, not a voice): case #%(case)s.", case=case_id))


def register(app: typer.Typer) -> None:
    """Adds this area's commands to the root `campaign` app."""
    app.add_typer(users_app, name="users", help="Staff users of the web app.")
    app.add_typer(inbox_app, name="inbox", help="Hotline cases: list and export.")
