"""The platform's CDK stacks: data, tools, agents and observability, composed by `app.py`."""
