"""Parameters of port-call building and estimation (configs/estimate/*.yaml).

The `portcalls` and `voyages` sections are defined by the port-call stage
(pipeline.portcalls.params); this module adds the estimation sections and the whole file.

One file holds every number the two stages use, each with the source it comes from, so a reader
can audit an estimate without reading code. `load_params()` reads the default file;
`tankerwatch config check configs/estimate/default.yaml` validates one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from pipeline.config import Strict, load_yaml_model
from pipeline.portcalls.params import (
    DEFAULT_PARAMS,
    PortcallParams,
    VoyageParams,
    retired_keys_error,
)


class IdentificationParams(Strict):
    threshold: float = Field(gt=0, le=1, description="below: 'unidentified'")
    prior_in_registry: float = Field(gt=0, lt=1)
    length_range_m: tuple[float, float]
    beam_range_m: tuple[float, float]
    max_candidates: int = Field(default=5, ge=1)
    alibi_weight: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="prior factor of a vessel whose transponder (unconfirmed by an image) put it "
        "elsewhere while the hull was seen: about the chance it was spoofing its position",
    )
    silence_max_factor: float = Field(
        default=1.0,
        ge=1,
        description="largest prior factor of a vessel whose transponder, usually heard, was "
        "silent (or spoofing-like) while a dark hull was seen: 1 / its silent share, capped here "
        "(1: silence not used)",
    )
    source: str


class CapacityParams(Strict):
    """dwt = a * length_m ** b, with log-normal scatter sigma_ln."""

    a: float = Field(gt=0)
    b: float = Field(gt=0)
    sigma_ln: float = Field(ge=0)
    fit_registry_min_rows: int = Field(
        default=8, ge=3, description="fit a, b on the registry when it has this many sized rows"
    )
    source: str


class Distribution(Strict):
    dist: Literal["uniform", "triangular", "fixed"]
    low: float = Field(ge=0)
    high: float = Field(ge=0)
    mode: float | None = None
    source: str = ""

    @model_validator(mode="after")
    def _order(self) -> Distribution:
        if self.high < self.low:
            raise ValueError("high must not be below low")
        if self.dist == "triangular" and (
            self.mode is None or not self.low <= self.mode <= self.high
        ):
            raise ValueError("triangular needs low <= mode <= high")
        return self


class Product(Strict):
    bbl_per_t: float = Field(gt=0)
    product_class: Literal["refined", "crude"]
    source: str


class DraughtParams(Strict):
    """How a tanker's reported departure draught is read into the cargo it left with
    (pipeline.estimate.draught, pipeline.hull)."""

    block_coefficient: Distribution
    deadweight_coefficient: Distribution = Field(description="dwt over full-load displacement")
    consumables_share: Distribution = Field(description="fuel, water and stores, share of dwt")
    sigma_m: float = Field(
        ge=0, description="reported draught against the mean draught (0.1 m steps, trim, water)"
    )
    min_rise_m: float = Field(
        gt=0,
        description="a departure draught at least this much deeper than the one reported on "
        "arrival counts as updated by the crew (an unchanged value says nothing)",
    )
    window_h: float = Field(
        gt=0, description="the update is looked for up to this long after the visit's end"
    )
    source: str


class VolumeParams(Strict):
    cargo_share: Distribution
    loading_factor: Distribution
    loading_correlation: float = Field(
        ge=0, le=1, description="share of loading-factor variation common to every call"
    )
    scenarios: dict[str, float]
    products: dict[str, Product]
    product_mix: dict[str, dict[str, float]]
    draws: int = Field(ge=100, le=200_000)
    draught: DraughtParams | None = Field(
        default=None,
        description="read AIS departure draughts into cargo (None: the loading factor alone)",
    )
    source: str

    @model_validator(mode="after")
    def _mix(self) -> VolumeParams:
        for cls, mix in self.product_mix.items():
            for p in mix:
                if p not in self.products:
                    raise ValueError(f"product_mix.{cls}: unknown product '{p}'")
            if abs(sum(mix.values()) - 1) > 1e-6:
                raise ValueError(f"product_mix.{cls}: shares must sum to 1")
        return self


class CoverageParams(Strict):
    dwell_median_h: Distribution
    dwell_sigma_ln: float = Field(gt=0)
    dwell_fit_min_visits: int = Field(
        default=8,
        ge=1,
        description="below this many load visits the notes say the fit rests on priors",
    )
    dwell_fit_range_h: tuple[float, float] = (4.0, 240.0)
    dwell_prior_weight: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="share of the dwell-median prior on dwell_median_h; the rest is spread "
        "log-uniformly over dwell_fit_range_h",
    )
    fit_visit_weight: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="each visit's log-likelihood in the dwell/recall fit is multiplied by this "
        "(below 1: visits split or merged by port-call building count for less)",
    )
    ais_stay_weight: float = Field(
        default=1.0,
        ge=0,
        description="each complete AIS stay at a load berth (pipeline.portcalls.ais_stays) enters "
        "the dwell fit as a log-normal observation of the dwell with this weight (0: AIS stays "
        "unused); the transmitting calls are taken to stay as long as the dark ones",
    )
    recall_prior_n: float = Field(
        default=10.0,
        gt=0,
        description="each sensor's portcalls.detector_recall range counts as at most this many "
        "clear images against the recall measured in the visits",
    )
    grid_h: float = Field(default=1.0, gt=0)
    draws: int = Field(default=400, ge=50)
    source: str

    @model_validator(mode="before")
    @classmethod
    def _retired_keys(cls, data):
        # recall moved to portcalls.detector_recall, one entry per sensor (#13)
        return retired_keys_error(data, ("detector_recall", "detector_recall_fine", "fine_gsd_m"))


class CapsParams(Strict):
    refined_bbl: float = Field(gt=0)
    crude_bbl: float = Field(gt=0)
    source: str


class EstimateParams(Strict):
    portcalls: PortcallParams
    voyages: VoyageParams
    identification: IdentificationParams
    capacity: CapacityParams
    volume: VolumeParams
    coverage: CoverageParams
    caps: CapsParams

    def digest(self) -> str:
        """A short hash of every parameter, part of delivery ids (same inputs, same ids)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def load_params(path: Path | str | None = None) -> EstimateParams:
    return load_yaml_model(EstimateParams, path or DEFAULT_PARAMS)
