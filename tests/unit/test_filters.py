"""Behaviour of ``SearchFilters`` parsing (tree shape, validation errors) and evaluation against chunk metadata."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from chalicelib.api.search_filters import parse_search_filters
from chalicelib.core.errors import ErrorKind, InvalidParameterError
from chalicelib.core.filters import (
    AnyOf,
    Equals,
    Group,
    Like,
    Node,
    NotEquals,
    Operator,
    Range,
    matches,
    referenced_fields,
)

AND = Operator.AND
OR = Operator.OR

# Words that would betray Python internals leaking into a caller-facing message.
_PYTHON_INTERNALS = re.compile(r"\b(dict|list|tuple|NoneType|None|str|int|float|bool|Traceback|object at 0x)\b")


def parse(raw: object) -> Group:
    """Parse a filter that must produce a tree."""
    tree = parse_search_filters(raw)
    assert tree is not None
    return tree


def only_subgroup(raw_subgroup: dict[str, Any]) -> Group:
    """The tree of a single-subgroup filter, unwrapped to that subgroup's ``Group``."""
    tree = parse([raw_subgroup])
    assert tree.operator is AND and len(tree.children) == 1
    subgroup = tree.children[0]
    assert isinstance(subgroup, Group)
    return subgroup


def only_condition(field: str, value: object) -> Node:
    """The single condition parsed from ``[{field: value}]``."""
    subgroup = only_subgroup({field: value})
    assert len(subgroup.children) == 1
    return subgroup.children[0]


def rejects(raw: object) -> InvalidParameterError:
    """Parse ``raw`` expecting rejection; also check the message is fit for an API caller."""
    with pytest.raises(InvalidParameterError) as caught:
        parse_search_filters(raw)
    error = caught.value
    assert error.kind is ErrorKind.INVALID_PARAMETER
    assert not _PYTHON_INTERNALS.search(error.problem), error.problem
    assert error.message == f"Parameter {error.field} is invalid: {error.problem}"
    return error


def check(raw: object, metadata: dict[str, Any]) -> bool:
    return matches(parse(raw), metadata)


# ---------------------------------------------------------------------------------------------------------------------
# Parsing: tree shape
# ---------------------------------------------------------------------------------------------------------------------


