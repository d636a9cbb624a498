"""The side-by-side benchmark's pure parts: the body comparison and the markdown table."""

from __future__ import annotations

from collections import Counter

from bench_peers import contains, table


def test_a_live_object_with_more_fields_contains_what_was_wanted() -> None:
    want = {"spec": {"hostname": "r0-0", "command": ["sh", "-c", "x"]}}
    live = {"spec": {"hostname": "r0-0", "command": ["sh", "-c", "x"], "nodeName": "n1"}}
    assert contains(live, want) == []


def test_a_differing_value_is_named_by_its_path() -> None:
    want = {"spec": {"containers": [{"image": "redis:5-alpine"}]}}
    live = {"spec": {"containers": [{"image": "redis:7-alpine"}]}}
    assert contains(live, want) == [".spec.containers[0].image"]


def test_a_list_the_apiserver_added_to_still_holds_each_wanted_item() -> None:
    want = {"volumes": [{"name": "auth"}, {"name": "config"}]}
    live = {"volumes": [{"name": "auth"}, {"name": "config"}, {"name": "kube-api-access-x"}]}
    assert contains(live, want) == []
    assert contains({"volumes": [{"name": "auth"}, {"name": "other"}, {}]}, want) == [".volumes[1]"]


def test_the_table_has_medians_ranges_and_both_ratios() -> None:
    results = {
        "baseline": [{"all pods Ready (s)": 5.0}, {"all pods Ready (s)": 6.0}],
        "ours": [
            {"all pods Ready (s)": 10.0, "restart: writes": 0.0},
            {"all pods Ready (s)": 12.0, "restart: writes": 0.0},
        ],
        "peer": [{"all pods Ready (s)": 8.0}, {"all pods Ready (s)": 9.0}],
    }
    writes = {
        "ours": [Counter({"create pods": 600}), Counter({"create pods": 600})],
        "peer": [Counter({"create pods": 600}), Counter({"create pods": 602})],
    }
    lines = table(results, writes).splitlines()
    assert lines[0] == "| what | baseline | ours | Go peer | ours/peer | ours/baseline |"
    assert lines[2].split(" | ") == [
        "| all pods Ready (s)",
        "5.5 (5.0-6.0)",
        "11.0 (10.0-12.0)",
        "8.5 (8.0-9.0)",
        "1.29x",
        "2.00x |",
    ]
    assert lines[3] == "| restart: writes | - | 0 | - | - | - |"
    assert lines[4] == "| writes: create pods | - | 600 | 601 (600-602) | 1.00x | - |"
