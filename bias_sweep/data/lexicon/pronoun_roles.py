"""The grammatical role of an ambiguous pronoun, from the words around it.

"her" is an object ("makes her feel" -> "him") or a possessive ("her car" -> "his"); "his" is a
determiner ("his car" -> "her") or a pronoun on its own ("the car is his" -> "hers"). No
well-kept part-of-speech tagger ships its model on PyPI (nltk, flair and stanza download theirs;
spaCy's en_core_web_sm is not on PyPI), and a tagger would cost minutes per 1e5 texts on a CPU,
so this is a rule over the next two words and the previous one, with closed word lists:

    her + end, punctuation, determiner, preposition, pronoun, conjunction, "to", "not", adverb,
          auxiliary, a verb that cannot be a noun ("let her enter")         -> object
    her + verb after make/let/help/see/hear/watch ("makes her feel")        -> object
    her + adjective/participle closing a clause after make/keep/find/leave  -> object
          ("keep her safe.", "made her less trusting")
    her + noun given after give/tell/send/show/... ("gave her flowers")     -> object
    her + anything else (a noun or an adjective)                            -> possessive
          (besides: time words "saw her last week", "pay her back", "her very best",
          -ing forms "saw her crying" / "her singing career"; see her_is_possessive)
    his + end, punctuation, auxiliary, preposition, conjunction,
          a verb after "of his" ("a friend of his came")                    -> pronoun ("hers")
    his + anything else                                                     -> determiner ("her")

tests/test_twins.py measures it on Winogender, WinoBias and handwritten sentences.
"""

from __future__ import annotations


def word_set(words: str) -> frozenset[str]:
    """A set of words written as one space-separated string (long lists stay readable)."""
    return frozenset(words.split())


