from kotdevice.cli import main

raise SystemExit(main())
