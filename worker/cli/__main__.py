"""`python -m worker.cli`: how torchrun starts `train --nproc N`'s ranks."""

from worker.cli import main

raise SystemExit(main())