class TestTreeShape:
    def test_doc_example(self) -> None:
        raw = [
            {
                "singleQuery": "stringValue",
                "multiQuery": ["v1", "v2"],
                "logicQuery": {"like": "prefix"},
                "rangeQuery": {"gte": 1, "lte": 9},
                "_conditions": [{"singleQuery": 3}],
            },
            {"_operator": "OR", "singleQuery": "stringValue"},
        ]
        assert parse_search_filters(raw) == Group(
            AND,
            (
                Group(
                    AND,
                    (
                        Equals("singleQuery", "stringValue"),
                        AnyOf("multiQuery", ("v1", "v2")),
                        Like("logicQuery", "prefix"),
                        Range("rangeQuery", gte=1, lte=9),
                        Group(AND, (Group(AND, (Equals("singleQuery", 3),)),)),
                    ),
                ),
                Group(OR, (Equals("singleQuery", "stringValue"),)),
            ),
        )

    @pytest.mark.parametrize("raw", [None, []])
    def test_no_filter(self, raw: object) -> None:
        assert parse_search_filters(raw) is None

    def test_tuple_accepted_for_in_process_callers(self) -> None:
        assert parse_search_filters(({"a": 1},)) == Group(AND, (Group(AND, (Equals("a", 1),)),))

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("x", Equals("f", "x")),
            ("", Equals("f", "")),
            (3, Equals("f", 3)),
            (2.5, Equals("f", 2.5)),
            (True, Equals("f", True)),
            (["a", 1, 2.5, False], AnyOf("f", ("a", 1, 2.5, False))),
            (["only"], AnyOf("f", ("only",))),
            ({"eq": "x"}, Equals("f", "x")),
            ({"eq": 0}, Equals("f", 0)),
            ({"neq": "x"}, NotEquals("f", "x")),
            ({"neq": False}, NotEquals("f", False)),
            ({"like": "AbC"}, Like("f", "abc")),
            ({"like": "50%_off"}, Like("f", "50%_off")),
            ({"gt": 1}, Range("f", gt=1)),
            ({"gte": 1.5}, Range("f", gte=1.5)),
            ({"lt": -2}, Range("f", lt=-2)),
            ({"lte": 0}, Range("f", lte=0)),
            ({"gt": 1, "lt": 2}, Range("f", gt=1, lt=2)),
            ({"gte": 5, "lte": 5}, Range("f", gte=5, lte=5)),
        ],
    )
    def test_each_value_form(self, value: object, expected: Node) -> None:
        assert only_condition("f", value) == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ({"EQ": "x"}, Equals("f", "x")),
            ({"Neq": 1}, NotEquals("f", 1)),
            ({"LIKE": "Q"}, Like("f", "q")),
            ({"GTE": 1, "Lt": 3}, Range("f", gte=1, lt=3)),
        ],
    )
    def test_property_names_ignore_case(self, value: object, expected: Node) -> None:
        assert only_condition("f", value) == expected

    @pytest.mark.parametrize(("written", "operator"), [("AND", AND), ("and", AND), ("Or", OR), ("oR", OR)])
    def test_operator_value_ignores_case(self, written: str, operator: Operator) -> None:
        assert only_subgroup({"_operator": written, "a": 1}).operator is operator

    def test_reserved_keys_ignore_case(self) -> None:
        subgroup = only_subgroup({"_Operator": "or", "a": 1, "_CONDITIONS": [{"b": 2}], "_Conditions_Operator": "and"})
        assert subgroup == Group(OR, (Equals("a", 1), Group(AND, (Group(AND, (Equals("b", 2),)),))))

    def test_default_operator_is_and(self) -> None:
        assert only_subgroup({"a": 1, "b": 2}).operator is AND

    def test_conditions_inherit_operator(self) -> None:
        subgroup = only_subgroup({"_operator": "OR", "a": 1, "_conditions": [{"b": 2}, {"c": 3}]})
        block = subgroup.children[-1]
        assert subgroup.operator is OR
        assert block == Group(OR, (Group(AND, (Equals("b", 2),)), Group(AND, (Equals("c", 3),))))

    def test_conditions_operator_overrides(self) -> None:
        subgroup = only_subgroup(
            {"_operator": "OR", "a": 1, "_conditions_operator": "AND", "_conditions": [{"b": 2}, {"c": 3}]}
        )
        assert subgroup.operator is OR
        assert subgroup.children[-1] == Group(AND, (Group(AND, (Equals("b", 2),)), Group(AND, (Equals("c", 3),))))

    def test_nested_subgroup_has_its_own_operator(self) -> None:
        subgroup = only_subgroup({"_conditions": [{"_operator": "or", "b": 2, "c": 3}]})
        assert subgroup == Group(AND, (Group(AND, (Group(OR, (Equals("b", 2), Equals("c", 3))),)),))

    def test_conditions_block_is_last_child_whatever_its_key_position(self) -> None:
        subgroup = only_subgroup({"_conditions": [{"b": 2}], "a": 1})
        assert subgroup.children == (Equals("a", 1), Group(AND, (Group(AND, (Equals("b", 2),)),)))

    def test_subgroup_with_only_conditions(self) -> None:
        assert only_subgroup({"_conditions": [{"b": 2}]}) == Group(AND, (Group(AND, (Group(AND, (Equals("b", 2),)),)),))

    def test_five_levels_of_nesting_allowed(self) -> None:
        raw: dict[str, Any] = {"leaf": 1}
        for _ in range(5):
            raw = {"_conditions": [raw]}
        node: Node = only_subgroup(raw)
        for _ in range(11):  # the subgroup, then 5 times a _conditions block and the nested subgroup it holds
            assert isinstance(node, Group) and len(node.children) == 1
            node = node.children[0]
        assert node == Equals("leaf", 1)

    @pytest.mark.parametrize("name", ["分类", "作者名", "price", "a", "Größe", "x_1-y", "a" * 128, "カテゴリ", "A1"])
    def test_valid_field_names(self, name: str) -> None:
        assert only_condition(name, "v") == Equals(name, "v")

    def test_cjk_values(self) -> None:
        assert only_subgroup({"分类": "新闻", "标签": ["体育", "财经"], "标题": {"like": "北京"}}).children == (
            Equals("分类", "新闻"),
            AnyOf("标签", ("体育", "财经")),
            Like("标题", "北京"),
        )

    def test_field_names_are_case_sensitive(self) -> None:
        assert only_subgroup({"Tag": 1, "tag": 2}).children == (Equals("Tag", 1), Equals("tag", 2))

    def test_exactly_100_conditions_and_items_allowed(self) -> None:
        tree = parse([{f"f{i}": list(range(100)) for i in range(100)}])
        assert len(referenced_fields(tree)) == 100

    def test_string_of_1000_characters_allowed(self) -> None:
        assert only_condition("f", "x" * 1000) == Equals("f", "x" * 1000)

    def test_nodes_are_frozen_and_hashable(self) -> None:
        tree = parse([{"a": [1, 2], "b": {"like": "x"}}])
        assert hash(tree) == hash(parse([{"a": [1, 2], "b": {"like": "X"}}]))
        with pytest.raises(AttributeError):
            tree.operator = OR  # type: ignore[misc]


