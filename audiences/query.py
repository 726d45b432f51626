"""The segment language, parsed with lark and compiled to one SQLAlchemy condition over Contact.

    department = "San Marcos" and age between 13 and 24
    border in ("MX", "HN") or (language in ("quc", "mam") and not opted_out)
    household = "single_mother" and children_under_18 >= 1        # custom field by name

Fields: department, municipality, border, age, birth_year, language, household, sex, status,
country, timezone, name, phone, opted_out (boolean); any other name (or `custom.name`) is a custom
field stored in the contact's JSON, known once a column of that name has been imported, with its
type (number, date or text): values are bound with that type, so SQLite and PostgreSQL agree
(`hijos >= 1`, `registro <= "2027-01-05"`, `colonia = "El Carmen"`; a number field alone means
"not 0"). An unknown name is an error naming the closest known ones (a typo must not silently
reach nobody). Operators: = != < <= > >= in, not in, between .. and ..; `and` binds tighter than
`or`; `not` tighter than both; parentheses group. `x = null` tests for a missing value. Logic is
two-valued: a comparison on a missing value is false (and `!=` is true). Phone numbers and names
are stored encrypted: `phone` takes only =, != and in (matched by its blind index), `name` only
null tests; anything else is refused with a message saying so.

Pure: no session, no clock (`today` and the known custom `fields` are given). Errors are
Invalid("query", "... at column N").

Bounds, so that no query can exhaust the parser, the compiler or the database: at most
`MAX_LENGTH` characters, `MAX_NESTING` levels of and/or/not, `MAX_COMPARISONS` comparisons (each
value of an `in` list counts: SQLite refuses expressions deeper than 1000), numbers of at most
`MAX_DIGITS` digits, ages from 0 to 150 and birth years from 1 to 9999.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from sqlalchemy import ColumnElement, and_, false, not_, or_

from audiences.custom_sql import custom_value
from audiences.fields import parse_date, parse_number, type_label
from audiences.geography import border_municipality_codes, resolve_department, resolve_municipality
from audiences.models import Contact, ContactStatus, FieldType
from audiences.phones import normalize_phone
from campaign.core.errors import Invalid
from campaign.core.i18n import _

GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr -> negation
         | atom
?atom: "(" or_expr ")"
     | field OP value               -> compare
     | field _IN "(" values ")"     -> is_in
     | field _NOT _IN "(" values ")" -> not_in
     | field _BETWEEN value _AND value -> between
     | field                        -> flag
values: value ("," value)*
field: NAME
value: STRING -> string
     | NUMBER -> number
     | _TRUE -> true_
     | _FALSE -> false_
     | _NULL -> null
OP: "<=" | ">=" | "!=" | "<>" | "==" | "=" | "<" | ">"
_OR.2: /or\b/i
_AND.2: /and\b/i
_NOT.2: /not\b/i
_IN.2: /in\b/i
_BETWEEN.2: /between\b/i
_TRUE.2: /true\b/i
_FALSE.2: /false\b/i
_NULL.2: /null\b/i
NAME: /[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?/
STRING: /"(?:[^"\\]|\\.)*"/ | /'(?:[^'\\]|\\.)*'/
NUMBER: /-?\d+(\.\d+)?/
%import common.WS
%ignore WS
"""

STRING_FIELDS = {"household", "sex", "status", "country", "timezone", "name", "phone"}
ENCRYPTED_FIELDS = {"name", "phone"}  # stored encrypted: see Transformer._encrypted
NUMBER_FIELDS = {"birth_year"}
KNOWN_FIELDS = STRING_FIELDS | NUMBER_FIELDS | {
    "department", "municipality", "border", "age", "language", "opted_out"
}
MAX_LENGTH = 10_000
MAX_NESTING = 20
MAX_COMPARISONS = 500
MAX_DIGITS = 15
MAX_AGE = 150
COMPARISONS = {"compare", "between", "flag"}
LOGIC = {"or_expr", "and_expr", "negation"}
FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)


