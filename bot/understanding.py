"""Rule-based understanding of one user message.

Order matters: titles are linked first on the whole message and masked, so "Pride and
Prejudice" is not split at "and"; then the message is cut into clauses, each clause gets a
polarity from explicit negation cues ("no horror" is embedded into the *negative* vector,
since the embedding of "no horror" sits close to horror), and constraints are read off.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from recochat.profiles.model import AttributeAsk
from recochat.retrieval.people import PeopleIndex
from recochat.retrieval.schema import CatalogSchema
from recochat.retrieval.titles import KIND_NOUN_AFTER, TitleIndex, TitleMatch, normalize

from .asks import MAX_ITEMS, Standing, count_of, read_count, read_standing, read_unsupported
from .attributes import read_attribute_asks
from .lexicon import DECADE_IN_REQUEST, GENRE_SYNONYMS, NARROW_GENRE_WORDS
from .masking import CLAUSE_SPLIT, INTENSIFIER, NO_CONTEXT, TITLE_STUB, Context, MaskedMessage, as_it

Polarity = Literal["like", "dislike", "seen"]

_NEGATION = re.compile(
    r"\b(no|not|don'?t|do not|never|without|hate[sd]?|dislike[sd]?|avoid|except|nothing|none|isn'?t|aren'?t|"
    r"didn'?t|did not|can'?t stand|cannot stand|tired of|sick of|anything but|rather not|boring|awful|terrible|"
    r"meh|nah|skip|wasn'?t|bad|horrible|horrid|dis+ap+oint\w*|bored|sucked|sucks|overrated|worst|walked out|"
    r"can'?t say i (?:liked|loved|enjoyed)|fell asleep|less(?! than)|too much|underwhelm\w*|turns? me off|"
    r"haven'?t(?=\s+(?:really\s+|ever\s+|much\s+)?(?:enjoy|lik|lov|cared|been (?:a |much of a )?fan))|"
    r"too(?=\s+(?!(?:please|and|but|so|though|then|now|lol|haha|x)\b)[a-z]{3,}))\b"
)
_TYPOGRAPHIC = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'"})
"""Apostrophes as phones and word processors type them, one character each, to the one the cues are written with."""
_SEEN = re.compile(
    r"\b(seen|saw|watched|already|(?:i'?ve|i have|we'?ve|we have|i|we) (?:read|played|tried|made|cooked) (?=it\b|that|this|the|#|number|no\.))"
)
"""Seen, or its kin for other catalogs ("I've read #1", "we played that one"), never "I want to read #1"."""
_POSITIVE_WORDS = re.compile(
    r"\b(love[sd]?|like[sd]?|enjoy(ed)?|adore[sd]?|great|good|perfect|awesome|amazing|favou?rite|yes|sounds|"
    r"interesting|fun|nice|cool|watch|try|want|best)\b"
)
_NEGATIVE_WORDS = re.compile(
    r"\b(tedious|dull|slow|overrated|worst|disappoint\w*|stupid|dumb|annoying|cheesy|predictable|hated|waste|"
    r"not (?:a|that|very|really|particularly|so|too|my|into) \w+|too \w+|fell asleep|couldn'?t|could not|"
    r"wouldn'?t|so-so|weird|gross|creepy|sad|depressing)\b"
)
"""Words that say an item fell short ("too tedious", "a bit cheesy"): a cue for the learned polarity reader. Some
of them (disappointed, overrated, worst, fell asleep, too X) now negate in the rules' list too; they stay here
because the packaged reader's weights were fitted with this cue as it is."""
_NOT_SEEN = re.compile(
    r"\b(?:not|never|didn'?t|didnt|did not|haven'?t|havent|have not|hasn'?t)\b(?:\s+\w+){0,4}?\s+"
    r"(?:see|seen|saw|watch|watched)\b"
)
"""'I did not see X', "didn't get a chance to see": a negation about seeing, not about the taste."""
_LOVED = re.compile(r"\b(?:lov(?:e[sd]?|ing)|lik(?:e[sd]|ing)|enjoy(?:ed|s)?|adore[sd]?|favou?rite|fan of)\b")
_BACK_REFERENCE = re.compile(r"\b(?:it|that|those|them|this|these|both|either|one)\b")
_UNSEEN = re.compile(
    r"\b(?:that |which )?(?:i(?:'ve| have)? )?(?:haven'?t|have not|havent|never|not) (?:yet |even )?"
    r"(?:seen|watched|watch|saw|heard of)(?: yet)?\b"
    r"|\b(?:i )?(?:did not|didn'?t|didnt) (?:get to )?(?:see|watch)(?: the movie)?\b"
    r"|\b(?:i'?m not sure|i (?:don'?t|do not) (?:think|believe|know)) (?:if |whether )?i'?(?:ve| have) (?:seen|watched)\b"
    r"|\bunseen\b"
)
"""Not seen (or heard of) yet: no dislike. ReDial's seekers mark such titles liked (they want to see them); "I've
never heard of Pandorum but will check it out" read as a dislike, as did "I did not see John Wick"."""
_FILLER = re.compile(
    r"\b(?<!\w-)(so-so|movie night|a lot|lots|a ton|so much|very much|much|a little bit|a little|immensely|totally|"
    r"(?:what )?(?:can|could|should) (?:i|we) (?:make|cook|bake|play|read|watch|listen to)|to (?:make|cook|bake)|"
    r"definitely|honestly|actually|(?:good|great) question|question|"  # how much, before the one-word fillers ("a") take its first word
    r"i'?m|i am|i'?d|i would|i want|i wanna|want|wants|would|could|can you|can i|please|"
    r"recommend(ation)?s?|suggest(ion)?s?|"
    r"give me|show me|find me|looking for|look for|in the mood for|mood for|something|anything|some|a|an|the|"
    r"movie|movies|film|films|book|books|one|ones|to watch|to read|to play|re-?watch|watch|read|(?:to )?listen to|me|for|"
    r"tonight|today|maybe|"
    r"rainy (?:day|night|afternoon|evening|weekend|sunday|saturday)s?|"  # when, not what: "rainy" found Seven's rain
    r"(?:sunday|saturday|friday|weekend)(?: nights?| afternoons?| evenings?| mornings?)?|"
    r"really|very|kind of|kinda|sort of|type|that'?s|that is|that|which|has|have|is|are|be|with|of|it'?s|it|i|like|love(?!\s+(?:story|stories|triangles?|affairs?|letters?|songs?|interests?))|"
    r"loved|liked|enjoyed|enjoys?|"
    r"this time|what else|what next|what now|what should|what'?s|what is|what are|next|else|more|another|other|thanks|thank you|"
    r"hi|hello|hey|ok|okay|their|(?:what|how) about|what|how|do you|you'?ve|you|got|"
    r"so|too|just|any|ever|some more|"
    r"from|in|between|after|before|since|made|released|era|"
    r"bit|similar to|was|were|during|imo|imho|tbh|into|stuff|yet|"
    r"meets|crossed with|mixed with|cross between|mix of|blend of|mash-?up of|combination of|"
    r"i give up|give up|i don'?t know|idk|dunno|no idea|choose|pick|decide|up to you|whatever|surprise me|"
    r"start (?:over|again|afresh|fresh)|"
    r"lol|lmao|haha\w*|hehe\w*|hmm+|oh|ah|yeah|yep|yes|nope|nah|sure|wow|oops|sorry|btw|"
    r"(?:my|our) (?:(?:girl|boy)friend|wife|husband|partner|mum|mom|mother|dad|father|friends?|parents|date|kids|"
    r"children|sons?|daughters?|nieces?|nephews?|grandkids)|"
    r"we|us|our|my|she|he|her|his|they|they'?re|'re|him|them|both|can|should|loves|likes|(?:a |big |huge )?fans? of|"
    r"great|good|awesome|amazing|perfect|nice|cool|fantastic|brilliant|excellent|decent|best|fine|because|"
    r"tell me|tell us|interesting|looks|sounds|i'?ve|'ve|i have|already|then)\b(?!-\w)"
)
"""What carries no taste, as whole words ("a feel-good movie" read "feel-"). The chat's interjections too: "lol ok,
I didn't like Avatar" read "lol" as a new request for something "lol", and the next picks left the action films the
user was rating. Who is watching ("my girlfriend and I", "she hates anything sad") is no taste either: the encoder
read "my girlfriend" as a topic; nor is praise on its own ("seen #3, it was great" asked for something "great"),
nor how much ("liked it a lot" asked for something "lot")."""
_ORDINALS = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "fifth": 5,
    "5th": 5,
    "sixth": 6,
    "6th": 6,
    "last": -1,
}
_RANK_REF = re.compile(
    r"(?:#\s?(\d+)|\bnumber\s+(\d+)\b|\bno\.\s?(\d+)\b|\b(first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|sixth|6th|last(?! (?:night|week|weekend|month|year|time)))\b(?:\s+one)?"
    r"|\b(that one|this one)\b)"
)
_FIRST_FEW = re.compile(r"\b(?:first|top)\s+(two|three|four|five|[2-5])\b")
"""'The first two', 'the top 3': the first of them is `_RANK_REF`'s, the rest follow."""
_ABOUT = re.compile(
    r"^\s*(?:(?:do|does) (?:you|this catalog|the catalog|your catalog) (?:have|carry|stock|know|list)|have you got)"
    r"\s+(?:the (?:movie|film|book|game|show) )?\x00"  # the title itself, never "do you know any movie like X"
    r"|\b(what(?:'s| is| was)?\b.*\babout|tell me (?:more )?about|who (?:directed|stars?|is in|plays|made|wrote)|"
    r"what year|when (?:was|did)|describe|plot of|more info|more about|tell me more(?=\W*$)|how long|"
    r"how many (?:pages|minutes|hours))\b"
    r"|\b(?:any good|worth (?:it|watching|reading|playing|buying))\s*\?"
    r"|^\s*(?:is|was|does|would|will|could|can)\s+(?!there\b|anything\b|something\b|you\b|i\b|we\b)[^?]{0,50}\?\s*$"
    r"|^\s*(?:(?:what|which)(?:'s| is| was| were)|remind me (?:what|which))\s+(?:the |that |your )?"
    r"(?:#\d|(?:first|second|third|fourth|fifth|last|\d(?:st|nd|rd|th))\b)"
    r"(?!.*\byou (?:watched|saw|read|played|liked)\b)"
)
"""Asks about one item: 'what is X about?', 'is #2 any good?', 'is X worth watching?', 'is #1 scary?', 'does #2 have a
happy ending?', 'what was the first one you showed me?' (a question, not a like: "is #1 scary?" noted "you liked Star
Wars" and built the next picks around it); never 'do you know any good comedies like X' or 'is there anything like
#2?', which ask for recommendations."""
_REQUEST = re.compile(r"\b(something|anything|recommend|suggest|similar)\b")
"""'what about something funny like X' asks for recommendations, not about X."""
_WHY = re.compile(r"^\s*why\b")
_BARE_WHY = re.compile(
    r"^\W*(?:but |and |ok(?:ay)? |hmm+ )?(?:why|how come)(?: (?:these|those|them|this one|that one|that|this|so))?"
    r"(?: ones?)?\W*$"
)
"""'why?', 'why these?': a question about the picks, not a request for something "why" (it was read as one: five
other picks and "I have nothing that fits what you asked")."""
_START_OVER = re.compile(
    r"^\W*(?:ok(?:ay)?\W+)?(?:let'?s |can we |could we |i want to |i'?d like to )?"
    r"(?:start (?:over|again|afresh|fresh|from scratch)|reset|restart|new search|clean slate|begin again"
    r"|forget (?:everything|all (?:of )?that|what i (?:said|told you))"
    r"|clear (?:everything|my (?:preferences|profile|tastes)))"
    r"(?:\W+please)?\W*$"
)
"""The whole message asks to start afresh: what the /reset command does ("start over" was read as the words to match,
and the reply said nothing fit)."""
_GREETING = re.compile(
    r"^\s*(hi|hello|hey|hiya|yo|good (morning|evening|afternoon)|how are you|who are you|what can you do|ok(ay)?|"
    r"what(?:'s| is| are) your fav(?:ou?rite)?s?(?: \w+)?|do you have (?:a )?fav(?:ou?rite)?s?(?: \w+)?|"
    r"cool|great)\b[\s!.,?]*(there|bot|again)?[\s!.,?]*$"
)
"""A message that only greets or acknowledges ("hi there", "ok"); thanks and goodbyes, alone or among other chat,
are `_CHAT`'s (`_only_chat`)."""
_CHAT = re.compile(
    r"\b(?:(?:i'?ll|i will|will|i'?m going to|going to|gonna|i'?ll have to|i have to|i need to|i must|definitely)\s+)*"
    r"(?:check (?:(?:it|them|those|that|these|this|those ones|that one|this one|all of them) )?out"
    r"|look (?:(?:it|them|those|that|these) )?up"
    r"|add (?:(?:it|them|those|that|these|this|that one|this one) )?to (?:my|the) (?:list|watch ?list|queue))"
    r"|\bthanks?(?: you)?(?: so much| a lot| again)?"
    r"(?: for (?:the|your|all the|all your) (?:help|suggestions?|recommendations?|recs|ideas|chat|time))?"
    r"|\b(?:thx|cheers|(?:good)?bye(?: bye)?|good ?night|see (?:you|ya)(?: later| soon)?|take care|talk (?:to you )?later"
    r"|have a (?:good|great|nice|wonderful|lovely|fun) (?:day|night|evening|weekend|one|time)"
    r"|you too|same to you|(?:that |those |these |they |it )?sounds? (?:good|great|fun|interesting|awesome|cool)|will do"
    r"|(?:i )?(?:haven'?t|have not|never) (?:even )?heard of (?:it|that|them|those|this|that one|this one|either|any)"
    r"|(?:can|could) you help(?: me)?(?: find)?|help me(?: find| out)?|i need help)\b"
)
"""Chat around the picks, with no taste in it ("I'll check those out", "I haven't heard of that one", "have a good
day"): read as a new request, "thanks, I'll check those out" replaced the taste with "ll check those out" and
answered with other picks."""
_CHAT_GLUE = re.compile(
    r"\b(?:ok(?:ay)?|alright|all right|yes|yeah|yep|sure|great|cool|awesome|perfect|nice|well|so|and|i|will|then|"
    r"again|all|lol|haha\w*|oh|hmm+|very|much|really|you|hope|for|the|those|them|it|that|one|ones|now|too|also|bot|there|"
    r"movies?|films?|books?|games?|suggestions?|recommendations?|ideas)\b"
)
"""What may stand beside chat in a message of chat alone."""
_ALL_REJECT = re.compile(
    r"^\s*(?:meh|nah|nope|none of (?:these|those|them)|not (?:these|those)|neither|no thanks)\b"
    # "hmm, none of these", "I don't like any of these" (never "hmm, nope, never heard of that one")
    r"|^\s*(?:(?:hmm+|hm+|um+|uh+|well|honestly|sorry|ok(?:ay)?|no)\W+)*"
    r"(?:none of (?:these|those|them)|not (?:these|those)|(?:i )?(?:don'?t|do not) (?:like|want|fancy) (?:any|either) of"
    r" (?:these|those|them))\b"
)
_SEEN_ALL = re.compile(
    r"\b(?:seen|watched|read|played|tried|made|cooked|heard) (?:(?:all|each|every one) (?:of )?(?:those|these|them|"
    r"\d+|five|the picks)|(?:them|those|these) all)\b|\b(?:all|every one) of (?:those|these|them) i'?(?:ve| have) "
    r"(?:seen|watched|read|played)"
)
"""'I've seen all of those', 'seen them all': every pick on screen is seen, and the request goes on without them
(it was read as nothing, and "Nothing I have left fits" came with random picks)."""
_BARE_RANK_REST = re.compile(r"\b(?:the|one|too|also|either|as well|or)\b|\W")
"""What may stand beside a rank in a clause that only names it ("and the third one too")."""
_TOO_NEXT = re.compile(
    rf"\s*(?:(?:it'?s|it is|is|{INTENSIFIER})\s+)*too\s+(?!(?:please|and|but|so|though|then|now)\b)[a-z]{{3,}}"
)
"""A clause after a bare rank that says what is wrong with it ("#2, too expensive", "#1... way too long")."""
_BARE_NO = re.compile(r"(?:\W|\b(?:no|nope|nah|not|the|one|please)\b)*")
"""All a clause holds besides its rank when it only says no to it ("not that one", "nope, not #2")."""
_MORE_LIKE = re.compile(r"\bmore (?:like|of)\b|\bsimilar to\b")
CHAT_TYPOS = {
    **dict.fromkeys(["somthing", "someting", "somethin", "sumthing", "smth", "sth", "somethng", "soemthing"], "something"),
    **dict.fromkeys(["anythin", "anyting", "anythng", "anythign"], "anything"),
    **dict.fromkeys(["similiar", "simillar", "simmilar", "similer", "simular"], "similar"),
    **dict.fromkeys(["recomend", "reccomend", "reccommend", "recommed", "recommand", "recomment"], "recommend"),
    **dict.fromkeys(["moive", "movei", "mvoie", "moovie", "moviee"], "movie"),
    **dict.fromkeys(["moives", "moveis", "mvoies"], "movies"),
    **dict.fromkeys(["pls", "plz", "plse"], "please"),
    **dict.fromkeys(["becuase", "bc", "cuz", "cos"], "because"),
    "dont": "don't", "didnt": "didn't", "doesnt": "doesn't", "cant": "can't", "wont": "won't", "isnt": "isn't",
    "ive": "i've", "im": "i'm", "id": "i'd", "u": "you", "ur": "your", "luv": "love", "lik": "like", "liek": "like",
}  # fmt: skip
"""Chat's usual misspellings of the words the rules read ('somthing like inseption' lost its 'something like' cue and
asked the encoder for "somthing"); titles are linked before, on the text as typed."""
_CHAT_TYPO = re.compile(r"\b(?:" + "|".join(sorted(map(re.escape, CHAT_TYPOS), key=len, reverse=True)) + r")\b")
_LIKE_BUT = re.compile(r"(?:\bmore (?:like|of)\b|\bsimilar to\b|\blike\b)[^.!?;]*?\bbut\b([^.!?;]*)")
_LIKE_TITLE = re.compile(
    r"\b(?:more|something|anything|stuff|somewhere|someplace|places?|films?|movies?|books?|novels?|ones?|games?|"
    r"shows?|series|podcasts?|albums?|songs?|restaurants?|recipes?|dish(?:es)?|wines?|gadgets?|products?|titles?)"
    r"\s+(?:like|similar to)\b|\bsimilar to\b"
)
"""'more like X', 'something like X', 'somewhere like X', 'a game like X': X is the anchor of the request, liked whatever the learned reader says
("Noted: you've seen The Nice Guys" answered "more like The Nice Guys")."""
_RELATIVE = re.compile(r"\b(older|earlier|newer|more recent|later)\b")
"""'#2 but older', 'more like Heat but newer': years relative to the anchor's own, strictly."""
_REPEAT = re.compile(r"\b(show (me )?(them|those|it) again|again please|repeat|show again)\b")

