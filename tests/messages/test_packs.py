"""Content packs: validation, idempotent load, versions, conflicts, dump round trip."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from campaign.core.errors import Invalid, NotFound
from messages import library
from messages.models import Message, Translation, TranslationRevision
from messages.packload import dump_pack, load_pack
from messages.packs import PackInvalid, read_pack
from tests.messages.conftest import message

NOW = datetime(2025, 3, 1, 15, 0, tzinfo=UTC)
LATER = datetime(2025, 3, 2, 15, 0, tzinfo=UTC)


def _two(quc_status: str = "needs_review") -> list[dict]:
    first = message("oferta-prueba")
    first["translations"]["quc"] = {"status": quc_status, "body": "{{ organizacion }}: utz. BAJA",
                                    "notes": "revisar"}
    return [first, message("derechos-prueba", body="{{ organizacion }}: tus derechos. BAJA")]


def test_load_is_idempotent_and_reports(session, write_pack):
    folder = write_pack("p", _two())
    first = load_pack(session, folder, now=NOW)
    assert sorted(first.added) == ["derechos-prueba", "oferta-prueba"]
    second = load_pack(session, folder, now=LATER)
    assert second.added == [] and second.changed == []
    assert sorted(second.unchanged) == ["derechos-prueba", "oferta-prueba"]
    assert session.scalar(select(func.count()).select_from(Translation)) == 3
    assert session.scalar(select(func.count()).select_from(TranslationRevision)) == 3
    quc = library.get_translation(session, "oferta-prueba", "quc")
    assert quc.status == "needs_review" and quc.notes == "revisar"
    assert quc.source_hash == library.source_hash(library.source_body(quc.message))


def test_changed_body_bumps_version_and_keeps_revisions(session, write_pack):
    messages = _two()
    folder = write_pack("p", messages)
    load_pack(session, folder, now=NOW)
    messages[0]["translations"]["es"]["body"] = "{{ organizacion }}: texto nuevo. BAJA"
    folder = write_pack("p", messages)
    report = load_pack(session, folder, now=LATER)
    assert report.changed == ["oferta-prueba"] and report.unchanged == ["derechos-prueba"]
    es = library.get_translation(session, "oferta-prueba", "es")
    assert es.version == 2 and es.status == "approved"  # the pack file is reviewed content
    assert [r.body for r in es.revisions] == ["{{ organizacion }}: hola. Resp BAJA para salir",
                                              "{{ organizacion }}: texto nuevo. BAJA"]
    assert library.revision_body(session, es.id, 1).endswith("Resp BAJA para salir")
    # the K'iche' translation was made from the old Spanish: it is now stale
    quc = library.get_translation(session, "oferta-prueba", "quc")
    assert quc.source_hash != library.source_hash(es.body)


def test_database_edit_sends_approved_back_to_review_and_pack_does_not_overwrite_it(session, write_pack):
    folder = write_pack("p", _two())
    load_pack(session, folder, now=NOW)
    es = library.get_translation(session, "derechos-prueba", "es")
    assert library.set_body(session, es, body="{{ organizacion }}: editado. BAJA", now=LATER, by="ana")
    assert es.status == "needs_review" and es.version == 2
    report = load_pack(session, folder, now=LATER)
    assert report.conflicts and "derechos-prueba/es" in report.conflicts[0]
    assert library.get_translation(session, "derechos-prueba", "es").body.endswith("editado. BAJA")
    forced = load_pack(session, folder, now=LATER, overwrite=True)
    assert forced.conflicts == [] and forced.changed == ["derechos-prueba"]
    assert library.get_translation(session, "derechos-prueba", "es").version == 3


def test_approve_and_unknown_translation(session, write_pack):
    load_pack(session, write_pack("p", _two()), now=NOW)
    translation = library.approve(session, "oferta-prueba", "quc", by="Revisora K'iche'", now=LATER)
    assert translation.status == "approved" and translation.reviewer == "Revisora K'iche'"
    approved = library.approved_translations(session, [translation.message_id])
    assert set(approved) == {(translation.message_id, "es"), (translation.message_id, "quc")}
    with pytest.raises(NotFound):
        library.approve(session, "oferta-prueba", "kek", by="x", now=LATER)
    with pytest.raises(NotFound):
        library.get_message(session, "no-existe")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"slug": "otro-nombre"}, "bad-one.yaml: slug: 'otro-nombre' differs from the file name"),
        ({"channels": ["fax"]}, "bad-one.yaml: channels:"),
        ({"safety_flags": ["secreto"]}, "bad-one.yaml: safety_flags: 'secreto'"),
        ({"variables": ["organizacion", "policia"]}, "bad-one.yaml: translations.es.body: uses variables"),
        ({"translations": {"xx": {"status": "approved", "body": "hola"}}},
         "bad-one.yaml: translations.xx: unknown language code 'xx'"),
        ({"translations": {"es": {"status": "ok", "body": "{{ organizacion }}"}}},
         "bad-one.yaml: translations.es.status: 'ok'"),
        ({"translations": {"es": {"status": "approved", "body": "{{ organizacion "}}},
         "bad-one.yaml: translations.es.body: line 1"),
        ({"colour": "red"}, "bad-one.yaml: colour: unknown field"),
        ({"channels": ["radio"], "slot_seconds": 25}, "bad-one.yaml: slot_seconds: 25"),
    ],
)
def test_validation_names_file_field_reason_and_loads_nothing(session, write_pack, change, expected):
    bad = {**message("bad-one"), **change, "_file": "bad-one"}
    folder = write_pack("p", [message("good-one"), bad])
    with pytest.raises(PackInvalid) as caught:
        load_pack(session, folder, now=NOW)
    assert any(e.startswith(expected) for e in caught.value.errors), caught.value.errors
    assert session.scalar(select(func.count()).select_from(Message)) == 0


def test_broken_yaml_and_missing_folder(write_pack, tmp_path):
    folder = write_pack("p", [message("good-one")])
    (folder / "roto.yaml").write_text("slug: [unclosed", encoding="utf-8")
    with pytest.raises(PackInvalid, match="roto.yaml: not valid YAML"):
        read_pack(folder)
    with pytest.raises(Invalid, match="not found"):
        read_pack(tmp_path / "nowhere")


def test_radio_spot_script_is_stored_with_spoken_body(session, write_pack):
    spot = message("spot-prueba", channels=["radio"], slot_seconds=30, variables=["policia"],
                   translations={"es": {"status": "approved", "script": [
                       {"cue": "MÚSICA", "text": "cortina", "seconds": 3},
                       {"speaker": "LOCUTOR", "text": "Si te ofrecen cruzar, llama al {{ policia }}."},
                       {"speaker": "LOCUTORA", "text": "Llama al {{ policia }}."},
                   ]}})
    spot.pop("segment_budget")
    load_pack(session, write_pack("p", [spot]), now=NOW)
    es = library.get_translation(session, "spot-prueba", "es")
    assert es.body == "Si te ofrecen cruzar, llama al {{ policia }}.\nLlama al {{ policia }}."
    assert es.script[0]["cue"] == "MÚSICA" and len(es.script) == 3


def test_dump_then_load_round_trip(session, write_pack, tmp_path):
    load_pack(session, write_pack("p", _two()), now=NOW)
    out = tmp_path / "dumped"
    written = dump_pack(session, out)
    assert sorted(p.name for p in written) == ["derechos-prueba.yaml", "oferta-prueba.yaml"]
    again = read_pack(out)
    original = read_pack(tmp_path / "p")
    assert again.messages == original.messages
    report = load_pack(session, out, now=LATER)
    assert report.changed == [] and len(report.unchanged) == 2
