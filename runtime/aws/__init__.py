"""Adapters from the runtime to AWS services, all through boto3."""
