"""Parameters of port-call building and voyage linking: the `portcalls` and `voyages` sections
of a configs/estimate/*.yaml file (the estimate stage reads the whole file and imports these).

They live here, upstream of estimation, so port calls never import the estimate stage.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from pipeline.config import CONFIG_DIR, HOME, Strict, read_yaml, validate
from pipeline.errors import TankerWatchError
from pipeline.records import SensorCalibration

# One file holds every number of port calls and estimation, each with its source.
DEFAULT_PARAMS = CONFIG_DIR / "estimate" / "default.yaml"


class SizeError(Strict):
    """Measurement error of a detected vessel's length and beam (1 sigma, metres).

    sigma = base_m + per_gsd * gsd_m (+ rel * size): coarser pixels, larger error.
    bias = bias_base_m + bias_per_gsd * gsd_m is the detector's mean error (measured minus true),
    subtracted from every measurement before sizes are compared or matched to the registry.
    """

    length_base_m: float = Field(ge=0)
    length_per_gsd: float = Field(ge=0)
    length_rel: float = Field(default=0.0, ge=0)
    beam_base_m: float = Field(ge=0)
    beam_per_gsd: float = Field(ge=0)
    beam_rel: float = Field(default=0.0, ge=0)
    length_bias_base_m: float = 0.0
    length_bias_per_gsd: float = 0.0
    beam_bias_base_m: float = 0.0
    beam_bias_per_gsd: float = 0.0
    systematic_frac: float = Field(
        default=0.5, ge=0, le=1, description="share of the variance that repeats between images"
    )
    default_gsd_m: float = Field(default=10.0, gt=0)
    source: str

    def _gsd(self, gsd_m: float) -> float:
        return gsd_m if gsd_m > 0 else self.default_gsd_m

    def bias(self, gsd_m: float) -> tuple[float, float]:
        """The detector's mean length and beam error (measured minus true) at this GSD."""
        g = self._gsd(gsd_m)
        return (
            self.length_bias_base_m + self.length_bias_per_gsd * g,
            self.beam_bias_base_m + self.beam_bias_per_gsd * g,
        )

    def debiased(self, gsd_m: float, length_m: float, beam_m: float) -> tuple[float, float]:
        """A measured length and beam with the detector's mean error removed (at least 1 m)."""
        bl, bb = self.bias(gsd_m)
        return max(length_m - bl, 1.0), max(beam_m - bb, 1.0)

    def length_sigma(self, gsd_m: float, length_m: float = 0.0) -> float:
        g = self._gsd(gsd_m)
        return self.length_base_m + self.length_per_gsd * g + self.length_rel * length_m

    def beam_sigma(self, gsd_m: float, beam_m: float = 0.0) -> float:
        g = self._gsd(gsd_m)
        return self.beam_base_m + self.beam_per_gsd * g + self.beam_rel * beam_m


class PersistentParams(Strict):
    """Fixed objects (pier heads, dolphins, pontoons, moored barges) set apart from visits:
    detections at the same place with the same size, seen in most clear images over a window far
    longer than any plausible call (pipeline.portcalls.persistent)."""

    window_h: float = Field(gt=0, description="a track must span at least this long")
    min_presence: float = Field(
        gt=0, le=1, description="and be seen in at least this share of the clear images over it"
    )
    min_scenes: int = Field(default=4, ge=2, description="and in at least this many images")
    position_m: float = Field(
        gt=0, description="same place: centres closer than this (plus the coarser GSD)"
    )
    size_gate_sigma: float = Field(gt=0, description="same size: within this many sigmas")
    spread_sigma: float = Field(
        default=1.0,
        gt=0,
        description="one object: its lengths spread (sd) at most this many single-image sigmas",
    )
    max_cloud: float = Field(
        default=0.5, ge=0, le=1, description="images cloudier than this are not counted as clear"
    )
    scatter_m: float | None = Field(
        default=None,
        gt=0,
        description="one object: its centres scatter (RMS about their median) at most this "
        "plus half a pixel (None: position_m)",
    )
    source: str


