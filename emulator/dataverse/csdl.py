"""``GET [Org]/api/data/v9.2/$metadata``: the CSDL (EDMX 4.0) document of the environment.

One ``EntityType`` per table in namespace ``Microsoft.Dynamics.CRM`` (alias ``mscrm``),
derived from ``crmbaseentity``, keyed by its primary id, with typed properties (lookups as
``_x_value`` Edm.Guid), single-valued navigation properties with their referential
constraint, and collection-valued ones (1:N and N:N) with their partners; one
``EntitySet`` per table with its navigation bindings; the complex types, functions and
actions the emulator answers. ``?annotations=true`` adds the change-tracking capability
annotation on the entity sets that support it (reference §4).
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from emulator.dataverse.query import collection_target
from emulator.dataverse.schema import Attribute, AttributeType, Table
from emulator.dataverse.tables import Catalog

T = AttributeType
EDMX = "http://docs.oasis-open.org/odata/ns/edmx"
EDM = "http://docs.oasis-open.org/odata/ns/edm"
_EDM_TYPES = {T.STRING: "Edm.String", T.MEMO: "Edm.String", T.INTEGER: "Edm.Int32",
              T.DECIMAL: "Edm.Decimal", T.MONEY: "Edm.Decimal", T.BOOLEAN: "Edm.Boolean",
              T.DATETIME: "Edm.DateTimeOffset", T.PICKLIST: "Edm.Int32", T.STATE: "Edm.Int32",
              T.STATUS: "Edm.Int32", T.MULTISELECT: "Edm.String", T.LOOKUP: "Edm.Guid",
              T.UNIQUEIDENTIFIER: "Edm.Guid", T.FILE: "Edm.Guid", T.IMAGE: "Edm.Guid"}
# Unbound operations the emulator answers: (kind, name, return type or None, parameters).
OPERATIONS = (
    ("Function", "WhoAmI", "mscrm.WhoAmIResponse", ()),
    ("Function", "RetrieveTotalRecordCount", "mscrm.RetrieveTotalRecordCountResponse",
     (("EntityNames", "Collection(Edm.String)"),)),
    ("Action", "WinOpportunity", None, (("OpportunityClose", "mscrm.crmbaseentity"),
                                        ("Status", "Edm.Int32"))),
    ("Action", "BulkDelete", "mscrm.BulkDeleteResponse", (
        ("QuerySet", "Collection(mscrm.QueryExpression)"), ("JobName", "Edm.String"),
        ("SendEmailNotification", "Edm.Boolean"), ("RecurrencePattern", "Edm.String"),
        ("StartDateTime", "Edm.DateTimeOffset"))),
)
COMPLEX_TYPES = {
    "WhoAmIResponse": (("BusinessUnitId", "Edm.Guid"), ("UserId", "Edm.Guid"),
                       ("OrganizationId", "Edm.Guid")),
    "RetrieveTotalRecordCountResponse": (("EntityRecordCountCollection",
                                          "mscrm.EntityRecordCountCollection"),),
    "EntityRecordCountCollection": (("Count", "Edm.Int32"), ("IsReadOnly", "Edm.Boolean"),
                                    ("Keys", "Collection(Edm.String)"),
                                    ("Values", "Collection(Edm.Int64)")),
    "BulkDeleteResponse": (("JobId", "Edm.Guid"),),
    "CreateMultipleResponse": (("Ids", "Collection(Edm.Guid)"),),
    "QueryExpression": (("EntityName", "Edm.String"),),
}
BULK = (("CreateMultiple", "mscrm.CreateMultipleResponse"), ("UpdateMultiple", None),
        ("UpsertMultiple", None))


def _a(value: str) -> str:
    return quoteattr(value)


def property_type(table: Table, attr: Attribute) -> str:
    if attr.name == "versionnumber":
        return "Edm.Int64"
    return _EDM_TYPES[attr.type]


def _entity_type(catalog: Catalog, table: Table) -> list[str]:
    lines = [f'<EntityType Name={_a(table.logical_name)} BaseType="mscrm.crmbaseentity">',
             f'<Key><PropertyRef Name={_a(table.primary_id)}/></Key>']
    for attr in table.attributes.values():
        lines.append(f'<Property Name={_a(attr.column)} Type={_a(property_type(table, attr))}/>')
    for relation in catalog.one_to_many():
        if relation.referencing == table.logical_name:
            lookup = relation.lookup
            lines.append(f'<NavigationProperty Name={_a(relation.referencing_nav)} '
                         f'Type={_a("mscrm." + relation.referenced)} '
                         f'Partner={_a(relation.schema_name)}>'
                         f'<ReferentialConstraint Property={_a(lookup.column)} '
                         f'ReferencedProperty={_a(relation.referenced + "id")}/>'
                         '</NavigationProperty>')
    for name, link in [*table.collections.items(), *table.many_to_many.items()]:
        target = collection_target(table, link)
        partner = getattr(link, "attribute", None)
        partner_attr = f" Partner={_a(_single_nav(partner, table))}" if partner else ""
        lines.append(f'<NavigationProperty Name={_a(name)} '
                     f'Type={_a(f"Collection(mscrm.{target})")}{partner_attr}/>')
    lines.append("</EntityType>")
    return lines


def _single_nav(lookup: Attribute, table: Table) -> str:
    return lookup.name if len(lookup.targets) == 1 else f"{lookup.name}_{table.logical_name}"


def _entity_set(catalog: Catalog, table: Table, annotations: bool) -> list[str]:
    lines = [f'<EntitySet Name={_a(table.entity_set)} '
             f'EntityType={_a("Microsoft.Dynamics.CRM." + table.logical_name)}>']
    for nav in table.navigations().values():
        target = catalog.by_logical_name(nav.target)
        if target is not None:
            lines.append(f'<NavigationPropertyBinding Path={_a(nav.name)} '
                         f'Target={_a(target.entity_set)}/>')
    if annotations and table.change_tracking:
        lines.append('<Annotation Term="Org.OData.Capabilities.V1.ChangeTracking"><Record>'
                     '<PropertyValue Property="Supported" Bool="true"/></Record></Annotation>')
    lines.append("</EntitySet>")
    return lines


def _operations() -> list[str]:
    lines = []
    for name, members in COMPLEX_TYPES.items():
        lines.append(f"<ComplexType Name={_a(name)}>" + "".join(
            f"<Property Name={_a(p)} Type={_a(t)}/>" for p, t in members) + "</ComplexType>")
    for kind, name, returns, parameters in OPERATIONS:
        lines.append(_operation(kind, name, returns, parameters, bound=None))
    for name, returns in BULK:
        lines.append(_operation("Action", name, returns, (("Targets",
                                "Collection(mscrm.crmbaseentity)"),),
                                bound="Collection(mscrm.crmbaseentity)"))
    return lines


def _operation(kind: str, name: str, returns: str | None,
               parameters: tuple[tuple[str, str], ...], bound: str | None) -> str:
    bound_attr = ' IsBound="true"' if bound else ""
    params = (f'<Parameter Name="entityset" Type={_a(bound)} Nullable="false"/>'
              if bound else "")
    params += "".join(f"<Parameter Name={_a(p)} Type={_a(t)}/>" for p, t in parameters)
    result = f"<ReturnType Type={_a(returns)} Nullable=\"false\"/>" if returns else ""
    return f"<{kind} Name={_a(name)}{bound_attr}>{params}{result}</{kind}>"


def _import(kind: str, name: str) -> str:
    hidden = ' IncludeInServiceDocument="false"' if kind == "Function" else ""
    return f'<{kind}Import Name={_a(name)} {kind}={_a("Microsoft.Dynamics.CRM." + name)}{hidden}/>'


def document(catalog: Catalog, annotations: bool = False) -> str:
    tables = catalog.tables()
    lines = ['<?xml version="1.0" encoding="utf-8"?>',
             f'<edmx:Edmx Version="4.0" xmlns:edmx={_a(EDMX)}>', "<edmx:DataServices>",
             f'<Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns={_a(EDM)}>',
             '<EntityType Name="crmbaseentity" Abstract="true"/>']
    for table in tables:
        lines.extend(_entity_type(catalog, table))
    lines.extend(_operations())
    lines.append('<EntityContainer Name="System">')
    for table in tables:
        lines.extend(_entity_set(catalog, table, annotations))
    lines.extend(_import(kind, name) for kind, name, _, _ in OPERATIONS)
    lines.extend(["</EntityContainer>", "</Schema>", "</edmx:DataServices>", "</edmx:Edmx>"])
    return "\n".join(lines)
