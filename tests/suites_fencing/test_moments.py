"""When the fencing suite says something happened: the bracket of two looks, narrowed by the
whole-second syslog stamp of the same event, even when that line arrives a look later."""

from __future__ import annotations

from hacert.observe.moments import Edge, Moment


def test_a_moment_without_a_stamp_is_the_middle_of_its_bracket() -> None:
    assert Moment(10.0, 12.0).t == 11.0


def test_a_stamp_inside_the_bracket_narrows_it_to_that_second() -> None:
    assert Moment(10.0, 12.0, stamp=11.0).t == 11.5
    # a node clock that disagrees with ours (stamp outside the bracket) is ignored
    assert Moment(10.0, 12.0, stamp=20.0).t == 11.0


def test_an_edge_takes_the_stamp_that_arrives_one_look_after_the_status_saw_the_change() -> None:
    edge = Edge(since=0.0)
    edge.look(False, start=9.0, end=9.5)
    edge.look(True, start=11.0, end=11.6)  # status sees it; its syslog line is not read yet
    assert edge.t == (9.0 + 11.6) / 2
    edge.look(True, start=12.0, end=12.5, stamp=10.0)  # the next look reads the line stamped 10 s
    assert edge.t == 10.5
    edge.look(True, start=13.0, end=13.5, stamp=12.0)  # later lines do not move it again
    assert edge.t == 10.5