DEFAULT_SENSOR = "default"  # the detector_recall entry for a sensor without its own
# configs before #13 keyed recall by GSD (fine / coarse), and twice: here and in the estimate's
# coverage section (whose retired keys pipeline.estimate.params names)
RETIRED_RECALL_KEYS = ("miss_recall", "miss_recall_fine", "miss_fine_gsd_m")


def retired_keys_error(data, keys: tuple[str, ...]):
    """Refuse a config section that still holds recall keyed by GSD (one line naming the key)."""
    if isinstance(data, dict):
        for key in keys:
            if key in data:
                raise ValueError(
                    f"'{key}' is retired: the detector recall is set once, per sensor name, in "
                    "portcalls.detector_recall (see configs/estimate/default.yaml)"
                )
    return data


BIN_PRIOR_N = 4.0  # a length bin's recall is shrunk toward the pooled share by this many tankers


class RecallPrior(Strict):
    """The detector's recall per clear image on one sensor, as a range: port calls weigh a miss
    with its mean; the estimate takes it as a Beta prior with the range's mean and spread (that
    of a uniform over it), fitted further on the visits themselves."""

    low: float = Field(gt=0, lt=1)
    high: float = Field(gt=0, lt=1)
    source: str = ""
    measured: str = Field(
        default="",
        description="a detector bundle's berths.json the range was read from (set in the "
        "config instead of low/high: the file's measurement for this sensor gives them)",
    )
    length_edges_m: list[float] = Field(
        default_factory=list,
        description="hull-length bins of relative_by_length (upper edges; the last bin open)",
    )
    relative_by_length: list[float] = Field(
        default_factory=list,
        description="recall in each length bin over the pooled recall (the file's "
        "recall_by_length, each bin shrunk toward the pooled share by BIN_PRIOR_N tankers); "
        "empty: the same for every length",
    )

    @classmethod
    def from_calibration(cls, cal: SensorCalibration, path: str) -> RecallPrior:
        """The range a berth measurement supports.

        With the tankers behind each simulation's share (``tankers_by_simulation``): centred on
        the pooled share, as wide as a uniform with the spread of a season's recall about it
        (the between-simulation variance of the shares beyond their binomial noise, method of
        moments, plus the pooled share's own variance), narrowed symmetrically to stay inside
        0.01-0.99 so that its mean stays the pooled share. Seasons differ (which hulls call,
        how they lie), and few images of one season say little, so the shares are weighed by
        their images rather than taken as bounds.
        Without them (older files): the pooled share +- 2 binomial standard errors, widened to
        every simulation's own share."""
        mean = cal.recall
        se = math.sqrt(max(mean * (1 - mean), 1e-4) / cal.tankers)
        by_sim = ", ".join(f"{x:.2f}" for x in cal.recall_by_simulation)
        counts = cal.tankers_by_simulation
        if counts and len(counts) == len(cal.recall_by_simulation) and len(counts) > 1:
            n_all = float(sum(counts))
            spread = sum(
                n * (x - mean) ** 2 for n, x in zip(counts, cal.recall_by_simulation, strict=True)
            )
            between = (spread - mean * (1 - mean) * (len(counts) - 1)) / (
                n_all - sum(n * n for n in counts) / n_all
            )
            sd = math.sqrt(max(between, 0.0) + se * se)
            half = min(math.sqrt(3.0) * sd, mean - 0.01, 0.99 - mean)
            half = max(half, 0.005)
            lo, hi = mean - half, mean + half
            how = (
                f"{mean:.2f} pooled, a season's spread sd {sd:.2f} "
                f"(between-simulation sd {math.sqrt(max(between, 0.0)):.2f}); "
                f"{len(counts)} simulations"
            )
        else:
            lo = min([mean - 2 * se, *cal.recall_by_simulation])
            hi = max([mean + 2 * se, *cal.recall_by_simulation])
            how = f"{mean:.2f}; by simulation {by_sim}"
        edges, relative = [], []
        if cal.recall_by_length is not None and mean > 0:
            edges_t, tankers, found = cal.recall_by_length
            edges = list(edges_t)
            relative = [
                round((f + BIN_PRIOR_N * mean) / (t + BIN_PRIOR_N) / mean, 4)
                for t, f in zip(tankers, found, strict=True)
            ]
        return cls(
            low=round(min(max(lo, 0.01), 0.98), 3),
            high=round(min(max(hi, 0.02), 0.99), 3),
            length_edges_m=edges,
            relative_by_length=relative,
            measured=path,
            source=f"measured in {path}: {cal.model} found {cal.found} of {cal.tankers} tankers "
            f"at berths in clear {cal.sensor} images ({how})",
        )

    @model_validator(mode="after")
    def _order(self) -> RecallPrior:
        if self.high < self.low:
            raise ValueError("high must not be below low")
        if self.relative_by_length and len(self.relative_by_length) != len(self.length_edges_m) + 1:
            raise ValueError("relative_by_length needs one value more than length_edges_m")
        return self

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    def relative(self, length_m: float) -> float:
        """The recall of a hull this long over the sensor's pooled recall (1.0 unmeasured)."""
        if not self.relative_by_length:
            return 1.0
        import bisect

        return self.relative_by_length[bisect.bisect_right(self.length_edges_m, length_m)]

    def beta(self, max_n: float) -> tuple[float, float]:
        """Beta (a, b) with this range's mean and variance, a + b (images) capped at max_n."""
        mean = self.mean
        var = max((self.high - self.low) ** 2 / 12, 1e-6)
        n = max(min(mean * (1 - mean) / var - 1, max_n), 0.5)
        return mean * n, (1 - mean) * n


