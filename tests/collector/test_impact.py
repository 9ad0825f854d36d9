"""The impact model against hand-computed expectations and its invariants."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.impact import (
    DEFAULT_CONTACT_S, HOUR, SUPPORT_TYPES, Disruption, Interval, ModelConfig, SupportTicket, cost, device_hours,
    event_span, impacted_active, loss_ratio, score, score_of, types_of,
)
from collector.support.tickets import CHANNELS
from contract.events import EVENT_TYPES
from contract.settings import ConfigError, load_section

T0 = 1_795_000_000 - 1_795_000_000 % HOUR  # an hour boundary (2026-11-18 11:00 UTC)
CFG = ModelConfig()


def busy(start: float, end: float, fraction: float = 1.0, step: float = 60.0) -> list[Interval]:
    """Heartbeats every ``step`` seconds covering [start, end] at an active fraction."""
    out, t = [], start
    while t < end:
        out.append(Interval(end=t + step, interval_s=step, active_s=step * fraction))
        t += step
    return out


def ev(type_, start, duration=0.0, app="erp", active=None, excess=None, id_=None):
    return Disruption(id=id_ or f"{type_}-{start}-{app}", type=type_, app=app, start=start,
                      duration_s=duration, active_s=active, excess_s=excess)


def by_cause(hours):
    out = {}
    for (_h, t, a), v in hours.lost.items():
        out[(t, a)] = out.get((t, a), 0.0) + v
    return out


def test_hang_costs_its_active_seconds():
    r = device_hours([ev("hang", T0 + 600, 120, active=90)], busy(T0, T0 + HOUR), CFG)
    assert r.lost == pytest.approx({(T0, "hang", "erp"): 90.0})
    assert r.disruptions == {(T0, "hang", "erp"): 1}


def test_outage_without_active_s_uses_heartbeats():
    # heartbeats half active: a 10-minute outage loses 5 minutes
    r = device_hours([ev("connectivity_loss", T0 + 600, 600, app="net")], busy(T0, T0 + HOUR, 0.5), CFG)
    assert r.lost_total() == pytest.approx(300.0)


def test_idle_period_costs_nothing():
    r = device_hours([ev("hang", T0 + 600, 300, active=0.0), ev("crash", T0 + 600)],
                     busy(T0, T0 + HOUR, 0.0), CFG)
    assert r.lost_total() == 0.0
    assert sum(r.disruptions.values()) == 2


def test_slow_app_costs_excess_times_active_fraction():
    # 8 s response, threshold 2 s: 6 s excess; active 4 of 8 s -> 3 s lost
    r = device_hours([ev("slow_app", T0 + 100, 8, active=4, excess=6)], busy(T0, T0 + HOUR), CFG)
    assert r.lost_total() == pytest.approx(3.0)


def test_slow_without_excess_costs_nothing():
    r = device_hours([ev("slow_system", T0 + 100, 60, active=60)], busy(T0, T0 + HOUR), CFG)
    assert r.lost_total() == 0.0


def test_crash_costs_recovery_time_when_active():
    hb = busy(T0, T0 + HOUR, 0.75)
    r = device_hours([ev("crash", T0 + 1000)], hb, CFG)
    assert r.lost_total() == pytest.approx(180 * 0.75)


def test_per_app_recovery_override_and_zero_cost_types():
    cfg = load_section(ModelConfig, {"app_crash_recovery_s": {"sap": 600}}, "model")
    r = device_hours([ev("crash", T0 + 60, app="sap"), ev("crash", T0 + 1800, app="mail"),
                      ev("abnormal_exit", T0 + 2400), ev("test", T0 + 2500)], busy(T0, T0 + HOUR), cfg)
    assert by_cause(r) == pytest.approx({("crash", "sap"): 600.0, ("crash", "mail"): 180.0})


def test_unexpected_shutdown_uses_last_heartbeat_before_and_recovers_after_downtime():
    # agent alive until T0+1200 (fully active), machine down 10 min, back at T0+1800
    hb = busy(T0, T0 + 1200) + busy(T0 + 1800, T0 + HOUR)
    r = device_hours([ev("unexpected_shutdown", T0 + 1230, 570, app="host")], hb, CFG)
    assert r.lost == pytest.approx({(T0, "unexpected_shutdown", "host"): 600.0})


def test_crash_with_no_heartbeat_nearby_costs_nothing():
    r = device_hours([ev("crash", T0 + 3000)], busy(T0, T0 + 600), CFG)
    assert r.lost_total() == 0.0


def test_overlapping_disruptions_are_counted_once():
    # hang 10:00-10:10, outage 10:05-10:15, all active: 15 min lost, not 20
    events = [ev("hang", T0, 600, active=600), ev("connectivity_loss", T0 + 300, 600, app="net", active=600)]
    r = device_hours(events, busy(T0, T0 + HOUR), CFG)
    # equal weight: the overlap goes to connectivity_loss (higher priority)
    assert by_cause(r) == pytest.approx({("hang", "erp"): 300.0, ("connectivity_loss", "net"): 600.0})


def test_nested_disruption_is_absorbed_by_the_worse_one():
    # a 20-minute outage at full weight contains a 5-minute hang and a slow response
    events = [ev("connectivity_loss", T0, 1200, app="net", active=1200), ev("hang", T0 + 300, 300, active=300),
              ev("slow_app", T0 + 700, 10, active=10, excess=5)]
    r = device_hours(events, busy(T0, T0 + HOUR), CFG)
    assert by_cause(r) == pytest.approx({("connectivity_loss", "net"): 1200.0})


def test_denser_span_wins_over_priority():
    # outage while the employee was mostly away (density 0.25) with a fully active hang inside
    events = [ev("connectivity_loss", T0, 1200, app="net", active=300), ev("hang", T0 + 300, 300, active=300)]
    r = device_hours(events, busy(T0, T0 + HOUR), CFG)
    assert by_cause(r) == pytest.approx({("connectivity_loss", "net"): 900 * 0.25, ("hang", "erp"): 300.0})


def test_adjacent_disruptions_both_count():
    events = [ev("hang", T0, 300, active=300), ev("hang", T0 + 300, 300, app="mail", active=300)]
    r = device_hours(events, busy(T0, T0 + HOUR), CFG)
    assert by_cause(r) == pytest.approx({("hang", "erp"): 300.0, ("hang", "mail"): 300.0})


def test_lost_is_split_at_hour_boundaries_and_capped_by_active_time():
    # outage 10:50-11:20 fully lost by the event, but heartbeats say 11:00-12:00 was only 10 min active
    hb = busy(T0, T0 + HOUR) + [Interval(end=T0 + 2 * HOUR, interval_s=HOUR, active_s=600)]
    r = device_hours([ev("connectivity_loss", T0 + 3000, 1800, app="net", active=1800)], hb, CFG)
    assert r.lost == pytest.approx({(T0, "connectivity_loss", "net"): 600.0,
                                    (T0 + HOUR, "connectivity_loss", "net"): 600.0})
    assert r.active == pytest.approx({T0: 3600.0, T0 + HOUR: 600.0})


def test_cap_rescales_causes_proportionally():
    # two causes each 300 s in an hour where only 300 s were active: 150 s each
    hb = [Interval(end=T0 + HOUR, interval_s=HOUR, active_s=300)]
    events = [ev("hang", T0, 300, active=300), ev("hang", T0 + 1000, 300, app="mail", active=300)]
    r = device_hours(events, hb, CFG)
    assert by_cause(r) == pytest.approx({("hang", "erp"): 150.0, ("hang", "mail"): 150.0})


def test_late_arrival_counts_at_event_time_and_order_does_not_matter():
    events = [ev("hang", T0 + 100, 200, active=200), ev("crash", T0 + 150), ev("slow_app", T0 + 5000, 9, active=9, excess=7)]
    hb = busy(T0, T0 + 2 * HOUR)
    a = device_hours(events, hb, CFG)
    b = device_hours(list(reversed(events)), list(reversed(hb)), CFG)
    assert a == b
    assert set(h for h, _t, _a in a.lost) == {T0, T0 + HOUR}


def test_window_recompute_equals_whole_computation():
    events = [ev("connectivity_loss", T0 + 3000, 3000, app="net", active=2000), ev("crash", T0 + 5000, app="x")]
    hb = busy(T0, T0 + 4 * HOUR, 0.8)
    whole = device_hours(events, hb, CFG)
    parts = [device_hours(events, hb, CFG, window=(T0 + i * HOUR, T0 + (i + 1) * HOUR)) for i in range(4)]
    merged = {k: v for p in parts for k, v in p.lost.items()}
    assert merged == pytest.approx(whole.lost)
    assert {k: v for p in parts for k, v in p.active.items()} == pytest.approx(whole.active)


def test_refocus_penalty_is_off_by_default_and_labelled_when_on():
    assert CFG.version == "3"
    cfg = ModelConfig(refocus_penalty_s=120)
    assert cfg.version == "3+refocus120s"
    assert cfg.versioned("1") == "1+refocus120s"
    with pytest.raises(ValueError, match="model version"):
        cfg.versioned("4")
    r = device_hours([ev("hang", T0, 60, active=60)], busy(T0, T0 + HOUR), cfg)
    assert r.lost_total() == pytest.approx(180.0)
    assert event_span(ev("hang", T0, 60), cfg) == (T0, T0 + 180)


def test_cost_and_score():
    cfg = load_section(ModelConfig, {"hourly_cost": 60, "currency": "USD",
                                     "department_hourly_cost": {"Finance": 90}}, "model")
    assert cost(5400, "Sales", cfg) == pytest.approx(90.0)
    assert cost(5400, "Finance", cfg) == pytest.approx(135.0)
    # Lakeside's published example: 30 impacted of 480 active minutes -> 93.75 %
    assert score(30 * 60, 480 * 60) == pytest.approx(0.9375)
    assert score(0, 0) is None
    assert loss_ratio(30 * 60, 480 * 60) == pytest.approx(0.0625) and loss_ratio(1, 0) is None


# ---------------------------------------------------------------- version 3: the experience score (rule 7)
# The worked examples of docs/impact-model.md ("Version 3: the experience score"), with the default
# impacted_hour_lost_s = 60 s and heartbeats showing the employee fully active unless said otherwise.

def device_score(events, heartbeats, cfg=CFG):
    """A device's version-3 score: its impacted active seconds over its active seconds."""
    r = device_hours(events, heartbeats, cfg)
    return score(sum(impacted_active(r.lost_by_hour(), r.active, cfg.impacted_hour_lost_s).values()),
                 sum(r.active.values()))


