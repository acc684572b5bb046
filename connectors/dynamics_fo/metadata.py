"""Entity sets, keys and field types from ``GET /data/$metadata`` (CSDL), cached per client.

Used to build key segments in the key's order, to tell company-specific entities (``dataAreaId``
in the key) from shared ones, and to name the date fields an entity really has when a trigger
asks for one it lacks.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from difflib import get_close_matches

from connectors.dynamics_fo.client import FoClient
from connectors.errors import FatalError, RecipeError

DATA_AREA = "dataAreaId"
DATETIME_TYPES = frozenset({"Edm.DateTimeOffset", "Edm.DateTime", "Edm.Date"})
_EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
_CACHE_KEY = "metadata"


@dataclass(frozen=True)
class EntityInfo:
    set_name: str
    key: tuple[str, ...]
    fields: dict[str, str]  # property name -> EDM type (enums: their full type name)

    @property
    def company_specific(self) -> bool:
        return DATA_AREA in self.key

    @property
    def date_fields(self) -> list[str]:
        return [name for name, kind in self.fields.items() if kind in DATETIME_TYPES]

    def require_date_field(self, name: str, purpose: str) -> None:
        """``RecipeError`` naming the entity's date fields when ``name`` is not one of them."""
        if self.fields.get(name) in DATETIME_TYPES:
            return
        found = ", ".join(self.date_fields) or "none"
        raise RecipeError(f"F&O entity {self.set_name} has no {purpose} field {name!r}; "
                          f"its date fields are: {found}")


def parse_metadata(xml: bytes) -> dict[str, EntityInfo]:
    """Entity set name -> :class:`EntityInfo` from a CSDL document."""
    try:
        root = ET.fromstring(xml)  # the service's own metadata
    except ET.ParseError as exc:
        raise FatalError(f"F&O sent $metadata that is not XML: {exc}") from None
    types: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {}
    for schema in root.iter(f"{_EDM}Schema"):
        namespace = schema.get("Namespace", "")
        for entity_type in schema.iter(f"{_EDM}EntityType"):
            key = tuple(ref.get("Name", "") for ref in entity_type.iter(f"{_EDM}PropertyRef"))
            fields = {p.get("Name", ""): p.get("Type", "")
                      for p in entity_type.iter(f"{_EDM}Property")}
            types[f"{namespace}.{entity_type.get('Name')}"] = (key, fields)
    infos = {}
    for entity_set in root.iter(f"{_EDM}EntitySet"):
        name, type_name = entity_set.get("Name", ""), entity_set.get("EntityType", "")
        if type_name in types:
            key, fields = types[type_name]
            infos[name] = EntityInfo(name, key, fields)
    return infos


async def entity_info(client: FoClient, entity_set: str) -> EntityInfo:
    """The entity set's key and fields; ``RecipeError`` listing close names when unknown."""
    infos: dict[str, EntityInfo] | None = client.cache.get(_CACHE_KEY)
    if infos is None:
        response = await client.request("GET", "$metadata",
                                        headers={"Accept": "application/xml"})
        infos = parse_metadata(response.raw)
        client.cache[_CACHE_KEY] = infos
    info = infos.get(entity_set)
    if info is None:
        raise RecipeError(f"F&O has no public entity set {entity_set!r}"
                          + _suggestion(entity_set, list(infos)))
    return info


def _suggestion(name: str, known: list[str]) -> str:
    close = get_close_matches(name, known, n=3, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""