def measured_recall(sensor: str, path: str) -> RecallPrior:
    """The recall prior of ``sensor`` from a bundle's berths.json (relative: to the repository
    root). A file measured with other weights than the bundle's model.yaml names beside it (a
    retrained detector not re-measured) is refused, as is a file without this sensor."""
    return RecallPrior.from_calibration(_sensor_calibration(sensor, path, "detector_recall"), path)


def measured_size_error(sensor: str, path: str) -> SizeError:
    """The size error of ``sensor``'s hulls at berths from a bundle's berths.json (refused as
    ``measured_recall`` refuses): its bias and spread, whatever the GSD, and the share that
    repeats between images of one call where the file measured it (else 0.5, an assumption)."""
    cal = _sensor_calibration(sensor, path, "berth_size_error_by_sensor")
    if cal.systematic_frac is not None:
        share = (
            f"systematic_frac {cal.systematic_frac:.2f} measured: the length errors of one "
            f"call spread {cal.length_within_call_sd_m:.1f} m about their own mean over "
            f"{cal.calls_repeated} calls seen more than once"
        )
    else:
        share = "systematic_frac 0.5: ASSUMPTION (the file has no call measured twice)"
    return SizeError(
        length_base_m=cal.length_sd_m,
        length_per_gsd=0.0,
        beam_base_m=cal.beam_sd_m,
        beam_per_gsd=0.0,
        length_bias_base_m=cal.length_bias_m,
        beam_bias_base_m=cal.beam_bias_m,
        systematic_frac=0.5 if cal.systematic_frac is None else cal.systematic_frac,
        default_gsd_m=cal.gsd_m,
        source=f"measured in {path}: {cal.model} on {cal.found} tankers at berths in "
        f"{sensor} images, length error bias {cal.length_bias_m:+.1f} m sd "
        f"{cal.length_sd_m:.1f} m, beam {cal.beam_bias_m:+.1f} m sd {cal.beam_sd_m:.1f} m; "
        + share,
    )


