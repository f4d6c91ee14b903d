"""English to Spanish on the Bible: the encoder-decoder with and without attention.

See ``benchmarks/seq2seq.py`` for what is measured.

    python benchmarks/bible.py [--attention additive none] [--seeds 1] [--jobs 1] [--quick] [--out DIR]
"""

import argparse

from seq2seq import bible

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    bible.add_arguments(parser)
    bible.main(parser.parse_args())