def test_v3_one_disturbed_hour_in_eight_scores_87_5():
    day = busy(T0, T0 + 8 * HOUR)
    hang = ev("hang", T0 + 2 * HOUR + 600, 300, active=300)  # 5 minutes lost in the third hour
    assert device_score([hang], day) == pytest.approx(7 / 8)
    r = device_hours([hang], day, CFG)  # the productivity-loss ratio is the old score's complement: about 1 %
    assert loss_ratio(r.lost_total(), sum(r.active.values())) == pytest.approx(300 / 28800)
    assert score_of("2", r.lost_total(), 3600, 28800) == pytest.approx(1 - 300 / 28800)  # 98.96: version 2's
    assert score_of("3", r.lost_total(), 3600, 28800) == pytest.approx(0.875)


def test_v3_an_hour_with_30_seconds_lost_is_not_impacted():
    slow = ev("slow_app", T0 + 600, 40, active=40, excess=30)
    assert device_score([slow], busy(T0, T0 + 8 * HOUR)) == 1.0
    assert device_score([ev("hang", T0 + 600, 60, active=60)], busy(T0, T0 + 8 * HOUR)) == pytest.approx(7 / 8)  # 60 s is


def test_v3_the_same_lost_time_spread_over_hours_lowers_the_score_more():
    day = busy(T0, T0 + 8 * HOUR)
    together = [ev("hang", T0 + 600, 300, active=300)]
    spread = [ev("hang", T0 + i * HOUR + 600, 60, active=60, id_=f"h{i}") for i in range(5)]
    assert device_hours(together, day, CFG).lost_total() == pytest.approx(device_hours(spread, day, CFG).lost_total())
    assert device_score(together, day) == pytest.approx(7 / 8)
    assert device_score(spread, day) == pytest.approx(3 / 8)


