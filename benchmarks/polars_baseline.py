"""The contributor's steps written the straightforward polars way: a reference for ``dvnet contribute``.

Issue 18 asks dvnet to beat "the best straightforward version a competent analyst would write
today", measured as the user experiences it. This is that version with polars: the same steps as
``contributor.pandas_contribution`` (read, type, validate by the contract's pandera model, drop
the rows that fail, consent, de-identify, k-anonymity or the standard count tables, Parquet,
the same ``bundle.seal``), each in polars' own idiom (lazy where it helps, expressions, no
per-cell Python but the keyed hashes, as the pandas version's ``hmac.new`` per row). The rules
are read from the pandera model (column types, nullability, ``isin``/``str_matches``/
``str_length`` checks, uniqueness); the model's one frame-level rule is written out by hand, and
anything else in the model stops the run instead of being skipped. ``contributor.py`` checks
that it sends what dvnet sends (records read, rejected, consent, withheld, payload rows).
"""

from __future__ import annotations

import hashlib
import hmac
import io
from pathlib import Path

#: The frame-level rules of the models this baseline knows, by name (written out below).
FRAME_RULES = {"end_not_before_start"}


def _column_rules(pl, name: str, column) -> list:
    """Polars expressions, True where a row breaks one of ``column``'s rules (pandera semantics:
    checks skip nulls; a non-nullable column fails on null; a unique column fails on every copy)."""
    c = pl.col(name)
    broken = []
    if not column.nullable:
        broken.append(c.is_null())
    if column.unique:
        broken.append(c.is_duplicated() & c.is_not_null())
    for check in column.checks:
        stats = check.statistics or {}
        if check.name == "isin":
            broken.append(~c.is_in(list(stats["allowed_values"])))
        elif check.name == "str_matches":
            broken.append(~c.str.contains(stats["pattern"] if stats["pattern"].startswith("^") else "^" + stats["pattern"]))
        elif check.name == "str_length":
            low, high = stats.get("min_value"), stats.get("max_value")
            length = c.str.len_chars()
            broken.append((length < low if low is not None else pl.lit(False)) | (length > high if high is not None else pl.lit(False)))
        else:
            raise SystemExit(f"polars baseline: no translation for check {check.name!r} of {name}")
    return [b.fill_null(False) for b in broken]


def _broken(pl, schema) -> object:
    """One expression: True where a row breaks any rule of the pandera ``schema``."""
    unknown = {check.name for check in schema.checks} - FRAME_RULES
    if unknown:
        raise SystemExit(f"polars baseline: no translation for frame rules {sorted(unknown)}")
    rules = [rule for name, column in schema.columns.items() for rule in _column_rules(pl, name, column)]
    if schema.checks:  # end_not_before_start
        rules.append(~(pl.col("episode_end").is_null() | (pl.col("episode_end") >= pl.col("episode_start")).fill_null(False)))
    return pl.any_horizontal(rules)


