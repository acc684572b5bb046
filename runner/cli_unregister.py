"""``recipe-runner recipes unregister NAME``: remove the webhook registration of the feed
that pushes a recipe's changes (``mode: push`` or ``hybrid``; ``docs/realtime.md``), for
when the daemon is stopped — a running daemon removes the registrations of feeds it no
longer runs by itself. It signs in with the recipe's connection, so it needs that
connection's secrets (unlike the read-only operator commands)."""

from __future__ import annotations

import argparse

from connectors.base import PushFeed, Registry
from runner.cli_common import (
    EXIT_OK,
    UserError,
    load_connections_file,
    load_operator_recipes,
    settings_from,
)
from runner.config import suggestion
from runner.engine.feeds import feed_id
from runner.output import print_json
from runner.runtime import ConnectionPool, token_manager_for
from runner.store import Store


async def unregister_recipe(args: argparse.Namespace, registry: Registry) -> int:
    settings = settings_from(args)
    connections = load_connections_file(settings)
    loaded = load_operator_recipes(settings, registry, connections)
    recipe = loaded.recipes.get(args.name)
    if recipe is None:
        raise UserError(f"no recipe named {args.name!r}" + suggestion(args.name, loaded.recipes))
    spec = registry.triggers[recipe.trigger.type]
    if not isinstance(spec.feed, PushFeed) or spec.feed.mode(
            spec.params.model_validate(recipe.trigger.params)) == "poll":
        raise UserError(f"recipe {recipe.name} does not use push (its trigger's mode is poll): "
                        "nothing is registered for it")
    name = f"recipe-runner {feed_id(recipe, spec)}"
    async with await Store.open(settings.state_url) as store:
        tokens = token_manager_for(connections, store, settings.state_url)
        if tokens is not None:
            await tokens.start()
        pool = ConnectionPool(connections, tokens)
        try:
            removed = await spec.feed.unregister_push(pool.get(recipe.trigger.connection), name)
        finally:
            await pool.close()
            if tokens is not None:
                tokens.close()
    if args.json:
        print_json({"name": recipe.name, "registration": name, "removed": removed})
    else:
        print(f"removed the webhook registration {name!r} (its steps and images)" if removed
              else f"no webhook registration named {name!r}: nothing to remove")
    return EXIT_OK