@dataclass(frozen=True)
class Literal:
    """A value in a query with the column where it was written (for error messages)."""

    value: Any
    column: int


def _column_of(token: Token) -> int:
    """The 1-based column of a token (lark types it optional; our parser always tracks positions)."""
    return token.column or 0


class QueryError(Invalid):
    """Invalid("query", "REASON at column N") that also keeps the reason and the 1-based column
    apart, so a page can mark the place in the query whatever the language of the message."""

    def __init__(self, detail: str, column: int) -> None:
        super().__init__("query", _("%(reason)s at column %(column)d", reason=detail, column=column))
        self.detail = detail
        self.column = column


def _fail(reason: str, column: int) -> QueryError:
    return QueryError(reason, column)


def _unquote(token: str) -> str:
    body = token[1:-1]
    return body.replace('\\"', '"').replace("\\'", "'").replace("\\\\", "\\")


def _cmp(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == ">":
        return column > value
    return column >= value


def _present(column: Any, condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """Two-valued logic: a comparison on NULL is false, never unknown (so `not` is exact)."""
    return and_(column.is_not(None), condition)


def suggestions(name: str, known: list[str]) -> list[str]:
    """The known names closest to a misspelled one (at most 3, best first)."""
    return difflib.get_close_matches(name, known, n=3, cutoff=0.6)


def unknown_name_reason(what: str, name: str, known: list[str]) -> str:
    """`unknown field 'departmnt' (did you mean department?)`, else the list of known names."""
    close = suggestions(name, known)
    if close:
        return _("unknown %(what)s %(name)r (did you mean %(names)s?)", what=what, name=name,
                 names=_(" or ").join(close))
    return _("unknown %(what)s %(name)r (known: %(names)s)", what=what, name=name,
             names=", ".join(sorted(known)))


class _Compiler(Transformer[Token, ColumnElement[bool]]):
    def __init__(self, today: date, fields: Mapping[str, FieldType]) -> None:
        super().__init__()
        self.today = today
        self.fields = dict(fields)

    # --- values ------------------------------------------------------------------------------
    def string(self, items: list[Token]) -> Literal:
        return Literal(_unquote(items[0]), _column_of(items[0]))

    def number(self, items: list[Token]) -> Literal:
        text = str(items[0])
        if sum(c.isdigit() for c in text) > MAX_DIGITS:
            raise _fail(_("a number has at most %(max)d digits", max=MAX_DIGITS), _column_of(items[0]))
        return Literal(float(text) if "." in text else int(text), _column_of(items[0]))

    @v_args(meta=True)
    def true_(self, meta: Any, items: list[Any]) -> Literal:
        return Literal(True, meta.column)

    @v_args(meta=True)
    def false_(self, meta: Any, items: list[Any]) -> Literal:
        return Literal(False, meta.column)

    @v_args(meta=True)
    def null(self, meta: Any, items: list[Any]) -> Literal:
        return Literal(None, meta.column)

    def values(self, items: list[Literal]) -> list[Literal]:
        return items

    def field(self, items: list[Token]) -> Token:
        return items[0]

    # --- logic -------------------------------------------------------------------------------
    def or_expr(self, items: list[ColumnElement[bool]]) -> ColumnElement[bool]:
        return or_(*items)

    def and_expr(self, items: list[ColumnElement[bool]]) -> ColumnElement[bool]:
        return and_(*items)

    def negation(self, items: list[ColumnElement[bool]]) -> ColumnElement[bool]:
        return not_(items[0])

    # --- comparisons -------------------------------------------------------------------------
    def flag(self, items: list[Token]) -> ColumnElement[bool]:
        name = str(items[0])
        if name == "opted_out":
            return Contact.status == ContactStatus.OPTED_OUT
        if name == "border":
            return Contact.municipality_code.in_(border_municipality_codes())
        if name in KNOWN_FIELDS:
            reason = _("field %(name)r needs a comparison (e.g. %(bare)s = ...)", name=name, bare=name)
            raise _fail(reason, _column_of(items[0]))
        key, kind = self._custom_field(name, _column_of(items[0]))
        if kind != FieldType.NUMBER:
            raise _fail(
                _("%(name)s is a field of type %(kind)s: compare it (e.g. %(name)s = ...)", name=name,
                  kind=type_label(kind)),
                _column_of(items[0]),
            )
        value = custom_value(key, kind)
        return _present(value, value != 0)

    def compare(self, items: list[Any]) -> ColumnElement[bool]:
        field, op_token, literal = items
        op = {"==": "=", "<>": "!="}.get(str(op_token), str(op_token))
        return self._leaf(field, op, literal, op_token.column)

    def is_in(self, items: list[Any]) -> ColumnElement[bool]:
        field, literals = items
        return or_(*(self._leaf(field, "=", lit, lit.column) for lit in literals))

    def not_in(self, items: list[Any]) -> ColumnElement[bool]:
        return not_(self.is_in(items))

    def between(self, items: list[Any]) -> ColumnElement[bool]:
        field, low, high = items
        return and_(self._leaf(field, ">=", low, low.column), self._leaf(field, "<=", high, high.column))

    # --- one field, one operator, one value -----------------------------------------------------
    def _leaf(self, field: Token, op: str, literal: Literal, op_column: int) -> ColumnElement[bool]:
        name = str(field)
        value = literal.value
        if value is None:
            if op not in ("=", "!="):
                raise _fail(_("null can only be compared with = or !="), literal.column)
            target = self._column_for_null(name, _column_of(field))
            return target.is_(None) if op == "=" else target.is_not(None)
        if name == "age":
            return self._age(op, literal)
        if name == "opted_out":
            if not isinstance(value, bool) or op not in ("=", "!="):
                raise _fail(_("opted_out is true or false"), literal.column)
            is_out = Contact.status == ContactStatus.OPTED_OUT
            return is_out if (value == (op == "=")) else not_(is_out)
        if name in ("department", "municipality", "border", "language", "status") and op not in ("=", "!="):
            raise _fail(_("%(name)s can only be compared with =, !=, in", name=name), op_column)
        if name == "department":
            return self._equality(Contact.department, op, self._resolve(resolve_department, value, literal))
        if name == "municipality":
            code = self._resolve(lambda v: resolve_municipality(v).code, value, literal)
            return self._equality(Contact.municipality_code, op, code)
        if name == "border":
            codes = self._resolve(lambda v: border_municipality_codes([str(v)]), value, literal)
            inside = _present(Contact.municipality_code, Contact.municipality_code.in_(codes))
            return inside if op == "=" else not_(inside)
        if name == "language":
            return self._equality(Contact.language, op, self._language(value, literal))
        if name == "status":
            if str(value) not in {s.value for s in ContactStatus}:
                raise _fail(
                    _("unknown status %(value)r (active, opted_out, blocked)", value=value), literal.column
                )
            return self._equality(Contact.status, op, str(value))
        if name in ENCRYPTED_FIELDS:
            return self._encrypted(name, op, literal, op_column)
        if name in STRING_FIELDS:
            if not isinstance(value, str):
                raise _fail(_("%(name)s is compared with a quoted text", name=name), literal.column)
            if name in ("sex", "country"):
                value = value.upper()[:2] if name == "country" else value.upper()[:1]
            column = getattr(Contact, name)
            return self._ordered(column, op, value)
        if name in NUMBER_FIELDS:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise _fail(_("%(name)s is compared with a number", name=name), literal.column)
            if not 1 <= value <= 9999:
                raise _fail(
                    _("%(field)s %(value)s is out of range (1 to 9999)", field=name, value=value),
                    literal.column,
                )
            return self._ordered(Contact.birth_year, op, value)
        return self._custom_leaf(name, op, literal, field)

    @staticmethod
    def _encrypted(name: str, op: str, literal: Literal, op_column: int) -> ColumnElement[bool]:
        """phone = / != / in: by the blind index of the normalized number. Anything else, and any
        comparison of a name, is refused: those are stored encrypted (campaign/core/crypto.py)."""
        if name == "name":
            raise _fail(_("name is stored encrypted and cannot be searched (only name = null "
                          "or name != null)"), op_column)
        if op not in ("=", "!="):
            raise _fail(_("phone is stored encrypted: compare it with =, != or in (a whole number); "
                          "for a prefix use country = \"MX\" or department"), op_column)
        if not isinstance(literal.value, str | int) or isinstance(literal.value, bool):
            raise _fail(_("phone is compared with a quoted number"), literal.column)
        try:
            e164 = normalize_phone(str(literal.value)).e164
        except Invalid as exc:
            raise _fail(exc.reason, literal.column) from None
        match = Contact.phone_is(e164)
        return match if op == "=" else not_(match)

    @staticmethod
    def _equality(column: Any, op: str, value: Any) -> ColumnElement[bool]:
        if op == "=":
            return _present(column, column == value)
        return or_(column.is_(None), column != value)

    @staticmethod
    def _ordered(column: Any, op: str, value: Any) -> ColumnElement[bool]:
        if op == "!=":
            return or_(column.is_(None), column != value)
        return _present(column, _cmp(column, op, value))

    def _age(self, op: str, literal: Literal) -> ColumnElement[bool]:
        value = literal.value
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(_("age is compared with a whole number"), literal.column)
        if not 0 <= value <= MAX_AGE:
            raise _fail(
                _("age %(value)d is out of range (0 to %(max)d)", value=value, max=MAX_AGE), literal.column
            )
        # age = today.year - birth_year; rewritten onto birth_year so an index can serve it.
        year = self.today.year - value
        return self._ordered(Contact.birth_year, FLIP[op], year)

    def _language(self, value: Any, literal: Literal) -> str:
        from campaign.core.languages import default_registry

        text = str(value)
        language = default_registry().resolve(text)
        if language is not None:
            return language.code
        if text.isalpha() and text.islower() and 2 <= len(text) <= 3:
            return text  # a code the registry does not know yet: match it literally
        raise _fail(_("unknown language %(text)r", text=text), literal.column)

    @staticmethod
    def _resolve(fn: Any, value: Any, literal: Literal) -> Any:
        try:
            return fn(str(value))
        except Invalid as exc:
            raise _fail(exc.reason, literal.column) from None

    def _custom_field(self, name: str, column: int) -> tuple[str, FieldType]:
        """(key, type) of a custom field; an unknown name fails with the closest known names."""
        key = name.split(".", 1)[1] if name.startswith("custom.") else name
        if key in self.fields:
            return key, self.fields[key]
        known = sorted(KNOWN_FIELDS | set(self.fields))
        raise _fail(unknown_name_reason(_("field"), name, known), column)

    def _column_for_null(self, name: str, column: int) -> Any:
        mapping = {
            "department": Contact.department,
            "municipality": Contact.municipality_code,
            "language": Contact.language,
            "age": Contact.birth_year,
            "birth_year": Contact.birth_year,
        }
        if name in mapping:
            return mapping[name]
        if name in STRING_FIELDS:
            return getattr(Contact, name)
        return custom_value(*self._custom_field(name, column))

    def _custom_leaf(self, name: str, op: str, literal: Literal, field: Token) -> ColumnElement[bool]:
        key, kind = self._custom_field(name, _column_of(field))
        return self._ordered(custom_value(key, kind), op, self._typed(name, kind, literal))

    @staticmethod
    def _typed(name: str, kind: FieldType, literal: Literal) -> Any:
        """The literal bound with the field's type; a value that cannot be one fails here."""
        value = literal.value
        if isinstance(value, bool):
            label = type_label(kind)
            reason = _("%(name)s is a field of type %(kind)s, not true/false", name=name, kind=label)
            raise _fail(reason, literal.column)
        if kind == FieldType.NUMBER:
            try:
                return float(parse_number(str(value)))
            except ValueError:
                raise _fail(
                    _("%(name)s is a number field: compare it with a number (%(name)s = 2), not %(value)r",
                      name=name, value=value),
                    literal.column,
                ) from None
        if kind == FieldType.DATE:
            if not isinstance(value, str):
                raise _fail(_('%(name)s is a date field: write the date as "2027-01-05"', name=name),
                            literal.column)
            try:
                return parse_date(value, "ymd").isoformat()
            except Invalid:
                raise _fail(
                    _('%(name)s is a date field: %(value)r is not a date like "2027-01-05"',
                      name=name, value=value),
                    literal.column,
                ) from None
        return str(value)


def _check_size(tree: Tree[Token]) -> None:
    """Raises Invalid past MAX_NESTING levels of logic or MAX_COMPARISONS comparisons, naming the
    column where the bound is crossed. Iterative: the parser builds trees of any depth, but the
    compiler (and SQLAlchemy, and the database) recurse."""
    comparisons = 0
    stack: list[tuple[Tree[Token] | Token, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, Tree):
            continue
        if node.data in LOGIC:
            depth += 1
            if depth > MAX_NESTING:
                raise _fail(
                    _("nested more than %(max)d levels of and/or/not", max=MAX_NESTING), _tree_column(node)
                )
        if node.data in COMPARISONS or node.data == "values":
            comparisons += len(node.children) if node.data == "values" else 1
            if comparisons > MAX_COMPARISONS:
                raise _fail(
                    _("more than %(max)d comparisons (each value of an in list counts)", max=MAX_COMPARISONS),
                    _tree_column(node),
                )
        stack.extend((child, depth) for child in reversed(node.children))


def _tree_column(node: Tree[Token]) -> int:
    meta = node.meta
    return int(getattr(meta, "column", 0) or 0) if not meta.empty else 0


def compile_query(
    text: str, *, today: date, fields: Mapping[str, FieldType] | None = None
) -> ColumnElement[bool]:
    """Compiles a segment query into a SQL condition over Contact (SQLite and PostgreSQL).

    `fields` are the custom fields known (key -> type; see audiences.fields.known_fields); any
    other name is an unknown field. Raises Invalid("query", "... at column N") for syntax errors,
    unknown fields and values that do not fit a field.
    """
    if not text or not text.strip():
        raise Invalid("query", _("empty query"))
    if len(text) > MAX_LENGTH:
        raise Invalid("query", _("longer than %(max)d characters (%(n)d)", max=MAX_LENGTH, n=len(text)))
    try:
        tree = _parser().parse(text)
    except UnexpectedEOF as exc:
        raise _fail(_("query ends too early"), len(text) + 1) from exc
    except UnexpectedToken as exc:
        if exc.token.type == "$END":
            raise _fail(_("query ends too early"), len(text.rstrip()) + 1) from exc
        raise _fail(_("unexpected %(token)r", token=str(exc.token)), exc.column) from exc
    except UnexpectedCharacters as exc:
        char = text[exc.pos_in_stream or 0]
        raise _fail(_("unexpected character %(char)r", char=char), exc.column) from exc
    except UnexpectedInput as exc:  # pragma: no cover - the three above are all lark raises here
        raise _fail(_("syntax error"), getattr(exc, "column", 0)) from exc
    _check_size(tree)
    try:
        result = _Compiler(today, fields or {}).transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, Invalid):
            raise exc.orig_exc from None
        raise
    if not isinstance(result, ColumnElement):
        return false()
    return result