_AFTER = re.compile(r"\b(after|since|newer than|post|from after)\s+((?:19|20)\d\d)\b")
_BEFORE = re.compile(r"\b(?:before|older than|pre|prior to)\s+((?:19|20)\d\d)\b")
_BETWEEN = re.compile(r"\bbetween\s+((?:19|20)\d\d)\s+and\s+((?:19|20)\d\d)\b")
_FROM_YEAR = re.compile(r"\b(?:from|in)\s+((?:19|20)\d\d)\b")
_RECENT = re.compile(r"\b(recent|new|newer|latest|modern)\b")
RECENT_SPAN = 5
"""'Something recent' is the catalog's last this-many years."""
_OLD = re.compile(
    r"\bold (?:movies?|films?|ones?|stuff|books?|games?|titles?|classics?|music)\b"
    r"|\b(?:an|some|the|good|great|classic|those) old (?:westerns?|horror|comed(?:y|ies)|musicals?|thrillers?|noirs?"
    r"|romances?|cartoons?|sci-?fi|myster(?:y|ies)|dramas?|war (?:movies?|films?)|kung fu|monster (?:movies?|films?))\b"
    r"|\b(?:something|anything|nothing) old\b(?!\s+(?!please|pls|thanks|though|tonight|for\b)[a-z])"
)
"""'I don't like old movies', 'nothing old', 'an old film', 'an old western': never a plot's "old man" or "a 10 year
old" ("a western about an old man")."""
OLD_SPAN = 40
"""'Old' is before the catalog's last this-many years: for films, before the mid-80s."""
_TOO_OLD = re.compile(r"\btoo (?:old|long ago|dated)\b(?!\s+for\b)")
"""'Nothing too old', 'not too long ago': the years start where 'old' ends, however the clause is said ("it was too
old" asks the same); never "I'm too old for cartoons"."""
_MAKER_ROLES = (
    r"(?:directors?|film-?makers?|authors?|writers?|novelists?|hosts?|podcasters?|designers?|creators?|artists?|"
    r"bands?|musicians?|singers?|actors?|actresses?|chefs?|winemakers?|producers?|brands?|makers?)"
)
_OTHERS_LIKE = re.compile(
    rf"\b(?:other|another|different|similar)\s+{_MAKER_ROLES}\b(?:\s+(?:like|similar to|such as|in the vein of))?"
    rf"|\b{_MAKER_ROLES}\s+(?:like|similar to|in the vein of)\b"
    r"|\b(?:but |that )?(?:isn'?t|is not|aren'?t|are not|not)\s+(?:(?:made |directed |written )?by\s+|from\s+|one of\s+)?"
    r"(?:him|her|them|his|hers|theirs)(?:\s+own)?(?:\s+(?:films?|movies?|books?|games?|work))?\b"
)
"""'other directors like Christopher Nolan', 'any other director like him?', 'authors similar to Agatha Christie',
'something Christopher Nolan would make but isn't his': works like the person's, by others
(`Understanding.others_like_people`); the words themselves are no taste."""
_ANY_YEAR = re.compile(r"\bany (year|decade|era|time)\b")
_ANY_GENRE = re.compile(r"\bany (genre|kind|type|category)\b")
_INSIST = re.compile(
    r"\b(?:only|exclusively|strictly|solely|has to be|have to be|must be|needs? to be|gotta be|got to be)\b"
    r"|^\s*just\b(?!\s+(?:something|anything|looking|want|wanna|in the|give|show|recommend|one|a few|more))"
)
"""A genre in a clause with one of these is a hard filter; without, it only leans the ranking."""
_IDENTITY = re.compile(r"\b(?:i'?m|i am|we'?re|we are|(?:s?he|they)(?:'s| is| are|'re))\s+(?:an?\s+)?[\w-]+\s*$")
"""'I'm vegetarian', 'we're vegan': who the user is, said of a genre, holds like 'only' (a vegetarian's salmon came
back once the vegetarian picks ran out). 'I'm a horror fan' says more after the genre, and only leans."""
_CHILDREN = (
    r"(?:kids?|children|child|little ones|toddlers?|preschoolers?|(?:[1-9]|1[0-2]|one|two|three|four|five|six|seven|"
    r"eight|nine|ten|eleven|twelve)(?:[- ]?(?:year|yr)s?[- ]?olds?| ?y/?o))"
)
_FOR_KIDS = re.compile(
    rf"\b(?:(?:for|with) (?:the |my |our |a |an )?{_CHILDREN}"
    rf"|(?:my|our) {_CHILDREN}(?: and (?:i|me|we|us))?,? (?:will|would|'d|might|can|could)"
    rf"|(?:my|our) {_CHILDREN} and (?:i|me)|(?:me|us) and (?:my|our) {_CHILDREN}"
    r"|kid-friendly|family-friendly|(?:for|with) the whole family)\b"
)
"""An audience, not a taste: it holds like an insisted genre (family) until the user says otherwise. Animation is
not enough: Akira and Grave of the Fireflies are animated and not for children. "For my 12 year old" too: the
books for one that loved The Hobbit included A Game of Thrones. "With my kids", "my kids will like", "my 8 year
old and I", "me and my kids" too (never "my kids loved Frozen, something for me"): said so, the family leaning was
only soft, and two turns later ("something a bit more exciting", "no animation") the picks were Get Out, 28 Days
Later and The Shining."""
DIETS = frozenset({"vegetarian", "vegan", "pescatarian", "gluten-free", "dairy-free", "nut-free", "halal", "kosher"})
"""A diet is held as soon as it is said, as an insisted genre is: "a quick vegetarian dinner" then "something with
more protein" (a request of its own, which drops soft genres) gave Spaghetti Carbonara and Chicken Noodle Soup."""
_STRICTER_DIETS = {"vegetarian": ("vegan",), "pescatarian": ("vegetarian", "vegan")}
"""A held diet takes the stricter ones too: a vegan curry is a vegetarian dinner (held as "vegetarian" alone, the
recipes' Chickpea and Spinach Curry, labelled vegan only, left the reply)."""
KIDS_GENRES = ("family", "children", "kids")
"""The genres, by catalog, that hold a children's audience (a catalog has the ones it has); a short reply never
loosens them (`RankRequest.held_genres`): a 12-year-old's list was filled with Bridget Jones's Diary and Neuromancer."""
_STUB = re.escape(TITLE_STUB)
_BLEND = re.compile(
    rf"\bbetween\s+{_STUB}|{_STUB}\s+meets\s+{_STUB}"
    rf"|\b(?:cross|mix|blend|combination|mashup|mash-up)\s+(?:between|of)\s+{_STUB}"
    rf"|{_STUB}\s+(?:crossed|mixed)\s+with\s+{_STUB}"
)
"""Two titles to be met together: "between X and Y", "X meets Y", "a mix of X and Y", "X crossed with Y"."""
_JOINED = re.compile(rf"{_STUB}\s*,?\s*(?:and|&|plus|as well as|or)?\s*$")
"""What comes right before a title said with the one before it: "Heat and Inception", "Heat, Inception"."""
_FOR_ADULTS = re.compile(
    r"\b(?:for|aimed at) (?:adults|grown-?ups|a grown-?up audience|older (?:readers|viewers|audiences))\b"
    r"|\b(?:grown-?up|adult)(?= (?:movies?|films?|books?|novels?|reads?|fantasy|animation|drama|comedy|ones?)\b)"
)
"""An audience of adults: the children's genres are out, whatever else the clause says."""
_NEGATED_AUDIENCE = re.compile(r"\b(?:nothing|not|no|never|isn'?t|aren'?t)\s*$")
"""'nothing for kids' says no to the audience itself; 'nothing scary for my kids' does not."""
_MISLEADING_PHRASES = (
    (re.compile(r"\bnothing but\b"), "only"),
    (re.compile(r"\banything but\b"), "no"),
    (re.compile(r"\b(?:i )?(?:don'?t|do not|wouldn'?t|would not) mind\b"), "ok with"),
    (re.compile(r"\b(?:i )?wouldn'?t say no to\b"), "i'd like"),
    (re.compile(r"\b(?:no idea|dunno|surprise me|as long as)\b"), ""),
    (re.compile(r"\b(?:can'?t|cannot|can never|could never|never) (?:get|gets) (?:enough|tired|sick) of\b"), "love"),
    (re.compile(r"\b(?:i )?(?:didn'?t|did not|didnt) (?:even )?(?:know|realize|realise)\b"), ""),
    (re.compile(r"\b(?:(?:i'?m )?not sure|(?:i )?(?:don'?t|do not) know)(?=\s*(?:[.,!?;]|$))"), ""),
)
"""Phrases whose words say something else than they seem to, rewritten (same length) before the message is cut at
'but' and read for negation: 'nothing but horror' insists on horror, 'anything but horror' excludes it; "I don't
mind subtitles" and "I wouldn't say no to a heist" are no negation; "no idea", and "not sure" or "I don't know" said
on their own, say nothing ("I don't know that I'd like X" still doubts X); "I can never get enough of Scream" and
"never get tired of it" love it; "I didn't know he was in Deadpool" says nothing of Deadpool."""
_MILD_SCARE = re.compile(
    r"\b(?:not|isn'?t|aren'?t|nothing|never) (?:too|that|very|overly|super|really) (?:scary|frightening|creepy|gory)\b"
    r"|\b(?:a bit|a little|slightly|mildly|kinda|kind of) (?:scary|spooky|creepy)\b"
)
"""Horror asked for mild: it leans to the horror-comedies, as a fan would offer (the scariest films led it)."""
_DATE_COMPANY = re.compile(
    r"\bwith (?:my |a |the )?(?:girlfriend|boyfriend|gf|bf|wife|husband|partner|date|fianc[eé]e?|significant other)\b"
)
"""Company for a date: a romance leans, as for "date night", when no genre is asked ("what should I watch with my
girlfriend tonight" was a cold start that offered The Conjuring)."""
_OCCASION = re.compile(  # words apart by any spaces: an ask read before it (a time budget, "short") leaves blanks
    r"\b(?:on|for|during|at|in)\s+(?:a|an|the|my|our|this|that|his|her|their)\s+"
    r"(?:(?:long|short|quick|little|next|upcoming|overnight|red-?eye|transatlantic|weekend|summer|daily)\s+)*"
    r"(?P<on>(?:air)?plane(?:\s+rides?)?|flights?|train(?:\s+(?:rides?|journeys?|trips?))?|bus(?:\s+rides?)?|"
    r"car(?:\s+rides?)?|drives?|road\s*trips?|commutes?|journeys?|trips?|travels?|beach|pool|layovers?|gym|"
    r"vacations?|holidays?)\b"
    r"|\b(?:on|during|for)\s+(?P<away>vacation|holiday)\b"
    r"|\bwhile\s+(?:i'?m\s+|we'?re\s+)?(?P<doing>driving|commuting|travell?ing|flying|running|cooking|cleaning|"
    r"working out|doing (?:the )?chores|falling asleep)\b"
    r"|\b(?:i|we)\s+(?:can|could)\s+finish(?:\s+in one sitting)?\b|\bin one sitting\b"
    r"|\bwith\s+(?:some\s+|a few\s+|a group of\s+)?friends\b"
)
"""Where, when and with whom, not what ("something to watch on a plane", "a podcast for a long road trip", "on
vacation with friends"): read as themes they gave Airplane!, Train to Busan for "a long train ride", The Long Game,
and Us for its 'vacation' tag. A trip the item is about stays ("a road trip movie", "a film about a train").
In a catalog without tags the occasion's own word stays when some item's text says it (`_occasion`): a product's
text says what it is for ("earbuds … fine for the gym and the commute")."""


