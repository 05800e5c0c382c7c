"""The publish_report tool."""
