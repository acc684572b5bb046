"""F&O data entities: fields, composite keys, enums, and the built-in entity catalog.

An :class:`Entity` is what ``/data/<set>`` serves. Company-specific entities have
``dataAreaId`` as their first field and the first part of their key (reference §9).
Entities differ in their change-date field (``ModifiedDateTime`` here, ``modifiedDateTime1``
there) and not all have a created-date field; the server sets both from the emulator clock.

Built-ins: ``CustomersV3``, ``SalesOrderHeadersV2``, ``VendorsV2``, ``ReleasedProductsV2``.
A seed's ``fo_enums:`` section adds enums (``{Name: [Member, …]}``, values 0, 1, …) and its
``fo_entities:`` section adds entities::

    fo_entities:
      - name: CustomerGroups            # the entity set
        type_name: CustomerGroup        # optional: the EDM type (default: the set name)
        table_type: CustCustomerGroupEntity   # optional; shown in write errors
        company: true                   # optional, default true: dataAreaId in the key
        key: [CustomerGroupId]          # dataAreaId is prepended for company entities
        fields: {CustomerGroupId: string, Description: string, IsTaxed: enum NoYes,
                 CreditLimit: real, Rank: int, ModifiedOn: datetime}
        mandatory: [Description]        # optional; key fields are always mandatory
        change_date_field: ModifiedOn   # optional; a datetime field
        created_date_field: null        # optional; a datetime field
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

NAMESPACE = "Microsoft.Dynamics.DataEntities"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DATA_AREA = "dataAreaId"


class FieldType(StrEnum):
    STRING = "string"
    INT = "int"
    REAL = "real"
    DATETIME = "datetime"
    ENUM = "enum"


@dataclass(frozen=True)
class EntityField:
    name: str
    type: FieldType
    enum: str | None = None  # the enum type's name, for ENUM fields


@dataclass(frozen=True)
class Entity:
    set_name: str  # CustomersV3: the URL segment
    table_type: str  # CustCustomerV3Entity: the X++ entity named in write errors
    fields: tuple[EntityField, ...]
    key: tuple[str, ...]  # dataAreaId first for company-specific entities
    company_specific: bool = True
    mandatory: frozenset[str] = frozenset()  # beyond the key fields
    change_date_field: str | None = None
    created_date_field: str | None = None
    type_name: str = ""  # CustomerV3: the EDM entity type (default: the set name)
    _by_name: dict[str, EntityField] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({f.name: f for f in self.fields})

    @property
    def edm_type(self) -> str:
        return f"{NAMESPACE}.{self.type_name or self.set_name}"

    @property
    def sql_table(self) -> str:
        return f"fo_{self.set_name.lower()}"

    def field(self, name: str) -> EntityField | None:
        """The field named exactly ``name`` (OData property names are case-sensitive)."""
        return self._by_name.get(name)

    def server_dates(self) -> tuple[str, ...]:
        """The date fields the server stamps on writes."""
        return tuple(f for f in (self.change_date_field, self.created_date_field) if f)


# name -> {member: value}; the values F&O uses where known, else declaration order.
BUILT_IN_ENUMS: dict[str, dict[str, int]] = {
    "NoYes": {"No": 0, "Yes": 1},
    "CustVendorBlocked": {"No": 0, "Invoice": 1, "All": 2, "Payment": 3, "Requisition": 4,
                          "Never": 5},
    "SalesStatus": {"None": 0, "Backorder": 1, "Delivered": 2, "Invoiced": 3, "Canceled": 4},
    "EcoResProductType": {"Item": 1, "Service": 2},
}


def _fields(spec: Mapping[str, str], company: bool = True) -> tuple[EntityField, ...]:
    parsed = [parse_field(name, text) for name, text in spec.items()]
    if company:
        parsed.insert(0, EntityField(DATA_AREA, FieldType.STRING))
    return tuple(parsed)


def parse_field(name: str, text: str) -> EntityField:
    """``string`` | ``int`` | ``real`` | ``datetime`` | ``enum <EnumName>``."""
    kind, _, enum = text.replace(":", " ").partition(" ")
    field_type = FieldType(kind.strip())
    if field_type is FieldType.ENUM and not enum.strip():
        raise ValueError(f"field {name}: an enum field is 'enum <EnumName>'")
    return EntityField(name, field_type, enum.strip() or None)


def built_in_entities() -> list[Entity]:
    return [
        Entity("CustomersV3", "CustCustomerV3Entity", _fields({
            "CustomerAccount": "string", "OrganizationName": "string", "NameAlias": "string",
            "CustomerGroupId": "string", "SalesCurrencyCode": "string", "CreditLimit": "real",
            "CreditLimitIsMandatory": "enum NoYes", "IsSalesTaxIncludedInPrice": "enum NoYes",
            "OnHoldStatus": "enum CustVendorBlocked", "PrimaryContactEmail": "string",
            "AddressCountryRegionId": "string", "AddressCity": "string",
            "CreatedDateTime": "datetime", "ModifiedDateTime": "datetime"}),
            (DATA_AREA, "CustomerAccount"), mandatory=frozenset({"CustomerGroupId"}),
            change_date_field="ModifiedDateTime", created_date_field="CreatedDateTime",
            type_name="CustomerV3"),
        Entity("SalesOrderHeadersV2", "SalesOrderHeaderV2Entity", _fields({
            "SalesOrderNumber": "string", "OrderingCustomerAccountNumber": "string",
            "InvoiceCustomerAccountNumber": "string", "SalesOrderName": "string",
            "CurrencyCode": "string", "SalesOrderStatus": "enum SalesStatus",
            "IsDeliveryAddressPrivate": "enum NoYes", "CustomerRequisitionNumber": "string",
            "RequestedShippingDate": "datetime", "OrderCreationDateTime": "datetime",
            "modifiedDateTime1": "datetime"}),
            (DATA_AREA, "SalesOrderNumber"),
            mandatory=frozenset({"OrderingCustomerAccountNumber"}),
            change_date_field="modifiedDateTime1", created_date_field="OrderCreationDateTime",
            type_name="SalesOrderHeaderV2"),
        Entity("VendorsV2", "VendVendorV2Entity", _fields({
            "VendorAccountNumber": "string", "VendorOrganizationName": "string",
            "VendorGroupId": "string", "CurrencyCode": "string",
            "OnHoldStatus": "enum CustVendorBlocked", "IsMinorityOwned": "enum NoYes",
            "PrimaryEmailAddress": "string", "ModifiedDateTime": "datetime"}),
            (DATA_AREA, "VendorAccountNumber"), mandatory=frozenset({"VendorGroupId"}),
            change_date_field="ModifiedDateTime", type_name="VendorV2"),  # no created-date field
        Entity("ReleasedProductsV2", "EcoResReleasedProductV2Entity", _fields({
            "ItemNumber": "string", "ProductNumber": "string", "SearchName": "string",
            "ProductType": "enum EcoResProductType", "ItemModelGroupId": "string",
            "SalesPrice": "real", "PurchasePrice": "real", "NetProductWeight": "real",
            "IsPurchasePriceAutomaticallyUpdated": "enum NoYes",
            "ProductLifecycleStateId": "string", "CreatedDateTime1": "datetime",
            "ModifiedDateTime1": "datetime"}),
            (DATA_AREA, "ItemNumber"),
            change_date_field="ModifiedDateTime1", created_date_field="CreatedDateTime1",
            type_name="ReleasedProductV2"),
    ]


class SeedEntity(BaseModel):
    """One item of a seed's ``fo_entities:`` section."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", examples=["CustomerGroups"])
    type_name: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                  examples=["CustomerGroup"])
    table_type: str | None = None
    company: bool = True
    key: list[str] = Field(min_length=1)
    fields: dict[str, str]
    mandatory: list[str] = Field(default_factory=list)
    change_date_field: str | None = None
    created_date_field: str | None = None


