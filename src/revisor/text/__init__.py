"""Pure text formats that both `review/` and `forges/` use, so neither imports the other.

`diff.py` parses unified diffs into `domain.FileDiff`s, `markers.py` holds the hidden markers
Revisor puts in what it posts (fingerprints, the summary), and `inert.py` makes posted text
inert (no quick action, no link). They import only `revisor.domain` and the standard library.
"""