def test_v3_an_idle_hour_counts_nothing():
    # eight active hours and a ninth at night with no activity: the crash then costs nothing and the hour is
    # neither impacted nor in the denominator
    day = busy(T0, T0 + 8 * HOUR) + busy(T0 + 8 * HOUR, T0 + 9 * HOUR, 0.0)
    events = [ev("hang", T0 + 600, 300, active=300), ev("crash", T0 + 8 * HOUR + 600)]
    assert device_score(events, day) == pytest.approx(7 / 8)
    assert device_score([], busy(T0, T0 + HOUR, 0.0)) is None  # no active time, no score (not 100)


def test_v3_a_partly_active_hour_counts_its_active_seconds():
    # hour 1 fully active and disturbed (2 min outage), hour 2 half active and quiet: 3600 of 5400 s impacted
    hb = busy(T0, T0 + HOUR) + busy(T0 + HOUR, T0 + 2 * HOUR, 0.5)
    assert device_score([ev("connectivity_loss", T0 + 60, 120, app="net", active=120)], hb) == pytest.approx(1 / 3)


def test_v3_the_threshold_is_a_setting():
    cfg = load_section(ModelConfig, {"impacted_hour_lost_s": 300}, "model")
    day = busy(T0, T0 + 8 * HOUR)
    assert device_score([ev("hang", T0 + 600, 240, active=240)], day, cfg) == 1.0
    assert device_score([ev("hang", T0 + 600, 300, active=300)], day, cfg) == pytest.approx(7 / 8)
    assert cfg.parameters()["impacted_hour_lost_s"] == 300 and cfg.parameters()["model_version"] == "3"
    with pytest.raises(ConfigError, match="model.impacted_hour_lost_s"):
        load_section(ModelConfig, {"impacted_hour_lost_s": 0}, "model")