def _occasion(keep: bool, said: Callable[[str], bool] | None) -> Callable[[re.Match[str]], str]:
    """An `_OCCASION` dropped, or, with `keep`, cut to its own word ("for the gym" → "gym") when the catalog's texts
    `said` it: asked of podcasts, none of which says "road trip", it only made the reply say nothing fits."""

    def replace(m: re.Match[str]) -> str:
        word = m.group("on") or m.group("away") or m.group("doing")
        kept = keep and word and (said is None or all(said(w) for w in word.split()))
        return f" {word} " if kept else " "

    return replace


_COMPOUNDS = re.compile(
    r"\b(?:black and white|rock and roll|sword and sorcery|sword and sandal|cat and mouse|hide and seek|"
    r"cops and robbers|hack and slash|song and dance|feel good|tear jerkers?|heart warming|mind (?:bending|blowing))\b"
)
"""One thing said in several words, hyphenated (same length) so no cut at "and" splits it: "no black and white" read
as no "black" and a wish for "white"; "a feel good movie" read "feel" (the filler took "good"), and its mood was
lost (The Sixth Sense came fifth)."""
_CONTINUE = re.compile(
    r"\b(?:along (?:those|these|the same) lines|in (?:that|the same) (?:vein|spirit)|like (?:that|this|those|these|them)"
    r"|of (?:that|this|those|these)|(?:have|do) you (?:got|have)|you got|similar(?! to)(?: ones| stuff| things)?)\b"
)
"""'something else along those lines', 'more like that', 'what else have you got': more of the same, no new words."""
_COMPARATIVE_OF = {
    "funny": "funnier", "scary": "scarier", "dark": "darker", "light": "lighter", "sad": "sadder", "happy": "happier",
    "weird": "weirder", "smart": "smarter", "silly": "sillier", "gentle": "gentler", "cosy": "cosier",
    "cozy": "cozier", "bleak": "bleaker", "crazy": "crazier", "calm": "calmer", "wild": "wilder", "deep": "deeper",
    "sweet": "sweeter", "gritty": "grittier", "strange": "stranger", "dry": "drier",
}  # fmt: skip
_COMPARATIVES = re.compile(r"(?:(?:a )?(?:bit |little |lot )?(?:" + "|".join(_COMPARATIVE_OF.values()) + r")\s*)+")
"""'Something funnier', 'a bit darker': the current request, leaning another way; a genre they name leans too."""
_BETTER = re.compile(r"(?:better|longer|bigger|smaller|larger|stronger|nicer|fewer|less) [\w-]+(?: [\w-]+)?")
"""'Something with better battery', 'longer battery life': more of one quality in what the current request asks for,
so it refines it (it was a request of its own: headphones under $100 gave way to a charger and a webcam)."""
_MORE_OF = re.compile(
    r"\b(?:more|less)\s+(?!(?:like|of|than|please|options|movies|films|books|games|recipes|wines|ones|picks|"
    r"suggestions|recommendations|choices|stuff|things|ideas|titles|items)\b)([a-z][\w-]*)"
)
"""'Something more strategic', 'with more action': the current request, leaning another way, like the comparatives
of `_COMPARATIVE_OF` ("a party game for 8 people", then "something more strategic", lost the 8 players)."""
_SAID_AS_COMPARATIVE = re.compile(
    r"\bnot (?:\w+ )?(" + "|".join(_COMPARATIVE_OF) + r") enough\b|\bmore (" + "|".join(_COMPARATIVE_OF) + r")\b"
)
"""'not scary enough' and 'more scary' say 'scarier' ("not scary enough" once ruled out horror)."""
_SAID_AS_LIGHTER = re.compile(r"\b(?:less|not as) (?:scary|frightening|creepy|spooky|intense)\b")
"""'less scary', 'not as creepy': 'lighter', the current request leaning to comedy. Read as a dislike of "scary"
after horror, "less scary please" ruled out nothing milder and led with The Shining and The Exorcist. "Less sad" and
"less dark" stay dislikes of a mood, which lean to its opposite (`lexicon.OPPOSITE_MOOD`: uplifting)."""
_NO_TOPIC = re.compile(
    r"(?:\b(?:older|newer|old|new|recent|earlier|later|else|different|other|fresh|completely|entirely|totally|those|"
    r"these|kinds?|sorts?|types?|genres?)\b\s*)+"
)
"""Words that refine the current request ('but older', 'something completely different', 'not those') rather than
say what it is about: no aspect ("different" was quoted from Superbad's "…head off to different colleges")."""
_OTHER_KIND = re.compile(
    r"\b(?:not|no more|enough of|other than)\s+(?:these|those|that|this)\s+(?:kinds?|sorts?|types?|genres?)\b"
    r"|\b(?:a\s+)?different\s+(?:kinds?|sorts?|types?|genres?)\b|\bsomething\s+(?:completely|totally|entirely)\s+"
    r"(?:different|else)\b|\bsomething\s+else\s+entirely\b"
)
"""The kind on screen turned down ("not those kind of movies", "something completely different"): the genres the
picks share give way for this request (`Understanding.other_kind`); "not those kind of movies" after sci-fi picks
gave more sci-fi."""
_ITEM_WORDS = re.compile(
    r"(?:\b(?:board |video |card )?(?:games?|podcasts?|episodes?|recipes?|dish(?:es)?|meals?|wines?|bottles?|"
    r"restaurants?|places?|spots?|gadgets?|devices?|shows?|novels?|titles?)\b\s*)+"
)
"""An aspect of nothing but words for an item ("a podcast", "a board game"): no topic. As one, "podcast" was the
why of a pick that fit nothing else ('fits "podcast"')."""


