from campaign_analytics.api import create_app

app = create_app()
