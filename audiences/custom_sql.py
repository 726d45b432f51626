"""A custom field's value as SQL, typed, the same on SQLite and PostgreSQL.

`custom_value(key, kind)` is NULL unless the stored JSON value has the field's type: a number
field reads JSON numbers only, a date field ISO date text only, a text field any text or number
(as text). So a stray value (`"dos"` in a number field, kept from before fields had types) never
makes PostgreSQL fail a cast in the middle of planning, and both databases answer alike:
comparisons on a value of the wrong type are simply false, like a missing value.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, String, case, cast, func, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from audiences.models import Contact, FieldType

ISO_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
ISO_REGEX = r"^\d{4}-\d{2}-\d{2}$"


def _quoted(text: str) -> Any:
    """A constant SQL string written into the statement (keys are [A-Za-z0-9_], quotes doubled)."""
    return literal_column("'" + text.replace("'", "''") + "'")


class _CustomValue(ColumnElement[Any]):
    """The value of custom field `field_key` typed as `kind` (compiled per dialect below).

    Key and kind are part of the statement's cache key (`_traverse_internals`) and are written
    into the SQL as constants, so a cached statement never reuses another field's path.
    """

    __visit_name__ = "custom_value"
    inherit_cache = True
    _traverse_internals = [
        ("field_key", InternalTraversal.dp_string),
        ("kind", InternalTraversal.dp_string),
    ]

    def __init__(self, key: str, kind: FieldType) -> None:
        self.field_key = key
        self.kind = str(kind)
        self.type = Float() if kind == FieldType.NUMBER else String()


def custom_value(key: str, kind: FieldType | str) -> Any:
    """The typed SQL value of custom field `key` over Contact (NULL when absent or mistyped)."""
    return _CustomValue(key, FieldType(kind))


@compiles(_CustomValue, "postgresql")
def _postgresql(element: _CustomValue, compiler: SQLCompiler, **kw: Any) -> str:
    key, kind = _quoted(element.field_key), FieldType(element.kind)
    node = Contact.__table__.c.custom.op("->")(key)
    text = Contact.__table__.c.custom.op("->>")(key)
    json_type = func.jsonb_typeof(node)
    if kind == FieldType.NUMBER:
        expression = case((json_type == _quoted("number"), cast(text, Float())), else_=None)
    elif kind == FieldType.DATE:
        iso = text.op("~")(_quoted(ISO_REGEX))
        expression = case((json_type == _quoted("string"), case((iso, text))), else_=None)
    else:
        expression = case((json_type.in_((_quoted("string"), _quoted("number"))), text), else_=None)
    return compiler.process(expression, **kw)


@compiles(_CustomValue)
def _sqlite(element: _CustomValue, compiler: SQLCompiler, **kw: Any) -> str:
    kind = FieldType(element.kind)
    path = _quoted('$."' + element.field_key.replace('"', "") + '"')
    column = Contact.__table__.c.custom
    json_type = func.json_type(column, path)
    value = func.json_extract(column, path)
    if kind == FieldType.NUMBER:
        expression = case((json_type.in_((_quoted("integer"), _quoted("real"))), value), else_=None)
    elif kind == FieldType.DATE:
        iso = value.op("GLOB")(_quoted(ISO_GLOB))
        expression = case((json_type == _quoted("text"), case((iso, value))), else_=None)
    else:
        kinds = (_quoted("text"), _quoted("integer"), _quoted("real"))
        expression = case((json_type.in_(kinds), cast(value, String())), else_=None)
    return compiler.process(expression, **kw)
