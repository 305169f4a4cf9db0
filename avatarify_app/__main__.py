from avatarify_app.cli import main

raise SystemExit(main())
