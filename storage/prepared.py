"""Hot-path statements executed straight on the driver's cursor.

Profiling the turn benchmark (py-spy) showed most of a Core ``conn.execute`` to be SQLAlchemy's
own bookkeeping (cache key, execution context, result object) rather than the driver's work, and
a turn runs half a dozen statements. A ``Prepared`` statement is compiled by SQLAlchemy once per
dialect and set of keys, keeps the bind processors SQLAlchemy itself would apply (dates, JSON,
our UTC type), and then runs on the raw cursor of the same connection, inside the same
transaction.

Only statements whose binds are exactly the keys given qualify (no Python-side column defaults,
no expanding IN): anything else raises at planning time, so a misuse shows on first run, not as
wrong data. Driver errors are re-raised as SQLAlchemy's own exception classes, so callers keep
catching ``IntegrityError`` and ``OperationalError``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    names: tuple[str, ...]
    positional: bool
    pick: Callable[[Mapping[str, Any]], tuple[Any, ...]]  # the values, in the order of names
    converted: tuple[tuple[int, Callable[[Any], Any]], ...]  # (position, bind processor)

    def args(self, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        picked: Sequence[Any] = self.pick(params)
        if self.converted:
            values = list(picked)
            for i, proc in self.converted:
                values[i] = proc(values[i])
            picked = values
        return picked if self.positional else dict(zip(self.names, picked, strict=True))


def make_plan(
    sql: str, names: tuple[str, ...], processors: tuple[Callable[[Any], Any] | None, ...], positional: bool
) -> _Plan:
    """A plan whose ``args`` reads the parameters with one ``itemgetter`` call and runs only the
    processors there are: binding runs for every statement of every turn, and a comprehension
    over all columns took ~1.7 us for a dozen of them, most needing no processor (timed loop)."""
    pick: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    if len(names) >= 2:
        pick = operator.itemgetter(*names)  # a tuple only from two names on
    else:
        pick = lambda params: tuple(params[name] for name in names)  # noqa: E731
    converted = tuple((i, proc) for i, proc in enumerate(processors) if proc is not None)
    return _Plan(sql, names, positional, pick, converted)


class PreparedError(RuntimeError):
    """The statement cannot run on the fast path (its binds are not exactly the keys given)."""


class Prepared:
    """A Core statement to run many times with different parameters (see the module doc)."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._plans: dict[tuple[str, tuple[str, ...]], _Plan] = {}

    def _plan(self, dialect: Dialect, keys: tuple[str, ...]) -> _Plan:
        plan = self._plans.get((dialect.name, keys))
        if plan is not None:
            return plan
        compiled = self.statement.compile(dialect=dialect, column_keys=list(keys))
        assert isinstance(compiled, SQLCompiler)
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        if set(binds) != set(keys):
            raise PreparedError(f"binds {sorted(binds)} are not the keys given {sorted(keys)}")
        names = tuple(compiled.positiontup or ()) if dialect.positional else tuple(binds)
        if set(names) != set(binds):  # a bind used twice, or rendered as a literal
            raise PreparedError(f"positional binds {names} do not map one to one")
        processors = tuple(binds[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names)
        made = make_plan(compiled.string, names, processors, dialect.positional)
        self._plans[(dialect.name, keys)] = made
        return made

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """Run once; returns the driver cursor (``rowcount``, ``fetchone``/``fetchall``)."""
        plan = self._plan(conn.dialect, tuple(params))
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        _run(conn.dialect, plan.sql, lambda: cursor.execute(plan.sql, plan.args(params)))
        return cursor

    def execute_many(self, conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        """Run once per row (all rows with the same keys); no result rows."""
        batch = list(rows)
        if not batch:
            return
        plan = self._plan(conn.dialect, tuple(batch[0]))
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        args: Any = [plan.args(r) for r in batch]
        _run(conn.dialect, plan.sql, lambda: cursor.executemany(plan.sql, args))


def insert_ignoring_conflicts(table: Table) -> dict[str, Prepared]:
    """``INSERT ... ON CONFLICT DO NOTHING`` into ``table``, by dialect name: the clause is
    dialect syntax, and SQLAlchemy would recompile it on every call."""
    return {
        name: Prepared(fn(table).on_conflict_do_nothing())
        for name, fn in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
    }


def _run(dialect: Dialect, sql: str, call: Callable[[], Any]) -> None:
    dbapi = dialect.loaded_dbapi
    try:
        call()
    except dbapi.Error as exc:
        raise DBAPIError.instance(sql, None, exc, dbapi.Error, dialect=dialect) from exc