def test_v3_an_application_counts_only_its_own_lost_time():
    # an hour with 40 s of erp slowness and 40 s of mail slowness: impacted for the device (80 s), not for either
    # application; an hour with a 2-minute erp hang: impacted for erp only
    r = device_hours([ev("slow_app", T0 + 60, 40, active=40, excess=40), ev("slow_app", T0 + 600, 40, app="mail",
                                                                           active=40, excess=40),
                      ev("hang", T0 + HOUR + 60, 120, active=120)], busy(T0, T0 + 2 * HOUR), CFG)
    assert impacted_active(r.lost_by_hour(), r.active, 60) == pytest.approx({T0: 3600.0, T0 + HOUR: 3600.0})
    erp = {h: v for (h, _t, a), v in r.lost.items() if a == "erp"}
    mail = {h: v for (h, _t, a), v in r.lost.items() if a == "mail"}
    assert impacted_active(erp, r.active, 60) == pytest.approx({T0 + HOUR: 3600.0})
    assert impacted_active(mail, r.active, 60) == {}


def test_v3_a_site_with_one_disturbed_hour_in_ten_scores_about_90():
    # ten employees, 8 active hours each; one in ten hours has a 3-minute hang somewhere (8 of the 80 hours)
    impacted = active = 0.0
    for person in range(10):
        hangs = [ev("hang", T0 + h * HOUR + 900, 180, active=180, id_=f"{person}-{h}") for h in range(8)
                 if (person * 8 + h) % 10 == 0]
        r = device_hours(hangs, busy(T0, T0 + 8 * HOUR, step=300.0), CFG)
        impacted += sum(impacted_active(r.lost_by_hour(), r.active, 60).values())
        active += sum(r.active.values())
    assert score(impacted, active) == pytest.approx(0.9)
    assert score_of("2", 8 * 180, impacted, active) == pytest.approx(1 - 1440 / 288000)  # 99.5 under version 2


