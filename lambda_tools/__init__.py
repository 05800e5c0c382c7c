"""The seven tool functions: plain deterministic Python, deployed one Lambda function each."""