class TestReferencedFields:
    def test_collects_every_field_at_every_depth(self) -> None:
        tree = parse(
            [
                {"a": 1, "b": {"gt": 1}, "_conditions": [{"c": ["x"], "_conditions": [{"d": {"neq": 1}}]}]},
                {"_operator": "or", "a": 2, "分类": {"like": "z"}},
            ]
        )
        assert referenced_fields(tree) == frozenset({"a", "b", "c", "d", "分类"})

    def test_single_condition(self) -> None:
        assert referenced_fields(Like("t", "x")) == frozenset({"t"})


# ---------------------------------------------------------------------------------------------------------------------
# Parsing: errors
# ---------------------------------------------------------------------------------------------------------------------


class TestErrors:
    @pytest.mark.parametrize(
        ("raw", "kind"),
        [({"a": 1}, "an object"), ("[]", "a string"), (3, "a number"), (True, "a boolean")],
    )
    def test_not_an_array(self, raw: object, kind: str) -> None:
        error = rejects(raw)
        assert error.field == "SearchFilters"
        assert kind in error.problem and "array" in error.problem

    def test_custom_wire_name(self) -> None:
        with pytest.raises(InvalidParameterError) as caught:
            parse_search_filters([{"a": None}], wire_name="Filters")
        assert caught.value.field == "Filters[0].a"

    @pytest.mark.parametrize(("item", "kind"), [(None, "null"), ([], "an array"), ("x", "a string"), (1, "a number")])
    def test_element_not_an_object(self, item: object, kind: str) -> None:
        error = rejects([{"a": 1}, item])
        assert error.field == "SearchFilters[1]"
        assert "object" in error.problem and kind in error.problem

    @pytest.mark.parametrize("subgroup", [{}, {"_operator": "OR"}])
    def test_empty_subgroup(self, subgroup: dict[str, Any]) -> None:
        error = rejects([{"a": 1}, subgroup])
        assert error.field == "SearchFilters[1]"
        assert "empty" in error.problem

    @pytest.mark.parametrize("key", ["_operator", "_conditions_operator"])
    @pytest.mark.parametrize(
        ("value", "fragment"),
        [
            (1, "not a number"),
            (None, "not null"),
            (["OR"], "not an array"),
            (True, "not a boolean"),
            ("XOR", '"XOR"'),
            ("", '""'),
            (" OR", '" OR"'),
            ("&&", '"&&"'),
        ],
    )
    def test_bad_operator(self, key: str, value: object, fragment: str) -> None:
        error = rejects([{"a": 1}, {"a": 1, key: value, "_conditions": [{"b": 1}]}])
        assert error.field == f"SearchFilters[1].{key}"
        assert '"AND" or "OR"' in error.problem and fragment in error.problem

    def test_conditions_operator_without_conditions(self) -> None:
        error = rejects([{"a": 1, "_conditions_operator": "OR"}])
        assert error.field == "SearchFilters[0]._conditions_operator"
        assert "_conditions" in error.problem

    @pytest.mark.parametrize("value", [[], {}, {"b": 1}, "x", None, 1])
    def test_bad_conditions(self, value: object) -> None:
        error = rejects([{"a": 1, "_conditions": value}])
        assert error.field == "SearchFilters[0]._conditions"
        assert "non-empty array" in error.problem

    def test_error_inside_conditions_names_the_nested_path(self) -> None:
        error = rejects([{"_conditions": [{"a": 1}, {"b": 1}, {"tag": None}]}])
        assert error.field == "SearchFilters[0]._conditions[2].tag"

    def test_error_deep_inside_conditions(self) -> None:
        error = rejects([{"a": 1}, {"_conditions": [{"_conditions": [{"price": {"gt": "five"}}]}]}])
        assert error.field == "SearchFilters[1]._conditions[0]._conditions[0].price.gt"

    def test_nested_element_not_an_object(self) -> None:
        error = rejects([{"_conditions": [{"a": 1}, "b"]}])
        assert error.field == "SearchFilters[0]._conditions[1]"

    def test_nested_empty_subgroup(self) -> None:
        error = rejects([{"_conditions": [{"_operator": "or"}]}])
        assert error.field == "SearchFilters[0]._conditions[0]"

    def test_nesting_deeper_than_five_levels(self) -> None:
        raw: dict[str, Any] = {"leaf": 1}
        for _ in range(6):
            raw = {"_conditions": [raw]}
        error = rejects([raw])
        assert error.field == "SearchFilters[0]" + "._conditions[0]" * 5 + "._conditions"
        assert "5" in error.problem

    @pytest.mark.parametrize("key", ["_id", "_op", "_", "__conditions", "_operators"])
    def test_unknown_reserved_key(self, key: str) -> None:
        error = rejects([{"a": 1, key: "x"}])
        assert error.field == f"SearchFilters[0].{key}"
        assert "unknown reserved key" in error.problem

    def test_reserved_key_given_twice_in_different_cases(self) -> None:
        error = rejects([{"a": 1, "_operator": "OR", "_OPERATOR": "AND"}])
        assert error.field == "SearchFilters[0]._OPERATOR"
        assert "more than once" in error.problem

    @pytest.mark.parametrize("name", ["1abc", "9", ".a", "a.b", "a b", "", "a" * 129, "-a", "a/b", "a$", "a\n"])
    def test_invalid_field_name(self, name: str) -> None:
        error = rejects([{name: 1}])
        assert error.field == "SearchFilters[0]"
        assert "not a valid field name" in error.problem

    def test_invalid_field_name_is_quoted_and_shortened(self) -> None:
        error = rejects([{"9" * 500: 1}])
        assert '"' + "9" * 64 + '..."' in error.problem
        assert len(error.problem) < 300

    def test_null_value(self) -> None:
        error = rejects([{"tag": None}])
        assert error.field == "SearchFilters[0].tag"
        assert "null" in error.problem

    def test_empty_list(self) -> None:
        error = rejects([{"tag": []}])
        assert error.field == "SearchFilters[0].tag"
        assert "empty array" in error.problem

    @pytest.mark.parametrize(("item", "kind"), [(None, "null"), ({"eq": 1}, "an object"), ([1], "an array")])
    def test_bad_list_element(self, item: object, kind: str) -> None:
        error = rejects([{"tag": ["a", item]}])
        assert error.field == "SearchFilters[0].tag[1]"
        assert kind in error.problem

    def test_list_too_long(self) -> None:
        error = rejects([{"tag": list(range(101))}])
        assert error.field == "SearchFilters[0].tag"
        assert "100" in error.problem

    def test_empty_object(self) -> None:
        error = rejects([{"price": {}}])
        assert error.field == "SearchFilters[0].price"
        assert "empty object" in error.problem

    @pytest.mark.parametrize("key", ["between", "in", "ne", "equals", "_op", ""])
    def test_unknown_property(self, key: str) -> None:
        error = rejects([{"price": {key: 1}}])
        assert error.field == f"SearchFilters[0].price.{key}"
        assert "unknown property" in error.problem

    def test_unknown_property_alongside_known_ones(self) -> None:
        error = rejects([{"price": {"gt": 1, "between": [1, 2]}}])
        assert error.field == "SearchFilters[0].price.between"

    def test_property_given_twice_in_different_cases(self) -> None:
        error = rejects([{"price": {"eq": 1, "EQ": 2}}])
        assert error.field == "SearchFilters[0].price.EQ"
        assert "more than once" in error.problem

    @pytest.mark.parametrize(
        "value",
        [{"eq": 1, "neq": 2}, {"eq": 1, "like": "x"}, {"neq": 1, "like": "x"}, {"eq": 1, "neq": 1, "like": "1"}],
    )
    def test_two_of_eq_neq_like(self, value: dict[str, Any]) -> None:
        error = rejects([{"f": value}])
        assert error.field == "SearchFilters[0].f"
        assert "only one of eq, neq and like" in error.problem

    @pytest.mark.parametrize("value", [{"eq": 1, "gt": 0}, {"like": "x", "lte": 3}, {"neq": 2, "gte": 1, "lt": 5}])
    def test_match_mixed_with_range(self, value: dict[str, Any]) -> None:
        error = rejects([{"f": value}])
        assert error.field == "SearchFilters[0].f"
        assert "cannot combine" in error.problem

    @pytest.mark.parametrize(
        ("value", "fragment"), [({"gt": 1, "gte": 2}, "lower bound"), ({"LT": 1, "lte": 0}, "upper bound")]
    )
    def test_two_bounds_on_one_side(self, value: dict[str, Any], fragment: str) -> None:
        error = rejects([{"price": value}])
        assert error.field == "SearchFilters[0].price"
        assert fragment in error.problem

    @pytest.mark.parametrize(
        "value",
        [{"gte": 9, "lte": 1}, {"gt": 5, "lt": 5}, {"gt": 5, "lte": 5}, {"gte": 5, "lt": 5}, {"gt": 2.5, "lt": 1}],
    )
    def test_empty_range(self, value: dict[str, Any]) -> None:
        error = rejects([{"price": value}])
        assert error.field == "SearchFilters[0].price"
        assert "empty range" in error.problem

    @pytest.mark.parametrize(
        ("operand", "kind"),
        [("five", "a string"), (True, "a boolean"), (None, "null"), ([1], "an array"), ({}, "an object")],
    )
    @pytest.mark.parametrize("bound", ["gt", "gte", "lt", "LTE"])
    def test_range_bound_not_a_number(self, bound: str, operand: object, kind: str) -> None:
        error = rejects([{"price": {bound: operand}}])
        assert error.field == f"SearchFilters[0].price.{bound}"
        assert "must be a number" in error.problem and kind in error.problem

    @pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
    @pytest.mark.parametrize(
        ("make", "path"),
        [
            (lambda n: {"f": n}, "SearchFilters[0].f"),
            (lambda n: {"f": [1, n]}, "SearchFilters[0].f[1]"),
            (lambda n: {"f": {"eq": n}}, "SearchFilters[0].f.eq"),
            (lambda n: {"f": {"neq": n}}, "SearchFilters[0].f.neq"),
            (lambda n: {"f": {"gt": n}}, "SearchFilters[0].f.gt"),
            (lambda n: {"f": {"lte": n}}, "SearchFilters[0].f.lte"),
        ],
    )
    def test_non_finite_numbers(self, number: float, make: Any, path: str) -> None:
        error = rejects([make(number)])
        assert error.field == path
        assert "finite" in error.problem

    @pytest.mark.parametrize(
        ("make", "path"),
        [
            (lambda s: {"f": s}, "SearchFilters[0].f"),
            (lambda s: {"f": ["a", s]}, "SearchFilters[0].f[1]"),
            (lambda s: {"f": {"eq": s}}, "SearchFilters[0].f.eq"),
            (lambda s: {"f": {"neq": s}}, "SearchFilters[0].f.neq"),
            (lambda s: {"f": {"like": s}}, "SearchFilters[0].f.like"),
        ],
    )
    def test_string_too_long(self, make: Any, path: str) -> None:
        error = rejects([make("x" * 1001)])
        assert error.field == path
        assert "1,000 characters" in error.problem

    @pytest.mark.parametrize("key", ["eq", "neq"])
    @pytest.mark.parametrize(("operand", "kind"), [(None, "null"), ([1], "an array"), ({"eq": 1}, "an object")])
    def test_bad_eq_neq_operand(self, key: str, operand: object, kind: str) -> None:
        error = rejects([{"f": {key: operand}}])
        assert error.field == f"SearchFilters[0].f.{key}"
        assert kind in error.problem

    @pytest.mark.parametrize(
        ("operand", "fragment"),
        [("", "empty string"), (1, "a number"), (None, "null"), (["a"], "an array"), (True, "a boolean")],
    )
    def test_bad_like_operand(self, operand: object, fragment: str) -> None:
        error = rejects([{"f": {"like": operand}}])
        assert error.field == "SearchFilters[0].f.like"
        assert fragment in error.problem

    def test_more_than_100_conditions_in_one_subgroup(self) -> None:
        error = rejects([{f"f{i}": i for i in range(101)}])
        assert error.field == "SearchFilters"
        assert "100 field conditions" in error.problem

    def test_more_than_100_conditions_across_subgroups_and_nesting(self) -> None:
        nested = {"_conditions": [{f"n{i}": i for i in range(50)}]}
        error = rejects([{f"a{i}": i for i in range(30)}, nested, {f"b{i}": i for i in range(21)}])
        assert error.field == "SearchFilters"

    def test_a_list_counts_as_one_condition(self) -> None:
        assert parse([{f"f{i}": [1, 2, 3] for i in range(100)}]) is not None

    @pytest.mark.parametrize("value", [object(), {1, 2}, b"bytes"])
    def test_unsupported_python_value(self, value: object) -> None:
        error = rejects([{"f": value}])
        assert error.field == "SearchFilters[0].f"

    def test_non_string_keys(self) -> None:
        assert rejects([{1: "a"}]).field == "SearchFilters[0]"
        assert rejects([{"f": {1: "a"}}]).field == "SearchFilters[0].f"


