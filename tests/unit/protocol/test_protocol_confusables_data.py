"""The generated confusables module and the script that makes it from Unicode's data files."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path
from types import ModuleType

from hubbub.protocol import _confusables

ROOT = Path(__file__).resolve().parents[3]

CONFUSABLES_SAMPLE = """\ufeff# confusables.txt
# Date: 2020-02-13, 01:38:49 GMT
# Version: 13.0.0
#
0430 ;\t0061 ;\tMA\t# ( \u0430 \u2192 a ) CYRILLIC SMALL LETTER A \u2192 LATIN SMALL LETTER A\t#

006D ;\t0072 006E ;\tMA\t# ( m \u2192 rn ) LATIN SMALL LETTER M \u2192 LATIN SMALL LETTER R, N\t#
0022 ;\t0027 0027 ;\tMA\t#* ( " \u2192 '' ) QUOTATION MARK \u2192 APOSTROPHE, APOSTROPHE\t#
1D5C5 ;\t0070 ;\tMA\t# MATHEMATICAL SANS-SERIF SMALL P
"""

DERIVED_SAMPLE = """# DerivedCoreProperties-15.0.0.txt
# Date: 2022-08-05, 22:17:05 GMT
002B          ; Math # Sm       PLUS SIGN
00AD          ; Default_Ignorable_Code_Point # Cf       SOFT HYPHEN
200B..200F    ; Default_Ignorable_Code_Point # Cf   [5] ZERO WIDTH SPACE..RIGHT-TO-LEFT MARK
034F          ; Default_Ignorable_Code_Point # Mn       COMBINING GRAPHEME JOINER
"""


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_confusables", ROOT / "tools" / "gen_confusables.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generator_turns_unicodes_files_into_the_tables() -> None:
    text = _generator().render(CONFUSABLES_SAMPLE.encode(), DERIVED_SAMPLE.encode())
    made: dict[str, object] = {}
    exec(compile(text, "_confusables.py", "exec"), made)
    assert made["CONFUSABLES_VERSION"] == "13.0.0"
    assert made["UCD_VERSION"] == "15.0.0"
    assert made["PROTOTYPES"] == {0x22: "''", 0x6D: "rn", 0x430: "a", 0x1D5C5: "p"}
    assert made["DEFAULT_IGNORABLE"] == ((0x00AD, 0x00AD), (0x034F, 0x034F), (0x200B, 0x200F))
    assert text.isascii()  # every character outside ASCII is escaped


def test_the_shipped_tables_are_whole_and_well_formed() -> None:
    prototypes = _confusables.PROTOTYPES
    assert len(prototypes) > 6000
    assert prototypes[0x0430] == "a" and prototypes[0x0456] == "i" and prototypes[0x0049] == "l"
    ranges = _confusables.DEFAULT_IGNORABLE
    assert all(first <= last for first, last in ranges)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))
    assert (0x200B, 0x200F) in ranges
    assert any(first <= 0xE0FFF <= last for first, last in ranges)  # the end of the tag block
