"""Foreign keys resolve except planted orphans, and planted findings are recoverable."""

from __future__ import annotations

import pytest

from datagen import builtin_scenarios, load_scenario
from datagen.findings import observe

FK_CASES = [
    ("shop", "orders", "customer_id", "customers", "customer_id", 0.0),
    ("shop", "order_lines", "order_id", "orders", "order_id", 0.0),
    ("shop", "order_lines", "product_id", "products", "product_id", 0.005),
    ("shop", "returns", "line_id", "order_lines", "line_id", 0.0),
    ("subscriptions", "usage_events", "account_id", "accounts", "account_id", 0.003),
    ("subscriptions", "cancellations", "account_id", "accounts", "account_id", 0.0),
    ("subscriptions", "accounts", "plan_id", "plans", "plan_id", 0.0),
    ("ab_test", "assignments", "user_id", "users", "user_id", 0.0),
    ("ab_test", "sessions", "user_id", "users", "user_id", 0.005),
    ("ab_test", "conversions", "session_id", "sessions", "session_id", 0.0),
]


@pytest.mark.parametrize(
    ("scenario", "child", "key", "parent", "parent_key", "orphan_rate"), FK_CASES
)
def test_foreign_keys_resolve_except_the_planted_orphans(
    built, scenario, child, key, parent, parent_key, orphan_rate
):
    dataset = built(scenario)
    child_keys = dataset.tables[child][key].drop_nulls()

    unresolved = ~child_keys.is_in(dataset.tables[parent][parent_key].implode())

    assert unresolved.sum() / child_keys.len() == pytest.approx(orphan_rate, abs=0.001)


def test_foreign_keys_are_skewed_so_a_few_customers_place_most_orders(built):
    orders = built("shop").tables["orders"]

    per_customer = orders["customer_id"].value_counts(sort=True)["count"]
    top_tenth = per_customer.head(max(1, per_customer.len() // 10)).sum()

    assert top_tenth / orders.height > 0.4


FINDINGS = [
    (name, index)
    for name in sorted(builtin_scenarios())
    for index in range(len(load_scenario(name).findings))
]


@pytest.mark.parametrize(("scenario", "index"), FINDINGS)
@pytest.mark.parametrize("seed", [42, 7])
def test_each_planted_finding_shows_its_stated_size_within_tolerance(
    built, scenario, index, seed
):
    finding = load_scenario(scenario).findings[index]

    observation = observe(built(scenario, seed), finding)

    assert abs(observation.observed - finding.expected) <= finding.tolerance, (
        f"{scenario}: {finding.title}: expected {finding.expected} "
        f"+/- {finding.tolerance}, observed {observation.observed:.4f}"
    )


def test_every_builtin_scenario_plants_at_least_three_findings():
    counts = {name: len(load_scenario(name).findings) for name in builtin_scenarios()}

    assert min(counts.values()) >= 3, counts
