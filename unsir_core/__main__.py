import sys

from unsir_core.cli.main import main

sys.exit(main())
