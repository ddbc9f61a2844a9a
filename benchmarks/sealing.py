"""Benchmark: seal and open a bundle, beside the raw AEAD over the same bytes.

    .venv/bin/python benchmarks/sealing.py                 # 8 MiB (one 200k-row bundle) and 128 MiB
    .venv/bin/python benchmarks/sealing.py --mib 8 --repeats 3

``seal`` is everything an agency's bundle costs after its payload exists: the manifest's SHA-256,
HPKE (X25519, HKDF-SHA256, ChaCha20-Poly1305) and the Ed25519 signature over SHA-256(header) ‖
SHA-256(ciphertext). ``open`` is SPEC §5 in order (parse, signature, recipient, freshness, decrypt,
manifest). The reference, measured in the same process on the same bytes, is
``ChaCha20Poly1305.encrypt`` / ``decrypt`` alone (no hashing, no signature, no framing), and one
SHA-256 pass over the data. Seal is by design one AEAD pass, three SHA-256 passes (the data for the
manifest, the ciphertext for the signature, the file for the receipt) and two copies (plaintext
framing, file framing); open is one AEAD pass and two SHA-256 passes (ciphertext, data).
Medians of ``--repeats`` back-to-back calls; writes ``results/sealing.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from run_info import machine, results_path, run_id  # noqa: E402


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(mib: int, repeats: int) -> dict:
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    from dvnet import bundle

    data = os.urandom(mib * 2**20)  # incompressible, like a zstd Parquet payload
    signing, recipient = bundle.generate_signing_key(), bundle.generate_encryption_key()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def seal():
        return bundle.seal(data, agency_id="bench-agency", contract_id="service_episode", contract_version=1, mode="record",
                           sequence=1, period="2026-Q3", record_count=1, signing_key=signing,
                           recipient_public_key=recipient.public_key(), now=now)

    blob = seal().blob

    def open_():
        opened = bundle.open_bundle(blob, signing_public_key=signing.public_key(), recipient_private_key=recipient, now=now)
        assert len(opened.data) == len(data)

    aead, nonce = ChaCha20Poly1305(ChaCha20Poly1305.generate_key()), os.urandom(12)
    sealed = aead.encrypt(nonce, data, None)
    figures = {
        "seal_seconds": _median_seconds(seal, repeats),
        "aead_encrypt_seconds": _median_seconds(lambda: aead.encrypt(nonce, data, None), repeats),
        "open_seconds": _median_seconds(open_, repeats),
        "aead_decrypt_seconds": _median_seconds(lambda: aead.decrypt(nonce, sealed, None), repeats),
        "sha256_seconds": _median_seconds(lambda: hashlib.sha256(data).digest(), repeats),
    }
    result = {"mib": mib, "repeats": repeats, **{k: round(v, 4) for k, v in figures.items()}}
    for step, ref in (("seal", "aead_encrypt"), ("open", "aead_decrypt")):
        result[f"{step}_mib_per_second"] = round(mib / figures[f"{step}_seconds"])
        result[f"{ref}_mib_per_second"] = round(mib / figures[f"{ref}_seconds"])
        result[f"{step}_vs_raw_aead"] = round(figures[f"{step}_seconds"] / figures[f"{ref}_seconds"], 2)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, nargs="+", default=[8, 128], help="payload sizes in MiB (default 8 128)")
    parser.add_argument("--repeats", type=int, default=5, help="calls per figure; the median is kept (default 5)")
    args = parser.parse_args(argv)
    if any(m < 1 or m > 255 for m in args.mib) or args.repeats < 1:
        parser.error("--mib takes 1..255 (a bundle is at most 256 MiB) and --repeats at least 1")
    sizes = []
    print(f"{'MiB':>5} {'seal s':>8} {'AEAD enc s':>11} {'ratio':>6} {'open s':>8} {'AEAD dec s':>11} {'ratio':>6} {'SHA-256 s':>10}")
    for mib in args.mib:
        r = measure(mib, args.repeats)
        sizes.append(r)
        print(f"{mib:>5} {r['seal_seconds']:>8.3f} {r['aead_encrypt_seconds']:>11.3f} {r['seal_vs_raw_aead']:>5.1f}x "
              f"{r['open_seconds']:>8.3f} {r['aead_decrypt_seconds']:>11.3f} {r['open_vs_raw_aead']:>5.1f}x {r['sha256_seconds']:>10.3f}", flush=True)
    out = results_path("sealing")
    report = {"benchmark": "sealing", "run": run_id(), "command": "benchmarks/sealing.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine(), "sizes": sizes}
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