# ---------------------------------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------------------------------


class TestEquality:
    @pytest.mark.parametrize(
        ("expected", "stored", "result"),
        [
            ("a", "a", True),
            ("a", "A", False),
            ("a", "a ", False),
            (3, 3, True),
            (3, 3.0, True),
            (3.0, 3, True),
            (3, 4, False),
            (3, "3", False),
            ("3", 3, True),  # a filter string that reads as a number reaches numeric fields (string-only clients)
            ("3.0", 3, True),
            ("1e3", 1000, True),
            ("3", "3.0", False),
            (True, True, True),
            (False, False, True),
            (True, False, False),
            (True, 1, False),
            (1, True, False),
            (0, False, False),
            (False, 0, False),
            (1.0, True, False),
            ("", "", True),
            (1, None, False),
            (1, {"x": 1}, False),
            (1, math.nan, False),
        ],
    )
    def test_single_value_and_eq(self, expected: object, stored: object, result: bool) -> None:
        assert check([{"f": expected}], {"f": stored}) is result
        assert check([{"f": {"eq": expected}}], {"f": stored}) is result
        assert check([{"f": {"neq": expected}}], {"f": stored}) is not result

    def test_cjk(self) -> None:
        assert check([{"分类": "新闻"}], {"分类": "新闻"})
        assert not check([{"分类": "新闻"}], {"分类": "体育"})

    def test_missing_field(self) -> None:
        assert not check([{"f": 1}], {})
        assert not check([{"f": {"eq": 1}}], {"g": 1})
        assert check([{"f": {"neq": 1}}], {})

    def test_stored_list_any_element(self) -> None:
        assert check([{"tag": "b"}], {"tag": ["a", "b"]})
        assert check([{"tag": 2}], {"tag": ("x", 2.0)})
        assert not check([{"tag": "c"}], {"tag": ["a", "b"]})
        assert not check([{"tag": True}], {"tag": [1, 0]})
        assert not check([{"tag": "a"}], {"tag": []})

    def test_neq_on_stored_list_holds_when_no_element_equals(self) -> None:
        assert check([{"tag": {"neq": "c"}}], {"tag": ["a", "b"]})
        assert not check([{"tag": {"neq": "b"}}], {"tag": ["a", "b"]})
        assert check([{"tag": {"neq": "b"}}], {"tag": []})
        assert check([{"tag": {"neq": 1}}], {"tag": [True]})


