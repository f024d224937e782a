"""Derive bias_sweep/data/lexicon/first_names.tsv from the 1990 US Census first-name files.

    pip install names==0.3.0 lemminflect==0.2.3   # only for this script, not for bias-sweep
    python tools/derive_first_names.py            # rewrites bias_sweep/data/lexicon/first_names.tsv

Sources (both only read here, neither is a dependency of bias-sweep):
- the `names` package (MIT, Trey Hunner) ships the Census Bureau's 1990 frequency files
  dist.male.first / dist.female.first (US government work, public domain);
- lemminflect (MIT) ships a lookup of English word forms (from the NLM SPECIALIST lexicon), used
  to leave out names that are also common words (will, may, grant, mark, rose, hope, ...).

A name is kept when
- fewer than AMBIGUOUS_SHARE of its bearers have the other sex (both lists, population-weighted),
- its lower-case form is no English word form (no lower-case entry in lemminflect's lookup),
- it is none of the hand-picked EXCLUDED names (months, places, religious figures, surnames that
  read as words in comments, words the lookup lacks),
- it is rarer as a first name than as a surname (Census surname file; "Wilson", "Nelson"), so
  that "Mr. Wilson" or "Wilson said" is not read as a first name,
- it is at least three letters long (no "Al", "Ed", "Ty").
The top PAIRS kept names of each sex are paired by rank: the i-th male name and the i-th female
name are each other's twin (similar frequency, and swap(swap(x)) == x).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import importlib.util
from pathlib import Path

AMBIGUOUS_SHARE = 0.02
PAIRS = 500
# 1990 census resident population by sex (millions): weighs the two lists' percentages.
POPULATION = {"male": 121.2, "female": 127.5}
EXCLUDED = {
    # months, days and seasons
    "april", "august", "june", "may", "january", "summer", "autumn", "winter",
    # places that commenters name far more often than people
    "alabama", "america", "arizona", "asia", "austin", "carolina", "chelsea", "china", "dakota",
    "dallas", "denver", "florence", "georgia", "houston", "india", "indiana", "israel", "jordan",
    "kentucky", "lincoln", "madison", "montana", "nevada", "paris", "savannah", "sharon",
    "sydney", "tennessee", "troy", "virginia", "washington", "eugene", "orlando", "chad", "salem",
    "vienna", "berlin", "lorraine", "victoria", "camden", "kent", "jackson", "regina", "adelaide",
    # religious figures and words (they would mark a religion, not a gender)
    "jesus", "christ", "christian", "mohammed", "muhammad", "moses", "messiah",
    "noel", "angel", "trinity", "mercy", "grace", "charity", "chastity", "faith", "hope", "destiny",
    # names the word lookup lacks but comments use as words, brands or surnames
    "ginger", "candy", "honey", "sunny", "misty", "dusty", "sandy", "rusty", "buddy", "junior",
    "major", "marshall", "sterling", "lane", "ford", "lee", "king", "prince", "duke", "earl",
    "baron", "marquis", "royal", "ivory", "ebony", "karma", "harmony", "melody", "star", "stormy",
    "jade", "pearl", "ruby", "opal", "amber", "crystal", "jasmine", "holly", "ivy",
    "violet", "iris", "daisy", "lily", "poppy", "heather", "olive", "rosemary", "fern", "willow",
    "bunny", "kitty", "dolly", "goldie", "precious", "unique", "cherry", "bambi", "max", "stan",
    "dane", "roman", "clinton", "cleveland", "mercedes", "dixie", "aurora", "geneva", "lourdes",
    "ola", "ora", "ada", "hal", "wm", "santiago",
}  # fmt: skip


def package_file(package: str, name: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"package {package!r} not installed: pip install names lemminflect")
    return Path(next(iter(spec.submodule_search_locations))) / name


def census(path: Path) -> dict[str, float]:
    """name -> percent of that sex's population, from a dist.*.first file."""
    out: dict[str, float] = {}
    for line in path.read_text().splitlines():
        name, percent, _cumulative, _rank = line.split()
        out[name.title()] = float(percent)
    return out


def english_words(path: Path) -> set[str]:
    """Lower-case word forms of lemminflect's lookup (proper nouns are capitalised there)."""
    words: set[str] = set()
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            if row and row[0].islower():
                words.add(row[0])
                words.update(form for form in row[2].split("/") if form.islower())
    return words


def derive(
    male: dict[str, float], female: dict[str, float], surnames: dict[str, float], words: set[str]
) -> list[tuple]:
    def other_share(name: str, own: str) -> float:
        m = male.get(name, 0.0) * POPULATION["male"]
        f = female.get(name, 0.0) * POPULATION["female"]
        return (f if own == "male" else m) / (m + f)

    kept = {}
    for sex, table in (("male", male), ("female", female)):
        ranked = sorted(table, key=lambda n: (-table[n], n))
        kept[sex] = [
            n
            for n in ranked
            if len(n) > 2
            and table[n] / 2 > surnames.get(n, 0.0)  # own-sex percent -> percent of everyone
            and other_share(n, sex) < AMBIGUOUS_SHARE
            and n.lower() not in words
            and n.lower() not in EXCLUDED
        ][:PAIRS]
    if min(len(kept["male"]), len(kept["female"])) < PAIRS:
        raise SystemExit(f"fewer than {PAIRS} names of one sex survive the filters")
    return [
        (i + 1, m, f, male[m], female[f])
        for i, (m, f) in enumerate(zip(kept["male"], kept["female"], strict=True))
    ]


HEADER = """\
# First names as gender terms for bias_sweep's gender lexicon: {pairs} pairs, paired by rank.
# Source: 1990 US Census first-name frequency files (dist.male.first, dist.female.first; US
# Census Bureau, a US government work in the public domain), as shipped by the PyPI package
# `names` 0.3.0 (MIT License, Copyright (c) 2013 Trey Hunner).
# Derived by tools/derive_first_names.py (rerun it to regenerate this file): names of which under
# {share:.0%} of bearers have the other sex, that are no lower-case English word form (lemminflect
# 0.2.3, MIT), rarer as surnames (Census surname file) and not hand-excluded (months, places,
# religious words), three letters or more; top {pairs} of each sex.
# Columns: rank, male name, female name (each the other's twin), percent of their sex (1990).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    out_default = (
        Path(__file__).resolve().parents[1] / "bias_sweep" / "data" / "lexicon" / "first_names.tsv"
    )
    parser.add_argument("--out", type=Path, default=out_default)
    args = parser.parse_args()
    male = census(package_file("names", "dist.male.first"))
    female = census(package_file("names", "dist.female.first"))
    surnames = census(package_file("names", "dist.all.last"))
    words = english_words(package_file("lemminflect", "resources/lemma_lu.csv.gz"))
    rows = derive(male, female, surnames, words)
    lines = [
        HEADER.format(pairs=len(rows), share=AMBIGUOUS_SHARE),
        "rank\tmale\tfemale\tm_pct\tf_pct",
    ]
    lines += [f"{r}\t{m}\t{f}\t{mp:.3f}\t{fp:.3f}" for r, m, f, mp, fp in rows]
    args.out.write_text("\n".join(lines).replace("\n\n", "\n") + "\n")
    print(f"wrote {len(rows)} pairs to {args.out}")


if __name__ == "__main__":
    main()
