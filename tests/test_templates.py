"""Recipe templates keep native types, refuse undefined names and cannot escape the sandbox."""

from __future__ import annotations

import pytest

from runner.templates import TemplateRenderError, check_syntax, render_value

CTX = {
    "trigger": {"record": {"fullname": "Ann O'Bryan", "revenue": 1250.5, "zip": "01234",
                           "contactid": "5f0e1c52-5b2c-4e0c-9a43-7d7a0c9b2a11", "email": None}},
    "steps": {"task": {"id": "t-1"}},
}


def test_single_expression_keeps_number_type() -> None:
    assert render_value("{{ trigger.record.revenue }}", CTX) == 1250.5


def test_string_that_looks_like_a_number_stays_a_string() -> None:
    assert render_value("{{ trigger.record.zip }}", CTX) == "01234"


def test_mixed_text_renders_to_string() -> None:
    assert render_value("Follow up with {{ trigger.record.fullname }}", CTX) == (
        "Follow up with Ann O'Bryan"
    )


def test_nested_structures_are_rendered_and_plain_values_untouched() -> None:
    value = {"a": ["{{ steps.task.id }}", 3], "b": {"c": "plain"}, "d": True}
    assert render_value(value, CTX) == {"a": ["t-1", 3], "b": {"c": "plain"}, "d": True}


def test_condition_expression_returns_boolean() -> None:
    assert render_value("{{ trigger.record.email is not none }}", CTX) is False


def test_odata_quote_doubles_quotes() -> None:
    rendered = render_value("fullname eq {{ trigger.record.fullname | odata_quote }}", CTX)
    assert rendered == "fullname eq 'Ann O''Bryan'"


def test_odata_guid_rejects_a_non_guid() -> None:
    with pytest.raises(TemplateRenderError, match=r"x\.filter"):
        render_value("{{ trigger.record.fullname | odata_guid }}", CTX, "x.filter")


def test_undefined_name_fails_with_location_and_expression() -> None:
    with pytest.raises(TemplateRenderError) as info:
        render_value("{{ trigger.record.fullnam }}", CTX, "recipes/a.yaml:14:9: actions[0].subject")
    message = str(info.value)
    assert message.startswith("recipes/a.yaml:14:9: actions[0].subject: ")
    assert "fullnam" in message


def test_sandbox_blocks_attribute_escape() -> None:
    with pytest.raises(TemplateRenderError, match="unsafe"):
        render_value("{{ ''.__class__.__mro__ }}", CTX, "x")


def test_syntax_error_is_reported_before_running() -> None:
    assert check_syntax("{{ trigger.record.fullname ") is not None
    assert check_syntax("{{ trigger.record.fullname }}") is None
