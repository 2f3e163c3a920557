"""Identification by size against the registry, and the length-to-deadweight relation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pipeline.config import Vessel, load_registry
from pipeline.estimate.registry import UNIDENTIFIED, dwt_relation, identify
from pipeline.records import Visit

T = datetime(2024, 5, 1, tzinfo=UTC)


def vessel(name, length=None, beam=None, dwt=None):
    return Vessel(name=name, length_m=length, beam_m=beam, dwt=dwt, source="test")


def visit(length, beam, sigma_l=3.0, sigma_b=1.5):
    return Visit(
        port="vostochny",
        berth="oil-1",
        vessel_key="k",
        first_seen=T,
        last_seen=T,
        arrived_after=None,
        departed_before=None,
        n_obs=3,
        length_m=length,
        beam_m=beam,
        length_sigma_m=sigma_l,
        beam_sigma_m=sigma_b,
    )


REG = [vessel("Small", 60, 10, 1200), vessel("Big", 100, 16, 5000), vessel("Huge", 140, 22)]


def test_clear_match_is_identified(params):
    ident = identify(visit(101, 16), REG, params.identification, params.portcalls.size_error)
    assert ident.name == "Big"
    assert ident.probability > 0.9
    total = sum(c.probability for c in ident.candidates) + ident.p_unidentified
    assert total == pytest.approx(1.0)
    assert [c.name for c in ident.candidates][0] == "Big"


def test_probabilities_follow_the_error_model(params):
    """Halfway between two hulls: equal odds; both below the threshold, so unidentified."""
    reg = [vessel("A", 80, 13), vessel("B", 86, 13)]
    ident = identify(visit(83, 13), reg, params.identification, params.portcalls.size_error)
    a, b = ident.candidates
    assert a.probability == pytest.approx(b.probability, rel=1e-9)
    assert ident.name == UNIDENTIFIED
    # the exact posterior: equal priors, likelihoods N(3; 0, 3) each, background uniform
    import math

    lik = math.exp(-0.5) / (3 * math.sqrt(2 * math.pi)) / (1.5 * math.sqrt(2 * math.pi))
    bg = (1 / 120) * (1 / 18)
    pr = params.identification.prior_in_registry
    expect = pr / 2 * lik / (pr * lik + (1 - pr) * bg)
    assert a.probability == pytest.approx(expect, rel=1e-6)


def test_no_match_is_unidentified(params):
    ident = identify(visit(200, 32), REG, params.identification, params.portcalls.size_error)
    assert ident.name == UNIDENTIFIED
    assert ident.p_unidentified > 0.99
    assert ident.listed(2)[-1]["name"] == UNIDENTIFIED


def test_rows_without_dimensions_cannot_be_matched(params):
    reg = [vessel("Ghost"), vessel("Length only", 90)]
    ident = identify(visit(90, 15), reg, params.identification, params.portcalls.size_error)
    assert ident.unmatchable == ["Ghost"]
    assert [c.name for c in ident.candidates] == ["Length only"]  # matched on length alone


def test_shipped_registry_has_no_sizes_so_everything_is_unidentified(params):
    reg = load_registry()
    ident = identify(visit(90, 15), reg, params.identification, params.portcalls.size_error)
    assert ident.name == UNIDENTIFIED and ident.p_unidentified == 1.0
    assert len(ident.unmatchable) == len(reg)


def test_dwt_relation_configured_or_fitted(params):
    rel = dwt_relation(REG, params.capacity)
    assert (rel.a, rel.b) == (params.capacity.a, params.capacity.b)
    assert rel.median_dwt(90) == pytest.approx(4000, rel=0.01)
    # enough sized rows with a dwt: refit, and recover an exact power law
    rows = [vessel(f"V{i}", L, L / 6, 0.01 * L**2.8) for i, L in enumerate(range(50, 130, 8))]
    fit = dwt_relation(rows, params.capacity)
    assert fit.b == pytest.approx(2.8, abs=1e-6)
    assert fit.a == pytest.approx(0.01, rel=1e-6)
    assert "fit on 10 registry rows" in fit.source
