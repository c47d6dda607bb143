"""The benchmarks' one percentile (benchmarks/stats.py): nearest rank, never dropping the slowest.

Expected values are worked out by hand from the definition (the ceil(p/100 * n)-th smallest),
not recomputed with the function under test.
"""
from __future__ import annotations

import math

import pytest

from benchmarks.stats import emit_percentile, nearest_rank


def test_p95_of_30_is_the_29th_smallest():
    times = [float(i) for i in range(30, 0, -1)]  # 1..30, unsorted
    assert nearest_rank(times, 95) == 29.0  # ceil(28.5) = 29
    assert nearest_rank(times, 50) == 15.0  # ceil(15) = 15
    assert nearest_rank(times, 100) == 30.0


def test_p95_of_ten_or_fewer_is_the_maximum():
    assert nearest_rank([3.0, 1.0, 2.0], 95) == 3.0
    assert nearest_rank([0.5] * 9 + [7.0], 95) == 7.0  # ceil(9.5) = 10: the slowest


def test_an_unserved_visitor_is_never_trimmed():
    # 2 of 30 never served: the p95 (29th smallest) reaches one of them
    times = [1.0] * 28 + [math.inf, math.inf]
    assert nearest_rank(times, 95) == math.inf
    assert nearest_rank(times, 50) == 1.0


@pytest.mark.parametrize("p", [0, -5, 101])
def test_a_percentile_outside_0_100_is_refused(p):
    with pytest.raises(ValueError, match="not in"):
        nearest_rank([1.0, 2.0], p)


def test_no_values_is_refused():
    with pytest.raises(ValueError, match="no values"):
        nearest_rank([], 95)


def test_every_percentile_line_is_followed_by_the_max(capsys):
    emit_percentile("burst_s", [1.0] * 29 + [math.inf], "s", "30 visitors")
    first, second = capsys.readouterr().out.splitlines()
    name, value, *note = first.split()
    assert (name, value) == ("burst_s", "1")  # the 29th smallest of 30
    assert "1 never completed, counted as inf" in " ".join(note)  # so the failure is named beside it
    assert second.split()[:2] == ["burst_s_max", "inf"]  # and the max shows it


def test_a_burst_with_one_unserved_visitor_prints_inf_as_its_headline(capsys):
    from benchmarks.bench_voila import _burst_lines

    _burst_lines("voila_class30_x_tti_p95_s", [1.0] * 29 + [math.inf], "30 visitors")
    lines = dict(line.split(maxsplit=2)[:2] for line in capsys.readouterr().out.splitlines())
    assert lines == {"voila_class30_x_tti_p95_s": "inf", "voila_class30_x_tti_p95_s_max": "inf",
                     "voila_class30_x_tti_p95_s_unserved": "1"}
