"""The long-running scheduler process: `python scheduler.py` (same as `campaign scheduler`).

Thin by design: all logic lives in campaign/ (see campaign/scheduling.py).
"""

from campaign.cli import main

if __name__ == "__main__":
    import sys

    sys.argv = [sys.argv[0], "scheduler", *sys.argv[1:]]
    main()
