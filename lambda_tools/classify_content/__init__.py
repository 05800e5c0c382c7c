"""The classify_content tool."""
