"""The property model every report shares.

A property reference names where a value comes from:

* an event property — ``plan``, ``properties["Plan Type"]``, ``$browser``; a few names are the
  event's own columns (``time``/``$time``, ``distinct_id``/``$distinct_id`` — the canonical id
  after identity merge —, ``$insert_id``, ``$device_id``, ``$user_id``, ``$event_name``);
* a user profile property — ``user.plan`` or ``user["plan"]`` — from the profile of the
  event's canonical user (so events sent from a device before sign-up see the user's profile);
* a group profile property — ``group.company_id.industry`` or
  ``group["company_id"]["industry"]`` — from the group profile whose id is the event's
  ``company_id`` property;
* a lookup-table column — ``sku.category`` — through the event property (``sku``) that a
  lookup table is mapped to.

:class:`PropertyResolver` turns references into sqlglot expressions over the report's event
relation and collects the joins they need; the values are text (``VARCHAR``) as Mixpanel's
breakdowns show them, with numeric casts applied by the filter compiler where a comparison
needs a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from driftline.errors import InvalidInput
from driftline.query.sqlbuild import Params

#: event property names that are the event's own columns (authoritative over the JSON)
COLUMN_PROPERTIES = {
    "time": "time",
    "$time": "time",
    "distinct_id": "uid",
    "$distinct_id": "uid",
    "$insert_id": "insert_id",
    "$device_id": "device_id",
    "$user_id": "user_id",
    "$event_name": "event",
}


@dataclass(frozen=True)
class PropertyRef:
    kind: str  # event | user | group | lookup
    name: str
    key: str | None = None  # group key, or the event property a lookup table is mapped to

    def __str__(self) -> str:
        if self.kind == "user":
            return f"user.{self.name}"
        if self.kind == "group":
            return f"group.{self.key}.{self.name}"
        if self.kind == "lookup":
            return f"{self.key}.{self.name}"
        return self.name

    @property
    def column(self) -> str | None:
        """The events column behind this reference, if it is one."""
        return COLUMN_PROPERTIES.get(self.name) if self.kind == "event" else None


def json_path(name: str) -> exp.Expression:
    """A JSON path selecting the top-level key ``name`` (quoted: any key works)."""
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return exp.Literal.string(f'$."{escaped}"')


def json_text(document: exp.Expression, name: str) -> exp.Expression:
    return exp.func("json_extract_string", document, json_path(name))


@dataclass
class Join:
    alias: str
    table: str
    on: exp.Expression


@dataclass
class PropertyResolver:
    """Resolves references against one project; records the joins a query needs.

    ``event_alias`` is the alias of the events table in the query; ``uid`` the expression of
    the canonical distinct id.
    """

    project_id: int
    params: Params
    lookups: dict[str, str]  # event property -> lookup table id
    event_alias: str = "e"
    joins: list[Join] = field(default_factory=list)
    _aliases: dict[tuple[str, ...], str] = field(default_factory=dict)
    needs_identity: bool = False

    def col(self, name: str) -> exp.Column:
        return exp.column(name, table=self.event_alias)

    @property
    def uid(self) -> exp.Expression:
        self.needs_identity = True
        return exp.func("coalesce", exp.column("user_id", table="i"), self.col("distinct_id"))

    def text(self, ref: PropertyRef) -> exp.Expression:
        """The value of ``ref`` as text (NULL when not set)."""
        if ref.kind == "event":
            column = ref.column
            if column == "uid":
                return self.uid
            if column == "time":
                return exp.cast(self.col("time"), exp.DataType.build("VARCHAR"))
            if column is not None:
                return self.col(column)
            return json_text(self.col("properties"), ref.name)
        return json_text(exp.column("properties", table=self._join_for(ref)), ref.name)

    def _join_for(self, ref: PropertyRef) -> str:
        pid = self.params.bind(self.project_id)
        if ref.kind == "user":
            key: tuple[str, ...] = ("user",)
            if key not in self._aliases:
                alias = self._aliases[key] = "up"
                on = exp.and_(
                    exp.column("project_id", table=alias).eq(pid),
                    exp.column("distinct_id", table=alias).eq(self.uid),
                )
                self.joins.append(Join(alias, "profiles", on))
            return self._aliases[key]
        if ref.kind == "group":
            assert ref.key is not None
            key = ("group", ref.key)
            if key not in self._aliases:
                alias = self._aliases[key] = f"g{len(self._aliases)}"
                on = exp.and_(
                    exp.column("project_id", table=alias).eq(pid),
                    exp.column("group_key", table=alias).eq(self.params.bind(ref.key)),
                    exp.column("group_id", table=alias).eq(
                        self.text(PropertyRef("event", ref.key))
                    ),
                )
                self.joins.append(Join(alias, "groups", on))
            return self._aliases[key]
        if ref.kind == "lookup":
            assert ref.key is not None
            key = ("lookup", ref.key)
            if key not in self._aliases:
                alias = self._aliases[key] = f"l{len(self._aliases)}"
                on = exp.and_(
                    exp.column("project_id", table=alias).eq(pid),
                    exp.column("table_id", table=alias).eq(self.params.bind(self.lookups[ref.key])),
                    exp.column("row_id", table=alias).eq(self.text(PropertyRef("event", ref.key))),
                )
                self.joins.append(Join(alias, "lookup_rows", on))
            return self._aliases[key]
        raise InvalidInput(f"unknown property kind {ref.kind!r}")

    def check(self, ref: PropertyRef) -> PropertyRef:
        """Validate a reference against the project (lookup mappings)."""
        if ref.kind == "lookup" and ref.key not in self.lookups:
            mapped = ", ".join(sorted(self.lookups)) or "none"
            raise InvalidInput(
                f"{ref.key}.{ref.name}: no lookup table is mapped to the event property "
                f"{ref.key!r} (mapped properties: {mapped}); for an event property whose name "
                f'contains a dot write properties["{ref.key}.{ref.name}"]',
                field="property",
            )
        return ref

    def apply_joins(self, select: exp.Select) -> exp.Select:
        if self.needs_identity and not any(j.alias == "i" for j in self.joins):
            # Only events without a user id look their device up; a NULL key matches nothing
            # and costs the hash join less than a separate condition would.
            device_key = exp.Case().when(self.col("user_id").is_(exp.null()), self.col("device_id"))
            on = exp.and_(
                exp.column("project_id", table="i").eq(self.params.bind(self.project_id)),
                exp.column("device_id", table="i").eq(device_key),
            )
            self.joins.insert(0, Join("i", "identities", on))
        for join in self.joins:
            select = select.join(
                exp.to_table(join.table).as_(join.alias), on=join.on, join_type="left", copy=False
            )
        return select
