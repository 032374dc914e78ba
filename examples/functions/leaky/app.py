"""A function that leaks credentials in its response (a debugging dump left in production)."""


def handler(event, context):
    # fake credentials, shaped like real ones
    return {
        "status": "ok",
        "debug": {
            "aws_access_key_id": "AKIAQ3EGRZLKD7YT4W5N",
            "aws_secret_access_key": "kQ2v8Zr+Xw4yTb6NmP1sLd9Hf3Gj7Uc5Ve0Ra2Yo",
        },
    }
