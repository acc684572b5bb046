"""Problems print like compiler messages; did-you-mean finds typos; ConfigError carries all."""

from __future__ import annotations

from runner.config import ConfigError, Problem, did_you_mean, format_path, suggestion


def test_problem_prints_file_line_column_path_message_and_context() -> None:
    problem = Problem("connections.yaml", 14, 9, ("connections", "crm", "tenant_id"),
                      "field required", context="dynamics365")

    assert str(problem) == (
        "connections.yaml:14:9: connections.crm.tenant_id: field required (dynamics365)"
    )


def test_list_indexes_print_in_brackets() -> None:
    assert format_path(("actions", 1, "table")) == "actions[1].table"
    assert format_path((0, "x")) == "[0].x"
    assert format_path(()) == ""


def test_warning_is_marked_and_missing_parts_are_left_out() -> None:
    warning = Problem("c.yaml", 3, 5, ("a",), "literal secret", severity="warning")
    no_position = Problem("c.yaml", None, None, (), "cannot read: No such file or directory")

    assert str(warning) == "c.yaml:3:5: warning: a: literal secret"
    assert str(no_position) == "c.yaml: cannot read: No such file or directory"


def test_did_you_mean_suggests_the_closest_candidate_or_nothing() -> None:
    keys = ["tenant_id", "client_id", "client_secret"]

    assert did_you_mean("tenantid", keys) == "tenant_id"
    assert did_you_mean("Client_Secret", keys) == "client_secret"
    assert did_you_mean("zzz", keys) is None
    assert suggestion("clientid", keys) == " (did you mean 'client_id'?)"
    assert suggestion("zzz", keys) == ""


def test_did_you_mean_prefers_the_earlier_candidate_on_a_tie() -> None:
    assert did_you_mean("dynamics", ["dynamics365", "dynamics_fo"]) == "dynamics365"


def test_config_error_carries_every_problem_in_file_order() -> None:
    late = Problem("c.yaml", 9, 1, ("b",), "second")
    early = Problem("c.yaml", 2, 3, ("a",), "first")
    warning = Problem("c.yaml", 5, 1, ("w",), "careful", severity="warning")

    error = ConfigError([late, warning, early])

    assert error.problems == (early, warning, late)
    assert error.errors == (early, late)
    assert error.warnings == (warning,)
    assert str(error).splitlines() == [str(early), str(warning), str(late)]
