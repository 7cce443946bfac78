"""Which whole documents make the validation split, chosen in one pass as they stream by.

Error diffusion: documents are walked in order, and one goes to val when val's characters are
behind val_fraction × the characters before it. No second pass and no total needed; val
documents are spread evenly over the corpus (not its tail, which is often one source or one
period), and val's share stays within a document of the target at every point.

The choice never looks at the document's own length. A rule that did ("take it if that
brings val closer to the target") favours short documents: on 1,000 documents of 1..2,000
characters it put 22% of the documents in val for 10% of the characters, so val would be
shorter documents than train, with more document starts and end-of-text tokens per
character, and its loss would not measure the same thing.

The scan pass decides and records one bit per document; the later passes read the bits, so
memory is an eighth of a byte per document.
"""

from __future__ import annotations

import numpy as np

# Fewer documents than this, and the split stays the text's tail (as for a plain file):
# with a handful, whole documents cannot come near val_fraction.
MIN_DOCUMENTS = 10
# Each split's share of the characters must be within this factor of what was asked.
SHARE_FACTOR = 2.0


class DocumentSplit:
    def __init__(self, val_fraction: float) -> None:
        self.val_fraction = val_fraction
        self.documents = {"train": 0, "val": 0}
        self.characters = {"train": 0, "val": 0}
        self._seen = 0
        self._val = 0
        self._bits = _Bits()

    def add(self, lengths: np.ndarray) -> None:
        """Decide the next documents, whose lengths (characters) are given in order."""
        chosen = []
        seen, val, fraction = self._seen, self._val, self.val_fraction
        # A loop per document (not per character): the rule is sequential by nature.
        for index, length in enumerate(lengths.tolist()):
            if val < fraction * seen:
                val += length
                chosen.append(index)
            seen += length
        flags = np.zeros(lengths.size, dtype=bool)
        flags[chosen] = True
        self._bits.extend(flags)
        self.documents["val"] += len(chosen)
        self.documents["train"] += lengths.size - len(chosen)
        self.characters["val"] += val - self._val
        self.characters["train"] += (seen - self._seen) - (val - self._val)
        self._seen, self._val = seen, val

    def usable(self) -> bool:
        """Whether this split is a sane one: enough documents, some in each split (so each
        has at least two tokens: a document's text and its end-of-text token), and each
        split's share of the characters within SHARE_FACTOR of the asked one."""
        if sum(self.documents.values()) < MIN_DOCUMENTS or min(self.documents.values()) == 0:
            return False
        share = self.characters["val"] / max(self._seen, 1)
        wanted = {"val": self.val_fraction, "train": 1 - self.val_fraction}
        got = {"val": share, "train": 1 - share}
        return all(wanted[s] / SHARE_FACTOR <= got[s] <= wanted[s] * SHARE_FACTOR for s in wanted)

    def in_val(self, first: int, count: int) -> np.ndarray:
        """Whether each of documents first .. first + count - 1 is in val (bool array)."""
        return self._bits.read(first, count)


class _Bits:
    """A growing list of booleans stored one bit each."""

    def __init__(self) -> None:
        self._packed = bytearray()
        self._tail = np.zeros(0, dtype=bool)  # fewer than 8, not packed yet

    def extend(self, flags: np.ndarray) -> None:
        flags = np.concatenate((self._tail, flags))
        whole = flags.size - flags.size % 8
        self._packed += np.packbits(flags[:whole]).tobytes()
        self._tail = flags[whole:]

    def read(self, first: int, count: int) -> np.ndarray:
        packed = len(self._packed) * 8
        if first + count > packed + self._tail.size:
            raise IndexError(f"bits {first}..{first + count - 1} were never recorded")
        start, stop = first // 8, min(-(-(first + count) // 8), len(self._packed))
        head = np.unpackbits(np.frombuffer(self._packed, dtype=np.uint8)[start:stop])
        flags = np.concatenate((head, self._tail.astype(np.uint8))) if stop * 8 == packed else head
        offset = first - start * 8
        return flags[offset : offset + count].astype(bool)
