"""What the connectors' models cannot say by themselves, for ``docs/reference.md``: what each
trigger's events look like, what each action returns, the params that make each generated
example realistic (ids from the trigger's record instead of placeholder GUIDs), and a
cookbook of whole recipes.

``tests/test_docs.py`` checks that every registered trigger and action has an entry here
and that every example and cookbook recipe in the generated reference validates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Connection names the examples use, by connection type.
EXAMPLE_CONNECTIONS = {"dynamics365": "crm", "dynamics_fo": "fo", "http": "hooks"}


@dataclass(frozen=True)
class Events:
    """What a trigger's events are: ``trigger.kind`` values, what ``trigger.key`` is made
    of, and what ``trigger.record`` holds."""

    kinds: str
    key: str
    record: str


@dataclass(frozen=True)
class Returns:
    """What an action's step output (``steps.<id>``) is, and an example of it."""

    text: str
    example: Any


@dataclass(frozen=True)
class Example:
    """Params that replace or add to the model's own examples in a generated recipe, and
    the trigger the example recipe uses (for actions)."""

    params: dict[str, Any] = field(default_factory=dict)
    trigger: dict[str, Any] | None = None


_ROW = ("the row as the Web API returns it (the columns in `select`, or all), with each "
        "lookup's and choice's label as `<column>@label` and a lookup's table as "
        "`<column>@table`")
_FO_ROW = "the entity record as F&O returns it (the fields in `select`, or all)"
_BATCH = " With `batch_size` > 1: one event per batch, record `{\"records\": [...]}`, kind `batch`."

EVENTS: dict[str, Events] = {
    "dynamics365.new_record": Events(
        "`created`", "the row's id", _ROW + "." + _BATCH),
    "dynamics365.new_or_updated_record": Events(
        "`created` (createdon equals modifiedon) or `updated`",
        "`<id>:<versionnumber>`: every change of a row is its own event",
        _ROW + "." + _BATCH),
    "dynamics365.changes": Events(
        "`upsert` (created or changed) or `deleted`",
        "`<id>:<versionnumber>`, or `<id>:deleted`",
        "for `upsert`: " + _ROW + "; for `deleted`: `{\"id\": \"<guid>\", \"reason\": "
        "\"deleted\"}` (change tracking says nothing more about a deleted row)"),
    "dynamics365.deleted_record": Events(
        "`deleted`", "`<id>:deleted`",
        "`{\"id\": \"<guid>\", \"reason\": \"deleted\"}`: only the id survives a deletion"),
    "dynamics_fo.new_record": Events(
        "`created`", "the entity key values and the date, `<key values>@<date>`",
        _FO_ROW + "." + _BATCH),
    "dynamics_fo.new_or_updated_record": Events(
        "`created` or `updated`", "`<key values>@<date>` (two changes within one second "
        "are one event: F&O has no row version)", _FO_ROW + "." + _BATCH),
    "http.webhook": Events(
        "`received`", "the request's `Idempotency-Key` header, else a random id (a "
        "redelivery with the same key is answered 200 `duplicate` and makes no job)",
        "`{\"body\": <JSON, or text>, \"headers\": {...}, \"query\": {...}}`; header values "
        "that carry a secret are masked"),
    "schedule": Events(
        "`scheduled`", "`schedule:<fire time in ms>`: a fire time runs once even if "
        "several replicas or restarts see it",
        "`{\"fire_time\": \"2026-01-05T07:00:00+00:00\"}` (ISO 8601, UTC)"),
}

