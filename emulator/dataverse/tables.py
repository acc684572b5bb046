"""The tables the emulator knows: six built-in ones and custom tables from a seed file.

Built-ins carry realistic columns (names, emails, money, option sets with labels and the
usual lookups: ``parentcustomerid``, ``primarycontactid``, ``regardingobjectid``,
``customerid``). A seed's ``tables:`` section declares more, for example::

    tables:
      - logical_name: new_project
        entity_set: new_projects          # default: logical_name + "s"
        primary_name: new_name            # default: "new_name"; a string column
        change_tracking: true
        attributes:
          - {name: new_code, type: string, max_length: 20}
          - {name: new_budget, type: money}
          - {name: new_phase, type: picklist, options: {1: Planned, 2: Active}}
          - {name: new_accountid, type: lookup, targets: [account],
             relationship: new_account_new_project}   # default: a generated name
        keys:
          - {name: new_code_key, attributes: [new_code]}
"""

from __future__ import annotations

from typing import Any

from emulator.dataverse.columns import ACTIVE as _ACTIVE
from emulator.dataverse.columns import ACTIVE_STATUS as _ACTIVE_STATUS
from emulator.dataverse.columns import FULLNAME as _FULLNAME
from emulator.dataverse.columns import USER_STAMPS
from emulator.dataverse.columns import attrs as _attrs
from emulator.dataverse.columns import lookup as _lookup
from emulator.dataverse.columns import owned_columns as _owned
from emulator.dataverse.columns import pick as _pick
from emulator.dataverse.columns import state_columns as _state
from emulator.dataverse.columns import string as _s
from emulator.dataverse.columns import system_columns as _system
from emulator.dataverse.schema import (
    AlternateKey,
    Attribute,
    AttributeType,
    CollectionNavigation,
    ManyToMany,
    OneToMany,
    Table,
)
from emulator.dataverse.system_tables import system_tables

T = AttributeType


def account() -> Table:
    return Table("account", "accounts", "accountid", "name", _attrs(
        *_system("accountid"), *_owned(), _s("name", 160), _s("accountnumber", 20),
        _s("emailaddress1"),
        _s("telephone1", 50), _s("websiteurl", 200), _s("address1_city", 80),
        _s("address1_country", 80), Attribute("revenue", T.MONEY),
        Attribute("numberofemployees", T.INTEGER),
        _pick("industrycode", ["Accounting", "Agriculture", "Broadcasting", "Brokers",
                               "Building Supply Retail", "Business Services", "Consulting"]),
        Attribute("creditonhold", T.BOOLEAN), Attribute("description", T.MEMO),
        _lookup("primarycontactid", "contact"), _lookup("parentaccountid", "account"),
        *_state(_ACTIVE, _ACTIVE_STATUS),
    ), keys=(AlternateKey("accountnumber_key", ("accountnumber",)),), display_name="Account")


def contact() -> Table:
    return Table("contact", "contacts", "contactid", "fullname", _attrs(
        *_system("contactid"), *_owned(), _s("firstname", 50), _s("lastname", 50),
        _FULLNAME,
        _s("emailaddress1"), _s("telephone1", 50), _s("mobilephone", 50), _s("jobtitle"),
        _s("address1_city", 80), Attribute("birthdate", T.DATETIME),
        _pick("gendercode", ["Male", "Female"]), Attribute("creditlimit", T.MONEY),
        Attribute("donotemail", T.BOOLEAN), Attribute("description", T.MEMO),
        _lookup("parentcustomerid", "account", "contact"),
        *_state(_ACTIVE, _ACTIVE_STATUS),
    ), keys=(AlternateKey("emailaddress1_key", ("emailaddress1",)),), display_name="Contact")


def lead() -> Table:
    return Table("lead", "leads", "leadid", "fullname", _attrs(
        *_system("leadid"), *_owned(), _s("subject", 300), _s("firstname", 50), _s("lastname", 50),
        _FULLNAME,
        _s("companyname"), _s("emailaddress1"), _s("telephone1", 50),
        _pick("leadsourcecode", ["Advertisement", "Employee Referral", "External Referral",
                                 "Partner", "Public Relations", "Seminar", "Trade Show", "Web",
                                 "Word of Mouth", "Other"]),
        Attribute("estimatedamount", T.MONEY), Attribute("description", T.MEMO),
        _lookup("parentaccountid", "account"), _lookup("parentcontactid", "contact"),
        *_state({0: "Open", 1: "Qualified", 2: "Disqualified"},
                {1: ("New", 0), 2: ("Contacted", 0), 3: ("Qualified", 1), 4: ("Lost", 2),
                 5: ("Cannot Contact", 2), 6: ("No Longer Interested", 2), 7: ("Canceled", 2)}),
    ), display_name="Lead")


