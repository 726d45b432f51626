"""A synthetic sample audience: SYNTHETIC people with made-up phone numbers, for demos and benchmarks.

Realistic in shape (departments, Mayan languages where they are spoken, ages, household types,
the ways people write phone numbers, a few bad rows and duplicates), with border municipalities
over-represented so every built-in segment has members, and some Mexican, Honduran, Salvadoran,
Belizean and US numbers in border municipalities. Everything comes from the seed: the same
(n, seed) gives the same file. No real person's data is used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from audiences.geography import department_name, municipalities
from campaign.core.i18n import N_

SYNTHETIC_NOTICE = N_("SYNTHETIC sample data: made-up people and phone numbers, for demos and tests only.")

# Languages spoken per department besides Spanish (code, spelling variants people write).
MAYAN_BY_DEPARTMENT = {
    "GT-14": "quc",
    "GT-08": "quc",
    "GT-07": "quc",
    "GT-09": "mam",
    "GT-12": "mam",
    "GT-13": "mam",
    "GT-16": "kek",
    "GT-17": "kek",
    "GT-18": "kek",
    "GT-04": "cak",
    "GT-03": "cak",
}
SPELLINGS = {
    "es": ["Español", "es", "spanish", "español", "Espanol"],
    "quc": ["K'iche'", "Kiche", "quiché", "quc"],
    "mam": ["Mam", "mam"],
    "kek": ["Q'eqchi'", "qeqchi", "kek"],
    "cak": ["Kaqchikel", "cakchiquel", "cak"],
    "kjb": ["Q'anjob'al", "kjb"],
}
HOUSEHOLDS = [
    "madre soltera",
    "single_mother",
    "two_parents",
    "biparental",
    "extended",
    "single_father",
    "grandparents",
    "",
]
HOUSEHOLD_P = [0.10, 0.08, 0.30, 0.15, 0.20, 0.04, 0.08, 0.05]
# Where each (made-up) person agreed to receive messages: every import needs it (consent column).
CONSENT_SOURCES = [
    "feria de salud (sintético)",
    "formulario escolar (sintético)",
    "radio comunitaria (sintético)",
]
FIRST = [
    "María",
    "Ana",
    "Rosa",
    "Juana",
    "Lucía",
    "Carmen",
    "Elena",
    "José",
    "Juan",
    "Pedro",
    "Luis",
    "Carlos",
    "Diego",
    "Miguel",
    "Sofía",
    "Isabel",
    "Marta",
    "Tomás",
    "Andrea",
    "Feliciana",
]
LAST = [
    "López",
    "García",
    "Pérez",
    "Hernández",
    "Tzoc",
    "Xicará",
    "Coc",
    "Choc",
    "Ajú",
    "Mendoza",
    "Ramírez",
    "Morales",
    "Cux",
    "Tum",
    "Batz",
    "Chávez",
    "Ixcoy",
    "Sic",
    "Caal",
    "Pop",
]
FOREIGN = [
    ("MX", "+52 962 {a:03d} {b:04d}"),
    ("HN", "+504 9{a:03d} {b:04d}"),
    ("SV", "+503 7{a:03d} {b:04d}"),
    ("BZ", "+501 61{a1} {b:04d}"),
    ("US", "+1 213 {a3} {b:04d}"),
]


def _phone_strings(rng: np.random.Generator, n: int) -> np.ndarray:
    """Distinct Guatemalan mobile numbers written in the usual assorted ways."""
    numbers = rng.choice(np.arange(30_000_000, 60_000_000, dtype=np.int64), size=n, replace=False)
    text = pd.Series(numbers.astype(str))
    head, tail = text.str[:4], text.str[4:]
    styles = rng.integers(0, 8, size=n)
    variants = [
        head + "-" + tail,
        "+502 " + head + " " + tail,
        "(502) " + head + "-" + tail,
        "00502" + text,
        "502-" + head + "-" + tail,
        head + "." + tail,
        head + " " + tail,
        text,
    ]
    out = variants[0].to_numpy(dtype=object)
    for style in range(1, 8):
        mask = styles == style
        out[mask] = variants[style].to_numpy(dtype=object)[mask]
    return out


def generate(n: int, seed: int) -> pd.DataFrame:
    """`n` synthetic contact rows (as a messy source file would hold them) from `seed`."""
    if n < 1:
        raise ValueError("n must be at least 1")
    rng = np.random.default_rng(seed)
    munis = municipalities()
    border = [m for m in munis if m.border]
    inland = [m for m in munis if not m.border]
    in_border = rng.random(n) < 0.35
    pick = np.where(in_border, rng.integers(0, len(border), n), rng.integers(0, len(inland), n))
    chosen = [border[i] if b else inland[i] for i, b in zip(pick, in_border, strict=True)]
    dept = np.array([m.department for m in chosen], dtype=object)
    muni_name = np.array([m.name for m in chosen], dtype=object)
    tecun = (muni_name == "Ayutla") & (rng.random(n) < 0.5)
    muni_name[tecun] = "Tecún Umán"
    dept_written = np.array([department_name(d) for d in dept], dtype=object)
    old_style = rng.random(n) < 0.1
    dept_written[old_style] = dept[old_style]

    mayan = np.array([MAYAN_BY_DEPARTMENT.get(d, "es") for d in dept], dtype=object)
    speaks_mayan = rng.random(n) < 0.55
    language = np.where(speaks_mayan, mayan, "es")
    language[rng.random(n) < 0.02] = "kjb"
    spelled = np.array(
        [SPELLINGS[c][i % len(SPELLINGS[c])] for i, c in zip(rng.integers(0, 5, n), language, strict=True)],
        dtype=object,
    )
    spelled[rng.random(n) < 0.03] = ""

    phones = _phone_strings(rng, n)
    foreign = in_border & (rng.random(n) < 0.06)
    for i in np.flatnonzero(foreign):
        _country, pattern = FOREIGN[int(rng.integers(0, len(FOREIGN)))]
        a, b = int(rng.integers(200, 999)), int(rng.integers(0, 9999))
        phones[i] = pattern.format(a=a, b=b, a1=a % 10, a3=f"{a}")

    ages = np.clip(rng.gamma(3.0, 9.0, n).astype(int) + 10, 10, 85)
    frame = pd.DataFrame(
        {
            "teléfono": phones,
            "nombre": [
                f"{FIRST[a]} {LAST[b]}"
                for a, b in zip(rng.integers(0, 20, n), rng.integers(0, 20, n), strict=True)
            ],
            "idioma": spelled,
            "departamento": dept_written,
            "municipio": muni_name,
            "año de nacimiento": (2025 - ages).astype(str),
            "sexo": rng.choice(["F", "M", "Mujer", "Hombre", ""], size=n, p=[0.4, 0.3, 0.12, 0.1, 0.08]),
            "hogar": rng.choice(HOUSEHOLDS, size=n, p=HOUSEHOLD_P),
            "adolescent_children": rng.choice(
                ["0", "1", "2", "3", ""], size=n, p=[0.45, 0.25, 0.12, 0.05, 0.13]
            ),
            # not drawn from rng, so the other columns stay what they were for a given seed
            "consentimiento": [CONSENT_SOURCES[i % len(CONSENT_SOURCES)] for i in range(n)],
        }
    )
    _mess_up(frame, rng)
    return frame


def _mess_up(frame: pd.DataFrame, rng: np.random.Generator) -> None:
    """A few bad rows and duplicates, as real lists have (about 0.5% bad, 1% repeated numbers)."""
    n = len(frame)
    bad = rng.choice(n, size=max(1, n // 200), replace=False) if n >= 20 else np.array([], dtype=int)
    broken = ["12345", "", "no tiene", "+502 1234 567", "9999-99999"]
    for k, i in enumerate(bad):
        frame.iat[int(i), 0] = broken[k % len(broken)]
    if n >= 100:
        dup = rng.choice(n, size=n // 100, replace=False)
        source = rng.choice(n, size=n // 100, replace=False)
        digits = frame["teléfono"].iloc[source].str.replace(r"[^\d]", "", regex=True).str[-8:]
        ok = digits.str.len() == 8
        frame.loc[frame.index[dup[ok.to_numpy()]], "teléfono"] = ("+502" + digits[ok]).to_numpy()


def write_csv(path: str | Path, n: int, seed: int) -> Path:
    """Writes `generate(n, seed)` as UTF-8 CSV; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    generate(n, seed).to_csv(path, index=False, encoding="utf-8")
    return path
