"""Benchmark: segment counting of 1,000,000 rendered SMS messages (target: under 5 s).

Renders a realistic mix once (Spanish with and without accents, Mayan text with apostrophes,
a few with emoji or extension characters), repeats it to 1,000,000 texts, and times
`messages.encoding.analyze` over all of them; then times a naive per-character implementation
on a sample of the same texts and reports the ratio. Run: `python benchmarks/segment_count_sms.py`.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _bench import emit  # noqa: E402

from messages.encoding import GSM_BASIC, GSM_EXTENSION, analyze  # noqa: E402
from messages.rendering import render  # noqa: E402

N = 1_000_000
TARGET_SECONDS = 5.0
TEMPLATES = [
    "{{ organizacion }}: Hola {{ contact.name | first_name }}, ¿te ofrecen trabajo en otro pais con viaje "
    "pagado? Puede ser engaño. Llama al {{ policia }}. Resp BAJA para salir",
    "{{ organizacion }}: Tienes derecho a vivir sin violencia. Información y apoyo al {{ hotline_mujer }}, "
    "tambien en idiomas mayas al {{ linea_maya }}.",
    "{{ organizacion }}: Ri ixoqib' k'o kik'aslemal. Chab'ij chi re {{ linea_maya }}. BAJA",
    "{{ organizacion }}: ¡Cuidado! Nadie puede quedarse con tus documentos [DPI]. Llama al {{ policia }} 👍",
    "{{ organizacion }}: Recuerda tu plan de seguridad: numeros, documentos y un lugar seguro. "
    "BAJA para salir",
]
NAMES = ["Ana López", "María Tzul", "Juana Ixcoy", "Rosa Pérez", "Elena Cux", "Marta Ajú"]


def naive(text: str) -> tuple[str, int]:
    """The obvious per-character implementation (the baseline)."""
    gsm = True
    units = 0
    for c in text:
        if c in GSM_BASIC:
            units += 1
        elif c in GSM_EXTENSION:
            units += 2
        else:
            gsm = False
    if not gsm:
        costs = [2 if ord(c) > 0xFFFF else 1 for c in text]
        units, single, multi = sum(costs), 70, 67
    else:
        costs = [2 if c in GSM_EXTENSION else 1 for c in text]
        single, multi = 160, 153
    if units <= single:
        return ("GSM-7" if gsm else "UCS-2"), (1 if units else 0)
    segments, used = 1, 0
    for cost in costs:
        if used + cost > multi:
            segments, used = segments + 1, 0
        used += cost
    return ("GSM-7" if gsm else "UCS-2"), segments


def corpus() -> list[str]:
    rng = random.Random(7)
    defaults = {"organizacion": "Red de Prevención", "policia": "110", "hotline_mujer": "1572",
                "linea_maya": "1524"}
    distinct = [
        render(rng.choice(TEMPLATES), {**defaults, "contact": {"name": rng.choice(NAMES)}})
        for _ in range(20_000)
    ]
    # distinct string objects, as a planning run would hold them
    return [distinct[i % len(distinct)] + ("" if i % 3 else " ") for i in range(N)]


def main() -> None:
    texts = corpus()
    start = time.perf_counter()
    segments = 0
    for text in texts:
        segments += analyze(text).segments
    elapsed = time.perf_counter() - start

    sample = texts[:100_000]
    start = time.perf_counter()
    naive_segments = sum(naive(t)[1] for t in sample)
    naive_elapsed = (time.perf_counter() - start) * (N / len(sample))
    assert naive_segments == sum(analyze(t).segments for t in sample), "implementations disagree"

    print(f"analyze(): {N:,} messages ({segments:,} segments) in {elapsed:.2f} s "
          f"({N / elapsed:,.0f} msg/s); target < {TARGET_SECONDS:.0f} s: "
          f"{'PASS' if elapsed < TARGET_SECONDS else 'FAIL'}")
    print(f"naive per-character baseline: {naive_elapsed:.2f} s for {N:,} (extrapolated from "
          f"{len(sample):,}); speed-up x{naive_elapsed / elapsed:.1f}")
    emit("segment count of 1M SMS", elapsed, unit="s", target=TARGET_SECONDS, better="lower",
         baseline=naive_elapsed, baseline_label="naive per-character (extrapolated)")


if __name__ == "__main__":
    main()
