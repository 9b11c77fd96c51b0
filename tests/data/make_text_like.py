"""Makes tests/data/text_like.gif: a text-like clip without any font, so it is the same anywhere.

    python tests/data/make_text_like.py tests/data/text_like.gif 2 160 96 2

Lines of "words" of 5x7 glyphs drawn from a fixed random set of 26 (seed 2), in two colours on a
light background; the second frame shows three more words than the first. Written by Pillow's GIF
encoder (which codes only the changed rectangle of the second frame).
"""

import sys

import numpy as np
from PIL import Image


def main() -> None:
    out, seed, width, height, count = sys.argv[1], *map(int, sys.argv[2:6])
    rng = np.random.default_rng(seed)
    glyphs = rng.random((26, 7, 5)) < 0.45
    lines = []
    for _ in range(height // 10):
        x, words = 2, []
        while x < width - 40:
            n = int(rng.integers(2, 7))
            words.append(rng.integers(0, 26, n))
            x += 6 * n + 6
        lines.append(words)
    total = sum(len(words) for words in lines)
    frames = []
    for f in range(count):
        page = np.zeros((height, width), np.uint8)
        shown, k = total - (count - 1 - f) * 3, 0
        for row, words in enumerate(lines):
            x = 2
            for word in words:
                if k < shown:
                    for g in word:
                        page[2 + row * 10 : 9 + row * 10, x : x + 5] = glyphs[g] * (1 + (row % 4 == 0))
                        x += 6
                else:
                    x += 6 * len(word)
                x += 6
                k += 1
        im = Image.fromarray(page, "P")
        im.putpalette([250, 250, 245, 20, 20, 30, 200, 40, 40] + [0] * 759)
        frames.append(im)
    frames[0].save(out, save_all=True, append_images=frames[1:], duration=200, loop=0)


if __name__ == "__main__":
    main()
