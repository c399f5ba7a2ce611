import heapq
import random
import threading
from itertools import pairwise

import pytest

from webapp.sending.pacing import Pacer, apps_under_limit


def gaps(slots: list[float]) -> list[float]:
    return [b - a for a, b in pairwise(slots)]


def greedy_slots(pacer: Pacer, count: int, now: float = 0.0) -> list[float]:
    """Slots reserved as fast as possible, all at ``now``: the burstiest caller there is."""
    return [pacer.next_send_at(now) for _ in range(count)]


def simulate(pacer: Pacer, count: int, in_flight: int, latency_s: float) -> list[float]:
    """A sender with ``in_flight`` requests, each asking for a slot when its last send ends."""
    free_at = [0.0] * in_flight
    slots = []
    for _ in range(count):
        now = heapq.heappop(free_at)
        slot = pacer.next_send_at(now)
        slots.append(slot)
        heapq.heappush(free_at, slot + latency_s)
    return slots


def test_no_rate_and_no_delay_never_waits():
    assert greedy_slots(Pacer(), 5, now=12.5) == [12.5] * 5


def test_rate_spaces_slots_evenly_without_bursts():
    slots = greedy_slots(Pacer(rate_per_minute=30), 100)
    assert slots[0] == 0.0
    assert min(gaps(slots)) == pytest.approx(2.0)
    assert max(gaps(slots)) == pytest.approx(2.0)


def test_rate_is_reached_with_several_requests_in_flight():
    # The gateway takes 2.5 s to answer, longer than the 1 s interval: one request at a time
    # would manage 24 a minute; three in flight reach the 60 asked for and never exceed it.
    slots = simulate(Pacer(rate_per_minute=60), 1000, in_flight=3, latency_s=2.5)
    assert slots == sorted(slots)
    assert min(gaps(slots)) >= 1.0 - 1e-9
    achieved = (len(slots) - 1) * 60 / (slots[-1] - slots[0])
    assert achieved == pytest.approx(60, rel=0.01)


def test_single_request_in_flight_is_limited_by_latency_not_bursting():
    slots = simulate(Pacer(rate_per_minute=60), 100, in_flight=1, latency_s=2.5)
    assert min(gaps(slots)) == pytest.approx(2.5)


def test_random_delays_stay_within_bounds_and_vary():
    delays = gaps(greedy_slots(Pacer(delay_min_s=2, delay_max_s=5, rng=random.Random(3)), 500))
    assert all(2 <= d <= 5 for d in delays)
    assert max(delays) - min(delays) > 2.5


def test_rate_and_delays_combine_as_the_longer_gap():
    pacer = Pacer(rate_per_minute=60, delay_min_s=0.5, delay_max_s=1.5, rng=random.Random(5))
    delays = gaps(greedy_slots(pacer, 500))
    assert all(1.0 <= d <= 1.5 for d in delays)
    assert delays.count(1.0) > 100  # the rate wins whenever the random delay is shorter


def test_fixed_delay_when_only_minimum_given():
    assert set(gaps(greedy_slots(Pacer(delay_min_s=3), 10))) == {3.0}


def test_long_pause_resumes_at_once_without_catching_up():
    pacer = Pacer(rate_per_minute=60)
    assert greedy_slots(pacer, 3) == [0.0, 1.0, 2.0]
    pacer.reset(100.0)
    assert greedy_slots(pacer, 3, now=100.0) == [100.0, 101.0, 102.0]


def test_pause_without_reset_does_not_catch_up_either():
    pacer = Pacer(rate_per_minute=60)
    greedy_slots(pacer, 3)
    assert [pacer.next_send_at(50.0), pacer.next_send_at(50.0)] == [50.0, 51.0]


def test_reset_gives_back_slots_abandoned_by_a_pause_but_keeps_the_gap():
    pacer = Pacer(rate_per_minute=60)
    # Five requests in flight reserved 0..4 s; the campaign is paused at 0.5 s, resumed at 0.7 s.
    assert greedy_slots(pacer, 5) == [0.0, 1.0, 2.0, 3.0, 4.0]
    pacer.reset(0.7)
    # Not 5 s (the abandoned slots), nor 0.7 s (too close to the send at 0 s).
    assert pacer.next_send_at(0.7) == 1.0
    assert pacer.next_send_at(0.7) == 2.0


def test_a_postponed_slot_keeps_the_next_one_its_distance():
    pacer = Pacer(rate_per_minute=60)
    assert pacer.next_send_at(0.0) == 0.0
    pacer.postpone(0.0, 2.5)  # the WhatsApp number was busy until 2.5 s
    assert pacer.next_send_at(0.0) == 3.5
    pacer.postpone(1.0, 9.0)  # not the last slot: nothing moves
    assert pacer.next_send_at(0.0) == 4.5


def test_pacer_reserves_distinct_slots_across_threads():
    pacer = Pacer(rate_per_minute=600)
    slots = []
    lock = threading.Lock()

    def reserve():
        for _ in range(100):
            slot = pacer.next_send_at(0.0)
            with lock:
                slots.append(slot)

    threads = [threading.Thread(target=reserve) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert min(gaps(sorted(slots))) == pytest.approx(0.1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate_per_minute": 0},
        {"rate_per_minute": -5},
        {"delay_min_s": 5, "delay_max_s": 2},
        {"delay_min_s": -1},
    ],
)
def test_pacer_refuses_nonsense(kwargs):
    with pytest.raises(ValueError):
        Pacer(**kwargs)


def test_apps_under_limit():
    assert apps_under_limit([1, 2, 3], {1: 100, 2: 99}, 100) == [2, 3]
    assert apps_under_limit([1, 2], {1: 10_000}, None) == [1, 2]
    assert apps_under_limit([None], {None: 5}, 5) == []