POLARITY_CUES: tuple[str, ...] = (
    "rule_like",
    "rule_dislike",
    "rule_seen",
    "negation",
    "seen",
    "positive",
    "negative_words",
    "not_seen",
    "loved",
    "negation_before",
    "positive_before",
    "negation_after",
    "positive_after",
    "negative_words_after",
    "contrast_after",
    "negative_after_reference",
    "question",
    "shared_clause",
)
"""The rules' evidence about one mention, by name, in the order the learned polarity reader's model file lists
them (bot/polarity.py): 'before'/'after' are the rest of the mention's sentence and the next sentence."""
_ON_IT = re.compile(
    r"^[\s,.;:!-]*(?:(?:but|though|although|however|and|honestly)\s+)?(?:it|that one|this one)"
    r"(?:'s|\s+(?:was|is|seemed|felt|got|just|really))\b"
)
"""The start of a clause that goes on about the title just named ("…, but it was", ". It's")."""
_BARE_VERDICT = re.compile(
    r"^[\s,.;:!?-]*(?:meh|nah|boring|overrated|terrible|awful|hated it|not for me|no thanks)\b[\s.!?]*(?:$|[,.;!?])"
)
"""A verdict said on its own right after a title ("Titanic? meh.", "Cats - not for me")."""
_ENDS_ON_IT = re.compile(r"\b(?:it|that one|this one)\W*$")
"""A clause that ends by referring back to the title just named ("didn't care for it")."""
_PRAISE_WORDS = "great|amazing|awesome|brilliant|fantastic|excellent|good"
"""Praise whatever it is said of ("loved it, great")."""
_ENJOYED_WORDS = "funny|hilarious|fun|cute|enjoyable|entertaining"
"""Praise said of a title ("it was really funny", "fun movie!"); of a wish, a taste ("something funny")."""
_PRAISE = re.compile(rf"\b(?:{_PRAISE_WORDS})\b")
_PRAISED = re.compile(rf"\b(?:{_PRAISE_WORDS}|{_ENJOYED_WORDS}|sweet|interesting|classic|favou?rite)\b")
"""What "it was …" says of a title that praises it ("I watched X and it was really funny")."""
_PRAISED_BACK = re.compile(r"\s+(?:it|them|both|that one|this one|that (?:\w+ )?(?:movie|film|book|game|show))\b")
"""What a love verb says it of, right after it: "liked it a lot", "liked them a little bit", "loved that recent
movie"."""
_PRAISE_ALONE = re.compile(
    rf"^\W*(?:(?:a|such a|what a|so|really|very|pretty|super)\s+)*(?:{_PRAISE_WORDS}|{_ENJOYED_WORDS})"
    r"(?:\s+(?:movie|film|one|book|game|show))?\W*$"
)
"""A verdict on its own after a title ("I saw X. Great movie!")."""
_LETDOWN = re.compile(
    r"\b(?:confusing|corny|cheesy|tedious|dull|slow|stupid|dumb|annoying|predictable|overrated|disappoint\w*|"
    r"(?:losing|lost) interest|not (?:as|that|very|too|so|really) (?:good|great|funny|interesting)|"
    r"(?:wasn'?t|was not|not|never) (?:a |much of a )?(?:huge |big |great |really )?fan)\b"
)
"""A verdict that the title fell short, said about it in the next clause ("…, but it was a little confusing for me",
"I thought I'd love X but I found myself losing interest"). Not sad, creepy or dark: praise for some films."""
_FAN_VERDICT = re.compile(
    r"^\W*(?:(?:but|though|tbh|honestly)\s+)?(?:i\s+|i'm\s+)?(?:wasn'?t|was not|am not|not)\s+(?:a |much of a )?"
    r"(?:huge |big |great |really )?fan\b(?!\s+of\s+(?!it\b|that\b|this\b))"
)
"""A fan verdict with no title of its own, right after one ("X. Wasn't a huge fan though")."""
_EXPECTED = re.compile(r"\b(?:thought|expected|hoped) (?:i'?d|i would|to|it would|it'?d) (?:love|like|enjoy)")
"""'I thought I'd love X': a like the user expected, which the next clause may take back."""
_CONTRAST = re.compile(r"^\W*(?:but|though|although|however|whereas|yet)\b")


