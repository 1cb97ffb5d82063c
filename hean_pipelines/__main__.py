from hean_pipelines.cli import main

raise SystemExit(main())