def entity_from_seed(doc: Any, enums: Mapping[str, Mapping[str, int]]) -> Entity:
    """An :class:`Entity` from a seed item; ``ValueError`` naming every problem otherwise."""
    try:
        seed = SeedEntity.model_validate(doc)
    except ValidationError as exc:
        raise ValueError(f"fo_entities: {exc}") from None
    entity = Entity(
        seed.name, seed.table_type or f"{seed.name}Entity",
        _fields(seed.fields, seed.company),
        ((DATA_AREA,) if seed.company else ()) + tuple(k for k in seed.key if k != DATA_AREA),
        seed.company, frozenset(seed.mandatory), seed.change_date_field,
        seed.created_date_field, seed.type_name or seed.name)
    problems = entity_problems(entity, enums)
    if problems:
        raise ValueError(f"fo_entities[{seed.name}]: " + "; ".join(problems))
    return entity


def entity_problems(entity: Entity, enums: Mapping[str, Mapping[str, int]]) -> list[str]:
    problems = [f"field name {f.name!r} is not an identifier" for f in entity.fields
                if not _IDENTIFIER.match(f.name)]
    problems += [f"key field {k!r} is not a field" for k in entity.key if not entity.field(k)]
    problems += [f"mandatory field {m!r} is not a field"
                 for m in entity.mandatory if not entity.field(m)]
    for name in entity.server_dates():
        found = entity.field(name)
        if found is None or found.type is not FieldType.DATETIME:
            problems.append(f"{name!r} must be a datetime field")
    problems += [f"field {f.name!r}: unknown enum {f.enum!r}" for f in entity.fields
                 if f.type is FieldType.ENUM and f.enum not in enums]
    return problems


@dataclass
class Catalog:
    """The entities and enums one environment serves."""

    entities: dict[str, Entity] = field(default_factory=dict)
    enums: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, entity: Entity) -> None:
        self.entities[entity.set_name] = entity

    def get(self, set_name: str) -> Entity | None:
        return self.entities.get(set_name)

    def all(self) -> Iterable[Entity]:
        return self.entities.values()


def built_in_catalog() -> Catalog:
    catalog = Catalog(enums={k: dict(v) for k, v in BUILT_IN_ENUMS.items()})
    for entity in built_in_entities():
        catalog.add(entity)
    return catalog