@dataclass
class TitleMention:
    item_id: str
    polarity: Polarity
    exact: bool = True
    clause: str = field(default="", compare=False)
    """The mention's clause, every title in it read as "it": what the learned polarity reader embeds."""
    window: str = field(default="", compare=False)
    """The mention's sentence and the next one, titles as "it" ("I watched it. But I didn't like it.")."""
    cues: dict[str, float] = field(default_factory=dict, compare=False)
    """The rules' evidence (`POLARITY_CUES`), the learned reader's other features."""
    phrase: str | None = field(default=None, compare=False)
    """The free-text phrase the mention's clause gave (positive, as the rules read it): a learned dislike
    moves it to the negative phrases, so "was too tedious" never pulls the interest toward tedium."""
    anchor: bool = field(default=False, compare=False)
    """Named as what to find more like ('more like X'): a like that no learned reading changes."""


@dataclass
class RankFeedback:
    rank: int
    """1-based position in the last reply; -1 = the last one."""
    value: Literal["like", "dislike", "seen"]
    """"seen": 'I've seen that one already', 'watched #2': out of the next replies, and no taste either way."""
    strong: bool = False
    """'more like #2' pulls harder than 'that one looks good'."""


@dataclass
class Understanding:
    text: str
    intent: Literal["recommend", "about", "why", "smalltalk", "reset"] = "recommend"
    positive: list[str] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)
    titles: list[TitleMention] = field(default_factory=list)
    rank_feedback: list[RankFeedback] = field(default_factory=list)
    reject_all_shown: bool = False
    about_rank: int | None = None
    about_item: str | None = None
    superlative: str | None = None
    """'Which one is the shortest?': the picks on screen compared on one field (`SUPERLATIVES`)."""
    include_genres: list[str] = field(default_factory=list)
    exclude_genres: list[str] = field(default_factory=list)
    liked_people: list[str] = field(default_factory=list)
    disliked_people: list[str] = field(default_factory=list)
    year_min: int | None = None
    year_max: int | None = None
    relative_years: Literal["older", "newer"] | None = None
    """'more like X but older': the years are relative to the anchor's, which the engine knows (it sets the range)."""
    clear_years: bool = False
    clear_genres: bool = False
    other_kind: bool = False
    """The kind of the picks on screen is turned down (`_OTHER_KIND`): their shared genres lean away this turn."""
    released_genres: list[str] = field(default_factory=list)
    """Held genres the user let go of by name or by audience ("forget the kids, just for me"), the rest held."""
    allow_repeats: bool = False
    insisted_genres: list[str] = field(default_factory=list)
    """Genres the user insisted on ("only comedies", "it has to be animated"): hard filters. The other
    `include_genres` were said in passing and only lean the ranking."""
    contrast_genres: list[str] = field(default_factory=list)
    """The `insisted_genres` said as a contrast to an anchor ("like The Matrix but funnier"): they hold for this
    request, not for the next one ("a western" then was held to comedies)."""
    new_topic: bool = False
    """The message asks for something of its own (words, a genre, a liked title), not more of the same."""
    count: int | None = None
    """How many items the user asked for ("just one", "give me ten", "3 more"); None: the usual number."""
    attributes: list[AttributeAsk] = field(default_factory=list)
    """Asks about the catalog's numbers, by role ("for 4 players", "under an hour", "cheap"): hard filters."""
    unsupported: list[str] = field(default_factory=list)
    """What was asked that the catalog has no field for ("length", "price"): left out of the aspects, so the reply
    can say so instead of quietly searching for the words."""
    others_like_people: bool = False
    """'other directors like Christopher Nolan', 'any other author like her?': works like the person's (named here,
    or the one asked for before), by others; their own are not what is asked."""
    instead: bool = False
    """'a white instead', 'how about a comedy instead': a swap of what it names; the years and asks hold."""
    standing: Standing | None = None
    """How well known the picks should be: "the best movies of all time" (popular), "a hidden gem" (obscure)."""
    blend: bool = False
    """'something between Alien and Toy Story', 'Die Hard meets Home Alone': the liked titles are met together."""
    unknown_titles: list[str] = field(default_factory=list)
    """Titles named after a taste cue that the catalog does not have ("something like Amelie"): left out of the
    aspects (as words, "amelie" matched Amadeus), so the reply can say it does not know them."""
    unknown_people: list[str] = field(default_factory=list)
    """Names after "by", "with", "starring" that no one in the catalog goes by ("a movie with Denzel Washington")."""


_ABOUT_TOPIC = re.compile(r"\babout\b")


def _genres_in(clause: str, vocabulary: Collection[str]) -> list[str]:
    """Genre words in a clause, longest first, each span used once ("science fiction" is not also "science"). A
    genre said after "about" is the topic of one said before it: "a documentary about music" asks for documentaries
    (Coco, a music film, led that reply)."""
    pattern, genre_of, order = _genre_pattern(frozenset(vocabulary))
    found = list(pattern.finditer(clause))
    about = _ABOUT_TOPIC.search(clause)
    if about and any(m.end() <= about.start() for m in found):
        found = [m for m in found if m.end() <= about.start()]
    words = {m.group(1) for m in found}
    return list(dict.fromkeys(genre_of[w] for w in sorted(words, key=order.__getitem__)))


@functools.lru_cache(maxsize=16)
def _genre_pattern(vocabulary: frozenset[str]) -> tuple[re.Pattern[str], dict[str, str], dict[str, int]]:
    """One alternation of every genre word the catalog can use, longest first (so a span goes to the longest word
    at it), the genre each word means, and each word's place in that order: one scan of a clause, not one per word
    (a 2,000-character message has about a hundred clauses)."""
    candidates = [(word, genres) for word, genres in GENRE_SYNONYMS.items()]
    candidates += [(genre, (genre,)) for genre in sorted(vocabulary)]
    genre_of: dict[str, str] = {}
    for word, genres in sorted(candidates, key=lambda c: -len(c[0])):
        genre = next((g for g in genres if g in vocabulary), None)
        if genre and word not in genre_of:
            genre_of[word] = genre
    order = {word: n for n, word in enumerate(genre_of)}
    alternation = "|".join(re.escape(word) for word in genre_of) or "(?!)"
    return re.compile(rf"\b({alternation})s?\b"), genre_of, order


def _rank_of(match: re.Match[str]) -> int:
    number = match.group(1) or match.group(2) or match.group(3)
    if number:
        return int(number)
    if match.group(4):
        return _ORDINALS[match.group(4)]
    return 1  # "that one" / "this one": the top pick of the last reply


def _years(clause: str, negative: bool, newest_year: int) -> tuple[int | None, int | None]:
    if m := _BETWEEN.search(clause):
        a, b = sorted((int(m.group(1)), int(m.group(2))))
        return a, b
    if m := DECADE_IN_REQUEST.search(clause):
        century = m.group(1) or ("20" if m.group(2) in "012" else "19")
        start = int(f"{century}{m.group(2)}0")
        return (None, None) if negative else (start, start + 9)
    if m := _AFTER.search(clause):  # "after 2010" excludes 2010, "since 2010" includes it
        year = int(m.group(2))
        if m.group(1) != "since":
            year += 1
        return (None, year - 1) if negative else (year, None)
    if m := _BEFORE.search(clause):  # "before 1950" excludes 1950; "nothing before 1950" starts there
        year = int(m.group(1))
        return (year, None) if negative else (None, year - 1)
    if (m := _FROM_YEAR.search(clause)) and not negative:
        year = int(m.group(1))
        return year, year
    if _RECENT.search(clause) and not negative:
        return newest_year - RECENT_SPAN, None
    if _TOO_OLD.search(clause):
        return newest_year - OLD_SPAN + 1, None
    if _OLD.search(clause):  # "I don't like old movies" starts the years there: it read as nothing (Casablanca)
        return (newest_year - OLD_SPAN + 1, None) if negative else (None, newest_year - OLD_SPAN)
    return None, None


def _aspect(clause: str) -> str:
    if _OLD.search(clause):  # "an old western" is years and a genre: as "old western" it found West Side Story
        clause = re.sub(r"\bold\b", " ", clause)
    text = _ANY_YEAR.sub(" ", _ANY_GENRE.sub(" ", _TOO_OLD.sub(" ", clause)))  # switches and years, not tastes
    text = re.sub(r"\b(instead|is fine|are fine|works)\b", " ", text)
    text = _CHAT.sub(" ", text)  # "will do" among it
    text = _NEGATION.sub(" ", text)
    text = _SEEN.sub(" ", text)
    text = _FILLER.sub(" ", text)
    text = re.sub(r"\b(?:19|20)\d\d\b", " ", text)
    text = re.sub(r"\s+", " ", re.sub(r"[^\w\s'-]", " ", text)).strip(" -'")
    return text if len(text) >= 3 else ""


def _read_flags(masked: str, result: Understanding) -> None:
    """Switches for the whole message, whichever clause says them ("funny, any year is fine")."""
    result.allow_repeats = bool(_REPEAT.search(masked))
    result.clear_years = bool(_ANY_YEAR.search(masked))
    result.other_kind = bool(_OTHER_KIND.search(masked))
    result.clear_genres = bool(_ANY_GENRE.search(masked)) or result.other_kind


