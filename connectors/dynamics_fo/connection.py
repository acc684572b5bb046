"""The ``dynamics_fo`` connection type: an :class:`FoClient` per connection, signed in
through the daemon's token manager, and its online checks."""

from __future__ import annotations

from connectors.base import ClientContext, ConnectionTypeSpec
from connectors.dynamics365.connection import CHECK_RETRY, CHECK_TIMEOUT_S, RUN_TIMEOUT_S
from connectors.dynamics_fo.client import FoClient
from connectors.dynamics_fo.online import online_check


def fo_client(ctx: ClientContext) -> FoClient:
    conn, check = ctx.settings, ctx.purpose == "check"
    client = FoClient.open(
        conn.api_base_url, ctx.tokens, ca_bundle=conn.ca_bundle, throttle=conn.throttle,
        retry=CHECK_RETRY if check else None, data_area=conn.data_area,
        cross_company=conn.cross_company, proxy=ctx.proxy,
        timeout_s=CHECK_TIMEOUT_S if check else RUN_TIMEOUT_S)
    if ctx.hooks is not None:
        client.hooks = ctx.hooks  # 429s and retries counted, as for Dataverse
    return client


FO_CONNECTION = ConnectionTypeSpec(
    key="dynamics_fo", client=fo_client, uses_tokens=True, online_check=online_check,
    summary="Dynamics 365 Finance & Operations OData")
