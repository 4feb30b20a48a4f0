# expect: clean
import random
import time


class Helper:
    """Not a workflow: the linter leaves ordinary code alone."""

    def jitter(self) -> float:
        return random.random() + time.time()
