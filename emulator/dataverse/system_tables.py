"""The system tables the emulator keeps beside the business ones: who works in the
environment (``businessunit``, ``systemuser``, ``role``) and which messages it processes
(``sdkmessage``, ``sdkmessagefilter``), each queryable through the Web API like any table.

Their rows are created by the environment itself (:mod:`.bootstrap`), by seed sections
(``security_roles``, ``application_users``, ``system_users``) and, for users, on first use
of a token whose caller has no ``systemuser`` yet.
"""

from __future__ import annotations

from emulator.dataverse.columns import (
    attrs,
    lookup,
    owned_columns,
    state_columns,
    string,
    system_columns,
)
from emulator.dataverse.schema import Attribute, AttributeType, Table

T = AttributeType
ACCESS_MODES = {0: "Read-Write", 1: "Administrative", 2: "Read", 3: "Support User",
                4: "Non-interactive", 5: "Delegated Admin"}


def businessunit() -> Table:
    return Table("businessunit", "businessunits", "businessunitid", "name", attrs(
        *system_columns("businessunitid"), string("name", 160),
        lookup("parentbusinessunitid", "businessunit"),
        Attribute("isdisabled", T.BOOLEAN),
    ), change_tracking=False, display_name="Business Unit")


def systemuser() -> Table:
    return Table("systemuser", "systemusers", "systemuserid", "fullname", attrs(
        *system_columns("systemuserid"), string("fullname", 200),
        string("firstname", 64), string("lastname", 64), string("domainname", 1024),
        string("internalemailaddress", 100),
        Attribute("azureactivedirectoryobjectid", T.UNIQUEIDENTIFIER),
        Attribute("applicationid", T.UNIQUEIDENTIFIER),
        Attribute("isdisabled", T.BOOLEAN),
        Attribute("accessmode", T.PICKLIST, options=ACCESS_MODES),
        lookup("businessunitid", "businessunit"),
    ), change_tracking=True, display_name="User")


def role() -> Table:
    return Table("role", "roles", "roleid", "name", attrs(
        *system_columns("roleid"), string("name", 100), lookup("businessunitid", "businessunit"),
    ), change_tracking=False, display_name="Security Role")


def sdkmessage() -> Table:
    return Table("sdkmessage", "sdkmessages", "sdkmessageid", "name", attrs(
        *system_columns("sdkmessageid"), string("name", 256), string("categoryname", 25),
        Attribute("isprivate", T.BOOLEAN), Attribute("isactive", T.BOOLEAN),
        Attribute("autotransact", T.BOOLEAN), Attribute("expand", T.BOOLEAN),
        Attribute("availability", T.INTEGER), Attribute("workflowsdkstepenabled", T.BOOLEAN),
    ), change_tracking=False, display_name="Sdk Message")


def sdkmessagefilter() -> Table:
    return Table("sdkmessagefilter", "sdkmessagefilters", "sdkmessagefilterid", "name", attrs(
        *system_columns("sdkmessagefilterid"), string("name", 256),
        lookup("sdkmessageid", "sdkmessage"),
        string("primaryobjecttypecode", 64), string("secondaryobjecttypecode", 64),
        Attribute("iscustomprocessingstepallowed", T.BOOLEAN),
        Attribute("isvisible", T.BOOLEAN), Attribute("availability", T.INTEGER),
    ), change_tracking=False, display_name="Sdk Message Filter")


ASYNC_STATES = {0: "Ready", 1: "Suspended", 2: "Locked", 3: "Completed"}
ASYNC_STATUSES = {0: ("Waiting For Resources", 0), 10: ("Waiting", 1), 20: ("In Progress", 2),
                  21: ("Pausing", 2), 22: ("Canceling", 2), 30: ("Succeeded", 3),
                  31: ("Failed", 3), 32: ("Canceled", 3)}
OPERATION_TYPES = {1: "System Event", 13: "Bulk Delete", 10: "Workflow"}


def asyncoperation() -> Table:
    """System jobs: bulk deletes, and asynchronous webhook deliveries."""
    return Table("asyncoperation", "asyncoperations", "asyncoperationid", "name", attrs(
        *system_columns("asyncoperationid"), *owned_columns(), string("name", 256),
        Attribute("operationtype", T.PICKLIST, options=OPERATION_TYPES),
        Attribute("message", T.MEMO, max_length=1_048_576),
        Attribute("friendlymessage", T.MEMO, max_length=1_048_576),
        Attribute("errorcode", T.INTEGER), Attribute("retrycount", T.INTEGER),
        Attribute("startedon", T.DATETIME), Attribute("completedon", T.DATETIME),
        string("messagename", 256), string("primaryentitytype", 64),
        Attribute("correlationid", T.UNIQUEIDENTIFIER),
        lookup("owningextensionid", "sdkmessageprocessingstep"),
        *state_columns(ASYNC_STATES, ASYNC_STATUSES),
    ), change_tracking=False, display_name="System Job")