def test_config_errors_are_specific():
    with pytest.raises(ConfigError, match="model.crash_recovery_s"):
        load_section(ModelConfig, {"crash_recovery_s": -1}, "model")
    with pytest.raises(ConfigError, match="department_hourly_cost.Sales"):
        load_section(ModelConfig, {"department_hourly_cost": {"Sales": "a lot"}}, "model")
    with pytest.raises(ConfigError, match="currency"):
        load_section(ModelConfig, {"currency": "euros"}, "model")
    with pytest.raises(ConfigError, match="did you mean 'hourly_cost'"):
        load_section(ModelConfig, {"hourly_cots": 1}, "model")


# ------------------------------------------------------------ version 2: the support cause (docs/impact-model.md)

def ticket(channel, opened, resolved=None, work_stopping=False, id_="desk:INC1"):
    return SupportTicket(id=id_, channel=channel, opened_at=opened, resolved_at=resolved, work_stopping=work_stopping)


def test_phone_ticket_during_a_crash_recovery_adds_only_what_the_crash_left():
    # crash at 10:00 (recovery 10:00-10:03), phone ticket at 10:01 (contact 10 min): 10:01-10:03 is the crash's
    r = device_hours([ev("crash", T0)], busy(T0, T0 + HOUR), CFG, tickets=[ticket("phone", T0 + 60)])
    assert by_cause(r) == pytest.approx({("crash", "erp"): 180.0, ("support", "phone"): 480.0})
    assert r.disruptions == {(T0, "crash", "erp"): 1, (T0, "support", "phone"): 1}


def test_work_stopping_ticket_waits_until_resolution_at_the_heartbeats_activity():
    # opened 09:00, resolved 12:00, heartbeats 50 % active: contact 600 x 0.5, wait (10800 - 600) x 0.5
    r = device_hours([], busy(T0, T0 + 4 * HOUR, 0.5), CFG,
                     tickets=[ticket("phone", T0, T0 + 3 * HOUR, work_stopping=True)])
    assert r.lost_total() == pytest.approx(300.0 + 5100.0)
    assert r.lost == pytest.approx({(T0 + i * HOUR, "support", "phone"): 1800.0 for i in range(3)})
    # not work-stopping: the contact only; open: the wait runs up to the cap, where heartbeats show activity
    assert device_hours([], busy(T0, T0 + 4 * HOUR, 0.5), CFG,
                        tickets=[ticket("phone", T0, T0 + 3 * HOUR)]).lost_total() == pytest.approx(300.0)
    capped = load_section(ModelConfig, {"support_wait_cap_s": 3600}, "model")
    r = device_hours([], busy(T0, T0 + 8 * HOUR, 0.5), capped, tickets=[ticket("phone", T0, None, work_stopping=True)])
    assert r.lost_total() == pytest.approx(300.0 + 1800.0)


def test_remote_ticket_counts_its_measured_session_instead_of_the_default_contact():
    # remote ticket 14:00-15:00, a 12-minute session 14:20-14:32 on the device: 720 s, not the default 900
    session = ev("support_session", T0 + 1200, 720, app="teamviewer")
    r = device_hours([session], busy(T0, T0 + HOUR), CFG, tickets=[ticket("remote", T0, T0 + HOUR)])
    assert by_cause(r) == pytest.approx({("support_session", "teamviewer"): 720.0})
    assert r.disruptions == {(T0, "support_session", "teamviewer"): 1, (T0, "support", "remote"): 1}
    alone = device_hours([], busy(T0, T0 + HOUR), CFG, tickets=[ticket("remote", T0, T0 + HOUR)])
    assert by_cause(alone) == pytest.approx({("support", "remote"): 900.0})
    later = device_hours([ev("support_session", T0 + 2 * HOUR, 720, app="teamviewer")], busy(T0, T0 + 3 * HOUR),
                         CFG, tickets=[ticket("remote", T0, T0 + HOUR)])  # a session after resolution is not its contact
    assert by_cause(later) == pytest.approx({("support", "remote"): 900.0, ("support_session", "teamviewer"): 720.0})


