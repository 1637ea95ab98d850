"""Sample text: person names, titles and descriptions, with quotes, accents and escapes at the real rates."""

from __future__ import annotations

import random
from collections.abc import Callable
from string import Formatter

from .draw import between, pick
from .words import (
    ACCENT_RATE,
    ACCENTED_FIRST_NAMES,
    ACCENTED_LAST_NAMES,
    ACCENTED_PLACES,
    APOSTROPHE_RATE,
    APOSTROPHE_SENTENCES,
    DOUBLE_QUOTE_RATE,
    FIRST_NAMES,
    FOREIGN_TITLES,
    GOALS,
    GROUPS,
    JOBS,
    LAST_NAMES,
    MAX_SENTENCES,
    MONONYMS,
    NICKNAMES,
    PARTICLES,
    PLACES,
    PLAIN_SENTENCES,
    QUOTED_LAST_NAMES,
    QUOTED_SENTENCES,
    ROMAN,
    SENTENCES_MU,
    SENTENCES_SIGMA,
    SHORT_DESCRIPTIONS,
    SHORT_RATE,
    THINGS,
    THREATS,
    TITLE_ADJECTIVES,
    TITLE_FORMS,
    TITLE_NOUNS,
    TITLE_SUBTITLES,
)


def person_name(rng: random.Random) -> str:
    """A name with the real mix: mostly 'First Last', some initials, accents, quotes, mononyms."""
    roll = rng.random()
    if roll < 0.004:
        return pick(rng, MONONYMS)
    first = pick(rng, ACCENTED_FIRST_NAMES) if rng.random() < 0.02 else pick(rng, FIRST_NAMES)
    last_roll = rng.random()
    if last_roll < 0.025:
        last = pick(rng, ACCENTED_LAST_NAMES)
    elif last_roll < 0.031:
        last = pick(rng, QUOTED_LAST_NAMES)
    else:
        last = pick(rng, LAST_NAMES)
    if roll < 0.08:
        return f"{first} {pick(rng, 'ABCDEFGHJKLMNPRSTW')}. {last}"
    if roll < 0.12:
        return f"{first} {pick(rng, FIRST_NAMES)} {last}"
    if roll < 0.135:
        return f"{first} {pick(rng, PARTICLES)} {last}"
    if roll < 0.145:
        return f"{first} {last} Jr."
    if roll < 0.148:
        return f"{first} '{pick(rng, NICKNAMES)}' {last}"
    return f"{first} {last}"


def film_title(rng: random.Random) -> str:
    """A title from the real catalog's mould (it was a search for 'star'); never with a quote."""
    if rng.random() < 0.01:
        return pick(rng, FOREIGN_TITLES)
    return pick(rng, TITLE_FORMS).format(
        noun=pick(rng, TITLE_NOUNS),
        other=pick(rng, TITLE_NOUNS),
        adjective=pick(rng, TITLE_ADJECTIVES),
        subtitle=pick(rng, TITLE_SUBTITLES),
        roman=pick(rng, ROMAN),
        last=pick(rng, LAST_NAMES),
        n=between(rng, 2, 5),
    )


# How to draw each placeholder of the sentence templates; only the ones a template names are drawn.
PLACEHOLDERS: dict[str, Callable[[random.Random], object]] = {
    "a": lambda rng: pick(rng, FIRST_NAMES),
    "b": lambda rng: f"{pick(rng, FIRST_NAMES)} {pick(rng, LAST_NAMES)}",
    "job": lambda rng: pick(rng, JOBS),
    "place": lambda rng: pick(rng, PLACES),
    "goal": lambda rng: pick(rng, GOALS),
    "threat": lambda rng: pick(rng, THREATS),
    "thing": lambda rng: pick(rng, THINGS),
    "group": lambda rng: pick(rng, GROUPS),
    "year": lambda rng: between(rng, 1850, 2400),
    "title": film_title,
}
FIELDS: dict[str, tuple[str, ...]] = {
    template: tuple(dict.fromkeys(name for _, name, _, _ in Formatter().parse(template) if name))
    for template in (*PLAIN_SENTENCES, *APOSTROPHE_SENTENCES, *QUOTED_SENTENCES, *SHORT_DESCRIPTIONS)
}


def fill(template: str, rng: random.Random) -> str:
    return template.format_map({name: PLACEHOLDERS[name](rng) for name in FIELDS[template]})


def description_sentences(rng: random.Random) -> list[str]:
    """A description as sentences, with quotes and accents at the rates the real text has them."""
    if rng.random() < SHORT_RATE:
        return [fill(pick(rng, SHORT_DESCRIPTIONS), rng)]
    count = min(MAX_SENTENCES, max(1, round(rng.lognormvariate(SENTENCES_MU, SENTENCES_SIGMA))))
    sentences = [fill(pick(rng, PLAIN_SENTENCES), rng) for _ in range(count)]
    if rng.random() < APOSTROPHE_RATE:
        sentences[rng.randrange(count)] = fill(pick(rng, APOSTROPHE_SENTENCES), rng)
    if rng.random() < DOUBLE_QUOTE_RATE:
        sentences.insert(rng.randrange(count + 1), fill(pick(rng, QUOTED_SENTENCES), rng))
    if rng.random() < ACCENT_RATE:
        sentences.append(f"It was shot on location in {pick(rng, ACCENTED_PLACES)}.")
    return sentences


def hostile_text(rng: random.Random, ordinal: int) -> tuple[str, str]:
    """Title and description that break naive text protocols: COPY needs every one escaped."""
    name = pick(rng, FIRST_NAMES)
    title = film_title(rng)
    # Every hostile title has a quote, as the real catalog's 70 quoted titles do.
    quote = ordinal % 3
    if quote == 0:
        title = f"{name}'s {title}"
    elif quote == 1:
        title = f'{title}: The "{pick(rng, TITLE_NOUNS)}" Cut'
    else:
        title = f"{title} - '{pick(rng, TITLE_ADJECTIVES)}'"
    parts = description_sentences(rng)
    # Separators only show between sentences, so a one-line description gets a second line.
    if len(parts) < 2:
        parts.append(fill(pick(rng, PLAIN_SENTENCES), rng))
    kind = ordinal % 8
    if kind == 0:
        return title, "\t".join(parts)
    if kind == 1:
        return title, "\n\n".join(parts)
    if kind == 2:
        return title, "\r\n".join(parts)
    if kind == 3:
        return title, " ".join([*parts, "Restored from C:\\Archive\\Star\\reel1.mov."])
    if kind == 4:
        # A literal backslash-N is COPY's NULL marker: it must arrive as text, not as NULL.
        return title, " ".join([*parts, "Runtime: \\N minutes."])
    if kind == 5:
        return title, " ".join(parts) + " \\"
    if kind == 6:
        return f"{title} \\ Director's Cut", " ".join(parts)
    return title, " ".join(parts[:1]) + '\n\t"Quoted,\\t not a tab" \\\\ ' + " ".join(parts[1:])
