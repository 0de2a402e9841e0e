"""Handlers that fail as Lambda functions fail: an exception, a timeout, an exit."""
import sys
import time


def raises(event, context):
    raise ValueError("the database refused the new password")


def sleeps(event, context):
    time.sleep(30)


def exits(event, context):
    sys.exit(3)
