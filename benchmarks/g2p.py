"""Grapheme to phoneme on the CMU dictionary: the encoder-decoder with and without attention.

See ``benchmarks/seq2seq.py`` for what is measured.

    python benchmarks/g2p.py [--attention additive none] [--seeds 1] [--jobs 1] [--quick] [--out DIR]
"""

import argparse

from seq2seq import g2p

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g2p.add_arguments(parser)
    g2p.main(parser.parse_args())
