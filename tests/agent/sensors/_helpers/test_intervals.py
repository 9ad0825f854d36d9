"""The shared interval bookkeeping: open on bad, close on good, kind changes, splits, stop."""

from agent.sensors._helpers.intervals import Intervals, Sample, base_details


def test_open_on_first_bad_close_on_first_good():
    iv = Intervals()
    assert iv.good("k", 0.0) is None
    assert iv.bad("k", "slow", Sample(10.0, 4.0)) == []
    assert iv.bad("k", "slow", Sample(15.0, 6.0)) == []
    closed = iv.good("k", 25.0)
    assert (closed.start, closed.end, closed.duration_s, closed.kind) == (10.0, 25.0, 15.0, "slow")
    assert closed.widths() == [5.0, 10.0]
    assert (closed.worst(), closed.median()) == (6.0, 5.0)
    # a 4 s answer with a 2 s threshold loses half its 5 s; a 6 s one two thirds of its 10 s
    assert closed.weighted_excess(lambda s: (s.value - 2.0) / s.value) == 5 * 0.5 + 10 * (4 / 6)
    assert iv.good("k", 30.0) is None and not iv.is_open("k")


def test_kind_change_closes_and_reopens():
    iv = Intervals()
    iv.bad("k", "slow", Sample(0.0, 3.0))
    (slow,) = iv.bad("k", "unavailable", Sample(5.0, 10.0))
    assert (slow.kind, slow.duration_s) == ("slow", 5.0)
    assert iv.open_kind("k") == "unavailable"
    assert iv.good("k", 9.0).start == 5.0


def test_keys_are_independent_and_stop_closes_all():
    iv = Intervals()
    iv.bad("a", "x", Sample(0.0))
    iv.bad("b", "y", Sample(2.0))
    assert iv.good("a", 3.0).duration_s == 3.0
    (b,) = iv.stop(7.0)
    assert (b.key, b.duration_s, b.open_at_stop) == ("b", 5.0, True)
    assert base_details(b) == {"samples": 1, "open_at_stop": True}


def test_long_intervals_are_split():
    iv = Intervals(split_after_s=60)
    iv.bad("k", "loss", Sample(0.0))
    assert iv.bad("k", "loss", Sample(30.0)) == []
    (first,) = iv.bad("k", "loss", Sample(60.0))
    assert (first.duration_s, first.split, base_details(first)["continues"]) == (60.0, True, True)
    assert iv.good("k", 70.0).start == 60.0


def test_samples_stay_bounded():
    iv = Intervals(split_after_s=10**9)
    for i in range(10_000):
        iv.bad("k", "slow", Sample(float(i), float(i % 7)))
    closed = iv.good("k", 10_000.0)
    assert len(closed.samples) <= 2048 and closed.start == 0.0 and closed.duration_s == 10_000.0


def test_median_of_an_odd_number_of_unsorted_samples():
    iv = Intervals()
    for t, v in ((0.0, 9.0), (1.0, 2.0), (2.0, 4.0)):
        iv.bad("k", "slow", Sample(t, v))
    assert iv.good("k", 3.0).median() == 4.0