def opportunity() -> Table:
    return Table("opportunity", "opportunities", "opportunityid", "name", _attrs(
        *_system("opportunityid"), *_owned(), _s("name", 300), Attribute("estimatedvalue", T.MONEY),
        Attribute("actualvalue", T.MONEY), Attribute("closeprobability", T.INTEGER),
        Attribute("estimatedclosedate", T.DATETIME),
        _pick("opportunityratingcode", ["Hot", "Warm", "Cold"]),
        Attribute("description", T.MEMO), _lookup("customerid", "account", "contact"),
        _lookup("parentaccountid", "account"), _lookup("parentcontactid", "contact"),
        _lookup("originatingleadid", "lead"),
        *_state({0: "Open", 1: "Won", 2: "Lost"},
                {1: ("In Progress", 0), 2: ("On Hold", 0), 3: ("Won", 1), 4: ("Canceled", 2),
                 5: ("Out-Sold", 2)}),
    ), display_name="Opportunity")


def task() -> Table:
    return Table("task", "tasks", "activityid", "subject", _attrs(
        *_system("activityid"), *_owned(), _s("subject", 200), Attribute("description", T.MEMO),
        Attribute("scheduledend", T.DATETIME), _pick("prioritycode", ["Low", "Normal", "High"], 0),
        Attribute("percentcomplete", T.INTEGER), Attribute("actualdurationminutes", T.INTEGER),
        _lookup("regardingobjectid", "account", "contact", "lead", "opportunity", "incident"),
        *_state({0: "Open", 1: "Completed", 2: "Canceled"},
                {2: ("Not Started", 0), 3: ("In Progress", 0), 4: ("Waiting on someone else", 0),
                 5: ("Completed", 1), 6: ("Canceled", 2), 7: ("Deferred", 0)}),
    ), display_name="Task")


def incident() -> Table:
    return Table("incident", "incidents", "incidentid", "title", _attrs(
        *_system("incidentid"), *_owned(), _s("title", 200), _s("ticketnumber", 100),
        Attribute("description", T.MEMO), _lookup("customerid", "account", "contact"),
        _lookup("primarycontactid", "contact"), _pick("prioritycode", ["High", "Normal", "Low"]),
        _pick("caseorigincode", ["Phone", "Email", "Web"]),
        *_state({0: "Active", 1: "Resolved", 2: "Canceled"},
                {1: ("In Progress", 0), 2: ("On Hold", 0), 3: ("Waiting for Details", 0),
                 4: ("Researching", 0), 5: ("Problem Solved", 1), 6: ("Cancelled", 2)}),
    ), keys=(AlternateKey("ticketnumber_key", ("ticketnumber",)),), display_name="Case")


NOTE_TARGETS = ("account", "contact", "lead", "opportunity", "incident", "task")


def annotation() -> Table:
    """Notes, with an optional attachment (``documentbody``, base64) on any record."""
    return Table("annotation", "annotations", "annotationid", "subject", _attrs(
        *_system("annotationid"), *_owned(), _s("subject", 500),
        Attribute("notetext", T.MEMO, max_length=100000), _s("filename", 255),
        _s("mimetype", 256), Attribute("documentbody", T.MEMO, max_length=180_000_000),
        Attribute("filesize", T.INTEGER, read_only=True),
        Attribute("isdocument", T.BOOLEAN, read_only=True),
        _lookup("objectid", *NOTE_TARGETS), _s("objecttypecode", 64),
    ), change_tracking=True, display_name="Note")


def built_in_tables() -> list[Table]:
    return [*system_tables(), account(), contact(), lead(), opportunity(), task(), incident(),
            annotation()]


