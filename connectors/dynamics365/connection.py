"""The ``dynamics365`` connection type: a :class:`DataverseClient` per connection, signed in
through the daemon's token manager, and its online checks."""

from __future__ import annotations

from connectors.base import ClientContext, ConnectionTypeSpec
from connectors.dynamics365.client import DataverseClient
from connectors.dynamics365.online import online_check
from connectors.odata.retry import RetryPolicy

# A check is interactive: give up on a service that does not answer rather than back off.
CHECK_RETRY = RetryPolicy(max_attempts=2, base_delay_s=0.2, max_delay_s=1.0,
                          max_retry_after_s=5.0)
CHECK_TIMEOUT_S = 30.0
RUN_TIMEOUT_S = 120.0


def dataverse_client(ctx: ClientContext) -> DataverseClient:
    conn, check = ctx.settings, ctx.purpose == "check"
    return DataverseClient.open(
        conn.api_base_url, ctx.tokens, ca_bundle=conn.ca_bundle, throttle=conn.throttle,
        retry=CHECK_RETRY if check else None, hooks=ctx.hooks, proxy=ctx.proxy,
        timeout_s=CHECK_TIMEOUT_S if check else RUN_TIMEOUT_S)


DATAVERSE_CONNECTION = ConnectionTypeSpec(
    key="dynamics365", client=dataverse_client, uses_tokens=True, online_check=online_check,
    summary="Dataverse Web API (Dynamics 365 Sales, Customer Service, …)")
