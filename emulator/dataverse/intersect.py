"""N:N relationships: the rows of each intersect table (``dv_nn_<intersect>``, two ids).

Associating a pair twice is Dataverse's duplicate-key error; deleting a row removes it from
every relationship it took part in.
"""

from __future__ import annotations

from emulator.dataverse import errors
from emulator.dataverse.schema import ManyToMany
from emulator.store import Store


def sql_table(relation: ManyToMany) -> str:
    return f"dv_nn_{relation.intersect}"


class Intersects:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.relations: list[ManyToMany] = []

    def create(self, relation: ManyToMany) -> None:
        one, two, name = relation.entity1_attribute, relation.entity2_attribute, sql_table(
            relation)
        with self.store.transaction() as db:
            db.execute(f'CREATE TABLE IF NOT EXISTS {name} ("{one}" TEXT NOT NULL COLLATE '
                       f'NOCASE, "{two}" TEXT NOT NULL COLLATE NOCASE, PRIMARY KEY ("{one}", '
                       f'"{two}"))')
            db.execute(f'CREATE INDEX IF NOT EXISTS {name}_2 ON {name} ("{two}")')
        self.relations.append(relation)

    def associate(self, relation: ManyToMany, id1: str, id2: str) -> None:
        one, two = relation.entity1_attribute, relation.entity2_attribute
        with self.store.transaction() as db:
            exists = db.execute(f'SELECT 1 FROM {sql_table(relation)} WHERE "{one}" = ? AND '
                                f'"{two}" = ?', (id1, id2)).fetchone()
            if exists:
                raise errors.DataverseError(412, errors.DUPLICATE_RECORD, (
                    "Cannot insert duplicate key. The two records are already associated "
                    f"through '{relation.schema_name}'."))
            db.execute(f"INSERT INTO {sql_table(relation)} VALUES (?, ?)", (id1, id2))

    def disassociate(self, relation: ManyToMany, id1: str, id2: str) -> bool:
        one, two = relation.entity1_attribute, relation.entity2_attribute
        with self.store.transaction() as db:
            cursor = db.execute(f'DELETE FROM {sql_table(relation)} WHERE "{one}" = ? AND '
                                f'"{two}" = ?', (id1, id2))
        return cursor.rowcount > 0

    def related(self, relation: ManyToMany, table: str, record_id: str) -> list[str]:
        """Ids on the other side of ``relation`` from ``record_id`` (a row of ``table``)."""
        mine, theirs = _sides(relation, table)
        rows = self.store.db.execute(f'SELECT "{theirs}" FROM {sql_table(relation)} WHERE '
                                     f'"{mine}" = ?', (record_id,))
        return [str(r[0]) for r in rows]

    def forget(self, table: str, record_id: str) -> None:
        """A deleted row leaves every relationship it was in."""
        for relation in self.relations:
            for column in _columns_for(relation, table):
                self.store.db.execute(f'DELETE FROM {sql_table(relation)} WHERE "{column}" = ?',
                                      (record_id,))


def _sides(relation: ManyToMany, table: str) -> tuple[str, str]:
    """(this table's column, the other table's column) of the intersect table."""
    if table == relation.entity1:
        return relation.entity1_attribute, relation.entity2_attribute
    return relation.entity2_attribute, relation.entity1_attribute


def _columns_for(relation: ManyToMany, table: str) -> list[str]:
    return [column for entity, column in ((relation.entity1, relation.entity1_attribute),
                                          (relation.entity2, relation.entity2_attribute))
            if entity == table]
