"""Table definitions: what a Dataverse table is made of, independent of how it is stored.

A :class:`Table` names its entity set, primary id and name columns, its typed attributes,
its alternate keys and whether change tracking is on. Lookups know their target tables;
each target gives a single-valued navigation property (``parentcustomerid_account``, or just
``primarycontactid`` when there is one target).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,99}$")


class AttributeType(StrEnum):
    """Attribute types, valued as Dataverse's ``AttributeType`` metadata names."""

    STRING = "String"
    MEMO = "Memo"
    INTEGER = "Integer"
    DECIMAL = "Decimal"
    MONEY = "Money"
    BOOLEAN = "Boolean"
    DATETIME = "DateTime"
    PICKLIST = "Picklist"
    STATE = "State"  # statecode: Active/Inactive and the like
    STATUS = "Status"  # statuscode: the status reasons, each belonging to one state
    LOOKUP = "Lookup"
    MULTISELECT = "MultiSelectPicklist"  # choices: "1,3" on the wire (metadata: Virtual)
    FILE = "File"  # file column: content through …/<column>/$value (metadata: Virtual)
    IMAGE = "Image"  # image column, like a file column with an image's limits
    UNIQUEIDENTIFIER = "Uniqueidentifier"

    @property
    def is_text(self) -> bool:
        return self in (AttributeType.STRING, AttributeType.MEMO)

    @property
    def is_option_set(self) -> bool:
        """Stored as one integer chosen from labelled options."""
        return self in (AttributeType.PICKLIST, AttributeType.STATE, AttributeType.STATUS)


@dataclass(frozen=True)
class Attribute:
    """One column. Lookups are stored and exposed as ``_<name>_value``."""

    name: str
    type: AttributeType
    max_length: int | None = None  # strings and memos
    options: dict[int, str] = field(default_factory=dict)  # option value -> label
    # For a Status attribute: the state each status reason belongs to (value -> statecode).
    option_states: dict[int, int] = field(default_factory=dict)
    targets: tuple[str, ...] = ()  # lookup target table logical names
    read_only: bool = False  # system columns: createdon, modifiedon, versionnumber, the id
    formula: str | None = None  # SQL over other columns: a computed column such as fullname
    display_name: str = ""  # the column's label; derived from its name when empty
    # A lookup's metadata AttributeType: Lookup, Customer (account or contact) or Owner.
    lookup_kind: str = "Lookup"
    # A lookup's 1:N relationship names by target; generated when a target is not named.
    relationship_names: dict[str, str] = field(default_factory=dict)
    max_size_kb: int | None = None  # file and image columns
    write_only: bool = False  # a secret (serviceendpoint.authvalue): reads answer null

    @property
    def column(self) -> str:
        """The SQL column (and JSON property) name."""
        return f"_{self.name}_value" if self.type is AttributeType.LOOKUP else self.name

    @property
    def type_column(self) -> str:
        """For a lookup: the column holding the target table's logical name."""
        return f"_{self.name}_type"

    def navigation_names(self) -> dict[str, str]:
        """Single-valued navigation property name -> target table, for a lookup."""
        if len(self.targets) == 1:
            return {self.name: self.targets[0]}
        return {f"{self.name}_{target}": target for target in self.targets}


@dataclass(frozen=True)
class AlternateKey:
    name: str
    attributes: tuple[str, ...]


@dataclass(frozen=True)
class Navigation:
    """A single-valued navigation property: the lookup it sets and the table it points at."""

    name: str
    attribute: Attribute
    target: str


@dataclass(frozen=True)
class CollectionNavigation:
    """A one-to-many navigation property: rows of ``source`` whose lookup points here."""

    name: str
    source: str  # logical name of the referencing table
    attribute: Attribute  # the lookup on the referencing table


@dataclass(frozen=True)
class OneToMany:
    """A 1:N relationship: ``referencing``'s ``lookup`` points at ``referenced`` rows.

    Its schema name is also the collection-valued navigation property on ``referenced``;
    ``referencing_nav`` is the single-valued one on ``referencing``.
    """

    schema_name: str
    referenced: str
    referencing: str
    lookup: Attribute
    referencing_nav: str


@dataclass(frozen=True)
class ManyToMany:
    """An N:N relationship, kept in the intersect table ``intersect`` (rows of two ids).

    Its schema name is the collection-valued navigation property on both tables.
    """

    schema_name: str
    entity1: str
    entity2: str
    intersect: str
    entity1_attribute: str  # the intersect column holding entity1's id
    entity2_attribute: str


@dataclass
class Table:
    logical_name: str
    entity_set: str
    primary_id: str
    primary_name: str
    attributes: dict[str, Attribute]
    keys: tuple[AlternateKey, ...] = ()
    change_tracking: bool = True
    display_name: str = ""
    collections: dict[str, CollectionNavigation] = field(default_factory=dict)
    many_to_many: dict[str, ManyToMany] = field(default_factory=dict)  # by navigation name

    def __post_init__(self) -> None:
        for name in (self.logical_name, *self.attributes):
            if not _NAME.match(name):
                raise ValueError(f"{name!r} is not a valid logical name")
        self._by_column = {a.column: a for a in self.attributes.values()}
        self._navigation = {
            nav: Navigation(nav, attr, target)
            for attr in self.lookups()
            for nav, target in attr.navigation_names().items()
        }

    @property
    def sql_table(self) -> str:
        return f"dv_{self.logical_name}"

    @property
    def schema_name(self) -> str:
        return self.display_name.replace(" ", "") or self.logical_name.capitalize()

    def attribute_by_column(self, column: str) -> Attribute | None:
        """The attribute behind a JSON property / SQL column (``_x_value`` for lookups)."""
        return self._by_column.get(column)

    def lookups(self) -> list[Attribute]:
        return [a for a in self.attributes.values() if a.type is AttributeType.LOOKUP]

    def navigation(self, name: str) -> Navigation | None:
        return self._navigation.get(name)

    def navigations(self) -> dict[str, Navigation]:
        return dict(self._navigation)

    def default_status(self, state: int) -> int | None:
        """The status reason a row gets when it enters ``state`` (the first one listed)."""
        status = self.attributes.get("statuscode")
        if status is None:
            return None
        return next((v for v, s in status.option_states.items() if s == state), None)

    def key_named(self, columns: frozenset[str]) -> AlternateKey | None:
        """The alternate key made of exactly these attributes, if one is declared."""
        return next((k for k in self.keys if frozenset(k.attributes) == columns), None)
