"""The catalog as metadata entities: tables, columns, option sets, keys and relationships.

Every definition is a :class:`Node`: its type, its structural properties (the full set its
type declares, with realistic values) and its navigation properties, computed only when
a query expands or addresses them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator.dataverse.metadata_types import MetaType, label, managed, meta_type, metadata_id
from emulator.dataverse.schema import Attribute, AttributeType, ManyToMany, OneToMany, Table
from emulator.dataverse.tables import Catalog

T = AttributeType
Nav = Callable[[], "Node | list[Node] | None"]

_ATTRIBUTE_TYPES = {
    T.STRING: "StringAttributeMetadata", T.MEMO: "MemoAttributeMetadata",
    T.INTEGER: "IntegerAttributeMetadata", T.DECIMAL: "DecimalAttributeMetadata",
    T.MONEY: "MoneyAttributeMetadata", T.BOOLEAN: "BooleanAttributeMetadata",
    T.DATETIME: "DateTimeAttributeMetadata", T.PICKLIST: "PicklistAttributeMetadata",
    T.STATE: "StateAttributeMetadata", T.STATUS: "StatusAttributeMetadata",
    T.LOOKUP: "LookupAttributeMetadata", T.UNIQUEIDENTIFIER: "UniqueIdentifierAttributeMetadata",
}
OBJECT_TYPE_CODES = {"account": 1, "contact": 2, "opportunity": 3, "lead": 4, "annotation": 5,
                     "systemuser": 8, "businessunit": 10, "incident": 112, "role": 1036,
                     "task": 4212, "sdkmessage": 4606, "sdkmessagefilter": 4607,
                     "sdkmessageprocessingstep": 4608, "sdkmessageprocessingstepimage": 4615,
                     "serviceendpoint": 4618, "asyncoperation": 4700}
_BUSINESS_OWNED = frozenset({"businessunit", "systemuser", "role"})
_DATE_ONLY = frozenset({"birthdate", "estimatedclosedate"})
_STRING_FORMATS = {"emailaddress1": "Email", "websiteurl": "Url", "telephone1": "Phone",
                   "mobilephone": "Phone"}
_CASCADE = {"Assign": "NoCascade", "Delete": "RemoveLink", "Merge": "NoCascade",
            "Reparent": "NoCascade", "Share": "NoCascade", "Unshare": "NoCascade",
            "RollupView": "NoCascade", "Archive": "NoCascade"}


@dataclass
class Node:
    """One metadata entity: its type, properties and (lazily computed) navigations."""

    type: MetaType
    props: dict[str, Any]
    navs: dict[str, Nav] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.props["MetadataId"])


def display_name(name: str) -> str:
    """A readable label for a column with none declared: ``address1_city`` -> Address1 City."""
    return " ".join(part.capitalize() for part in name.split("_") if part)


def entity_node(catalog: Catalog, table: Table) -> Node:
    name = table.logical_name
    custom = "_" in name
    props: dict[str, Any] = {
        "MetadataId": metadata_id(name), "HasChanged": None, "LogicalName": name,
        "SchemaName": table.schema_name, "EntitySetName": table.entity_set,
        "LogicalCollectionName": table.entity_set,
        "CollectionSchemaName": table.schema_name + "s",
        "PrimaryIdAttribute": table.primary_id, "PrimaryNameAttribute": table.primary_name,
        "PrimaryImageAttribute": next((a.name for a in table.attributes.values()
                                       if a.type is T.IMAGE), None),
        "ObjectTypeCode": OBJECT_TYPE_CODES.get(name, 10000 + _stable_number(name)),
        "OwnershipType": _ownership(table), "TableType": "Standard", "IsCustomEntity": custom,
        "IsActivity": name == "task", "IsActivityParty": False, "IsIntersect": False,
        "IsPrivate": False, "IsManaged": not custom, "IsLogicalEntity": False,
        "IsValidForAdvancedFind": True, "IsAvailableOffline": True, "IsChildEntity": False,
        "IsBPFEntity": False, "IsSolutionAware": True, "HasActivities": name != "task",
        "HasNotes": True, "HasFeedback": False,
        "ChangeTrackingEnabled": table.change_tracking,
        "CanChangeTrackingBeEnabled": managed(True, "canchangetrackingbeenabled"),
        "IsCustomizable": managed(True, "iscustomizable"),
        "CanCreateAttributes": managed(True, "cancreateattributes"),
        "IsAuditEnabled": managed(False, "canmodifyauditsettings"),
        "IsDuplicateDetectionEnabled": managed(True, "canmodifyduplicatedetectionsettings"),
        "IsMailMergeEnabled": managed(True, "canmodifymailmergesettings"),
        "IsKnowledgeManagementEnabled": False,
        "IntroducedVersion": "1.0" if custom else "5.0.0.0", "EntityColor": None,
        "DisplayName": label(table.display_name or table.schema_name, name),
        "DisplayCollectionName": label((table.display_name or table.schema_name) + "s",
                                       name, "collection"),
        "Description": label("", name), "Privileges": privileges(table),
    }
    return Node(meta_type("EntityMetadata"), props, {
        "Attributes": lambda: [attribute_node(table, a) for a in table.attributes.values()],
        "Keys": lambda: [key_node(table, k.name, k.attributes) for k in table.keys],
        "ManyToOneRelationships": lambda: [one_to_many_node(r) for r in catalog.one_to_many()
                                           if r.referencing == name],
        "OneToManyRelationships": lambda: [one_to_many_node(r) for r in catalog.one_to_many()
                                           if r.referenced == name],
        "ManyToManyRelationships": lambda: [many_to_many_node(r)
                                            for r in catalog.many_to_many()
                                            if name in (r.entity1, r.entity2)],
    })


def _ownership(table: Table) -> str:
    if "ownerid" in table.attributes:
        return "UserOwned"
    return "BusinessOwned" if table.logical_name in _BUSINESS_OWNED else "OrganizationOwned"


def _stable_number(text: str) -> int:
    return int(metadata_id(text).replace("-", "")[:4], 16) % 9000


PRIVILEGE_TYPES = ("Create", "Read", "Write", "Delete", "Append", "AppendTo", "Assign",
                   "Share")


def privilege_name(table: Table, kind: str) -> str:
    """``prvReadLead``: the privilege a role needs to ``kind`` rows of ``table``."""
    return f"prv{kind}{table.schema_name}"


def privileges(table: Table) -> list[dict[str, Any]]:
    return [{"PrivilegeId": metadata_id(table.logical_name, "privilege", kind),
             "Name": privilege_name(table, kind), "PrivilegeType": kind, "CanBeBasic": True,
             "CanBeDeep": True, "CanBeGlobal": True, "CanBeLocal": True,
             "CanBeEntityReference": False, "CanBeParentEntityReference": False}
            for kind in PRIVILEGE_TYPES]


def attribute_type_name(table: Table, attr: Attribute) -> tuple[str, str]:
    """(metadata type, AttributeType) of a column."""
    if attr.name == "versionnumber":
        return "BigIntAttributeMetadata", "BigInt"
    if attr.type is T.LOOKUP:
        return "LookupAttributeMetadata", attr.lookup_kind
    if attr.type is T.MULTISELECT:
        return "MultiSelectPicklistAttributeMetadata", "Virtual"
    if attr.type in (T.FILE, T.IMAGE):
        kind = "File" if attr.type is T.FILE else "Image"
        return f"{kind}AttributeMetadata", "Virtual"
    return _ATTRIBUTE_TYPES[attr.type], attr.type.value


def _type_name_value(attr: Attribute, attribute_type: str) -> str:
    if attr.type is T.MULTISELECT:
        return "MultiSelectPicklistType"
    if attr.type in (T.FILE, T.IMAGE):
        return "FileType" if attr.type is T.FILE else "ImageType"
    return f"{attribute_type}Type"


def attribute_node(table: Table, attr: Attribute) -> Node:
    type_name, attribute_type = attribute_type_name(table, attr)
    owner = (table.logical_name, attr.name)
    custom = "_" in attr.name
    props: dict[str, Any] = {
        "MetadataId": metadata_id(*owner), "HasChanged": None, "LogicalName": attr.name,
        "SchemaName": attr.name if custom else display_name(attr.name).replace(" ", ""),
        "EntityLogicalName": table.logical_name, "AttributeType": attribute_type,
        "AttributeTypeName": {"Value": _type_name_value(attr, attribute_type)},
        "AttributeOf": None, "ColumnNumber": list(table.attributes).index(attr.name) + 1,
        "DisplayName": label(attr.display_name or display_name(attr.name), *owner),
        "Description": label("", *owner), "IntroducedVersion": "5.0.0.0",
        "DeprecatedVersion": None, "IsAuditEnabled": managed(True, "canmodifyauditsettings"),
        "IsCustomAttribute": custom, "IsCustomizable": managed(True, "iscustomizable"),
        "IsFilterable": attr.type not in (T.FILE, T.IMAGE), "IsLogical": bool(attr.formula),
        "IsManaged": not custom, "IsPrimaryId": attr.name == table.primary_id,
        "IsPrimaryName": attr.name == table.primary_name,
        "IsRenameable": managed(True, "isrenameable"), "IsRequiredForForm": False,
        "IsRetrievable": True, "IsSearchable": attr.type.is_text, "IsSecured": False,
        "IsSortableEnabled": managed(True, "issortableenabled"),
        "IsValidForAdvancedFind": managed(True, "isvalidforadvancedfind"),
        "IsValidForCreate": not attr.read_only or attr.name == table.primary_id,
        "IsValidForForm": True, "IsValidForGrid": True, "IsValidForRead": True,
        "IsValidForUpdate": not attr.read_only, "LinkedAttributeId": None,
        "RequiredLevel": managed(_required_level(table, attr), "canmodifyrequirementlevelsettings"),
        "SourceType": 1 if attr.formula else 0, "AutoNumberFormat": None,
    }
    props.update(_type_properties(table, attr, type_name))
    navs: dict[str, Nav] = {}
    if attr.type.is_option_set or attr.type in (T.BOOLEAN, T.MULTISELECT):
        navs = {"OptionSet": lambda: option_set_node(table, attr), "GlobalOptionSet": lambda: None}
    return Node(meta_type(type_name), props, navs)


def _required_level(table: Table, attr: Attribute) -> str:
    if attr.name in (table.primary_id, "statecode", "statuscode"):
        return "SystemRequired"
    if attr.name == table.primary_name and not attr.formula:
        return "ApplicationRequired"
    return "None"


def _type_properties(table: Table, attr: Attribute, type_name: str) -> dict[str, Any]:
    kind = type_name.removesuffix("AttributeMetadata")
    if kind in ("String", "Memo"):
        text_format = "TextArea" if kind == "Memo" else _STRING_FORMATS.get(attr.name, "Text")
        extra = {"MaxLength": attr.max_length, "DatabaseLength": (attr.max_length or 0) * 2,
                 "Format": text_format, "ImeMode": "Auto", "IsLocalizable": False}
        if kind == "String":
            extra.update(FormatName={"Value": text_format}, YomiOf=None)
        return extra
    if kind == "Integer":
        return {"MinValue": -2147483648, "MaxValue": 2147483647, "Format": "None"}
    if kind == "BigInt":
        return {"MinValue": -9223372036854775808, "MaxValue": 9223372036854775807}
    if kind in ("Decimal", "Money"):
        extra = {"MinValue": -100000000000.0, "MaxValue": 100000000000.0, "Precision": 2,
                 "ImeMode": "Disabled"}
        if kind == "Money":
            extra.update(PrecisionSource=2, IsBaseCurrency=False)
        return extra
    if kind == "Boolean":
        return {"DefaultValue": False}
    if kind == "DateTime":
        date_only = attr.name in _DATE_ONLY
        return {"Format": "DateOnly" if date_only else "DateAndTime",
                "DateTimeBehavior": {"Value": "DateOnly" if date_only else "UserLocal"},
                "CanChangeDateTimeBehavior": managed(False, "canchangedatetimebehavior"),
                "ImeMode": "Inactive", "MinSupportedValue": "1753-01-01T00:00:00Z",
                "MaxSupportedValue": "9999-12-30T23:59:59Z"}
    if kind in ("Picklist", "State", "Status", "MultiSelectPicklist"):
        return {"DefaultFormValue": -1 if kind in ("Picklist", "MultiSelectPicklist") else None}
    if kind == "Lookup":
        return {"Targets": list(attr.targets), "Format": "None"}
    if kind == "File":
        return {"MaxSizeInKB": attr.max_size_kb}
    if kind == "Image":
        return {"MaxSizeInKB": attr.max_size_kb, "MaxHeight": 144, "MaxWidth": 144,
                "IsPrimaryImage": attr.name == "entityimage", "CanStoreFullImage": True}
    return {}


def _option(table: Table, attr: Attribute, value: int, text: str) -> dict[str, Any]:
    owner = (table.logical_name, attr.name, str(value))
    option: dict[str, Any] = {
        "Value": value, "Color": None, "IsManaged": True, "ExternalValue": None,
        "ParentValues": [], "Tag": None, "IsHidden": False, "MetadataId": None,
        "HasChanged": None, "Label": label(text, *owner), "Description": label("", *owner)}
    if attr.type is T.STATE:  # StateOptionMetadata
        option.update(DefaultStatus=table.default_status(value),
                      InvariantName=text.replace(" ", ""))
    if attr.type is T.STATUS:  # StatusOptionMetadata
        option.update(State=attr.option_states.get(value), TransitionData=None)
    return option


def option_set_node(table: Table, attr: Attribute) -> Node:
    owner = (table.logical_name, attr.name, "optionset")
    set_type = {T.STATE: "State", T.STATUS: "Status", T.BOOLEAN: "Boolean",
                T.MULTISELECT: "MultiSelectPicklist"}.get(attr.type, "Picklist")
    props: dict[str, Any] = {
        "MetadataId": metadata_id(*owner), "HasChanged": None,
        "Name": f"{table.logical_name}_{attr.name}", "OptionSetType": set_type,
        "IsGlobal": False, "IsCustomOptionSet": "_" in attr.name, "IsManaged": True,
        "IsCustomizable": managed(True, "iscustomizable"), "IntroducedVersion": "5.0.0.0",
        "ExternalTypeName": None, "DisplayName": label(display_name(attr.name), *owner),
        "Description": label("", *owner)}
    if attr.type is T.BOOLEAN:
        props["TrueOption"] = _option(table, attr, 1, "Yes")
        props["FalseOption"] = _option(table, attr, 0, "No")
        return Node(meta_type("BooleanOptionSetMetadata"), props)
    props["Options"] = [_option(table, attr, v, text) for v, text in attr.options.items()]
    props["ParentOptionSetName"] = None
    return Node(meta_type("OptionSetMetadata"), props)


def key_node(table: Table, name: str, attributes: tuple[str, ...]) -> Node:
    owner = (table.logical_name, "key", name)
    return Node(meta_type("EntityKeyMetadata"), {
        "MetadataId": metadata_id(*owner), "HasChanged": None, "LogicalName": name,
        "SchemaName": name, "EntityLogicalName": table.logical_name,
        "KeyAttributes": list(attributes), "EntityKeyIndexStatus": "Active",
        "DisplayName": label(display_name(name), *owner), "IsManaged": False,
        "IsCustomizable": managed(True, "iscustomizable"), "IntroducedVersion": "1.0",
        "IsSynchronous": True, "IsExportKey": False})


def _relationship_base(name: str, kind: str) -> dict[str, Any]:
    custom = not any(c.isupper() for c in name) and name.count("_") >= 3
    return {"MetadataId": metadata_id("relationship", name), "HasChanged": None,
            "SchemaName": name, "RelationshipType": kind, "IsCustomRelationship": custom,
            "IsValidForAdvancedFind": True, "IsManaged": not custom,
            "IsCustomizable": managed(True, "iscustomizable"), "IntroducedVersion": "5.0.0.0",
            "SecurityTypes": "Append", "RelationshipBehavior": 0}


def _menu() -> dict[str, Any]:
    return {"Behavior": "UseCollectionName", "Group": "Details", "Label": label(""),
            "Order": 10000, "IsCustomizable": True, "Icon": None,
            "ViewId": "00000000-0000-0000-0000-000000000000", "AvailableOffline": True,
            "MenuId": None, "QueryApi": None}


def one_to_many_node(relation: OneToMany) -> Node:
    props = _relationship_base(relation.schema_name, "OneToManyRelationship")
    props.update({
        "ReferencedAttribute": f"{relation.referenced}id",
        "ReferencedEntity": relation.referenced,
        "ReferencingAttribute": relation.lookup.name, "ReferencingEntity": relation.referencing,
        "ReferencedEntityNavigationPropertyName": relation.schema_name,
        "ReferencingEntityNavigationPropertyName": relation.referencing_nav,
        "IsHierarchical": relation.referenced == relation.referencing,
        "CascadeConfiguration": dict(_CASCADE), "AssociatedMenuConfiguration": _menu()})
    return Node(meta_type("OneToManyRelationshipMetadata"), props)


def many_to_many_node(relation: ManyToMany) -> Node:
    props = _relationship_base(relation.schema_name, "ManyToManyRelationship")
    props.update({
        "Entity1LogicalName": relation.entity1, "Entity2LogicalName": relation.entity2,
        "IntersectEntityName": relation.intersect,
        "Entity1IntersectAttribute": relation.entity1_attribute,
        "Entity2IntersectAttribute": relation.entity2_attribute,
        "Entity1NavigationPropertyName": relation.schema_name,
        "Entity2NavigationPropertyName": relation.schema_name,
        "Entity1AssociatedMenuConfiguration": _menu(),
        "Entity2AssociatedMenuConfiguration": _menu()})
    return Node(meta_type("ManyToManyRelationshipMetadata"), props)


def relationship_nodes(catalog: Catalog) -> list[Node]:
    return ([one_to_many_node(r) for r in catalog.one_to_many()]
            + [many_to_many_node(r) for r in catalog.many_to_many()])
