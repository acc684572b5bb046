"""``GET /data/$metadata``: a minimal CSDL document (entity types, keys, enum types).

Enough for a client to list entity sets, their keys and fields, and the enum members
(F&O's metadata includes EnumTypes, reference §9); no navigation properties or actions.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from emulator.fo.calls import ODATA_HEADERS, FoResponse
from emulator.fo.entities import NAMESPACE, Entity, EntityField, FieldType
from emulator.fo.environment import FoEnvironment

_EDM = {FieldType.STRING: "Edm.String", FieldType.INT: "Edm.Int32",
        FieldType.REAL: "Edm.Decimal", FieldType.DATETIME: "Edm.DateTimeOffset"}


def _property(entity_field: EntityField) -> str:
    edm = (f"{NAMESPACE}.{entity_field.enum}" if entity_field.type is FieldType.ENUM
           else _EDM[entity_field.type])
    return f'<Property Name="{entity_field.name}" Type="{edm}" Nullable="false"/>'


def _entity_type(entity: Entity) -> str:
    keys = "".join(f'<PropertyRef Name="{k}"/>' for k in entity.key)
    props = "".join(_property(f) for f in entity.fields)
    name = entity.edm_type.removeprefix(NAMESPACE + ".")
    return f'<EntityType Name="{name}"><Key>{keys}</Key>{props}</EntityType>'


def _enum_type(name: str, members: dict[str, int]) -> str:
    body = "".join(f"<Member Name={quoteattr(m)} Value=\"{v}\"/>" for m, v in members.items())
    return f'<EnumType Name="{name}">{body}</EnumType>'


def document(env: FoEnvironment) -> FoResponse:
    entities = list(env.catalog.all())
    sets = "".join(f'<EntitySet Name="{e.set_name}" EntityType="{e.edm_type}"/>'
                   for e in entities)
    schema = ("".join(_entity_type(e) for e in entities)
              + "".join(_enum_type(n, m) for n, m in env.catalog.enums.items())
              + f'<EntityContainer Name="Resources">{sets}</EntityContainer>')
    xml = ('<?xml version="1.0" encoding="utf-8"?>'
           '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">'
           '<edmx:DataServices>'
           f'<Schema Namespace="{NAMESPACE}" xmlns="http://docs.oasis-open.org/odata/ns/edm">'
           f"{schema}</Schema></edmx:DataServices></edmx:Edmx>")
    return FoResponse(200, {"Content-Type": "application/xml", **ODATA_HEADERS}, xml.encode())
