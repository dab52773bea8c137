# SPDX-License-Identifier: GPL-3.0-or-later
"""The open-loop load generator (fixed schedule, latency from the due time) and the server-side histogram reader."""

import math

import pytest
from onprem_device import loadtest, openloop, promtext

ROWS = [[0.0] * 64, [1.0] * 64]


def test_a_fast_server_gets_every_request_at_the_rate(fake_server):
    found = openloop.run(fake_server.url, "digits", ROWS, per_second=50, seconds=1.0)
    assert found["requests"] == 50 and found["ok"] == 50
    assert fake_server.requests == 50
    assert found["achieved_rate"] == pytest.approx(50, rel=0.1)
    assert found["connections_opened"] < 10  # kept-alive connections are reused
    assert found["p95_ms"] < 200


def test_latency_counts_from_the_due_time_when_the_server_falls_behind(fake_server):
    # 40 requests/s into 1 connection of a server taking 50 ms each: at most 20/s are served, so requests queue
    # and their latency from the schedule grows far beyond the 50 ms service time (a closed loop would hide it).
    fake_server.delay = 0.05
    found = openloop.run(fake_server.url, "digits", ROWS, per_second=40, seconds=0.5, connections=1)
    assert found["ok"] == 20
    assert found["p95_ms"] > 300  # the last ones wait for about 0.5 s
    # the queueing shows in the latency from the schedule, not in the service time (relative: a loaded machine
    # stretches both)
    assert found["p95_ms"] > 2 * found["service_p95_ms"]
    assert found["send_lag_p95_ms"] > 200


def test_a_request_dropped_on_a_new_connection_counts_as_failed(fake_server):
    # Only a kept-alive connection the server closed meanwhile is retried; a fresh one that drops is a failure.
    fake_server.close_first = 2
    found = openloop.run(fake_server.url, "digits", ROWS, per_second=20, seconds=0.5, connections=1)
    assert found["requests"] == 10 and found["ok"] == 8
    assert found["errors"] and "IncompleteReadError" in found["errors"][0]


def test_errors_are_counted_not_hidden(fake_server):
    fake_server.status = 503
    found = openloop.run(fake_server.url, "digits", ROWS, per_second=20, seconds=0.5)
    assert found["ok"] == 0 and found["requests"] == 10
    assert found["errors"] == ["HTTP 503"] and found["p95_ms"] is None


def test_nobody_listening_fails_every_request_quickly():
    found = openloop.run("http://127.0.0.1:9", "digits", ROWS, per_second=20, seconds=0.5, timeout=0.5)
    assert found["ok"] == 0 and found["requests"] == 10


@pytest.mark.parametrize("args", [(0, 1.0, 4, 1.0), (10, 0, 4, 1.0), (10, 1.0, 0, 1.0), (10, 1.0, 4, 0)])
def test_bad_settings_are_refused(args):
    rate, seconds, connections, timeout = args
    with pytest.raises(ValueError):
        openloop.run("http://127.0.0.1:9", "m", ROWS, rate, seconds, connections, timeout)
    with pytest.raises(ValueError, match="plain http"):
        openloop.run("https://127.0.0.1:9", "m", ROWS, 10, 1.0)


def test_the_rate_mode_uses_the_open_loop(fake_server):
    import numpy as np

    found = loadtest.rate(fake_server.url, "digits", np.zeros((3, 64)), 30, 0.5, 8, 2.0)
    assert found["requests"] == 15 and found["ok"] == 15 and "scheduled" in found["generator"]


SCRAPE = """# HELP rest_server_request_duration_seconds Duration
# TYPE rest_server_request_duration_seconds histogram
rest_server_request_duration_seconds_bucket{{le="0.005",method="POST",path="/v2/models/{{model_name}}/infer"}} {a}
rest_server_request_duration_seconds_bucket{{le="0.01",method="POST",path="/v2/models/{{model_name}}/infer"}} {b}
rest_server_request_duration_seconds_bucket{{le="0.025",method="POST",path="/v2/models/{{model_name}}/infer"}} {c}
rest_server_request_duration_seconds_bucket{{le="+Inf",method="POST",path="/v2/models/{{model_name}}/infer"}} {d}
rest_server_request_duration_seconds_count{{method="POST",path="/v2/models/{{model_name}}/infer"}} {d}
rest_server_request_duration_seconds_sum{{method="POST",path="/v2/models/{{model_name}}/infer"}} {s}
rest_server_request_duration_seconds_bucket{{le="0.005",method="GET",path="/v2/health/ready"}} 500
rest_server_request_duration_seconds_bucket{{le="+Inf",method="GET",path="/v2/health/ready"}} 500
"""
INFER = {"path": "/v2/models/{model_name}/infer"}


def scrape(a, b, c, d, s=1.0):
    return SCRAPE.format(a=a, b=b, c=c, d=d, s=s)


def test_histogram_sums_replicas_and_keeps_to_the_matching_series():
    found = promtext.histogram(
        [scrape(10, 20, 30, 30), scrape(0, 10, 10, 10)], "rest_server_request_duration_seconds", **INFER
    )
    assert found["buckets"] == {0.005: 10, 0.01: 30, 0.025: 40, math.inf: 40}
    assert found["count"] == 40 and found["sum"] == 2.0


def test_quantile_interpolates_inside_the_bucket_as_prometheus_does():
    found = promtext.histogram(scrape(0, 100, 100, 100), "rest_server_request_duration_seconds", **INFER)
    assert promtext.quantile(found, 0.5) == pytest.approx(0.0075)
    assert promtext.quantile(found, 0.95) == pytest.approx(0.00975)
    slow = promtext.histogram(scrape(0, 0, 0, 10), "rest_server_request_duration_seconds", **INFER)
    assert promtext.quantile(slow, 0.95) == 0.025  # beyond the last bound: that bound, a lower bound
    assert promtext.quantile(promtext.histogram("", "x"), 0.95) is None
    assert promtext.bucket_bound(found, 0.95) == 0.01 and promtext.bucket_bound(slow, 0.95) == math.inf
    assert promtext.bucket_bound(promtext.histogram("", "x"), 0.95) is None


def test_difference_is_what_happened_between_two_scrapes():
    before = promtext.histogram(scrape(1000, 1000, 1000, 1000), "rest_server_request_duration_seconds", **INFER)
    after = promtext.histogram(scrape(1000, 1000, 1100, 1100, 3.0), "rest_server_request_duration_seconds", **INFER)
    between = promtext.difference(after, before)
    assert between["count"] == 100 and between["sum"] == pytest.approx(2.0)
    # only the 100 new ones count, all between 10 and 25 ms: the earlier fast ones do not pull the p95 down
    assert 0.01 < promtext.quantile(between, 0.95) <= 0.025