def polars_contribution(network: Path, extract: Path, mode: str, mark) -> dict:
    """The same steps as ``contribute()``, written the plain polars way (the agency, contract,
    period, k and withholding limit of ``contributor.py``, as its pandas version)."""
    import polars as pl
    from contributor import AGENCY, CONTRACT, K, MAX_WITHHELD, PERIOD, seal_baseline

    from dvnet import bundle
    from dvnet.common.network import NetworkPaths, load_agency
    from dvnet.contracts.codes import AGE_BAND_LOWER_BOUNDS, AGE_BANDS
    from dvnet.contracts.periods import Period
    from dvnet.contracts.registry import get_contract
    from dvnet.contracts.roles import Transform
    from dvnet.pipelines.demo_network import demo_geography

    agency = load_agency(NetworkPaths(network).agencies / AGENCY)
    contract = get_contract(CONTRACT)
    period = Period.parse(PERIOD)
    schema = contract.source.to_schema()

    mark("read")
    df = pl.read_csv(extract, infer_schema=False)  # every column as text; an empty field is null
    read = df.height

    mark("validate")
    typed = []
    for name, column in schema.columns.items():
        kind = str(column.dtype)
        if kind.startswith("datetime64"):
            typed.append(pl.col(name).str.strptime(pl.Date, "%Y-%m-%d", strict=False))
        elif kind == "boolean":
            typed.append(pl.col(name).str.strip_chars().str.to_lowercase().replace_strict({"true": True, "false": False}, default=None, return_dtype=pl.Boolean))
    df = df.with_columns(typed)
    start = pl.col(contract.event_date)
    outside = ((start < period.start) | (start > period.end)).fill_null(False)
    df = df.with_columns((_broken(pl, schema) | outside).alias("_bad"))
    rejected = int(df["_bad"].sum())
    df = df.filter(~pl.col("_bad")).drop("_bad")

    mark("consent")
    excluded = 0
    if mode == "record":
        ok = pl.col("consent_to_share").fill_null(False) & (pl.col("consent_expiry").is_null() | (pl.col("consent_expiry") >= period.end))
        kept = df.filter(ok)
        excluded, df = df.height - kept.height, kept

    mark("de-identify")
    key = bundle.read_secret(agency.pseudonym_key_path)
    regions = demo_geography().region_of_prefix
    columns = []
    for f in contract.fields():
        target = f.output or f.name
        if f.transform is Transform.PSEUDONYM:
            if mode == "record":
                prefix = f.name.encode() + b"\x00"
                columns.append(pl.Series(target, [hmac.new(key, prefix + v.encode(), hashlib.sha256).hexdigest()[:32] for v in df[f.name]], pl.String))
        elif f.transform is Transform.AGE_BAND:
            born, at = pl.col(f.name), pl.col(f.at)
            day_of_year = lambda d: d.dt.month().cast(pl.Int32) * 100 + d.dt.day().cast(pl.Int32)  # noqa: E731  (Int8 would wrap)
            years = at.dt.year() - born.dt.year() - (day_of_year(at) < day_of_year(born)).cast(pl.Int32)
            band = years.cut(list(AGE_BAND_LOWER_BOUNDS), labels=["below", *AGE_BANDS], left_closed=True).cast(pl.String)
            columns.append(pl.when(band == "below").then(None).otherwise(band).fill_null("unknown").alias(target))
        elif f.transform is Transform.POSTAL_REGION:
            columns.append(pl.col(f.name).str.slice(0, 3).str.to_uppercase().replace_strict(regions, default="unknown", return_dtype=pl.String).alias(target))
        elif f.transform is Transform.QUARTER:
            columns.append(pl.format("{}-Q{}", pl.col(f.name).dt.year(), pl.col(f.name).dt.quarter()).alias(target))
        elif f.transform is Transform.KEEP:
            columns.append(pl.col(f.name))
    out = df.select(columns)
    output_schema = contract.output.to_schema()
    if mode == "aggregate":
        output_schema = output_schema.remove_columns(["episode_pseudonym", "client_pseudonym"])
    if out.select(_broken(pl, output_schema).any()).item():
        raise SystemExit("polars baseline: the de-identified rows break the output model")

    mark("disclosure check")
    withheld = 0
    if mode == "record":
        qis = contract.quasi_identifiers()
        small = out.select(pl.len().over(qis) < K).to_series()
        withheld = int(small.sum())
        if withheld / max(out.height, 1) > MAX_WITHHELD:
            raise SystemExit("k-anonymity refused")
        payload = out = out.filter(~small)
    else:
        tables = []
        lazy = out.lazy()
        for t in contract.standard_tables:
            if t.unpivot:
                other = [d for d in t.dims if d != "indicator"]
                for col in t.unpivot:
                    tables.append(lazy.filter(pl.col(col)).group_by(other).agg(n=pl.len())
                                  .with_columns(indicator=pl.lit(col.removeprefix("risk_")), table_name=pl.lit(t.name)))  # fmt: skip
            else:
                tables.append(lazy.group_by(list(t.dims)).agg(n=pl.len()).with_columns(table_name=pl.lit(t.name)))
        dims = {d for t in contract.standard_tables for d in t.dims}
        payload = pl.concat(
            [t.with_columns(pl.col(c).cast(pl.String).str.to_lowercase() for c in t.collect_schema().names() if c in dims) for t in tables],
            how="diagonal",
        ).collect()

    mark("seal")
    sink = io.BytesIO()
    payload.write_parquet(sink, compression="zstd")
    seal_baseline(agency, contract, mode, sink.getvalue(), payload.height, "polars")
    return {"records_read": read, "rejected": rejected, "excluded_consent": excluded, "withheld_k": withheld,
            "sent": out.height, "payload_rows": payload.height, "status": "sealed"}