def _sensor_calibration(sensor: str, path: str, field: str) -> SensorCalibration:
    import yaml

    from pipeline.recordio import read_calibration

    file = Path(path) if Path(path).is_absolute() else HOME / path
    sha = None
    spec = file.parent / "model.yaml"
    if spec.exists():
        sha = ((yaml.safe_load(spec.read_text(encoding="utf-8")) or {}).get("weights") or {}).get(
            "sha256"
        )
    try:
        cals = {c.sensor: c for c in read_calibration(file, sha)}
    except TankerWatchError as exc:  # a config value error: one line, under the field's name
        raise ValueError(f"{field}.{sensor}: {exc}") from None
    if sensor not in cals:
        raise ValueError(
            f"{field}.{sensor}: {file}: no measurement for sensor '{sensor}' (has {sorted(cals)})"
        )
    return cals[sensor]


class PortcallParams(Strict):
    berth_margin_m: float = Field(ge=0, description="a footprint within this of a berth meets it")
    min_score: float = Field(default=0.0, ge=0, le=1)
    min_length_m: float = Field(
        default=0.0, ge=0, description="at load/discharge berths, shorter hulls are not calls"
    )
    max_length_m: float = Field(
        default=1000.0, gt=0, description="at load/discharge berths, longer hulls are not calls"
    )
    min_length_beam: float = Field(
        default=0.0,
        ge=0,
        description="at load/discharge berths, a visit whose length is below this x its beam "
        "by more than gate_sigma of the difference's error is no tanker hull (0: no test)",
    )
    alongside_deg: float = Field(
        default=90.0,
        gt=0,
        le=90,
        description="at load/discharge berths, a hull whose heading is more than this off the "
        "berth's long side, or whose centre is more than alongside_m outside the berth polygon, "
        "is not moored alongside it (a ship passing or at anchor nearby, a fixed object): no "
        "sighting there (90: no test)",
    )
    alongside_m: float = Field(default=1e9, ge=0)
    classes: list[str] = Field(default_factory=list, description="empty: every class")
    max_gap_h: float = Field(gt=0, description="longest obscured gap bridged inside one visit")
    miss_tolerance: int = Field(
        default=1, ge=0, description="clear images missing the vessel bridged inside one visit"
    )
    miss_gap_h: float = Field(default=36.0, gt=0, description="longest gap bridged over a miss")
    miss_rule: Literal["weighed", "count"] = Field(
        default="weighed",
        description="weighed: a visit ends on the evidence of its misses, each clear image "
        "missing a present vessel with 1 - its sensor's detector_recall (see miss_p_max); "
        "count: after miss_tolerance misses within miss_gap_h",
    )
    miss_p_max: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="a visit ends when a present vessel would have been missed by every clear "
        "image since its last sighting with less than this probability",
    )
    split_p_max: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="with miss_rule weighed: a sighting after clear images that would all have "
        "missed a vessel still there with less than this probability starts a new visit (the "
        "berth was empty between two calls; at most miss_p_max changes nothing)",
    )
    berth_capacity: int | None = Field(
        default=None,
        ge=1,
        description="tankers a load or discharge berth takes at once: in one image at most this "
        "many sightings there (those that continue a visit first, then by score); absent: no "
        "limit beyond hulls not overlapping along the berth",
    )
    hull_recall_n: float | None = Field(
        default=None,
        gt=0,
        description="with miss_rule weighed: a hull's own recall at the berth is its sensor's "
        "detector_recall mean held with the weight of this many images, updated by that hull's "
        "hits and misses in the visit so far, so that repeated misses of a hull the detector "
        "keeps missing weigh less than independent ones; absent: every miss weighs 1 - the "
        "sensor's recall",
    )
    detector_recall: dict[str, RecallPrior] = Field(
        min_length=1,
        description="probability the detector finds a tanker at the berth in one clear image, "
        f"by sensor name (the scenes' sensor); '{DEFAULT_SENSOR}' for any sensor not listed",
    )
    gate_sigma: float = Field(gt=0, description="size gate, in sigmas of the difference")
    along_tolerance_m: float = Field(gt=0, description="position along the berth, plus 1 GSD")
    size_error: SizeError
    size_error_by_sensor: dict[str, SizeError] = Field(
        default_factory=dict,
        description="per sensor name, a measured size error replacing the GSD lines of "
        "size_error for that sensor's detections (a SAR detector's error is not an optical "
        "one's at the same pixel size)",
    )

    berth_size_error_by_sensor: dict[str, SizeError] = Field(
        default_factory=dict,
        description="per sensor name, the size error of hulls moored at a load or discharge "
        "berth (port calls' sightings there), where it is not the open-water one: at 10 m a "
        "hull alongside merges with the pier edge. Persistent objects and port tracing keep "
        "size_error_by_sensor / size_error",
    )

    def size_error_for(self, sensor: str) -> SizeError:
        """The size error of a sensor's detections: its own entry, else ``size_error``."""
        return self.size_error_by_sensor.get(sensor, self.size_error)

    def berth_size_error_for(self, sensor: str) -> SizeError:
        """The size error of a sensor's hulls moored at a load or discharge berth: its
        ``berth_size_error_by_sensor`` entry, else ``size_error_for``."""
        return self.berth_size_error_by_sensor.get(sensor) or self.size_error_for(sensor)

    persistent: PersistentParams | None = Field(
        default=None, description="fixed objects set apart from visits; absent: none are"
    )

    @model_validator(mode="before")
    @classmethod
    def _retired_keys(cls, data):
        data = retired_keys_error(data, RETIRED_RECALL_KEYS)
        if isinstance(data, dict) and isinstance(data.get("detector_recall"), dict):
            table = dict(data["detector_recall"])
            for sensor, entry in table.items():
                if isinstance(entry, dict) and entry.get("measured") and "low" not in entry:
                    table[sensor] = measured_recall(sensor, str(entry["measured"])).model_dump()
            data = {**data, "detector_recall": table}
        if isinstance(data, dict) and isinstance(data.get("berth_size_error_by_sensor"), dict):
            table = dict(data["berth_size_error_by_sensor"])
            for sensor, entry in table.items():
                if isinstance(entry, dict) and entry.get("measured"):
                    if set(entry) != {"measured"}:
                        raise ValueError(
                            f"berth_size_error_by_sensor.{sensor}: 'measured' takes every "
                            f"number from the file; drop {sorted(set(entry) - {'measured'})}"
                        )
                    table[sensor] = measured_size_error(sensor, str(entry["measured"])).model_dump()
            data = {**data, "berth_size_error_by_sensor": table}
        return data

    def recall_prior(self, sensor: str) -> RecallPrior:
        """The recall prior of a sensor: its own entry, else the 'default' one."""
        prior = self.detector_recall.get(sensor) or self.detector_recall.get(DEFAULT_SENSOR)
        if prior is None:
            raise TankerWatchError(
                f"portcalls.detector_recall: no entry for sensor '{sensor}' and no "
                f"'{DEFAULT_SENSOR}' entry (add one per sensor of the imagery)"
            )
        return prior

    def image_recall(self, sensor: str) -> float:
        """The recall used to weigh a miss in a clear image of this sensor (its prior's mean)."""
        return self.recall_prior(sensor).mean


class TransitWindow(Strict):
    min_h: float = Field(ge=0)
    max_h: float = Field(gt=0)
    source: str = ""

    @model_validator(mode="after")
    def _order(self) -> TransitWindow:
        if self.max_h <= self.min_h:
            raise ValueError("max_h must exceed min_h")
        return self


class VoyageParams(Strict):
    load_ports: list[str]
    windows: dict[str, TransitWindow]
    gate_sigma: float = Field(gt=0)


def _section(model, key: str, path: Path | str | None):
    path = path or DEFAULT_PARAMS
    data = read_yaml(path)
    if not isinstance(data, dict) or key not in data:
        raise TankerWatchError(f"{path}: field '{key}': missing")
    return validate(model, data[key], f"{path} ({key})")


def load_portcall_params(path: Path | str | None = None) -> PortcallParams:
    """The `portcalls` section of a configs/estimate file (default: the shipped one)."""
    return _section(PortcallParams, "portcalls", path)


def load_voyage_params(path: Path | str | None = None) -> VoyageParams:
    """The `voyages` section of a configs/estimate file (default: the shipped one)."""
    return _section(VoyageParams, "voyages", path)
