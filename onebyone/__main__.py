from onebyone.cli import main

raise SystemExit(main())