def test_the_same_week_under_version_1_and_2():
    # a 5-minute hang and a phone call at another time: v2 counts both, v1 (without the support types) the hang
    r = device_hours([ev("hang", T0, 300, active=300)], busy(T0, T0 + HOUR), CFG,
                     tickets=[ticket("phone", T0 + 1800)])
    assert sum(v for (_h, t, _a), v in r.lost.items() if t in types_of("2")) == pytest.approx(900.0)
    assert sum(v for (_h, t, _a), v in r.lost.items() if t in types_of("1")) == pytest.approx(300.0)


def test_support_gets_only_what_the_hourly_cap_leaves():
    # an hour with 600 active seconds: a 600 s outage takes them all, the phone call nothing
    hb = [Interval(end=T0 + HOUR, interval_s=HOUR, active_s=600)]
    r = device_hours([ev("connectivity_loss", T0, 600, app="net", active=600)], hb, CFG,
                     tickets=[ticket("phone", T0 + 1200)])
    assert by_cause(r) == pytest.approx({("connectivity_loss", "net"): 600.0})


def test_support_parameters_have_defaults_for_every_channel_and_clear_errors():
    assert set(DEFAULT_CONTACT_S) == set(CHANNELS)
    cfg = load_section(ModelConfig, {"support_contact_s": {"phone": 480}}, "model")
    assert cfg.contact_s("phone") == 480.0 and cfg.contact_s("chat") == DEFAULT_CONTACT_S["chat"]
    assert cfg.ticket_reach_s == max(DEFAULT_CONTACT_S.values()) + cfg.support_wait_cap_s
    with pytest.raises(ConfigError, match="support_contact_s.fax: not a channel"):
        load_section(ModelConfig, {"support_contact_s": {"fax": 60}}, "model")
    with pytest.raises(ConfigError, match="support_contact_s.phone"):
        load_section(ModelConfig, {"support_contact_s": {"phone": -1}}, "model")
    with pytest.raises(ConfigError, match="support_contact_s.phone.*maximum"):
        load_section(ModelConfig, {"support_contact_s": {"phone": 1e9}}, "model")
    with pytest.raises(ConfigError, match="model.support_wait_cap_s"):
        load_section(ModelConfig, {"support_wait_cap_s": -5}, "model")
    with pytest.raises(ValueError, match="model version"):
        types_of("v2")


# ------------------------------------------------------------ properties

_events = st.lists(
    st.builds(
        lambda t, start, dur, frac, exc, app, i: Disruption(
            id=f"e{i:04d}", type=t, app=app, start=T0 + start, duration_s=dur,
            active_s=None if frac is None else dur * frac, excess_s=exc),
        st.sampled_from(EVENT_TYPES), st.floats(0, 5 * HOUR), st.floats(0, 2 * HOUR),
        st.one_of(st.none(), st.floats(0, 1)), st.one_of(st.none(), st.floats(0, 600)),
        st.sampled_from(["erp", "mail", "net"]), st.integers(0, 9999)),
    max_size=25, unique_by=lambda e: e.id)
_heartbeats = st.lists(
    st.builds(lambda end, interval, frac: Interval(end=T0 + end, interval_s=interval, active_s=interval * frac),
              st.floats(0, 6 * HOUR), st.floats(1, 1800), st.floats(0, 1)),
    max_size=30)


@settings(max_examples=150, deadline=None)
@given(_events, _heartbeats, st.floats(0, 300), st.randoms())
def test_properties(events, heartbeats, refocus, rnd):
    cfg = ModelConfig(refocus_penalty_s=refocus)
    r = device_hours(events, heartbeats, cfg)
    lost_by_hour = {}
    for (h, _t, _a), v in r.lost.items():
        assert v > 0
        lost_by_hour[h] = lost_by_hour.get(h, 0.0) + v
    for h, v in lost_by_hour.items():  # lost <= active in every hour
        assert v <= r.active.get(h, 0.0) + 1e-6
    # the sum by cause equals the device total, and never exceeds a full hour per hour
    assert math.isclose(sum(by_cause(r).values()), sum(lost_by_hour.values()), rel_tol=1e-9, abs_tol=1e-9)
    assert sum(lost_by_hour.values()) <= sum(r.active.values()) + 1e-6
    # the order of arrival does not change the result
    shuffled_e, shuffled_h = events[:], heartbeats[:]
    rnd.shuffle(shuffled_e)
    rnd.shuffle(shuffled_h)
    again = device_hours(shuffled_e, shuffled_h, cfg)
    assert again.disruptions == r.disruptions
    assert again.lost.keys() == r.lost.keys()
    for k in r.lost:
        assert math.isclose(again.lost[k], r.lost[k], rel_tol=1e-9, abs_tol=1e-9)