class TestAnyOf:
    @pytest.mark.parametrize(
        ("values", "stored", "result"),
        [
            (["a", "b"], "b", True),
            (["a", "b"], "c", False),
            (["a", 1], 1.0, True),
            (["a", 1], "1", False),
            ([1, 2], True, False),
            ([True], 1, False),
            ([True, "x"], True, True),
            ([0], False, False),
            (["体育", "财经"], "财经", True),
            ([1], None, False),
        ],
    )
    def test_scalar_stored(self, values: list[object], stored: object, result: bool) -> None:
        assert check([{"f": values}], {"f": stored}) is result

    def test_stored_list(self) -> None:
        assert check([{"tag": ["x", "y"]}], {"tag": ["a", "y"]})
        assert not check([{"tag": ["x", "y"]}], {"tag": ["a", "b"]})
        assert not check([{"tag": ["x"]}], {"tag": [["x"]]})

    def test_missing_field(self) -> None:
        assert not check([{"f": ["a"]}], {})

    def test_hand_built_node(self) -> None:
        assert matches(AnyOf("f", ("a", 2)), {"f": 2.0})


class TestLike:
    @pytest.mark.parametrize(
        ("needle", "stored", "result"),
        [
            ("prefix", "prefix-and-more", True),
            ("PREFIX", "the Prefix here", True),
            ("fix", "prefix", True),
            ("abc", "ab", False),
            # % is the wildcard (any run, the empty one too) and a pattern with % matches the whole value
            ("50%", "save 50% now", False),
            ("%50%", "save 50% now", True),
            ("save%", "save 50% now", True),
            ("5%", "save 50 now", False),
            ("a_c", "abc", False),
            ("a_c", "xa_cx", True),
            ("a%c", "abc", True),
            ("a%c", "ac", True),
            ("a%c", "abcd", False),
            ("a%b%c", "aXbYc", True),
            ("a%b%c", "acb", False),
            ("ab%bc", "abc", False),  # the two runs may not overlap
            ("技%员", "技术人员", True),
            ("技%员", "技术人员们", False),
            ("WARR%", "warranty.md", True),
            ("%", "anything", True),
            ("北京", "我在北京工作", True),
            ("上海", "我在北京工作", False),
            ("straße", "STRASSE", True),
            ("1", 1, False),
            ("true", True, False),
            ("x", None, False),
        ],
    )
    def test_substring(self, needle: str, stored: object, result: bool) -> None:
        assert check([{"f": {"like": needle}}], {"f": stored}) is result

    def test_stored_list(self) -> None:
        assert check([{"f": {"like": "ell"}}], {"f": [1, "HELLO"]})
        assert not check([{"f": {"like": "ell"}}], {"f": [1, "world"]})

    def test_missing_field(self) -> None:
        assert not check([{"f": {"like": "a"}}], {})