DETERMINERS = word_set(
    "a an the this that these those some any each all no another either neither both such what "
    "which whose whichever whatever my your our their its his her enough half"
)
PREPOSITIONS = word_set(
    "to for with at in on about from by of into onto over under out up down off away back "
    "around through after before behind like than as since until till without within upon "
    "across along among against toward towards beside besides between beyond during except "
    "near inside outside past via per despite throughout underneath unlike amid"
)
PRONOUNS = word_set(
    "i me you he him she we us they them it myself yourself himself herself ourselves "
    "themselves itself who whom nothing something anything everything nobody somebody anybody "
    "everybody none someone anyone everyone mine yours hers ours theirs one"
)
CONJUNCTIONS = word_set(
    "and or but nor so yet because if when while whether although though unless whereas once "
    "where why how whenever wherever lest"
)
AUXILIARIES = word_set(
    "is are was were be been being am isn't aren't wasn't weren't will would shall should can "
    "could may might must do does did has have had won't wouldn't can't couldn't shouldn't "
    "don't doesn't didn't hasn't haven't hadn't 's 're 'd 'll 've"
)
# Adverbs and adverbial words that follow an object but never start a possessive's noun phrase.
ADVERBS = word_set(
    "not never again here there now then today tonight yesterday tomorrow too also anyway "
    "anyways ever always often once twice already soon instead either enough anymore yet "
    "still alone well online overseas abroad ahead apart aside altogether almost just even "
    "directly immediately sometimes lately afterwards forever somewhere anywhere everywhere "
    "nowhere outright"
)
# Words that follow a possessive only: "her own car", "her every move", "her other sister".
POSSESSIVE_NEXT = word_set("own every other")
# Degree words: "her very best friend" (possessive) or "made her very happy" (object).
DEGREE = word_set(
    "very more most less least so too really quite rather pretty extremely fairly highly much"
)
# -ly words that are adjectives or nouns ("her early work", "her family").
LY_NOUNS_ADJECTIVES = word_set(
    "family belly rally ally bully lily jelly holly folly supply assembly reply daily early only "
    "lovely lonely friendly elderly likely holy ugly silly curly weekly monthly yearly nightly "
    "costly deadly lively orderly unlikely unruly wily homely kindly manly womanly motherly "
    "fatherly sisterly brotherly scholarly beastly bubbly chilly cuddly goodly hilly jolly "
    "melancholy smelly sly wobbly worldly italy july anomaly monopoly butterfly"
)
# Verbs that take an object and a bare infinitive, participle or adjective after it.
CAUSATIVE = word_set(
    "make makes made making let lets letting help helps helped helping bid watch watches "
    "watched watching see sees saw seen seeing hear hears heard hearing feel feels felt feeling "
    "notice notices noticed noticing observe observed"
)
COMPLEMENT = CAUSATIVE | word_set(
    "keep keeps kept keeping leave leaves left leaving find finds found finding drive drives "
    "drove driven driving prove proves proved proven proving consider considers considered "
    "call calls called render renders rendered deem deems deemed want wants wanted need needs "
    "needed set sets push pushes pushed hold holds held catch catches caught get gets got "
    "gotten getting have has had having "
    "imagine imagines imagined picture pictured start started stop stopped spot spotted send "
    "sent"
)
# Verbs in their bare form that are never nouns: after "her" they are always her object's verb.
PURE_VERBS = word_set(
    "be become enter identify enjoy decide realize realise understand seem appear go come "
    "know think believe forget remember wonder choose agree arrive explain feel settle "
    "succeed fail obey admit apologize apologise consider learn continue sit speak listen "
    "wait lose die eat tell ask give put bring sell send find keep begin sing swim steal "
    "forgive marry retire relax do get see hear"
)
# Bare verbs that are also nouns ("her move", "her smile"): objects only after CAUSATIVE verbs.
NOUN_VERBS = word_set(
    "try stop move smile laugh cry work walk run dance play fall drive ride sign change start "
    "finish look sound talk shout dream rest help fight vote answer call kiss hug cook clean "
    "study travel visit wish hope love hate need want use quit pass leave return step pay "
    "stay say take sleep win"
)
# Nouns given to someone without an article: "gave her flowers", "wished her luck".
GIVEN_NOUNS = word_set(
    "money luck advice flowers help time credit permission access support attention food "
    "water coffee tea gifts presents directions instructions information news hell trouble "
    "problems names tips thanks feedback suggestions lots bread goods newspapers cash "
    "compliments hope confidence courage strength homework lessons questions praise "
    "medicine tickets books chocolate candy drinks orders documents"
)
# Verbs that mostly take two objects: "gave her flowers", "wished her luck", "told her stories".
# (buy, read, make, get ... also take one: "read her books", "bought her bread" are possessive.)
DITRANSITIVE = word_set(
    "give gives gave given giving tell tells told telling send sends sent sending show shows "
    "showed shown showing offer offers offered offering teach teaches taught teaching pay pays "
    "paid paying lend lends lent owe owes owed hand hands handed ask asks asked asking promise "
    "promised wish wished wishing award awarded grant granted deny denied charge charged fine "
    "fined cost allow allowed feed feeds fed provide provides provided providing"
)
# "pay her back", "take her home": objects after these; "her back hurts", "her home" otherwise.
BACK_HOME_VERBS = word_set(
    "pay pays paid call calls called bring brings brought give gave take takes took taken "
    "drive drove driven walk walked send sent get got want wanted welcome welcomed win won "
    "hold held write wrote text texted invite invited ask asked see saw follow followed "
    "carry carried push pushed pull pulled hug hugged drives driving brings bringing taking "
    "walks walking calls calling sends sending"
)
TIME_NOUNS = word_set(
    "day night week weekend month year time summer winter spring fall autumn morning evening "
    "afternoon semester term season monday tuesday wednesday thursday friday saturday "
    "sunday"
)
PREPOSITION_BEFORE_POSSESSIVE_TIME = word_set(
    "in during of throughout since until by before after at for"
)
TIME_SPENDING_VERBS = word_set(
    "spend spent spends spending enjoy enjoyed enjoys begin began begins start started starts "
    "finish finished finishes end ended ends complete completed celebrate celebrated mark "
    "marked"
)
ADJ_SUFFIXES = ("ed", "ous", "ful", "less", "able", "ible", "ish")
NOT_PARTICIPLES = word_set("bed shed need seed speed greed creed deed feed weed hundred")
# Words that are adverbs closing a clause ("hit her hard.") or adjectives ("her hard work").
ADVERB_OR_ADJECTIVE = word_set(
    "hard fast right wrong long late later early high low deep close straight free loose bad "
    "badly good only"
)
# -ing words that are nouns: "kept her wedding ring" is possessive after any verb.
ING_NOUNS = word_set(
    "wedding morning evening building meeting clothing feeling ceiling earring sibling darling "
    "offspring thing string spring king ring wing being stocking pudding bedding upbringing "
    "funding housing parking setting ending beginning opening savings belongings "
    "wellbeing"
)
ADJECTIVES = word_set(
    "happy sad angry mad safe sick ill crazy upset busy calm quiet alive dead free awake "
    "asleep comfortable nervous sure right wrong alone ready late early warm cold sorry "
    "proud jealous guilty famous rich poor better worse best worst incorrect correct bad good "
    "satisfied gay straight lesbian stupid dumb smart fat ugly lazy rude mean nice cute hot "
    "weird strange racist sexist beautiful pretty"
)
# Nouns that a possessive often puts before a given thing: "gave her son money".
PEOPLE = word_set(
    "son sons daughter daughters mother father husband wife friend friends kids children child "
    "sister sisters brother brothers parents family boss colleague colleagues students "
    "patients clients team staff employees"
)
SUPERLATIVES = word_set("best worst better worse own first last only")
# Prepositions that cannot start the noun after a determiner ("his back", "his inside" can).
HIS_PREPOSITIONS = word_set(
    "to for with at in on about from by of into onto than as upon without within toward "
    "towards during since until unlike despite"
)
# Verbs that follow "a friend of his" (and no determiner "his").
FINITE_VERBS = word_set(
    "came comes went goes said says told tells called calls left leaves died dies lived lives "
    "asked asks got gets took takes gave gives made makes wrote writes sent sends knew knows "
    "thinks thought wants wanted saw sees met meets became becomes"
)
CLOSED = DETERMINERS | PREPOSITIONS | PRONOUNS | CONJUNCTIONS | AUXILIARIES | ADVERBS
COORDINATORS = frozenset({"/", "or", "&"})