SUPERLATIVES: dict[str, tuple[str, Literal["min", "max"]]] = {
    "shortest": ("duration", "min"),
    "quickest": ("duration", "min"),
    "longest": ("duration", "max"),
    "cheapest": ("price", "min"),
    "most expensive": ("price", "max"),
    "priciest": ("price", "max"),
    "oldest": ("year", "min"),
    "newest": ("year", "max"),
    "most recent": ("year", "max"),
    "best rated": ("rating", "max"),
    "highest rated": ("rating", "max"),
}
"""What 'which one is the …?' compares the picks on screen by: a role of the catalog's numbers, or the year."""
_WHICH_MOST = re.compile(
    r"^\W*(?:so |and |ok(?:ay)? |hmm+ )*(?:which|what)(?: one| of (?:these|those|them)|'s| is| are)*"
    r"(?: the)? (" + "|".join(s.replace(" ", "[- ]") for s in SUPERLATIVES) + r")\b(?: one)?\W*$"
)
"""'Which one is the shortest?', 'which of these is cheapest': a question about the picks on screen. As an ask it
showed other quick recipes instead of saying which pasta dish was quickest."""


def _read_question(masked: str, matches: list[TitleMatch], result: Understanding) -> bool:
    """'why #2?', 'what is Heat about?' and 'which one is the shortest?' ask about what is there, so they carry no
    taste; True when it is one."""
    if (which := _WHICH_MOST.match(masked)) and not matches:
        result.intent = "about"
        result.superlative = which.group(1).replace("-", " ")
        return True
    if _BARE_WHY.match(masked) and not matches:  # "why?": which pick it asks about is unsaid; the reply asks
        result.intent = "why"
        return True
    rank_match = _RANK_REF.search(masked)
    if not (rank_match or matches):
        return False
    if _WHY.match(masked):
        result.intent = "why"
    elif _ABOUT.search(masked) and not _REQUEST.search(masked):
        result.intent = "about"
    else:
        return False
    result.about_rank = _rank_of(rank_match) if rank_match else None
    result.about_item = matches[0].item_id if matches and not rank_match else None
    return True


@dataclass
class _ClauseReader:
    """Reads one clause at a time into `result`; the catalog's vocabulary is fixed for the whole message."""

    result: Understanding
    genres: set[str]
    newest_year: int
    people: PeopleIndex | None

    def read(self, clause: str, titles: list[TitleMatch], context: Context = NO_CONTEXT) -> None:
        """Every clause has one polarity: negation cues flip what it says about titles, ranks, genres and people.
        A learned reader (bot/polarity.py) may later re-read the titles' polarity from what is kept here."""
        negative = bool(_NEGATION.search(clause))
        grown_up = _FOR_ADULTS.search(clause)
        if grown_up:  # "like Harry Potter but for adults": no children's books, and "adults" is no taste
            excluded = self.result.exclude_genres
            excluded.extend(g for g in KIDS_GENRES if g in self.genres and g not in excluded)
            clause = _blanked(clause, grown_up)
        seen_only = bool(_SEEN.search(clause)) and not _POSITIVE_WORDS.search(clause) and not negative
        polarity: Polarity = "dislike" if negative else "seen" if seen_only else "like"
        ranked = self._rank_feedback(clause, negative, seen_only, context.after)
        self._constraints(clause, negative, people=not (seen_only and not titles))
        # "#2" or "the second one" are no aspect, nor what the user has only seen ("I've read Agatha Christie
        # already" liked her and asked for her books as a new request)
        phrase = None if ranked or (seen_only and not titles) else self._aspect(clause, negative)
        earlier = self.result.titles[-1] if self.result.titles else None
        if titles and earlier and not clause.replace(TITLE_STUB, " ").strip() and _JOINED.search(context.before):
            # "I loved Heat and Inception, hated Up": Inception's clause is the title alone, and it is read as Heat's
            # (alone, the learned reader read it by the "hated" after it)
            self.result.titles += [replace(earlier, item_id=m.item_id, exact=m.exact) for m in titles]
            return
        if titles:
            anchor = not negative and bool(_LIKE_TITLE.search(clause))
            polarity = "like" if anchor else polarity
            loved = _LOVED.search(clause) and not _EXPECTED.search(clause)
            if polarity != "dislike" and not (loved or anchor) and _judged_badly_next(context.after):
                polarity = "dislike"
            elif polarity == "seen" and _loved_next(context.after):  # "we played X already, loved it"
                polarity = "like"
            elif (
                not (loved or anchor)
                and _BARE_NO.fullmatch(clause.replace(TITLE_STUB, " "))
                and _seen_next(context.after)
            ):
                polarity = "seen"  # "not Inception, I've seen it", "Inception? seen it already": seen, no taste
            cues = _polarity_cues(clause, context, polarity, len(titles))
            text, window = as_it(clause), as_it(context.before + clause + context.after)
            kept = None if negative else phrase
            self.result.titles += [
                TitleMention(m.item_id, polarity, m.exact, text, window, cues, kept, anchor) for m in titles
            ]

    def _rank_feedback(self, clause: str, negative: bool, seen_only: bool, after: str) -> bool:
        """'more like #2' or 'not the first one'; 'seen #2' only when nothing after it judges it ('watched the
        third one, loved it'); after an all-reject ('meh') the rank words are not feedback."""
        rank = _RANK_REF.search(clause)
        if not rank or self.result.reject_all_shown:
            return False
        earlier = self.result.rank_feedback
        if earlier and not _BARE_RANK_REST.sub("", _RANK_REF.sub(" ", clause)):
            # "seen #1 and #2", "I didn't like #1, #3": a bare rank says what the rank before it said
            self.result.rank_feedback.append(replace(earlier[-1], rank=_rank_of(rank)))
            return True
        strong = bool(_MORE_LIKE.search(clause))
        value: Literal["like", "dislike", "seen"] = "dislike" if negative else "like"
        if seen_only:
            value = "seen"
            if not _RANK_REF.search(_next_clause(after)):  # "seen #1 and #2 looks great" judges #2, not #1
                value = "dislike" if _judged_badly_next(after) else "like" if _praised_next(after) else "seen"
        elif negative and _BARE_NO.fullmatch(_RANK_REF.sub(" ", clause)) and _seen_next(after):
            value = "seen"  # "not that one, I've seen it": no taste, only seen
        elif not _BARE_RANK_REST.sub("", _RANK_REF.sub(" ", clause)) and _TOO_NEXT.match(_next_clause(after)):
            value = "dislike"  # "#2, too expensive": the rank alone, then what is wrong with it
        first = RankFeedback(_rank_of(rank), value, strong and value == "like")
        self.result.rank_feedback.append(first)
        if (count := _FIRST_FEW.search(clause)) and first.rank == 1:
            # "seen the first two": the ranks after the first too ("you've seen The Departed", and Gravity came back)
            self.result.rank_feedback += [replace(first, rank=n) for n in range(2, count_of(count.group(1)) + 1)]
        return True

    def _constraints(self, clause: str, negative: bool, people: bool = True) -> None:
        """People (unless `people` is False), genres and years, read in rank clauses too, so 'more like #2 from the
        90s' keeps the 90s."""
        result = self.result
        if self.people and people:
            (result.disliked_people if negative else result.liked_people).extend(self.people.find(clause))
        target = result.exclude_genres if negative else result.include_genres
        found = _genres_in(NARROW_GENRE_WORDS.sub(" ", clause) if negative else clause, self.genres)
        target.extend(g for g in found if g not in target)
        if not negative and (_INSIST.search(clause) or _IDENTITY.search(clause)):
            result.insisted_genres.extend(g for g in found if g not in result.insisted_genres)
        if not negative:
            diets = [g for g in found if g in DIETS]
            stricter = [s for g in diets for s in _STRICTER_DIETS.get(g, ()) if s in self.genres]
            # "not vegan, a vegetarian": the stricter diets the user ruled out stay out
            _hold(result, [*diets, *(s for s in stricter if s not in result.exclude_genres)])
        lo, hi = _years(clause, negative, self.newest_year)
        result.year_min = lo if lo is not None else result.year_min
        result.year_max = hi if hi is not None else result.year_max

    def _aspect(self, clause: str, negative: bool) -> str | None:
        """What is left once negation, filler, decades and year ranges are gone is free text for the embedding."""
        aspect = _aspect(
            _INSIST.sub(" ", DECADE_IN_REQUEST.sub(" ", _BETWEEN.sub(" ", clause))).replace(TITLE_STUB, " ")
        )
        if (
            aspect
            and not re.fullmatch(r"[\d\s]+", aspect)
            and not any(p.fullmatch(aspect) for p in (_NO_TOPIC, _ITEM_WORDS))
        ):
            (self.result.negative if negative else self.result.positive).append(aspect)
            return aspect
        return None


def _hold(result: Understanding, genres: Iterable[str]) -> None:
    """Genres insisted on (and asked for) until the user says otherwise: an audience ('for my kids'), a diet."""
    for genre in genres:
        for held in (result.insisted_genres, result.include_genres):
            if genre not in held:
                held.append(genre)


_NOT_FOR_KIDS_NOW = re.compile(
    rf"\b(?:(?:forget|never ?mind|drop|scratch|ignore) (?:about )?(?:the |my |our )?{_CHILDREN}"
    rf"|(?:the |my |our )?{_CHILDREN} (?:is |are |'s |'re )?"
    r"(?:asleep|in bed|gone|out|away|at school|with (?:their|his|her) \w+)"
    rf"|(?:the |my |our )?{_CHILDREN} (?:went|have gone|has gone|are off) (?:to bed|to sleep|out|home)"
    r"|without the kids|kid-free|child-free|(?:just|only) (?:for )?(?:me|myself|us|the two of us|grown-?ups|adults)"
    r"|for me (?:this time|now|instead)|for myself|(?:now|this time),? (?:something )?(?:for|just for) (?:me|us))\b"
)
"""The children's audience let go of: their films are no longer the only ones, and no longer ruled out either (a
parent who asked "for my kids" then said "ok forget the kid, just for me: more like Parasite" got Elf, Inside Out
and Finding Nemo, and no way out but "any genre")."""


