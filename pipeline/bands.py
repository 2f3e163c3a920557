"""Band names: every raster band is addressed by name (from its GeoTIFF description), never by
position alone. Sentinel-2 names are canonical; other sensors' names map onto them."""

from __future__ import annotations

from pipeline.errors import TankerWatchError

# alias (lower case) -> canonical Sentinel-2 band name. The long names are Earth Search's asset
# keys (element84 sentinel-2-l2a): there ``nir`` is B08 (10 m, 842 nm) and ``nir08`` is B8A
# (20 m, 865 nm), a different band; ``coastal`` is B01. PlanetScope SuperDove's ``coastal_blue``
# (431-452 nm) is B01's band too, and its ``blue`` (465-515 nm) is B02.
ALIASES = {
    "b01": "B01",
    "b1": "B01",
    "coastal": "B01",
    "coastal_blue": "B01",
    "b02": "B02",
    "b2": "B02",
    "blue": "B02",
    "b03": "B03",
    "b3": "B03",
    "green": "B03",
    "b04": "B04",
    "b4": "B04",
    "red": "B04",
    "b05": "B05",
    "b5": "B05",
    "rededge1": "B05",
    "b06": "B06",
    "b6": "B06",
    "rededge2": "B06",
    "b07": "B07",
    "b7": "B07",
    "rededge3": "B07",
    "b08": "B08",
    "b8": "B08",
    "nir": "B08",
    "b8a": "B8A",
    "nir08": "B8A",
    "b09": "B09",
    "b9": "B09",
    "nir09": "B09",
    "b10": "B10",
    "cirrus": "B10",
    "b11": "B11",
    "swir16": "B11",
    "swir1": "B11",
    "b12": "B12",
    "swir22": "B12",
    "swir2": "B12",
    "scl": "SCL",
    "vv": "VV",
    "vh": "VH",
}


# radar polarisations: backscatter as the scene holds it (linear sigma0 / gamma0 in the cache),
# never reflectance or DN
SAR_BANDS = ("VV", "VH", "HH", "HV")


def canonical_band(name: str) -> str:
    return ALIASES.get(name.strip().lower(), name.strip())


def band_indexes(descriptions: list[str | None] | tuple, wanted: list[str], path: str) -> list[int]:
    """1-based rasterio band indexes of ``wanted`` bands, by name; one clear error if missing."""
    names = [canonical_band(d) if d else "" for d in descriptions]
    if not any(names):
        raise TankerWatchError(
            f"{path}: bands have no descriptions; set band names (e.g. B02, B03, B04, B08)"
        )
    out = []
    missing = []
    for w in wanted:
        cw = canonical_band(w)
        if cw in names:
            out.append(names.index(cw) + 1)
        else:
            missing.append(w)
    if missing:
        raise TankerWatchError(
            f"{path}: missing bands {', '.join(missing)} (has {', '.join(n for n in names if n)})"
        )
    return out