# The real names of the built-in 1:N relationships, by (referencing table, lookup, target);
# each is also the collection-valued navigation property on the target table.
RELATIONSHIP_NAMES: dict[tuple[str, str, str], str] = {
    ("account", "primarycontactid", "contact"): "account_primary_contact",
    ("account", "parentaccountid", "account"): "account_parent_account",
    ("contact", "parentcustomerid", "account"): "contact_customer_accounts",
    ("contact", "parentcustomerid", "contact"): "contact_customer_contacts",
    ("lead", "parentaccountid", "account"): "lead_parent_account",
    ("lead", "parentcontactid", "contact"): "lead_parent_contact",
    ("opportunity", "customerid", "account"): "opportunity_customer_accounts",
    ("opportunity", "customerid", "contact"): "opportunity_customer_contacts",
    ("opportunity", "parentaccountid", "account"): "opportunity_parent_account",
    ("opportunity", "parentcontactid", "contact"): "opportunity_parent_contact",
    ("opportunity", "originatingleadid", "lead"): "opportunity_originating_lead",
    ("incident", "customerid", "account"): "incident_customer_accounts",
    ("incident", "customerid", "contact"): "incident_customer_contacts",
    ("incident", "primarycontactid", "contact"): "contact_as_primary_contact",
    ("task", "regardingobjectid", "account"): "Account_Tasks",
    ("task", "regardingobjectid", "contact"): "Contact_Tasks",
    ("task", "regardingobjectid", "lead"): "Lead_Tasks",
    ("task", "regardingobjectid", "opportunity"): "Opportunity_Tasks",
    ("task", "regardingobjectid", "incident"): "Incident_Tasks",
    **{("annotation", "objectid", t): f"{t.capitalize()}_Annotation" for t in NOTE_TARGETS},
    ("sdkmessageprocessingstep", "eventhandler", "serviceendpoint"):
        "serviceendpoint_sdkmessageprocessingstep",
    ("sdkmessageprocessingstep", "eventhandler", "plugintype"):
        "plugintype_sdkmessageprocessingstep",
    ("sdkmessageprocessingstep", "plugintypeid", "plugintype"):
        "plugintypeid_sdkmessageprocessingstep",
    ("sdkmessageprocessingstep", "sdkmessageid", "sdkmessage"):
        "sdkmessageid_sdkmessageprocessingstep",
    ("sdkmessageprocessingstep", "sdkmessagefilterid", "sdkmessagefilter"):
        "sdkmessagefilterid_sdkmessageprocessingstep",
    ("sdkmessageprocessingstepimage", "sdkmessageprocessingstepid", "sdkmessageprocessingstep"):
        "sdkmessageprocessingstepid_sdkmessageprocessingstepimage",
    ("asyncoperation", "owningextensionid", "sdkmessageprocessingstep"):
        "SdkMessageProcessingStep_AsyncOperations",
}


def relationship_name(table: Table, lookup: Attribute, target: str) -> str:
    """The 1:N relationship's schema name: declared, built in, or made the way Dataverse
    names a custom one (``<prefix>_<target>_<table>_<lookup>``)."""
    if target in lookup.relationship_names:
        return lookup.relationship_names[target]
    known = RELATIONSHIP_NAMES.get((table.logical_name, lookup.name, target))
    if known:
        return known
    if lookup.name in USER_STAMPS:
        return f"lk_{table.logical_name}_{lookup.name}"
    if lookup.name == "ownerid":
        return f"user_{table.entity_set}"
    prefix = table.logical_name.split("_", 1)[0] + "_" if "_" in table.logical_name else ""
    return f"{prefix}{target}_{table.logical_name}_{lookup.name}"


class Catalog:
    """The tables of one environment, by logical name and by entity set name, and their
    relationships (each lookup target is a 1:N relationship with a collection-valued
    navigation property on the target table)."""

    def __init__(self) -> None:
        self._by_logical: dict[str, Table] = {}
        self._by_set: dict[str, Table] = {}
        self._one_to_many: dict[str, OneToMany] = {}
        self._many_to_many: dict[str, ManyToMany] = {}

    def add(self, table: Table) -> None:
        for lookup in table.lookups():
            missing = [t for t in lookup.targets if t not in self._by_logical
                       and t != table.logical_name]
            if missing:
                raise ValueError(f"{table.logical_name}.{lookup.name}: unknown targets {missing}")
        self._by_logical[table.logical_name] = table
        self._by_set[table.entity_set] = table
        self._relate(table)

    def _relate(self, table: Table) -> None:
        for lookup in table.lookups():
            for nav, target in lookup.navigation_names().items():
                name = relationship_name(table, lookup, target)
                relation = OneToMany(name, target, table.logical_name, lookup, nav)
                self._one_to_many[name] = relation
                self._by_logical[target].collections[name] = CollectionNavigation(
                    name, table.logical_name, lookup)

    def by_logical_name(self, name: str) -> Table | None:
        return self._by_logical.get(name)

    def by_entity_set(self, name: str) -> Table | None:
        return self._by_set.get(name)

    def tables(self) -> list[Table]:
        return list(self._by_logical.values())

    def one_to_many(self) -> list[OneToMany]:
        return list(self._one_to_many.values())

    def many_to_many(self) -> list[ManyToMany]:
        return list(self._many_to_many.values())

    def add_many_to_many(self, relation: ManyToMany) -> None:
        for name in (relation.entity1, relation.entity2):
            if name not in self._by_logical:
                raise ValueError(f"N:N {relation.schema_name}: unknown table {name!r}")
        self._many_to_many[relation.schema_name] = relation
        for name in (relation.entity1, relation.entity2):
            self._by_logical[name].many_to_many[relation.schema_name] = relation

    def many_to_many_named(self, name: str) -> ManyToMany:
        return self._many_to_many[name]


