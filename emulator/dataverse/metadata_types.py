"""The metadata entity types the Web API exposes, with their properties, and Label values.

Each :class:`MetaType` names its structural properties and navigation properties
(inherited ones included), so ``$select``, ``$filter`` and ``$expand`` know exactly what
exists on the type a URL addresses, and refuse the rest as Dataverse does. Labels are
Dataverse's ``Label`` complex type: ``LocalizedLabels`` (one, LCID 1033) and
``UserLocalizedLabel``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

NAMESPACE = "Microsoft.Dynamics.CRM."
LANGUAGE_CODE = 1033
_IDS = uuid.UUID("6f1c2b1e-6a59-4a44-9a0f-2d6c0e0d7a11")


def metadata_id(*names: str) -> str:
    """Stable ids, so a client may cache them across emulator restarts."""
    return str(uuid.uuid5(_IDS, "/".join(names)))


def label(text: str, *owner: str) -> dict[str, Any]:
    """A ``Label``: the text in English (1033), as both the list and the user's label."""
    if not text:
        return {"LocalizedLabels": [], "UserLocalizedLabel": None}
    localized = {"Label": text, "LanguageCode": LANGUAGE_CODE, "IsManaged": True,
                 "MetadataId": metadata_id(*owner, "label", text), "HasChanged": None}
    return {"LocalizedLabels": [localized], "UserLocalizedLabel": dict(localized)}


def managed(value: Any, logical_name: str, can_change: bool = True) -> dict[str, Any]:
    """A ``BooleanManagedProperty`` (or another managed property) value."""
    return {"Value": value, "CanBeChanged": can_change,
            "ManagedPropertyLogicalName": logical_name}


@dataclass(frozen=True)
class MetaType:
    name: str  # without the namespace, e.g. "PicklistAttributeMetadata"
    properties: frozenset[str]
    navigations: frozenset[str] = frozenset()
    base: str | None = None
    castable: bool = True  # EnumAttributeMetadata is abstract: no cast to it

    @property
    def qualified(self) -> str:
        return NAMESPACE + self.name


_META = ("MetadataId", "HasChanged")
_LABELLED = ("DisplayName", "Description")
ENTITY_PROPERTIES = (
    *_META, "LogicalName", "SchemaName", "EntitySetName", "LogicalCollectionName",
    "CollectionSchemaName", "PrimaryIdAttribute", "PrimaryNameAttribute",
    "PrimaryImageAttribute", "ObjectTypeCode", "OwnershipType", "TableType", "IsCustomEntity",
    "IsActivity", "IsActivityParty", "IsIntersect", "IsPrivate", "IsManaged",
    "IsLogicalEntity", "IsValidForAdvancedFind", "IsAvailableOffline", "IsChildEntity",
    "IsBPFEntity", "IsSolutionAware", "HasActivities", "HasNotes", "HasFeedback",
    "ChangeTrackingEnabled", "CanChangeTrackingBeEnabled", "IsCustomizable",
    "CanCreateAttributes", "IsAuditEnabled", "IsDuplicateDetectionEnabled",
    "IsMailMergeEnabled", "IsKnowledgeManagementEnabled", "IntroducedVersion", "EntityColor",
    "DisplayCollectionName",
    *_LABELLED, "Privileges",
)
ATTRIBUTE_PROPERTIES = (
    *_META, "LogicalName", "SchemaName", "EntityLogicalName", "AttributeType",
    "AttributeTypeName", "AttributeOf", "ColumnNumber", *_LABELLED, "IntroducedVersion",
    "DeprecatedVersion", "IsAuditEnabled", "IsCustomAttribute", "IsCustomizable",
    "IsFilterable", "IsLogical", "IsManaged", "IsPrimaryId", "IsPrimaryName",
    "IsRenameable", "IsRequiredForForm", "IsRetrievable", "IsSearchable", "IsSecured",
    "IsSortableEnabled", "IsValidForAdvancedFind", "IsValidForCreate", "IsValidForForm",
    "IsValidForGrid", "IsValidForRead", "IsValidForUpdate", "LinkedAttributeId",
    "RequiredLevel", "SourceType", "AutoNumberFormat",
)
_OPTION_SET_BASE = (*_META, "Name", "OptionSetType", "IsGlobal", "IsCustomOptionSet",
                    "IsManaged", "IsCustomizable", "IntroducedVersion", "ExternalTypeName",
                    *_LABELLED)
RELATIONSHIP_BASE = (*_META, "SchemaName", "RelationshipType", "IsCustomRelationship",
                     "IsValidForAdvancedFind", "IsManaged", "IsCustomizable",
                     "IntroducedVersion", "SecurityTypes", "RelationshipBehavior")
