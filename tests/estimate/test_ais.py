"""AIS identification of deliveries: named by the transponder when the match is good, size-based
otherwise; dark calls flagged; visits' AIS verdicts from their sightings."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from pipeline.config import Vessel
from pipeline.estimate.ais import apply_ais
from pipeline.portcalls.ais import AisMatch, AisMatchResult, VisitAis, visits_by_ais
from pipeline.records import Delivery, Visit

T = datetime(2024, 3, 1, tzinfo=UTC)
REGISTRY = [
    Vessel(name="Yu Son", imo="8817007", length_m=106, beam_m=16, source="test"),
    Vessel(name="Paek Yang San 1", imo=None, length_m=104, beam_m=16, source="test"),
]


def delivery(visit: str) -> Delivery:
    return Delivery(
        id=f"d-{visit}", vessel="Paek Yang San 1", imo=None, id_probability=0.41,
        load_visit=visit, discharge_visit=None, barrels_p10=1, barrels_p50=2, barrels_p90=3,
        barrels_33=1, barrels_50=2, barrels_90=3, product="diesel", method="size.", run_id="r",
        model="m",
    )  # fmt: skip


def visit(vid: str, evidence: list[str]) -> Visit:
    return Visit("vostochny", "oil-1", "k", T, T, None, None, len(evidence), 105, 16,
                 evidence=evidence, id=vid)  # fmt: skip


def test_visit_verdict_is_the_mmsi_with_most_probability_over_all_sightings():
    result = AisMatchResult(
        [
            AisMatch("a1", "s1", 273000001, 0.9),
            AisMatch("a2", "s2", 273000001, 0.8),
            AisMatch("a3", "s3", None, 0.0),
            AisMatch("b1", "s1", None, 0.0),
            AisMatch("c1", "s1", 273000002, 0.3),
            AisMatch("c2", "s2", 273000003, 0.2),
        ]
    )
    static = pd.DataFrame([{"mmsi": 273000001, "name": "YU SON", "imo": "8817007"}])
    got = visits_by_ais(
        [visit("A", ["a1", "a2", "a3"]), visit("B", ["b1"]), visit("C", ["c1", "c2"]),
         visit("D", ["zz"])], result, static,
    )  # fmt: skip
    assert got["A"].mmsi == 273000001 and got["A"].probability == round(1.7 / 3, 4)
    assert (got["A"].name, got["A"].imo, got["A"].matched, got["A"].evidence) == (
        "YU SON",
        "8817007",
        2,
        3,
    )
    assert got["B"].dark and got["B"].probability == 0.0
    assert got["C"].mmsi == 273000002 and got["C"].probability == 0.15  # ambiguous: weak
    assert "D" not in got  # no AIS verdict at all: neither named nor dark


def test_ais_names_linked_to_the_registry_and_dark_calls_keep_size_identification():
    ids = {
        "A": VisitAis("A", 273000001, 0.93, "YU SON", None, 3, 3),  # linked by name
        "B": VisitAis("B", None, 0.0, evidence=2),
        "C": VisitAis("C", 273000002, 0.2, "SOMEONE", None, 1, 3),  # too weak to name
        "E": VisitAis("E", 273000005, 0.9, None, "9999999", 2, 2),  # not in the registry
    }
    got = {d.load_visit: d for d in apply_ais([delivery(v) for v in "ABCDE"], ids, REGISTRY)}
    a = got["A"]
    assert (a.vessel, a.imo, a.id_probability, a.dark, a.ais_mmsi) == (
        "Yu Son",
        "8817007",
        0.93,
        False,
        273000001,
    )
    assert a.method.startswith("AIS identification: MMSI 273000001") and "size." in a.method
    b = got["B"]
    assert (b.vessel, b.id_probability, b.dark, b.ais_mmsi) == ("Paek Yang San 1", 0.41, True, None)
    c = got["C"]
    assert (c.vessel, c.dark, c.ais_mmsi) == ("Paek Yang San 1", False, None)
    assert got["D"].dark is None  # no AIS verdict: unknown, not dark
    e = got["E"]
    assert (e.vessel, e.imo, e.ais_mmsi) == ("MMSI 273000005", "9999999", 273000005)


SIZED = [
    Vessel(name="Small", imo="1000001", length_m=60, beam_m=10, dwt=1200, source="test"),
    Vessel(name="Big", imo="1000002", length_m=100, beam_m=16, dwt=5000, source="test"),
    Vessel(name="Listed", imo="1000003", dwt=3003, source="test"),  # no size: never by size
]


def small_visit() -> Visit:
    """A call whose hull measures exactly like "Small"."""
    return Visit("vostochny", "oil-1", "k", T, T, None, None, 2, 60, 10, evidence=["s1", "s2"],
                 id="V", length_sigma_m=4.0, beam_sigma_m=0.8)  # fmt: skip


def test_ais_identification_puts_the_match_probability_on_the_transponders_vessel(params):
    from pipeline.estimate.ais import ais_identification
    from pipeline.estimate.registry import identify

    size = identify(small_visit(), SIZED, params.identification, params.portcalls.size_error)
    assert size.name == "Small"
    ident = ais_identification(size, VisitAis("V", 273000002, 0.9, "BIG", "1000002", 2, 2), SIZED)
    assert ident.name == "Big" and ident.probability == 0.9
    assert ident.best.dwt == 5000
    total = sum(c.probability for c in ident.candidates) + ident.p_unidentified
    assert abs(total - 1.0) < 1e-12
    # the remaining 0.1 is shared as size shares it once "Big" is ruled out
    small = next(c for c in ident.candidates if c.name == "Small")
    p_big = next(c.probability for c in size.candidates if c.name == "Big")
    assert abs(small.probability - 0.1 * size.candidates[0].probability / (1 - p_big)) < 1e-12
    # a vessel outside the registry: its AIS length stands in for the registry's
    stranger = VisitAis("V", 273000009, 0.8, "STRANGER", None, 2, 2, 75.0, 12.0)
    ident = ais_identification(size, stranger, SIZED)
    assert (ident.best.name, ident.best.length_m, ident.best.dwt) == ("STRANGER", 75.0, None)


def _estimate(params, ais):
    from pipeline.estimate import run_estimate

    params.volume.draws = 400
    return run_estimate([small_visit()], [], [], SIZED, params, seed=3, ais=ais).deliveries[0]


def test_a_call_named_by_ais_takes_the_named_vessels_capacity(params):
    from pipeline.estimate.volume import mix_bbl_per_t, point

    by_size = _estimate(params, None)
    assert by_size.vessel == "Small" and by_size.dark is None
    big = _estimate(params, {"V": VisitAis("V", 273000002, 0.95, "BIG", "1000002", 2, 2)})
    assert (big.vessel, big.imo, big.ais_mmsi, big.dark) == ("Big", "1000002", 273000002, False)
    per_dwt = point(params.volume.cargo_share) * mix_bbl_per_t("refined", params.volume)
    assert abs(big.barrels_50 - 5000 * per_dwt * params.volume.scenarios["50"]) < 1e-2
    assert abs(by_size.barrels_50 - 1200 * per_dwt * params.volume.scenarios["50"]) < 1e-2
    assert big.barrels_p50 > 3 * by_size.barrels_p50  # the Monte Carlo, too
    assert "dwt 5000 from the registry (Big)" in big.method
    assert big.candidates[0]["name"] == "Small"  # the size-based candidates stay listed
    # a registry row without a size (the shipped registry's kind) gets its deadweight by AIS
    listed = _estimate(params, {"V": VisitAis("V", 273000003, 0.9, None, "1000003", 2, 2)})
    assert listed.vessel == "Listed"
    assert abs(listed.barrels_50 - 3003 * per_dwt * params.volume.scenarios["50"]) < 1e-2


def test_weak_or_dark_ais_keeps_the_size_based_barrels(params):
    by_size = _estimate(params, None)
    weak = _estimate(params, {"V": VisitAis("V", 273000002, 0.3, "BIG", "1000002", 1, 2)})
    dark = _estimate(params, {"V": VisitAis("V", None, 0.0, evidence=2)})
    for d in (weak, dark):
        assert (d.vessel, d.barrels_50, d.barrels_p50) == (
            "Small",
            by_size.barrels_50,
            by_size.barrels_p50,
        )
    assert (weak.dark, dark.dark) == (False, True)


TWINS = [
    Vessel(name="Twin A", imo="2000001", length_m=100, beam_m=16, dwt=4000, source="test"),
    Vessel(name="Twin B", imo="2000002", length_m=101, beam_m=16, dwt=4100, source="test"),
    Vessel(name="Other", imo="2000003", length_m=60, beam_m=10, dwt=1200, source="test"),
]


def twin_visit() -> Visit:
    return Visit("vostochny", "oil-1", "k", T, T, None, None, 2, 100.4, 16, evidence=["s1"],
                 id="W", length_sigma_m=4.0, beam_sigma_m=0.8)  # fmt: skip


def test_alibis_rule_out_or_weigh_down_vessels_reported_elsewhere(params):
    from pipeline.estimate.ais import alibi_factors
    from pipeline.estimate.registry import identify
    from pipeline.portcalls.ais import Alibi

    err = params.portcalls.size_error
    alone = identify(twin_visit(), TWINS, params.identification, err)
    p = {c.name: c.probability for c in alone.candidates}
    assert 0.3 < p["Twin A"] < 0.6 and 0.3 < p["Twin B"] < 0.6  # twins: size cannot tell
    alibi = [Alibi(1, "2024-03-01T00:00:00Z", 90_000.0, confirmed=True, imo="2000002")]
    ais = VisitAis("W", None, 0.0, evidence=1, alibis=alibi)
    f = alibi_factors(ais, TWINS, 0.1)
    assert f == {"Twin B": 0.0}
    got = identify(twin_visit(), TWINS, params.identification, err, f)
    q = {c.name: c.probability for c in got.candidates}
    assert q["Twin B"] == 0.0 and q["Twin A"] > p["Twin A"] + p["Twin B"] / 2
    # "not in the registry" gains too: the ruled-out share is not all handed to the twin
    assert got.p_unidentified > alone.p_unidentified
    # the transponder's word only: weighed by the spoofing odds; a spoofing-like report: no change
    said = [Alibi(1, "t", 9e4, name="TWIN B")]
    assert alibi_factors(VisitAis("W", None, 0.0, alibis=said), TWINS, 0.1) == {"Twin B": 0.1}
    odd = [Alibi(1, "t", 9e4, suspect=True, name="Twin B")]
    assert alibi_factors(VisitAis("W", None, 0.0, alibis=odd), TWINS, 0.1) == {}
    # a usually heard transponder silent meanwhile: weighed up by 1 / its silent share, capped;
    # an alibi outweighs silence
    from pipeline.portcalls.ais import Silence

    hush = VisitAis("W", None, 0.0, silent=[Silence(1, 0.05, imo="2000001")])
    assert alibi_factors(hush, TWINS, 0.1, 10.0) == {"Twin A": 10.0}
    assert alibi_factors(hush, TWINS, 0.1, 30.0) == {"Twin A": 20.0}
    assert alibi_factors(hush, TWINS, 0.1) == {}  # silence not used (the default cap 1)
    both = VisitAis("W", None, 0.0, alibis=alibi, silent=[Silence(1, 0.05, imo="2000002")])
    assert alibi_factors(both, TWINS, 0.1, 10.0) == {"Twin B": 0.0}
    # an edge alibi (elsewhere only at one end of the visit, hiding at the rest: the vessel may
    # be the hull of the other sightings) weighs nothing down, and its silence counts
    edge = [Alibi(1, "t", 9e4, name="Twin B", edge=True)]
    late = VisitAis("W", None, 0.0, alibis=edge, silent=[Silence(1, 0.05, name="Twin B")])
    assert alibi_factors(late, TWINS, 0.1, 10.0) == {"Twin B": 10.0}
    assert alibi_factors(VisitAis("W", None, 0.0, alibis=edge), TWINS, 0.1, 10.0) == {}
    # a transponder not in the registry changes nothing
    stranger = [Alibi(7, "t", 9e4, confirmed=True, name="NOBODY", imo="9")]
    assert alibi_factors(VisitAis("W", None, 0.0, alibis=stranger), TWINS, 0.1) == {}


def test_a_dark_call_is_named_once_its_twin_is_seen_elsewhere(params):
    from pipeline.estimate import run_estimate
    from pipeline.portcalls.ais import Alibi

    params.volume.draws = 400
    alibi = [Alibi(1, "2024-03-01T00:00:00Z", 90_000.0, confirmed=True, imo="2000002")]

    def one(ais):
        return run_estimate([twin_visit()], [], [], TWINS, params, seed=3, ais=ais).deliveries[0]

    dark = one({"W": VisitAis("W", None, 0.0, evidence=1)})
    assert dark.vessel == "unidentified" and dark.dark
    named = one({"W": VisitAis("W", None, 0.0, evidence=1, alibis=alibi)})
    assert named.vessel == "Twin A" and named.dark and named.id_probability > 0.5
    assert "ruled out, seen elsewhere by an image matched to its AIS: Twin B" in named.method
