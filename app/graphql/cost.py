"""Limits on how much one operation may ask for, checked before it is validated or run.

Depth and alias limits do not bound a query like
`projects(first: 100) { edges { node { apiKeys(first: 100) { ... clientIps(first: 100) } } } }`:
a million objects and ten thousand queries from a few hundred bytes. Here every connection
(a field taking `first`) multiplies what is below it by its page size - `first` as sent, from a
variable, or the default page size; a page of 0 still costs its query, so it counts as 1 - and an
operation whose total passes the limit is refused with `QUERY_TOO_COMPLEX`, naming its size.

Fragments can also make a short document enormous: each of a chain of fragments spreading the
next one twice doubles it. So the size of the operation with its fragments expanded is bounded
too, and both are computed with each fragment measured once (the object count is linear in the
multiplier above a fragment): linear in the document, whatever it expands to. It runs before
validation, because graphql-core's and Strawberry's validation rules expand fragments themselves
(an exponential document would stall them), and needs the variables, so it cannot be a cached
validation rule; ~15 µs on the queries clients send.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    BREAK,
    ArgumentNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ObjectFieldNode,
    OperationDefinitionNode,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    VariableNode,
    Visitor,
    get_named_type,
    visit,
)
from strawberry.extensions import SchemaExtension

from app.pagination import DEFAULT_PAGE_SIZE


class LimitQueryCost(SchemaExtension):
    """Goes before ValidationCache in the extension list."""

    def __init__(self, *, max_objects: int, max_fields: int) -> None:
        super().__init__()
        self._max_objects = max_objects
        self._max_fields = max_fields

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        operation = _operation(document.definitions, context.operation_name) if document else None
        if document is not None and operation is not None:
            fragments = {
                definition.name.value: definition
                for definition in document.definitions
                if isinstance(definition, FragmentDefinitionNode)
            }
            _refuse_out_of_range_ints(document)
            measure = _Measure(context.schema._schema, fragments, context.variables or {})
            fields, objects = measure.operation(operation)
            # Raised, it ends the request with this error before validation runs.
            if fields > self._max_fields:
                raise _too_large(fields, self._max_fields)
            if objects > self._max_objects:
                raise _too_complex(objects, self._max_objects)
        yield


def _operation(definitions: Any, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if operations else None
    return next((o for o in operations if o.name and o.name.value == name), None)


def _too_complex(objects: int, limit: int) -> GraphQLError:
    return GraphQLError(
        f"This operation could fetch up to {objects:,} objects, over the limit of {limit:,}: "
        "ask for smaller pages with `first`, or split it.",
        extensions={"code": "QUERY_TOO_COMPLEX", "objects": objects, "limit": limit},
    )


def _too_large(fields: int, limit: int) -> GraphQLError:
    shown = f"{fields:,}" if fields < 10**12 else "more than a trillion"
    return GraphQLError(
        f"This operation selects {shown} fields once its fragments are expanded, over the "
        f"limit of {limit:,}: spread fewer fragments, or split it.",
        extensions={"code": "QUERY_TOO_COMPLEX", "fields": fields, "limit": limit},
    )


# GraphQL's Int is 32-bit; an argument beyond it (or too long to even convert) is refused here,
# before anything tries to read it, naming the argument.
_INT_RANGE = range(-(2**31), 2**31)
_INT_DIGITS = 10


class _IntLiterals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self.out_of_range: tuple[str, str] | None = None

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        self.names.append(node.name.value)

    def leave_argument(self, *_: Any) -> None:
        self.names.pop()

    def enter_object_field(self, node: ObjectFieldNode, *_: Any) -> None:
        self.names.append(node.name.value)

    def leave_object_field(self, *_: Any) -> None:
        self.names.pop()

    def enter_int_value(self, node: IntValueNode, *_: Any) -> Any:
        digits = node.value.lstrip("-")
        if len(digits) > _INT_DIGITS or int(node.value) not in _INT_RANGE:
            name = self.names[-1] if self.names else "value"
            shown = node.value if len(node.value) <= 20 else f"a {len(digits)}-digit number"
            self.out_of_range = (name, shown)
            return BREAK
        return None


def _refuse_out_of_range_ints(document: DocumentNode) -> None:
    visitor = _IntLiterals()
    visit(document, visitor)
    if visitor.out_of_range is not None:
        name, shown = visitor.out_of_range
        raise GraphQLError(
            f"`{name}` must be a 32-bit integer, not {shown}.",
            extensions={"code": "INVALID", "field": [name]},
        )


# Introspection's entry points: measured like any field (a hostile document can hang its
# fragments below them too).
_META_FIELDS: dict[str, GraphQLField] = {
    "__schema": SchemaMetaFieldDef,
    "__type": TypeMetaFieldDef,
}

# (fields once expanded, objects fetched) of a selection below one object.
_Size = tuple[int, int]


class _Measure:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self._schema = schema
        self._fragments = fragments
        self._variables = variables
        self._defaults: dict[str, Any] = {}
        self._measured: dict[str, _Size] = {}

    def operation(self, operation: OperationDefinitionNode) -> _Size:
        root = self._schema.get_root_type(operation.operation)
        if root is None:
            return 0, 0
        self._defaults = {
            definition.variable.name.value: definition.default_value
            for definition in operation.variable_definitions or ()
        }
        return self._selections(operation.selection_set, root, frozenset())

    def _selections(
        self,
        selections: SelectionSetNode | None,
        parent: GraphQLNamedType,
        visiting: frozenset[str],
    ) -> _Size:
        fields = objects = 0
        for selection in selections.selections if selections else ():
            if isinstance(selection, FieldNode):
                size = self._field(selection, parent, visiting)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self._schema.get_type(condition.name.value) if condition else parent
                size = self._selections(selection.selection_set, inner or parent, visiting)
            elif isinstance(selection, FragmentSpreadNode):
                size = self._fragment(selection.name.value, parent, visiting)
            else:
                continue
            fields += size[0]
            objects += size[1]
        return fields, objects

    def _fragment(self, name: str, parent: GraphQLNamedType, visiting: frozenset[str]) -> _Size:
        known = self._measured.get(name)
        if known is not None:
            return known
        fragment = self._fragments.get(name)
        if fragment is None or name in visiting:
            return 0, 0  # validation refuses both
        inner = self._schema.get_type(fragment.type_condition.name.value) or parent
        size = self._measured[name] = self._selections(
            fragment.selection_set, inner, visiting | {name}
        )
        return size

    def _field(self, node: FieldNode, parent: GraphQLNamedType, visiting: frozenset[str]) -> _Size:
        name = node.name.value
        definition = _META_FIELDS.get(name) if name.startswith("__") else None
        if definition is None and isinstance(parent, GraphQLObjectType):
            definition = parent.fields.get(name)
        if definition is None:
            return 1, 0  # __typename, or a field validation refuses
        fields, objects = self._selections(
            node.selection_set, get_named_type(definition.type), visiting
        )
        if "first" not in definition.args:
            return 1 + fields, objects
        # A page of 0 still costs its query: count every call as at least one object.
        page = max(1, self._page_size(node))
        return 1 + fields, page + page * objects

    def _page_size(self, node: FieldNode) -> int:
        argument = next((a for a in node.arguments or () if a.name.value == "first"), None)
        value: Any = None
        if argument is not None:
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                name = argument.value.name.value
                value = self._variables.get(name)
                default = self._defaults.get(name)
                if value is None and isinstance(default, IntValueNode):
                    value = int(default.value)
        # GraphQL's Int accepts 100.0 (and 1e2) as 100.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        # Anything else is refused when the field runs; count it as the default page.
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return DEFAULT_PAGE_SIZE
        return value