def _is_boundary(word: str) -> bool:
    """End of text, punctuation or a number-free symbol: nothing of a noun phrase follows."""
    return not word or not (word[0].isalnum() or word[0] == "'")


def _closes(word: str) -> bool:
    """The phrase ends here: end, punctuation or a closed-class word."""
    return _is_boundary(word) or word in CLOSED


def _adjective_like(word: str) -> bool:
    if word in ADJECTIVES:
        return True
    return len(word) > 4 and word.endswith(ADJ_SUFFIXES) and word not in NOT_PARTICIPLES


def her_is_possessive(prev: str, nxt: list[str]) -> bool:  # noqa: C901 - a rule table
    """Whether "her" is possessive ("his") rather than an object ("him").

    prev: the word before, lower-case ("" at the start); nxt: the next three tokens, lower-case
    ("" past the end). Tokens are words, numbers or single punctuation marks.
    """
    n1, n2 = (nxt + ["", ""])[:2]
    if n1 in COORDINATORS and n2 == "his":  # "her/his car", "her or his car"
        return True
    if _is_boundary(n1):
        return False
    if n1 in ("last", "next", "this", "that", "every", "one") and n2 in TIME_NOUNS:
        # "in her last year", "spent her last week" / "saw her last week"
        return prev in PREPOSITION_BEFORE_POSSESSIVE_TIME or prev in TIME_SPENDING_VERBS
    if n1 in POSSESSIVE_NEXT:
        return True
    if prev in DITRANSITIVE and (
        n1 in GIVEN_NOUNS
        or (n2 in GIVEN_NOUNS and n1 not in PEOPLE)
        or (n1 not in SUPERLATIVES and _adjective_like(n1))
    ):
        return False  # "gave her flowers", "gave her incorrect information", "wished her happy"
    if n1 in ("back", "home"):
        return prev not in BACK_HOME_VERBS
    if n1 in ADVERB_OR_ADJECTIVE:
        # "proved her right." / "her right hand", "her right to vote", "her only son"
        return not _closes(n2) or (n1 == "right" and n2 in ("to", "of"))
    if n1 in DEGREE:
        if prev in COMPLEMENT or prev in DITRANSITIVE:
            return False  # "made her less trusting"
        # "her very best" / "love her so much", "thank her very much indeed"
        return not (_closes(n2) or n2.endswith("ly") or n2 in DEGREE)
    if n1 in ("one",) or n1.isdigit() or n1 in ("two", "three", "four", "five", "many", "few"):
        return prev not in DITRANSITIVE and not _closes(n2)
    if n1 in CLOSED:
        return False
    if n1.endswith("ly") and n1 not in LY_NOUNS_ADJECTIVES:
        # "told her quickly" / "her deeply held beliefs"
        return not (_closes(n2) or n2 in PURE_VERBS or n2 in NOUN_VERBS)
    if n1 in PURE_VERBS:
        return False
    if prev in CAUSATIVE and n1 in NOUN_VERBS:
        return False  # "makes her smile", "let her move"
    if n1.endswith("ing") and len(n1) > 4 and n1 not in ING_NOUNS:
        # "saw her crying", "with her starting out" / "her singing career"
        return prev not in COMPLEMENT and n2 not in DETERMINERS | PREPOSITIONS | PRONOUNS
    # "keep her safe.", "got her fired" (object); anything else: a noun or an adjective.
    return not (prev in COMPLEMENT and _adjective_like(n1) and _closes(n2))


def his_is_pronoun(prev: str, nxt: list[str]) -> bool:
    """Whether "his" stands alone ("hers") rather than before a noun ("her")."""
    n1, n2 = (nxt + ["", ""])[:2]
    if n1 in COORDINATORS | {"and"} and n2 == "her":  # "his and her towels", "his/her car"
        return False
    if _is_boundary(n1):
        return True
    if prev == "of" and n1 in FINITE_VERBS:
        return True  # "a friend of his came over"
    return n1 in AUXILIARIES or n1 in HIS_PREPOSITIONS or n1 in CONJUNCTIONS
