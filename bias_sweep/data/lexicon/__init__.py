"""Group lexicons: which group a text mentions and its counterfactual twin.

- `lexicon`: the built-in term lists (gender, sexuality, religion), the `Lexicon` of a
  `data.groups` config (`get_lexicon`) and counts of texts by group;
- `twins`: finding a lexicon's terms in a text and swapping them in one pass;
- `first_names`: the shipped first-name pairs (gender);
- `ambiguous_terms`: where a term that is also an ordinary word counts as a group term;
- `pronoun_roles`: the role of "her" and "his" in a sentence (which twin each takes);
- `term_roles`: the grammatical role of each built-in pair (which probe templates fit it).
"""

from bias_sweep.data.lexicon.first_names import name_pairs
from bias_sweep.data.lexicon.lexicon import BUILTIN, CUSTOM, Lexicon, get_lexicon, group_counts

__all__ = ["BUILTIN", "CUSTOM", "Lexicon", "get_lexicon", "group_counts", "name_pairs"]