_ID = "8f1b8c4e-0000-4000-8000-000000000001"
RETURNS: dict[str, Returns] = {
    "dynamics365.create_record": Returns(
        "`id` of the new row; `record` (the row as created) with `return_record: true`.",
        {"id": _ID}),
    "dynamics365.update_record": Returns(
        "`id`; `created` is always false (an update never creates); `record` with "
        "`return_record: true`.", {"id": _ID, "created": False}),
    "dynamics365.upsert_record": Returns(
        "`id`; `created`: true when the row was created, false when it was updated; "
        "`record` with `return_record: true`.", {"id": _ID, "created": True}),
    "dynamics365.delete_record": Returns(
        "`deleted`: false only when the row was already gone and `missing_ok` is set.",
        {"deleted": True}),
    "dynamics365.get_record": Returns(
        "`id` and `record` (with `<column>@label` and `<column>@table` annotations).",
        {"id": _ID, "record": {"accountid": _ID, "name": "Contoso",
                               "industrycode": 7, "industrycode@label": "Consulting"}}),
    "dynamics365.search_records": Returns(
        "`rows` (each like `get_record`'s `record`), `count`, and `next_link` to continue "
        "from when more pages are left.",
        {"rows": [{"accountid": _ID, "name": "Contoso"}], "count": 1, "next_link": None}),
    "dynamics365.fetchxml_query": Returns(
        "`rows`, `count`, `page`, `paging_cookie` and `more_records` (to ask for the next "
        "page).", {"rows": [{"fullname": "Ada Lovelace"}], "count": 1, "page": 1,
                   "paging_cookie": None, "more_records": False}),
    "dynamics365.batch": Returns(
        "`results`: one `{index, ok, id, error}` per row or request, in order; `succeeded`, "
        "`failed`, `requests` (HTTP requests sent) and `fallbacks` (chunks retried as "
        "`$batch`). The step fails only when the whole call fails; check `failed`.",
        {"results": [{"index": 0, "ok": True, "id": _ID, "error": None}], "succeeded": 1,
         "failed": 0, "requests": 1, "fallbacks": 0}),
    "dynamics365.get_schema": Returns(
        "`tables` (every table: logical and entity set names, primary id and name, change "
        "tracking) without `table`; with it, `table`: columns (type, options with labels), "
        "keys.", {"table": {"logical_name": "account", "entity_set": "accounts",
                            "primary_id": "accountid", "columns": ["…"], "keys": []}}),
    "dynamics365.execute_action": Returns(
        "`status` and `result` (the response body without `@odata.context`, or null).",
        {"status": 204, "result": None}),
    "dynamics365.execute_function": Returns(
        "`status` and `result` (the response body without `@odata.context`).",
        {"status": 200, "result": {"UserId": _ID}}),
    "dynamics365.request": Returns(
        "`status`, `headers` and `json` (the body); a status in `allow_status` comes back "
        "as output instead of failing the step.",
        {"status": 200, "headers": {"OData-Version": "4.0"}, "json": {"value": []}}),
    "dynamics365.associate": Returns("`associated: true`.", {"associated": True}),
    "dynamics365.disassociate": Returns("`disassociated: true`.", {"disassociated": True}),
    "dynamics365.upload_file": Returns(
        "`id` (the record's), `file_id` (null for an image column), `file_name`, "
        "`mime_type`, `size_bytes` and `chunks` (0: sent in one request).",
        {"id": _ID, "file_id": "3878e950-8e51-ed11-bba1-000d3a9933c9",
         "file_name": "contract.pdf", "mime_type": "application/pdf", "size_bytes": 48213,
         "chunks": 0}),
    "dynamics365.download_file": Returns(
        "`id`, `found` (false only with `missing_ok`), `file_name`, `mime_type`, "
        "`size_bytes` and `content_base64` (`content_text` with `as_text`). A step's output "
        "carries at most 45 KiB of file: a larger file fails the step naming its size "
        "(move it with `copy_from` of `upload_file` or `attach_note`).",
        {"id": _ID, "found": True, "file_name": "terms.txt", "mime_type": "text/plain",
         "size_bytes": 5, "content_base64": "aGVsbG8="}),
    "dynamics365.attach_note": Returns(
        "`id` of the note, and its file's `file_name`, `mime_type` and `size_bytes` (null "
        "without a file).",
        {"id": _ID, "file_name": "order.csv", "mime_type": "text/csv", "size_bytes": 1024}),
    "dynamics365.read_note": Returns(
        "`id`, `subject`, `note_text`, `regarding` (`{table, id}` of the record it is "
        "about), `file_name`, `mime_type`, `size_bytes` and `content_base64` "
        "(`content_text` with `as_text`; neither with `include_content: false`); at most "
        "45 KiB of content, as for `download_file`.",
        {"id": _ID, "subject": "Signed contract", "note_text": None,
         "regarding": {"table": "account", "id": _ID}, "file_name": "terms.txt",
         "mime_type": "text/plain", "size_bytes": 5, "content_base64": "aGVsbG8="}),
    "dynamics_fo.create_record": Returns(
        "`key` (the new record's key fields) and `record` (as created).",
        {"key": {"dataAreaId": "usmf", "CustomerAccount": "US-100"},
         "record": {"CustomerAccount": "US-100", "OrganizationName": "Contoso"}}),
    "dynamics_fo.create_records": Returns(
        "`created` (how many) and `results`: `{status, key}` or `{status, error}` per "
        "record, in order.",
        {"created": 1, "results": [{"status": 201, "key": {"dataAreaId": "usmf",
                                                           "CustomerAccount": "US-100"}}]}),
    "dynamics_fo.update_record": Returns(
        "`key`; `record` with `return_record: true`.",
        {"key": {"dataAreaId": "usmf", "CustomerAccount": "US-001"}}),
    "dynamics_fo.upsert_record": Returns(
        "`key` and `created` (true: it was created); `record` with `return_record: true`.",
        {"key": {"dataAreaId": "usmf", "CustomerAccount": "US-001"}, "created": False}),
    "dynamics_fo.delete_record": Returns(
        "`deleted`: false only when it was already gone and `missing_ok` is set.",
        {"deleted": True}),
    "dynamics_fo.get_record": Returns(
        "`key` and `record`.", {"key": {"dataAreaId": "usmf", "CustomerAccount": "US-001"},
                                "record": {"CustomerAccount": "US-001",
                                           "OrganizationName": "Contoso"}}),
    "dynamics_fo.search_records": Returns(
        "`records`, `count`, and `more` (true when more records match than were read).",
        {"records": [{"CustomerAccount": "US-001"}], "count": 1, "more": False}),
    "dynamics_fo.execute_action": Returns(
        "`status` and `value` (the action's return value, or null).",
        {"status": 200, "value": 3}),
    "dynamics_fo.request": Returns(
        "`status`, `headers` and `body` (parsed JSON, or text) of a 2xx answer.",
        {"status": 200, "headers": {}, "body": 42}),
    "http.request": Returns(
        "`status`, `headers` (without `Set-Cookie`), `json` (the body when it is JSON, "
        "else null) and `text` (the body, cut at 64 KiB). A status of 400 or more fails "
        "the step unless it is in `allow_status`.",
        {"status": 200, "headers": {"Content-Type": "application/json"},
         "json": {"ok": True}, "text": "{\"ok\": true}"}),
    "log": Returns("`message` and `fields` as rendered.",
                   {"message": "contact Ada Lovelace", "fields": {}}),
}