def _read_audience(message: MaskedMessage, result: Understanding, genres: set[str]) -> MaskedMessage:
    """'For my kids' holds the children's genres, and is dropped from the words read after it: who it is for is no
    taste ("12 year old" was an aspect), and "nothing scary for my kids" says no to scary, never to the kids' films.
    Read on the whole message, before it is cut into clauses: "my 8 year old and I can watch" was cut at "and", and
    the reply held Almost Famous and 2001, then a vampire film after "not animated". "Nothing for kids" is left to the
    clauses, which read it as a no."""

    def for_children(found: re.Match[str]) -> bool:
        return not _NEGATED_AUDIENCE.search(message.text[: found.start()])

    if _NOT_FOR_KIDS_NOW.search(message.text):
        result.released_genres = [g for g in KIDS_GENRES if g in genres]
        return message.without(_NOT_FOR_KIDS_NOW)
    if not any(for_children(found) for found in _FOR_KIDS.finditer(message.text)):
        return message
    _hold(result, (g for g in KIDS_GENRES if g in genres))
    return message.replaced(_FOR_KIDS, lambda found: " " if for_children(found) else found.group())


def _blanked(clause: str, match: re.Match[str]) -> str:
    """`clause` with what `match` found as spaces: read no further, and the clause keeps its length."""
    return clause[: match.start()] + " " * len(match.group()) + clause[match.end() :]


def _only_chat(lowered: str) -> bool:
    """A message of chat alone ("ok, I'll check those out, thanks bye"): chat, and nothing left beside it but words
    that say nothing (`_CHAT_GLUE`), no rank ("I'll check out #2" likes #2)."""
    rest = _CHAT.sub(" ", lowered)
    if rest == lowered or _RANK_REF.search(rest):
        return False
    return not re.search(r"\w", _CHAT_GLUE.sub(" ", rest))


def _praised_next(after: str) -> bool:
    """'… watched #3, loved it', '… it was great': the next clause says yes, and no."""
    following = _next_clause(after)
    return bool((_LOVED.search(following) or _PRAISE.search(following)) and not _NEGATION.search(following))


def _loved_next(after: str) -> bool:
    """'I saw X, loved it', 'I just watched X and liked it a lot', 'I watched X and Y and i liked them', '…, it was
    really funny', 'I saw X. Great movie!': the next clause praises what was just named (by "it", "them", "that
    movie", or a verdict on its own), names no other title, and says no "no"."""
    on_it = _said_of_it(after)
    if on_it:
        judged, _ = on_it
        return bool(_PRAISED.search(judged) and not _NEGATION.search(judged))
    following = _next_clause(after)
    if TITLE_STUB in following or _NEGATION.search(following):
        return False
    loved = _LOVED.search(following)
    return bool(
        (loved and (_ENDS_ON_IT.search(following) or _PRAISED_BACK.match(following[loved.end() :])))
        or _PRAISE_ALONE.match(following)
    )


def _said_of_it(after: str) -> tuple[str, str] | None:
    """(its first clause, all of it) of what the text after a title says about it by "it" (`_ON_IT`: "…, but it was
    really funny", ". It's dull"); None when it does not go on about the title so."""
    head = _ON_IT.match(after)
    if head is None:
        return None
    rest = after[head.end() :]
    return CLAUSE_SPLIT.split(rest, maxsplit=1)[0], rest


def _seen_next(after: str) -> bool:
    """'…, I've seen it', '…, already watched it': the next clause says seen, and the rest of the sentence says
    neither no nor a verdict ("…, I've seen it and hated it" is a dislike, "…, seen it and loved it" a like)."""
    after = after.lstrip(" .!?")  # "Inception. I've seen it, it was boring": the sentence after the title's
    sentence = re.split(r"[.!?]", after, maxsplit=1)[0]
    judged = _NEGATION.search(sentence) or _NEGATIVE_WORDS.search(sentence) or _POSITIVE_WORDS.search(sentence)
    return bool(_SEEN.search(_next_clause(after)) and not (judged or _LOVED.search(sentence)))


def _next_clause(after: str) -> str:
    """The first clause of the text after a clause."""
    return next((clause for clause in CLAUSE_SPLIT.split(after) if clause.strip()), "")


def _judged_badly_next(after: str) -> bool:
    """'I saw X. It was horrible', 'I've seen X but it's not one of my favorites': the next clause judges the title
    by "it" and says no, so a title only seen (or named without a like) is disliked."""
    on_it = _said_of_it(after)
    if on_it:
        judged, rest = on_it
        sentence = re.split(r"[.!?]", rest, maxsplit=1)[0]  # "it was slow but I loved it"
        return bool(_NEGATION.search(judged) or (_LETDOWN.search(judged) and not _POSITIVE_WORDS.search(sentence)))
    if _BARE_VERDICT.match(after):  # "Titanic? meh": a bare verdict right after the title
        return True
    following = _next_clause(after)
    praised = _PRAISE.search(following) or (_LOVED.search(following) and not _NEGATION.search(following))
    if _LETDOWN.search(following) and not praised and (_CONTRAST.match(after) or _FAN_VERDICT.match(following)):
        return True  # "… but I found myself losing interest", "…. Wasn't a huge fan though"
    # "I saw X but didn't care for it", "… and wasn't fond of it": the next clause says no and ends on "it"
    asked = after[after.find(following) + len(following) :].lstrip().startswith("?")  # "didn't you love it?"
    return bool(
        _ENDS_ON_IT.search(following) and _NEGATION.search(following) and not _UNSEEN.search(following) and not asked
    )


def _polarity_cues(clause: str, context: Context, polarity: Polarity, titles: int) -> dict[str, float]:
    """The rules' evidence as named 0/1 features (`POLARITY_CUES`); the clause's own reading among them."""
    before, after = context.before, context.after
    found = {
        "rule_like": polarity == "like",
        "rule_dislike": polarity == "dislike",
        "rule_seen": polarity == "seen",
        "negation": _NEGATION.search(clause),
        "seen": _SEEN.search(clause),
        "positive": _POSITIVE_WORDS.search(clause),
        "negative_words": _NEGATIVE_WORDS.search(clause),
        "not_seen": _NOT_SEEN.search(clause),
        "loved": _LOVED.search(clause),
        "negation_before": _NEGATION.search(before),
        "positive_before": _POSITIVE_WORDS.search(before),
        "negation_after": _NEGATION.search(after),
        "positive_after": _POSITIVE_WORDS.search(after),
        "negative_words_after": _NEGATIVE_WORDS.search(after),
        "contrast_after": _CONTRAST.search(after),
        "negative_after_reference": (_NEGATION.search(after) or _NEGATIVE_WORDS.search(after))
        and _BACK_REFERENCE.search(after),
        "question": context.question,
        "shared_clause": titles > 1,
    }
    return {name: float(bool(found[name])) for name in POLARITY_CUES}


def apply_polarity(result: Understanding, readings: Sequence[Polarity | None]) -> None:
    """A learned reader's polarity for each title mention, in order; None keeps the rules' reading. Whether the
    message starts a new request depends on a liked title, so it is read again."""
    for mention, reading in zip(result.titles, readings, strict=True):
        if reading is None or mention.anchor:
            continue
        if reading == "dislike" and mention.polarity != "dislike" and mention.phrase in result.positive:
            result.positive.remove(mention.phrase)
            result.negative.append(mention.phrase)
        mention.polarity = reading
    result.new_topic = _is_new_topic(result)


def understand(
    text: str,
    titles: TitleIndex,
    genres: set[str],
    newest_year: int,
    people: PeopleIndex | None = None,
    fields: Collection[str] | None = None,
    schema: CatalogSchema | None = None,
    said_in_catalog: Callable[[str], bool] | None = None,
    occasions_said: bool = False,
) -> Understanding:
    """Small talk, then questions about one item, then taste read clause by clause. `schema`: the catalog's
    columns, to read asks about its numbers by role ("for 4 players", "cheap"); `fields`: what it can filter on
    (meta keys and roles), to tell which asks ("under 2 hours", "cheap") it cannot; None skips either.
    `said_in_catalog`: whether any item's text says a word ("ghibli" in a tag), so a name it says is not unknown.
    `occasions_said`: whether items' texts say what they are for (a catalog without tags), so "for the gym" keeps
    "gym" (`_OCCASION`)."""
    result = Understanding(text=text)
    text = text.translate(_TYPOGRAPHIC)  # "didn’t" typed on a phone is "didn't": same length, so spans hold
    lowered = text.lower().strip()
    if not re.search(r"\w", lowered) or _GREETING.match(lowered):  # "🙂", "?": nothing to read
        result.intent = "smalltalk"
        return result
    if _START_OVER.match(lowered):
        result.intent = "reset"
        return result
    matches = titles.find(text)
    if not matches and _only_chat(lowered):
        result.intent = "smalltalk"
        return result
    # "I haven't seen" is dropped, not read: seen items are never recommended anyway, and left in it would read as
    # a "seen" clause with the aspect "haven't"
    message = (
        MaskedMessage.build(text, matches)
        .replaced(_CHAT_TYPO, lambda m: CHAT_TYPOS[m.group()])
        .replaced(_SAID_AS_COMPARATIVE, lambda m: _COMPARATIVE_OF[m.group(1) or m.group(2)])
        .replaced(_SAID_AS_LIGHTER, lambda m: "lighter")
        .without(_UNSEEN)
    )
    _read_flags(message.text, result)
    if _read_question(message.text, matches, result):
        return result
    result.others_like_people = bool(_OTHERS_LIKE.search(message.text))
    result.instead = bool(re.search(r"\binstead\b", message.text))
    message = message.without(_OTHERS_LIKE)
    if schema is not None:  # before counts: "4 players", "$10" and "2 hours" are no counts
        message, result.attributes = read_attribute_asks(message, schema, genres)
    if fields is not None:
        message, unsupported = read_unsupported(message, fields)
        result.unsupported.extend(unsupported)
    message = message.replaced(
        _OCCASION, _occasion(occasions_said, said_in_catalog)
    )  # after the asks: "my 30 minute commute"
    message, result.count = read_count(message)
    message, result.standing = read_standing(message)
    if result.standing is None and "awards" in result.unsupported:
        result.standing = "popular"  # "an oscar winner" in a catalog without awards: the acclaimed ones
    result.reject_all_shown = bool(_ALL_REJECT.match(message.text))
    message = _read_seen_all(message, result)
    message = _read_audience(_same_topic_read(message), result, genres)
    reader = _ClauseReader(result, genres, newest_year, people)
    for clause, clause_titles, context in message.clauses(wants_context=lambda clause: bool(_RANK_REF.search(clause))):
        reader.read(clause, clause_titles, context)
    # "something scary but not gory": gory says no to the gore, never to the horror asked for in the same message
    result.exclude_genres = [g for g in result.exclude_genres if g not in result.include_genres]
    _read_relative_years(message.text, result, newest_year)
    anchored = [m for m in result.titles if m.polarity == "like"]
    result.blend = len(anchored) >= 2 and bool(_BLEND.search(message.text))
    _read_contrast_genres(message.text, result, genres)
    _read_implied_genres(message.text, result, genres)
    _read_unknown_titles(text, matches, titles, people, result)
    _read_unknown_people(text, matches, people, result, said_in_catalog)
    result.new_topic = _is_new_topic(result)
    return result


