"""What happened to each recipient of a campaign, for the results page, the API and exports."""