class TestRange:
    @pytest.mark.parametrize(
        ("bounds", "stored", "result"),
        [
            ({"gt": 1}, 1, False),
            ({"gt": 1}, 1.0001, True),
            ({"gte": 1}, 1, True),
            ({"gte": 1}, 0.999, False),
            ({"lt": 1}, 1, False),
            ({"lt": 1}, -5, True),
            ({"lte": 1}, 1.0, True),
            ({"lte": 1}, 2, False),
            ({"gte": 1, "lte": 9}, 9, True),
            ({"gte": 1, "lte": 9}, 10, False),
            ({"gt": 1, "lt": 9}, 5.5, True),
            ({"gte": 1, "lte": 9}, "5", False),
            ({"gte": 0}, True, False),
            ({"lte": 1}, False, False),
            ({"gte": 0}, math.nan, False),
            ({"gte": 0}, math.inf, True),
            ({"gte": 0}, None, False),
        ],
    )
    def test_numeric_only(self, bounds: dict[str, Any], stored: object, result: bool) -> None:
        assert check([{"f": bounds}], {"f": stored}) is result

    def test_stored_list(self) -> None:
        assert check([{"f": {"gt": 10}}], {"f": [1, "20", 11]})
        assert not check([{"f": {"gt": 10}}], {"f": [1, "20"]})

    def test_missing_field(self) -> None:
        assert not check([{"f": {"gt": 0}}], {})


