"""Request bodies -> column values: type checks, lengths, option sets and ``@odata.bind``.

Values come back keyed by SQL column (``_parentcustomerid_value``/``_type`` for lookups),
ready for :class:`~emulator.dataverse.storage.DataverseStore`. Datetimes become whole
seconds since the epoch, UTC.
"""

from __future__ import annotations

from typing import Any

from emulator.dataverse import errors
from emulator.dataverse.environment import Environment
from emulator.dataverse.schema import Attribute, AttributeType, Navigation, Table
from emulator.dataverse.storage import Value
from emulator.dataverse.timestamps import parse_datetime
from emulator.dataverse.urls import as_guid, parse_key, parse_reference

T = AttributeType
_EDM = {T.STRING: "Edm.String", T.MEMO: "Edm.String", T.INTEGER: "Edm.Int32",
        T.PICKLIST: "Edm.Int32", T.STATE: "Edm.Int32", T.STATUS: "Edm.Int32",
        T.DECIMAL: "Edm.Decimal", T.MONEY: "Edm.Decimal", T.MULTISELECT: "Edm.String",
        T.FILE: "Edm.Guid", T.IMAGE: "Edm.Guid",
        T.BOOLEAN: "Edm.Boolean", T.DATETIME: "Edm.DateTimeOffset",
        T.UNIQUEIDENTIFIER: "Edm.Guid", T.LOOKUP: "Edm.Guid"}
SYSTEM_WRITABLE = frozenset({"createdon", "modifiedon"})


def coerce(table: Table, attr: Attribute, value: Any) -> Value:
    """One JSON value -> its stored form, or a Dataverse 400."""
    if value is None:
        return None
    try:
        stored = _coerce_type(attr, value)
    except (TypeError, ValueError, OverflowError):
        raise errors.bad_payload(table.entity_set, (
            f"Cannot convert the literal '{value}' to the expected type "
            f"'{_EDM[attr.type]}'.")) from None
    _validate(table, attr, stored)
    return stored


# Plain sets: this runs for every value of every row written (enum properties cost more).
_TEXT = frozenset({T.STRING, T.MEMO})
_WHOLE = frozenset({T.INTEGER, T.PICKLIST, T.STATE, T.STATUS})
_OPTIONS = frozenset({T.PICKLIST, T.STATE, T.STATUS})


def _coerce_type(attr: Attribute, value: Any) -> Value:
    kind = attr.type
    if kind in _TEXT:
        if not isinstance(value, str):
            raise TypeError
        return value
    if kind is T.MULTISELECT:
        return multiselect_text(value)
    if kind in _WHOLE:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError
        return value
    if kind in (T.DECIMAL, T.MONEY):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise TypeError
        return float(value)
    if kind is T.BOOLEAN:
        if not isinstance(value, bool):
            raise TypeError
        return int(value)
    if kind is T.DATETIME:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
        return parse_datetime(str(value))
    guid = as_guid(str(value)) if isinstance(value, str) else None
    if guid is None:
        raise ValueError
    return guid


def multiselect_text(value: Any) -> str:
    """``"1, 3,1"`` -> ``"1,3"``: a multi-select value as Dataverse stores and returns it."""
    if not isinstance(value, str):
        raise TypeError
    chosen: list[int] = []
    for part in value.split(","):
        number = int(part.strip())
        if number not in chosen:
            chosen.append(number)
    return ",".join(str(n) for n in chosen)


def _validate(table: Table, attr: Attribute, value: Value) -> None:
    if attr.type is T.MULTISELECT and attr.options and isinstance(value, str):
        outside = [v for v in value.split(",") if int(v) not in attr.options]
        if outside:
            accepted = ",".join(str(v) for v in attr.options)
            raise errors.DataverseError(400, errors.VALIDATION, (
                f"A validation error occurred.  The value {outside[0]} of '{attr.name}' on "
                f"record of type '{table.logical_name}' is outside the valid range. "
                f"Accepted Values: {accepted}"))
    if attr.max_length is not None and isinstance(value, str) and len(value) > attr.max_length:
        raise errors.DataverseError(400, errors.VALIDATION, (
            f"A validation error occurred.  The length of the '{attr.name}' attribute of the "
            f"'{table.logical_name}' entity exceeded the maximum allowed length of "
            f"'{attr.max_length}'."))
    if attr.type in _OPTIONS and attr.options and value not in attr.options:
        accepted = ",".join(str(v) for v in attr.options)
        raise errors.DataverseError(400, errors.VALIDATION, (
            f"A validation error occurred.  The value {value} of '{attr.name}' on record of type "
            f"'{table.logical_name}' is outside the valid range. Accepted Values: {accepted}"))