_tickets = st.lists(
    st.builds(lambda i, channel, opened, resolved, stopping: SupportTicket(
        id=f"t{i:03d}", channel=channel, opened_at=T0 + opened,
        resolved_at=None if resolved is None else T0 + opened + resolved, work_stopping=stopping),
        st.integers(0, 999), st.sampled_from(CHANNELS), st.floats(0, 5 * HOUR),
        st.one_of(st.none(), st.floats(0, 4 * HOUR)), st.booleans()),
    max_size=6, unique_by=lambda t: t.id)


@settings(max_examples=150, deadline=None)
@given(_events, _heartbeats, _tickets, st.floats(0, 300), st.sampled_from([0.0, 1800.0, 14400.0]))
def test_version_2_without_the_support_types_is_version_1(events, heartbeats, tickets, refocus, wait_cap):
    cfg = ModelConfig(refocus_penalty_s=refocus, support_wait_cap_s=wait_cap)
    v2 = device_hours(events, heartbeats, cfg, tickets=tickets)
    v1 = device_hours([e for e in events if e.type not in SUPPORT_TYPES], heartbeats, cfg)
    v1_types = types_of("1")
    shown = {k: v for k, v in v2.lost.items() if k[1] in v1_types}
    assert shown.keys() == v1.lost.keys()
    for k, v in v1.lost.items():
        assert math.isclose(shown[k], v, rel_tol=1e-9, abs_tol=1e-9)
    assert {k: n for k, n in v2.disruptions.items() if k[1] in v1_types} == v1.disruptions
    assert v2.active == v1.active
    per_hour = {}
    for (h, _t, _a), v in v2.lost.items():
        assert v > 0
        per_hour[h] = per_hour.get(h, 0.0) + v
    for h, v in per_hour.items():
        assert v <= v2.active.get(h, 0.0) + 1e-6
    # windows of one hour add up to the whole (what the refresher relies on)
    parts = [device_hours(events, heartbeats, cfg, window=(T0 + i * HOUR, T0 + (i + 1) * HOUR), tickets=tickets)
             for i in range(-1, 11)]
    merged = {k: v for p in parts for k, v in p.lost.items()}
    assert merged.keys() <= v2.lost.keys()
    for k, v in v2.lost.items():
        assert math.isclose(merged.get(k, 0.0), v, rel_tol=1e-9, abs_tol=1e-6)


def _naive_sweep(spans):
    """Rule 3 by its definition: at every moment between cut points, the live span with the best precedence."""
    from collections import defaultdict

    from collector.impact import _cuts, hour_start

    lost = defaultdict(float)
    points = sorted({p for sp in spans for p in _cuts(sp.start, sp.end)})
    for a, b in zip(points, points[1:]):
        live = [sp for sp in spans if sp.start <= a < sp.end]
        if live:
            win = min(live, key=lambda sp: sp.precedence)
            lost[(hour_start(a), win.type, win.app)] += (b - a) * win.density
    return dict(lost)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 3 * HOUR), st.floats(0, HOUR), st.sampled_from([0.25, 0.5, 1.0]),
                          st.integers(0, 3), st.sampled_from(["hang", "crash"]), st.sampled_from(["erp", "mail"])),
                max_size=40))
def test_the_sweep_gives_each_moment_to_the_best_live_span(raw):
    from collector.impact import _Span, _sweep

    spans = [_Span(T0 + s, T0 + s + d, density, rank, T0 + s, f"e{i:03d}", t, app)
             for i, (s, d, density, rank, t, app) in enumerate(raw)]
    got, expected = _sweep(spans), _naive_sweep(spans)
    assert got.keys() == expected.keys()
    for k in expected:
        assert math.isclose(got[k], expected[k], rel_tol=1e-9, abs_tol=1e-9)
