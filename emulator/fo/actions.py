"""OData actions, ``POST``-ed with their parameters as the JSON body's members:

* ``/data/<set>/Microsoft.Dynamics.DataEntities.<Action>``: bound to the collection (an X++
  static method);
* ``/data/<set>(<key>)/Microsoft.Dynamics.DataEntities.<Action>``: bound to one entity (an
  instance method).

F&O's real actions depend on the installed models, so the emulator ships two on
``SalesOrderHeadersV2`` that exercise both bindings and both answer shapes [I]:

* ``GetOpenOrderCount`` (collection; ``{"customerAccount": "US-001"}``) -> 200
  ``{"@odata.context": ".../$metadata#Edm.Int32", "value": <orders in Backorder>}`` in the
  default company (all companies with ``cross-company=true``);
* ``CancelOrder`` (entity; no parameters) -> 204; the order's ``SalesOrderStatus`` becomes
  ``Canceled`` and its change date moves.
"""

from __future__ import annotations

import json
from typing import Any

from emulator.fo import errors
from emulator.fo.calls import FoCall, FoResponse, json_response, no_content
from emulator.fo.entities import DATA_AREA, NAMESPACE, Entity
from emulator.fo.environment import FoEnvironment
from emulator.fo.storage import ALIAS
from emulator.fo.writes import update


def run_action(env: FoEnvironment, call: FoCall, entity: Entity, segment: str,
               rowid: int | None) -> FoResponse:
    name = segment.removeprefix(NAMESPACE + ".")
    action = env.actions.get((entity.set_name, name, rowid is not None))
    if not segment.startswith(NAMESPACE + ".") or action is None:
        raise errors.not_found(segment)
    if call.method != "POST":
        raise errors.method_not_allowed(call.method)
    params = call.json_body()
    if not isinstance(params, dict):
        raise errors.bad_request("The parameters of an action are a JSON object.")
    return action(env, call, entity, rowid, params)


def check_parameters(action: str, params: dict[str, Any], allowed: set[str]) -> None:
    for name in params:
        if name not in allowed:
            raise errors.bad_request(f"The parameter '{name}' in the request payload is not a "
                                     f"valid parameter for the operation '{action}'.")


def get_open_order_count(env: FoEnvironment, call: FoCall, entity: Entity, rowid: int | None,
                         params: dict[str, Any]) -> FoResponse:
    check_parameters("GetOpenOrderCount", params, {"customerAccount"})
    sql = (f"SELECT count(*) FROM {entity.sql_table} AS {ALIAS} WHERE "
           f"{ALIAS}.SalesOrderStatus = 'Backorder'")
    args: list[Any] = []
    if "customerAccount" in params:
        sql += f" AND {ALIAS}.OrderingCustomerAccountNumber = ?"
        args.append(str(params["customerAccount"]))
    if not call.flag("cross-company"):
        sql += f' AND {ALIAS}."{DATA_AREA}" = ?'
        args.append(env.default_company)
    count = int(env.storage.db.execute(sql, args).fetchone()[0])
    context = f"{call.service_root}/$metadata#Edm.Int32"
    return json_response(json.dumps({"@odata.context": context, "value": count}))


def cancel_order(env: FoEnvironment, call: FoCall, entity: Entity, rowid: int | None,
                 params: dict[str, Any]) -> FoResponse:
    check_parameters("CancelOrder", params, set())
    assert rowid is not None
    update(env, entity, rowid, {"SalesOrderStatus": "Canceled"})
    return no_content()


def register(env: FoEnvironment) -> None:
    env.actions[("SalesOrderHeadersV2", "GetOpenOrderCount", False)] = get_open_order_count
    env.actions[("SalesOrderHeadersV2", "CancelOrder", True)] = cancel_order