# Built-in N:N relationships: (schema name, entity1, entity2, intersect table).
BUILT_IN_MANY_TO_MANY = (
    ("systemuserroles_association", "systemuser", "role", "systemuserroles"),
    ("accountleads_association", "account", "lead", "accountleads"),
    ("contactleads_association", "contact", "lead", "contactleads"),
)


def many_to_many(name: str, entity1: str, entity2: str, intersect: str | None = None
                 ) -> ManyToMany:
    """An N:N relationship; the intersect columns are the two tables' id columns (``…id``,
    and ``…idone``/``…idtwo`` when a table is related to itself)."""
    first, second = f"{entity1}id", f"{entity2}id"
    if entity1 == entity2:
        first, second = f"{entity1}idone", f"{entity2}idtwo"
    return ManyToMany(name, entity1, entity2, intersect or name.removesuffix("_association"),
                      first, second)


def built_in_catalog() -> Catalog:
    catalog = Catalog()
    tables = built_in_tables()
    for table in tables:
        catalog._by_logical[table.logical_name] = table  # targets refer to each other
        catalog._by_set[table.entity_set] = table
    for table in tables:
        catalog._relate(table)
    for name, one, two, intersect in BUILT_IN_MANY_TO_MANY:
        catalog.add_many_to_many(many_to_many(name, one, two, intersect))
    return catalog


def table_from_seed(doc: dict[str, Any]) -> Table:
    """A custom table from one entry of a seed's ``tables:`` section."""
    logical = str(doc["logical_name"])
    primary_id = str(doc.get("primary_id", f"{logical}id"))
    primary_name = str(doc.get("primary_name", "new_name"))
    declared = [c for a in doc.get("attributes", []) for c in _columns_from_seed(a)]
    if primary_name not in {a.name for a in declared}:
        declared.insert(0, _s(primary_name, 100))
    keys = tuple(AlternateKey(str(k["name"]), tuple(k["attributes"])) for k in doc.get("keys", []))
    owner = _owned() if doc.get("ownership", "user") == "user" else ()
    return Table(logical, str(doc.get("entity_set", f"{logical}s")), primary_id, primary_name,
                 _attrs(*_system(primary_id), *owner, *declared,
                        *_state(_ACTIVE, _ACTIVE_STATUS)),
                 keys=keys, change_tracking=bool(doc.get("change_tracking", True)),
                 display_name=str(doc.get("display_name", "")))


_SEED_TYPES = {t.value.lower(): t for t in AttributeType} | {
    "int": T.INTEGER, "bool": T.BOOLEAN, "text": T.STRING, "guid": T.UNIQUEIDENTIFIER,
    "optionset": T.PICKLIST, "choice": T.PICKLIST, "multiselect": T.MULTISELECT,
    "choices": T.MULTISELECT, "file": T.FILE, "image": T.IMAGE,
}


def _columns_from_seed(doc: dict[str, Any]) -> list[Attribute]:
    """A declared column, and for a file or image column its ``<name>_name`` companion."""
    attr = _attribute_from_seed(doc)
    if attr.type not in (T.FILE, T.IMAGE):
        return [attr]
    return [attr, Attribute(f"{attr.name}_name", T.STRING, max_length=255, read_only=True)]


def _attribute_from_seed(doc: dict[str, Any]) -> Attribute:
    kind = _SEED_TYPES[str(doc.get("type", "string")).lower()]
    options = {int(k): str(v) for k, v in (doc.get("options") or {}).items()}
    max_length = doc.get("max_length", 100 if kind is T.STRING else None)
    targets = tuple(str(t) for t in doc.get("targets", ()))
    names = {str(k): str(v) for k, v in (doc.get("relationships") or {}).items()}
    if doc.get("relationship") and len(targets) == 1:
        names[targets[0]] = str(doc["relationship"])
    files = kind in (T.FILE, T.IMAGE)
    return Attribute(str(doc["name"]), kind, max_length=max_length, options=options,
                     targets=targets, display_name=str(doc.get("display_name", "")),
                     lookup_kind="Customer" if set(targets) == {"account", "contact"}
                     else "Lookup", relationship_names=names,
                     read_only=files,  # written through …/<column>, never in a row body
                     max_size_kb=int(doc.get("max_size_kb", 32768 if kind is T.FILE
                                             else 10240)) if files else None)
