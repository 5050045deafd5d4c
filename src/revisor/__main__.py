from revisor.cli import main

raise SystemExit(main())
