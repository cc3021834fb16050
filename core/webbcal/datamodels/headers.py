"""FITS header handling of the models: structural keywords dropped, cards copied on
their original text (no astropy verification pass)."""
import re

from astropy.io import fits


_STRUCTURAL = re.compile(
    r"^(SIMPLE|BITPIX|NAXIS\d*|EXTEND|XTENSION|PCOUNT|GCOUNT|EXTNAME|EXTVER|BSCALE|BZERO|"
    r"TFIELDS|TTYPE\d+|TFORM\d+|TUNIT\d+|TDIM\d+|TNULL\d+|TSCAL\d+|TZERO\d+|TDISP\d+|"
    r"CHECKSUM|DATASUM|THEAP|ZIMAGE|ZTENSION)$"
)


def _card_text(card):
    """The 80-character image(s) of a card.  A card read from a file and not changed
    since keeps its original text; astropy's ``image`` would first parse and verify its
    value (most of the cost of copying a header).  Anything else is formatted by astropy."""
    image = getattr(card, "_image", None)
    if isinstance(image, str) and image and not getattr(card, "_modified", True) and len(image) % 80 == 0:
        return image
    return card.image


def clean_header(header):
    """A copy of ``header`` without the cards that describe the HDU's structure.

    Works on the card images: the cards of the copy are parsed only when read, which
    for the few hundred cards of a JWST primary header is several times faster than
    copying card by card."""
    keep = []
    for card in header.cards:
        text = _card_text(card)
        if not _STRUCTURAL.match(text[:8].rstrip()):
            keep.append(text)
    return fits.Header.fromstring("".join(keep))


def _merge_header(target, header):
    """Copy ``header``'s cards into ``target``: a keyword ``target`` has takes the new
    value and comment; new keywords, COMMENT and HISTORY cards are appended (as copies:
    the two headers never share a card)."""
    for card in header.cards:
        keyword = card.keyword
        if keyword in ("COMMENT", "HISTORY", "") or keyword not in target:
            target.append(fits.Card.fromstring(_card_text(card)), end=True)
        else:
            target[keyword] = (card.value, card.comment)
