"""The table of event types, and what the rest of hinder derives from it."""

import pytest

from collector import impact
from collector.report import fmt
from collector.report.assemble import APP_TYPES, VERSION_TYPES
from contract import events
from contract.events import TABLE, Cost
from contract.records import Event, rules
from contract.settings import ConfigError, load_section


def test_names_are_unique_snake_case_and_what_the_wire_accepts():
    names = [t.name for t in TABLE]
    assert len(set(names)) == len(names)
    assert all(n.isidentifier() and n == n.lower() for n in names)
    type_rule = next(r for r in rules(Event) if r.name == "type")
    assert events.EVENT_TYPES == tuple(names)
    assert type_rule.choices == events.WIRE_TYPES == tuple(t.name for t in TABLE if t.from_agent)
    assert "support" not in events.WIRE_TYPES, "the support cause comes from tickets, never from an agent"


def test_each_row_is_complete():
    for t in TABLE:
        assert t.meaning and t.label and t.label[0].isupper(), t.name
        assert t.recovery_s == 0 or t.cost is Cost.RECOVERY, f"{t.name}: only RECOVERY types have a recovery time"
        assert not t.versioned or t.of_app, f"{t.name}: a version is an application's"


def test_the_model_costs_each_type_by_its_row():
    assert set(impact.DURATION_TYPES) | set(impact.EXCESS_TYPES) | set(impact.RECOVERY_TYPES) == set(events.EVENT_TYPES)
    assert impact.PRIORITY == events.EVENT_TYPES
    # the most fundamental causes first: a machine down, or not yet usable, explains everything on it
    assert impact.PRIORITY[:4] == ("unexpected_shutdown", "boot", "logon", "connectivity_loss")


def test_every_recovery_type_has_its_setting_with_the_table_default():
    cfg = impact.ModelConfig()
    for t in TABLE:
        key = impact.recovery_setting(t.name)
        assert hasattr(cfg, key) == (t.cost is Cost.RECOVERY)
        if t.cost is Cost.RECOVERY:
            assert cfg.recovery_s(t.name, "any") == t.recovery_s
            assert load_section(impact.ModelConfig, {key: 42}, "model").recovery_s(t.name, "any") == 42.0
    with pytest.raises(ConfigError, match="model.hang_recovery_s: unknown key"):
        load_section(impact.ModelConfig, {"hang_recovery_s": 1}, "model")  # a DURATION type has none


def test_reports_name_types_and_pick_app_types_from_the_table():
    assert fmt.type_label("crash") == "Crashes" and fmt.type_label("something_new") == "Something new"
    assert set(APP_TYPES) == {"crash", "hang", "slow_app", "app_unavailable", "abnormal_exit"}
    assert set(VERSION_TYPES) == {"crash", "hang", "app_unavailable", "abnormal_exit"}


def test_a_routine_measurement_is_a_disruption_only_beyond_its_threshold():
    assert events.ROUTINE_TYPES == ("boot", "logon")
    assert events.is_disruption("crash", {})
    assert events.is_disruption("boot", {"excess_s": 12.5})
    for details in ({}, {"excess_s": 0}, {"excess_s": None}, {"excess_s": True}, {"excess_s": "9"}):
        assert not events.is_disruption("logon", details), details
