"""The analyze_data tool."""