class TestCombination:
    def test_subgroups_are_anded(self) -> None:
        raw = [{"a": 1}, {"b": 2}]
        assert check(raw, {"a": 1, "b": 2})
        assert not check(raw, {"a": 1, "b": 3})

    def test_or_subgroup(self) -> None:
        raw = [{"_operator": "OR", "a": 1, "b": 2}]
        assert check(raw, {"a": 1})
        assert check(raw, {"b": 2})
        assert not check(raw, {"a": 2, "b": 1})

    def test_or_subgroup_anded_with_and_subgroup(self) -> None:
        raw = [{"kind": "news"}, {"_operator": "or", "lang": "zh", "region": "cn"}]
        assert check(raw, {"kind": "news", "region": "cn"})
        assert not check(raw, {"kind": "blog", "lang": "zh"})

    def test_conditions_inherit_or(self) -> None:
        # a OR (b OR c)
        raw = [{"_operator": "OR", "a": 1, "_conditions": [{"b": 1}, {"c": 1}]}]
        assert check(raw, {"c": 1})
        assert check(raw, {"a": 1})
        assert not check(raw, {"d": 1})

    def test_conditions_inherit_and(self) -> None:
        # a AND (b AND c)
        raw = [{"a": 1, "_conditions": [{"b": 1}, {"c": 1}]}]
        assert check(raw, {"a": 1, "b": 1, "c": 1})
        assert not check(raw, {"a": 1, "b": 1})

    def test_explicit_conditions_operator(self) -> None:
        # a AND (b OR c)
        raw = [{"a": 1, "_conditions_operator": "OR", "_conditions": [{"b": 1}, {"c": 1}]}]
        assert check(raw, {"a": 1, "c": 1})
        assert not check(raw, {"b": 1, "c": 1})
        assert not check(raw, {"a": 1})

    def test_explicit_and_inside_or(self) -> None:
        # a OR (b AND c)
        raw = [{"_operator": "OR", "a": 1, "_conditions_operator": "AND", "_conditions": [{"b": 1}, {"c": 1}]}]
        assert check(raw, {"a": 1})
        assert check(raw, {"b": 1, "c": 1})
        assert not check(raw, {"b": 1})

    def test_deep_nesting(self) -> None:
        raw = [{"a": 1, "_conditions": [{"_operator": "or", "b": 1, "_conditions": [{"c": {"gte": 5}, "d": ["x"]}]}]}]
        assert check(raw, {"a": 1, "b": 1})
        assert check(raw, {"a": 1, "c": 7, "d": ["y", "x"]})
        assert not check(raw, {"a": 1, "c": 7})
        assert not check(raw, {"b": 1})

    def test_doc_example(self) -> None:
        raw = [
            {
                "singleQuery": "stringValue",
                "multiQuery": ["v1", "v2"],
                "logicQuery": {"like": "prefix"},
                "rangeQuery": {"gte": 1, "lte": 9},
                "_conditions": [{"multiQuery": "v2"}],
            },
            {"_operator": "OR", "singleQuery": "stringValue"},
        ]
        good = {"singleQuery": "stringValue", "multiQuery": ["v2", "v3"], "logicQuery": "a PREFIX b", "rangeQuery": 9}
        assert check(raw, good)
        assert not check(raw, {**good, "rangeQuery": 9.5})
        assert not check(raw, {**good, "multiQuery": "v1"})
        assert not check(raw, {**good, "logicQuery": "pre fix"})

    def test_matches_a_bare_condition_and_empty_groups(self) -> None:
        assert matches(Equals("a", 1), {"a": 1})
        assert matches(Group(AND, ()), {})
        assert not matches(Group(OR, ()), {})

    def test_rejects_non_nodes(self) -> None:
        with pytest.raises(TypeError):
            matches("a", {})  # type: ignore[arg-type]

    def test_works_over_many_metadata_dicts(self) -> None:
        tree = parse([{"tag": ["a", "b"], "n": {"gte": 50}, "t": {"like": "X"}}])
        rows = [{"tag": "ab"[i % 2], "n": i % 100, "t": f"x{i}"} for i in range(20_000)]
        assert sum(matches(tree, row) for row in rows) == 10_000