_NEW_CONTACT = {"type": "dynamics365.new_record", "connection": "crm", "table": "contacts",
                "select": ["contactid", "fullname", "emailaddress1"]}
_NEW_FO_CUSTOMER = {"type": "dynamics_fo.new_record", "connection": "fo",
                    "entity": "CustomersV3"}
_CONTACT_ID = "{{ trigger.record.contactid }}"
_FILE_WEBHOOK = {"type": "http.webhook", "auth": "token", "secret_env": "SCANS_WEBHOOK_TOKEN"}

EXAMPLES: dict[str, Example] = {
    "http.webhook": Example({"auth": "token", "secret_env": "CRM_WEBHOOK_SECRET"}),
    "schedule": Example({"cron": "0 7 * * 1-5", "timezone": "Europe/Amsterdam"}),
    "dynamics365.new_record": Example({"select": ["contactid", "fullname"]}),
    "dynamics365.new_or_updated_record": Example({"filter": "statecode eq 0",
                                                  "since": "beginning"}),
    "dynamics365.create_record": Example(
        {"table": "tasks", "fields": {"subject": "Call {{ trigger.record.fullname }}",
                                      "regardingobjectid": {"table": "contacts",
                                                            "id": _CONTACT_ID}}},
        _NEW_CONTACT),
    "dynamics365.update_record": Example(
        {"table": "contacts", "record_id": _CONTACT_ID,
         "fields": {"description": "welcomed"}}, _NEW_CONTACT),
    "dynamics365.upsert_record": Example(
        {"table": "accounts", "key": {"accountnumber": "{{ trigger.record.CustomerAccount }}"},
         "fields": {"name": "{{ trigger.record.OrganizationName }}"}}, _NEW_FO_CUSTOMER),
    "dynamics365.delete_record": Example(
        {"table": "tasks", "record_id": "{{ trigger.record.activityid }}", "missing_ok": True},
        {"type": "dynamics365.new_record", "connection": "crm", "table": "tasks"}),
    "dynamics365.get_record": Example(
        {"table": "accounts", "record_id": "{{ trigger.record._parentcustomerid_value }}",
         "select": ["name", "telephone1"]}, _NEW_CONTACT),
    "dynamics365.search_records": Example(
        {"table": "contacts", "where": {"emailaddress1": "{{ trigger.record.emailaddress1 }}"},
         "select": ["contactid", "fullname"], "top": 5}, _NEW_CONTACT),
    "dynamics365.associate": Example(
        {"table": "accounts", "record_id": "{{ trigger.record._parentcustomerid_value }}",
         "relationship": "contact_customer_accounts",
         "related": {"table": "contacts", "id": _CONTACT_ID}}, _NEW_CONTACT),
    "dynamics365.disassociate": Example(
        {"table": "accounts", "record_id": "{{ trigger.record._parentcustomerid_value }}",
         "relationship": "contact_customer_accounts",
         "related": {"table": "contacts", "id": _CONTACT_ID}}, _NEW_CONTACT),
    "dynamics365.batch": Example(
        {"table": "accounts", "operation": "upsert", "key_columns": ["accountnumber"],
         "rows": "{{ trigger.record.records }}"},
        {**_NEW_FO_CUSTOMER, "batch_size": 500}),
    "dynamics365.execute_action": Example(
        {"name": "WinOpportunity", "parameters": {
            "Status": 3, "OpportunityClose": {
                "subject": "Won", "opportunityid@odata.bind":
                    "/opportunities({{ trigger.record.opportunityid }})"}}},
        {"type": "dynamics365.new_or_updated_record", "connection": "crm",
         "table": "opportunities", "filter": "statecode eq 0"}),
    "dynamics365.execute_function": Example({"name": "WhoAmI"}),
    "dynamics365.request": Example({"method": "GET", "path": "WhoAmI"}),
    "dynamics365.get_schema": Example({"table": "contacts"}),
    "dynamics365.fetchxml_query": Example({"table": "contacts"}),
    "dynamics365.upload_file": Example(
        {"table": "contacts", "record_id": "{{ trigger.record.body.contactid }}",
         "column": "new_passportscan", "file_name": "{{ trigger.record.body.file_name }}",
         "content_base64": "{{ trigger.record.body.file_base64 }}"}, _FILE_WEBHOOK),
    "dynamics365.download_file": Example(
        {"table": "opportunities", "record_id": "{{ trigger.record.opportunityid }}",
         "column": "new_quote", "missing_ok": True},
        {"type": "dynamics365.new_or_updated_record", "connection": "crm",
         "table": "opportunities", "filter": "statecode eq 1"}),
    "dynamics365.attach_note": Example(
        {"table": "contacts", "record_id": _CONTACT_ID, "subject": "Welcome pack",
         "file_name": "welcome.txt",
         "content_text": "Dear {{ trigger.record.fullname }}, welcome aboard."}, _NEW_CONTACT),
    "dynamics365.read_note": Example(
        {"note_id": "{{ trigger.record.annotationid }}", "as_text": True},
        {"type": "dynamics365.new_record", "connection": "crm", "table": "annotations",
         "select": ["annotationid", "subject", "filename"]}),
    "dynamics_fo.create_record": Example(
        {"entity": "CustomersV3", "data_area": "usmf", "fields": {
            "CustomerAccount": "{{ trigger.record.accountnumber }}",
            "OrganizationName": "{{ trigger.record.name }}", "CustomerGroupId": "10"}},
        {"type": "dynamics365.new_record", "connection": "crm", "table": "accounts",
         "select": ["accountid", "accountnumber", "name"]}),
    "dynamics_fo.update_record": Example(
        {"entity": "CustomersV3", "key": {"dataAreaId": "usmf",
                                          "CustomerAccount": "{{ trigger.record.accountnumber }}"},
         "fields": {"OrganizationName": "{{ trigger.record.name }}"}},
        {"type": "dynamics365.new_or_updated_record", "connection": "crm",
         "table": "accounts", "select": ["accountnumber", "name"]}),
    "dynamics_fo.get_record": Example(
        {"entity": "CustomersV3", "key": {"dataAreaId": "usmf", "CustomerAccount": "US-001"}}),
}