ONE_TO_MANY_PROPERTIES = (
    *RELATIONSHIP_BASE, "ReferencedAttribute", "ReferencedEntity", "ReferencingAttribute",
    "ReferencingEntity", "ReferencedEntityNavigationPropertyName",
    "ReferencingEntityNavigationPropertyName", "IsHierarchical", "CascadeConfiguration",
    "AssociatedMenuConfiguration",
)
MANY_TO_MANY_PROPERTIES = (
    *RELATIONSHIP_BASE, "Entity1LogicalName", "Entity2LogicalName", "IntersectEntityName",
    "Entity1IntersectAttribute", "Entity2IntersectAttribute", "Entity1NavigationPropertyName",
    "Entity2NavigationPropertyName", "Entity1AssociatedMenuConfiguration",
    "Entity2AssociatedMenuConfiguration",
)
KEY_PROPERTIES = (*_META, "LogicalName", "SchemaName", "EntityLogicalName", "KeyAttributes",
                  "EntityKeyIndexStatus", "DisplayName", "IsManaged", "IsCustomizable",
                  "IntroducedVersion", "IsSynchronous", "IsExportKey")

# Properties each attribute type adds to AttributeMetadata's.
ATTRIBUTE_EXTRAS: dict[str, tuple[str, ...]] = {
    "StringAttributeMetadata": ("MaxLength", "DatabaseLength", "Format", "FormatName",
                                "ImeMode", "IsLocalizable", "YomiOf"),
    "MemoAttributeMetadata": ("MaxLength", "DatabaseLength", "Format", "ImeMode",
                              "IsLocalizable"),
    "IntegerAttributeMetadata": ("MinValue", "MaxValue", "Format"),
    "BigIntAttributeMetadata": ("MinValue", "MaxValue"),
    "DecimalAttributeMetadata": ("MinValue", "MaxValue", "Precision", "ImeMode"),
    "MoneyAttributeMetadata": ("MinValue", "MaxValue", "Precision", "PrecisionSource",
                               "IsBaseCurrency", "ImeMode"),
    "BooleanAttributeMetadata": ("DefaultValue",),
    "DateTimeAttributeMetadata": ("Format", "DateTimeBehavior", "CanChangeDateTimeBehavior",
                                  "ImeMode", "MinSupportedValue", "MaxSupportedValue"),
    "PicklistAttributeMetadata": ("DefaultFormValue",),
    "StateAttributeMetadata": ("DefaultFormValue",),
    "StatusAttributeMetadata": ("DefaultFormValue",),
    "MultiSelectPicklistAttributeMetadata": ("DefaultFormValue",),
    "LookupAttributeMetadata": ("Targets", "Format"),
    "UniqueIdentifierAttributeMetadata": (),
    "FileAttributeMetadata": ("MaxSizeInKB",),
    "ImageAttributeMetadata": ("MaxSizeInKB", "MaxHeight", "MaxWidth", "IsPrimaryImage",
                               "CanStoreFullImage"),
}
_OPTION_SET_NAVS = frozenset({"OptionSet", "GlobalOptionSet"})
_WITH_OPTION_SETS = {"BooleanAttributeMetadata", "PicklistAttributeMetadata",
                     "StateAttributeMetadata", "StatusAttributeMetadata",
                     "MultiSelectPicklistAttributeMetadata"}


def _types() -> dict[str, MetaType]:
    types = [
        MetaType("EntityMetadata", frozenset(ENTITY_PROPERTIES), frozenset({
            "Attributes", "Keys", "ManyToOneRelationships", "OneToManyRelationships",
            "ManyToManyRelationships"})),
        MetaType("AttributeMetadata", frozenset(ATTRIBUTE_PROPERTIES)),
        MetaType("EnumAttributeMetadata", frozenset((*ATTRIBUTE_PROPERTIES,
                                                     "DefaultFormValue")),
                 _OPTION_SET_NAVS, "AttributeMetadata", castable=False),
        MetaType("EntityKeyMetadata", frozenset(KEY_PROPERTIES)),
        MetaType("RelationshipMetadataBase", frozenset(RELATIONSHIP_BASE), castable=False),
        MetaType("OneToManyRelationshipMetadata", frozenset(ONE_TO_MANY_PROPERTIES),
                 base="RelationshipMetadataBase"),
        MetaType("ManyToManyRelationshipMetadata", frozenset(MANY_TO_MANY_PROPERTIES),
                 base="RelationshipMetadataBase"),
        MetaType("OptionSetMetadataBase", frozenset(_OPTION_SET_BASE), castable=False),
        MetaType("OptionSetMetadata", frozenset((*_OPTION_SET_BASE, "Options",
                                                 "ParentOptionSetName")),
                 base="OptionSetMetadataBase"),
        MetaType("BooleanOptionSetMetadata", frozenset((*_OPTION_SET_BASE, "TrueOption",
                                                        "FalseOption")),
                 base="OptionSetMetadataBase"),
    ]
    for name, extras in ATTRIBUTE_EXTRAS.items():
        navs = _OPTION_SET_NAVS if name in _WITH_OPTION_SETS else frozenset()
        base = "EnumAttributeMetadata" if "DefaultFormValue" in extras else "AttributeMetadata"
        types.append(MetaType(name, frozenset((*ATTRIBUTE_PROPERTIES, *extras)), navs, base))
    return {t.name: t for t in types}


TYPES = _types()


def meta_type(name: str) -> MetaType:
    return TYPES[name.removeprefix(NAMESPACE).lstrip("#")]


def derives_from(name: str, ancestor: str) -> bool:
    """True when type ``name`` is ``ancestor`` or inherits from it."""
    current: str | None = name
    while current is not None:
        if current == ancestor:
            return True
        current = TYPES[current].base
    return False
