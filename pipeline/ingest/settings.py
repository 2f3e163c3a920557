"""Source settings for ingest: endpoints, collections, file name patterns and thresholds.

One pydantic model (unknown keys refused) loaded from ``configs/sources/*.yaml``; the shipped
``configs/sources/default.yaml`` holds the public endpoints. Credentials never live here: Sentinel
Hub reads ``SH_CLIENT_ID`` / ``SH_CLIENT_SECRET`` from the environment.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from pipeline.bands import ALIASES, canonical_band
from pipeline.config import CONFIG_DIR, Strict, load_yaml_model

SOURCES_DIR = CONFIG_DIR / "sources"
DEFAULT_SOURCES = SOURCES_DIR / "default.yaml"

# Sentinel-2 scene classification (SCL) classes counted as cloud, shadow or haze by default:
# 3 cloud shadow, 8 cloud medium probability, 9 cloud high probability, 10 thin cirrus.
DEFAULT_CLOUD_CLASSES = [3, 8, 9, 10]


class RetrySettings(Strict):
    max_attempts: int = Field(default=4, ge=1, le=20, description="attempts per request")
    backoff_s: float = Field(default=2.0, ge=0, description="first wait; doubles each retry")
    max_backoff_s: float = Field(default=60.0, ge=0)
    timeout_s: float = Field(default=60.0, gt=0, description="per HTTP request")


class CloudSettings(Strict):
    cloud_classes: list[int] = Field(default_factory=lambda: list(DEFAULT_CLOUD_CLASSES))
    min_clear_fraction: float = Field(
        default=0.2, ge=0, le=1, description="skip scenes whose AOI is less clear than this"
    )
    berth_margin_m: float = Field(
        default=50.0, ge=0, description="berth polygon buffer that must be visible"
    )
    berth_max_cloud_fraction: float = Field(
        default=0.05, ge=0, le=1, description="a berth is 'clear' only below this cloud fraction"
    )
    s2cloudless_threshold: float = Field(default=0.4, gt=0, lt=1)

    @field_validator("cloud_classes")
    @classmethod
    def _codes(cls, v: list[int]) -> list[int]:
        for code in v:
            if not 0 < code < 12:
                raise ValueError(f"SCL class {code} is not a Sentinel-2 SCL code (1..11)")
        return v


class SentinelHubSettings(Strict):
    base_url: str = "https://services.sentinel-hub.com"
    token_url: str = (
        "https://services.sentinel-hub.com/auth/realms/main/protocol/openid-connect/token"
    )
    collections: list[Literal["sentinel-2-l2a", "sentinel-1-grd"]] = Field(
        default_factory=lambda: ["sentinel-2-l2a"]
    )
    max_cloud_cover: float = Field(default=80.0, ge=0, le=100, description="catalogue filter, %")
    resolution_m: float = Field(default=10.0, gt=0)
    group_minutes: float = Field(
        default=10.0, gt=0, description="catalogue features this close in time are one pass"
    )
    s1_backcoeff: Literal["SIGMA0_ELLIPSOID", "GAMMA0_TERRAIN"] = Field(
        default="SIGMA0_ELLIPSOID",
        description="Sentinel-1 backscatter coefficient the Process API calibrates to",
    )
    s1_dem: Literal["COPERNICUS", "COPERNICUS_30", "COPERNICUS_90", "MAPZEN"] = Field(
        default="COPERNICUS", description="DEM for Sentinel-1 orthorectification"
    )


# catalogue collections of Sentinel-1 GRD as ESA distributes it: amplitude DN in radar
# geometry (GCPs, no map projection), not calibrated backscatter
UNCALIBRATED_S1 = {"sentinel-1-grd"}


class StacEndpoint(Strict):
    url: str
    collection: str = "sentinel-2-l2a"
    kind: Literal["optical", "sar"] = Field(
        default="optical", description="optical: Sentinel-2 L2A bands + SCL; sar: VV/VH"
    )
    sensor: str | None = Field(
        default=None,
        description="scene sensor name (default: the collection); the same acquisition from "
        "two catalogues under one sensor name is one scene",
    )
    # canonical band name -> asset key; "SCL" is the scene classification asset; SAR: VV, VH
    # and optionally MASK (layover / shadow / invalid, non-zero = not seen)
    assets: dict[str, str]
    sar_quantity: Literal["sigma0", "gamma0"] | None = Field(
        default=None, description="sar: what the catalogue's pixels are calibrated to"
    )
    sar_scale: Literal["linear", "db"] | None = Field(
        default=None, description="sar: linear power or dB (None: read off the values)"
    )
    signing: Literal["none", "planetary-computer"] = "none"
    sas_url: str | None = Field(
        default=None, description="SAS token endpoint, for signing: planetary-computer"
    )

    @model_validator(mode="after")
    def _sas(self) -> StacEndpoint:
        if self.signing == "planetary-computer" and not self.sas_url:
            raise ValueError("sas_url is required when signing is planetary-computer")
        if self.collection in UNCALIBRATED_S1:
            raise ValueError(
                f"collection '{self.collection}' holds Sentinel-1 GRD amplitude DN in radar "
                "geometry (GCPs, no map projection), not calibrated backscatter: use "
                "Planetary Computer's sentinel-1-rtc (gamma0, terrain corrected) or "
                "--source sentinelhub (calibrated and orthorectified on the fly)"
            )
        if self.kind == "sar":
            if "VV" not in self.assets:
                raise ValueError("a sar endpoint needs assets.VV (and VH)")
            if self.sar_quantity is None:
                raise ValueError("a sar endpoint needs sar_quantity (sigma0 or gamma0)")
        return self

    @property
    def sensor_name(self) -> str:
        return self.sensor or self.collection


class StacSettings(Strict):
    endpoint: str = "earth-search"
    endpoints: dict[str, StacEndpoint]
    max_cloud_cover: float = Field(default=80.0, ge=0, le=100)
    resolution_m: float = Field(default=10.0, gt=0)
    bands: list[str] = Field(default_factory=lambda: ["B02", "B03", "B04", "B08", "B11"])
    group_minutes: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _known(self) -> StacSettings:
        if self.endpoint not in self.endpoints:
            raise ValueError(
                f"endpoint '{self.endpoint}' is not one of {', '.join(sorted(self.endpoints))}"
            )
        for name, ep in self.endpoints.items():
            if ep.kind == "sar":
                continue
            missing = [b for b in [*self.bands, "SCL"] if b not in ep.assets]
            if missing:
                raise ValueError(f"endpoints.{name}.assets: no asset for {', '.join(missing)}")
            for band, key in ep.assets.items():
                # an asset key that names a band (Earth Search's nir08 is B8A) must be that band
                held = ALIASES.get(key.strip().lower())
                if held is not None and held != canonical_band(band):
                    raise ValueError(
                        f"endpoints.{name}.assets.{band}: asset '{key}' holds {held}, not {band}"
                    )
        return self


class LocalSettings(Strict):
    patterns: list[str] = Field(
        default_factory=lambda: [r"(?P<date>\d{4}-?\d{2}-?\d{2})(?:[T_]?(?P<time>\d{6}))?"],
        description="regexes on the file name: group 'date' (YYYYMMDD, dashes allowed) and "
        "optional 'time' (HHMMSS), or groups year, month, day (+ optional hour, minute, second)",
    )
    glob: str = Field(default="**/*.tif", description="which files under --path are scenes")
    required_bands: list[str] = Field(default_factory=lambda: ["B02", "B03", "B04", "B08"])
    sensor: str = Field(
        default="sentinel-2-l2a", description="sensor name when the file does not say"
    )
    without_cloud_mask: Literal["clear", "obscured"] = Field(
        default="clear",
        description="berth state when a file has no SCL/cloud mask and no L1C bands",
    )
    sar_quantity: Literal["sigma0", "gamma0"] = Field(
        default="sigma0",
        description="what a VV/VH file holds when neither its tags, band names nor sidecar say "
        "(recorded as assumed)",
    )

    @field_validator("patterns")
    @classmethod
    def _regex(cls, v: list[str]) -> list[str]:
        for p in v:
            try:
                rx = re.compile(p)
            except re.error as exc:
                raise ValueError(f"bad regex {p!r}: {exc}") from None
            groups = set(rx.groupindex)
            if "date" not in groups and not {"year", "month", "day"} <= groups:
                raise ValueError(
                    f"regex {p!r} needs a named group 'date' or groups 'year', 'month', 'day'"
                )
        return v


class SarSettings(Strict):
    allow_single_pol: bool = Field(
        default=False,
        description="keep VV-only (single-pol) Sentinel-1 scenes; the learned SAR detector needs "
        "VV and VH, the CFAR detector works on VV alone",
    )


class SourceSettings(Strict):
    retry: RetrySettings = Field(default_factory=RetrySettings)
    clouds: CloudSettings = Field(default_factory=CloudSettings)
    sentinelhub: SentinelHubSettings = Field(default_factory=SentinelHubSettings)
    stac: StacSettings
    local: LocalSettings = Field(default_factory=LocalSettings)
    sar: SarSettings = Field(default_factory=SarSettings)


def load_source_settings(path: Path | str | None = None) -> SourceSettings:
    """Load source settings (default: configs/sources/default.yaml)."""
    return load_yaml_model(SourceSettings, path or DEFAULT_SOURCES)