_PERSON_CUE = re.compile(
    r"\b(?:by|with|starring|featuring|directed by|written by|hosted by|designed by)\s+$", re.IGNORECASE
)
_FULL_NAME = re.compile(r"\b[A-Z][\w'’.-]+(?:\s+[A-Z][\w'’.-]+)+")
"""Two or more capitalized words: a first name and a surname as people type them ("Denzel Washington")."""


def _read_seen_all(message: MaskedMessage, result: Understanding) -> MaskedMessage:
    """`_SEEN_ALL`: every rank seen, and the phrase read as a seen clause, which says no taste ("I thought I had
    seen them all" is no request for "thought had")."""
    seen_all = _SEEN_ALL.search(message.text)
    if not seen_all or _RANK_REF.search(message.text):
        return message
    result.rank_feedback = [RankFeedback(rank, "seen", False) for rank in range(1, MAX_ITEMS + 1)]
    start, end = seen_all.span()
    return MaskedMessage(message.text[:start] + "seen it".ljust(end - start) + message.text[end:], message.titles)


def _read_implied_genres(masked: str, result: Understanding, genres: set[str]) -> None:
    """Genres a message implies without naming one: a horror-comedy leads "a horror movie that isn't too scary"
    (`_MILD_SCARE`), a romance "something to watch with my girlfriend" (`_DATE_COMPANY`)."""
    if _MILD_SCARE.search(masked) and "horror" in result.include_genres and "comedy" in genres:
        result.include_genres.append("comedy")
    if _DATE_COMPANY.search(masked) and not result.include_genres and "romance" in genres:
        result.include_genres.append("romance")


def _read_unknown_people(
    text: str,
    matches: list[TitleMatch],
    people: PeopleIndex | None,
    result: Understanding,
    said_in_catalog: Callable[[str], bool] | None,
) -> None:
    """Full names after a person cue ("a movie with Denzel Washington", "anything by Agatha Christie") with no word
    of anyone the catalog knows, none that its texts say ("Studio Ghibli": a tag says 'ghibli'), and no title
    there: the reply says it knows no one by that name, instead of offering Inglourious Basterds as if it were his.
    Their words are no taste either (they led to random picks)."""
    if people is None or said_in_catalog is None:
        return
    for name in _FULL_NAME.finditer(text):
        start, end = name.span()
        if not _PERSON_CUE.search(text[:start]) or any(m.start < end and start < m.end for m in matches):
            continue
        words = normalize(name.group()).split()
        if (
            KIND_NOUN_AFTER.match(text, end)
            or _NO_NAME_WORDS.intersection(words)
            or any(w in people.name_words or said_in_catalog(w) for w in words)
        ):
            continue
        result.unknown_people.append(name.group())
        _drop_name_from_aspects(result, words)


_NO_NAME_WORDS = frozenset(
    "my our your his her their the a an me us friends family kids children wife husband partner girlfriend boyfriend "
    "mom mum dad mother father parents son daughter grandma grandpa".split()
)
"""Words that say who watches, not who made it: "something to watch with My Wife" (typed capitalized)."""


def _read_unknown_titles(
    text: str, matches: list[TitleMatch], titles: TitleIndex, people: PeopleIndex | None, result: Understanding
) -> None:
    """Titles the catalog does not have (`TitleIndex.unknown_after_cues`), less what reads as a person: a name with a
    word of a known person's ("Tom Hanks", "Stiller", "Nicholas Cage"), or one said with 's ("Christopher Nolan's").
    Of ReDial's 4,797 seeker messages, 28 named something unlinked after a cue, mostly people; 11 are left ("Throw
    Momma", "Fellowship", "Denali 3D", "Disney"). The aspects read from their words are dropped."""
    for name in titles.unknown_after_cues(text, matches):
        words = normalize(name).split()
        if name.endswith(("'s", "’s")) or (people and any(w in people.name_words for w in words)):
            continue
        result.unknown_titles.append(name)
        _drop_name_from_aspects(result, words)


_CUE_WORDS_LEFT = frozenset("by with starring featuring directed written hosted designed like from".split())
"""What an aspect keeps of the cue once the name after it is cut ("funny with denzel washington" → "funny with")."""


def _drop_name_from_aspects(result: Understanding, name_words: list[str]) -> None:
    """Cuts a name the catalog lacks out of the aspects read around it: "something funny with Denzel Washington"
    keeps "funny" (dropping every aspect that shared a word with the name lost it, and the picks were anyone's),
    while "Throw Momma" alone leaves nothing. Only the name's words in a row are cut: a title's "dark" stays in
    "dark fantasy" said elsewhere."""
    said = set(name_words)
    as_read = _aspect(" ".join(name_words)).split()  # as an aspect has it: "the lord of the rings" → "lord rings"
    size = len(as_read)

    def cut(phrase: str) -> str:
        words = phrase.split()
        if set(words) <= said:  # all of it is of the name, split at its "and" ("The Martian and Infinity War")
            return ""
        for start in range(len(words) - size, -1, -1) if size else ():
            if words[start : start + size] == as_read:
                del words[start : start + size]
                while start and words[start - 1] in _CUE_WORDS_LEFT:
                    start -= 1
                    del words[start]
        return " ".join(words)

    result.positive = [kept for kept in map(cut, result.positive) if kept]
    result.negative = [kept for kept in map(cut, result.negative) if kept]


def _read_contrast_genres(masked: str, result: Understanding, genres: set[str]) -> None:
    """'more like #1 but white', 'something like X but funny': the genre after the "but" holds, as 'only' would,
    for this request (`contrast_genres`); as a lean it lost to the anchor's neighbours, which are of the anchor's own
    kind (a red wine's reds)."""
    found = _LIKE_BUT.search(masked)
    if not found:
        return
    contrast = [g for g in _genres_in(found.group(1), genres) if g in result.include_genres]
    result.insisted_genres.extend(g for g in contrast if g not in result.insisted_genres)
    result.contrast_genres.extend(g for g in contrast if g not in result.contrast_genres)


def _read_relative_years(masked: str, result: Understanding, newest_year: int) -> None:
    """'more like X but older', '#2 but newer': relative to an anchor named in this message (a liked title or a
    strong rank), or to the current one; 'newer' then is no 'something recent' range of its own. 'Something older'
    said alone is relative too (the engine finds to what): it was read as nothing, and the same picks came back."""
    found = _RELATIVE.search(masked)
    anchored = any(m.polarity == "like" for m in result.titles) or any(f.value == "like" for f in result.rank_feedback)
    bare = not (result.titles or result.rank_feedback or result.positive or result.include_genres)  # "something older"
    if not found or not (anchored or bare or _MORE_LIKE.search(masked) or _LIKE_TITLE.search(masked)):
        return
    result.relative_years = "older" if found.group(1) in ("older", "earlier") else "newer"
    if result.year_min == newest_year - RECENT_SPAN and result.year_max is None:  # "newer" read as "recent"
        result.year_min = None


def _same_topic_read(message: MaskedMessage) -> MaskedMessage:
    """'nothing but X' → 'only X', 'anything but X' → 'no X'; 'black and white' → 'black-and-white' (`_COMPOUNDS`);
    'along those lines' and the like blanked (they ask for more of the same, and embedded they would pull toward
    nothing in particular). Same length: titles stay."""
    text = message.text
    for pattern, word in _MISLEADING_PHRASES:
        text = pattern.sub(lambda m, w=word: w.ljust(len(m.group())), text)  # type: ignore[misc]
    text = _COMPOUNDS.sub(lambda m: m.group().replace(" ", "-"), text)
    spans = [m.span() for pattern in (_CONTINUE, _REPEAT) for m in pattern.finditer(text)]  # 'show them again': a flag
    return MaskedMessage(text, message.titles).blanked(spans)


def _is_new_topic(result: Understanding) -> bool:
    """A message with its own words or genres, or that asks for more like a title ('something like Heat'),
    starts a new request; 'more', 'what else', 'more like #2 but older', 'no horror', comparatives alone
    ('something funnier') and a liked title told as taste ('we loved Ticket to Ride') refine the current one: the
    family that asked for a quick game and then named one they loved lost "quick" and got a two-hour game."""
    asked_like = any(m.polarity == "like" and m.anchor for m in result.titles) or result.blend
    more = {m.group(1) for m in _MORE_OF.finditer(result.text.lower())}
    leaning = bool(result.positive) and all(
        _COMPARATIVES.fullmatch(phrase) or _BETTER.fullmatch(phrase) or set(phrase.split()) <= more
        for phrase in result.positive
    )
    return asked_like or (not leaning and bool(result.positive or result.include_genres))
