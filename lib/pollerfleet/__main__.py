import sys

from pollerfleet.cli import main

sys.exit(main())