def bulkdeleteoperation() -> Table:
    return Table("bulkdeleteoperation", "bulkdeleteoperations", "bulkdeleteoperationid", "name",
                 attrs(*system_columns("bulkdeleteoperationid"), string("name", 256),
                       lookup("asyncoperationid", "asyncoperation"),
                       Attribute("successcount", T.INTEGER),
                       Attribute("failurecount", T.INTEGER),
                       *state_columns(ASYNC_STATES, ASYNC_STATUSES)),
                 change_tracking=False, display_name="Bulk Delete Operation")


CONTRACTS = {1: "OneWay", 2: "Queue", 3: "Twoway", 4: "Rest", 5: "Topic",
             6: "Queue (Persistent)", 7: "EventHub", 8: "Webhook", 9: "EventGrid",
             10: "ManagedDataLake"}
AUTH_TYPES = {1: "ACS", 2: "SASKey", 3: "SASToken", 4: "WebhookKey", 5: "HttpHeader",
              6: "HttpQueryString", 7: "ConnectionString", 8: "AccessKey",
              9: "ManagedIdentity"}
STAGES = {10: "Pre-validation", 20: "Pre-operation", 30: "Main Operation",
          40: "Post-operation"}
MODES = {0: "Synchronous", 1: "Asynchronous"}
IMAGE_TYPES = {0: "PreImage", 1: "PostImage", 2: "Both"}


def serviceendpoint() -> Table:
    """Where events are sent; a webhook is ``contract`` 8. ``authvalue`` is write-only."""
    return Table("serviceendpoint", "serviceendpoints", "serviceendpointid", "name", attrs(
        *system_columns("serviceendpointid"), string("name", 256),
        Attribute("description", T.MEMO, max_length=2000), string("url", 2000),
        Attribute("contract", T.PICKLIST, options=CONTRACTS),
        Attribute("authtype", T.PICKLIST, options=AUTH_TYPES),
        Attribute("authvalue", T.MEMO, max_length=4000, write_only=True),
        Attribute("messageformat", T.PICKLIST, options={1: "BinaryXML", 2: "Json",
                                                        3: "TextXML"}),
        Attribute("userclaim", T.PICKLIST, options={1: "None", 2: "UserId", 3: "UserInfo"}),
        Attribute("connectionmode", T.PICKLIST, options={1: "Normal", 2: "Federated"}),
        string("namespaceaddress", 255), string("solutionnamespace", 160),
        string("path", 160),
    ), change_tracking=False, display_name="Service Endpoint")


def plugintype() -> Table:
    return Table("plugintype", "plugintypes", "plugintypeid", "name", attrs(
        *system_columns("plugintypeid"), string("name", 256), string("typename", 256),
        string("friendlyname", 256),
    ), change_tracking=False, display_name="Plug-in Type")


def sdkmessageprocessingstep() -> Table:
    return Table("sdkmessageprocessingstep", "sdkmessageprocessingsteps",
                 "sdkmessageprocessingstepid", "name", attrs(
        *system_columns("sdkmessageprocessingstepid"), string("name", 256),
        Attribute("description", T.MEMO, max_length=256),
        Attribute("stage", T.PICKLIST, options=STAGES),
        Attribute("mode", T.PICKLIST, options=MODES), Attribute("rank", T.INTEGER),
        string("filteringattributes", 100_000), Attribute("asyncautodelete", T.BOOLEAN),
        Attribute("supporteddeployment", T.PICKLIST, options={0: "Server Only",
                                                              1: "Client Only", 2: "Both"}),
        Attribute("invocationsource", T.PICKLIST, options={0: "Parent", 1: "Child"}),
        string("configuration", 1_073_741_823),
        lookup("sdkmessageid", "sdkmessage"), lookup("sdkmessagefilterid", "sdkmessagefilter"),
        lookup("eventhandler", "plugintype", "serviceendpoint"),
        lookup("plugintypeid", "plugintype"), lookup("impersonatinguserid", "systemuser"),
        *state_columns({0: "Enabled", 1: "Disabled"}, {1: ("Enabled", 0), 2: ("Disabled", 1)}),
    ), change_tracking=False, display_name="Sdk Message Processing Step")


def sdkmessageprocessingstepimage() -> Table:
    return Table("sdkmessageprocessingstepimage", "sdkmessageprocessingstepimages",
                 "sdkmessageprocessingstepimageid", "name", attrs(
        *system_columns("sdkmessageprocessingstepimageid"), string("name", 256),
        string("entityalias", 256), Attribute("imagetype", T.PICKLIST, options=IMAGE_TYPES),
        string("attributes", 100_000), string("messagepropertyname", 256),
        string("description", 256),
        lookup("sdkmessageprocessingstepid", "sdkmessageprocessingstep"),
    ), change_tracking=False, display_name="Sdk Message Processing Step Image")


def system_tables() -> list[Table]:
    return [businessunit(), systemuser(), role(), sdkmessage(), sdkmessagefilter(),
            asyncoperation(), bulkdeleteoperation(), serviceendpoint(), plugintype(),
            sdkmessageprocessingstep(), sdkmessageprocessingstepimage()]


