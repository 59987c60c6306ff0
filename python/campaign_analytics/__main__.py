"""`python -m campaign_analytics build ...` runs the same CLI as `campaign-analytics`."""

from campaign_analytics.cli import main

raise SystemExit(main())