_ACCOUNT_SYNC = """\
name: fo-customer-to-account
description: Each new F&O customer of company usmf becomes (or updates) a Dataverse account.
trigger:
  type: dynamics_fo.new_record
  connection: fo
  entity: CustomersV3
  data_area: usmf
  poll_interval: 1m
actions:
  - id: account
    type: dynamics365.upsert_record
    connection: crm
    table: accounts
    key: {accountnumber: "{{ trigger.record.CustomerAccount }}"}
    fields:
      name: "{{ trigger.record.OrganizationName }}"
      telephone1: "{{ trigger.record.PrimaryContactPhone }}"
  - type: log
    message: "customer {{ trigger.record.CustomerAccount }} -> account {{ steps.account.id }}"
    fields: {created: "{{ steps.account.created }}"}
"""

COOKBOOK: dict[str, tuple[str, str]] = {
    "A follow-up task for every new contact": (
        "The first recipe of the README: a task regarding the contact, then its id in the log.",
        """\
name: contact-followup
trigger:
  type: dynamics365.new_record
  connection: crm
  table: contacts
  select: [contactid, fullname]
actions:
  - id: task
    type: dynamics365.create_record
    connection: crm
    table: tasks
    fields:
      subject: "Call {{ trigger.record.fullname }}"
      regardingobjectid: {table: contacts, id: "{{ trigger.record.contactid }}"}
  - type: log
    message: "task {{ steps.task.id }} for {{ trigger.record.fullname }}"
"""),
    "Post won opportunities to a chat or ERP webhook": (
        "Only rows that changed into the won state (`statecode eq 1`) start a job; the "
        "`Idempotency-Key` header makes a repeated delivery harmless at the receiver.",
        """\
name: opportunity-won
trigger:
  type: dynamics365.new_or_updated_record
  connection: crm
  table: opportunities
  filter: statecode eq 1
  select: [opportunityid, name, estimatedvalue, _customerid_value]
actions:
  - id: notify
    type: http.request
    connection: hooks
    method: POST
    url: /won
    headers: {Idempotency-Key: "{{ job.id }}"}
    json:
      opportunity: "{{ trigger.record.name }}"
      value: "{{ trigger.record.estimatedvalue }}"
      customer: "{{ trigger.record['_customerid_value@label'] }}"
"""),
    "Keep F&O customers and Dataverse accounts in step": (
        "An alternate key (`accountnumber`) makes the upsert idempotent: a job that runs "
        "again updates the same account.", _ACCOUNT_SYNC),
    "Find a record, then act only if it exists": (
        "`if:` skips a step; `stop` ends the job early with an outcome of your choice.",
        """\
name: dedupe-leads
trigger:
  type: dynamics365.new_record
  connection: crm
  table: leads
  select: [leadid, emailaddress1, fullname]
actions:
  - id: existing
    type: dynamics365.search_records
    connection: crm
    table: contacts
    where: {emailaddress1: "{{ trigger.record.emailaddress1 }}"}
    select: [contactid]
    top: 1
  - type: stop
    if: "{{ steps.existing.count == 0 }}"
    outcome: success
    message: "no contact with {{ trigger.record.emailaddress1 }}"
  - type: dynamics365.update_record
    connection: crm
    table: leads
    record_id: "{{ trigger.record.leadid }}"
    fields: {description: "duplicate of contact {{ steps.existing.rows[0].contactid }}"}
"""),
    "One task per line of an order": (
        "`for_each` runs its steps once per item; the item is `item` (or the name in `as`).",
        """\
name: order-lines
trigger:
  type: http.webhook
  auth: token
  secret_env: ORDERS_WEBHOOK_TOKEN
actions:
  - type: for_each
    items: "{{ trigger.record.body.lines }}"
    as: line
    actions:
      - type: dynamics365.create_record
        connection: crm
        table: tasks
        fields:
          subject: "Ship {{ line.quantity }} x {{ line.sku }}"
"""),
    "A morning report of open leads": (
        "A schedule trigger, a query, and a log line (or an `http.request` to a chat).",
        """\
name: open-leads-report
trigger:
  type: schedule
  cron: "0 7 * * 1-5"
  timezone: Europe/Amsterdam
variables:
  min_score: 50
actions:
  - id: leads
    type: dynamics365.search_records
    connection: crm
    table: leads
    filter: "statecode eq 0 and leadqualitycode eq 1"
    select: [fullname, companyname]
    top: 50
  - type: log
    message: "{{ steps.leads.count }} hot leads (score over {{ vars.min_score }})"
"""),
    "Store a scanned document on its contact, as the contact's owner": (
        "A scanner posts base64 files to the webhook; each becomes a note about the contact, "
        "written on behalf of the contact's owner (`impersonate`: the connection's user needs "
        "the Delegate role), and the contact is marked only if nobody changed it since it "
        "was read (`if_match`).",
        """\
name: scan-to-contact
trigger:
  type: http.webhook
  auth: token
  secret_env: SCANNER_WEBHOOK_TOKEN
actions:
  - id: contact
    type: dynamics365.get_record
    connection: crm
    table: contacts
    record_id: "{{ trigger.record.body.contactid }}"
    select: [fullname, ownerid]
  - id: note
    type: dynamics365.attach_note
    connection: crm
    table: contacts
    record_id: "{{ trigger.record.body.contactid }}"
    subject: "Scan: {{ trigger.record.body.file_name }}"
    file_name: "{{ trigger.record.body.file_name }}"
    content_base64: "{{ trigger.record.body.file_base64 }}"
    impersonate: {systemuser_id: "{{ steps.contact.record._ownerid_value }}"}
  - type: dynamics365.update_record
    connection: crm
    table: contacts
    record_id: "{{ trigger.record.body.contactid }}"
    if_match: "{{ steps.contact.record['@odata.etag'] }}"
    fields: {description: "scan {{ steps.note.id }} received"}
"""),
    "Handle a failing step without failing the job": (
        "`on_error` runs handler steps (they see `error.step`, `error.message`); "
        "`on_error: continue` records the failure as the step's output and goes on.",
        """\
name: account-deleted
trigger:
  type: dynamics365.deleted_record
  connection: crm
  table: accounts
actions:
  - id: archive
    type: http.request
    connection: hooks
    method: POST
    url: /archive
    json: {accountid: "{{ trigger.record.id }}"}
    retry: {attempts: 5, delay: 10s}
    on_error:
      - type: log
        level: error
        message: "archive of {{ trigger.record.id }} failed: {{ error.message }}"
"""),
}
