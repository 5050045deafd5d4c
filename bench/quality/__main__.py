"""`python -m bench.quality --model PATH.gguf [--mrs id,...] [--peer]`: see bench/quality/run.py."""

import sys

from bench.quality.run import main

if __name__ == "__main__":
    main(sys.argv[1:])
