"""A change against last week reads as the reader sees it: one that rounds to nothing is "unchanged", neutral."""

from collector.report import fmt


def test_a_change_that_rounds_to_zero_reads_unchanged_in_neutral_colour():
    tiny_score = {"unit": "score", "better": "higher", "change": -0.04, "change_pct": -0.0004}
    tiny_hours = {"unit": "hours", "better": "lower", "change": 0.01, "change_pct": 0.004}
    assert fmt.change(tiny_score) == fmt.change(tiny_hours) == "unchanged"
    assert fmt.change_tone(tiny_score) == fmt.change_tone(tiny_hours) == "same"
    score = {"unit": "score", "better": "higher", "change": -0.06, "change_pct": -0.0006}
    assert (fmt.change(score), fmt.change_tone(score)) == ("down 0.1 points", "worse")
    hours = {"unit": "hours", "better": "lower", "change": -2.0, "change_pct": -0.25}
    assert (fmt.change(hours), fmt.change_tone(hours)) == ("down 25%", "better")
    assert fmt.change({"unit": "count", "change": 3, "change_pct": None}) == "up from zero"
    assert fmt.change({"unit": "count", "change": None}) == "no previous data"
    assert fmt.change({"unit": "count", "change": 0, "change_pct": 0.0}) == "unchanged"
