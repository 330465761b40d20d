import sys

from qeltrix.cli import main

sys.exit(main())