class PayloadReader:
    """Reads one entity body for ``table`` in ``env``."""

    def __init__(self, env: Environment, table: Table, *, system_columns: bool = False) -> None:
        self.env = env
        self.table = table
        self.system_columns = system_columns  # the control plane may set createdon/modifiedon
        # ``<collection nav>@odata.bind: [urls]``: rows to associate once the row is written.
        self.links: list[tuple[str, str]] = []

    def read(self, body: Any) -> dict[str, Value]:
        if not isinstance(body, dict):
            raise errors.bad_payload(self.table.entity_set, "The payload is not a JSON object.")
        values: dict[str, Value] = {}
        for name, value in body.items():
            values.update(self._property(str(name), value))
        return values

    def _property(self, name: str, value: Any) -> dict[str, Value]:
        if name.endswith("@odata.bind"):
            nav = name.removesuffix("@odata.bind")
            if isinstance(value, list) and self.table.navigation(nav) is None:
                return self._collection_bind(nav, value)
            return self.bind(nav, value)
        if "@" in name:
            return {}  # instance annotations such as @odata.type or @odata.etag
        if isinstance(value, (dict, list)) and self._is_navigation(name):
            raise errors.DataverseError(400, errors.NOT_IMPLEMENTED, (
                f"Creating related records inline through '{name}' (deep insert) is not "
                "supported by the emulator; create them first and bind them with "
                f"'{name}@odata.bind'."))
        attr = self.table.attributes.get(name)
        if attr is None:
            if self.system_columns and (lookup := self.table.attribute_by_column(name)):
                return self._lookup_value(lookup, value)
            raise self._unknown(name)
        if attr.type is T.LOOKUP:
            if value is None:  # "parentaccountid": null disassociates
                return {attr.column: None, attr.type_column: None}
            raise self._unknown(name)
        if attr.read_only and not self._may_write_system(attr):
            return {}  # Dataverse ignores values for read-only columns
        return {attr.column: coerce(self.table, attr, value)}

    def _is_navigation(self, name: str) -> bool:
        return (self.table.navigation(name) is not None or name in self.table.collections
                or name in self.table.many_to_many)

    def _collection_bind(self, nav: str, references: list[Any]) -> dict[str, Value]:
        if nav not in self.table.collections and nav not in self.table.many_to_many:
            raise self._unknown(nav)
        for reference in references:
            if not isinstance(reference, str):
                raise errors.bad_payload(self.table.entity_set, (
                    f"Each value of '{nav}@odata.bind' must be an entity URL string."))
            self.links.append((nav, reference))
        return {}

    def _may_write_system(self, attr: Attribute) -> bool:
        if attr.formula:
            return False
        return attr.name == self.table.primary_id or (
            self.system_columns and attr.name in SYSTEM_WRITABLE)

    def _lookup_value(self, attr: Attribute, value: Any) -> dict[str, Value]:
        guid = as_guid(str(value)) if value is not None else None
        return {attr.column: guid, attr.type_column: attr.targets[0] if guid else None}

    def bind(self, nav_name: str, reference: Any) -> dict[str, Value]:
        """``nav@odata.bind`` -> the lookup's columns (``None`` unbinds)."""
        nav = self.table.navigation(nav_name)
        if nav is None:
            raise self._unknown(nav_name)
        if nav.attribute.read_only and not self.system_columns:
            return {}  # createdby and the like are the platform's, as other read-only columns
        if reference is None:
            return {nav.attribute.column: None, nav.attribute.type_column: None}
        if not isinstance(reference, str):
            raise errors.bad_payload(self.table.entity_set, (
                f"The value of '{nav_name}@odata.bind' must be an entity URL string."))
        return self.reference_columns(nav, reference)

    def reference_columns(self, nav: Navigation, reference: str) -> dict[str, Value]:
        segment = parse_reference(reference)
        target = self.env.catalog.by_entity_set(segment.name)
        if target is None or target.logical_name != nav.target:
            raise errors.bad_payload(self.table.entity_set, (
                f"The reference '{reference}' does not point to a {nav.target} record, as "
                f"'{nav.name}' requires."))
        key = parse_key(segment.key or "")
        record_id = key.record_id or self.env.storage.find_by_columns(target, key.values or {})
        if record_id is None or self.env.storage.fetch(target, record_id) is None:
            raise errors.not_found(target.logical_name, key.record_id or segment.key or "")
        return {nav.attribute.column: record_id, nav.attribute.type_column: target.logical_name}

    def _unknown(self, name: str) -> errors.DataverseError:
        return errors.bad_payload(self.table.entity_set, (
            f"The property '{name}' does not exist on type "
            f"'Microsoft.Dynamics.CRM.{self.table.logical_name}'. Make sure to only use property "
            "names that are defined by the type or mark the type as open type."))
