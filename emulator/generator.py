"""Demo traffic: every few seconds a new contact, an edited contact, an opportunity won,
and now and then a deleted account in Dataverse, and a new Finance & Operations customer in
company ``usmf``, written through the same code as Web API and F&O OData calls, so the
demo's recipes have something to react to."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from emulator.dataverse.environment import Environment, environment_of
from emulator.dataverse.schema import Table
from emulator.dataverse.writes import Conditions, create, delete, upsert
from emulator.fo import writes as fo_writes
from emulator.fo.entities import Entity
from emulator.fo.environment import FoEnvironment, fo_environment
from emulator.state import EmulatorState

FIRST = ("Ann", "Bo", "Chiara", "Dmitri", "Emeka", "Fatima", "Gustav", "Hana", "Ines", "Jun")
LAST = ("O'Bryan", "Lindqvist", "Okafor", "Rossi", "Nakamura", "Haddad", "Novak", "Silva")
CITIES = (("Seattle", "USA"), ("Chicago", "USA"), ("Toronto", "CAN"), ("Monterrey", "MEX"))
FO_COMPANY = "usmf"


class DemoGenerator:
    def __init__(self, state: EmulatorState, seed: int = 7) -> None:
        self.env: Environment = environment_of(state)
        self.fo: FoEnvironment = fo_environment(state)
        self.random = random.Random(seed)
        self.contacts: list[str] = []
        self.accounts: list[str] = []
        self.opportunities: list[str] = []
        self.fo_customers: list[str] = []
        self.tick_count = 0

    def _table(self, logical_name: str) -> Table:
        table = self.env.catalog.by_logical_name(logical_name)
        assert table is not None
        return table

    def _fo_entity(self, set_name: str) -> Entity:
        entity = self.fo.catalog.get(set_name)
        assert entity is not None
        return entity

    def tick(self) -> None:
        """One round of changes."""
        self.tick_count += 1
        first, last = self.random.choice(FIRST), self.random.choice(LAST)
        email = f"{first}.{last}.{self.tick_count}@example.test".lower().replace("'", "")
        self.contacts.append(create(self.env, self._table("contact"), {
            "firstname": first, "lastname": last, "emailaddress1": email}))
        if self.tick_count % 2 == 0:
            self._account_with_opportunity()
        if len(self.contacts) > 1:
            contact = self.random.choice(self.contacts[:-1])
            upsert(self.env, self._table("contact"), contact,
                   {"jobtitle": self.random.choice(["Buyer", "CFO", "Engineer"])},
                   Conditions(if_match="*"))
        if self.tick_count % 3 == 0 and self.opportunities:
            opportunity = self.opportunities.pop(0)
            upsert(self.env, self._table("opportunity"), opportunity,
                   {"statecode": 1, "statuscode": 3}, Conditions(if_match="*"))
        if self.tick_count % 5 == 0 and len(self.accounts) > 2:
            delete(self.env, self._table("account"), self.accounts.pop(0), Conditions("*"))
        self._fo_customer()

    def _account_with_opportunity(self) -> None:
        name = f"{self.random.choice(LAST)} Trading {self.tick_count}"
        account = create(self.env, self._table("account"), {"name": name})
        self.accounts.append(account)
        self.opportunities.append(create(self.env, self._table("opportunity"), {
            "name": f"Deal with {name}",
            "estimatedvalue": self.random.randrange(1_000, 90_000),
            "customerid_account@odata.bind": f"/accounts({account})",
        }))


    def _fo_customer(self) -> None:
        """A new customer in ``usmf``, stamped with the emulator clock as an OData POST is."""
        account = f"US-D{self.tick_count:04d}"
        name = f"{self.random.choice(LAST)} Supply {self.tick_count}"
        city, country = self.random.choice(CITIES)
        email = f"orders.{self.tick_count}@supply.example.test"
        fo_writes.create(self.fo, self._fo_entity("CustomersV3"), {
            "dataAreaId": FO_COMPANY, "CustomerAccount": account, "OrganizationName": name,
            "CustomerGroupId": "30", "SalesCurrencyCode": "USD", "PrimaryContactEmail": email,
            "AddressCity": city, "AddressCountryRegionId": country})
        self.fo_customers.append(account)


@asynccontextmanager
async def generating(state: EmulatorState, every_s: float) -> AsyncIterator[DemoGenerator]:
    generator = DemoGenerator(state)

    async def loop() -> None:
        while True:
            generator.tick()
            await asyncio.sleep(every_s)

    task = asyncio.create_task(loop(), name="demo-generator")
    try:
        yield generator
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
