"""A limit on how many objects one operation may ask for, checked before anything runs.

Depth and alias limits do not bound a query like
`projects(first: 100) { edges { node { apiKeys(first: 100) { ... clientIps(first: 100) } } } }`:
a million objects and ten thousand queries from a few hundred bytes. Here every connection
(a field taking `first`) multiplies what is below it by its page size - `first` as sent, from a
variable, or the default page size - and an operation whose total passes the limit is refused
with `QUERY_TOO_COMPLEX`, naming its size.

The check needs the variables, so it cannot be a validation rule (validation results are cached
per document); it runs just after validation, once per request, over the operation's syntax
tree: a few microseconds for the queries clients send.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from strawberry.extensions import SchemaExtension

from app.pagination import DEFAULT_PAGE_SIZE


class LimitQueryCost(SchemaExtension):
    """Goes after ValidationCache in the extension list: it reads validation's verdict."""

    def __init__(self, *, max_objects: int) -> None:
        super().__init__()
        self._max_objects = max_objects

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if not context.pre_execution_errors and document is not None:
            operation = _operation(document.definitions, context.operation_name)
            if operation is not None:
                fragments = {
                    definition.name.value: definition
                    for definition in document.definitions
                    if isinstance(definition, FragmentDefinitionNode)
                }
                counter = _Counter(context.schema._schema, fragments, context.variables or {})
                objects = counter.count(operation)
                if objects > self._max_objects:
                    context.pre_execution_errors = [_too_complex(objects, self._max_objects)]
        yield


def _operation(definitions: Any, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


def _too_complex(objects: int, limit: int) -> GraphQLError:
    return GraphQLError(
        f"This operation could fetch up to {objects:,} objects, over the limit of {limit:,}: "
        "ask for smaller pages with `first`, or split it.",
        extensions={"code": "QUERY_TOO_COMPLEX", "objects": objects, "limit": limit},
    )


class _Counter:
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

    def count(self, operation: OperationDefinitionNode) -> int:
        root = self._schema.get_root_type(operation.operation)
        if root is None:
            return 0
        self._defaults = {
            definition.variable.name.value: definition.default_value
            for definition in operation.variable_definitions or ()
        }
        return self._selections(operation.selection_set, root, 1, set())

    def _selections(
        self,
        selections: SelectionSetNode | None,
        parent: GraphQLNamedType,
        multiplier: int,
        visiting: set[str],
    ) -> int:
        if selections is None:
            return 0
        total = 0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                total += self._field(selection, parent, multiplier, visiting)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self._schema.get_type(condition.name.value) if condition else parent
                total += self._selections(
                    selection.selection_set, inner or parent, multiplier, visiting
                )
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self._fragments.get(name)
                if fragment is None or name in visiting:
                    continue  # validation refuses both; nothing to count
                inner = self._schema.get_type(fragment.type_condition.name.value) or parent
                total += self._selections(
                    fragment.selection_set, inner, multiplier, visiting | {name}
                )
        return total

    def _field(
        self, node: FieldNode, parent: GraphQLNamedType, multiplier: int, visiting: set[str]
    ) -> int:
        if not isinstance(parent, GraphQLObjectType):
            return 0  # __typename on a union, or introspection
        definition = parent.fields.get(node.name.value)
        if definition is None:
            return 0
        child = get_named_type(definition.type)
        if "first" not in definition.args:
            return self._selections(node.selection_set, child, multiplier, visiting)
        fetched = multiplier * self._page_size(node)
        return fetched + self._selections(node.selection_set, child, fetched, visiting)

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
        # Anything else is refused when the field runs; count it as the default page.
        return value if isinstance(value, int) and value >= 0 else DEFAULT_PAGE_SIZE