class TestValuesAsJsonText:
    """The official SearchFilters page's samples, as string-only clients (the Go and Java SDKs) send them."""

    def test_an_array_as_json_text_is_any_of(self) -> None:
        assert check([{"tags": '["a","b"]'}], {"tags": "b"})
        assert not check([{"tags": '["a","b"]'}], {"tags": "c"})

    def test_a_range_as_json_text(self) -> None:
        assert check([{"age": '{"gte":20,"lte":27}'}], {"age": 25})
        assert not check([{"age": '{"gte":20,"lte":27}'}], {"age": 28})

    def test_like_as_json_text_with_a_wildcard(self) -> None:
        assert check([{"post": '{"like":"技%员"}'}], {"post": "技术人员"})
        assert not check([{"post": '{"like":"技%员"}'}], {"post": "人员技术"})

    def test_conditions_as_json_text(self) -> None:
        filters = [{"_operator": "OR", "a": "x", "_conditions": '[{"b": "{\\"gt\\": 1}"}]'}]
        assert check(filters, {"a": "y", "b": 2})
        assert not check(filters, {"a": "y", "b": 1})

    def test_numeric_text_reaches_numbers_everywhere(self) -> None:
        assert check([{"year": "2024"}], {"year": 2024})
        assert check([{"year": ["2023", "2024"]}], {"year": 2024})
        assert check([{"year": {"gte": "2024"}}], {"year": 2024})
        assert not check([{"year": {"neq": "2024"}}], {"year": 2024})
        assert check([{"year": "2024"}], {"year": "2024"})

    def test_text_that_only_looks_like_json_stays_a_literal(self) -> None:
        assert check([{"label": "[draft]"}], {"label": "[draft]"})
        assert check([{"label": "{x"}], {"label": "{x"})

    def test_json_text_errors_name_the_field(self) -> None:
        assert rejects([{"age": '{"between": 1}'}]).field == "SearchFilters[0].age.between"
